"""Objects on a real S3-compatible server (moto, started on 127.0.0.1): write path, delivery, copies, outages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, TEST_CATALOG, GatewayProcess, new_id, sqlite_only, video_flow
from spec import validate
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from streaming.storage.registry import LOCAL_BACKEND_ID


def s3_storage_config(s3_server, tmp_path: Path) -> tuple[Path, str]:
    """A storage config with a fresh bucket as the default backend (and local disk); its S3 id."""
    bucket = f"tams-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    s3_id = str(uuid.uuid4())
    config = {
        "backends": [
            {
                "type": "s3",
                "id": s3_id,
                "label": "s3",
                "bucket": bucket,
                "endpoint_url": s3_server.url,
                "region": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "default": True,
                "provider": "moto",
                "store_product": "moto S3",
                "tags": {"tier": "hot"},
            },
            {"type": "local", "id": LOCAL_BACKEND_ID, "label": "local", "path": "objects"},
        ]
    }
    (tmp_path / "storage.json").write_text(json.dumps(config))
    return tmp_path / "storage.json", s3_id


@pytest.fixture
def s3_gateway(s3_server, tmp_path):
    config, s3_id = s3_storage_config(s3_server, tmp_path)
    process = GatewayProcess(
        tmp_path / "data", env={"TAMS_STORAGE_CONFIG": str(config), "TAMS_REQUIRE_ALLOCATION": "true"}
    )
    process.start()
    process.s3_id = s3_id  # type: ignore[attr-defined]  # the fixture hands its tests the backend id with the process
    yield process
    process.stop()


def upload_and_register(http: httpx.Client, payloads: list[bytes]) -> tuple[str, list[str]]:
    flow_id = new_id()
    assert http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id())).status_code == 201
    allocated = http.post(f"/flows/{flow_id}/storage", json={"limit": len(payloads)}).json()["media_objects"]
    for obj, payload in zip(allocated, payloads, strict=True):
        put = obj["put_url"]
        assert "X-Amz-Signature=" in put["url"]
        response = httpx.put(put["url"], content=payload, headers={"Content-Type": put["content-type"]})
        assert response.status_code == 200, response.text
    ids = [o["object_id"] for o in allocated]
    body = [{"object_id": oid, "timerange": f"[{i}:0_{i + 1}:0)"} for i, oid in enumerate(ids)]
    response = http.post(f"/flows/{flow_id}/segments", json=body)
    assert response.status_code == 201, response.text
    return flow_id, ids


@pytest.mark.slow
def test_write_path_and_every_read_path_agree(s3_gateway):
    payloads = [os.urandom(100_000), os.urandom(3)]
    with httpx.Client(base_url=s3_gateway.url) as http:
        backends = http.get("/service/storage-backends").json()
        validate("storage-backends-list.json", backends)
        assert [b["label"] for b in backends] == ["local", "s3"]
        flow_id, ids = upload_and_register(http, payloads)
        segments = http.get(f"/flows/{flow_id}/segments?verbose_storage=true").json()
        for seg, payload in zip(segments, payloads, strict=True):
            validate("flow-segment.json", seg)
            (url,) = seg["get_urls"]
            assert url["storage_id"] == s3_gateway.s3_id and url["tags"] == {"tier": "hot"}
            assert httpx.get(url["url"]).content == payload  # presigned, straight from S3
            assert http.get(f"/objects/{seg['object_id']}/content?mode=proxy").content == payload
            redirected = http.get(f"/objects/{seg['object_id']}/content?mode=redirect", follow_redirects=True)
            assert redirected.content == payload
        tagged = http.get(f"/flows/{flow_id}/segments?storage_backend_tag.tier=cold").json()
        assert all(seg["get_urls"] == [] for seg in tagged)
        assert http.get(f"/flows/{flow_id}/segments?accept_storage_ids={s3_gateway.s3_id}").json()[0]["get_urls"]


@pytest.mark.slow
def test_proxy_ranges_from_s3(s3_gateway):
    payload = os.urandom(300_000)
    with httpx.Client(base_url=s3_gateway.url) as http:
        _, (oid,) = upload_and_register(http, [payload])
        url = f"/objects/{oid}/content?mode=proxy"
        whole = http.get(url)
        assert whole.status_code == 200 and whole.content == payload
        part = http.get(url, headers={"Range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == payload[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(payload)}"
        assert http.get(url, headers={"Range": "bytes=-10"}).content == payload[-10:]
        assert http.get(url, headers={"Range": f"bytes={len(payload)}-"}).status_code == 416
        assert http.get(url, headers={"If-None-Match": whole.headers["etag"]}).status_code == 304
        assert http.get(url, headers={"Range": "bytes=0-0", "If-Range": '"other"'}).status_code == 200
        size = len(payload)
        clamped = http.get(url, headers={"Range": f"bytes={size - 5}-{size + 100}"})
        assert clamped.status_code == 206 and clamped.content == payload[-5:]
        assert clamped.headers["content-range"] == f"bytes {size - 5}-{size - 1}/{size}"
        for header in (f"bytes={size}-", "bytes=5-3", "bytes=-0", "bytes=0-1,5-6"):
            refused = http.get(url, headers={"Range": header})
            assert refused.status_code == 416 and refused.headers["content-range"] == f"bytes */{size}", header
        assert http.get(url, headers={"Range": "bytes=0-0", "If-Range": whole.headers["etag"]}).status_code == 206
        head = http.head(url, headers={"Range": "bytes=0-9"})
        assert head.status_code == 206 and head.headers["content-length"] == "10" and head.content == b""
        # a client that reads a little and goes away does not break the gateway
        with http.stream("GET", url) as response:
            next(response.iter_bytes(1024))
        assert http.get("/healthz").status_code == 200


@pytest.mark.slow
def test_a_proxied_read_is_one_store_request(s3_server, tmp_path):
    # a player's Range request is one GET to S3 (no HEAD first): the answer's headers carry the size
    config, s3_id = s3_storage_config(s3_server, tmp_path)
    settings = Settings(
        data_dir=tmp_path / "data", storage_config=config, public_url="http://testserver", catalog=TEST_CATALOG
    )
    payload = os.urandom(50_000)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        calls: list[str] = []
        store = client.app.state.media.storage.get(s3_id)
        flow_id = new_id()
        client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        (obj,) = client.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
        httpx.put(obj["put_url"]["url"], content=payload, headers={"Content-Type": obj["put_url"]["content-type"]})
        client.post(f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_1:0)"})
        url = f"/objects/{obj['object_id']}/content?mode=proxy"

        def record(model, params, **_):  # calls about this test's object only, not background work
            if obj["object_id"] in params.get("Key", ""):
                calls.append(model.name)

        store.client.meta.events.register("before-parameter-build.s3", record)  # botocore: HEAD and the rest
        reader_get = store.reader.get  # reads go around botocore (streaming/storage/s3_reads.py)

        async def recorded_get(key, range_header):
            if obj["object_id"] in key:
                calls.append("GetObject")
            return await reader_get(key, range_header)

        store.reader.get = recorded_get
        for headers, status, body in (
            ({"Range": "bytes=100-199"}, 206, payload[100:200]),
            ({"Range": "bytes=-7"}, 206, payload[-7:]),
            ({}, 200, payload),
        ):
            calls.clear()
            response = client.get(url, headers=headers)
            assert (response.status_code, response.content, calls) == (status, body, ["GetObject"])
            assert response.headers["etag"] and response.headers["content-length"] == str(len(body))
        calls.clear()  # past the end: S3 refuses the range, and the 416 needs the size
        assert client.get(url, headers={"Range": "bytes=50000-"}).status_code == 416
        assert calls == ["GetObject", "HeadObject"]


@pytest.mark.slow
def test_registration_needs_uploaded_bytes(s3_gateway):
    with httpx.Client(base_url=s3_gateway.url) as http:
        flow_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        (obj,) = http.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
        response = http.post(
            f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_1:0)"}
        )
        assert response.status_code == 400 and obj["object_id"] in response.json()["summary"]


@pytest.mark.slow
def test_copy_to_another_backend_and_delete_instances(s3_gateway):
    payload = os.urandom(20_000)
    with httpx.Client(base_url=s3_gateway.url) as http:
        flow_id, (oid,) = upload_and_register(http, [payload])
        assert http.post(f"/objects/{oid}/instances", json={"storage_id": LOCAL_BACKEND_ID}).status_code == 201
        assert http.post(f"/objects/{oid}/instances", json={"storage_id": LOCAL_BACKEND_ID}).status_code == 400
        urls = http.get(f"/objects/{oid}").json()["get_urls"]
        assert [u["label"] for u in urls] == ["s3", "local"]
        assert all(httpx.get(u["url"]).content == payload for u in urls)
        assert http.delete(f"/objects/{oid}/instances?storage_id={s3_gateway.s3_id}").status_code == 204
        (only,) = http.get(f"/objects/{oid}").json()["get_urls"]
        assert only["label"] == "local" and httpx.get(only["url"]).content == payload
        assert http.delete(f"/objects/{oid}/instances?storage_id={LOCAL_BACKEND_ID}").status_code == 400


@pytest.mark.slow
def test_store_outage_answers_fast_and_recovers(s3_server, tmp_path):
    """Stop S3 under a running gateway: errors are 502/503 JSON, then it recovers on its own."""
    from conftest import S3Server

    s3 = S3Server()
    s3.start()
    bucket = "outage"
    s3.create_bucket(bucket)
    config = {
        "backends": [
            {
                "type": "s3",
                "id": str(uuid.uuid4()),
                "label": "s3",
                "bucket": bucket,
                "endpoint_url": s3.url,
                "access_key": "t",
                "secret_key": "t",
                "default": True,
                "connect_timeout": 1,
                "read_timeout": 2,
                "max_attempts": 1,
            }
        ]
    }
    (tmp_path / "storage.json").write_text(json.dumps(config))
    gateway = GatewayProcess(tmp_path / "data", env={"TAMS_STORAGE_CONFIG": str(tmp_path / "storage.json")})
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            _, (oid,) = upload_and_register(http, [b"abc"])
            assert http.get(f"/objects/{oid}/content?mode=proxy").content == b"abc"
            s3.stop()
            statuses = [http.get(f"/objects/{oid}/content?mode=proxy").status_code for _ in range(8)]
            assert set(statuses) <= {502, 503, 504} and 503 in statuses
            started = time.monotonic()
            fast = http.get(f"/objects/{oid}/content?mode=proxy")
            assert fast.status_code == 503 and time.monotonic() - started < 0.5
            assert fast.json()["type"] == "ServiceUnavailable"
            # redirect mode needs no call to the store
            assert http.get(f"/objects/{oid}/content", follow_redirects=False).status_code == 302
    finally:
        gateway.stop()
        s3.stop()


@pytest.mark.slow
def test_unusable_bucket_is_a_clear_start_error(s3_server, tmp_path):
    config = {
        "backends": [
            {
                "type": "s3",
                "id": str(uuid.uuid4()),
                "label": "s3",
                "bucket": "no-such-bucket",
                "endpoint_url": s3_server.url,
                "access_key": "t",
                "secret_key": "t",
                "default": True,
            }
        ]
    }
    (tmp_path / "storage.json").write_text(json.dumps(config))
    gateway = GatewayProcess(tmp_path / "data", env={"TAMS_STORAGE_CONFIG": str(tmp_path / "storage.json")})
    with pytest.raises(RuntimeError, match="no-such-bucket"):
        gateway.start()
    gateway.stop()


@pytest.mark.slow
def test_ingest_onto_s3(s3_gateway, tmp_path):
    import asyncio

    from media import make_ts

    from gateway.ingest import ingest
    from streaming.ingest.segmenter import cut

    clip = make_ts(tmp_path / "clip.ts", seconds=4)
    flow_id = new_id()
    report = asyncio.run(ingest(s3_gateway.url, clip, flow_id, quiet=True))
    assert report.segments == 2
    chunks = list(cut(clip, 2))
    with httpx.Client(base_url=s3_gateway.url) as http:
        segments = http.get(f"/flows/{flow_id}/segments?presigned=true").json()
        for seg, chunk in zip(segments, chunks, strict=True):
            assert httpx.get(seg["get_urls"][0]["url"]).content == chunk.data
            assert (
                http.get(f"/flows/{flow_id}/content?mode=proxy&at={seg['timerange'][1:].split('_')[0]}").content
                == chunk.data
            )


@pytest.mark.slow
def test_multipart_upload_to_s3_with_presigned_part_urls(s3_gateway):
    payload = os.urandom(5 * 1024 * 1024 + 1234)  # S3 wants >= 5 MiB for every part but the last
    with httpx.Client(base_url=s3_gateway.url, timeout=60) as http:
        flow_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        (obj,) = http.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
        base = f"/flows/{flow_id}/storage/{obj['object_id']}/multipart"
        started = http.post(base, json={"parts": 2}).json()
        assert all("partNumber=" in p["url"] and "X-Amz-Signature=" in p["url"] for p in started["parts"])
        split = 5 * 1024 * 1024
        etags = []
        for part, data in zip(started["parts"], (payload[:split], payload[split:]), strict=True):
            response = httpx.put(part["url"], content=data)
            assert response.status_code == 200, response.text
            etags.append({"part_number": part["part_number"], "etag": response.headers["etag"]})
        done = http.post(f"{base}/{started['upload_id']}", json={"parts": etags})
        assert done.status_code == 200 and done.json()["size"] == len(payload)
        body = {"object_id": obj["object_id"], "timerange": "[0:0_1:0)"}
        assert http.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
        url = http.get(f"/flows/{flow_id}/segments").json()[0]["get_urls"][0]["url"]
        assert httpx.get(url).content == payload


@pytest.mark.slow
@sqlite_only
def test_reconcile_on_s3_finds_deleted_bytes_and_unknown_objects(s3_gateway, s3_server, tmp_path):
    import boto3

    with httpx.Client(base_url=s3_gateway.url, timeout=30) as http:
        flow_id, (kept, lost) = upload_and_register(http, [b"a" * 1000, b"b" * 1000])
    config = json.loads((tmp_path / "storage.json").read_text())
    bucket = config["backends"][0]["bucket"]
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    s3.delete_object(Bucket=bucket, Key=next(k for k in keys if lost in k))
    s3.put_object(Bucket=bucket, Key="objects/zz/unknown.ts", Body=b"orphan")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "reconcile",
            "--data-dir",
            str(s3_gateway.data_dir),
            "--min-age",
            "0",
            "--delete-orphans",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TAMS_STORAGE_CONFIG": str(tmp_path / "storage.json"), "TAMS_CATALOG": "sqlite"},
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert [(m["object_id"], m["flows"]) for m in report["missing_bytes"]] == [(lost, [flow_id])]
    assert report["orphan_objects"] == [{"storage_id": s3_gateway.s3_id, "key": "objects/zz/unknown.ts"}]
    assert "objects/zz/unknown.ts" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
