"""HTTP load against ONE uvicorn worker: 100-segment timerange pages, and bulk registration.

    python -m bench.load          (or: python bench/load.py)

1. builds or reuses the benchmark catalog (bench/dataset.py: a flow of 1,000,000 segments);
2. starts ``python -m gateway.cli serve`` on 127.0.0.1 (one worker, TAMS_LOG_LEVEL=warning) on it;
3. GETs ``/flows/{id}/segments?limit=100&timerange=[t:0_t+200:0)`` at random t for a fixed time with
   ``wrk`` (Debian package ``wrk``; this script installs nothing) and a Lua script picking the
   timeranges; without wrk it says so and falls back to an asyncio httpx client with the same
   number of connections, which shares the 2 cores with the server and so understates it;
4. POSTs 200 arrays of 1,000 segments to a fresh flow, one after another, then deletes that flow;
5. prints a table and stops the server. Every loop is bounded; the whole run takes about a minute.

Everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/load.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import orjson  # noqa: E402

from bench.cleanup import delete_flow, wait_for_deletions  # noqa: E402
from bench.dataset import BIG_FLOW, SEGMENT_SECONDS, SEGMENTS, ensure_dataset, flow_doc, segment_batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGE = 100
MAX_START = (SEGMENTS - PAGE) * SEGMENT_SECONDS
WARMUP_S = 5

WRK_SCRIPT = """
math.randomseed(os.time())
request = function()
  local t = math.random(0, %(max_start)d)
  return wrk.format("GET", string.format("/flows/%(flow)s/segments?limit=%(page)d&timerange=[%%d:0_%%d:0)",
                    t, t + %(span)d))
end
"""


@dataclass
class PageLoad:
    tool: str
    requests: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    # registration measures the catalog path: objects are named, not uploaded (bench/bytes.py does bytes)
    env = {**os.environ, "TAMS_LOG_LEVEL": "warning", "NO_PROXY": "127.0.0.1", "TAMS_REQUIRE_ALLOCATION": "false"}
    env.setdefault("TAMS_WORKERS", "1")  # the figures are one process's; bench/workers.py compares more
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"the gateway did not become healthy in 30 s:\n{log.read_text()[-4000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]  # wrk always prints a unit; else fail loudly
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def with_wrk(url: str, duration: int, connections: int) -> PageLoad:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            WRK_SCRIPT % {"max_start": MAX_START, "flow": BIG_FLOW, "page": PAGE, "span": PAGE * SEGMENT_SECONDS}
        )
    try:

        def run(seconds: int) -> str:
            done = subprocess.run(
                ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
                capture_output=True,
                text=True,
                timeout=seconds + 60,
            )
            if done.returncode != 0:
                raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
            return done.stdout

        run(WARMUP_S)  # warm-up: mmap faults, each reader connection's page cache; not reported
        out = run(duration)
    finally:
        os.unlink(script.name)
    requests = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if requests is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    seconds = float(requests.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[requests.group(3)]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    load = PageLoad(
        f"wrk -t1 -c{connections} -d{duration}s",
        int(requests.group(1)),
        seconds,
        _wrk_ms(p50.group(1)) if p50 else None,
        _wrk_ms(p99.group(1)) if p99 else None,
        int(non2xx.group(1)) if non2xx else 0,
    )
    if socket_errors:
        load.notes.append(f"wrk socket errors: {socket_errors.group(1)}")
    return load


async def with_httpx(url: str, duration: int, connections: int) -> PageLoad:
    rng = random.Random(1)
    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, deadline: float, record: bool) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            t = rng.randrange(0, MAX_START)
            started = time.perf_counter()
            response = await client.get(
                f"/flows/{BIG_FLOW}/segments",
                params={"limit": PAGE, "timerange": f"[{t}:0_{t + PAGE * SEGMENT_SECONDS}:0)"},
            )
            if record:
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        warm = time.monotonic() + WARMUP_S
        await asyncio.gather(*(worker(client, warm, False) for _ in range(connections)))
        started = time.monotonic()
        await asyncio.gather(*(worker(client, started + duration, True) for _ in range(connections)))
        seconds = time.monotonic() - started
    ordered = sorted(latencies)
    return PageLoad(
        f"python httpx client, {connections} connections, {duration} s",
        len(ordered),
        seconds,
        ordered[len(ordered) // 2] * 1e3,
        ordered[int(len(ordered) * 0.99)] * 1e3,
        errors,
        ["the client shares the 2 cores with the server: this understates the server"],
    )


@dataclass
class BulkLoad:
    segments: int
    seconds: float
    p50_ms: float
    max_ms: float
    delete_s: float

    @property
    def rate(self) -> float:
        return self.segments / self.seconds


async def bulk_over_http(url: str, batches: int, batch: int) -> BulkLoad:
    flow_id = str(uuid.uuid4())
    bodies = [orjson.dumps(segment_batch(b * batch, batch)) for b in range(batches)]  # encoded before timing
    times: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60, headers={"content-type": "application/json"}) as client:
        response = await client.put(f"/flows/{flow_id}", json=flow_doc(flow_id))
        assert response.status_code in (200, 201), response.text
        try:
            for body in bodies:
                started = time.perf_counter()
                response = await client.post(f"/flows/{flow_id}/segments", content=body)
                times.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"bulk POST answered {response.status_code}: {response.text[:500]}")
        finally:
            started = time.perf_counter()
            await delete_flow(client, flow_id)  # leaves the benchmark catalog as it was
            delete_s = time.perf_counter() - started
    ordered = sorted(times)
    return BulkLoad(batches * batch, sum(times), ordered[len(ordered) // 2] * 1e3, ordered[-1] * 1e3, delete_s)


async def settle(url: str) -> None:
    """Lets deletions left by an interrupted earlier run finish before anything is measured."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        if pending := await wait_for_deletions(client):
            print(f"waited for {pending} flow deletion(s) left by an earlier run", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds of page load (default 20)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--batches", type=int, default=200, help="bulk POSTs of --batch segments (default 200)")
    parser.add_argument("--batch", type=int, default=1000, help="segments per bulk POST (default 1000)")
    parser.add_argument("--python-client", action="store_true", help="use the httpx client even when wrk exists")
    args = parser.parse_args()
    if not 1 <= args.duration <= 120 or not 1 <= args.batches <= 1000:
        parser.error("--duration must be 1..120 s and --batches 1..1000 (the run stays bounded)")

    data_dir = asyncio.run(ensure_dataset())
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    if not use_wrk and not args.python_client:
        print(
            "wrk not found (Debian package `wrk`); falling back to an asyncio httpx client, which shares "
            "the 2 cores with the server and so understates it",
            flush=True,
        )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="tams-load-") as scratch:
        proc = start_server(data_dir, port, Path(scratch) / "gateway.log")
        try:
            asyncio.run(settle(url))
            print(f"gateway pid {proc.pid} on {url}; {args.duration} s of page load ...", flush=True)
            pages = (
                with_wrk(url, args.duration, args.connections)
                if use_wrk
                else asyncio.run(with_httpx(url, args.duration, args.connections))
            )
            print(f"bulk registration: {args.batches} POSTs of {args.batch:,} segments ...", flush=True)
            bulk = asyncio.run(bulk_over_http(url, args.batches, args.batch))
        finally:
            stop_server(proc)

    latency = (
        f"p50 {pages.p50_ms:.1f} ms, p99 {pages.p99_ms:.1f} ms"
        if pages.p50_ms is not None and pages.p99_ms is not None
        else ""
    )
    rows = [
        (
            "100-segment page of a 1M-segment flow, one uvicorn worker",
            f"{pages.rate:,.0f} req/s",
            ">= 1,000 req/s",
            f"{pages.tool}; {pages.requests:,} requests; {latency}; errors {pages.errors}",
        ),
        (
            f"bulk registration over HTTP, {args.batch:,}-segment POSTs",
            f"{bulk.rate:,.0f} seg/s",
            ">= 5,000 seg/s",
            f"{bulk.segments:,} segments in {bulk.seconds:.1f} s; per POST p50 {bulk.p50_ms:.0f} ms, "
            f"max {bulk.max_ms:.0f} ms",
        ),
        (
            f"then deleting that {bulk.segments:,}-segment flow (not a goal)",
            f"{bulk.delete_s:,.1f} s",
            "-",
            "DELETE /flows/{id} until the flow is gone",
        ),
    ]
    print()
    print(f"{'figure':58}  {'measured':>14}  {'goal':>15}  details")
    for name, measured, goal, details in rows:
        print(f"{name:58}  {measured:>14}  {goal:>15}  {details}")
    for note in pages.notes:
        print(f"note: {note}")
    if pages.errors:
        raise SystemExit(f"{pages.errors} page requests failed")


if __name__ == "__main__":
    main()
