"""The wall clock of live MPDs (``dash.clock_offset``): DASH players place the live edge by it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from streaming.playback.dash import TAI_OFFSET_S, clock_offset
from streaming.playback.mpd import DashSegment, Representation, mpd

NS = 10**9
NOW_UTC = 1_796_000_000  # seconds
NOW_TAI = (NOW_UTC + TAI_OFFSET_S) * NS


def rep(*spans: tuple[int, int]) -> Representation:
    return Representation("v", "video", 1, [DashSegment(lo * NS, hi * NS, f"s{lo}.m4s") for lo, hi in spans])


def flow(created_utc_s: int, start_s: int) -> dict:
    stamp = f"{datetime.fromtimestamp(created_utc_s, UTC):%Y-%m-%dT%H:%M:%S}.5Z"
    return {"id": "f", "created": stamp, "timerange": f"[{start_s}:0_"}


def test_a_flow_on_the_wall_clock_keeps_the_tai_mapping():
    edge = NOW_TAI // NS - 2  # a live encoder's segments, stamped with TAI now
    assert clock_offset([flow(NOW_UTC - 60, edge - 60)], [rep((edge - 1, edge))], NOW_TAI) == 0


def test_a_file_being_ingested_runs_from_its_creation_held_back_to_its_last_segment():
    # created 5 s ago at media time 0 (plus the .5 s of ``created``): the clock says 4.5 s now, ahead of no segment
    offset = clock_offset([flow(NOW_UTC - 5, 0)], [rep((0, 1), (1, 6))], NOW_TAI)
    assert offset == NOW_UTC - 5 + TAI_OFFSET_S + 1  # whole seconds, rounded towards the past
    assert NOW_TAI // NS - offset <= 6
    # the feed falls behind (only 2 s registered): the clock waits at the last segment
    assert NOW_TAI // NS - clock_offset([flow(NOW_UTC - 5, 0)], [rep((0, 1), (1, 2))], NOW_TAI) <= 2


def test_the_offset_moves_the_availability_start_and_nothing_else():
    text = mpd([rep((0, 1))], live=True, now_tai_ns=NOW_TAI, clock_offset_s=1000)
    assert re.search(r'availabilityStartTime="1970-01-01T00:16:03Z"', text), text  # epoch - 37 s + 1000 s
    assert 'availabilityStartTime="1969-12-31T23:59:23Z"' in mpd([rep((0, 1))], live=True, now_tai_ns=NOW_TAI)
