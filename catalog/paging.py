"""Opaque keyset paging keys: a tuple of sort values, tagged with the listing it belongs to."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from catalog.errors import BadPageKey
from catalog.vocabulary import INT_MAX


def encode_key(kind: str, *values: Any) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def segment_key(lo: int) -> str:
    """``encode_key("segments", lo)`` without the JSON encoder (a segment page's next key, per request)."""
    return base64.urlsafe_b64encode(b'["segments",%d]' % lo).decode().rstrip("=")


def decode_key(kind: str, key: str, arity: int, types: tuple[type, ...] | None = None) -> list[Any]:
    """Returns the sort values of ``key``; a key from another listing or a garbled one is refused.

    Keys come from clients, so every value must be what a sort column can hold (a string, a
    boolean or an integer a store can bind: no floats, nulls, lists or integers beyond 64 bits),
    and of the listing's ``types`` when given.
    """
    shown = key if len(key) <= 48 else key[:40] + "..."
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadPageKey(f"invalid page key {shown!r}") from None
    if not isinstance(decoded, list) or len(decoded) != arity + 1 or decoded[0] != kind:
        raise BadPageKey(f"page key {shown!r} does not belong to this listing")
    values = decoded[1:]
    wanted = types or (object,) * arity
    if not all(_sortable(value) and _is(value, want) for value, want in zip(values, wanted, strict=True)):
        raise BadPageKey(f"page key {shown!r} does not belong to this listing")
    return values


def _sortable(value: Any) -> bool:
    """A value a sort column holds: a string, a boolean (VAST DB's "label is unset") or an int64."""
    return isinstance(value, str) or (isinstance(value, int) and -INT_MAX - 1 <= value <= INT_MAX)


def _is(value: Any, want: type) -> bool:
    return isinstance(value, want) and not (want is int and isinstance(value, bool))


def segment_cursor(page: str | None) -> int | None:
    """The ``ts_lo`` after which a segment page continues (both stores' segment listings)."""
    if page is None:
        return None
    (after,) = decode_key("segments", page, 1, (int,))
    return int(after)


def page_sorted(
    keyed: list[tuple[tuple[Any, ...], Any]], *, kind: str, arity: int, descending: bool, page: str | None, limit: int
) -> tuple[list[Any], str | None]:
    """Keyset paging in memory: ``keyed`` holds (unique sort key of ``arity`` values, item) in any order.

    For stores that cannot sort (VAST DB has no ORDER BY): the caller fetches the candidates with
    pushed-down filters, and this orders them and cuts one page after the page key.
    """
    keyed = sorted(keyed, key=lambda pair: pair[0], reverse=descending)
    if page is not None:
        after = tuple(decode_key(kind, page, arity))
        try:
            keyed = [p for p in keyed if (p[0] < after if descending else p[0] > after)]
        except TypeError:
            raise BadPageKey(f"page key {page!r} does not belong to this listing") from None
    items = keyed[: limit + 1]
    next_key = None
    if len(items) > limit:
        items = items[:limit]
        next_key = encode_key(kind, *items[-1][0])
    return [item for _, item in items], next_key
