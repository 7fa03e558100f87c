"""Segments and the objects they name, in SQLite: plain functions of a connection.

Segments are keyed by (flow_id, inclusive start ns). Because segments of a flow never overlap,
the start is unique and totally ordered, so:
- a timerange page is one index range scan (``catalog.sqlite.segment_reads``);
- the only existing segment that can overlap a new one is the last one starting at or before its
  end, so the overlap check is one index probe per segment.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from catalog import registration, segment_json, segment_window
from catalog.errors import Invalid
from catalog.facade import Span
from catalog.located import Located
from catalog.paging import decode_key, encode_key
from catalog.sqlite import events, objects, page_json
from catalog.sqlite.listing import Where, add_access_filter, add_tag_filters

# the reads are the Store's segment operations too (catalog/sqlite/__init__.py names this module)
from catalog.sqlite.playlist_run import playlist_run as playlist_run
from catalog.sqlite.segment_reads import NO_LOCATIONS as NO_LOCATIONS
from catalog.sqlite.segment_reads import SEGMENT_COLUMNS as SEGMENT_COLUMNS
from catalog.sqlite.segment_reads import query_segments as query_segments
from catalog.sqlite.segment_reads import segment_locations as segment_locations
from catalog.sqlite.segment_reads import segment_page_json as segment_page_json
from catalog.sqlite.segment_reads import window_where
from catalog.store import (
    AccessFilter,
    DeleteResult,
    Instance,
    ObjectPage,
    ObjectRecord,
    SegmentFailure,
    TagFilter,
)
from catalog.timing import TimeRange


# -- registration -------------------------------------------------------------------------------------
def _object_row(conn: sqlite3.Connection, object_id: str) -> registration.ObjectRow | None:
    row = conn.execute(
        "SELECT timerange, key_frame_count, init_object_id, is_init, registered, allocated_flow_id "
        "FROM objects WHERE id=?",
        (object_id,),
    ).fetchone()
    return registration.ObjectRow(row[0], row[1], row[2], bool(row[3]), bool(row[4]), row[5]) if row else None


def _overlap(conn: sqlite3.Connection, flow_id: str, tr: TimeRange) -> str | None:
    """The only segment that can overlap ``tr``: the last one starting at or before its end."""
    prev = conn.execute(
        "SELECT ts_hi, timerange FROM segments WHERE flow_id=? AND ts_lo<=? ORDER BY ts_lo DESC LIMIT 1",
        (flow_id, tr.hi),
    ).fetchone()
    return prev[1] if prev is not None and prev[0] >= tr.lo else None


_INSERT_SEGMENT = (
    "INSERT INTO segments (flow_id, ts_lo, ts_hi, timerange, object_id, ts_offset, last_duration, "
    "sample_offset, sample_count, object_timerange, key_frame_count, init_object_id, created_ns, "
    "home_storage_id, home_key, page_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
)
INSERT_HOMED_SEGMENT = _INSERT_SEGMENT + (  # the object's first controlled instance (see migration 4)
    "(SELECT storage_id FROM object_instances WHERE object_id=? ORDER BY created_ns LIMIT 1), "
    "(SELECT key FROM object_instances WHERE object_id=? ORDER BY created_ns LIMIT 1), "
    # the page fragment (migration 8), kept when the object is simple
    f"CASE WHEN {page_json.OBJECT_IS_SIMPLE.format(object_id='?')} THEN ? END)"
)
INSERT_HOMELESS_SEGMENT = _INSERT_SEGMENT + "NULL, NULL, ?)"


def add_segments(
    conn: sqlite3.Connection,
    flow_id: str,
    segments: Sequence[dict[str, Any]],
    sizes: Mapping[str, int] | None = None,
    require_known: bool = False,
    digests: Mapping[str, str] | None = None,
) -> list[SegmentFailure]:
    """Registers segments in order; each failure is reported and processing continues."""
    flow = objects.writable_flow(conn, flow_id)
    init_segments = bool((flow.get("essence_parameters") or {}).get("init_segments"))
    now = time.time_ns()
    failures: list[SegmentFailure] = []
    lo_min: int | None = None
    hi_max: int | None = None
    end_max: int | None = None
    end_incl: int | None = None
    maxdur = 0
    mindur: int | None = None
    cut = 0  # segments that are not whole objects at flow time (migration 9)
    added = 0
    registered: list[dict[str, Any]] = []
    # the latest inclusive end among the flow's segments (an upper bound, kept by every write): a
    # segment starting after it and after every one added so far overlaps nothing, so the common
    # append skips the probe; race-free, as the writer holds the write lock for the whole batch
    stored_hi = conn.execute("SELECT seg_hi_max FROM flows WHERE id=?", (flow_id,)).fetchone()[0]

    def find_overlap(tr: TimeRange) -> str | None:
        lo = tr.lo
        if lo is not None and (stored_hi is None or lo > stored_hi) and (hi_max is None or lo > hi_max):
            return None
        return _overlap(conn, flow_id, tr)

    for index, seg in enumerate(segments):
        try:
            checked = registration.check_segment(
                flow_id,
                init_segments,
                seg,
                require_known,
                lambda object_id: _object_row(conn, object_id),
                find_overlap,
            )
        except (Invalid, ValueError) as exc:
            failures.append(SegmentFailure(index, seg.get("object_id", ""), seg.get("timerange"), str(exc)))
            continue
        tr = checked.timerange
        object_id = seg["object_id"]
        # each timerange formatted once (it was five times per segment): most objects' own timerange
        # is the segment's
        tr_text = str(tr)
        otr_text = tr_text if checked.object_timerange == tr else str(checked.object_timerange)
        if checked.new_init_object:
            conn.execute(
                "INSERT INTO objects (id, first_flow_id, is_init, created_ns) VALUES (?, ?, 1, ?) "
                "ON CONFLICT (id) DO UPDATE SET first_flow_id=excluded.first_flow_id, is_init=1",
                (seg["init_object_id"], flow_id, now),
            )
            objects.mark_registered(conn, seg["init_object_id"], sizes or {}, digests)
        if checked.first_registration:
            conn.execute(
                "UPDATE objects SET first_flow_id=?, timerange=?, key_frame_count=?, init_object_id=? WHERE id=?",
                (
                    flow_id,
                    otr_text,
                    seg.get("key_frame_count"),
                    seg.get("init_object_id"),
                    object_id,
                ),
            )
            objects.mark_registered(conn, object_id, sizes or {}, digests)
        if checked.new_object:
            conn.execute(
                "INSERT INTO objects (id, first_flow_id, timerange, key_frame_count, init_object_id, "
                "is_init, created_ns) VALUES (?, ?, ?, ?, ?, 0, ?)",
                (
                    object_id,
                    flow_id,
                    otr_text,
                    seg.get("key_frame_count"),
                    seg.get("init_object_id"),
                    now,
                ),
            )
            conn.executemany(
                "INSERT INTO object_urls (object_id, label, url, position) VALUES (?, ?, ?, ?)",
                [(object_id, u["label"], u["url"], i) for i, u in enumerate(seg.get("get_urls", []))],
            )
        ts_offset = checked.ts_offset if "ts_offset" in seg else None
        sample_offset, sample_count = seg.get("sample_offset"), seg.get("sample_count")
        # as playlist_run.WHOLE decides it (any doubt counts as cut: the playlist then checks each row)
        if sample_count is not None or sample_offset or ts_offset or otr_text != tr_text:
            cut += 1
        row = (
            flow_id,
            tr.lo,
            tr.hi,
            tr_text,
            object_id,
            ts_offset,
            checked.last_duration,
            sample_offset,
            sample_count,
            otr_text,
            checked.key_frame_count,
            checked.init_object_id,
            now,
        )
        # the page fragment, unless the segment has an init object (page_json.py)
        frag = None if checked.init_object_id is not None else segment_json.fragment(_members(row))
        if checked.new_object:  # no row before this request, so no controlled instance: no home to look up
            conn.execute(INSERT_HOMELESS_SEGMENT, (*row, None if seg.get("get_urls") else frag))
        else:
            conn.execute(INSERT_HOMED_SEGMENT, (*row, object_id, object_id, object_id, object_id, frag))
        added += 1
        registered.append(registration.event_segment(seg, tr, checked, tr_text, otr_text))
        lo, hi = registration.bounds(tr)
        lo_min = lo if lo_min is None else min(lo_min, lo)
        if hi_max is None or hi > hi_max:
            hi_max, end_max, end_incl = hi, tr.end, int(tr.include_end)
        maxdur = max(maxdur, hi - lo)
        mindur = hi - lo if mindur is None else min(mindur, hi - lo)
    if added:
        _widen_stats(conn, flow_id, added, lo_min, hi_max, end_max, end_incl, maxdur, now, mindur, cut)
        events.emit(
            conn,
            "flows/segments_added",
            {"flow_id": flow_id, "segments": registered},
            flow_id=flow_id,
            source_id=flow["source_id"],
        )
    return failures


def _members(row: tuple[Any, ...]) -> dict[str, Any]:
    """``segment_json.stored_members`` of a row of ``_INSERT_SEGMENT``'s first values."""
    return segment_json.stored_members(row[4], row[3], row[5], row[6], row[7], row[8], row[10])


def _widen_stats(
    conn: sqlite3.Connection,
    flow_id: str,
    added: int,
    lo_min: int | None,
    hi_max: int | None,
    end_max: int | None,
    end_incl: int | None,
    maxdur: int,
    now: int,
    mindur: int | None,
    cut: int,
) -> None:
    conn.execute(
        "UPDATE flows SET seg_count = seg_count + ?, seg_added_total = seg_added_total + ?, "
        "seg_lo_min = min(coalesce(seg_lo_min, ?), ?), "
        "seg_end_max = CASE WHEN seg_hi_max IS NULL OR ? > seg_hi_max THEN ? ELSE seg_end_max END, "
        "seg_end_incl = CASE WHEN seg_hi_max IS NULL OR ? > seg_hi_max THEN ? ELSE seg_end_incl END, "
        "seg_hi_max = max(coalesce(seg_hi_max, ?), ?), "
        "seg_maxdur = max(seg_maxdur, ?), segments_updated_ns = ?, "
        "seg_mindur = min(coalesce(seg_mindur, ?), ?), seg_cut_added = seg_cut_added + ? WHERE id = ?",
        (
            *(added, added, lo_min, lo_min, hi_max, end_max, hi_max, end_incl, hi_max, hi_max, maxdur, now),
            *(mindur, mindur, cut, flow_id),
        ),
    )


# -- deletion -----------------------------------------------------------------------------------------------
def _recompute_stats(conn: sqlite3.Connection, flow_id: str, removed: int, now: int) -> None:
    first = conn.execute("SELECT ts_lo FROM segments WHERE flow_id=? ORDER BY ts_lo LIMIT 1", (flow_id,)).fetchone()
    last = conn.execute(
        "SELECT ts_hi, timerange FROM segments WHERE flow_id=? ORDER BY ts_lo DESC LIMIT 1", (flow_id,)
    ).fetchone()
    end_max = end_incl = None
    if last is not None:
        last_tr = TimeRange.parse(last[1])
        end_max, end_incl = last_tr.end, int(last_tr.include_end)
    conn.execute(
        "UPDATE flows SET seg_count = seg_count - ?, seg_lo_min = ?, seg_hi_max = ?, seg_end_max = ?, "
        "seg_end_incl = ?, segments_updated_ns = ? WHERE id = ?",
        (removed, first[0] if first else None, last[0] if last else None, end_max, end_incl, now, flow_id),
    )


def collect_orphans(conn: sqlite3.Connection, object_ids: Sequence[str]) -> tuple[list[str], list[Instance]]:
    """Deletes objects no segment references (and init objects no media object uses).

    Returns their ids and their controlled instances, whose bytes the caller deletes after commit.
    """
    orphans: list[str] = []
    init_candidates: set[str] = set()
    for object_id in dict.fromkeys(object_ids):
        if conn.execute("SELECT 1 FROM segments WHERE object_id=? LIMIT 1", (object_id,)).fetchone():
            continue
        row = conn.execute("SELECT init_object_id FROM objects WHERE id=?", (object_id,)).fetchone()
        if row and row[0]:
            init_candidates.add(row[0])
        orphans.append(object_id)
    for init_id in init_candidates:
        if not conn.execute(
            "SELECT 1 FROM objects WHERE init_object_id=? AND id NOT IN (SELECT value FROM json_each(?)) LIMIT 1",
            (init_id, _json_list(orphans)),
        ).fetchone():
            orphans.append(init_id)
    gone: list[Instance] = []
    for object_id in orphans:
        conn.execute("DELETE FROM objects WHERE id=?", (object_id,))
        conn.execute("DELETE FROM object_urls WHERE object_id=?", (object_id,))
        gone.extend(
            Instance(storage_id, key)
            for storage_id, key in conn.execute(
                "DELETE FROM object_instances WHERE object_id=? RETURNING storage_id, key", (object_id,)
            ).fetchall()
        )
    return orphans, gone


def _json_list(values: Sequence[str]) -> str:
    return orjson.dumps(list(values)).decode()


def delete_segments(
    conn: sqlite3.Connection, flow_id: str, timerange: TimeRange, object_id: str | None, check_flow: bool = True
) -> DeleteResult:
    """Deletes the segments wholly inside ``timerange`` (optionally only those naming ``object_id``)."""
    if check_flow:
        objects.writable_flow(conn, flow_id)
    window = segment_window.inside(timerange)
    if window is None:
        return DeleteResult(TimeRange.never(), 0, [])
    where = window_where(flow_id, window)
    if object_id is not None:
        where.add("object_id=?", object_id)
    rows = conn.execute(
        f"DELETE FROM segments WHERE {where.sql()} RETURNING ts_lo, timerange, object_id", where.params
    ).fetchall()
    if not rows:
        return DeleteResult(TimeRange.never(), 0, [])
    rows.sort()
    envelope = TimeRange.parse(rows[0][1]).envelope(TimeRange.parse(rows[-1][1]))
    now = time.time_ns()
    _recompute_stats(conn, flow_id, len(rows), now)
    orphans, gone = collect_orphans(conn, [row[2] for row in rows])
    events.emit(conn, "flows/segments_deleted", {"flow_id": flow_id, "timerange": str(envelope)}, flow_id=flow_id)
    return DeleteResult(envelope, len(rows), orphans, gone)


# -- objects ---------------------------------------------------------------------------------------------------
def get_object(
    conn: sqlite3.Connection,
    object_id: str,
    page: str | None,
    limit: int,
    flow_tags: TagFilter | None,
    access: AccessFilter | None = None,
) -> ObjectPage | None:
    row = conn.execute(
        "SELECT first_flow_id, timerange, key_frame_count, init_object_id, is_init FROM objects "
        "WHERE id=? AND registered=1",
        (object_id,),
    ).fetchone()
    if row is None:
        return None
    first_flow, otr, kfc, init_id, is_init = row
    where = Where()
    if is_init:  # init objects are referenced through the media objects that use them
        where.add("s.object_id IN (SELECT id FROM objects WHERE init_object_id=?)", object_id)
    else:
        where.add("s.object_id=?", object_id)
    if flow_tags is not None:
        add_tag_filters(where, "flow", "s.flow_id", flow_tags)
    add_access_filter(where, "flow", "s.flow_id", access)
    if page is not None:
        (after,) = decode_key("object-flows", page, 1, (str,))
        where.add("s.flow_id > ?", after)
    flows = [
        r[0]
        for r in conn.execute(
            f"SELECT DISTINCT s.flow_id FROM segments s WHERE {where.sql()} ORDER BY s.flow_id LIMIT ?",
            (*where.params, limit + 1),
        )
    ]
    next_key = None
    if len(flows) > limit:
        flows = flows[:limit]
        next_key = encode_key("object-flows", flows[-1])
    still_referenced = (
        first_flow is not None
        and conn.execute(
            "SELECT 1 FROM segments WHERE flow_id=? AND object_id=? LIMIT 1", (first_flow, object_id)
        ).fetchone()
        is not None
    )
    located = Located.lookup(objects, conn, [object_id, init_id])
    record = ObjectRecord(
        object_id=object_id,
        referenced_by_flows=flows,
        first_referenced_by_flow=first_flow if (still_referenced or is_init) else None,
        timerange=TimeRange.parse(otr) if otr else None,
        key_frame_count=kfc,
        init_object_id=init_id,
        is_init=bool(is_init),
        **located.fields(object_id, init_id),
    )
    return ObjectPage(record, next_key)


def first_inside(conn: sqlite3.Connection, flow_id: str, tr: TimeRange, limit: int) -> tuple[list[Span], bool]:
    window = segment_window.inside(tr)
    if window is None:
        return [], False
    where = window_where(flow_id, window)
    rows = conn.execute(
        f"SELECT ts_lo, ts_hi FROM segments WHERE {where.sql()} ORDER BY ts_lo LIMIT ?", (*where.params, limit + 1)
    ).fetchall()
    return [Span(lo, hi) for lo, hi in rows[:limit]], len(rows) > limit
