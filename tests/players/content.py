"""The contents of the player matrix, each built once per session on one gateway process.

Media is generated with PyAV/ffmpeg here (a few seconds, 160x90, 25 fps); a content is registered as a
user would: the CLI ingest for files, the TAMS API (allocate, upload, register) for everything else.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import httpx

from catalog.timing import TimeRange
from streaming.ingest.probe import probe
from streaming.ingest.segmenter import cut

from .segmenting import ffmpeg_hls, numbered
from .timeline import TS_WRAP, Expected

FPS = 25
SECONDS = 6
ROOT = Path(__file__).resolve().parents[2]
NS = 10**9


def new_id() -> str:
    return str(uuid.uuid4())


def seconds(ns: int) -> Fraction:
    return Fraction(ns, NS)


def tams(t: Fraction) -> str:
    """A flow time in the TAMS timestamp grammar (seconds:nanoseconds)."""
    ns = int(t * NS)
    return f"{'-' if ns < 0 else ''}{abs(ns) // NS}:{abs(ns) % NS}"


@dataclass
class Content:
    """One thing a user can make, and what a player must show of it."""

    name: str
    flow_id: str  # the (video) flow whose timeline the checks use
    source_id: str  # its source, or the multi source that collects it
    expected: Expected
    audio: bool  # the HLS media playlist / file of ``flow_id`` carries audio too
    cmaf: bool = False
    live: bool = False
    multi: bool = False
    flow_timerange: str = ""
    notes: list[str] = field(default_factory=list)


def flow_timerange(http: httpx.Client, flow_id: str) -> TimeRange:
    body = http.get(f"/flows/{flow_id}", params={"include_timerange": "true"}).json()
    return TimeRange.parse(body.get("timerange", "()"))


def ingest_cli(base_url: str, path: Path, flow_id: str) -> None:
    """``tams-gateway ingest FILE --flow-id ID`` exactly as the README says (the gateway's address comes
    from TAMS_HOST/TAMS_PORT, as it would from the user's environment)."""
    port = base_url.rsplit(":", 1)[1]
    env = {**os.environ, "TAMS_HOST": "127.0.0.1", "TAMS_PORT": port, "NO_PROXY": "127.0.0.1,localhost"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "ingest", str(path), "--flow-id", flow_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"ingest of {path.name} failed: {done.stderr.decode()[-1000:]}"


def first_video_time(path: Path) -> Fraction:
    """The file's first video presentation time; in MPEG-TS the 33-bit value itself (unwrapped: the
    demuxer's wrap correction undone), where a flow's timeline starts (TAMS AppNote 0002)."""
    with av.open(str(path)) as media:
        video = media.streams.video[0]
        first = min(p.pts for p in media.demux(video) if p.pts is not None)
        start = first * video.time_base
    return start % TS_WRAP if media.format.name == "mpegts" else start


def _ingested(name: str, http: httpx.Client, base_url: str, path: Path, frames: int) -> Content:
    flow_id = new_id()
    ingest_cli(base_url, path, flow_id)
    flow = http.get(f"/flows/{flow_id}").json()
    expected = Expected(frames, FPS, first_video_time(path))
    return Content(
        name, flow_id, flow["source_id"], expected, audio=True, flow_timerange=str(flow_timerange(http, flow_id))
    )


def ts_file(http: httpx.Client, base_url: str, work: Path, make_ts: Callable) -> Content:
    """(a) an MPEG-TS file (H.264 + AAC) ingested with the CLI."""
    return _ingested("ts", http, base_url, make_ts(work / "clip.ts", seconds=SECONDS), SECONDS * FPS)


def mp4_file(http: httpx.Client, base_url: str, work: Path, make_ts: Callable) -> Content:
    """(b) an MP4 file (H.264 + AAC) ingested with the CLI."""
    return _ingested("mp4", http, base_url, make_ts(work / "clip.mp4", seconds=SECONDS, container="mp4"), SECONDS * FPS)


def pts_wrap(http: httpx.Client, base_url: str, work: Path, make_ts: Callable) -> Content:
    """(g) an MPEG-TS file whose 33-bit PTS wraps 3 s in, ingested with the CLI."""
    plain = make_ts(work / "prewrap.ts", seconds=SECONDS)
    wrapped = work / "wrap.ts"
    offset = f"{float(Fraction(2**33, 90000) - 3):.6f}"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(plain),
            "-c",
            "copy",
            "-output_ts_offset",
            offset,
            "-f",
            "mpegts",
            str(wrapped),
        ],
        check=True,
        timeout=60,
    )
    return _ingested("ptswrap", http, base_url, wrapped, SECONDS * FPS)


def upload(http: httpx.Client, flow_id: str, blobs: list[bytes], content_type: str | None = None) -> list[str]:
    """Allocates objects on ``flow_id``, PUTs each blob to its URL; returns the object ids."""
    body: dict = {"limit": len(blobs)}
    if content_type:
        body["content_type"] = content_type
    allocation = http.post(f"/flows/{flow_id}/storage", json=body)
    assert allocation.status_code == 201, allocation.text
    ids = []
    for target, blob in zip(allocation.json()["media_objects"], blobs, strict=True):
        put = target["put_url"]
        assert httpx.put(put["url"], content=blob, headers={"Content-Type": put["content-type"]}).status_code < 300
        ids.append(target["object_id"])
    return ids


def register(http: httpx.Client, flow_id: str, segments: list[dict]) -> None:
    response = http.post(f"/flows/{flow_id}/segments", json=segments)
    assert response.status_code == 201, f"registering on {flow_id}: {response.status_code} {response.text[:800]}"


def put_flow(http: httpx.Client, body: dict) -> None:
    response = http.put(f"/flows/{body['id']}", json=body)
    assert response.status_code in (200, 201, 204), f"PUT flow: {response.status_code} {response.text[:800]}"


def close_flow(http: httpx.Client, flow_id: str) -> None:
    """Marks a flow finished (TAMS ``status: closed_complete``), as a client does once its last segment is in."""
    body = http.get(f"/flows/{flow_id}").json()
    put_flow(http, {**body, "status": "closed_complete"})


def video_body(flow_id: str, source_id: str, container: str = "video/mp2t", **essence: object) -> dict:
    return {
        "id": flow_id,
        "source_id": source_id,
        "format": "urn:x-nmos:format:video",
        "codec": "video/h264",
        "container": container,
        "label": "video",
        "essence_parameters": {
            "frame_width": 160,
            "frame_height": 90,
            "frame_rate": {"numerator": FPS, "denominator": 1},
            **essence,
        },
    }


def audio_body(flow_id: str, source_id: str) -> dict:
    return {
        "id": flow_id,
        "source_id": source_id,
        "format": "urn:x-nmos:format:audio",
        "codec": "audio/aac",
        "container": "video/mp2t",
        "label": "audio",
        "essence_parameters": {"sample_rate": 48000, "channels": 1},
    }


def ts_flow(http: httpx.Client, path: Path, segment_seconds: float = 2, **extra: object) -> tuple[str, list[dict]]:
    """A video flow (MPEG-TS) registered through the API from ``path`` cut on key frames."""
    flow_id = new_id()
    put_flow(http, {**video_body(flow_id, new_id()), **extra})
    chunks = list(cut(path, segment_seconds))
    ids = upload(http, flow_id, [c.data for c in chunks])
    segments = [{"object_id": oid, "timerange": str(c.timerange)} for oid, c in zip(ids, chunks, strict=True)]
    register(http, flow_id, segments)
    close_flow(http, flow_id)
    return flow_id, segments


def cmaf(http: httpx.Client, work: Path, make_ts: Callable) -> Content:
    """(c) fMP4 segments with an init segment from ffmpeg's HLS muxer, registered through the API. The flow
    says only what a user knows (codec, container, init segments): codec strings are for the gateway."""
    source = make_ts(work / "cmaf-in.mp4", seconds=SECONDS, audio=False, container="mp4")
    out = work / "cmaf"
    ffmpeg_hls(source, out, "seg%d.m4s", fmp4=True)
    init = (out / "init.mp4").read_bytes()
    blobs = numbered(out, "seg", "m4s")
    flow_id, source_id = new_id(), new_id()
    put_flow(http, video_body(flow_id, source_id, container="video/iso.segment", init_segments=True))
    (init_id,) = upload(http, flow_id, [init], "video/mp4")
    ids = upload(http, flow_id, blobs)
    segments = [
        {"object_id": oid, "init_object_id": init_id, "timerange": str(probe(init + blob).timerange)}
        for oid, blob in zip(ids, blobs, strict=True)
    ]
    register(http, flow_id, segments)
    close_flow(http, flow_id)
    start = seconds(TimeRange.parse(segments[0]["timerange"]).start or 0)
    return Content(
        "cmaf",
        flow_id,
        source_id,
        Expected(SECONDS * FPS, FPS, start),
        audio=False,
        cmaf=True,
        flow_timerange=str(flow_timerange(http, flow_id)),
    )


def _hls_segments(path: Path, work: Path, stream: str) -> list[bytes]:
    """One stream of ``path`` (``v`` or ``a``) as ~2 s MPEG-TS segments from ffmpeg's HLS muxer: one muxer
    for all segments, so continuity counters run on across them, and the same timestamps for both streams."""
    out = work / f"multi-{stream}"
    ffmpeg_hls(path, out, "s%d.ts", stream=stream, copyts=True)
    return numbered(out, "s", "ts")


def _register_blobs(http: httpx.Client, body: dict, blobs: list[bytes]) -> None:
    put_flow(http, body)
    ids = upload(http, body["id"], blobs)
    register(
        http,
        body["id"],
        [{"object_id": oid, "timerange": str(probe(blob).timerange)} for oid, blob in zip(ids, blobs, strict=True)],
    )
    close_flow(http, body["id"])


def multi(http: httpx.Client, work: Path, make_ts: Callable) -> Content:
    """(d) a multi source: a video flow and an audio flow (separate objects) collected by a multi flow."""
    both = make_ts(work / "multi-av.ts", seconds=SECONDS)
    video_id, audio_id = new_id(), new_id()
    _register_blobs(http, video_body(video_id, new_id()), _hls_segments(both, work, "v"))
    _register_blobs(http, audio_body(audio_id, new_id()), _hls_segments(both, work, "a"))
    multi_id, multi_source = new_id(), new_id()
    put_flow(
        http,
        {
            "id": multi_id,
            "source_id": multi_source,
            "format": "urn:x-nmos:format:multi",
            "label": "programme",
            "flow_collection": [{"id": video_id, "role": "video"}, {"id": audio_id, "role": "audio"}],
            "status": "closed_complete",
        },
    )
    timerange = flow_timerange(http, video_id)
    return Content(
        "multi",
        video_id,
        multi_source,
        Expected(SECONDS * FPS, FPS, seconds(timerange.start or 0)),
        audio=False,
        multi=True,
        flow_timerange=str(timerange),
    )


def edit(http: httpx.Client, work: Path, make_ts: Callable) -> Content:
    """(e) an edit by reference (what simple_edit.py makes): segments reusing two flows' objects.

    flow time [0,2) A's 1st object · [2,4) B's 3rd object (a ts_offset jump) · [4,5) the first half of A's
    2nd object (object_timerange wider than the segment) · [5,7) A's 1st object again. 7 s, 175 frames.
    B is another encoding at another picture size (320x180 against A's 160x90; x264 with one reference
    frame, no weighted prediction: another SPS and PPS, the same profile and level), so each edit point
    changes the parameter sets and the picture size, with no discontinuity between remuxed segments."""
    a_id, a = ts_flow(http, make_ts(work / "edit-a.ts", seconds=SECONDS))
    other = {"refs": "1", "weightp": "0"}
    _, b = ts_flow(http, make_ts(work / "edit-b.ts", seconds=SECONDS, width=320, height=180, gop=FPS, x264=other))
    media = [TimeRange.parse(s["timerange"]) for s in a]
    b_media = [TimeRange.parse(s["timerange"]) for s in b]

    def use(seg: dict, own: TimeRange, at: Fraction, length: Fraction) -> dict:
        offset = at - seconds(own.start or 0)  # flow time = media time + ts_offset
        return {
            "object_id": seg["object_id"],
            "ts_offset": tams(offset),
            "timerange": f"[{tams(at)}_{tams(at + length)})",
        }

    edit_id, source_id = new_id(), new_id()
    # an edit tool copies its source flow's description (codec parameters included) to the flow it makes
    essence = http.get(f"/flows/{a_id}").json()["essence_parameters"]
    put_flow(http, {**video_body(edit_id, source_id), "essence_parameters": essence})
    register(
        http,
        edit_id,
        [
            use(a[0], media[0], Fraction(0), Fraction(2)),
            use(b[2], b_media[2], Fraction(2), Fraction(2)),
            use(a[1], media[1], Fraction(4), Fraction(1)),
            use(a[0], media[0], Fraction(5), Fraction(2)),
        ],
    )
    close_flow(http, edit_id)
    expected = Expected(7 * FPS, FPS, Fraction(0), edits=(Fraction(2), Fraction(4), Fraction(5)))
    return Content(
        "edit",
        edit_id,
        source_id,
        expected,
        audio=True,
        flow_timerange=str(flow_timerange(http, edit_id)),
        notes=[f"built from flow {a_id}"],
    )
