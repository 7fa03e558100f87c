"""Row-level helpers over one VAST transaction: dict rows in, dict rows out.

VAST updates and deletes rows only by ``$row_id``, so "update where" and "delete where" select the
row ids and change them in the same transaction (never across two, the fault of the system we
replace). ``isin`` lists are chunked: a 10k-id predicate is ~1.5 MB on the wire (docs/VAST.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa
from ibis import _

from catalog.vast.connection import ROW_ID, Tx
from catalog.vast.schema import TABLES

ISIN_CHUNK = 10_000


def dump(doc: Mapping[str, Any]) -> str:
    return orjson.dumps(doc).decode()


def load(doc: str) -> dict[str, Any]:
    loaded: dict[str, Any] = orjson.loads(doc)
    return loaded


def select(
    tx: Tx, table: str, predicate: Any = None, columns: Sequence[str] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = tx.select(table, columns, predicate, limit=limit).to_pylist()
    return rows


def one(tx: Tx, table: str, predicate: Any, columns: Sequence[str] | None = None) -> dict[str, Any] | None:
    found = select(tx, table, predicate, columns, limit=1)
    return found[0] if found else None


def _isin_chunks(column: str, values: Iterable[Any]) -> Iterator[Any]:
    """``column IN (...)`` predicates over the distinct non-null values, at most ISIN_CHUNK each."""
    unique = list(dict.fromkeys(v for v in values if v is not None))
    for start in range(0, len(unique), ISIN_CHUNK):
        yield getattr(_, column).isin(unique[start : start + ISIN_CHUNK])


def where_in(
    tx: Tx, table: str, column: str, values: Iterable[Any], columns: Sequence[str] | None = None, also: Any = None
) -> list[dict[str, Any]]:
    """Rows whose ``column`` is one of ``values`` (and ``also``), in chunks VAST accepts."""
    found: list[dict[str, Any]] = []
    for predicate in _isin_chunks(column, values):
        found.extend(select(tx, table, predicate if also is None else predicate & also, columns))
    return found


def delete_in(
    tx: Tx, table: str, column: str, values: Iterable[Any], columns: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Deletes the rows whose ``column`` is one of ``values``; returns them (with ``columns``)."""
    gone: list[dict[str, Any]] = []
    for predicate in _isin_chunks(column, values):
        gone.extend(delete_where(tx, table, predicate, columns))
    return gone


def insert(tx: Tx, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        schema = TABLES[table]
        tx.insert(
            table, pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)
        )


def delete_where(tx: Tx, table: str, predicate: Any, columns: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Deletes the matching rows; returns them (with ``columns``)."""
    found = tx.select(table, list(columns) or [TABLES[table].names[0]], predicate, row_ids=True)
    tx.delete(table, found[ROW_ID])
    return found.drop_columns([ROW_ID]).to_pylist() if columns else [{}] * found.num_rows


def update_where(tx: Tx, table: str, predicate: Any, changes: Mapping[str, Any]) -> int:
    """Sets ``changes`` on every matching row; returns how many rows matched."""
    found = tx.select(table, [TABLES[table].names[0]], predicate, row_ids=True)
    if found.num_rows:
        schema = TABLES[table]
        batch = {ROW_ID: found[ROW_ID]}
        for name, value in changes.items():
            batch[name] = pa.array([value] * found.num_rows, schema.field(name).type)
        tx.update(table, pa.table(batch), list(changes))
    return int(found.num_rows)


def update_each(tx: Tx, table: str, key: str, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Per-row changes keyed by ``key`` (all with the same columns): one update, after one select
    per ``ISIN_CHUNK`` keys like every other ``isin`` here."""
    if not changes:
        return
    found = [
        row
        for predicate in _isin_chunks(key, changes)
        for row in tx.select(table, [key], predicate, row_ids=True).to_pylist()
    ]
    columns = list(next(iter(changes.values())))
    schema = TABLES[table]
    batch: dict[str, Any] = {ROW_ID: pa.array([row[ROW_ID] for row in found], pa.uint64())}
    for name in columns:
        batch[name] = pa.array([changes[row[key]][name] for row in found], schema.field(name).type)
    tx.update(table, pa.table(batch), columns)


def upsert(tx: Tx, table: str, predicate: Any, row: Mapping[str, Any], keep: Sequence[str] = ()) -> None:
    """Replaces the columns of the matching row (except ``keep``), or inserts it."""
    changes = {k: v for k, v in row.items() if k not in keep}
    if not update_where(tx, table, predicate, changes):
        insert(tx, table, [row])
