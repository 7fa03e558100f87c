"""The matrix's cases: which (content x player x endpoint) apply, and which still fail, with why.

tests/test_players_matrix.py runs one test per case; docs/STREAMING.md "Players, as tested" has the
lettered known issues the lists below name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import mpv, vlc

CONTENTS = ["ts", "mp4", "cmaf", "multi", "edit", "live", "ptswrap"]
ENDPOINTS = ["hls", "hls-fmp4", "multivariant", "dash", "file.ts", "file.mp4"]
READS = {
    "ffmpeg": set(ENDPOINTS),
    "gstreamer": {"hls", "multivariant", "dash", "file.ts"},
    "hls.js": {"hls", "hls-fmp4", "multivariant"},
    "dash.js": {"dash"},
    "mpv": {"hls", "hls-fmp4", "dash", "file.mp4"},
    "vlc": {"hls", "hls-fmp4", "dash", "file.mp4"},
}
DESKTOP = {"mpv": mpv, "vlc": vlc}  # desktop players, run headless


def why_not(name: str, player: str, endpoint: str) -> str | None:
    """The reason a combination does not apply, or None."""
    if endpoint not in READS[player]:
        return f"{player} does not read {endpoint} (it plays {', '.join(sorted(READS[player]))})"
    if name == "live" and player == "mpv" and endpoint == "dash":
        return "mpv's DASH reader is libavformat's, which never ends a presentation that was dynamic (N)"
    if name == "live" and player == "vlc" and endpoint == "dash":
        return (
            "VLC 3's DASH reader keeps the MPD@type of its first load (an update only merges "
            "availabilityEndTime and the Periods' timelines), so a live MPD that turns static never ends for it"
        )
    if name == "live" and endpoint.startswith("file"):
        return "a live flow has no end: media.ts/media.mp4 are files of a finished timerange"
    if name == "cmaf" and endpoint == "hls-fmp4":
        return "the flow is fMP4 already: its own HLS playlist (the hls case) is fMP4 HLS"
    if player == "gstreamer" and endpoint == "file.ts" and name == "multi":
        return "the multi's video flow alone as a file is the ts content's file case (no audio to sync)"
    return None


# Cases that still fail on the product, with their signature (docs/STREAMING.md "Players, as tested").
# Strict: a case that starts passing fails the run until it is taken off this list.
KNOWN_FAILURES: dict[str, str] = {}

# What ffmpeg itself cannot do on live media, whatever the gateway serves (docs/STREAMING.md, M and N; the
# harness self-checks in tests/test_players_matrix.py show the same on ffmpeg's own output):
# M: at every reload of a live fMP4 playlist its HLS reader feeds the #EXT-X-MAP init to the MP4 demuxer
# again (it compares init sections by pointer, and each reload allocates new ones), which skips it with
# this one warning; everything else is checked as for any other case.
REFED_INIT = "Found duplicated MOOV Atom. Skipped it"
# N: its DASH reader never ends a presentation that was once dynamic (``is_live`` is never cleared), so a
# live viewer's needs are checked instead: ffprobe reads the flow's video up to its last frame, then stops
# (``-read_intervals %+#N`` stops at the packet after the N-th, which an unending reader never gets to:
# hence all frames but the last, from the flow's first, in order, with no warning).

# Every case that runs gets one rerun (pytest-rerunfailures): real players run in real time on a shared
# 2-core machine, so a case that fails once is tried again before the run fails; pytest's summary counts
# the reruns ("N rerun"), and each one is a lead to follow, not a pass to forget.
RERUN = pytest.mark.flaky(reruns=1, reruns_delay=2)

# Cases that pass on some runs and not others on a loaded 2-core machine, not yet understood: a
# non-strict expected failure, so the case cannot fail the run. Empty since every case has RERUN (Z,
# mp4-mpv-file.mp4, was here: it passed in every whole run after mpv_probe.lua reported at shutdown).
FLAKY: dict[str, str] = {}


def cases() -> Iterator:
    for player in READS:
        for endpoint in ENDPOINTS:
            for name in CONTENTS:
                case = f"{name}-{player}-{endpoint}"
                reason = why_not(name, player, endpoint)
                marks = [pytest.mark.skip(reason=reason)] if reason else [RERUN]
                if case in FLAKY:
                    marks.append(pytest.mark.xfail(strict=False, reason=f"intermittent: {FLAKY[case]}"))
                if case in KNOWN_FAILURES:
                    marks.append(
                        pytest.mark.xfail(strict=True, reason=f"known product failure: {KNOWN_FAILURES[case]}")
                    )
                yield pytest.param(name, player, endpoint, id=case, marks=marks)
