"""Timerange pages without ORDER BY: windowed keyset probing on the inclusive start column.

Segments of a flow never overlap, so ``ts_lo`` is unique and ordered, and the rows a timerange
selects are a range of ``ts_lo`` (the rule is ``catalog.segment_window``; ``predicate`` here is its
ibis translation). A page of ``limit`` segments is fetched by
selecting a window of ``ts_lo`` values sized from the flow's mean pitch, its span divided by its
segment count (one select for uniform segments), growing it fourfold while it holds too few rows
(gaps), then ordering the
rows here. The cursor is the last ``ts_lo`` returned, so pages are stable under concurrent writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ibis import _

from catalog import segment_window
from catalog.segment_window import SegmentWindow
from catalog.timing import TimeRange
from catalog.vast.connection import Tx

MIN_WINDOW_NS = 1_000_000_000


def predicate_of(flow_id: str, window: SegmentWindow) -> Any:
    """The segment-window rule as an ibis predicate VAST pushes down (a ``between`` on ``ts_lo``)."""
    predicate = _.flow_id == flow_id
    if window.lo_min is not None and window.lo_max is not None:
        predicate = predicate & _.ts_lo.between(window.lo_min, window.lo_max)
    elif window.lo_min is not None:
        predicate = predicate & (_.ts_lo >= window.lo_min)
    elif window.lo_max is not None:
        predicate = predicate & (_.ts_lo <= window.lo_max)
    if window.hi_min is not None:
        predicate = predicate & (_.ts_hi >= window.hi_min)
    if window.hi_max is not None:
        predicate = predicate & (_.ts_hi <= window.hi_max)
    return predicate


def window_scan(
    tx: Tx,
    flow: Mapping[str, Any],
    tr: TimeRange | None,
    columns: Sequence[str],
    *,
    limit: int | None,
    reverse: bool = False,
    after: int | None = None,
    extra: Any = None,
    contained: bool = False,
) -> tuple[list[dict[str, Any]], bool]:
    """Segments of ``flow`` (its catalog row) overlapping ``tr`` (or inside it when ``contained``).

    Returns up to ``limit`` rows in ``ts_lo`` order (descending when ``reverse``), strictly after
    the cursor ``after``, and whether more rows follow.
    """
    count = flow["seg_count"] or 0
    window = segment_window.inside(tr) if contained else segment_window.overlapping(tr, flow["seg_maxdur"] or 0)
    if not count or window is None:
        return [], False
    first, last = flow["seg_lo_min"], flow["seg_hi_max"]
    low, high = first, last  # bounds of ts_lo to scan (ts_lo <= ts_hi <= seg_hi_max)
    if window.lo_min is not None:
        low = max(low, window.lo_min)
    if window.lo_max is not None:
        high = min(high, window.lo_max)
    if after is not None:
        low, high = (low, min(high, after - 1)) if reverse else (max(low, after + 1), high)
    if low > high:
        return [], False
    wanted = None if limit is None else limit + 1
    # the flow's mean pitch (span / segments) counts its gaps too, so a window of ``wanted`` pitches
    # holds about ``wanted`` segments whether the flow is uniform or gappy
    pitch = max(1, (last - first + 1) // count)
    width = high - low + 1 if wanted is None else max(wanted * pitch * 5 // 4, MIN_WINDOW_NS)
    names = list(dict.fromkeys(["ts_lo", *columns]))
    found: list[dict[str, Any]] = []
    lo, hi = low, high
    while True:
        if reverse:
            lo = max(low, hi - width + 1)
        else:
            hi = min(high, lo + width - 1)
        predicate = predicate_of(flow["id"], SegmentWindow(lo, hi, window.hi_min, window.hi_max))
        if extra is not None:
            predicate = predicate & extra
        found.extend(tx.select("segments", names, predicate).to_pylist())
        done = (lo <= low) if reverse else (hi >= high)
        if done or (wanted is not None and len(found) >= wanted):
            break
        if reverse:
            hi = lo - 1
        else:
            lo = hi + 1
        width *= 4
    found.sort(key=lambda r: r["ts_lo"], reverse=reverse)
    if wanted is not None and len(found) >= wanted:
        return found[:limit], True
    return found, False
