"""HTTP byte ranges (RFC 9110 §14) for proxied objects: parsing and conditional-request rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streaming.storage.interface import ObjectInfo

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class RangeNotSatisfiable(Exception):
    """No byte of the object is in the requested range (HTTP 416); ``size`` is the object's."""

    def __init__(self, header: str, size: int) -> None:
        super().__init__(header)
        self.size = size


class MultipleRanges(Exception):
    """Several ranges in one request, which proxy mode does not serve."""


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class RangeSpec:
    """One byte range as the client asked for it, before the object's size is known: a store that
    understands Range (S3) can then be asked for it directly, with no HEAD first."""

    first: int | None  # None: a suffix range, the last ``last`` bytes
    last: int | None  # None: up to the end

    def header(self) -> str:
        return f"bytes={'' if self.first is None else self.first}-{'' if self.last is None else self.last}"

    @property
    def never_satisfiable(self) -> bool:
        """No object has a byte in it (``-0``, or an end before the start): a 416 whatever the size."""
        if self.first is None:
            return self.last == 0
        return self.last is not None and self.last < self.first

    def resolve(self, size: int) -> ByteRange:
        """The bytes this range covers in an object of ``size`` bytes, or RangeNotSatisfiable."""
        if self.never_satisfiable or size == 0:
            raise RangeNotSatisfiable(self.header(), size)
        if self.first is None:
            assert self.last is not None
            return ByteRange(max(size - self.last, 0), size - 1)
        if self.first >= size:
            raise RangeNotSatisfiable(self.header(), size)
        return ByteRange(self.first, size - 1 if self.last is None else min(self.last, size - 1))


def parse_range_spec(header: str | None) -> RangeSpec | None:
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
    return RangeSpec(int(match[1]) if match[1] else None, int(match[2]) if match[2] else None)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single range asked for in an object of ``size`` bytes; None for the whole object."""
    spec = parse_range_spec(header)
    return spec.resolve(size) if spec is not None else None


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


CONDITIONAL_HEADERS = ("if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range")


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None  # an invalid date is ignored (RFC 9110 §13.1.3, §13.1.4)


def precondition(headers: Mapping[str, str], info: ObjectInfo) -> int | None:
    """RFC 9110 §13.2.2 for a GET or HEAD: 412 when If-Match (or, without it, If-Unmodified-Since)
    fails, 304 when If-None-Match matches (or, without it, If-Modified-Since finds no change), else None."""
    modified = int(info.last_modified)  # HTTP dates have whole seconds
    if_match = headers.get("if-match")
    if if_match:
        tags = [t.strip() for t in if_match.split(",")]
        if "*" not in tags and info.etag not in tags:  # strong comparison: weak tags never match
            return 412
    elif (since := _http_date(headers.get("if-unmodified-since"))) is not None and modified > since:
        return 412
    if headers.get("if-none-match"):
        return 304 if not_modified(headers.get("if-none-match"), info) else None
    if (since := _http_date(headers.get("if-modified-since"))) is not None and modified <= since:
        return 304
    return None
