"""``AsyncConnection`` and ``connect_async``: the connection API over asyncio.

This file is the source of ``blocking.py`` (``Connection``, ``connect``):
``tools/async_to_sync.py`` writes that module from this one, so the two
APIs cannot drift.  Where the two differ, an ``if True:  # ASYNC`` block
holds the asyncio code and its ``else:`` the blocking code.  The I/O is in
the wire and the transport; every protocol and COPY decision is in
``protocol``, ``copy`` and ``catalog``, shared by both.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import ssl
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Sequence,
)
from types import TracebackType
from typing import Any

from ..catalog.plans import (
    MAX_REPLANS,
    CopyPlan,
    arecord_rows,
    forget,
    key_table,
    plan_arrow_out_program,
    plan_query_program,
    plan_table_program,
    record_rows,
    replannable,
)
from ..catalog.queries import arun_program
from ..columnar.reading import ARROW_BATCH_ROWS, arrow_decoder
from ..columnar.source import open_batches
from ..columnar.stream import ArrowBatchStream, AsyncArrowBatchStream
from ..columnar.writer import arrow_writer
from ..copy.aio import AsyncCopyIn, AsyncCopyOut
from ..errors import DatabaseError, EncodeError, Error, InterfaceError, OperationalError
from ..kernels.consts import COPY_BATCH_THRESHOLD, COPY_FILE_CHUNK
from ..options import CodecOptions
from ..parallel.load import (
    copy_arrow_jobs,
    copy_records_jobs,
    refuse_in_transaction,
)
from ..parallel.read import copy_arrow_out_jobs
from ..protocol.establish import (
    as_operational,
    combined_failure,
    describe,
    establish_flow,
    should_retry,
    tls_plan,
)
from ..protocol.events import Event
from ..protocol.flows import Result, describe_flow, query_flow
from ..protocol.machine import ClientProtocol
from .base import BaseConnection
from .conninfo import ConnParams, resolve, session_secrets
from .transport_aio import AsyncTransport
from .wire_aio import AsyncWire, drive

__all__ = ["AsyncConnection", "connect_async"]


class AsyncConnection(BaseConnection):
    """A connection to PostgreSQL over asyncio.  Make one with :func:`connect_async`.

    One operation at a time: a second one while the first runs raises
    ``InterfaceError``.

    Attributes:
        notices: the latest NoticeResponse events (at most 100).
        notifies: NotificationResponse events received so far.
        info: the resolved connection parameters.
    """

    def __init__(
        self,
        transport: AsyncTransport,
        proto: ClientProtocol,
        info: ConnParams,
        host: str,
        port: int,
    ) -> None:
        super().__init__(info, host, port)
        self._wire = AsyncWire(
            transport, proto, self._on_event, host, port, info.hostaddr
        )

    async def execute(self, sql: str) -> Result:
        """Run one or more SQL statements with the simple query protocol.

        Returns the Result of the last statement (as libpq's PQexec).

        Raises:
            DatabaseError: the server's error, by SQLSTATE class; the
                connection is idle and usable afterwards (unless FATAL).
            InterfaceError: the connection is closed or busy, or the SQL
                started a COPY (use copy_in / copy_out).
            OperationalError: the connection was lost.
        """
        wire = self._wire
        if wire.closed:
            raise InterfaceError("the connection is closed")
        result: Result = await wire.run(query_flow(wire.proto, sql, wire.on_event))
        return result

    async def describe(self, sql: str) -> Result:
        """Describe one statement without running it (Parse / Describe).

        Returns a Result whose ``columns`` are the statement's result
        columns, as ``(name, type_oid)`` (none for a statement that returns
        no rows), with no rows.  Nothing is executed, and a string of
        several statements is refused by the server.

        Raises:
            DatabaseError: the server could not parse it (the connection
                stays usable).
            InterfaceError: the connection is closed or busy.
        """
        wire = self._wire
        if wire.closed:
            raise InterfaceError("the connection is closed")
        result: Result = await wire.run(describe_flow(wire.proto, sql, wire.on_event))
        return result

    async def cancel(self) -> None:
        """Ask the server to cancel the running command (CancelRequest).

        Safe to call from another thread or task.  The cancelled command
        raises QueryCanceled where it runs.

        Raises:
            InterfaceError: the connection is closed.
            OperationalError: the server could not be reached.
        """
        await self._wire.cancel()

    async def close(self) -> None:
        """Send Terminate and close the connection (idempotent)."""
        await self._wire.close()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- COPY -------------------------------------------------------------------

    def copy_in(
        self,
        sql: str,
        types: Any = None,
        *,
        format: str | None = None,
        threshold: int = COPY_BATCH_THRESHOLD,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        columns: Any = None,
        options: CodecOptions | None = None,
        element_oids: Any = None,
        results: list[Result] | None = None,
    ) -> AsyncCopyIn:
        """Start ``COPY ... FROM STDIN`` and return its :class:`AsyncCopyIn`.

        ``types`` (names or OIDs, one per column) are needed to encode rows
        in binary; the row format follows the statement's FORMAT (or
        ``format=``, which wins).  ``delimiter`` / ``null`` / ``quote`` must
        match the options the statement uses.  ``threshold`` is the batch
        size in bytes of each CopyData message.  ``columns`` names the
        columns in error messages; ``options`` tunes the value codecs
        (:class:`CodecOptions`); ``element_oids`` gives the element type
        OID of array columns whose elements are enums or domains.  With
        ``types``, text and CSV rows are rendered by column type, storing
        exactly what binary would.  ``results`` receives the Result of each
        statement that runs before the COPY in the same query string.

        Raises:
            InterfaceError: the statement is not COPY FROM STDIN (the
                connection is left idle), or the options do not fit.
            DatabaseError: the server rejected the statement.
        """
        cp = AsyncCopyIn(
            self._wire,
            sql,
            types,
            format=format,
            threshold=threshold,
            delimiter=delimiter,
            null=null,
            quote=quote,
            columns=columns,
            options=options,
            element_oids=element_oids,
            results=results,
        )
        if True:  # ASYNC
            return cp  # started by ``await`` or ``async with``
        else:
            return cp.start()

    def copy_out(
        self,
        sql: str,
        types: Any = None,
        *,
        format: str | None = None,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        options: CodecOptions | None = None,
        delimiters: Sequence[str] | None = None,
        results: list[Result] | None = None,
    ) -> AsyncCopyOut:
        """Start ``COPY ... TO STDOUT`` and return its :class:`AsyncCopyOut`.

        With ``types``, rows decode to Python values in every format (text
        and CSV fields are parsed as their column's type; ``delimiters``
        gives each array column's element delimiter, ``,`` by default).
        ``results`` receives the Result of each statement that runs before
        the COPY in the same query string.

        Raises:
            InterfaceError: the statement is not COPY TO STDOUT (the
                connection is left idle), or the options do not fit.
            DatabaseError: the server rejected the statement.
        """
        out = AsyncCopyOut(
            self._wire,
            sql,
            types,
            format=format,
            delimiter=delimiter,
            null=null,
            quote=quote,
            options=options,
            delimiters=delimiters,
            results=results,
        )
        if True:  # ASYNC
            return out  # started by ``await`` or ``async with``
        else:
            return out.start()

    async def copy_records(
        self,
        table: Any,
        records: Iterable[Any] | AsyncIterable[Any],
        columns: Sequence[str] | None = None,
        *,
        options: CodecOptions | None = None,
        threshold: int = COPY_BATCH_THRESHOLD,
        jobs: int = 1,
        atomic: bool = False,
    ) -> int:
        """Copy records into a table, with types from the catalog.

        ``table`` is a name as written in SQL (``users``, ``app.users``,
        ``"Mixed Case"``) or a ``(schema, name)`` tuple of exact names;
        ``columns`` are exact names (default: every insertable column).
        Records are tuples, dicts or objects with the columns as
        attributes, from any iterable (or async iterable, under asyncio).
        Binary format, unless a column's type has no binary codec: then text.
        Returns the number of rows copied.  ``jobs`` and ``atomic`` are as
        for :meth:`copy_arrow` (parts of 10,000 records go to N connections).

        Raises:
            EncodeError: a value does not fit its column; nothing is committed.
            DatabaseError: the server rejected the data or the table.
            InterfaceError: a bad table name or column list.
        """
        rows: Any
        if jobs < 1:
            raise InterfaceError(f"jobs must be at least 1, not {jobs}")
        if jobs > 1:
            if True:  # ASYNC
                if isinstance(records, AsyncIterable):
                    raise InterfaceError(
                        "copy_records(jobs=...) needs a plain iterable"
                    )
            rows, columns = record_rows(records, columns)
            args = (table, rows, columns, jobs, atomic, options, threshold)
            return await self._load_jobs(copy_records_jobs, args)
        if True:  # ASYNC
            if isinstance(records, AsyncIterable):
                rows, columns = await arecord_rows(records, columns)
            else:
                rows, columns = record_rows(records, columns)
        else:
            rows, columns = record_rows(records, columns)
        if True:  # ASYNC

            async def write(cp: AsyncCopyIn, plan: CopyPlan) -> None:
                await cp.write_rows(rows)

        else:

            def write(cp: AsyncCopyIn, plan: CopyPlan) -> None:
                cp.write_rows(rows)

        return await self._planned_copy(table, columns, options, threshold, write)

    async def copy_arrow(
        self,
        table: Any,
        data: Any,
        columns: Sequence[str] | None = None,
        *,
        options: CodecOptions | None = None,
        truncate: bool = False,
        threshold: int = COPY_BATCH_THRESHOLD,
        jobs: int = 1,
        atomic: bool = False,
    ) -> int:
        """Copy Arrow data into a table, straight from its buffers.

        ``data`` is anything with ``__arrow_c_stream__`` or
        ``__arrow_c_array__`` (a pyarrow Table, RecordBatch or
        RecordBatchReader, a polars or pandas DataFrame, a duckdb relation)
        or a dict of column name to numpy array; a stream is read batch by
        batch.  Columns match by name: ``columns`` (default: the data's
        column names) must be exactly the data's columns, in any order.
        Each column's encoder comes from its Arrow type and the table
        column's type (a string column can feed text, json, jsonb, uuid,
        numeric ...).  ``truncate`` drops sub-microsecond digits of
        nanosecond times instead of refusing them.  ``table`` is as for
        :meth:`copy_records`.  Returns the number of rows copied.

        ``jobs=N`` spreads the batches over N new connections to the same
        server (each its own COPY; the encoding runs without the GIL, so
        the cores are used); with ``atomic=True`` they load staging tables
        that one final transaction moves into the table, so nothing is
        committed unless everything is.  Outside a transaction block only.

        Raises:
            EncodeError: a value cannot become its column's type (row,
                column and both types named); nothing is committed.
            InterfaceError: a missing or extra column, or an Arrow type that
                cannot feed its column's type; raised before the COPY starts.
            DatabaseError: the server rejected the data or the table.
        """
        source = open_batches(data)
        wanted = list(columns) if columns is not None else source.names
        if jobs < 1:
            raise InterfaceError(f"jobs must be at least 1, not {jobs}")
        if jobs > 1:
            args = (table, source, wanted, jobs, atomic, options, truncate, threshold)
            return await self._load_jobs(copy_arrow_jobs, args)
        writers: dict[int, Any] = {}

        def prepare(plan: CopyPlan) -> None:
            # every column planned (a bad pair refused) before the COPY starts
            writer = arrow_writer(plan, options, truncate)
            writer.plan(source.schema, source.objects)
            writers[id(plan)] = writer

        if True:  # ASYNC

            async def write(cp: AsyncCopyIn, plan: CopyPlan) -> None:
                await cp._write_arrow(writers[id(plan)], source.batches)

        else:

            def write(cp: AsyncCopyIn, plan: CopyPlan) -> None:
                cp._write_arrow(writers[id(plan)], source.batches)

        return await self._planned_copy(
            table, wanted, options, threshold, write, prepare
        )

    async def _load_jobs(self, load: Callable[..., int], args: tuple[Any, ...]) -> int:
        # copy_arrow_jobs / copy_records_jobs: here (blocking), or under
        # asyncio on a blocking connection of their own, in a thread
        if True:  # ASYNC
            refuse_in_transaction(self)
            where = (self.info, self.host, self.port)
            return await asyncio.to_thread(_jobs_in_thread, where, load, args)
        else:
            return load(self, *args)

    async def _sibling(self) -> AsyncConnection:
        """A new connection to this one's server, with the same parameters."""
        return await _connect_to(self.info, self.host, self.port)

    def copy_arrow_out(
        self,
        table_or_query: Any,
        columns: Sequence[str] | None = None,
        *,
        batch_rows: int = ARROW_BATCH_ROWS,
        options: CodecOptions | None = None,
        jobs: int = 1,
        partition_on: str | None = None,
    ) -> AsyncArrowBatchStream:
        """A table's rows (or a query's) as Arrow record batches, no object per value.

        ``table_or_query`` is a table as for :meth:`copy_records` (with
        ``columns`` to read some) or one SELECT / WITH / VALUES / TABLE
        statement.  The result keeps the declared types (numeric(p,s) is
        decimal128(p, s), int4 int32, uuid arrow.uuid, jsonb arrow.json ...)
        and streams: each batch has at most ``batch_rows`` rows, and only
        the one being built is held.  The stream has ``__arrow_c_stream__``
        (``pyarrow.table(stream)``, ``polars.from_arrow(stream)``, duckdb),
        iterates pyarrow RecordBatches, and has ``read_all()``,
        ``to_pandas()`` and ``to_polars()``.  Consume it (or close it)
        before using the connection again.

        ``jobs=N`` reads over N new connections that all see one snapshot
        (this connection exports it, in a REPEATABLE READ transaction that
        ends with the stream): a table by ranges of its pages, or a table or
        query by ranges of the integer column ``partition_on``.  The
        batches then come in the order the parts produce them.

        Raises:
            DecodeError: a value with no Arrow form of its type (a numeric
                NaN into decimal128, an infinite date); the rest is drained.
            InterfaceError: a column whose type has no binary codec or Arrow
                form, or a bad table name or column list.
            DatabaseError: the server failed.
        """
        if jobs < 1:
            raise InterfaceError(f"jobs must be at least 1, not {jobs}")
        if jobs > 1 or partition_on is not None:
            args = (table_or_query, columns, jobs, partition_on, batch_rows, options)
            if True:  # ASYNC
                where = (self.info, self.host, self.port)
                return AsyncArrowBatchStream(None, _jobs_out_in_threads(where, args))
            else:
                return copy_arrow_out_jobs(self, *args)
        pairs = self._arrow_pairs(table_or_query, columns, batch_rows, options)
        if True:  # ASYNC
            return AsyncArrowBatchStream(None, pairs)  # planned when first read
        else:
            return ArrowBatchStream(next(pairs), pairs)

    async def _arrow_pairs(
        self,
        source: Any,
        columns: Sequence[str] | None,
        batch_rows: int,
        options: CodecOptions | None,
    ) -> AsyncIterator[Any]:
        # The schema capsule first, then (schema, array) capsule pairs.
        plan = await arun_program(self, plan_arrow_out_program(source, columns))
        decoder = arrow_decoder(plan, options, batch_rows)
        yield decoder.schema()
        async with self.copy_out(plan.copy_out_sql()) as out:
            async for payloads in out.read_batches():
                for data in payloads:
                    for pair in decoder.feed(data):
                        yield pair
        for pair in decoder.finish():
            yield pair

    async def _planned_copy(
        self,
        table: Any,
        columns: Sequence[str] | None,
        options: CodecOptions | None,
        threshold: int,
        write: Any,
        prepare: Any = None,
    ) -> int:
        # A planned COPY IN with its check (see catalog.plans): a stale plan
        # ends its copy before any row and is planned again.
        for _ in range(MAX_REPLANS):
            key, plan = await arun_program(
                self, plan_table_program(self, table, columns)
            )
            if prepare is not None:
                prepare(plan)
            before: list[Result] = []
            try:
                cp = await self.copy_in(**plan.copy_in_args(threshold, options, before))
            except DatabaseError:
                forget(self, key)
                if replannable(plan, self.transaction_status):
                    continue  # a column the stale plan names was dropped
                raise
            if not plan.current(before):
                # The table changed since it was planned: end this copy
                # with no rows (nothing is sent, nothing fails) and re-plan.
                forget(self, key)
                await cp.write_rows(())
                await cp.close()
                continue
            try:
                async with cp:
                    await write(cp, plan)
            except DatabaseError as exc:
                if not isinstance(exc, EncodeError):
                    forget(self, key)
                raise
            return cp.rowcount
        raise InterfaceError(f"{table!r} kept changing while its copy was planned")

    async def copy_records_out(
        self,
        table: Any,
        columns: Sequence[str] | None = None,
        *,
        options: CodecOptions | None = None,
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """Yield a table's rows as Python values (types from the catalog).

        Consume the iterator to its end (or close it) before using the
        connection again.

        Raises:
            DatabaseError: the server failed.
            InterfaceError: a bad table name or column list.
        """
        key, plan = await arun_program(self, plan_table_program(self, table, columns))
        rows = self._copy_plan_out(plan, options, key)
        try:
            async for row in rows:
                yield row
        finally:
            await rows.aclose()  # closing us must end the COPY now

    async def copy_query_out(
        self, sql: str, *, options: CodecOptions | None = None
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """Yield a query's rows as Python values, typed from its columns.

        Runs ``COPY (sql) TO STDOUT``; the types come from describing the
        query first (one extra round trip).

        Raises:
            DatabaseError: the query failed.
        """
        plan = await arun_program(self, plan_query_program(sql))
        rows = self._copy_plan_out(plan, options, None)
        try:
            async for row in rows:
                yield row
        finally:
            await rows.aclose()  # closing us must end the COPY now

    async def _copy_plan_out(
        self, plan: CopyPlan, options: CodecOptions | None, key: Any
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        for _ in range(MAX_REPLANS):
            before: list[Result] = []
            try:
                out = await self.copy_out(**plan.copy_out_args(options, before))
            except DatabaseError:
                if key is not None:
                    forget(self, key)
                if key is None or not replannable(plan, self.transaction_status):
                    raise
            else:
                if plan.current(before):
                    async with out:
                        async for row in out:
                            yield row
                    return
                await out.close()  # read and dropped undecoded: the types were stale
                forget(self, key)
            key, plan = await arun_program(
                self, plan_table_program(self, *key_table(key))
            )
        raise InterfaceError("the table kept changing while its copy was planned")

    async def copy_from_file(
        self, sql: str, fileobj: Any, *, chunk_size: int = COPY_FILE_CHUNK
    ) -> int:
        """Stream a file (binary or text mode) into ``COPY ... FROM STDIN``.

        Under asyncio the file may also be an async file-like object.
        Returns the server's row count.

        Raises:
            DatabaseError: the server rejected the data; nothing is committed.
        """
        async with self.copy_in(sql) as cp:
            while True:
                chunk = fileobj.read(chunk_size)
                if True:  # ASYNC
                    if inspect.isawaitable(chunk):
                        chunk = await chunk
                if not chunk:
                    break
                await cp.write(chunk)
        return cp.rowcount

    async def copy_to_file(self, sql: str, fileobj: Any) -> int:
        """Stream ``COPY ... TO STDOUT`` into a file (binary or text mode).

        Under asyncio the file may also be an async file-like object.
        Returns the server's row count.

        Raises:
            DatabaseError: the server failed during the copy.
        """
        text_mode = isinstance(fileobj, io.TextIOBase)
        async with self.copy_out(sql) as out:
            async for payloads in out.read_batches():
                data = b"".join(payloads)
                payload = data.decode() if text_mode else data
                if True:  # ASYNC
                    written = fileobj.write(payload)
                    if inspect.isawaitable(written):
                        await written
                else:
                    fileobj.write(payload)
        return out.rowcount


async def _attempt(
    params: ConnParams, host: str, port: int, tls: str
) -> AsyncConnection:
    """One connection attempt; ``tls`` is "no", "try" or "must"."""
    deadline = (
        time.monotonic() + params.connect_timeout if params.connect_timeout else None
    )
    where = describe(host, port)
    try:
        if True:  # ASYNC
            # Certificates, keys and the password file are files: read
            # them off the event loop.
            context, password = await asyncio.to_thread(
                session_secrets, params, host, port, tls
            )
        else:
            context, password = session_secrets(params, host, port, tls)
        transport = await AsyncTransport.open(
            host, port, params.connect_timeout, params.hostaddr, params.tcp
        )
    except ssl.SSLError as exc:
        raise OperationalError(f"{where} failed: SSL error: {exc}") from exc
    except OSError as exc:
        reason = (
            "timeout expired" if isinstance(exc, TimeoutError) else exc.strerror or exc
        )
        raise OperationalError(f"{where} failed: {reason}") from exc
    proto = ClientProtocol()
    events: list[Event] = []
    flow = establish_flow(
        params, host, port, tls, proto, events.append, context, password
    )
    try:
        await drive(transport, flow, deadline)
        transport.settle()
    except ssl.SSLError as exc:
        transport.close()
        raise OperationalError(f"{where} failed: SSL error: {exc}") from exc
    except OSError as exc:
        transport.close()
        reason = "timeout expired" if isinstance(exc, TimeoutError) else exc
        raise OperationalError(f"{where} failed: {reason}") from exc
    except Error as exc:
        transport.close()
        raise as_operational(exc) from None
    except BaseException:
        transport.close()
        raise
    conn = AsyncConnection(transport, proto, params, host, port)
    for event in events:
        conn._on_event(event)
    return conn


async def connect_async(dsn: str | None = None, **kwargs: Any) -> AsyncConnection:
    """Open a connection with libpq's conventions.

    ``dsn`` is a ``postgresql://`` URI or a ``key=value`` string; keyword
    arguments (host, port, user, password, dbname, sslmode, sslrootcert,
    sslcert, sslkey, channel_binding, application_name, connect_timeout,
    options, passfile, ...) override it; the PG* environment variables and
    the password file fill in what neither gives.  Several comma-separated
    hosts are tried in turn.

    Raises:
        InterfaceError: an invalid DSN or option.
        OperationalError: no host could be reached, or authentication failed.
    """
    params = resolve(dsn, **kwargs)
    failures: list[OperationalError] = []
    for host, port in params.hosts:
        try:
            return await _connect_to(params, host, port)
        except OperationalError as exc:
            failures.append(exc)
    raise combined_failure(failures)


if True:  # ASYNC

    def _jobs_in_thread(
        where: tuple[ConnParams, str, int], load: Callable[..., int], args: Any
    ) -> int:
        # The jobs run on blocking connections in threads: this thread's
        # own connection creates and moves the staging tables.
        from .blocking import _connect_to as connect_blocking

        with connect_blocking(*where) as conn:
            return load(conn, *args)


if True:  # ASYNC

    async def _jobs_out_in_threads(where: Any, args: Any) -> AsyncIterator[Any]:
        # The parts are read by blocking connections in threads (an
        # exporting one of our own among them); the event loop waits for
        # each batch in a thread of its own, so it is never held.
        from .blocking import _connect_to as connect_blocking

        conn = await asyncio.to_thread(connect_blocking, *where)
        try:
            stream = await asyncio.to_thread(copy_arrow_out_jobs, conn, *args)
            yield stream._schema_capsule
            pairs = stream._take()
            end = object()
            try:
                while (pair := await asyncio.to_thread(next, pairs, end)) is not end:
                    yield pair
            finally:
                await asyncio.to_thread(pairs.close)  # type: ignore[attr-defined]
        finally:
            await asyncio.to_thread(conn.close)


async def _connect_to(params: ConnParams, host: str, port: int) -> AsyncConnection:
    """A connection to one host, trying its TLS plan in turn."""
    failures: list[OperationalError] = []
    for tls in tls_plan(params, host):
        try:
            return await _attempt(params, host, port, tls)
        except OperationalError as exc:
            failures.append(exc)
            if not should_retry(exc, tls):
                break
    raise combined_failure(failures)
