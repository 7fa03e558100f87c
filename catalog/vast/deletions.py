"""Flow deletion requests in VAST DB: the request rows (the lifecycle is ``catalog.deletion_requests``)."""

from __future__ import annotations

from typing import Any

from ibis import _

from catalog.deletion_requests import render
from catalog.facade import Listing, StoredRequest
from catalog.paging import page_sorted
from catalog.vast.connection import Tx
from catalog.vast.rows import dump, insert, load, one, select, update_where

ACTIVE = ["created", "started"]


def _stored(row: dict[str, Any] | None) -> StoredRequest | None:
    return StoredRequest(load(row["doc"]), row["status"]) if row else None


def pending(tx: Tx) -> list[str]:
    rows = select(tx, "delete_requests", _.status.isin(ACTIVE), ["id", "created_ns"])
    return [r["id"] for r in sorted(rows, key=lambda r: (r["created_ns"], r["id"]))]


def request_row(tx: Tx, request_id: str) -> StoredRequest | None:
    return _stored(one(tx, "delete_requests", _.id == request_id, ["doc", "status"]))


def active_request(tx: Tx, flow_id: str) -> StoredRequest | None:
    return _stored(one(tx, "delete_requests", (_.flow_id == flow_id) & _.status.isin(ACTIVE), ["doc", "status"]))


def insert_request(tx: Tx, doc: dict[str, Any], now_ns: int) -> None:
    insert(
        tx,
        "delete_requests",
        [
            {
                "id": doc["id"],
                "flow_id": doc["flow_id"],
                "status": "created",
                "doc": dump(doc),
                "created_ns": now_ns,
                "updated_ns": now_ns,
            }
        ],
    )


def update_request(tx: Tx, request_id: str, doc: dict[str, Any], status: str, updated_ns: int | None) -> None:
    changes: dict[str, Any] = {"doc": dump(doc), "status": status}
    if updated_ns is not None:
        changes["updated_ns"] = updated_ns
    update_where(tx, "delete_requests", _.id == request_id, changes)


def list_requests(tx: Tx, sort_by: str, reverse: bool, page: str | None, limit: int) -> Listing:
    rows = select(tx, "delete_requests")
    found, next_key = page_sorted(
        [((r["created_ns"], r["id"]), r) for r in rows],
        kind=f"delete-requests:{sort_by}",
        arity=2,
        descending=not reverse,
        page=page,
        limit=limit,
    )
    return [render(StoredRequest(load(r["doc"]), r["status"])) for r in found], next_key
