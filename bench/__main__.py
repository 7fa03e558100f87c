"""``python -m bench [--quick] [module ...]``: run every goal benchmark and print one table.

Each module in ``MODULES`` runs in its own process (``python -m bench.<module> --figures``, plus
``--quick`` when asked) and prints its figures as ``BENCH-FIGURE {json}`` lines (bench/report.py);
everything else it prints is passed through so a person sees its progress.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.report import MARKER, Figure, table

MODULES: list[str] = [
    # each: a module of bench/ with a ``--figures`` mode that calls bench.report.emit()
    "workers",
]


def run(module: str, quick: bool) -> list[Figure]:
    command = [sys.executable, "-m", f"bench.{module}", "--figures"] + (["--quick"] if quick else [])
    print(f"== bench.{module} ==", flush=True)
    started = time.monotonic()
    figures: list[Figure] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(MARKER):
                figures.append(Figure.from_json(line[len(MARKER) :]))
            else:
                sys.stdout.write(line)
    if proc.returncode:
        figures.append(Figure(f"bench.{module} FAILED (exit {proc.returncode})", float("nan")))
    print(f"   bench.{module}: {time.monotonic() - started:.0f} s", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs (figures noisier)")
    parser.add_argument("modules", nargs="*", help=f"a subset of {MODULES}")
    args = parser.parse_args()
    figures: list[Figure] = []
    for module in args.modules or MODULES:
        figures.extend(run(module, args.quick))
    print()
    print(table(figures))


if __name__ == "__main__":
    main()
