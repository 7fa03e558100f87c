"""The embedded default catalog: one SQLite file in WAL mode, writes serialised, reads concurrent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from catalog.sqlite import deletions, documents, events, objects, segments
from catalog.sqlite.db import Database
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


class SQLiteCatalog:
    """Implements ``catalog.store.Catalog`` over one SQLite file."""

    def __init__(self, path: Path | str, readers: int = 4) -> None:
        self.db = Database(Path(path), readers=readers)

    async def start(self) -> None:
        await self.db.start()

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> bool:
        return await self.db.read(lambda c: c.execute("SELECT 1").fetchone()[0] == 1)

    async def sizes(self) -> dict[str, int]:
        def count(conn: Any) -> dict[str, int]:
            sources, flows, segs = conn.execute(
                "SELECT (SELECT count(*) FROM sources), (SELECT count(*) FROM flows), "
                "(SELECT coalesce(sum(seg_count), 0) FROM flows)"
            ).fetchone()
            objects = conn.execute("SELECT count(*) FROM objects").fetchone()[0]
            return {"sources": sources, "flows": flows, "segments": segs, "objects": objects}

        return await self.db.read(count)

    # -- service and profiles --------------------------------------------------------------------
    async def get_service(self) -> dict[str, Any]:
        return await self.db.read(documents.get_service)

    async def update_service(self, changes: Mapping[str, str]) -> None:
        await self.db.write(lambda c: documents.update_service(c, changes))

    async def list_profiles(self, format: str | None, codec: str | None, label: str | None,
                            page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self.db.read(lambda c: documents.list_profiles(c, format, codec, label, page, limit)))

    async def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        return await self.db.read(lambda c: documents.get_profile(c, profile_id))

    async def create_profile(self, doc: dict[str, Any]) -> dict[str, Any]:
        return await self.db.write(lambda c: documents.create_profile(c, doc))

    # -- sources -------------------------------------------------------------------------------------
    async def list_sources(self, query: SourceQuery, page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self.db.read(lambda c: documents.list_sources(c, query, page, limit)))

    async def get_source(self, source_id: str) -> dict[str, Any] | None:
        return await self.db.read(lambda c: documents.get_source(c, source_id))

    async def set_source_field(self, source_id: str, name: str, value: Any) -> None:
        await self.db.write(lambda c: documents.set_source_field(c, source_id, name, value))

    async def set_source_tag(self, source_id: str, name: str, value: str | list[str] | None) -> None:
        await self.db.write(lambda c: documents.set_source_field(c, source_id, name, value, tag=True))

    # -- flows -----------------------------------------------------------------------------------------
    async def list_flows(self, query: FlowQuery, page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self.db.read(lambda c: documents.list_flows(c, query, page, limit)))

    async def get_flow(self, flow_id: str) -> dict[str, Any] | None:
        return await self.db.read(lambda c: documents.get_flow(c, flow_id))

    async def flow_stats(self, flow_id: str) -> FlowStats | None:
        return await self.db.read(lambda c: documents.flow_stats(c, flow_id))

    async def put_flow(self, doc: dict[str, Any], principal: str | None) -> PutResult:
        return await self.db.write(lambda c: documents.put_flow(c, doc, principal))

    async def delete_flow(self, flow_id: str) -> DeleteResult:
        """Deletes the flow, its segments and the objects nothing references any more."""

        def run(conn: Any) -> DeleteResult:
            result = segments.delete_segments(conn, flow_id, TimeRange.eternity(), None, check_flow=False)
            documents.delete_flow_document(conn, flow_id)
            return result

        return await self.db.write(run)

    async def set_flow_field(self, flow_id: str, name: str, value: Any) -> None:
        await self.db.write(lambda c: documents.set_flow_field(c, flow_id, name, value))

    async def set_flow_tag(self, flow_id: str, name: str, value: str | list[str] | None) -> None:
        await self.db.write(lambda c: documents.set_flow_field(c, flow_id, name, value, tag=True))

    # -- segments and objects --------------------------------------------------------------------------------
    async def add_segments(self, flow_id: str, items: Sequence[dict[str, Any]],
                           sizes: Mapping[str, int] | None = None,
                           require_known_objects: bool = False) -> list[SegmentFailure]:
        return await self.db.write(
            lambda c: segments.add_segments(c, flow_id, items, sizes, require_known_objects))

    async def query_segments(self, flow_id: str, query: SegmentQuery, page: str | None,
                             limit: int) -> Page[Segment]:
        return Page(*await self.db.read(lambda c: segments.query_segments(c, flow_id, query, page, limit)))

    async def delete_segments(self, flow_id: str, timerange: TimeRange, object_id: str | None) -> DeleteResult:
        return await self.db.write(lambda c: segments.delete_segments(c, flow_id, timerange, object_id))

    async def get_object(self, object_id: str, page: str | None, limit: int,
                         flow_tags: TagFilter | None = None) -> tuple[ObjectRecord, str | None] | None:
        return await self.db.read(lambda c: segments.get_object(c, object_id, page, limit, flow_tags))

    # -- allocation and instances ------------------------------------------------------------------------
    async def allocate(self, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int) -> None:
        await self.db.write(lambda c: objects.allocate(c, flow_id, allocations, deadline_ns))

    async def pending_objects(self, object_ids: Sequence[str]) -> dict[str, Allocation]:
        return await self.db.read(lambda c: objects.pending(c, object_ids))

    async def add_instance(self, object_id: str, storage_id: str, key: str) -> None:
        await self.db.write(lambda c: objects.add_instance(c, object_id, storage_id, key))

    async def add_uncontrolled_instance(self, object_id: str, url: str, label: str,
                                        reserved_labels: Sequence[str]) -> None:
        await self.db.write(lambda c: objects.add_uncontrolled(c, object_id, url, label, reserved_labels))

    async def remove_instance(self, object_id: str, storage_id: str | None, label: str | None) -> Instance | None:
        return await self.db.write(lambda c: objects.remove_instance(c, object_id, storage_id, label))

    async def expire_allocations(self, now_ns: int) -> list[Instance]:
        return await self.db.write(lambda c: objects.expire_allocations(c, now_ns))

    async def all_instances(self) -> list[tuple[str, str, str]]:
        return await self.db.read(
            lambda c: c.execute("SELECT object_id, storage_id, key FROM object_instances").fetchall())

    async def object_sizes(self, object_ids: Sequence[str]) -> dict[str, int]:
        return await self.db.read(lambda c: objects.sizes(c, object_ids))

    async def segment_locations(self, flow_id: str, timerange: TimeRange | None, limit: int | None,
                                reverse: bool = False) -> list[SegmentLocation]:
        return await self.db.read(lambda c: segments.segment_locations(c, flow_id, timerange, limit, reverse))

    # -- webhooks and the outbox -----------------------------------------------------------------------------
    async def list_webhooks(self, tags: TagFilter, reverse: bool, page: str | None,
                            limit: int) -> Page[dict[str, Any]]:
        return Page(*await self.db.read(lambda c: events.list_webhooks(c, tags, reverse, page, limit)))

    async def get_webhook(self, webhook_id: str, secret: bool = False) -> dict[str, Any] | None:
        return await self.db.read(lambda c: events.get_webhook(c, webhook_id, secret))

    async def save_webhook(self, doc: dict[str, Any], webhook_id: str | None = None) -> dict[str, Any]:
        return await self.db.write(lambda c: events.save_webhook(c, dict(doc), webhook_id))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.db.write(lambda c: events.delete_webhook(c, webhook_id))

    async def prune_events(self, older_than_ns: int) -> int:
        return await self.db.write(lambda c: events.prune(c, older_than_ns))

    async def last_event_seq(self) -> int:
        return await self.db.read(events.last_seq)

    async def events_after(self, seq: int, limit: int) -> list[tuple]:
        return await self.db.read(lambda c: events.events_after(c, seq, limit))

    async def webhook_delivered(self, webhook_id: str, seq: int, status: str | None = None,
                                error: dict[str, Any] | None = None) -> None:
        await self.db.write(lambda c: events.delivered(c, webhook_id, seq, status, error))

    # -- flow deletion requests -----------------------------------------------------------------------------
    async def request_flow_deletion(self, flow_id: str, principal: str | None) -> dict[str, Any] | None:
        return await self.db.write(lambda c: deletions.request_flow_deletion(c, flow_id, principal))

    async def request_segment_deletion(self, flow_id: str, timerange: TimeRange, threshold: int,
                                       principal: str | None) -> tuple[DeleteResult | None, dict[str, Any] | None]:
        return await self.db.write(
            lambda c: deletions.request_segment_deletion(c, flow_id, timerange, threshold, principal))

    async def pending_deletions(self) -> list[str]:
        return await self.db.read(deletions.pending)

    async def work_deletion(self, request_id: str, batch: int) -> tuple[DeleteResult, bool]:
        return await self.db.write(lambda c: deletions.work(c, request_id, batch))

    async def fail_deletion(self, request_id: str, summary: str) -> None:
        await self.db.write(lambda c: deletions.fail(c, request_id, summary))

    async def get_deletion(self, request_id: str) -> dict[str, Any] | None:
        return await self.db.read(lambda c: deletions.get_request(c, request_id))

    async def list_deletions(self, sort_by: str, reverse: bool, page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self.db.read(lambda c: deletions.list_requests(c, sort_by, reverse, page, limit)))

    async def object_locations(self, object_ids: Sequence[str]) -> dict[str, tuple[tuple[Instance, ...],
                                                                                 tuple[tuple[str, str], ...]]]:
        def run(conn: Any) -> dict:
            copies = objects.instances(conn, object_ids)
            urls = segments.urls_of(conn, object_ids)
            return {oid: (tuple(copies.get(oid, ())), urls.get(oid, ())) for oid in set(copies) | set(urls)}

        return await self.db.read(run)
