"""psycopg 3: the fast COPY path through ``Connection`` and ``AsyncConnection``.

Rows go through the driver's own ``cursor.copy()``, in chunks that
pgcopy_fast's kernels encode, and come back as the data it yields,
decoded a batch at a time.  The planning is shared with every driver
(:mod:`._common`); what is here is only the driver's I/O, once blocking
and once for asyncio.  psycopg itself is never imported: its connections
are recognised by their type's module.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import Any

from ..catalog.queries import Describe
from ..protocol.flows import Result
from ._common import (
    CopyInJob,
    CopyOutJob,
    CursorRunner,
    Row,
    module_of,
    runner_for,
    server_parameters,
    to_result,
)

__all__ = [
    "AsyncRunner",
    "Runner",
    "acopy_in",
    "acopy_out",
    "async_runner",
    "copy_in",
    "copy_out",
    "owns",
    "owns_async",
    "runner",
]


def _is_psycopg(conn: Any) -> bool:
    mod = module_of(conn)
    return mod.startswith("psycopg") and not mod.startswith("psycopg2")


def _is_async(conn: Any) -> bool:
    return type(conn).__name__.startswith("Async")


def _parameters(raw: Any) -> dict[str, str]:
    return server_parameters(raw.info.parameter_status("standard_conforming_strings"))


def owns(conn: Any) -> bool:
    """Whether ``conn`` is a blocking psycopg 3 connection."""
    return _is_psycopg(conn) and hasattr(conn, "cursor") and not _is_async(conn)


def owns_async(conn: Any) -> bool:
    """Whether ``conn`` is a psycopg 3 ``AsyncConnection``."""
    return _is_psycopg(conn) and _is_async(conn)


def _describe(raw: Any, sql: str) -> Result | None:
    """Parse / Describe through psycopg's libpq connection; nothing runs.

    None when the server refuses the statement: the caller then lets the
    driver run the empty subquery, so that the error is the driver's own.
    """
    pgconn = raw.pgconn
    ok = 1  # PGRES_COMMAND_OK
    if pgconn.prepare(b"", sql.encode()).status != ok:
        return None
    res = pgconn.describe_prepared(b"")
    if res.status != ok:
        return None
    columns = [(res.fname(i).decode(), res.ftype(i)) for i in range(res.nfields)]
    modifiers = [res.fmod(i) for i in range(res.nfields)]
    return Result("", 0, columns, [], modifiers)


# -- blocking --------------------------------------------------------------


class Runner(CursorRunner):
    """Catalog queries through a psycopg 3 connection's cursors."""

    def __init__(self, raw: Any) -> None:
        super().__init__(raw.cursor, _parameters(raw))
        self._raw = raw

    def describe(self, sql: str) -> Result:
        """One statement's result columns, without running it."""
        with self._raw.lock:
            described = _describe(self._raw, sql)
        if described is None:
            return self.execute(Describe(sql).fallback())
        return described


def runner(raw: Any) -> Runner:
    """The catalog runner of a blocking connection (cached with it)."""
    return runner_for(raw, lambda: Runner(raw))


def copy_in(raw: Any, job: CopyInJob) -> int:
    """Run a planned copy in; the row count."""
    with raw.cursor() as cur:
        with cur.copy(job.plan.copy_in_sql()) as copy:
            for chunk in job.chunks:
                copy.write(chunk)
        return int(cur.rowcount)


def copy_out(raw: Any, job: CopyOutJob) -> Iterator[Row]:
    """Run a planned copy out; its rows, as they arrive."""
    with raw.cursor() as cur, cur.copy(job.plan.copy_out_sql()) as copy:
        for data in copy:
            yield from job.batches.feed(data)
    yield from job.batches.finish()


# -- asyncio ---------------------------------------------------------------


class AsyncRunner:
    """Catalog queries through an ``AsyncConnection``'s cursors."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.parameters = _parameters(raw)

    async def execute(self, sql: str) -> Result:
        """Run one catalog query and fetch its rows."""
        async with self._raw.cursor() as cur:
            await cur.execute(sql)
            rows = await cur.fetchall() if cur.description else []
            return to_result(cur.description, rows)

    async def describe(self, sql: str) -> Result:
        """One statement's result columns, without running it."""
        import asyncio  # here: a blocking program never loads it

        async with self._raw.lock:
            # libpq's blocking call, one round trip: off the event loop.
            described = await asyncio.to_thread(_describe, self._raw, sql)
        if described is None:
            return await self.execute(Describe(sql).fallback())
        return described


def async_runner(raw: Any) -> AsyncRunner:
    """The catalog runner of an ``AsyncConnection`` (cached with it)."""
    return runner_for(raw, lambda: AsyncRunner(raw))


async def acopy_in(raw: Any, job: CopyInJob) -> int:
    """Run a planned copy in; the row count."""
    async with raw.cursor() as cur:
        async with cur.copy(job.plan.copy_in_sql()) as copy:
            for chunk in job.chunks:
                await copy.write(chunk)
        return int(cur.rowcount)


async def acopy_out(raw: Any, job: CopyOutJob) -> AsyncGenerator[Row, None]:
    """Run a planned copy out; its rows, as they arrive."""
    async with raw.cursor() as cur, cur.copy(job.plan.copy_out_sql()) as copy:
        async for data in copy:
            for row in job.batches.feed(data):
                yield row
    for row in job.batches.finish():
        yield row
