"""Flow deletion requests in SQLite: a flow with segments is deleted in bounded batches, resumably.

The request row records progress (``timerange_remaining``); each batch is its own transaction, so
a crash loses at most the batch in flight, which the next run repeats.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import orjson

from catalog import rules
from catalog.errors import NotFound
from catalog.sqlite import documents, events, objects, segments
from catalog.sqlite.listing import Where, keyset_page
from catalog.store import DeleteResult
from catalog.timing import TimeRange

SORTS = {"created": ("created_ns", "id"), "expiry": ("created_ns", "id")}  # requests do not expire here


def _render(doc: str, status: str) -> dict[str, Any]:
    return {**orjson.loads(doc), "status": status}


def request_flow_deletion(conn: sqlite3.Connection, flow_id: str, principal: str | None) -> dict[str, Any] | None:
    """Deletes an empty flow at once (None), or records a request to delete one with segments."""
    row = conn.execute("SELECT doc, read_only, seg_count FROM flows WHERE id=?", (flow_id,)).fetchone()
    if row is None:
        raise NotFound(f"flow {flow_id} does not exist")
    rules.check_flow_field_write("delete", orjson.loads(row[0]), bool(row[1]))
    if row[2] == 0:
        documents.delete_flow_document(conn, flow_id)
        return None
    existing = conn.execute("SELECT doc, status FROM delete_requests WHERE flow_id=? AND status IN "
                            "('created', 'started')", (flow_id,)).fetchone()
    if existing:
        return _render(*existing)
    request = _new_request(conn, flow_id, "_", True, principal)
    events.emit(conn, "flows/deleted", {"flow_id": flow_id}, flow_id=flow_id)  # "deleted or scheduled for deletion"
    return request


def pending(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM delete_requests WHERE status IN ('created', 'started') "
                                       "ORDER BY created_ns")]


def work(conn: sqlite3.Connection, request_id: str, batch: int) -> tuple[DeleteResult, bool]:
    """Deletes the next ``batch`` segments of the request; True when the request is done."""
    doc, status = conn.execute("SELECT doc, status FROM delete_requests WHERE id=?", (request_id,)).fetchone()
    request = orjson.loads(doc)
    flow_id = request["flow_id"]
    whole = TimeRange.parse(request["timerange_to_delete"])
    inside = _inside(flow_id, whole)
    edge = conn.execute(f"SELECT ts_hi FROM segments WHERE {inside.sql()} ORDER BY ts_lo LIMIT 1 OFFSET ?",
                        (*inside.params, batch - 1)).fetchone()
    window = whole.intersect(TimeRange.from_inclusive(None, edge[0])) if edge else whole
    result = segments.delete_segments(conn, flow_id, window, None, check_flow=False)
    done = edge is None
    now = time.time_ns()
    remaining = conn.execute(f"SELECT ts_lo FROM segments WHERE {inside.sql()} ORDER BY ts_lo LIMIT 1",
                             inside.params).fetchone()
    if done:
        if request["delete_flow"] and conn.execute("SELECT 1 FROM flows WHERE id=?", (flow_id,)).fetchone():
            documents.delete_flow_document(conn, flow_id)
        status = "done"
    else:
        status = "started"
    request["timerange_remaining"] = (
        str(TimeRange.make(remaining[0], whole.end, True, whole.include_end)) if remaining and not done else "()")
    request["updated"] = rules.iso_from_ns(now)
    conn.execute("UPDATE delete_requests SET doc=?, status=?, updated_ns=? WHERE id=?",
                 (orjson.dumps(request).decode(), status, now, request_id))
    return result, done


def request_segment_deletion(conn: sqlite3.Connection, flow_id: str, timerange: TimeRange, threshold: int,
                             principal: str | None) -> tuple[DeleteResult | None, dict[str, Any] | None]:
    """Deletes up to ``threshold`` segments at once; more become a background deletion request."""
    objects.writable_flow(conn, flow_id)
    inside = _inside(flow_id, timerange)
    count = conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM segments WHERE {inside.sql()} LIMIT ?)",
                         (*inside.params, threshold + 1)).fetchone()[0]
    if count <= threshold:
        return segments.delete_segments(conn, flow_id, timerange, None, check_flow=False), None
    return None, _new_request(conn, flow_id, str(timerange), False, principal)


def _inside(flow_id: str, timerange: TimeRange) -> Where:
    """Segments of the flow wholly inside the timerange (what a TAMS delete removes)."""
    inside = Where()
    inside.add("flow_id=?", flow_id)
    if timerange.lo is not None:
        inside.add("ts_lo>=?", timerange.lo)
    if timerange.hi is not None:
        inside.add("ts_hi<=?", timerange.hi)
    return inside


def _new_request(conn: sqlite3.Connection, flow_id: str, timerange: str, delete_flow: bool,
                 principal: str | None) -> dict[str, Any]:
    now = time.time_ns()
    doc = {"id": str(uuid.uuid4()), "flow_id": flow_id, "timerange_to_delete": timerange,
           "timerange_remaining": timerange, "delete_flow": delete_flow, "created": rules.iso_from_ns(now)}
    if principal:
        doc["created_by"] = principal
    conn.execute("INSERT INTO delete_requests (id, flow_id, status, doc, created_ns, updated_ns) "
                 "VALUES (?, ?, 'created', ?, ?, ?)", (doc["id"], flow_id, orjson.dumps(doc).decode(), now, now))
    return {**doc, "status": "created"}


def fail(conn: sqlite3.Connection, request_id: str, summary: str) -> None:
    doc = orjson.loads(conn.execute("SELECT doc FROM delete_requests WHERE id=?", (request_id,)).fetchone()[0])
    doc["error"] = {"type": "DeletionFailed", "summary": summary, "time": rules.iso_from_ns(time.time_ns())}
    conn.execute("UPDATE delete_requests SET doc=?, status='error' WHERE id=?",
                 (orjson.dumps(doc).decode(), request_id))


def get_request(conn: sqlite3.Connection, request_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT doc, status FROM delete_requests WHERE id=?", (request_id,)).fetchone()
    return _render(*row) if row else None


def list_requests(conn: sqlite3.Connection, sort_by: str, reverse: bool, page: str | None,
                  limit: int) -> tuple[list[dict[str, Any]], str | None]:
    rows, next_key = keyset_page(conn, kind=f"delete-requests:{sort_by}", select="doc, status FROM delete_requests",
                                 where=Where(), sort_columns=SORTS[sort_by], descending=not reverse, page=page,
                                 limit=limit)
    return [_render(*r) for r in rows], next_key
