"""Essence parameters derived from the media with PyAV, checked against ffprobe and ffmpeg's own SPS
parser, stored on the flow by `tams-gateway ingest` and by registration probing, never over a
user's values."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from conftest import GatewayProcess, audio_flow, new_id, video_flow
from media import make_cmaf, make_cmaf_audio, make_ts, make_with_ffmpeg
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.ingest import ingest
from streaming.ingest.essence import aac_object_type, avc_parameters, fill_missing
from streaming.ingest.probe import probe
from streaming.ingest.segmenter import cut

pytestmark = pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="ffprobe is not installed (make test installs Debian's ffmpeg)"
)

H264_PROFILES = {"Baseline": 66, "Constrained Baseline": 66, "Main": 77, "High": 100}
AAC_PROFILES = {"Main": 1, "LC": 2}


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("essence-media")


@pytest.fixture(scope="module")
def clips(media_dir) -> dict[str, Path]:
    return {
        "pyav.ts": make_ts(media_dir / "pyav.ts", seconds=4),
        "ffmpeg.mp4": make_with_ffmpeg(media_dir / "ffmpeg.mp4", seconds=4),
        # constraint flags set (Constrained Baseline) and another audio object type (AAC Main)
        "baseline.ts": make_with_ffmpeg(
            media_dir / "baseline.ts", seconds=4, extra=["-profile:v", "baseline", "-profile:a", "aac_main"]
        ),
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    process = GatewayProcess(tmp_path_factory.mktemp("essence-gateway") / "data")
    process.start()
    yield process
    process.stop()


def ffprobe_streams(path: Path) -> dict[str, dict]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def ffmpeg_sps(path: Path) -> dict[str, int]:
    """profile_idc, the constraint-flag byte and level_idc as ffmpeg's own SPS parser reads them."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-i",
            str(path),
            "-map",
            "0:v",
            "-c",
            "copy",
            "-bsf:v",
            "trace_headers",
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stderr
    fields = dict(re.findall(r"\s(\w+)\s+[01]+ = (\d+)", out))
    flags = sum(int(fields[f"constraint_set{n}_flag"]) << (7 - n) for n in range(6))
    flags |= int(fields["reserved_zero_2bits"])
    return {"profile": int(fields["profile_idc"]), "flags": flags, "level": int(fields["level_idc"])}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pyav.ts", "ffmpeg.mp4", "baseline.ts"])
def test_derived_parameters_equal_what_ffprobe_reports(clips, name):
    path = clips[name]
    info = probe(path)
    video, audio = info.first("video").essence, info.first("audio").essence
    theirs = ffprobe_streams(path)
    v, a = theirs["video"], theirs["audio"]
    assert (video["frame_width"], video["frame_height"]) == (v["width"], v["height"])
    assert Fraction(video["frame_rate"]["numerator"], video["frame_rate"]["denominator"]) == Fraction(v["r_frame_rate"])
    assert video["bit_depth"] == int(v["bits_per_raw_sample"])
    assert video["interlace_mode"] == v["field_order"] == "progressive"
    assert (video["horiz_chroma_subs"], video["vert_chroma_subs"]) == (2, 2) and v["pix_fmt"] == "yuv420p"
    assert video["avc_parameters"] == ffmpeg_sps(path)
    assert video["avc_parameters"]["profile"] == H264_PROFILES[v["profile"]]
    assert video["avc_parameters"]["level"] == v["level"]
    if v.get("sample_aspect_ratio", "0:1") != "0:1":
        sar = video["pixel_aspect_ratio"]
        assert f"{sar['numerator']}:{sar['denominator']}" == v["sample_aspect_ratio"]
    else:
        assert "pixel_aspect_ratio" not in video  # unsignalled: left out, not guessed
    assert (audio["sample_rate"], audio["channels"]) == (int(a["sample_rate"]), a["channels"])
    assert audio["codec_parameters"] == {"coded_frame_size": 1024, "mp4_oti": AAC_PROFILES[a["profile"]]}


def test_constrained_baseline_sets_flags(clips):
    avc = probe(clips["baseline.ts"]).first("video").essence["avc_parameters"]
    assert avc["profile"] == 66 and avc["flags"] & 0x40  # constraint_set1: Constrained Baseline


def test_parsers_on_hand_made_bytes():
    assert avc_parameters(bytes([1, 0x4D, 0x40, 0x1F, 0xFF])) == {"profile": 77, "flags": 0x40, "level": 31}
    sps = b"\x00\x00\x00\x01\x67\x64\x00\x00\x03\x00"  # an emulation-prevention byte right after the level
    assert avc_parameters(None, b"\x00\x00\x01\x09\xf0" + sps) == {"profile": 100, "flags": 0, "level": 0}
    assert avc_parameters(b"", b"\x00\x00\x01\x65\x88") is None
    assert aac_object_type(bytes([0x12, 0x10]), None, None) == 2  # AudioSpecificConfig: LC
    assert aac_object_type(bytes([0xF8, 0x20]), None, None) == 33  # escape: 32 + 1
    assert aac_object_type(None, bytes([0xFF, 0xF1, 0x10, 0x80, 0, 0x1F, 0xFC]), None) == 1  # ADTS: Main
    assert aac_object_type(None, None, "LC") == 2 and aac_object_type(None, None, None) is None


def test_fill_missing_keeps_every_user_value():
    derived = {
        "frame_width": 160,
        "frame_rate": {"numerator": 25, "denominator": 1},
        "bit_depth": 8,
        "avc_parameters": {"profile": 100, "flags": 0, "level": 11},
        "codec_parameters": {"coded_frame_size": 1024, "mp4_oti": 2},
    }
    mine = {
        "frame_width": 1920,
        "vfr": True,
        "avc_parameters": {"profile": 77, "flags": 0, "level": 40},
        "codec_parameters": {"mp4_oti": 5},
    }
    merged = fill_missing(mine, derived)
    assert merged == {
        "frame_width": 1920,
        "vfr": True,
        "bit_depth": 8,
        "avc_parameters": {"profile": 77, "flags": 0, "level": 40},
        "codec_parameters": {"coded_frame_size": 1024, "mp4_oti": 5},
    }
    assert fill_missing(derived, derived) == derived


@pytest.mark.slow
def test_cli_ingest_stores_the_media_parameters_and_keeps_a_users(gateway, clips):
    path = clips["baseline.ts"]
    expected = probe(path).first("video").essence
    fresh = new_id()
    asyncio.run(ingest(gateway.url, path, fresh, quiet=True))
    flow = httpx.get(f"{gateway.url}/flows/{fresh}").json()
    assert flow["essence_parameters"] == expected and flow["container"] == "video/mp2t"
    assert flow["status"] == "closed_complete"

    mine = new_id()
    essence = {
        "frame_width": 160,
        "frame_height": 90,
        "frame_rate": {"numerator": 25, "denominator": 1},
        "bit_depth": 10,
        "avc_parameters": {"profile": 77, "flags": 0, "level": 40},
    }
    httpx.put(f"{gateway.url}/flows/{mine}", json=video_flow(mine, new_id(), essence_parameters=essence))
    asyncio.run(ingest(gateway.url, path, mine, quiet=True))
    kept = httpx.get(f"{gateway.url}/flows/{mine}").json()["essence_parameters"]
    assert {k: kept[k] for k in essence} == essence  # the user's values, even where the media disagrees
    assert kept["horiz_chroma_subs"] == 2 and kept["interlace_mode"] == "progressive"  # gaps filled


# -- registration probing (TAMS_PROBE_ON_REGISTER) ----------------------------------------------------------
@pytest.fixture
def probing(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver", probe_on_register=True)
    with TestClient(create_app(settings)) as client:
        yield client


def _upload(client: TestClient, flow_id: str, data: bytes, content_type: str | None = None) -> str:
    body = {"limit": 1, **({"content_type": content_type} if content_type else {})}
    (obj,) = client.post(f"/flows/{flow_id}/storage", json=body).json()["media_objects"]
    url = obj["put_url"]["url"].removeprefix("http://testserver")
    assert client.put(url, content=data, headers={"Content-Type": obj["put_url"]["content-type"]}).status_code < 300
    return obj["object_id"]


def test_registration_fills_avc_parameters_of_a_ts_flow(probing, clips):
    flow_id = new_id()
    probing.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))  # 1920x1080 by hand, no avc_parameters
    chunk = next(cut(clips["pyav.ts"], 2))
    object_id = _upload(probing, flow_id, chunk.data)
    assert (
        probing.post(
            f"/flows/{flow_id}/segments", json={"object_id": object_id, "timerange": str(chunk.timerange)}
        ).status_code
        == 201
    )
    essence = probing.get(f"/flows/{flow_id}").json()["essence_parameters"]
    assert essence["avc_parameters"] == probe(clips["pyav.ts"]).first("video").essence["avc_parameters"]
    assert (essence["frame_width"], essence["frame_height"]) == (1920, 1080)  # the user's, though wrong


def test_registration_reads_fragments_behind_their_init_object(probing, tmp_path):
    init, segments = make_cmaf(tmp_path / "cmaf.mp4", seconds=4)
    flow_id = new_id()
    body = video_flow(
        flow_id,
        new_id(),
        container="video/iso.segment",
        essence_parameters={
            "frame_width": 160,
            "frame_height": 90,
            "init_segments": True,
            "frame_rate": {"numerator": 25, "denominator": 1},
        },
    )
    probing.put(f"/flows/{flow_id}", json=body)
    init_id = _upload(probing, flow_id, init, "video/mp4")
    data, start, end = segments[0]
    object_id = _upload(probing, flow_id, data)
    timerange = f"[{start // 10**9}:0_{end // 10**9}:0)"
    response = probing.post(
        f"/flows/{flow_id}/segments", json={"object_id": object_id, "init_object_id": init_id, "timerange": timerange}
    )
    assert response.status_code == 201, response.text
    flow = probing.get(f"/flows/{flow_id}").json()
    assert flow["essence_parameters"]["avc_parameters"] == probe(init + data).first("video").essence["avc_parameters"]
    assert probing.get(f"/flows/{flow_id}/segments").json()[0]["key_frame_count"] == 2


def test_registration_fills_mp4_oti_of_a_cmaf_audio_flow_and_keeps_a_users(probing, tmp_path):
    init, fragments = make_cmaf_audio(tmp_path / "audio.mp4", seconds=4)
    flows = {}
    for name, codec_parameters in (("derived", None), ("mine", {"mp4_oti": 5})):
        flow_id = new_id()
        essence = {
            "sample_rate": 48000,
            "channels": 2,
            "init_segments": True,
            **({"codec_parameters": codec_parameters} if codec_parameters else {}),
        }
        probing.put(
            f"/flows/{flow_id}",
            json=audio_flow(flow_id, new_id(), container="audio/iso.segment", essence_parameters=essence),
        )
        init_id = _upload(probing, flow_id, init, "audio/mp4")
        object_id = _upload(probing, flow_id, fragments[1])
        own = probe(init + fragments[1]).timerange
        response = probing.post(
            f"/flows/{flow_id}/segments",
            json={"object_id": object_id, "init_object_id": init_id, "timerange": str(own)},
        )
        assert response.status_code == 201, response.text
        flows[name] = probing.get(f"/flows/{flow_id}").json()["essence_parameters"]
    assert flows["derived"]["codec_parameters"] == {"coded_frame_size": 1024, "mp4_oti": 2}
    assert flows["mine"]["codec_parameters"] == {"coded_frame_size": 1024, "mp4_oti": 5}


def test_registration_leaves_a_flow_of_another_codec_alone(probing, clips):
    flow_id = new_id()
    probing.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), codec="video/h265"))
    chunk = next(cut(clips["pyav.ts"], 2))
    object_id = _upload(probing, flow_id, chunk.data)
    probing.post(f"/flows/{flow_id}/segments", json={"object_id": object_id, "timerange": str(chunk.timerange)})
    assert "avc_parameters" not in probing.get(f"/flows/{flow_id}").json()["essence_parameters"]
