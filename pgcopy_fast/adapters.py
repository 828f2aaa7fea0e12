"""pgcopy_fast's encoder and decoder under the drivers users already have.

``copy_records(conn, table, records)`` and ``copy_records_out(conn,
table_or_query)`` take a pgcopy_fast connection, a psycopg 3 or psycopg2
connection, a SQLAlchemy Engine, Connection or Session, or a Django
connection; ``copy_records_async`` / ``copy_records_out_async`` take an
asyncpg connection (or pool connection), a psycopg 3 AsyncConnection, or a
SQLAlchemy AsyncEngine, AsyncConnection or AsyncSession.

Column types are resolved through the user's own connection (one catalog
query, cached per connection), rows are encoded by pgcopy_fast's kernels in
large chunks and streamed through the driver's own COPY API.  The caller's
transaction is respected: nothing is committed or rolled back here, except
that a SQLAlchemy Engine (which owns no transaction of the caller's) runs
the copy in a transaction of its own and commits it.  Importing this module
imports no driver.
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any

from . import _core, binary
from ._consts import COPY_BATCH_THRESHOLD
from .aio import AsyncConnection
from .catalog import arun_program, parse_table, run_program
from .connection import Connection
from .copy import decode_batch
from .errors import InterfaceError
from .flows import Result
from .options import CodecOptions
from .records import (
    CopyPlan,
    forget,
    plan_query_program,
    record_rows,
    validated_plan_program,
)

__all__ = [
    "copy_records",
    "copy_records_out",
    "copy_records_async",
    "copy_records_out_async",
]

_ACCEPTED_SYNC = (
    "a pgcopy_fast Connection, a psycopg 3 Connection, a psycopg2 connection, "
    "a SQLAlchemy Engine, Connection or Session, or a Django connection"
)
_ACCEPTED_ASYNC = (
    "a pgcopy_fast AsyncConnection, an asyncpg connection or pool connection, "
    "a psycopg 3 AsyncConnection, or a SQLAlchemy AsyncEngine, AsyncConnection "
    "or AsyncSession"
)
_QUERY_START = re.compile(r"\s*\(*\s*(select|with|values|table)\b", re.I)


# -- what the caller passed ------------------------------------------------


def _module(obj: Any) -> str:
    return type(obj).__module__ or ""


def _table_name(table: Any) -> Any:
    """A SQLAlchemy Table / mapped class or a Django model as (schema, name)."""
    if hasattr(table, "_meta") and hasattr(table._meta, "db_table"):  # Django model
        return table._meta.db_table
    if isinstance(table, type) and hasattr(table, "__table__"):  # mapped class
        table = table.__table__
    if _module(table).startswith("sqlalchemy") and type(table).__name__ == "Table":
        return (table.schema, table.name) if table.schema else table.name
    return table


def _is_query(source: Any) -> bool:
    return isinstance(source, str) and bool(_QUERY_START.match(source))


# -- catalog access through a driver ---------------------------------------


class _Runner:
    """What the catalog programs need from a connection: execute and parameters."""

    def __init__(self, cursor_factory: Any, parameters: dict[str, str]) -> None:
        self._cursor = cursor_factory
        self.parameters = parameters

    def execute(self, sql: str) -> Result:
        cur = self._cursor()
        try:
            cur.execute(sql)
            return _result(cur.description, cur.fetchall() if cur.description else [])
        finally:
            cur.close()


def _result(description: Any, rows: Any) -> Result:
    # The catalog programs read text values, as the simple query protocol
    # gives them; drivers give Python values.
    columns = [(d[0], int(d[1])) for d in description or ()]
    texts = [tuple(None if v is None else str(v) for v in row) for row in rows]
    return Result("", len(texts), columns, texts)


_runners: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _runner(raw: Any, make: Any) -> Any:
    """One runner per raw connection, so that its plan cache lives with it."""
    try:
        runner = _runners.get(raw)
        if runner is None:
            runner = _runners[raw] = make()
        return runner
    except TypeError:  # not weak-referenceable: no cache across calls
        return make()


def _parameters(raw: Any) -> dict[str, str]:
    """The server setting that literal quoting depends on, as the driver saw it
    in ParameterStatus (no round trip)."""
    if hasattr(raw, "get_settings"):  # asyncpg
        value = raw.get_settings().standard_conforming_strings
    elif hasattr(raw, "get_parameter_status"):  # psycopg2
        value = raw.get_parameter_status("standard_conforming_strings")
    else:  # psycopg 3, blocking or async
        value = raw.info.parameter_status("standard_conforming_strings")
    return {"standard_conforming_strings": value or "on"}


def _sync_runner(raw: Any) -> Any:
    return _runner(raw, lambda: _Runner(raw.cursor, _parameters(raw)))


# -- encoding --------------------------------------------------------------


def _chunks(
    plan: CopyPlan, rows: Iterator[Any], options: CodecOptions | None, threshold: int
) -> Iterator[bytes]:
    """The COPY data of the rows, in chunks of about ``threshold`` bytes."""
    if plan.types is not None:
        return binary.iter_encode(
            rows,
            plan.types,
            columns=plan.columns,
            options=options,
            element_oids=plan.element_oids,
            chunk_size=threshold,
        )
    return _text_chunks(plan, rows, options, threshold)


def _text_chunks(
    plan: CopyPlan, rows: Iterator[Any], options: CodecOptions | None, threshold: int
) -> Iterator[bytes]:
    encoder = plan.text_encoder(options)
    buf = _core.WriteBuffer(threshold + threshold // 4)
    while True:
        exhausted = encoder.encode_rows(buf, rows, threshold)
        if len(buf):
            yield buf.getvalue()
            buf.clear()
        if exhausted:
            return


class _ChunkReader:
    """A file-like object for psycopg2's copy_expert that encodes as it is read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        try:
            while size < 0 or len(self._pending) < size:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending += chunk
        except BaseException as exc:
            self.error = exc  # psycopg2 turns it into "error in .read() call"
            raise
        if size < 0:
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        return out

    readline = read


# -- blocking --------------------------------------------------------------


def _sync_kind(conn: Any) -> tuple[str, Any]:
    """(driver, raw DB-API connection or the object itself)."""
    if isinstance(conn, Connection):
        return "pgcopy_fast", conn
    mod = _module(conn)
    if mod.startswith("psycopg2"):
        return "psycopg2", conn
    if (
        mod.startswith("psycopg")
        and hasattr(conn, "cursor")
        and not _is_async_psycopg(conn)
    ):
        return "psycopg", conn
    if mod.startswith("django") and hasattr(conn, "ensure_connection"):
        conn.ensure_connection()
        return _sync_kind(conn.connection)
    raise TypeError(f"copy_records needs {_ACCEPTED_SYNC}, not {type(conn).__name__}")


def _is_async_psycopg(conn: Any) -> bool:
    return type(conn).__name__.startswith("Async")


def _sqlalchemy_connection(conn: Any) -> Any:
    """A SQLAlchemy Connection in a transaction (Session / Connection given)."""
    name = type(conn).__name__
    if name in ("Session", "scoped_session"):
        return conn.connection()
    if not conn.in_transaction():
        conn.begin()  # so that the caller's commit() commits the copy
    return conn


def _with_sqlalchemy(conn: Any, action: Any) -> Any:
    if type(conn).__name__ == "Engine":
        with conn.begin() as sa_conn:
            return action(sa_conn.connection.dbapi_connection)
    sa_conn = _sqlalchemy_connection(conn)
    return action(sa_conn.connection.dbapi_connection)


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
    if _module(conn).startswith("sqlalchemy"):
        return _with_sqlalchemy(  # type: ignore[no-any-return]
            conn,
            lambda raw: copy_records(
                raw, table, records, columns, options=options, threshold=threshold
            ),
        )
    kind, raw = _sync_kind(conn)
    rows, columns = record_rows(records, columns)
    table = _table_name(table)
    if kind == "pgcopy_fast":
        count: int = raw.copy_records(
            table, rows, columns, options=options, threshold=threshold
        )
        return count
    runner = _sync_runner(raw)
    key, plan = run_program(runner, validated_plan_program(runner, table, columns))
    chunks = _chunks(plan, rows, options, threshold)
    try:
        with raw.cursor() as cur:
            if kind == "psycopg":
                with cur.copy(plan.copy_in_sql()) as copy:
                    for chunk in chunks:
                        copy.write(chunk)
            else:
                reader = _ChunkReader(chunks)
                try:
                    cur.copy_expert(plan.copy_in_sql(), reader, size=threshold)
                except Exception as exc:
                    if reader.error is not None:
                        raise reader.error from exc
                    raise
            return int(cur.rowcount)
    except InterfaceError:
        raise
    except Exception as exc:
        if not isinstance(exc, ValueError):
            forget(runner, key)
        raise


def copy_records_out(
    conn: Any,
    table_or_query: Any,
    columns: Sequence[str] | None = None,
    *,
    options: CodecOptions | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Yield the rows of a table (or of a SELECT) as Python values.

    With psycopg 3 the rows stream as they arrive; psycopg2's copy_expert
    delivers the whole result before returning, so its rows are decoded as
    they come but yielded once it has.

    Raises:
        TypeError: a connection of a kind not listed in the module docstring.
    """
    if _module(conn).startswith("sqlalchemy"):
        if type(conn).__name__ == "Engine":
            with conn.begin() as sa_conn:
                raw = sa_conn.connection.dbapi_connection
                yield from copy_records_out(
                    raw, table_or_query, columns, options=options
                )
            return
        raw = _sqlalchemy_connection(conn).connection.dbapi_connection
        yield from copy_records_out(raw, table_or_query, columns, options=options)
        return
    kind, raw = _sync_kind(conn)
    source = _table_name(table_or_query)
    if kind == "pgcopy_fast":
        if _is_query(source):
            yield from raw.copy_query_out(source, options=options)
        else:
            yield from raw.copy_records_out(source, columns, options=options)
        return
    runner = _sync_runner(raw)
    if _is_query(source):
        plan = run_program(runner, plan_query_program(source))
    else:
        _, plan = run_program(runner, validated_plan_program(runner, source, columns))
    batches = _Batches(plan, options)
    with raw.cursor() as cur:
        if kind == "psycopg":
            with cur.copy(plan.copy_out_sql()) as copy:
                for data in copy:
                    yield from batches.feed(data)
        else:
            # copy_expert delivers everything before it returns: run it in a
            # thread that hands over decoded batches through a small queue,
            # so rows stream and memory stays bounded.
            yield from _threaded_copy_expert(cur, plan.copy_out_sql(), batches)
            return
    yield from batches.finish()


class _Batches:
    """Collects what a driver hands over (often one row at a time) and decodes
    it a batch at a time, in one kernel call with the GC paused."""

    def __init__(self, plan: CopyPlan, options: CodecOptions | None) -> None:
        self._decoder = plan.row_decoder(options)
        self._pending = bytearray()

    def feed(self, data: Any) -> list[tuple[Any, ...]]:
        """Take data; the rows of a full batch, or [] for now."""
        self._pending += data.encode() if isinstance(data, str) else data
        if len(self._pending) < COPY_BATCH_THRESHOLD:
            return []
        return self._decode()

    def finish(self) -> list[tuple[Any, ...]]:
        """The rows of what is left.

        Raises:
            DecodeError: the stream ended in the middle of a row.
        """
        rows = self._decode() if self._pending else []
        self._decoder.finish()
        return rows

    def _decode(self) -> list[tuple[Any, ...]]:
        data = bytes(self._pending)
        self._pending.clear()
        rows = decode_batch(self._decoder, [data])
        return rows


#: Decoded batches waiting for the consumer: bounds memory when it is slow.
_QUEUED_BATCHES = 4
_END = object()


class _QueueWriter:
    """A file-like sink for psycopg2's copy_expert: decoded batches to a queue."""

    def __init__(self, batches: _Batches, out: queue.Queue[Any]) -> None:
        self._batches = batches
        self._out = out

    def write(self, data: Any) -> int:
        rows = self._batches.feed(data)
        if rows:
            self._out.put(rows)
        return len(data)


def _threaded_copy_expert(cur: Any, sql: str, batches: _Batches) -> Iterator[Any]:
    out: queue.Queue[Any] = queue.Queue(maxsize=_QUEUED_BATCHES)

    def work() -> None:
        try:
            cur.copy_expert(sql, _QueueWriter(batches, out))
            out.put(batches.finish())
            out.put(_END)
        except BaseException as exc:
            out.put(exc)

    worker = threading.Thread(target=work, name="pgcopy_fast-copy_expert", daemon=True)
    worker.start()
    finished = False
    try:
        while True:
            item = out.get()
            if item is _END:
                finished = True
                return
            if isinstance(item, BaseException):
                finished = True
                raise item
            yield from item
    finally:
        while not finished:  # the consumer stopped early: let the COPY end
            item = out.get()
            finished = item is _END or isinstance(item, BaseException)
        worker.join()


# -- asyncio ---------------------------------------------------------------


class _AsyncRunner:
    def __init__(self, execute: Any, parameters: dict[str, str]) -> None:
        self._execute = execute
        self.parameters = parameters

    async def execute(self, sql: str) -> Result:
        result: Result = await self._execute(sql)
        return result


async def _async_kind(conn: Any) -> tuple[str, Any, Any]:
    """(driver, raw connection, SQLAlchemy context to close or None)."""
    if isinstance(conn, AsyncConnection):
        return "pgcopy_fast", conn, None
    mod = _module(conn)
    if mod.startswith("asyncpg"):
        return "asyncpg", conn, None
    if mod.startswith("psycopg") and _is_async_psycopg(conn):
        return "psycopg", conn, None
    if mod.startswith("sqlalchemy"):
        name = type(conn).__name__
        if name == "AsyncEngine":
            context = conn.begin()
            sa_conn = await context.__aenter__()
        else:
            context = None
            sa_conn = (
                await conn.connection()
                if name in ("AsyncSession", "async_scoped_session")
                else conn
            )
            if not sa_conn.in_transaction():
                await sa_conn.begin()
        raw = await sa_conn.get_raw_connection()
        kind, driver, _ = await _async_kind(raw.driver_connection)
        return kind, driver, context
    raise TypeError(
        f"copy_records_async needs {_ACCEPTED_ASYNC}, not {type(conn).__name__}"
    )


def _async_runner(kind: str, raw: Any) -> Any:
    def make() -> _AsyncRunner:
        if kind == "asyncpg":

            async def execute(sql: str) -> Result:
                stmt = await raw.prepare(sql)
                rows = await stmt.fetch()
                description = [(a.name, a.type.oid) for a in stmt.get_attributes()]
                return _result(description, [tuple(r) for r in rows])

        else:

            async def execute(sql: str) -> Result:
                async with raw.cursor() as cur:
                    await cur.execute(sql)
                    rows = await cur.fetchall() if cur.description else []
                    return _result(cur.description, rows)

        return _AsyncRunner(execute, _parameters(raw))

    return _runner(raw, make)


async def _aiter_records(records: Iterable[Any] | AsyncIterable[Any]) -> list[Any]:
    if isinstance(records, AsyncIterable):
        return [r async for r in records]
    return records  # type: ignore[return-value]


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
    kind, raw, context = await _async_kind(conn)
    try:
        table = _table_name(table)
        if kind == "pgcopy_fast":
            count: int = await raw.copy_records(
                table, records, columns, options=options, threshold=threshold
            )
            return count
        rows, columns = record_rows(await _aiter_records(records), columns)
        runner = _async_runner(kind, raw)
        key, plan = await arun_program(
            runner, validated_plan_program(runner, table, columns)
        )
        chunks = _chunks(plan, rows, options, threshold)
        try:
            if kind == "asyncpg":
                schema, name = parse_table(table)

                async def source() -> AsyncIterator[bytes]:
                    for chunk in chunks:
                        yield chunk

                status = await raw.copy_to_table(
                    name,
                    source=source(),
                    columns=list(plan.columns),
                    schema_name=schema,
                    format="binary" if plan.types is not None else "text",
                )
                return int(status.split()[-1])
            async with raw.cursor() as cur:
                async with cur.copy(plan.copy_in_sql()) as copy:
                    for chunk in chunks:
                        await copy.write(chunk)
                return int(cur.rowcount)
        except InterfaceError:
            raise
        except Exception as exc:
            if not isinstance(exc, ValueError):
                forget(runner, key)
            raise
    finally:
        if context is not None:
            await context.__aexit__(None, None, None)


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
    kind, raw, context = await _async_kind(conn)
    try:
        source = _table_name(table_or_query)
        if kind == "pgcopy_fast":
            rows = (
                raw.copy_query_out(source, options=options)
                if _is_query(source)
                else raw.copy_records_out(source, columns, options=options)
            )
            try:
                async for row in rows:
                    yield row
            finally:
                await rows.aclose()  # closing us must end its COPY now
            return
        runner = _async_runner(kind, raw)
        if _is_query(source):
            plan = await arun_program(runner, plan_query_program(source))
        else:
            _, plan = await arun_program(
                runner, validated_plan_program(runner, source, columns)
            )
        batches = _Batches(plan, options)
        if kind == "asyncpg":
            inner = _asyncpg_rows(raw, plan, batches)
            try:
                async for row in inner:
                    yield row
            finally:
                await inner.aclose()  # closing us must end its COPY now
            return
        else:
            async with raw.cursor() as cur:
                async with cur.copy(plan.copy_out_sql()) as copy:
                    async for data in copy:
                        for row in batches.feed(data):
                            yield row
        for row in batches.finish():
            yield row
    finally:
        if context is not None:
            await context.__aexit__(None, None, None)


async def _asyncpg_rows(
    raw: Any, plan: CopyPlan, batches: _Batches
) -> AsyncGenerator[Any, None]:
    """Rows of asyncpg's copy_from_query, which pushes data to a callback:
    a task feeds decoded batches to a small queue, so rows stream."""
    out: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUED_BATCHES)

    async def sink(data: bytes) -> None:
        rows = batches.feed(data)
        if rows:
            await out.put(rows)

    async def produce() -> None:
        try:
            await raw.copy_from_query(
                _query_of(plan),
                output=sink,
                format="binary" if plan.types is not None else "text",
            )
            await out.put(batches.finish())
            await out.put(_END)
        except BaseException as exc:
            await out.put(exc)

    task = asyncio.create_task(produce())
    finished = False
    try:
        while True:
            item = await out.get()
            if item is _END:
                finished = True
                return
            if isinstance(item, BaseException):
                finished = True
                raise item
            for row in item:
                yield row
    finally:
        while not finished:  # the consumer stopped early: let the COPY end
            item = await out.get()
            finished = item is _END or isinstance(item, BaseException)
        await task


def _query_of(plan: CopyPlan) -> str:
    """A SELECT for what the plan copies (asyncpg's copy_from_query takes one)."""
    target = plan.target
    if target.startswith("("):
        return target[1:-1]
    table, _, cols = target.partition(" (")
    return f"SELECT {cols[:-1]} FROM {table}"
