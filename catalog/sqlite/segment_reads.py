"""Reading segments in SQLite: timerange pages (as records or rendered JSON) and playlist windows.

Segments are keyed by (flow_id, inclusive start ns). Because segments of a flow never overlap,
the start is unique and totally ordered, so a timerange page is one index range scan: ``ts_lo``
between ``QL - maxdur`` and ``QH``. Writes are in ``catalog.sqlite.segments``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from catalog import segment_json, segment_window
from catalog.located import Located
from catalog.paging import segment_cursor, segment_key
from catalog.segment_json import RenderedPage
from catalog.segment_window import SegmentWindow
from catalog.sqlite import objects
from catalog.sqlite.listing import Row, Where, add_window
from catalog.store import (
    Instance,
    Segment,
    SegmentLocation,
    SegmentQuery,
)
from catalog.timing import TimeRange

SEGMENT_COLUMNS = (
    "timerange, object_id, ts_lo, ts_hi, ts_offset, last_duration, sample_offset, sample_count, "
    "object_timerange, key_frame_count, init_object_id"
)
"""The stored fields of ``Segment``, in its field order: a row plus the location fields is a Segment."""
# What a page row says about its object's locations beyond the row itself: 1 = it has a controlled
# instance other than its home (the first one, kept in the row), 2 = it has client URLs. Each is one
# index probe per row in SQLite; the page then looks up the locations of flagged objects only,
# instead of two IN look-ups over every object of the page.
_MORE = (
    "(home_storage_id IS NOT NULL AND EXISTS (SELECT 1 FROM object_instances i "
    "WHERE i.object_id = segments.object_id AND i.storage_id != segments.home_storage_id)) "
    "| (EXISTS (SELECT 1 FROM object_urls u WHERE u.object_id = segments.object_id) << 1)"
)
_PAGE_COLUMNS = f"{SEGMENT_COLUMNS}, home_storage_id, home_key, {_MORE}"
NO_LOCATIONS = ((), (), (), ())  # Segment's location fields of an object with no instance and no URL


def _longest(conn: sqlite3.Connection, flow_id: str) -> int | None:
    """The flow's longest segment (ns), None when there is no such flow."""
    row = conn.execute("SELECT seg_maxdur FROM flows WHERE id=?", (flow_id,)).fetchone()
    return int(row[0] or 0) if row else None


def _overlapping(conn: sqlite3.Connection, flow_id: str, tr: TimeRange | None) -> Where | None:
    """Rows of the flow's segments overlapping ``tr``: one primary-key range scan; None when there are none."""
    longest = _longest(conn, flow_id)
    window = segment_window.overlapping(tr, longest or 0)
    return None if longest is None or window is None else window_where(flow_id, window)


def window_where(flow_id: str, window: SegmentWindow) -> Where:
    where = Where()
    where.add("flow_id=?", flow_id)
    add_window(where, window)
    return where


def _page_where(flow_id: str, query: SegmentQuery, page: str | None) -> Where | None:
    """The rows a page is taken from (in ts_lo order, the query's direction); None when there are none."""
    after = segment_cursor(page)
    window = segment_window.overlapping(query.timerange, 0)
    if window is None:
        return None
    where = Where()
    where.add("flow_id=?", flow_id)
    if window.lo_min is not None:
        # ``_overlapping``'s bound, QL - the flow's longest segment, read by the page's own statement
        # (a statement fewer): past the int64 range the difference becomes a REAL below every start,
        # as segment_window drops the bound there; no such flow makes it NULL, so no rows
        where.add("ts_lo >= ? - (SELECT seg_maxdur FROM flows WHERE id=?)", window.lo_min, flow_id)
    add_window(where, SegmentWindow(lo_max=window.lo_max, hi_min=window.hi_min, hi_max=window.hi_max))
    if query.object_id is not None:
        where.add("object_id=?", query.object_id)
    if after is not None:
        where.add("ts_lo < ?" if query.reverse else "ts_lo > ?", after)
    return where


def _page_rows(
    conn: sqlite3.Connection, flow_id: str, query: SegmentQuery, page: str | None, limit: int, columns: str, lo: int
) -> tuple[list[Row], str | None]:
    """The page's rows (``columns``, ts_lo at index ``lo``) and the key of the next page."""
    where = _page_where(flow_id, query, page)
    if where is None:
        return [], None
    order = "DESC" if query.reverse else "ASC"
    rows = conn.execute(
        f"SELECT {columns} FROM segments WHERE {where.sql()} ORDER BY ts_lo {order} LIMIT ?",
        (*where.params, limit + 1),
    ).fetchall()
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, segment_key(rows[-1][lo])
    return rows, None


def query_segments(
    conn: sqlite3.Connection, flow_id: str, query: SegmentQuery, page: str | None, limit: int
) -> tuple[list[Segment], str | None]:
    rows, next_key = _page_rows(conn, flow_id, query, page, limit, _PAGE_COLUMNS, 2)
    wanted = [row[1] for row in rows if row[13]] + [row[10] for row in rows if row[10]]
    make = Segment._make
    if not wanted:  # the common page: each row's home instance (if any) is all there is
        return [
            make(row[:11] + ((), (Instance(row[11], row[12]),), (), ()) if row[11] else row[:11] + NO_LOCATIONS)
            for row in rows
        ], next_key
    located = Located.lookup(objects, conn, wanted)
    return [make(row[:11] + _locations(row, located)) for row in rows], next_key


# One row for the whole page (and the next page's first row): the stored fragments (NULL unless
# simple, see page_json.py) joined by newlines, which JSON text never holds unescaped, and the home
# instances when they all are on one backend. One step of one statement instead of a Python row
# per segment (its columns, and the GIL released and taken back around each step) was ~15 us of a
# 100-segment page. The aggregates take the rows in the order the subquery scans the primary key
# (SQLite 3.44 lets the query state that order: ORDER BY inside the aggregate).
_IN_ORDER = sqlite3.sqlite_version_info >= (3, 44)


def _rendered_sql(where: Where, reverse: bool) -> str:
    order = "DESC" if reverse else "ASC"
    within = f" ORDER BY ts_lo {order}" if _IN_ORDER else ""
    return (
        f"SELECT CAST(group_concat(page_json, '\n'{within}) AS BLOB), count(*), count(page_json), "
        f"count(home_storage_id), min(home_storage_id), max(home_storage_id), "
        f"group_concat(home_key, '\n'{within}) FROM ("
        f"SELECT page_json, home_storage_id, home_key, ts_lo FROM segments WHERE {where.sql()} "
        f"ORDER BY ts_lo {order} LIMIT ?)"
    )


# flows whose last page had home instances: read row by row, which is cheaper for them (~15 us a
# page, the keys not concatenated and split); a hint only, both reads answer the same
_HOMED: dict[str, bool] = {}


def segment_page_json(
    conn: sqlite3.Connection, flow_id: str, query: SegmentQuery, page: str | None, limit: int
) -> RenderedPage | None:
    """The page's stored fragments (``page_json``); None unless every row is simple."""
    where = _page_where(flow_id, query, page)
    if where is None:
        return RenderedPage([], [], None, None, None)
    read = _rendered_rows if _HOMED.get(flow_id) else _rendered_aggregate
    rendered, homed = read(conn, where, query.reverse, limit)
    if len(_HOMED) > 10_000:
        _HOMED.clear()
    _HOMED[flow_id] = homed
    return rendered


def _rendered_aggregate(
    conn: sqlite3.Connection, where: Where, reverse: bool, limit: int
) -> tuple[RenderedPage | None, bool]:
    """The page (and whether it has home instances) from one row of aggregates."""
    params = (*where.params, limit + 1)
    joined, count, simple, homed, store, last_store, keys = conn.execute(
        _rendered_sql(where, reverse), params
    ).fetchone()
    if not count:
        return RenderedPage([], [], None, None, None), False
    if simple < count:  # (the next page's first row may be the one: the Segment path then decides)
        return None, bool(homed)
    fragments: list[bytes] = joined.split(b"\n")
    homes: list[Instance | None]
    if not homed:
        homes = [None] * count
    elif homed == count and store == last_store and len(split := keys.split("\n")) == count:
        homes = [Instance(store, key) for key in split]  # (a key holding a newline splits into more)
    else:  # homes on several backends, or some segments without one
        homes = [
            Instance(storage_id, key) if storage_id else None
            for storage_id, key in conn.execute(
                f"SELECT home_storage_id, home_key FROM segments WHERE {where.sql()} "
                f"ORDER BY ts_lo {'DESC' if reverse else 'ASC'} LIMIT ?",
                params,
            )
        ]
    next_key = None
    if count > limit:
        del fragments[limit:], homes[limit:]
        # the key is the last row's ts_lo: the start of its (stored, canonical) timerange
        start = TimeRange.parse(segment_json.timerange_of(fragments[-1])).lo
        assert start is not None  # a stored segment starts somewhere (its ts_lo column)
        next_key = segment_key(start)
    return _rendered(fragments, homes, next_key), bool(homed)


def _rendered_rows(
    conn: sqlite3.Connection, where: Where, reverse: bool, limit: int
) -> tuple[RenderedPage | None, bool]:
    """``_rendered_aggregate`` read row by row."""
    rows = conn.execute(
        f"SELECT page_json, home_storage_id, home_key, ts_lo FROM segments WHERE {where.sql()} "
        f"ORDER BY ts_lo {'DESC' if reverse else 'ASC'} LIMIT ?",
        (*where.params, limit + 1),
    ).fetchall()
    homed = any(row[1] for row in rows)
    if not rows:
        return RenderedPage([], [], None, None, None), homed
    fragments = [row[0] for row in rows]
    if None in fragments:
        return None, homed
    next_key = None
    if len(rows) > limit:
        del rows[limit:], fragments[limit:]
        next_key = segment_key(rows[-1][3])
    return _rendered(fragments, [Instance(row[1], row[2]) if row[1] else None for row in rows], next_key), homed


def _rendered(fragments: list[bytes], homes: list[Instance | None], next_key: str | None) -> RenderedPage:
    first, last = segment_json.timerange_of(fragments[0]), segment_json.timerange_of(fragments[-1])
    return RenderedPage(fragments, homes, first, last, next_key)


def _locations(row: Row, located: Located) -> tuple[Any, ...]:
    """Segment's location fields of a page row, from the look-up where the row's flag asks for it."""
    if row[13]:
        media: tuple[Any, ...] = located.tail(row[1], None)[:2]
    else:
        media = ((), (Instance(row[11], row[12]),) if row[11] else ())
    if row[10] is None:
        return (*media, (), ())
    init = located.of(row[10])
    return (*media, init.instances, init.uncontrolled_urls)


def segment_locations(
    conn: sqlite3.Connection, flow_id: str, tr: TimeRange | None, limit: int | None, reverse: bool
) -> list[SegmentLocation]:
    """Segments in time order with their preferred controlled instance: one index range scan, no join."""
    where = _overlapping(conn, flow_id, tr)
    if where is None:
        return []
    sql = (
        f"SELECT ts_lo, ts_hi, object_id, init_object_id, home_storage_id, home_key, timerange, ts_offset, "
        f"object_timerange, sample_offset, sample_count FROM segments "
        f"WHERE {where.sql()} ORDER BY ts_lo {'DESC' if reverse else 'ASC'}"
    )
    params = list(where.params)
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = conn.execute(sql, params).fetchall()
    if reverse:
        rows.reverse()
    homeless = [row[2] for row in rows if row[4] is None]
    external = {oid: urls[0][0] for oid, urls in objects.urls_of(conn, homeless).items()} if homeless else {}
    # tuple.__new__ straight from the row: a named tuple's own __new__ is a Python call, twice per
    # row, and a day-long playlist reads 43,200 rows
    new, none = tuple.__new__, None
    return [
        new(
            SegmentLocation,
            (
                lo,
                hi,
                object_id,
                init_id,
                (new(Instance, (storage_id, key)),) if storage_id else (),
                external.get(object_id) if external else none,
                tr_text,
                offset,
                object_tr,
                first,
                count,
            ),
        )
        for lo, hi, object_id, init_id, storage_id, key, tr_text, offset, object_tr, first, count in rows
    ]
