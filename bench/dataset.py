"""The benchmark catalog: one flow of 1,000,000 two-second segments plus 100 other flows.

Built once into ``$TAMS_BENCH_DIR`` (default: a folder under the system temp dir) and reused by
later runs when its counts match.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from catalog.sqlite import SQLiteCatalog

BIG_FLOW = "0b6c1a52-1d6e-4a4c-9a3e-5c1b2f3d4e5f"
SEGMENTS = 1_000_000
OTHER_FLOWS = 100
SEGMENT_SECONDS = 2
BATCH = 10_000


def bench_dir() -> Path:
    return Path(os.environ.get("TAMS_BENCH_DIR", Path(tempfile.gettempdir()) / "tams-bench"))


def flow_doc(flow_id: str) -> dict:
    return {
        "id": flow_id, "source_id": str(uuid.uuid4()), "format": "urn:x-nmos:format:video",
        "codec": "video/h264", "container": "video/mp2t",
        "essence_parameters": {"frame_width": 1920, "frame_height": 1080, "frame_rate": {"numerator": 25}},
    }


def segment_batch(start: int, count: int) -> list[dict]:
    step = SEGMENT_SECONDS
    return [{"object_id": str(uuid.uuid4()), "timerange": f"[{i * step}:0_{(i + 1) * step}:0)"}
            for i in range(start, start + count)]


async def ensure_dataset(directory: Path | None = None, quiet: bool = False) -> Path:
    """Returns the data dir holding the benchmark catalog, building it when missing."""
    directory = directory or bench_dir()
    catalog = SQLiteCatalog(directory / "catalog.sqlite3")
    await catalog.start()
    try:
        stats = await catalog.flow_stats(BIG_FLOW)
        if stats is not None and stats.count == SEGMENTS:
            return directory
        if not quiet:
            print(f"building the benchmark catalog in {directory} (once) ...", flush=True)
        await catalog.put_flow(flow_doc(BIG_FLOW), None)
        done = stats.count if stats else 0
        started = time.perf_counter()
        for start in range(done, SEGMENTS, BATCH):
            failures = await catalog.add_segments(BIG_FLOW, segment_batch(start, min(BATCH, SEGMENTS - start)))
            assert not failures, failures[:1]
        elapsed = time.perf_counter() - started
        for _ in range(OTHER_FLOWS):
            other = str(uuid.uuid4())
            await catalog.put_flow(flow_doc(other), None)
            await catalog.add_segments(other, segment_batch(0, 10))
        if not quiet and done < SEGMENTS:
            print(f"registered {SEGMENTS - done:,} segments in {elapsed:.1f} s "
                  f"({(SEGMENTS - done) / elapsed:,.0f} segments/s, in-process, batches of {BATCH:,})")
        return directory
    finally:
        await catalog.close()


if __name__ == "__main__":
    asyncio.run(ensure_dataset())
