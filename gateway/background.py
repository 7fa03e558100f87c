"""The background services (webhook dispatcher, deletion worker, allocation collector) in exactly one process.

``tams-gateway serve --workers N`` runs N processes on one catalog. Each takes part in an election
on ``<data dir>/background.lock``: the process holding an exclusive ``flock`` on it runs the
services; the others try the lock every ``poll_s`` and the first to get it takes over. The kernel
releases a process's locks when it exits however it exits (kill -9 included), so a dead holder
never blocks its successor, and there is no lease to renew. The holder writes its pid into the file
(for people and tests; the lock, not the pid, decides).

Deletion requests made through another process only reach the catalog, so the holder looks for
pending ones every ``wake_s`` and wakes its deletion worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path

from catalog.store import Deletions
from streaming.events.webhooks import Dispatcher
from streaming.objects.media import MediaService

log = logging.getLogger("tams.gateway")
LOCK_NAME = "background.lock"


class FileLock:
    """An exclusive, non-blocking ``flock`` on one file, held until ``release`` (or the process ends)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor of the open file drops the lock
            self._fd = None


class BackgroundServices:
    """Starts the services when this process holds the lock; otherwise stands by, trying it."""

    def __init__(
        self,
        data_dir: Path,
        catalog: Deletions,
        media: MediaService,
        dispatcher: Dispatcher,
        poll_s: float = 0.5,
        wake_s: float = 1.0,
    ) -> None:
        self.lock = FileLock(data_dir / LOCK_NAME)
        self.catalog = catalog
        self.media = media
        self.dispatcher = dispatcher
        self.poll_s = poll_s
        self.wake_s = wake_s
        self.running = False
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        # tried once before the app serves: a lone process runs its services from its first request on
        if self.lock.try_acquire():
            await self._run_services()
        self._task = asyncio.create_task(self._stand_by_then_wake())

    async def _run_services(self) -> None:
        log.info("process %d runs the webhook dispatcher, deletion worker and allocation collector", os.getpid())
        self.running = True
        self.media.start_gc()
        await self.dispatcher.start()

    async def _stand_by_then_wake(self) -> None:
        while not self.lock.held:
            await asyncio.sleep(self.poll_s)
            if self.lock.try_acquire():
                log.info("process %d took over the background services", os.getpid())
                await self._run_services()
        while True:
            await asyncio.sleep(self.wake_s)
            try:
                if await self.catalog.pending_deletions():
                    self.media.deletion.wake()
            except Exception:  # the catalog is away for a moment; the next round asks again
                log.debug("could not look for pending deletions", exc_info=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.running:
            await self.dispatcher.close()
            await self.media.stop_gc()
            self.running = False
        self.lock.release()
