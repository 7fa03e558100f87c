"""Continuity counters of remuxed MPEG-TS segments, continuous across any run of them.

A remuxed segment is made alone, on request, by its own muxer, whose counters start at 0 on
every PID (PAT, PMT, SDT, each elementary stream). Segments played one after another then jump
back to 0 at each boundary, which readers report ("TS discontinuity (received 0, expected 4)").
Rather than carry the state of every earlier segment (segment k would need 0..k-1 remuxed), each
segment is made to hold a multiple of 16 payload packets per PID: it starts at 0 and ends at 15,
so whichever remuxed segment follows, its first counter is the one expected. The packets added
are legal repetitions: a table packet (PAT, PMT, SDT) is repeated whole; an elementary stream's
packet is split in several, its payload spread over them with adaptation-field stuffing (the
PES bytes are unchanged). At most 15 packets per PID are added (2.8 kB each PID and segment).
"""

from __future__ import annotations

PACKET = 188
SYNC = 0x47
NULL_PID = 0x1FFF
MODULUS = 16


def pad_counters(data: bytes) -> bytes:
    """``data`` (whole TS packets, as one muxer wrote them) with every PID's payload packets a
    multiple of 16, counters renumbered from 0: the segment ends at 15 on each PID."""
    if len(data) % PACKET:
        raise ValueError("MPEG-TS data must be whole 188-byte packets")
    packets = [data[o : o + PACKET] for o in range(0, len(data), PACKET)]
    if any(p[0] != SYNC for p in packets):
        raise ValueError("MPEG-TS data without a sync byte")
    counts: dict[int, int] = {}
    last: dict[int, int] = {}  # last payload packet of each PID that can take the extra packets
    for n, p in enumerate(packets):
        pid = _pid(p)
        if pid != NULL_PID and p[3] & 0x10:
            counts[pid] = counts.get(pid, 0) + 1
            last[pid] = n
    extra: dict[int, list[bytes]] = {}
    for pid, count in counts.items():
        missing = -count % MODULUS
        if missing:
            extra.update(_more(packets, pid, missing))
    out: list[bytes] = []
    for n, p in enumerate(packets):
        out.extend(extra.get(n, [p]))
    return _renumber(out)


def _pid(packet: bytes) -> int:
    return ((packet[1] & 0x1F) << 8) | packet[2]


def _more(packets: list[bytes], pid: int, missing: int) -> dict[int, list[bytes]]:
    """{index: the packets replacing it} that add ``missing`` payload packets to ``pid``; {} when
    it has too few bytes to spread (its counters then stay as muxed)."""
    own = [n for n, p in enumerate(packets) if _pid(p) == pid and p[3] & 0x10]
    first = packets[own[0]]
    pes = bool(first[1] & 0x40) and _payload(first)[:3] == b"\x00\x00\x01"
    if not pes:  # a table in one packet: repeat it (a repeated section changes nothing)
        table = packets[own[-1]]
        return {own[-1]: [table] * (missing + 1)} if table[1] & 0x40 else {}
    replaced: dict[int, list[bytes]] = {}
    for n in reversed(own):  # split the last packets, as few as will do
        packet = packets[n]
        payload = _payload(packet)
        keep = 1
        if packet[1] & 0x40:  # the PES header stays whole in the first piece
            keep = 9 + payload[8] if len(payload) >= 9 else len(payload)
        fields = _adaptation_fields(packet)
        take = min(missing, len(payload) - keep)
        head = len(payload) - take
        if take <= 0 or head > PACKET - 4 - 1 - len(fields):
            continue
        pieces = [_build(packet[1] & 0xE0, pid, fields, payload[:head])]
        pieces += [_build(0, pid, b"\x00", payload[head + i : head + i + 1]) for i in range(take)]
        replaced[n] = pieces
        missing -= take
        if not missing:
            return replaced
    return {}


def _payload(packet: bytes) -> bytes:
    start = 4
    if packet[3] & 0x20:
        start += 1 + packet[4]
    return packet[start:] if packet[3] & 0x10 else b""


def _adaptation_fields(packet: bytes) -> bytes:
    """The adaptation field's flags and fields (PCR, ...) without its stuffing; b"" if none."""
    if not packet[3] & 0x20 or packet[4] == 0:
        return b""
    field = packet[5 : 5 + packet[4]]
    flags, size = field[0], 1
    size += 6 if flags & 0x10 else 0  # PCR
    size += 6 if flags & 0x08 else 0  # OPCR
    size += 1 if flags & 0x04 else 0  # splice countdown
    if flags & 0x02:  # private data
        size += 1 + field[size]
    if flags & 0x01:  # extension
        size += 1 + field[size]
    return field[:size]


def _build(top_bits: int, pid: int, fields: bytes, payload: bytes) -> bytes:
    """One packet: ``top_bits`` (error, unit start, priority), adaptation ``fields``, ``payload``;
    the adaptation field stuffed to 188 bytes. The counter is set by ``_renumber``."""
    header = bytes([SYNC, top_bits | (pid >> 8), pid & 0xFF])
    if not fields and len(payload) == PACKET - 4:
        return header + b"\x10" + payload
    length = PACKET - 4 - 1 - len(payload)
    if length and not fields:
        fields = b"\x00"
    if length < len(fields):
        raise ValueError("no room for the adaptation field")
    return header + b"\x30" + bytes([length]) + fields + b"\xff" * (length - len(fields)) + payload


def _renumber(packets: list[bytes]) -> bytes:
    """Counters from 0 per PID: a payload packet steps on, an adaptation-only one repeats."""
    counter: dict[int, int] = {}
    out = bytearray(b"".join(packets))
    for offset in range(0, len(out), PACKET):
        pid = ((out[offset + 1] & 0x1F) << 8) | out[offset + 2]
        if pid == NULL_PID:
            continue
        flags = out[offset + 3]
        previous = counter.get(pid, MODULUS - 1)  # the first payload packet is 0
        value = (previous + 1) % MODULUS if flags & 0x10 else previous
        out[offset + 3] = (flags & 0xF0) | value
        counter[pid] = value
    return bytes(out)
