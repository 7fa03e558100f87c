"""Checksums of uploaded bytes (S3's headers, ADR 0048): verified as the bytes stream in, never re-read.

A PUT may carry ``Content-MD5`` and ``x-amz-checksum-{crc32,crc32c,sha1,sha256}`` (base64 of the
big-endian digest, as S3 has them); ``Digests`` computes those asked for plus a SHA-256, which the
gateway always records, chunk by chunk. ``check`` then raises ``BadDigest`` on a mismatch.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from typing import Protocol

import crc32c as _crc32c

CHECKSUM_HEADERS = ("content-md5", *(f"x-amz-checksum-{a}" for a in ("crc32", "crc32c", "sha1", "sha256")))


class BadDigest(ValueError):
    """The bytes do not match a checksum the client sent with them (HTTP 400, S3's ``BadDigest``)."""


class _Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


class _Crc:
    """A CRC with hashlib's interface: ``digest`` is the 4-byte big-endian value S3 sends."""

    def __init__(self, castagnoli: bool) -> None:
        self.value = 0
        self._castagnoli = castagnoli

    def update(self, data: bytes) -> None:
        self.value = _crc32c.crc32c(data, self.value) if self._castagnoli else zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def _new(header: str) -> _Hash:
    if header == "content-md5":
        return hashlib.md5(usedforsecurity=False)
    algorithm = header.removeprefix("x-amz-checksum-")
    if algorithm in ("crc32", "crc32c"):
        return _Crc(castagnoli=algorithm == "crc32c")
    return hashlib.new(algorithm)


def expected_checksums(headers: Mapping[str, str]) -> dict[str, bytes]:
    """The checksums a request declares (header -> digest); BadDigest when one is not valid base64."""
    found: dict[str, bytes] = {}
    for name in CHECKSUM_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        try:
            found[name] = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BadDigest(f"{name} is not a base64 digest") from None
    return found


class Digests:
    """The SHA-256 of a stream and the checksums it must match, updated chunk by chunk."""

    def __init__(self, expected: Mapping[str, bytes] | None = None, also: Sequence[str] = ()) -> None:
        """``also``: further checksums (header names) to compute without expecting a value."""
        self.expected = dict(expected or {})
        self.sha256 = hashlib.sha256()
        wanted = {*self.expected, *also} - {"x-amz-checksum-sha256"}
        self._others = {name: _new(name) for name in wanted}
        self.size = 0

    def update(self, chunk: bytes) -> None:
        """Hashes one chunk (hashlib releases the GIL on large chunks: call it off the event loop)."""
        self.size += len(chunk)
        self.sha256.update(chunk)
        for digest in self._others.values():
            digest.update(chunk)

    def check(self) -> None:
        """BadDigest naming the first checksum the bytes do not match."""
        for name, wanted in self.expected.items():
            if self.digest(name) != wanted:
                raise BadDigest(f"the bytes do not match their {name} (the upload was corrupted); nothing was stored")

    def digest(self, name: str) -> bytes:
        return self.sha256.digest() if name == "x-amz-checksum-sha256" else self._others[name].digest()

    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def sha256_header(sha256_hex: str) -> dict[str, str]:
    """``x-amz-checksum-sha256`` for a recorded SHA-256 (hex), as S3 would send it."""
    return {"x-amz-checksum-sha256": base64.b64encode(bytes.fromhex(sha256_hex)).decode()}
