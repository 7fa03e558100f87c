"""Core catalog figures on the 1,000,000-segment benchmark flow (see bench/dataset.py).

    .venv/bin/python -m pytest bench/test_bench_catalog.py -q --benchmark-enable

- a 100-segment timerange page at a random position, as a catalog call in-process;
- the same page through the whole ASGI app in-process (routing, middleware, auth, JSON rendering);
- bulk registration: 1,000-segment arrays POSTed through the ASGI app, into an empty catalog and
  into a fresh flow of the 1M-segment catalog.

Each call is one pytest-benchmark round (random inputs come from an untimed ``setup``), so the
table pytest-benchmark prints is per page / per POST; p50 and p99 are computed from the rounds
(``benchmark.stats.stats.data``), kept in ``extra_info`` and printed after the run. Benchmarks
measure; nothing here asserts a time. Objects are named, not uploaded (``require_allocation``
off): registration figures are the catalog path.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from bench.cleanup import delete_flow, wait_for_deletions
from bench.dataset import BIG_FLOW, SEGMENT_SECONDS, SEGMENTS, ensure_dataset, flow_doc, segment_batch
from catalog.sqlite import SQLiteCatalog
from catalog.store import SegmentQuery
from catalog.timing import TimeRange
from gateway.app import create_app
from gateway.config import Settings

PAGE = 100
PAGE_ROUNDS = 2_000
BULK_BATCH = 1_000
BULK_ROUNDS = 50
JSON = {"content-type": "application/json"}


def random_window(rng: random.Random) -> str:
    start = rng.randrange(0, (SEGMENTS - PAGE) * SEGMENT_SECONDS)  # seconds: usually 101 segments overlap
    return f"[{start}:0_{start + PAGE * SEGMENT_SECONDS}:0)"


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted data."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_figures(benchmark) -> dict[str, float] | None:
    if benchmark.disabled:  # plain `pytest bench` runs each benchmark once, without stats
        return None
    data = sorted(benchmark.stats.stats.data)
    figures = {
        "p50_ms": percentile(data, 50) * 1e3,
        "p99_ms": percentile(data, 99) * 1e3,
        "max_ms": data[-1] * 1e3,
        "rounds": len(data),
    }
    benchmark.extra_info.update(figures)
    return figures


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def data_dir(loop) -> Path:
    return loop.run_until_complete(ensure_dataset())


@pytest.fixture(scope="module")
def catalog(loop, data_dir) -> Iterator[SQLiteCatalog]:
    catalog = SQLiteCatalog(data_dir / "catalog.sqlite3")
    loop.run_until_complete(catalog.start())
    yield catalog
    loop.run_until_complete(catalog.close())


@contextlib.contextmanager
def asgi_client(loop: asyncio.AbstractEventLoop, settings: Settings) -> Iterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process, with the app's lifespan entered (catalog started)."""
    app = create_app(settings)
    stack = contextlib.AsyncExitStack()

    async def enter() -> httpx.AsyncClient:
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        )
        await wait_for_deletions(client)  # left by an interrupted run: never in the background of a measurement
        return client

    client = loop.run_until_complete(enter())
    try:
        yield client
    finally:
        loop.run_until_complete(stack.aclose())


def test_catalog_page(benchmark, loop, catalog, report_figure):
    """(a) ``Catalog.query_segments``, 100 segments at a random position of the 1M-segment flow."""
    rng = random.Random(7)

    def setup():
        return (SegmentQuery(TimeRange.parse(random_window(rng))),), {}

    def page(query: SegmentQuery):
        return loop.run_until_complete(catalog.query_segments(BIG_FLOW, query, None, PAGE))

    result = benchmark.pedantic(page, setup=setup, rounds=PAGE_ROUNDS, warmup_rounds=100)
    assert len(result.items) == PAGE
    if figures := latency_figures(benchmark):
        report_figure(
            f"(a) catalog query_segments, 100-segment page of a 1M-segment flow: "
            f"p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms "
            f"({figures['rounds']:,} random positions; goal p50 < 2 ms)"
        )


def test_asgi_page(benchmark, loop, data_dir, report_figure):
    """(b) ``GET /flows/{id}/segments?limit=100&timerange=...`` through the ASGI app in-process."""
    rng = random.Random(11)
    with asgi_client(loop, Settings(data_dir=data_dir)) as client:

        def setup():
            return (f"/flows/{BIG_FLOW}/segments?limit={PAGE}&timerange={random_window(rng)}",), {}

        def get(url: str) -> httpx.Response:
            return loop.run_until_complete(client.get(url))

        response = get(setup()[0][0])
        assert response.status_code == 200 and len(response.json()) == PAGE, response.text
        response = benchmark.pedantic(get, setup=setup, rounds=PAGE_ROUNDS, warmup_rounds=100)
        assert response.status_code == 200 and len(response.json()) == PAGE
    if figures := latency_figures(benchmark):
        report_figure(
            f"(b) GET 100-segment page through the ASGI app in-process (JSON rendered, "
            f"{len(response.content):,} bytes): p50 {figures['p50_ms']:.3f} ms, "
            f"p99 {figures['p99_ms']:.3f} ms ({figures['rounds']:,} random positions)"
        )


@pytest.mark.parametrize("where", ["empty", "1M"])
def test_bulk_registration(benchmark, loop, tmp_path, where, report_figure, request):
    """(c) POST /flows/{id}/segments with 1,000-segment arrays, into an empty catalog or the 1M one."""
    data = tmp_path if where == "empty" else request.getfixturevalue("data_dir")
    settings = Settings(data_dir=data, require_allocation=False)
    flow_id = str(uuid.uuid4())
    batches = iter(range(BULK_ROUNDS + 1))
    with asgi_client(loop, settings) as client:
        put = loop.run_until_complete(client.put(f"/flows/{flow_id}", json=flow_doc(flow_id)))
        assert put.status_code in (200, 201), put.text
        try:

            def setup():  # the body is encoded outside the timed call: this measures the server side
                b = next(batches)
                return (orjson.dumps(segment_batch(b * BULK_BATCH, BULK_BATCH)),), {}

            def post(body: bytes) -> httpx.Response:
                return loop.run_until_complete(client.post(f"/flows/{flow_id}/segments", content=body, headers=JSON))

            response = benchmark.pedantic(post, setup=setup, rounds=BULK_ROUNDS, warmup_rounds=1)
            assert response.status_code == 201, response.text
        finally:
            loop.run_until_complete(delete_flow(client, flow_id))
    if benchmark.disabled:
        return
    data_points = benchmark.stats.stats.data
    rate = BULK_BATCH * len(data_points) / sum(data_points)
    benchmark.extra_info["segments_per_s"] = rate
    latency_figures(benchmark)
    catalog_size = "an empty catalog" if where == "empty" else "a new flow of the 1M-segment catalog"
    report_figure(
        f"(c) bulk registration, {BULK_ROUNDS} POSTs of {BULK_BATCH:,} segments through the ASGI app "
        f"into {catalog_size}: {rate:,.0f} segments/s (goal >= 5,000)"
    )
