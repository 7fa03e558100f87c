"""A flow's essence parameters as the media itself states them, read with PyAV.

Only what the bitstream or the container pins down exactly goes in: H.264 profile, constraint
flags and level from the SPS (``avc_parameters``, the three bytes of an RFC 6381 ``avc1.PPCCLL``),
the AAC audio object type (``codec_parameters.mp4_oti``, the ``2`` of ``mp4a.40.2``) from the
AudioSpecificConfig or the ADTS header, frame size, frame rate as a rational, bit depth and chroma
subsampling from the pixel format, interlacing, colorimetry and aspect ratios when signalled,
sample rate, channels and samples per coded frame. A value the media leaves unspecified is left out
rather than guessed. ``fill_missing`` merges derived values under the ones a user already set.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import av

# codec context enums (libavutil pixfmt.h / avcodec.h) mapped to the TAMS video flow vocabulary
_INTERLACE = {1: "progressive", 2: "interlaced_tff", 3: "interlaced_bff"}  # AV_FIELD_PROGRESSIVE, _TT, _BB
_PRIMARIES = {1: "BT709", 5: "BT601", 6: "BT601", 9: "BT2020"}
_TRANSFER = {1: "SDR", 4: "SDR", 5: "SDR", 6: "SDR", 14: "SDR", 15: "SDR", 16: "PQ", 18: "HLG"}
_PCM_BITS = {
    "pcm_s16le": 16,
    "pcm_s16be": 16,
    "pcm_s24le": 24,
    "pcm_s24be": 24,
    "pcm_s32le": 32,
    "pcm_s32be": 32,
    "pcm_f32le": 32,
    "pcm_f32be": 32,
    "pcm_f64le": 64,
    "pcm_f64be": 64,
    "pcm_u8": 8,
}
_AAC_PROFILES = {"Main": 1, "LC": 2, "SSR": 3, "LTP": 4, "HE-AAC": 5, "HE-AACv2": 29}  # PyAV's names


def _rational(value: Fraction) -> dict[str, int]:
    return {"numerator": value.numerator, "denominator": value.denominator}


def _unescape(nal: bytes) -> bytes:
    """A NAL unit's RBSP: the emulation-prevention 0x03 after every 0x0000 removed."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _annexb_nals(data: bytes) -> list[bytes]:
    parts = data.replace(b"\x00\x00\x00\x01", b"\x00\x00\x01").split(b"\x00\x00\x01")
    return [p for p in parts if p]


def avc_parameters(extradata: bytes | None, first_packet: bytes | None = None) -> dict[str, int] | None:
    """profile_idc, the constraint-flag byte and level_idc of the first SPS: from an avcC record
    (MP4 extradata), else from Annex B extradata or the first key frame (MPEG-TS)."""
    data = extradata or b""
    if len(data) >= 4 and data[0] == 1:  # AVCDecoderConfigurationRecord, version 1
        return {"profile": data[1], "flags": data[2], "level": data[3]}
    for source in (data, first_packet or b""):
        for nal in _annexb_nals(source):
            if nal[0] & 0x1F == 7 and len(nal) >= 4:
                sps = _unescape(nal[:8])
                return {"profile": sps[1], "flags": sps[2], "level": sps[3]}
    return None


def aac_object_type(extradata: bytes | None, first_packet: bytes | None, profile: str | None) -> int | None:
    """The MPEG-4 audio object type: AudioSpecificConfig's first 5 bits (31 escapes to 32 + 6 bits),
    else the ADTS header's profile + 1, else PyAV's profile name."""
    data = extradata or b""
    if len(data) >= 2:
        kind = data[0] >> 3
        return 32 + (((data[0] & 0x07) << 3) | (data[1] >> 5)) if kind == 31 else kind
    head = first_packet or b""
    if len(head) >= 7 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS syncword, layer 0
        return (head[2] >> 6) + 1
    return _AAC_PROFILES.get(profile or "")


def video_essence(stream: av.video.stream.VideoStream, first_packet: bytes | None = None) -> dict[str, Any]:
    ctx = stream.codec_context
    essence: dict[str, Any] = {}
    if ctx.width and ctx.height:
        essence["frame_width"], essence["frame_height"] = ctx.width, ctx.height
    rate = stream.average_rate or stream.base_rate
    if rate:
        essence["frame_rate"] = _rational(Fraction(rate))
    if ctx.pix_fmt:
        fmt = av.VideoFormat(ctx.pix_fmt)
        essence["bit_depth"] = fmt.components[0].bits
        if fmt.is_rgb:
            essence["component_type"] = "RGB"
        elif len(fmt.components) >= 3:
            essence["component_type"] = "YCbCr"
            essence["horiz_chroma_subs"] = 64 // fmt.chroma_width(64)
            essence["vert_chroma_subs"] = 64 // fmt.chroma_height(64)
    if ctx.field_order in _INTERLACE:
        essence["interlace_mode"] = _INTERLACE[ctx.field_order]
    transfer = _TRANSFER.get(ctx.color_trc)
    colorspace = _PRIMARIES.get(ctx.color_primaries)
    if colorspace == "BT2020" and transfer in ("PQ", "HLG"):
        colorspace = "BT2100"
    if colorspace:
        essence["colorspace"] = colorspace
    if transfer:
        essence["transfer_characteristic"] = transfer
    sar = ctx.sample_aspect_ratio or stream.sample_aspect_ratio
    if sar and ctx.width and ctx.height:
        essence["pixel_aspect_ratio"] = _rational(Fraction(sar))
        essence["aspect_ratio"] = _rational(Fraction(ctx.width, ctx.height) * Fraction(sar))
    if ctx.name == "h264":
        avc = avc_parameters(ctx.extradata, first_packet)
        if avc:
            essence["avc_parameters"] = avc
    return essence


def audio_essence(stream: av.audio.stream.AudioStream, first_packet: bytes | None = None) -> dict[str, Any]:
    ctx = stream.codec_context
    essence: dict[str, Any] = {}
    if ctx.sample_rate:
        essence["sample_rate"] = ctx.sample_rate
    if ctx.channels:
        essence["channels"] = ctx.channels
    if ctx.name in _PCM_BITS:
        essence["bit_depth"] = _PCM_BITS[ctx.name]
    codec: dict[str, int] = {}
    if ctx.frame_size:
        codec["coded_frame_size"] = ctx.frame_size
    if ctx.name == "aac":
        oti = aac_object_type(ctx.extradata, first_packet, ctx.profile)
        if oti:
            codec["mp4_oti"] = oti
    if codec:
        essence["codec_parameters"] = codec
    return essence


def stream_essence(stream: av.stream.Stream, first_packet: bytes | None = None) -> dict[str, Any]:
    """The essence parameters a video or audio stream states ({} for other streams, or no decoder)."""
    if stream.codec_context is None:
        return {}
    if isinstance(stream, av.video.stream.VideoStream):
        return video_essence(stream, first_packet)
    if isinstance(stream, av.audio.stream.AudioStream):
        return audio_essence(stream, first_packet)
    return {}


def fill_missing(current: Mapping[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with the derived values it lacks added; nothing a user set is replaced. A flow
    marked ``vfr`` gets no frame_rate (the schema forbids both), and one with a frame_rate no vfr."""
    merged = dict(current)
    for name, value in derived.items():
        if name == "frame_rate" and current.get("vfr"):
            continue
        if name == "codec_parameters":
            mine = dict(current.get(name) or {})
            merged[name] = {**value, **mine}
        elif name not in current:  # objects such as avc_parameters go in whole or not at all
            merged[name] = value
    return merged
