"""The segment page over HTTP from 2 worker processes against 1, alternately in one run (goal: 1.5x).

    python -m bench.workers [--figures] [--quick] [--rounds N] [--duration S]

Builds or reuses the benchmark catalog (bench/dataset.py: a flow of 1,000,000 segments), then,
``--rounds`` times, starts ``python -m gateway.cli serve`` with ``TAMS_WORKERS=1`` and with
``TAMS_WORKERS=2`` (which goes first alternates from round to round) and loads each with ``wrk``
exactly as bench/load.py does: 100-segment pages ``[t:0_t+200:0)`` at random t, after a warm-up.
The figure is the median rate of the 2-worker rounds over the median of the 1-worker rounds, so
the noise of a shared machine hits both sides alike. Needs ``wrk`` (Debian package); 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/workers.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dataset import ensure_dataset  # noqa: E402
from bench.load import PageLoad, free_port, settle, start_server, stop_server, with_wrk  # noqa: E402
from bench.report import Figure, emit, table  # noqa: E402

GOAL = 1.5


def measure(data_dir: Path, workers: int, duration: int, connections: int) -> PageLoad:
    """One server with ``workers`` processes, loaded by wrk for ``duration`` seconds after a warm-up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    previous = os.environ.get("TAMS_WORKERS")
    os.environ["TAMS_WORKERS"] = str(workers)  # start_server hands the environment to the gateway
    try:
        with tempfile.TemporaryDirectory(prefix="tams-workers-") as scratch:
            proc = start_server(data_dir, port, Path(scratch) / "gateway.log")
            try:
                asyncio.run(settle(url))
                return with_wrk(url, duration, connections)
            finally:
                stop_server(proc)
    finally:
        if previous is None:
            os.environ.pop("TAMS_WORKERS", None)
        else:
            os.environ["TAMS_WORKERS"] = previous


def figures(quick: bool, rounds: int | None = None, duration: int | None = None, connections: int = 32) -> list[Figure]:
    rounds = rounds or (2 if quick else 4)
    duration = duration or (5 if quick else 15)
    if shutil.which("wrk") is None:
        raise SystemExit("bench.workers needs wrk (Debian package `wrk`)")
    data_dir = asyncio.run(ensure_dataset(quiet=True))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
    rates: dict[int, list[float]] = {1: [], 2: []}
    errors = 0
    for n in range(rounds):
        for workers in (1, 2) if n % 2 == 0 else (2, 1):
            load = measure(data_dir, workers, duration, connections)
            rates[workers].append(load.rate)
            errors += load.errors
            print(
                f"round {n + 1}/{rounds}, {workers} worker(s): {load.rate:,.0f} req/s "
                f"(p50 {load.p50_ms} ms, p99 {load.p99_ms} ms, errors {load.errors})",
                flush=True,
            )
    if errors:
        raise SystemExit(f"{errors} page requests failed")
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    spread = ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b in zip(rates[2], rates[1], strict=True))
    return [
        Figure(
            "100-segment page of the 1M-segment flow: 2 workers vs 1 (wrk)",
            two,
            one,
            "req/s",
            GOAL,
            details=f"medians of {rounds} alternating rounds of {duration} s, wrk -t1 -c{connections}; "
            f"rounds (2 workers/1 worker): {spread}",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", action="store_true", help="print figures for `python -m bench`")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s (noisier)")
    parser.add_argument("--rounds", type=int, help="rounds of each (default 4; --quick 2)")
    parser.add_argument("--duration", type=int, help="seconds of wrk per measurement (default 15; --quick 5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    args = parser.parse_args()
    if (
        args.rounds is not None
        and not 1 <= args.rounds <= 20
        or args.duration is not None
        and not 1 <= args.duration <= 120
    ):
        parser.error("--rounds must be 1..20 and --duration 1..120 s (the run stays bounded)")
    found = figures(args.quick, args.rounds, args.duration, args.connections)
    if args.figures:
        emit(found)
    else:
        print(table(found))


if __name__ == "__main__":
    main()
