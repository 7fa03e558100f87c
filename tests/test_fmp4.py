"""fMP4 (CMAF) flows with init segments: HLS with #EXT-X-MAP, DASH MPDs and the timerange file, in ffprobe."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import httpx
import m3u8
import pytest
from conftest import new_id, video_flow
from media import make_cmaf
from test_hls import ffprobe_frames

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@pytest.fixture
def cmaf_flow(gateway_process, tmp_path):
    """A 6 s fMP4 flow: one init object and three 2 s media objects, uploaded and registered."""
    init, segments = make_cmaf(tmp_path / "clip.mp4", seconds=6)
    flow_id = new_id()
    with httpx.Client(base_url=gateway_process.url) as http:
        body = video_flow(flow_id, new_id(), container="video/iso.segment", max_bit_rate=800)
        body["essence_parameters"]["init_segments"] = True
        body["essence_parameters"]["avc_parameters"] = {"profile": 100, "level": 12, "flags": 0}
        assert http.put(f"/flows/{flow_id}", json=body).status_code == 201
        (init_obj,) = http.post(f"/flows/{flow_id}/storage", json={"limit": 1, "content_type": "video/mp4"}).json()[
            "media_objects"
        ]
        assert init_obj["put_url"]["content-type"] == "video/mp4"
        httpx.put(init_obj["put_url"]["url"], content=init, headers={"Content-Type": "video/mp4"})
        media = http.post(f"/flows/{flow_id}/storage", json={"limit": len(segments)}).json()["media_objects"]
        body = []
        for obj, (data, start, end) in zip(media, segments, strict=True):
            httpx.put(obj["put_url"]["url"], content=data, headers={"Content-Type": obj["put_url"]["content-type"]})
            body.append(
                {
                    "object_id": obj["object_id"],
                    "init_object_id": init_obj["object_id"],
                    "timerange": f"[{start // 10**9}:0_{end // 10**9}:0)",
                }
            )
        response = http.post(f"/flows/{flow_id}/segments", json=body)
        assert response.status_code == 201, response.text
    return flow_id, init, segments


@pytest.mark.slow
def test_hls_with_init_segments_plays(gateway_process, cmaf_flow):
    flow_id, _, _ = cmaf_flow
    url = f"{gateway_process.url}/flows/{flow_id}/playlist.m3u8?timerange=[0:0_6:0)"
    playlist = m3u8.loads(httpx.get(url).text)
    assert playlist.version == 6 and len(playlist.segments) == 3
    assert playlist.segments[0].init_section is not None and ".mp4" in playlist.segments[0].init_section.uri
    duration, frames = ffprobe_frames(url)
    assert frames == 150 and abs(duration - 6) < 0.1


@pytest.mark.slow
@pytest.mark.parametrize("uris", ["presigned", "proxy"])
def test_static_mpd_plays(gateway_process, cmaf_flow, uris):
    flow_id, _, _ = cmaf_flow
    url = f"{gateway_process.url}/flows/{flow_id}/manifest.mpd?timerange=[0:0_6:0)&uris={uris}"
    response = httpx.get(url)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/dash+xml")
    root = ET.fromstring(response.text)
    assert root.get("type") == "static" and root.get("mediaPresentationDuration") == "PT6S"
    rep = root.find(".//d:Representation", NS)
    assert rep.get("codecs") == "avc1.64000C" and rep.get("bandwidth") == "800000" and rep.get("width") == "1920"
    assert len(rep.findall(".//d:SegmentURL", NS)) == 3 and rep.find(".//d:Initialization", NS) is not None
    assert [s.get("d") for s in rep.findall(".//d:S", NS)] == ["180000"] * 3
    duration, frames = ffprobe_frames(url)
    assert frames == 150 and abs(duration - 6) < 0.1


@pytest.mark.slow
def test_live_mpd_is_dynamic(gateway_process, cmaf_flow):
    flow_id, _, _ = cmaf_flow
    root = ET.fromstring(httpx.get(f"{gateway_process.url}/flows/{flow_id}/manifest.mpd").text)
    # the flow's media times are 0-6 s, not TAI now: the wall clock is put at its last segment
    # (tests/test_dash_clock.py), not in 1970, where every segment would be out of timeShiftBufferDepth
    start = datetime.fromisoformat(root.get("availabilityStartTime", "").replace("Z", "+00:00"))
    assert root.get("type") == "dynamic" and 0 <= (datetime.now(UTC) - start).total_seconds() <= 6
    assert root.get("minimumUpdatePeriod") and root.get("publishTime")
    source_id = httpx.get(f"{gateway_process.url}/flows/{flow_id}").json()["source_id"]
    source = ET.fromstring(httpx.get(f"{gateway_process.url}/sources/{source_id}/manifest.mpd").text)
    assert len(source.findall(".//d:AdaptationSet", NS)) == 1
    assert httpx.get(f"{gateway_process.url}/flows/{new_id()}/manifest.mpd").status_code == 404


@pytest.mark.slow
def test_timerange_file_is_a_plain_mp4(gateway_process, cmaf_flow):
    """media.mp4 of an fMP4 flow is remuxed into one MP4 with the moov first (tests/test_clip_export.py)."""
    flow_id, _, _ = cmaf_flow
    response = httpx.get(f"{gateway_process.url}/flows/{flow_id}/media.mp4?timerange=[2:0_6:0)")
    assert response.content[4:8] == b"ftyp" and b"moov" in response.content[:4096] and b"moof" not in response.content
    duration, frames = ffprobe_frames(f"{gateway_process.url}/flows/{flow_id}/media.mp4?timerange=[2:0_6:0)")
    assert frames == 100 and abs(duration - 4) < 0.1
