"""VAST DB catalog figures: select calls per page on the fake, and page latency / insert rate on a cluster.

``python -m bench.vast`` (``make bench`` runs it) always measures, on the in-memory fake:
- selects per 100-segment page, walking a whole flow page by page, for a uniform flow (2 s
  segments), a gappy flow (a third of segments missing at random, plus hour-long holes) and a flow
  whose segment durations vary (1–4 s);
- the fake's own time per page (Python + Arrow in memory; not a prediction of VAST latency).

With VAST_ENDPOINT, VAST_ACCESS_KEY, VAST_SECRET_KEY and VAST_BUCKET set it also measures, on the
cluster, in a fresh schema it creates (``--keep`` leaves it for inspection): insert rate in
1,000-segment batches, then p50/p99 latency of random 100-segment timerange pages and of the
first page of a flow. ``--segments N`` sizes the flow (default 100,000).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
import uuid

from catalog.store import Catalog, SegmentQuery
from catalog.timing import TimeRange
from catalog.vast import VastCatalog
from catalog.vast.fake import FakeVast

SECOND = 1_000_000_000
PAGE = 100


def uniform(n: int) -> list[tuple[int, int]]:
    return [(2 * i * SECOND, 2 * (i + 1) * SECOND) for i in range(n)]


def gappy(n: int, seed: int = 1) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    spans, t = [], 0
    while len(spans) < n:
        if rng.random() < 0.002:
            t += 3600 * SECOND  # an hour-long hole (a recorder stopped)
        if rng.random() >= 1 / 3:
            spans.append((t, t + 2 * SECOND))
        t += 2 * SECOND
    return spans


def varying(n: int, seed: int = 2) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    spans, t = [], 0
    for _ in range(n):
        d = rng.choice((1, 2, 3, 4)) * SECOND
        spans.append((t, t + d))
        t += d
    return spans


def batch(spans: list[tuple[int, int]]) -> list[dict]:
    return [{"object_id": str(uuid.uuid4()), "timerange": str(TimeRange.make(lo, hi, True, False))} for lo, hi in spans]


async def new_flow(catalog: Catalog) -> str:
    flow_id = str(uuid.uuid4())
    await catalog.put_flow(
        {
            "id": flow_id,
            "source_id": str(uuid.uuid4()),
            "format": "urn:x-nmos:format:video",
            "codec": "video/h264",
            "container": "video/mp2t",
            "essence_parameters": {"frame_width": 1920, "frame_height": 1080},
        },
        None,
    )
    return flow_id


async def fill(catalog: Catalog, flow_id: str, spans: list[tuple[int, int]], size: int = 1000) -> float:
    """Registers the spans in batches; returns segments per second."""
    started = time.perf_counter()
    for start in range(0, len(spans), size):
        failures = await catalog.add_segments(flow_id, batch(spans[start : start + size]))
        assert not failures, failures[:3]
    return len(spans) / (time.perf_counter() - started)


async def fake_figures(n: int) -> None:
    print(f"fake VAST store, {n:,} segments per flow, pages of {PAGE}")
    print("| flow | pages | segment selects / page (mean, max) | all selects / page | fake time / page |")
    print("|---|---|---|---|---|")
    for name, spans in (("uniform 2 s", uniform(n)), ("gappy", gappy(n)), ("varying 1-4 s", varying(n))):
        fake = FakeVast()
        catalog = VastCatalog(fake)
        await catalog.start()
        flow_id = await new_flow(catalog)
        await fill(catalog, flow_id, spans, size=5000)
        per_page = []
        total_before = sum(fake.select_calls.values())
        pages, page = 0, None
        started = time.perf_counter()
        while True:
            before = fake.select_calls["segments"]
            result = await catalog.query_segments(flow_id, SegmentQuery(), page, PAGE)
            per_page.append(fake.select_calls["segments"] - before)
            pages += 1
            page = result.next_key
            if page is None:
                break
        elapsed = time.perf_counter() - started
        total = (sum(fake.select_calls.values()) - total_before) / pages
        print(
            f"| {name} | {pages} | {statistics.mean(per_page):.2f}, {max(per_page)} | {total:.2f} | "
            f"{elapsed / pages * 1000:.1f} ms |"
        )
        await catalog.close()


async def cluster_figures(n: int, keep: bool) -> None:
    from catalog.vast.connection import VastConnection, VastSettings

    schema = f"tams_bench_{uuid.uuid4().hex[:8]}"
    catalog = VastCatalog(
        VastConnection(
            VastSettings(
                endpoint=os.environ["VAST_ENDPOINT"],
                access_key=os.environ["VAST_ACCESS_KEY"],
                secret_key=os.environ["VAST_SECRET_KEY"],
                bucket=os.environ["VAST_BUCKET"],
                schema=schema,
            )
        )
    )
    await catalog.start()
    flow_id = await new_flow(catalog)
    rate = await fill(catalog, flow_id, uniform(n))
    print(
        f"VAST cluster {os.environ['VAST_ENDPOINT']} schema {schema}: insert {rate:,.0f} segments/s (1,000 per request)"
    )
    latencies = []
    for _ in range(200):
        start = random.randrange(0, 2 * n - 2 * PAGE) * SECOND
        query = SegmentQuery(timerange=TimeRange.make(start, None, True, False))
        began = time.perf_counter()
        await catalog.query_segments(flow_id, query, None, PAGE)
        latencies.append(time.perf_counter() - began)
    latencies.sort()
    print(
        f"random 100-segment pages: p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    if not keep:
        await catalog.delete_flow(flow_id)
        print(f"(schema {schema} left empty; drop it in VMS when done)")
    await catalog.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, default=100_000, help="segments in the cluster flow")
    parser.add_argument("--fake-segments", type=int, default=20_000, help="segments per flow on the fake")
    parser.add_argument("--keep", action="store_true", help="keep the cluster flow")
    args = parser.parse_args()
    asyncio.run(fake_figures(args.fake_segments))
    names = ("VAST_ENDPOINT", "VAST_ACCESS_KEY", "VAST_SECRET_KEY", "VAST_BUCKET")
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        print(f"\nno cluster figures: set {', '.join(missing)} to measure a real VAST DB")
        return
    asyncio.run(cluster_figures(args.segments, args.keep))


if __name__ == "__main__":
    main()
