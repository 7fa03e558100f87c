"""A page of segments as JSON text, for the common page: what the stored members render to.

A segment page is mostly its stored members (object id, timerange, offsets, counts) with each
object's ``get_urls`` appended; rendering 100 dictionaries and serialising them cost about as much
as reading the rows (docs/PERFORMANCE.md, issue 14). A store renders those members itself (SQLite
in SQL) and hands back one JSON fragment per segment, the object opened and not closed, so the
caller appends ``get_urls`` and the closing brace. Only simple pages are rendered this way: a page
with an init object, client-registered URLs or more than one instance of an object is ``None``
(render it from ``Segment``s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from catalog.store import Instance, Segment
from catalog.timing import Timestamp


class RenderedPage(NamedTuple):
    fragments: list[bytes]  # b'{"object_id":…,"timerange":…' per segment: append get_urls and b"}"
    homes: list[Instance | None]  # each object's only controlled instance, None when it has none
    first_timerange: str | None  # of the first and last segment of the page (None when empty)
    last_timerange: str | None
    next_key: str | None


def members(seg: Segment) -> dict[str, Any]:
    """flow-segment.json's stored members of a segment, in the order the API renders them."""
    return stored_members(
        seg.object_id,
        seg.timerange,
        seg.ts_offset,
        seg.last_duration,
        seg.sample_offset,
        seg.sample_count,
        seg.key_frame_count,
    )


def stored_members(
    object_id: str,
    timerange: str,
    ts_offset: int | None,
    last_duration: int | None,
    sample_offset: int | None,
    sample_count: int | None,
    key_frame_count: int | None,
) -> dict[str, Any]:
    """``members`` of a segment given as its stored fields (offsets and durations in ns)."""
    out: dict[str, Any] = {"object_id": object_id, "timerange": timerange}
    if ts_offset is not None:
        out["ts_offset"] = str(Timestamp(ts_offset))
    if last_duration is not None:
        out["last_duration"] = str(Timestamp(last_duration))
    if sample_offset is not None:
        out["sample_offset"] = sample_offset
    if sample_count is not None:
        out["sample_count"] = sample_count
    if key_frame_count is not None:
        out["key_frame_count"] = key_frame_count
    return out


def fragment(members: dict[str, Any]) -> bytes:
    """The segment's members as JSON, the object opened and not closed (``RenderedPage.fragments``)."""
    return orjson.dumps(members)[:-1]


def timerange_of(text: bytes) -> str:
    """The timerange member of a fragment (a page's first or last: its X-Paging-Timerange)."""
    timerange: str = orjson.loads(text + b"}")["timerange"]
    return timerange


def from_segments(segments: Sequence[Segment], next_key: str | None) -> RenderedPage | None:
    """The page rendered in Python (for a store that cannot render it itself); None unless simple."""
    if any(s.init_object_id is not None or s.uncontrolled_urls or len(s.instances) > 1 for s in segments):
        return None
    return RenderedPage(
        [fragment(members(s)) for s in segments],
        [s.instances[0] if s.instances else None for s in segments],
        segments[0].timerange if segments else None,
        segments[-1].timerange if segments else None,
        next_key,
    )
