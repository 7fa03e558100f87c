"""The Catalog interface every store implements (SQLite and VAST DB), its roles and its value types.

``Catalog`` is the union of six role protocols (``Lifecycle``, ``Documents``, ``Segments``,
``Allocations``, ``Outbox``, ``Deletions``); a consumer is typed against the roles it uses.
Documents cross this boundary as plain dicts shaped like the TAMS JSON; time crosses it as
TimeRange values; every other result is a named record below. Stores raise the errors in
``catalog.errors``; they know nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, Protocol, TypeVar

from catalog.timing import TimeRange

if TYPE_CHECKING:  # segment_json builds on the records below
    from catalog.segment_json import RenderedPage

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a keyset-paged listing; ``next_key`` is an opaque string or None on the last page."""

    items: list[T]
    next_key: str | None = None


@dataclass(frozen=True, slots=True)
class TagFilter:
    """``tag.NAME=v1,v2`` (values) and ``tag_exists.NAME=true|false`` (exists) filters, AND-ed."""

    values: Mapping[str, Sequence[str]] = field(default_factory=dict)
    exists: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessFilter:
    """Only documents whose list tag ``tag`` holds one of ``classes`` and none of ``denied``;
    with ``unclassified``, documents without that tag too (``catalog.access`` makes these)."""

    classes: frozenset[str] = frozenset()
    denied: frozenset[str] = frozenset()
    unclassified: bool = False
    tag: str = "auth_classes"

    def admits(self, tags: Mapping[str, Any] | None) -> bool:
        value = (tags or {}).get(self.tag)
        have = {value} if isinstance(value, str) else set(value or ())
        if have & self.denied:
            return False
        return bool(have & self.classes) if have else self.unclassified


@dataclass(frozen=True, slots=True)
class SourceQuery:
    label: str | None = None
    format: str | None = None
    tags: TagFilter = field(default_factory=TagFilter)
    collected_by_ids: Sequence[str] | None = None  # [] means "collected by nobody"
    sort_by: str = "created"
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class FlowQuery:
    source_id: str | None = None
    format: str | None = None
    codec: str | None = None
    label: str | None = None
    profile_id: str | None = None
    status: str | None = None
    frame_width: int | None = None
    frame_height: int | None = None
    init_segments: bool | None = None
    timerange: TimeRange | None = None  # None: no filter; () selects flows with no segments
    tags: TagFilter = field(default_factory=TagFilter)
    collected_by_ids: Sequence[str] | None = None
    sort_by: str = "created"
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class SegmentQuery:
    timerange: TimeRange | None = None  # None: every segment
    object_id: str | None = None
    reverse: bool = False


class Instance(NamedTuple):
    """A controlled copy of an object's bytes: which storage backend, under which key."""

    storage_id: str
    key: str


@dataclass(frozen=True, slots=True)
class Allocation:
    """An object allocated for a flow and not yet registered, and where its bytes go."""

    object_id: str
    storage_id: str
    key: str
    content_type: str | None = None
    flow_id: str | None = None


class Segment(NamedTuple):
    """A segment as stored, joined with the object-level properties TAMS returns with it.

    Timeranges stay in their stored canonical text: rendering a page needs no parsing at all.
    A named tuple: a page builds hundreds of these, and a tuple is made from a result row in one
    step where a frozen dataclass sets each of its 15 fields through ``object.__setattr__``.
    """

    timerange: str
    object_id: str
    lo: int = 0  # first nanosecond of the segment (inclusive bounds, as stored)
    hi: int = 0  # last nanosecond
    ts_offset: int | None = None  # ns
    last_duration: int | None = None  # ns
    sample_offset: int | None = None
    sample_count: int | None = None
    object_timerange: str | None = None
    key_frame_count: int | None = None
    init_object_id: str | None = None
    uncontrolled_urls: tuple[tuple[str, str], ...] = ()  # (url, label) registered with the object
    instances: tuple[Instance, ...] = ()
    init_instances: tuple[Instance, ...] = ()
    init_uncontrolled_urls: tuple[tuple[str, str], ...] = ()

    def range(self) -> TimeRange:
        return TimeRange.parse(self.timerange)


class SegmentLocation(NamedTuple):
    """The least a player needs of a segment: its time and where its bytes are (for playlists)."""

    lo: int
    hi: int
    object_id: str
    init_object_id: str | None
    instances: tuple[Instance, ...]
    external_url: str | None = None  # the first client-registered URL, when there is no controlled copy
    # how the segment uses its object (playlists mark discontinuities and cut partial segments by them)
    timerange: str | None = None  # the segment's timerange as stored
    ts_offset: int | None = None  # ns; flow time = object time + ts_offset
    object_timerange: str | None = None  # the object's own timerange (its timeline)
    sample_offset: int | None = None
    sample_count: int | None = None


class PlaylistRun(NamedTuple):
    """A window that is a playlist's common case, in full: one unbroken run (each segment starts
    where the last one ends) of whole objects at flow time (no ``ts_offset``, no sample cut,
    ``object_timerange`` absent or equal to its timerange), each with one controlled copy, all on
    one backend and with one init object (or none). Columns, not a tuple per segment: a day is 43,200."""

    start: int  # the first segment's start, ns
    lengths: Sequence[int]  # each segment's duration, ns
    init_object_id: str | None  # every segment's
    storage_id: str  # the backend of every segment's controlled copy
    names: Sequence[str]  # each segment's key on that backend, or (``keys=False``) its object id


def playlist_run_of(locations: Sequence[SegmentLocation], keys: bool) -> PlaylistRun | None:
    """``PlaylistRun`` of ``locations``, or None when they are not one (or there are none)."""
    if not locations:
        return None
    first = locations[0]
    if not first.instances:
        return None
    init_id, storage_id, end = first.init_object_id, first.instances[0][0], first.lo
    for loc in locations:
        if (
            loc.lo != end
            or loc.sample_count is not None
            or loc.sample_offset
            or loc.ts_offset
            or (loc.object_timerange is not None and loc.object_timerange != loc.timerange)
            or len(loc.instances) != 1
            or loc.instances[0][0] != storage_id
            or loc.init_object_id != init_id
        ):
            return None
        end = loc.hi + 1
    if not storage_id:
        return None
    names = [loc.instances[0][1] if keys else loc.object_id for loc in locations]
    return PlaylistRun(first.lo, [loc.hi + 1 - loc.lo for loc in locations], init_id, storage_id, names)


@dataclass(frozen=True, slots=True)
class SegmentFailure:
    index: int
    object_id: str
    timerange: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class FlowStats:
    """Per-flow statistics kept in the same transaction as every segment write."""

    count: int = 0
    envelope: TimeRange = field(default_factory=TimeRange.never)
    max_duration_ns: int = 0
    segments_updated: str | None = None
    added_total: int = 0  # segments ever added (never decreases; deletions do not lower it)


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    object_id: str
    referenced_by_flows: list[str]
    first_referenced_by_flow: str | None
    timerange: TimeRange | None
    key_frame_count: int | None
    init_object_id: str | None
    is_init: bool
    uncontrolled_urls: tuple[tuple[str, str], ...] = ()
    instances: tuple[Instance, ...] = ()
    init_instances: tuple[Instance, ...] = ()
    init_uncontrolled_urls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DeleteResult:
    envelope: TimeRange  # of the deleted segments; () when none
    count: int
    orphaned_objects: list[str]  # objects nothing references any more, now deleted
    orphaned_instances: list[Instance] = field(default_factory=list)  # their bytes, to delete


@dataclass(frozen=True, slots=True)
class PutResult:
    created: bool
    flow: dict[str, Any]
    source_created: bool = False


class Event(NamedTuple):
    """One outbox event (``events_after``): its dense sequence number and what changed."""

    seq: int
    type: str
    flow_id: str | None
    source_id: str | None
    body: dict[str, Any]
    created_ns: int


class StoredInstance(NamedTuple):
    """A controlled instance together with the object it belongs to (``all_instances``)."""

    object_id: str
    storage_id: str
    key: str


class ObjectDigest(NamedTuple):
    """What the catalog recorded of an object's uploaded bytes at registration (``object_digests``):
    internal, never in a TAMS response (the API has no checksum fields)."""

    size: int | None
    sha256: str | None  # hex


class Locations(NamedTuple):
    """Where an object's bytes are (``object_locations``): controlled copies and client URLs."""

    instances: tuple[Instance, ...]
    uncontrolled_urls: tuple[tuple[str, str], ...]


class ObjectPage(NamedTuple):
    """An object with one page of the flows referencing it (``get_object``)."""

    record: ObjectRecord
    next_key: str | None


class DeletionProgress(NamedTuple):
    """One worked batch of a deletion request (``work_deletion``); ``done`` when nothing is left."""

    result: DeleteResult
    done: bool


class SegmentDeletion(NamedTuple):
    """``request_segment_deletion``: either deleted now (``result``) or a deletion request (``request``)."""

    result: DeleteResult | None
    request: dict[str, Any] | None


# -- the roles ------------------------------------------------------------------------------------------
class Lifecycle(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> bool: ...
    async def sizes(self) -> dict[str, int]: ...


class Documents(Protocol):
    """Service info, profiles, sources and flows."""

    async def get_service(self) -> dict[str, Any]: ...
    async def update_service(self, changes: Mapping[str, str]) -> None: ...
    async def list_profiles(
        self, format: str | None, codec: str | None, label: str | None, page: str | None, limit: int
    ) -> Page[dict[str, Any]]: ...
    async def get_profile(self, profile_id: str) -> dict[str, Any] | None: ...
    async def create_profile(self, doc: dict[str, Any]) -> dict[str, Any]: ...

    async def list_sources(
        self, query: SourceQuery, page: str | None, limit: int, access: AccessFilter | None = None
    ) -> Page[dict[str, Any]]: ...
    async def get_source(self, source_id: str) -> dict[str, Any] | None: ...
    async def set_source_field(self, source_id: str, name: str, value: Any) -> None: ...
    async def set_source_tag(self, source_id: str, name: str, value: str | list[str] | None) -> None: ...

    async def list_flows(
        self, query: FlowQuery, page: str | None, limit: int, access: AccessFilter | None = None
    ) -> Page[dict[str, Any]]: ...
    async def get_flow(self, flow_id: str) -> dict[str, Any] | None: ...
    async def flow_stats(self, flow_id: str) -> FlowStats | None: ...
    async def put_flow(
        self, doc: dict[str, Any], principal: str | None, source_tags: Mapping[str, Any] | None = None
    ) -> PutResult:
        """Creates or replaces a flow; a source it creates gets ``source_tags``."""
        ...

    async def delete_flow(self, flow_id: str) -> DeleteResult: ...
    async def set_flow_field(self, flow_id: str, name: str, value: Any) -> None: ...
    async def set_flow_tag(self, flow_id: str, name: str, value: str | list[str] | None) -> None: ...


class Segments(Protocol):
    """Segments, and reads of the objects they name (what playback and delivery read)."""

    async def add_segments(
        self,
        flow_id: str,
        segments: Sequence[dict[str, Any]],
        sizes: Mapping[str, int] | None = None,
        require_known_objects: bool = False,
        digests: Mapping[str, str] | None = None,
    ) -> list[SegmentFailure]:
        """``sizes`` and ``digests`` (SHA-256, hex) of uploaded bytes are recorded with each object's
        first registration."""
        ...

    async def query_segments(
        self, flow_id: str, query: SegmentQuery, page: str | None, limit: int
    ) -> Page[Segment]: ...
    async def segment_page_json(
        self, flow_id: str, query: SegmentQuery, page: str | None, limit: int
    ) -> RenderedPage | None:
        """``query_segments``' page with its stored members rendered as JSON; None unless every segment
        is simple (no init object, no client URLs, at most one instance): see ``catalog.segment_json``."""
        ...

    async def delete_segments(self, flow_id: str, timerange: TimeRange, object_id: str | None) -> DeleteResult: ...
    async def segment_locations(
        self, flow_id: str, timerange: TimeRange | None, limit: int | None, reverse: bool = False
    ) -> list[SegmentLocation]:
        """Segments in time order with their preferred controlled instance only (for playlists)."""
        ...

    async def playlist_run(self, flow_id: str, timerange: TimeRange | None, keys: bool) -> PlaylistRun | None:
        """The window's segments as a ``PlaylistRun`` (``names``: object keys, or ids unless ``keys``),
        or None when they are not one."""
        ...

    async def with_playlist_run(
        self, flow_id: str, timerange: TimeRange | None, keys: bool, then: Callable[[PlaylistRun | None], R]
    ) -> R:
        """``then(playlist_run(...))``, ``then`` on the worker thread that read the run: a day's VOD
        playlist is read, signed and rendered in one hop off the event loop."""
        ...

    async def get_object(
        self,
        object_id: str,
        page: str | None,
        limit: int,
        flow_tags: TagFilter | None = None,
        access: AccessFilter | None = None,
    ) -> ObjectPage | None:
        """The object with one page of the flows referencing it (those ``access`` admits)."""
        ...

    async def object_sizes(self, object_ids: Sequence[str]) -> dict[str, int]: ...
    async def object_digests(self, object_ids: Sequence[str]) -> dict[str, ObjectDigest]:
        """Size and SHA-256 recorded at registration (objects with neither are absent)."""
        ...

    async def object_locations(self, object_ids: Sequence[str]) -> dict[str, Locations]:
        """Controlled instances and client URLs of many objects at once (objects with neither are absent)."""
        ...

    async def all_instances(self) -> list[StoredInstance]:
        """Every controlled instance: a full scan, for reconciliation."""
        ...


class Allocations(Protocol):
    """Objects allocated before upload, and the instances added to and removed from objects."""

    async def allocate(self, flow_id: str, allocations: Sequence[Allocation], deadline_ns: int) -> None: ...
    async def pending_objects(self, object_ids: Sequence[str]) -> dict[str, Allocation]: ...
    async def add_instance(self, object_id: str, storage_id: str, key: str) -> None: ...
    async def add_uncontrolled_instance(
        self, object_id: str, url: str, label: str, reserved_labels: Sequence[str]
    ) -> None: ...
    async def remove_instance(self, object_id: str, storage_id: str | None, label: str | None) -> Instance | None: ...
    async def expire_allocations(self, now_ns: int) -> list[Instance]: ...


class Outbox(Protocol):
    """Webhooks and the outbox (events written in the same transaction as the change)."""

    async def list_webhooks(
        self, tags: TagFilter, reverse: bool, page: str | None, limit: int, access: AccessFilter | None = None
    ) -> Page[dict[str, Any]]: ...
    async def get_webhook(self, webhook_id: str, secret: bool = False) -> dict[str, Any] | None: ...
    async def save_webhook(self, doc: dict[str, Any], webhook_id: str | None = None) -> dict[str, Any]: ...
    async def delete_webhook(self, webhook_id: str) -> None: ...
    async def prune_events(self, older_than_ns: int) -> int:
        """Drops events older than that which every active webhook has delivered; returns how many."""
        ...

    async def last_event_seq(self) -> int: ...
    async def events_after(self, seq: int, limit: int) -> list[Event]:
        """Events after ``seq``, oldest first."""
        ...

    async def webhook_delivered(
        self, webhook_id: str, seq: int, status: str | None = None, error: dict[str, Any] | None = None
    ) -> None: ...


class Deletions(Protocol):
    """Flow deletion requests: flows with segments are deleted in bounded batches."""

    async def request_flow_deletion(self, flow_id: str, principal: str | None) -> dict[str, Any] | None:
        """None when the flow was empty and is gone; else the deletion request (deletion-request.json)."""
        ...

    async def request_segment_deletion(
        self, flow_id: str, timerange: TimeRange, threshold: int, principal: str | None
    ) -> SegmentDeletion:
        """Deletes at most ``threshold`` segments now; a bigger delete becomes a deletion request."""
        ...

    async def pending_deletions(self) -> list[str]: ...
    async def work_deletion(self, request_id: str, batch: int) -> DeletionProgress:
        """Deletes the request's next ``batch`` segments; NotFound for an unknown request."""
        ...

    async def fail_deletion(self, request_id: str, summary: str) -> None:
        """Marks the request failed; an unknown request (already gone) is left alone."""
        ...

    async def get_deletion(self, request_id: str) -> dict[str, Any] | None: ...
    async def list_deletions(
        self, sort_by: str, reverse: bool, page: str | None, limit: int
    ) -> Page[dict[str, Any]]: ...


class Playback(Documents, Segments, Protocol):
    """What playlists and manifests read: flow documents and their segments."""


class Notifications(Outbox, Documents, Segments, Protocol):
    """What event delivery reads: the outbox, and documents and objects for filters and get_urls."""


class Uploading(Documents, Allocations, Protocol):
    """What allocation and multipart uploads use: the flow, and the allocations."""


class Registering(Documents, Segments, Allocations, Protocol):
    """What segment registration uses: allocations to check, segments to add, the flow's essence to fill."""


class Copying(Segments, Allocations, Protocol):
    """What instance copies use: the object's instances, to read and to record."""


class Collecting(Segments, Allocations, Deletions, Protocol):
    """What deletion and clean-up use: segments, expired allocations and deletion requests."""


class Catalog(Lifecycle, Documents, Segments, Allocations, Outbox, Deletions, Protocol):
    """Async catalog, every role. Writes are atomic; a failing write changes nothing."""
