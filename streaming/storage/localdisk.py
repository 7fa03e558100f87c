"""The local-disk object store: files under the data dir, served by the gateway through signed URLs.

Writes are atomic (temporary file, fsync, hard link) and never replace other bytes: stored bytes are
immutable (local_files.py), and each object's SHA-256, computed as the bytes stream in, is kept with
it (an extended attribute). Multipart uploads are in local_multipart.py. URLs carry an expiry (for GET URLs aligned to a
time bucket, see expiry.py) and an HMAC-SHA256 signature over method, backend, key, expiry (and
content type for PUT), made with a key generated on first start; the gateway's ``/_store`` routes
check them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from urllib.parse import urlencode

import anyio
import anyio.to_thread

from streaming.storage import local_files
from streaming.storage.checksums import Digests
from streaming.storage.expiry import signing_window
from streaming.storage.fast_hmac import HmacSha256
from streaming.storage.interface import BackendInfo, ObjectInfo, Opened, open_after_head, url_path
from streaming.storage.keys import load_or_create_secret
from streaming.storage.local_multipart import LocalParts
from streaming.storage.ranges import RangeSpec

CHUNK = 1024 * 1024  # large reads: fewer event-loop turns per MiB proxied
STORE_PREFIX = "/_store"


class UrlSigner:
    def __init__(self, key: bytes) -> None:
        self._mac = HmacSha256(key)

    def get_signatures(self, storage_id: str, keys: list[str], expires: int) -> list[str]:
        """``signature("GET", storage_id, key, expires)`` for many keys (playlists): the shared
        start of the message is hashed once."""
        sign = self._mac.with_prefix(f"GET\n{storage_id}\n".encode()).digest
        tail = f"\n{expires}\n".encode()
        encode = base64.urlsafe_b64encode
        return [encode(sign(key.encode() + tail)).decode().rstrip("=") for key in keys]

    def signature(self, method: str, storage_id: str, key: str, expires: int, content_type: str = "") -> str:
        message = f"{method}\n{storage_id}\n{key}\n{expires}\n{content_type}".encode()
        return base64.urlsafe_b64encode(self._mac.digest(message)).decode().rstrip("=")

    def verify(
        self, method: str, storage_id: str, key: str, expires: str, signature: str, content_type: str = ""
    ) -> str | None:
        """None when valid, else the reason it is refused."""
        if not expires.isdigit():
            return "the URL has no valid expiry"
        if int(expires) < time.time():
            return "the URL has expired"
        expected = self.signature(method, storage_id, key, int(expires), content_type)
        if not hmac.compare_digest(expected, signature):
            return "the URL's signature does not match"
        return None


class LocalDiskStore:
    """Implements ``ObjectStore`` over a directory."""

    def __init__(
        self,
        info: BackendInfo,
        root: Path,
        public_base_url: str,
        signing_key_path: Path,
        max_object_bytes: int = 5 * 1024**3,
        stale_after_s: float = 3600,
    ) -> None:
        self.info = info
        self.root = root.resolve()
        self.public_base_url = public_base_url.rstrip("/")
        self.signing_key_path = signing_key_path
        self.max_object_bytes = max_object_bytes
        self.stale_after_s = stale_after_s  # temporaries untouched this long are a crash's leftovers
        self.signer: UrlSigner | None = None
        self._in_use: set[Path] = set()  # temporaries and upload directories being written now
        self.parts = LocalParts(self.root, max_object_bytes, self._in_use)

    async def start(self) -> None:
        (self.root / local_files.INCOMING).mkdir(parents=True, exist_ok=True)
        self.signer = UrlSigner(load_or_create_secret(self.signing_key_path))
        await self.sweep()

    async def sweep(self, everywhere: bool = False) -> int:
        """Removes temporaries left by crashes and abandoned multipart uploads (by age, never one in
        use); ``everywhere`` walks the whole tree (reconcile), else only the two temporary folders."""
        return await anyio.to_thread.run_sync(
            local_files.sweep, self.root, self.stale_after_s, self._in_use.__contains__, everywhere
        )

    async def close(self) -> None:
        pass

    def path(self, key: str) -> Path:
        """The file of ``key``; refuses anything that would leave the store's directory."""
        candidate = (self.root / key).resolve()
        if self.root not in candidate.parents:
            raise ValueError(f"key {key!r} is outside the store")
        return candidate

    async def head(self, key: str) -> ObjectInfo | None:
        def stat() -> ObjectInfo | None:
            try:
                path = self.path(key)
                st = path.stat()
            except (FileNotFoundError, ValueError):
                return None
            return ObjectInfo(st.st_size, _etag(st), st.st_mtime, None, local_files.read_sha256(path))

        return await anyio.to_thread.run_sync(stat)

    async def open(self, key: str, wanted: RangeSpec | None) -> Opened | None:
        return await open_after_head(self, key, wanted)  # a stat is no round trip

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self.path(key), "rb") as handle:
            await handle.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = await handle.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                yield chunk

    async def write(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        content_type: str | None,
        expected: Mapping[str, bytes] | None = None,
    ) -> ObjectInfo:
        """Streams to a temporary file (hashing it), checks the ``expected`` checksums, fsyncs and links
        it into place. ObjectTooLarge past the limit, BadDigest on a checksum mismatch, ObjectExists
        when other bytes are stored under the key (the same bytes again are fine), StoreFull on a full
        disk; nothing is stored after any of them."""
        final = self.path(key)
        tmp = self.root / local_files.INCOMING / f"{final.name}.{os.getpid()}.{time.monotonic_ns()}.part"
        digests = Digests(expected)
        self._in_use.add(tmp)
        try:
            await local_files.stream_to(tmp, chunks, digests, self.max_object_bytes)

            def place() -> None:
                final.parent.mkdir(parents=True, exist_ok=True)
                local_files.publish(tmp, final, digests.hexdigest())

            await anyio.to_thread.run_sync(place)
        finally:
            self._in_use.discard(tmp)
        info = await self.head(key)
        assert info is not None
        return info

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))

    async def list_keys(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        def scan() -> list[tuple[str, float]]:
            base = self.root / prefix
            if not base.is_dir():
                return []
            found = []
            for path in base.rglob("*"):
                if path.is_file() and not path.name.startswith("."):  # skip in-flight .part files
                    found.append((path.relative_to(self.root).as_posix(), path.stat().st_mtime))
            return found

        for item in await anyio.to_thread.run_sync(scan):
            yield item

    def _url(
        self,
        method: str,
        key: str,
        expires_in: int,
        content_type: str = "",
        part: dict[str, str] | None = None,
        expires: int | None = None,
    ) -> str:
        assert self.signer is not None, "LocalDiskStore.start() was not awaited"
        expires = int(time.time()) + expires_in if expires is None else expires
        signed_key = key if part is None else f"{key}?uploadId={part['uploadId']}&partNumber={part['partNumber']}"
        signature = self.signer.signature(method, self.info.id, signed_key, expires, content_type)
        query = urlencode({**(part or {}), "expires": expires, "signature": signature})
        return f"{self.public_base_url}{STORE_PREFIX}/{self.info.id}/{url_path(key)}?{query}"

    # -- multipart (local_multipart.py): parts under .multipart/<upload id>/, joined on completion --
    async def create_multipart(self, key: str, content_type: str) -> str:
        return await self.parts.create(key)

    def part_url(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        return self._url("PUT", key, expires_in, "", {"uploadId": upload_id, "partNumber": str(part_number)})

    async def write_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        chunks: AsyncIterator[bytes],
        expected: dict[str, bytes] | None = None,
    ) -> str:
        return await self.parts.write(key, upload_id, part_number, chunks, expected or {})

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        return await self.parts.complete(key, upload_id, parts, lambda k, body: self.write(k, body, None))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        await self.parts.abort(key, upload_id)

    def get_url(self, key: str, expires_in: int) -> str:
        """Valid for at least ``expires_in`` s, and the same URL throughout a time bucket (expiry.py)."""
        return self._url("GET", key, expires_in, expires=signing_window(expires_in).expires)

    def get_urls(self, keys: list[str], expires_in: int) -> list[str]:
        """The same URLs as ``get_url``, for many keys at one instant."""
        assert self.signer is not None, "LocalDiskStore.start() was not awaited"
        expires = signing_window(expires_in).expires
        prefix = f"{self.public_base_url}{STORE_PREFIX}/{self.info.id}/"
        signatures = self.signer.get_signatures(self.info.id, keys, expires)
        return [
            f"{prefix}{url_path(key)}?expires={expires}&signature={signature}"
            for key, signature in zip(keys, signatures, strict=True)
        ]

    def put_url(self, key: str, content_type: str, expires_in: int) -> str:
        return self._url("PUT", key, expires_in, content_type)


def _etag(st: os.stat_result) -> str:
    return '"' + hashlib.md5(f"{st.st_mtime}-{st.st_size}".encode(), usedforsecurity=False).hexdigest() + '"'
