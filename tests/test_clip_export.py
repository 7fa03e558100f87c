"""Clip export: ``media.ts`` / ``media.mp4`` cut to the requested timerange, frame-accurate at the
cut points, with a useful file name; an MP4 whatever the flow's container. Real gateway process,
real SQLite catalog and local-disk store; the files are read back with ffprobe/ffmpeg."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import new_id
from remux_media import FIRST, FRAME, S, close_to_tick, make_flows, probe

from streaming.playback.muxers import boxes

pytestmark = pytest.mark.slow  # every test here runs against a real gateway process


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    made = make_flows(tmp_path_factory.mktemp("clips"))
    yield made
    made.gateway.stop()


def _download(flows, flow_id: str, name: str, tmp_path, timerange: str | None = None):
    params = {"timerange": timerange} if timerange else {}
    response = httpx.get(f"{flows.gateway.url}/flows/{flow_id}/{name}", params=params, timeout=120)
    assert response.status_code == 200, response.text
    path = tmp_path / name
    path.write_bytes(response.content)
    return response, path


def _filename(response: httpx.Response) -> str:
    match = re.fullmatch(r'attachment; filename="([A-Za-z0-9._-]+)"', response.headers["content-disposition"])
    assert match, response.headers["content-disposition"]
    return match.group(1)


def test_ts_clip_is_cut_to_the_frames_of_the_timerange(flows, tmp_path):
    """[3:0_5:0) starts and ends inside GOPs of objects 1 and 2 (key frames at x.021333 s)."""
    response, path = _download(flows, flows.source, "media.ts", tmp_path, "[3:0_5:0)")
    assert response.headers["content-type"] == "video/mp2t"
    assert _filename(response).endswith("_3-5.ts")
    assert response.headers["x-tams-timerange"] == "[3:0_5:0)"
    played = probe(path)
    assert played.warnings == ""
    first = FIRST + 75 * FRAME  # the first frame at or after 3 s
    assert played.frames == 50
    assert close_to_tick(played.first, first) and close_to_tick(played.last, first + 49 * FRAME)


def test_ts_of_an_edit_flow_crosses_its_edit_points(flows, tmp_path):
    response, path = _download(flows, flows.edit, "media.ts", tmp_path)
    assert _filename(response) == "Edit_news_1_0-4.8.ts"
    played = probe(path)
    assert played.warnings == ""  # one muxer for the whole file: no continuity or timestamp jumps
    assert played.frames == 120
    assert close_to_tick(played.first, 0) and close_to_tick(played.last, 4_800_000_000 - FRAME)


def test_mp4_clip_is_a_plain_mp4_timed_from_zero(flows, tmp_path):
    response, path = _download(flows, flows.edit, "media.mp4", tmp_path, "[1:0_4:0)")
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["content-length"] == str(len(response.content))
    assert _filename(response) == "Edit_news_1_1-4.mp4"
    kinds = [kind for kind, _ in boxes(response.content)]
    assert kinds[:2] == ["ftyp", "moov"] and "mdat" in kinds and "moof" not in kinds  # moov first: seekable
    played = probe(path)
    assert played.warnings == "" and "mp4" in played.format
    assert played.frames == 75  # 1 s to 4 s of the edit at 25 fps, across both edit points
    assert close_to_tick(played.first, 0) and close_to_tick(played.last, 74 * FRAME)
    assert abs(played.duration - 3.0) < 0.05


def test_mp4_of_a_ts_flow(flows, tmp_path):
    response, path = _download(flows, flows.source, "media.mp4", tmp_path, "[3:0_5:0)")
    played = probe(path)
    assert played.warnings == "" and played.frames == 50
    assert close_to_tick(played.first, FIRST + 75 * FRAME - 3 * S)  # from 0 at the clip's start
    assert played.audio_packets > 80


def test_whole_segments_stay_the_objects_back_to_back(flows):
    url = f"{flows.gateway.url}/flows/{flows.source}/media.ts"
    whole = httpx.get(url)
    assert whole.headers["accept-ranges"] == "bytes" and _filename(whole).endswith(".ts")
    part = httpx.get(url, headers={"Range": "bytes=0-187"})
    assert part.status_code == 206 and part.content == whole.content[:188]


def test_a_remuxed_mp4_is_seekable_with_range(flows):
    """A Range is the slice of the whole file, and If-Range with the file's ETag holds (VLC's MP4 reader
    takes only a seekable MP4)."""
    url = f"{flows.gateway.url}/flows/{flows.edit}/media.mp4?timerange=[1:0_4:0)"
    whole = httpx.get(url, timeout=120)
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["etag"]
    part = httpx.get(url, headers={"Range": "bytes=100-5099", "If-Range": whole.headers["etag"]}, timeout=120)
    assert part.status_code == 206 and part.headers["content-range"] == f"bytes 100-5099/{len(whole.content)}"
    assert part.content == whole.content[100:5100]
    tail = httpx.get(url, headers={"Range": f"bytes={len(whole.content) - 10}-"}, timeout=120)
    assert tail.status_code == 206 and tail.content == whole.content[-10:]


def test_head_names_the_file_without_making_it(flows):
    response = httpx.head(f"{flows.gateway.url}/flows/{flows.edit}/media.mp4")
    assert response.status_code == 200 and response.content == b""
    assert _filename(response) == "Edit_news_1_0-4.8.mp4" and response.headers["etag"]
    assert not (_kept(flows) / f"{response.headers['etag'].strip(chr(34))}.mp4").exists()


def _kept(flows):
    return flows.gateway.data_dir / "cache" / "clips"


def test_a_made_mp4_is_kept_and_read_again_not_remade(flows):
    """A player's seeks are Range requests: each reads the file made for the first one."""
    url = f"{flows.gateway.url}/flows/{flows.source}/media.mp4?timerange=[1:0_7:0)"
    whole = httpx.get(url, timeout=120)
    kept = _kept(flows) / f"{whole.headers['etag'].strip(chr(34))}.mp4"
    assert kept.read_bytes() == whole.content
    made = kept.stat().st_ino
    for start in (len(whole.content) // 2, 1000, len(whole.content) - 100):
        part = httpx.get(url, headers={"Range": f"bytes={start}-"}, timeout=120)
        assert part.status_code == 206 and part.content == whole.content[start:]
    head = httpx.head(url)
    assert head.headers["content-length"] == str(len(whole.content)) and head.headers["etag"] == whole.headers["etag"]
    assert kept.stat().st_ino == made  # the same file: made once, not again per request


def test_a_matching_if_none_match_is_a_304_without_making_the_file(flows):
    url = f"{flows.gateway.url}/flows/{flows.source}/media.mp4?timerange=[2:0_3:0)"
    etag = httpx.head(url).headers["etag"]
    response = httpx.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.headers["etag"] == etag and response.content == b""
    assert not (_kept(flows) / f"{etag.strip(chr(34))}.mp4").exists()
    assert httpx.get(url, timeout=120).headers["etag"] == etag  # and the bytes under that tag, when asked


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/flows/{flow}/media.mkv", 400),
        ("/flows/{flow}/media.mp4?timerange=3:0_x", 400),
        ("/flows/{flow}/media.mp4?timerange=[100:0_200:0)", 404),
        ("/flows/{unknown}/media.mp4", 404),
        ("/flows/{unknown}/media.ts", 404),
    ],
)
def test_errors_are_json(flows, path, status):
    response = httpx.get(flows.gateway.url + path.format(flow=flows.edit, unknown=new_id()))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json") and response.json()["summary"]
