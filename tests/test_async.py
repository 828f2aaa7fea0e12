"""AsyncConnection: the blocking API's behaviour over asyncio, plus cancellation,
backpressure and concurrency.  Each test runs its coroutine with asyncio.run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from pgsetup import ROLES

import pgcopy_fast as pcf
from pgcopy_fast.connection import transport_aio
from pgcopy_fast.connection.transport import RECV_BUFFER_SIZE


def arun(
    pg_server, body: Callable[[pcf.AsyncConnection], Awaitable[Any]], **kwargs: Any
) -> Any:
    async def main() -> Any:
        conn = await pcf.connect_async(pg_server.dsn, **kwargs)
        try:
            return await body(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


TYPES = ["int4", "text", "float8"]


async def _table(conn: pcf.AsyncConnection) -> None:
    await conn.execute(
        "DROP TABLE IF EXISTS acopy; CREATE TABLE acopy (a int PRIMARY KEY, b text, c float8)"
    )


async def _count(conn: pcf.AsyncConnection) -> int:
    return int((await conn.execute("SELECT count(*) FROM acopy")).rows[0][0] or 0)


def test_connect_execute_errors_and_notices(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        assert (
            conn.backend_pid and conn.transaction_status is pcf.TransactionStatus.IDLE
        )
        res = await conn.execute("SELECT 1 AS a; SELECT 'x' AS b")
        assert res.rows == [("x",)] and res.columns == [("b", 25)]
        with pytest.raises(pcf.DataError):
            await conn.execute("SELECT 1/0")
        await conn.execute("DO $$ BEGIN RAISE NOTICE 'hi'; END $$")
        assert [n.message for n in conn.notices] == ["hi"]
        assert (await conn.execute("SELECT 2")).rows == [("2",)]

    arun(pg_server, body)


def test_scram_over_tls_with_channel_binding(pg_server) -> None:
    if pg_server.tls is None:
        pytest.skip("needs the throwaway cluster")
    password = {r: p for r, _, p, _ in ROLES}["scram_user"]

    async def main() -> None:
        conn = await pcf.connect_async(
            host="localhost",
            hostaddr="127.0.0.1",
            port=pg_server.port,
            user="scram_user",
            dbname="postgres",
            password=password,
            sslmode="verify-full",
            sslrootcert=pg_server.tls.ca,
            channel_binding="require",
        )
        async with conn:
            rows = (
                await conn.execute(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                )
            ).rows
            assert rows == [("t",)]
        with pytest.raises(pcf.OperationalError) as info:
            await pcf.connect_async(
                host="127.0.0.1",
                port=pg_server.port,
                user="scram_user",
                dbname="postgres",
                password="wrong",
                sslmode="disable",
            )
        assert info.value.sqlstate == "28P01"

    asyncio.run(main())


@pytest.mark.parametrize(
    ("options", "types"),
    [("", None), ("(FORMAT csv)", None), ("(FORMAT binary)", TYPES)],
)
def test_copy_in_and_out_each_format(
    pg_server, options: str, types: list[str] | None
) -> None:
    async def rows() -> AsyncIterator[tuple[Any, ...]]:
        for i in range(5000):
            yield (i, f"r{i}", i / 2)

    async def body(conn: pcf.AsyncConnection) -> None:
        await _table(conn)
        async with conn.copy_in(f"COPY acopy FROM STDIN {options}", types) as cp:
            await cp.write_row((-1, "first", None))
            await cp.write_rows(rows())  # an async iterable
            await cp.write_rows([(-2, "sync", 0.5)])  # and a sync one
        assert cp.rowcount == 5002
        got = []
        async with conn.copy_out(
            f"COPY (SELECT * FROM acopy ORDER BY a) TO STDOUT {options}", types
        ) as out:
            async for row in out:
                got.append(row)
        assert len(got) == 5002 and out.rowcount == 5002
        first = (-2, "sync", 0.5) if types else ("-2", "sync", "0.5")
        assert got[0] == first
        out = await conn.copy_out("COPY (SELECT 1) TO STDOUT")
        assert await out.read() == b"1\n" and await out.read() is None

    arun(pg_server, body)


def test_high_level_calls_and_files(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        await conn.execute(
            "DROP TABLE IF EXISTS ahl; CREATE TABLE ahl (id int8, amount numeric, at timestamptz)"
        )
        at = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
        assert (
            await conn.copy_records("ahl", [(1, Decimal("1.50"), at), (2, None, None)])
            == 2
        )
        assert [r async for r in conn.copy_records_out("ahl")] == [
            (1, Decimal("1.50"), at),
            (2, None, None),
        ]
        assert [
            r async for r in conn.copy_query_out("SELECT id FROM ahl ORDER BY id")
        ] == [(1,), (2,)]
        buf = io.BytesIO()
        assert await conn.copy_to_file("COPY ahl TO STDOUT (FORMAT csv)", buf) == 2
        await conn.execute("TRUNCATE ahl")

        class AsyncReader:
            def __init__(self, data: bytes) -> None:
                self.data = io.BytesIO(data)

            async def read(self, n: int) -> bytes:
                return self.data.read(n)

        assert (
            await conn.copy_from_file(
                "COPY ahl FROM STDIN (FORMAT csv)", AsyncReader(buf.getvalue())
            )
            == 2
        )

    arun(pg_server, body)


def test_error_paths_match_the_blocking_api(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        await _table(conn)
        with pytest.raises(pcf.DataError) as info:
            async with conn.copy_in("COPY acopy FROM STDIN") as cp:
                await cp.write_rows([(1, "a", 1.0), ("two", "b", 2.0)])
        assert "line 2, column a" in (info.value.context or "")
        with pytest.raises(pcf.EncodeError) as einfo:
            async with conn.copy_in(
                "COPY acopy FROM STDIN (FORMAT binary)", TYPES
            ) as cp:
                await cp.write_rows([(1, "a", 1.0), ("x", "b", 2.0)])
        assert (einfo.value.row_index, einfo.value.column) == (1, 0)
        with pytest.raises(RuntimeError):
            async with conn.copy_in("COPY acopy FROM STDIN") as cp:
                await cp.write_row((1, "a", 1.0))
                raise RuntimeError("no")
        with pytest.raises(pcf.InterfaceError, match="copy_out"):
            await conn.copy_in("COPY acopy TO STDOUT")
        with pytest.raises(pcf.IntegrityError):
            async with conn.copy_in(
                "COPY acopy FROM STDIN (FORMAT binary)", TYPES
            ) as cp:
                await cp.write_rows(
                    (1 if i == 10 else i, "x", 0.0) for i in range(1_000_000)
                )
        with pytest.raises(pcf.DataError):
            async for _ in conn.copy_query_out(
                "SELECT 1 / (g - 3) FROM generate_series(1, 5) g"
            ):
                pass
        assert await _count(conn) == 0
        assert (await conn.execute("SELECT 3")).rows == [("3",)]

    arun(pg_server, body)


def test_task_cancelled_mid_copy_in_sends_copy_fail(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        await _table(conn)
        produced = asyncio.Event()

        async def endless() -> AsyncIterator[tuple[Any, ...]]:
            i = 0
            while True:
                i += 1
                if i == 20_000:
                    produced.set()
                if i % 1000 == 0:
                    await asyncio.sleep(0)
                yield (i, "x", 0.0)

        async def load() -> None:
            async with conn.copy_in(
                "COPY acopy FROM STDIN (FORMAT binary)", TYPES
            ) as cp:
                await cp.write_rows(endless())

        task = asyncio.create_task(load())
        await produced.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not conn.closed
        assert await _count(conn) == 0

    arun(pg_server, body)


def test_task_cancelled_mid_copy_out_leaves_the_connection_usable(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        seen = asyncio.Event()

        async def read() -> None:
            n = 0
            async with conn.copy_out(
                "COPY (SELECT generate_series(1, 100000000)) TO STDOUT"
            ) as out:
                async for _ in out:
                    n += 1
                    if n == 50_000:
                        seen.set()
                        await asyncio.sleep(0)

        task = asyncio.create_task(read())
        await seen.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not conn.closed
        assert (await conn.execute("SELECT 'after'")).rows == [("after",)]

    arun(pg_server, body)


def test_slow_consumer_keeps_memory_bounded(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        peak = 0
        async with conn.copy_out(
            "COPY (SELECT g, repeat('x', 100) FROM generate_series(1, 300000) g) TO STDOUT"
        ) as out:
            n = 0
            async for _ in out:
                n += 1
                if n % 5000 == 0:
                    await asyncio.sleep(
                        0.001
                    )  # a slow consumer, not a timing assertion
                    peak = max(peak, conn._wire.transport._buffered)
        assert n == 300_000
        assert peak <= transport_aio.MAX_BUFFERED + RECV_BUFFER_SIZE

    arun(pg_server, body)


def test_writer_waits_for_drain(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        await _table(conn)
        peak = 0

        def rows() -> Any:
            nonlocal peak
            for i in range(300_000):
                if i % 1000 == 0:
                    peak = max(
                        peak, conn._wire.transport.transport.get_write_buffer_size()
                    )
                yield (i, "y" * 200, 1.0)

        async with conn.copy_in("COPY acopy FROM STDIN (FORMAT binary)", TYPES) as cp:
            await cp.write_rows(rows())
        assert cp.rowcount == 300_000
        # at most the batch just written on top of the transport's high-water mark
        assert (
            peak
            <= transport_aio.WRITE_HIGH_WATER + pcf.kernels.consts.COPY_BATCH_THRESHOLD
        )

    arun(pg_server, body)


def test_many_concurrent_copies_in_one_loop(pg_server) -> None:
    async def one(i: int) -> int:
        conn = await pcf.connect_async(pg_server.dsn)
        async with conn:
            await conn.execute(
                f"DROP TABLE IF EXISTS par{i}; CREATE TABLE par{i} (a int8)"
            )
            n = await conn.copy_records(f"par{i}", ((j,) for j in range(20_000)))
            got = [r async for r in conn.copy_records_out(f"par{i}")]
            await conn.execute(f"DROP TABLE par{i}")
            return n + len(got)

    async def main() -> list[int]:
        return await asyncio.gather(*(one(i) for i in range(6)))

    assert asyncio.run(main()) == [40_000] * 6


def test_concurrent_use_of_one_connection_is_refused(pg_server) -> None:
    async def body(conn: pcf.AsyncConnection) -> None:
        first = asyncio.create_task(conn.execute("SELECT pg_sleep(0.2)"))
        await asyncio.sleep(0)
        with pytest.raises(pcf.InterfaceError, match="in progress"):
            await conn.execute("SELECT 1")
        await first
        assert (await conn.execute("SELECT 4")).rows == [("4",)]

    arun(pg_server, body)


def test_lost_connection_mid_copy_raises_without_hanging(pg_server) -> None:
    async def main() -> None:
        victim = await pcf.connect_async(pg_server.dsn)
        await victim.execute(
            "DROP TABLE IF EXISTS alost; CREATE TABLE alost (a int4, b text, c float8)"
        )
        cp = await victim.copy_in(
            "COPY alost FROM STDIN (FORMAT binary)", TYPES, threshold=4096
        )
        admin = await pcf.connect_async(pg_server.dsn)
        await admin.execute(f"SELECT pg_terminate_backend({victim.backend_pid})")
        with pytest.raises(pcf.OperationalError):
            await cp.write_rows((i, "x" * 100, 0.0) for i in range(1_000_000))
            await cp.close()
        assert victim.closed
        await admin.execute("DROP TABLE alost")
        await admin.close()

    asyncio.run(main())
