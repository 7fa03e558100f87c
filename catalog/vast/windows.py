"""Timerange pages without ORDER BY: windowed keyset probing on the inclusive start column.

Segments of a flow never overlap, so ``ts_lo`` is unique and ordered, and every segment
overlapping [QL, QH] starts in [QL - maxdur, QH]. A page of ``limit`` segments is fetched by
selecting a window of ``ts_lo`` values sized from the flow's mean pitch, its span divided by its
segment count (one select for uniform segments), growing it fourfold while it holds too few rows
(gaps), then ordering the
rows here. The cursor is the last ``ts_lo`` returned, so pages are stable under concurrent writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ibis import _

from catalog.timing import TimeRange
from catalog.vast.connection import Tx

MIN_WINDOW_NS = 1_000_000_000


def window_scan(tx: Tx, flow: Mapping[str, Any], tr: TimeRange | None, columns: Sequence[str], *,
                limit: int | None, reverse: bool = False, after: int | None = None,
                extra: Any = None, contained: bool = False) -> tuple[list[dict[str, Any]], bool]:
    """Segments of ``flow`` (its catalog row) overlapping ``tr`` (or inside it when ``contained``).

    Returns up to ``limit`` rows in ``ts_lo`` order (descending when ``reverse``), strictly after
    the cursor ``after``, and whether more rows follow.
    """
    count = flow["seg_count"] or 0
    if not count or (tr is not None and tr.is_empty()):
        return [], False
    maxdur = flow["seg_maxdur"] or 0
    first, last = flow["seg_lo_min"], flow["seg_hi_max"]
    low, high = first, last  # bounds of ts_lo to scan (ts_lo <= ts_hi <= seg_hi_max)
    ql = tr.lo if tr is not None else None
    qh = tr.hi if tr is not None else None
    if ql is not None:
        low = max(low, ql if contained else ql - maxdur)
    if qh is not None:
        high = min(high, qh)
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
        predicate = (_.flow_id == flow["id"]) & _.ts_lo.between(lo, hi)
        if ql is not None and not contained:
            predicate = predicate & (_.ts_hi >= ql)
        if qh is not None and contained:
            predicate = predicate & (_.ts_hi <= qh)
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
