"""The VOD playlist's common case (``PlaylistRun``: one unbroken run of whole objects on one backend)
is rendered from columns; it must give the bytes the segment-by-segment build gives, and the
SQLite store's SQL check must agree with the generic one (``playlist_run_of``, the VAST store's)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from bench.dataset import flow_doc
from catalog.sqlite import SQLiteCatalog
from catalog.sqlite.schema import MIGRATIONS
from catalog.store import Allocation, playlist_run_of
from catalog.timing import TimeRange
from streaming.objects.media import MediaService, MediaSettings
from streaming.playback.playlists import PlaylistService, PlaylistSettings
from streaming.storage.interface import BackendInfo, object_key
from streaming.storage.registry import Storage
from streaming.storage.s3 import S3Store

S3_ID = "7d4c3c1e-0000-4000-8000-000000000001"
OTHER_ID = "7d4c3c1e-0000-4000-8000-000000000002"
STORE, KEY = "(storage)", "(key)"  # a segment's backend and key when not S3_ID and object_key's


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
    "sampled": ([("[0:0_2:0)", {}), ("[2:0_4:0)", {}), ("[4:0_6:0)", {"sample_count": 3})], False),
    "cut before": ([("[0:0_1:0)", {"sample_offset": 1}), ("[1:0_3:0)", {}), ("[3:0_5:0)", {})], False),
    "stores": ([("[0:0_2:0)", {}), ("[2:0_4:0)", {STORE: OTHER_ID})], False),
    "separator in a key": ([("[0:0_2:0)", {KEY: "a\nb"}), ("[2:0_4:0)", {})], True),
}


async def build(catalog: SQLiteCatalog, segments: list[tuple[str, dict]]) -> str:
    flow_id = str(uuid.uuid4())
    await catalog.put_flow(flow_doc(flow_id), None)
    ids = [str(uuid.uuid4()) for _ in segments]
    allocations = [
        Allocation(i, extra.get(STORE, S3_ID), extra.get(KEY, object_key(i, "video/mp2t")), "video/mp2t")
        for i, (_, extra) in zip(ids, segments, strict=True)
    ]
    await catalog.allocate(flow_id, allocations, time.time_ns() + 10**12)
    body = [
        {"object_id": oid, "timerange": tr, **{k: v for k, v in extra.items() if k not in (STORE, KEY)}}
        for oid, (tr, extra) in zip(ids, segments, strict=True)
    ]
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
            for window in (None, *map(TimeRange.parse, ("[1:0_3:0)", "[0:0_100:0)", "[2:0_100:0)", "(0:0_4:0]"))):
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


def test_flow_statistics_kept_at_registration_are_what_the_migration_derives(tmp_path: Path) -> None:
    """``seg_cut_added`` and ``seg_mindur`` (the playlist's per-flow shortcuts): kept by every
    registration, and derived from the segments for a catalog that predates them."""
    path = tmp_path / "c.sqlite3"

    async def register() -> list[tuple]:
        catalog = SQLiteCatalog(path)
        await catalog.start()
        try:
            for case in ("uniform", "lengths", "offset"):
                await build(catalog, CASES[case][0])
            await build(catalog, [("[0:0_1:0)", {"sample_count": 10}), ("[1:0_2:0)", {"sample_offset": 1})])
        finally:
            await catalog.close()
        return stats()

    def stats() -> list[tuple]:
        with sqlite3.connect(path) as conn:
            return conn.execute("SELECT id, seg_cut_added, seg_mindur, seg_maxdur FROM flows ORDER BY id").fetchall()

    kept = asyncio.run(register())
    assert sorted((cut, least, most) for _, cut, least, most in kept) == sorted(
        [
            (0, 1_999_999_999, 1_999_999_999),  # uniform: nothing left to check per row
            (0, 39_999_999, 1_999_999_999),  # lengths
            (1, 1_999_999_999, 1_999_999_999),  # offset
            (2, 999_999_999, 999_999_999),  # a sample cut and a sample offset
        ]
    )
    with sqlite3.connect(path) as conn:  # as before the migration: without the columns
        conn.executescript(
            "ALTER TABLE flows DROP COLUMN seg_cut_added; ALTER TABLE flows DROP COLUMN seg_mindur; "
            f"PRAGMA user_version={len(MIGRATIONS) - 1}"
        )

    async def reopen() -> None:
        catalog = SQLiteCatalog(path)
        await catalog.start()
        await catalog.close()

    asyncio.run(reopen())
    assert stats() == kept
