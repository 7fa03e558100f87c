"""mpv, headless (no video or audio output, as fast as it decodes): how far it played, and what it said.

mpv prints nothing at ``--msg-level=all=warn`` when a stream plays cleanly; ``mpv_probe.lua`` reports
the last position (relative to the stream's start, as mpv shows it), the duration mpv announced and
why playback ended."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MPV = shutil.which("mpv")
PROBE = Path(__file__).resolve().parent / "mpv_probe.lua"
# the clock, not the media: decoding as fast as it can on a loaded machine, mpv may find audio and video
# drifting apart for a moment and says so (three lines)
TIMING = re.compile(r"Audio/Video desynchronisation detected!.*?\(see A-V status field\)\.", re.S)


@dataclass(frozen=True)
class Played:
    reason: str  # "eof" when it played to the end
    last: float | None  # seconds from the start: the last frame shown
    duration: float | None
    problems: list[str]  # every warning or error mpv printed, a line each


def missing() -> str | None:
    return None if MPV else "mpv is not installed (scripts/test-tools.sh installs Debian's mpv)"


def play(url: str, timeout: float = 30) -> Played:
    cmd = [MPV or "mpv", "--no-config", "--vo=null", "--ao=null", "--ao-null-untimed", "--untimed"]
    cmd += ["--msg-level=all=warn", f"--script={PROBE}", url]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"mpv did not finish in {timeout} s: {(exc.stdout or b'')[-500:]!r}") from exc
    lines = [line.strip() for line in (done.stdout + done.stderr).decode(errors="replace").splitlines()]
    report = next((line.split() for line in lines if line.startswith("PLAYED ")), ["PLAYED", "none", "nil", "nil"])
    said = TIMING.sub("", "\n".join(line for line in lines if line and not line.startswith("PLAYED ")))
    problems = [line.strip() for line in said.splitlines() if line.strip()]  # a line each: see ``Played``
    if done.returncode != 0:
        problems.append(f"mpv exited with {done.returncode}")

    def number(text: str) -> float | None:
        return None if text == "nil" else float(text)

    return Played(report[1], number(report[2]), number(report[3]), problems)
