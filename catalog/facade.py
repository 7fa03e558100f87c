"""Every role of ``catalog.store.Catalog``, written once over a store's modules and transaction runner.

A store is five modules (``documents``, ``segments``, ``objects``, ``events``, ``deletions``)
matching the protocols below, one transaction handle first in every function. A store subclasses
``CatalogFacade`` with its handle type and supplies only what really differs: how a function runs
in a read or a write transaction, its lifecycle (``start``/``close``/``ping``/``sizes``) and
segment registration. Everything else is one line here that runs the store's function or a shared
workflow (``catalog.flows``, ``catalog.deletion_requests``) inside one transaction. Queries return
what the interface returns; the narrow primitives under the workflows (``flow_state``,
``save_flow``, ``first_inside``, ...) read or write one kind of row and enforce no rule.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from catalog import deletion_requests, flows
from catalog.located import Located
from catalog.segment_json import RenderedPage
from catalog.store import (
    AccessFilter,
    Allocation,
    DeleteResult,
    DeletionProgress,
    Event,
    FlowQuery,
    FlowStats,
    Instance,
    Locations,
    ObjectDigest,
    ObjectPage,
    Page,
    PlaylistRun,
    PutResult,
    Segment,
    SegmentDeletion,
    SegmentFailure,
    SegmentLocation,
    SegmentQuery,
    SourceQuery,
    StoredInstance,
    TagFilter,
)
from catalog.timing import TimeRange

C = TypeVar("C")
R = TypeVar("R")
T = TypeVar("T")

S = TypeVar("S", contravariant=True)  # a store's transaction handle (sqlite3.Connection, vast Tx)

Listing = tuple[list[dict[str, Any]], str | None]  # one page of documents and the next page key
Urls = tuple[tuple[str, str], ...]  # (url, label) of an object's client-registered instances


class FlowState(NamedTuple):
    """A flow's stored document with the columns the workflows decide on."""

    doc: dict[str, Any]
    read_only: bool
    seg_count: int


class StoredRequest(NamedTuple):
    doc: dict[str, Any]
    status: str


class Span(NamedTuple):
    """A segment's inclusive bounds in ns."""

    lo: int
    hi: int


class DocumentOps(Protocol[S]):
    def get_service(self, c: S, /) -> dict[str, str]: ...
    def update_service(self, c: S, changes: Mapping[str, str], /) -> None: ...
    def list_profiles(
        self, c: S, format_: str | None, codec: str | None, label: str | None, page: str | None, limit: int, /
    ) -> Listing: ...
    def get_profile(self, c: S, profile_id: str, /) -> dict[str, Any] | None: ...
    def insert_profile(self, c: S, doc: dict[str, Any], now_ns: int, /) -> None: ...
    def list_sources(
        self, c: S, query: SourceQuery, page: str | None, limit: int, access: AccessFilter | None, /
    ) -> Listing: ...
    def get_source(self, c: S, source_id: str, /) -> dict[str, Any] | None: ...
    def list_flows(
        self, c: S, query: FlowQuery, page: str | None, limit: int, access: AccessFilter | None, /
    ) -> Listing: ...
    def get_flow(self, c: S, flow_id: str, /) -> dict[str, Any] | None: ...
    def flow_stats(self, c: S, flow_id: str, /) -> FlowStats | None: ...
    # primitives of the shared workflows
    def flow_state(self, c: S, flow_id: str, /) -> FlowState | None: ...
    def source_doc(self, c: S, source_id: str, /) -> dict[str, Any] | None:
        """The stored source document, without the inferred collection relations."""
        ...

    def save_source(self, c: S, doc: dict[str, Any], now_ns: int, /) -> None: ...
    def save_flow(self, c: S, doc: dict[str, Any], now_ns: int, /) -> None:
        """Inserts or replaces the flow row with its filter columns, tags and collection."""
        ...

    def existing_flows(self, c: S, flow_ids: Sequence[str], /) -> set[str]: ...
    def source_in_use(self, c: S, source_id: str, /) -> bool: ...
    def delete_source(self, c: S, source_id: str, /) -> None: ...
    def delete_flow_row(self, c: S, flow_id: str, /) -> None:
        """Removes the flow row, its tags and its own collection (not the collections naming it)."""
        ...

    def collections_naming(self, c: S, flow_id: str, /) -> list[str]:
        """The flows whose flow_collection names this flow, sorted."""
        ...


class SegmentOps(Protocol[S]):
    def query_segments(
        self, c: S, flow_id: str, query: SegmentQuery, page: str | None, limit: int, /
    ) -> tuple[list[Segment], str | None]: ...
    def segment_page_json(
        self, c: S, flow_id: str, query: SegmentQuery, page: str | None, limit: int, /
    ) -> RenderedPage | None:
        """The page of ``query_segments`` rendered (``catalog.segment_json``); None unless simple."""
        ...

    def delete_segments(
        self, c: S, flow_id: str, timerange: TimeRange, object_id: str | None, check_flow: bool = ..., /
    ) -> DeleteResult: ...
    def get_object(
        self,
        c: S,
        object_id: str,
        page: str | None,
        limit: int,
        flow_tags: TagFilter | None,
        access: AccessFilter | None,
        /,
    ) -> ObjectPage | None: ...
    def segment_locations(
        self, c: S, flow_id: str, tr: TimeRange | None, limit: int | None, reverse: bool, /
    ) -> list[SegmentLocation]: ...
    def playlist_run(self, c: S, flow_id: str, tr: TimeRange | None, keys: bool, /) -> PlaylistRun | None: ...
    def first_inside(self, c: S, flow_id: str, tr: TimeRange, limit: int, /) -> tuple[list[Span], bool]:
        """The first ``limit`` segments wholly inside ``tr`` in time order, and whether more follow."""
        ...


class ObjectOps(Protocol[S]):
    def writable_flow(self, c: S, flow_id: str, /) -> dict[str, Any]:
        """NotFound, ReadOnly or Invalid unless the flow can take segments; its stored row or document."""
        ...

    def existing_objects(self, c: S, object_ids: Sequence[str], /) -> list[str]: ...
    def insert_allocations(
        self, c: S, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int, now_ns: int, /
    ) -> None:
        """Unregistered object rows, each with its one controlled instance (where the upload goes)."""
        ...

    def pending(self, c: S, object_ids: Sequence[str], /) -> dict[str, Allocation]: ...
    def add_instance(self, c: S, object_id: str, storage_id: str, key: str, /) -> None: ...
    def add_uncontrolled(
        self, c: S, object_id: str, url: str, label: str, reserved_labels: Sequence[str], /
    ) -> None: ...
    def remove_instance(
        self, c: S, object_id: str, storage_id: str | None, label: str | None, /
    ) -> Instance | None: ...
    def expire_allocations(self, c: S, now_ns: int, /) -> list[Instance]: ...
    def sizes(self, c: S, object_ids: Sequence[str], /) -> dict[str, int]: ...
    def digests(self, c: S, object_ids: Sequence[str], /) -> dict[str, ObjectDigest]: ...
    def instances(self, c: S, object_ids: Sequence[str], /) -> dict[str, list[Instance]]: ...
    def urls_of(self, c: S, object_ids: Sequence[str], /) -> dict[str, Urls]: ...
    def all_instances(self, c: S, /) -> list[StoredInstance]: ...


class EventOps(Protocol[S]):
    def emit(
        self, c: S, event_type: str, body: dict[str, Any], flow_id: str | None = ..., source_id: str | None = ..., /
    ) -> None: ...
    def events_after(self, c: S, seq: int, limit: int, /) -> list[Event]: ...
    def last_seq(self, c: S, /) -> int: ...
    def list_webhooks(
        self, c: S, tags: TagFilter, reverse: bool, page: str | None, limit: int, access: AccessFilter | None, /
    ) -> Listing: ...
    def get_webhook(self, c: S, webhook_id: str, secret: bool = ..., /) -> dict[str, Any] | None: ...
    def save_webhook(self, c: S, doc: dict[str, Any], webhook_id: str | None = ..., /) -> dict[str, Any]: ...
    def delete_webhook(self, c: S, webhook_id: str, /) -> None: ...
    def delivered(
        self, c: S, webhook_id: str, seq: int, status: str | None = ..., error: dict[str, Any] | None = ..., /
    ) -> None: ...
    def prune(self, c: S, older_than_ns: int, /) -> int: ...


class DeletionOps(Protocol[S]):
    def pending(self, c: S, /) -> list[str]: ...
    def list_requests(self, c: S, sort_by: str, reverse: bool, page: str | None, limit: int, /) -> Listing: ...
    # primitives of the shared request lifecycle
    def request_row(self, c: S, request_id: str, /) -> StoredRequest | None: ...
    def active_request(self, c: S, flow_id: str, /) -> StoredRequest | None:
        """The flow's request still created or started, if any."""
        ...

    def insert_request(self, c: S, doc: dict[str, Any], now_ns: int, /) -> None: ...
    def update_request(
        self, c: S, request_id: str, doc: dict[str, Any], status: str, updated_ns: int | None, /
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Store(Generic[S]):
    """One store's modules (each checked against its protocol where the store builds this)."""

    documents: DocumentOps[S]
    segments: SegmentOps[S]
    objects: ObjectOps[S]
    events: EventOps[S]
    deletions: DeletionOps[S]


class CatalogFacade(ABC, Generic[C]):
    """Implements ``Catalog`` over ``store`` (the store's modules) and its ``_read``/``_write`` runner."""

    def __init__(self, store: Store[C]) -> None:
        self.store = store

    @abstractmethod
    async def _read(self, fn: Callable[[C], R]) -> R:
        """Runs ``fn`` in one read transaction (a consistent snapshot), off the event loop."""

    async def _read_page(self, fn: Callable[[C], R]) -> R:
        """``_read`` for a short, bounded read (a page of segments); a store may run it more cheaply."""
        return await self._read(fn)

    async def _read_then(self, fn: Callable[[C], T], then: Callable[[T], R]) -> R:
        """``then(fn(...))`` in one hop off the event loop; a store may end the transaction before ``then``."""
        return await self._read(lambda c: then(fn(c)))

    @abstractmethod
    async def _write(self, fn: Callable[[C], R]) -> R:
        """Runs ``fn`` in one write transaction: all of it commits or none of it does."""

    async def _free(self, fn: Callable[[C], R]) -> R:
        """A write that frees space (deletes): a store may let it use space it keeps in reserve for
        when the disk is full (catalog/sqlite/db.py), so that space can be freed through the API."""
        return await self._write(fn)

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def ping(self) -> bool: ...

    @abstractmethod
    async def sizes(self) -> dict[str, int]: ...

    @abstractmethod
    async def add_segments(
        self,
        flow_id: str,
        segments: Sequence[dict[str, Any]],
        sizes: Mapping[str, int] | None = None,
        require_known_objects: bool = False,
        digests: Mapping[str, str] | None = None,
    ) -> list[SegmentFailure]: ...

    # -- Documents -------------------------------------------------------------------------------
    async def get_service(self) -> dict[str, Any]:
        return await self._read(self.store.documents.get_service)

    async def update_service(self, changes: Mapping[str, str]) -> None:
        await self._write(lambda c: self.store.documents.update_service(c, changes))

    async def list_profiles(
        self, format: str | None, codec: str | None, label: str | None, page: str | None, limit: int
    ) -> Page[dict[str, Any]]:
        return Page(
            *await self._read(lambda c: self.store.documents.list_profiles(c, format, codec, label, page, limit))
        )

    async def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        return await self._read(lambda c: self.store.documents.get_profile(c, profile_id))

    async def create_profile(self, doc: dict[str, Any]) -> dict[str, Any]:
        return await self._write(lambda c: flows.create_profile(self.store, c, doc))

    async def list_sources(
        self, query: SourceQuery, page: str | None, limit: int, access: AccessFilter | None = None
    ) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda c: self.store.documents.list_sources(c, query, page, limit, access)))

    async def get_source(self, source_id: str) -> dict[str, Any] | None:
        return await self._read(lambda c: self.store.documents.get_source(c, source_id))

    async def set_source_field(self, source_id: str, name: str, value: Any) -> None:
        await self._write(lambda c: flows.set_source_field(self.store, c, source_id, name, value))

    async def set_source_tag(self, source_id: str, name: str, value: str | list[str] | None) -> None:
        await self._write(lambda c: flows.set_source_field(self.store, c, source_id, name, value, tag=True))

    async def list_flows(
        self, query: FlowQuery, page: str | None, limit: int, access: AccessFilter | None = None
    ) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda c: self.store.documents.list_flows(c, query, page, limit, access)))

    async def get_flow(self, flow_id: str) -> dict[str, Any] | None:
        return await self._read(lambda c: self.store.documents.get_flow(c, flow_id))

    async def flow_stats(self, flow_id: str) -> FlowStats | None:
        return await self._read(lambda c: self.store.documents.flow_stats(c, flow_id))

    async def put_flow(
        self, doc: dict[str, Any], principal: str | None, source_tags: Mapping[str, Any] | None = None
    ) -> PutResult:
        return await self._write(lambda c: flows.put_flow(self.store, c, doc, principal, source_tags))

    async def delete_flow(self, flow_id: str) -> DeleteResult:
        """Deletes the flow, its segments and the objects nothing references any more."""

        def run(c: C) -> DeleteResult:
            result = self.store.segments.delete_segments(c, flow_id, TimeRange.eternity(), None, False)
            flows.delete_flow_document(self.store, c, flow_id)
            return result

        return await self._free(run)

    async def set_flow_field(self, flow_id: str, name: str, value: Any) -> None:
        await self._write(lambda c: flows.set_flow_field(self.store, c, flow_id, name, value))

    async def set_flow_tag(self, flow_id: str, name: str, value: str | list[str] | None) -> None:
        await self._write(lambda c: flows.set_flow_field(self.store, c, flow_id, name, value, tag=True))

    # -- Segments ----------------------------------------------------------------------------------
    async def query_segments(self, flow_id: str, query: SegmentQuery, page: str | None, limit: int) -> Page[Segment]:
        return Page(
            *await self._read_page(lambda c: self.store.segments.query_segments(c, flow_id, query, page, limit))
        )

    async def segment_page_json(
        self, flow_id: str, query: SegmentQuery, page: str | None, limit: int
    ) -> RenderedPage | None:
        return await self._read_page(lambda c: self.store.segments.segment_page_json(c, flow_id, query, page, limit))

    async def delete_segments(self, flow_id: str, timerange: TimeRange, object_id: str | None) -> DeleteResult:
        return await self._free(lambda c: self.store.segments.delete_segments(c, flow_id, timerange, object_id))

    async def segment_locations(
        self, flow_id: str, timerange: TimeRange | None, limit: int | None, reverse: bool = False
    ) -> list[SegmentLocation]:
        return await self._read(lambda c: self.store.segments.segment_locations(c, flow_id, timerange, limit, reverse))

    async def playlist_run(self, flow_id: str, timerange: TimeRange | None, keys: bool) -> PlaylistRun | None:
        return await self._read(lambda c: self.store.segments.playlist_run(c, flow_id, timerange, keys))

    async def with_playlist_run(
        self, flow_id: str, timerange: TimeRange | None, keys: bool, then: Callable[[PlaylistRun | None], R]
    ) -> R:
        return await self._read_then(lambda c: self.store.segments.playlist_run(c, flow_id, timerange, keys), then)

    async def get_object(
        self,
        object_id: str,
        page: str | None,
        limit: int,
        flow_tags: TagFilter | None = None,
        access: AccessFilter | None = None,
    ) -> ObjectPage | None:
        return await self._read(lambda c: self.store.segments.get_object(c, object_id, page, limit, flow_tags, access))

    async def object_sizes(self, object_ids: Sequence[str]) -> dict[str, int]:
        return await self._read(lambda c: self.store.objects.sizes(c, object_ids))

    async def object_digests(self, object_ids: Sequence[str]) -> dict[str, ObjectDigest]:
        return await self._read(lambda c: self.store.objects.digests(c, object_ids))

    async def object_locations(self, object_ids: Sequence[str]) -> dict[str, Locations]:
        return await self._read(lambda c: Located.lookup(self.store.objects, c, object_ids).found())

    async def all_instances(self) -> list[StoredInstance]:
        return await self._read(self.store.objects.all_instances)

    # -- Allocations -------------------------------------------------------------------------------
    async def allocate(self, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int) -> None:
        await self._write(lambda c: flows.allocate(self.store, c, flow_id, allocations, deadline_ns))

    async def pending_objects(self, object_ids: Sequence[str]) -> dict[str, Allocation]:
        return await self._read(lambda c: self.store.objects.pending(c, object_ids))

    async def add_instance(self, object_id: str, storage_id: str, key: str) -> None:
        await self._write(lambda c: self.store.objects.add_instance(c, object_id, storage_id, key))

    async def add_uncontrolled_instance(
        self, object_id: str, url: str, label: str, reserved_labels: Sequence[str]
    ) -> None:
        await self._write(lambda c: self.store.objects.add_uncontrolled(c, object_id, url, label, reserved_labels))

    async def remove_instance(self, object_id: str, storage_id: str | None, label: str | None) -> Instance | None:
        return await self._free(lambda c: self.store.objects.remove_instance(c, object_id, storage_id, label))

    async def expire_allocations(self, now_ns: int) -> list[Instance]:
        return await self._free(lambda c: self.store.objects.expire_allocations(c, now_ns))

    # -- Outbox ------------------------------------------------------------------------------------
    async def list_webhooks(
        self, tags: TagFilter, reverse: bool, page: str | None, limit: int, access: AccessFilter | None = None
    ) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda c: self.store.events.list_webhooks(c, tags, reverse, page, limit, access)))

    async def get_webhook(self, webhook_id: str, secret: bool = False) -> dict[str, Any] | None:
        return await self._read(lambda c: self.store.events.get_webhook(c, webhook_id, secret))

    async def save_webhook(self, doc: dict[str, Any], webhook_id: str | None = None) -> dict[str, Any]:
        return await self._write(lambda c: self.store.events.save_webhook(c, dict(doc), webhook_id))

    async def delete_webhook(self, webhook_id: str) -> None:
        await self._free(lambda c: self.store.events.delete_webhook(c, webhook_id))

    async def prune_events(self, older_than_ns: int) -> int:
        return await self._free(lambda c: self.store.events.prune(c, older_than_ns))

    async def last_event_seq(self) -> int:
        return await self._read(self.store.events.last_seq)

    async def events_after(self, seq: int, limit: int) -> list[Event]:
        return await self._read(lambda c: self.store.events.events_after(c, seq, limit))

    async def webhook_delivered(
        self, webhook_id: str, seq: int, status: str | None = None, error: dict[str, Any] | None = None
    ) -> None:
        await self._write(lambda c: self.store.events.delivered(c, webhook_id, seq, status, error))

    # -- Deletions ---------------------------------------------------------------------------------
    async def request_flow_deletion(self, flow_id: str, principal: str | None) -> dict[str, Any] | None:
        return await self._free(lambda c: deletion_requests.request_flow_deletion(self.store, c, flow_id, principal))

    async def request_segment_deletion(
        self, flow_id: str, timerange: TimeRange, threshold: int, principal: str | None
    ) -> SegmentDeletion:
        return await self._free(
            lambda c: deletion_requests.request_segment_deletion(
                self.store, c, flow_id, timerange, threshold, principal
            )
        )

    async def pending_deletions(self) -> list[str]:
        return await self._read(self.store.deletions.pending)

    async def work_deletion(self, request_id: str, batch: int) -> DeletionProgress:
        return await self._free(lambda c: deletion_requests.work(self.store, c, request_id, batch))

    async def fail_deletion(self, request_id: str, summary: str) -> None:
        await self._free(lambda c: deletion_requests.fail(self.store, c, request_id, summary))

    async def get_deletion(self, request_id: str) -> dict[str, Any] | None:
        return await self._read(lambda c: deletion_requests.get_request(self.store, c, request_id))

    async def list_deletions(self, sort_by: str, reverse: bool, page: str | None, limit: int) -> Page[dict[str, Any]]:
        return Page(*await self._read(lambda c: self.store.deletions.list_requests(c, sort_by, reverse, page, limit)))
