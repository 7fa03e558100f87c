"""Registering segments: the checks on the bytes (uploaded? readable media of the right length?)
before the catalog's own rules run."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from catalog.store import Allocation, Registering, SegmentFailure
from streaming.ingest.on_register import probe_segment
from streaming.objects.settings import MediaSettings
from streaming.storage.registry import Storage

HEAD_CONCURRENCY = 16  # HEAD requests in flight per registration batch


@dataclass
class Registration:
    catalog: Registering
    storage: Storage
    settings: MediaSettings

    async def register(self, flow_id: str, segments: Sequence[dict[str, Any]]) -> list[SegmentFailure]:
        """Registers segments; an allocated object must have its bytes uploaded first (checked by HEAD)."""
        ids = [s["object_id"] for s in segments] + [s["init_object_id"] for s in segments if "init_object_id" in s]
        pending = await self.catalog.pending_objects(ids) if self.settings.check_uploads else {}
        sizes, digests, missing = await self._uploaded(pending)
        keep: list[int] = []
        failures: list[SegmentFailure] = []
        segments = list(segments)
        for index, seg in enumerate(segments):
            absent = [oid for oid in (seg["object_id"], seg.get("init_object_id")) if oid in missing]
            problem = None
            if absent:
                problem = (
                    f"object {absent[0]} has no bytes at its put_url yet; upload it before registering the segment"
                )
            elif self.settings.probe_on_register and seg["object_id"] in pending:
                segments[index], problem = await probe_segment(
                    self.catalog, self.storage, flow_id, seg, pending, self.settings.probe_max_bytes
                )
            if problem:
                failures.append(SegmentFailure(index, seg["object_id"], seg.get("timerange"), problem))
            else:
                keep.append(index)
        results = await self.catalog.add_segments(
            flow_id, [segments[i] for i in keep], sizes, self.settings.require_known_objects, digests
        )
        failures.extend(SegmentFailure(keep[f.index], f.object_id, f.timerange, f.summary) for f in results)
        return sorted(failures, key=lambda f: f.index)

    async def _uploaded(self, pending: dict[str, Allocation]) -> tuple[dict[str, int], dict[str, str], set[str]]:
        """The size and SHA-256 (when the store knows it) of each pending object's uploaded bytes,
        recorded with the registration, and the objects with no bytes yet."""
        limiter = asyncio.Semaphore(HEAD_CONCURRENCY)
        sizes: dict[str, int] = {}
        digests: dict[str, str] = {}
        missing: set[str] = set()

        async def check(allocation: Allocation) -> None:
            store = self.storage.get(allocation.storage_id)
            async with limiter:
                info = await store.head(allocation.key) if store else None
            if info is None:
                missing.add(allocation.object_id)
            else:
                sizes[allocation.object_id] = info.size
                if info.sha256:
                    digests[allocation.object_id] = info.sha256

        await asyncio.gather(*(check(a) for a in pending.values()))
        return sizes, digests, missing
