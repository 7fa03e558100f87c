"""Playlist generation: a 24-hour VOD playlist with presigned URLs, and live playlists as flows grow."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import uuid
import zlib
from pathlib import Path

from starlette.testclient import TestClient

from bench.dataset import BIG_FLOW, ensure_dataset, flow_doc
from catalog.sqlite import SQLiteCatalog
from catalog.store import Allocation, Catalog
from catalog.timing import TimeRange
from gateway.app import create_app
from gateway.cli import tune_garbage_collector
from gateway.config import Settings
from streaming.objects.media import MediaService, MediaSettings
from streaming.playback.playlists import PlaylistService, PlaylistSettings
from streaming.storage.interface import BackendInfo, object_key
from streaming.storage.registry import LOCAL_BACKEND_ID, Storage
from streaming.storage.s3 import S3Store

S3_ID = "5b2d0c8e-4b8f-4f0e-9a53-0d1f5a3c2b10"


def s3_storage() -> Storage:
    """An S3 backend used only for presigning (no bucket is contacted)."""
    info = BackendInfo(S3_ID, "s3", "bench", "S3", default_storage=True)
    return Storage(
        [
            S3Store(
                info,
                bucket="media",
                endpoint_url="http://127.0.0.1:9000",
                public_endpoint_url=None,
                region="us-east-1",
                access_key="AKID",
                secret_key="SECRET",
            )
        ]
    )


async def build_flow(catalog: Catalog, count: int, storage_id: str = S3_ID) -> str:
    flow_id = str(uuid.uuid4())
    await catalog.put_flow(flow_doc(flow_id), None)
    for start in range(0, count, 5000):
        ids = [str(uuid.uuid4()) for _ in range(min(5000, count - start))]
        allocations = [Allocation(i, storage_id, object_key(i, "video/mp2t"), "video/mp2t") for i in ids]
        await catalog.allocate(flow_id, allocations, time.time_ns() + 10**12)
        segments = [
            {"object_id": oid, "timerange": f"[{(start + n) * 2}:0_{(start + n + 1) * 2}:0)"}
            for n, oid in enumerate(ids)
        ]
        assert not await catalog.add_segments(flow_id, segments, None, True)
    return flow_id


def timed(call, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, max(samples) * 1000


def test_vod_playlist_for_a_day(benchmark, tmp_path: Path):
    """Cold builds (no cache), with the interpreter's default GC and as ``serve`` tunes it; then
    the same playlist served again from the cache of finished playlists."""

    async def build_times(service: PlaylistService, flow_id: str, runs: int = 5) -> list[float]:
        window = TimeRange.parse("[0:0_86400:0)")
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            playlist = await service.media_playlist(flow_id, window, "presigned", "http://gw")
            samples.append((time.perf_counter() - started) * 1000)
        assert playlist.text.count("#EXTINF") == 43_200 and "X-Amz-Signature" in playlist.text
        return samples

    async def run() -> dict[str, float]:
        catalog = SQLiteCatalog(tmp_path / "c.sqlite3")
        await catalog.start()
        try:
            flow_id = await build_flow(catalog, 43_200)
            media = MediaService(catalog, s3_storage(), MediaSettings())
            uncached = PlaylistService(media, PlaylistSettings(cache_bytes=0))
            default_gc = await build_times(uncached, flow_id)
            threshold = gc.get_threshold()
            tune_garbage_collector()
            try:
                tuned_gc = await build_times(uncached, flow_id)
                cached = PlaylistService(media, PlaylistSettings())
                warm = (await build_times(cached, flow_id, 6))[1:]  # the first one fills the cache
            finally:
                gc.unfreeze()
                gc.set_threshold(*threshold)
            return {
                "cold_default_gc_ms": statistics.median(default_gc),
                "cold_ms": statistics.median(tuned_gc),
                "cold_max_ms": max(tuned_gc),
                "warm_ms": statistics.median(warm),
            }
        finally:
            await catalog.close()

    result = benchmark.pedantic(lambda: asyncio.run(run()), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(
        f"\nVOD playlist, 43,200 two-second segments, presigned S3 URLs (median of 5): built "
        f"{result['cold_ms']:.0f} ms (max {result['cold_max_ms']:.0f}; {result['cold_default_gc_ms']:.0f} ms with "
        f"the default GC), from the cache {result['warm_ms']:.2f} ms"
    )


def test_vod_playlist_over_http(benchmark, tmp_path: Path):
    """The same day-long VOD playlist as a player gets it: GET through the whole app (auth,
    routing, ETag, the body handed over), on the local-disk store's signed URLs."""
    settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver")

    def run() -> dict[str, float]:
        with TestClient(create_app(settings), base_url="http://testserver") as client:
            flow_id = client.portal.call(build_flow, client.app.state.catalog, 43_200, LOCAL_BACKEND_ID)
            url = f"/flows/{flow_id}/playlist.m3u8?timerange=[0:0_86400:0)"
            result: dict[str, float] = {}
            for encoding in ("identity", "gzip"):  # the gzip copy is made from the cached playlist
                samples = []
                for _ in range(6):
                    started = time.perf_counter()
                    with client.stream("GET", url, headers={"Accept-Encoding": encoding}) as response:
                        raw = b"".join(response.iter_raw())  # as sent: a player's own unpacking is not timed
                    samples.append((time.perf_counter() - started) * 1000)
                    text = zlib.decompress(raw, wbits=31) if encoding == "gzip" else raw
                    assert response.status_code == 200 and text.count(b"#EXTINF") == 43_200
                started = time.perf_counter()
                revalidate = {"Accept-Encoding": encoding, "If-None-Match": response.headers["etag"]}
                assert client.get(url, headers=revalidate).status_code == 304
                revalidated_ms = (time.perf_counter() - started) * 1000
                result.update(
                    {
                        f"{encoding}_first_ms": samples[0],
                        f"{encoding}_304_ms": revalidated_ms,
                        f"{encoding}_cached_ms": statistics.median(samples[1:]),
                        f"{encoding}_bytes": int(response.headers["content-length"]),
                    }
                )
            return result

    def tuned_run() -> dict[str, float]:  # the collector as `tams-gateway serve` sets it
        threshold = gc.get_threshold()
        tune_garbage_collector()
        try:
            return run()
        finally:
            gc.unfreeze()
            gc.set_threshold(*threshold)

    result = benchmark.pedantic(tuned_run, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    for encoding, first in (("identity", "first GET"), ("gzip", "first gzip GET (compressing)")):
        print(
            f"\nVOD playlist over HTTP, 43,200 segments, local-disk signed URLs, {encoding}: "
            f"{result[f'{encoding}_bytes'] / 2**20:.1f} MiB, {first} {result[f'{encoding}_first_ms']:.0f} ms, "
            f"cached {result[f'{encoding}_cached_ms']:.1f} ms (median of 5), "
            f"If-None-Match → 304 in {result[f'{encoding}_304_ms']:.1f} ms"
        )


def test_live_playlist_stays_flat(benchmark, tmp_path: Path):
    async def run() -> dict[str, float]:
        results = {}
        catalog = SQLiteCatalog(tmp_path / "live.sqlite3")
        await catalog.start()
        try:
            flows = {n: await build_flow(catalog, n) for n in (1_000, 100_000)}
        finally:
            await catalog.close()
        big = await ensure_dataset(quiet=True)
        for label, path, flow_id in [
            ("1,000", tmp_path / "live.sqlite3", flows[1_000]),
            ("100,000", tmp_path / "live.sqlite3", flows[100_000]),
            ("1,000,000", big / "catalog.sqlite3", BIG_FLOW),
        ]:
            catalog = SQLiteCatalog(path)
            await catalog.start()
            try:
                service = PlaylistService(MediaService(catalog, s3_storage(), MediaSettings()), PlaylistSettings())
                samples = []
                for _ in range(200):
                    started = time.perf_counter()
                    await service.media_playlist(flow_id, None, "presigned", "http://gw")
                    samples.append(time.perf_counter() - started)
                results[label] = statistics.median(samples) * 1000
            finally:
                await catalog.close()
        return results

    result = benchmark.pedantic(lambda: asyncio.run(run()), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(
        "\nlive playlist (6-segment window), median of 200: "
        + ", ".join(f"{k} segments {v:.2f} ms" for k, v in result.items())
    )
