"""Playlists for players: which segments go in (VOD or a live window) and which URI each gets.

VOD when the requested window is closed or the flow is finished (read-only or ``closed_complete``):
every segment in the window, with presigned URLs valid for the playlist's useful life. Otherwise
live: the latest ``live_window`` segments, with a media sequence that never goes back (segments
ever added to the flow minus the window), so a refreshing player stays in step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from catalog.errors import NotFound
from catalog.store import Segment, SegmentQuery
from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.backends import extension
from streaming.hls import PlaylistEntry, media_playlist, target_duration
from streaming.media import MediaService

MAX_PRESIGN_S = 7 * 24 * 3600  # SigV4's longest expiry
URI_MODES = ("presigned", "proxy", "redirect")


@dataclass(frozen=True)
class PlaylistSettings:
    live_window: int = 6
    uri_mode: str = "presigned"
    page: int = 5000


@dataclass(frozen=True)
class Playlist:
    text: str
    ended: bool
    max_age: int  # seconds a cache may keep it


class PlaylistService:
    def __init__(self, media: MediaService, settings: PlaylistSettings) -> None:
        self.media = media
        self.catalog = media.catalog
        self.settings = settings

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

    def _uri(self, object_id: str, instances: Sequence, uncontrolled: Sequence[tuple[str, str]], mode: str,
             base_url: str, expiry: int, suffix: str = "") -> str:
        if mode != "presigned":
            return f"{base_url}/objects/{quote(object_id, safe='')}/content{suffix}?mode={mode}"
        storage = self.media.storage
        for instance in instances:
            store = storage.get(instance.storage_id)
            if store is not None:
                return store.get_url(instance.key, expiry)
        if uncontrolled:
            return uncontrolled[0][0]
        return f"{base_url}/objects/{quote(object_id, safe='')}/content{suffix}?mode=proxy"

    async def media_playlist(self, flow_id: str, window: TimeRange | None, mode: str | None,
                             base_url: str) -> Playlist:
        flow = await self.catalog.get_flow(flow_id)
        stats = await self.catalog.flow_stats(flow_id)
        if flow is None or stats is None:
            raise NotFound(f"flow {flow_id} does not exist")
        mode = mode or self.settings.uri_mode
        ended = bool(flow.get("read_only")) or flow.get("status") == "closed_complete" or (
            window is not None and window.hi is not None)
        if ended:
            segments = await self.segments(flow_id, window)
            sequence = 0
        else:
            page = await self.catalog.query_segments(flow_id, SegmentQuery(window, reverse=True), None,
                                                     self.settings.live_window)
            segments = page.items[::-1]
            sequence = max(0, stats.added_total - len(segments))
        bounds = [s.range() for s in segments]
        span = (bounds[-1].hi - bounds[0].lo) // NS_PER_SECOND if bounds else 0
        # presigned URLs must outlive the playlist: a VOD player may still be fetching at its end
        expiry = min(MAX_PRESIGN_S, self.media.settings.presign_expiry_s + (span if ended else 0))
        ext = extension(flow.get("container"))
        suffix = f".{ext}" if ext else ""
        entries = [
            PlaylistEntry(
                b.lo, b.hi + 1,
                self._uri(s.object_id, s.instances, s.uncontrolled_urls, mode, base_url, expiry, suffix),
                self._uri(s.init_object_id, s.init_instances, s.init_uncontrolled_urls, mode, base_url, expiry,
                          ".mp4") if s.init_object_id else None,
            )
            for s, b in zip(segments, bounds, strict=True)
        ]
        target = target_duration(entries)
        text = media_playlist(entries, media_sequence=sequence, ended=ended, target=target)
        return Playlist(text, ended, self._max_age(ended, mode, expiry, target))

    @staticmethod
    def _max_age(ended: bool, mode: str, expiry: int, target: int) -> int:
        """VOD playlists are cacheable (shorter when they hold expiring URLs); live ones briefly."""
        if not ended:
            return max(1, target // 2)
        return 3600 if mode != "presigned" else min(300, expiry // 4)
