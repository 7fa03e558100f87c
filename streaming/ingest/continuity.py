"""MPEG-TS continuity counters carried on across the segments of a flow.

Each segment is muxed by its own MPEG-TS muxer (so it starts with PAT, PMT and a key frame and ends
exactly at the cut, with nothing of the next segment held back in a muxer's interleaving queue),
and every muxer starts each PID's 4-bit continuity counter at 0. A player reading the segments one
after another (HLS, ``cat``) would then see a discontinuity on every PID at every boundary
("Packet corrupt", "TS discontinuity"). Rewriting the counters after muxing, with the state kept
from the previous segment, makes the concatenation one continuous stream, as ffmpeg's HLS muxer
output is, without giving up independent, exactly-cut segments. The rewrite is deterministic, so a
resumed ingest, which cuts again from the start, writes byte-identical segments.
"""

from __future__ import annotations

PACKET = 188
SYNC = 0x47
NULL_PID = 0x1FFF


class ContinuityCounters:
    """Per-PID continuity state across the segments of one flow."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}

    def rewrite(self, data: bytes) -> bytes:
        """``data`` (whole 188-byte TS packets) with each PID's counters continuing from the last call."""
        if len(data) % PACKET:
            raise ValueError("MPEG-TS data must be whole 188-byte packets")
        out = bytearray(data)
        last = self.last
        for offset in range(0, len(out), PACKET):
            if out[offset] != SYNC:
                raise ValueError(f"no MPEG-TS sync byte at offset {offset}")
            pid = ((out[offset + 1] & 0x1F) << 8) | out[offset + 2]
            if pid == NULL_PID:
                continue
            flags = out[offset + 3]
            previous = last.get(pid)
            if flags & 0x10:  # has a payload: the counter steps on
                counter = (flags & 0x0F) if previous is None else (previous + 1) & 0x0F
            else:  # adaptation field only: the counter repeats the previous packet's
                counter = (flags & 0x0F) if previous is None else previous
            out[offset + 3] = (flags & 0xF0) | counter
            last[pid] = counter
        return bytes(out)
