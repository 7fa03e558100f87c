"""ffprobe decodes every frame of a URL and reports the video presentation times and any warning."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction

FFPROBE = shutil.which("ffprobe")


@dataclass(frozen=True)
class Decoded:
    video_pts: list[Fraction]  # seconds, in output order
    audio_frames: int
    format_name: str
    warnings: list[str]  # everything ffprobe printed at -v warning


def decode(url: str, input_options: tuple[str, ...] = (), timeout: float = 90) -> Decoded:
    """Runs ffprobe over every frame (``-show_entries frame=`` decodes them) with ``-v warning``."""
    cmd = [
        FFPROBE or "ffprobe",
        "-v",
        "warning",
        *input_options,
        "-i",
        url,
        "-show_entries",
        "stream=index,codec_type,time_base:format=format_name:frame=stream_index,pts,best_effort_timestamp",
        "-of",
        "json",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"ffprobe did not finish in {timeout} s (it hangs): {(exc.stderr or b'').decode(errors='replace')[-800:]}"
        ) from exc
    stderr = done.stderr.decode(errors="replace").strip()
    assert done.returncode == 0, f"ffprobe failed ({done.returncode}): {stderr[-1500:]}"
    report = json.loads(done.stdout or b"{}")
    bases = {s["index"]: Fraction(s["time_base"]) for s in report.get("streams", [])}
    kinds = {s["index"]: s["codec_type"] for s in report.get("streams", [])}
    video, audio = [], 0
    for frame in report.get("frames", []):
        index = frame["stream_index"]
        stamp = frame.get("pts", frame.get("best_effort_timestamp"))
        if kinds.get(index) == "video" and stamp is not None:
            video.append(int(stamp) * bases[index])
        elif kinds.get(index) == "audio":
            audio += 1
    lines = [line for line in stderr.splitlines() if line.strip()]
    return Decoded(video, audio, report.get("format", {}).get("format_name", ""), lines)
