"""asyncio COPY IN shares the event loop: one batch at a time, then others run.

A ticker task counts how often it ran while a copy was being written; the
assertions are on those counts and on what the server committed, never on
time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

import pgcopy_fast as pcf

TYPES = ["int8", "text"]
SQL = "COPY fair FROM STDIN (FORMAT binary)"


def arun(pg_server, body: Callable[[pcf.AsyncConnection], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        conn = await pcf.connect_async(pg_server.dsn)
        # A transport that never pushes back: the writer's own turn-taking
        # is what is tested, not waiting for the drain.
        conn._wire.transport.transport.set_write_buffer_limits(high=1 << 30)
        try:
            await conn.execute(
                "DROP TABLE IF EXISTS fair; CREATE TABLE fair (id int8 PRIMARY KEY, t text)"
            )
            # Hang protection only (generous): a stuck copy fails the test.
            return await asyncio.wait_for(body(conn), 300)
        finally:
            await conn.close()

    return asyncio.run(main())


class Ticker:
    """A task that counts its turns on the event loop."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop:
            self.ticks += 1
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._stop = True
        await self._task


#: "Endless" for a copy that must be stopped long before: a bound, so that a
#: regression fails the test instead of hanging it.
ENDLESS = 3_000_000


class Rows:
    """Rows ``(i, text)`` for i from 0, counting how many were taken."""

    def __init__(self, limit: int | None = ENDLESS, duplicate_at: int | None = None):
        self.taken = 0
        self._limit = limit
        self._duplicate_at = duplicate_at

    def __iter__(self) -> Iterator[tuple[int, str]]:
        i = 0
        while self._limit is None or i < self._limit:
            self.taken += 1
            key = 0 if i == self._duplicate_at else i
            yield (key, f"row number {i:>12} of the copy")
            i += 1


async def _count(conn: pcf.AsyncConnection) -> int:
    return int((await conn.execute("SELECT count(*) FROM fair")).rows[0][0] or 0)


def test_other_tasks_run_between_batches(pg_server) -> None:
    rows = 100_000  # about 5 MB of binary COPY: some twenty 256 KiB batches

    async def body(conn: pcf.AsyncConnection) -> None:
        ticker = Ticker()
        await asyncio.sleep(0)
        async with conn.copy_in(SQL, TYPES) as cp:
            start = ticker.ticks
            await cp.write_rows(Rows(rows))
            during = ticker.ticks - start
        await ticker.stop()
        assert cp.rowcount == rows
        # One turn per batch at least (a batch whose drain waited gives many).
        assert during >= 15

    arun(pg_server, body)


def test_cancel_from_another_task_stops_an_endless_copy(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        rows = Rows()

        async def canceller() -> None:
            while rows.taken < 50_000:
                await asyncio.sleep(0)
            await conn.cancel()

        task = asyncio.get_running_loop().create_task(canceller())
        with pytest.raises(pcf.QueryCanceled):
            async with conn.copy_in(SQL, TYPES) as cp:
                await cp.write_rows(rows)
        await task
        assert rows.taken < ENDLESS
        assert await _count(conn) == 0
        assert conn.transaction_status is pcf.TransactionStatus.IDLE

    arun(pg_server, body)


def test_a_cancelled_task_fails_the_copy_and_keeps_the_connection(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        rows = Rows()

        async def writer() -> None:
            async with conn.copy_in(SQL, TYPES) as cp:
                await cp.write_rows(rows)

        task = asyncio.get_running_loop().create_task(writer())
        while rows.taken < 50_000:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not conn.closed and rows.taken < ENDLESS
        assert await _count(conn) == 0
        assert (await conn.execute("SELECT 1")).rows == [("1",)]

    arun(pg_server, body)


def test_an_early_server_error_stops_the_writer(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        rows = Rows(limit=5_000_000, duplicate_at=10)
        with pytest.raises(pcf.IntegrityError):
            async with conn.copy_in(SQL, TYPES) as cp:
                await cp.write_rows(rows)
        # The blocking API stops within a few batches too; the rest of the
        # five million were never encoded.
        assert rows.taken < 500_000
        assert await _count(conn) == 0

    arun(pg_server, body)


def test_a_timeout_around_write_rows_fires_and_the_connection_stays(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        rows = Rows()
        async with conn.copy_in(SQL, TYPES) as cp:
            ticker = Ticker()
            with pytest.raises(asyncio.TimeoutError):
                # wait_for cancels the write when its timer fires: the timer
                # can only fire if the writer gives the loop a turn.
                await asyncio.wait_for(cp.write_rows(rows), 0.2)
            await ticker.stop()
        assert ticker.ticks > 0 and rows.taken < ENDLESS
        assert await _count(conn) == 0
        assert (await conn.execute("SELECT 1")).rows == [("1",)]

    arun(pg_server, body)
