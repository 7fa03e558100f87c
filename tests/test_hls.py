"""HLS playlists: parsed with the m3u8 package tag by tag, and played by ffprobe/ffmpeg from a real gateway."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from dataclasses import replace

import httpx
import m3u8
import pytest
from conftest import new_id, video_flow
from media import make_ts
from starlette.testclient import TestClient

from catalog.timing import TimeRange, Timestamp
from gateway.app import create_app
from gateway.ingest import ingest
from streaming.playback.hls import PlaylistEntry, media_playlist, seconds_text
from streaming.playback.leapseconds import tai_to_utc_ns

S = 1_000_000_000


def test_exact_durations_and_rendering():
    assert seconds_text(2 * S) == "2" and seconds_text(40_000_000) == "0.04" and seconds_text(1_001_000_000) == "1.001"
    entries = [
        PlaylistEntry(0, 2 * S, "a.ts"),
        PlaylistEntry(2 * S, 4 * S + 1, "b.ts"),
        PlaylistEntry(10 * S, 12 * S, "c.ts"),
    ]
    text = media_playlist(entries, media_sequence=7, ended=True)
    playlist = m3u8.loads(text)
    assert playlist.is_endlist and playlist.media_sequence == 7 and playlist.target_duration == 3
    assert [s.duration for s in playlist.segments] == [2, 2.000000001, 2]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True]
    assert playlist.segments[0].program_date_time is not None and playlist.segments[2].program_date_time is not None
    assert playlist.version == 3


def test_tai_to_utc():
    import calendar

    utc = calendar.timegm((2026, 1, 1, 0, 0, 0))
    assert tai_to_utc_ns((utc + 37) * S) == utc * S
    y2k = calendar.timegm((2000, 1, 1, 0, 0, 0))
    assert tai_to_utc_ns((y2k + 32) * S) == y2k * S


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_ts(tmp_path_factory.mktemp("hls") / "clip.ts", seconds=8, fps=25, gop=25)


def ffprobe_frames(url: str) -> tuple[float, int]:
    """Duration and decoded video frame count of a playlist, as ffprobe reads it."""
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe is not installed (make test installs Debian's ffmpeg)")
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames:format=duration",
            "-of",
            "json",
            "-protocol_whitelist",
            "file,http,https,tcp,tls,crypto",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return float(data["format"]["duration"]), int(data["streams"][0]["nb_read_frames"])


@pytest.mark.slow
@pytest.mark.parametrize("uris", ["presigned", "proxy", "redirect"])
def test_vod_playlist_plays_in_ffprobe(gateway_process, clip, uris):
    flow_id = new_id()
    asyncio.run(ingest(gateway_process.url, clip, flow_id, quiet=True))
    url = f"{gateway_process.url}/flows/{flow_id}/playlist.m3u8?timerange=_0:0)&uris={uris}"
    closed = f"{gateway_process.url}/flows/{flow_id}/playlist.m3u8?uris={uris}&timerange=[0:0_100:0)"
    response = httpx.get(closed)
    assert response.status_code == 200 and response.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert "max-age" in response.headers["cache-control"] and response.headers["etag"]
    playlist = m3u8.loads(response.text)
    assert playlist.is_endlist and len(playlist.segments) == 4 and playlist.target_duration == 2
    assert all(s.duration == 2 for s in playlist.segments)
    duration, frames = ffprobe_frames(closed)
    assert frames == 200 and abs(duration - 8) < 0.1
    assert m3u8.loads(httpx.get(url).text).segments == []  # nothing before 0:0


@pytest.mark.slow
def test_live_playlist_window_and_sequence(gateway_process, clip):
    """A live flow shorter than the live span (a minute) is listed from its first segment; when it
    closes, its VOD playlist is the last live one with #EXT-X-ENDLIST: same media sequence, same URIs
    (sliding windows: tests/test_discontinuity.py)."""
    flow_id = new_id()
    with httpx.Client(base_url=gateway_process.url) as http:
        source_id = new_id()
        http.put(f"/flows/{flow_id}", json=video_flow(flow_id, source_id))
        asyncio.run(ingest(gateway_process.url, clip, flow_id, quiet=True))
        flow = http.get(f"/flows/{flow_id}").json()  # ingest closed it; it goes live again, being appended to
        assert http.put(f"/flows/{flow_id}", json={**flow, "status": "ingesting"}).status_code == 204
        first = m3u8.loads(http.get(f"/flows/{flow_id}/playlist.m3u8").text)
        assert not first.is_endlist and first.media_sequence == 0 and len(first.segments) == 4
        assert "max-age=1" in http.get(f"/flows/{flow_id}/playlist.m3u8").headers["cache-control"]
        # segments keep arriving: each refresh appends one, the rest keep their number and URI
        objects = http.post(f"/flows/{flow_id}/storage", json={"limit": 6}).json()["media_objects"]
        data = httpx.get(http.get(f"/flows/{flow_id}/segments").json()[0]["get_urls"][0]["url"]).content
        previous = first
        for i, obj in enumerate(objects):
            httpx.put(obj["put_url"]["url"], content=data, headers={"Content-Type": "video/mp2t"})
            start = 8 + 2 * i
            body = {"object_id": obj["object_id"], "timerange": f"[{start}:80000000_{start + 2}:80000000)"}
            assert http.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
            current = m3u8.loads(http.get(f"/flows/{flow_id}/playlist.m3u8").text)
            assert current.media_sequence == 0 and len(current.segments) == 5 + i  # 20 s: all of it
            # URIs are stable (signed per time bucket): the old segments are listed exactly as before
            assert [s.uri for s in current.segments][:-1] == [s.uri for s in previous.segments]
            previous = current
        http.put(f"/flows/{flow_id}/read_only", json=True)
        closed = m3u8.loads(http.get(f"/flows/{flow_id}/playlist.m3u8").text)  # finished: VOD
        assert closed.is_endlist and closed.media_sequence == previous.media_sequence
        assert [s.uri for s in closed.segments] == [s.uri for s in previous.segments]


@pytest.mark.slow
def test_playlist_errors(gateway_process):
    assert httpx.get(f"{gateway_process.url}/flows/{new_id()}/playlist.m3u8").status_code == 404
    assert httpx.get(f"{gateway_process.url}/flows/{new_id()}/playlist.m3u8?uris=ftp").status_code == 400


@pytest.mark.slow
def test_timerange_as_one_seekable_file(gateway_process, clip):
    from streaming.ingest.segmenter import cut

    flow_id = new_id()
    asyncio.run(ingest(gateway_process.url, clip, flow_id, quiet=True))
    chunks = list(cut(clip, 2))
    whole = b"".join(c.data for c in chunks)
    url = f"{gateway_process.url}/flows/{flow_id}/media.ts"
    response = httpx.get(url)
    assert response.status_code == 200 and response.content == whole
    assert response.headers["content-length"] == str(len(whole)) and response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "video/mp2t"
    # a window: the middle two segments only
    window = chunks[1].timerange.envelope(chunks[2].timerange)
    middle = httpx.get(url, params={"timerange": str(window)})
    assert middle.content == chunks[1].data + chunks[2].data
    # ranges that span object boundaries map onto the right bytes
    boundary = len(chunks[0].data)
    for start, end in ((0, 99), (boundary - 50, boundary + 49), (len(whole) - 10, len(whole) - 1)):
        part = httpx.get(url, headers={"Range": f"bytes={start}-{end}"})
        assert part.status_code == 206 and part.content == whole[start : end + 1]
    assert httpx.get(url, headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
    assert httpx.get(url, headers={"If-None-Match": response.headers["etag"]}).status_code == 304
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    duration, frames = ffprobe_frames(url)
    assert frames == 200 and abs(duration - 8) < 0.1
    assert httpx.get(f"{gateway_process.url}/flows/{flow_id}/media.ts?timerange=[100:0_200:0)").status_code == 404


@pytest.mark.slow
def test_multivariant_playlist_for_a_source(gateway_process, clip, tmp_path):
    video_source, audio_source, multi_source = new_id(), new_id(), new_id()
    hd, sd, sound, multi = new_id(), new_id(), new_id(), new_id()
    with httpx.Client(base_url=gateway_process.url) as http:
        body = video_flow(hd, video_source, label="hd", max_bit_rate=5000, avg_bit_rate=4000)
        body["essence_parameters"]["avc_parameters"] = {"profile": 100, "level": 40, "flags": 0}
        http.put(f"/flows/{hd}", json=body)
        sd_body = video_flow(sd, video_source, label="sd")
        sd_body["essence_parameters"].update(frame_width=160, frame_height=90)
        http.put(f"/flows/{sd}", json=sd_body)
        asyncio.run(ingest(gateway_process.url, clip, sd, quiet=True))
        audio = {
            "id": sound,
            "source_id": audio_source,
            "format": "urn:x-nmos:format:audio",
            "codec": "audio/aac",
            "container": "video/mp2t",
            "label": "english",
            "essence_parameters": {"sample_rate": 48000, "channels": 2, "codec_parameters": {"mp4_oti": 2}},
        }
        assert http.put(f"/flows/{sound}", json=audio).status_code == 201
        collection = [{"id": hd, "role": "hd"}, {"id": sd, "role": "sd"}, {"id": sound, "role": "audio"}]
        http.put(
            f"/flows/{multi}",
            json={
                "id": multi,
                "source_id": multi_source,
                "format": "urn:x-nmos:format:multi",
                "flow_collection": collection,
            },
        )
        response = http.get(f"/sources/{multi_source}/playlist.m3u8?uris=proxy&timerange=[0:0_100:0)")
        assert response.status_code == 200
        playlist = m3u8.loads(response.text)
        assert playlist.is_variant and len(playlist.playlists) == 2
        by_flow = {p.uri.split("/flows/")[1].split("/")[0]: p.stream_info for p in playlist.playlists}
        assert by_flow[hd].bandwidth == 5_000_000 and by_flow[hd].average_bandwidth == 4_000_000
        assert by_flow[hd].resolution == (1920, 1080) and by_flow[hd].frame_rate == 25
        # every codec of the variant and of its audio group (RFC 8216 4.3.4.2)
        assert by_flow[hd].codecs == "avc1.640028,mp4a.40.2" and by_flow[hd].audio == "audio"
        assert by_flow[sd].bandwidth > 1000  # measured, not guessed
        assert by_flow[sd].codecs == "avc1.64000B,mp4a.40.2"  # ingest derived avc_parameters from the media
        (rendition,) = playlist.media
        assert rendition.type == "AUDIO" and rendition.name == "english" and sound in rendition.uri
        assert all("uris=proxy" in p.uri and "timerange=" in p.uri for p in playlist.playlists)
        # a player follows it down to the media
        variant = next(p.uri for p in playlist.playlists if sd in p.uri)
        assert ffprobe_frames(variant)[1] == 200
        # an audio flow without its object type: no CODECS at all rather than an incomplete one
        del audio["essence_parameters"]["codec_parameters"]
        http.put(f"/flows/{sound}", json=audio)
        again = m3u8.loads(http.get(f"/sources/{multi_source}/playlist.m3u8?type=vod&container=fmp4").text)
        assert all(p.stream_info.codecs is None for p in again.playlists)
        assert all("type=vod" in p.uri and "container=fmp4" in p.uri for p in again.playlists)
        assert http.get(f"/sources/{multi_source}/playlist.m3u8?type=now").status_code == 400
        video_only = m3u8.loads(http.get(f"/sources/{video_source}/playlist.m3u8").text)
        assert len(video_only.playlists) == 2 and not video_only.media
        assert http.get(f"/sources/{new_id()}/playlist.m3u8").status_code == 404


@pytest.mark.parametrize(
    ("status", "query", "ended"),
    [
        ("closed_complete", "", True),
        ("closed_complete", "?timerange=_", True),
        ("closed_complete", "?type=live", False),
        ("ingesting", "?timerange=[0:0_4:0)", False),
        ("awaiting_content", "?type=vod", True),
        ("replication_in_progress", "", False),
        (None, "?timerange=[0:0_4:0)", True),
    ],
)
def test_live_or_vod_follows_the_flow(client, status, query, ended):
    """A finished flow is VOD over its whole timerange by default; live only while it is fed."""
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), **({"status": status} if status else {})))
    body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 2}:0)"} for s in range(0, 20, 2)]
    assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
    playlist = m3u8.loads(client.get(f"/flows/{flow_id}/playlist.m3u8{query}").text)
    assert playlist.is_endlist is ended
    if ended and "timerange=[" not in query:
        assert len(playlist.segments) == 10  # the whole flow, not a window
    if not ended:
        assert playlist.discontinuity_sequence == 0
        if "timerange=[" not in query:  # 20 s: under the live span, listed from the start
            assert len(playlist.segments) == 10 and playlist.media_sequence == 0
    if "[0:0_4:0)" in query:  # a closed timerange still selects the segments
        assert len(playlist.segments) == 2


def test_playlist_options_are_checked(client):
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
    for query in ("type=forever", "container=mkv"):
        response = client.get(f"/flows/{flow_id}/playlist.m3u8?{query}")
        assert response.status_code == 400 and query.split("=")[0] in response.json()["summary"]


@pytest.mark.slow
def test_an_edit_with_a_jump_back_plays_in_ffprobe(gateway_process, clip):
    """An edit that plays the clip's first half twice (objects reused under a ts_offset): the reused
    objects come remuxed in flow time, one DISCONTINUITY at the jump back, and ffprobe decodes every
    frame of both halves."""
    source_flow, edit = new_id(), new_id()
    asyncio.run(ingest(gateway_process.url, clip, source_flow, quiet=True))
    with httpx.Client(base_url=gateway_process.url) as http:
        first_half = http.get(f"/flows/{source_flow}/segments").json()[:2]
        body = video_flow(edit, new_id(), status="closed_complete")
        assert http.put(f"/flows/{edit}", json=body).status_code == 201
        ranges = [TimeRange.parse(s["timerange"]) for s in first_half]
        length = ranges[1].end - ranges[0].start
        segments = [{"object_id": s["object_id"], "timerange": s["timerange"]} for s in first_half]
        offset = str(Timestamp(length))
        segments += [
            {"object_id": s["object_id"], "timerange": str(r.shift(length)), "ts_offset": offset}
            for s, r in zip(first_half, ranges, strict=True)
        ]
        assert http.post(f"/flows/{edit}/segments", json=segments).status_code == 201
        url = f"{gateway_process.url}/flows/{edit}/playlist.m3u8"
        playlist = m3u8.loads(httpx.get(url).text)
        assert playlist.is_endlist and [s.discontinuity for s in playlist.segments] == [False, False, True, False]
        assert ["/remux/" in s.uri for s in playlist.segments] == [False, False, True, True]
        assert ffprobe_frames(url)[1] == 200


@pytest.mark.slow
def test_remuxed_playlists_play_in_ffprobe(gateway_process, clip):
    """The remux URIs playlists write, followed by ffprobe: fMP4 HLS and DASH of an MPEG-TS flow, and
    an edit whose segments use halves of objects (cut by the remux endpoint) — every frame, once."""
    flow_id, edit = new_id(), new_id()
    asyncio.run(ingest(gateway_process.url, clip, flow_id, quiet=True))
    base = f"{gateway_process.url}/flows/{flow_id}"
    fmp4 = m3u8.loads(httpx.get(f"{base}/playlist.m3u8?container=fmp4").text)
    assert fmp4.is_endlist and fmp4.segments[0].init_section.uri.endswith("/remux/init.mp4")
    assert ffprobe_frames(f"{base}/playlist.m3u8?container=fmp4")[1] == 200
    assert ffprobe_frames(f"{base}/manifest.mpd")[1] == 200
    with httpx.Client(base_url=gateway_process.url) as http:
        segments = http.get(f"/flows/{flow_id}/segments").json()
        body = video_flow(edit, new_id(), status="closed_complete")
        body["essence_parameters"] = http.get(f"/flows/{flow_id}").json()["essence_parameters"]
        assert http.put(f"/flows/{edit}", json=body).status_code == 201
        halves = []
        for seg in segments[:2]:  # each object in two halves: [start, middle) and [middle, end)
            whole = TimeRange.parse(seg["timerange"])
            middle = whole.start + (whole.end - whole.start) // 2
            halves += [
                {"object_id": seg["object_id"], "timerange": str(TimeRange.make(whole.start, middle))},
                {"object_id": seg["object_id"], "timerange": str(TimeRange.make(middle, whole.end))},
            ]
        assert http.post(f"/flows/{edit}/segments", json=halves).status_code == 201
    url = f"{gateway_process.url}/flows/{edit}/playlist.m3u8"
    playlist = m3u8.loads(httpx.get(url).text)
    assert len(playlist.segments) == 4 and all("/remux/" in s.uri for s in playlist.segments)
    assert not any(s.discontinuity for s in playlist.segments)  # one recording, cut: no break
    assert ffprobe_frames(url)[1] == 100


def test_live_window_covers_the_live_span(client):
    """A live playlist: the latest segments ending within a minute of the live edge, at least
    ``live_window`` of them; the sequence is the segments before it, so it only moves forward."""
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), status="ingesting"))
    body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 2}:0)"} for s in range(0, 80, 2)]
    assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
    playlist = m3u8.loads(client.get(f"/flows/{flow_id}/playlist.m3u8").text)
    assert len(playlist.segments) == 30 and playlist.media_sequence == 10  # [20 s, 80 s) of [0, 80 s)
    assert playlist.program_date_time is not None and not playlist.is_endlist
    # long segments: the window still holds live_window (6) of them
    long_id = new_id()
    client.put(f"/flows/{long_id}", json=video_flow(long_id, new_id(), status="ingesting"))
    body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 20}:0)"} for s in range(0, 200, 20)]
    assert client.post(f"/flows/{long_id}/segments", json=body).status_code == 201
    playlist = m3u8.loads(client.get(f"/flows/{long_id}/playlist.m3u8").text)
    assert len(playlist.segments) == 6 and playlist.media_sequence == 4


def test_a_longer_live_span_is_read_by_time(settings):
    """TAMS_LIVE_SPAN_S (the DVR window): the span is read by time, however many segments it takes
    (2,000 short segments here), and a flow that closes within it reads, to a player already
    watching, as the same playlist with #EXT-X-ENDLIST appended: same media sequence, same URIs."""
    with TestClient(create_app(replace(settings, live_span_s=300)), base_url="http://testserver") as client:
        flow_id = new_id()
        client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id(), status="ingesting"))
        step = S // 5  # 0.2 s segments: 400 s in all
        body = [
            {"object_id": new_id(), "timerange": str(TimeRange.make(n * step, (n + 1) * step))} for n in range(2000)
        ]
        assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201
        playlist = m3u8.loads(client.get(f"/flows/{flow_id}/playlist.m3u8?uris=proxy").text)
        assert len(playlist.segments) == 1500 and playlist.media_sequence == 500  # [100 s, 400 s)
        assert not playlist.is_endlist

        short_id = new_id()  # 200 s: longer than the default minute, inside this span
        client.put(f"/flows/{short_id}", json=video_flow(short_id, new_id(), status="ingesting"))
        body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 2}:0)"} for s in range(0, 200, 2)]
        assert client.post(f"/flows/{short_id}/segments", json=body).status_code == 201
        live = m3u8.loads(client.get(f"/flows/{short_id}/playlist.m3u8?uris=proxy").text)
        assert len(live.segments) == 100 and live.media_sequence == 0 and not live.is_endlist
        closed = client.get(f"/flows/{short_id}").json() | {"status": "closed_complete"}
        assert client.put(f"/flows/{short_id}", json=closed).status_code in (200, 201, 204)
        vod = m3u8.loads(client.get(f"/flows/{short_id}/playlist.m3u8?uris=proxy").text)
        assert vod.is_endlist and vod.media_sequence == 0
        assert [s.uri for s in vod.segments] == [s.uri for s in live.segments]
