"""In-process latency of a 100-segment timerange page on a 1,000,000-segment flow, and bulk registration.

Run with ``make bench`` (pytest -q bench --benchmark-enable). p50/p99 are printed and kept in
extra_info; pytest-benchmark's own table shows the distribution.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid

import httpx
import pytest

from bench.dataset import BIG_FLOW, SEGMENT_SECONDS, SEGMENTS, ensure_dataset, flow_doc, segment_batch
from catalog.sqlite import SQLiteCatalog
from catalog.store import SegmentQuery
from catalog.timing import TimeRange
from gateway.app import create_app
from gateway.config import Settings

PAGE = 100
SAMPLES = 2000


def random_window(rng: random.Random) -> str:
    start = rng.randrange(0, (SEGMENTS - PAGE) * SEGMENT_SECONDS)
    return f"[{start}:0_{start + PAGE * SEGMENT_SECONDS}:0)"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000}


@pytest.fixture(scope="module")
def data_dir():
    return asyncio.run(ensure_dataset())


def run_page_latency(data_dir, through_http: bool) -> dict[str, float]:
    async def measure() -> dict[str, float]:
        rng = random.Random(7)
        samples: list[float] = []
        if through_http:
            app = create_app(Settings(data_dir=data_dir))
            transport = httpx.ASGITransport(app=app)
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=transport, base_url="http://bench"
            ) as client:
                for _ in range(SAMPLES):
                    url = f"/flows/{BIG_FLOW}/segments?limit={PAGE}&timerange={random_window(rng)}"
                    started = time.perf_counter()
                    response = await client.get(url)
                    samples.append(time.perf_counter() - started)
                    assert response.status_code == 200 and len(response.json()) == PAGE
        else:
            catalog = SQLiteCatalog(data_dir / "catalog.sqlite3")
            await catalog.start()
            try:
                for _ in range(SAMPLES):
                    query = SegmentQuery(TimeRange.parse(random_window(rng)))
                    started = time.perf_counter()
                    page = await catalog.query_segments(BIG_FLOW, query, None, PAGE)
                    samples.append(time.perf_counter() - started)
                    assert len(page.items) == PAGE
            finally:
                await catalog.close()
        return percentiles(samples)

    return asyncio.run(measure())


def test_catalog_page_latency(benchmark, data_dir):
    result = benchmark.pedantic(run_page_latency, args=(data_dir, False), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\ncatalog query, 100-segment page of a 1M-segment flow: p50 {result['p50_ms']:.3f} ms, "
          f"p99 {result['p99_ms']:.3f} ms ({SAMPLES} random positions)")


def test_asgi_page_latency(benchmark, data_dir):
    result = benchmark.pedantic(run_page_latency, args=(data_dir, True), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(f"\nGET /flows/{{id}}/segments in-process (ASGI, JSON rendered): p50 {result['p50_ms']:.3f} ms, "
          f"p99 {result['p99_ms']:.3f} ms")


def test_bulk_registration_rate(benchmark, tmp_path):
    async def register() -> float:
        # objects are named, not uploaded: this measures the catalog's registration path
        app = create_app(Settings(data_dir=tmp_path, max_body_bytes=64 * 1024 * 1024, require_allocation=False))
        transport = httpx.ASGITransport(app=app)
        flow_id = str(uuid.uuid4())
        batches = 50
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=transport, base_url="http://bench"
        ) as client:
            await client.put(f"/flows/{flow_id}", json=flow_doc(flow_id) | {"id": flow_id})
            started = time.perf_counter()
            for b in range(batches):
                response = await client.post(f"/flows/{flow_id}/segments", json=segment_batch(b * 1000, 1000))
                assert response.status_code == 201, response.text
            return batches * 1000 / (time.perf_counter() - started)

    rate = benchmark.pedantic(lambda: asyncio.run(register()), rounds=1, iterations=1)
    benchmark.extra_info["segments_per_s"] = rate
    print(f"\nbulk registration via batch POST (1,000 per request, in-process ASGI): {rate:,.0f} segments/s")
