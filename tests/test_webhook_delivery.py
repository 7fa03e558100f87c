"""Webhook delivery in-process: the per-event permission hook, SSRF at connect time (a resolver that
answers differently each time), key headers that frame requests, pipelining against closing and
failing receivers. Real catalog (SQLite), real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from conftest import new_id, video_flow
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.catalogs import build_catalog
from gateway.config import Settings
from streaming.events.targets import VettedResolver, address_problem
from streaming.events.webhooks import Dispatcher, WebhookSettings
from streaming.objects.media import MediaService, MediaSettings
from streaming.storage.registry import build_storage

FAST = WebhookSettings(allow_private=True, timeout_s=2, max_failures=3, backoff_s=0.01, poll_s=0.02)


class Receiver:
    """Records POSTs with their headers; can close the connection after each answer, or fail some."""

    def __init__(self, close_each: bool = False, fail_at: set[int] | None = None) -> None:
        self.events: list[dict] = []
        self.headers: list[dict] = []
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.requests += 1
                    failing = receiver.requests in (fail_at or set())
                    if not failing:
                        receiver.events.append(body)
                        receiver.headers.append(dict(self.headers))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "2")
                if close_each:
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def labels(self) -> list[str]:
        return [e["event"]["flow"]["label"] for e in self.events]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()


class ScriptedResolver(AbstractResolver):
    """A name server for tests: each call answers the next list of addresses (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        addresses = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0) for a in addresses
        ]

    async def close(self) -> None:
        pass


async def run_delivery(
    settings: Settings,
    hook: dict[str, Any],
    flows: int,
    webhook_settings: WebhookSettings = FAST,
    until: str = "delivered",
    **dispatcher: Any,
) -> tuple[dict[str, Any], list[str]]:
    """Registers ``hook``, makes ``flows`` flows (one flows/created event each, labelled), runs a
    Dispatcher until every event is done (or the webhook is in error); the final record and flow ids."""
    store = build_catalog(settings)
    storage = build_storage(None, settings.data_dir, settings.public_base_url, settings.max_object_bytes)
    media = MediaService(store, storage, MediaSettings(require_known_objects=False))
    await store.start()
    await storage.start()
    try:
        saved = await store.save_webhook({"events": ["flows/created"], **hook})
        ids = [new_id() for _ in range(flows)]
        for n, flow_id in enumerate(ids):
            await store.put_flow(video_flow(flow_id, new_id(), label=f"take {n}"), None)
        last = await store.last_event_seq()
        delivery = Dispatcher(store, media, webhook_settings, **dispatcher)
        await delivery.start()
        try:
            for _ in range(1000):
                state = await store.get_webhook(saved["id"], secret=True)
                assert state is not None
                if (until == "error" and state["status"] == "error") or (
                    until == "delivered" and state["last_seq"] >= last
                ):
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError(f"delivery never finished: {state}")
        finally:
            await delivery.close()
        return state, ids
    finally:
        await storage.close()
        await store.close()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", require_allocation=False, catalog="sqlite")


def test_may_deliver_skips_events_and_still_counts_them_done(settings, receiver):
    seen: list[tuple[str, str, str | None, str | None]] = []

    async def may_deliver(hook: dict, event_type: str, flow_id: str | None, source_id: str | None) -> bool:
        seen.append((hook["id"], event_type, flow_id, source_id))
        return len(seen) % 2 == 1

    # run_delivery returns once last_seq reached the last event: skipped events count as done
    state, ids = asyncio.run(run_delivery(settings, {"url": receiver.url}, 6, may_deliver=may_deliver))
    assert [flow_id for _, _, flow_id, _ in seen] == ids
    assert all(h == state["id"] and t == "flows/created" and s for h, t, _, s in seen)
    assert receiver.labels() == ["take 0", "take 2", "take 4"]


def test_a_name_rebinding_to_loopback_gets_nothing(settings, receiver):
    # public first, then loopback: the checked answer is the one connected to, and loopback never is
    names = ScriptedResolver(["8.8.8.8", "127.0.0.1"], ["127.0.0.1"])
    strict = replace(FAST, allow_private=False, timeout_s=0.5)
    hook = {"url": f"http://rebind.test:{receiver.port}/hook"}
    state, _ = asyncio.run(run_delivery(settings, hook, 2, strict, until="error", resolver=names))
    assert receiver.events == [] and receiver.requests == 0
    assert names.calls >= 1 and state["status"] == "error"
    assert "no public address" in state["error"]["summary"]


def test_resolved_address_is_used_and_host_keeps_the_name(settings, receiver):
    names = ScriptedResolver(["127.0.0.1"])
    hook = {"url": f"http://receiver.test:{receiver.port}/hook", "api_key_name": "Host", "api_key_value": "evil"}
    asyncio.run(run_delivery(settings, hook, 2, resolver=names))
    assert receiver.labels() == ["take 0", "take 1"] and names.calls == 1  # one connection, kept alive
    # a framing header stored before names were checked is left out: Host stays the URL's name
    assert {h["Host"] for h in receiver.headers} == {f"receiver.test:{receiver.port}"}


def test_vetted_resolver_returns_only_public_addresses():
    names = ScriptedResolver(["8.8.8.8", "127.0.0.1", "100.100.100.200"], ["192.0.0.8"], ["100.64.0.1"])
    vetted = VettedResolver(names)

    async def scenario() -> None:
        assert [a["host"] for a in await vetted.resolve("x.test", 80)] == ["8.8.8.8"]
        for _ in range(2):
            with pytest.raises(OSError, match="no public address"):
                await vetted.resolve("x.test", 80)

    asyncio.run(scenario())
    for address in ("127.0.0.1", "10.1.2.3", "100.64.0.1", "100.100.100.200", "192.0.0.8", "169.254.169.254"):
        assert address_problem(address), address
    for address in ("::1", "::ffff:127.0.0.1", "fd00::1", "fe80::1", "224.0.0.1"):
        assert address_problem(address), address
    assert address_problem("8.8.8.8") is None and address_problem("2001:4860:4860::8888") is None


def test_key_headers_that_frame_requests_are_refused(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", catalog="sqlite", webhooks_allow_private=True)
    with TestClient(create_app(settings)) as client:
        body = {"url": "http://127.0.0.1:9/x", "events": ["flows/created"], "api_key_value": "v"}
        for name in ("Host", "content-length", "Transfer-Encoding", "Connection", "Proxy-Authorization", "TE"):
            response = client.post("/service/webhooks", json={**body, "api_key_name": name})
            assert response.status_code == 400 and "api_key_name" in response.json()["summary"], name
        split = {**body, "api_key_name": "X-Api-Key", "api_key_value": "v\r\nHost: elsewhere"}
        assert client.post("/service/webhooks", json=split).status_code == 400
        created = client.post("/service/webhooks", json={**body, "api_key_name": "X-Api-Key"})
        assert created.status_code == 201
        put = {**body, "id": created.json()["id"], "status": "created", "api_key_name": "Content-Type"}
        assert client.put(f"/service/webhooks/{put['id']}", json=put).status_code == 400


def test_pipelining_survives_a_receiver_that_closes_every_connection(settings):
    receiver = Receiver(close_each=True)
    try:
        asyncio.run(run_delivery(settings, {"url": receiver.url}, 30))
        labels = receiver.labels()
        # the first connection's pipelined requests are lost with it (one, answered, may come again):
        # then one request per connection, every event in order
        assert [x for n, x in enumerate(labels) if labels[n - 1 : n] != [x]] == [f"take {n}" for n in range(30)]
    finally:
        receiver.server.shutdown()


def test_a_failed_answer_is_redelivered_from_there(settings):
    receiver = Receiver(fail_at={5})
    try:
        asyncio.run(run_delivery(settings, {"url": receiver.url}, 40))
        labels = receiver.labels()
        assert labels[:4] == [f"take {n}" for n in range(4)]  # before the failure: once, in order
        assert set(labels) == {f"take {n}" for n in range(40)}  # at least once
        assert labels[-36:] == [f"take {n}" for n in range(4, 40)]  # redelivered in order from the failure
    finally:
        receiver.server.shutdown()
