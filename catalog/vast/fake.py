"""An in-memory stand-in for VAST DB tables, for tests and benchmarks (there is no VAST emulator).

It behaves like the parts of VAST the store relies on, and is stricter where that finds bugs:
- every select's predicate goes through the SDK's own serializer (``pushdown.validate``), so a
  predicate VAST could not push down fails here too;
- rows come back shuffled and ``limit`` keeps arbitrary rows, so no code can lean on an order;
- transactions see a snapshot taken at begin plus their own writes, and commit atomically; a
  transaction that updates or deletes a row another transaction changed after it began fails with
  ``Conflict`` (first committer wins), which is how the store keeps counters and stats exact;
- ``select_calls`` counts selects per table, for the page-cost benchmark.
With a ``journal`` file it also outlives its process: each commit's changes are appended to the
file before the commit returns and replayed at start (a torn last record, from a kill mid-write,
is a commit that never returned), so restart and crash tests run on it too.
What it does not model: latency, eventual consistency of table stats, sorting and projections.
"""

from __future__ import annotations

import contextlib
import itertools
import pickle
import random
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
from vastdb.table_metadata import TableMetadata, TableRef, TableType

from catalog.errors import Unavailable
from catalog.vast import pushdown
from catalog.vast.connection import ROW_ID, Conflict, Tx
from catalog.vast.schema import TABLES

_ROW_ID_FIELD = pa.field(ROW_ID, pa.uint64())


def _empty(schema: pa.Schema) -> pa.Table:
    return schema.append(_ROW_ID_FIELD).empty_table()


def _without(table: pa.Table, row_ids: pa.Array) -> pa.Table:
    return table.filter(pc.invert(pc.is_in(table[ROW_ID], value_set=row_ids)))


def _updated(table: pa.Table, rows: pa.Table, columns: Sequence[str]) -> pa.Table:
    positions = pc.index_in(table[ROW_ID], value_set=rows[ROW_ID].combine_chunks())
    hit = pc.is_valid(positions)
    for name in columns:
        values = rows[name].combine_chunks().cast(table.schema.field(name).type).take(positions)
        table = table.set_column(table.schema.get_field_index(name), name, pc.if_else(hit, values, table[name]))
    return table


class FakeVast:
    """The shared state of all transactions: one Arrow table per catalog table."""

    def __init__(self, seed: int | None = None, detect_conflicts: bool = True, journal: Path | None = None) -> None:
        self.tables: dict[str, pa.Table] = {name: _empty(schema) for name, schema in TABLES.items()}
        self.metadata = {
            name: TableMetadata(TableRef("fake", "tams", name), arrow_schema=schema, table_type=TableType.Regular)
            for name, schema in TABLES.items()
        }
        self.detect_conflicts = detect_conflicts
        self.select_calls: Counter[str] = Counter()
        self.down = False  # set to model an unreachable cluster: every transaction fails to begin
        self.version = 0
        self._changed: dict[tuple[str, int], int] = {}  # (table, row id) -> version that last changed it
        self._row_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.journal = journal
        self._journal_file: BinaryIO | None = None

    # the Connection interface
    def start(self) -> None:
        if self.journal is None:
            return
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        last_row_id = 0
        if self.journal.exists():
            with self.journal.open("r+b") as replay:
                good = 0
                while True:
                    try:
                        log = pickle.load(replay)
                    except Exception:  # noqa: BLE001 - the end, or a record torn by a kill
                        break
                    self._replay(log)
                    good = replay.tell()
                replay.truncate(good)  # drop a torn record: that commit never returned
            for table in self.tables.values():
                if table.num_rows:
                    last_row_id = max(last_row_id, pc.max(table[ROW_ID]).as_py())
        self._row_ids = itertools.count(last_row_id + 1)
        self._journal_file = self.journal.open("ab")

    def close(self) -> None:
        if self._journal_file is not None:
            self._journal_file.close()
            self._journal_file = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        if self.down:
            raise Unavailable("fake VAST DB is down")
        with self._lock:
            tx = _FakeTx(self, dict(self.tables), self.version)
        yield tx
        tx.commit()

    def next_row_ids(self, n: int) -> pa.Array:
        with self._lock:
            return pa.array([next(self._row_ids) for _ in range(n)], pa.uint64())

    def shuffle(self, n: int) -> pa.Array:
        order = list(range(n))
        self._random.shuffle(order)
        return pa.array(order, pa.int64())

    def apply(self, tx: _FakeTx) -> None:
        with self._lock:
            if self.detect_conflicts:
                for key in tx.touched:
                    if self._changed.get(key, 0) > tx.start_version:
                        raise Conflict(f"row {key[1]} of {key[0]} changed by a concurrent transaction")
            if not tx.log:
                return
            self.version += 1
            self._replay(tx.log)
            for key in tx.touched:
                self._changed[key] = self.version
            if self._journal_file is not None:
                pickle.dump(tx.log, self._journal_file)
                self._journal_file.flush()  # in the OS before the commit returns: survives a kill

    def _replay(self, log: list[tuple[str, str, Any, Sequence[str]]]) -> None:
        for op, table, payload, columns in log:
            current = self.tables[table]
            if op == "insert":
                current = pa.concat_tables([current, payload])
                if current.num_rows and current[ROW_ID].num_chunks > 64:
                    current = current.combine_chunks()
            elif op == "update":
                current = _updated(current, payload, columns)
            else:
                current = _without(current, payload)
            self.tables[table] = current


class _FakeTx:
    def __init__(self, fake: FakeVast, snapshot: dict[str, pa.Table], start_version: int) -> None:
        self.fake = fake
        self.tables = snapshot
        self.start_version = start_version
        self.log: list[tuple[str, str, Any, Sequence[str]]] = []
        self.touched: set[tuple[str, int]] = set()

    def select(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        predicate: Any = None,
        *,
        limit: int | None = None,
        row_ids: bool = False,
    ) -> pa.Table:
        schema = TABLES[table]
        names = list(columns) if columns else list(schema.names)
        expr = pushdown.resolve(predicate, self.fake.metadata[table])
        pushdown.validate(schema, expr, names)  # raises NotImplementedError like the SDK would
        self.fake.select_calls[table] += 1
        data = self.tables[table]
        arrow_filter = pushdown.to_arrow(expr)
        if arrow_filter is not None:
            data = data.filter(arrow_filter)
        data = data.take(self.fake.shuffle(data.num_rows))
        if limit is not None:
            data = data.slice(0, limit)
        return data.select(names + ([ROW_ID] if row_ids else []))

    def insert(self, table: str, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        rows = rows.select(TABLES[table].names).cast(TABLES[table])
        rows = rows.append_column(_ROW_ID_FIELD, self.fake.next_row_ids(rows.num_rows))
        self.tables[table] = pa.concat_tables([self.tables[table], rows])
        self.log.append(("insert", table, rows, ()))

    def update(self, table: str, rows: pa.Table, columns: Sequence[str]) -> None:
        if not rows.num_rows:
            return
        self.tables[table] = _updated(self.tables[table], rows, columns)
        self.log.append(("update", table, rows, tuple(columns)))
        self.touched.update((table, int(r)) for r in rows[ROW_ID].to_pylist())

    def delete(self, table: str, row_ids: pa.Array | pa.ChunkedArray) -> None:
        if not len(row_ids):
            return
        ids = (
            pa.array(row_ids, pa.uint64())
            if not isinstance(row_ids, pa.ChunkedArray)
            else row_ids.combine_chunks().cast(pa.uint64())
        )
        self.tables[table] = _without(self.tables[table], ids)
        self.log.append(("delete", table, ids, ()))
        self.touched.update((table, int(r)) for r in ids.to_pylist())

    def row_estimate(self, table: str) -> int:
        return int(self.tables[table].num_rows)

    def commit(self) -> None:
        self.fake.apply(self)
