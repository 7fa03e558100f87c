"""DASH MPDs on a real catalog: Periods at timeline breaks, MPEG-TS served as remuxed fMP4, unsigned
timing (a flow that starts just before 0), codec strings or a clear error, and the live/VOD rule."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from urllib.parse import urlsplit

import pytest
from conftest import audio_flow, new_id, video_flow
from test_discontinuity import edit, register  # noqa: F401 (edit is a fixture)

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
TIMESCALE = 90_000


def seconds(duration: str) -> Fraction:
    """xs:duration as this gateway writes it (PT<seconds>S) → exact seconds."""
    assert duration.startswith("PT") and duration.endswith("S"), duration
    return Fraction(duration[2:-1])


def mpd(client, path: str) -> ET.Element:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/dash+xml")
    return ET.fromstring(response.text)


def presentation_starts(root: ET.Element) -> dict[str, list[Fraction]]:
    """Per representation id, each segment's presentation time: (S@t - PTO) / timescale + Period@start.

    Also checks the schema's unsigned rule for every S@t and presentationTimeOffset."""
    out: dict[str, list[Fraction]] = {}
    for period in root.findall("d:Period", NS):
        start = seconds(period.get("start"))
        for rep in period.findall(".//d:Representation", NS):
            seg_list = rep.find("d:SegmentList", NS)
            offset = int(seg_list.get("presentationTimeOffset"))
            assert offset >= 0
            t = None
            for s in seg_list.findall(".//d:S", NS):
                t = int(s.get("t")) if s.get("t") is not None else t
                assert t is not None and t >= 0
                out.setdefault(rep.get("id"), []).append(Fraction(t - offset, TIMESCALE) + start)
                t += int(s.get("d"))
    return out


def test_ts_edit_plays_as_fmp4_with_a_period_per_gap(client, edit):  # noqa: F811
    """Remuxed fragments carry flow time: the edit points (ts_offset changes) play on in one Period
    (ffmpeg plays only an MPD's last Period); only the gap in flow time (10 s to 12 s) starts one."""
    flow = edit["flow"]
    root = mpd(client, f"/flows/{flow}/manifest.mpd")
    assert root.get("type") == "static" and seconds(root.get("mediaPresentationDuration")) == 16
    periods = root.findall("d:Period", NS)
    assert [seconds(p.get("start")) for p in periods] == [0, 12]
    for period in periods:
        (adaptation,) = period.findall("d:AdaptationSet", NS)
        assert adaptation.get("mimeType") == "video/mp4"
        (rep,) = adaptation.findall("d:Representation", NS)
        assert rep.get("codecs") == "avc1.64001E"
        init = rep.find(".//d:Initialization", NS).get("sourceURL")
        assert init == f"http://testserver/flows/{flow}/remux/init.mp4"
        assert all(urlsplit(u.get("media")).path.endswith(".m4s") for u in rep.findall(".//d:SegmentURL", NS))
    # remuxed bytes carry flow time, so each segment lands at its flow time
    assert presentation_starts(root)[flow] == [0, 2, 4, 6, 8, 12, 14, 15]


def test_a_codec_string_is_required_and_named(client):
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), status="closed_complete"))
    register(client, flow_id, [{"object_id": new_id(), "timerange": "[0:0_2:0)"}])
    response = client.get(f"/flows/{flow_id}/manifest.mpd")
    assert response.status_code == 409 and response.headers["content-type"] == "application/json"
    assert "avc_parameters" in response.json()["summary"] and "undefined" not in response.text


def cmaf(client, flow_id: str, body: dict, starts_ns: list[int], length_ns: int, inits: list[str]) -> None:
    body = {**body, "container": body["container"].split("/")[0] + "/iso.segment", "status": "closed_complete"}
    body["essence_parameters"] = {**body["essence_parameters"], "init_segments": True}
    assert client.put(f"/flows/{flow_id}", json=body).status_code == 201
    register(
        client,
        flow_id,
        [
            {"object_id": new_id(), "init_object_id": init, "timerange": f"[{ts(start)}_{ts(start + length_ns)})"}
            for start, init in zip(starts_ns, inits, strict=True)
        ],
    )


def ts(ns: int) -> str:
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    return f"{sign}{ns // 10**9}:{ns % 10**9}"


def test_timing_is_unsigned_and_aligned_when_a_flow_starts_before_zero(client):
    """AAC priming: audio from -1024/48000 s, video from 0. Every S@t and presentationTimeOffset is
    non-negative, and the audio still plays 1024 samples before the video."""
    video, audio, multi, source = new_id(), new_id(), new_id(), new_id()
    video_body = video_flow(video, new_id())
    video_body["essence_parameters"]["avc_parameters"] = {"profile": 100, "level": 30, "flags": 0}
    cmaf(client, video, video_body, [0, 2 * 10**9], 2 * 10**9, [new_id()] * 2)
    priming = 1024 * 10**9 // 48000  # 21333333 ns
    audio_body = audio_flow(audio, new_id())
    audio_body["essence_parameters"]["codec_parameters"] = {"mp4_oti": 2}
    aac_frames = 94 * 1024 * 10**9 // 48000  # ~2 s of AAC frames per segment
    cmaf(client, audio, audio_body, [-priming, -priming + aac_frames], aac_frames, [new_id()] * 2)
    client.put(
        f"/flows/{multi}",
        json={
            "id": multi,
            "source_id": source,
            "format": "urn:x-nmos:format:multi",
            "flow_collection": [{"id": video, "role": "v"}, {"id": audio, "role": "a"}],
        },
    )
    root = mpd(client, f"/sources/{source}/manifest.mpd")
    assert root.get("type") == "static"
    kinds = {a.get("contentType"): a for a in root.findall(".//d:AdaptationSet", NS)}
    assert kinds["audio"].get("mimeType") == "audio/mp4" and kinds["video"].get("mimeType") == "video/mp4"
    assert kinds["audio"].find("d:Representation", NS).get("codecs") == "mp4a.40.2"
    starts = presentation_starts(root)
    tick = Fraction(1, TIMESCALE)  # times are written in 90 kHz ticks
    assert starts[audio][0] == 0
    assert abs(starts[video][0] - Fraction(priming, 10**9)) <= tick
    assert abs(starts[video][1] - starts[video][0] - 2) <= tick


def test_a_period_per_init_object(client):
    flow_id = new_id()
    body = video_flow(flow_id, new_id())
    body["essence_parameters"]["avc_parameters"] = {"profile": 66, "level": 30, "flags": 0xC0}
    first, second = new_id(), new_id()
    cmaf(client, flow_id, body, [0, 2 * 10**9, 4 * 10**9], 2 * 10**9, [first, first, second])
    root = mpd(client, f"/flows/{flow_id}/manifest.mpd")
    periods = root.findall("d:Period", NS)
    assert [seconds(p.get("start")) for p in periods] == [0, 4]
    assert periods[0].find(".//d:Representation", NS).get("codecs") == "avc1.42C01E"
    inits = [p.find(".//d:Initialization", NS).get("sourceURL") for p in periods]
    assert f"/objects/{first}/" in inits[0] and f"/objects/{second}/" in inits[1]
    assert [len(p.findall(".//d:SegmentURL", NS)) for p in periods] == [2, 1]


@pytest.mark.parametrize(
    ("status", "query", "expected"),
    [
        ("closed_complete", "", "static"),
        ("closed_complete", "?type=live", "dynamic"),
        ("ingesting", "?timerange=[0:0_4:0)", "dynamic"),
        ("ingesting", "?type=vod", "static"),
        (None, "", "dynamic"),
        (None, "?timerange=[0:0_4:0)", "static"),
    ],
)
def test_static_or_dynamic_follows_the_flow(client, status, query, expected):
    flow_id = new_id()
    body = video_flow(flow_id, new_id(), **({"status": status} if status else {}))
    body["essence_parameters"]["avc_parameters"] = {"profile": 100, "level": 30, "flags": 0}
    client.put(f"/flows/{flow_id}", json=body)
    register(client, flow_id, [{"object_id": new_id(), "timerange": f"[{i}:0_{i + 2}:0)"} for i in (0, 2)])
    assert mpd(client, f"/flows/{flow_id}/manifest.mpd{query}").get("type") == expected
    bad = client.get(f"/flows/{flow_id}/manifest.mpd?type=forever")
    assert bad.status_code == 400 and "type" in bad.json()["summary"]
