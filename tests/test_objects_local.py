"""The write path a TAMS client uses, on the local-disk store: allocate, upload, register, read back."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import pytest
from conftest import new_id, video_flow
from spec import validate
from starlette.testclient import TestClient

from gateway.app import create_app


@pytest.fixture
def strict(settings):
    """The production defaults: objects must be allocated (or come with get_urls)."""
    from dataclasses import replace

    with TestClient(create_app(replace(settings, require_allocation=True)), base_url="http://testserver") as client:
        yield client


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def make_flow(client: TestClient) -> str:
    flow_id = new_id()
    assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
    return flow_id


def upload(client: TestClient, flow_id: str, payloads: list[bytes]) -> list[str]:
    response = client.post(f"/flows/{flow_id}/storage", json={"limit": len(payloads)})
    assert response.status_code == 201, response.text
    validate("flow-storage.json", response.json())
    objects = response.json()["media_objects"]
    for obj, payload in zip(objects, payloads, strict=True):
        put = obj["put_url"]
        assert put["content-type"] == "video/mp2t" and obj["presigned"] is True
        response = client.put(path_of(put["url"]), content=payload, headers={"Content-Type": put["content-type"]})
        assert response.status_code == 200, response.text
    return [obj["object_id"] for obj in objects]


def test_full_write_and_read_path(strict):
    flow_id = make_flow(strict)
    payloads = [os.urandom(50_000 + i) for i in range(3)]
    ids = upload(strict, flow_id, payloads)
    body = [{"object_id": oid, "timerange": f"[{i * 2}:0_{i * 2 + 2}:0)"} for i, oid in enumerate(ids)]
    assert strict.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
    segments = strict.get(f"/flows/{flow_id}/segments?verbose_storage=true").json()
    for seg, payload in zip(segments, payloads, strict=True):
        validate("flow-segment.json", seg)
        (url,) = seg["get_urls"]
        assert url["presigned"] and url["controlled"] and url["label"] == "local"
        assert strict.get(path_of(url["url"])).content == payload
        assert strict.get(f"/objects/{seg['object_id']}/content?mode=proxy").content == payload
        redirect = strict.get(f"/objects/{seg['object_id']}/content", follow_redirects=False)
        assert redirect.status_code == 302 and "max-age" in redirect.headers["cache-control"]
        assert strict.get(path_of(redirect.headers["location"])).content == payload
    at = strict.get(f"/flows/{flow_id}/content?at=3:0&mode=proxy")
    assert at.content == payloads[1] and at.headers["content-type"] == "video/mp2t"
    assert strict.get(f"/flows/{flow_id}/content?at=9:0").status_code == 404
    obj = strict.get(f"/objects/{ids[0]}").json()
    validate("object.json", obj)
    assert obj["referenced_by_flows"] == [flow_id] and len(obj["get_urls"]) == 1


def test_registration_rules(strict):
    flow_id, other = make_flow(strict), make_flow(strict)
    response = strict.post(f"/flows/{flow_id}/storage", json={"limit": 2})
    first, second = (o["object_id"] for o in response.json()["media_objects"])
    # not uploaded yet
    response = strict.post(f"/flows/{flow_id}/segments", json={"object_id": first, "timerange": "[0:0_1:0)"})
    assert response.status_code == 400 and "upload" in response.json()["summary"]
    assert strict.get(f"/objects/{first}").status_code == 404  # allocated but unregistered
    # never allocated, no get_urls
    response = strict.post(f"/flows/{flow_id}/segments", json={"object_id": new_id(), "timerange": "[0:0_1:0)"})
    assert response.status_code == 400 and "never allocated" in response.json()["summary"]
    # allocated for another flow
    upload_id = upload(strict, other, [b"x"])[0]
    response = strict.post(f"/flows/{flow_id}/segments", json={"object_id": upload_id, "timerange": "[0:0_1:0)"})
    assert response.status_code == 400 and "allocated for flow" in response.json()["summary"]
    assert second


def test_storage_request_rules(strict):
    flow_id = make_flow(strict)
    assert strict.post(f"/flows/{flow_id}/storage", json={"limit": 1, "object_ids": ["a"]}).status_code == 400
    assert strict.post(f"/flows/{flow_id}/storage", json={"storage_id": new_id()}).status_code == 400
    assert strict.post(f"/flows/{flow_id}/storage", json={"presigned": False}).status_code == 400
    assert strict.post(f"/flows/{flow_id}/storage", json={"content_type": "video/mp4"}).status_code == 400
    assert strict.post(f"/flows/{new_id()}/storage", json={}).status_code == 404
    response = strict.post(f"/flows/{flow_id}/storage", json={"object_ids": ["x/../../etc", "b"]})
    assert [o["object_id"] for o in response.json()["media_objects"]] == ["x/../../etc", "b"]
    assert strict.post(f"/flows/{flow_id}/storage", json={"object_ids": ["b"]}).status_code == 400
    default = strict.post(f"/flows/{flow_id}/storage")
    assert default.status_code == 201 and len(default.json()["media_objects"]) == 100
    strict.put(f"/flows/{flow_id}/read_only", json=True)
    assert strict.post(f"/flows/{flow_id}/storage", json={}).status_code == 403


@pytest.mark.slow
def test_path_traversal_ids_stay_inside_the_store(gateway_process):
    """Over a real server: TestClient decodes paths twice, uvicorn once, as a real client sees it."""
    import httpx

    data_dir = gateway_process.data_dir
    with httpx.Client(base_url=gateway_process.url) as http:
        flow_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        response = http.post(f"/flows/{flow_id}/storage", json={"object_ids": ["../../escape", "a/../../b"]})
        for obj in response.json()["media_objects"]:
            put = obj["put_url"]
            assert put["url"].startswith(gateway_process.url + "/_store/")
            result = http.put(put["url"], content=b"data", headers={"Content-Type": put["content-type"]})
            assert result.status_code == 200, result.text
        stored = [p for p in (data_dir / "objects").rglob("*") if p.is_file()]
        assert len(stored) == 2 and all(data_dir / "objects" in p.parents for p in stored)
        assert not (data_dir.parent / "escape").exists() and not (data_dir / "b").exists()
        body = [{"object_id": "../../escape", "timerange": "[0:0_1:0)"}]
        assert http.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
        url = http.get(f"/flows/{flow_id}/segments").json()[0]["get_urls"][0]["url"]
        assert http.get(url).content == b"data"
        assert http.get("/objects/..%2F..%2Fescape/content?mode=proxy").content == b"data"
        # hand-made traversal paths never reach a file
        for path in ("/_store/x/../catalog.sqlite3", "/_store/x/..%2F..%2Fcatalog.sqlite3"):
            assert http.get(path, follow_redirects=True).status_code in (403, 404)


def test_signed_urls_refuse_tampering_and_expiry(strict):
    flow_id = make_flow(strict)
    oid = upload(strict, flow_id, [b"payload"])[0]
    strict.post(f"/flows/{flow_id}/segments", json={"object_id": oid, "timerange": "[0:0_1:0)"})
    url = path_of(strict.get(f"/flows/{flow_id}/segments").json()[0]["get_urls"][0]["url"])
    assert strict.get(url).status_code == 200
    assert strict.get(url.replace("signature=", "signature=x")).status_code == 403
    expires = url.split("expires=")[1].split("&")[0]
    assert strict.get(url.replace(f"expires={expires}", f"expires={int(expires) + 1}")).status_code == 403
    past = url.replace(f"expires={expires}", f"expires={int(time.time()) - 5}")
    response = strict.get(past)
    assert response.status_code == 403 and "expired" in response.json()["summary"]
    put = strict.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"][0]["put_url"]
    wrong_type = strict.put(path_of(put["url"]), content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 403


@pytest.mark.parametrize("mode", ["store", "proxy"])
def test_range_matrix(strict, mode):
    flow_id = make_flow(strict)
    payload = bytes(range(256)) * 40  # 10,240 bytes
    oid = upload(strict, flow_id, [payload])[0]
    strict.post(f"/flows/{flow_id}/segments", json={"object_id": oid, "timerange": "[0:0_1:0)"})
    url = (
        path_of(strict.get(f"/flows/{flow_id}/segments").json()[0]["get_urls"][0]["url"])
        if mode == "store"
        else f"/objects/{oid}/content?mode=proxy"
    )
    whole = strict.get(url)
    assert whole.status_code == 200 and whole.content == payload and whole.headers["accept-ranges"] == "bytes"
    etag = whole.headers["etag"]
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=10000-": (10000, 10239),
        "bytes=-40": (10200, 10239),
        "bytes=10200-99999": (10200, 10239),
    }
    for header, (start, end) in cases.items():
        part = strict.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.content == payload[start : end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(payload)}"
    assert strict.get(url, headers={"Range": "bytes=20000-"}).status_code == 416
    assert strict.get(url, headers={"Range": "bytes=0-1", "If-Range": etag}).status_code == 206
    assert strict.get(url, headers={"Range": "bytes=0-1", "If-Range": '"stale"'}).status_code == 200
    assert strict.get(url, headers={"If-None-Match": etag}).status_code == 304
    head = strict.head(url)
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(payload))
    multi = strict.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert multi.status_code == (206 if mode == "store" else 416)


def test_instances_and_gc_of_deleted_bytes(strict, settings):
    flow_id = make_flow(strict)
    oid = upload(strict, flow_id, [b"bytes"])[0]
    strict.post(f"/flows/{flow_id}/segments", json={"object_id": oid, "timerange": "[0:0_1:0)"})
    cdn = {"url": "http://cdn.example/x", "label": "cdn"}
    assert strict.post(f"/objects/{oid}/instances", json=cdn).status_code == 201
    assert strict.post(f"/objects/{oid}/instances", json={"url": "http://x", "label": "cdn"}).status_code == 400
    assert strict.post(f"/objects/{oid}/instances", json={"url": "http://x", "label": "local"}).status_code == 400
    assert strict.post(f"/objects/{oid}/instances", json={"storage_id": new_id()}).status_code == 400
    assert strict.post(f"/objects/{oid}/instances", json={"nonsense": 1}).status_code == 400
    assert strict.post(f"/objects/{new_id()}/instances", json={"url": "http://x", "label": "y"}).status_code == 404
    labels = [u["label"] for u in strict.get(f"/objects/{oid}").json()["get_urls"]]
    assert labels == ["local", "cdn"]
    assert [u["label"] for u in strict.get(f"/objects/{oid}?presigned=false").json()["get_urls"]] == ["cdn"]
    assert strict.delete(f"/objects/{oid}/instances").status_code == 400
    assert strict.delete(f"/objects/{oid}/instances?label=nope").status_code == 404
    assert strict.delete(f"/objects/{oid}/instances?label=cdn").status_code == 204
    assert strict.delete(f"/objects/{oid}/instances?label=local").status_code in (400, 404)
    files = [p for p in (settings.data_dir / "objects").rglob("*") if p.is_file()]
    assert len(files) == 1
    assert strict.delete(f"/flows/{flow_id}/segments").status_code == 204
    assert not [p for p in (settings.data_dir / "objects").rglob("*") if p.is_file()]


def test_expired_allocations_are_collected(strict, settings):
    import asyncio

    flow_id = make_flow(strict)
    upload(strict, flow_id, [b"never registered"])
    media = strict.app.state.media
    assert asyncio.run(_collect(media, now_ns=time.time_ns())) == 0  # not yet due
    assert [p for p in (settings.data_dir / "objects").rglob("*") if p.is_file()]
    removed = asyncio.run(_collect(media, now_ns=time.time_ns() + 10**9 * (settings.object_timeout + 120)))
    assert removed == 1
    assert not [p for p in (settings.data_dir / "objects").rglob("*") if p.is_file()]


async def _collect(media, now_ns: int) -> int:
    gone = await media.catalog.expire_allocations(now_ns)
    await media.deletion.delete_bytes(gone)
    return len(gone)


def test_storage_backends_listing(strict):
    response = strict.get("/service/storage-backends")
    assert response.status_code == 200
    validate("storage-backends-list.json", response.json())
    (backend,) = response.json()
    assert backend["default_storage"] is True and backend["label"] == "local"
    assert response.headers["X-Paging-Count"] == "1"
    assert strict.get("/service/storage-backends?tag_exists.region=true").json() == []
    service = strict.get("/service").json()
    validate("service.json", service)
    assert service["min_presigned_url_timeout"] == "600:0"
