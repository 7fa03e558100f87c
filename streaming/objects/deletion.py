"""Getting bytes out: segment and flow deletion (at once, or as a request worked in the background),
the deletion worker, and the collection of allocations never registered.

Catalog rows go first and bytes only after the catalog has let go of them, so a crash can leave
unreferenced bytes (collected later) but never a segment whose bytes were deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.store import Collecting, DeleteResult, Instance
from catalog.timing import TimeRange
from streaming.objects.settings import MediaSettings
from streaming.storage.localdisk import LocalDiskStore
from streaming.storage.registry import Storage

log = logging.getLogger("tams.media")


async def delete_bytes(storage: Storage, instances: Sequence[Instance]) -> None:
    """Deletes bytes the catalog no longer references; failures are logged, not raised."""
    for instance in instances:
        store = storage.get(instance.storage_id)
        if store is None:
            continue
        try:
            await store.delete(instance.key)
        except Exception:  # the bytes are unreferenced either way; a later sweep may retry
            log.warning("could not delete %s from %s", instance.key, store.info.label, exc_info=True)


@dataclass
class Deletion:
    catalog: Collecting
    storage: Storage
    settings: MediaSettings
    _gc_task: asyncio.Task | None = field(default=None, init=False)
    _deletion_task: asyncio.Task | None = field(default=None, init=False)
    _due: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    async def delete_segments(
        self, flow_id: str, timerange: TimeRange, object_id: str | None, principal: str | None = None
    ) -> dict[str, Any] | None:
        """Deletes now (None), or — above ``sync_delete_limit`` segments — returns a deletion request."""
        result: DeleteResult | None
        if object_id is not None:
            result = await self.catalog.delete_segments(flow_id, timerange, object_id)
        else:
            result, request = await self.catalog.request_segment_deletion(
                flow_id, timerange, self.settings.sync_delete_limit, principal
            )
            if request is not None:
                self._due.set()
                return request
        assert result is not None  # the catalog returns a request or a result
        await self.delete_bytes(result.orphaned_instances)
        return None

    async def delete_flow(self, flow_id: str, principal: str | None = None) -> dict[str, Any] | None:
        """Deletes an empty flow now (None); a flow with segments gets a deletion request worked in the
        background, batch by batch (bytes go only when no segment of any flow refers to them)."""
        request = await self.catalog.request_flow_deletion(flow_id, principal)
        if request is not None:
            self._due.set()
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

    async def delete_bytes(self, instances: Sequence[Instance]) -> None:
        await delete_bytes(self.storage, instances)

    async def collect_expired(self) -> int:
        """Removes allocations never registered before their deadline: rows first, then bytes."""
        gone = await self.catalog.expire_allocations(time.time_ns())
        await self.delete_bytes(gone)
        return len(gone)

    def wake(self) -> None:
        """Makes the deletion worker look for pending requests now (one made through another process)."""
        self._due.set()

    async def sweep_temporaries(self) -> int:
        """Temporary files of crashed uploads and abandoned multipart uploads on the local stores."""
        removed = 0
        for store in self.storage.ordered():
            if isinstance(store, LocalDiskStore):
                removed += await store.sweep()
        return removed

    def start(self, interval_s: float = 60) -> None:
        """The deletion worker and the allocation collector, as two background tasks."""

        async def deletions() -> None:
            while True:  # pending requests from before a restart run at once; new ones when signalled
                # cleared before the work, not after: a request signalled while a batch is being
                # worked keeps its signal, and the next round starts at once instead of a poll later
                self._due.clear()
                try:
                    await self.work_deletions()
                except Exception:
                    log.exception("deletion worker failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._due.wait(), timeout=interval_s)

        self._deletion_task = asyncio.create_task(deletions())

        async def collector() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    removed = await self.collect_expired()
                    if removed:
                        log.info("removed %d expired allocations", removed)
                    swept = await self.sweep_temporaries()
                    if swept:
                        log.info("removed %d stale temporary files and abandoned multipart uploads", swept)
                except Exception:
                    log.exception("allocation clean-up failed; retrying next round")

        self._gc_task = asyncio.create_task(collector())

    async def stop(self) -> None:
        tasks = [t for t in (self._gc_task, self._deletion_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
