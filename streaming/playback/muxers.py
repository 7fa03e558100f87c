"""Output containers for cut tracks (streaming/playback/cut.py): MPEG-TS, fMP4 init + fragments,
ADTS, and a plain MP4 file; one object after another into the same output (a clip) or one alone
(a segment).

fMP4 is written with fixed timescales (video 90 kHz, audio its sample rate) and fixed track order
(video tracks, then audio), so the init segment derived from any object of a flow describes every
fragment made from any other, and each fragment's ``tfdt`` is its first decode time on the flow's
timeline (``frag_discont``; no shift to zero, ``avoid_negative_ts`` off).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from catalog.errors import Invalid
from streaming.playback.cut import Track, dts, pts, ticks

CONTENT_TYPES = {"ts": "video/mp2t", "m4s": "video/iso.segment", "aac": "audio/aac", "mp4": "video/mp4"}
VIDEO_TIME_BASE = Fraction(1, 90_000)
_OPTIONS: dict[str, dict[str, str]] = {
    # initial_discontinuity flags each PID's first packet, so a player reading remuxed segments
    # one after another does not count the restarted continuity counters as corruption
    "ts": {"mpegts_copyts": "1", "mpegts_flags": "initial_discontinuity", "avoid_negative_ts": "disabled"},
    "m4s": {"movflags": "empty_moov+default_base_moof+frag_keyframe+frag_discont", "avoid_negative_ts": "disabled"},
    "aac": {},
    "mp4": {"movflags": "faststart", "movie_timescale": "90000"},  # edit lists exact to the video clock
}
_FORMATS = {"ts": "mpegts", "m4s": "mp4", "aac": "adts", "mp4": "mp4"}


class Sink:
    """A write-only, non-seekable file for PyAV: bytes accumulate until taken."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


@dataclass
class _Out:
    kind: str
    stream: av.stream.Stream
    strip_adts: bool  # ADTS-framed source audio going into MP4: headers off, config in the sample entry
    last_dts: Fraction | None = None


class Output:
    """One output container; ``add`` the cut tracks of each object in time order, then ``close``."""

    def __init__(self, kind: str, target: Sink | Path, metadata: dict[str, str] | None = None) -> None:
        if kind not in _FORMATS:
            raise ValueError(f"unknown output {kind!r}")
        self.kind = kind
        self.target = target
        self.metadata = metadata or {}
        self.container: av.container.OutputContainer | None = None
        self.outs: list[_Out] = []
        self.closed = False

    def add(self, tracks: list[Track]) -> None:
        if self.container is None:
            self._open(tracks)
        paired = self._pair(tracks)
        packets = sorted(
            ((dts(p) * p.time_base, n, p) for n, (track, out) in enumerate(paired) for p in track.packets),
            key=lambda item: (item[0], item[1]),
        )
        assert self.container is not None
        for _, n, packet in packets:
            out = paired[n][1]
            self._monotonic(out, packet)
            if out.strip_adts:
                packet = _without_adts(packet)
            packet.stream = out.stream
            self.container.mux(packet)

    def close(self) -> None:
        """Writes the trailer (once; a second call does nothing)."""
        if self.container is not None and not self.closed:
            self.closed = True
            self.container.close()

    def _open(self, tracks: list[Track]) -> None:
        chosen = [t for t in tracks if t.kind == "audio"][:1] if self.kind == "aac" else tracks
        if not chosen:
            raise Invalid(
                "the media has no audio stream to put in ADTS"
                if self.kind == "aac"
                else "the media has no audio or video stream"
            )
        if self.kind == "aac" and isinstance(self.target, Sink):
            start = min((pts(p) for p in chosen[0].packets), default=0)
            self.target.write(id3_timestamp(ticks(round(start * chosen[0].time_base * 10**9), VIDEO_TIME_BASE)))
        target = str(self.target) if isinstance(self.target, Path) else self.target
        self.container = av.open(target, "w", format=_FORMATS[self.kind], options=dict(_OPTIONS[self.kind]))
        self.container.metadata.update(self.metadata)
        mp4 = self.kind in ("m4s", "mp4")
        for track in chosen:
            stream = self.container.add_stream_from_template(track.template)
            strip = False
            if mp4 and track.kind == "audio" and track.codec == "aac" and not track.extradata:
                first = next((bytes(p) for p in track.packets), b"")
                stream.codec_context.extradata = audio_specific_config(first)
                strip = True
            if mp4:
                stream.time_base = VIDEO_TIME_BASE if track.kind == "video" else Fraction(1, track.sample_rate or 48000)
            self.outs.append(_Out(track.kind, stream, strip))

    def _pair(self, tracks: list[Track]) -> list[tuple[Track, _Out]]:
        """The n-th video (audio) track of this object goes to the n-th video (audio) output."""
        pairs: list[tuple[Track, _Out]] = []
        for kind in ("video", "audio"):
            outs = [o for o in self.outs if o.kind == kind]
            pairs.extend(zip([t for t in tracks if t.kind == kind], outs, strict=False))
        return pairs

    @staticmethod
    def _monotonic(out: _Out, packet: av.Packet) -> None:
        """Decode times strictly increase per stream, also across objects (an edit point may let
        the next object's first decode time touch the previous one's last)."""
        decoded = dts(packet) * packet.time_base
        if out.last_dts is not None and decoded <= out.last_dts:
            packet.dts = int(out.last_dts / packet.time_base) + 1
            packet.pts = max(pts(packet), packet.dts)
            decoded = packet.dts * packet.time_base
        out.last_dts = decoded


def boxes(data: bytes) -> list[tuple[str, bytes]]:
    """Top-level ISO BMFF boxes as (type, bytes)."""
    found, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        elif size == 0:
            size = len(data) - offset
        found.append((kind, data[offset : offset + size]))
        offset += size
    return found


def split_fmp4(data: bytes) -> tuple[bytes, bytes]:
    """(ftyp+moov, moof+mdat...) of a fragmented MP4 written by ``Output('m4s')``."""
    parts = boxes(data)
    return (
        b"".join(b for kind, b in parts if kind in ("ftyp", "moov")),
        b"".join(b for kind, b in parts if kind in ("moof", "mdat")),
    )


def audio_specific_config(adts: bytes) -> bytes:
    """The 2-byte MPEG-4 AudioSpecificConfig an ADTS header describes."""
    if len(adts) < 7 or adts[0] != 0xFF or adts[1] & 0xF0 != 0xF0:
        raise ValueError("AAC audio without a configuration and not in ADTS frames")
    profile, rate_index = (adts[2] >> 6) + 1, (adts[2] >> 2) & 0x0F
    channels = ((adts[2] & 1) << 2) | (adts[3] >> 6)
    return (profile << 11 | rate_index << 7 | channels << 3).to_bytes(2, "big")


def _without_adts(packet: av.Packet) -> av.Packet:
    data = bytes(packet)
    if len(data) < 7 or data[0] != 0xFF or data[1] & 0xF0 != 0xF0:
        return packet
    header = 7 if data[1] & 1 else 9  # protection_absent: no CRC
    raw = av.Packet(data[header:])
    raw.pts, raw.dts, raw.duration, raw.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
    return raw


def id3_timestamp(pts_90k: int) -> bytes:
    """The ID3 tag that times packed audio in HLS (RFC 8216 3.4): its first frame's 33-bit MPEG-2 PTS."""
    payload = b"com.apple.streaming.transportStreamTimestamp\x00" + (pts_90k % 2**33).to_bytes(8, "big")
    frame = b"PRIV" + _syncsafe(len(payload)) + b"\x00\x00" + payload
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame


def _syncsafe(value: int) -> bytes:
    return bytes(((value >> shift) & 0x7F) for shift in (21, 14, 7, 0))
