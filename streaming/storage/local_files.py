"""The local-disk store's file handling: streaming an upload to a temporary file while hashing it,
publishing it without ever overwriting other bytes, the SHA-256 kept with each object, and the
sweep of temporaries a crash or an abandoned upload left behind.

Temporaries live in ``<root>/.incoming/`` (the same filesystem, so publishing is a hard link), and
multipart parts in ``<root>/.multipart/<upload id>/``; both are swept by age (last modification),
never while this process is writing them. An object's SHA-256 is an extended attribute of its file
(``user.tams.sha256``), set on the temporary before it is linked into place, so bytes and digest
appear together; on a filesystem without user xattrs the store simply knows no SHA-256.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from streaming.storage.checksums import Digests
from streaming.storage.interface import ObjectExists, ObjectTooLarge, StoreFull

CHUNK = 1024 * 1024  # bytes per thread hop when writing or hashing
INCOMING = ".incoming"
MULTIPART = ".multipart"
FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)


SHA256_XATTR = "user.tams.sha256"
NO_XATTRS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENODATA, errno.EPERM)


def read_sha256(path: Path) -> str | None:
    try:
        return os.getxattr(path, SHA256_XATTR).decode() or None
    except OSError as exc:
        if exc.errno in NO_XATTRS:
            return None
        raise


def _record_sha256(path: Path, sha256: str) -> None:
    try:
        os.setxattr(path, SHA256_XATTR, sha256.encode())
    except OSError as exc:
        if exc.errno not in NO_XATTRS:
            raise


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def full_error(exc: OSError, what: str) -> StoreFull | None:
    """StoreFull for a full disk (or quota), None for any other error."""
    if exc.errno in FULL_ERRNOS:
        return StoreFull(f"the local store's disk is full; {what} was refused (delete objects to free space)")
    return None


async def _coalesced(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Request bodies arrive in small pieces: hand them on about a CHUNK at a time (fewer thread hops)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if len(buffer) >= CHUNK:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _absorb(handle: BinaryIO, digests: Digests, chunk: bytes) -> None:
    handle.write(chunk)
    digests.update(chunk)


def _finish(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


async def stream_to(tmp: Path, chunks: AsyncIterator[bytes], digests: Digests, limit: int, used: int = 0) -> None:
    """Writes the stream to ``tmp`` (fsynced), hashing each chunk as it goes (in the same thread hop).

    ObjectTooLarge once ``used`` plus the bytes so far pass ``limit``; StoreFull on a full disk; BadDigest
    when the bytes do not match a checksum sent with them. ``tmp`` is removed on any failure."""
    try:
        handle = await anyio.to_thread.run_sync(open, tmp, "wb")
        try:
            async for chunk in _coalesced(chunks):
                if used + digests.size + len(chunk) > limit:
                    raise ObjectTooLarge(f"the object exceeds the limit of {limit} bytes")
                await anyio.to_thread.run_sync(_absorb, handle, digests, chunk)
            await anyio.to_thread.run_sync(_finish, handle)
        finally:
            await anyio.to_thread.run_sync(handle.close)
        digests.check()
    except BaseException as exc:
        await anyio.to_thread.run_sync(lambda: tmp.unlink(missing_ok=True))
        if isinstance(exc, OSError) and (full := full_error(exc, "the upload")) is not None:
            raise full from None
        raise


def publish(tmp: Path, final: Path, sha256: str) -> None:
    """Puts ``tmp`` at ``final`` unless bytes are there already: the same bytes (a retried upload) are
    accepted as they are; other bytes raise ObjectExists, since stored bytes never change."""
    try:
        _record_sha256(tmp, sha256)
        try:
            os.link(tmp, final)  # fails rather than replaces, atomically
        except FileExistsError:
            existing = read_sha256(final) or file_sha256(final)
            if existing != sha256:
                raise ObjectExists(
                    "this object's bytes were uploaded already and are immutable; allocate a new object "
                    "to store other bytes"
                ) from None
    except OSError as exc:
        if (full := full_error(exc, "the upload")) is not None:
            raise full from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _newest(path: Path) -> float:
    """Last modification of a file, or of a directory and anything in it."""
    times = [path.stat().st_mtime]
    if path.is_dir():
        times.extend(p.stat().st_mtime for p in path.iterdir())
    return max(times)


def sweep(root: Path, older_than_s: float, in_use: Callable[[Path], bool], everywhere: bool = False) -> int:
    """Removes temporaries and multipart uploads untouched for ``older_than_s``, except those in use;
    ``everywhere`` also walks the object tree for the ``.part`` files older versions wrote beside
    their objects. Returns how many."""
    cutoff = time.time() - older_than_s
    removed = 0
    for folder in (root / INCOMING, root / MULTIPART):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            try:
                if in_use(path) or _newest(path) >= cutoff:
                    continue
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed += 1
            except FileNotFoundError:
                continue  # finished or removed meanwhile
    if everywhere:
        for path in root.rglob(".*"):
            if path.relative_to(root).parts[0] in (INCOMING, MULTIPART) or not path.is_file():
                continue
            if path.name.endswith(".part") and not in_use(path) and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
