"""Getting bytes in: allocating objects with presigned PUT URLs, and multipart uploads of large ones."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from catalog.errors import Invalid, NotFound
from catalog.store import Allocation, Uploading
from streaming.objects.settings import MediaSettings
from streaming.storage.interface import ObjectStore, ObjectTooLarge, object_key
from streaming.storage.registry import Storage

OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Upload:
    """An allocated object and where its bytes go: a presigned PUT URL and the type to PUT them as."""

    object_id: str
    put_url: str
    content_type: str


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    object_id: str
    upload_id: str
    part_urls: list[str]  # part n (from 1) goes to part_urls[n - 1]


@dataclass
class Uploads:
    catalog: Uploading
    storage: Storage
    settings: MediaSettings

    async def allocate(
        self,
        flow_id: str,
        *,
        limit: int | None,
        object_ids: Sequence[str] | None,
        storage_id: str | None,
        content_type: str | None,
        presigned: bool | None,
    ) -> list[Upload]:
        """Objects for a flow to upload into, each with a presigned PUT URL."""
        if limit is not None and object_ids is not None:
            raise Invalid("give either limit or object_ids, not both")
        if presigned is False:
            raise Invalid("this gateway hands out presigned put URLs only; omit presigned or set it to true")
        flow = await self.catalog.get_flow(flow_id)
        if flow is None:
            raise NotFound(f"flow {flow_id} does not exist")
        container = flow.get("container")
        init_segments = bool((flow.get("essence_parameters") or {}).get("init_segments"))
        mime = content_type or container
        if content_type and container and content_type != container and not init_segments:
            raise Invalid(
                f"content_type {content_type} differs from the flow's container {container}; only flows "
                "with init segments may allocate objects of another type"
            )
        store = self.storage.target(storage_id)
        if object_ids is None:
            count = min(limit or self.settings.allocation_limit, self.settings.allocation_limit)
            object_ids = [str(uuid.uuid4()) for _ in range(count)]
        allocations = [Allocation(oid, store.info.id, object_key(oid, mime), mime) for oid in object_ids]
        deadline = time.time_ns() + (self.settings.object_timeout_s + self.settings.gc_grace_s) * 1_000_000_000
        await self.catalog.allocate(flow_id, allocations, deadline)
        expiry, put_type = self.settings.presign_expiry_s, mime or OCTET_STREAM
        return [Upload(a.object_id, store.put_url(a.key, put_type, expiry), put_type) for a in allocations]

    async def _allocation(self, flow_id: str, object_id: str) -> tuple[Allocation, ObjectStore]:
        allocation = (await self.catalog.pending_objects([object_id])).get(object_id)
        if allocation is None or allocation.flow_id != flow_id:
            raise NotFound(f"object {object_id!r} is not an unregistered allocation of flow {flow_id}")
        store = self.storage.get(allocation.storage_id)
        if store is None:
            raise Invalid(f"object {object_id!r} was allocated on a storage backend that is gone")
        return allocation, store

    async def start_multipart(self, flow_id: str, object_id: str, parts: int) -> MultipartUpload:
        """An upload in ``parts`` pieces (for objects too large for one PUT), each with a presigned URL."""
        allocation, store = await self._allocation(flow_id, object_id)
        upload_id = await store.create_multipart(allocation.key, allocation.content_type or OCTET_STREAM)
        expiry = self.settings.presign_expiry_s
        return MultipartUpload(
            object_id, upload_id, [store.part_url(allocation.key, upload_id, n, expiry) for n in range(1, parts + 1)]
        )

    async def complete_multipart(
        self, flow_id: str, object_id: str, upload_id: str, parts: list[tuple[int, str]]
    ) -> int:
        """Joins the parts into the object; returns its size in bytes."""
        allocation, store = await self._allocation(flow_id, object_id)
        try:
            info = await store.complete_multipart(allocation.key, upload_id, parts)
        except ObjectTooLarge:
            raise  # the upload is gone with its parts (HTTP 413)
        except ValueError as exc:  # also an upload id of another object: each is bound to its own
            raise Invalid(f"cannot complete the upload of object {object_id!r}: {exc}") from None
        return info.size

    async def abort_multipart(self, flow_id: str, object_id: str, upload_id: str) -> None:
        """Abandons an upload: its parts are deleted (uploads never completed nor aborted are removed
        by age in the clean-up pass)."""
        allocation, store = await self._allocation(flow_id, object_id)
        try:
            await store.abort_multipart(allocation.key, upload_id)
        except ValueError as exc:
            raise NotFound(f"object {object_id!r} has no multipart upload {upload_id!r}: {exc}") from None
