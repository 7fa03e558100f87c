"""The SQLite connection pool: reads still running on their threads finish before close; bounded reads on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

from catalog.sqlite.db import Database

# a query that keeps its reader thread busy for a while (no table needed)
SLOW_COUNT = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n"


def test_close_waits_for_a_cancelled_read_still_running(tmp_path):
    # A cancelled request's read keeps running on its thread (run_in_executor cannot stop it).
    # Closing its connection underneath it used to crash the interpreter (seen in CI as a segfault
    # in a webhook listing during app shutdown); close() must let it finish first.
    finished: list[int] = []
    started = threading.Semaphore(0)

    def slow_read(conn: sqlite3.Connection) -> int:
        started.release()
        count = conn.execute(SLOW_COUNT).fetchone()[0]
        finished.append(count)
        return count

    async def scenario() -> None:
        db = Database(tmp_path / "catalog.sqlite3", readers=2)
        await db.start()
        reads = [asyncio.create_task(db.read(slow_read)) for _ in range(2)]
        for _ in range(2):  # both queries are running on their reader threads (however slow the machine)
            assert await asyncio.to_thread(started.acquire, True, 30)
        for task in reads:
            task.cancel()
        await db.close()
        assert finished == [3_000_000, 3_000_000], "close() returned before the running reads ended"

    asyncio.run(scenario())


def _bounded_reads(tmp_path, sql: str, loop_reads: bool = True) -> tuple[int, list[str]]:
    """Runs ``sql`` through ``read_bounded``; returns its answer and the threads each attempt ran on."""
    threads: list[str] = []

    def read(conn: sqlite3.Connection) -> int:
        threads.append(threading.current_thread().name)
        return conn.execute(sql).fetchone()[0]

    async def scenario() -> int:
        db = Database(tmp_path / "catalog.sqlite3", readers=1, loop_reads=loop_reads)
        await db.start()
        try:
            return await db.read_bounded(read)
        finally:
            await db.close()

    return asyncio.run(scenario()), threads


def test_a_short_bounded_read_runs_on_the_event_loop(tmp_path):
    answer, threads = _bounded_reads(tmp_path, "SELECT count(*) FROM sqlite_master")
    assert answer > 0 and threads == ["MainThread"]


def test_a_bounded_read_over_its_budget_is_interrupted_and_runs_on_a_reader_thread(tmp_path):
    answer, threads = _bounded_reads(tmp_path, SLOW_COUNT)
    assert answer == 3_000_000
    assert threads[0] == "MainThread" and len(threads) == 2 and threads[1].startswith("sqlite-reader")


def test_bounded_reads_stay_off_the_loop_when_turned_off(tmp_path):
    answer, threads = _bounded_reads(tmp_path, "SELECT 1", loop_reads=False)
    assert answer == 1 and len(threads) == 1 and threads[0].startswith("sqlite-reader")


def test_a_loop_on_another_thread_reads_on_a_reader_thread(tmp_path):
    # the loop's connection belongs to the first loop's thread: sharing it would interleave transactions
    threads: list[str] = []

    def read(conn: sqlite3.Connection) -> int:
        threads.append(threading.current_thread().name)
        return conn.execute("SELECT 1").fetchone()[0]

    async def scenario() -> None:
        db = Database(tmp_path / "catalog.sqlite3", readers=1)
        await db.start()
        try:
            assert await db.read_bounded(read) == 1
            assert await asyncio.to_thread(asyncio.run, db.read_bounded(read)) == 1
        finally:
            await db.close()

    asyncio.run(scenario())
    assert threads[0] == "MainThread" and threads[1].startswith("sqlite-reader") and len(threads) == 2


def test_an_interrupted_loop_connection_is_replaced(tmp_path):
    # Python's sqlite3 re-prepares, on every later call, a cached statement whose step failed: the
    # loop's connection (with its statement cache) must not outlive an interruption
    used: list[sqlite3.Connection] = []

    def read(sql: str):
        def run(conn: sqlite3.Connection) -> int:
            used.append(conn)
            return conn.execute(sql).fetchone()[0]

        return run

    async def scenario() -> None:
        db = Database(tmp_path / "catalog.sqlite3", readers=1)
        await db.start()
        try:
            assert await db.read_bounded(read("SELECT 1")) == 1
            assert await db.read_bounded(read(SLOW_COUNT)) == 3_000_000
            assert await db.read_bounded(read("SELECT 2")) == 2
        finally:
            await db.close()

    asyncio.run(scenario())
    first, interrupted, on_thread, after = used
    assert first is interrupted and on_thread is not first and after not in (first, on_thread)


def test_the_budget_is_per_read_not_per_statement(tmp_path):
    # SQLite counts a prepared statement's steps over every run: a cached query of a few thousand
    # steps used to pass the budget every ~50th run, and that run then moved to a thread
    sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) SELECT count(*) FROM n"
    threads: list[str] = []

    def read(conn: sqlite3.Connection) -> int:
        threads.append(threading.current_thread().name)
        return conn.execute(sql).fetchone()[0]

    async def scenario() -> None:
        db = Database(tmp_path / "catalog.sqlite3", readers=1)
        await db.start()
        try:
            for _ in range(300):  # ~10,000 steps each: 15 budgets in all
                assert await db.read_bounded(read) == 1000
        finally:
            await db.close()

    asyncio.run(scenario())
    assert threads == ["MainThread"] * 300
