"""The cache of finished playlists (hits within max-age, never stale after a segment write, bounded), and
the URIs in playlists: stable across refreshes within a signing bucket, valid for the playlist's useful life."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import m3u8
import pytest
from conftest import TEST_CATALOG, new_id, video_flow
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from streaming.playback.playlist_cache import PlaylistCache
from streaming.playback.playlists import OFF_LOOP_ENTRIES
from streaming.storage import expiry


@dataclass(frozen=True)
class Text:
    text: str
    max_age: int = 60

    @property
    def body(self) -> bytes:
        return self.text.encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_hits_until_max_age_then_rebuilds():
    clock = Clock()
    cache: PlaylistCache[Text] = PlaylistCache(1000, clock)
    builds: list[str] = []

    async def build() -> Text:
        builds.append("built")
        return Text(f"#EXTM3U {len(builds)}", max_age=60)

    async def scenario() -> list[str]:
        texts = [(await cache.get_or_build("k", build)).text]
        clock.now += 59
        texts.append((await cache.get_or_build("k", build)).text)
        clock.now += 2  # past max-age: a new build
        texts.append((await cache.get_or_build("k", build)).text)
        return texts

    assert asyncio.run(scenario()) == ["#EXTM3U 1", "#EXTM3U 1", "#EXTM3U 2"]
    assert cache.hits == 1 and cache.builds == 2


def test_bounded_by_bytes_least_recently_used_first():
    cache: PlaylistCache[Text] = PlaylistCache(100, Clock())

    async def scenario() -> None:
        for key in ("a", "b", "c"):
            await cache.get_or_build(key, lambda key=key: asyncio.sleep(0, Text(key * 40)))
        # 120 bytes asked for, 100 allowed: "a" (least recently used) went
        assert set(cache._entries) == {"b", "c"} and cache.size == 80
        await cache.get_or_build("b", lambda: asyncio.sleep(0, Text("unused")))  # a hit: b is now newest
        await cache.get_or_build("d", lambda: asyncio.sleep(0, Text("d" * 40)))
        assert set(cache._entries) == {"b", "d"}
        await cache.get_or_build("huge", lambda: asyncio.sleep(0, Text("h" * 60)))  # over half: not kept
        assert "huge" not in cache._entries and cache.size == 80

    asyncio.run(scenario())


def test_concurrent_requests_share_one_build_and_failures_are_not_kept():
    cache: PlaylistCache[Text] = PlaylistCache(1000, Clock())
    calls = 0

    async def slow_build() -> Text:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return Text("#EXTM3U shared")

    async def failing_build() -> Text:
        raise RuntimeError("catalog down")

    async def scenario() -> None:
        first = asyncio.create_task(cache.get_or_build("k", slow_build))
        await asyncio.sleep(0.01)
        others = [asyncio.create_task(cache.get_or_build("k", slow_build)) for _ in range(5)]
        first.cancel()  # the first player hangs up: the others still get the playlist
        results = await asyncio.gather(*others)
        assert {r.text for r in results} == {"#EXTM3U shared"} and calls == 1
        with pytest.raises(asyncio.CancelledError):
            await first
        for _ in range(2):
            with pytest.raises(RuntimeError):
                await cache.get_or_build("bad", failing_build)
        assert "bad" not in cache._entries and cache.builds == 3

    asyncio.run(scenario())


def register(client, flow_id: str, starts: range) -> None:
    body = [{"object_id": new_id(), "timerange": f"[{s}:0_{s + 2}:0)"} for s in starts]
    assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201


def test_vod_playlist_is_served_from_cache_until_segments_change(client):
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
    register(client, flow_id, range(0, 20, 2))
    url = f"/flows/{flow_id}/playlist.m3u8?timerange=[0:0_30:0)&uris=proxy"
    first = client.get(url)
    assert first.headers["cache-control"].startswith("public") and len(m3u8.loads(first.text).segments) == 10
    cache = client.app.state.playlists.cache
    hits = cache.hits
    assert client.get(url).text == first.text and cache.hits == hits + 1
    metrics = client.get("/metrics").text
    assert f"tams_playlist_cache_hits_total {float(cache.hits)}" in metrics
    assert "tams_playlist_cache_builds_total" in metrics and "tams_playlist_cache_bytes " in metrics
    # a segment added inside the window shows at once (the key holds the flow's segment version)
    register(client, flow_id, range(20, 22, 2))
    assert len(m3u8.loads(client.get(url).text).segments) == 11
    # so does a deletion
    assert client.delete(f"/flows/{flow_id}/segments?timerange=[0:0_2:0)").status_code in (200, 202, 204)
    after_delete = m3u8.loads(client.get(url).text)
    assert len(after_delete.segments) == 10 and after_delete.segments[0].duration == 2
    # and a different window or URI mode is a different playlist
    assert len(m3u8.loads(client.get(url.replace("30:0", "10:0")).text).segments) == 4


def test_long_playlist_rendered_off_the_event_loop_is_complete(client):
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
    count = OFF_LOOP_ENTRIES + 500
    register(client, flow_id, range(0, 2 * count, 2))
    client.put(f"/flows/{flow_id}/read_only", json=True)  # finished: VOD of the whole flow
    playlist = m3u8.loads(client.get(f"/flows/{flow_id}/playlist.m3u8?uris=redirect").text)
    assert playlist.is_endlist and len(playlist.segments) == count
    assert playlist.segments[-1].uri.endswith("content.ts?mode=redirect")


def test_big_playlists_are_gzipped_for_clients_that_take_it(client):
    flow_id = new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, new_id()))
    register(client, flow_id, range(0, 800, 2))  # 400 segments: ~40 KB of playlist
    url = f"/flows/{flow_id}/playlist.m3u8?timerange=[0:0_800:0)&uris=proxy"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    packed = client.get(url, headers={"Accept-Encoding": "br, gzip;q=0.8"})
    assert packed.headers["content-encoding"] == "gzip" and packed.text == plain.text  # httpx unpacks it
    assert int(packed.headers["content-length"]) < len(plain.content) // 2
    assert packed.headers["etag"] != plain.headers["etag"]  # two representations, two validators
    assert client.get(url, headers={"Accept-Encoding": "gzip;q=0"}).headers.get("content-encoding") is None
    revalidated = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]})
    assert revalidated.status_code == 304
    # the compressed copy is cached too, and a segment write is never hidden by it
    cache = client.app.state.playlists.cache
    hits = cache.hits
    assert client.get(url, headers={"Accept-Encoding": "gzip"}).content == packed.content and cache.hits > hits
    assert client.delete(f"/flows/{flow_id}/segments?timerange=[0:0_2:0)").status_code in (200, 202, 204)
    assert len(m3u8.loads(client.get(url, headers={"Accept-Encoding": "gzip"}).text).segments) == 399
    # live playlists are small: never compressed
    live = client.get(f"/flows/{flow_id}/playlist.m3u8", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in live.headers


# -- stable URIs: signed per time bucket, never outliving the playlist's useful life -----------------
class WallClock:
    """Stands in for the time module where URLs are signed, so the test decides where in a bucket it is."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def url_expiry(url: str) -> int:
    """When a presigned URL stops working: local-disk ``expires=``, or SigV4's date plus lifetime."""
    query = parse_qs(urlsplit(url).query)
    if "expires" in query:
        return int(query["expires"][0])
    signed = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return int(signed.timestamp()) + int(query["X-Amz-Expires"][0])


def upload(client, flow_id: str, starts: range, put) -> None:
    """Allocated, uploaded and registered 2 s segments: objects with real controlled instances."""
    allocated = client.post(f"/flows/{flow_id}/storage", json={"limit": len(starts)}).json()["media_objects"]
    for obj in allocated:
        response = put(obj["put_url"]["url"], content=b"\x47" * 188, headers={"Content-Type": "video/mp2t"})
        assert response.status_code in (200, 201, 204), response.text
    body = [
        {"object_id": o["object_id"], "timerange": f"[{s}:0_{s + 2}:0)"} for o, s in zip(allocated, starts, strict=True)
    ]
    assert client.post(f"/flows/{flow_id}/segments", json=body).status_code == 201


def check_stable_uris(client, monkeypatch, put) -> None:
    clock = WallClock(0)
    monkeypatch.setattr(expiry, "time", clock)
    flow_id, source_id = new_id(), new_id()
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, source_id, status="ingesting"))
    upload(client, flow_id, range(0, 8, 2), put)
    url = f"/flows/{flow_id}/playlist.m3u8"
    # the presign expiry (3600) plus the span rounded up to whole expiries: the same live or VOD
    live_expiry = 2 * client.app.state.media.settings.presign_expiry_s
    bucket = expiry.bucket_seconds(live_expiry)
    real = time.time()
    clock.now = real - real % bucket + 1  # early in a bucket (near the real time: local URLs still verify)
    first = client.get(url)
    clock.now += bucket - 2  # a refresh late in the same bucket: byte-identical, so a 304
    second = client.get(url)
    assert first.text == second.text and first.headers["etag"] == second.headers["etag"]
    assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    uris = [s.uri for s in m3u8.loads(first.text).segments]
    assert len(uris) == 4 and all("signature" in u.lower() for u in uris)
    for uri in uris:  # and each is valid for at least the presign expiry from any moment in the bucket
        assert url_expiry(uri) >= clock.now + live_expiry
    # a new segment: the ones shared with the last refresh keep their URI exactly
    upload(client, flow_id, range(8, 10, 2), put)
    third = [s.uri for s in m3u8.loads(client.get(url).text).segments]
    assert third[:4] == uris and len(third) == 5
    # the next bucket signs anew
    clock.now += 2
    live = [s.uri for s in m3u8.loads(client.get(url).text).segments]
    assert live[:4] != uris
    # VOD: a cache or a player may keep the playlist for max-age, then play it to its end: every URL
    # must still be valid then
    client.put(f"/flows/{flow_id}", json=video_flow(flow_id, source_id, status="closed_complete"))
    vod = client.get(url)
    playlist = m3u8.loads(vod.text)
    max_age = int(vod.headers["cache-control"].split("max-age=")[1])
    span = sum(s.duration for s in playlist.segments)
    assert playlist.is_endlist and max_age > 0
    # closing the flow changes no URI: a player that was live sees #EXT-X-ENDLIST appended
    assert [s.uri for s in playlist.segments] == live and playlist.media_sequence == 0
    for seg in playlist.segments:
        assert url_expiry(seg.uri) >= clock.now + max_age + span


def test_live_uris_are_stable_within_a_bucket_on_local_disk(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path / "data", public_url="http://testserver", catalog=TEST_CATALOG)
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        check_stable_uris(client, monkeypatch, client.put)


@pytest.mark.slow
def test_live_uris_are_stable_within_a_bucket_on_s3(s3_server, tmp_path, monkeypatch):
    from test_objects_s3 import s3_storage_config

    config, _ = s3_storage_config(s3_server, tmp_path)
    settings = Settings(
        data_dir=tmp_path / "data", storage_config=config, public_url="http://testserver", catalog=TEST_CATALOG
    )
    with TestClient(create_app(settings), base_url="http://testserver") as client:
        check_stable_uris(client, monkeypatch, httpx.put)


def test_signing_window_rule():
    window = expiry.signing_window(3600, now=10_000)
    assert window.start % 1800 == 0 and window.start <= 10_000 and window.expires >= 10_000 + 3600
    assert all(expiry.signing_window(3600, now=t) == window for t in range(window.start, window.start + 1800, 97))
    assert expiry.signing_window(3600, now=window.start + 1800) != window
    # near SigV4's 7-day cap the bucket shrinks, and at the cap the URL is signed as of now
    capped = expiry.signing_window(7 * 24 * 3600 - 100, now=10_000, limit=7 * 24 * 3600)
    assert capped.lifetime <= 7 * 24 * 3600 and capped.expires >= 10_000 + 7 * 24 * 3600 - 100
    assert expiry.signing_window(7 * 24 * 3600, now=10_000, limit=7 * 24 * 3600) == (10_000, 7 * 24 * 3600)
