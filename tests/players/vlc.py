"""VLC (``cvlc``), headless (dummy interface, video and audio outputs), at 8x speed, to the end.

VLC refuses to run as root: as root it runs as ``nobody`` (``setpriv``), with a HOME of its own.
Its ``-vv`` log is read for errors and warnings of the modules that read the media (demuxers,
packetizers, decoders, the adaptive-streaming module); VLC reports no frame times, so what is
checked is that it plays the stream through to its end without complaint."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

CVLC = shutil.which("cvlc")
SETPRIV = shutil.which("setpriv")
NOBODY = 65534
# "[ptr] <module> <type> <level>: text" (VLC's -vv log)
LINE = re.compile(r"^\[[0-9a-f]+\] (?P<module>.+?) (?P<level>error|warning): (?P<text>.*)$")
# not about the media: no D-Bus, X11 or home directory in a headless run; and the clock of an 8x run
# (late pictures dropped); and notes VLC prints on a plain local MP4 from ffmpeg/PyAV too: the AAC
# decoder's first (priming) frame, the sample tables and edit list it read, an fMP4 init's empty tables
TOLERATED = (
    re.compile(r"interface|dbus|globalhotkeys|could not create|inhibit"),
    re.compile(r"too late|late frames|dropping frame|playback too (late|early)|picture might be displayed late"),
    re.compile(r"decoded zero sample|no chunk defined|STTS table of \d+ entries|elst box found"),
    # a remuxed TS segment is a file of its own: its continuity counters restart, and the discontinuity
    # indicator on each PID's first packet is how MPEG-TS announces that (VLC notes it and reads on)
    re.compile(r"ts demux discontinuity indicator \(pid=\d+\)"),
    # the remux writes each fragment's video run then its audio run: VLC reads a fetched fragment in two
    # passes (it plays; the players that read fragments as they arrive do not mind)
    re.compile(r"mp4 demux that media doesn't look interleaved, will need to seek"),
)


def missing() -> str | None:
    if CVLC is None:
        return "VLC is not installed (scripts/test-tools.sh installs Debian's vlc-bin and vlc-plugin-base)"
    if os.geteuid() == 0 and SETPRIV is None:
        return "VLC does not run as root, and setpriv (util-linux) is missing to run it as nobody"
    return None


def complaints(log: str) -> list[str]:
    """The errors and warnings of a -vv log that are about the media."""
    found = []
    for line in log.splitlines():
        match = LINE.match(line.strip())
        if match and not any(p.search(f"{match['module']} {match['text']}") for p in TOLERATED):
            found.append(line.strip())
    return found


def play(url: str, timeout: float = 60) -> list[str]:
    """Plays ``url`` to its end; returns VLC's complaints (empty: it played cleanly)."""
    with tempfile.TemporaryDirectory(prefix="vlc-home-") as home:
        os.chmod(home, 0o777)
        cmd = [CVLC or "cvlc", "-vv", "--intf", "dummy", "--vout", "dummy", "--aout", "dummy"]
        cmd += ["--play-and-exit", "--no-stats", "--rate", "8", url]
        if os.geteuid() == 0:
            cmd = [SETPRIV or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *cmd]
        env = {**os.environ, "HOME": home}
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False, env=env)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"VLC did not finish in {timeout} s (it waits for more)") from exc
        log = (done.stdout + done.stderr).decode(errors="replace")
    found = complaints(log)
    if done.returncode != 0:
        found.append(f"VLC exited with {done.returncode}: {log[-500:]}")
    return found
