"""An object's instances beyond the first: controlled copies onto another backend, client URLs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.errors import Invalid, NotFound
from catalog.store import Copying
from streaming.objects.deletion import delete_bytes
from streaming.storage.interface import StoreUnavailable
from streaming.storage.registry import Storage


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
        # the same key on every backend: a function of the object alone
        await target.write(source.key, source.store.read(source.key, 0, info.size - 1), info.content_type)
        await self.catalog.add_instance(object_id, target.info.id, source.key)

    async def remove(self, object_id: str, storage_id: str | None, label: str | None) -> None:
        if storage_id is None and label is None:
            raise Invalid("give storage_id or label to say which instance to delete")
        gone = await self.catalog.remove_instance(object_id, storage_id, label)
        if gone is not None:
            await delete_bytes(self.storage, [gone])
