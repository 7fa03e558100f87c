"""What `tams-gateway ingest` writes, as players read it: MPEG-TS segments that concatenate into one
clean stream (continuity counters, one timeline, PTS wrap unwrapped) from MPEG-TS and MP4 inputs,
the flow's status through a run, a failure and a resume, and extensions on every object key."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

import av
import httpx
import pytest
from conftest import GatewayProcess, new_id
from media import TS_WRAP, make_ts, make_with_ffmpeg, make_wrapping_ts

from catalog.timing import TimeRange
from gateway.ingest import ingest, start_flow
from streaming.ingest.continuity import ContinuityCounters
from streaming.ingest.probe import probe
from streaming.ingest.segmenter import cut
from streaming.storage.interface import extension, object_key

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make test installs Debian's ffmpeg)"
)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ingest-media")


@pytest.fixture(scope="module")
def clip_ts(media_dir) -> Path:
    return make_ts(media_dir / "clip.ts", seconds=8)


@pytest.fixture(scope="module")
def clip_mp4(media_dir) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (make test installs Debian's ffmpeg)")
    return make_with_ffmpeg(media_dir / "clip.mp4", seconds=6)


@pytest.fixture(scope="module")
def wrapping_ts(media_dir) -> Path:
    return make_wrapping_ts(media_dir / "wrap.ts", seconds=8, before_wrap=Fraction(3))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    process = GatewayProcess(tmp_path_factory.mktemp("ingest-gateway") / "data")
    process.start()
    yield process
    process.stop()


def demuxer_warnings(data: bytes, tmp_path: Path) -> str:
    """What ffmpeg says (at warning level) while decoding every frame of ``data``: "" when clean."""
    path = tmp_path / "joined.ts"
    path.write_bytes(data)
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "warning", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def counter_breaks(data: bytes) -> list[tuple[int, int]]:
    """(packet number, PID) of every continuity counter that does not follow its PID's previous one."""
    last: dict[int, int] = {}
    breaks = []
    for number, offset in enumerate(range(0, len(data), 188)):
        pid = ((data[offset + 1] & 0x1F) << 8) | data[offset + 2]
        counter, payload = data[offset + 3] & 0x0F, bool(data[offset + 3] & 0x10)
        if pid in last and counter != ((last[pid] + 1) & 0x0F if payload else last[pid]):
            breaks.append((number, pid))
        last[pid] = counter
    return breaks


def video_frames(data: bytes) -> int:
    return probe(data).packet_count


# -- continuity counters ----------------------------------------------------------------------------------
def test_each_segment_starts_a_program_and_counters_run_on_across_segments(clip_ts):
    chunks = list(cut(clip_ts, 2))
    assert len(chunks) == 4
    for chunk in chunks:
        heads = [((chunk.data[o + 1] & 0x1F) << 8) | chunk.data[o + 2] for o in range(0, 3 * 188, 188)]
        assert set(heads) == {0x11, 0, 0x1000}  # SDT, PAT, PMT: a player can start at any segment
        assert probe(chunk.data).starts_with_key_frame
    assert counter_breaks(b"".join(c.data for c in chunks)) == []  # each muxer alone would restart at 0


def test_counter_rewrite_rules():
    def packet(pid: int, counter: int, payload: bool) -> bytes:
        return bytes([0x47, pid >> 8, pid & 0xFF, (0x10 if payload else 0x20) | counter]) + bytes(184)

    counters = ContinuityCounters()
    first = counters.rewrite(packet(0x100, 7, True) + packet(0x100, 3, False))
    assert [b & 0x0F for b in first[3::188]] == [7, 7]  # a PID's first counter is kept; no payload: repeated
    second = counters.rewrite(packet(0x100, 0, True) + packet(0x1FFF, 9, True) + packet(0x101, 0, True))
    assert [b & 0x0F for b in second[3::188]] == [8, 9, 0]  # null packets untouched, new PIDs as they are
    with pytest.raises(ValueError):
        counters.rewrite(b"\x47" * 100)


@pytest.mark.slow
@needs_ffmpeg
@pytest.mark.parametrize("name", ["clip_ts", "clip_mp4", "wrapping_ts"])
def test_segments_played_in_order_decode_with_no_demuxer_warning(request, name, tmp_path):
    source = request.getfixturevalue(name)
    chunks = list(cut(source, 2))
    joined = b"".join(c.data for c in chunks)
    assert demuxer_warnings(joined, tmp_path) == ""
    assert counter_breaks(joined) == []
    assert video_frames(joined) == probe(source).packet_count  # every frame of the source, once
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.timerange.end == after.timerange.start


# -- timelines ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_ffmpeg
def test_an_mp4_with_b_frames_and_priming_gets_one_shift_for_every_segment(clip_mp4):
    chunks = list(cut(clip_mp4, 2))
    assert [str(c.timerange) for c in chunks] == ["[0:0_2:0)", "[2:0_4:0)", "[4:0_6:0)"]
    offsets = {c.ts_offset for c in chunks}
    assert len(offsets) == 1 and offsets.pop() < 0  # decode times before 0 shifted once, not per segment
    for chunk in chunks:
        info = probe(chunk.data)
        assert info.container == "mpegts" and {s.codec for s in info.streams} == {"h264", "aac"}
        assert info.timerange.start + chunk.ts_offset == chunk.timerange.start


def test_a_pts_wrap_lands_on_a_monotonic_non_negative_timeline(wrapping_ts):
    chunks = list(cut(wrapping_ts, 2))
    first_pts = TS_WRAP - 3 * 90000
    assert chunks[0].timerange.start == round(Fraction(first_pts, 90000) * 10**9) + 21_333_333  # make_ts's start
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.timerange.end == after.timerange.start
    assert all(c.timerange.start > 0 for c in chunks)
    media_times = []
    for chunk in chunks:
        own = probe(chunk.data).timerange  # what a reader of the object alone sees
        assert own.start + chunk.ts_offset == chunk.timerange.start
        media_times.append(own)
    for i, one in enumerate(media_times):
        assert all(not one.overlaps(other) for other in media_times[i + 1 :]), media_times


@pytest.mark.slow
def test_ingested_wrap_file_registers_monotonic_flow_times_and_distinct_media_times(gateway, wrapping_ts):
    flow_id = new_id()
    asyncio.run(ingest(gateway.url, wrapping_ts, flow_id, quiet=True))
    segments = httpx.get(f"{gateway.url}/flows/{flow_id}/segments?include_object_timerange=true").json()
    ranges = [TimeRange.parse(s["timerange"]) for s in segments]
    objects = [TimeRange.parse(s["object_timerange"]) for s in segments]
    assert len(ranges) == 4 and all(r.start > 0 for r in ranges)
    assert all(a.end == b.start for a, b in zip(ranges, ranges[1:], strict=False))
    assert all(not a.overlaps(b) for i, a in enumerate(objects) for b in objects[i + 1 :])
    assert len({s["object_id"] for s in segments}) == 4


# -- status -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_status_through_a_run_a_failure_and_a_resume(gateway, clip_ts):
    flow_id = new_id()
    chunks = list(cut(clip_ts, 2))
    with httpx.Client(base_url=gateway.url) as http:

        def status() -> str | None:
            return http.get(f"/flows/{flow_id}").json().get("status")

        async def begin() -> None:
            async with httpx.AsyncClient(base_url=gateway.url) as client:
                await start_flow(client, flow_id, None, probe(clip_ts), 2, clip_ts.name)

        asyncio.run(begin())  # what a run does first
        assert status() == "ingesting"
        report = asyncio.run(ingest(gateway.url, clip_ts, flow_id, quiet=True))
        assert report.segments == 4 and status() == "closed_complete"

        # lose the last two segments, and put a segment in the way of the third: the next run fails
        http.delete(f"/flows/{flow_id}/segments", params={"timerange": _from(chunks[2].timerange.start)})
        first = http.get(f"/flows/{flow_id}/segments").json()[0]
        blocker = str(TimeRange.make(chunks[3].timerange.start + 10**8, chunks[3].timerange.end))
        assert (
            http.post(
                f"/flows/{flow_id}/segments", json={"object_id": first["object_id"], "timerange": blocker}
            ).status_code
            == 201
        )
        with pytest.raises(RuntimeError, match="registering segments failed"):
            asyncio.run(ingest(gateway.url, clip_ts, flow_id, quiet=True))
        assert status() == "awaiting_content"

        # clear the way: the resumed run uploads only what is missing (the third went in before the
        # failure) and closes the flow
        http.delete(f"/flows/{flow_id}/segments", params={"timerange": blocker})
        again = asyncio.run(ingest(gateway.url, clip_ts, flow_id, quiet=True))
        assert (again.segments, again.skipped) == (1, 3) and status() == "closed_complete"
        segments = http.get(f"/flows/{flow_id}/segments").json()
        assert [s["timerange"] for s in segments] == [str(c.timerange) for c in chunks]
        joined = b"".join(httpx.get(s["get_urls"][0]["url"]).content for s in segments)
        assert joined == b"".join(c.data for c in chunks)  # a resumed run writes the same bytes
        assert counter_breaks(joined) == []


def _from(start_ns: int) -> str:
    return f"[{start_ns // 10**9}:{start_ns % 10**9}_"


@pytest.mark.slow
def test_ingest_into_a_flow_of_another_container_is_refused(gateway, clip_ts):
    from conftest import video_flow

    flow_id = new_id()
    httpx.put(f"{gateway.url}/flows/{flow_id}", json=video_flow(flow_id, new_id(), container="video/mp4"))
    with pytest.raises(ValueError, match="container video/mp4"):
        asyncio.run(ingest(gateway.url, clip_ts, flow_id, quiet=True))


# -- extensions ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content_type", "ext"),
    [
        ("video/mp2t", "ts"),
        ("video/iso.segment", "m4s"),
        ("audio/iso.segment", "m4s"),
        ("video/mp4", "mp4"),
        ("audio/mp4", "mp4"),
        ("audio/aac", "aac"),
        ("Video/MP2T; charset=x", "ts"),
        ("audio/mpeg", "mp3"),
    ],
)
def test_object_keys_end_in_an_extension_players_accept(content_type, ext):
    assert extension(content_type) == ext
    assert object_key("a.b/c", content_type).endswith(f".{ext}")
    assert object_key("a.b/c", "application/x-unknown").rsplit("/", 1)[1] == "a%2Eb%2Fc"


@pytest.mark.slow
def test_audio_fragment_objects_get_m4s_urls(gateway):
    from conftest import audio_flow

    flow_id = new_id()
    body = audio_flow(
        flow_id,
        new_id(),
        container="audio/iso.segment",
        essence_parameters={"sample_rate": 48000, "channels": 2, "init_segments": True},
    )
    assert httpx.put(f"{gateway.url}/flows/{flow_id}", json=body).status_code == 201
    allocated = httpx.post(f"{gateway.url}/flows/{flow_id}/storage", json={"limit": 1}).json()["media_objects"]
    assert urlparse(allocated[0]["put_url"]["url"]).path.endswith(".m4s")
    init = httpx.post(f"{gateway.url}/flows/{flow_id}/storage", json={"limit": 1, "content_type": "audio/mp4"}).json()[
        "media_objects"
    ]
    assert urlparse(init[0]["put_url"]["url"]).path.endswith(".mp4")


def _first_times(data: bytes) -> dict[str, Fraction]:
    """Each media type's first presentation time in one segment read alone."""
    first: dict[str, Fraction] = {}
    with av.open(io.BytesIO(data)) as container:
        for packet in container.demux():
            if packet.pts is not None and packet.size:
                kind, at = packet.stream.type, packet.pts * Fraction(packet.time_base)
                first[kind] = min(first.get(kind, at), at)
    return first


@needs_ffmpeg
@pytest.mark.parametrize("name", ["clip_ts", "clip_mp4", "wrapping_ts", "ffmpeg_wrap"])
def test_no_segment_starts_its_audio_before_its_first_frame(request, name, media_dir):
    """Audio timed before a segment's first video frame belongs to the segment before (its clock
    reference, the first PCR, comes with that frame: VLC "dts ... later than pcr"). ``ffmpeg_wrap``:
    ffmpeg's own muxer (its 0.7 s delay) sends audio after the key frame it precedes."""
    if name == "ffmpeg_wrap":
        source = media_dir / "ffmpeg-wrap.ts"
        offset = f"{float(Fraction(2**33, 90000) - 3):.6f}"
        plain = make_ts(media_dir / "ffmpeg-wrap-plain.ts", seconds=6)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(plain), "-c", "copy", "-output_ts_offset", offset, str(source)],
            check=True,
            timeout=60,
        )
    else:
        source = request.getfixturevalue(name)
    chunks = list(cut(source, 2))
    assert len(chunks) >= 3
    for chunk in chunks:
        first = _first_times(chunk.data)
        assert first["audio"] >= first["video"], (chunk.index, first)
