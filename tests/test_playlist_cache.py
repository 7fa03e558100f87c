"""The cache of finished playlists: hits within max-age, never stale after a segment write, bounded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import m3u8
import pytest
from conftest import new_id, video_flow

from streaming.playback.playlist_cache import PlaylistCache
from streaming.playback.playlists import OFF_LOOP_ENTRIES


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
