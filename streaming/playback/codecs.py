"""RFC 6381 codec strings (HLS ``CODECS``, DASH ``@codecs``) from a flow document.

Only the flow's own fields are read: ``codec`` and the TAMS essence parameters that pin the string
down (H.264 ``avc_parameters`` {profile, level, flags}; AAC ``codec_parameters.mp4_oti``, the MPEG-4
audio object type: 2 for AAC-LC). Ingest probes the media and fills them in; a flow that lacks them
gets no string (None) rather than a guess, and ``missing`` names what would be needed.
"""

from __future__ import annotations

from typing import Any

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
