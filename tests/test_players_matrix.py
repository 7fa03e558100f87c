"""The real-player matrix: every content a user can make x every common player x every endpoint.

Contents (tests/players/content.py, built once per session on one gateway process): a TS file and
an MP4 file ingested with the CLI, a CMAF flow with init segments, a multi source (separate video
and audio flows), an edit by reference, a live flow fed while it plays, a TS file whose PTS wraps.
Players: ffprobe (decodes every frame), GStreamer playbin (fake sinks), hls.js and dash.js in
headless Chromium. A combination that does not apply is skipped with the reason. All slow.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from urllib.parse import quote

import httpx
import m3u8
import pytest
from conftest import TEST_CATALOG, GatewayProcess
from media import AUDIO_FRAME, AUDIO_RATE, make_ts
from players import browser, content, ffmpeg, gstreamer, live, mpv, vlc
from players.cases import CONTENTS, DESKTOP, REFED_INIT, cases
from players.content import FPS, first_video_time
from players.reference import make_reference
from players.timeline import Expected, check

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        TEST_CATALOG != "sqlite", reason=f"players are tested once, on the SQLite catalog (this run: {TEST_CATALOG})"
    ),
]

TICK = Fraction(1, 90000)  # one 90 kHz tick: MPEG-TS and the MPD timescale
VOD_TIMEOUT = 20  # seconds: a 6 s VOD decodes in ~1 s; longer means the player waits for more (a live playlist)


# -- session fixtures: one gateway, the contents, one browser -------------------------------------------------


@pytest.fixture(scope="session")
def players_gateway(tmp_path_factory) -> Iterator[GatewayProcess]:
    # probing at registration is what derives codec parameters from uploaded media (issue 12, item 5)
    process = GatewayProcess(tmp_path_factory.mktemp("players") / "data", env={"TAMS_PROBE_ON_REGISTER": "true"})
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def contents(players_gateway, tmp_path_factory) -> dict:
    """Builds each content on first use (a failing build fails only the cases that need it)."""
    return {"gateway": players_gateway, "work": tmp_path_factory.mktemp("media"), "built": {}}


BUILDERS = {
    "ts": lambda http, base, work: content.ts_file(http, base, work, make_ts),
    "mp4": lambda http, base, work: content.mp4_file(http, base, work, make_ts),
    "ptswrap": lambda http, base, work: content.pts_wrap(http, base, work, make_ts),
    "cmaf": lambda http, base, work: content.cmaf(http, work, make_ts),
    "multi": lambda http, base, work: content.multi(http, work, make_ts),
    "edit": lambda http, base, work: content.edit(http, work, make_ts),
    "live": lambda http, base, work: live.live_media(http, work, make_ts),
}


def built(contents: dict, name: str):
    cache = contents["built"]
    if name not in cache:
        base = contents["gateway"].url
        try:
            with httpx.Client(base_url=base, timeout=60) as http:
                cache[name] = BUILDERS[name](http, base, contents["work"])
        except Exception as exc:  # remembered: every case of this content fails with the same reason
            cache[name] = exc
    if isinstance(cache[name], Exception):
        raise AssertionError(f"building the {name} content failed: {cache[name]!r}")
    return cache[name]


# module scope: Playwright's sync API runs an event loop on this thread until it stops, and later test
# modules call asyncio.run() themselves
@pytest.fixture(scope="module")
def chromium(players_gateway) -> Iterator[browser.Browser]:
    reason = browser.missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        session = browser.Browser(playwright, players_gateway.url)
        yield session
        session.close()


# -- endpoints ----------------------------------------------------------------------------------------------


def url(base: str, item, endpoint: str) -> str:
    """The URL a user would give the player (the README's watch URLs)."""
    flow = f"{base}/flows/{item.flow_id}"
    if endpoint == "hls":
        return f"{flow}/playlist.m3u8?timerange=_"
    if endpoint == "hls-fmp4":
        return f"{flow}/playlist.m3u8?timerange=_&container=fmp4"
    if endpoint == "multivariant":
        return f"{base}/sources/{item.source_id}/playlist.m3u8"
    if endpoint == "dash":
        return f"{base}/sources/{item.source_id}/manifest.mpd" if item.multi else f"{flow}/manifest.mpd"
    extension = endpoint.split(".")[1]
    return f"{flow}/media.{extension}?timerange={quote(item.flow_timerange, safe='')}"


def carries_audio(item, endpoint: str) -> bool:
    if item.multi:
        return endpoint in ("multivariant", "dash")
    return item.audio


def live_item(contents: dict) -> tuple[content.Content, live.LiveFlow]:
    media = built(contents, "live")
    flow = live.LiveFlow(contents["gateway"].url, media)
    item = content.Content("live", flow.flow_id, flow.source_id, media.expected, audio=True, live=True)
    return item, flow


# -- the matrix ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "player", "endpoint"), list(cases()))
def test_plays(name, player, endpoint, contents, request):
    base = contents["gateway"].url
    if name == "live":
        item, feed = live_item(contents)
    else:
        item, feed = built(contents, name), None
    if player in DESKTOP and (reason := DESKTOP[player].missing()):
        pytest.skip(reason)
    target = url(base, item, endpoint)
    who = f"{player} on {endpoint} of {name} ({target})"
    try:
        if feed:
            feed.start()
        if player == "ffmpeg":
            _ffmpeg(item, endpoint, target, who)
        elif player == "gstreamer":
            _gstreamer(item, feed, target, who)
        elif player == "mpv":
            _mpv(item, endpoint, target, who)
        elif player == "vlc":
            _vlc(target, who)
        else:
            _browser(request.getfixturevalue("chromium"), item, player, endpoint, feed, target, who)
    finally:
        if feed:
            feed.join(abort=True)


def _gather(problems: list[str], check_one, *args) -> None:
    """Runs one check, keeping its failure: a case reports everything wrong with it, not only the first."""
    try:
        check_one(*args)
    except AssertionError as exc:
        problems.append(str(exc).split("\nassert ")[0])


def _report(problems: list[str], who: str) -> None:
    assert not problems, f"{who}:\n- " + "\n- ".join(problems)


def _ffmpeg(item, endpoint: str, target: str, who: str) -> None:
    options: tuple[str, ...] = ("-live_start_index", "0") if item.live and endpoint != "dash" else ()
    unending = item.live and endpoint == "dash"  # N: read the flow's video frames, then stop
    if unending:
        options = ("-select_streams", "v", "-read_intervals", f"%+#{item.expected.frames - 1}")
    decoded = ffmpeg.decode(target, options, timeout=60 if item.live else VOD_TIMEOUT)
    problems = []
    warnings = decoded.warnings
    if item.live and endpoint == "hls-fmp4":  # M: the one warning every reload of a live fMP4 playlist makes
        warnings = [w for w in warnings if not w.endswith(REFED_INIT)]
    if warnings:
        problems.append(f"ffprobe warned ({len(warnings)} lines): {warnings[:6]}")
    if endpoint == "file.mp4" and "mp4" not in decoded.format_name:
        problems.append(f"media.mp4 is {decoded.format_name!r}, not MP4")
    if endpoint == "hls-fmp4" and "#EXT-X-MAP" not in httpx.get(target).text:
        problems.append("asked for fMP4 segments (?container=fmp4), the playlist has no #EXT-X-MAP")
    # media.mp4 is a file of its own (its timeline starts at 0); a playlist's direct object URLs carry the
    # objects' own times (flow time - ts_offset); everything the gateway remuxes is in flow time
    expected, segments = item.expected, _segments(target, item.flow_id)
    if unending:
        expected = replace(expected, frames=expected.frames - 1)
    if endpoint in ("hls", "multivariant") and segments and not _remuxed_first(target, item.flow_id):
        expected = replace(expected, start=expected.start - _offset(segments[0]))
    _gather(problems, check, decoded.video_pts, expected, TICK, "video", endpoint == "file.mp4")
    if carries_audio(item, endpoint) and not unending:
        # AAC frames for the flow's duration, one frame of slack at each segment edge: a segment that plays
        # its whole object instead of the part it uses (a second of audio more) fails
        want = item.expected.duration * AUDIO_RATE / AUDIO_FRAME
        if abs(decoded.audio_frames - want) > 2 * max(len(segments), 1):
            problems.append(
                f"{decoded.audio_frames} AAC frames decoded, {float(want):.1f} make the flow's "
                f"{float(item.expected.duration)} s"
            )
    _report(problems, who)


def _segments(target: str, flow_id: str) -> list[dict]:
    base = target.split("/flows/")[0].split("/sources/")[0]
    return httpx.get(f"{base}/flows/{flow_id}/segments", params={"limit": 1000}).json()


def _remuxed_first(target: str, flow_id: str) -> bool:
    """The flow's HLS playlist serves its first segment through the remux endpoint (flow time)."""
    base = target.split("/flows/")[0].split("/sources/")[0]
    lines = httpx.get(f"{base}/flows/{flow_id}/playlist.m3u8").text.splitlines()
    return "/remux/" in next((line for line in lines if line and not line.startswith("#")), "")


def _offset(segment: dict) -> Fraction:
    offset = segment.get("ts_offset", "0:0")
    sign = -1 if offset.startswith("-") else 1
    whole, _, ns = offset.lstrip("-").partition(":")
    return sign * (int(whole) + Fraction(int(ns or 0), 10**9))


def _gstreamer(item, feed, target: str, who: str) -> None:
    rendered = gstreamer.play(target, timeout=60 if item.live else VOD_TIMEOUT)
    problems = [f"GStreamer reported: {rendered.problems[:6]}"] if rendered.problems else []
    pts = rendered.video_pts
    if feed:  # live: it starts near the live edge, then must render everything registered after it started
        # its times are its own running time (see check's ``relative``), and it ran to the flow's end
        # (EOS after #EXT-X-ENDLIST): the later frames are those of the last (end - later_start) seconds
        later = [p for p in pts if pts and p > pts[-1] - (item.expected.end - feed.later_start)]
        if len(later) < (item.expected.end - feed.later_start) * item.expected.fps:
            problems.append(
                f"rendered {len(later)} frames after {float(feed.later_start)} s (registered live, "
                f"{live.LIVE_SECONDS - live.FIRST} refreshes); {len(pts)} frames in all"
            )
        if len(set(pts)) != len(pts):
            problems.append(f"{len(pts) - len(set(pts))} frames repeat a presentation time")
    else:
        _gather(problems, check, pts, item.expected, TICK, f"video ({len(set(pts))} distinct PTS)", True)
    _report(problems, who)


def _mpv(item, endpoint: str, target: str, who: str) -> None:
    """Played to the end, silently, its last frame at the flow's last (from its start), the right length."""
    played = mpv.play(target)
    said = played.problems
    if item.live and endpoint == "hls-fmp4":  # M: mpv reads HLS with libavformat, whose reloads re-feed the init
        said = [line for line in said if not line.endswith(REFED_INIT)]
    problems = [f"mpv said: {said[:6]}"] if said else []
    if played.reason != "eof":
        problems.append(f"playback ended with {played.reason!r}, not at the end of the stream")
    last = float(item.expected.duration - item.expected.frame)
    # mpv's position at the end lies inside the last frame's display time, not always at its start
    # (seen 13 and 35 ms past it at 25 fps, intermittently, most with audio that runs to the end):
    # a frame short or a frame too many still fails
    frame = float(item.expected.frame)
    if played.last is None or not last - frame / 2 < played.last < last + frame:
        problems.append(f"the last frame shown is at {played.last} s from the start; the flow's is at {last} s")
    if played.duration is None or abs(played.duration - float(item.expected.duration)) > float(item.expected.frame):
        problems.append(f"mpv says the stream lasts {played.duration} s, the flow {float(item.expected.duration)} s")
    _report(problems, who)


def _vlc(target: str, who: str) -> None:
    problems = vlc.play(target)
    _report([f"VLC complained: {problems[:6]}"] if problems else [], who)


def _browser(chromium, item, player: str, endpoint: str, feed, target: str, who: str) -> None:
    page = chromium.open("hls" if player == "hls.js" else "dash", target)
    try:
        if feed:
            first, later = browser.play_live(page, advance=3)
            assert later["time"] >= first["time"] + 3, f"{who}: live stopped advancing: {browser.Played(later)}"
            assert endpoint != "hls-fmp4" or "#EXT-X-MAP" in httpx.get(target).text, (
                f"{who}: asked for fMP4 segments (?container=fmp4), the playlist has no #EXT-X-MAP"
            )
            return
        duration = float(item.expected.duration)
        ended, seeked = browser.play_vod(page, duration)
        problems, frame = [], 1 / item.expected.fps
        if endpoint == "hls-fmp4" and "#EXT-X-MAP" not in httpx.get(target).text:
            problems.append("asked for fMP4 segments (?container=fmp4), the playlist has no #EXT-X-MAP")
        if abs(ended["duration"] - duration) > 2 * frame:
            problems.append(f"the player says {ended['duration']} s, the flow lasts {duration} s")
        if ended["maxTime"] < duration - 2 * frame:
            problems.append(f"ended at {ended['maxTime']} s, before the end")
        pieces = [0.0, *(float(e - item.expected.start) for e in item.expected.edits), duration]
        for start, end in zip(pieces[:-1], pieces[1:], strict=True):
            if not any(start <= t < end for t in ended["times"]):
                problems.append(f"playback never showed [{start}, {end}) (between edit points)")
        if abs(ended["frames"] - item.expected.frames) > 2:
            problems.append(f"decoded {ended['frames']} video frames, the flow has {item.expected.frames}")
        if seeked["time"] <= duration / 2:
            problems.append("did not play on after seeking to the middle")
        if problems:
            problems.append(f"player state: {browser.Played(ended)}")
        _report(problems, who)
    finally:
        page.close()


# -- what the flows themselves say, and the edit points in the playlist -------------------------------------


@pytest.mark.parametrize("name", [c for c in CONTENTS if c != "live"])
def test_flow_timerange_is_the_media(name, contents):
    """The flow's timerange lasts as long as the media put in (the PTS-wrap file included)."""
    item = built(contents, name)
    with httpx.Client(base_url=contents["gateway"].url) as http:
        timerange = content.flow_timerange(http, item.flow_id)
    assert timerange.start is not None and timerange.end is not None, f"{name}: flow timerange {timerange}"
    length = Fraction(timerange.end - timerange.start, 10**9)
    assert length == item.expected.duration, (
        f"{name}: the flow's timerange {timerange} lasts {float(length)} s; the media lasts "
        f"{float(item.expected.duration)} s"
    )
    assert abs(Fraction(timerange.start, 10**9) - item.expected.start) < Fraction(1, 10**9), (
        f"{name}: the flow starts at {timerange.start} ns; its first frame is at {float(item.expected.start)} s "
        "of the media's own (unwrapped) timeline"
    )


def test_edit_points_between_remuxed_segments_run_on(contents):
    """The edit's segments are all remuxed (flow time) and touch: its HLS, MPEG-TS and fMP4, marks no
    #EXT-X-DISCONTINUITY at the edit points and states one #EXT-X-MAP (VLC plays neither a restart of
    its MP4 reader nor, reliably, of its TS clock: docs/STREAMING.md, W and S); its MPD is one Period."""
    item = built(contents, "edit")
    base = contents["gateway"].url
    for endpoint in ("hls", "hls-fmp4"):
        text = httpx.get(url(base, item, endpoint)).text
        playlist = m3u8.loads(text)
        assert len(playlist.segments) == 1 + len(item.expected.edits)
        assert all("/remux/" in s.uri for s in playlist.segments), f"{endpoint}: not all remuxed"
        assert not any(s.discontinuity for s in playlist.segments), f"{endpoint}: {text}"
        assert text.count("#EXT-X-MAP:") == (endpoint == "hls-fmp4"), text
    assert httpx.get(url(base, item, "dash")).text.count("<Period") == 1


# -- the harness itself, on reference media from ffmpeg's own muxers ------------------------------------------
# Every check above passes on these and fails on media with a known defect, so a failure in the matrix is
# the gateway's, not the harness's.


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A 4 s clip, and ffmpeg's own HLS (TS segments) and DASH (fMP4) of it."""
    return make_reference(tmp_path_factory.mktemp("reference"), make_ts)


def test_ffprobe_checks_pass_on_a_good_file_and_fail_on_restarted_counters(reference, tmp_path):
    clip, _, _ = reference
    expected = Expected(4 * FPS, FPS, first_video_time(clip))
    decoded = ffmpeg.decode(str(clip))
    assert not decoded.warnings and decoded.audio_frames > 0
    check(decoded.video_pts, expected, TICK, "ffprobe")
    joined = tmp_path / "joined.ts"  # two separately muxed files back to back: counters and times restart
    joined.write_bytes(clip.read_bytes() + make_ts(tmp_path / "other.ts", seconds=2).read_bytes())
    assert any("corrupt" in w.lower() or "discontinuity" in w.lower() for w in ffmpeg.decode(str(joined)).warnings)
    with pytest.raises(AssertionError, match="video frames"):
        check(decoded.video_pts[:-1], expected, TICK, "ffprobe")
    with pytest.raises(AssertionError, match="jumps"):
        check(decoded.video_pts[:50] + [p + 1 for p in decoded.video_pts[50:]], expected, TICK, "ffprobe")


def test_gstreamer_checks_pass_on_ffmpeg_hls(reference):
    clip, hls, _ = reference
    rendered = gstreamer.play((hls / "index.m3u8").as_uri())
    assert not rendered.problems
    check(rendered.video_pts, Expected(4 * FPS, FPS, first_video_time(clip)), TICK, "gstreamer", relative=True)


def test_ffprobe_reads_ffmpeg_hls_and_dash(reference):
    clip, hls, dash = reference
    for url in (hls / "index.m3u8", dash / "index.mpd"):
        decoded = ffmpeg.decode(str(url))
        assert not decoded.warnings, decoded.warnings
        assert len(decoded.video_pts) == 4 * FPS


@pytest.mark.parametrize("player", ["hls", "dash"])
def test_browser_players_play_ffmpeg_output_to_the_end_and_seek(reference, chromium, player):
    _, hls, dash = reference
    base = chromium.serve(f"ref-{player}", hls if player == "hls" else dash)
    page = chromium.open(player, base + ("index.m3u8" if player == "hls" else "index.mpd"))
    try:
        ended, seeked = browser.play_vod(page, 4.0)
    finally:
        page.close()
    assert abs(ended["duration"] - 4) <= 0.08 and ended["maxTime"] >= 3.9
    assert abs(ended["frames"] - 4 * FPS) <= 2, browser.Played(ended)
    assert seeked["time"] > 2 and ended["fatal"] is None
    assert Fraction(0) <= Fraction(min(ended["times"])) < 1


def test_ffmpeg_refeeds_the_init_of_its_own_live_fmp4_hls(tmp_path):
    """M is ffmpeg's: its own fMP4 HLS, reloaded live once (the same #EXT-X-MAP URI), makes ffprobe warn
    "duplicated MOOV" exactly as the gateway's live fMP4 playlists do, and every frame still plays."""
    clip = make_ts(tmp_path / "clip.ts", seconds=4)
    hls = tmp_path / "hls"
    hls.mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(clip),
            "-c",
            "copy",
            "-bsf:a",
            "aac_adtstoasc",
            "-f",
            "hls",
            "-hls_time",
            "1",
        ]
        + ["-hls_segment_type", "fmp4", "-hls_playlist_type", "vod", "-hls_segment_filename", str(hls / "s%d.m4s")]
        + [str(hls / "index.m3u8")],
        check=True,
        timeout=60,
    )
    whole = (hls / "index.m3u8").read_text()
    # live: the first two segments, until the second has been fetched; then the rest and the end
    cut = whole.index("s2.m4s")
    start = whole[: whole.rindex("#EXTINF", 0, cut)].replace("#EXT-X-PLAYLIST-TYPE:VOD\n", "")
    fetched: set[str] = set()

    class Live(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(hls), **kwargs)

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            fetched.add(self.path)
            if self.path == "/live.m3u8":
                body = (whole if "/s1.m4s" in fetched else start).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Live)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        decoded = ffmpeg.decode(f"http://127.0.0.1:{server.server_port}/live.m3u8", timeout=60)
    finally:
        server.shutdown()
    assert [w for w in decoded.warnings if w.endswith(REFED_INIT)], decoded.warnings
    assert all(w.endswith(REFED_INIT) for w in decoded.warnings), decoded.warnings
    assert len(decoded.video_pts) == 4 * FPS


@pytest.mark.parametrize("name", ["ts", "mp4", "multi", "cmaf"])
def test_multivariant_codecs_name_every_track(name, contents):
    """RFC 8216 §4.3.4.2: a variant's CODECS lists every codec in it, the audio muxed in an MPEG-TS flow
    included (read from the media), the audio group's otherwise; a video-only flow lists only its own."""
    item = built(contents, name)
    playlist = m3u8.loads(httpx.get(url(contents["gateway"].url, item, "multivariant")).text)
    codecs = [p.stream_info.codecs for p in playlist.playlists]
    assert codecs and all(c and c.startswith("avc1.") for c in codecs), codecs
    has_audio = [c for c in codecs if "mp4a.40.2" in c.split(",")]
    assert has_audio == (codecs if item.audio or item.multi else []), f"{name}: CODECS {codecs}"
