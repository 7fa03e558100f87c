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
from catalog.paging import encode_key, segment_cursor
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


def _page_rows(
    conn: sqlite3.Connection, flow_id: str, query: SegmentQuery, page: str | None, limit: int, columns: str, lo: int
) -> tuple[list[Row], str | None]:
    """The page's rows (``columns``, ts_lo at index ``lo``) and the key of the next page."""
    after = segment_cursor(page)
    where = _overlapping(conn, flow_id, query.timerange)
    if where is None:
        return [], None
    if query.object_id is not None:
        where.add("object_id=?", query.object_id)
    if after is not None:
        where.add("ts_lo < ?" if query.reverse else "ts_lo > ?", after)
    order = "DESC" if query.reverse else "ASC"
    rows = conn.execute(
        f"SELECT {columns} FROM segments WHERE {where.sql()} ORDER BY ts_lo {order} LIMIT ?",
        (*where.params, limit + 1),
    ).fetchall()
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_key("segments", rows[-1][lo])
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


# the stored fragment (NULL unless simple, see page_json.py), home instance, ts_lo
_RENDERED_COLUMNS = "page_json, home_storage_id, home_key, ts_lo"


def segment_page_json(
    conn: sqlite3.Connection, flow_id: str, query: SegmentQuery, page: str | None, limit: int
) -> RenderedPage | None:
    """The page's stored fragments (``page_json``); None unless every row is simple."""
    rows, next_key = _page_rows(conn, flow_id, query, page, limit, _RENDERED_COLUMNS, 3)
    fragments = [row[0] for row in rows]
    if None in fragments:
        return None
    return RenderedPage(
        fragments,
        [Instance(row[1], row[2]) if row[1] else None for row in rows],
        segment_json.timerange_of(fragments[0]) if rows else None,
        segment_json.timerange_of(fragments[-1]) if rows else None,
        next_key,
    )


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
