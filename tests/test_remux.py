"""Segments remuxed on the fly: an MPEG-TS flow as fMP4 (one init, fragments in flow time), a
partially used object cut to the frames its segment names, ADTS audio, errors. Real gateway
process, real SQLite catalog and local-disk store; every output decoded by ffmpeg/ffprobe."""

from __future__ import annotations

import httpx
import pytest
from remux_media import FIRST, FRAME, S, close_to_tick, make_flows, probe

from streaming.playback.muxers import boxes

pytestmark = pytest.mark.slow  # every test here runs against a real gateway process


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    made = make_flows(tmp_path_factory.mktemp("remux"))
    yield made
    made.gateway.stop()


def _box_value(data: bytes, kind: bytes, skip_v0: int, skip_v1: int, size_v0: int, size_v1: int) -> int:
    """A field of the first ``kind`` box: after version+flags, skip bytes, then the value."""
    at = data.index(kind) + 4
    version = data[at]
    start = at + 4 + (skip_v1 if version else skip_v0)
    return int.from_bytes(data[start : start + (size_v1 if version else size_v0)], "big")


def _tfdt(fragment: bytes) -> int:
    return _box_value(fragment, b"tfdt", 0, 0, 4, 8)


def _video_timescale(init: bytes) -> int:
    return _box_value(init, b"mdhd", 8, 16, 4, 4)


def _segments(flows, flow_id):
    return httpx.get(f"{flows.gateway.url}/flows/{flow_id}/segments").json()


def test_ts_flow_plays_as_one_fmp4_stream(flows, tmp_path):
    base = f"{flows.gateway.url}/flows/{flows.source}/remux"
    init = httpx.get(f"{base}/init.mp4")
    assert init.status_code == 200 and init.headers["content-type"] == "video/mp4"
    assert [kind for kind, _ in boxes(init.content)] == ["ftyp", "moov"]
    assert _video_timescale(init.content) == 90_000
    whole = init.content
    for segment in _segments(flows, flows.source):
        response = httpx.get(f"{base}/{segment['object_id']}.m4s", params={"timerange": segment["timerange"]})
        assert response.status_code == 200, response.text
        assert {kind for kind, _ in boxes(response.content)} == {"moof", "mdat"}
        start = segment["timerange"][1:].split("_")[0]
        seconds, nanos = start.split(":")
        start_ns = int(seconds) * S + int(nanos)
        assert abs(_tfdt(response.content) - start_ns * 90_000 / S) <= 1  # flow time, the init's timescale
        whole += response.content
    path = tmp_path / "source.mp4"
    path.write_bytes(whole)
    played = probe(path)
    assert played.warnings == ""
    assert played.frames == 200
    assert close_to_tick(played.first, FIRST) and close_to_tick(played.last, FIRST + 199 * FRAME)


def test_partial_object_plays_only_the_used_frames(flows, tmp_path):
    """Segment 2 of the edit uses frames 12-31 of object 1: its first frame is no key frame."""
    url = f"{flows.gateway.url}/flows/{flows.edit}/remux/{flows.objects[1]}"
    window = {"timerange": "[2:0_2:800000000)"}
    ts = httpx.get(f"{url}.ts", params=window)
    assert ts.status_code == 200 and ts.headers["content-type"] == "video/mp2t"
    (tmp_path / "part.ts").write_bytes(ts.content)
    played = probe(tmp_path / "part.ts")
    assert played.warnings == "" and played.frames == 20
    assert close_to_tick(played.first, 2 * S) and close_to_tick(played.last, 2 * S + 19 * FRAME)
    # the same part as a fragment after the edit flow's init segment
    init = httpx.get(f"{flows.gateway.url}/flows/{flows.edit}/remux/init.mp4").content
    fragment = httpx.get(f"{url}.m4s", params=window).content
    (tmp_path / "part.mp4").write_bytes(init + fragment)
    played = probe(tmp_path / "part.mp4")
    assert played.warnings == "" and played.frames == 20 and close_to_tick(played.first, 2 * S)


def test_an_edit_flow_plays_through_its_edit_points_as_fmp4(flows, tmp_path):
    base = f"{flows.gateway.url}/flows/{flows.edit}/remux"
    whole = httpx.get(f"{base}/init.mp4").content
    for segment in _segments(flows, flows.edit):
        whole += httpx.get(f"{base}/{segment['object_id']}.m4s", params={"timerange": segment["timerange"]}).content
    (tmp_path / "edit.mp4").write_bytes(whole)
    played = probe(tmp_path / "edit.mp4")
    assert played.warnings == ""
    assert played.frames == 50 + 20 + 50
    assert close_to_tick(played.first, 0) and close_to_tick(played.last, 4_800_000_000 - FRAME)


def test_audio_as_adts_with_its_hls_timestamp(flows, tmp_path):
    segment = _segments(flows, flows.source)[1]
    response = httpx.get(
        f"{flows.gateway.url}/flows/{flows.source}/remux/{segment['object_id']}.aac",
        params={"timerange": segment["timerange"]},
    )
    assert response.status_code == 200 and response.headers["content-type"] == "audio/aac"
    data = response.content
    assert data.startswith(b"ID3") and b"com.apple.streaming.transportStreamTimestamp" in data[:80]
    stamp = int.from_bytes(data[data.index(b"Timestamp\x00") + 10 :][:8], "big")
    assert 2 * 90_000 <= stamp <= int(2.2 * 90_000)  # the first audio frame of object 1, at 90 kHz
    (tmp_path / "a.aac").write_bytes(data)
    played = probe_audio(tmp_path / "a.aac")
    assert played > 80  # ~2 s of 1024-sample frames at 48 kHz


def probe_audio(path) -> int:
    import json
    import subprocess

    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(json.loads(out.stdout)["streams"][0]["nb_read_packets"])


def test_cached_answers_validate_and_take_ranges(flows):
    segment = _segments(flows, flows.source)[0]
    url = f"{flows.gateway.url}/flows/{flows.source}/remux/{segment['object_id']}.ts"
    first = httpx.get(url, params={"timerange": segment["timerange"]})
    again = httpx.get(url, params={"timerange": segment["timerange"]})
    assert first.content == again.content and first.headers["etag"] == again.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    window = {"timerange": segment["timerange"]}
    cached = httpx.get(url, params=window, headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304
    part = httpx.get(url, params={"timerange": segment["timerange"]}, headers={"Range": "bytes=0-187"})
    assert part.status_code == 206 and part.content == first.content[:188]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/flows/{edit}/remux/{object}.mkv?timerange=[2:0_2:800000000)", 400),
        ("/flows/{edit}/remux/{object}?timerange=[2:0_2:800000000)", 400),
        ("/flows/{edit}/remux/{object}.ts?timerange=2:0_x", 400),
        ("/flows/{edit}/remux/no-such-object.ts", 404),
        ("/flows/{edit}/remux/{object}.ts?timerange=[100:0_200:0)", 404),
        ("/flows/{unknown}/remux/init.mp4", 404),
        ("/flows/{unknown}/remux/{object}.ts", 404),
        ("/flows/not-a-uuid/remux/init.mp4", 404),
    ],
)
def test_errors_are_json(flows, path, status):
    from conftest import new_id

    url = flows.gateway.url + path.format(edit=flows.edit, object=flows.objects[1], unknown=new_id())
    response = httpx.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json") and response.json()["summary"]


@pytest.fixture(scope="module")
def cmaf_edit(flows, tmp_path_factory):
    """A 6 s fMP4 flow (init + three 2 s objects, key frames every second, from 0) and a flow using
    frames 12-31 of its second object, shifted to start at 0."""
    from conftest import new_id, video_flow
    from media import make_cmaf

    init, segments = make_cmaf(tmp_path_factory.mktemp("cmaf") / "clip.mp4", seconds=6)
    cmaf, edit = new_id(), new_id()
    with httpx.Client(base_url=flows.gateway.url) as http:
        body = video_flow(cmaf, new_id(), container="video/iso.segment")
        body["essence_parameters"]["init_segments"] = True
        assert http.put(f"/flows/{cmaf}", json=body).status_code == 201
        (init_obj,) = http.post(f"/flows/{cmaf}/storage", json={"limit": 1, "content_type": "video/mp4"}).json()[
            "media_objects"
        ]
        httpx.put(init_obj["put_url"]["url"], content=init, headers={"Content-Type": "video/mp4"})
        objects = http.post(f"/flows/{cmaf}/storage", json={"limit": 3}).json()["media_objects"]
        for obj, (data, start, end) in zip(objects, segments, strict=True):
            httpx.put(obj["put_url"]["url"], content=data, headers={"Content-Type": obj["put_url"]["content-type"]})
            response = http.post(
                f"/flows/{cmaf}/segments",
                json={
                    "object_id": obj["object_id"],
                    "init_object_id": init_obj["object_id"],
                    "timerange": f"[{start // S}:0_{end // S}:0)",
                },
            )
            assert response.status_code == 201, response.text
        body = video_flow(edit, new_id(), container="video/iso.segment")
        body["essence_parameters"]["init_segments"] = True
        assert http.put(f"/flows/{edit}", json=body).status_code == 201
        response = http.post(
            f"/flows/{edit}/segments",
            json={"object_id": objects[1]["object_id"], "timerange": "[0:0_0:800000000)", "ts_offset": "-2:480000000"},
        )
        assert response.status_code == 201, response.text
    return cmaf, edit, objects[1]["object_id"]


def test_fmp4_flow_cut_inside_a_gop(flows, cmaf_edit, tmp_path):
    """fMP4 sources carry length-prefixed H.264: the re-encoded frames at the cut must match."""
    _, edit, object_id = cmaf_edit
    base = f"{flows.gateway.url}/flows/{edit}/remux"
    ts = httpx.get(f"{base}/{object_id}.ts", params={"timerange": "[0:0_0:800000000)"})
    assert ts.status_code == 200, ts.text
    (tmp_path / "cut.ts").write_bytes(ts.content)
    played = probe(tmp_path / "cut.ts")
    assert played.warnings == "" and played.frames == 20
    assert close_to_tick(played.first, 0) and close_to_tick(played.last, 19 * FRAME)
    fragment = httpx.get(f"{base}/{object_id}.m4s", params={"timerange": "[0:0_0:800000000)"}).content
    (tmp_path / "cut.mp4").write_bytes(httpx.get(f"{base}/init.mp4").content + fragment)
    played = probe(tmp_path / "cut.mp4")
    assert played.warnings == "" and played.frames == 20 and close_to_tick(played.first, 0)


@pytest.mark.parametrize("which", ["source", "edit"])
def test_remuxed_ts_segments_play_back_to_back_in_ffmpegs_hls_reader(flows, tmp_path, which):
    """Restarted continuity counters are flagged, and audio is cut at edit points (no overlap)."""
    import subprocess

    flow_id = getattr(flows, which)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-PLAYLIST-TYPE:VOD"]
    for segment in _segments(flows, flow_id):
        lines += [
            "#EXTINF:2,",
            f"{flows.gateway.url}/flows/{flow_id}/remux/{segment['object_id']}.ts?timerange={segment['timerange']}",
        ]
    (tmp_path / "remux.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))
    probe(flows.media)  # skips without ffmpeg
    decode = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "warning",
            "-nostdin",
            "-protocol_whitelist",
            "file,http,tcp",
            "-i",
            str(tmp_path / "remux.m3u8"),
            "-map",
            "0:v",
            "-f",
            "framemd5",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert decode.returncode == 0 and decode.stderr == "", decode.stderr
    frames = [line for line in decode.stdout.splitlines() if line and not line.startswith("#")]
    assert len(frames) == (200 if which == "source" else 120)


def counter_breaks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, PID, counter) of each packet whose continuity counter does not follow its PID's last."""
    last: dict[int, int] = {}
    found = []
    for offset in range(0, len(data), 188):
        pid, flags = ((data[offset + 1] & 0x1F) << 8) | data[offset + 2], data[offset + 3]
        if pid == 0x1FFF:
            continue
        counter = flags & 0x0F
        if pid in last and counter != ((last[pid] + 1) % 16 if flags & 0x10 else last[pid]):
            found.append((offset, pid, counter))
        last[pid] = counter
    return found


@pytest.mark.parametrize("which", ["source", "edit"])
def test_remuxed_ts_segments_have_continuous_counters_in_any_order(flows, which):
    """Each remuxed segment, made alone, continues the counters of whichever remuxed one precedes it."""
    flow_id = getattr(flows, which)
    parts = []
    for segment in _segments(flows, flow_id):
        url = f"{flows.gateway.url}/flows/{flow_id}/remux/{segment['object_id']}.ts"
        response = httpx.get(url, params={"timerange": segment["timerange"]})
        assert response.status_code == 200, response.text
        assert counter_breaks(response.content) == []
        parts.append(response.content)
    assert len(parts) >= 3
    assert counter_breaks(b"".join(parts)) == []
    assert counter_breaks(b"".join(reversed(parts))) == []  # a seek back: still no jump


def test_adts_of_a_flow_without_audio_is_a_400(flows, cmaf_edit):
    cmaf, _, object_id = cmaf_edit
    response = httpx.get(f"{flows.gateway.url}/flows/{cmaf}/remux/{object_id}.aac")
    assert response.status_code == 400 and "audio" in response.json()["summary"]


def _streams(path) -> list[tuple[str, int]]:
    """(codec_type, packets) of every stream ffprobe finds, after a warning-free decode."""
    import json
    import subprocess

    out = subprocess.run(
        ["ffprobe", "-v", "warning", "-count_packets", "-show_entries", "stream=codec_type,nb_read_packets"]
        + ["-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stderr == ""
    return [(s["codec_type"], int(s["nb_read_packets"])) for s in json.loads(out.stdout)["streams"]]


@pytest.mark.parametrize(("track", "handler"), [("video", b"vide"), ("audio", b"soun")])
def test_one_track_of_a_muxed_flow(flows, tmp_path, track, handler):
    """``?track=``: the init and fragments of one media type, as a DASH AdaptationSet needs them."""
    base = f"{flows.gateway.url}/flows/{flows.source}/remux"
    init = httpx.get(f"{base}/init.mp4", params={"track": track})
    assert init.status_code == 200 and init.content.count(b"trak") == 1 and handler in init.content
    whole = init.content
    for segment in _segments(flows, flows.source):
        params = {"timerange": segment["timerange"], "track": track}
        response = httpx.get(f"{base}/{segment['object_id']}.m4s", params=params)
        assert response.status_code == 200, response.text
        whole += response.content
    path = tmp_path / f"{track}.mp4"
    path.write_bytes(whole)
    ((kind, packets),) = _streams(path)
    assert kind == track
    # 8 s: 200 frames of video; of audio, 1024-sample frames at 48 kHz from the first video frame on
    assert packets == 200 if track == "video" else abs(packets - (8 * 48_000) / 1024) <= 2


def test_dash_of_a_muxed_flow_has_an_adaptation_set_per_track(flows):
    import xml.etree.ElementTree as ET

    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    response = httpx.get(f"{flows.gateway.url}/flows/{flows.source}/manifest.mpd")
    assert response.status_code == 200, response.text
    sets = ET.fromstring(response.text).findall(".//d:AdaptationSet", ns)
    assert [s.get("contentType") for s in sets] == ["video", "audio"]
    for adaptation in sets:
        (rep,) = adaptation.findall("d:Representation", ns)
        kind = adaptation.get("contentType")
        assert rep.get("codecs").startswith("avc1." if kind == "video" else "mp4a.40.2")
        urls = [adaptation.find(".//d:Initialization", ns).get("sourceURL")]
        urls += [u.get("media") for u in adaptation.findall(".//d:SegmentURL", ns)]
        assert all(u.endswith(f"track={kind}") for u in urls)
    assert sets[1].find("d:Representation", ns).get("audioSamplingRate") == "48000"


@pytest.mark.parametrize("path", ["/remux/init.mp4?track=data", "/remux/{object}.ts?track=audio&timerange=[2:0_4:0)"])
def test_a_bad_track_is_a_400(flows, path):
    url = f"{flows.gateway.url}/flows/{flows.source}" + path.format(object=flows.objects[1])
    response = httpx.get(url)
    assert response.status_code == 400 and response.json()["summary"]


def test_a_flow_without_codec_parameters_is_named_from_its_media_in_dash(flows):
    """The edit was registered by hand with no avc_parameters (and no probing): played through the remux,
    its MPD names the codec its remux init segment's avcC states, the same as the ingested source's."""
    import xml.etree.ElementTree as ET

    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    codecs = {}
    for flow_id in (flows.source, flows.edit):
        response = httpx.get(f"{flows.gateway.url}/flows/{flow_id}/manifest.mpd")
        assert response.status_code == 200, response.text
        video = ET.fromstring(response.text).find(".//d:AdaptationSet[@contentType='video']/d:Representation", ns)
        codecs[flow_id] = video.get("codecs")
    assert "avc_parameters" not in httpx.get(f"{flows.gateway.url}/flows/{flows.edit}").json()["essence_parameters"]
    assert codecs[flows.edit].startswith("avc1.") and codecs[flows.edit] == codecs[flows.source]


def test_a_flow_without_codec_parameters_is_named_from_its_media_in_the_multivariant(flows):
    """The same hand-registered edit: the multivariant's CODECS names its video and the audio muxed in
    it, read from the media (RFC 8216: every codec of the variant, or none)."""
    source_id = httpx.get(f"{flows.gateway.url}/flows/{flows.edit}").json()["source_id"]
    text = httpx.get(f"{flows.gateway.url}/sources/{source_id}/playlist.m3u8").text
    (inf,) = [line for line in text.splitlines() if line.startswith("#EXT-X-STREAM-INF:")]
    codecs = inf.split('CODECS="', 1)[1].split('"', 1)[0].split(",")
    assert codecs[0].startswith("avc1.") and codecs[1:] == ["mp4a.40.2"], inf
