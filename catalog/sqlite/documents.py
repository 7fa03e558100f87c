"""Service info, profiles, sources and flows in SQLite: plain functions of a connection.

Each function runs inside the transaction ``Database.read``/``Database.write`` opened for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from catalog import rules
from catalog.facade import FlowState
from catalog.sqlite.listing import (
    Row,
    Where,
    add_access_filter,
    add_tag_filters,
    keyset_page,
    placeholders,
    rows_for_ids,
)
from catalog.store import AccessFilter, FlowQuery, FlowStats, SourceQuery
from catalog.timing import TimeRange

SORTS = {
    # sort_by -> (columns forming a unique key, newest-first by default)
    "created": (("created_ns", "id"), True),
    "updated": (("updated_ns", "id"), True),
    "metadata_updated": (("metadata_updated_ns", "id"), True),
    "label": (("label IS NULL", "COALESCE(label, '')", "id"), False),
}


def _load(doc: str | bytes) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(doc)
    return loaded


def _dump(doc: Mapping[str, Any]) -> str:
    return orjson.dumps(doc).decode()


# -- service and profiles ------------------------------------------------------------------------
def get_service(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM service").fetchall())


def update_service(conn: sqlite3.Connection, changes: Mapping[str, str]) -> None:
    conn.executemany(
        "INSERT INTO service (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
        list(changes.items()),
    )


def list_profiles(
    conn: sqlite3.Connection, format_: str | None, codec: str | None, label: str | None, page: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    where = Where()
    for column, value in (("format", format_), ("codec", codec), ("label", label)):
        if value is not None:
            where.add(f"{column}=?", value)
    rows, next_key = keyset_page(
        conn,
        kind="profiles",
        select="doc FROM profiles",
        where=where,
        sort_columns=("id",),
        descending=False,
        page=page,
        limit=limit,
    )
    return [_load(row[0]) for row in rows], next_key


def get_profile(conn: sqlite3.Connection, profile_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT doc FROM profiles WHERE id=?", (profile_id,)).fetchone()
    return _load(row[0]) if row else None


def insert_profile(conn: sqlite3.Connection, doc: dict[str, Any], now_ns: int) -> None:
    meta = doc["flow_metadata"]
    conn.execute(
        "INSERT INTO profiles (id, label, format, codec, created_ns, doc) VALUES (?, ?, ?, ?, ?, ?)",
        (doc["id"], doc.get("label"), meta["format"], meta.get("codec"), now_ns, _dump(doc)),
    )


# -- sources ---------------------------------------------------------------------------------------
def _source_relations(conn: sqlite3.Connection, source: dict[str, Any]) -> dict[str, Any]:
    """Adds the inferred source_collection and collected_by (from the flows' collections)."""
    members = conn.execute(
        "SELECT cf.source_id, c.role FROM flows pf JOIN flow_collections c ON c.parent_id = pf.id "
        "JOIN flows cf ON cf.id = c.child_id WHERE pf.source_id = ? ORDER BY pf.id, c.position",
        (source["id"],),
    ).fetchall()
    collection: list[dict[str, str]] = []
    seen: set[tuple[str, str | None]] = set()
    for member_id, role in members:
        if (member_id, role) not in seen:
            seen.add((member_id, role))
            collection.append({"id": member_id, "role": role} if role else {"id": member_id})
    parents = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT pf.source_id FROM flows cf JOIN flow_collections c ON c.child_id = cf.id "
            "JOIN flows pf ON pf.id = c.parent_id WHERE cf.source_id = ? ORDER BY pf.source_id",
            (source["id"],),
        )
    ]
    if collection:
        source["source_collection"] = collection
    if parents:
        source["collected_by"] = parents
    return source


def list_sources(
    conn: sqlite3.Connection, query: SourceQuery, page: str | None, limit: int, access: AccessFilter | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    where = Where()
    if query.label is not None:
        where.add("label=?", query.label)
    if query.format is not None:
        where.add("format=?", query.format)
    add_tag_filters(where, "source", "sources.id", query.tags)
    add_access_filter(where, "source", "sources.id", access)
    if query.collected_by_ids is not None:
        parents = (
            "SELECT 1 FROM flows cf JOIN flow_collections c ON c.child_id = cf.id "
            "JOIN flows pf ON pf.id = c.parent_id WHERE cf.source_id = sources.id"
        )
        if query.collected_by_ids:
            ids = list(query.collected_by_ids)
            where.add(f"EXISTS ({parents} AND pf.source_id IN ({placeholders(ids)}))", *ids)
        else:
            where.add(f"NOT EXISTS ({parents})")
    columns, newest_first = SORTS[query.sort_by]
    rows, next_key = keyset_page(
        conn,
        kind=f"sources:{query.sort_by}",
        select="doc FROM sources",
        where=where,
        sort_columns=columns,
        descending=newest_first != query.reverse,
        page=page,
        limit=limit,
    )
    return [_source_relations(conn, _load(row[0])) for row in rows], next_key


def get_source(conn: sqlite3.Connection, source_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT doc FROM sources WHERE id=?", (source_id,)).fetchone()
    return _source_relations(conn, _load(row[0])) if row else None


def save_source(conn: sqlite3.Connection, doc: dict[str, Any], now_ns: int) -> None:
    conn.execute(
        "INSERT INTO sources (id, format, label, created_ns, updated_ns, doc) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET label=excluded.label, updated_ns=excluded.updated_ns, doc=excluded.doc",
        (doc["id"], doc["format"], doc.get("label"), now_ns, now_ns, _dump(doc)),
    )
    _replace_tags(conn, "source", doc["id"], doc.get("tags") or {})


def _replace_tags(conn: sqlite3.Connection, kind: str, entity_id: str, tags: Mapping[str, Any]) -> None:
    conn.execute("DELETE FROM tags WHERE kind=? AND entity_id=?", (kind, entity_id))
    conn.executemany(
        "INSERT INTO tags (kind, entity_id, name, seq, value) VALUES (?, ?, ?, ?, ?)",
        [(kind, entity_id, name, seq, value) for name, seq, value in rules.tag_rows(tags)],
    )


# -- flows -------------------------------------------------------------------------------------------
STATS_COLUMNS = "seg_count, seg_lo_min, seg_end_max, seg_end_incl, seg_maxdur, segments_updated_ns, seg_added_total"
FLOW_COLUMNS = f"doc, {STATS_COLUMNS}"


def _stats(row: Row) -> FlowStats:
    count, lo_min, end_max, end_incl, maxdur, updated_ns, added_total = row
    envelope = TimeRange.make(lo_min, end_max, True, bool(end_incl)) if count else TimeRange.never()
    return FlowStats(count, envelope, maxdur, rules.iso_from_ns(updated_ns) if updated_ns else None, added_total)


def _render_flow(conn: sqlite3.Connection, row: Row) -> dict[str, Any]:
    doc = _load(row[0])
    stats = _stats(row[1:])
    parents = [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT parent_id FROM flow_collections WHERE child_id=? ORDER BY parent_id", (doc["id"],)
        )
    ]
    if parents:
        doc["collected_by"] = parents
    if stats.segments_updated:
        doc["segments_updated"] = stats.segments_updated
    return doc


def list_flows(
    conn: sqlite3.Connection, query: FlowQuery, page: str | None, limit: int, access: AccessFilter | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    where = Where()
    for column in ("source_id", "format", "codec", "label", "profile_id", "status", "frame_width", "frame_height"):
        value = getattr(query, column)
        if value is not None:
            where.add(f"{column}=?", value)
    if query.init_segments is not None:
        where.add("init_segments=?", int(query.init_segments))
    tr = query.timerange
    if tr is not None:
        if tr.is_empty():
            where.add("seg_count=0")
        else:
            where.add("seg_count>0")
            if tr.hi is not None:
                where.add("seg_lo_min<=?", tr.hi)
            if tr.lo is not None:
                where.add("seg_hi_max>=?", tr.lo)
    add_tag_filters(where, "flow", "flows.id", query.tags)
    add_access_filter(where, "flow", "flows.id", access)
    if query.collected_by_ids is not None:
        if query.collected_by_ids:
            ids = list(query.collected_by_ids)
            where.add(
                f"EXISTS (SELECT 1 FROM flow_collections c WHERE c.child_id=flows.id "
                f"AND c.parent_id IN ({placeholders(ids)}))",
                *ids,
            )
        else:
            where.add("NOT EXISTS (SELECT 1 FROM flow_collections c WHERE c.child_id=flows.id)")
    columns, newest_first = SORTS[query.sort_by]
    rows, next_key = keyset_page(
        conn,
        kind=f"flows:{query.sort_by}",
        select=f"{FLOW_COLUMNS} FROM flows",
        where=where,
        sort_columns=columns,
        descending=newest_first != query.reverse,
        page=page,
        limit=limit,
    )
    return [_render_flow(conn, row) for row in rows], next_key


def get_flow(conn: sqlite3.Connection, flow_id: str) -> dict[str, Any] | None:
    row = conn.execute(f"SELECT {FLOW_COLUMNS} FROM flows WHERE id=?", (flow_id,)).fetchone()
    return _render_flow(conn, row) if row else None


def flow_stats(conn: sqlite3.Connection, flow_id: str) -> FlowStats | None:
    row = conn.execute(f"SELECT {STATS_COLUMNS} FROM flows WHERE id=?", (flow_id,)).fetchone()
    return _stats(row) if row else None


def save_flow(conn: sqlite3.Connection, doc: dict[str, Any], now_ns: int) -> None:
    essence = doc.get("essence_parameters") or {}
    conn.execute(
        "INSERT INTO flows (id, source_id, format, codec, label, container, profile_id, status, frame_width, "
        "frame_height, init_segments, read_only, created_ns, metadata_updated_ns, doc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "source_id=excluded.source_id, format=excluded.format, codec=excluded.codec, label=excluded.label, "
        "container=excluded.container, profile_id=excluded.profile_id, status=excluded.status, "
        "frame_width=excluded.frame_width, frame_height=excluded.frame_height, "
        "init_segments=excluded.init_segments, read_only=excluded.read_only, "
        "metadata_updated_ns=excluded.metadata_updated_ns, doc=excluded.doc",
        (
            doc["id"],
            doc["source_id"],
            doc["format"],
            doc.get("codec"),
            doc.get("label"),
            doc.get("container"),
            doc.get("profile_id"),
            doc.get("status"),
            essence.get("frame_width"),
            essence.get("frame_height"),
            int(bool(essence.get("init_segments"))),
            int(bool(doc.get("read_only"))),
            now_ns,
            now_ns,
            _dump(doc),
        ),
    )
    _replace_tags(conn, "flow", doc["id"], doc.get("tags") or {})
    conn.execute("DELETE FROM flow_collections WHERE parent_id=?", (doc["id"],))
    conn.executemany(
        "INSERT INTO flow_collections (parent_id, position, child_id, role) VALUES (?, ?, ?, ?)",
        [(doc["id"], i, item["id"], item.get("role")) for i, item in enumerate(doc.get("flow_collection") or [])],
    )


# -- primitives of the shared workflows (catalog.flows) ------------------------------------------------
def flow_state(conn: sqlite3.Connection, flow_id: str) -> FlowState | None:
    row = conn.execute("SELECT doc, read_only, seg_count FROM flows WHERE id=?", (flow_id,)).fetchone()
    return FlowState(_load(row[0]), bool(row[1]), row[2]) if row else None


def source_doc(conn: sqlite3.Connection, source_id: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT doc FROM sources WHERE id=?", (source_id,)).fetchone()
    return _load(row[0]) if row else None


def existing_flows(conn: sqlite3.Connection, flow_ids: Sequence[str]) -> set[str]:
    return {r[0] for r in rows_for_ids(conn, "SELECT id FROM flows WHERE id IN ({ids})", flow_ids)}


def source_in_use(conn: sqlite3.Connection, source_id: str) -> bool:
    return conn.execute("SELECT 1 FROM flows WHERE source_id=? LIMIT 1", (source_id,)).fetchone() is not None


def delete_source(conn: sqlite3.Connection, source_id: str) -> None:
    conn.execute("DELETE FROM sources WHERE id=?", (source_id,))
    conn.execute("DELETE FROM tags WHERE kind='source' AND entity_id=?", (source_id,))


def delete_flow_row(conn: sqlite3.Connection, flow_id: str) -> None:
    conn.execute("DELETE FROM flows WHERE id=?", (flow_id,))
    conn.execute("DELETE FROM tags WHERE kind='flow' AND entity_id=?", (flow_id,))
    conn.execute("DELETE FROM flow_collections WHERE parent_id=?", (flow_id,))


def collections_naming(conn: sqlite3.Connection, flow_id: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT parent_id FROM flow_collections WHERE child_id=? ORDER BY parent_id", (flow_id,)
        )
    ]
