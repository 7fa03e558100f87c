"""Playlists for players: which segments go in (VOD or a live window) and which URI each gets.

VOD when the requested window is closed or the flow is finished (read-only or ``closed_complete``):
every segment in the window, with presigned URLs valid for the playlist's useful life. Otherwise
live: the latest ``live_window`` segments, with a media sequence that never goes back (segments
ever added to the flow minus the window), so a refreshing player stays in step.
"""

from __future__ import annotations

import asyncio
import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote

from catalog.errors import NotFound
from catalog.store import FlowStats, Segment, SegmentLocation, SegmentQuery
from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.objects.media import MediaService
from streaming.playback.hls import media_playlist, target_duration
from streaming.playback.playlist_cache import PlaylistCache
from streaming.storage.interface import extension

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4's longest expiry
URI_MODES = ("presigned", "proxy", "redirect")
GZIP_MIN_BYTES = 16 * 1024  # smaller playlists (every live one) are sent as they are
OFF_LOOP_ENTRIES = 2000  # playlists this long are signed and rendered on a worker thread


@dataclass(frozen=True)
class PlaylistSettings:
    live_window: int = 6
    uri_mode: str = "presigned"
    page: int = 5000
    cache_bytes: int = 64 * 1024 * 1024  # finished playlists kept in memory (0: none)


@dataclass(frozen=True)
class Playlist:
    body: bytes  # the playlist, encoded once (on a worker thread for big ones), served as is
    digest: str  # SHA-256 of the body, hex: an ETag without hashing megabytes per request
    ended: bool
    max_age: int  # seconds a cache may keep it
    encoding: str | None = None  # "gzip" when the body is compressed

    @property
    def text(self) -> str:
        body = zlib.decompress(self.body, wbits=31) if self.encoding == "gzip" else self.body
        return body.decode()


def _gzipped(playlist: Playlist) -> Playlist:
    """The playlist gzip-compressed: fast level 1 (14 MiB of signed URLs → 3 MiB in ~60 ms, with the
    GIL released); a better level saves a few percent more for twice the time."""
    body = zlib.compress(playlist.body, 1, wbits=31)
    return replace(playlist, body=body, digest=hashlib.sha256(body).hexdigest(), encoding="gzip")


class PlaylistService:
    def __init__(self, media: MediaService, settings: PlaylistSettings) -> None:
        self.media = media
        self.catalog = media.catalog
        self.settings = settings
        self.cache: PlaylistCache[Playlist] = PlaylistCache(settings.cache_bytes)

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

    def uris(self, locations: Sequence[SegmentLocation], mode: str, base_url: str, expiry: int,
              suffix: str) -> list[str]:
        """Each segment's URI; presigned URLs are signed in bulk per storage backend."""
        if mode != "presigned":
            return [f"{base_url}/objects/{quote(loc.object_id, safe='')}/content{suffix}?mode={mode}"
                    for loc in locations]
        uris: list[str] = [""] * len(locations)
        stores = self.media.storage.stores
        by_store: dict[str, tuple[list[int], list[str]]] = {}
        for index, loc in enumerate(locations):
            usable = self.media.storage.readable(loc.instances)  # one policy for every reader
            if usable is not None:
                indexes, keys = by_store.setdefault(usable.store.info.id, ([], []))
                indexes.append(index)
                keys.append(usable.key)
            else:
                uris[index] = loc.external_url or (
                    f"{base_url}/objects/{quote(loc.object_id, safe='')}/content{suffix}?mode=proxy")
        for storage_id, (indexes, keys) in by_store.items():
            for n, url in zip(indexes, stores[storage_id].get_urls(keys, expiry), strict=True):
                uris[n] = url
        return uris

    async def init_uris(self, locations: Sequence[SegmentLocation], mode: str, base_url: str,
                         expiry: int) -> dict[str, str]:
        """URIs of the (few) distinct init objects, for #EXT-X-MAP."""
        ids = list(dict.fromkeys(loc.init_object_id for loc in locations if loc.init_object_id))
        uris: dict[str, str] = {}
        for init_id in ids:
            found = await self.catalog.get_object(init_id, None, 1)
            instances = found[0].instances if found else ()
            external = found[0].uncontrolled_urls[0][0] if found and found[0].uncontrolled_urls else None
            location = SegmentLocation(0, 0, init_id, None, instances, external)
            uris[init_id] = self.uris([location], mode, base_url, expiry, ".mp4")[0]
        return uris

    async def media_playlist(self, flow_id: str, window: TimeRange | None, mode: str | None,
                             base_url: str, gzip: bool = False) -> Playlist:
        """The playlist; with ``gzip``, a big finished one comes compressed (the client takes gzip)."""
        flow = await self.catalog.get_flow(flow_id)
        stats = await self.catalog.flow_stats(flow_id)
        if flow is None or stats is None:
            raise NotFound(f"flow {flow_id} does not exist")
        mode = mode or self.settings.uri_mode
        if not (self.finished(flow) or (window is not None and window.hi is not None)):
            return await self._live(flow, stats, window, mode, base_url)
        # (segments ever added, segments held) changes with every segment write: the flow's version
        key = (flow_id, str(window), mode, base_url, flow.get("container"), stats.added_total, stats.count)
        playlist = await self.cache.get_or_build(key, lambda: self._vod(flow, window, mode, base_url))
        if not gzip or len(playlist.body) < GZIP_MIN_BYTES:
            return playlist
        # the compressed copy is a cache entry of its own: built once, counted in the cache's bytes
        return await self.cache.get_or_build((*key, "gzip"), lambda: asyncio.to_thread(_gzipped, playlist))

    async def _live(self, flow: dict, stats: FlowStats, window: TimeRange | None, mode: str,
                    base_url: str) -> Playlist:
        """The latest ``live_window`` segments; the media sequence never goes back."""
        locations = await self.catalog.segment_locations(flow["id"], window, self.settings.live_window, True)
        sequence = max(0, stats.added_total - len(locations))
        return await self._build(flow, locations, mode, base_url, sequence, ended=False)

    async def _vod(self, flow: dict, window: TimeRange | None, mode: str, base_url: str) -> Playlist:
        """Every segment of the window."""
        locations = await self.catalog.segment_locations(flow["id"], window, None)
        return await self._build(flow, locations, mode, base_url, 0, ended=True)

    async def _build(self, flow: dict, locations: Sequence[SegmentLocation], mode: str, base_url: str,
                     sequence: int, ended: bool) -> Playlist:
        """Signing and rendering a day of segments is ~100 ms of CPU, so big playlists are built on
        a worker thread and the event loop keeps serving meanwhile."""
        expiry = self.expiry(locations, ended)
        init_uris = await self.init_uris(locations, mode, base_url, expiry)
        render = (flow, locations, init_uris, mode, base_url, expiry, sequence, ended)
        if len(locations) < OFF_LOOP_ENTRIES:
            return self._render(*render)
        return await asyncio.to_thread(self._render, *render)

    def _render(self, flow: dict, locations: Sequence[SegmentLocation], init_uris: dict[str, str], mode: str,
                base_url: str, expiry: int, sequence: int, ended: bool) -> Playlist:
        ext = extension(flow.get("container"))
        uris = self.uris(locations, mode, base_url, expiry, f".{ext}" if ext else "")
        init_uri = init_uris.get  # None for segments without an init object (MPEG-TS)
        entries = [(loc.lo, loc.hi + 1, uri, init_uri(loc.init_object_id))
                   for loc, uri in zip(locations, uris, strict=True)]
        target = target_duration(entries)
        text = media_playlist(entries, media_sequence=sequence, ended=ended, target=target)
        body = text.encode()
        return Playlist(body, hashlib.sha256(body).hexdigest(), ended, self._max_age(ended, mode, expiry, target))

    @staticmethod
    def finished(flow: dict) -> bool:
        """A flow that will get no more segments: its playlists are VOD."""
        return bool(flow.get("read_only")) or flow.get("status") == "closed_complete"

    def expiry(self, locations: Sequence[SegmentLocation], ended: bool) -> int:
        """Presigned URLs must outlive the playlist: a VOD player may still be fetching at its end."""
        span = (locations[-1].hi - locations[0].lo) // NS_PER_SECOND if locations else 0
        return min(MAX_PRESIGN_S, self.media.settings.presign_expiry_s + (span if ended else 0))

    @staticmethod
    def _max_age(ended: bool, mode: str, expiry: int, target: int) -> int:
        """VOD playlists are cacheable (shorter when they hold expiring URLs); live ones briefly."""
        if not ended:
            return max(1, target // 2)
        return 3600 if mode != "presigned" else min(300, expiry // 4)
