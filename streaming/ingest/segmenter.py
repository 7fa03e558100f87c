"""Cutting a media file into segments on key frames by remuxing (no re-encoding) with PyAV.

Every segment is an MPEG-TS object, whatever the input's container (an MP4's H.264 goes to Annex B
and its AAC to ADTS, as MPEG-TS carries them): MPEG-TS is what every HLS player takes and needs no
init segment, and the gateway remuxes it to fMP4 where a client needs that.

Timestamps are the source's own (``mpegts_copyts``), unwrapped to one monotonic timeline
(``timeline``), so a segment's TAMS timerange is exact: from its first video presentation time to
the next segment's first (the last segment ends at its last frame's presentation time plus
duration). A source that starts with negative decode times is shifted as a whole before muxing;
``ts_offset`` records the shift. Audio timed before a segment's first video frame goes to the segment
before, even when the source sends it after that frame (ffmpeg's muxer sends audio up to 0.7 s late):
a segment's clock reference (its first PCR) comes with its first frame, and audio ahead of it is
"later than the PCR" to a reader (VLC). The first segment keeps its audio from its first frame on.
Continuity counters carry on from segment to segment
(``continuity``), so the segments of a flow played in order are one clean transport stream.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.ingest.continuity import ContinuityCounters
from streaming.ingest.probe import probe, to_ns
from streaming.ingest.timeline import Timeline, open_source, start_shift, wraps


@dataclass(frozen=True)
class Chunk:
    index: int
    data: bytes
    timerange: TimeRange  # on the source's (unwrapped) timeline: flow time
    key_frame_count: int
    ts_offset: int = 0  # flow time minus the object's own media time

    def _with_offset(self) -> Chunk:
        """The object's own media time is what a reader of the object alone (PyAV, ffmpeg) sees:
        the source time plus the start shift, modulo 2^33 ticks for MPEG-TS (libavformat reads an
        object starting just before a wrap as negative times). ts_offset maps it back."""
        own = probe(self.data).timerange.start
        offset = 0 if own is None else (self.timerange.start or 0) - own
        return Chunk(self.index, self.data, self.timerange, self.key_frame_count, offset)


def _time_ns(packet: av.Packet) -> int:
    """The packet's presentation time (else its decode time) in ns."""
    value = packet.pts if packet.pts is not None else packet.dts
    return to_ns(value if value is not None else 0, packet.time_base)


class _Writer:
    """One in-memory MPEG-TS output with copies of the source streams."""

    def __init__(self, sources: list[av.stream.Stream]) -> None:
        self.buffer = io.BytesIO()
        self.container = av.open(self.buffer, "w", format="mpegts", options={"mpegts_copyts": "1"})
        self.streams = {s.index: self.container.add_stream_from_template(s) for s in sources}
        self.first_ns: int | None = None
        self.key_frames = 0

    def mux(self, packet: av.Packet) -> None:
        packet.stream = self.streams[packet.stream_index]
        self.container.mux(packet)

    def close(self) -> bytes:
        self.container.close()
        return self.buffer.getvalue()


def cut(path: Path | str, segment_seconds: float = 2.0) -> Iterator[Chunk]:
    """Yields segments of at least ``segment_seconds``, each starting on a video key frame."""
    target_ns = int(segment_seconds * NS_PER_SECOND)
    shift = start_shift(path)
    counters = ContinuityCounters()
    with open_source(path) as source:
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        video = next((s for s in streams if s.type == "video"), None)
        if video is None or video.time_base is None:
            raise ValueError("segmenting needs a video stream to cut on its key frames")
        timeline = Timeline(wraps(source), shift)

        def chunk(writer: _Writer, end_ns: int) -> Chunk:
            assert writer.first_ns is not None
            data = counters.rewrite(writer.close())
            return Chunk(index, data, TimeRange.make(writer.first_ns, end_ns), writer.key_frames)._with_offset()

        writer: _Writer | None = None
        closing: tuple[_Writer, int] | None = None  # the previous segment, open for its late audio
        behind: set[int] = set()  # the non-video streams that have not yet reached the current segment
        early: list[av.Packet] = []
        index = 0
        last_end = 0
        for packet in source.demux(streams):
            if packet.size == 0 or (packet.dts is None and packet.pts is None):
                continue  # flush packets carry no data
            timeline.source_times(packet)
            is_video = packet.stream_index == video.index
            if is_video and packet.pts is not None:
                start_ns = to_ns(packet.pts, video.time_base)
                cut_here = packet.is_keyframe and (
                    writer is None or writer.first_ns is None or start_ns - writer.first_ns >= target_ns
                )
                if cut_here and writer is not None and writer.first_ns is not None:
                    if closing is not None:
                        yield chunk(*closing)
                        index += 1
                    closing, behind = (writer, start_ns), {s.index for s in streams if s is not video}
                    writer = None
                if writer is None:
                    writer = _Writer(streams)
                if writer.first_ns is None or start_ns < writer.first_ns:
                    writer.first_ns = start_ns
                writer.key_frames += int(bool(packet.is_keyframe))
                last_end = max(last_end, to_ns(packet.pts + (packet.duration or 0), video.time_base))
            if writer is None:
                early.append(packet)  # audio muxed ahead of the first video frame: kept from its time on
                continue
            first_ns = writer.first_ns
            if not is_video and first_ns is not None:
                # audio timed before the segment's first frame, muxed after it, is the previous segment's
                # (the first segment has none: kept from its first frame on, as ``early``): a segment
                # that started with it would have audio ahead of its clock reference (its first PCR)
                if _time_ns(packet) < first_ns:
                    if closing is not None:
                        timeline.object_times(packet)
                        closing[0].mux(packet)
                    continue
                behind.discard(packet.stream_index)
            if closing is not None and not behind:
                yield chunk(*closing)
                index += 1
                closing = None
            timeline.object_times(packet)
            writer.mux(packet)
            for ahead in early if first_ns is not None else ():
                if first_ns is not None and _time_ns(ahead) >= first_ns:
                    timeline.object_times(ahead)
                    writer.mux(ahead)
            early = []
        if closing is not None:
            yield chunk(*closing)
            index += 1
        if writer is not None and writer.first_ns is not None:
            yield chunk(writer, last_end)
