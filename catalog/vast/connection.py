"""The table operations the VAST store uses, over a real cluster (the ``vastdb`` SDK) or the fake.

Each logical catalog operation is one transaction: ``begin`` + its selects/inserts/updates/deletes
+ ``commit``. Table metadata is built once from our own schemas, so no transaction walks
bucket → schema → table (docs/VAST.md). Predicates are ``ibis._`` expressions restricted to
what VAST pushes down; rows come back unordered, and ``limit`` returns arbitrary rows.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from catalog.errors import Unavailable
from catalog.vast.schema import LEGACY_PROJECTIONS, PROJECTIONS, SORTING_KEYS, TABLES

ROW_ID = "$row_id"


class Conflict(Exception):
    """Another transaction changed rows this one changed; the whole operation is retried."""


class Tx(Protocol):
    def select(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        predicate: Any = None,
        *,
        limit: int | None = None,
        row_ids: bool = False,
    ) -> pa.Table: ...
    def insert(self, table: str, rows: pa.Table) -> None: ...
    def update(self, table: str, rows: pa.Table, columns: Sequence[str]) -> None: ...
    def delete(self, table: str, row_ids: pa.Array | pa.ChunkedArray) -> None: ...
    def row_estimate(self, table: str) -> int:
        """Rows in the table from its statistics (eventually consistent: for metrics, not logic)."""
        ...


class Connection(Protocol):
    def start(self) -> None: ...
    def close(self) -> None: ...
    def transaction(self) -> contextlib.AbstractContextManager[Tx]: ...


@dataclass(frozen=True)
class VastSettings:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    schema: str = "tams"
    data_endpoints: tuple[str, ...] = ()
    sessions: int = 8
    timeout: int = 30
    retry_s: float = 60.0  # the SDK's backoff on connection errors and SlowDown, per call


class _RealTx:
    """One SDK transaction with tables bound from prebuilt metadata (no discovery RPCs)."""

    def __init__(self, tx: Any, metadata: dict[str, Any], config: Any) -> None:
        self._tx = tx
        self._metadata = metadata
        self._config = config
        self._tables: dict[str, Any] = {}

    def _table(self, name: str) -> Any:
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = self._tx.table_from_metadata(self._metadata[name])
        return table

    def select(
        self,
        table: str,
        columns: Sequence[str] | None = None,
        predicate: Any = None,
        *,
        limit: int | None = None,
        row_ids: bool = False,
    ) -> pa.Table:
        reader = self._table(table).select(
            columns=list(columns) if columns else None,
            predicate=predicate,
            config=self._config,
            internal_row_id=row_ids,
            limit_rows=limit,
        )
        return reader.read_all()

    def insert(self, table: str, rows: pa.Table) -> None:
        if rows.num_rows:
            self._table(table).insert(rows)

    def update(self, table: str, rows: pa.Table, columns: Sequence[str]) -> None:
        if rows.num_rows:
            self._table(table).update(rows, columns=list(columns))

    def delete(self, table: str, row_ids: pa.Array | pa.ChunkedArray) -> None:
        if len(row_ids):
            self._table(table).delete(pa.table({ROW_ID: pa.array(row_ids, pa.uint64())}))

    def row_estimate(self, table: str) -> int:
        return int(self._table(table).get_stats().num_rows)


class VastConnection:
    """A small pool of SDK sessions (one per worker thread at most) against a real cluster."""

    def __init__(self, settings: VastSettings) -> None:
        self.settings = settings
        self._sessions: queue.Queue[Any] = queue.Queue()
        self._metadata: dict[str, Any] = {}
        self._config: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import vastdb
        from vastdb.config import BackoffConfig, SessionConfig

        kwargs: dict[str, Any] = {"backoff_config": BackoffConfig(max_time=self.settings.retry_s)}
        if self.settings.data_endpoints:
            kwargs["config"] = SessionConfig(data_endpoints=list(self.settings.data_endpoints))
        return vastdb.connect(
            endpoint=self.settings.endpoint,
            access=self.settings.access_key,
            secret=self.settings.secret_key,
            timeout=self.settings.timeout,
            **kwargs,
        )

    def start(self) -> None:
        try:
            self._start()
        except Exception as exc:  # one clear line at start-up, whatever the SDK raised
            raise RuntimeError(
                f"VAST DB catalog at {self.settings.endpoint} (bucket {self.settings.bucket!r}, "
                f"schema {self.settings.schema!r}) is not usable: {exc}"
            ) from exc

    def _start(self) -> None:
        from vastdb.config import QueryConfig
        from vastdb.table_metadata import TableMetadata, TableRef

        session = self._connect()
        with session.transaction() as tx:
            ensure_tables(tx, self.settings.bucket, self.settings.schema, _supports_elysium(session))
        with session.transaction() as tx:
            # once per process: each table's schema and type (a sorted table has another row-id type)
            for name in TABLES:
                metadata = TableMetadata(TableRef(self.settings.bucket, self.settings.schema, name))
                metadata.load(tx)
                self._metadata[name] = metadata
        self._config = QueryConfig(num_splits=1)  # OLTP-sized reads: one split, no fan-out threads
        self._sessions.put(session)
        for _ in range(self.settings.sessions - 1):
            self._sessions.put(self._connect())

    def close(self) -> None:
        while not self._sessions.empty():
            self._sessions.get_nowait()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        import requests
        from vastdb import errors

        session = self._sessions.get()
        try:
            with session.transaction() as tx:
                yield _RealTx(tx, self._metadata, self._config)
        except errors.Conflict as exc:
            raise Conflict(str(exc)) from exc
        except (errors.ServiceUnavailable, errors.ConnectionError, requests.RequestException) as exc:
            raise Unavailable(f"VAST DB at {self.settings.endpoint} is unavailable: {exc}") from exc
        finally:
            self._sessions.put(session)


def _supports_elysium(session: Any) -> bool:
    try:
        session.features.check_elysium()
        return True
    except Exception:  # noqa: BLE001 - the SDK raises its own NotSupportedVersion
        return False


def ensure_tables(tx: Any, bucket_name: str, schema_name: str, elysium: bool) -> None:
    """Creates the schema, tables and projections that are missing, and adds new columns (migration)."""
    bucket = tx.bucket(bucket_name)  # the Database-enabled view must exist (created in VMS)
    schema = bucket.schema(schema_name, fail_if_missing=False) or bucket.create_schema(schema_name)
    for name, arrow_schema in TABLES.items():
        table = schema.table(name, fail_if_missing=False)
        if table is None:
            sorting = SORTING_KEYS.get(name, []) if elysium else []
            table = schema.create_table(name, arrow_schema, sorting_key=sorting)
        else:
            have = set(table.arrow_schema.names)
            missing = [field for field in arrow_schema if field.name not in have]
            if missing:
                table.add_column(pa.schema(missing))
    wanted = PROJECTIONS + ([] if elysium else LEGACY_PROJECTIONS)
    for table_name, projection, sorted_columns, unsorted_columns in wanted:
        table = schema.table(table_name)
        if projection not in {p.name for p in table.projections()}:
            table.create_projection(projection, sorted_columns=sorted_columns, unsorted_columns=unsorted_columns)
