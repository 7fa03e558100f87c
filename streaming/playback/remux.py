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
from streaming.playback.cut import Window, cut, open_source
from streaming.playback.muxers import CONTENT_TYPES, Output, Sink, split_fmp4
from streaming.playback.playlist_cache import PlaylistCache
from streaming.storage.interface import ObjectStore, StoreError

SEGMENT_EXTS = ("ts", "m4s", "aac")
MAX_OBJECT_BYTES = 512 * 1024 * 1024  # larger objects are not remuxed in memory
NEVER_EXPIRES = 10 * 365 * 24 * 3600
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


def remux_one(data: bytes, init: bytes | None, window: Window, ext: str) -> bytes:
    """One object's part as a whole TS or ADTS file, or as fMP4 fragments (no init)."""
    sink = Sink()
    output = Output(ext, sink)
    with open_source(data, init) as source:
        output.add(cut(source, window))
        output.close()
    body = sink.take()
    return split_fmp4(body)[1] if ext == "m4s" else body


def derive_init(data: bytes, init: bytes | None) -> bytes:
    """ftyp+moov describing the fragments ``remux_one(..., 'm4s')`` writes for this flow."""
    sink = Sink()
    output = Output("m4s", sink)
    with open_source(data, init) as source:
        output.add(cut(source, Window()))
        output.close()
    return split_fmp4(sink.take())[0]


class RemuxService:
    def __init__(self, media: MediaService, cache_bytes: int, workers: int | None = None) -> None:
        self.media = media
        self.catalog = media.catalog
        self.cache: PlaylistCache[Remuxed] = PlaylistCache(cache_bytes)
        self.pool = ThreadPoolExecutor(max_workers=workers or default_workers(), thread_name_prefix="remux")

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """PyAV work on the remux pool; media PyAV cannot read is the store's bad bytes (502)."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)
        except (av.error.FFmpegError, ValueError) as exc:
            raise StoreError(f"the media could not be remuxed: {exc}") from None

    async def segment(self, flow_id: str, object_id: str, timerange: TimeRange | None, ext: str) -> Remuxed:
        if ext not in SEGMENT_EXTS:
            raise Invalid(f"remuxed segments are .{', .'.join(SEGMENT_EXTS)}, not .{ext}")
        segment = await self._find(flow_id, object_id, timerange)
        window = segment_window(segment, timerange)
        if window is None:
            raise NotFound(f"segment {segment.timerange} of flow {flow_id} does not overlap {timerange}")
        window = await self._audio_edges(flow_id, segment, window)
        key = ("segment", object_id, segment.init_object_id, window, ext)
        return await self.cache.get_or_build(key, lambda: self._build(segment, window, ext, key))

    async def init_segment(self, flow_id: str) -> Remuxed:
        page = await self.catalog.query_segments(flow_id, SegmentQuery(), None, 1)
        if await self.catalog.get_flow(flow_id) is None:
            raise NotFound(f"flow {flow_id} does not exist")
        if not page.items:
            raise NotFound(f"flow {flow_id} has no segments to derive an init segment from")
        first = page.items[0]
        key = ("init", first.object_id, first.init_object_id)

        async def build() -> Remuxed:
            data, init = await self.object_bytes(first)
            return _remuxed(await self.run(derive_init, data, init), "mp4", key)

        return await self.cache.get_or_build(key, build)

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

    async def _build(self, segment: Segment, window: Window, ext: str, key: tuple) -> Remuxed:
        data, init = await self.object_bytes(segment)
        return _remuxed(await self.run(remux_one, data, init, window, ext), ext, key)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def _remuxed(body: bytes, ext: str, key: tuple) -> Remuxed:
    etag = '"' + hashlib.sha256(repr(key).encode()).hexdigest()[:32] + '"'
    return Remuxed(body, CONTENT_TYPES[ext], etag)
