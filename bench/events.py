"""Webhook delivery rate (issue 14 goal 5: ≥ 2,000 events/s to a loopback receiver), and deletion rate.

``python -m bench.events --figures [--quick]`` (a goal module of ``python -m bench``): a backlog of
``flows/segments_added`` events is delivered to 1 and to 10 webhooks on a fast receiver (aiohttp, in
its own process, which also checks that each webhook's events arrive in order). The reference, in
the same run and alternating with it, is a bare aiohttp client loop per webhook posting bodies of
the same shape to the same receiver over keep-alive connections: what a client can do at all. The
goal is absolute (2,000 events/s), so the figures carry ``reference=2000``; the bare client's rate
is in the details. ``python -m bench.events`` alone also times the deletion of 100,000 segments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import GatewayProcess, free_port, video_flow  # noqa: E402

from bench.report import Figure, emit  # noqa: E402

GOAL = 2000.0  # events/s


# -- the receiver: its own process, so its cost is not the gateway's or the bench's -------------------
def serve_receiver(port: int) -> None:
    from aiohttp import web

    counts: dict[str, int] = {}
    disorder: dict[str, int] = {}
    last: dict[str, int] = {}
    sample: dict[str, bytes] = {}
    span: dict[str, float] = {}  # the first and the last arrival: throughput, not start-up latency

    async def hook(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await request.read()
        event = json.loads(body)
        start = int(event["event"]["segments"][0]["timerange"].split(":")[0].lstrip("["))
        if start < last.get(name, -1):
            disorder[name] = disorder.get(name, 0) + 1
        last[name] = start
        counts[name] = counts.get(name, 0) + 1
        span.setdefault("first", time.perf_counter())
        span["last"] = time.perf_counter()
        sample.setdefault("body", body)
        return web.Response(status=200)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"counts": counts, "disorder": disorder, **span})

    async def get_sample(request: web.Request) -> web.Response:
        return web.Response(body=sample.get("body", b"{}"))

    async def reset(request: web.Request) -> web.Response:
        counts.clear()
        disorder.clear()
        last.clear()
        span.clear()
        return web.Response()

    app = web.Application()
    app.add_routes(
        [
            web.post("/hook/{name}", hook),
            web.get("/stats", stats),
            web.get("/sample", get_sample),
            web.post("/reset", reset),
        ]
    )
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


class Receiver:
    def __init__(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.events", "--receiver", str(port)], cwd=ROOT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/stats", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the receiver did not start")

    def stats(self) -> dict:
        return httpx.get(self.url + "/stats").json()

    def reset(self) -> None:
        httpx.post(self.url + "/reset")

    def rate(self, stats: dict) -> float:
        """Events/s over the receiver's arrivals, first to last."""
        return (sum(stats["counts"].values()) - 1) / (stats["last"] - stats["first"])

    def wait(self, hooks: list[str], count: int, seconds: float = 600) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            stats = self.stats()
            if all(stats["counts"].get(h, 0) >= count for h in hooks):
                return stats
            time.sleep(0.02)
        raise RuntimeError(f"not all events arrived: {stats['counts']}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# -- one round each -------------------------------------------------------------------------------------
def gateway_round(http: httpx.Client, receiver: Receiver, webhooks: int, events: int) -> tuple[float, int]:
    """Events/s delivered (all webhooks together) and how many arrived out of order."""
    receiver.reset()
    names = [uuid.uuid4().hex for _ in range(webhooks)]
    bodies = [
        {"url": f"{receiver.url}/hook/{name}", "events": ["flows/segments_added"], "status": "disabled"}
        for name in names
    ]
    hooks = [http.post("/service/webhooks", json=body).json() for body in bodies]
    flow_id = str(uuid.uuid4())
    http.put(f"/flows/{flow_id}", json=video_flow(flow_id, str(uuid.uuid4())))
    for n in range(events):  # one event per registration request
        segment = {"object_id": str(uuid.uuid4()), "timerange": f"[{n}:0_{n + 1}:0)"}
        assert http.post(f"/flows/{flow_id}/segments", json=segment).status_code == 201
    for hook, body in zip(hooks, bodies, strict=True):
        http.put(f"/service/webhooks/{hook['id']}", json={**body, "id": hook["id"], "status": "created"})
    stats = receiver.wait(names, events)
    for hook in hooks:
        http.delete(f"/service/webhooks/{hook['id']}")
    return receiver.rate(stats), sum(stats["disorder"].values())


def reference_round(receiver: Receiver, webhooks: int, events: int) -> float:
    """A bare aiohttp client loop per webhook, one request at a time on a keep-alive connection."""
    import aiohttp

    sample = json.loads(httpx.get(receiver.url + "/sample").content)
    receiver.reset()

    async def one(name: str, session: aiohttp.ClientSession) -> None:
        for n in range(events):
            sample["event"]["segments"][0]["timerange"] = f"[{n}:0_{n + 1}:0)"
            data = json.dumps(sample).encode()
            async with session.post(
                f"{receiver.url}/hook/{name}", data=data, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(one(uuid.uuid4().hex, session) for _ in range(webhooks)))

    asyncio.run(run())
    return receiver.rate(receiver.stats())


def figures(quick: bool) -> list[Figure]:
    events, rounds = (1500, 1) if quick else (4000, 2)
    out: list[Figure] = []
    with TemporaryDirectory() as tmp:
        gateway = GatewayProcess(Path(tmp) / "data", env={"TAMS_WEBHOOKS_ALLOW_PRIVATE": "true"})
        gateway.start()
        receiver = Receiver()
        try:
            with httpx.Client(base_url=gateway.url, timeout=60) as http:
                gateway_round(http, receiver, 1, 50)  # warm-up, and a sample body for the reference
                for webhooks in (1, 10):
                    per_hook = events if webhooks == 1 else events // 5
                    rates, refs, disorder = [], [], 0
                    for _ in range(rounds):  # alternate, so both see the same machine load
                        refs.append(reference_round(receiver, webhooks, per_hook))
                        rate, wrong = gateway_round(http, receiver, webhooks, per_hook)
                        rates.append(rate)
                        disorder += wrong
                    best, ref = max(rates), max(refs)
                    out.append(
                        Figure(
                            f"webhook delivery, {webhooks} webhook{'s' if webhooks > 1 else ''}",
                            best,
                            GOAL,
                            "events/s",
                            goal=1.0,
                            details=(
                                f"goal: {GOAL:,.0f} events/s absolute (reference column); a bare aiohttp "
                                f"client loop per webhook on the same receiver: {ref:,.0f} events/s, so "
                                f"delivery is {best / ref:.0%} of it; {per_hook:,} events per webhook, best "
                                f"of {rounds}; out of order: {disorder}"
                            ),
                        )
                    )
        finally:
            receiver.stop()
            gateway.stop()
    return out


def deletion_rate() -> None:
    with TemporaryDirectory() as tmp:
        gateway = GatewayProcess(Path(tmp) / "data")
        gateway.start()
        try:
            with httpx.Client(base_url=gateway.url, timeout=60) as http:
                flow_id = str(uuid.uuid4())
                http.put(f"/flows/{flow_id}", json=video_flow(flow_id, str(uuid.uuid4())))
                for batch in range(100):
                    segments = [
                        {"object_id": str(uuid.uuid4()), "timerange": f"[{n}:0_{n + 1}:0)"}
                        for n in range(batch * 1000, batch * 1000 + 1000)
                    ]
                    http.post(f"/flows/{flow_id}/segments", json=segments)
                started = time.perf_counter()
                location = http.delete(f"/flows/{flow_id}").headers["Location"]
                while http.get(location).json()["status"] != "done":
                    time.sleep(0.05)
                elapsed = time.perf_counter() - started
                print(f"flow deletion: 100,000 segments in {elapsed:.2f} s ({100_000 / elapsed:,.0f} segments/s)")
        finally:
            gateway.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--figures", action="store_true", help="emit bench.report figures")
    parser.add_argument("--quick", action="store_true", help="fewer events (noisier)")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)  # the receiver's own process
    args = parser.parse_args()
    if args.receiver:
        serve_receiver(args.receiver)
        return
    found = figures(args.quick)
    if args.figures:
        emit(found)
        return
    for figure in found:
        print(f"{figure.name}: {figure.gateway:,.0f} {figure.unit} ({figure.details})")
    deletion_rate()


if __name__ == "__main__":
    main()
