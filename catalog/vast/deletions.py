"""Flow and segment deletion requests in VAST DB, worked in bounded batches (one transaction each).

The same rules as the SQLite store: the request records ``timerange_remaining``, so a crash loses
at most the batch in flight. Each batch finds its edge with a windowed select (no ORDER BY/OFFSET).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from ibis import _

from catalog import rules
from catalog.errors import NotFound
from catalog.paging import page_sorted
from catalog.store import DeleteResult
from catalog.timing import TimeRange
from catalog.vast import documents, events, objects, segments
from catalog.vast.connection import Tx
from catalog.vast.rows import dump, insert, load, one, select, update_where
from catalog.vast.windows import window_scan


def _render(row: dict[str, Any]) -> dict[str, Any]:
    return {**load(row["doc"]), "status": row["status"]}


def request_flow_deletion(tx: Tx, flow_id: str, principal: str | None) -> dict[str, Any] | None:
    flow = documents.flow_row(tx, flow_id)
    if flow is None:
        raise NotFound(f"flow {flow_id} does not exist")
    rules.check_flow_field_write("delete", load(flow["doc"]), bool(flow["read_only"]))
    if not flow["seg_count"]:
        documents.delete_flow_document(tx, flow_id)
        return None
    existing = one(tx, "delete_requests", (_.flow_id == flow_id) & _.status.isin(["created", "started"]))
    if existing:
        return _render(existing)
    request = _new_request(tx, flow_id, "_", True, principal)
    events.emit(tx, "flows/deleted", {"flow_id": flow_id}, flow_id=flow_id)  # "deleted or scheduled for deletion"
    return request


def pending(tx: Tx) -> list[str]:
    rows = select(tx, "delete_requests", _.status.isin(["created", "started"]), ["id", "created_ns"])
    return [r["id"] for r in sorted(rows, key=lambda r: (r["created_ns"], r["id"]))]


def work(tx: Tx, request_id: str, batch: int) -> tuple[DeleteResult, bool]:
    row = one(tx, "delete_requests", _.id == request_id)
    if row is None:
        raise NotFound(f"deletion request {request_id} does not exist")
    request = load(row["doc"])
    flow_id = request["flow_id"]
    whole = TimeRange.parse(request["timerange_to_delete"])
    flow = documents.flow_row(tx, flow_id, with_doc=False)
    inside, more = window_scan(tx, flow, whole, ["ts_hi"], limit=batch, contained=True) if flow else ([], False)
    window = whole.intersect(TimeRange.from_inclusive(None, inside[-1]["ts_hi"])) if more else whole
    result = segments.delete_segments(tx, flow_id, window, None, check_flow=False)
    done = not more
    now = time.time_ns()
    if done:
        if request["delete_flow"] and flow is not None:
            documents.delete_flow_document(tx, flow_id)
        request["timerange_remaining"] = "()"
    else:
        flow = documents.flow_row(tx, flow_id, with_doc=False)  # statistics after this batch
        first, _more = window_scan(tx, flow, whole, [], limit=1, contained=True) if flow else ([], False)
        request["timerange_remaining"] = (str(TimeRange.make(first[0]["ts_lo"], whole.end, True, whole.include_end))
                                          if first else "()")
    request["updated"] = rules.iso_from_ns(now)
    update_where(tx, "delete_requests", _.id == request_id,
                 {"doc": dump(request), "status": "done" if done else "started", "updated_ns": now})
    return result, done


def request_segment_deletion(tx: Tx, flow_id: str, timerange: TimeRange, threshold: int,
                             principal: str | None) -> tuple[DeleteResult | None, dict[str, Any] | None]:
    flow = objects.writable_flow(tx, flow_id)
    _inside, more = window_scan(tx, flow, timerange, [], limit=threshold, contained=True)
    if not more:
        return segments.delete_segments(tx, flow_id, timerange, None, check_flow=False), None
    return None, _new_request(tx, flow_id, str(timerange), False, principal)


def _new_request(tx: Tx, flow_id: str, timerange: str, delete_flow: bool, principal: str | None) -> dict[str, Any]:
    now = time.time_ns()
    doc = {"id": str(uuid.uuid4()), "flow_id": flow_id, "timerange_to_delete": timerange,
           "timerange_remaining": timerange, "delete_flow": delete_flow, "created": rules.iso_from_ns(now)}
    if principal:
        doc["created_by"] = principal
    insert(tx, "delete_requests", [{"id": doc["id"], "flow_id": flow_id, "status": "created", "doc": dump(doc),
                                    "created_ns": now, "updated_ns": now}])
    return {**doc, "status": "created"}


def fail(tx: Tx, request_id: str, summary: str) -> None:
    row = one(tx, "delete_requests", _.id == request_id, ["doc"])
    if row is None:
        return
    doc = load(row["doc"])
    doc["error"] = {"type": "DeletionFailed", "summary": summary, "time": rules.iso_from_ns(time.time_ns())}
    update_where(tx, "delete_requests", _.id == request_id, {"doc": dump(doc), "status": "error"})


def get_request(tx: Tx, request_id: str) -> dict[str, Any] | None:
    row = one(tx, "delete_requests", _.id == request_id)
    return _render(row) if row else None


def list_requests(tx: Tx, sort_by: str, reverse: bool, page: str | None,
                  limit: int) -> tuple[list[dict[str, Any]], str | None]:
    rows = select(tx, "delete_requests")
    found, next_key = page_sorted([((r["created_ns"], r["id"]), r) for r in rows], kind=f"delete-requests:{sort_by}",
                                  arity=2, descending=not reverse, page=page, limit=limit)
    return [_render(r) for r in found], next_key
