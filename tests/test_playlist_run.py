"""The VOD playlist's common case (``PlaylistRun``: one unbroken run of whole objects on one backend)
is rendered from columns; it must give the bytes the segment-by-segment build gives, and the
SQLite store's SQL check must agree with the generic one (``playlist_run_of``, the VAST store's)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from bench.dataset import flow_doc
from catalog.sqlite import SQLiteCatalog
from catalog.store import Allocation, playlist_run_of
from catalog.timing import TimeRange
from streaming.objects.media import MediaService, MediaSettings
from streaming.playback.playlists import PlaylistService, PlaylistSettings
from streaming.storage.interface import BackendInfo, object_key
from streaming.storage.registry import Storage
from streaming.storage.s3 import S3Store

S3_ID = "7d4c3c1e-0000-4000-8000-000000000001"


def storage() -> Storage:
    info = BackendInfo(S3_ID, "s3", "test", "S3", default_storage=True)
    store = S3Store(
        info,
        bucket="media",
        endpoint_url="http://127.0.0.1:9",
        public_endpoint_url=None,
        region="us-east-1",
        access_key="AKID",
        secret_key="SECRET",
    )
    return Storage([store])


# (segments as (timerange, extra fields), whether they make one run)
CASES = {
    "uniform": ([(f"[{2 * i}:0_{2 * i + 2}:0)", {}) for i in range(5)], True),
    "lengths": ([("[0:0_2:0)", {}), ("[2:0_3:1000000)", {}), ("[3:1000000_3:41000000)", {})], True),
    "gap": ([("[0:0_2:0)", {}), ("[3:0_5:0)", {})], False),
    "offset": ([("[0:0_2:0)", {}), ("[2:0_4:0)", {"ts_offset": "1:0"})], False),
}


async def build(catalog: SQLiteCatalog, segments: list[tuple[str, dict]]) -> str:
    flow_id = str(uuid.uuid4())
    await catalog.put_flow(flow_doc(flow_id), None)
    ids = [str(uuid.uuid4()) for _ in segments]
    allocations = [Allocation(i, S3_ID, object_key(i, "video/mp2t"), "video/mp2t") for i in ids]
    await catalog.allocate(flow_id, allocations, time.time_ns() + 10**12)
    body = [{"object_id": oid, "timerange": tr, **extra} for oid, (tr, extra) in zip(ids, segments, strict=True)]
    assert not await catalog.add_segments(flow_id, body, None, True)
    return flow_id


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_renders_the_same_bytes_as_the_general_build(tmp_path: Path, case: str) -> None:
    segments, is_run = CASES[case]

    async def check() -> None:
        catalog = SQLiteCatalog(tmp_path / "c.sqlite3")
        await catalog.start()
        try:
            flow_id = await build(catalog, segments)
            service = PlaylistService(
                MediaService(catalog, storage(), MediaSettings()), PlaylistSettings(cache_bytes=0)
            )
            flow = await catalog.get_flow(flow_id)
            assert flow is not None
            for window in (None, TimeRange.parse("[1:0_3:0)")):
                locations = await catalog.segment_locations(flow_id, window, None)
                for keys in (True, False):
                    run = await catalog.playlist_run(flow_id, window, keys)
                    assert run == playlist_run_of(locations, keys)
                    if window is None:  # (a part of a broken window may be a run)
                        assert (run is not None) == is_run
                for mode in ("presigned", "proxy", "redirect"):
                    fast = await service._vod(flow, window, mode, "http://gw", False)
                    general = await service._build(flow, locations, mode, "http://gw", 0, True, False, 0)
                    assert fast.text == general.text and fast.max_age == general.max_age, (window, mode)
        finally:
            await catalog.close()

    asyncio.run(check())
