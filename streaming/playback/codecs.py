"""RFC 6381 codec strings (HLS ``CODECS``, DASH ``@codecs``) from a flow document.

Only the flow's own fields are read: ``codec`` and the TAMS essence parameters that pin the string
down (H.264 ``avc_parameters`` {profile, level, flags}; AAC ``codec_parameters.mp4_oti``, the MPEG-4
audio object type: 2 for AAC-LC). Ingest probes the media and fills them in; a flow that lacks them
gets no string (None) rather than a guess, and ``missing`` names what would be needed.

``init_tracks`` reads the same strings from an fMP4 init segment's sample entries instead (``avcC``,
the AAC AudioSpecificConfig): for the tracks of a muxed flow whose document describes only one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av

# codecs whose string needs no parameters
FIXED = {"audio/ac3": "ac-3", "audio/eac3": "ec-3", "audio/opus": "opus", "audio/flac": "flac"}
MPEG4_AUDIO_OTI = 0x40  # mp4_oti given as the object type indication itself, not the audio object type


def rfc6381(flow: dict[str, Any]) -> str | None:
    """The codec string of one flow (``avc1.64001F``, ``mp4a.40.2``), or None when its metadata
    does not determine it."""
    codec = flow.get("codec")
    essence = flow.get("essence_parameters") or {}
    if codec == "video/h264":
        avc = essence.get("avc_parameters") or {}
        if not all(isinstance(avc.get(k), int) for k in ("profile", "flags", "level")):
            return None
        return f"avc1.{avc['profile']:02X}{avc['flags']:02X}{avc['level']:02X}"
    if codec == "audio/aac":
        oti = (essence.get("codec_parameters") or {}).get("mp4_oti")
        if not isinstance(oti, int) or oti <= 0 or oti == MPEG4_AUDIO_OTI:
            return None
        # an audio object type (1..63) under MPEG-4 audio; a larger value is an object type indication
        return f"mp4a.40.{oti}" if oti < MPEG4_AUDIO_OTI else f"mp4a.{oti:02X}"
    return FIXED.get(codec or "")


def missing(flow: dict[str, Any]) -> str:
    """What the flow would need for a codec string, in words a user can act on."""
    codec = flow.get("codec")
    if codec == "video/h264":
        return "essence_parameters.avc_parameters (profile, level, flags)"
    if codec == "audio/aac":
        return "essence_parameters.codec_parameters.mp4_oti (the AAC audio object type, e.g. 2 for AAC-LC)"
    if not codec:
        return "a codec"
    return f"a codec this gateway can name in RFC 6381 terms (it has no rule for {codec})"


def group_codecs(flows: list[dict[str, Any]]) -> str | None:
    """Every distinct codec string of the flows, comma-separated (a variant plus its audio group,
    RFC 8216 §4.3.4.2); None when any of them is unknown, since a partial list would be wrong."""
    names: list[str] = []
    for flow in flows:
        name = rfc6381(flow)
        if name is None:
            return None
        if name not in names:
            names.append(name)
    return ",".join(names) or None


# FFmpeg decoder names -> the codec strings that need no parameters
_FIXED_BY_DECODER = {"ac3": "ac-3", "eac3": "ec-3", "opus": "opus", "flac": "flac"}


@dataclass(frozen=True)
class TrackInfo:
    """One track of an init segment: its codec string (None: not derivable) and what an MPD states."""

    kind: str  # "video" or "audio"
    codecs: str | None
    sample_rate: int | None = None
    width: int | None = None
    height: int | None = None


def init_tracks(init: bytes) -> dict[str, TrackInfo]:
    """The first video and the first audio track an fMP4 init segment (ftyp+moov) declares."""
    found: dict[str, TrackInfo] = {}
    with av.open(io.BytesIO(init), "r", format="mp4") as media:
        for stream in media.streams:
            if stream.type not in ("video", "audio") or stream.type in found:
                continue
            extradata = bytes(stream.codec_context.extradata or b"")
            if isinstance(stream, av.VideoStream):
                video = stream.codec_context
                found["video"] = TrackInfo(
                    "video", _video_string(video.name, extradata), None, video.width, video.height
                )
            elif isinstance(stream, av.AudioStream):
                audio = stream.codec_context
                found["audio"] = TrackInfo("audio", _audio_string(audio.name, extradata), audio.sample_rate or None)
    return found


def _video_string(decoder: str, extradata: bytes) -> str | None:
    if decoder == "h264" and len(extradata) >= 4 and extradata[0] == 1:  # avcC: profile, flags, level
        return f"avc1.{extradata[1]:02X}{extradata[2]:02X}{extradata[3]:02X}"
    return _FIXED_BY_DECODER.get(decoder)


def _audio_string(decoder: str, extradata: bytes) -> str | None:
    if decoder == "aac" and len(extradata) >= 2:  # AudioSpecificConfig: 5-bit object type, 31 escapes
        aot = extradata[0] >> 3
        if aot == 31:
            aot = 32 + (((extradata[0] & 7) << 3) | (extradata[1] >> 5))
        return f"mp4a.40.{aot}" if aot else None
    return _FIXED_BY_DECODER.get(decoder)
