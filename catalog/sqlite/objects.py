"""Object allocation, instances and clean-up in SQLite: plain functions of a connection.

An allocated object has a row with ``registered = 0``, the flow it was allocated for and a
deadline; its first segment registration flips it to registered. Controlled instances (bytes on
one of our storage backends) live in ``object_instances``; uncontrolled ones (client URLs) in
``object_urls``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from catalog.errors import Invalid, NotFound, ReadOnly
from catalog.facade import Urls
from catalog.sqlite import page_json
from catalog.sqlite.listing import placeholders, rows_for_ids
from catalog.store import Allocation, Instance, ObjectDigest, StoredInstance


def writable_flow(conn: sqlite3.Connection, flow_id: str) -> dict[str, Any]:
    """The flow's document, when it exists, is not read-only and has a container (so it takes segments)."""
    row = conn.execute("SELECT doc, read_only FROM flows WHERE id=?", (flow_id,)).fetchone()
    if row is None:
        raise NotFound(f"flow {flow_id} does not exist")
    if row[1]:
        raise ReadOnly(f"flow {flow_id} is read-only")
    doc: dict[str, Any] = orjson.loads(row[0])
    if not doc.get("container"):
        raise Invalid(f"flow {flow_id} has no container, so it cannot have segments or media objects")
    return doc


def existing_objects(conn: sqlite3.Connection, object_ids: Sequence[str]) -> list[str]:
    return [r[0] for r in rows_for_ids(conn, "SELECT id FROM objects WHERE id IN ({ids})", object_ids)]


def insert_allocations(
    conn: sqlite3.Connection, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int, now: int
) -> None:
    conn.executemany(
        "INSERT INTO objects (id, registered, allocated_flow_id, alloc_deadline_ns, content_type, created_ns) "
        "VALUES (?, 0, ?, ?, ?, ?)",
        [(a.object_id, flow_id, deadline_ns, a.content_type, now) for a in allocations],
    )
    conn.executemany(
        "INSERT INTO object_instances (object_id, storage_id, key, created_ns) VALUES (?, ?, ?, ?)",
        [(a.object_id, a.storage_id, a.key, now) for a in allocations],
    )


def pending(conn: sqlite3.Connection, object_ids: Sequence[str]) -> dict[str, Allocation]:
    """Allocated-but-unregistered objects among ``object_ids``, with where their bytes should be."""
    sql = (
        "SELECT o.id, o.allocated_flow_id, o.content_type, i.storage_id, i.key FROM objects o "
        "JOIN object_instances i ON i.object_id = o.id WHERE o.registered = 0 AND o.id IN ({ids})"
    )
    return {
        object_id: Allocation(object_id, storage_id, key, content_type, flow_id)
        for object_id, flow_id, content_type, storage_id, key in rows_for_ids(conn, sql, object_ids)
    }


def instances(conn: sqlite3.Connection, object_ids: Sequence[str]) -> dict[str, list[Instance]]:
    """Controlled instances of each object (storage backend and key), oldest first."""
    found: dict[str, list[Instance]] = {}
    sql = (
        "SELECT object_id, storage_id, key FROM object_instances WHERE object_id IN ({ids}) "
        "ORDER BY object_id, created_ns"
    )
    for object_id, storage_id, key in rows_for_ids(conn, sql, object_ids):
        found.setdefault(object_id, []).append(Instance(storage_id, key))
    return found


def urls_of(conn: sqlite3.Connection, object_ids: Sequence[str]) -> dict[str, Urls]:
    found: dict[str, list[tuple[str, str]]] = {}
    sql = "SELECT object_id, url, label FROM object_urls WHERE object_id IN ({ids}) ORDER BY object_id, position"
    for object_id, url, label in rows_for_ids(conn, sql, object_ids):
        found.setdefault(object_id, []).append((url, label))
    return {k: tuple(v) for k, v in found.items()}


def all_instances(conn: sqlite3.Connection) -> list[StoredInstance]:
    return [StoredInstance(*row) for row in conn.execute("SELECT object_id, storage_id, key FROM object_instances")]


def _registered(conn: sqlite3.Connection, object_id: str) -> None:
    row = conn.execute("SELECT registered FROM objects WHERE id=?", (object_id,)).fetchone()
    if row is None or not row[0]:
        raise NotFound(f"object {object_id!r} does not exist")


def add_instance(conn: sqlite3.Connection, object_id: str, storage_id: str, key: str) -> None:
    _registered(conn, object_id)
    if conn.execute(
        "SELECT 1 FROM object_instances WHERE object_id=? AND storage_id=?", (object_id, storage_id)
    ).fetchone():
        raise Invalid(f"object {object_id!r} already has an instance on storage backend {storage_id}")
    conn.execute(
        "INSERT INTO object_instances (object_id, storage_id, key, created_ns) VALUES (?, ?, ?, ?)",
        (object_id, storage_id, key, time.time_ns()),
    )
    refresh_locations(conn, object_id)


def add_uncontrolled(
    conn: sqlite3.Connection, object_id: str, url: str, label: str, reserved_labels: Sequence[str]
) -> None:
    _registered(conn, object_id)
    if label in reserved_labels:
        raise Invalid(f"label {label!r} is the label of a storage backend")
    if conn.execute("SELECT 1 FROM object_urls WHERE object_id=? AND label=?", (object_id, label)).fetchone():
        raise Invalid(f"object {object_id!r} already has an instance labelled {label!r}")
    position = conn.execute(
        "SELECT coalesce(max(position), -1) + 1 FROM object_urls WHERE object_id=?", (object_id,)
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO object_urls (object_id, label, url, position) VALUES (?, ?, ?, ?)",
        (object_id, label, url, position),
    )
    refresh_locations(conn, object_id)


def remove_instance(
    conn: sqlite3.Connection, object_id: str, storage_id: str | None, label: str | None
) -> Instance | None:
    """Removes one instance; returns the controlled instance whose bytes should go, if any."""
    _registered(conn, object_id)
    controlled = conn.execute("SELECT count(*) FROM object_instances WHERE object_id=?", (object_id,)).fetchone()[0]
    uncontrolled = conn.execute("SELECT count(*) FROM object_urls WHERE object_id=?", (object_id,)).fetchone()[0]
    if controlled + uncontrolled <= 1:
        raise Invalid(f"refusing to delete the last instance of object {object_id!r}")
    if storage_id is not None:
        row = conn.execute(
            "DELETE FROM object_instances WHERE object_id=? AND storage_id=? RETURNING key", (object_id, storage_id)
        ).fetchone()
        if row is None:
            raise NotFound(f"object {object_id!r} has no instance on storage backend {storage_id}")
        refresh_locations(conn, object_id)
        return Instance(storage_id, row[0])
    row = conn.execute(
        "DELETE FROM object_urls WHERE object_id=? AND label=? RETURNING url", (object_id, label)
    ).fetchone()
    if row is None:
        raise NotFound(f"object {object_id!r} has no instance labelled {label!r}")
    refresh_locations(conn, object_id)
    return None


def expire_allocations(conn: sqlite3.Connection, now_ns: int, limit: int = 1000) -> list[Instance]:
    """Deletes allocations never registered before their deadline; returns their bytes' locations."""
    rows = conn.execute(
        "SELECT id FROM objects WHERE registered = 0 AND alloc_deadline_ns < ? LIMIT ?", (now_ns, limit)
    ).fetchall()
    ids = [r[0] for r in rows]
    if not ids:
        return []
    gone = [
        Instance(s, k)
        for s, k in conn.execute(
            f"SELECT storage_id, key FROM object_instances WHERE object_id IN ({placeholders(ids)})", ids
        )
    ]
    conn.execute(f"DELETE FROM object_instances WHERE object_id IN ({placeholders(ids)})", ids)
    conn.execute(f"DELETE FROM objects WHERE id IN ({placeholders(ids)})", ids)
    return gone


def mark_registered(
    conn: sqlite3.Connection, object_id: str, sizes: Mapping[str, int], digests: Mapping[str, str] | None = None
) -> None:
    conn.execute(
        "UPDATE objects SET registered = 1, alloc_deadline_ns = NULL, size = ?, sha256 = ? WHERE id = ?",
        (sizes.get(object_id), (digests or {}).get(object_id), object_id),
    )


def sizes(conn: sqlite3.Connection, object_ids: Sequence[str]) -> dict[str, int]:
    """Byte sizes recorded at first registration (objects uploaded through allocation)."""
    sql = "SELECT id, size FROM objects WHERE id IN ({ids}) AND size IS NOT NULL"
    return dict(rows_for_ids(conn, sql, object_ids))


def digests(conn: sqlite3.Connection, object_ids: Sequence[str]) -> dict[str, ObjectDigest]:
    """Size and SHA-256 of the uploaded bytes, as recorded at first registration."""
    sql = "SELECT id, size, sha256 FROM objects WHERE id IN ({ids}) AND (size IS NOT NULL OR sha256 IS NOT NULL)"
    return {oid: ObjectDigest(size, sha) for oid, size, sha in rows_for_ids(conn, sql, object_ids)}


def refresh_locations(conn: sqlite3.Connection, object_id: str) -> None:
    """Brings its segments' rows in step with the object's instances and client URLs: the first
    controlled instance (migration 4) and whether the row's page fragment is kept (migration 8)."""
    first = conn.execute(
        "SELECT storage_id, key FROM object_instances WHERE object_id=? ORDER BY created_ns LIMIT 1", (object_id,)
    ).fetchone()
    conn.execute(
        f"UPDATE segments SET home_storage_id=?, home_key=?, page_json={page_json.STORED} WHERE object_id=?",
        (*(first or (None, None)), object_id),
    )
