"""Segment registration rules shared by every store: pure checks of one segment against catalog rows.

Stores supply the rows (objects, the overlap probe) from inside their write transaction, so the
check and the state it reads are atomic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from catalog.errors import Invalid
from catalog.timing import NS_MAX, TimeRange, Timestamp


class ObjectRow(NamedTuple):
    """What registration reads of a stored object."""

    timerange: str | None
    key_frame_count: int | None
    init_object_id: str | None
    is_init: bool
    registered: bool
    allocated_flow_id: str | None


def bounds(tr: TimeRange) -> tuple[int, int]:
    """The inclusive ns bounds of a checked segment timerange (bounded and non-empty, so both are set)."""
    lo, hi = tr.lo, tr.hi
    if lo is None or hi is None:
        raise Invalid(f"segment timerange {tr} must be bounded and non-empty")
    return lo, hi


@dataclass(frozen=True, slots=True)
class Checked:
    timerange: TimeRange
    ts_offset: int
    last_duration: int | None
    object_timerange: TimeRange
    key_frame_count: int | None
    init_object_id: str | None
    new_object: bool  # no row yet: an external or unallocated object
    first_registration: bool  # an allocated object registered for the first time
    new_init_object: bool


def check_segment(
    flow_id: str,
    init_segments: bool,
    seg: dict[str, Any],
    require_known: bool,
    find_object: Callable[[str], ObjectRow | None],
    find_overlap: Callable[[TimeRange], str | None],
) -> Checked:
    """Validates one segment against the catalog; raises Invalid naming the problem.

    ``find_object`` returns the stored object row; ``find_overlap`` the timerange of an existing
    segment of the flow overlapping the given one, if any.
    """
    tr = TimeRange.parse(seg["timerange"])
    if not tr.is_bounded() or tr.is_empty():
        raise Invalid(f"segment timerange {seg['timerange']} must be bounded and non-empty")
    if not tr.include_start:
        raise Invalid(f"segment timerange {seg['timerange']} must have an inclusive start '['")
    lo, hi = bounds(tr)
    if hi - lo > NS_MAX:  # a flow's longest segment is stored and subtracted from query bounds
        raise Invalid(f"segment timerange {seg['timerange']} is longer than 2^63 ns")
    ts_offset = Timestamp.parse(seg["ts_offset"]).ns if "ts_offset" in seg else 0
    last_duration = Timestamp.parse(seg["last_duration"]).ns if "last_duration" in seg else None
    if last_duration is not None and last_duration < 0:
        raise Invalid(f"last_duration {seg['last_duration']} must not be negative")
    object_id = seg["object_id"]
    obj = find_object(object_id)
    first_registration = obj is not None and not obj.registered
    if obj is not None and first_registration:
        if obj.allocated_flow_id != flow_id:
            raise Invalid(
                f"object {object_id} was allocated for flow {obj.allocated_flow_id}; its first segment must be there"
            )
        obj = None  # from here on, a first registration is checked like a new object
    elif obj is None and require_known and not seg.get("get_urls"):
        raise Invalid(
            f"object {object_id} was never allocated (POST /flows/{flow_id}/storage) and the "
            "segment gives no get_urls for it"
        )
    requested_otr = TimeRange.parse(seg["object_timerange"]) if "object_timerange" in seg else None
    init_id = seg.get("init_object_id")
    if obj is not None:
        stored_otr, stored_kfc, stored_init = obj.timerange, obj.key_frame_count, obj.init_object_id
        if obj.is_init:
            raise Invalid(f"object {object_id} is registered as an init object, not a media object")
        if seg.get("get_urls"):
            raise Invalid(
                f"object {object_id} is already registered; add instances with "
                f"POST /objects/{object_id}/instances instead of get_urls"
            )
        if "key_frame_count" in seg and seg["key_frame_count"] != stored_kfc:
            raise Invalid(f"object {object_id} has key_frame_count {stored_kfc}, not {seg['key_frame_count']}")
        if requested_otr is not None and str(requested_otr) != stored_otr:
            raise Invalid(f"object {object_id} has object_timerange {stored_otr}, not {requested_otr}")
        if init_id is not None and init_id != stored_init:
            raise Invalid(f"object {object_id} has init object {stored_init}, not {init_id}")
        init_id = stored_init
        object_tr = TimeRange.parse(stored_otr) if stored_otr else tr.shift(-ts_offset)
    else:
        object_tr = requested_otr if requested_otr is not None else tr.shift(-ts_offset)
        if object_tr.is_empty():
            raise Invalid(f"object_timerange {seg.get('object_timerange')} is empty")
        labels = [u["label"] for u in seg.get("get_urls", [])]
        if len(labels) != len(set(labels)):
            raise Invalid(f"get_urls labels for object {object_id} must be unique")
    if not object_tr.within_bounds():
        raise Invalid(f"segment timerange {tr} minus ts_offset {seg.get('ts_offset')} is beyond 2^63 ns")
    new_init = False
    if init_segments and init_id is None:
        raise Invalid(f"flow {flow_id} uses init segments, so the segment needs an init_object_id")
    if not init_segments and init_id is not None:
        raise Invalid(f"flow {flow_id} does not use init segments; init_object_id is not allowed")
    if init_id is not None and obj is None:
        init_row = find_object(init_id)
        if init_row is not None and init_row.registered and not init_row.is_init:
            raise Invalid(f"object {init_id} is a media object and cannot be used as an init object")
        if init_row is not None and not init_row.registered and init_row.allocated_flow_id != flow_id:
            raise Invalid(f"init object {init_id} was allocated for flow {init_row.allocated_flow_id}")
        new_init = init_row is None or not init_row.registered
        if init_id == object_id:
            raise Invalid(f"object {object_id} cannot be its own init object")
    overlapping = find_overlap(tr)
    if overlapping is not None:
        raise Invalid(f"segment {tr} overlaps existing segment {overlapping} of flow {flow_id}")
    key_frame_count = obj.key_frame_count if obj is not None else seg.get("key_frame_count")
    return Checked(
        tr,
        ts_offset,
        last_duration,
        object_tr,
        key_frame_count,
        init_id,
        obj is None and not first_registration,
        first_registration,
        new_init,
    )


def event_segment(
    seg: dict[str, Any], tr: TimeRange, checked: Checked, tr_text: str | None = None, otr_text: str | None = None
) -> dict[str, Any]:
    """The segment as the event carries it; get_urls are added per webhook when it is sent.

    ``tr_text``/``otr_text``: the two timeranges already formatted, when the caller has them."""
    out: dict[str, Any] = {
        "object_id": seg["object_id"],
        "timerange": tr_text if tr_text is not None else str(tr),
        "object_timerange": otr_text if otr_text is not None else str(checked.object_timerange),
    }
    for name in ("ts_offset", "last_duration", "sample_offset", "sample_count"):
        if name in seg:
            out[name] = seg[name]
    if checked.key_frame_count is not None:
        out["key_frame_count"] = checked.key_frame_count
    if checked.init_object_id:
        out["init_object_id"] = checked.init_object_id
    return out
