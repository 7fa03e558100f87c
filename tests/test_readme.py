"""The README's own walkthrough, as written: on a fresh data dir, its ingest command, then every URL of
its "watch it" table played in ffprobe (every frame, no warning), the player page, and its `curl -OJ`
of a clip run in a shell (the file it saves is the 10 s it asks for)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, GatewayProcess
from media import make_ts
from players import ffmpeg
from players.content import FPS

pytestmark = pytest.mark.slow
README = (ROOT / "README.md").read_text()
SECONDS = 24  # the README's clip is cut at [10:0_20:0)


def ingest_command() -> list[str]:
    """The README's ingest line, without the comment; ``.venv/bin/tams-gateway`` is this checkout's CLI."""
    line = next(line for line in README.splitlines() if line.startswith(".venv/bin/tams-gateway ingest"))
    words = shlex.split(line.split("#")[0])
    return [sys.executable, "-m", "gateway.cli", *words[1:]]


def watch_table() -> dict[str, str]:
    """The "watch it" table: what -> the cell with its URL(s) or command."""
    start = README.index("To watch it")
    rows = {}
    for line in README[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        if line.startswith("|---"):
            continue
        what, cell = (part.strip() for part in line.strip("|").split("|", 1))
        rows[what] = cell
    return rows


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    work = tmp_path_factory.mktemp("readme")
    gateway = GatewayProcess(work / "data")  # a fresh data dir, the default settings
    gateway.start()
    try:
        make_ts(work / "clip.ts", seconds=SECONDS)
        command = ingest_command()
        flow_id = command[command.index("--flow-id") + 1]
        port = gateway.url.rsplit(":", 1)[1]
        env = {"PATH": "/usr/bin:/bin", "TAMS_HOST": "127.0.0.1", "TAMS_PORT": port, "NO_PROXY": "127.0.0.1"}
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr.decode()[-1500:]
        source_id = httpx.get(f"{gateway.url}/flows/{flow_id}").json()["source_id"]
        yield gateway, work, flow_id, source_id
    finally:
        gateway.stop()


def filled(text: str, base: str, flow_id: str, source_id: str) -> str:
    text = text.replace("http://127.0.0.1:8000", base).replace("…", base)
    return text.replace("<flow id>", flow_id).replace("<source id>", source_id)


def test_the_ingested_flow_is_finished(walkthrough):
    gateway, _, flow_id, _ = walkthrough
    assert httpx.get(f"{gateway.url}/flows/{flow_id}").json()["status"] == "closed_complete"


def test_every_watch_url_plays_the_whole_file(walkthrough):
    gateway, _, flow_id, source_id = walkthrough
    urls = [
        filled(url, gateway.url, flow_id, source_id)
        for what, cell in watch_table().items()
        if "clip" not in what and "browser" not in what
        for url in re.findall(r"`([^`]+)`", cell)
    ]
    assert len(urls) == 5, urls  # HLS, fMP4 HLS, DASH, the source's multivariant and MPD
    for url in urls:
        decoded = ffmpeg.decode(url, timeout=60)
        assert not decoded.warnings, (url, decoded.warnings[:5])
        assert len(decoded.video_pts) == SECONDS * FPS, (url, len(decoded.video_pts))
        assert decoded.audio_frames > 0, url


def test_the_player_page_loads_the_flow(walkthrough):
    gateway, _, flow_id, source_id = walkthrough
    (cell,) = [cell for what, cell in watch_table().items() if "browser" in what]
    urls = [filled(url, gateway.url, flow_id, source_id) for url in re.findall(r"`([^`]+)`", cell)]
    assert len(urls) == 2 and urls[1].endswith("&player=dash")  # tests/test_player.py plays both in Chromium
    for url in urls:
        page = httpx.get(url)
        assert page.status_code == 200 and "hls.min.js" in page.text and "dash.all.min.js" in page.text


def test_curl_saves_the_clip_cut_exactly(walkthrough):
    gateway, work, flow_id, source_id = walkthrough
    (cell,) = [cell for what, cell in watch_table().items() if "clip" in what]
    command = filled(re.findall(r"`(curl [^`]+)`", cell)[0], gateway.url, flow_id, source_id)
    folder = work / "download"
    folder.mkdir()
    subprocess.run(["bash", "-c", command + " --silent --fail"], cwd=folder, check=True, timeout=120)
    (saved,) = list(folder.iterdir())
    assert saved.name == "clip_10-20.mp4"  # the ingested file's label, without its extension, and the span
    decoded = ffmpeg.decode(str(saved))
    assert not decoded.warnings and "mp4" in decoded.format_name
    assert len(decoded.video_pts) == 10 * FPS, len(decoded.video_pts)


def test_the_readme_is_what_is_tested():
    assert Path(ingest_command()[4]).name == "clip.ts" and "--flow-id" in ingest_command()
    assert len(watch_table()) == 6, watch_table()
