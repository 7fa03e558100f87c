"""Objects and their bytes: allocation, registration checks, instances and clean-up.

The one place where the catalog (what exists) meets the object stores (the bytes). Catalog writes
happen first and bytes are deleted only after the catalog has let go of them, so a crash can leave
unreferenced bytes (collected later) but never a segment whose bytes were deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from catalog.errors import Invalid, NotFound
from catalog.store import Allocation, Catalog, Instance, SegmentFailure
from catalog.timing import TimeRange, Timestamp
from streaming.ingest.probe import probe
from streaming.storage.interface import ObjectStore, StoreUnavailable, object_key
from streaming.storage.registry import Storage

log = logging.getLogger("tams.media")


@dataclass(frozen=True)
class MediaSettings:
    presign_expiry_s: int = 3600  # lifetime of presigned GET and PUT URLs
    object_timeout_s: int = 600  # unregistered allocations are removed after this (spec minimum 300)
    gc_grace_s: int = 60
    allocation_limit: int = 100  # default and largest number of objects per storage request
    check_uploads: bool = True  # HEAD the bytes of an allocated object before its first registration
    require_known_objects: bool = True  # an object must be allocated, already known, or come with get_urls
    probe_on_register: bool = False  # probe first registrations with PyAV: fill key_frame_count, check duration
    probe_max_bytes: int = 256 * 1024 * 1024
    sync_delete_limit: int = 10_000  # segment deletes larger than this run in the background


class MediaService:
    def __init__(self, catalog: Catalog, storage: Storage, settings: MediaSettings) -> None:
        self.catalog = catalog
        self.storage = storage
        self.settings = settings
        self._gc_task: asyncio.Task | None = None
        self._deletion_task: asyncio.Task | None = None
        self._deletions_due = asyncio.Event()

    # -- allocation -------------------------------------------------------------------------------------------
    def store_for(self, storage_id: str | None) -> ObjectStore:
        if storage_id is None:
            if self.storage.default is None:
                raise Invalid("no default storage backend is configured; give storage_id")
            return self.storage.default
        store = self.storage.get(storage_id)
        if store is None:
            raise Invalid(f"storage_id {storage_id} names no storage backend")
        return store

    async def allocate(self, flow_id: str, *, limit: int | None, object_ids: Sequence[str] | None,
                       storage_id: str | None, content_type: str | None, presigned: bool | None) -> list[dict]:
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
            raise Invalid(f"content_type {content_type} differs from the flow's container {container}; only flows "
                          "with init segments may allocate objects of another type")
        store = self.store_for(storage_id)
        if object_ids is None:
            count = min(limit or self.settings.allocation_limit, self.settings.allocation_limit)
            object_ids = [str(uuid.uuid4()) for _ in range(count)]
        allocations = [Allocation(oid, store.info.id, object_key(oid, mime), mime) for oid in object_ids]
        deadline = time.time_ns() + (self.settings.object_timeout_s + self.settings.gc_grace_s) * 1_000_000_000
        await self.catalog.allocate(flow_id, allocations, deadline)
        expiry = self.settings.presign_expiry_s
        return [
            {"object_id": a.object_id, "presigned": True,
             "put_url": {"url": store.put_url(a.key, mime or "application/octet-stream", expiry),
                         "content-type": mime or "application/octet-stream"}}
            for a in allocations
        ]

    # -- multipart uploads of large objects ------------------------------------------------------------------
    async def _allocation(self, flow_id: str, object_id: str) -> tuple[Allocation, ObjectStore]:
        allocation = (await self.catalog.pending_objects([object_id])).get(object_id)
        if allocation is None or allocation.flow_id != flow_id:
            raise NotFound(f"object {object_id!r} is not an unregistered allocation of flow {flow_id}")
        store = self.storage.get(allocation.storage_id)
        if store is None:
            raise Invalid(f"object {object_id!r} was allocated on a storage backend that is gone")
        return allocation, store

    async def start_multipart(self, flow_id: str, object_id: str, parts: int) -> dict[str, Any]:
        """An upload in ``parts`` pieces (for objects too large for one PUT), each with a presigned URL."""
        allocation, store = await self._allocation(flow_id, object_id)
        upload_id = await store.create_multipart(allocation.key, allocation.content_type or "application/octet-stream")
        expiry = self.settings.presign_expiry_s
        return {"object_id": object_id, "upload_id": upload_id,
                "parts": [{"part_number": n, "url": store.part_url(allocation.key, upload_id, n, expiry)}
                          for n in range(1, parts + 1)]}

    async def complete_multipart(self, flow_id: str, object_id: str, upload_id: str,
                                 parts: list[tuple[int, str]]) -> dict[str, Any]:
        allocation, store = await self._allocation(flow_id, object_id)
        try:
            info = await store.complete_multipart(allocation.key, upload_id, parts)
        except ValueError as exc:
            raise Invalid(f"cannot complete the upload of object {object_id!r}: {exc}") from None
        return {"object_id": object_id, "size": info.size}

    # -- registration ------------------------------------------------------------------------------------------
    async def register(self, flow_id: str, segments: Sequence[dict[str, Any]]) -> list[SegmentFailure]:
        """Registers segments; an allocated object must have its bytes uploaded first (checked by HEAD)."""
        ids = [s["object_id"] for s in segments] + [s["init_object_id"] for s in segments if "init_object_id" in s]
        pending = await self.catalog.pending_objects(ids) if self.settings.check_uploads else {}
        sizes, missing = await self._sizes(pending)
        keep: list[int] = []
        failures: list[SegmentFailure] = []
        segments = list(segments)
        for index, seg in enumerate(segments):
            absent = [oid for oid in (seg["object_id"], seg.get("init_object_id")) if oid in missing]
            problem = None
            if absent:
                problem = (f"object {absent[0]} has no bytes at its put_url yet; upload it before registering "
                           "the segment")
            elif self.settings.probe_on_register and seg["object_id"] in pending:
                segments[index], problem = await self._probe_segment(seg, pending[seg["object_id"]])
            if problem:
                failures.append(SegmentFailure(index, seg["object_id"], seg.get("timerange"), problem))
            else:
                keep.append(index)
        results = await self.catalog.add_segments(
            flow_id, [segments[i] for i in keep], sizes, self.settings.require_known_objects)
        failures.extend(SegmentFailure(keep[f.index], f.object_id, f.timerange, f.summary) for f in results)
        return sorted(failures, key=lambda f: f.index)

    async def _probe_segment(self, seg: dict[str, Any], allocation: Allocation) -> tuple[dict[str, Any], str | None]:
        """Reads a newly uploaded object with PyAV: fills key_frame_count, checks its duration."""
        store = self.storage.get(allocation.storage_id)
        info = await store.head(allocation.key) if store else None
        if store is None or info is None or info.size > self.settings.probe_max_bytes:
            return seg, None
        data = b"".join([chunk async for chunk in store.read(allocation.key, 0, info.size - 1)])
        try:
            media = await asyncio.to_thread(probe, data)
        except Exception as exc:  # PyAV raises many error types for unreadable media
            return seg, f"object {seg['object_id']} is not readable media: {exc}"
        timerange = TimeRange.parse(seg["timerange"])
        rate = media.main.frame_rate
        tolerance = int(1_000_000_000 / rate) if rate else 0
        length = timerange.length_ns() or 0
        if abs(media.duration_ns - length) > tolerance:
            return seg, (f"segment timerange {seg['timerange']} lasts {Timestamp(length)} s but object "
                         f"{seg['object_id']} holds {Timestamp(media.duration_ns)} s of media")
        if "key_frame_count" not in seg:
            seg = {**seg, "key_frame_count": media.key_frame_count}
        return seg, None

    async def _sizes(self, pending: dict[str, Allocation]) -> tuple[dict[str, int], set[str]]:
        limiter = asyncio.Semaphore(16)
        sizes: dict[str, int] = {}
        missing: set[str] = set()

        async def check(allocation: Allocation) -> None:
            store = self.storage.get(allocation.storage_id)
            async with limiter:
                info = await store.head(allocation.key) if store else None
            if info is None:
                missing.add(allocation.object_id)
            else:
                sizes[allocation.object_id] = info.size

        await asyncio.gather(*(check(a) for a in pending.values()))
        return sizes, missing

    # -- instances -------------------------------------------------------------------------------------------------
    async def add_instance(self, object_id: str, body: dict[str, Any]) -> None:
        """A controlled copy onto another backend (copied now), or a client URL (recorded)."""
        if "storage_id" in body:
            target = self.store_for(body["storage_id"])
            found = await self.catalog.get_object(object_id, None, 1)
            if found is None:
                raise NotFound(f"object {object_id!r} does not exist")
            record = found[0]
            if any(i.storage_id == target.info.id for i in record.instances):
                raise Invalid(f"object {object_id!r} already has an instance on {target.info.id}")
            source = next((self.storage.get(i.storage_id) for i in record.instances
                           if self.storage.get(i.storage_id)), None)
            if source is None:
                raise Invalid(f"object {object_id!r} has no controlled instance to copy from")
            source_key = next(i.key for i in record.instances if i.storage_id == source.info.id)
            key = source_key  # the same key on every backend: a function of the object alone
            info = await source.head(source_key)
            if info is None:
                raise StoreUnavailable(f"the bytes of object {object_id!r} are missing from {source.info.label}")
            await target.write(key, source.read(source_key, 0, info.size - 1), info.content_type)
            await self.catalog.add_instance(object_id, target.info.id, key)
        else:
            await self.catalog.add_uncontrolled_instance(object_id, body["url"], body["label"],
                                                         sorted(self.storage.labels))

    async def remove_instance(self, object_id: str, storage_id: str | None, label: str | None) -> None:
        if storage_id is None and label is None:
            raise Invalid("give storage_id or label to say which instance to delete")
        gone = await self.catalog.remove_instance(object_id, storage_id, label)
        if gone is not None:
            await self.delete_bytes([gone])

    # -- deletion ----------------------------------------------------------------------------------------------------
    async def delete_segments(self, flow_id: str, timerange: TimeRange, object_id: str | None,
                              principal: str | None = None) -> dict[str, Any] | None:
        """Deletes now (None), or — above ``sync_delete_limit`` segments — returns a deletion request."""
        if object_id is not None:
            result = await self.catalog.delete_segments(flow_id, timerange, object_id)
        else:
            result, request = await self.catalog.request_segment_deletion(
                flow_id, timerange, self.settings.sync_delete_limit, principal)
            if request is not None:
                self._deletions_due.set()
                return request
        assert result is not None
        await self.delete_bytes(result.orphaned_instances)
        return None

    async def delete_flow(self, flow_id: str, principal: str | None = None) -> dict[str, Any] | None:
        """Deletes an empty flow now (None); a flow with segments gets a deletion request worked in the
        background, batch by batch (bytes go only when no segment of any flow refers to them)."""
        request = await self.catalog.request_flow_deletion(flow_id, principal)
        if request is not None:
            self._deletions_due.set()
        return request

    async def work_deletions(self, batch: int = 2000) -> int:
        """Works every pending deletion request to the end; returns how many segments went."""
        removed = 0
        for request_id in await self.catalog.pending_deletions():
            try:
                done = False
                while not done:
                    result, done = await self.catalog.work_deletion(request_id, batch)
                    await self.delete_bytes(result.orphaned_instances)
                    removed += result.count
            except Exception as exc:  # recorded on the request; the next request still runs
                log.exception("deletion request %s failed", request_id)
                await self.catalog.fail_deletion(request_id, str(exc))
        return removed

    # -- clean-up --------------------------------------------------------------------------------------------------
    async def delete_bytes(self, instances: Sequence[Instance]) -> None:
        """Deletes bytes the catalog no longer references; failures are logged, not raised."""
        for instance in instances:
            store = self.storage.get(instance.storage_id)
            if store is None:
                continue
            try:
                await store.delete(instance.key)
            except Exception:  # the bytes are unreferenced either way; a later sweep may retry
                log.warning("could not delete %s from %s", instance.key, store.info.label, exc_info=True)

    async def collect_expired(self) -> int:
        """Removes allocations never registered before their deadline: rows first, then bytes."""
        gone = await self.catalog.expire_allocations(time.time_ns())
        await self.delete_bytes(gone)
        return len(gone)

    def start_gc(self, interval_s: float = 60) -> None:
        async def deletions() -> None:
            while True:  # pending requests from before a restart run at once; new ones when signalled
                try:
                    await self.work_deletions()
                except Exception:
                    log.exception("deletion worker failed; retrying")
                self._deletions_due.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._deletions_due.wait(), timeout=interval_s)

        self._deletion_task = asyncio.create_task(deletions())

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    removed = await self.collect_expired()
                    if removed:
                        log.info("removed %d expired allocations", removed)
                except Exception:
                    log.exception("allocation clean-up failed; retrying next round")

        self._gc_task = asyncio.create_task(loop())

    async def stop_gc(self) -> None:
        tasks = [t for t in (self._gc_task, self._deletion_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
