"""HLS multivariant playlists for a source: its video flows as variants, its audio flows as renditions.

Attributes come from flow metadata: BANDWIDTH / AVERAGE-BANDWIDTH from ``max_bit_rate`` /
``avg_bit_rate`` (kbit/s), else measured from the sizes and durations of the flow's latest
segments; RESOLUTION and FRAME-RATE from ``essence_parameters``; CODECS (RFC 6381, ``codecs.py``)
lists the variant's codec, the codecs of the other tracks muxed in its media (an MPEG-TS flow's audio,
read from the media) and every codec of its audio group (RFC 8216 §4.3.4.2), and is omitted
rather than guessed or left incomplete when any of them is unknown. Query options of the
multivariant playlist (timerange, uris, type, container) are passed on to every media playlist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from catalog.errors import Invalid, NotFound
from catalog.store import AccessFilter, Documents, FlowQuery, Playback, SegmentQuery, Segments
from catalog.vocabulary import AUDIO, VIDEO
from streaming.playback.codecs import TrackInfo, group_codecs, rfc6381
from streaming.storage.interface import StoreError

TrackCodecs = Callable[[str], Awaitable[dict[str, TrackInfo]]]
SAMPLE = 10  # segments used to measure a bit rate the metadata does not give


async def measured_bandwidth(catalog: Segments, flow_id: str) -> int | None:
    """Bits per second over the flow's latest segments, from their objects' recorded sizes."""
    page = await catalog.query_segments(flow_id, SegmentQuery(reverse=True), None, SAMPLE)
    if not page.items:
        return None
    sizes = await catalog.object_sizes([s.object_id for s in page.items])
    known = [(sizes[s.object_id], s.hi - s.lo + 1) for s in page.items if s.object_id in sizes]
    duration = sum(d for _, d in known)
    return int(sum(b for b, _ in known) * 8 * 1_000_000_000 / duration) if duration else None


async def source_flows(catalog: Documents, source_id: str, access: AccessFilter | None = None) -> list[dict[str, Any]]:
    """The flows with segments that play a source: its own, and those its multi flows collect
    (only those ``access`` admits)."""
    own: list[dict[str, Any]] = []
    page_key: str | None = None
    while True:
        page = await catalog.list_flows(FlowQuery(source_id=source_id, sort_by="label"), page_key, 1000, access)
        own.extend(page.items)
        if page.next_key is None:
            break
        page_key = page.next_key
    # a multi source's flows collect the renditions (video and audio flows of other sources)
    collected = [item["id"] for flow in own for item in flow.get("flow_collection") or []]
    members = [f for f in [await catalog.get_flow(fid) for fid in dict.fromkeys(collected)] if f]
    members = [f for f in members if access is None or access.admits(f.get("tags"))]
    return [f for f in {f["id"]: f for f in own + members}.values() if f.get("container")]


async def bandwidth(catalog: Segments, flow: dict[str, Any]) -> int:
    """Peak bits per second: max_bit_rate, else avg_bit_rate, else measured, else 1 (unknown)."""
    rate = flow.get("max_bit_rate") or flow.get("avg_bit_rate")
    if rate:
        return rate * 1000
    return await measured_bandwidth(catalog, flow["id"]) or 1


def frame_rate(essence: dict[str, Any]) -> str | None:
    rate = essence.get("frame_rate")
    if not rate:
        return None
    return f"{rate['numerator'] / rate.get('denominator', 1):.3f}"


async def media_codecs(flow: dict[str, Any], track_codecs: TrackCodecs | None) -> dict[str, str | None] | None:
    """The codec of each track of an MPEG-TS flow's media (its video and the audio muxed with it, as
    recorded), read from the media itself (the remux's init segment, ``RemuxService.track_codecs``);
    {} when there is nothing to ask (no media yet, or not MPEG-TS), None when it cannot be read."""
    if track_codecs is None or flow.get("container") != "video/mp2t":
        return {}
    try:
        tracks = await track_codecs(flow["id"])
    except NotFound:  # no segments yet: no media to name
        return {}
    except (StoreError, Invalid):
        return None
    return {kind: info.codecs for kind, info in tracks.items()}


async def multivariant(
    catalog: Playback,
    source_id: str,
    variant_uri: str,
    track_codecs: TrackCodecs | None = None,
    access: AccessFilter | None = None,
) -> str | None:
    """The playlist text, or None when the source has no playable flow.

    ``variant_uri`` is a format string with ``{flow_id}`` for each flow's media playlist URI;
    ``track_codecs`` names the tracks of a flow's media (see ``media_codecs``).
    """
    flows = await source_flows(catalog, source_id, access)
    videos = [f for f in flows if f.get("format") == VIDEO]
    audios = [f for f in flows if f.get("format") == AUDIO]
    if not videos and not audios:
        return None
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for index, audio in enumerate(audios):
        name = (audio.get("label") or f"audio {index + 1}").replace('"', "'")
        default = "YES" if index == 0 else "NO"
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="{name}",DEFAULT={default},'
            f'AUTOSELECT=YES,URI="{variant_uri.format(flow_id=audio["id"])}"'
        )
    group = audios if videos else []  # audio-only: each audio flow is a variant of its own
    for video in videos or audios:
        attributes = await _variant_attributes(catalog, video, group, await media_codecs(video, track_codecs))
        lines.append("#EXT-X-STREAM-INF:" + ",".join(attributes))
        lines.append(variant_uri.format(flow_id=video["id"]))
    return "\n".join(lines) + "\n"


async def _variant_attributes(
    catalog: Segments,
    flow: dict[str, Any],
    audio_group: list[dict[str, Any]],
    tracks: dict[str, str | None] | None,
) -> Sequence[str]:
    essence = flow.get("essence_parameters") or {}
    average = flow.get("avg_bit_rate")
    attributes = [f"BANDWIDTH={await bandwidth(catalog, flow)}"]
    if average:
        attributes.append(f"AVERAGE-BANDWIDTH={average * 1000}")
    if essence.get("frame_width") and essence.get("frame_height"):
        attributes.append(f"RESOLUTION={essence['frame_width']}x{essence['frame_height']}")
    if rate := frame_rate(essence):
        attributes.append(f"FRAME-RATE={rate}")
    if names := _all_codecs(flow, audio_group, tracks):
        attributes.append(f'CODECS="{",".join(names)}"')
    if audio_group:
        attributes.append('AUDIO="audio"')
    return attributes


def _all_codecs(
    flow: dict[str, Any], audio_group: list[dict[str, Any]], tracks: dict[str, str | None] | None
) -> list[str] | None:
    """Every codec of the variant (RFC 8216 §4.3.4.2): its own (the flow document's, else its media's),
    its audio group's, the other tracks muxed in its media; None when any is unknown (a partial
    list would be wrong, so CODECS is left out)."""
    if tracks is None:
        return None
    kind = "video" if flow.get("format") == VIDEO else "audio"
    own = rfc6381(flow) or tracks.get(kind)
    group = group_codecs(audio_group) if audio_group else ""
    others = [name for other, name in tracks.items() if other != kind]
    named = [name for name in others if name is not None]
    if own is None or group is None or len(named) < len(others):
        return None
    return list(dict.fromkeys([own, *(group.split(",") if group else []), *named]))
