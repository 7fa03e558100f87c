"""The used part of one media object, as packets ready to mux (no container written here).

A segment may use only part of its object (TAMS: ``object_timerange`` wider than ``timerange -
ts_offset``; ``sample_offset``/``sample_count``), and a clip may start or end inside a segment.
The rule at a cut, in presentation time on the object's own timeline, half-open ``[start, end)``:

* video: whole GOPs inside the window are copied as they are (no re-encode); a GOP the cut
  falls inside is decoded from its key frame and the frames inside the window are re-encoded
  (the first as a key frame, no B-frames), so the first frame shown is exactly the first frame
  at or after ``start`` and the last is the last one before ``end``, in every player (no player
  has to honour an edit list or hidden leading frames). Codecs without an encoder here fall
  back to copying from the previous key frame (leading frames shown: up to one GOP early).
* audio: every frame is a sync sample, so frames whose start lies in the window are copied: the
  cut is exact to one audio frame (1024 samples, 21.3 ms at 48 kHz). Audio the object does not hold at a
  cut side (a muxer puts an object's first few audio frames at the end of the object before it)
  is filled with silent frames, whole ones, up to the window's edge: each piece leaves less than
  a frame of silence at either edge, so an edit's audio runs the flow's whole duration.

A side of the object that is not cut (the window reaches its first or last video frame) keeps
every packet on that side, including audio the muxer interleaved past the video, so consecutive
objects of one recording still play back to back without a gap. Where such a side meets another
object's media (an edit point, or the start and end of a clip) the caller asks for the audio to be
cut there too (``audio_start``/``audio_end``), so audio never overlaps across an edit.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import av
from av.audio.codeccontext import AudioCodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from catalog.timing import NS_PER_SECOND

ENCODERS = {"h264": "libx264", "hevc": "libx265"}  # decoders' names -> the encoder used at a cut
X264_PROFILES = {"constrained baseline": "baseline", "baseline": "baseline", "main": "main", "high": "high"}


@dataclass(frozen=True)
class Window:
    """What to take from an object: ``[start, end)`` ns on its own timeline (None: that end of
    the object), and ``shift`` ns added to every timestamp (ts_offset; minus a clip's start)."""

    start: int | None = None
    end: int | None = None
    shift: int = 0
    audio_start: bool = False  # cut the audio at start/end even where the window holds every video
    audio_end: bool = False  # frame on that side (an edit point: the next audio is another object's)


@dataclass
class Track:
    """One stream of the cut: the source stream's parameters and its packets in decode order."""

    kind: str  # "video" or "audio"
    codec: str
    time_base: Fraction
    sample_rate: int | None
    extradata: bytes | None
    template: av.stream.Stream  # for the output stream's parameters (valid until the source closes)
    packets: list[av.Packet] = field(default_factory=list)
    reencoded: int = 0  # frames re-encoded at cuts


def pts(packet: av.Packet) -> int:
    """A kept packet's presentation time: ``cut`` keeps only packets that have one (and a dts)."""
    assert packet.pts is not None
    return packet.pts


def dts(packet: av.Packet) -> int:
    assert packet.dts is not None
    return packet.dts


def ns(value: int, time_base: Fraction) -> int:
    return round(Fraction(value) * time_base * NS_PER_SECOND)


def ticks(value_ns: int, time_base: Fraction) -> int:
    """``value_ns`` in units of ``time_base``, to the nearest tick."""
    return round(Fraction(value_ns, NS_PER_SECOND) / time_base)


def open_source(data: bytes, init: bytes | None = None) -> av.container.InputContainer:
    """The object (after its init segment, for fMP4) as a PyAV input."""
    return av.open(io.BytesIO((init or b"") + data), "r")


def cut(source: av.container.InputContainer, window: Window) -> list[Track]:
    """Video tracks then audio tracks of ``source``, cut to ``window`` and shifted by its shift."""
    streams = sorted(
        (s for s in source.streams if s.type in ("video", "audio")), key=lambda s: (s.type != "video", s.index)
    )
    if not streams:
        raise ValueError("the object has no audio or video stream")
    tracks = {s.index: _track(s) for s in streams}
    for packet in source.demux(streams):
        if packet.size and packet.pts is not None:
            if packet.dts is None:
                packet.dts = packet.pts
            tracks[packet.stream_index].packets.append(packet)
    main = next(iter(tracks.values()))  # the first video track, or the first audio one
    extent = _extent(main)
    start = window.start if window.start is not None and extent and window.start > extent[0] else None
    end = window.end if window.end is not None and extent and window.end < extent[1] else None
    audio_start = window.start if start is not None or window.audio_start else None
    audio_end = window.end if end is not None or window.audio_end else None
    for track in tracks.values():
        if track.kind == "video" and (start is not None or end is not None):
            _cut_video(track, _inside(start, end, track.time_base))
        elif track.kind == "audio" and (audio_start is not None or audio_end is not None):
            _cut_audio(track, audio_start, audio_end)
        _shift(track, window.shift)
    return list(tracks.values())


def _track(stream: av.stream.Stream) -> Track:
    ctx = stream.codec_context
    extradata = bytes(ctx.extradata) if ctx.extradata else None
    rate = getattr(ctx, "sample_rate", None) if stream.type == "audio" else None
    assert stream.time_base is not None  # set on every demuxed stream
    return Track(stream.type, ctx.name, Fraction(stream.time_base), rate, extradata, stream)


def _extent(track: Track) -> tuple[int, int] | None:
    """First and end (last + duration) presentation ns of a track's packets."""
    if not track.packets:
        return None
    first = min(pts(p) for p in track.packets)
    last = max(pts(p) + (p.duration or 0) for p in track.packets)
    return ns(first, track.time_base), ns(last, track.time_base)


def _inside(start: int | None, end: int | None, time_base: Fraction) -> Callable[[int], bool]:
    low = -(2**63) if start is None else start
    high = 2**63 if end is None else end
    return lambda pts: low <= ns(pts, time_base) < high


def _cut_audio(track: Track, start: int | None, end: int | None) -> None:
    """Frames starting in ``[start, end)``, silence where the object holds no audio up to an edge.

    (A frame that sticks out past ``end`` is kept: a live flow's newest segment is cut at its end
    until the next one arrives, and leaving the frame out there loses it for good.)"""
    if not track.packets:
        return
    frame = _frame_ticks(track)
    low = -(2**63) if start is None else ticks(start, track.time_base)
    high = 2**63 if end is None else ticks(end, track.time_base)
    kept = [p for p in track.packets if low <= pts(p) < high]
    if not kept:
        return
    track.packets = kept
    silence = _silence(track)
    if silence is None:
        return
    first, last = min(pts(p) for p in kept), max(pts(p) for p in kept) + frame
    head = range(first - frame, low - 1, -frame) if start is not None else range(0)
    tail = range(last, high - frame + 1, frame) if end is not None else range(0)
    filled = [_packet(silence, pts, frame, track.time_base) for pts in (*reversed(head), *tail)]
    track.packets = sorted(kept + filled, key=dts)


def _frame_ticks(track: Track) -> int:
    """One audio frame's duration in the track's time base (AAC: 1024 samples)."""
    known = next((p.duration for p in track.packets if p.duration), None)
    if known:
        return known
    return max(1, round(Fraction(1024, track.sample_rate or 48000) / track.time_base))


def _silence(track: Track) -> bytes | None:
    """One silent frame, framed like the track's packets (ADTS headers or raw), or None (not AAC)."""
    if track.codec != "aac" or not track.sample_rate:
        return None
    context = track.template.codec_context
    assert isinstance(context, AudioCodecContext)
    raw = _silent_aac(track.sample_rate, context.layout.name)
    first = bytes(track.packets[0])
    if track.extradata or len(first) < 7 or first[0] != 0xFF or first[1] & 0xF0 != 0xF0:
        return raw
    header = bytearray(first[:7])  # the source's own ADTS header (profile, rate, channels), no CRC
    header[1] |= 1
    size = 7 + len(raw)
    header[3] = (header[3] & 0xFC) | (size >> 11)
    header[4] = (size >> 3) & 0xFF
    header[5] = ((size & 7) << 5) | (header[5] & 0x1F)
    return bytes(header) + raw


@lru_cache(maxsize=16)
def _silent_aac(sample_rate: int, layout: str) -> bytes:
    """A raw AAC-LC frame of silence (one from the middle: past the encoder's priming)."""
    encoder = av.CodecContext.create("aac", "w")
    encoder.sample_rate, encoder.layout, encoder.format = sample_rate, layout, "fltp"
    encoder.time_base = Fraction(1, sample_rate)
    packets: list[av.Packet] = []
    for n in range(4):
        frame = av.AudioFrame(format="fltp", layout=layout, samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.pts = sample_rate, n * 1024
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    return bytes(packets[len(packets) // 2])


def _packet(data: bytes, pts: int, duration: int, time_base: Fraction) -> av.Packet:
    packet = av.Packet(data)
    packet.pts = packet.dts = pts
    packet.duration, packet.time_base = duration, time_base
    packet.is_keyframe = True
    return packet


def _cut_video(track: Track, inside: Callable[[int], bool]) -> None:
    gops: list[list[av.Packet]] = []
    for packet in track.packets:
        if packet.is_keyframe or not gops:
            gops.append([])
        gops[-1].append(packet)
    kept: list[av.Packet] = []
    for gop in gops:
        flags = [inside(pts(p)) for p in gop]
        if all(flags):
            kept.extend(gop)
        elif any(flags):
            kept.extend(_reencode(track, gop, inside))
    track.packets = kept


def _reencode(track: Track, gop: list[av.Packet], inside: Callable[[int], bool]) -> list[av.Packet]:
    """The frames of ``gop`` inside the window, re-encoded: a key frame, then P frames."""
    encoder_name = ENCODERS.get(track.codec)
    if encoder_name is None or encoder_name not in av.codecs_available:
        last = max((n for n, p in enumerate(gop) if inside(pts(p))), default=-1)
        return gop[: last + 1]  # the documented fallback: from the key frame, leading frames shown
    decoder = track.template.codec_context
    assert isinstance(decoder, VideoCodecContext)
    frames = [f for p in gop for f in decoder.decode(p)] + list(decoder.decode(None))
    decoder.flush_buffers()
    shown = sorted(((f.pts, f) for f in frames if f.pts is not None and inside(f.pts)), key=lambda pair: pair[0])
    frames = [frame for _, frame in shown]
    if not frames:
        return []
    durations = {p.pts: p.duration for p in gop}
    encoder = _encoder(track, encoder_name, frames[0], len(frames))
    packets: list[av.Packet] = []
    for n, frame in enumerate(frames):
        frame.pict_type = PictureType.I if n == 0 else PictureType.NONE
        packets.extend(encoder.encode(frame))
    packets.extend(encoder.encode(None))
    # decode times as far before presentation as the source's own key frame, so the copied GOPs
    # around these frames keep strictly increasing decode times
    delay = pts(gop[0]) - dts(gop[0]) if gop[0].is_keyframe else 0
    for packet in packets:
        packet.time_base = track.time_base
        packet.dts = pts(packet) - delay
        packet.duration = durations.get(packet.pts) or 0
    track.reencoded += len(frames)
    length_size = _length_size(track.codec, track.extradata)
    return [_length_prefixed(p, length_size) if length_size else p for p in packets]


def _encoder(track: Track, name: str, first: av.VideoFrame, count: int) -> VideoCodecContext:
    encoder = av.CodecContext.create(name, "w")
    assert isinstance(encoder, VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = first.width, first.height, first.format.name
    encoder.time_base = track.time_base
    rate = track.template.average_rate or track.template.guessed_rate
    if rate:
        encoder.framerate = rate
    encoder.gop_size = count + 1
    encoder.max_b_frames = 0
    options = {"preset": "veryfast", "crf": "16"}
    profile = X264_PROFILES.get((track.template.codec_context.profile or "").lower())
    if name == "libx264" and profile:
        options["profile"] = profile
    encoder.options = options
    return encoder


def _length_size(codec: str, extradata: bytes | None) -> int:
    """NAL length size when the source's packets are length-prefixed (avcC/hvcC), else 0 (Annex B)."""
    if not extradata or extradata[0] != 1:
        return 0
    if codec == "hevc":
        return (extradata[21] & 3) + 1 if len(extradata) > 21 else 4
    return (extradata[4] & 3) + 1 if len(extradata) > 4 else 4


_START_CODE = re.compile(rb"\x00{2,}\x01")


def _length_prefixed(packet: av.Packet, size: int) -> av.Packet:
    """An Annex B packet (the encoder's) as length-prefixed NAL units, like the source's packets."""
    units = [u for u in _START_CODE.split(bytes(packet)) if u]
    converted = av.Packet(b"".join(len(u).to_bytes(size, "big") + u for u in units))
    converted.pts, converted.dts, converted.duration = packet.pts, packet.dts, packet.duration
    converted.time_base = packet.time_base
    converted.is_keyframe = packet.is_keyframe
    return converted


def _shift(track: Track, shift_ns: int) -> None:
    if not shift_ns:
        return
    delta = ticks(shift_ns, track.time_base)
    for packet in track.packets:
        packet.pts, packet.dts = pts(packet) + delta, dts(packet) + delta
