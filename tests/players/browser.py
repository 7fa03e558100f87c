"""hls.js and dash.js in one headless Chromium (Debian's) per session, driven with Playwright.

The harness page and the players' scripts are served by Playwright at ``<gateway>/__players/`` so the
page has the gateway's origin (no CORS set-up needed, as with the gateway's own /player page)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PLAYER_MODULES = HERE.parents[1] / "gateway" / "player" / "node_modules"  # the /player page's (make: npm ci)
HLS_JS = PLAYER_MODULES / "hls.js" / "dist" / "hls.min.js"
DASH_JS = PLAYER_MODULES / "dashjs" / "dist" / "modern" / "umd" / "dash.all.min.js"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--autoplay-policy=no-user-gesture-required",
]
FILES = {
    "harness.html": (HERE / "harness.html", "text/html"),
    "hls.min.js": (HLS_JS, "text/javascript"),
    "dash.all.min.js": (DASH_JS, "text/javascript"),
}
RATE = 2  # VOD plays at twice real time: timeupdate still samples every edit piece


def missing() -> str | None:
    """Why the browser players cannot run here, or None."""
    if CHROMIUM is None:
        return "chromium is not installed (scripts/test-tools.sh installs Debian's chromium)"
    for name, (path, _) in FILES.items():
        if not path.exists():
            return f"{name} is not installed (make installs the /player scripts with npm ci): {path}"
    return None


@dataclass
class Played:
    state: dict  # window.harness plus the video's duration, currentTime and decoded frames

    def __str__(self) -> str:
        brief = {k: v for k, v in self.state.items() if k != "times"}
        return json.dumps(brief)[:1500]


class Browser:
    """One Chromium and one context for the whole session; a page per test."""

    def __init__(self, playwright, base_url: str) -> None:
        self.chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        self.context = self.chromium.new_context()
        self.base_url = base_url
        self.folders: dict[str, Path] = {}
        self.context.route(f"{base_url}/__players/**", self._serve)

    def serve(self, name: str, folder: Path) -> str:
        """Serves ``folder``'s files at ``<gateway>/__players/<name>/`` (reference media); returns that URL."""
        self.folders[name] = folder
        return f"{self.base_url}/__players/{name}/"

    def _serve(self, route) -> None:
        name = route.request.url.split("/__players/", 1)[1].split("?", 1)[0]
        folder, _, rest = name.partition("/")
        if folder in self.folders and (self.folders[folder] / rest).is_file():
            route.fulfill(status=200, body=(self.folders[folder] / rest).read_bytes())
        elif name in FILES:
            path, kind = FILES[name]
            route.fulfill(status=200, body=path.read_bytes(), content_type=kind)
        else:
            route.fulfill(status=404, body=b"not found")

    def close(self) -> None:
        self.context.close()
        self.chromium.close()

    def open(self, player: str, src: str):
        page = self.context.new_page()
        page.goto(f"{self.base_url}/__players/harness.html?{urlencode({'player': player, 'src': src})}")
        return page


def state(page) -> dict:
    return page.evaluate("""() => {
        const v = document.getElementById('video');
        const q = v.getVideoPlaybackQuality();
        return {...window.harness, duration: v.duration, time: v.currentTime, paused: v.paused,
                frames: q.totalVideoFrames, dropped: q.droppedVideoFrames,
                buffered: Array.from({length: v.buffered.length}, (_, i) => [v.buffered.start(i), v.buffered.end(i)])};
    }""")


def wait(page, seconds: float, until: Callable[[dict], bool], what: str) -> dict:
    """Polls the page until ``until(state)``; a fatal player error or the deadline fails with the state."""
    deadline = time.monotonic() + seconds
    current: dict = {}
    while time.monotonic() < deadline:
        current = state(page)
        if current["fatal"] is not None:
            raise AssertionError(f"{what}: player error {current['fatal']}; {Played(current)}")
        if until(current):
            return current
        time.sleep(0.1)
    raise AssertionError(f"{what}: not reached in {seconds} s; {Played(current)}")


def play_vod(page, duration: float) -> tuple[dict, dict]:
    """Plays from the start to the end at RATE, then seeks to the middle and plays on.

    Returns (the state at the end, the state after the seek)."""
    wait(page, 20, lambda s: s["ready"], "loading")
    page.evaluate(f"document.getElementById('video').playbackRate = {RATE}")
    ended = wait(page, duration / RATE + 15, lambda s: s["ended"], "playing to the end")
    ended["frames"] = ended["end"]["frames"]  # decoded by the end (a seek after it decodes some again)
    middle = duration / 2
    page.evaluate(f"""() => {{ const v = document.getElementById('video');
        window.harness.ended = false; v.currentTime = {middle}; v.play().catch(() => {{}}); }}""")
    seeked = wait(page, 15, lambda s: middle + 0.5 < s["time"] or s["ended"], f"playing on after a seek to {middle}")
    return ended, seeked


def play_live(page, advance: float) -> tuple[dict, dict]:
    """Waits for live playback to start, then for it to advance by ``advance`` seconds of media."""
    first = wait(page, 30, lambda s: s["time"] > 0 and not s["paused"], "starting live playback")
    later = wait(page, advance * 3 + 30, lambda s: s["time"] >= first["time"] + advance, "live playback advancing")
    return first, later
