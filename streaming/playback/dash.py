"""DASH manifests for flows and sources, built from the same segment windows as the HLS playlists.

Every segment is fMP4: a flow's own fragments (with their init objects) when it is an ISO BMFF flow
with init segments, else the remux endpoint's (``remux/init.mp4`` + ``.m4s``), as for partial
segments. Static (VOD) or dynamic (live) follows the same rule as HLS (``playlists.is_vod``).
"""

from __future__ import annotations

import time
from typing import Any

from catalog.errors import NotFound
from catalog.timing import TimeRange
from streaming.playback import codecs, timeline
from streaming.playback import multivariant as variants
from streaming.playback.mpd import DashSegment, Representation, mpd
from streaming.playback.playlists import PlaylistService, is_vod

TAI_OFFSET_S = 37  # TAI − UTC now, to state "now" on the TAI timeline for publishTime


class CodecUnknown(Exception):
    """A flow's codec string cannot be derived, and DASH players need it: ``str()`` says what is missing."""


async def flow_representation(
    service: PlaylistService, flow: dict[str, Any], window: TimeRange | None, mode: str, base_url: str, ended: bool
) -> Representation:
    name = codecs.rfc6381(flow)
    if name is None:
        raise CodecUnknown(
            f"flow {flow['id']} ({flow.get('codec') or 'no codec'}) has no RFC 6381 codec string, "
            f"which DASH players need: set {codecs.missing(flow)} on the flow (ingest with "
            "probing derives it from the media)"
        )
    locations = await service.window(flow, window, ended)
    container = flow.get("container")
    exts = [timeline.delivery(loc, container, True) for loc in locations]
    expiry = service.expiry(locations, ended)
    uris = service.segment_uris(flow, locations, exts, mode, base_url, expiry)
    inits = await service.init_uris(flow, locations, exts, mode, base_url, expiry)
    flags = timeline.discontinuities(locations, exts)
    essence = flow.get("essence_parameters") or {}
    segments = [
        DashSegment(
            loc.lo, loc.hi + 1, uri, timeline.seen(loc, ext)[0], inits.get(timeline.init_key(loc, ext) or ""), flag
        )
        for loc, ext, uri, flag in zip(locations, exts, uris, flags, strict=True)
    ]
    return Representation(
        id=flow["id"],
        content_type="video" if flow.get("format") == variants.VIDEO else "audio",
        bandwidth=await variants.bandwidth(service.catalog, flow),
        segments=segments,
        codecs=name,
        width=essence.get("frame_width"),
        height=essence.get("frame_height"),
        frame_rate=variants.frame_rate(essence),
        sample_rate=essence.get("sample_rate"),
    )


async def manifest(
    service: PlaylistService,
    flows: list[dict[str, Any]],
    window: TimeRange | None,
    mode: str | None,
    base_url: str,
    kind: str | None = None,
) -> str:
    """One MPD over the given flows: static when every flow plays as VOD (``kind`` overrides)."""
    flows = [f for f in flows if f.get("format") in (variants.VIDEO, variants.AUDIO)]
    if not flows:
        raise NotFound("nothing to play: no audio or video flow with segments")
    mode = mode or service.settings.uri_mode
    ended = all(is_vod(f, window, kind) for f in flows)
    reps = [await flow_representation(service, f, window, mode, base_url, ended) for f in flows]
    now_tai = (time.time_ns() // 1_000_000_000 + TAI_OFFSET_S) * 1_000_000_000
    return mpd(reps, live=not ended, now_tai_ns=now_tai)
