"""A flow's timerange as one seekable file: its segments' objects back to back, read lazily.

The file is virtual: its length is the sum of the objects' sizes (recorded at registration), and a
byte range is mapped onto the objects it spans, which are read through the pooled store clients and
streamed without holding any object in memory. For fMP4 flows the init segment comes first.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from catalog.errors import NotFound
from catalog.store import Instance, Segment
from catalog.timing import TimeRange
from streaming.objects.media import MediaService
from streaming.playback.playlists import PlaylistService
from streaming.storage.interface import ObjectStore, StoreError


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


async def timerange_file(media: MediaService, playlists: PlaylistService, flow_id: str,
                         window: TimeRange | None) -> VirtualFile:
    flow = await media.catalog.get_flow(flow_id)
    if flow is None:
        raise NotFound(f"flow {flow_id} does not exist")
    segments: list[Segment] = await playlists.segments(flow_id, window)
    if not segments:
        raise NotFound(f"flow {flow_id} has no segments in {window or '_'}")
    objects: list[tuple[str, tuple[Instance, ...]]] = []
    if segments[0].init_object_id:
        objects.append((segments[0].init_object_id, segments[0].init_instances))
    objects.extend((s.object_id, s.instances) for s in segments)
    sizes = await media.catalog.object_sizes([oid for oid, _ in objects])
    pieces: list[Piece] = []
    offset = 0
    digest = hashlib.sha256()
    for object_id, instances in objects:
        store, key = _first_store(media, object_id, instances)
        size = sizes.get(object_id)
        if size is None:  # registered without an upload check: ask the store once
            info = await store.head(key)
            if info is None:
                raise StoreError(f"the bytes of object {object_id!r} are missing from {store.info.label}")
            size = info.size
        pieces.append(Piece(object_id, store, key, offset, size))
        digest.update(f"{object_id}:{size};".encode())
        offset += size
    updated = flow.get("segments_updated")
    modified = datetime.fromisoformat(updated.replace("Z", "+00:00")).timestamp() if updated else 0.0
    return VirtualFile(pieces, offset, f'"{digest.hexdigest()[:32]}"', flow.get("container"), modified)


def _first_store(media: MediaService, object_id: str, instances: tuple[Instance, ...]) -> tuple[ObjectStore, str]:
    replica = media.storage.readable(instances)
    if replica is None:
        raise NotFound(f"object {object_id!r} has no bytes on this gateway's storage backends")
    return replica
