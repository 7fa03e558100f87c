"""Media probing with PyAV: container, codecs, exact timing and key frames of an object's bytes.

Timestamps are exact: ``pts × time_base`` is a Fraction, turned into integer nanoseconds once.
Probing reads packets only (no decoding), so it is fast; it blocks, so async callers run it in a
thread.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

import av

from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.ingest.essence import stream_essence

CODEC_MIME = {
    "h264": "video/h264",
    "hevc": "video/h265",
    "mpeg2video": "video/mpeg2",
    "aac": "audio/aac",
    "mp2": "audio/mpeg",
    "mp3": "audio/mpeg",
    "av1": "video/av1",
    "vp9": "video/vp9",
    "opus": "audio/opus",
    "ac3": "audio/ac3",
    "pcm_s16le": "audio/L16",
    "mjpeg": "video/jpeg",
}
CONTAINER_MIME = {
    "mpegts": "video/mp2t",
    "mov,mp4,m4a,3gp,3g2,mj2": "video/mp4",
    "matroska,webm": "video/x-matroska",
    "mxf": "application/mxf",
}


def to_ns(value: int, time_base: Fraction) -> int:
    """Exact conversion of a stream timestamp to nanoseconds (rounded only below 1 ns)."""
    return round(Fraction(value) * time_base * NS_PER_SECOND)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video", "audio", ...
    codec: str
    mime: str | None
    time_base: Fraction
    frame_rate: Fraction | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    essence: dict[str, Any] = field(default_factory=dict)  # TAMS essence_parameters the media states


@dataclass(frozen=True)
class ProbeResult:
    container: str
    container_mime: str | None
    streams: list[StreamInfo]
    timerange: TimeRange  # presentation time of the main stream: first pts to last pts + duration
    key_frame_count: int
    starts_with_key_frame: bool
    packet_count: int

    @property
    def duration_ns(self) -> int:
        return self.timerange.length_ns() or 0

    @property
    def main(self) -> StreamInfo:
        return next((s for s in self.streams if s.kind == "video"), self.streams[0])

    def first(self, kind: str) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == kind), None)


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    ctx = stream.codec_context
    codec = ctx.name if ctx is not None else "unknown"
    rate = stream.average_rate if stream.type == "video" else None
    if stream.time_base is None:  # a demuxed stream always has one; without it no timestamp means anything
        raise ValueError(f"stream {stream.index} has no time base")
    return StreamInfo(
        index=stream.index,
        kind=stream.type,
        codec=codec,
        mime=CODEC_MIME.get(codec),
        time_base=Fraction(stream.time_base),
        frame_rate=Fraction(rate) if rate else None,
        width=getattr(ctx, "width", None) or None if stream.type == "video" else None,
        height=getattr(ctx, "height", None) or None if stream.type == "video" else None,
        sample_rate=getattr(ctx, "sample_rate", None) if stream.type == "audio" else None,
        channels=getattr(ctx, "channels", None) if stream.type == "audio" else None,
    )


def probe(source: str | Path | bytes | BinaryIO) -> ProbeResult:
    """Reads every packet of ``source`` (a path, bytes or a file object) and reports its timing."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    with av.open(source if not isinstance(source, Path) else str(source), "r") as container:
        media = [s for s in container.streams if s.type in ("video", "audio")]
        streams = [_stream_info(s) for s in media]
        if not streams:
            raise ValueError("no audio or video stream in the media")
        main = next((s for s in streams if s.kind == "video"), streams[0])
        first: int | None = None
        end: int | None = None
        key_frames = packets = 0
        starts_with_key = False
        heads: dict[int, bytes] = {}  # each stream's first (video: first key frame) packet, for its parameters
        for packet in container.demux(media):
            if packet.pts is None or packet.size == 0:
                continue
            if packet.stream_index not in heads and (packet.is_keyframe or packet.stream.type != "video"):
                heads[packet.stream_index] = bytes(packet)
            if packet.stream_index != main.index:
                continue
            packets += 1
            start_ns = to_ns(packet.pts, main.time_base)
            end_ns = to_ns(packet.pts + (packet.duration or 0), main.time_base)
            if first is None or start_ns < first:
                starts_with_key = bool(packet.is_keyframe) if first is None else starts_with_key
                first = start_ns
            end = end_ns if end is None else max(end, end_ns)
            key_frames += int(bool(packet.is_keyframe))
        if first is None or end is None:
            raise ValueError("the media has no timed packets")
        streams = [
            replace(info, essence=stream_essence(s, heads.get(s.index))) for info, s in zip(streams, media, strict=True)
        ]
        name = container.format.name
        return ProbeResult(
            name, CONTAINER_MIME.get(name), streams, TimeRange.make(first, end), key_frames, starts_with_key, packets
        )
