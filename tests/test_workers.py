"""Several gateway processes on one catalog (``serve --workers 2``): events, caches, the background lock.

Requests are pinned to a chosen worker (tests/processes.py), so "written through one process, seen
through the other" is what each test really does.
"""

from __future__ import annotations

import json
import os
import signal
import time

import httpx
import m3u8
import pytest
from conftest import GatewayProcess, new_id, sqlite_only, video_flow
from processes import Pinned
from starlette.testclient import TestClient
from test_webhooks import Receiver

from gateway.app import create_app
from gateway.background import FileLock


@pytest.fixture
def gateway(tmp_path):
    process = GatewayProcess(tmp_path / "data", workers=2, env={"TAMS_WEBHOOKS_ALLOW_PRIVATE": "true"})
    process.start()
    yield process
    process.stop()


def pinned_pair(gateway: GatewayProcess) -> tuple[Pinned, Pinned]:
    workers = gateway.worker_pids()
    assert len(workers) == 2
    return Pinned(gateway.port, workers[0], workers), Pinned(gateway.port, workers[1], workers)


def metric(connection: Pinned, name: str) -> float:
    _, text = connection.request("GET", "/metrics")
    line = next(line for line in text.decode().splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def eventually(check, seconds: float = 30):
    """Polls ``check`` until it returns something true (bounded; the failure says what was last seen)."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@sqlite_only  # the VAST fake lives in one process's memory: it always runs one worker
@pytest.mark.slow
def test_an_event_written_through_one_worker_reaches_a_stream_on_the_other(gateway):
    reader, writer = pinned_pair(gateway)
    flow_id = new_id()
    reader.conn.request("GET", f"/events?events=flows/created,flows/updated&flow_ids={flow_id}")
    stream = reader.conn.getresponse()
    assert stream.status == 200 and stream.getheader("content-type").startswith("text/event-stream")
    assert writer.request("PUT", f"/flows/{flow_id}", video_flow(flow_id, new_id()))[0] == 201
    assert writer.request("PUT", f"/flows/{flow_id}/label", "from the other worker")[0] == 204
    events = []
    while len(events) < 2:
        line = stream.readline().decode().rstrip("\n")
        if line.startswith("event:"):
            events.append(line.split(":", 1)[1].strip())
        elif line.startswith("data:") and events[-1] == "flows/updated":
            assert json.loads(line[5:])["flow"]["label"] == "from the other worker"
    assert events == ["flows/created", "flows/updated"]
    reader.close()
    writer.close()


@sqlite_only
@pytest.mark.slow
def test_a_playlist_cached_in_one_worker_shows_segments_added_through_the_other(gateway):
    cached, writer = pinned_pair(gateway)
    flow_id = new_id()
    writer.request("PUT", f"/flows/{flow_id}", video_flow(flow_id, new_id()))
    body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 2}:0)"} for s in range(0, 20, 2)]
    assert writer.request("POST", f"/flows/{flow_id}/segments", body)[0] == 201
    url = f"/flows/{flow_id}/playlist.m3u8?timerange=[0:0_30:0)&uris=proxy"
    status, first = cached.request("GET", url)
    assert status == 200 and len(m3u8.loads(first.decode()).segments) == 10
    hits = metric(cached, "tams_playlist_cache_hits_total")
    assert cached.request("GET", url)[1] == first and metric(cached, "tams_playlist_cache_hits_total") == hits + 1
    more = [{"object_id": new_id(), "timerange": "[20:0_22:0)"}]
    assert writer.request("POST", f"/flows/{flow_id}/segments", more)[0] == 201
    assert len(m3u8.loads(cached.request("GET", url)[1].decode()).segments) == 11
    cached.close()
    writer.close()


@sqlite_only
@pytest.mark.slow
def test_killing_the_background_worker_hands_webhooks_and_deletions_to_another(gateway):
    receiver = Receiver()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as http:
            hook = {"url": receiver.url, "events": ["flows/created"]}
            assert http.post("/service/webhooks", json=hook).status_code == 201
            before = new_id()
            http.put(f"/flows/{before}", json=video_flow(before, new_id()))
            assert receiver.wait(1)[0]["event"]["flow"]["id"] == before
        holder = gateway.background_pid()
        assert holder in gateway.worker_pids()
        first, second = pinned_pair(gateway)
        running = {c.pid: metric(c, "tams_background_services") for c in (first, second)}
        assert running == {holder: 1, next(p for p in running if p != holder): 0}  # exactly one runs them
        first.close()
        second.close()
        os.kill(holder, signal.SIGKILL)
        # another worker (the standby, or the one uvicorn starts in the dead one's place) takes the lock
        successor = eventually(lambda: (pid := gateway.background_pid()) != holder and pid)
        assert successor and successor in gateway.worker_pids()
        workers = eventually(lambda: len(pids := gateway.worker_pids()) == 2 and pids)
        elsewhere = Pinned(gateway.port, next(pid for pid in workers if pid != successor), workers)
        assert metric(elsewhere, "tams_background_services") == 0
        after = new_id()
        assert elsewhere.request("PUT", f"/flows/{after}", video_flow(after, new_id()))[0] == 201
        assert [e["event"]["flow"]["id"] for e in receiver.wait(2)][1] == after
        # a deletion requested through a worker without the background services still runs
        body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 1}:0)"} for s in range(50)]
        assert elsewhere.request("POST", f"/flows/{after}/segments", body)[0] == 201
        status, request = elsewhere.json("DELETE", f"/flows/{after}")
        assert status == 202
        done = eventually(
            lambda: (
                (r := elsewhere.json("GET", f"/flow-delete-requests/{request['id']}")[1])["status"] in ("done", "error")
                and r
            )
        )
        assert done and done["status"] == "done"
        assert elsewhere.request("GET", f"/flows/{after}")[0] == 404
        elsewhere.close()
    finally:
        receiver.server.shutdown()


@pytest.mark.slow
def test_the_vast_fake_is_served_by_one_worker(tmp_path):
    process = GatewayProcess(tmp_path / "data", env={"TAMS_CATALOG": "vast-fake", "TAMS_WORKERS": "2"})
    process.start()
    try:
        assert httpx.get(process.url + "/healthz").status_code == 200
    finally:
        process.stop()
    output = process.proc.stdout.read().decode()  # type: ignore[union-attr]  # stdout=PIPE
    assert "serving with 1 worker, not 2" in output and "1 worker)" in output


def test_the_background_lock_is_held_by_one_holder_at_a_time(tmp_path):
    first, second = FileLock(tmp_path / "background.lock"), FileLock(tmp_path / "background.lock")
    assert first.try_acquire() and not second.try_acquire()
    assert (tmp_path / "background.lock").read_text() == f"{os.getpid()}\n"
    first.release()
    assert second.try_acquire() and not first.try_acquire()
    second.release()


@sqlite_only
def test_a_standby_app_takes_over_when_the_holder_stops(settings):
    """Two apps on one data dir in this process: the lock is per open file, so they elect like processes."""
    holder, standby = TestClient(create_app(settings)), TestClient(create_app(settings))
    holder.__enter__()
    try:
        standby.__enter__()
        try:
            assert holder.app.state.background.running and not standby.app.state.background.running
            assert "tams_background_services 0.0" in standby.get("/metrics").text
        finally:
            holder.__exit__(None, None, None)
        assert eventually(lambda: standby.app.state.background.running)
        assert "tams_background_services 1.0" in standby.get("/metrics").text
    finally:
        standby.__exit__(None, None, None)


def test_workers_must_be_at_least_one(capsys):
    from gateway.cli import main

    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers 0 must be at least 1" in capsys.readouterr().err
