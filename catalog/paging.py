"""Opaque keyset paging keys: a tuple of sort values, tagged with the listing it belongs to."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from catalog.errors import BadPageKey


def encode_key(kind: str, *values: Any) -> str:
    raw = json.dumps([kind, *values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_key(kind: str, key: str, arity: int) -> list[Any]:
    """Returns the sort values of ``key``; a key from another listing or a garbled one is refused."""
    try:
        raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
        decoded = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadPageKey(f"invalid page key {key!r}") from None
    if not isinstance(decoded, list) or len(decoded) != arity + 1 or decoded[0] != kind:
        raise BadPageKey(f"page key {key!r} does not belong to this listing")
    return decoded[1:]
