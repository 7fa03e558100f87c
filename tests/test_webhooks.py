"""Webhooks: registration per spec, delivery of every event type to a real receiver, failures, restarts."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from conftest import GatewayProcess, new_id, video_flow
from spec import validate

ALL_EVENTS = [
    "flows/created",
    "flows/updated",
    "flows/deleted",
    "flows/segments_added",
    "flows/segments_deleted",
    "sources/created",
    "sources/updated",
    "sources/deleted",
]


class Receiver:
    """An HTTP server on 127.0.0.1 that records webhook POSTs (or fails them on demand)."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.headers: list[dict] = []
        self.fail = False
        self.redirect: str | None = None  # answer 307 to this URL instead of taking the event
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep connections alive, as real receivers do

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if receiver.redirect:
                    self.send_response(307)
                    self.send_header("Location", receiver.redirect)
                elif receiver.fail:
                    self.send_response(500)
                else:
                    receiver.events.append(body)
                    receiver.headers.append(dict(self.headers))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, seconds: float = 20) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.events) >= count, f"{len(self.events)} of {count} events arrived"
        return self.events

    def types(self) -> list[str]:
        return [e["event_type"] for e in self.events]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def gateway(tmp_path):
    process = GatewayProcess(
        tmp_path / "data",
        env={"TAMS_WEBHOOKS_ALLOW_PRIVATE": "true", "TAMS_WEBHOOK_BACKOFF": "0.05", "TAMS_WEBHOOK_MAX_FAILURES": "3"},
    )
    process.start()
    yield process
    process.stop()


@pytest.mark.slow
def test_registration(gateway, receiver):
    with httpx.Client(base_url=gateway.url) as http:
        body = {
            "url": receiver.url,
            "events": ALL_EVENTS,
            "api_key_name": "X-Api-Key",
            "api_key_value": "s3cret",
            "tags": {"team": "news"},
        }
        response = http.post("/service/webhooks", json=body)
        assert response.status_code == 201
        hook = response.json()
        validate("webhook-get.json", hook)
        assert "api_key_value" not in hook and hook["status"] == "created"
        assert http.get(f"/service/webhooks/{hook['id']}").json()["url"] == receiver.url
        assert [w["id"] for w in http.get("/service/webhooks?tag.team=news").json()] == [hook["id"]]
        put = {**body, "id": hook["id"], "status": "disabled"}
        put.pop("api_key_value")
        response = http.put(f"/service/webhooks/{hook['id']}", json=put)
        assert response.status_code == 201 and response.json()["status"] == "disabled"
        assert http.post("/service/webhooks", json={**body, "events": ["flows/exploded"]}).status_code == 400
        assert http.post("/service/webhooks", json={"events": ALL_EVENTS}).status_code == 400
        assert http.get(f"/service/webhooks/{new_id()}").status_code == 404
        assert http.delete(f"/service/webhooks/{hook['id']}").status_code == 204
        assert http.get(f"/service/webhooks/{hook['id']}").status_code == 404
        assert {"name": "webhooks"}.items() <= http.get("/service").json()["event_stream_mechanisms"][0].items()


@pytest.mark.slow
def test_ssrf_guard_refuses_private_targets(tmp_path):
    process = GatewayProcess(tmp_path / "data")
    process.start()
    try:
        response = httpx.post(
            f"{process.url}/service/webhooks", json={"url": "http://127.0.0.1:9/x", "events": ALL_EVENTS}
        )
        assert response.status_code == 400 and "loopback" in response.json()["summary"]
    finally:
        process.stop()


@pytest.mark.slow
def test_every_event_type_arrives_in_order(gateway, receiver):
    with httpx.Client(base_url=gateway.url) as http:
        http.post(
            "/service/webhooks",
            json={
                "url": receiver.url,
                "events": ALL_EVENTS,
                "api_key_name": "X-Api-Key",
                "api_key_value": "s3cret",
                "include_object_timerange": True,
            },
        )
        other = receiver.__class__()
        hook = http.post(
            "/service/webhooks", json={"url": other.url, "events": ALL_EVENTS, "flow_ids": [new_id()]}
        ).json()
        flow_id, source_id = new_id(), new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, source_id))
        http.put(f"/flows/{flow_id}/label", json="renamed")
        http.put(f"/sources/{source_id}/label", json="camera")
        (obj,) = http.post(f"/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
        httpx.put(obj["put_url"]["url"], content=b"x", headers={"Content-Type": "video/mp2t"})
        http.post(f"/flows/{flow_id}/segments", json={"object_id": obj["object_id"], "timerange": "[0:0_2:0)"})
        receiver.wait(5)  # get_urls are made when the event is sent: let it go before the object is deleted
        http.delete(f"/flows/{flow_id}/segments")
        http.delete(f"/flows/{flow_id}")
        events = receiver.wait(8)
        assert receiver.types() == [
            "sources/created",
            "flows/created",
            "flows/updated",
            "sources/updated",
            "flows/segments_added",
            "flows/segments_deleted",
            "flows/deleted",
            "sources/deleted",
        ]
        by_type = {e["event_type"]: e for e in events}
        assert set(by_type) == set(ALL_EVENTS)
        assert all(h["X-Api-Key"] == "s3cret" for h in receiver.headers)
        assert by_type["flows/created"]["event"]["flow"]["id"] == flow_id
        assert by_type["sources/updated"]["event"]["source"]["label"] == "camera"
        segment = by_type["flows/segments_added"]["event"]["segments"][0]
        validate("flow-segment.json", segment)
        assert segment["object_timerange"] == "[0:0_2:0)" and segment["get_urls"][0]["presigned"] is True
        assert by_type["flows/segments_deleted"]["event"] == {"flow_id": flow_id, "timerange": "[0:0_2:0)"}
        assert by_type["flows/deleted"]["event"] == {"flow_id": flow_id}
        assert by_type["sources/deleted"]["event"] == {"source_id": source_id}
        for event in events:
            assert event["event_timestamp"].endswith("Z")
        time.sleep(0.5)
        # flow_ids matched no flow: no flow or segment event, while source events are not filtered by it
        assert other.types() == ["sources/created", "sources/updated", "sources/deleted"]
        assert http.get(f"/service/webhooks/{hook['id']}").json()["status"] == "started"
        other.server.shutdown()


@pytest.mark.slow
def test_failures_put_the_webhook_in_error_and_reenabling_resumes(gateway, receiver):
    with httpx.Client(base_url=gateway.url) as http:
        body = {"url": receiver.url, "events": ["flows/created"]}
        hook = http.post("/service/webhooks", json=body).json()
        receiver.fail = True
        flow_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        deadline = time.monotonic() + 20
        while http.get(f"/service/webhooks/{hook['id']}").json()["status"] != "error":
            assert time.monotonic() < deadline, "the webhook never went to error"
            time.sleep(0.1)
        state = http.get(f"/service/webhooks/{hook['id']}").json()
        assert "500" in state["error"]["summary"]
        validate("webhook-get.json", state)
        assert (
            http.put(
                f"/service/webhooks/{hook['id']}", json={**body, "id": hook["id"], "status": "disabled"}
            ).status_code
            == 400
        )
        receiver.fail = False
        http.put(f"/service/webhooks/{hook['id']}", json={**body, "id": hook["id"], "status": "created"})
        (event,) = receiver.wait(1)
        assert event["event"]["flow"]["id"] == flow_id  # the failed event is delivered, not skipped


@pytest.mark.slow
def test_redirects_are_not_followed(gateway, receiver):
    # the SSRF check vetted the webhook's URL only: a redirect elsewhere is a failed delivery
    elsewhere = Receiver()
    try:
        receiver.redirect = elsewhere.url
        with httpx.Client(base_url=gateway.url) as http:
            hook = http.post("/service/webhooks", json={"url": receiver.url, "events": ["flows/created"]}).json()
            flow_id = new_id()
            http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
            deadline = time.monotonic() + 20
            while (state := http.get(f"/service/webhooks/{hook['id']}").json())["status"] != "error":
                assert time.monotonic() < deadline, "the webhook never went to error"
                time.sleep(0.1)
            assert "307" in state["error"]["summary"] and elsewhere.events == [] and receiver.events == []
    finally:
        elsewhere.server.shutdown()


@pytest.mark.slow
def test_backlog_survives_sigkill(gateway, receiver):
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        body = {"url": receiver.url, "events": ["flows/updated"], "status": "disabled"}
        hook = http.post("/service/webhooks", json=body).json()
        flow_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        for n in range(1000):
            assert http.put(f"/flows/{flow_id}/label", json=f"take {n}").status_code == 204
    os.kill(gateway.proc.pid, signal.SIGKILL)
    gateway.proc.wait()
    gateway.start()
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        http.put(f"/service/webhooks/{hook['id']}", json={**body, "id": hook["id"], "status": "created"})
        events = receiver.wait(1000, seconds=60)
    labels = [e["event"]["flow"]["label"] for e in events]
    assert labels[:1000] == [f"take {n}" for n in range(1000)]  # all of them, in order, none invented


def read_events(response, count: int) -> list[dict]:
    """Parses ``count`` Server-Sent Events from a streaming httpx response."""
    events, current = [], {}
    for line in response.iter_lines():
        if line.startswith(("id:", "event:", "data:")):
            key, _, value = line.partition(":")
            current[key] = value.strip()
        elif line == "" and "data" in current:
            events.append({"id": int(current["id"]), "type": current["event"], "data": json.loads(current["data"])})
            current = {}
            if len(events) == count:
                return events
    return events


@pytest.mark.slow
def test_event_stream_resumes_without_a_gap(gateway):
    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        flow_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        with http.stream("GET", f"/events?events=flows/updated&flow_ids={flow_id}") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for n in range(3):
                http.put(f"/flows/{flow_id}/label", json=f"first {n}")
            first = read_events(stream, 2)
        assert [e["data"]["flow"]["label"] for e in first] == ["first 0", "first 1"]
        for n in range(2):  # while nobody listens
            http.put(f"/flows/{flow_id}/label", json=f"second {n}")
        headers = {"Last-Event-ID": str(first[-1]["id"])}
        with http.stream("GET", f"/events?events=flows/updated&flow_ids={flow_id}", headers=headers) as stream:
            rest = read_events(stream, 3)
        assert [e["data"]["flow"]["label"] for e in rest] == ["first 2", "second 0", "second 1"]
        assert [e["id"] for e in first + rest] == sorted(e["id"] for e in first + rest)
        assert http.get("/events?events=nope").status_code == 400
        assert http.get("/events", headers={"Last-Event-ID": "abc"}).status_code == 400


def test_outbox_retention_keeps_what_active_webhooks_still_need(tmp_path):
    import asyncio

    from catalog.sqlite import SQLiteCatalog

    async def run() -> tuple[int, int]:
        catalog = SQLiteCatalog(tmp_path / "c.sqlite3")
        await catalog.start()
        try:
            hook = await catalog.save_webhook({"url": "http://127.0.0.1:9/h", "events": ALL_EVENTS})
            for _ in range(5):
                flow_id = new_id()
                await catalog.put_flow(video_flow(flow_id, new_id()), None)  # 2 events each
            await catalog.webhook_delivered(hook["id"], 4)  # delivered the first 4
            pruned = await catalog.prune_events(time.time_ns() + 1)  # everything is "old"
            left = len(await catalog.events_after(0, 100))
            return pruned, left
        finally:
            await catalog.close()

    assert asyncio.run(run()) == (4, 6)


@pytest.mark.slow
def test_filters_select_correctly(gateway):
    receivers = {name: Receiver() for name in ("source", "collected", "top", "disabled")}
    try:
        with httpx.Client(base_url=gateway.url) as http:
            source_a, parent = new_id(), new_id()
            hooks = {
                "source": {"source_ids": [source_a]},
                "collected": {"flow_collected_by_ids": [parent]},
                "top": {"flow_collected_by_ids": []},
                "disabled": {"status": "disabled"},
            }
            for name, extra in hooks.items():
                http.post(
                    "/service/webhooks",
                    json={"url": receivers[name].url, "events": ["flows/created", "flows/updated"], **extra},
                )
            # filters are evaluated when an event is sent: let each one go before the next change
            in_a, child = new_id(), new_id()
            http.put(f"/flows/{in_a}", json=video_flow(in_a, source_a))
            receivers["top"].wait(1)
            http.put(f"/flows/{child}", json=video_flow(child, new_id()))
            receivers["top"].wait(2)
            http.put(
                f"/flows/{parent}",
                json={
                    "id": parent,
                    "source_id": new_id(),
                    "format": "urn:x-nmos:format:multi",
                    "flow_collection": [{"id": child}],
                },
            )
            receivers["top"].wait(3)
            http.put(f"/flows/{child}/label", json="now collected")
            receivers["collected"].wait(1)
            time.sleep(0.5)
        flows = {name: [e["event"]["flow"]["id"] for e in r.events] for name, r in receivers.items()}
        assert flows["source"] == [in_a]
        assert flows["collected"] == [child]  # only once it was collected by the parent
        assert flows["top"] == [in_a, child, parent]  # collected by nobody when sent; not the collected update
        assert flows["disabled"] == []
    finally:
        for r in receivers.values():
            r.server.shutdown()
