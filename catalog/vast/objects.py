"""Object allocation, instances and clean-up in VAST DB: plain functions of one transaction.

Same model as the SQLite store: an allocated object has ``registered = false``, the flow it was
allocated for and a deadline; controlled instances live in ``object_instances`` and client URLs in
``object_urls``. Instances are looked up per page with one ``isin`` select instead of a join.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ibis import _

from catalog.errors import Invalid, NotFound, ReadOnly
from catalog.facade import Urls
from catalog.store import Allocation, Instance, ObjectDigest, StoredInstance
from catalog.vast.connection import Tx
from catalog.vast.documents import flow_row
from catalog.vast.rows import delete_in, delete_where, insert, one, select, where_in


def writable_flow(tx: Tx, flow_id: str) -> dict[str, Any]:
    """The flow's catalog row (without its document), when it exists, is not read-only and has a container."""
    row = flow_row(tx, flow_id, with_doc=False)
    if row is None:
        raise NotFound(f"flow {flow_id} does not exist")
    if row["read_only"]:
        raise ReadOnly(f"flow {flow_id} is read-only")
    if not row["container"]:
        raise Invalid(f"flow {flow_id} has no container, so it cannot have segments or media objects")
    return row


def existing_objects(tx: Tx, object_ids: Sequence[str]) -> list[str]:
    return [r["id"] for r in where_in(tx, "objects", "id", object_ids, ["id"])]


def insert_allocations(tx: Tx, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int, now: int) -> None:
    insert(
        tx,
        "objects",
        [
            {
                "id": a.object_id,
                "is_init": False,
                "registered": False,
                "allocated_flow_id": flow_id,
                "alloc_deadline_ns": deadline_ns,
                "content_type": a.content_type,
                "created_ns": now,
            }
            for a in allocations
        ],
    )
    insert(
        tx,
        "object_instances",
        [{"object_id": a.object_id, "storage_id": a.storage_id, "key": a.key, "created_ns": now} for a in allocations],
    )


def pending(tx: Tx, object_ids: Sequence[str]) -> dict[str, Allocation]:
    unregistered = _.registered == False  # noqa: E712 - an ibis predicate, not a Python comparison
    columns = ["id", "allocated_flow_id", "content_type"]
    rows = {r["id"]: r for r in where_in(tx, "objects", "id", object_ids, columns, also=unregistered)}
    found = {}
    for inst in where_in(tx, "object_instances", "object_id", list(rows), ["object_id", "storage_id", "key"]):
        row = rows[inst["object_id"]]
        found[row["id"]] = Allocation(
            row["id"], inst["storage_id"], inst["key"], row["content_type"], row["allocated_flow_id"]
        )
    return found


def instances(tx: Tx, object_ids: Sequence[str]) -> dict[str, list[Instance]]:
    """Controlled instances of each object, oldest first."""
    rows = where_in(tx, "object_instances", "object_id", object_ids, ["object_id", "storage_id", "key", "created_ns"])
    rows.sort(key=lambda r: (r["object_id"], r["created_ns"], r["storage_id"]))
    found: dict[str, list[Instance]] = {}
    for row in rows:
        found.setdefault(row["object_id"], []).append(Instance(row["storage_id"], row["key"]))
    return found


def urls_of(tx: Tx, object_ids: Sequence[str]) -> dict[str, Urls]:
    rows = where_in(tx, "object_urls", "object_id", object_ids, ["object_id", "url", "label", "position"])
    rows.sort(key=lambda r: (r["object_id"], r["position"]))
    found: dict[str, list[tuple[str, str]]] = {}
    for row in rows:
        found.setdefault(row["object_id"], []).append((row["url"], row["label"]))
    return {k: tuple(v) for k, v in found.items()}


def all_instances(tx: Tx) -> list[StoredInstance]:
    rows = select(tx, "object_instances", None, ["object_id", "storage_id", "key"])
    return [StoredInstance(r["object_id"], r["storage_id"], r["key"]) for r in rows]


def _registered(tx: Tx, object_id: str) -> None:
    row = one(tx, "objects", _.id == object_id, ["registered"])
    if row is None or not row["registered"]:
        raise NotFound(f"object {object_id!r} does not exist")


def add_instance(tx: Tx, object_id: str, storage_id: str, key: str) -> None:
    _registered(tx, object_id)
    if one(tx, "object_instances", (_.object_id == object_id) & (_.storage_id == storage_id), ["key"]):
        raise Invalid(f"object {object_id!r} already has an instance on storage backend {storage_id}")
    insert(
        tx,
        "object_instances",
        [{"object_id": object_id, "storage_id": storage_id, "key": key, "created_ns": time.time_ns()}],
    )


def add_uncontrolled(tx: Tx, object_id: str, url: str, label: str, reserved_labels: Sequence[str]) -> None:
    _registered(tx, object_id)
    if label in reserved_labels:
        raise Invalid(f"label {label!r} is the label of a storage backend")
    existing = select(tx, "object_urls", _.object_id == object_id, ["label", "position"])
    if any(r["label"] == label for r in existing):
        raise Invalid(f"object {object_id!r} already has an instance labelled {label!r}")
    position = max((r["position"] for r in existing), default=-1) + 1
    insert(tx, "object_urls", [{"object_id": object_id, "label": label, "url": url, "position": position}])


def remove_instance(tx: Tx, object_id: str, storage_id: str | None, label: str | None) -> Instance | None:
    _registered(tx, object_id)
    controlled = select(tx, "object_instances", _.object_id == object_id, ["storage_id"])
    uncontrolled = select(tx, "object_urls", _.object_id == object_id, ["label"])
    if len(controlled) + len(uncontrolled) <= 1:
        raise Invalid(f"refusing to delete the last instance of object {object_id!r}")
    if storage_id is not None:
        gone = delete_where(tx, "object_instances", (_.object_id == object_id) & (_.storage_id == storage_id), ["key"])
        if not gone:
            raise NotFound(f"object {object_id!r} has no instance on storage backend {storage_id}")
        return Instance(storage_id, gone[0]["key"])
    if not delete_where(tx, "object_urls", (_.object_id == object_id) & (_.label == label)):
        raise NotFound(f"object {object_id!r} has no instance labelled {label!r}")
    return None


def expire_allocations(tx: Tx, now_ns: int, limit: int = 1000) -> list[Instance]:
    rows = select(
        tx,
        "objects",
        (_.registered == False) & (_.alloc_deadline_ns < now_ns),  # noqa: E712
        ["id"],
        limit=limit,
    )
    return delete_objects(tx, [r["id"] for r in rows])


def delete_objects(tx: Tx, object_ids: Sequence[str]) -> list[Instance]:
    """Removes objects with their URLs and instances; returns the instances (bytes to delete)."""
    delete_in(tx, "objects", "id", object_ids)
    delete_in(tx, "object_urls", "object_id", object_ids)
    return [
        Instance(r["storage_id"], r["key"])
        for r in delete_in(tx, "object_instances", "object_id", object_ids, ["storage_id", "key"])
    ]


def sizes(tx: Tx, object_ids: Sequence[str]) -> dict[str, int]:
    return {
        r["id"]: r["size"] for r in where_in(tx, "objects", "id", object_ids, ["id", "size"]) if r["size"] is not None
    }


def digests(tx: Tx, object_ids: Sequence[str]) -> dict[str, ObjectDigest]:
    rows = where_in(tx, "objects", "id", object_ids, ["id", "size", "sha256"])
    return {
        r["id"]: ObjectDigest(r["size"], r["sha256"]) for r in rows if r["size"] is not None or r["sha256"] is not None
    }
