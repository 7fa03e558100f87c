"""The embedded default catalog: one SQLite file in WAL mode, writes serialised, reads concurrent."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from catalog.facade import CatalogFacade, Store
from catalog.sqlite import deletions, documents, events, objects, segments
from catalog.sqlite.db import Database
from catalog.store import Catalog, SegmentFailure

R = TypeVar("R")
T = TypeVar("T")
STORE: Store[sqlite3.Connection] = Store(documents, segments, objects, events, deletions)


class SQLiteCatalog(CatalogFacade[sqlite3.Connection]):
    """Implements ``catalog.store.Catalog`` over one SQLite file."""

    def __init__(self, path: Path | str, readers: int = 4, loop_reads: bool = True) -> None:
        super().__init__(STORE)
        self.db = Database(Path(path), readers=readers, loop_reads=loop_reads)

    async def _read(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        return await self.db.read(fn)

    async def _read_page(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        return await self.db.read_bounded(fn)

    async def _read_then(self, fn: Callable[[sqlite3.Connection], T], then: Callable[[T], R]) -> R:
        return await self.db.read_then(fn, then)

    async def _write(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        return await self.db.write(fn)

    async def start(self) -> None:
        await self.db.start()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        return await self.db.read(lambda c: bool(c.execute("SELECT 1").fetchone()[0] == 1))

    async def sizes(self) -> dict[str, int]:
        def count(conn: sqlite3.Connection) -> dict[str, int]:
            sources, flows, segs = conn.execute(
                "SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM flows), "
                "(SELECT coalesce(sum(seg_count), 0) FROM flows)"
            ).fetchone()
            objects = conn.execute("SELECT count(*) FROM objects").fetchone()[0]
            return {"sources": sources, "flows": flows, "segments": segs, "objects": objects}

        return await self.db.read(count)

    async def add_segments(
        self,
        flow_id: str,
        items: Sequence[dict[str, Any]],
        sizes: Mapping[str, int] | None = None,
        require_known_objects: bool = False,
        digests: Mapping[str, str] | None = None,
    ) -> list[SegmentFailure]:
        return await self.db.write(
            lambda c: segments.add_segments(c, flow_id, items, sizes, require_known_objects, digests)
        )

    async def _free(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        return await self.db.write(fn, frees_space=True)


def _implements(store: SQLiteCatalog) -> Catalog:
    return store  # mypy checks here that the class has every role's methods
