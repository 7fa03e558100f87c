"""Catalog ↔ bytes reconciliation, for after a restore (a snapshot of the catalog and one of the bucket
taken at different moments, or one restored without the other).

Two checks, one pass each:
- **missing bytes**: every controlled instance the catalog records is HEAD-checked on its backend;
  the objects whose bytes are gone are reported with the flows whose segments reference them;
- **orphan bytes**: every key under ``objects/`` on each backend that no catalog instance names,
  and older than ``min_age_s`` (so uploads in flight, not yet registered, are left alone), is
  reported and, with ``delete_orphans``, deleted.
The catalog's instance list is held in memory (about 100 bytes per instance).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from catalog.store import Segments
from streaming.storage.interface import OBJECT_PREFIX
from streaming.storage.registry import Storage


@dataclass
class ReconcileReport:
    instances_checked: int = 0
    missing: list[dict] = field(default_factory=list)  # {object_id, storage_id, key, flows}
    orphans: list[dict] = field(default_factory=list)  # {storage_id, key}
    orphans_deleted: int = 0

    def as_dict(self) -> dict:
        return {
            "instances_checked": self.instances_checked,
            "missing_bytes": self.missing,
            "orphan_objects": self.orphans,
            "orphans_deleted": self.orphans_deleted,
        }


async def reconcile(
    catalog: Segments, storage: Storage, *, delete_orphans: bool = False, min_age_s: float = 3600, concurrency: int = 16
) -> ReconcileReport:
    report = ReconcileReport()
    instances = await catalog.all_instances()
    report.instances_checked = len(instances)
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
        if info is None:
            record = await catalog.get_object(object_id, None, 1000)
            flows = record[0].referenced_by_flows if record else []
            report.missing.append({"object_id": object_id, "storage_id": storage_id, "key": key, "flows": flows})

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
    report.missing.sort(key=lambda m: (m["storage_id"], m["key"]))
    return report
