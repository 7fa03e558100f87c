"""An object's instances beyond the first: controlled copies onto another backend, client URLs.

A copy is verified before it is recorded: the bytes read are hashed as they stream through, and
their size and SHA-256 must match what the catalog recorded at registration (when it did), and the
copy the target reports (its size; its SHA-256 or, for a single-part S3 object, its MD5 ETag). A
mismatch deletes the copy and records nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio.to_thread

from catalog.errors import Invalid, NotFound
from catalog.store import Copying, ObjectDigest
from streaming.objects.deletion import delete_bytes
from streaming.storage.interface import ObjectExists, ObjectInfo, StoreError, StoreUnavailable
from streaming.storage.registry import Storage

_MD5_ETAG = re.compile(r'^"[0-9a-f]{32}"$')  # S3's ETag of a single-part upload is its MD5


class CopyMismatch(StoreError):
    """The copied bytes do not match the object's (HTTP 502); the copy was removed."""


@dataclass
class _Hashed:
    """The bytes of a stream as they pass: count, SHA-256 and MD5."""

    body: AsyncIterator[bytes]
    size: int = 0

    def __post_init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.md5 = hashlib.md5(usedforsecurity=False)

    def _update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.sha256.update(chunk)
        self.md5.update(chunk)

    async def stream(self) -> AsyncIterator[bytes]:
        async for chunk in self.body:
            await anyio.to_thread.run_sync(self._update, chunk)  # hashing is CPU work: off the loop
            yield chunk


def _mismatch(source: ObjectInfo, recorded: ObjectDigest | None, copied: _Hashed, target: ObjectInfo) -> str | None:
    """Why the copy is not the object's bytes, or None when it is."""
    sha256 = copied.sha256.hexdigest()
    if recorded is not None and recorded.size is not None and copied.size != recorded.size:
        return f"{copied.size} bytes were read, but {recorded.size} were registered"
    if recorded is not None and recorded.sha256 and sha256 != recorded.sha256:
        return "the bytes read do not match the SHA-256 recorded at registration (the source is corrupt)"
    if copied.size != source.size:
        return f"{copied.size} bytes were read of the source's {source.size}"
    if target.size != copied.size:
        return f"the copy has {target.size} bytes, not {copied.size}"
    if target.sha256 and target.sha256 != sha256:
        return "the copy's SHA-256 differs from the bytes sent"
    if not target.sha256 and _MD5_ETAG.match(target.etag) and target.etag.strip('"') != copied.md5.hexdigest():
        return "the copy's ETag (MD5) differs from the bytes sent"
    return None


@dataclass
class Instances:
    catalog: Copying
    storage: Storage

    async def add(self, object_id: str, body: dict[str, Any]) -> None:
        """A controlled copy onto another backend (copied now), or a client URL (recorded)."""
        if "storage_id" not in body:
            await self.catalog.add_uncontrolled_instance(
                object_id, body["url"], body["label"], sorted(self.storage.labels)
            )
            return
        target = self.storage.target(body["storage_id"])
        found = await self.catalog.get_object(object_id, None, 1)
        if found is None:
            raise NotFound(f"object {object_id!r} does not exist")
        record = found[0]
        if any(i.storage_id == target.info.id for i in record.instances):
            raise Invalid(f"object {object_id!r} already has an instance on {target.info.id}")
        source = self.storage.readable(record.instances)
        if source is None:
            raise Invalid(f"object {object_id!r} has no controlled instance to copy from")
        info = await source.store.head(source.key)
        if info is None:
            raise StoreUnavailable(f"the bytes of object {object_id!r} are missing from {source.store.info.label}")
        recorded = (await self.catalog.object_digests([object_id])).get(object_id)
        copied = _Hashed(source.store.read(source.key, 0, info.size - 1))
        try:  # the same key on every backend: a function of the object alone
            written = await target.write(source.key, copied.stream(), info.content_type)
        except ObjectExists:
            raise Invalid(
                f"storage backend {target.info.id} already holds other bytes under object {object_id!r}'s key"
            ) from None
        problem = _mismatch(info, recorded, copied, written)
        if problem is not None:
            await target.delete(source.key)
            raise CopyMismatch(f"the copy of object {object_id!r} onto {target.info.label} failed: {problem}")
        await self.catalog.add_instance(object_id, target.info.id, source.key)

    async def remove(self, object_id: str, storage_id: str | None, label: str | None) -> None:
        if storage_id is None and label is None:
            raise Invalid("give storage_id or label to say which instance to delete")
        gone = await self.catalog.remove_instance(object_id, storage_id, label)
        if gone is not None:
            await delete_bytes(self.storage, [gone])
