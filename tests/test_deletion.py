"""Deleting a big flow in the background: shared objects survive, unshared bytes go, restarts resume."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest
from conftest import new_id, video_flow
from spec import validate


def wait_done(http: httpx.Client, location: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        state = http.get(location).json()
        if state["status"] in ("done", "error"):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def upload(http: httpx.Client, flow_id: str, count: int) -> list[str]:
    objects = http.post(f"/flows/{flow_id}/storage", json={"limit": count}).json()["media_objects"]
    for n, obj in enumerate(objects):
        httpx.put(obj["put_url"]["url"], content=f"bytes {n}".encode(), headers={"Content-Type": "video/mp2t"})
    return [o["object_id"] for o in objects]


def stored_files(gateway) -> int:
    return sum(1 for p in (gateway.data_dir / "objects").rglob("*") if p.is_file())


@pytest.mark.slow
def test_delete_a_100000_segment_flow_sharing_objects(gateway_process):
    big, other = new_id(), new_id()
    with httpx.Client(base_url=gateway_process.url, timeout=60) as http:
        for flow_id in (big, other):
            http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        shared, unshared = upload(http, big, 10), upload(http, big, 10)
        first = [{"object_id": oid, "timerange": f"[{n}:0_{n + 1}:0)"} for n, oid in enumerate(shared + unshared)]
        assert http.post(f"/flows/{big}/segments", json=first).status_code == 201
        for batch in range(100):  # 99,980 more segments (objects named, not uploaded)
            start = 20 + batch * 1000
            body = [
                {"object_id": new_id(), "timerange": f"[{n}:0_{n + 1}:0)"}
                for n in range(start, min(start + 1000, 100_000))
            ]
            if body:
                assert http.post(f"/flows/{big}/segments", json=body).status_code == 201
        reuse = [{"object_id": oid, "timerange": f"[{n}:0_{n + 1}:0)"} for n, oid in enumerate(shared)]
        assert http.post(f"/flows/{other}/segments", json=reuse).status_code == 201
        assert stored_files(gateway_process) == 20
        started = time.monotonic()
        response = http.delete(f"/flows/{big}")
        assert response.status_code == 202
        state = wait_done(http, response.headers["Location"])
        elapsed = time.monotonic() - started
        validate("deletion-request.json", state)
        assert state["status"] == "done" and state["timerange_remaining"] == "()"
        assert http.get(f"/flows/{big}").status_code == 404
        assert http.get(f"/flows/{big}/segments").json() == []
        assert stored_files(gateway_process) == 10  # the shared objects' bytes stay, the rest went
        segments = http.get(f"/flows/{other}/segments").json()
        assert len(segments) == 10
        for n, seg in enumerate(segments):
            assert httpx.get(seg["get_urls"][0]["url"]).content == f"bytes {n}".encode()
        for oid in unshared:
            assert http.get(f"/objects/{oid}").status_code == 404
        print(f"\ndeleted 100,000 segments in {elapsed:.1f} s")


@pytest.mark.slow
def test_deletion_resumes_after_a_crash(gateway_process):
    flow_id = new_id()
    with httpx.Client(base_url=gateway_process.url, timeout=60) as http:
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        for batch in range(30):
            body = [
                {"object_id": new_id(), "timerange": f"[{n}:0_{n + 1}:0)"}
                for n in range(batch * 1000, batch * 1000 + 1000)
            ]
            http.post(f"/flows/{flow_id}/segments", json=body)
        location = http.delete(f"/flows/{flow_id}").headers["Location"]
    os.kill(gateway_process.proc.pid, signal.SIGKILL)
    gateway_process.proc.wait()
    gateway_process.start()
    with httpx.Client(base_url=gateway_process.url, timeout=60) as http:
        state = wait_done(http, location.replace(location.split("/flow-delete")[0], gateway_process.url))
        assert state["status"] == "done"
        assert http.get(f"/flows/{flow_id}").status_code == 404


@pytest.mark.slow
def test_large_segment_deletes_run_in_the_background(gateway_process):
    flow_id = new_id()
    with httpx.Client(base_url=gateway_process.url, timeout=60) as http:
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        for batch in range(25):
            body = [
                {"object_id": new_id(), "timerange": f"[{n}:0_{n + 1}:0)"}
                for n in range(batch * 1000, batch * 1000 + 1000)
            ]
            http.post(f"/flows/{flow_id}/segments", json=body)
        assert http.delete(f"/flows/{flow_id}/segments?timerange=[0:0_100:0)").status_code == 204  # small: now
        response = http.delete(f"/flows/{flow_id}/segments?timerange=[100:0_24000:0)")
        assert response.status_code == 202
        validate("deletion-request.json", response.json())
        assert response.json()["delete_flow"] is False
        state = wait_done(http, response.headers["Location"])
        assert state["status"] == "done"
        remaining = http.get(f"/flows/{flow_id}/segments?limit=1000").json()
        assert [s["timerange"] for s in remaining] == [f"[{n}:0_{n + 1}:0)" for n in range(24000, 25000)]
        assert http.get(f"/flows/{flow_id}").status_code == 200  # the flow stays
