"""Goal 6: bulk registration over HTTP against bare ``sqlite3`` writing the same rows, same file, same run.

    python -m bench.bulk [--figures] [--quick]

The 1M-segment benchmark catalog (bench/dataset.py) is copied (SQLite's backup API) into a scratch
directory; a gateway (one uvicorn worker, objects named, not uploaded) serves the copy. Two new
flows: the gateway registers 1,000-segment arrays ``POST``ed to one, and between its POSTs this
process writes the same rows for the other straight into the same file with ``executemany``
(the ``objects`` and ``segments`` rows, one ``BEGIN IMMEDIATE`` transaction per batch, the
gateway's own pragmas): one batch each in turn, so both see the same file size, cache and load.
The reference checks nothing (no overlap probe, no validation, no statistics row, no event).
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import orjson

from bench.dataset import ensure_dataset, flow_doc, segment_batch
from bench.report import Figure, goal_main
from bench.servers import free_port, start_server, stop_server
from catalog.timing import TimeRange

BATCH = 1000


def copy_catalog(source: Path, target: Path) -> None:
    """A consistent copy even while another process reads or writes the source."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=65536)
    finally:
        src.close()
        dst.close()


def bare_writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536", "wal_autocheckpoint=20000"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def bare_batch(conn: sqlite3.Connection, flow_id: str, segments: list[dict]) -> None:
    """The rows a registration writes per segment (an object and a segment), nothing else."""
    now = time.time_ns()
    objects = []
    rows = []
    for seg in segments:
        tr = TimeRange.parse(seg["timerange"])
        text = str(tr)
        objects.append((seg["object_id"], flow_id, text, now))
        # the row's stored page fragment (migration 8) too, as registration writes it: the same rows
        fragment = f'{{"object_id":"{seg["object_id"]}","timerange":"{text}"'.encode()
        rows.append((flow_id, tr.lo, tr.hi, text, seg["object_id"], text, now, fragment))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO objects (id, first_flow_id, timerange, is_init, created_ns) VALUES (?, ?, ?, 0, ?)", objects
    )
    conn.executemany(
        "INSERT INTO segments (flow_id, ts_lo, ts_hi, timerange, object_id, object_timerange, created_ns, page_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")


async def alternate(url: str, db: Path, batches: int) -> tuple[list[float], list[float]]:
    gateway_flow, bare_flow = str(uuid.uuid4()), str(uuid.uuid4())
    http_times: list[float] = []
    bare_times: list[float] = []
    conn = bare_writer(db)
    async with httpx.AsyncClient(base_url=url, timeout=120, headers={"content-type": "application/json"}) as client:
        for flow_id in (gateway_flow, bare_flow):
            response = await client.put(f"/flows/{flow_id}", json=flow_doc(flow_id))
            assert response.status_code in (200, 201), response.text
        try:
            for b in range(batches):
                body = orjson.dumps(segment_batch(b * BATCH, BATCH))  # encoded before timing
                started = time.perf_counter()
                response = await client.post(f"/flows/{gateway_flow}/segments", content=body)
                http_times.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"bulk POST answered {response.status_code}: {response.text[:500]}")
                segments = segment_batch(b * BATCH, BATCH)  # the same shape of rows, fresh object ids
                started = time.perf_counter()
                bare_batch(conn, bare_flow, segments)  # nothing else runs meanwhile: blocking is fine
                bare_times.append(time.perf_counter() - started)
        finally:
            conn.close()
    return http_times, bare_times


def measure(quick: bool) -> list[Figure]:
    batches = 30 if quick else 150
    source = asyncio.run(ensure_dataset(quiet=True)) / "catalog.sqlite3"
    with tempfile.TemporaryDirectory(prefix="tams-bulk-") as scratch:
        work = Path(scratch)
        data = work / "data"
        data.mkdir()
        print(f"copying {source} ...", flush=True)
        copy_catalog(source, data / "catalog.sqlite3")
        port = free_port()
        proc = start_server(data, port, work / "gateway.log")
        try:
            print(f"{batches} batches of {BATCH:,} segments each way, alternating ...", flush=True)
            url = f"http://127.0.0.1:{port}"
            http_times, bare_times = asyncio.run(alternate(url, data / "catalog.sqlite3", batches))
        finally:
            stop_server(proc)
    segments = batches * BATCH
    ordered = sorted(http_times)
    return [
        Figure(
            "bulk registration over HTTP (1,000-segment POSTs, 1M-segment catalog), vs bare executemany",
            segments / sum(http_times),
            segments / sum(bare_times),
            "segments/s",
            0.5,
            details=f"{batches} batches each, alternating; per POST p50 {ordered[len(ordered) // 2] * 1e3:.0f} ms",
        )
    ]


def main() -> None:
    goal_main(__doc__, measure, "30 batches each way instead of 150")


if __name__ == "__main__":
    main()
