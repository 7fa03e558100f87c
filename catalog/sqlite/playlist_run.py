"""A VOD playlist's common case (``PlaylistRun``) read from SQLite in one scan of the window.

A day is 43,200 rows, so what costs is work per row: every row becoming a Python tuple, or an
aggregate step (a function call inside SQLite) per column. So the usual window (every segment as
long as the first) is one statement whose per-row work is a few comparisons and one string append:
the rows that are like the first (same length, backend and init object, whole objects at flow
time) are counted and their names concatenated, in time order; they are the whole window, with no
gap, exactly when their lengths add up to the window's span. Segments never overlap, so an
excluded row or a gap both leave the sum short. What the flow's statistics already say of every
segment (all as long, none cut: migration 9) is not compared row by row. Only a window of mixed
lengths (or a name holding the separator) reads the general way: one aggregate, then its columns.
"""

from __future__ import annotations

import sqlite3
from operator import itemgetter
from typing import Any

from catalog import segment_window
from catalog.segment_window import SegmentWindow
from catalog.sqlite.segment_reads import window_where
from catalog.store import PlaylistRun
from catalog.timing import TimeRange

# whole objects at flow time: no sample cut, no offset, the object's timeline the segment's own
WHOLE = (
    "sample_count IS NULL AND IFNULL(sample_offset, 0) = 0 AND IFNULL(ts_offset, 0) = 0 "
    "AND (object_timerange IS NULL OR IFNULL(object_timerange = timerange, 0))"
)
_PLAIN = f"{WHOLE} AND IFNULL(home_storage_id, '') <> ''"  # ... with a controlled copy
# the names of the rows like the first, in time order (3.44's group_concat(... ORDER BY) says so
# outright; before it, the ordered subquery is what every SQLite does)
_ORDERED = sqlite3.sqlite_version_info >= (3, 44, 0)
SEPARATOR = "\n"  # a literal in the SQL: char(10) costs a call per row


def playlist_run(conn: sqlite3.Connection, flow_id: str, tr: TimeRange | None, keys: bool) -> PlaylistRun | None:
    stats = conn.execute(
        "SELECT seg_maxdur, seg_lo_min, seg_hi_max, seg_cut_added, seg_mindur = seg_maxdur FROM flows WHERE id=?",
        (flow_id,),
    ).fetchone()
    if stats is None:
        return None
    longest, lo_min, hi_max, cut, uniform = stats
    bounds = segment_window.overlapping(tr, longest or 0)
    if bounds is None or lo_min is None:
        return None
    where = window_where(flow_id, _within(bounds, lo_min, hi_max))
    window, params = where.sql(), where.params
    first = conn.execute(
        f"SELECT ts_lo, ts_hi, home_storage_id, init_object_id FROM segments WHERE {window} ORDER BY ts_lo LIMIT 1",
        params,
    ).fetchone()
    if first is None or not first[2]:
        return None
    start, length, storage_id, init_id = first[0], first[1] + 1 - first[0], first[2], first[3]
    last = f"SELECT ts_hi + 1 FROM segments WHERE {window} ORDER BY ts_lo DESC LIMIT 1"
    end = conn.execute(last, params).fetchone()[0]
    name = "home_key" if keys else "object_id"
    # what the flow's statistics (migration 9) already say of every segment is not checked per row
    like_first = f"{window} AND home_storage_id = ? AND init_object_id IS ?"
    like = [*params, storage_id, init_id]
    if not uniform:
        like_first += " AND ts_hi - ts_lo = ?"
        like.append(length - 1)
    if cut:
        like_first += f" AND {WHOLE}"
    if _ORDERED:
        sql = f"SELECT COUNT(*), group_concat({name}, '{SEPARATOR}' ORDER BY ts_lo) FROM segments WHERE {like_first}"
    else:
        sql = (
            f"SELECT COUNT(*), group_concat({name}, '{SEPARATOR}') "
            f"FROM (SELECT {name} FROM segments WHERE {like_first} ORDER BY ts_lo)"
        )
    count, joined = conn.execute(sql, like).fetchone()
    if count * length == end - start:  # every row of the window, no gap
        names = joined.split(SEPARATOR)
        if len(names) == count:  # (a name holding the separator reads the general way)
            return PlaylistRun(start, [length] * count, init_id, storage_id, names)
    return _general(conn, window, params, name)


def _within(window: SegmentWindow, lo_min: int, hi_max: int) -> SegmentWindow:
    """``window`` without the bounds every segment of the flow meets (all start at or after
    ``lo_min`` and end at or before ``hi_max``): a whole day is then a scan of the flow's rows
    with nothing compared per row."""
    return SegmentWindow(
        lo_min=None if window.lo_min is None or window.lo_min <= lo_min else window.lo_min,
        lo_max=None if window.lo_max is None or window.lo_max >= hi_max else window.lo_max,
        hi_min=None if window.hi_min is None or window.hi_min <= lo_min else window.hi_min,
        hi_max=None if window.hi_max is None or window.hi_max >= hi_max else window.hi_max,
    )


def _general(conn: sqlite3.Connection, window: str, params: list[Any], name: str) -> PlaylistRun | None:
    """Any run, of mixed lengths too: one aggregate over the window checks it, then its columns."""
    count, odd, stores, store, inits, init_id, first, end, total, shortest, longest = conn.execute(
        f"SELECT COUNT(*), SUM(NOT ({_PLAIN})), MIN(home_storage_id) = MAX(home_storage_id), MIN(home_storage_id), "
        "COUNT(init_object_id) = 0 "
        "OR (COUNT(init_object_id) = COUNT(*) AND MIN(init_object_id) = MAX(init_object_id)), "
        "MIN(init_object_id), MIN(ts_lo), MAX(ts_hi) + 1, SUM(ts_hi + 1 - ts_lo), MIN(ts_hi + 1 - ts_lo), "
        f"MAX(ts_hi + 1 - ts_lo) FROM segments WHERE {window}",
        params,
    ).fetchone()
    if not count or odd or not stores or not inits or total != end - first:
        return None
    if shortest == longest:
        rows = conn.execute(f"SELECT {name} FROM segments WHERE {window} ORDER BY ts_lo", params).fetchall()
        return PlaylistRun(first, [shortest] * count, init_id, store, list(map(itemgetter(0), rows)))
    rows = conn.execute(
        f"SELECT {name}, ts_hi + 1 - ts_lo FROM segments WHERE {window} ORDER BY ts_lo", params
    ).fetchall()
    return PlaylistRun(first, list(map(itemgetter(1), rows)), init_id, store, list(map(itemgetter(0), rows)))
