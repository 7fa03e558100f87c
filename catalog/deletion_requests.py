"""The deletion-request lifecycle every store shares: a flow with segments is deleted in bounded batches.

The request records progress (``timerange_remaining``); each batch is its own write transaction,
so a crash loses at most the batch in flight, which the next run repeats. Written once over a
store's primitives (``catalog.facade``), so unknown ids and every other edge behave alike.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

from catalog import flows, rules
from catalog.errors import NotFound
from catalog.store import DeletionProgress, SegmentDeletion
from catalog.timing import TimeRange

if TYPE_CHECKING:  # the facade runs these workflows: imported for annotations only
    from catalog.facade import Store, StoredRequest

C = TypeVar("C")


def render(stored: StoredRequest) -> dict[str, Any]:
    return {**stored.doc, "status": stored.status}


def get_request(s: Store[C], c: C, request_id: str) -> dict[str, Any] | None:
    stored = s.deletions.request_row(c, request_id)
    return render(stored) if stored else None


def _new_request(
    s: Store[C], c: C, flow_id: str, timerange: str, delete_flow: bool, principal: str | None
) -> dict[str, Any]:
    now = time.time_ns()
    doc: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "flow_id": flow_id,
        "timerange_to_delete": timerange,
        "timerange_remaining": timerange,
        "delete_flow": delete_flow,
        "created": rules.iso_from_ns(now),
    }
    if principal:
        doc["created_by"] = principal
    s.deletions.insert_request(c, doc, now)
    return {**doc, "status": "created"}


def request_flow_deletion(s: Store[C], c: C, flow_id: str, principal: str | None) -> dict[str, Any] | None:
    """Deletes an empty flow at once (None), or records a request to delete one with segments."""
    flow = s.documents.flow_state(c, flow_id)
    if flow is None:
        raise NotFound(f"flow {flow_id} does not exist")
    rules.check_flow_field_write("delete", flow.doc, flow.read_only)
    if not flow.seg_count:
        flows.delete_flow_document(s, c, flow_id)
        return None
    existing = s.deletions.active_request(c, flow_id)
    if existing:
        return render(existing)
    request = _new_request(s, c, flow_id, "_", True, principal)
    s.events.emit(c, "flows/deleted", {"flow_id": flow_id}, flow_id)  # "deleted or scheduled for deletion"
    return request


def request_segment_deletion(
    s: Store[C], c: C, flow_id: str, timerange: TimeRange, threshold: int, principal: str | None
) -> SegmentDeletion:
    """Deletes up to ``threshold`` segments at once; more become a background deletion request."""
    s.objects.writable_flow(c, flow_id)
    _spans, more = s.segments.first_inside(c, flow_id, timerange, threshold)
    if not more:
        return SegmentDeletion(s.segments.delete_segments(c, flow_id, timerange, None, False), None)
    return SegmentDeletion(None, _new_request(s, c, flow_id, str(timerange), False, principal))


def work(s: Store[C], c: C, request_id: str, batch: int) -> DeletionProgress:
    """Deletes the next ``batch`` segments of the request; ``done`` when the request is finished."""
    stored = s.deletions.request_row(c, request_id)
    if stored is None:
        raise NotFound(f"deletion request {request_id} does not exist")
    request = dict(stored.doc)
    flow_id = request["flow_id"]
    whole = TimeRange.parse(request["timerange_to_delete"])
    spans, more = s.segments.first_inside(c, flow_id, whole, batch)
    window = whole.intersect(TimeRange.from_inclusive(None, spans[-1].hi)) if more else whole
    result = s.segments.delete_segments(c, flow_id, window, None, False)
    now = time.time_ns()
    if more:
        first, _more = s.segments.first_inside(c, flow_id, whole, 1)  # after this batch
        request["timerange_remaining"] = (
            str(TimeRange.make(first[0].lo, whole.end, True, whole.include_end)) if first else "()"
        )
    else:
        if request["delete_flow"] and s.documents.flow_state(c, flow_id) is not None:
            flows.delete_flow_document(s, c, flow_id)
        request["timerange_remaining"] = "()"
    request["updated"] = rules.iso_from_ns(now)
    s.deletions.update_request(c, request_id, request, "started" if more else "done", now)
    return DeletionProgress(result, not more)


def fail(s: Store[C], c: C, request_id: str, summary: str) -> None:
    """Records why the request failed; a request that no longer exists has nothing to record."""
    stored = s.deletions.request_row(c, request_id)
    if stored is None:
        return
    doc = dict(stored.doc)
    doc["error"] = {"type": "DeletionFailed", "summary": summary, "time": rules.iso_from_ns(time.time_ns())}
    s.deletions.update_request(c, request_id, doc, "error", None)
