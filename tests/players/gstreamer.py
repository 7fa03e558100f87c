"""GStreamer's playbin with fake sinks: the presentation time of every video buffer it renders."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction

GST_LAUNCH = shutil.which("gst-launch-1.0")
_BUFFER = re.compile(r"\(vsink:sink\) \(\d+ bytes, dts: [^,]+, pts: (\d+):(\d\d):(\d\d)\.(\d{9})")


@dataclass(frozen=True)
class Rendered:
    video_pts: list[Fraction]  # seconds, one per buffer, in arrival order (repeats included)
    problems: list[str]  # ERROR / WARNING lines from gst-launch


def play(uri: str, timeout: float = 90) -> Rendered:
    """``gst-launch-1.0 playbin uri=…`` with fakesinks (no clock sync: as fast as it decodes)."""
    cmd = [
        GST_LAUNCH or "gst-launch-1.0",
        "-v",
        "playbin",
        f"uri={uri}",
        "video-sink=fakesink name=vsink silent=false sync=false",
        "audio-sink=fakesink sync=false",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"gst-launch did not finish in {timeout} s (it hangs): "
            f"{_problems((exc.stdout or b'').decode(errors='replace'))[:5]}"
        ) from exc
    out = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    pts = [
        Fraction(int(h) * 3600 + int(m) * 60 + int(s)) + Fraction(int(ns), 10**9)
        for h, m, s, ns in _BUFFER.findall(out)
    ]
    problems = _problems(out)
    if done.returncode != 0 and not problems:
        problems = [f"gst-launch exited with {done.returncode}: {out[-800:]}"]
    return Rendered(pts, problems)


def _problems(out: str) -> list[str]:
    keep = ("ERROR", "WARNING", "Additional debug info")
    lines = out.splitlines()
    return [
        line.strip()
        for i, line in enumerate(lines)
        if line.startswith(keep) or (i and lines[i - 1].startswith(keep) and line.strip())
    ]
