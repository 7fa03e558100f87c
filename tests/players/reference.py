"""Reference media from ffmpeg's own muxers, for the harness self-checks: every check of the matrix
passes on these, so a failure in the matrix is the gateway's, not the harness's."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from .segmenting import ffmpeg_hls


def make_reference(work: Path, make_ts: Callable) -> tuple[Path, Path, Path]:
    """A 4 s clip in ``work``, and ffmpeg's own HLS (TS segments) and DASH (fMP4) of it: (clip, hls dir, dash dir)."""
    clip = make_ts(work / "clip.ts", seconds=4)
    hls, dash = work / "hls", work / "dash"
    ffmpeg_hls(clip, hls, "s%d.ts", copyts=True)
    dash.mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(make_ts(work / "clip.mp4", seconds=4, container="mp4")),
            "-map",
            "0:v",
            "-c",
            "copy",
            "-f",
            "dash",
            "-seg_duration",
            "2",
            "-use_template",
            "1",
            "-use_timeline",
            "1",
            str(dash / "index.mpd"),
        ],
        check=True,
        timeout=60,
    )
    return clip, hls, dash
