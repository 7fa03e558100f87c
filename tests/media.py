"""Test media made with PyAV: small H.264/AAC MPEG-TS files with known timing (no binary fixtures)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

AUDIO_RATE = 48000
AUDIO_FRAME = 1024


def make_ts(
    path: Path,
    seconds: int = 6,
    fps: int = 25,
    gop: int = 25,
    width: int = 160,
    height: int = 90,
    audio: bool = True,
    container: str = "mpegts",
    options: dict[str, str] | None = None,
    x264: dict[str, str] | None = None,
) -> Path:
    """``seconds`` of H.264 video (a key frame every ``gop`` frames) and AAC audio, interleaved, in
    MPEG-TS (or another ``container``, e.g. "mp4"); ``x264``: more encoder options (another encoding)."""
    with av.open(str(path), "w", format=container, options=options or {}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.gop_size = gop
        video.codec_context.options = {"keyint_min": str(gop), "sc_threshold": "0", "bf": "0", **(x264 or {})}
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
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        boxes.append((kind, data[offset : offset + size]))
        offset += size
    return boxes


def make_cmaf(
    path: Path, seconds: int = 6, fps: int = 25, width: int = 160, height: int = 90, segment_seconds: int = 2
) -> tuple[bytes, list[tuple[bytes, int, int]]]:
    """Fragmented MP4 (CMAF-style) H.264: an init segment and media segments of ``segment_seconds``.

    Returns (init bytes, [(segment bytes, start ns, end ns)]), timed from 0 at ``fps``.
    """
    make_ts(
        path,
        seconds=seconds,
        fps=fps,
        gop=fps,
        width=width,
        height=height,
        audio=False,
        container="mp4",
        options={"movflags": "frag_keyframe+empty_moov+default_base_moof"},
    )
    boxes = _boxes(path.read_bytes())
    init = b"".join(b for kind, b in boxes if kind in ("ftyp", "moov"))
    fragments = [b for kind, b in boxes if kind in ("moof", "mdat")]
    pairs = [fragments[i] + fragments[i + 1] for i in range(0, len(fragments) - 1, 2)]  # one per second
    per = segment_seconds
    segments = []
    for n in range(0, len(pairs), per):
        start = n * 1_000_000_000
        segments.append((b"".join(pairs[n : n + per]), start, start + len(pairs[n : n + per]) * 1_000_000_000))
    return init, segments


TS_WRAP = 1 << 33  # MPEG-TS timestamps are 33-bit counters of a 90 kHz clock


def make_wrapping_ts(path: Path, seconds: int = 8, before_wrap: Fraction = Fraction(3)) -> Path:
    """``make_ts`` media re-timed to start ``before_wrap`` seconds before the 33-bit PTS wraps (the
    MPEG-TS muxer writes timestamps modulo 2^33, so the file's raw PTS go 2^33 - 270000, ..., 0, ...)."""
    plain = make_ts(path.with_name(path.stem + "-plain.ts"), seconds=seconds)
    offset = TS_WRAP - int(before_wrap * 90000)
    with av.open(str(plain)) as source, av.open(str(path), "w", format="mpegts", options={"mpegts_copyts": "1"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None:
                continue
            assert packet.time_base == Fraction(1, 90000)
            packet.pts, packet.dts = packet.pts + offset, packet.dts + offset
            packet.stream = streams[packet.stream_index]
            out.mux(packet)
    return path


def make_with_ffmpeg(
    path: Path,
    seconds: int = 6,
    fps: int = 25,
    size: str = "160x90",
    audio_only: bool = False,
    extra: list[str] | None = None,
) -> Path:
    """Media as a user's encoder makes it (ffmpeg's defaults: H.264 High with B-frames, AAC with
    priming, an MP4 edit list), container from ``path``'s extension. Needs the ffmpeg command."""
    import subprocess

    video = [] if audio_only else ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    audio = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    codecs = (
        []
        if audio_only
        else ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0"]
    ) + ["-c:a", "aac", "-ac", "2"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *video, *audio, *codecs, *(extra or []), "-shortest", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def make_cmaf_audio(path: Path, seconds: int = 4) -> tuple[bytes, list[bytes]]:
    """Fragmented MP4 AAC (one fragment per second): (init segment, [media fragments])."""
    make_with_ffmpeg(
        path,
        seconds=seconds,
        audio_only=True,
        extra=["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "1000000"],
    )
    boxes = _boxes(path.read_bytes())
    init = b"".join(b for kind, b in boxes if kind in ("ftyp", "moov"))
    fragments = [b for kind, b in boxes if kind in ("moof", "mdat")]
    return init, [fragments[i] + fragments[i + 1] for i in range(0, len(fragments) - 1, 2)]
