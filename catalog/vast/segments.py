"""Segments and the objects they name, in VAST DB: plain functions of one transaction.

A page is a windowed select on (flow_id, ts_lo) (``windows.py``) plus one ``isin`` select each for
the page's controlled instances and client URLs. A registration batch probes the existing segments
once for its whole envelope and checks overlaps here; the segment rows, object changes, flow
statistics and the outbox event are written in the same transaction.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ibis import _

from catalog import registration, rules, segment_json, segment_window
from catalog.errors import Invalid
from catalog.facade import Span
from catalog.located import Located
from catalog.paging import page_sorted, segment_cursor, segment_key
from catalog.segment_json import RenderedPage
from catalog.store import (
    AccessFilter,
    DeleteResult,
    Instance,
    ObjectPage,
    ObjectRecord,
    PlaylistRun,
    Segment,
    SegmentFailure,
    SegmentLocation,
    SegmentQuery,
    TagFilter,
    playlist_run_of,
)
from catalog.timing import TimeRange
from catalog.vast import access as pushed
from catalog.vast import events, objects
from catalog.vast.connection import Tx
from catalog.vast.documents import flow_row
from catalog.vast.rows import delete_where, insert, load, one, select, update_each, update_where, where_in
from catalog.vast.windows import predicate_of, window_scan

PAGE_COLUMNS = [
    "ts_lo",
    "ts_hi",
    "timerange",
    "object_id",
    "ts_offset",
    "last_duration",
    "sample_offset",
    "sample_count",
    "object_timerange",
    "key_frame_count",
    "init_object_id",
]


def query_segments(
    tx: Tx, flow_id: str, query: SegmentQuery, page: str | None, limit: int
) -> tuple[list[Segment], str | None]:
    after = segment_cursor(page)
    flow = flow_row(tx, flow_id, with_doc=False)
    if flow is None:
        return [], None
    extra = _.object_id == query.object_id if query.object_id is not None else None
    rows, more = window_scan(
        tx, flow, query.timerange, PAGE_COLUMNS, limit=limit, reverse=query.reverse, after=after, extra=extra
    )
    located = Located.lookup(objects, tx, [r["object_id"] for r in rows] + [r["init_object_id"] for r in rows])
    segments = [
        Segment(
            timerange=r["timerange"],
            object_id=r["object_id"],
            lo=r["ts_lo"],
            hi=r["ts_hi"],
            ts_offset=r["ts_offset"],
            last_duration=r["last_duration"],
            sample_offset=r["sample_offset"],
            sample_count=r["sample_count"],
            object_timerange=r["object_timerange"],
            key_frame_count=r["key_frame_count"],
            init_object_id=r["init_object_id"],
            **located.fields(r["object_id"], r["init_object_id"]),
        )
        for r in rows
    ]
    return segments, segment_key(rows[-1]["ts_lo"]) if more else None


LOCATION_USE = ["timerange", "ts_offset", "object_timerange", "sample_offset", "sample_count"]  # SegmentLocation order


def segment_page_json(tx: Tx, flow_id: str, query: SegmentQuery, page: str | None, limit: int) -> RenderedPage | None:
    """Rendered in Python from the ``Segment``s: the VAST SDK has no JSON functions to push down."""
    return segment_json.from_segments(*query_segments(tx, flow_id, query, page, limit))


def segment_locations(
    tx: Tx, flow_id: str, tr: TimeRange | None, limit: int | None, reverse: bool
) -> list[SegmentLocation]:
    flow = flow_row(tx, flow_id, with_doc=False)
    if flow is None:
        return []
    rows, _more = window_scan(
        tx, flow, tr, ["ts_hi", "object_id", "init_object_id", *LOCATION_USE], limit=limit, reverse=reverse
    )
    if reverse:
        rows.reverse()
    copies = objects.instances(tx, [r["object_id"] for r in rows]) if rows else {}
    homeless = [r["object_id"] for r in rows if r["object_id"] not in copies]
    external = {oid: urls[0][0] for oid, urls in objects.urls_of(tx, homeless).items()} if homeless else {}
    return [
        SegmentLocation(
            r["ts_lo"],
            r["ts_hi"],
            r["object_id"],
            r["init_object_id"],
            tuple(copies.get(r["object_id"], ())[:1]),
            external.get(r["object_id"]),
            *(r[c] for c in LOCATION_USE),
        )
        for r in rows
    ]


def playlist_run(tx: Tx, flow_id: str, tr: TimeRange | None, keys: bool) -> PlaylistRun | None:
    return playlist_run_of(segment_locations(tx, flow_id, tr, None, False), keys)


# -- registration -------------------------------------------------------------------------------------
OBJECT_COLUMNS = ["id", "timerange", "key_frame_count", "init_object_id", "is_init", "registered", "allocated_flow_id"]


class _Overlaps:
    """Existing segments near a batch (one probe), plus the batch's own accepted segments."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.spans: list[tuple[int, int, str]] = sorted((r["ts_lo"], r["ts_hi"], r["timerange"]) for r in rows)

    def find(self, tr: TimeRange) -> str | None:
        lo, hi = registration.bounds(tr)
        i = bisect.bisect_left(self.spans, (hi + 1,)) - 1  # the last span starting at or before hi
        if i >= 0 and self.spans[i][1] >= lo:
            return self.spans[i][2]
        return None

    def add(self, tr: TimeRange) -> None:
        lo, hi = registration.bounds(tr)
        bisect.insort(self.spans, (lo, hi, str(tr)))


def _probe(tx: Tx, flow: Mapping[str, Any], batch: Sequence[dict[str, Any]]) -> _Overlaps:
    bounds = []
    for seg in batch:
        try:
            tr = TimeRange.parse(seg["timerange"])
        except (ValueError, KeyError, TypeError):
            continue
        if tr.is_bounded() and not tr.is_empty():
            bounds.append(tr)
    if not bounds or not flow["seg_count"]:
        return _Overlaps([])
    envelope = TimeRange.from_inclusive(
        min(t.lo for t in bounds if t.lo is not None), max(t.hi for t in bounds if t.hi is not None)
    )
    return _Overlaps(select(tx, "segments", _near(flow, envelope), ["ts_lo", "ts_hi", "timerange"]))


def _near(flow: Mapping[str, Any], tr: TimeRange) -> Any:
    """The flow's segments overlapping ``tr`` as one pushed-down predicate."""
    window = segment_window.overlapping(tr, flow["seg_maxdur"] or 0)
    assert window is not None, "a bounded, non-empty envelope"
    return predicate_of(flow["id"], window)


def add_segments(
    tx: Tx,
    flow_id: str,
    batch: Sequence[dict[str, Any]],
    sizes: Mapping[str, int] | None,
    require_known: bool,
    digests: Mapping[str, str] | None = None,
) -> tuple[list[SegmentFailure], dict[tuple[int, int], int]]:
    """Registers segments in order; returns the failures and the batch index of each (ts_lo, ts_hi) added."""
    flow = objects.writable_flow(tx, flow_id)
    init_segments = bool(flow["init_segments"])
    now = time.time_ns()
    sizes = sizes or {}
    digests = digests or {}
    wanted = [s.get("object_id") for s in batch] + [s.get("init_object_id") for s in batch]
    known: dict[str, dict[str, Any] | None] = {
        r["id"]: r for r in where_in(tx, "objects", "id", wanted, OBJECT_COLUMNS)
    }

    def find_object(object_id: str) -> registration.ObjectRow | None:
        row = known.get(object_id)
        return (
            None
            if row is None
            else registration.ObjectRow(
                row["timerange"],
                row["key_frame_count"],
                row["init_object_id"],
                bool(row["is_init"]),
                bool(row["registered"]),
                row["allocated_flow_id"],
            )
        )

    overlaps = _probe(tx, flow, batch)
    failures: list[SegmentFailure] = []
    new_objects: list[dict[str, Any]] = []
    new_urls: list[dict[str, Any]] = []
    first_registrations: dict[str, dict[str, Any]] = {}
    init_registrations: dict[str, dict[str, Any]] = {}
    seg_rows: list[dict[str, Any]] = []
    added: dict[tuple[int, int], int] = {}
    registered: list[dict[str, Any]] = []
    for index, seg in enumerate(batch):
        try:
            checked = registration.check_segment(flow_id, init_segments, seg, require_known, find_object, overlaps.find)
        except (Invalid, ValueError) as exc:
            failures.append(SegmentFailure(index, seg.get("object_id", ""), seg.get("timerange"), str(exc)))
            continue
        tr = checked.timerange
        object_id = seg["object_id"]
        if checked.new_init_object:
            init_id = seg["init_object_id"]
            state = {
                "first_flow_id": flow_id,
                "is_init": True,
                "registered": True,
                "alloc_deadline_ns": None,
                "size": sizes.get(init_id),
                "sha256": digests.get(init_id),
            }
            if known.get(init_id) is None:
                new_objects.append({"id": init_id, "created_ns": now, **state})
            else:
                init_registrations[init_id] = state
            known[init_id] = {
                "id": init_id,
                "timerange": None,
                "key_frame_count": None,
                "init_object_id": None,
                "is_init": True,
                "registered": True,
                "allocated_flow_id": None,
            }
        otr = str(checked.object_timerange)
        if checked.new_object or checked.first_registration:  # the object row this segment makes
            media = {
                "timerange": otr,
                "key_frame_count": seg.get("key_frame_count"),
                "init_object_id": seg.get("init_object_id"),
                "registered": True,
                "first_flow_id": flow_id,
            }
            if checked.first_registration:  # an allocated row: filled in
                first_registrations[object_id] = {
                    **media,
                    "alloc_deadline_ns": None,
                    "size": sizes.get(object_id),
                    "sha256": digests.get(object_id),
                }
            else:  # an external or unallocated object: a new row and its client URLs
                new_objects.append({"id": object_id, **media, "is_init": False, "created_ns": now})
                new_urls.extend(
                    {"object_id": object_id, "label": u["label"], "url": u["url"], "position": i}
                    for i, u in enumerate(seg.get("get_urls", []))
                )
            known[object_id] = {"id": object_id, **media, "is_init": False, "allocated_flow_id": None}
        seg_rows.append(
            {
                "flow_id": flow_id,
                "ts_lo": tr.lo,
                "ts_hi": tr.hi,
                "timerange": str(tr),
                "object_id": object_id,
                "ts_offset": checked.ts_offset if "ts_offset" in seg else None,
                "last_duration": checked.last_duration,
                "sample_offset": seg.get("sample_offset"),
                "sample_count": seg.get("sample_count"),
                "object_timerange": otr,
                "key_frame_count": checked.key_frame_count,
                "init_object_id": checked.init_object_id,
                "created_ns": now,
            }
        )
        overlaps.add(tr)
        added[registration.bounds(tr)] = index
        registered.append(registration.event_segment(seg, tr, checked))
    if seg_rows:
        insert(tx, "objects", new_objects)
        insert(tx, "object_urls", new_urls)
        update_each(tx, "objects", "id", first_registrations)  # each dict: one set of columns
        update_each(tx, "objects", "id", init_registrations)
        insert(tx, "segments", seg_rows)
        _widen_stats(tx, flow, seg_rows, now)
        events.emit(
            tx,
            "flows/segments_added",
            {"flow_id": flow_id, "segments": registered},
            flow_id=flow_id,
            source_id=flow["source_id"],
        )
    return failures, added


def _widen_stats(tx: Tx, flow: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], now: int) -> None:
    last = max(rows, key=lambda r: r["ts_hi"])
    stats: dict[str, Any] = {
        "seg_count": (flow["seg_count"] or 0) + len(rows),
        "seg_added_total": (flow["seg_added_total"] or 0) + len(rows),
        "seg_lo_min": min([r["ts_lo"] for r in rows] + ([flow["seg_lo_min"]] if flow["seg_count"] else [])),
        "seg_maxdur": max([flow["seg_maxdur"] or 0] + [r["ts_hi"] - r["ts_lo"] for r in rows]),
        "segments_updated_ns": now,
    }
    if not flow["seg_count"] or last["ts_hi"] > flow["seg_hi_max"]:
        end = TimeRange.parse(last["timerange"])
        stats.update(seg_hi_max=last["ts_hi"], seg_end_max=end.end, seg_end_incl=end.include_end)
    update_where(tx, "flows", _.id == flow["id"], stats)


def repair_overlaps(tx: Tx, flow_id: str, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """After commit, with several writers: finds rows overlapping the spans just written.

    Of two overlapping segments the one with the larger (created_ns, object_id, ts_lo) loses; the
    rule is deterministic, so every replica that looks agrees. Deletes the losers among the rows
    overlapping ``spans`` and returns their spans (so the writer can report them as failed).
    """
    if not spans:
        return []
    flow = flow_row(tx, flow_id, with_doc=False)
    if flow is None:
        return []
    envelope = TimeRange.from_inclusive(min(s[0] for s in spans), max(s[1] for s in spans))
    near = select(tx, "segments", _near(flow, envelope), ["ts_lo", "ts_hi", "created_ns", "object_id", "timerange"])
    near.sort(key=lambda r: (r["created_ns"], r["object_id"], r["ts_lo"]))
    kept: list[dict[str, Any]] = []
    losers: list[dict[str, Any]] = []
    for row in near:  # earliest first: a row loses if it overlaps any row kept before it
        if any(k["ts_lo"] <= row["ts_hi"] and row["ts_lo"] <= k["ts_hi"] for k in kept):
            losers.append(row)
        else:
            kept.append(row)
    if not losers:
        return []
    delete_where(
        tx,
        "segments",
        (_.flow_id == flow_id)
        & _.ts_lo.isin([r["ts_lo"] for r in losers])
        & _.created_ns.isin(list({r["created_ns"] for r in losers})),
    )
    _recompute_stats(tx, flow, len(losers), time.time_ns())
    gone = [(r["ts_lo"], r["ts_hi"]) for r in losers]
    for row in losers:
        events.emit(tx, "flows/segments_deleted", {"flow_id": flow_id, "timerange": row["timerange"]}, flow_id=flow_id)
    return gone


# -- deletion -----------------------------------------------------------------------------------------------
def _recompute_stats(tx: Tx, flow: Mapping[str, Any], removed: int, now: int) -> None:
    """New first/last segment after a delete: one-row windowed probes from the old ends inward."""
    remaining = (flow["seg_count"] or 0) - removed
    stats: dict[str, Any] = {"seg_count": remaining, "segments_updated_ns": now}
    if remaining <= 0:
        stats.update(seg_count=0, seg_lo_min=None, seg_hi_max=None, seg_end_max=None, seg_end_incl=None)
    else:
        live = {**flow, "seg_count": remaining}
        first, _more = window_scan(tx, live, None, ["ts_lo"], limit=1)
        last, _more = window_scan(tx, live, None, ["ts_hi", "timerange"], limit=1, reverse=True)
        end = TimeRange.parse(last[0]["timerange"])
        stats.update(
            seg_lo_min=first[0]["ts_lo"], seg_hi_max=last[0]["ts_hi"], seg_end_max=end.end, seg_end_incl=end.include_end
        )
    update_where(tx, "flows", _.id == flow["id"], stats)


def collect_orphans(tx: Tx, object_ids: Sequence[str]) -> tuple[list[str], list[Instance]]:
    """Deletes objects no segment references (and init objects no media object uses)."""
    candidates = list(dict.fromkeys(object_ids))
    referenced = {r["object_id"] for r in where_in(tx, "segments", "object_id", candidates, ["object_id"])}
    orphans = [oid for oid in candidates if oid not in referenced]
    inits = {
        r["init_object_id"] for r in where_in(tx, "objects", "id", orphans, ["init_object_id"]) if r["init_object_id"]
    }
    users = where_in(tx, "objects", "init_object_id", inits, ["id", "init_object_id"])
    still_used = {r["init_object_id"] for r in users if r["id"] not in set(orphans)}
    orphans.extend(sorted(inits - still_used))
    return orphans, objects.delete_objects(tx, orphans)


def delete_segments(
    tx: Tx, flow_id: str, timerange: TimeRange, object_id: str | None, check_flow: bool = True
) -> DeleteResult:
    """Deletes the segments wholly inside ``timerange`` (optionally only those naming ``object_id``)."""
    flow = objects.writable_flow(tx, flow_id) if check_flow else flow_row(tx, flow_id, with_doc=False)
    window = segment_window.inside(timerange)
    if flow is None or window is None:
        return DeleteResult(TimeRange.never(), 0, [])
    predicate = predicate_of(flow_id, window)
    if object_id is not None:
        predicate = predicate & (_.object_id == object_id)
    rows = delete_where(tx, "segments", predicate, ["ts_lo", "timerange", "object_id"])
    if not rows:
        return DeleteResult(TimeRange.never(), 0, [])
    rows.sort(key=lambda r: r["ts_lo"])
    envelope = TimeRange.parse(rows[0]["timerange"]).envelope(TimeRange.parse(rows[-1]["timerange"]))
    _recompute_stats(tx, flow, len(rows), time.time_ns())
    orphans, gone = collect_orphans(tx, [r["object_id"] for r in rows])
    events.emit(tx, "flows/segments_deleted", {"flow_id": flow_id, "timerange": str(envelope)}, flow_id=flow_id)
    return DeleteResult(envelope, len(rows), orphans, gone)


# -- objects ---------------------------------------------------------------------------------------------------
def get_object(
    tx: Tx,
    object_id: str,
    page: str | None,
    limit: int,
    flow_tags: TagFilter | None,
    access: AccessFilter | None = None,
) -> ObjectPage | None:
    row = one(tx, "objects", (_.id == object_id) & (_.registered == True))  # noqa: E712 - an ibis predicate
    if row is None:
        return None
    users = [object_id]
    if row["is_init"]:  # init objects are referenced through the media objects that use them
        users = [r["id"] for r in select(tx, "objects", _.init_object_id == object_id, ["id"])]
    flows = sorted({r["flow_id"] for r in where_in(tx, "segments", "object_id", users, ["flow_id"])})
    still_referenced = row["first_flow_id"] in flows if not row["is_init"] else True
    if flow_tags is not None or access is not None:
        also = pushed.predicate(access)
        docs = {r["id"]: load(r["doc"]) for r in where_in(tx, "flows", "id", flows, ["id", "doc"], also)}
        wanted = flow_tags or TagFilter()
        flows = [f for f in flows if f in docs and rules.admitted(docs[f].get("tags"), wanted, access)]
    page_flows, next_key = page_sorted(
        [((f,), f) for f in flows], kind="object-flows", arity=1, descending=False, page=page, limit=limit
    )
    init_id = row["init_object_id"]
    located = Located.lookup(objects, tx, [object_id, init_id])
    record = ObjectRecord(
        object_id=object_id,
        referenced_by_flows=page_flows,
        first_referenced_by_flow=row["first_flow_id"] if still_referenced else None,
        timerange=TimeRange.parse(row["timerange"]) if row["timerange"] else None,
        key_frame_count=row["key_frame_count"],
        init_object_id=init_id,
        is_init=bool(row["is_init"]),
        **located.fields(object_id, init_id),
    )
    return ObjectPage(record, next_key)


def first_inside(tx: Tx, flow_id: str, tr: TimeRange, limit: int) -> tuple[list[Span], bool]:
    flow = flow_row(tx, flow_id, with_doc=False)
    rows, more = window_scan(tx, flow, tr, ["ts_hi"], limit=limit, contained=True) if flow else ([], False)
    return [Span(r["ts_lo"], r["ts_hi"]) for r in rows], more
