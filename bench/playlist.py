"""Goal 4: a cold 24 h VOD playlist against signing its URLs alone, in the same run.

    python -m bench.playlist [--figures] [--quick]
    python -m bench.playlist --breakdown [--quick]     # the build's steps, each timed alone

A 43,200-segment flow (two-second segments, each its own object on an S3 backend that is only
used for presigning) in a fresh SQLite catalog. Each round, alternating: a cold build of the whole
day's VOD playlist with presigned URLs (no playlist cache: catalog read, signing, rendering,
encoding and hashing), then signing the same 43,200 keys alone with the same store call
(``get_urls``), then a cold build with proxy URIs (which sign nothing). The collector is tuned as
``tams-gateway serve`` tunes it. Figures are medians over the rounds.

``--breakdown`` adds, each round, the build's steps timed one by one (the catalog read with its
hop to a reader thread, the text, encoding and SHA-256, the flow look-ups) as ratios to the
signing of the same round, wall and CPU time (all threads), and prints them as a table.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.report import Figure, goal_main, table
from bench.test_bench_playlists import S3_ID, build_flow, s3_storage
from catalog.sqlite import SQLiteCatalog
from catalog.timing import TimeRange
from gateway.cli import tune_garbage_collector
from streaming.objects.media import MediaService, MediaSettings
from streaming.playback.hls import vod_run
from streaming.playback.playlists import PlaylistService, PlaylistSettings

SEGMENTS = 43_200
DAY = TimeRange.parse("[0:0_86400:0)")


Steps = dict[str, list[tuple[float, float]]]  # step -> (wall s, CPU s) per round


async def _timed(steps: Steps, name: str, call: Callable[[], Awaitable[Any] | Any]) -> Any:
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    if isinstance(result, Awaitable):
        result = await result
    steps.setdefault(name, []).append((time.perf_counter() - wall, time.process_time() - cpu))
    return result


async def measure(rounds: int, steps: Steps | None = None) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="tams-playlist-") as tmp:
        catalog = SQLiteCatalog(Path(tmp) / "c.sqlite3")
        await catalog.start()
        try:
            flow_id = await build_flow(catalog, SEGMENTS)
            storage = s3_storage()
            service = PlaylistService(MediaService(catalog, storage, MediaSettings()), PlaylistSettings(cache_bytes=0))
            locations = await service.window({"id": flow_id}, DAY, ended=True)
            keys = [loc.instances[0].key for loc in locations]
            expiry = service.expiry(locations, True)
            store = storage.stores[S3_ID]
            threshold = gc.get_threshold()
            tune_garbage_collector()
            built: list[float] = []
            signed: list[float] = []
            proxied: list[float] = []
            try:
                for _ in range(rounds):
                    started = time.perf_counter()
                    playlist = await service.media_playlist(flow_id, DAY, "presigned", "http://gw")
                    built.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    urls = store.get_urls(keys, expiry)
                    signed.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    plain = await service.media_playlist(flow_id, DAY, "proxy", "http://gw")
                    proxied.append(time.perf_counter() - started)
                    if steps is not None:
                        await _steps(steps, service, flow_id, store, keys, expiry)
            finally:
                gc.unfreeze()
                gc.set_threshold(*threshold)
            assert len(urls) == SEGMENTS and urls[-1] in playlist.text
            assert plain.text.count("#EXTINF") == SEGMENTS
        finally:
            await catalog.close()
    build_ms, sign_ms, proxy_ms = (statistics.median(s) * 1000 for s in (built, signed, proxied))
    details = f"median of {rounds} alternating rounds; 43,200 segments"
    return [
        Figure(
            "24 h VOD playlist (presigned S3 URLs), cold build, vs signing its URLs alone",
            build_ms,
            sign_ms,
            "ms",
            1.25,
            higher_is_better=False,
            details=details,
        ),
        Figure(
            "the same with proxy URIs (signs nothing), vs signing alone",
            proxy_ms,
            sign_ms,
            "ms",
            None,
            higher_is_better=False,
            details=details,
        ),
    ]


async def _steps(
    steps: Steps, service: PlaylistService, flow_id: str, store: Any, keys: list[str], expiry: int
) -> None:
    """One round of the presigned build's steps, each alone, and the whole build and signing again."""
    catalog = service.catalog
    await _timed(steps, "whole build", lambda: service.media_playlist(flow_id, DAY, "presigned", "http://gw"))
    urls = await _timed(steps, "signing alone (the reference)", lambda: store.get_urls(keys, expiry))
    await _timed(steps, "flow and its statistics (2 reads)", lambda: _flow(catalog, flow_id))
    run = await _timed(
        steps, "catalog read (playlist_run, with its hop)", lambda: catalog.playlist_run(flow_id, DAY, True)
    )
    text = await _timed(steps, "text (vod_run)", lambda: vod_run(run.start, run.lengths, urls, None, 2))
    await _timed(steps, "encoding and SHA-256", lambda: hashlib.sha256(text.encode()).hexdigest())


async def _flow(catalog: Any, flow_id: str) -> None:
    await catalog.get_flow(flow_id)
    await catalog.flow_stats(flow_id)


def breakdown(steps: Steps) -> str:
    """The steps as medians and as ratios to the signing of the same rounds, wall and CPU."""
    sign = steps["signing alone (the reference)"]
    rows = ["| step | wall ms | / signing | CPU ms | / signing |", "|---|---|---|---|---|"]
    for name, samples in steps.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        wall_ratio = statistics.median(s[0] / r[0] for s, r in zip(samples, sign, strict=True))
        cpu_ratio = statistics.median(s[1] / r[1] for s, r in zip(samples, sign, strict=True))
        rows.append(f"| {name} | {wall * 1000:.1f} | {wall_ratio:.2f}x | {cpu * 1000:.1f} | {cpu_ratio:.2f}x |")
    return "\n".join(rows)


def main() -> None:
    if "--breakdown" in sys.argv:
        steps: Steps = {}
        figures = asyncio.run(measure(5 if "--quick" in sys.argv else 15, steps))
        print(table(figures))
        print(breakdown(steps))
        return
    goal_main(__doc__, lambda quick: asyncio.run(measure(5 if quick else 15)), "fewer rounds")


if __name__ == "__main__":
    main()
