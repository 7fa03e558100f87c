"""Multipart uploads on the local-disk store: parts are files under ``.multipart/<upload id>/``.

An upload is bound to its object: the directory records the key it was created for, and every part,
completion and abort names that key (a part URL is signed for both). Part ``n`` is stored as
``<n>.<md5>`` (its ETag in the name: one atomic rename), so completion checks the ETags the client
lists without reading the parts again. The size limit holds for the sum of the parts, as each streams
in; a failed part leaves nothing, and completion or abort removes the whole directory.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio
import anyio.to_thread

from streaming.storage.checksums import Digests
from streaming.storage.interface import ObjectInfo, ObjectTooLarge
from streaming.storage.local_files import CHUNK, MULTIPART, stream_to

Writer = Callable[[str, AsyncIterator[bytes]], Awaitable[ObjectInfo]]


class LocalParts:
    def __init__(self, root: Path, limit: int, in_use: set[Path]) -> None:
        self.base = root / MULTIPART
        self.limit = limit
        self.in_use = in_use

    def _folder(self, key: str, upload_id: str) -> Path:
        """The upload's directory, checked to belong to ``key``; ValueError otherwise."""
        if not upload_id.isalnum():
            raise ValueError("invalid upload id")
        folder = self.base / upload_id
        try:
            owner = (folder / "key").read_text()
        except FileNotFoundError:
            raise ValueError(f"no multipart upload {upload_id}") from None
        if owner != key:
            raise ValueError(f"multipart upload {upload_id} belongs to another object")
        return folder

    @staticmethod
    def _parts(folder: Path) -> dict[int, tuple[Path, str]]:
        """Part number -> (file, MD5 hex) of the parts stored so far."""
        found = {}
        for path in folder.iterdir():
            number, _, md5 = path.name.partition(".")
            if number.isdigit() and md5:
                found[int(number)] = (path, md5)
        return found

    async def create(self, key: str) -> str:
        upload_id = secrets.token_hex(16)
        folder = self.base / upload_id

        def make() -> None:
            folder.mkdir(parents=True)
            (folder / "key").write_text(key)

        await anyio.to_thread.run_sync(make)
        return upload_id

    async def write(
        self, key: str, upload_id: str, number: int, chunks: AsyncIterator[bytes], expected: dict[str, bytes]
    ) -> str:
        """Stores part ``number`` (replacing an earlier upload of it); returns its ETag."""
        if not 1 <= number <= 10_000:
            raise ValueError("part numbers go from 1 to 10000")
        folder = await anyio.to_thread.run_sync(self._folder, key, upload_id)
        existing = await anyio.to_thread.run_sync(self._parts, folder)
        used = sum(p.stat().st_size for n, (p, _) in existing.items() if n != number)
        tmp = folder / f".{number}.{time.monotonic_ns()}.part"
        digests = Digests(expected, also=("content-md5",))
        self.in_use.add(folder)
        try:
            await stream_to(tmp, chunks, digests, self.limit, used)
            md5 = digests.digest("content-md5").hex()

            def place() -> None:
                for n, (path, _) in self._parts(folder).items():
                    if n == number:
                        path.unlink(missing_ok=True)
                tmp.rename(folder / f"{number:05d}.{md5}")

            await anyio.to_thread.run_sync(place)
        finally:
            self.in_use.discard(folder)
        return f'"{md5}"'

    async def complete(self, key: str, upload_id: str, parts: list[tuple[int, str]], write: Writer) -> ObjectInfo:
        """Joins the listed parts into the object with ``write``; the upload is gone afterwards, also
        when the joined object is too large (missing parts or wrong ETags leave it for a retry)."""
        numbers = [n for n, _ in parts]
        if not numbers or numbers != sorted(set(numbers)):
            raise ValueError("parts must be listed once each, in ascending order")
        folder = await anyio.to_thread.run_sync(self._folder, key, upload_id)
        stored = await anyio.to_thread.run_sync(self._parts, folder)
        missing = [n for n in numbers if n not in stored]
        if missing:
            raise ValueError(f"parts never uploaded: {missing[:10]}")
        wrong = [n for n, etag in parts if etag.strip().strip('"') != stored[n][1]]
        if wrong:
            raise ValueError(f"the ETags of parts {wrong[:10]} are not those of the uploaded parts")

        async def joined() -> AsyncIterator[bytes]:
            for number in numbers:
                async with await anyio.open_file(stored[number][0], "rb") as handle:
                    while chunk := await handle.read(CHUNK):
                        yield chunk

        self.in_use.add(folder)
        try:
            info = await write(key, joined())
        except ObjectTooLarge:
            await self.abort(key, upload_id)
            raise
        finally:
            self.in_use.discard(folder)
        await self.abort(key, upload_id)
        return info

    async def abort(self, key: str, upload_id: str) -> None:
        folder = await anyio.to_thread.run_sync(self._folder, key, upload_id)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
