"""Test media made with PyAV: small H.264/AAC MPEG-TS files with known timing (no binary fixtures)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

AUDIO_RATE = 48000
AUDIO_FRAME = 1024


def make_ts(path: Path, seconds: int = 6, fps: int = 25, gop: int = 25, width: int = 160, height: int = 90,
            audio: bool = True, container: str = "mpegts", options: dict[str, str] | None = None) -> Path:
    """``seconds`` of H.264 video (a key frame every ``gop`` frames) and AAC audio, interleaved, in
    MPEG-TS (or another ``container``, e.g. "mp4")."""
    with av.open(str(path), "w", format=container, options=options or {}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = gop
        video.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0", "bf": "0"}
        sound = out.add_stream("aac", rate=AUDIO_RATE) if audio else None
        audio_frames = 0
        for i in range(seconds * fps):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 7) % 255]) * plane.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
            # audio up to the end of this video frame, so the streams interleave as real media does
            while sound is not None and audio_frames * AUDIO_FRAME * fps < (i + 1) * AUDIO_RATE:
                samples = av.AudioFrame(format="fltp", layout="mono", samples=AUDIO_FRAME)
                samples.planes[0].update(bytes(samples.planes[0].buffer_size))
                samples.sample_rate, samples.time_base = AUDIO_RATE, Fraction(1, AUDIO_RATE)
                samples.pts = audio_frames * AUDIO_FRAME
                audio_frames += 1
                for packet in sound.encode(samples):
                    out.mux(packet)
        for stream in (video, sound):
            if stream is not None:
                for packet in stream.encode():
                    out.mux(packet)
    return path


def _boxes(data: bytes) -> list[tuple[str, bytes]]:
    """Top-level ISO BMFF boxes as (type, bytes)."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8:offset + 16], "big")
        boxes.append((kind, data[offset:offset + size]))
        offset += size
    return boxes


def make_cmaf(path: Path, seconds: int = 6, fps: int = 25, width: int = 160, height: int = 90,
              segment_seconds: int = 2) -> tuple[bytes, list[tuple[bytes, int, int]]]:
    """Fragmented MP4 (CMAF-style) H.264: an init segment and media segments of ``segment_seconds``.

    Returns (init bytes, [(segment bytes, start ns, end ns)]), timed from 0 at ``fps``.
    """
    make_ts(path, seconds=seconds, fps=fps, gop=fps, width=width, height=height, audio=False,
            container="mp4", options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
    boxes = _boxes(path.read_bytes())
    init = b"".join(b for kind, b in boxes if kind in ("ftyp", "moov"))
    fragments = [b for kind, b in boxes if kind in ("moof", "mdat")]
    pairs = [fragments[i] + fragments[i + 1] for i in range(0, len(fragments) - 1, 2)]  # one per second
    per = segment_seconds
    segments = []
    for n in range(0, len(pairs), per):
        start = n * 1_000_000_000
        segments.append((b"".join(pairs[n:n + per]), start, start + len(pairs[n:n + per]) * 1_000_000_000))
    return init, segments
