"""The outbox and webhooks in VAST DB: events are rows written in the same transaction as their change.

Event sequence numbers come from one ``counters`` row that each event-writing transaction updates:
two transactions that both emit conflict on that row, one retries, so numbers are dense and never
reused. Dense numbers let the dispatcher read "the next N events" as one range select.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from ibis import _

from catalog.errors import Invalid, NotFound
from catalog.paging import page_sorted
from catalog.rules import admitted
from catalog.store import AccessFilter, Event, TagFilter
from catalog.vast import access as pushed
from catalog.vast.connection import ROW_ID, Tx
from catalog.vast.rows import delete_where, dump, insert, load, one, select, update_where

EVENTS_COUNTER = "events"


def last_seq(tx: Tx) -> int:
    row = one(tx, "counters", _.name == EVENTS_COUNTER, ["value"])
    return int(row["value"]) if row else 0


def _next_seq(tx: Tx) -> int:
    found = tx.select("counters", ["value"], _.name == EVENTS_COUNTER, row_ids=True)
    if not found.num_rows:
        insert(tx, "counters", [{"name": EVENTS_COUNTER, "value": 1}])
        return 1
    seq = int(found["value"][0].as_py()) + 1
    tx.update("counters", found.select([ROW_ID]).append_column("value", [[seq]]), ["value"])
    return seq


def emit(
    tx: Tx, event_type: str, body: dict[str, Any], flow_id: str | None = None, source_id: str | None = None
) -> None:
    insert(
        tx,
        "events",
        [
            {
                "seq": _next_seq(tx),
                "type": event_type,
                "flow_id": flow_id,
                "source_id": source_id,
                "body": dump(body),
                "created_ns": time.time_ns(),
            }
        ],
    )


def events_after(tx: Tx, seq: int, limit: int) -> list[Event]:
    # numbers are dense, so the next ``limit`` events are exactly the range after ``seq``
    found = select(tx, "events", _.seq.between(seq + 1, seq + limit))
    found.sort(key=lambda r: r["seq"])
    return [
        Event(r["seq"], r["type"], r["flow_id"], r["source_id"], orjson.loads(r["body"]), r["created_ns"])
        for r in found
    ]


def _render(row: dict[str, Any]) -> dict[str, Any]:
    out = {**load(row["doc"]), "id": row["id"], "status": row["status"]}
    out.pop("api_key_value", None)  # write-only: never echoed
    if row["error"]:
        out["error"] = load(row["error"])
    return out


def list_webhooks(
    tx: Tx, tags: TagFilter, reverse: bool, page: str | None, limit: int, access: AccessFilter | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    found = [
        r
        for r in select(tx, "webhooks", pushed.predicate(access))
        if admitted(load(r["doc"]).get("tags"), tags, access)
    ]
    rows, next_key = page_sorted(
        [((r["url"], r["id"]), r) for r in found], kind="webhooks", arity=2, descending=reverse, page=page, limit=limit
    )
    return [_render(r) for r in rows], next_key


def get_webhook(tx: Tx, webhook_id: str, secret: bool = False) -> dict[str, Any] | None:
    row = one(tx, "webhooks", _.id == webhook_id)
    if row is None:
        return None
    out = _render(row)
    if secret:
        out["api_key_value"] = load(row["doc"]).get("api_key_value")
        out["last_seq"] = row["last_seq"]
    return out


def save_webhook(tx: Tx, doc: dict[str, Any], webhook_id: str | None = None) -> dict[str, Any]:
    """Creates (no id) or replaces a webhook; new webhooks receive events from now on."""
    status = doc.pop("status", "created")
    if webhook_id is None:
        webhook_id = str(uuid.uuid4())
        insert(
            tx,
            "webhooks",
            [
                {
                    "id": webhook_id,
                    "url": doc["url"],
                    "doc": dump(doc),
                    "status": status,
                    "last_seq": last_seq(tx),
                    "created_ns": time.time_ns(),
                    "auth_classes": pushed.column_value(doc.get("tags")),
                }
            ],
        )
    else:
        current = one(tx, "webhooks", _.id == webhook_id)
        if current is None:
            raise NotFound(f"webhook {webhook_id} does not exist")
        if current["status"] == "error" and status == "disabled":
            raise Invalid("a webhook in error can be re-enabled (status created), not disabled")
        old = load(current["doc"])
        if "api_key_value" not in doc and "api_key_value" in old:
            doc["api_key_value"] = old["api_key_value"]  # keep the secret unless replaced
        error = None if status == "created" else current["error"]
        update_where(
            tx,
            "webhooks",
            _.id == webhook_id,
            {
                "url": doc["url"],
                "doc": dump(doc),
                "status": status,
                "error": error,
                "auth_classes": pushed.column_value(doc.get("tags")),
            },
        )
    return get_webhook(tx, webhook_id) or {}


def delete_webhook(tx: Tx, webhook_id: str) -> None:
    if not delete_where(tx, "webhooks", _.id == webhook_id):
        raise NotFound(f"webhook {webhook_id} does not exist")


def delivered(
    tx: Tx, webhook_id: str, seq: int, status: str | None = None, error: dict[str, Any] | None = None
) -> None:
    row = one(tx, "webhooks", _.id == webhook_id, ["last_seq"])
    if row is None:
        return
    changes: dict[str, Any] = {"last_seq": max(row["last_seq"], seq)}
    if status is not None:
        changes.update(status=status, error=dump(error) if error else None)
    update_where(tx, "webhooks", _.id == webhook_id, changes)


def prune(tx: Tx, older_than_ns: int) -> int:
    """Drops events older than the retention that every active webhook has already delivered."""
    active = [r["last_seq"] for r in select(tx, "webhooks", _.status.isin(["created", "started"]), ["last_seq"])]
    upto = min(active) if active else last_seq(tx)
    return len(delete_where(tx, "events", (_.created_ns < older_than_ns) & (_.seq <= upto)))
