"""Finished (VOD) playlists, kept for as long as the Cache-Control they were served with allows.

A day of two-second segments takes ~200 ms to read, sign and render, and every viewer of the same
programme asks for the same playlist. Keys carry the flow's segment version (segments ever added,
segments now held: any segment write changes one of them), so a write is never hidden; a change
of an object's storage instances shows after at most the playlist's max-age, exactly as behind any
HTTP cache that honours our Cache-Control. Concurrent requests for a playlist being built wait for
that one build instead of starting their own.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar


class Cacheable(Protocol):
    @property
    def body(self) -> bytes: ...

    @property
    def max_age(self) -> int: ...


P = TypeVar("P", bound=Cacheable)


class PlaylistCache(Generic[P]):
    """Least-recently-used playlists up to ``max_bytes`` in all; each expires after its max-age."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.clock = clock
        self.size = 0
        self.hits = 0
        self.builds = 0
        self._entries: OrderedDict[Hashable, tuple[float, P]] = OrderedDict()
        self._building: dict[Hashable, asyncio.Future[P]] = {}

    async def get_or_build(self, key: Hashable, build: Callable[[], Awaitable[P]]) -> P:
        cached = self._entries.get(key)
        if cached is not None:
            if cached[0] > self.clock():
                self._entries.move_to_end(key)
                self.hits += 1
                return cached[1]
            self._drop(key)
        pending = self._building.get(key)
        if pending is None:
            self.builds += 1
            pending = self._building[key] = asyncio.ensure_future(build())
            pending.add_done_callback(lambda done: self._built(key, done))
        # shielded: a player that hangs up does not cancel the build others are waiting for
        return await asyncio.shield(pending)

    def _built(self, key: Hashable, done: asyncio.Future[P]) -> None:
        self._building.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        playlist = done.result()
        size = len(playlist.body)
        if self.max_bytes <= 0 or size > self.max_bytes // 2:  # one giant must not flush everything else
            return
        self._entries[key] = (self.clock() + playlist.max_age, playlist)
        self.size += size
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: Hashable) -> None:
        _, playlist = self._entries.pop(key)
        self.size -= len(playlist.body)
