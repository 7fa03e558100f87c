"""Flow deletion requests in SQLite: the request rows (the lifecycle is ``catalog.deletion_requests``)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from catalog.deletion_requests import render
from catalog.facade import Listing, StoredRequest
from catalog.sqlite.listing import Where, keyset_page

SORTS = {"created": ("created_ns", "id"), "expiry": ("created_ns", "id")}  # requests do not expire here


def _stored(row: tuple[str, str] | None) -> StoredRequest | None:
    return StoredRequest(orjson.loads(row[0]), row[1]) if row else None


def pending(conn: sqlite3.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM delete_requests WHERE status IN ('created', 'started') ORDER BY created_ns"
        )
    ]


def request_row(conn: sqlite3.Connection, request_id: str) -> StoredRequest | None:
    return _stored(conn.execute("SELECT doc, status FROM delete_requests WHERE id=?", (request_id,)).fetchone())


def active_request(conn: sqlite3.Connection, flow_id: str) -> StoredRequest | None:
    return _stored(
        conn.execute(
            "SELECT doc, status FROM delete_requests WHERE flow_id=? AND status IN ('created', 'started')", (flow_id,)
        ).fetchone()
    )


def insert_request(conn: sqlite3.Connection, doc: dict[str, Any], now_ns: int) -> None:
    conn.execute(
        "INSERT INTO delete_requests (id, flow_id, status, doc, created_ns, updated_ns) "
        "VALUES (?, ?, 'created', ?, ?, ?)",
        (doc["id"], doc["flow_id"], orjson.dumps(doc).decode(), now_ns, now_ns),
    )


def update_request(
    conn: sqlite3.Connection, request_id: str, doc: dict[str, Any], status: str, updated_ns: int | None
) -> None:
    conn.execute(
        "UPDATE delete_requests SET doc=?, status=?, updated_ns=coalesce(?, updated_ns) WHERE id=?",
        (orjson.dumps(doc).decode(), status, updated_ns, request_id),
    )


def list_requests(conn: sqlite3.Connection, sort_by: str, reverse: bool, page: str | None, limit: int) -> Listing:
    rows, next_key = keyset_page(
        conn,
        kind=f"delete-requests:{sort_by}",
        select="doc, status FROM delete_requests",
        where=Where(),
        sort_columns=SORTS[sort_by],
        descending=not reverse,
        page=page,
        limit=limit,
    )
    return [render(StoredRequest(orjson.loads(r[0]), r[1])) for r in rows], next_key
