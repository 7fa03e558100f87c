"""The SQLite connection pool's shutdown: reads still running on their threads finish before close."""

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
