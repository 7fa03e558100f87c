"""Test media made with PyAV: small H.264/AAC MPEG-TS files with known timing (no binary fixtures)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av


def make_ts(path: Path, seconds: int = 6, fps: int = 25, gop: int = 25, width: int = 160, height: int = 90,
            audio: bool = True) -> Path:
    """An MPEG-TS file of ``seconds`` of H.264 video (a key frame every ``gop`` frames) and AAC audio."""
    with av.open(str(path), "w", format="mpegts") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = gop
        video.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0", "bframes": "0"}
        sound = out.add_stream("aac", rate=48000) if audio else None
        for i in range(seconds * fps):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 7) % 255]) * plane.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            samples = 1024
            for n in range(seconds * 48000 // samples):
                frame = av.AudioFrame(format="fltp", layout="mono", samples=samples)
                frame.planes[0].update(bytes(frame.planes[0].buffer_size))
                frame.sample_rate, frame.pts, frame.time_base = 48000, n * samples, Fraction(1, 48000)
                for packet in sound.encode(frame):
                    out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return path
