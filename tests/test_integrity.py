"""Storage integrity on the local-disk store: immutable bytes, checksums on PUT, the SHA-256 recorded at
registration, conditional and checksum headers, multipart limits and binding, temporaries swept,
verified instance copies and reconcile's mismatched bytes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
import uuid
import zlib
from dataclasses import replace
from email.utils import formatdate

import crc32c
import pytest
from conftest import new_id, sqlite_only, video_flow
from starlette.testclient import TestClient
from test_objects_local import make_flow, path_of, upload
from test_reconcile import _reconcile

from gateway.app import create_app
from streaming.storage.interface import BackendInfo
from streaming.storage.localdisk import LocalDiskStore


@pytest.fixture
def strict(settings):
    with TestClient(create_app(replace(settings, require_allocation=True)), base_url="http://testserver") as client:
        yield client


def allocate(client: TestClient, flow_id: str) -> dict:
    (obj,) = client.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
    return obj


def put(client: TestClient, obj: dict, payload: bytes, **headers: str):
    url = obj["put_url"]
    return client.put(path_of(url["url"]), content=payload, headers={"Content-Type": url["content-type"], **headers})


def register(client: TestClient, flow_id: str, object_id: str, timerange: str = "[0:0_2:0)") -> None:
    response = client.post(f"/flows/{flow_id}/segments", json={"object_id": object_id, "timerange": timerange})
    assert response.status_code == 201, response.text


def digests_of(client: TestClient, object_id: str):
    return asyncio.run(_digests(client, object_id))


async def _digests(client: TestClient, object_id: str):
    return (await client.app.state.catalog.object_digests([object_id])).get(object_id)


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def test_registered_bytes_are_immutable(strict):
    flow_id = make_flow(strict)
    obj = allocate(strict, flow_id)
    original = os.urandom(4000)
    assert put(strict, obj, original).status_code == 200
    assert put(strict, obj, original).status_code == 200  # a retried upload of the same bytes is fine
    register(strict, flow_id, obj["object_id"])
    response = put(strict, obj, os.urandom(9000))  # the PUT URL is still valid, but the bytes are fixed
    assert response.status_code == 409 and response.json()["type"] == "Conflict"
    assert "immutable" in response.json()["summary"]
    content = strict.get(f"/objects/{obj['object_id']}/content?mode=proxy")
    assert content.content == original and content.headers["content-length"] == str(len(original))
    clip = strict.get(f"/flows/{flow_id}/media.ts?timerange=[0:0_2:0)")
    assert clip.status_code == 200 and clip.content == original
    assert digests_of(strict, obj["object_id"]) == (len(original), hashlib.sha256(original).hexdigest())


CHECKSUMS = {
    "content-md5": lambda b: b64(hashlib.md5(b).digest()),
    "x-amz-checksum-crc32": lambda b: b64(zlib.crc32(b).to_bytes(4, "big")),
    "x-amz-checksum-crc32c": lambda b: b64(crc32c.crc32c(b).to_bytes(4, "big")),
    "x-amz-checksum-sha1": lambda b: b64(hashlib.sha1(b).digest()),
    "x-amz-checksum-sha256": lambda b: b64(hashlib.sha256(b).digest()),
}


@pytest.mark.parametrize("header", list(CHECKSUMS))
def test_put_checks_the_checksums_sent(strict, header):
    flow_id = make_flow(strict)
    obj = allocate(strict, flow_id)
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several chunks
    response = put(strict, obj, payload, **{header: CHECKSUMS[header](b"other bytes")})
    assert response.status_code == 400 and response.json()["type"] == "BadDigest", response.text
    assert header in response.json()["summary"]
    response = strict.post(f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_1:0)"})
    assert response.status_code == 400 and "upload" in response.json()["summary"]  # nothing was stored
    response = put(strict, obj, payload, **{header: CHECKSUMS[header](payload)})
    assert response.status_code == 200, response.text
    assert response.headers["x-amz-checksum-sha256"] == CHECKSUMS["x-amz-checksum-sha256"](payload)


def test_malformed_checksum_is_a_bad_digest(strict):
    obj = allocate(strict, make_flow(strict))
    response = put(strict, obj, b"data", **{"Content-MD5": "not base64!"})
    assert response.status_code == 400 and response.json()["type"] == "BadDigest"


def test_validators_and_checksums_pass_through(strict):
    flow_id = make_flow(strict)
    (object_id,) = upload(strict, flow_id, [payload := os.urandom(5000)])
    register(strict, flow_id, object_id)
    sha = CHECKSUMS["x-amz-checksum-sha256"](payload)
    redirect = strict.get(f"/objects/{object_id}/content?mode=redirect", follow_redirects=False)
    for url in (f"/objects/{object_id}/content?mode=proxy", path_of(redirect.headers["location"])):
        full = strict.get(url)
        assert full.status_code == 200 and full.headers["x-amz-checksum-sha256"] == sha
        etag, modified = full.headers["etag"], full.headers["last-modified"]
        ranged = strict.get(url, headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206 and "x-amz-checksum-sha256" not in ranged.headers
        assert strict.get(url, headers={"If-None-Match": etag}).status_code == 304
        assert strict.get(url, headers={"If-Match": etag}).status_code == 200
        refused = strict.get(url, headers={"If-Match": '"something-else"'})
        assert refused.status_code == 412 and refused.json()["type"] == "PreconditionFailed"
        assert strict.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert strict.get(url, headers={"If-Modified-Since": formatdate(0, usegmt=True)}).status_code == 200
        assert strict.get(url, headers={"If-Unmodified-Since": formatdate(0, usegmt=True)}).status_code == 412
        assert strict.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200


@pytest.fixture
def small(settings):
    """Objects of at most 1 MiB."""
    app = create_app(replace(settings, require_allocation=True, max_object_bytes=1024 * 1024))
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def start_multipart(client: TestClient, flow_id: str, parts: int) -> tuple[str, dict]:
    obj = allocate(client, flow_id)
    response = client.post(f"/flows/{flow_id}/storage/{obj['object_id']}/multipart", json={"parts": parts})
    assert response.status_code == 201, response.text
    return obj["object_id"], response.json()


def part_urls(started: dict) -> list[str]:
    return [path_of(p["url"]) for p in started["parts"]]


def test_multipart_parts_obey_the_size_limit(small, settings):
    flow_id = make_flow(small)
    object_id, upload_ = start_multipart(small, flow_id, 3)
    urls = part_urls(upload_)
    part = os.urandom(600 * 1024)
    first = small.put(urls[0], content=part)
    assert first.status_code == 200
    second = small.put(urls[1], content=part)  # 1.2 MB in all: over the 1 MiB limit
    assert second.status_code == 413 and second.json()["type"] == "PayloadTooLarge"
    parts_dir = settings.data_dir / "objects" / ".multipart" / upload_["upload_id"]
    assert sorted(p.name.split(".")[0] for p in parts_dir.iterdir() if p.name != "key") == ["00001"]
    assert not list((settings.data_dir / "objects" / ".incoming").iterdir())

    def stream():
        for _ in range(6):  # no Content-Length: the limit holds as the part streams in
            yield os.urandom(100 * 1024)

    assert small.put(urls[2], content=stream()).status_code == 413
    assert small.put(urls[1], content=os.urandom(300 * 1024)).status_code == 200
    listing = [{"part_number": 1, "etag": first.headers["etag"]}, {"part_number": 2, "etag": '"0"'}]
    done = small.post(f"/flows/{flow_id}/storage/{object_id}/multipart/{upload_['upload_id']}", json={"parts": listing})
    assert done.status_code == 400 and "ETag" in done.json()["summary"]


def test_multipart_upload_is_bound_to_its_object(small, settings):
    flow_id = make_flow(small)
    mine, my_upload = start_multipart(small, flow_id, 1)
    theirs, their_upload = start_multipart(small, flow_id, 1)
    etag = small.put(part_urls(their_upload)[0], content=b"their bytes").headers["etag"]
    listing = {"parts": [{"part_number": 1, "etag": etag}]}
    stolen = small.post(f"/flows/{flow_id}/storage/{mine}/multipart/{their_upload['upload_id']}", json=listing)
    assert stolen.status_code == 400 and "another object" in stolen.json()["summary"]
    gone = small.delete(f"/flows/{flow_id}/storage/{mine}/multipart/{their_upload['upload_id']}")
    assert gone.status_code == 404
    assert small.delete(f"/flows/{flow_id}/storage/{mine}/multipart/{my_upload['upload_id']}").status_code == 204
    multipart = settings.data_dir / "objects" / ".multipart"
    assert sorted(p.name for p in multipart.iterdir()) == [their_upload["upload_id"]]
    done = small.post(f"/flows/{flow_id}/storage/{theirs}/multipart/{their_upload['upload_id']}", json=listing)
    assert done.status_code == 200 and done.json()["size"] == len(b"their bytes")
    assert not list(multipart.iterdir())  # completed: the parts are gone


def test_multipart_too_large_in_all_is_removed(settings):
    app = create_app(replace(settings, require_allocation=True, max_object_bytes=1000))
    with TestClient(app, base_url="http://testserver") as client:
        flow_id = make_flow(client)
        object_id, upload_ = start_multipart(client, flow_id, 2)
        etags = [client.put(u, content=b"x" * 400).headers["etag"] for u in part_urls(upload_)]
        store = client.app.state.media.storage.target(None)
        store.parts.limit = 10_000  # parts written under a larger limit (a restart with a smaller one)
        client.put(part_urls(upload_)[1], content=b"y" * 900)
        etags[1] = hashlib.md5(b"y" * 900).hexdigest()
        listing = {"parts": [{"part_number": n + 1, "etag": e} for n, e in enumerate(etags)]}
        done = client.post(f"/flows/{flow_id}/storage/{object_id}/multipart/{upload_['upload_id']}", json=listing)
        assert done.status_code == 413, done.text
        assert not list((settings.data_dir / "objects" / ".multipart").iterdir())


def _store(tmp_path, stale_after_s: float = 3600) -> LocalDiskStore:
    info = BackendInfo(str(uuid.uuid4()), "t", "tests", "local disk")
    return LocalDiskStore(info, tmp_path / "store", "http://testserver", tmp_path / "key", 1 << 30, stale_after_s)


def _aged(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_stale_temporaries_are_swept_at_start_and_by_age(tmp_path):
    root = tmp_path / "store"
    incoming, multipart = root / ".incoming", root / ".multipart"
    for folder in (incoming, multipart / "abc123", root / "objects" / "ab"):
        folder.mkdir(parents=True)
    crashed, fresh = incoming / "x.ts.1.2.part", incoming / "y.ts.1.3.part"
    crashed.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in progress elsewhere")
    (multipart / "abc123" / "key").write_text("objects/ab/z")
    legacy = root / "objects" / "ab" / ".z.ts.99.1.part"  # where older versions wrote temporaries
    legacy.write_bytes(b"old")
    for path in (crashed, multipart / "abc123" / "key", multipart / "abc123", legacy):
        _aged(path, 7200)
    store = _store(tmp_path)

    async def run() -> None:
        await store.start()
        assert not crashed.exists() and fresh.exists() and not (multipart / "abc123").exists()
        assert legacy.exists()  # only a full walk (reconcile) looks beside the objects
        assert await store.sweep(everywhere=True) == 1 and not legacy.exists()
        # a temporary being written is never swept, however old it looks
        store.stale_after_s = 0
        started, release = asyncio.Event(), asyncio.Event()

        async def slow_body():
            yield b"first"
            started.set()
            await release.wait()
            yield b"second"

        writing = asyncio.create_task(store.write("objects/ab/slow", slow_body(), None))
        await started.wait()
        (in_flight,) = [p for p in incoming.iterdir() if p.name.startswith("slow")]
        await store.sweep()
        assert in_flight.exists()
        release.set()
        info = await writing
        assert info.size == len(b"firstsecond") and info.sha256 == hashlib.sha256(b"firstsecond").hexdigest()
        await store.sweep()
        assert not fresh.exists()  # no longer protected by its age

    asyncio.run(run())


@pytest.fixture
def two_backends(settings, tmp_path):
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    config = tmp_path / "storage.json"
    backends = [
        {"type": "local", "id": a, "label": "a", "path": "a", "default": True},
        {"type": "local", "id": b, "label": "b", "path": "b"},
    ]
    config.write_text(json.dumps({"backends": backends}))
    app = create_app(replace(settings, storage_config=config, require_allocation=True))
    with TestClient(app, base_url="http://testserver") as client:
        yield client, b


def _file_of(settings, backend: str, object_id: str):
    (found,) = [p for p in (settings.data_dir / backend).rglob(f"{object_id}*") if p.is_file()]
    return found


def test_instance_copies_are_verified(two_backends, settings):
    client, b = two_backends
    flow_id = new_id()
    assert client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
    good, bad = upload(client, flow_id, [os.urandom(3000), payload := os.urandom(3000)])
    register(client, flow_id, good)
    register(client, flow_id, bad, "[2:0_4:0)")
    assert client.post(f"/objects/{good}/instances", json={"storage_id": b}).status_code == 201
    assert _file_of(settings, "b", good).read_bytes() == _file_of(settings, "a", good).read_bytes()
    with open(_file_of(settings, "a", bad), "r+b") as handle:  # bit rot: same size, other bytes
        handle.write(bytes(b ^ 0xFF for b in payload[:10]))
    response = client.post(f"/objects/{bad}/instances", json={"storage_id": b})
    assert response.status_code == 502 and "SHA-256" in response.json()["summary"], response.text
    assert not [p for p in (settings.data_dir / "b").rglob(f"{bad}*")]  # nothing left on b
    assert [u["label"] for u in client.get(f"/objects/{bad}").json()["get_urls"]] == ["a"]


@pytest.mark.slow
@sqlite_only
def test_reconcile_reports_bytes_that_no_longer_match(settings):
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        flow_id = make_flow(client)
        payloads = [os.urandom(2000) for _ in range(3)]
        ok, rotten, cut = upload(client, flow_id, payloads)
        for n, object_id in enumerate((ok, rotten, cut)):
            register(client, flow_id, object_id, f"[{2 * n}:0_{2 * n + 2}:0)")
    with open(_file_of(settings, "objects", rotten), "r+b") as handle:
        handle.write(b"\0" * 16)  # same size, other bytes: only reading them tells
    with open(_file_of(settings, "objects", cut), "r+b") as handle:
        handle.truncate(1000)
    code, report = _reconcile(settings.data_dir)
    assert code == 1 and not report["missing_bytes"]
    assert [(m["object_id"], m["flows"]) for m in report["mismatched_bytes"]] == [(cut, [flow_id])]
    assert "1000 bytes" in report["mismatched_bytes"][0]["reason"]
    code, report = _reconcile(settings.data_dir, "--verify-bytes")
    assert code == 1 and sorted(m["object_id"] for m in report["mismatched_bytes"]) == sorted([rotten, cut])


def test_a_deletion_signalled_mid_batch_is_not_lost(settings):
    """A flow deleted while the worker is busy with a big one is deleted right after it, not a poll
    interval later: the interval here is an hour, so a lost wake-up never finishes in the test."""
    from catalog.store import SegmentQuery
    from gateway.catalogs import build_catalog
    from streaming.objects.media import MediaService, MediaSettings
    from streaming.storage.registry import build_storage

    big_count = 20_000

    async def run() -> None:
        catalog = build_catalog(settings)
        storage = build_storage(None, settings.data_dir, "http://testserver")
        await catalog.start()
        await storage.start()
        media = MediaService(catalog, storage, MediaSettings())
        big, small = new_id(), new_id()
        for flow_id in (big, small):
            await catalog.put_flow(video_flow(flow_id, new_id()), None)
        for start in range(0, big_count, 5000):
            batch = [{"object_id": new_id(), "timerange": f"[{n}:0_{n + 1}:0)"} for n in range(start, start + 5000)]
            assert not await catalog.add_segments(big, batch)
        assert not await catalog.add_segments(small, [{"object_id": new_id(), "timerange": "[0:0_1:0)"}])
        media.start_gc(interval_s=3600)
        try:
            assert await media.deletion.delete_flow(big) is not None  # a deletion request, worked in batches
            while (await catalog.flow_stats(big) or _NO_STATS).count == big_count:
                await asyncio.sleep(0.01)  # until the worker is on it
            assert await media.deletion.delete_flow(small) is not None
            assert await catalog.get_flow(big) is not None, "the big flow went too fast to test the race"
            while await catalog.get_flow(small) is not None:
                await asyncio.sleep(0.01)  # bounded by the wait_for below, not a timing assertion
            page = await catalog.query_segments(small, SegmentQuery(), None, 10)
            assert not page.items
        finally:
            await media.stop_gc()
            await storage.close()
            await catalog.close()

    asyncio.run(asyncio.wait_for(run(), timeout=120))  # a lost wake-up waits 3600 s


class _NoStats:
    count = -1


_NO_STATS = _NoStats()


@pytest.mark.slow
def test_a_copy_onto_s3_is_checked_against_its_etag(s3_server, tmp_path, settings):
    from test_objects_s3 import s3_storage_config

    from streaming.storage.registry import LOCAL_BACKEND_ID

    config, s3_id = s3_storage_config(s3_server, tmp_path)
    app = create_app(replace(settings, storage_config=config, require_allocation=True))
    with TestClient(app, base_url="http://testserver") as client:
        flow_id = make_flow(client)
        response = client.post(f"/flows/{flow_id}/storage", json={"limit": 1, "storage_id": LOCAL_BACKEND_ID})
        (obj,) = response.json()["media_objects"]
        payload = os.urandom(70_000)
        assert put(client, obj, payload).status_code == 200
        register(client, flow_id, obj["object_id"])
        assert client.post(f"/objects/{obj['object_id']}/instances", json={"storage_id": s3_id}).status_code == 201
        proxied = client.get(f"/objects/{obj['object_id']}/content?mode=proxy")
        assert proxied.content == payload
        copy = client.portal.call(_head, client, s3_id, obj["object_id"])  # on the app's loop
        assert copy.size == len(payload) and copy.etag.strip('"') == hashlib.md5(payload).hexdigest()


async def _head(client: TestClient, storage_id: str, object_id: str):
    media = client.app.state.media
    found = await media.catalog.get_object(object_id, None, 1)
    (key,) = {i.key for i in found[0].instances}
    store = media.storage.get(storage_id)
    return await store.head(key)
