"""The benchmark catalog: one flow of 1,000,000 two-second segments plus 100 other flows.

Built once into ``$TAMS_BENCH_DIR`` (default: ``tams-bench`` under the system temp dir, never
inside the repository) with ``SQLiteCatalog.add_segments`` in batches, and reused by later runs
while its counts match; an interrupted build resumes where it stopped.

    python -m bench.dataset            # build or reuse, print what it did
    python -m bench.dataset --fresh    # build into a throwaway dir to measure the build rate again
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/dataset.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.sqlite import SQLiteCatalog  # noqa: E402

BIG_FLOW = "0b6c1a52-1d6e-4a4c-9a3e-5c1b2f3d4e5f"
SEGMENTS = 1_000_000
SEGMENT_SECONDS = 2
OTHER_FLOWS = 100
OTHER_SEGMENTS = 10
BATCH = 5_000
_OTHERS_NS = uuid.UUID("6f1d3c2e-9a0b-4c5d-8e7f-0a1b2c3d4e5f")


@dataclass
class BuildReport:
    directory: Path
    reused: bool
    added: int = 0  # segments added to the big flow by this run
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.added / self.seconds if self.seconds else 0.0


def bench_dir() -> Path:
    return Path(os.environ.get("TAMS_BENCH_DIR") or Path(tempfile.gettempdir()) / "tams-bench")


def other_flow_ids() -> list[str]:
    """Stable ids, so a rerun can tell which of the other flows exist."""
    return [str(uuid.uuid5(_OTHERS_NS, f"other-{i}")) for i in range(OTHER_FLOWS)]


def flow_doc(flow_id: str) -> dict:
    return {
        "id": flow_id,
        "source_id": str(uuid.uuid5(_OTHERS_NS, f"source-{flow_id}")),
        "format": "urn:x-nmos:format:video",
        "codec": "video/h264",
        "container": "video/mp2t",
        "essence_parameters": {"frame_width": 1920, "frame_height": 1080, "frame_rate": {"numerator": 25}},
    }


def segment_batch(start: int, count: int) -> list[dict]:
    """Segments ``start .. start+count-1``: ``[2i:0_2i+2:0)``, each naming a fresh uuid4 object."""
    step = SEGMENT_SECONDS
    return [
        {"object_id": str(uuid.uuid4()), "timerange": f"[{i * step}:0_{(i + 1) * step}:0)"}
        for i in range(start, start + count)
    ]


async def build(directory: Path | None = None, quiet: bool = False) -> BuildReport:
    """Builds what is missing of the benchmark catalog in ``directory``; reuses what is there."""
    directory = directory or bench_dir()
    catalog = SQLiteCatalog(directory / "catalog.sqlite3")
    await catalog.start()
    try:
        stats = await catalog.flow_stats(BIG_FLOW)
        have = stats.count if stats else 0
        if have > SEGMENTS:
            raise RuntimeError(
                f"{directory}: flow {BIG_FLOW} has {have:,} segments, more than {SEGMENTS:,}; "
                "delete the directory and rerun"
            )
        # flows other than the big one (catalogs built by earlier versions gave them random ids)
        others = (await catalog.sizes())["flows"] - (stats is not None)
        missing_others = []
        for flow_id in other_flow_ids():
            if others + len(missing_others) >= OTHER_FLOWS:
                break
            if await catalog.flow_stats(flow_id) is None:
                missing_others.append(flow_id)
        report = BuildReport(directory, reused=have == SEGMENTS and not missing_others)
        if report.reused:
            if not quiet:
                print(f"reusing the benchmark catalog in {directory} ({SEGMENTS:,} segments)", flush=True)
            return report
        if not quiet:
            print(
                f"building the benchmark catalog in {directory} (once; {have:,} of {SEGMENTS:,} segments there) ...",
                flush=True,
            )
        if stats is None:
            await catalog.put_flow(flow_doc(BIG_FLOW), None)
        started = time.perf_counter()
        for start in range(have, SEGMENTS, BATCH):
            failures = await catalog.add_segments(BIG_FLOW, segment_batch(start, min(BATCH, SEGMENTS - start)))
            if failures:
                raise RuntimeError(f"dataset build failed at segment {start}: {failures[0]}")
            if not quiet and (start + BATCH) % 100_000 == 0:
                print(
                    f"  {start + BATCH:>9,} segments, {(start + BATCH - have) / (time.perf_counter() - started):,.0f}"
                    " segments/s",
                    flush=True,
                )
        report.seconds = time.perf_counter() - started
        report.added = SEGMENTS - have
        for flow_id in missing_others:
            await catalog.put_flow(flow_doc(flow_id), None)
            failures = await catalog.add_segments(flow_id, segment_batch(0, OTHER_SEGMENTS))
            if failures:
                raise RuntimeError(f"dataset build failed for flow {flow_id}: {failures[0]}")
        if not quiet and report.added:
            print(
                f"registered {report.added:,} segments in {report.seconds:.1f} s: {report.rate:,.0f} segments/s "
                f"(SQLiteCatalog.add_segments in-process, batches of {BATCH:,})",
                flush=True,
            )
        return report
    finally:
        await catalog.close()


async def ensure_dataset(directory: Path | None = None, quiet: bool = False) -> Path:
    """Returns the data dir holding the benchmark catalog, building it when missing."""
    return (await build(directory, quiet)).directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="data dir (default $TAMS_BENCH_DIR or <tmp>/tams-bench)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="build into a new temporary dir (deleted afterwards) to measure the build rate",
    )
    args = parser.parse_args()
    if args.fresh:
        scratch = Path(tempfile.mkdtemp(prefix="tams-bench-fresh-", dir=args.dir))
        try:
            asyncio.run(build(scratch))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    else:
        asyncio.run(build(args.dir))


if __name__ == "__main__":
    main()
