"""DASH manifests for flows and sources, built from the same segment windows as the HLS playlists."""

from __future__ import annotations

import time
from typing import Any

from catalog.errors import NotFound
from catalog.timing import TimeRange
from streaming.playback import multivariant as variants
from streaming.playback.mpd import DashSegment, Representation, mpd
from streaming.playback.playlists import PlaylistService
from streaming.storage.interface import extension

AUDIO_MIME = {"audio/aac": "audio/mp4"}
TAI_OFFSET_S = 37  # TAI − UTC now, to state "now" on the TAI timeline for publishTime


async def flow_representation(service: PlaylistService, flow: dict[str, Any], window: TimeRange | None,
                              mode: str, base_url: str, ended: bool) -> Representation:
    if ended:
        locations = await service.catalog.segment_locations(flow["id"], window, None)
    else:
        locations = await service.catalog.segment_locations(flow["id"], window, service.settings.live_window, True)
    expiry = service.expiry(locations, ended)
    ext = extension(flow.get("container"))
    uris = service.uris(locations, mode, base_url, expiry, f".{ext}" if ext else "")
    inits = await service.init_uris(locations, mode, base_url, expiry)
    essence = flow.get("essence_parameters") or {}
    kind = "video" if flow.get("format") == variants.VIDEO else "audio"
    return Representation(
        id=flow["id"], content_type=kind,
        mime_type="video/mp4" if kind == "video" else AUDIO_MIME.get(flow.get("codec", ""), "audio/mp4"),
        bandwidth=await variants.bandwidth(service.catalog, flow),
        segments=[DashSegment(loc.lo, loc.hi + 1, uri) for loc, uri in zip(locations, uris, strict=True)],
        init_uri=next(iter(inits.values()), None), codecs=variants.rfc6381(flow),
        width=essence.get("frame_width"), height=essence.get("frame_height"),
        frame_rate=variants.frame_rate(essence), sample_rate=essence.get("sample_rate"),
    )


async def manifest(service: PlaylistService, flows: list[dict[str, Any]], window: TimeRange | None,
                   mode: str | None, base_url: str) -> str:
    """One MPD over the given flows: static when the window is closed or every flow is finished."""
    if not flows:
        raise NotFound("nothing to play: no audio or video flow with segments")
    mode = mode or service.settings.uri_mode
    ended = (window is not None and window.hi is not None) or all(service.finished(f) for f in flows)
    reps = [await flow_representation(service, f, window, mode, base_url, ended) for f in flows
            if f.get("format") in (variants.VIDEO, variants.AUDIO)]
    now_tai = (time.time_ns() // 1_000_000_000 + TAI_OFFSET_S) * 1_000_000_000
    return mpd(reps, live=not ended, now_tai_ns=now_tai)
