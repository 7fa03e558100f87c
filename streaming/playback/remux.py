"""Segments remuxed on the fly: the used part of one object, in flow time, as MPEG-TS, fMP4 or ADTS.

Playlists point here when a segment uses only part of its object, or when the player needs
another container than the flow's (DASH or fMP4 HLS of an MPEG-TS flow). Each request reads one
object (plus its init object, for fMP4 flows) through the storage interface, and the PyAV work
runs on a small thread pool of its own, never on the event loop. Results are kept in a
least-recently-used cache bounded in bytes: a segment's output depends only on the object
(immutable), the segment's timing and the container, all of which are in the key.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

import av

from catalog.errors import Invalid, NotFound
from catalog.store import Instance, Segment, SegmentQuery
from catalog.timing import TimeRange
from streaming.objects.media import MediaService
from streaming.playback.codecs import TrackInfo, init_tracks
from streaming.playback.cut import Track, Window, cut, open_source
from streaming.playback.muxers import CONTENT_TYPES, Output, Sink, split_fmp4
from streaming.playback.playlist_cache import PlaylistCache
from streaming.playback.ts_counters import pad_counters
from streaming.storage.interface import ObjectStore, StoreError

SEGMENT_EXTS = ("ts", "m4s", "aac")
TRACKS = ("video", "audio")  # ``track``: one media type of a muxed object (DASH: one per AdaptationSet)
MAX_OBJECT_BYTES = 512 * 1024 * 1024  # larger objects are not remuxed in memory
TRACK_CACHE_ENTRIES = 1024
NEVER_EXPIRES = 10 * 365 * 24 * 3600
# in every ETag and cache key of remuxed bytes: bump it when the same input remuxes to other bytes
# (2: MPEG-TS continuity padding), so caches and players holding the old bytes fetch the new ones
OUTPUT_VERSION = 2
T = TypeVar("T")


@dataclass(frozen=True)
class Remuxed:
    body: bytes
    content_type: str
    etag: str
    max_age: int = NEVER_EXPIRES  # for the cache: the key names everything the bytes depend on


def default_workers() -> int:
    """PyAV threads leave a core to the event loop, as the SQLite readers do."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def segment_window(segment: Segment, within: TimeRange | None = None, zero: int = 0) -> Window | None:
    """The part of the segment's object to play: the segment's timerange (within ``within``) minus
    its ts_offset, shifted to flow time minus ``zero``. ``sample_offset``/``sample_count`` describe
    the same part (TAMS: the timerange is authoritative), so they need no arithmetic of their own."""
    offset = segment.ts_offset or 0
    lo, end = segment.lo, segment.hi + 1
    if within is not None:
        if within.empty:
            return None
        lo = lo if within.lo is None else max(lo, within.lo)
        end = end if within.hi is None else min(end, within.hi + 1)
    if lo >= end:
        return None
    return Window(lo - offset, end - offset, offset - zero)


def continues(before: Segment, after: Segment) -> bool:
    """``after`` carries on the recording ``before`` is part of: touching in flow time, same
    ts_offset. Audio runs on across such a boundary as recorded; anywhere else it is cut there."""
    return before.hi + 1 == after.lo and (before.ts_offset or 0) == (after.ts_offset or 0)


def is_partial(segment: Segment) -> bool:
    """The segment uses only part of its object (or says so with the deprecated sample fields)."""
    if segment.sample_offset or segment.sample_count is not None:
        return True
    if not segment.object_timerange:
        return False
    own = TimeRange.parse(segment.object_timerange)
    offset = segment.ts_offset or 0
    return (own.lo is not None and own.lo < segment.lo - offset) or (
        own.hi is not None and own.hi > segment.hi - offset
    )


def first_store(media: MediaService, object_id: str, instances: tuple[Instance, ...]) -> tuple[ObjectStore, str]:
    """Where to read an object from (``Storage.readable``: the default backend's copy first)."""
    replica = media.storage.readable(instances)
    if replica is None:
        raise NotFound(f"object {object_id!r} has no bytes on this gateway's storage backends")
    return replica


async def read_object(media: MediaService, object_id: str, instances: tuple[Instance, ...]) -> bytes:
    """One object's bytes in memory (the remux needs them all: MPEG-TS has no index)."""
    store, key = first_store(media, object_id, instances)
    opened = await store.open(key, None)
    if opened is None:
        raise StoreError(f"the bytes of object {object_id!r} are missing from {store.info.label}")
    if opened.info.size > MAX_OBJECT_BYTES:
        opened.close()
        raise Invalid(
            f"object {object_id!r} is {opened.info.size} bytes, more than the "
            f"{MAX_OBJECT_BYTES} remuxed on the fly; fetch it directly"
        )
    return b"".join([chunk async for chunk in opened.body])


def _tracks(source: av.container.InputContainer, window: Window, track: str | None) -> list[Track]:
    """The cut tracks, or only those of one media type (cut as a whole: audio edges follow the video)."""
    tracks = cut(source, window)
    if track is None:
        return tracks
    chosen = [t for t in tracks if t.kind == track]
    if not chosen:
        raise Invalid(f"the media has no {track} track")
    return chosen


def remux_one(data: bytes, init: bytes | None, window: Window, ext: str, track: str | None = None) -> bytes:
    """One object's part as a whole TS or ADTS file, or as fMP4 fragments (no init); ``track``: one
    media type only."""
    sink = Sink()
    output = Output(ext, sink)
    with open_source(data, init) as source:
        output.add(_tracks(source, window, track))
        output.close()
    body = sink.take()
    if ext == "ts":  # counters continuous from any remuxed segment to the next
        return pad_counters(body)
    return split_fmp4(body)[1] if ext == "m4s" else body


def derive_init(data: bytes, init: bytes | None, track: str | None = None) -> bytes:
    """ftyp+moov describing the fragments ``remux_one(..., 'm4s', track)`` writes for this flow."""
    sink = Sink()
    output = Output("m4s", sink)
    with open_source(data, init) as source:
        output.add(_tracks(source, Window(), track))
        output.close()
    return split_fmp4(sink.take())[0]


class RemuxService:
    def __init__(self, media: MediaService, cache_bytes: int, workers: int | None = None) -> None:
        self.media = media
        self.catalog = media.catalog
        self.cache: PlaylistCache[Remuxed] = PlaylistCache(cache_bytes)
        self.tracks: dict[tuple, dict[str, TrackInfo]] = {}
        self.pool = ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="remux")

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """PyAV work on the remux pool; media PyAV cannot read is the store's bad bytes (502)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)
        except (av.error.FFmpegError, ValueError) as exc:
            raise StoreError(f"the media could not be remuxed: {exc}") from None

    async def segment(
        self, flow_id: str, object_id: str, timerange: TimeRange | None, ext: str, track: str | None = None
    ) -> Remuxed:
        if ext not in SEGMENT_EXTS:
            raise Invalid(f"remuxed segments are .{', .'.join(SEGMENT_EXTS)}, not .{ext}")
        _check_track(track, ext)
        segment = await self._find(flow_id, object_id, timerange)
        window = segment_window(segment, timerange)
        if window is None:
            raise NotFound(f"segment {segment.timerange} of flow {flow_id} does not overlap {timerange}")
        window = await self._audio_edges(flow_id, segment, window)
        key = ("segment", object_id, segment.init_object_id, window, ext, track)
        return await self.cache.get_or_build(key, lambda: self._build(segment, window, ext, key, track))

    async def init_segment(self, flow_id: str, track: str | None = None) -> Remuxed:
        _check_track(track, "m4s")
        first = await self._first(flow_id)
        key = ("init", first.object_id, first.init_object_id, track)

        async def build() -> Remuxed:
            data, init = await self.object_bytes(first)
            return _remuxed(await self.run(derive_init, data, init, track), "mp4", key)

        return await self.cache.get_or_build(key, build)

    async def track_codecs(self, flow_id: str) -> dict[str, TrackInfo]:
        """The media types of the flow's remuxed fragments and their codecs, read from its init segment
        (what a DASH MPD of a muxed flow lists per AdaptationSet); kept per first object."""
        first = await self._first(flow_id)
        key = (first.object_id, first.init_object_id)
        if key not in self.tracks:
            whole = await self.init_segment(flow_id)
            if len(self.tracks) >= TRACK_CACHE_ENTRIES:
                self.tracks.pop(next(iter(self.tracks)))
            self.tracks[key] = await self.run(init_tracks, whole.body)
        return self.tracks[key]

    async def _first(self, flow_id: str) -> Segment:
        page = await self.catalog.query_segments(flow_id, SegmentQuery(), None, 1)
        if await self.catalog.get_flow(flow_id) is None:
            raise NotFound(f"flow {flow_id} does not exist")
        if not page.items:
            raise NotFound(f"flow {flow_id} has no segments to derive an init segment from")
        return page.items[0]

    async def object_bytes(self, segment: Segment) -> tuple[bytes, bytes | None]:
        """The segment's object and, for fMP4, its init object: what PyAV needs to read the media."""
        init = None
        if segment.init_object_id:
            init = await read_object(self.media, segment.init_object_id, segment.init_instances)
        return await read_object(self.media, segment.object_id, segment.instances), init

    async def _find(self, flow_id: str, object_id: str, timerange: TimeRange | None) -> Segment:
        page = await self.catalog.query_segments(flow_id, SegmentQuery(timerange, object_id), None, 1)
        if not page.items:
            if await self.catalog.get_flow(flow_id) is None:
                raise NotFound(f"flow {flow_id} does not exist")
            raise NotFound(
                f"flow {flow_id} has no segment of object {object_id!r}" + (f" in {timerange}" if timerange else "")
            )
        return page.items[0]

    async def _audio_edges(self, flow_id: str, segment: Segment, window: Window) -> Window:
        """Audio is cut at the segment's edges unless the neighbouring segment continues it."""
        around = TimeRange.from_inclusive(segment.lo - 1, segment.hi + 1)
        page = await self.catalog.query_segments(flow_id, SegmentQuery(around), None, 3)
        before = next((s for s in page.items if s.hi + 1 == segment.lo), None)
        after = next((s for s in page.items if s.lo == segment.hi + 1), None)
        return replace(
            window,
            audio_start=before is None or not continues(before, segment),
            audio_end=after is None or not continues(segment, after),
        )

    async def _build(self, segment: Segment, window: Window, ext: str, key: tuple, track: str | None) -> Remuxed:
        data, init = await self.object_bytes(segment)
        return _remuxed(await self.run(remux_one, data, init, window, ext, track), ext, key)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _check_track(track: str | None, ext: str) -> None:
    if track is not None and (track not in TRACKS or ext != "m4s"):
        raise Invalid(f"track={track!r}: one track ({', '.join(TRACKS)}) is served as fMP4 only (init.mp4, .m4s)")


def _remuxed(body: bytes, ext: str, key: tuple) -> Remuxed:
    etag = '"' + hashlib.sha256(repr((OUTPUT_VERSION, key)).encode()).hexdigest()[:32] + '"'
    return Remuxed(body, CONTENT_TYPES[ext], etag)
