"""Goal 1 of issue 14 (Fast): a segment page over HTTP as a share of the bare-Starlette ceiling.

    python -m bench.load [--figures] [--quick]      (or: python bench/load.py)

1. builds or reuses the benchmark catalog (bench/dataset.py: a flow of 1,000,000 segments) and adds,
   once, a 1,000-segment flow whose objects sit on an S3 backend (presigned ``get_urls``; no bucket
   is contacted: presigning is local);
2. in-process, before any server runs: p50 of ``Catalog.query_segments`` for a 100-segment page at
   a random position, and of the whole ASGI app answering the same request (called with a bare
   ASGI scope, no HTTP client);
3. starts ``python -m gateway.cli serve`` (one uvicorn worker) on the catalog, fetches one plain
   and one presigned page from it, and starts ``python -m bench.bare`` (a bare Starlette app on
   the same uvicorn with the same flags) answering exactly those bodies;
4. runs ``wrk -t1 -c32`` against the gateway and the bare app alternately (random timeranges from
   a Lua script; the bare app ignores them), ``--rounds`` rounds each, for the plain and the
   presigned page, and reports the median req/s of each as a ratio to its bare reference.

Goal: the plain page at >= 25 % of the bare app's req/s; the presigned page is reported against its
own bare body with the same goal. wrk is the Debian package ``wrk`` (scripts/test-tools.sh installs
it); without it the script falls back to an asyncio httpx client, which shares the cores with the
servers and understates both (the ratio is still same-run). ``--bulk`` also runs the old bulk
registration over HTTP (200 POSTs of 1,000 segments, reported, no goal). Everything talks to
127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
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
from bench.report import Figure, emit, table  # noqa: E402
from bench.servers import free_port, gateway_command, start, start_bare, stop_server  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import S3Server  # noqa: E402

PAGE = 100
GOAL = 0.25
PRESIGNED_FLOW = "3d0f5b8e-7c2a-4e61-9b4d-2f6a8c1e0d93"
PRESIGNED_SEGMENTS = 1_000
S3_ID = "5b2d0c8e-4b8f-4f0e-9a53-0d1f5a3c2b10"
S3_BACKEND = {
    "type": "s3",
    "id": S3_ID,
    "label": "bench-s3",
    "bucket": "media",
    # "endpoint_url": a moto S3 server (the gateway checks the bucket at start; pages are only presigned)
    "region": "us-east-1",
    "access_key": "AKIDBENCH",
    "secret_key": "SECRETBENCH",
}
LOCAL_BACKEND = {"type": "local", "id": "", "label": "local", "path": "objects", "default": True}

WRK_SCRIPT = """
math.randomseed(os.time())
request = function()
  local t = math.random(0, %(max_start)d)
  return wrk.format("GET", string.format("/flows/%(flow)s/segments?limit=%(page)d&timerange=[%%d:0_%%d:0)",
                    t, t + %(span)d))
end
"""


@dataclass(frozen=True)
class Target:
    """One kind of page: which flow, and how far into it a random page may start."""

    name: str
    flow: str
    segments: int

    @property
    def max_start(self) -> int:
        return (self.segments - PAGE) * SEGMENT_SECONDS

    def path(self, t: int) -> str:
        return f"/flows/{self.flow}/segments?limit={PAGE}&timerange=[{t}:0_{t + PAGE * SEGMENT_SECONDS}:0)"


PLAIN = Target("plain", BIG_FLOW, SEGMENTS)
PRESIGNED = Target("presigned", PRESIGNED_FLOW, PRESIGNED_SEGMENTS)


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


# -- the data set's presigned flow --------------------------------------------------------------------------
async def ensure_presigned_flow(data_dir: Path) -> None:
    """Adds, once, a flow whose objects each have one instance on the S3 backend ``S3_ID``."""
    from catalog.sqlite import SQLiteCatalog
    from catalog.store import Allocation
    from streaming.storage.interface import object_key

    catalog = SQLiteCatalog(data_dir / "catalog.sqlite3")
    await catalog.start()
    try:
        stats = await catalog.flow_stats(PRESIGNED_FLOW)
        if stats is not None and stats.count == PRESIGNED_SEGMENTS:
            return
        if stats is not None:
            raise RuntimeError(f"{data_dir}: flow {PRESIGNED_FLOW} has {stats.count} segments; delete it and rerun")
        print(f"adding a {PRESIGNED_SEGMENTS:,}-segment flow with S3 instances to the benchmark catalog", flush=True)
        await catalog.put_flow(flow_doc(PRESIGNED_FLOW), None)
        batch = segment_batch(0, PRESIGNED_SEGMENTS)
        allocations = [
            Allocation(s["object_id"], S3_ID, object_key(s["object_id"], "video/mp2t"), "video/mp2t") for s in batch
        ]
        await catalog.allocate(PRESIGNED_FLOW, allocations, time.time_ns() + 10**12)
        if failures := await catalog.add_segments(PRESIGNED_FLOW, batch, None, True):
            raise RuntimeError(f"presigned flow: {failures[0]}")
    finally:
        await catalog.close()


# -- in-process figures -------------------------------------------------------------------------------------
async def in_process(data_dir: Path, pages: int) -> tuple[float, float, int]:
    """p50 (ms) of the catalog call and of the whole ASGI app for random 100-segment pages; body size."""
    from catalog.sqlite import SQLiteCatalog
    from catalog.store import SegmentQuery
    from catalog.timing import TimeRange
    from gateway.app import create_app
    from gateway.config import Settings

    rng = random.Random(7)
    catalog = SQLiteCatalog(data_dir / "catalog.sqlite3", readers=1)
    await catalog.start()
    samples = []
    try:
        for n in range(pages + 50):
            t = rng.randrange(0, PLAIN.max_start)
            query = SegmentQuery(TimeRange.parse(f"[{t}:0_{t + PAGE * SEGMENT_SECONDS}:0)"))
            started = time.perf_counter()
            await catalog.segment_page_json(BIG_FLOW, query, None, PAGE)  # what the route reads for it
            if n >= 50:  # warm-up pages are not counted
                samples.append(time.perf_counter() - started)
    finally:
        await catalog.close()
    catalog_p50 = statistics.median(samples) * 1e3

    app = create_app(Settings(data_dir=data_dir))
    samples = []
    size = 0
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    async with app.router.lifespan_context(app):
        for n in range(pages + 50):
            path, _, query_string = PLAIN.path(rng.randrange(0, PLAIN.max_start)).partition("?")
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "root_path": "",
                "query_string": query_string.encode(),
                "headers": [(b"host", b"bench")],
                "client": ("127.0.0.1", 1),
                "server": ("127.0.0.1", 80),
            }
            sent.clear()
            started = time.perf_counter()
            await app(scope, receive, send)
            if n >= 50:
                samples.append(time.perf_counter() - started)
            if sent[0]["status"] != 200:
                raise RuntimeError(f"in-process page answered {sent[0]['status']}: {sent[1:]}")
            size = len(sent[-1]["body"])
    return catalog_p50, statistics.median(samples) * 1e3, size


# -- servers ------------------------------------------------------------------------------------------------
def start_gateway(data_dir: Path, port: int, scratch: Path, s3_url: str) -> subprocess.Popen:
    from streaming.storage.registry import LOCAL_BACKEND_ID

    config = scratch / "storage.json"
    s3 = {**S3_BACKEND, "endpoint_url": s3_url}
    config.write_text(json.dumps({"backends": [{**LOCAL_BACKEND, "id": LOCAL_BACKEND_ID}, s3]}))
    # registration measures the catalog path: objects are named, not uploaded (bench/bytes.py does bytes)
    env = {
        **os.environ,
        "TAMS_LOG_LEVEL": "warning",
        "NO_PROXY": "127.0.0.1",
        "TAMS_REQUIRE_ALLOCATION": "false",
        "TAMS_WORKERS": os.environ.get("TAMS_WORKERS", "1"),  # one process's figures; bench/workers.py compares
        "TAMS_STORAGE_CONFIG": str(config),
    }
    return start(gateway_command(data_dir, port), env, scratch / "gateway.log", "/healthz", port)


# -- load --------------------------------------------------------------------------------------------------
def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]  # wrk always prints a unit; else fail loudly
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def with_wrk(url: str, target: Target, duration: int, connections: int) -> PageLoad:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            WRK_SCRIPT
            % {"max_start": target.max_start, "flow": target.flow, "page": PAGE, "span": PAGE * SEGMENT_SECONDS}
        )
    try:
        done = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script.name, url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
    finally:
        os.unlink(script.name)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    out = done.stdout
    requests = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    if requests is None:
        raise RuntimeError(f"could not read wrk's output:\n{out}")
    seconds = float(requests.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}[requests.group(3)]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    load = PageLoad(
        f"wrk -t1 -c{connections} -d{duration}s",
        int(requests.group(1)),
        seconds,
        _wrk_ms(p50.group(1)) if p50 else None,
        _wrk_ms(p99.group(1)) if p99 else None,
        int(non2xx.group(1)) if non2xx else 0,
    )
    if socket_errors := re.search(r"Socket errors: (.*)", out):
        load.notes.append(f"wrk socket errors: {socket_errors.group(1)}")
    return load


async def with_httpx(url: str, target: Target, duration: int, connections: int) -> PageLoad:
    rng = random.Random(1)
    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, deadline: float) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = await client.get(target.path(rng.randrange(0, target.max_start)))
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client, started + duration) for _ in range(connections)))
        seconds = time.monotonic() - started
    ordered = sorted(latencies)
    return PageLoad(
        f"python httpx client, {connections} connections, {duration} s",
        len(ordered),
        seconds,
        ordered[len(ordered) // 2] * 1e3,
        ordered[int(len(ordered) * 0.99)] * 1e3,
        errors,
        ["the client shares the cores with the server: this understates both"],
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(url: str, target: Target, duration: int, connections: int, use_wrk: bool) -> PageLoad:
    if use_wrk:
        return with_wrk(url, target, duration, connections)
    return asyncio.run(with_httpx(url, target, duration, connections))


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


def fetch_bodies(url: str) -> dict[str, bytes]:
    """One page of each kind from the gateway: the bytes the bare app will answer."""
    bodies = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for target in (PLAIN, PRESIGNED):
            response = client.get(target.path(1000))
            if response.status_code != 200 or len(response.json()) != PAGE:
                raise RuntimeError(f"{target.name} page: {response.status_code} {response.text[:300]}")
            if target is PRESIGNED and "X-Amz-Signature" not in response.text:
                raise RuntimeError("the presigned page carries no presigned S3 URL")
            bodies[target.path(0).partition("?")[0]] = response.content
    return bodies


@dataclass
class Options:
    duration: int
    rounds: int
    connections: int
    pages: int
    use_wrk: bool
    bulk: int = 0


def measure(opts: Options) -> list[Figure]:
    data_dir = asyncio.run(ensure_dataset())
    asyncio.run(ensure_presigned_flow(data_dir))
    print(f"in-process: {opts.pages:,} random pages through the catalog, then through the ASGI app ...", flush=True)
    catalog_p50, app_p50, size = asyncio.run(in_process(data_dir, opts.pages))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
    rates: dict[tuple[str, str], list[float]] = {}
    cpu_ms: dict[tuple[str, str], list[float]] = {}  # server process CPU per request (contention-proof)
    notes: list[str] = []
    errors = 0
    with tempfile.TemporaryDirectory(prefix="tams-load-") as tmp:
        scratch = Path(tmp)
        gw_port, bare_port = free_port(), free_port()
        s3 = S3Server()
        s3.start()
        gateway = bare = None
        try:
            s3.create_bucket(S3_BACKEND["bucket"])
            gateway = start_gateway(data_dir, gw_port, scratch, s3.url)
            gw_url, bare_url = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{bare_port}"
            asyncio.run(settle(gw_url))
            bodies = fetch_bodies(gw_url)
            bare = start_bare(bare_port, bodies, scratch)
            servers = {"gateway": gw_url, "bare": bare_url}
            pids = {"gateway": gateway.pid, "bare": bare.pid}
            for target in (PLAIN, PRESIGNED):  # warm-up: page cache, code paths; not reported
                for url in servers.values():
                    load(url, target, 2, opts.connections, opts.use_wrk)
            for n in range(opts.rounds):
                for target in (PLAIN, PRESIGNED):
                    for name, url in servers.items() if n % 2 == 0 else reversed(servers.items()):
                        cpu = cpu_seconds(pids[name])
                        result = load(url, target, opts.duration, opts.connections, opts.use_wrk)
                        cpu = cpu_seconds(pids[name]) - cpu
                        rates.setdefault((name, target.name), []).append(result.rate)
                        cpu_ms.setdefault((name, target.name), []).append(cpu * 1e3 / max(result.requests, 1))
                        errors += result.errors
                        notes.extend(result.notes)
                        print(
                            f"  round {n + 1} {target.name:9} {name:7} {result.rate:8,.0f} req/s "
                            f"(p50 {result.p50_ms or 0:.1f} ms; server CPU "
                            f"{cpu_ms[name, target.name][-1]:.3f} ms/request)",
                            flush=True,
                        )
            bulk = asyncio.run(bulk_over_http(gw_url, opts.bulk, 1000)) if opts.bulk else None
        finally:
            for proc in (gateway, bare):
                if proc is not None:
                    stop_server(proc)
            s3.stop()
    if errors:
        raise SystemExit(f"{errors} page requests failed")
    tool = f"wrk -t1 -c{opts.connections} -d{opts.duration}s" if opts.use_wrk else "httpx client (no wrk)"
    detail = f"{tool}, median of {opts.rounds} alternating rounds, one uvicorn worker each"
    figures = []
    for target in (PLAIN, PRESIGNED):
        gw = statistics.median(rates["gateway", target.name])
        ref = statistics.median(rates["bare", target.name])
        body = len(bodies[target.path(0).partition("?")[0]])
        figures.append(
            Figure(
                f"100-segment page, {target.name}, over HTTP vs bare Starlette ({body / 1000:.1f} kB)",
                gw,
                ref,
                "req/s",
                GOAL,
                details=f"{detail}; rounds: gateway {rates['gateway', target.name]}, bare {rates['bare', target.name]}",
            )
        )
    for target in (PLAIN, PRESIGNED):
        # CPU per request (gateway / bare): what the ratio of req/s would be were both CPU-bound on a
        # core of their own; it hardly moves when other work shares the machine, where req/s does
        figures.append(
            Figure(
                f"server CPU per request, {target.name} page (gateway / bare, reported)",
                statistics.median(cpu_ms["gateway", target.name]),
                statistics.median(cpu_ms["bare", target.name]),
                "ms",
                None,
                higher_is_better=False,
                details="gateway's ms of CPU per request vs the bare app's; ratio shown is gateway / bare",
            )
        )
    figures.append(Figure("100-segment page in-process: catalog call p50", catalog_p50, None, "ms"))
    figures.append(Figure(f"100-segment page in-process: whole ASGI app p50 ({size:,} B)", app_p50, None, "ms"))
    if bulk is not None:
        figures.append(Figure("bulk registration over HTTP, 1,000-segment POSTs", bulk.rate, None, "seg/s"))
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", action="store_true", help="print figures for python -m bench")
    parser.add_argument("--quick", action="store_true", help="shorter rounds (noisier)")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10, --quick 4)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per target (default 3, --quick 2)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--bulk", type=int, default=0, help="also POST this many 1,000-segment batches (reported)")
    parser.add_argument("--python-client", action="store_true", help="use the httpx client even when wrk exists")
    args = parser.parse_args()
    opts = Options(
        duration=args.duration or (4 if args.quick else 10),
        rounds=args.rounds or (2 if args.quick else 3),
        connections=args.connections,
        pages=500 if args.quick else 2000,
        use_wrk=shutil.which("wrk") is not None and not args.python_client,
        bulk=args.bulk,
    )
    if not 1 <= opts.duration <= 120 or not 1 <= opts.rounds <= 20 or not 0 <= opts.bulk <= 1000:
        parser.error("--duration must be 1..120 s, --rounds 1..20 and --bulk 0..1000 (the run stays bounded)")
    if not opts.use_wrk and not args.python_client:
        print(
            "wrk not found (Debian: apt-get install wrk; scripts/test-tools.sh installs it); falling back to an "
            "asyncio httpx client, which shares the cores with the servers",
            flush=True,
        )
    figures = measure(opts)
    if args.figures:
        emit(figures)
    else:
        print()
        print(table(figures))


if __name__ == "__main__":
    main()
