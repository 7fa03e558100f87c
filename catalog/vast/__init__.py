"""The production catalog: VAST DB tables through the ``vastdb`` SDK (or the in-memory fake in tests).

The SDK is synchronous, so every operation runs in a bounded thread pool (one SDK session per
worker), never on the event loop. Each operation is one transaction. Writes from this process go
through one lane (which also serialises writes per flow, keeping segments non-overlapping); a
write that conflicts with another replica's is retried whole. After a segment batch commits, an
overlap probe applies the deterministic repair rule of ``segments.repair_overlaps`` (docs/VAST.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from catalog.errors import Unavailable
from catalog.facade import CatalogFacade, Store
from catalog.store import Catalog, SegmentFailure
from catalog.vast import deletions, documents, events, objects, segments
from catalog.vast.connection import Conflict, Connection, Tx
from catalog.vast.rows import select

R = TypeVar("R")
T = TypeVar("T")
log = logging.getLogger("tams.catalog.vast")
RETRIES = 8
STORE: Store[Tx] = Store(documents, segments, objects, events, deletions)


class VastCatalog(CatalogFacade[Tx]):
    """Implements ``catalog.store.Catalog`` over VAST DB tables (``connection``: real or fake)."""

    def __init__(self, connection: Connection, workers: int = 8, repair_overlaps: bool = True) -> None:
        super().__init__(STORE)
        self.connection = connection
        self.repair_overlaps = repair_overlaps
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vastdb")
        self._write_lane = asyncio.Lock()

    def _run(self, fn: Callable[[Tx], R]) -> R:
        with self.connection.transaction() as tx:
            return fn(tx)

    async def _read(self, fn: Callable[[Tx], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn)

    async def _read_then(self, fn: Callable[[Tx], T], then: Callable[[T], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._pool, lambda: then(self._run(fn)))

    async def _write(self, fn: Callable[[Tx], R]) -> R:
        async with self._write_lane:
            for attempt in range(RETRIES):
                try:
                    return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn)
                except Conflict as exc:
                    if attempt == RETRIES - 1:
                        raise Unavailable(f"catalog write kept conflicting with other writers: {exc}") from exc
                    log.info("catalog write conflicted (attempt %d), retrying: %s", attempt + 1, exc)
                    await asyncio.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self.connection.start)

    async def close(self) -> None:
        # calls still running (a cancelled request's keeps going on its thread) finish first
        await asyncio.to_thread(self._pool.shutdown, True)
        await asyncio.to_thread(self.connection.close)

    async def ping(self) -> bool:
        return await self._read(lambda tx: isinstance(select(tx, "service", limit=1), list))

    async def sizes(self) -> dict[str, int]:
        # table statistics, not scans: /metrics asks often, and objects may number billions
        def count(tx: Tx) -> dict[str, int]:
            return {name: tx.row_estimate(name) for name in ("sources", "flows", "segments", "objects")}

        return await self._read(count)

    # -- segments and objects --------------------------------------------------------------------------------
    async def add_segments(
        self,
        flow_id: str,
        items: Sequence[dict[str, Any]],
        sizes: Mapping[str, int] | None = None,
        require_known_objects: bool = False,
        digests: Mapping[str, str] | None = None,
    ) -> list[SegmentFailure]:
        failures, added = await self._write(
            lambda tx: segments.add_segments(tx, flow_id, items, sizes, require_known_objects, digests)
        )
        if self.repair_overlaps and added:
            lost = await self._write(lambda tx: segments.repair_overlaps(tx, flow_id, list(added)))
            for span in lost:
                if span in added:
                    seg = items[added[span]]
                    failures.append(
                        SegmentFailure(
                            added[span],
                            seg["object_id"],
                            seg.get("timerange"),
                            "segment overlapped one written concurrently by another "
                            "gateway and lost the tie-break; it was removed",
                        )
                    )
            failures.sort(key=lambda f: f.index)
        return failures


def _implements(store: VastCatalog) -> Catalog:
    return store  # mypy checks here that the class has every role's methods
