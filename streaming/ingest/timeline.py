"""A source's timeline made monotonic and non-negative before it becomes flow time.

MPEG-TS timestamps are 33-bit counters of a 90 kHz clock: they wrap every 2^33 ticks (~26.5 h).
libavformat corrects one wrap relative to the first timestamp, but when a file starts within 60 s
of the wrap point it subtracts 2^33 from the timestamps before the wrap, so pre-wrap media would
land at negative flow times. Sources are therefore read with that correction off and unwrapped
here: each raw timestamp becomes the value congruent to it modulo 2^33 nearest the previous one, so
the timeline starts at the file's first timestamp and only goes forward, across any number of wraps.

Separately, a source may start with negative decode times (an MP4's B-frame delay or AAC priming
behind an edit list); MPEG-TS cannot carry them and a muxer would shift each segment on its own.
``start_shift`` finds one shift for the whole source, so every segment's bytes share one timeline.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av

TS_WRAP = 1 << 33  # MPEG-TS PTS/DTS are 33-bit
TS_TIME_BASE = Fraction(1, 90000)
PRESCAN_PACKETS = 500  # negative decode times only occur at a source's start


def wraps(container: av.container.InputContainer) -> bool:
    """Whether the source's timestamps are MPEG-TS 33-bit counters."""
    return container.format.name == "mpegts"


def open_source(path: Path | str) -> av.container.InputContainer:
    """The source with libavformat's own one-wrap correction off (``Unwrapper`` does it right)."""
    return av.open(str(path), options={"correct_ts_overflow": "0"})


class Unwrapper:
    """Raw 33-bit timestamps (of every stream of one program: they share a clock) to one monotonic
    64-bit timeline starting at the first raw value seen."""

    def __init__(self) -> None:
        self.reference: int | None = None

    def __call__(self, value: int) -> int:
        if self.reference is None:
            self.reference = value
            return value
        turns = (self.reference - value + TS_WRAP // 2) // TS_WRAP  # the nearest congruent value
        unwrapped = value + turns * TS_WRAP
        self.reference = unwrapped
        return unwrapped


class Timeline:
    """Rewrites a source's packet timestamps: unwrapped (MPEG-TS), then shifted by ``shift``."""

    def __init__(self, unwrap: bool, shift: Fraction = Fraction(0)) -> None:
        self.unwrap = Unwrapper() if unwrap else None
        self.shift = shift

    def source_times(self, packet: av.Packet) -> None:
        """The packet's timestamps on the monotonic source timeline (flow time), in place."""
        if self.unwrap is None:
            return
        if packet.dts is not None:
            packet.dts = self.unwrap(packet.dts)
        if packet.pts is not None:
            packet.pts = self.unwrap(packet.pts)

    def object_times(self, packet: av.Packet) -> None:
        """From source time to the time written in the segment's bytes (source + shift), in place."""
        if not self.shift:
            return
        ticks = self.shift / Fraction(packet.time_base)
        assert ticks.denominator == 1, "the shift is a whole number of ticks of every stream"
        if packet.dts is not None:
            packet.dts += int(ticks)
        if packet.pts is not None:
            packet.pts += int(ticks)


def _lcm(values: list[Fraction]) -> Fraction:
    """The smallest duration that is a whole number of each of ``values`` (time bases)."""
    numerator = math.lcm(*(v.numerator for v in values))
    denominator = math.gcd(*(v.denominator for v in values))
    return Fraction(numerator, denominator)


def start_shift(path: Path | str) -> Fraction:
    """Seconds to add to every timestamp so the source's earliest decode or presentation time is
    at least 0; a whole number of ticks of every stream's time base and of MPEG-TS's 90 kHz."""
    with open_source(path) as source:
        streams = [s for s in source.streams if s.type in ("video", "audio")]
        timeline = Timeline(wraps(source))
        earliest = Fraction(0)
        for count, packet in enumerate(source.demux(streams)):
            if count >= PRESCAN_PACKETS:
                break
            timeline.source_times(packet)
            for value in (packet.dts, packet.pts):
                if value is not None:
                    earliest = min(earliest, value * Fraction(packet.time_base))
        if not earliest:
            return Fraction(0)
        unit = _lcm([Fraction(s.time_base) for s in streams] + [TS_TIME_BASE])  # type: ignore[arg-type]  # demuxed streams have a time base
        return math.ceil(-earliest / unit) * unit
