"""asyncpg: the fast COPY path through ``copy_to_table`` / ``copy_from_query``.

Rows go to ``copy_to_table`` as an async source of chunks that
pgcopy_fast's kernels encode.  ``copy_from_query`` pushes what it
receives to a callback, so it runs in a task that hands decoded batches
over through a small queue: rows stream and memory stays bounded.  A
pool's connection proxies are accepted as they are.  asyncpg itself is
never imported: its connections are recognised by their type's module.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from ..catalog.plans import CopyPlan
from ..catalog.queries import parse_table
from ..protocol.flows import Result
from ._common import (
    END,
    QUEUED_BATCHES,
    CopyInJob,
    CopyOutJob,
    Handover,
    Row,
    module_of,
    runner_for,
    server_parameters,
    to_result,
)

__all__ = ["AsyncRunner", "acopy_in", "acopy_out", "async_runner", "owns"]


def owns(conn: Any) -> bool:
    """Whether ``conn`` is an asyncpg connection or pool connection."""
    return module_of(conn).startswith("asyncpg")


class AsyncRunner:
    """Catalog queries through prepared statements."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self.parameters = server_parameters(
            raw.get_settings().standard_conforming_strings
        )

    async def execute(self, sql: str) -> Result:
        """Run one catalog query and fetch its rows."""
        stmt = await self._raw.prepare(sql)
        rows = await stmt.fetch()
        description = [(a.name, a.type.oid) for a in stmt.get_attributes()]
        return to_result(description, [tuple(r) for r in rows])

    async def describe(self, sql: str) -> Result:
        """One statement's result columns, without running it (asyncpg's
        prepare is Parse / Describe, and refuses a second statement)."""
        stmt = await self._raw.prepare(sql)
        description = [(a.name, a.type.oid) for a in stmt.get_attributes()]
        return to_result(description, [])


def async_runner(raw: Any) -> AsyncRunner:
    """The catalog runner of a connection (cached with it)."""
    return runner_for(raw, lambda: AsyncRunner(raw))


async def acopy_in(raw: Any, job: CopyInJob) -> int:
    """Run a planned copy in; the row count."""
    schema, name = parse_table(job.table)

    async def source() -> AsyncIterator[bytes]:
        for chunk in job.chunks:
            yield chunk

    status = await raw.copy_to_table(
        name,
        source=source(),
        columns=list(job.plan.columns),
        schema_name=schema,
        format=job.plan.format,
    )
    return int(status.split()[-1])


async def acopy_out(raw: Any, job: CopyOutJob) -> AsyncGenerator[Row, None]:
    """Run a planned copy out; its rows, as the task decodes them."""
    import asyncio  # here: a blocking program never loads it

    out: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUED_BATCHES)
    batches = job.batches

    async def sink(data: bytes) -> None:
        rows = batches.feed(data)
        if rows:
            await out.put(rows)

    async def produce() -> None:
        try:
            await raw.copy_from_query(
                _query_of(job.plan), output=sink, format=job.plan.format
            )
            await out.put(batches.finish())
            await out.put(END)
        except BaseException as exc:
            await out.put(exc)

    task = asyncio.create_task(produce())
    handover = Handover()
    try:
        while (rows := handover.rows(await out.get())) is not None:
            for row in rows:
                yield row
    finally:
        while not handover.finished:  # the consumer stopped early: let the COPY end
            handover.drop(await out.get())
        await task


def _query_of(plan: CopyPlan) -> str:
    """A SELECT for what the plan copies (``copy_from_query`` takes one)."""
    target = plan.target
    if target.startswith("("):
        return target[1:-1]
    table, _, cols = target.partition(" (")
    return f"SELECT {cols[:-1]} FROM {table}"
