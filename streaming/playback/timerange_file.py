"""A flow's timerange as one file (clip export): ``media.ts`` / ``media.mp4`` cut to the timerange.

When nothing needs changing (MPEG-TS asked of an MPEG-TS flow, every segment whole, inside the
window and with no ts_offset), the file is virtual: the objects back to back, read lazily, with
a length known up front (the objects' recorded sizes) so it is seekable with Range requests.

Otherwise it is remuxed (streaming/playback/cut.py has the cut rule), one object at a time:
``media.ts`` streams as it is made (timestamps on the flow's timeline, continuity counters
continuous across the file, one muxer for all of it); ``media.mp4`` is a plain MP4 with the
``moov`` first, timed from 0, which cannot be sent before its last sample is known: it is
written to a file off the event loop, then sent with its length, and kept for the next request of
the same clip (``clip_files.py``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from catalog.errors import Invalid, NotFound
from catalog.store import Segment
from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.objects.media import MediaService
from streaming.playback.cut import Window, cut, open_source
from streaming.playback.muxers import Output, Sink
from streaming.playback.playlists import PlaylistService
from streaming.playback.remux import OUTPUT_VERSION, RemuxService, continues, first_store, is_partial, segment_window
from streaming.storage.interface import ObjectInfo, ObjectStore, StoreError

CLIP_EXTS = ("ts", "mp4")
MEDIA_SUFFIX = re.compile(r"\.(ts|m2ts|mts|mp4|m4v|m4a|m4s|mov|mxf|mkv|aac|wav)\Z", re.IGNORECASE)


@dataclass(frozen=True)
class Piece:
    object_id: str
    store: ObjectStore
    key: str
    offset: int  # where this object starts in the file
    size: int


@dataclass(frozen=True)
class VirtualFile:
    pieces: list[Piece]
    size: int
    etag: str
    content_type: str | None
    last_modified: float  # when the flow's segments last changed

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start``..``end`` (inclusive) of the whole file."""
        for piece in self.pieces:
            first, last = max(start, piece.offset), min(end, piece.offset + piece.size - 1)
            if first > last:
                continue
            async for chunk in piece.store.read(piece.key, first - piece.offset, last - piece.offset):
                yield chunk


@dataclass(frozen=True)
class Clip:
    """What a ``media.{ext}`` request exports: the flow, its segments in the window, the span."""

    flow: dict
    segments: list[Segment]
    window: TimeRange | None
    start: int  # flow ns of the first instant exported
    end: int  # flow ns just after the last
    ext: str

    @property
    def filename(self) -> str:
        """``<label or id>_<start>-<end>.<ext>``, seconds on the flow's timeline: safe in any file system."""
        label = re.sub(r"[^A-Za-z0-9._-]+", "_", self.flow.get("label") or "")
        label = MEDIA_SUFFIX.sub("", label).strip("._-")[:64]  # an ingested file's name: clip.ts -> clip_10-20.mp4
        return f"{label or self.flow['id']}_{_seconds(self.start)}-{_seconds(self.end)}.{self.ext}"

    @property
    def timerange(self) -> TimeRange:
        return TimeRange.make(self.start, self.end)

    def needs_remux(self) -> bool:
        """False when the objects back to back already are the file asked for."""
        if self.ext != "ts" or self.flow.get("container") != "video/mp2t":
            return True
        return any(is_partial(s) or s.ts_offset or s.lo < self.start or s.hi + 1 > self.end for s in self.segments)


def _seconds(ns: int) -> str:
    whole, part = divmod(ns, NS_PER_SECOND)
    return f"{whole}" if not part else f"{whole}.{part:09d}".rstrip("0")


async def plan_clip(playlists: PlaylistService, flow_id: str, window: TimeRange | None, ext: str) -> Clip:
    if ext not in CLIP_EXTS:
        raise Invalid(f"a timerange exports as media.ts or media.mp4, not media.{ext}")
    flow = await playlists.catalog.get_flow(flow_id)
    if flow is None:
        raise NotFound(f"flow {flow_id} does not exist")
    segments: list[Segment] = await playlists.segments(flow_id, window)
    if not segments:
        raise NotFound(f"flow {flow_id} has no segments in {window or '_'}")
    start, end = segments[0].lo, max(s.hi for s in segments) + 1
    if window is not None and window.lo is not None:
        start = max(start, window.lo)
    if window is not None and window.hi is not None:
        end = min(end, window.hi + 1)
    return Clip(flow, segments, window, start, end, ext)


async def virtual_file(media: MediaService, clip: Clip) -> VirtualFile:
    segments = clip.segments
    objects: list[tuple[str, tuple]] = []
    if segments[0].init_object_id:
        objects.append((segments[0].init_object_id, segments[0].init_instances))
    objects.extend((s.object_id, s.instances) for s in segments)
    sizes = await media.catalog.object_sizes([oid for oid, _ in objects])
    pieces: list[Piece] = []
    offset = 0
    digest = hashlib.sha256()
    for object_id, instances in objects:
        store, key = first_store(media, object_id, instances)
        size = sizes.get(object_id)
        if size is None:  # registered without an upload check: ask the store once
            info = await store.head(key)
            if info is None:
                raise StoreError(f"the bytes of object {object_id!r} are missing from {store.info.label}")
            size = info.size
        pieces.append(Piece(object_id, store, key, offset, size))
        digest.update(f"{object_id}:{size};".encode())
        offset += size
    return VirtualFile(pieces, offset, f'"{digest.hexdigest()[:32]}"', clip.flow.get("container"), _modified(clip))


def _modified(clip: Clip) -> float:
    updated = clip.flow.get("segments_updated")
    return datetime.fromisoformat(updated.replace("Z", "+00:00")).timestamp() if updated else 0.0


def clip_key(clip: Clip) -> str:
    """The identity of a remuxed clip file: the same segments over the same span remux to the same
    bytes (PyAV's muxers write no wall-clock time), so one made file serves every request for it,
    and Range and If-Range hold across requests (players that seek, VLC's MP4 reader, need Range)."""
    digest = hashlib.sha256(f"{OUTPUT_VERSION}|{clip.flow['id']}|{clip.timerange}|{clip.ext};".encode())
    for s in clip.segments:
        digest.update(f"{s.object_id}:{s.lo}:{s.hi}:{s.ts_offset};".encode())
    return digest.hexdigest()[:32]


def made_info(clip: Clip, key: str, size: int) -> ObjectInfo:
    """What ``ranged`` answers from for the made file of ``clip``, whose ``clip_key`` is ``key``."""
    return ObjectInfo(size, f'"{key}"', _modified(clip))


def _feed(output: Output, sink: Sink | None, data: bytes, init: bytes | None, window: Window, finish: bool) -> bytes:
    with open_source(data, init) as source:
        output.add(cut(source, window))
        if finish:
            output.close()
    return sink.take() if sink is not None else b""


def _windows(clip: Clip, zero: int) -> list[tuple[Segment, Window]]:
    """Each segment's part; audio is cut at every edge but where the next segment ``continues`` it."""
    parts = [(s, w) for s in clip.segments if (w := segment_window(s, clip.timerange, zero)) is not None]
    return [
        (
            s,
            replace(
                w,
                audio_start=n == 0 or not continues(parts[n - 1][0], s),
                audio_end=n == len(parts) - 1 or not continues(s, parts[n + 1][0]),
            ),
        )
        for n, (s, w) in enumerate(parts)
    ]


async def _remux_all(
    remux: RemuxService, clip: Clip, output: Output, sink: Sink | None, zero: int
) -> AsyncIterator[bytes]:
    """Each segment's part into ``output``, one object in memory at a time; yields what is written."""
    parts = _windows(clip, zero)
    try:
        for n, (segment, window) in enumerate(parts):
            data, init = await remux.object_bytes(segment)
            chunk = await remux.run(_feed, output, sink, data, init, window, n == len(parts) - 1)
            if chunk:
                yield chunk
    finally:
        await remux.run(output.close)  # closing twice is harmless; a client gone mid-way still frees it


async def stream_ts(remux: RemuxService, clip: Clip) -> AsyncIterator[bytes]:
    sink = Sink()
    async for chunk in _remux_all(remux, clip, Output("ts", sink), sink, 0):
        yield chunk


async def write_mp4(remux: RemuxService, clip: Clip, path: Path) -> None:
    """The clip as a plain MP4 (moov first, timed from 0) written to ``path``."""
    output = Output("mp4", path, {"comment": f"TAMS flow {clip.flow['id']} timerange {clip.timerange}"})
    async for _ in _remux_all(remux, clip, output, None, clip.start):
        pass
