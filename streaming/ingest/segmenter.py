"""Cutting a media file into segments on key frames by remuxing (no re-encoding) with PyAV.

Each segment is an MPEG-TS object whose timestamps are the source's own (``mpegts_copyts``), so
its TAMS timerange is exact: from its first video presentation time to the next segment's first
(the last segment ends at its last frame's presentation time plus duration).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av

from catalog.timing import NS_PER_SECOND, TimeRange
from streaming.ingest.probe import probe, to_ns


@dataclass(frozen=True)
class Chunk:
    index: int
    data: bytes
    timerange: TimeRange  # on the source's timeline
    key_frame_count: int
    ts_offset: int = 0  # source time minus the object's own time, when the muxer had to shift it

    def _with_offset(self) -> Chunk:
        """Reads the written object's own first timestamp: TS cannot hold negative times, so the
        muxer may shift a segment that starts with a decode delay; ts_offset records the shift."""
        own = probe(self.data).timerange.start
        offset = 0 if own is None else (self.timerange.start or 0) - own
        return Chunk(self.index, self.data, self.timerange, self.key_frame_count, offset)


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
    with av.open(str(path)) as source:
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        video = next((s for s in streams if s.type == "video"), None)
        if video is None:
            raise ValueError("segmenting needs a video stream to cut on its key frames")
        writer: _Writer | None = None
        index = 0
        last_end = 0
        for packet in source.demux(streams):
            if packet.size == 0 or (packet.dts is None and packet.pts is None):
                continue  # flush packets carry no data
            is_video = packet.stream_index == video.index
            if is_video and packet.pts is not None:
                start_ns = to_ns(packet.pts, video.time_base)
                cut_here = packet.is_keyframe and (
                    writer is None or writer.first_ns is None or start_ns - writer.first_ns >= target_ns)
                if cut_here and writer is not None and writer.first_ns is not None:
                    yield Chunk(index, writer.close(), TimeRange.make(writer.first_ns, start_ns),
                                writer.key_frames)._with_offset()
                    index += 1
                    writer = None
                if writer is None:
                    writer = _Writer(streams)
                if writer.first_ns is None or start_ns < writer.first_ns:
                    writer.first_ns = start_ns
                writer.key_frames += int(bool(packet.is_keyframe))
                last_end = max(last_end, to_ns(packet.pts + (packet.duration or 0), video.time_base))
            if writer is None:
                continue  # audio before the first video key frame has no segment to go in
            writer.mux(packet)
        if writer is not None and writer.first_ns is not None:
            final = Chunk(index, writer.close(), TimeRange.make(writer.first_ns, last_end), writer.key_frames)
            yield final._with_offset()
