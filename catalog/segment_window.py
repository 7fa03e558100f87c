"""Which of a flow's segment rows a timerange selects, as bounds on the stored inclusive ns columns.

Segments of a flow never overlap, so ``ts_lo`` is unique and ordered, and a segment overlapping
[QL, QH] starts at or after ``QL - longest`` (``longest`` = the flow's longest segment): the rows
overlapping it are ``ts_lo in [QL - longest, QH]`` and ``ts_hi >= QL``, a range on ``ts_lo`` that
an index (SQLite) or a sorted projection (VAST DB) scans. A TAMS delete removes the segments
wholly inside the range: ``ts_lo >= QL`` and ``ts_hi <= QH`` (and so ``ts_lo <= QH``). This module
states the rule once; each store translates a ``SegmentWindow`` into SQL or an ibis predicate.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.timing import NS_MAX, TimeRange


@dataclass(frozen=True, slots=True)
class SegmentWindow:
    """``ts_lo`` in [lo_min, lo_max], ``ts_hi`` >= hi_min and ``ts_hi`` <= hi_max; None: no bound."""

    lo_min: int | None = None
    lo_max: int | None = None
    hi_min: int | None = None
    hi_max: int | None = None


EVERYTHING = SegmentWindow()


def overlapping(tr: TimeRange | None, longest: int) -> SegmentWindow | None:
    """Rows of segments overlapping ``tr`` (None: every segment); None when ``tr`` is empty."""
    if tr is None:
        return EVERYTHING
    if tr.is_empty():
        return None
    ql, qh = tr.lo, tr.hi
    # Below the smallest storable time the bound selects nothing more: drop it rather than overflow.
    lo_min = None if ql is None or ql - longest < -NS_MAX else ql - longest
    return SegmentWindow(lo_min=lo_min, lo_max=qh, hi_min=ql)


def inside(tr: TimeRange | None) -> SegmentWindow | None:
    """Rows of segments wholly inside ``tr`` (None: every segment); None when ``tr`` is empty."""
    if tr is None:
        return EVERYTHING
    if tr.is_empty():
        return None
    return SegmentWindow(lo_min=tr.lo, lo_max=tr.hi, hi_max=tr.hi)
