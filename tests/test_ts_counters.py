"""Remuxed MPEG-TS segments end every PID's continuity counter at 15 (streaming/playback/ts_counters.py),
with the media unchanged: a real clip muxed by PyAV, padded, read back by PyAV packet by packet."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from streaming.playback.ts_counters import PACKET, pad_counters


def _clip(seconds: int = 1, options: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with av.open(out, "w", format="mpegts", options=options or {}) as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 36, "yuv420p"
        audio = container.add_stream("aac", rate=48000)
        for n in range(25 * seconds):
            frame = av.VideoFrame.from_ndarray(np.full((36, 64, 3), n * 9 % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, 25)
            container.mux(video.encode(frame))
        for n in range(47 * seconds):
            samples = np.zeros((1, 1024), np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, n * 1024
            container.mux(audio.encode(frame))
        container.mux(video.encode())
        container.mux(audio.encode())
    return out.getvalue()


def _counters(data: bytes) -> dict[int, list[tuple[int, bool]]]:
    found: dict[int, list[tuple[int, bool]]] = {}
    for offset in range(0, len(data), PACKET):
        pid = ((data[offset + 1] & 0x1F) << 8) | data[offset + 2]
        found.setdefault(pid, []).append((data[offset + 3] & 0x0F, bool(data[offset + 3] & 0x10)))
    return found


def _packets(data: bytes) -> list[tuple[int, int | None, bytes]]:
    with av.open(io.BytesIO(data), format="mpegts") as container:
        return [(p.stream.index, p.pts, bytes(p)) for p in container.demux() if p.size]


@pytest.mark.parametrize("seconds", [1, 2])
def test_every_pid_ends_at_15_and_the_media_is_unchanged(seconds):
    muxed = _clip(seconds)
    padded = pad_counters(muxed)
    counters = _counters(padded)
    assert {0, 4096, 17, 256, 257} <= set(counters)
    for pid, run in counters.items():
        payload = [c for c, has_payload in run if has_payload]
        assert payload == [n % 16 for n in range(len(payload))], pid  # from 0, one step each
        assert payload[-1] == 15, pid
    assert _packets(padded) == _packets(muxed)


def test_two_padded_segments_read_as_one_stream():
    first, second = pad_counters(_clip(1)), pad_counters(_clip(2))
    for pid, run in _counters(first + second).items():
        payload = [c for c, has_payload in run if has_payload]
        assert payload == [n % 16 for n in range(len(payload))], pid


def test_not_ts_is_refused():
    with pytest.raises(ValueError):
        pad_counters(b"\x00" * 188)
    with pytest.raises(ValueError):
        pad_counters(b"\x47" * 100)
