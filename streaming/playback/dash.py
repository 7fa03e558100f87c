"""DASH manifests for flows and sources, built from the same segment windows as the HLS playlists.

Every segment is fMP4: a flow's own fragments (with their init objects) when it is an ISO BMFF flow
with init segments, else the remux endpoint's (``remux/init.mp4`` + ``.m4s``), as for partial
segments. Static (VOD) or dynamic (live) follows the same rule as HLS (``playlists.is_vod``).

A remuxed flow whose media carries video and audio (MPEG-TS as recorded) becomes two representations,
one per AdaptationSet, each with its own track of the remux (``?track=video|audio``): DASH players
expect one media type per AdaptationSet (dash.js checks each fragment against the set's codecs, and
ffmpeg's DASH reader maps every packet of a representation to one stream). The codecs of the track
the flow document does not describe come from the remux's init segment (``RemuxService.track_codecs``).
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from catalog.errors import Invalid, NotFound
from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.playback import codecs, timeline
from streaming.playback import multivariant as variants
from streaming.playback.codecs import TrackInfo
from streaming.playback.mpd import DashSegment, Representation, mpd
from streaming.playback.playlists import PlaylistService, is_vod
from streaming.storage.interface import StoreError

TAI_OFFSET_S = 37  # TAI − UTC now, to state "now" on the TAI timeline for publishTime
# a live edge this close to now is on the wall clock (a live encoder stamps its segments with TAI now)
WALL_CLOCK_SLACK_NS = 300 * NS_PER_SECOND
TRACK_BANDWIDTH = 128_000  # a muxed track the flow has no bit rate for (the flow's rate is its own kind's)
TrackCodecs = Callable[[str], Awaitable[dict[str, TrackInfo]]]


class CodecUnknown(Exception):
    """A flow's codec string cannot be derived, and DASH players need it: ``str()`` says what is missing."""


def _unknown(flow: dict[str, Any]) -> CodecUnknown:
    return CodecUnknown(
        f"flow {flow['id']} ({flow.get('codec') or 'no codec'}) has no RFC 6381 codec string, "
        f"which DASH players need: set {codecs.missing(flow)} on the flow (ingest with "
        "probing derives it from the media)"
    )


def with_track(uri: str, kind: str) -> str:
    return f"{uri}{'&' if '?' in uri else '?'}track={kind}"


async def _remux_tracks(
    flow: dict[str, Any], exts: Sequence[str | None], locations: Sequence[Any], track_codecs: TrackCodecs | None
) -> dict[str, TrackInfo]:
    """The media types and codecs of a flow played entirely through the remux, read from its remux init
    segment; else {}. Media that cannot be read now gives {} (the segment requests will say why)."""
    remuxed = [timeline.init_key(loc, ext) for loc, ext in zip(locations, exts, strict=True)]
    if track_codecs is None or not remuxed or any(key != timeline.REMUX_INIT for key in remuxed):
        return {}
    try:
        return await track_codecs(flow["id"])
    except (StoreError, NotFound, Invalid):
        return {}


async def flow_representations(
    service: PlaylistService,
    flow: dict[str, Any],
    window: TimeRange | None,
    mode: str,
    base_url: str,
    ended: bool,
    track_codecs: TrackCodecs | None = None,
) -> list[Representation]:
    """The flow's representation, or one per track of its muxed media (see the module's docstring)."""
    locations = await service.window(flow, window, ended)
    container = flow.get("container")
    exts = [timeline.delivery(loc, container, True) for loc in locations]
    expiry = service.expiry(locations, ended)
    uris = service.segment_uris(flow, locations, exts, mode, base_url, expiry)
    inits = await service.init_uris(flow, locations, exts, mode, base_url, expiry)
    # a new Period where HLS has a discontinuity; an edit point between remuxed fragments that touch
    # in flow time is none (``timeline``), so one Period plays through it (ffmpeg's DASH reader
    # plays only one Period of an MPD)
    flags = timeline.discontinuities(locations, exts)
    essence = flow.get("essence_parameters") or {}
    own = "video" if flow.get("format") == variants.VIDEO else "audio"
    found = await _remux_tracks(flow, exts, locations, track_codecs)
    tracks = found if len(found) > 1 else {}  # one Representation per track of muxed media
    # the flow document's codec parameters first; a flow registered without them (by hand, probing
    # off) and played through the remux is named from the media, as its muxed tracks are
    name = codecs.rfc6381(flow) or (found[own].codecs if own in found else None)
    if name is None:
        raise _unknown(flow)
    derived = found.get(own)

    def segments(track: str | None) -> list[DashSegment]:
        def tagged(uri: str | None) -> str | None:
            return with_track(uri, track) if uri and track else uri

        return [
            DashSegment(
                loc.lo,
                loc.hi + 1,
                tagged(uri) or "",
                timeline.seen(loc, ext)[0],
                tagged(inits.get(timeline.init_key(loc, ext) or "")),
                flag,
            )
            for loc, ext, uri, flag in zip(locations, exts, uris, flags, strict=True)
        ]

    bandwidth = await variants.bandwidth(service.catalog, flow)
    reps = [
        Representation(
            id=flow["id"],
            content_type=own,
            bandwidth=bandwidth,
            segments=segments(own if tracks else None),
            codecs=name,
            width=essence.get("frame_width") or (derived.width if derived else None),
            height=essence.get("frame_height") or (derived.height if derived else None),
            frame_rate=variants.frame_rate(essence),
            sample_rate=essence.get("sample_rate"),
        )
    ]
    for kind, info in tracks.items():
        if kind == own:
            continue
        if info.codecs is None:
            raise CodecUnknown(f"the {kind} track muxed in flow {flow['id']} has a codec this gateway cannot name")
        reps.append(
            Representation(
                id=f"{flow['id']}-{kind}",
                content_type=kind,
                bandwidth=min(TRACK_BANDWIDTH, bandwidth),
                segments=segments(kind),
                codecs=info.codecs,
                width=info.width,
                height=info.height,
                sample_rate=info.sample_rate,
            )
        )
    return reps


async def manifest(
    service: PlaylistService,
    flows: list[dict[str, Any]],
    window: TimeRange | None,
    mode: str | None,
    base_url: str,
    kind: str | None = None,
    track_codecs: TrackCodecs | None = None,
) -> str:
    """One MPD over the given flows: static when every flow plays as VOD (``kind`` overrides)."""
    flows = [f for f in flows if f.get("format") in (variants.VIDEO, variants.AUDIO)]
    if not flows:
        raise NotFound("nothing to play: no audio or video flow with segments")
    mode = mode or service.settings.uri_mode
    ended = all(is_vod(f, window, kind) for f in flows)
    reps = [
        rep
        for f in flows
        for rep in await flow_representations(service, f, window, mode, base_url, ended, track_codecs)
    ]
    exact = time.time_ns() + TAI_OFFSET_S * NS_PER_SECOND  # the clock offset rounds from the exact time
    now_tai = exact // NS_PER_SECOND * NS_PER_SECOND
    offset = 0 if ended else clock_offset(flows, reps, exact)
    return mpd(reps, live=not ended, now_tai_ns=now_tai, clock_offset_s=offset)


def _utc_ns(stamp: str) -> int:
    """An RFC 3339 UTC time (a flow's ``created``) in integer nanoseconds since the epoch."""
    whole, _, rest = stamp.rstrip("Z").partition(".")
    moment = datetime.fromisoformat(whole).replace(tzinfo=UTC)
    return calendar.timegm(moment.timetuple()) * NS_PER_SECOND + int((rest or "0").ljust(9, "0")[:9])


def clock_offset(flows: Sequence[dict[str, Any]], reps: Sequence[Representation], now_tai_ns: int) -> int:
    """Whole seconds by which a live MPD's media time runs behind the TAI wall clock.

    DASH players place the live edge by the wall clock: a segment is available from
    availabilityStartTime + its end. A live encoder's flow is stamped with TAI now (offset 0). A flow
    whose timeline is not the wall clock (a file being ingested keeps its own times, from about 0)
    would put every segment decades in the past, outside ``timeShiftBufferDepth``: dash.js then has no
    segment at its live edge, and plays on only as far as it happened to start (the first 3 s). Its
    clock starts at the flow's start when the flow was created and runs in real time, held back to
    the last segment so it never announces one not yet registered: the same on every refresh while
    the feed keeps up, as MPD updates require (availabilityStartTime does not change)."""
    ends = [s.end_ns for rep in reps for s in rep.segments]
    if not ends or abs(now_tai_ns - max(ends)) <= WALL_CLOCK_SLACK_NS:
        return 0
    offset = now_tai_ns - max(ends)
    for flow in flows:
        start = TimeRange.parse(flow["timerange"]).start if flow.get("timerange") else None
        if start is not None and flow.get("created"):
            offset = max(offset, _utc_ns(flow["created"]) + TAI_OFFSET_S * NS_PER_SECOND - start)
    return -(-offset // NS_PER_SECOND)
