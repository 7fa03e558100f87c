"""Shared by test_remux.py and test_clip_export.py: a gateway with an ingested flow and an
edit-by-reference flow cutting into it, and ffprobe readings of what the gateway returns."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import httpx
import pytest
from conftest import GatewayProcess, new_id, video_flow
from media import make_ts

from gateway.ingest import ingest
from streaming.ingest.segmenter import cut

S = 1_000_000_000
FIRST = 21_333_333  # the test clip's first video frame (the encoder's start, 1920 ticks at 90 kHz)
FRAME = 40_000_000  # 25 fps


@dataclass
class Flows:
    gateway: GatewayProcess
    source: str  # 8 s ingested: four 2 s objects, a key frame every second
    edit: str  # 4.8 s: object 0 whole, part of object 1 (20 frames, no key frame at its start), object 3 whole
    objects: list[str]
    media: Path


def make_flows(tmp: Path) -> Flows:
    clip = make_ts(tmp / "clip.ts", seconds=8, fps=25, gop=25)
    gateway = GatewayProcess(tmp / "data")
    gateway.start()
    source = new_id()
    asyncio.run(ingest(gateway.url, clip, source, quiet=True))
    with httpx.Client(base_url=gateway.url) as http:
        segments = http.get(f"/flows/{source}/segments").json()
        objects = [s["object_id"] for s in segments]
        assert [s["timerange"] for s in segments] == [str(c.timerange) for c in cut(clip, 2)]
        edit = new_id()
        assert http.put(f"/flows/{edit}", json=video_flow(edit, new_id(), label="Edit: news/1")).status_code == 201
        start1 = 2 * S + FIRST + 12 * FRAME  # frame 12 of object 1: inside its first GOP
        body = [
            {"object_id": objects[0], "timerange": "[0:0_2:0)", "ts_offset": f"-0:{FIRST}"},
            {"object_id": objects[1], "timerange": "[2:0_2:800000000)", "ts_offset": _stamp(2 * S - start1)},
            {
                "object_id": objects[3],
                "timerange": "[2:800000000_4:800000000)",
                "ts_offset": _stamp(2_800_000_000 - (6 * S + FIRST)),
            },
        ]
        response = http.post(f"/flows/{edit}/segments", json=body)
        assert response.status_code == 201, response.text
    return Flows(gateway, source, edit, objects, clip)


def _stamp(ns: int) -> str:
    seconds, nanos = divmod(abs(ns), S)
    return f"{'-' if ns < 0 else ''}{seconds}:{nanos}"


def need_ffprobe() -> None:
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (make test installs Debian's ffmpeg)")


@dataclass
class Probe:
    frames: int  # decoded video frames
    first: Fraction  # first and last video presentation time, seconds
    last: Fraction
    audio_packets: int
    duration: float  # the container's duration
    format: str
    warnings: str  # anything ffmpeg said while decoding every frame


def probe(path: Path) -> Probe:
    need_ffprobe()
    frames = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pts,pts_time,time_base",
            "-show_entries",
            "stream=time_base",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(frames.stdout)
    base = Fraction(data["streams"][0]["time_base"])
    times = sorted(Fraction(f["pts"]) * base for f in data["frames"])
    info = json.loads(
        subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-count_packets",
                "-show_entries",
                "stream=codec_type,nb_read_packets:format=duration,format_name",
                "-of",
                "json",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    )
    audio = sum(int(s["nb_read_packets"]) for s in info["streams"] if s["codec_type"] == "audio")
    decode = subprocess.run(
        ["ffmpeg", "-v", "warning", "-nostdin", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert decode.returncode == 0, decode.stderr
    return Probe(
        len(times),
        times[0],
        times[-1],
        audio,
        float(info["format"].get("duration", 0)),
        info["format"]["format_name"],
        decode.stderr.strip(),
    )


def seconds(ns: int) -> Fraction:
    return Fraction(ns, S)


def close_to_tick(value: Fraction, expected_ns: int) -> bool:
    """Equal to the nanosecond time within one 90 kHz tick (MPEG-TS and our fMP4 video clock)."""
    return abs(value - seconds(expected_ns)) <= Fraction(1, 90_000)
