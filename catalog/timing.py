"""Exact media time: TAMS Timestamps and TimeRanges as immutable integer-nanosecond values.

A Timestamp ``s:ns`` is ``s * 10**9 + ns`` nanoseconds; the sign covers the whole value
(``-1:500000000`` is -1.5 s). A TimeRange keeps its bounds and clusivity markers so it can be
echoed canonically, and exposes inclusive integer bounds (``lo``/``hi``) for arithmetic: because
time is discrete at 1 ns, ``[a_b)`` is exactly ``[a, b-1]``. No I/O, no HTTP, no SQL here.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from catalog.vocabulary import INT_MAX, TIMERANGE_RE, TIMESTAMP_RE

NS_PER_SECOND = 1_000_000_000
# The largest magnitude a stored time may have: SQLite INTEGER and VAST DB int64 hold no more.
# Parsing refuses anything beyond it, so every store, query and page key gets the same bound.
NS_MAX = INT_MAX
_SECONDS_DIGITS = len(str(NS_MAX // NS_PER_SECOND))  # more digits are out of range before int()


class TimeFormatError(ValueError):
    """A timestamp or timerange string that does not follow the TAMS grammar."""


@dataclass(frozen=True, order=True, slots=True)
class Timestamp:
    """A point on a media timeline, in integer nanoseconds."""

    ns: int

    @classmethod
    def parse(cls, text: str) -> Timestamp:
        match = TIMESTAMP_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise TimeFormatError(f"invalid timestamp {_show(text)}: expected [-]seconds:nanoseconds")
        sign, seconds, nanos = match.groups()
        # The digit count first: int() of a huge string is slow and refused past 4,300 digits.
        value = int(seconds) * NS_PER_SECOND + int(nanos) if len(seconds) <= _SECONDS_DIGITS else NS_MAX + 1
        if value > NS_MAX:
            raise TimeFormatError(f"timestamp {_show(text)} is out of range: |t| must be below 2^63 ns (~292 years)")
        return cls(-value if sign else value)

    @classmethod
    def from_seconds(cls, seconds: Fraction | int) -> Timestamp:
        """Exact conversion from rational seconds; rounds half to even at 1 ns only if needed."""
        return cls(round(Fraction(seconds) * NS_PER_SECOND))

    @classmethod
    def from_count(cls, count: int, rate: Fraction) -> Timestamp:
        """The time of sample ``count`` at ``rate`` samples per second (e.g. Fraction(30000, 1001))."""
        return cls.from_seconds(Fraction(count) / Fraction(rate))

    def to_count(self, rate: Fraction) -> Fraction:
        """Number of samples at ``rate`` since zero, exact (may be fractional)."""
        return Fraction(self.ns, NS_PER_SECOND) * Fraction(rate)

    def to_seconds(self) -> Fraction:
        return Fraction(self.ns, NS_PER_SECOND)

    def __str__(self) -> str:
        seconds, nanos = divmod(abs(self.ns), NS_PER_SECOND)
        return f"{'-' if self.ns < 0 else ''}{seconds}:{nanos}"

    def __add__(self, other: Timestamp) -> Timestamp:
        return Timestamp(self.ns + other.ns)

    def __sub__(self, other: Timestamp) -> Timestamp:
        return Timestamp(self.ns - other.ns)

    def __neg__(self) -> Timestamp:
        return Timestamp(-self.ns)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A range of media time with optional bounds and clusivity markers.

    ``start``/``end`` are nanoseconds or None (unbounded). The canonical empty range has
    ``empty=True``; every range whose inclusive bounds cross is normalised to it.
    """

    start: int | None = None
    end: int | None = None
    include_start: bool = True
    include_end: bool = False
    empty: bool = False

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def never(cls) -> TimeRange:
        return _NEVER

    @classmethod
    def eternity(cls) -> TimeRange:
        return _ETERNITY

    @classmethod
    def make(
        cls, start: int | None, end: int | None, include_start: bool = True, include_end: bool = False
    ) -> TimeRange:
        """Builds a range, normalising markers on unbounded sides and collapsing empty ranges."""
        if start is None:
            include_start = False
        if end is None:
            include_end = False
        candidate = cls(start, end, include_start, include_end)
        if candidate.lo is not None and candidate.hi is not None and candidate.lo > candidate.hi:
            return _NEVER
        return candidate

    @classmethod
    def from_inclusive(cls, lo: int | None, hi: int | None) -> TimeRange:
        return cls.make(lo, hi, True, True)

    @classmethod
    def instant(cls, ns: int) -> TimeRange:
        return cls.make(ns, ns, True, True)

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        match = TIMERANGE_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise TimeFormatError(f"invalid timerange {_show(text)}: expected e.g. [0:0_10:0), [5:0], _ or ()")
        start_text, end_text = match["start"], match["end"]
        open_mark, close_mark = match["open"], match["close"]
        start = Timestamp.parse(start_text).ns if start_text else None
        end = Timestamp.parse(end_text).ns if end_text else None
        if match["sep"] is None:
            if start is None:
                # "", "[]", "()" and friends carry no timestamp and no separator: empty.
                return _NEVER
            # A bare or bracketed single timestamp is an instant; "(t)" or "[t)" is empty.
            if open_mark == "(" or close_mark == ")":
                return _NEVER
            return cls.instant(start)
        include_start = open_mark != "("
        include_end = close_mark == "]"
        if open_mark is None and close_mark is None and start is not None and end is not None:
            include_end = True  # no markers at all: inclusive at both ends (AppNote 0008)
        made = cls.make(start, end, include_start, include_end)
        if not made.within_bounds():
            raise TimeFormatError(f"timerange {_show(text)} has an exclusive bound at the edge of the time range")
        return made

    # -- inclusive integer bounds ---------------------------------------------------------------
    @property
    def lo(self) -> int | None:
        """First nanosecond inside the range (None when unbounded below)."""
        if self.start is None:
            return None
        return self.start if self.include_start else self.start + 1

    @property
    def hi(self) -> int | None:
        """Last nanosecond inside the range (None when unbounded above)."""
        if self.end is None:
            return None
        return self.end if self.include_end else self.end - 1

    # -- predicates --------------------------------------------------------------------------------
    def within_bounds(self) -> bool:
        """True when the first and last nanoseconds fit a stored integer (|ns| <= NS_MAX)."""
        lo, hi = self.lo, self.hi
        return (lo is None or -NS_MAX <= lo <= NS_MAX) and (hi is None or -NS_MAX <= hi <= NS_MAX)

    def is_empty(self) -> bool:
        return self.empty

    def is_eternity(self) -> bool:
        return not self.empty and self.start is None and self.end is None

    def is_bounded(self) -> bool:
        return not self.empty and self.start is not None and self.end is not None

    def is_instant(self) -> bool:
        return not self.empty and self.lo is not None and self.lo == self.hi

    def contains_point(self, ns: int) -> bool:
        if self.empty:
            return False
        lo, hi = self.lo, self.hi
        return (lo is None or lo <= ns) and (hi is None or ns <= hi)

    def overlaps(self, other: TimeRange) -> bool:
        if self.empty or other.empty:
            return False
        return _le(self.lo, other.hi) and _le(other.lo, self.hi)

    def contains(self, other: TimeRange) -> bool:
        """True when every instant of ``other`` lies in this range (the empty range is in all)."""
        if other.empty:
            return True
        if self.empty:
            return False
        lower_ok = self.lo is None or (other.lo is not None and self.lo <= other.lo)
        upper_ok = self.hi is None or (other.hi is not None and other.hi <= self.hi)
        return lower_ok and upper_ok

    # -- combinations ------------------------------------------------------------------------------
    def intersect(self, other: TimeRange) -> TimeRange:
        if not self.overlaps(other):
            return _NEVER
        start, include_start = _later_start(self, other)
        end, include_end = _earlier_end(self, other)
        return TimeRange.make(start, end, include_start, include_end)

    def envelope(self, other: TimeRange) -> TimeRange:
        """The smallest range covering both (gaps between them are included)."""
        if self.empty:
            return other
        if other.empty:
            return self
        if self.start is None or other.start is None:
            start, include_start = None, False
        else:
            first = self if self.lo <= other.lo else other  # type: ignore[operator]  # both starts set: lo is
            start, include_start = first.start, first.include_start
        if self.end is None or other.end is None:
            end, include_end = None, False
        else:
            last = self if self.hi >= other.hi else other  # type: ignore[operator]  # both ends set: hi is
            end, include_end = last.end, last.include_end
        return TimeRange.make(start, end, include_start, include_end)

    def shift(self, offset_ns: int) -> TimeRange:
        """The same range moved by ``offset_ns`` (used for ``timerange - ts_offset``)."""
        if self.empty:
            return self
        return TimeRange.make(
            None if self.start is None else self.start + offset_ns,
            None if self.end is None else self.end + offset_ns,
            self.include_start,
            self.include_end,
        )

    def length_ns(self) -> int | None:
        """Number of nanoseconds covered by an exclusive-end reading (None when unbounded)."""
        if self.empty:
            return 0
        if self.lo is None or self.hi is None:
            return None
        return self.hi - self.lo + 1

    # -- output ------------------------------------------------------------------------------------
    def __str__(self) -> str:
        if self.empty:
            return "()"
        if self.start is None and self.end is None:
            return "_"
        if (
            self.start is not None
            and self.is_instant()
            and self.include_start
            and self.include_end
            and self.start == self.end
        ):
            return f"[{Timestamp(self.start)}]"
        head = "" if self.start is None else ("[" if self.include_start else "(") + str(Timestamp(self.start))
        tail = "" if self.end is None else str(Timestamp(self.end)) + ("]" if self.include_end else ")")
        return f"{head}_{tail}"


def _show(value: object) -> str:
    """A bad value for an error message, cut short: a client may send thousands of digits."""
    text = repr(value)
    return text if len(text) <= 48 else f"{text[:40]}... ({len(text)} characters)"


def _le(a: int | None, b: int | None) -> bool:
    """a <= b where a None on the left means -inf and a None on the right means +inf."""
    return a is None or b is None or a <= b


def _later_start(a: TimeRange, b: TimeRange) -> tuple[int | None, bool]:
    if a.lo is None:
        return b.start, b.include_start
    if b.lo is None:
        return a.start, a.include_start
    chosen = a if a.lo >= b.lo else b
    return chosen.start, chosen.include_start


def _earlier_end(a: TimeRange, b: TimeRange) -> tuple[int | None, bool]:
    if a.hi is None:
        return b.end, b.include_end
    if b.hi is None:
        return a.end, a.include_end
    chosen = a if a.hi <= b.hi else b
    return chosen.end, chosen.include_end


_NEVER = TimeRange(None, None, False, False, True)
_ETERNITY = TimeRange(None, None, False, False, False)


def envelope_text(earliest: str, latest: str) -> str:
    """``str(TimeRange.parse(earliest).envelope(TimeRange.parse(latest)))`` for the canonical texts
    (``str(TimeRange)``) of two ranges where ``earliest`` starts first and ``latest`` ends last, as
    the first and last segments of a page do (segments of a flow never overlap). Two bounded
    ranges need no parsing: the head of one and the tail of the other (a page's
    X-Paging-Timerange, where parsing both was a tenth of the route's own time)."""
    head, sep, _ = earliest.partition("_")
    _, sep_latest, tail = latest.partition("_")
    if sep and sep_latest and len(head) > 1 and len(tail) > 1:
        return f"{head}_{tail}"
    return str(TimeRange.parse(earliest).envelope(TimeRange.parse(latest)))
