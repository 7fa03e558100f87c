"""Catalog ↔ bytes reconciliation, for after a restore (a snapshot of the catalog and one of the bucket
taken at different moments, or one restored without the other).

Three checks, one pass each:
- **missing bytes**: every controlled instance the catalog records is HEAD-checked on its backend;
  the objects whose bytes are gone are reported with the flows whose segments reference them;
- **mismatched bytes**: an instance whose size, or SHA-256 as its store reports it (local disk keeps
  the one computed at upload), differs from what the catalog recorded at registration; with
  ``verify_bytes`` every instance with a recorded SHA-256 is also read and hashed (finds bit rot and
  bytes replaced behind the gateway's back, at the cost of reading everything);
- **orphan bytes**: every key under ``objects/`` on each backend that no catalog instance names,
  and older than ``min_age_s`` (so uploads in flight, not yet registered, are left alone), is
  reported and, with ``delete_orphans``, deleted.
The catalog's instance list is held in memory (about 100 bytes per instance). Local stores are also
swept of the temporary files crashed uploads left (``LocalDiskStore.sweep``).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field

from catalog.store import ObjectDigest, Segments
from streaming.storage.interface import OBJECT_PREFIX, ObjectInfo, ObjectStore
from streaming.storage.localdisk import LocalDiskStore
from streaming.storage.registry import Storage


@dataclass
class ReconcileReport:
    instances_checked: int = 0
    missing: list[dict] = field(default_factory=list)  # {object_id, storage_id, key, flows}
    mismatched: list[dict] = field(default_factory=list)  # {object_id, storage_id, key, reason, flows}
    orphans: list[dict] = field(default_factory=list)  # {storage_id, key}
    orphans_deleted: int = 0
    temporaries_removed: int = 0

    def as_dict(self) -> dict:
        return {
            "instances_checked": self.instances_checked,
            "missing_bytes": self.missing,
            "mismatched_bytes": self.mismatched,
            "orphan_objects": self.orphans,
            "orphans_deleted": self.orphans_deleted,
            "temporaries_removed": self.temporaries_removed,
        }


async def _sha256(store: ObjectStore, key: str, size: int) -> str:
    digest = hashlib.sha256()
    if size:
        async for chunk in store.read(key, 0, size - 1):
            await asyncio.to_thread(digest.update, chunk)
    return digest.hexdigest()


async def _mismatch(
    store: ObjectStore, key: str, info: ObjectInfo, recorded: ObjectDigest | None, verify_bytes: bool
) -> str | None:
    """Why the stored bytes are not those registered, or None when they are (as far as is known)."""
    if recorded is None:
        return None
    if recorded.size is not None and info.size != recorded.size:
        return f"the store has {info.size} bytes, {recorded.size} were registered"
    if recorded.sha256 and info.sha256 and info.sha256 != recorded.sha256:
        return "the store's SHA-256 differs from the one recorded at registration"
    if verify_bytes and recorded.sha256 and await _sha256(store, key, info.size) != recorded.sha256:
        return "the bytes no longer match the SHA-256 recorded at registration"
    return None


async def reconcile(
    catalog: Segments,
    storage: Storage,
    *,
    delete_orphans: bool = False,
    min_age_s: float = 3600,
    concurrency: int = 16,
    verify_bytes: bool = False,
) -> ReconcileReport:
    report = ReconcileReport()
    instances = await catalog.all_instances()
    report.instances_checked = len(instances)
    recorded = await catalog.object_digests(sorted({i.object_id for i in instances}))
    known: dict[str, set[str]] = {}
    for _object_id, storage_id, key in instances:
        known.setdefault(storage_id, set()).add(key)
    limit = asyncio.Semaphore(concurrency)

    async def check(object_id: str, storage_id: str, key: str) -> None:
        store = storage.get(storage_id)
        if store is None:
            report.missing.append(
                {
                    "object_id": object_id,
                    "storage_id": storage_id,
                    "key": key,
                    "reason": "storage backend not configured",
                }
            )
            return
        async with limit:
            info = await store.head(key)
            problem = None if info is None else await _mismatch(store, key, info, recorded.get(object_id), verify_bytes)
        if info is None or problem is not None:
            record = await catalog.get_object(object_id, None, 1000)
            flows = record[0].referenced_by_flows if record else []
            entry = {"object_id": object_id, "storage_id": storage_id, "key": key, "flows": flows}
            if info is None:
                report.missing.append(entry)
            else:
                report.mismatched.append({**entry, "reason": problem})

    await asyncio.gather(*(check(*instance) for instance in instances))
    cutoff = time.time() - min_age_s
    for store in storage.ordered():
        names = known.get(store.info.id, set())
        async for key, modified in store.list_keys(OBJECT_PREFIX):
            if key not in names and modified < cutoff:
                report.orphans.append({"storage_id": store.info.id, "key": key})
                if delete_orphans:
                    await store.delete(key)
                    report.orphans_deleted += 1
        if isinstance(store, LocalDiskStore):
            report.temporaries_removed += await store.sweep(everywhere=True)
    report.missing.sort(key=lambda m: (m["storage_id"], m["key"]))
    report.mismatched.sort(key=lambda m: (m["storage_id"], m["key"]))
    return report
