"""The configured storage backends, built from settings, started once and shared by every request.

Configuration is a JSON file named by ``TAMS_STORAGE_CONFIG``::

    {
        "backends": [
            {"type": "local", "id": "<uuid>", "label": "local", "path": "objects", "default": true},
            {
                "type": "s3",
                "id": "<uuid>",
                "label": "vast-s3",
                "bucket": "tams",
                "endpoint_url": "http://10.0.0.5",
                "public_endpoint_url": "https://s3.example",
                "region": "us-east-1",
                "access_key": "...",
                "secret_key": "...",
                "addressing_style": "path",
                "max_pool_connections": 64,
                "connect_timeout": 5,
                "read_timeout": 30,
                "retry_mode": "standard",
                "max_attempts": 3,
                "provider": "VAST Data",
                "store_product": "VAST S3",
                "tags": {},
            },
        ]
    }

Without it the gateway has one local-disk backend under ``<data dir>/objects``.

``Storage.readable`` is the one answer to "which instance do I read from" (delivery, playlists,
the timerange file and instance copies all ask it), and ``Storage.target`` to "which backend do I
write to".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from catalog.errors import Invalid
from catalog.store import Instance
from streaming.storage.interface import BackendInfo, ObjectStore
from streaming.storage.localdisk import LocalDiskStore

LOCAL_BACKEND_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "tams-gateway:local-disk"))


class Replica(NamedTuple):
    """One readable copy of an object: the configured store that holds it and its key there."""

    store: ObjectStore
    key: str


class Storage:
    """All backends by id, and the default one."""

    def __init__(self, stores: list[ObjectStore]) -> None:
        if not stores:
            raise ValueError("at least one storage backend is needed")
        self.stores = {store.info.id: store for store in stores}
        defaults = [s for s in stores if s.info.default_storage]
        if len(defaults) > 1:
            raise ValueError("only one storage backend can be the default")
        self.default = defaults[0] if defaults else None
        labels = [s.info.label for s in stores]
        if len(set(labels)) != len(labels):
            raise ValueError("storage backend labels must be unique")
        self.labels = frozenset(labels)

    def get(self, storage_id: str) -> ObjectStore | None:
        return self.stores.get(storage_id)

    def readable(self, instances: Iterable[Instance]) -> Replica | None:
        """The instance to read an object from: the one on the default backend if there is one,
        else the first (in catalog order) on a backend this gateway has; None when none is.

        Called per segment of a playlist, so one pass and no sorting."""
        first: Replica | None = None
        for instance in instances:
            store = self.stores.get(instance.storage_id)
            if store is None:
                continue
            if store is self.default:
                return Replica(store, instance.key)
            if first is None:
                first = Replica(store, instance.key)
        return first

    def target(self, storage_id: str | None) -> ObjectStore:
        """The backend to write to: the named one, or the default; Invalid when there is none."""
        if storage_id is None:
            if self.default is None:
                raise Invalid("no default storage backend is configured; give storage_id")
            return self.default
        store = self.stores.get(storage_id)
        if store is None:
            raise Invalid(f"storage_id {storage_id} names no storage backend")
        return store

    def ordered(self) -> list[ObjectStore]:
        """Backends by label, as /service/storage-backends lists them."""
        return sorted(self.stores.values(), key=lambda s: (s.info.label, s.info.id))

    async def start(self) -> None:
        for store in self.stores.values():
            await store.start()

    async def close(self) -> None:
        for store in self.stores.values():
            await store.close()


def _info(entry: Mapping[str, Any], provider: str, product: str) -> BackendInfo:
    return BackendInfo(
        id=str(entry["id"]),
        label=str(entry.get("label", entry["id"])),
        provider=str(entry.get("provider", provider)),
        store_product=str(entry.get("store_product", product)),
        default_storage=bool(entry.get("default", False)),
        region=entry.get("region"),
        availability_zone=entry.get("availability_zone"),
        tags=dict(entry.get("tags") or {}),
    )


def build_storage(
    config_path: Path | None, data_dir: Path, public_base_url: str, max_object_bytes: int = 5 * 1024**3
) -> Storage:
    """Stores from the JSON config (or the local-disk default); raises ValueError on bad config."""
    if config_path is None:
        entries: list[dict[str, Any]] = [
            {"type": "local", "id": LOCAL_BACKEND_ID, "label": "local", "path": "objects", "default": True}
        ]
    else:
        try:
            entries = json.loads(config_path.read_text())["backends"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"storage config {config_path}: {exc}") from None
    stores: list[ObjectStore] = []
    for entry in entries:
        kind = entry.get("type")
        try:
            uuid.UUID(str(entry.get("id")))
        except ValueError:
            raise ValueError(f"storage backend {entry.get('label')!r} needs a UUID id") from None
        if kind == "local":
            root = Path(entry.get("path", "objects"))
            stores.append(
                LocalDiskStore(
                    _info(entry, "tams-gateway", "local disk"),
                    root if root.is_absolute() else data_dir / root,
                    public_base_url,
                    data_dir / "url-signing-key",
                    max_object_bytes,
                )
            )
        elif kind == "s3":
            from streaming.storage.s3 import S3Store

            stores.append(S3Store.from_config(_info(entry, "S3", "S3-compatible object store"), entry))
        else:
            raise ValueError(f"storage backend type {kind!r} is not local or s3")
    return Storage(stores)
