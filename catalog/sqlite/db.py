"""SQLite connections: one writer thread (writes serialised), a pool of reader threads, and one
budgeted reader on the event loop.

Every operation is a plain function of a connection, shipped to the writer or to a reader thread
with ``run_in_executor``. A few short indexed reads (a page of segments) instead run on the event
loop under a budget (``read_bounded``): a thread hop and the GIL hand-offs it causes cost more
than the read itself (docs/PERFORMANCE.md, issue 14). The budget keeps them from blocking the
loop: SQLite interrupts such a read after about ``LOOP_READ_OPCODES`` virtual-machine steps, or
at once when the file is locked, and the read runs again on a reader thread.
Several gateway processes may share the file (``serve --workers N``): their writers then queue on
SQLite's own write lock, taken by ``BEGIN IMMEDIATE`` (waiting up to the 30 s busy timeout), so
every write transaction, overlap checks included, still sees all earlier commits of every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from catalog.errors import Full
from catalog.sqlite.schema import MIGRATIONS

R = TypeVar("R")
T = TypeVar("T")
RESERVE_BYTES = 8 * 1024 * 1024  # released when the disk is full, so that deletes still have WAL room
RESERVE_SHARE = 20  # but never more than a twentieth of the space free at start (small disks)

LOOP_READ_OPCODES = 200_000
"""Steps one read on the event loop may take before it moves to a reader thread.

A 100-segment page takes ~4,000 (a 1,000-segment page ~33,000); 200,000 is about 1-2 ms of work."""

LOOP_MMAP_BYTES = 2**31
"""How much of the file the loop's reader maps (SQLite caps it at its build's limit, commonly 2 GiB;
other connections map 256 MiB). A random page of a big flow lands on pages no connection has
cached: read through the map they cost no system call and no copy (~30 us less of a 100-segment
page of a 1M-segment flow, docs/PERFORMANCE.md). Mapped pages are the OS's file cache, shared and
reclaimable, but they count in the process's RSS once touched."""

BUDGET_CHECK_OPCODES = 10_000
"""Steps between two looks at a loop read's budget. SQLite calls a progress handler each time a
statement's steps *since it was prepared* pass a multiple of its period, and Python's sqlite3 keeps
prepared statements: a handler that interrupted at once would stop a cached page query every ~50th
time it ran (its steps adding up), not a long read. So the handler counts its calls per read instead."""


def _connect(path: Path, timeout: float = 30) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
    conn.execute("PRAGMA mmap_size=268435456")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Applies the migrations this file has not seen yet; returns the resulting schema version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"catalog schema version {version} is newer than this gateway knows ({len(MIGRATIONS)})")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        try:
            # one script, one transaction: a migration applies whole or not at all
            conn.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={number}; COMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


@contextlib.contextmanager
def _opening(path: Path) -> Iterator[None]:
    """Holds ``<catalog>.lock`` while a process opens and migrates the file: several gateway processes
    starting at once on a new catalog would otherwise each switch it to WAL and run the migrations
    (the version is read before the migration's transaction begins)."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocks this writer thread, not the event loop
        yield


class Database:
    """Runs functions of a connection off the event loop: writes on one thread, reads on several."""

    def __init__(
        self,
        path: Path,
        readers: int = 4,
        loop_reads: bool = True,
        loop_budget: int = LOOP_READ_OPCODES,
        reserve_bytes: int = RESERVE_BYTES,
    ) -> None:
        self.path = path
        self.loop_reads = loop_reads
        self.loop_budget = loop_budget
        self._loop_reader: sqlite3.Connection | None = None
        self._loop_thread = 0  # the thread whose event loop uses _loop_reader
        self._check_every = max(1, min(loop_budget, BUDGET_CHECK_OPCODES))
        self._checks = max(1, loop_budget // self._check_every)  # handler calls one loop read may see
        self._checks_left = 0
        # A full disk refuses every write, deletes too: SQLite needs WAL pages for a DELETE. So a
        # spare file is kept beside the catalog; a delete that hits a full disk removes it and tries
        # again, and the next write with room to spare puts it back.
        self.reserve = path.with_name(f"{path.name}.reserve")
        self.reserve_bytes = reserve_bytes
        self._reserved = False
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(readers, thread_name_prefix="sqlite-reader")
        self._local = threading.local()
        self._writer: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

        def open_writer() -> None:
            with _opening(self.path):
                self._writer = _connect(self.path)
                # bulk registrations on a big catalog touch ~2,000 index pages per commit; the default
                # checkpoint at 1,000 WAL pages then runs after every commit (docs/PERFORMANCE.md)
                self._writer.execute("PRAGMA wal_autocheckpoint=20000")
                migrate(self._writer)
                self._size_reserve()
                self._restore_reserve()

        await asyncio.get_running_loop().run_in_executor(self._writer_pool, open_writer)

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def _size_reserve(self) -> None:
        """The spare file's size, fixed at start: RESERVE_BYTES, or less on a small disk."""
        self.reserve.unlink(missing_ok=True)  # its space counts as free
        disk = os.statvfs(self.path.parent)
        self.reserve_bytes = min(self.reserve_bytes, disk.f_bavail * disk.f_frsize // RESERVE_SHARE)

    def _restore_reserve(self) -> None:
        """Puts the spare file back (blocks really allocated); on a disk still full, leaves it out."""
        if self._reserved or self.reserve_bytes <= 0:
            return
        try:
            with open(self.reserve, "wb") as handle:
                os.posix_fallocate(handle.fileno(), 0, self.reserve_bytes)
            self._reserved = True
        except OSError:
            self.reserve.unlink(missing_ok=True)

    def _release_reserve(self) -> bool:
        """Frees the spare file's space; False when there was none to free."""
        if not self.reserve.exists():
            return False
        self.reserve.unlink()
        self._reserved = False
        return True

    def _transaction(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        conn = self._writer
        assert conn is not None, "Database.start() was not awaited"
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    async def write(self, fn: Callable[[sqlite3.Connection], R], frees_space: bool = False) -> R:
        """Runs ``fn`` inside BEGIN IMMEDIATE on the writer; any exception rolls everything back.

        A full disk raises ``Full``; a write that ``frees_space`` (a delete) first gets the reserve."""

        def run() -> R:
            if not frees_space:
                self._restore_reserve()
            try:
                return self._transaction(fn)
            except sqlite3.OperationalError as exc:
                if not _disk_full(exc):
                    raise
                if frees_space and self._release_reserve():
                    try:
                        return self._transaction(fn)
                    except sqlite3.OperationalError as again:
                        if not _disk_full(again):
                            raise
                raise Full("the catalog's disk is full; delete flows or segments to free space") from None

        return await asyncio.get_running_loop().run_in_executor(self._writer_pool, run)

    async def read(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """Runs ``fn`` in one read transaction (a consistent snapshot) on a reader thread."""
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, self._snapshot, fn)

    async def read_then(self, fn: Callable[[sqlite3.Connection], T], then: Callable[[T], R]) -> R:
        """``then(fn(...))`` on one reader thread, ``then`` after the read transaction has ended."""
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, lambda: then(self._snapshot(fn)))

    def _snapshot(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    async def read_bounded(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        """Like ``read``, on the event loop while ``fn`` stays within the budget; else on a reader thread.

        ``fn`` must only read: an interrupted attempt is rolled back and ``fn`` runs again in full.
        """
        if not self.loop_reads:
            return await self.read(fn)
        conn = self._loop_reader
        if conn is None:
            # no busy wait (timeout 0): a locked file moves the read to a thread instead of blocking
            conn = self._loop_reader = _connect(self.path, timeout=0)
            conn.execute("PRAGMA query_only=ON")
            conn.execute(f"PRAGMA mmap_size={LOOP_MMAP_BYTES}")
            conn.set_progress_handler(self._over_budget, self._check_every)
            self._loop_thread = threading.get_ident()
        elif self._loop_thread != threading.get_ident():
            # one connection, one loop: an event loop on another thread reads the usual way
            return await self.read(fn)
        self._checks_left = self._checks
        try:
            conn.execute("BEGIN")
            try:
                return fn(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.OperationalError:  # interrupted (over budget) or locked: retried off the loop
            # and the connection replaced: Python's sqlite3 never again reuses a cached statement whose
            # step failed (its reset reports that failure, so the statement stays "in use"), and would
            # prepare that statement afresh on every later call (the page query: ~15 us a request)
            self._loop_reader = None
            conn.close()
        return await self.read(fn)

    def _over_budget(self) -> int:
        """The loop reader's progress handler, every ``_check_every`` steps: 1 interrupts the read.
        The first call of a read may come sooner (see BUDGET_CHECK_OPCODES), so a read runs at
        least ``loop_budget - _check_every`` steps."""
        self._checks_left -= 1
        return 1 if self._checks_left < 0 else 0

    async def close(self) -> None:
        # Reads still running (a cancelled request's query keeps going on its thread) must finish
        # before their connections close: closing a connection under a running statement crashes
        # the interpreter. So drain the reader pool first, then close everything from the writer.
        await asyncio.to_thread(self._reader_pool.shutdown, True)
        if self._loop_reader is not None:  # used only on the loop, so idle now
            self._loop_reader.close()
            self._loop_reader = None

        def close_all() -> None:
            with self._lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()
            if self._writer is not None:
                with contextlib.suppress(sqlite3.Error):  # a full disk must not stop a clean close
                    self._writer.execute("PRAGMA optimize")
                self._writer.close()
                self._writer = None

        # the writer pool runs one job at a time, so queued writes finish before this closes them
        await asyncio.get_running_loop().run_in_executor(self._writer_pool, close_all)
        await asyncio.to_thread(self._writer_pool.shutdown, True)


def _disk_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def backup(source: Path, target: Path, pages_per_step: int = 1024) -> None:
    """A consistent copy of a live catalog file (SQLite's online backup: writers keep going meanwhile).

    Written to a temporary file and renamed, so ``target`` is either the old file or a complete copy.
    """
    if not source.exists():
        raise FileNotFoundError(f"no catalog at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(source) as live, sqlite3.connect(partial) as copy:
        live.backup(copy, pages=pages_per_step)
        copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        if copy.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise RuntimeError("the backup copy failed its integrity check")
    live.close()
    copy.close()
    partial.replace(target)
