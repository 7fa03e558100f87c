"""ffmpeg's own HLS muxer, as the tests use it to cut media into ~2 s segments (reference content and
flows registered through the API): one muxer for all the segments, so timestamps and MPEG-TS
continuity counters run on across them as a well-behaved encoder's would."""

from __future__ import annotations

import subprocess
from pathlib import Path


def ffmpeg_hls(
    source: Path,
    out: Path,
    segment_name: str,
    *,
    stream: str | None = None,
    copyts: bool = False,
    fmp4: bool = False,
) -> Path:
    """Segment ``source`` into ``out`` (made here) as a VOD HLS playlist of ``segment_name`` files
    (an ffmpeg pattern such as ``s%d.ts``); ``stream`` maps one stream (``v`` or ``a``), ``fmp4``
    writes fMP4 fragments with ``init.mp4``. Returns the playlist's path."""
    out.mkdir()
    playlist = out / "index.m3u8"
    command = ["ffmpeg", "-v", "error", "-y", *(["-copyts"] if copyts else []), "-i", str(source)]
    command += [*(["-map", f"0:{stream}"] if stream else []), "-c", "copy", "-f", "hls", "-hls_time", "2"]
    command += ["-hls_playlist_type", "vod", "-hls_segment_type", "fmp4" if fmp4 else "mpegts"]
    command += ["-hls_fmp4_init_filename", "init.mp4"] if fmp4 else []
    command += ["-hls_segment_filename", str(out / segment_name), str(playlist)]
    subprocess.run(command, check=True, timeout=60)
    return playlist


def numbered(out: Path, prefix: str, ext: str) -> list[bytes]:
    """The bytes of ``<prefix><n>.<ext>`` in ``out``, in segment order."""
    paths = out.glob(f"{prefix}*.{ext}")
    return [p.read_bytes() for p in sorted(paths, key=lambda p: int(p.stem[len(prefix) :]))]
