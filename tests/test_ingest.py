"""PyAV probing, key-frame cutting and `tams-gateway ingest` against a running gateway."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from conftest import ROOT, new_id
from media import make_ts

from gateway.ingest import ingest
from streaming.ingest.probe import probe
from streaming.ingest.segmenter import cut


@pytest.fixture(scope="module")
def media_file(tmp_path_factory):
    return make_ts(tmp_path_factory.mktemp("media") / "clip.ts", seconds=8, fps=25, gop=25)


def test_probe_reports_exact_timing(media_file):
    info = probe(media_file)
    assert info.container == "mpegts" and info.container_mime == "video/mp2t"
    assert info.main.codec == "h264" and info.main.frame_rate == 25 and (info.main.width, info.main.height) == (160, 90)
    assert info.packet_count == 200 and info.key_frame_count == 8 and info.starts_with_key_frame
    assert info.duration_ns == 8_000_000_000
    assert {s.kind for s in info.streams} == {"video", "audio"}
    with pytest.raises(Exception):  # noqa: B017 - PyAV raises its own error types for garbage
        probe(b"not media at all")


def test_cut_on_key_frames_with_exact_contiguous_timeranges(media_file):
    chunks = list(cut(media_file, 2))
    assert len(chunks) == 4
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.timerange.end == after.timerange.start
    for chunk in chunks:
        info = probe(chunk.data)
        assert info.timerange == chunk.timerange and info.starts_with_key_frame
        assert chunk.key_frame_count == info.key_frame_count == 2
        assert {s.kind for s in info.streams} == {"video", "audio"}


@pytest.mark.slow
def test_ingest_then_every_read_path_returns_the_same_bytes(gateway_process, media_file):
    flow_id = new_id()
    report = asyncio.run(ingest(gateway_process.url, media_file, flow_id, quiet=True))
    assert report.segments == 4 and report.skipped == 0
    chunks = list(cut(media_file, 2))
    with httpx.Client(base_url=gateway_process.url) as http:
        flow = http.get(f"/flows/{flow_id}?include_timerange=true").json()
        assert flow["codec"] == "video/h264" and flow["essence_parameters"]["frame_rate"] == {
            "numerator": 25,
            "denominator": 1,
        }
        assert flow["timerange"] == str(chunks[0].timerange.envelope(chunks[-1].timerange))
        segments = http.get(f"/flows/{flow_id}/segments").json()
        assert [s["timerange"] for s in segments] == [str(c.timerange) for c in chunks]
        for seg, chunk in zip(segments, chunks, strict=True):
            assert seg["key_frame_count"] == 2
            assert httpx.get(seg["get_urls"][0]["url"]).content == chunk.data
            assert (
                http.get(f"/objects/{seg['object_id']}/content?mode=redirect", follow_redirects=True).content
                == chunk.data
            )
            assert http.get(f"/objects/{seg['object_id']}/content?mode=proxy").content == chunk.data
        # resume: lose the last two segments, ingest again, only those are uploaded
        http.delete(
            f"/flows/{flow_id}/segments?timerange={chunks[2].timerange.start // 10**9}:"
            f"{chunks[2].timerange.start % 10**9}_"
        )
        assert len(http.get(f"/flows/{flow_id}/segments").json()) == 2
    again = asyncio.run(ingest(gateway_process.url, media_file, flow_id, quiet=True))
    assert (again.segments, again.skipped) == (2, 2)


@pytest.mark.slow
def test_ingest_command_line(gateway_process, media_file):
    flow_id = new_id()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "ingest",
            str(media_file),
            "--flow-id",
            flow_id,
            "--url",
            gateway_process.url,
            "--segment-seconds",
            "4",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "2 segments registered" in result.stdout and "segments" in result.stderr  # progress bar
    assert len(httpx.get(f"{gateway_process.url}/flows/{flow_id}/segments").json()) == 2
    assert httpx.get(f"{gateway_process.url}/flows/{flow_id}").json()["status"] == "closed_complete"
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "ingest",
            "/no/such/file.ts",
            "--flow-id",
            flow_id,
            "--url",
            gateway_process.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "ingest failed" in bad.stderr


def test_probe_on_register_fills_key_frames_and_checks_duration(tmp_path, media_file):
    from dataclasses import replace

    from starlette.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import Settings

    settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver", probe_on_register=True)
    chunks = list(cut(media_file, 2))
    with TestClient(create_app(replace(settings))) as client:
        flow_id = new_id()
        from conftest import video_flow

        client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        objects = client.post(f"/flows/{flow_id}/storage", json={"limit": 3}).json()["media_objects"]
        for obj, chunk in zip(objects, chunks, strict=False):
            url = obj["put_url"]["url"].removeprefix("http://testserver")
            client.put(url, content=chunk.data, headers={"Content-Type": "video/mp2t"})
        good = {"object_id": objects[0]["object_id"], "timerange": str(chunks[0].timerange)}
        assert client.post(f"/flows/{flow_id}/segments", json=good).status_code == 201
        assert client.get(f"/flows/{flow_id}/segments").json()[0]["key_frame_count"] == 2
        wrong = {"object_id": objects[1]["object_id"], "timerange": "[100:0_110:0)"}
        response = client.post(f"/flows/{flow_id}/segments", json=wrong)
        assert response.status_code == 400
        summary = response.json()["summary"]
        assert "10:0" in summary and "2:0" in summary  # both durations named


@pytest.mark.slow
def test_ingest_of_mp4_records_the_muxers_shift_as_ts_offset(gateway_process, tmp_path):
    clip = make_ts(tmp_path / "clip.mp4", seconds=4, container="mp4")
    flow_id = new_id()
    report = asyncio.run(ingest(gateway_process.url, clip, flow_id, quiet=True))
    assert report.segments == 2
    with httpx.Client(base_url=gateway_process.url) as http:
        segments = http.get(f"/flows/{flow_id}/segments?include_object_timerange=true").json()
        assert [s["timerange"] for s in segments] == ["[0:0_2:0)", "[2:0_4:0)"]
        for seg in segments:
            data = httpx.get(seg["get_urls"][0]["url"]).content
            assert str(probe(data).timerange) == seg["object_timerange"]  # the bytes' own timeline


@pytest.mark.slow
def test_ingest_uploads_large_objects_in_parts(gateway_process, media_file):
    from gateway.ingest import UploadPlan

    flow_id = new_id()
    plan = UploadPlan(multipart_threshold=10_000, part_size=7_000)  # every segment goes up in parts
    report = asyncio.run(ingest(gateway_process.url, media_file, flow_id, quiet=True, plan=plan))
    assert report.segments == 4
    chunks = list(cut(media_file, 2))
    segments = httpx.get(f"{gateway_process.url}/flows/{flow_id}/segments").json()
    for seg, chunk in zip(segments, chunks, strict=True):
        assert len(chunk.data) > 10_000
        assert httpx.get(seg["get_urls"][0]["url"]).content == chunk.data


@pytest.mark.slow
def test_multipart_rules(gateway_process):
    from conftest import video_flow

    with httpx.Client(base_url=gateway_process.url) as http:
        flow_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        (obj,) = http.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
        base = f"/flows/{flow_id}/storage/{obj['object_id']}/multipart"
        assert http.post(base, json={"parts": 0}).status_code == 400
        assert (
            http.post(f"/flows/{new_id()}/storage/{obj['object_id']}/multipart", json={"parts": 1}).status_code == 404
        )
        started = http.post(base, json={"parts": 2}).json()
        first = httpx.put(started["parts"][0]["url"], content=b"a" * 10)
        assert first.status_code == 200
        tampered = started["parts"][1]["url"].replace("partNumber=2", "partNumber=3")
        assert httpx.put(tampered, content=b"b").status_code == 403
        missing = http.post(
            f"{base}/{started['upload_id']}",
            json={"parts": [{"part_number": 1, "etag": first.headers["etag"]}, {"part_number": 2, "etag": "x"}]},
        )
        assert missing.status_code == 400 and "never uploaded" in missing.json()["summary"]
        second = httpx.put(started["parts"][1]["url"], content=b"b" * 5)
        done = http.post(
            f"{base}/{started['upload_id']}",
            json={
                "parts": [
                    {"part_number": 1, "etag": first.headers["etag"]},
                    {"part_number": 2, "etag": second.headers["etag"]},
                ]
            },
        )
        assert done.status_code == 200 and done.json()["size"] == 15
        assert (
            http.post(
                f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_1:0)"}
            ).status_code
            == 201
        )
        assert http.get(f"/objects/{obj['object_id']}/content?mode=proxy").content == b"a" * 10 + b"b" * 5
