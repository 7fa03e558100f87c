"""Made clip files (``media.mp4``) kept on disk by identity, so a player's Range requests and seeks
read one file instead of remuxing the whole clip again for each request.

A clip's identity (``timerange_file.clip_key``) names everything its bytes depend on: the flow, the
span, and each segment's object and timing. Objects are immutable, so a file made once stays right
for as long as the key is asked for. Files live in one directory (``<data dir>/cache/clips`` by
default), at most ``max_bytes`` in all, the least recently used out first. Requests for a clip being
made wait for that one build (per process; processes sharing the directory may both build it, and
the last atomic rename wins with the same bytes). A file is handed over already open, so eviction by
another request or process never cuts a response short.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


class ClipFiles:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._building: dict[str, asyncio.Future[None]] = {}

    async def cached(self, key: str) -> BinaryIO | None:
        """The clip's file, open, when it was made before (its use time refreshed); else None."""
        return await asyncio.to_thread(self._open, key) if self.max_bytes else None

    async def get(self, key: str, make: Callable[[Path], Awaitable[None]]) -> BinaryIO:
        """The clip's file, open for reading: cached, or made by ``make(path)`` (shared by concurrent asks)."""
        while True:
            found = await self.cached(key)
            if found is not None:
                return found
            running = self._building.get(key)
            if running is None:
                break
            await asyncio.shield(running)  # its failure is its caller's; then look again (or build)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._building[key] = done
        try:
            return await self._make(key, make)
        finally:
            del self._building[key]
            done.set_result(None)

    async def _make(self, key: str, make: Callable[[Path], Awaitable[None]]) -> BinaryIO:
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        partial = self.directory / f".{key}.{uuid.uuid4().hex}.partial"
        try:
            await make(partial)
            file = await asyncio.to_thread(partial.open, "rb")
            if not self.max_bytes:
                await asyncio.to_thread(partial.unlink)  # not kept: the open file is all there is
                return file
            target = self.directory / f"{key}.mp4"
            await asyncio.to_thread(os.replace, partial, target)
            await asyncio.to_thread(self._evict, target)
            return file
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()

    def _open(self, key: str) -> BinaryIO | None:
        try:
            file = (self.directory / f"{key}.mp4").open("rb")
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.utime(file.fileno())  # recently used: evicted last
        return file

    def _evict(self, keep: Path) -> None:
        """The least recently used files out until the directory is within ``max_bytes`` (``keep`` stays)."""
        entries = []
        for entry in os.scandir(self.directory):
            if entry.name.endswith(".mp4") and entry.path != str(keep):
                with contextlib.suppress(FileNotFoundError):
                    stat = entry.stat()
                    entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries) + keep.stat().st_size
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            total -= size


def size_of(file: BinaryIO) -> int:
    return os.fstat(file.fileno()).st_size


async def read_file(file: BinaryIO, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
    """Bytes ``start``..``end`` (inclusive; None: to the end) of an open file, read off the event loop;
    the file is closed at the end (or on hang-up)."""
    try:
        await asyncio.to_thread(file.seek, start)
        left = None if end is None else end - start + 1
        while left is None or left > 0:
            chunk = await asyncio.to_thread(file.read, CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                break
            left = None if left is None else left - len(chunk)
            yield chunk
    finally:
        file.close()
