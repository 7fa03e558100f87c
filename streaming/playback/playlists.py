"""Playlists for players: which segments go in (VOD or a live window) and which URI each gets.

VOD or live follows the flow's state (``is_vod``): VOD, every segment in the window with
``#EXT-X-ENDLIST``, for a finished flow (read-only or ``closed_complete``); live, while it is
``ingesting`` / ``awaiting_content``, the latest segments covering ``live_span_s`` (at least
``live_window`` of them); ``?type=`` overrides, and a flow without a status is VOD only for a closed
window. A live window's media sequence never goes back (segments ever added minus the window) and its
discontinuity sequence counts every break before it (``DiscontinuityCounter``), so a refreshing
player stays in step.

Closing a flow must read, to a player already playing it, as the live playlist with
``#EXT-X-ENDLIST`` appended (RFC 8216 §6.2.1): a live flow shorter than ``live_span_s`` is listed
from its first segment, so its VOD playlist starts at the same media sequence (ffmpeg warns when the
sequence goes back), and a segment keeps its URI across the close (GStreamer stops on a segment
number whose URI changed): live and VOD URLs are signed for the same lifetime (``expiry``).

URIs are stable: presigned URLs are signed per time bucket (``streaming.storage.expiry``), so a
refresh within a bucket lists every segment it shares with the last one under the same URI, and a
playlist is never cacheable for longer than its URLs stay valid for a player that uses it to the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import quote

from catalog.errors import NotFound
from catalog.store import FlowStats, PlaylistRun, Segment, SegmentLocation, SegmentQuery
from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.objects.media import MediaService
from streaming.playback import timeline
from streaming.playback.hls import media_playlist, target_duration, vod_run
from streaming.playback.playlist_cache import PlaylistCache
from streaming.storage.interface import UNRESERVED, extension, only

MAX_PRESIGN_S = 7 * 24 * 3600 - 3600  # SigV4's longest expiry, less the longest signing bucket
URI_MODES = ("presigned", "proxy", "redirect")
PLAYBACK_TYPES = ("live", "vod")
CONTAINERS = ("fmp4",)  # ?container=: fMP4 fragments whatever the flow's container
VOD_MAX_AGE_S = 300  # finished playlists with expiring URLs: re-fetched at least this often
LIVE_STATUSES = ("ingesting", "awaiting_content")
GZIP_MIN_BYTES = 16 * 1024  # smaller playlists (every live one) are sent as they are
OFF_LOOP_ENTRIES = 2000  # playlists this long are signed and rendered on a worker thread
LIVE_SPAN_S = 60  # TAMS_LIVE_SPAN_S by default: a live flow that closes within the span ends cleanly


@dataclass(frozen=True)
class PlaylistSettings:
    live_window: int = 6  # at least this many segments in a live playlist
    live_span_s: int = LIVE_SPAN_S  # and as many more as cover this much media (0: exactly live_window)
    uri_mode: str = "presigned"
    page: int = 5000
    cache_bytes: int = 64 * 1024 * 1024  # finished playlists kept in memory (0: none)


@dataclass(frozen=True)
class Playlist:
    body: bytes  # the playlist, encoded once (on a worker thread for big ones), served as is
    digest: str  # SHA-256 of the body, hex: an ETag without hashing megabytes per request
    ended: bool
    max_age: int  # seconds a cache may keep it, from when it was built
    encoding: str | None = None  # "gzip" when the body is compressed
    built_at: float = field(default_factory=time.time)

    def max_age_now(self, now: float | None = None) -> int:
        """What is left of ``max_age`` (a cached playlist is served with less, never more)."""
        elapsed = int((time.time() if now is None else now) - self.built_at)  # whole seconds gone
        return max(0, self.max_age - max(0, elapsed))

    @property
    def text(self) -> str:
        body = zlib.decompress(self.body, wbits=31) if self.encoding == "gzip" else self.body
        return body.decode()


def _gzipped(playlist: Playlist) -> Playlist:
    """The playlist gzip-compressed: fast level 1 (14 MiB of signed URLs → 3 MiB in ~60 ms, with the
    GIL released); a better level saves a few percent more for twice the time."""
    body = zlib.compress(playlist.body, 1, wbits=31)
    return replace(playlist, body=body, digest=hashlib.sha256(body).hexdigest(), encoding="gzip")


def is_vod(flow: dict, window: TimeRange | None, kind: str | None) -> bool:
    """VOD or live: ``kind`` (?type=) if given, else the flow's state, else the window's end."""
    if kind is not None:
        return kind == "vod"
    if flow.get("read_only") or flow.get("status") == "closed_complete":
        return True
    if flow.get("status") in LIVE_STATUSES:
        return False
    return window is not None and window.hi is not None


class DiscontinuityCounter:
    """The discontinuity sequence number of a live window's first segment: the breaks before it.

    Counted once from the flow's start, then kept per flow and moved forward over the segments that
    left the window since, so a refresh reads a few rows, not the flow's history. (After a restart
    the count starts again from the segments the flow still holds.)"""

    def __init__(self, service: PlaylistService, flows: int = 1024) -> None:
        self.service = service
        self.flows = flows
        self._known: OrderedDict[tuple, tuple[SegmentLocation, str | None, int]] = OrderedDict()

    async def at(self, flow: dict, first: SegmentLocation, fmp4: bool) -> int:
        key = (flow["id"], fmp4)
        known = self._known.get(key)
        if known is not None and known[0].lo > first.lo:
            known = None  # an earlier window than last time: count afresh
        state: tuple[SegmentLocation | None, str | None, int] = known if known is not None else (None, None, 0)
        page = self.service.settings.page
        while True:  # a page at a time: a long flow's first count never holds its whole history
            lo = None if state[0] is None else state[0].lo
            span = TimeRange.make(lo, first.lo, include_start=False, include_end=True)
            rows = [
                loc
                for loc in await self.service.catalog.segment_locations(flow["id"], span, page)
                if (lo is None or loc.lo > lo) and loc.lo <= first.lo
            ]
            if not rows:
                break
            if len(rows) < OFF_LOOP_ENTRIES:  # a refresh: the few segments that left the window
                state = _count(state, rows, flow.get("container"), fmp4)
            else:  # a first count over a long history: CPU work, off the event loop
                state = await asyncio.to_thread(_count, state, rows, flow.get("container"), fmp4)
        prev, prev_ext, count = state
        if prev is not None:
            self._known[key] = (prev, prev_ext, count)
            self._known.move_to_end(key)
            while len(self._known) > self.flows:
                self._known.popitem(last=False)
        return count


def _count(
    state: tuple[SegmentLocation | None, str | None, int],
    rows: Sequence[SegmentLocation],
    container: str | None,
    fmp4: bool,
) -> tuple[SegmentLocation | None, str | None, int]:
    """(last segment, its delivery, breaks so far) moved over ``rows``."""
    prev, prev_ext, count = state
    for loc in rows:
        ext = timeline.delivery(loc, container, fmp4)
        if prev is not None and timeline.breaks(prev, prev_ext, loc, ext):
            count += 1
        prev, prev_ext = loc, ext
    return prev, prev_ext, count


class PlaylistService:
    def __init__(self, media: MediaService, settings: PlaylistSettings) -> None:
        self.media = media
        self.catalog = media.catalog
        self.settings = settings
        self.cache: PlaylistCache[Playlist] = PlaylistCache(settings.cache_bytes)
        self.discontinuities = DiscontinuityCounter(self)

    async def segments(self, flow_id: str, window: TimeRange | None) -> list[Segment]:
        """Every segment of the flow in the window, in time order."""
        segments: list[Segment] = []
        key: str | None = None
        while True:
            page = await self.catalog.query_segments(flow_id, SegmentQuery(window), key, self.settings.page)
            segments.extend(page.items)
            if page.next_key is None:
                return segments
            key = page.next_key

    async def window(
        self, flow: dict, window: TimeRange | None, ended: bool, stats: FlowStats | None = None
    ) -> list[SegmentLocation]:
        """The segments a playlist lists: all of the window (VOD) or its latest ``live_window``, and
        before them those that end within ``live_span_s`` of the last one's end (live)."""
        if ended:
            return await self.catalog.segment_locations(flow["id"], window, None)
        least, span = self.settings.live_window, self.settings.live_span_s * NS_PER_SECOND
        latest = await self.catalog.segment_locations(flow["id"], window, least, True)
        if len(latest) < least or not span:
            return latest
        edge = latest[-1].hi + 1 - span  # segments ending at or after this are within the span
        if latest[0].hi < edge:  # the newest ``least`` already cover the span
            return latest
        # the span by time: segments that start no earlier than the longest segment before the edge
        stats = stats or await self.catalog.flow_stats(flow["id"])
        longest = stats.max_duration_ns if stats is not None else 0
        recent = TimeRange.from_inclusive(edge - longest - 1, None)
        spanned = await self.catalog.segment_locations(
            flow["id"], recent if window is None else window.intersect(recent), None
        )
        spanned = [loc for loc in spanned if loc.hi >= edge and loc.lo <= latest[-1].lo]
        return spanned if len(spanned) > least else latest

    def uris(
        self, locations: Sequence[SegmentLocation], mode: str, base_url: str, expiry: int, suffix: str
    ) -> list[str]:
        """Each segment's object URI; presigned URLs are signed in bulk per storage backend."""
        if mode != "presigned":
            return self.object_uris([loc.object_id for loc in locations], mode, base_url, suffix)
        uris: list[str] = [""] * len(locations)
        stores = self.media.storage.stores
        readable = self.media.storage.readable
        by_store: dict[str, tuple[list[int], list[str]]] = {}
        for index, loc in enumerate(locations):
            instances = loc.instances
            if len(instances) == 1 and instances[0][0] in stores:  # one copy, on a backend we have
                storage_id, key = instances[0]  # what readable() picks, without its Replica per segment
            elif (usable := readable(instances)) is not None:  # one policy for every reader
                storage_id, key = usable.store.info.id, usable.key
            else:
                storage_id = ""
            if storage_id:
                group = by_store.get(storage_id)
                if group is None:
                    group = by_store[storage_id] = ([], [])
                group[0].append(index)
                group[1].append(key)
            else:
                uris[index] = loc.external_url or (
                    f"{base_url}/objects/{quote(loc.object_id, safe='')}/content{suffix}?mode=proxy"
                )
        for storage_id, (indexes, keys) in by_store.items():
            for n, url in zip(indexes, stores[storage_id].get_urls(keys, expiry), strict=True):
                uris[n] = url
        return uris

    @staticmethod
    def object_uris(object_ids: Sequence[str], mode: str, base_url: str, suffix: str) -> list[str]:
        """Proxy or redirect URIs of objects; ids that need no quoting (checked at once) are not quoted
        one by one."""
        prefix, tail = f"{base_url}/objects/", f"/content{suffix}?mode={mode}"
        if only(UNRESERVED, object_ids):
            return [f"{prefix}{object_id}{tail}" for object_id in object_ids]
        return [f"{prefix}{quote(object_id, safe='')}{tail}" for object_id in object_ids]

    def segment_uris(
        self,
        flow: dict,
        locations: Sequence[SegmentLocation],
        exts: Sequence[str | None],
        mode: str,
        base_url: str,
        expiry: int,
    ) -> list[str]:
        """Each segment's URI: its object's, or the remux endpoint's for the segments ``exts`` names."""
        direct = [i for i, ext in enumerate(exts) if ext is None]
        ext = extension(flow.get("container"))
        if len(direct) == len(locations):
            return self.uris(locations, mode, base_url, expiry, f".{ext}" if ext else "")
        uris = [
            timeline.remux_uri(base_url, flow["id"], loc, e) if e else ""
            for loc, e in zip(locations, exts, strict=True)
        ]
        signed = self.uris([locations[i] for i in direct], mode, base_url, expiry, f".{ext}" if ext else "")
        for i, uri in zip(direct, signed, strict=True):
            uris[i] = uri
        return uris

    async def init_uris(
        self,
        flow: dict,
        locations: Sequence[SegmentLocation],
        exts: Sequence[str | None],
        mode: str,
        base_url: str,
        expiry: int,
    ) -> dict[str, str]:
        """URIs of the (few) distinct init segments, by ``timeline.init_key``, for #EXT-X-MAP."""
        keys = dict.fromkeys(timeline.init_key(loc, e) for loc, e in zip(locations, exts, strict=True))
        uris: dict[str, str] = {}
        for init_id in keys:
            if init_id is None:
                continue
            if init_id == timeline.REMUX_INIT:
                uris[init_id] = timeline.remux_init_uri(base_url, flow["id"])
                continue
            found = await self.catalog.get_object(init_id, None, 1)
            instances = found[0].instances if found else ()
            external = found[0].uncontrolled_urls[0][0] if found and found[0].uncontrolled_urls else None
            location = SegmentLocation(0, 0, init_id, None, instances, external)
            uris[init_id] = self.uris([location], mode, base_url, expiry, ".mp4")[0]
        return uris

    async def media_playlist(
        self,
        flow_id: str,
        window: TimeRange | None,
        mode: str | None,
        base_url: str,
        gzip: bool = False,
        kind: str | None = None,
        container: str | None = None,
    ) -> Playlist:
        """The playlist; with ``gzip``, a big finished one comes compressed (the client takes gzip).

        ``kind``: "live" or "vod" to override the flow's state; ``container``: "fmp4" for fMP4
        fragments whatever the flow's container."""
        flow = await self.catalog.get_flow(flow_id)
        stats = await self.catalog.flow_stats(flow_id)
        if flow is None or stats is None:
            raise NotFound(f"flow {flow_id} does not exist")
        mode = mode or self.settings.uri_mode
        fmp4 = container == "fmp4"
        if not is_vod(flow, window, kind):
            return await self._live(flow, stats, window, mode, base_url, fmp4)
        # (segments ever added, segments held) changes with every segment write: the flow's version
        key = (flow_id, str(window), mode, base_url, flow.get("container"), fmp4, stats.added_total, stats.count)
        playlist = await self.cache.get_or_build(key, lambda: self._vod(flow, window, mode, base_url, fmp4))
        if not gzip or len(playlist.body) < GZIP_MIN_BYTES:
            return playlist
        # the compressed copy is a cache entry of its own: built once, counted in the cache's bytes
        return await self.cache.get_or_build((*key, "gzip"), lambda: asyncio.to_thread(_gzipped, playlist))

    async def _live(
        self, flow: dict, stats: FlowStats, window: TimeRange | None, mode: str, base_url: str, fmp4: bool
    ) -> Playlist:
        """The latest ``live_window`` segments; the media and discontinuity sequences never go back."""
        locations = await self.window(flow, window, False, stats)
        sequence = max(0, stats.added_total - len(locations))
        breaks = await self.discontinuities.at(flow, locations[0], fmp4) if locations else 0
        return await self._build(flow, locations, mode, base_url, sequence, False, fmp4, breaks)

    async def _vod(self, flow: dict, window: TimeRange | None, mode: str, base_url: str, fmp4: bool) -> Playlist:
        """Every segment of the window."""
        if not fmp4:  # the common case first, from columns; anything else reads the window again below
            built = await self.catalog.with_playlist_run(
                flow["id"], window, mode == "presigned", lambda run: self._from_run(flow, run, mode, base_url)
            )
            if isinstance(built, PlaylistRun):  # its init segment's URI needs a catalog read first
                built = await self._vod_run(flow, built, mode, base_url)
            if built is not None:
                return built
        locations = await self.window(flow, window, ended=True)
        return await self._build(flow, locations, mode, base_url, 0, True, fmp4, 0)

    def _from_run(self, flow: dict, run: PlaylistRun | None, mode: str, base_url: str) -> Playlist | PlaylistRun | None:
        """On the worker thread that read ``run``: its VOD playlist; None when it is no run on a
        backend we have (then ``_build`` decides segment by segment); the run itself when it has an
        init segment, whose URI needs a catalog read first (``_vod_run``)."""
        if run is None or (mode == "presigned" and run.storage_id not in self.media.storage.stores):
            return None
        if run.init_object_id is not None:
            return run
        return self._render_run(flow, run, None, mode, base_url)

    async def _vod_run(self, flow: dict, run: PlaylistRun, mode: str, base_url: str) -> Playlist:
        """``_from_run`` of a run with an init segment: its URI first, then the rest as there."""
        first = SegmentLocation(run.start, run.start, "", run.init_object_id, ())
        expiry = self.expiry_for(self.run_span_s(run))
        init_uri = (await self.init_uris(flow, [first], [None], mode, base_url, expiry))[run.init_object_id or ""]
        if len(run.names) < OFF_LOOP_ENTRIES:
            return self._render_run(flow, run, init_uri, mode, base_url)
        return await asyncio.to_thread(self._render_run, flow, run, init_uri, mode, base_url)

    @staticmethod
    def run_span_s(run: PlaylistRun) -> int:
        return -(-sum(run.lengths) // NS_PER_SECOND)

    def _render_run(self, flow: dict, run: PlaylistRun, init_uri: str | None, mode: str, base_url: str) -> Playlist:
        """The same bytes as ``_build`` (every segment delivered as stored, no discontinuity) with no
        Python object per segment beyond its name and URI."""
        span = self.run_span_s(run)
        expiry = self.expiry_for(span)
        if mode == "presigned":
            uris = self.media.storage.stores[run.storage_id].get_urls(list(run.names), expiry)
        else:
            ext = extension(flow.get("container"))
            uris = self.object_uris(run.names, mode, base_url, f".{ext}" if ext else "")
        target = max(1, -(-max(run.lengths) // NS_PER_SECOND))
        body = vod_run(run.start, run.lengths, uris, init_uri, target).encode()
        return Playlist(body, hashlib.sha256(body).hexdigest(), True, self.max_age(True, mode, expiry, target, span))

    async def _build(
        self,
        flow: dict,
        locations: Sequence[SegmentLocation],
        mode: str,
        base_url: str,
        sequence: int,
        ended: bool,
        fmp4: bool,
        breaks: int,
    ) -> Playlist:
        """Signing and rendering a day of segments is ~100 ms of CPU, so big playlists are built on
        a worker thread and the event loop keeps serving meanwhile."""
        container = flow.get("container")
        exts = timeline.deliveries(locations, container, fmp4)
        expiry = self.expiry(locations, ended)
        init_uris = await self.init_uris(flow, locations, exts, mode, base_url, expiry)
        render = (flow, locations, exts, init_uris, mode, base_url, expiry, sequence, ended, breaks)
        if len(locations) < OFF_LOOP_ENTRIES:
            return self._render(*render)
        return await asyncio.to_thread(self._render, *render)

    def _render(
        self,
        flow: dict,
        locations: Sequence[SegmentLocation],
        exts: Sequence[str | None],
        init_uris: dict[str, str],
        mode: str,
        base_url: str,
        expiry: int,
        sequence: int,
        ended: bool,
        breaks: int,
    ) -> Playlist:
        uris = self.segment_uris(flow, locations, exts, mode, base_url, expiry)
        flags = timeline.discontinuities(locations, exts)
        if init_uris:
            init_uri, init_key = init_uris.get, timeline.init_key
            inits = [init_uri(init_key(loc, ext)) for loc, ext in zip(locations, exts, strict=True)]  # type: ignore[arg-type]  # .get(None) is None
        else:  # MPEG-TS: no init segments at all
            inits = [None] * len(locations)
        # columns zipped in C: cheaper than a tuple display per segment
        starts, ends = [loc.lo for loc in locations], [loc.hi + 1 for loc in locations]
        entries = list(zip(starts, ends, uris, inits, flags, strict=True))
        target = target_duration(entries)
        text = media_playlist(
            entries, media_sequence=sequence, ended=ended, target=target, discontinuity_sequence=breaks
        )
        body = text.encode()
        span = self.span_s(locations)
        return Playlist(body, hashlib.sha256(body).hexdigest(), ended, self.max_age(ended, mode, expiry, target, span))

    @staticmethod
    def finished(flow: dict) -> bool:
        """A flow that will get no more segments."""
        return bool(flow.get("read_only")) or flow.get("status") == "closed_complete"

    @staticmethod
    def span_s(locations: Sequence[SegmentLocation]) -> int:
        """Seconds from the first segment's start to the last one's end (rounded up)."""
        return -(-(locations[-1].hi + 1 - locations[0].lo) // NS_PER_SECOND) if locations else 0

    def expiry(self, locations: Sequence[SegmentLocation], ended: bool) -> int:
        """The least time presigned URLs stay valid: the presign expiry plus the span rounded up to
        whole presign expiries (a VOD player may still be fetching at the end of the programme, a
        live one until the window's last segment is played). Live or VOD alike, so a segment keeps
        its URL when its flow closes; rounded, so a growing live window keeps it too."""
        return self.expiry_for(self.span_s(locations))

    def expiry_for(self, span: int) -> int:
        """``expiry`` of a playlist spanning ``span`` seconds."""
        wanted = max(1, self.media.settings.presign_expiry_s)
        return min(MAX_PRESIGN_S, wanted + -(-span // wanted) * wanted)

    @staticmethod
    def max_age(ended: bool, mode: str, expiry: int, target: int, span: int) -> int:
        """How long a cache (or a player) may keep the playlist. Its useful life is that plus the
        time to play what it lists, and must end before its URLs expire: max_age + span <= expiry.
        Live: half a target duration, so a refreshing player sees each new segment promptly."""
        if mode != "presigned":
            return 3600 if ended else max(1, target // 2)
        room = max(0, expiry - span)
        return min(VOD_MAX_AGE_S if ended else max(1, target // 2), room)
