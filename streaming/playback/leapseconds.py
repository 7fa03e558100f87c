"""TAI to UTC: TAMS timestamps are TAI since 1970-01-01; playlists show UTC wall-clock time.

The table lists when TAI−UTC changed (UTC instant of the change, new offset in seconds), from IERS
Bulletin C; no leap second has been announced after 2017-01-01 as of this writing (TAI−UTC = 37 s).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from catalog.timing import NS_PER_SECOND

_CHANGES = [  # (UTC date of the change, TAI − UTC from then on)
    ((1972, 1, 1), 10),
    ((1972, 7, 1), 11),
    ((1973, 1, 1), 12),
    ((1974, 1, 1), 13),
    ((1975, 1, 1), 14),
    ((1976, 1, 1), 15),
    ((1977, 1, 1), 16),
    ((1978, 1, 1), 17),
    ((1979, 1, 1), 18),
    ((1980, 1, 1), 19),
    ((1981, 7, 1), 20),
    ((1982, 7, 1), 21),
    ((1983, 7, 1), 22),
    ((1985, 7, 1), 23),
    ((1988, 1, 1), 24),
    ((1990, 1, 1), 25),
    ((1991, 1, 1), 26),
    ((1992, 7, 1), 27),
    ((1993, 7, 1), 28),
    ((1994, 7, 1), 29),
    ((1996, 1, 1), 30),
    ((1997, 7, 1), 31),
    ((1999, 1, 1), 32),
    ((2006, 1, 1), 33),
    ((2009, 1, 1), 34),
    ((2012, 7, 1), 35),
    ((2015, 7, 1), 36),
    ((2017, 1, 1), 37),
]
# the same changes as TAI instants in ns, latest first, for the lookup
_TAI_CHANGES = sorted(
    ((calendar.timegm((y, m, d, 0, 0, 0)) + offset) * NS_PER_SECOND, offset) for (y, m, d), offset in _CHANGES
)[::-1]


def tai_to_utc_ns(tai_ns: int) -> int:
    """UTC nanoseconds since the Unix epoch for a TAI time (before 1972, TAI − UTC is taken as 10 s)."""
    for change_ns, offset in _TAI_CHANGES:
        if tai_ns >= change_ns:
            return tai_ns - offset * NS_PER_SECOND
    return tai_ns - 10 * NS_PER_SECOND


def utc_iso(tai_ns: int) -> str:
    """``2026-11-24T12:00:00.040Z`` for a TAI time: millisecond precision, as HLS expects."""
    utc_ns = tai_to_utc_ns(tai_ns)
    seconds, nanos = divmod(utc_ns, NS_PER_SECOND)
    stamp = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{nanos // 1_000_000:03d}Z"
