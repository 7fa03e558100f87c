"""The /player page in headless Chromium plays VOD and live flows from a running gateway, with hls.js (HLS)
and with dash.js (``player=dash``: the MPD)."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from conftest import new_id, video_flow
from media import make_ts
from players.browser import CHROMIUM, FLAGS

from gateway.ingest import ingest
from gateway.routes.player import DASH_JS, HLS_JS
from streaming.ingest.segmenter import cut


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make test installs Debian's chromium)")
    if not HLS_JS.exists() or not DASH_JS.exists():
        pytest.skip("hls.js or dash.js is not installed (make test installs them with npm)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def ingest_now(url: str, clip, flow_id: str) -> None:
    """Runs the async ingest in its own thread: Playwright's sync API owns this thread's event loop."""
    worker = threading.Thread(target=lambda: asyncio.run(ingest(url, clip, flow_id, quiet=True)))
    worker.start()
    worker.join()


def watch(page, seconds: float, until) -> dict:
    deadline = time.monotonic() + seconds
    state = {}
    while time.monotonic() < deadline:
        state = page.evaluate("({...window.playerState, time: document.getElementById('video').currentTime})")
        assert state["fatal"] is None, state
        if until(state):
            return state
        time.sleep(0.25)
    raise AssertionError(f"player state after {seconds} s: {state}")


PLAYERS = {"hls": "", "dash": "&player=dash"}


@pytest.mark.slow
@pytest.mark.parametrize(("player", "uris"), [("hls", "presigned"), ("hls", "proxy"), ("dash", "presigned")])
def test_vod_plays_and_seeks(browser, gateway_process, tmp_path, player, uris):
    clip = make_ts(tmp_path / "clip.ts", seconds=12, width=320, height=180)
    flow_id = new_id()
    ingest_now(gateway_process.url, clip, flow_id)
    assert len(httpx.get(f"{gateway_process.url}/flows/{flow_id}/segments").json()) == 6
    page = browser.new_page()
    page.goto(f"{gateway_process.url}/player?id={flow_id}&timerange=[0:0_100:0)&uris={uris}{PLAYERS[player]}")
    started = watch(page, 20, lambda s: s["time"] > 1.0)
    assert started["player"] == ("dash.js" if player == "dash" else "hls.js") and started["live"] is False
    page.evaluate("document.getElementById('video').currentTime = 8")
    state = watch(page, 20, lambda s: s["time"] > 8.2)
    assert state["time"] < 12.5
    page.close()


@pytest.mark.slow
@pytest.mark.parametrize("player", PLAYERS)
def test_live_flow_plays_as_segments_arrive(browser, gateway_process, tmp_path, player):
    clip = make_ts(tmp_path / "live.ts", seconds=24, width=320, height=180)
    chunks = list(cut(clip, 2))
    flow_id = new_id()
    with httpx.Client(base_url=gateway_process.url) as http:
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
        objects = http.post(f"/flows/{flow_id}/storage", json={"limit": len(chunks)}).json()["media_objects"]
        for obj, chunk in zip(objects, chunks, strict=True):
            httpx.put(obj["put_url"]["url"], content=chunk.data, headers={"Content-Type": "video/mp2t"})

        def register(index: int) -> None:
            body = {"object_id": objects[index]["object_id"], "timerange": str(chunks[index].timerange)}
            assert http.post(f"/flows/{flow_id}/segments", json=body).status_code == 201

        for index in range(4):
            register(index)
        stop = threading.Event()

        def feed() -> None:  # one more segment every second, as a live encoder would
            for index in range(4, len(chunks)):
                if stop.wait(1.0):
                    return
                register(index)

        feeder = threading.Thread(target=feed)
        feeder.start()
        try:
            page = browser.new_page()
            page.goto(f"{gateway_process.url}/player?id={flow_id}{PLAYERS[player]}")
            first = watch(page, 20, lambda s: s["time"] > 0.5)
            assert first["live"] is True
            later = watch(page, 30, lambda s: s["time"] > first["time"] + 4)
            assert later["time"] > first["time"]
            page.close()
        finally:
            stop.set()
            feeder.join()
