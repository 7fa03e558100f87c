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
from catalog.store import (
    Allocation,
    DeleteResult,
    FlowQuery,
    FlowStats,
    Instance,
    ObjectRecord,
    Page,
    PutResult,
    Segment,
    SegmentFailure,
    SegmentLocation,
    SegmentQuery,
    SourceQuery,
    TagFilter,
)
from catalog.timing import TimeRange
from catalog.vast import deletions, documents, events, objects, segments
from catalog.vast.connection import Conflict, Connection, Tx
from catalog.vast.rows import select

R = TypeVar("R")
log = logging.getLogger("tams.catalog.vast")
RETRIES = 8


class VastCatalog:
    """Implements ``catalog.store.Catalog`` over VAST DB tables (``connection``: real or fake)."""

    def __init__(self, connection: Connection, workers: int = 8, repair_overlaps: bool = True) -> None:
        self.connection = connection
        self.repair_overlaps = repair_overlaps
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="vastdb")
        self._write_lane = asyncio.Lock()

    def _run(self, fn: Callable[[Tx], R]) -> R:
        with self.connection.transaction() as tx:
            return fn(tx)

    async def _read(self, fn: Callable[[Tx], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn)

    async def _write(self, fn: Callable[[Tx], R]) -> R:
        async with self._write_lane:
            for attempt in range(RETRIES):
                try:
                    return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn)
                except Conflict as exc:
                    if attempt == RETRIES - 1:
                        raise Unavailable(f"catalog write kept conflicting with other writers: {exc}") from exc
                    log.info("catalog write conflicted (attempt %d), retrying: %s", attempt + 1, exc)
                    await asyncio.sleep(0.005 * 2 ** attempt)
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

    # -- service and profiles --------------------------------------------------------------------
    async def get_service(self) -> dict[str, Any]:
        return await self._read(documents.get_service)

    async def update_service(self, changes: Mapping[str, str]) -> None:
        await self._write(lambda tx: documents.update_service(tx, changes))

    async def list_profiles(self, format: str | None, codec: str | None, label: str | None,
                            page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda tx: documents.list_profiles(tx, format, codec, label, page, limit)))

    async def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        return await self._read(lambda tx: documents.get_profile(tx, profile_id))

    async def create_profile(self, doc: dict[str, Any]) -> dict[str, Any]:
        return await self._write(lambda tx: documents.create_profile(tx, doc))

    # -- sources -------------------------------------------------------------------------------------
    async def list_sources(self, query: SourceQuery, page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda tx: documents.list_sources(tx, query, page, limit)))

    async def get_source(self, source_id: str) -> dict[str, Any] | None:
        return await self._read(lambda tx: documents.get_source(tx, source_id))

    async def set_source_field(self, source_id: str, name: str, value: Any) -> None:
        await self._write(lambda tx: documents.set_source_field(tx, source_id, name, value))

    async def set_source_tag(self, source_id: str, name: str, value: str | list[str] | None) -> None:
        await self._write(lambda tx: documents.set_source_field(tx, source_id, name, value, tag=True))

    # -- flows -----------------------------------------------------------------------------------------
    async def list_flows(self, query: FlowQuery, page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda tx: documents.list_flows(tx, query, page, limit)))

    async def get_flow(self, flow_id: str) -> dict[str, Any] | None:
        return await self._read(lambda tx: documents.get_flow(tx, flow_id))

    async def flow_stats(self, flow_id: str) -> FlowStats | None:
        return await self._read(lambda tx: documents.flow_stats(tx, flow_id))

    async def put_flow(self, doc: dict[str, Any], principal: str | None) -> PutResult:
        return await self._write(lambda tx: documents.put_flow(tx, doc, principal))

    async def delete_flow(self, flow_id: str) -> DeleteResult:
        def run(tx: Tx) -> DeleteResult:
            result = segments.delete_segments(tx, flow_id, TimeRange.eternity(), None, check_flow=False)
            documents.delete_flow_document(tx, flow_id)
            return result

        return await self._write(run)

    async def set_flow_field(self, flow_id: str, name: str, value: Any) -> None:
        await self._write(lambda tx: documents.set_flow_field(tx, flow_id, name, value))

    async def set_flow_tag(self, flow_id: str, name: str, value: str | list[str] | None) -> None:
        await self._write(lambda tx: documents.set_flow_field(tx, flow_id, name, value, tag=True))

    # -- segments and objects --------------------------------------------------------------------------------
    async def add_segments(self, flow_id: str, items: Sequence[dict[str, Any]],
                           sizes: Mapping[str, int] | None = None,
                           require_known_objects: bool = False) -> list[SegmentFailure]:
        failures, added = await self._write(
            lambda tx: segments.add_segments(tx, flow_id, items, sizes, require_known_objects))
        if self.repair_overlaps and added:
            lost = await self._write(lambda tx: segments.repair_overlaps(tx, flow_id, list(added)))
            for span in lost:
                if span in added:
                    seg = items[added[span]]
                    failures.append(SegmentFailure(added[span], seg["object_id"], seg.get("timerange"),
                                                   "segment overlapped one written concurrently by another "
                                                   "gateway and lost the tie-break; it was removed"))
            failures.sort(key=lambda f: f.index)
        return failures

    async def query_segments(self, flow_id: str, query: SegmentQuery, page: str | None,
                             limit: int) -> Page[Segment]:
        return Page(*await self._read(lambda tx: segments.query_segments(tx, flow_id, query, page, limit)))

    async def delete_segments(self, flow_id: str, timerange: TimeRange, object_id: str | None) -> DeleteResult:
        return await self._write(lambda tx: segments.delete_segments(tx, flow_id, timerange, object_id))

    async def get_object(self, object_id: str, page: str | None, limit: int,
                         flow_tags: TagFilter | None = None) -> tuple[ObjectRecord, str | None] | None:
        return await self._read(lambda tx: segments.get_object(tx, object_id, page, limit, flow_tags))

    # -- allocation and instances ------------------------------------------------------------------------
    async def allocate(self, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int) -> None:
        await self._write(lambda tx: objects.allocate(tx, flow_id, allocations, deadline_ns))

    async def pending_objects(self, object_ids: Sequence[str]) -> dict[str, Allocation]:
        return await self._read(lambda tx: objects.pending(tx, object_ids))

    async def add_instance(self, object_id: str, storage_id: str, key: str) -> None:
        await self._write(lambda tx: objects.add_instance(tx, object_id, storage_id, key))

    async def add_uncontrolled_instance(self, object_id: str, url: str, label: str,
                                        reserved_labels: Sequence[str]) -> None:
        await self._write(lambda tx: objects.add_uncontrolled(tx, object_id, url, label, reserved_labels))

    async def remove_instance(self, object_id: str, storage_id: str | None, label: str | None) -> Instance | None:
        return await self._write(lambda tx: objects.remove_instance(tx, object_id, storage_id, label))

    async def expire_allocations(self, now_ns: int) -> list[Instance]:
        return await self._write(lambda tx: objects.expire_allocations(tx, now_ns))

    async def all_instances(self) -> list[tuple[str, str, str]]:
        def scan(tx: Tx) -> list[tuple[str, str, str]]:
            rows = select(tx, "object_instances", None, ["object_id", "storage_id", "key"])
            return [(r["object_id"], r["storage_id"], r["key"]) for r in rows]

        return await self._read(scan)

    async def object_sizes(self, object_ids: Sequence[str]) -> dict[str, int]:
        return await self._read(lambda tx: objects.sizes(tx, object_ids))

    async def segment_locations(self, flow_id: str, timerange: TimeRange | None, limit: int | None,
                                reverse: bool = False) -> list[SegmentLocation]:
        return await self._read(lambda tx: segments.segment_locations(tx, flow_id, timerange, limit, reverse))

    # -- webhooks and the outbox -----------------------------------------------------------------------------
    async def list_webhooks(self, tags: TagFilter, reverse: bool, page: str | None,
                            limit: int) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda tx: events.list_webhooks(tx, tags, reverse, page, limit)))

    async def get_webhook(self, webhook_id: str, secret: bool = False) -> dict[str, Any] | None:
        return await self._read(lambda tx: events.get_webhook(tx, webhook_id, secret))

    async def save_webhook(self, doc: dict[str, Any], webhook_id: str | None = None) -> dict[str, Any]:
        return await self._write(lambda tx: events.save_webhook(tx, dict(doc), webhook_id))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._write(lambda tx: events.delete_webhook(tx, webhook_id))

    async def prune_events(self, older_than_ns: int) -> int:
        return await self._write(lambda tx: events.prune(tx, older_than_ns))

    async def last_event_seq(self) -> int:
        return await self._read(events.last_seq)

    async def events_after(self, seq: int, limit: int) -> list[tuple]:
        return await self._read(lambda tx: events.events_after(tx, seq, limit))

    async def webhook_delivered(self, webhook_id: str, seq: int, status: str | None = None,
                                error: dict[str, Any] | None = None) -> None:
        await self._write(lambda tx: events.delivered(tx, webhook_id, seq, status, error))

    # -- flow deletion requests -----------------------------------------------------------------------------
    async def request_flow_deletion(self, flow_id: str, principal: str | None) -> dict[str, Any] | None:
        return await self._write(lambda tx: deletions.request_flow_deletion(tx, flow_id, principal))

    async def request_segment_deletion(self, flow_id: str, timerange: TimeRange, threshold: int,
                                       principal: str | None) -> tuple[DeleteResult | None, dict[str, Any] | None]:
        return await self._write(
            lambda tx: deletions.request_segment_deletion(tx, flow_id, timerange, threshold, principal))

    async def pending_deletions(self) -> list[str]:
        return await self._read(deletions.pending)

    async def work_deletion(self, request_id: str, batch: int) -> tuple[DeleteResult, bool]:
        return await self._write(lambda tx: deletions.work(tx, request_id, batch))

    async def fail_deletion(self, request_id: str, summary: str) -> None:
        await self._write(lambda tx: deletions.fail(tx, request_id, summary))

    async def get_deletion(self, request_id: str) -> dict[str, Any] | None:
        return await self._read(lambda tx: deletions.get_request(tx, request_id))

    async def list_deletions(self, sort_by: str, reverse: bool, page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda tx: deletions.list_requests(tx, sort_by, reverse, page, limit)))

    async def object_locations(self, object_ids: Sequence[str]) -> dict[str, tuple[tuple[Instance, ...],
                                                                                 tuple[tuple[str, str], ...]]]:
        def run(tx: Tx) -> dict:
            copies = objects.instances(tx, object_ids)
            urls = objects.urls_of(tx, object_ids)
            return {oid: (tuple(copies.get(oid, ())), urls.get(oid, ())) for oid in set(copies) | set(urls)}

        return await self._read(run)

