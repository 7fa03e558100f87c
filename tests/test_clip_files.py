"""Kept clip files (streaming/playback/clip_files.py) on a real directory: one build per clip however
many ask at once, least recently used out first, an open file unharmed by eviction, nothing kept
from a failed build or with a zero budget."""

from __future__ import annotations

import asyncio
import os

import pytest

from streaming.playback.clip_files import ClipFiles, read_file, size_of


def maker(calls: list[str], size: int = 100, fail: bool = False):
    async def make(path):
        calls.append(path.name)
        await asyncio.sleep(0.01)  # let the other askers arrive while it builds
        if fail:
            path.write_bytes(b"half")
            raise RuntimeError("the remux failed")
        path.write_bytes(bytes([len(calls)]) * size)

    return make


async def read_all(file) -> bytes:
    return b"".join([chunk async for chunk in read_file(file)])


def test_concurrent_asks_share_one_build(tmp_path):
    files, calls = ClipFiles(tmp_path, 10_000), []

    async def main():
        return await asyncio.gather(*(files.get("a", maker(calls)) for _ in range(5)))

    opened = asyncio.run(main())
    assert len(calls) == 1
    assert all(asyncio.run(read_all(f)) == b"\x01" * 100 for f in opened)
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]  # no partial file left


def test_least_recently_used_out_and_an_open_file_survives(tmp_path):
    files, calls = ClipFiles(tmp_path, 250), []
    first = asyncio.run(files.get("a", maker(calls)))
    asyncio.run(files.get("b", maker(calls))).close()
    old = os.stat(tmp_path / "b.mp4").st_mtime - 10
    os.utime(tmp_path / "b.mp4", (old, old))
    os.utime(tmp_path / "a.mp4")
    asyncio.run(files.get("c", maker(calls))).close()  # 300 bytes > 250: b, the least recently used, goes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "c.mp4"]
    asyncio.run(files.get("d", maker(calls))).close()  # a goes too, while still open
    assert not (tmp_path / "a.mp4").exists()
    assert asyncio.run(read_all(first)) == b"\x01" * 100  # the response under way reads on


def test_a_kept_file_is_read_again(tmp_path):
    files, calls = ClipFiles(tmp_path, 10_000), []
    asyncio.run(files.get("a", maker(calls))).close()
    again = asyncio.run(files.get("a", maker(calls)))
    assert len(calls) == 1 and size_of(again) == 100
    again.close()


def test_a_failed_build_keeps_nothing_and_the_next_ask_builds(tmp_path):
    files, calls = ClipFiles(tmp_path, 10_000), []
    with pytest.raises(RuntimeError):
        asyncio.run(files.get("a", maker(calls, fail=True)))
    assert list(tmp_path.iterdir()) == []
    assert asyncio.run(read_all(asyncio.run(files.get("a", maker(calls))))) == b"\x02" * 100


def test_no_budget_keeps_nothing(tmp_path):
    files, calls = ClipFiles(tmp_path, 0), []
    file = asyncio.run(files.get("a", maker(calls)))
    assert list(tmp_path.iterdir()) == [] and asyncio.run(read_all(file)) == b"\x01" * 100
    asyncio.run(files.get("a", maker(calls))).close()
    assert len(calls) == 2
