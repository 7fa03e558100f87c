"""The outbox and webhooks in SQLite: events are rows written in the same transaction as their change.

Each webhook keeps the sequence number of the last event it has delivered; the dispatcher reads
the events after it, so nothing is lost across a crash (delivery is at least once).
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import orjson

from catalog import rules
from catalog.errors import Invalid, NotFound
from catalog.sqlite.listing import Row, Where, add_access_filter, add_tag_filters, keyset_page
from catalog.store import AccessFilter, Event, TagFilter


def emit(
    conn: sqlite3.Connection,
    event_type: str,
    body: dict[str, Any],
    flow_id: str | None = None,
    source_id: str | None = None,
) -> None:
    conn.execute(
        "INSERT INTO events (type, flow_id, source_id, body, created_ns) VALUES (?, ?, ?, ?, ?)",
        (event_type, flow_id, source_id, orjson.dumps(body).decode(), time.time_ns()),
    )


def events_after(conn: sqlite3.Connection, seq: int, limit: int) -> list[Event]:
    rows = conn.execute(
        "SELECT seq, type, flow_id, source_id, body, created_ns FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        (seq, limit),
    ).fetchall()
    return [Event(s, t, f, src, orjson.loads(b), c) for s, t, f, src, b, c in rows]


def last_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0])


def _render(row: Row) -> dict[str, Any]:
    webhook_id, doc, status, error = row
    out = {**orjson.loads(doc), "id": webhook_id, "status": status}
    out.pop("api_key_value", None)  # write-only: never echoed
    if error:
        out["error"] = orjson.loads(error)
    return out


def list_webhooks(
    conn: sqlite3.Connection,
    tags: TagFilter,
    reverse: bool,
    page: str | None,
    limit: int,
    access: AccessFilter | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    where = Where()
    add_tag_filters(where, "webhook", "webhooks.id", tags)
    add_access_filter(where, "webhook", "webhooks.id", access)
    rows, next_key = keyset_page(
        conn,
        kind="webhooks",
        select="id, doc, status, error FROM webhooks",
        where=where,
        sort_columns=("url", "id"),
        descending=reverse,
        page=page,
        limit=limit,
    )
    return [_render(r) for r in rows], next_key


def get_webhook(conn: sqlite3.Connection, webhook_id: str, secret: bool = False) -> dict[str, Any] | None:
    row = conn.execute("SELECT id, doc, status, error, last_seq FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
    if row is None:
        return None
    out = _render(row[:4])
    if secret:
        out["api_key_value"] = orjson.loads(row[1]).get("api_key_value")
        out["last_seq"] = row[4]
    return out


def save_webhook(conn: sqlite3.Connection, doc: dict[str, Any], webhook_id: str | None = None) -> dict[str, Any]:
    """Creates (no id) or replaces a webhook; new webhooks receive events from now on."""
    status = doc.pop("status", "created")
    if webhook_id is None:
        webhook_id = str(uuid.uuid4())
        conn.execute(
            "INSERT INTO webhooks (id, url, doc, status, last_seq, created_ns) VALUES (?, ?, ?, ?, ?, ?)",
            (webhook_id, doc["url"], orjson.dumps(doc).decode(), status, last_seq(conn), time.time_ns()),
        )
    else:
        current = conn.execute("SELECT status, doc FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
        if current is None:
            raise NotFound(f"webhook {webhook_id} does not exist")
        if current[0] == "error" and status == "disabled":
            raise Invalid("a webhook in error can be re-enabled (status created), not disabled")
        if "api_key_value" not in doc and "api_key_value" in orjson.loads(current[1]):
            doc["api_key_value"] = orjson.loads(current[1])["api_key_value"]  # keep the secret unless replaced
        error = (
            None
            if status == "created"
            else conn.execute("SELECT error FROM webhooks WHERE id=?", (webhook_id,)).fetchone()[0]
        )
        conn.execute(
            "UPDATE webhooks SET url=?, doc=?, status=?, error=? WHERE id=?",
            (doc["url"], orjson.dumps(doc).decode(), status, error, webhook_id),
        )
    conn.execute("DELETE FROM tags WHERE kind='webhook' AND entity_id=?", (webhook_id,))
    conn.executemany(
        "INSERT INTO tags (kind, entity_id, name, seq, value) VALUES ('webhook', ?, ?, ?, ?)",
        [(webhook_id, n, s, v) for n, s, v in rules.tag_rows(doc.get("tags") or {})],
    )
    return get_webhook(conn, webhook_id) or {}


def delete_webhook(conn: sqlite3.Connection, webhook_id: str) -> None:
    if conn.execute("DELETE FROM webhooks WHERE id=? RETURNING id", (webhook_id,)).fetchone() is None:
        raise NotFound(f"webhook {webhook_id} does not exist")
    conn.execute("DELETE FROM tags WHERE kind='webhook' AND entity_id=?", (webhook_id,))


def delivered(
    conn: sqlite3.Connection, webhook_id: str, seq: int, status: str | None = None, error: dict[str, Any] | None = None
) -> None:
    """Records progress (and a status change, e.g. started or error) of one webhook."""
    conn.execute("UPDATE webhooks SET last_seq = max(last_seq, ?) WHERE id=?", (seq, webhook_id))
    if status is not None:
        conn.execute(
            "UPDATE webhooks SET status=?, error=? WHERE id=?",
            (status, orjson.dumps(error).decode() if error else None, webhook_id),
        )


def prune(conn: sqlite3.Connection, older_than_ns: int) -> int:
    """Drops events older than the retention that every active webhook has already delivered."""
    return conn.execute(
        "DELETE FROM events WHERE created_ns < ? AND seq <= coalesce((SELECT min(last_seq) FROM webhooks "
        "WHERE status IN ('created', 'started')), (SELECT max(seq) FROM events))",
        (older_than_ns,),
    ).rowcount
