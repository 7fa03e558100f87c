"""HTTP byte ranges (RFC 9110 §14) for proxied objects: parsing and conditional-request rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formatdate

from streaming.backends import ObjectInfo

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(Exception):
    """No byte of the object is in the requested range (HTTP 416)."""


class MultipleRanges(Exception):
    """Several ranges in one request, which proxy mode does not serve."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range asked for, None for the whole object (no header, or a unit we ignore)."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    parts = [p for p in spec.split(",") if p.strip()]
    if len(parts) > 1:
        raise MultipleRanges(header)
    match = _RANGE.match(parts[0]) if parts else None
    if match is None or (not match[1] and not match[2]):
        return None  # malformed: RFC 9110 lets a server ignore it and send the whole object
    first, last = match[1], match[2]
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return ByteRange(max(size - length, 0), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise RangeNotSatisfiable(header)
    return ByteRange(start, end)


def last_modified(info: ObjectInfo) -> str:
    return formatdate(info.last_modified, usegmt=True)


def range_applies(if_range: str | None, info: ObjectInfo) -> bool:
    """If-Range: serve the range only when the validator still matches."""
    return if_range is None or if_range.strip() in (info.etag, last_modified(info))


def not_modified(if_none_match: str | None, info: ObjectInfo) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or info.etag in tags
