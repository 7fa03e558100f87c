"""The segment page over HTTP from 2 worker processes against 1, alternately in one run (goal: 1.5x).

    python -m bench.workers [--figures] [--quick] [--rounds N] [--duration S]

Builds or reuses the benchmark catalog (bench/dataset.py: a flow of 1,000,000 segments), starts
``python -m gateway.cli serve`` twice on it, with ``TAMS_WORKERS=1`` and ``TAMS_WORKERS=2``, and
then, ``--rounds`` times, loads each in turn (which goes first alternates) with ``wrk`` exactly as
bench/load.py does: 100-segment pages ``[t:0_t+200:0)`` at random t, after a 5 s warm-up. The
figure is the 2-worker server's rate over the 1-worker server's, each over all its rounds, so the
noise of a shared machine falls on both sides alike. Needs ``wrk`` (Debian package); 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/workers.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dataset import ensure_dataset  # noqa: E402
from bench.load import PLAIN, PageLoad, settle, with_wrk  # noqa: E402
from bench.report import Figure, emit, table  # noqa: E402
from bench.servers import free_port, start_server, stop_server  # noqa: E402

GOAL = 1.5
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system, all threads) of ``root`` and every live descendant, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    tree, grown = {root}, True
    while grown:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grown = bool(more)
    return sum(times.get(pid, 0.0) for pid in tree)


@contextlib.contextmanager
def serving(data_dir: Path, workers: int) -> Iterator[tuple[str, int]]:
    """A gateway with ``workers`` processes on the benchmark catalog; yields its URL and pid."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    previous = os.environ.get("TAMS_WORKERS")
    os.environ["TAMS_WORKERS"] = str(workers)  # start_server hands the environment to the gateway
    try:
        with tempfile.TemporaryDirectory(prefix="tams-workers-") as scratch:
            proc = start_server(data_dir, port, Path(scratch) / "gateway.log")
            try:
                asyncio.run(settle(url))
                yield url, proc.pid
            finally:
                stop_server(proc)
    finally:
        if previous is None:
            os.environ.pop("TAMS_WORKERS", None)
        else:
            os.environ["TAMS_WORKERS"] = previous


def figures(quick: bool, rounds: int | None = None, duration: int | None = None, connections: int = 32) -> list[Figure]:
    rounds = rounds or (2 if quick else 6)
    duration = duration or (5 if quick else 10)
    if shutil.which("wrk") is None:
        raise SystemExit("bench.workers needs wrk (Debian package `wrk`)")
    data_dir = asyncio.run(ensure_dataset(quiet=True))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
    loads: dict[int, list[PageLoad]] = {1: [], 2: []}
    cores: dict[int, list[float]] = {1: [], 2: []}  # CPU the server used per second of load
    # both servers stay up (an idle one costs nothing), so rounds alternate every few seconds and
    # the other work on a shared machine falls on both sides alike
    with serving(data_dir, 1) as one, serving(data_dir, 2) as two:
        servers = {1: one, 2: two}
        for n in range(rounds):
            for workers in (1, 2) if n % 2 == 0 else (2, 1):
                url, pid = servers[workers]
                cpu, started = tree_cpu_seconds(pid), time.monotonic()
                load = with_wrk(url, PLAIN, duration, connections)  # after its own 5 s warm-up (counted in cpu)
                cores[workers].append((tree_cpu_seconds(pid) - cpu) / (time.monotonic() - started))
                loads[workers].append(load)
                print(
                    f"round {n + 1}/{rounds}, {workers} worker(s): {load.rate:,.0f} req/s "
                    f"(p50 {load.p50_ms} ms, p99 {load.p99_ms} ms, errors {load.errors}; "
                    f"server used {cores[workers][-1]:.2f} cores)",
                    flush=True,
                )
    errors = sum(load.errors for side in loads.values() for load in side)
    if errors:
        raise SystemExit(f"{errors} page requests failed")

    def rate(side: list[PageLoad]) -> float:
        return sum(load.requests for load in side) / sum(load.seconds for load in side)

    def per_core(workers: int) -> float:  # req/s over the runs, divided by cores used over warm-up and run
        return rate(loads[workers]) / statistics.mean(cores[workers])

    pairs = ", ".join(f"{b.rate / a.rate:.2f}" for a, b in zip(loads[1], loads[2], strict=True))
    return [
        Figure(
            "100-segment page of the 1M-segment flow: 2 workers vs 1 (wrk)",
            rate(loads[2]),
            rate(loads[1]),
            "req/s",
            GOAL,
            details=f"{rounds} alternating rounds of {duration} s each, wrk -t1 -c{connections}; "
            f"ratio per round: {pairs}; cores used by the server (2 workers/1): "
            f"{statistics.mean(cores[2]):.2f}/{statistics.mean(cores[1]):.2f}; "
            f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        ),
        Figure(
            "the same, requests per second of server CPU: 2 workers vs 1 (no goal)",
            per_core(2),
            per_core(1),
            "req/core-s",
            details="equal means the second process costs nothing per request: the rate then follows "
            "the CPU the machine can give the server",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--figures", action="store_true", help="print figures for `python -m bench`")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 5 s (noisier)")
    parser.add_argument("--rounds", type=int, help="rounds of each (default 6; --quick 2)")
    parser.add_argument("--duration", type=int, help="seconds of wrk per measurement (default 10; --quick 5)")
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
