"""HMAC-SHA256 under one fixed key, for signing thousands of URLs at a time.

``hmac.new`` and ``HMAC.copy`` do their work in Python; copying two ``hashlib`` states made once
(the key XOR-ed with HMAC's inner and outer pads, RFC 2104) is done in C. Both the S3 presigner
and the local-disk store sign a day-long playlist's URLs this way.
"""

from __future__ import annotations

import hashlib


class HmacSha256:
    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def with_prefix(self, prefix: bytes) -> HmacSha256:
        """The same key with ``prefix`` already fed in: what every message shares is hashed once."""
        mac = object.__new__(HmacSha256)
        mac._inner = self._inner.copy()
        mac._inner.update(prefix)
        mac._outer = self._outer  # only ever copied, never fed
        return mac

    @property
    def states(self) -> tuple[hashlib._Hash, hashlib._Hash]:
        """The inner and outer states, for a loop that inlines ``digest`` (copy each, never feed them)."""
        return self._inner, self._outer

    def digest(self, message: bytes) -> bytes:
        """HMAC-SHA256 of (the prefix, if any, then) ``message``; equal to ``hmac.digest(key, ...)``."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()
