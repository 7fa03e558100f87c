"""``python -m bench [--quick] [module ...]``: run every goal benchmark and print one table.

Each module in ``MODULES`` runs in its own process (``python -m bench.<module> --figures``, plus
``--quick`` when asked) and prints its figures as ``BENCH-FIGURE {json}`` lines (bench/report.py);
everything else it prints is passed through so a person sees its progress. A module that runs past
its time budget is stopped and reported as failed, so ``make bench`` stays bounded (goal: well
under 15 minutes for all of them). The older benchmarks that print figures without goals are
``make bench-all``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time

from bench.report import MARKER, Figure, table

MODULES: list[str] = [
    "events",
    # each: a module of bench/ with a ``--figures`` mode that calls bench.report.emit()
    "load",  # issue 14 goal 1: the segment page over HTTP vs a bare Starlette app
    "proxy",  # goal 3: Range proxy vs direct S3
    "playlist",  # goal 4: 24 h VOD playlist vs signing its URLs
    "bulk",  # goal 6: bulk registration over HTTP vs bare executemany
    "workers",  # goal 2: two worker processes vs one on the segment page
]
BUDGET_S = 600  # per module; the slowest (load) takes ~3 min, ~1.5 with --quick
TOTAL_GOAL_S = 15 * 60


def run(module: str, quick: bool, budget_s: float) -> list[Figure]:
    command = [sys.executable, "-m", f"bench.{module}", "--figures"] + (["--quick"] if quick else [])
    print(f"== bench.{module} ==", flush=True)
    started = time.monotonic()
    figures: list[Figure] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        timer = threading.Timer(budget_s, proc.kill)  # the module's servers are its children: it cleans up
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(MARKER):
                    figures.append(Figure.from_json(line[len(MARKER) :]))
                else:
                    sys.stdout.write(line)
        finally:
            timer.cancel()
    elapsed = time.monotonic() - started
    if proc.returncode:
        why = f"stopped after its {budget_s:.0f} s budget" if elapsed >= budget_s else f"exit {proc.returncode}"
        figures.append(Figure(f"bench.{module} FAILED ({why})", float("nan")))
    print(f"   bench.{module}: {elapsed:.0f} s", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (figures noisier)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help=f"seconds per module (default {BUDGET_S})")
    parser.add_argument("modules", nargs="*", help=f"a subset of {MODULES}")
    args = parser.parse_args()
    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"not goal modules: {sorted(unknown)} (known: {MODULES})")
    if shutil.which("wrk") is None:
        print("note: wrk is not installed (Debian: apt-get install wrk; scripts/test-tools.sh installs it)")
    started = time.monotonic()
    figures: list[Figure] = []
    for module in args.modules or MODULES:
        figures.extend(run(module, args.quick, args.budget))
    elapsed = time.monotonic() - started
    print()
    print(table(figures))
    count = len(args.modules or MODULES)
    print(f"\n{count} goal modules in {elapsed / 60:.1f} min (goal: under {TOTAL_GOAL_S // 60} min)")
    failed = [f.name for f in figures if " FAILED (" in f.name]
    if failed:  # a module that crashed measured nothing: make bench must not look green
        sys.exit(f"{len(failed)} goal module(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
