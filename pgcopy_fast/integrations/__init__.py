"""pgcopy_fast's encoder and decoder under the drivers users already have.

``copy_records(conn, table, records)`` and ``copy_records_out(conn,
table_or_query)`` take a pgcopy_fast connection, a psycopg 3 or psycopg2
connection, a SQLAlchemy Engine, Connection or Session, or a Django
connection; ``copy_records_async`` / ``copy_records_out_async`` take an
asyncpg connection (or pool connection), a psycopg 3 AsyncConnection, or a
SQLAlchemy AsyncEngine, AsyncConnection or AsyncSession.  ``copy_arrow`` /
``copy_arrow_out`` (and their ``_async`` twins) do the same for Arrow data:
the columnar encoder and decoder under the same drivers.

Column types are resolved through the user's own connection (one catalog
query, cached per connection), rows are encoded by pgcopy_fast's kernels in
large chunks and streamed through the driver's own COPY API.  The caller's
transaction is respected: nothing is committed or rolled back here, except
that a SQLAlchemy Engine (which owns no transaction of the caller's) runs
the copy in a transaction of its own and commits it.  Importing this module
imports no driver.

The modules:

- ``dispatch``: which driver a connection belongs to (SQLAlchemy and
  Django objects unwrapped), and the table a caller named;
- ``_common``: what every driver shares: catalog runners, encoding,
  decoding, and the catalog programs that plan a copy, run by
  ``run_program`` for blocking drivers and ``arun_program`` for asyncio
  ones, so that the planning exists once;
- ``psycopg`` (blocking and asyncio), ``psycopg2``, ``asyncpg``: each
  driver's COPY I/O, and nothing else;
- ``sqlalchemy``, ``django``: the driver connection under their objects,
  and their table arguments.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import aclosing
from typing import Any

from ..catalog.plans import plan_arrow_out_program, record_rows
from ..catalog.queries import arun_program, run_program
from ..columnar.reading import ARROW_BATCH_ROWS, arrow_decoder
from ..columnar.stream import ArrowBatchStream, AsyncArrowBatchStream
from ..kernels.consts import COPY_BATCH_THRESHOLD
from ..options import CodecOptions
from ._common import (
    CopyOutJob,
    collected,
    copy_arrow_program,
    copy_in_program,
    copy_out_program,
    native_rows,
)
from .dispatch import async_connection, sync_connection, table_name

__all__ = [
    "copy_arrow",
    "copy_arrow_async",
    "copy_arrow_out",
    "copy_arrow_out_async",
    "copy_records",
    "copy_records_out",
    "copy_records_async",
    "copy_records_out_async",
]


def copy_records(
    conn: Any,
    table: Any,
    records: Iterable[Any],
    columns: Sequence[str] | None = None,
    *,
    options: CodecOptions | None = None,
    threshold: int = COPY_BATCH_THRESHOLD,
) -> int:
    """Copy records into a table through the connection the caller already has.

    ``table``: a name as written in SQL, a ``(schema, name)`` tuple, a
    SQLAlchemy ``Table`` or mapped class, or a Django model class.
    ``records``: tuples (in ``columns`` order), dicts keyed by column name,
    SQLAlchemy mapped instances or Django model instances.  Returns the row
    count.

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
        EncodeError: a value does not fit its column (the driver then
            reports the failed copy as its own documents it).
        the driver's own errors for what the server rejects.
    """
    with sync_connection(conn) as (driver, raw):
        rows, columns = record_rows(records, columns)
        table = table_name(table)
        if driver is None:
            count: int = raw.copy_records(
                table, rows, columns, options=options, threshold=threshold
            )
            return count
        runner = driver.runner(raw)
        program = copy_in_program(runner, table, rows, columns, options, threshold)
        job = run_program(runner, program)
        with job.forgetting():
            return driver.copy_in(raw, job)


def copy_arrow(
    conn: Any,
    table: Any,
    data: Any,
    columns: Sequence[str] | None = None,
    *,
    options: CodecOptions | None = None,
    truncate: bool = False,
    threshold: int = COPY_BATCH_THRESHOLD,
) -> int:
    """Copy Arrow data into a table through the connection the caller already has.

    ``data`` and the keywords are as for :meth:`pgcopy_fast.Connection.copy_arrow`;
    ``table`` as for :func:`copy_records`.  Returns the row count.

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
        EncodeError, InterfaceError: as ``Connection.copy_arrow``.
        the driver's own errors for what the server rejects.
    """
    with sync_connection(conn) as (driver, raw):
        table = table_name(table)
        if driver is None:
            count: int = raw.copy_arrow(
                table,
                data,
                columns,
                options=options,
                truncate=truncate,
                threshold=threshold,
            )
            return count
        runner = driver.runner(raw)
        program = copy_arrow_program(
            runner, table, data, columns, options, truncate, threshold
        )
        job = run_program(runner, program)
        with job.forgetting():
            return driver.copy_in(raw, job)


async def copy_arrow_async(
    conn: Any,
    table: Any,
    data: Any,
    columns: Sequence[str] | None = None,
    *,
    options: CodecOptions | None = None,
    truncate: bool = False,
    threshold: int = COPY_BATCH_THRESHOLD,
) -> int:
    """The coroutine twin of :func:`copy_arrow` for asyncio drivers.

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
    """
    async with async_connection(conn) as (driver, raw):
        table = table_name(table)
        if driver is None:
            count: int = await raw.copy_arrow(
                table,
                data,
                columns,
                options=options,
                truncate=truncate,
                threshold=threshold,
            )
            return count
        runner = driver.async_runner(raw)
        program = copy_arrow_program(
            runner, table, data, columns, options, truncate, threshold
        )
        job = await arun_program(runner, program)
        with job.forgetting():
            return await driver.acopy_in(raw, job)


def copy_arrow_out(
    conn: Any,
    table_or_query: Any,
    columns: Sequence[str] | None = None,
    *,
    batch_rows: int = ARROW_BATCH_ROWS,
    options: CodecOptions | None = None,
) -> ArrowBatchStream:
    """A table's rows (or a query's) as Arrow batches, through the caller's driver.

    As :meth:`pgcopy_fast.Connection.copy_arrow_out`; the copy is planned
    at once and read as the stream is consumed (consume or close it before
    using the connection again).

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
    """
    pairs = _arrow_out_pairs(conn, table_or_query, columns, batch_rows, options)
    return ArrowBatchStream(next(pairs), pairs)


def _arrow_out_pairs(
    conn: Any,
    source: Any,
    columns: Sequence[str] | None,
    batch_rows: int,
    options: CodecOptions | None,
) -> Iterator[Any]:
    # The schema capsule first, then (schema, array) pairs: the decoder has
    # the feed / finish of the row batches the drivers' copy_out takes.
    with sync_connection(conn) as (driver, raw):
        source = table_name(source)
        if driver is None:
            yield from raw._arrow_pairs(source, columns, batch_rows, options)
            return
        runner = driver.runner(raw)
        plan = run_program(runner, plan_arrow_out_program(source, columns))
        decoder = arrow_decoder(plan, options, batch_rows)
        yield decoder.schema()
        yield from driver.copy_out(raw, CopyOutJob(plan, decoder))


def copy_arrow_out_async(
    conn: Any,
    table_or_query: Any,
    columns: Sequence[str] | None = None,
    *,
    batch_rows: int = ARROW_BATCH_ROWS,
    options: CodecOptions | None = None,
) -> AsyncArrowBatchStream:
    """The asyncio twin of :func:`copy_arrow_out` (planned when first read).

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
    """
    pairs = _arrow_out_pairs_async(conn, table_or_query, columns, batch_rows, options)
    return AsyncArrowBatchStream(None, pairs)


async def _arrow_out_pairs_async(
    conn: Any,
    source: Any,
    columns: Sequence[str] | None,
    batch_rows: int,
    options: CodecOptions | None,
) -> AsyncIterator[Any]:
    async with async_connection(conn) as (driver, raw):
        source = table_name(source)
        if driver is None:
            pairs = raw._arrow_pairs(source, columns, batch_rows, options)
        else:
            runner = driver.async_runner(raw)
            plan = await arun_program(runner, plan_arrow_out_program(source, columns))
            decoder = arrow_decoder(plan, options, batch_rows)
            yield decoder.schema()
            pairs = driver.acopy_out(raw, CopyOutJob(plan, decoder))
        async with aclosing(pairs):  # closing us must end its COPY now
            async for pair in pairs:
                yield pair


def copy_records_out(
    conn: Any,
    table_or_query: Any,
    columns: Sequence[str] | None = None,
    *,
    options: CodecOptions | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Yield the rows of a table (or of a SELECT) as Python values.

    With psycopg 3 the rows stream as they arrive; psycopg2's copy_expert
    delivers the whole result before returning, so it runs in a thread
    that hands decoded batches over as they come.

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
    """
    with sync_connection(conn) as (driver, raw):
        source = table_name(table_or_query)
        if driver is None:
            yield from native_rows(raw, source, columns, options)
            return
        runner = driver.runner(raw)
        job = run_program(runner, copy_out_program(runner, source, columns, options))
        yield from driver.copy_out(raw, job)


async def copy_records_async(
    conn: Any,
    table: Any,
    records: Iterable[Any] | AsyncIterable[Any],
    columns: Sequence[str] | None = None,
    *,
    options: CodecOptions | None = None,
    threshold: int = COPY_BATCH_THRESHOLD,
) -> int:
    """The coroutine twin of :func:`copy_records` for asyncio drivers.

    ``records`` may also be an async iterable.

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
    """
    async with async_connection(conn) as (driver, raw):
        table = table_name(table)
        if driver is None:
            count: int = await raw.copy_records(
                table, records, columns, options=options, threshold=threshold
            )
            return count
        rows, columns = record_rows(await collected(records), columns)
        runner = driver.async_runner(raw)
        program = copy_in_program(runner, table, rows, columns, options, threshold)
        job = await arun_program(runner, program)
        with job.forgetting():
            return await driver.acopy_in(raw, job)


async def copy_records_out_async(
    conn: Any,
    table_or_query: Any,
    columns: Sequence[str] | None = None,
    *,
    options: CodecOptions | None = None,
) -> AsyncGenerator[tuple[Any, ...], None]:
    """The async-iterator twin of :func:`copy_records_out` for asyncio drivers.

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
    """
    async with async_connection(conn) as (driver, raw):
        source = table_name(table_or_query)
        if driver is None:
            rows = native_rows(raw, source, columns, options)
        else:
            runner = driver.async_runner(raw)
            program = copy_out_program(runner, source, columns, options)
            rows = driver.acopy_out(raw, await arun_program(runner, program))
        async with aclosing(rows):  # closing us must end its COPY now
            async for row in rows:
                yield row
