"""Goal 4: a cold 24 h VOD playlist against signing its URLs alone, in the same run.

    python -m bench.playlist [--figures] [--quick]

A 43,200-segment flow (two-second segments, each its own object on an S3 backend that is only
used for presigning) in a fresh SQLite catalog. Each round, alternating: a cold build of the whole
day's VOD playlist with presigned URLs (no playlist cache: catalog read, signing, rendering,
encoding and hashing), then signing the same 43,200 keys alone with the same store call
(``get_urls``), then a cold build with proxy URIs (which sign nothing). The collector is tuned as
``tams-gateway serve`` tunes it. Figures are medians over the rounds.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import Figure, goal_main
from bench.test_bench_playlists import S3_ID, build_flow, s3_storage
from catalog.sqlite import SQLiteCatalog
from catalog.timing import TimeRange
from gateway.cli import tune_garbage_collector
from streaming.objects.media import MediaService, MediaSettings
from streaming.playback.playlists import PlaylistService, PlaylistSettings

SEGMENTS = 43_200
DAY = TimeRange.parse("[0:0_86400:0)")


async def measure(rounds: int) -> list[Figure]:
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


def main() -> None:
    goal_main(__doc__, lambda quick: asyncio.run(measure(5 if quick else 15)), "fewer rounds")


if __name__ == "__main__":
    main()
