"""asyncio: ``AsyncConnection`` and its COPY objects, on the same sans-I/O core.

The I/O layer only: an ``asyncio.Protocol`` that feeds received bytes in
and writes with backpressure, and a driver for the flows of ``flows.py`` /
``establish.py``.  Every protocol and COPY decision is shared with the
blocking API (``flows``, ``establish``, ``copy._CopyInBase`` /
``_CopyOutBase``, ``records``).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import io
import os
import ssl
import sys
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from types import TracebackType
from typing import Any, TypeVar

from ._consts import COPY_BATCH_THRESHOLD, COPY_FILE_CHUNK
from .catalog import arun_program
from .connection import CANCEL_TIMEOUT, RECV_BUFFER_SIZE, BaseConnection
from .conninfo import ConnParams, resolve
from .copy import _CopyInBase, _CopyOutBase, _reason
from .errors import (
    DatabaseError,
    EncodeError,
    Error,
    InterfaceError,
    OperationalError,
)
from .establish import (
    RecvExactly,
    StartTLS,
    as_operational,
    combined_failure,
    describe,
    establish_flow,
    is_unix,
    should_retry,
    tls_plan,
)
from .events import Event
from .flows import (
    RECV,
    Result,
    copy_end_flow,
    copy_out_flow,
    copy_start_flow,
    query_flow,
)
from .options import CodecOptions
from .protocol import ClientProtocol, State, cancel_request
from .records import (
    MAX_REPLANS,
    CopyPlan,
    arecord_rows,
    forget,
    key_table,
    plan_query_program,
    plan_table_program,
    record_rows,
)
from .records import (
    replannable as _replannable,
)

__all__ = ["AsyncConnection", "AsyncCopyIn", "AsyncCopyOut", "connect_async"]

T = TypeVar("T")

#: Rows taken from an async iterable per kernel call: enough that the
#: per-batch await is noise, few enough that memory stays small.
ASYNC_ROWS_PER_BATCH = 2000
#: Bytes the transport may hold unsent before a writer waits (drain): four
#: COPY batches, so memory stays bounded and encoding overlaps sending.
WRITE_HIGH_WATER = 4 * COPY_BATCH_THRESHOLD
#: Up to 3.11 the selector transport copies unsent data into its own
#: bytearray, so a view of the batch buffer can be written without a copy;
#: later versions may keep the view itself.
_TRANSPORT_COPIES = sys.version_info < (3, 12)
#: Received bytes buffered before the transport stops reading (backpressure
#: towards the server when the consumer is slow).
MAX_BUFFERED = 4 * RECV_BUFFER_SIZE


class _Stream(asyncio.Protocol):
    """Bytes in (queued for the flow) and out (with drain), for one connection."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._eof = False
        self._lost: BaseException | None = None

    # asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # The default high-water mark (64 KiB) is below one COPY batch, so
        # every batch would wait for the previous one to be fully sent;
        # a few batches of slack let encoding overlap with sending.
        self.transport.set_write_buffer_limits(  # type: ignore[union-attr]
            high=WRITE_HIGH_WATER, low=WRITE_HIGH_WATER // 4
        )

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if (
            self._buffered > MAX_BUFFERED
            and self.transport
            and not self._reading_paused
        ):
            self.transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc or ConnectionResetError(
            "server closed the connection unexpectedly"
        )
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(self._lost)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # for the driver ---------------------------------------------------------------

    def pending(self) -> bool:
        """True when received bytes are waiting."""
        return bool(self._chunks)

    def take(self) -> bytes:
        """Received bytes, without waiting (b"" when there are none)."""
        if not self._chunks:
            return b""
        data = (
            self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        )
        self._chunks.clear()
        self._buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def recv(self) -> bytes:
        """Wait for bytes; b"" at the end of the stream."""
        while not self._chunks:
            if self._eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self.take()

    async def recv_exactly(self, n: int) -> bytes:
        """Exactly n bytes (b"" at the end); the rest stays queued."""
        data = b""
        while len(data) < n:
            chunk = await self.recv()
            if not chunk:
                return b""
            data += chunk
        if len(data) > n:
            self._chunks.appendleft(data[n:])
            self._buffered += len(data) - n
        return data[:n]

    def write(self, data: bytes | memoryview) -> None:
        """Queue bytes on the transport."""
        if self._lost is not None or self.transport is None:
            raise ConnectionResetError("the connection is closed")
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport holds more than its high-water mark."""
        if self._lost is not None:
            raise self._lost
        if self._writing_paused:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None
    ) -> bytes:
        """Upgrade the transport to TLS; returns the server certificate (DER)."""
        if self._chunks:
            raise OperationalError(
                "the server sent unencrypted data after its SSL answer"
            )
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            self.transport, self, context, server_hostname=server_hostname
        )
        assert transport is not None
        self.transport = transport  # type: ignore[assignment]
        ssl_object = transport.get_extra_info("ssl_object")
        cert: bytes = ssl_object.getpeercert(binary_form=True)
        return cert

    def close(self) -> None:
        """Close the transport."""
        if self.transport is not None:
            self.transport.close()


async def _open(
    host: str, port: int, timeout: float | None, hostaddr: str | None
) -> _Stream:
    loop = asyncio.get_running_loop()
    if is_unix(host):
        path = os.path.join(host, f".s.PGSQL.{port}")
        if host.startswith("@"):
            path = "\0" + path[1:]
        coro = loop.create_unix_connection(_Stream, path)
    else:
        coro = loop.create_connection(_Stream, hostaddr or host, port)
    _, stream = await asyncio.wait_for(coro, timeout)
    return stream


async def _drive(
    stream: _Stream, flow: Generator[Any, Any, T], deadline: float | None = None
) -> T:
    """Run a flow to its end over the stream."""
    try:
        step = next(flow)
        while True:
            if step is RECV or isinstance(step, RecvExactly):
                timeout = (
                    None if deadline is None else max(deadline - time.monotonic(), 0)
                )
                if isinstance(step, RecvExactly):
                    data = await asyncio.wait_for(stream.recv_exactly(step.n), timeout)
                else:
                    data = stream.take() or await asyncio.wait_for(
                        stream.recv(), timeout
                    )
                if not data:
                    raise ConnectionResetError(
                        "server closed the connection unexpectedly"
                    )
                step = flow.send(data)
            elif isinstance(step, StartTLS):
                cert = await stream.start_tls(step.context, step.server_hostname)
                step = flow.send(cert)
            else:
                stream.write(step)
                await stream.drain()
                step = flow.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


class AsyncConnection(BaseConnection):
    """An asyncio connection to PostgreSQL.  Make one with :func:`connect_async`.

    The names of :class:`Connection`, awaitable.  One operation at a time:
    a second concurrent one raises ``InterfaceError``.
    """

    def __init__(
        self,
        stream: _Stream,
        proto: ClientProtocol,
        info: ConnParams,
        host: str,
        port: int,
    ) -> None:
        super().__init__(proto, info, host, port)
        self._stream = stream

    async def _run(self, flow: Generator[Any, Any, T]) -> T:
        if self._closed:
            flow.close()
            raise InterfaceError("the connection is closed")
        try:
            return await _drive(self._stream, flow)
        except (OSError, asyncio.TimeoutError) as exc:
            self._abandon()
            raise OperationalError(
                f"the connection to the server was lost: {exc}"
            ) from exc
        except Error:
            if self._proto.state is State.CLOSED:
                self._abandon()
            raise
        except BaseException:
            # Cancelled or interrupted half-way through an exchange: the
            # stream's position is unknown (the COPY objects handle their
            # own cancellation before it gets here).
            self._abandon()
            raise

    def _abandon(self) -> None:
        self._closed = True
        self._proto.state = State.CLOSED
        self._stream.close()

    async def _send_buffer(self, buf: Any) -> None:
        """Send a WriteBuffer's contents (the COPY IN batches), with backpressure."""
        try:
            if _TRANSPORT_COPIES:
                with buf.view() as view:
                    self._stream.write(view)
            else:
                # The transport may keep a reference to what it cannot send
                # at once, and the buffer is reused for the next batch.
                self._stream.write(buf.getvalue())
            await self._stream.drain()
        except OSError as exc:
            self._abandon()
            raise OperationalError(
                f"the connection to the server was lost: {exc}"
            ) from exc

    def _poll(self) -> bool:
        """Feed what already arrived to the protocol; True if anything did."""
        data = self._stream.take()
        if data:
            self._proto.receive_data(data)
            return True
        if self._stream._lost is not None and not self._closed:
            self._abandon()
            raise OperationalError("the connection to the server was lost")
        return False

    async def execute(self, sql: str) -> Result:
        """Run SQL with the simple query protocol; the last statement's Result.

        Raises:
            DatabaseError: the server's error (the connection stays usable).
            InterfaceError: the connection is closed or busy.
            OperationalError: the connection was lost.
        """
        if self._closed:
            raise InterfaceError("the connection is closed")
        return await self._run(query_flow(self._proto, sql, self._on_async))

    async def cancel(self) -> None:
        """Ask the server to cancel the running command (CancelRequest).

        Raises:
            InterfaceError: the connection is closed.
            OperationalError: the server could not be reached.
        """
        key = self._proto.backend_key
        if self._closed or key is None:
            raise InterfaceError("the connection is closed")
        try:
            stream = await _open(
                self.host, self.port, CANCEL_TIMEOUT, self.info.hostaddr
            )
            try:
                stream.write(cancel_request(key.pid, key.secret_key))
                await asyncio.wait_for(stream.recv(), CANCEL_TIMEOUT)
            finally:
                stream.close()
        except (OSError, asyncio.TimeoutError) as exc:
            raise OperationalError(f"could not send the cancel request: {exc}") from exc

    async def close(self) -> None:
        """Send Terminate and close (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._proto.state is not State.CLOSED:
                self._stream.write(self._proto.terminate())
        except OSError:
            pass
        finally:
            self._proto.state = State.CLOSED
            self._stream.close()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- COPY -------------------------------------------------------------------------

    def copy_in(self, sql: str, types: Any = None, **kwargs: Any) -> AsyncCopyIn:
        """Start ``COPY ... FROM STDIN``: ``async with conn.copy_in(...) as cp``.

        Also awaitable: ``cp = await conn.copy_in(...)``.  Arguments as for
        :meth:`Connection.copy_in`.
        """
        return AsyncCopyIn(self, sql, types, **kwargs)

    def copy_out(self, sql: str, types: Any = None, **kwargs: Any) -> AsyncCopyOut:
        """Start ``COPY ... TO STDOUT``: ``async with conn.copy_out(...) as out``.

        Also awaitable.  Arguments as for :meth:`Connection.copy_out`.
        """
        return AsyncCopyOut(self, sql, types, **kwargs)

    async def copy_records(
        self,
        table: Any,
        records: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]],
        columns: Sequence[str] | None = None,
        *,
        options: CodecOptions | None = None,
        threshold: int = COPY_BATCH_THRESHOLD,
    ) -> int:
        """Copy records (a sync or async iterable) into a table.

        As :meth:`Connection.copy_records`.

        Raises:
            EncodeError: a value does not fit its column; nothing is committed.
            DatabaseError: the server rejected the data or the table.
            InterfaceError: a bad table name or column list.
        """
        rows: Any
        if isinstance(records, AsyncIterable):
            rows, columns = await arecord_rows(records, columns)
        else:
            rows, columns = record_rows(records, columns)
        for _ in range(MAX_REPLANS):
            program = plan_table_program(self, table, columns)
            key, plan = await arun_program(self, program)
            before: list[Result] = []
            try:
                cp = await self.copy_in(**plan.copy_in_args(threshold, options, before))
            except DatabaseError:
                forget(self, key)
                if _replannable(plan, self.transaction_status):
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
                    await cp.write_rows(rows)
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
        """Yield a table's rows as Python values (async iterator)."""
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
        """Yield a query's rows as Python values, typed from its columns."""
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
                if key is None or not _replannable(plan, self.transaction_status):
                    raise
            else:
                if plan.current(before):
                    async with out:
                        async for row in out:
                            yield row
                    return
                await out.close()  # read and dropped undecoded: the types were stale
                forget(self, key)
            program = plan_table_program(self, *key_table(key))
            key, plan = await arun_program(self, program)
        raise InterfaceError("the table kept changing while its copy was planned")

    async def copy_from_file(
        self, sql: str, fileobj: Any, *, chunk_size: int = COPY_FILE_CHUNK
    ) -> int:
        """Stream a file (sync or async file-like) into COPY FROM STDIN."""
        async with self.copy_in(sql) as cp:
            while True:
                chunk = fileobj.read(chunk_size)
                if inspect.isawaitable(chunk):
                    chunk = await chunk
                if not chunk:
                    break
                await cp.write(chunk)
        return cp.rowcount

    async def copy_to_file(self, sql: str, fileobj: Any) -> int:
        """Stream COPY TO STDOUT into a file (sync or async file-like)."""
        text_mode = isinstance(fileobj, io.TextIOBase)
        async with self.copy_out(sql) as out:
            async for payloads in out.read_batches():
                data = b"".join(payloads)
                written = fileobj.write(data.decode() if text_mode else data)
                if inspect.isawaitable(written):
                    await written
        return out.rowcount


class AsyncCopyIn(_CopyInBase):
    """COPY FROM STDIN on an AsyncConnection; the names of :class:`CopyIn`, awaitable.

    A task cancelled while writing sends CopyFail, leaves the connection
    usable, and re-raises ``CancelledError``.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        sql: str,
        types: Any = None,
        *,
        format: str | None = None,
        threshold: int = COPY_BATCH_THRESHOLD,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        columns: Sequence[str] | None = None,
        options: CodecOptions | None = None,
        element_oids: Sequence[int | None] | None = None,
        results: list[Result] | None = None,
    ) -> None:
        self._conn = conn
        self._results = results
        self._setup(
            sql,
            types,
            format,
            threshold,
            delimiter,
            null,
            quote,
            columns,
            options,
            element_oids,
        )
        self._entered = False

    async def _start(self) -> AsyncCopyIn:
        if self._entered:
            return self
        self._entered = True
        conn = self._conn
        response = await conn._run(
            copy_start_flow(conn._proto, self._sql, "in", conn._on_async, self._results)
        )
        try:
            self._started(response)
        except BaseException as exc:
            await self.abort(_reason(exc))
            raise
        return self

    def __await__(self) -> Generator[Any, None, AsyncCopyIn]:
        return self._start().__await__()

    async def __aenter__(self) -> AsyncCopyIn:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.close()
            return
        try:
            await self.abort(_reason(exc))
        except Error:
            pass  # the original exception is the one to report

    async def _flush(self) -> None:
        if self._batch_ready():
            await self._conn._send_buffer(self._buf)
            self._next_batch()
            ending = self._early_failure()
            if ending is not None:
                await self._conn._run(ending)

    async def _guard(self, exc: BaseException) -> None:
        if self._open and not self._conn.closed:
            await self.abort(_reason(exc))

    async def _send_steps(self, steps: Iterator[None]) -> None:
        try:
            for _ in steps:
                await self._flush()
        except BaseException as exc:
            await self._guard(exc)
            raise

    async def write_row(self, row: Sequence[Any]) -> None:
        """Encode one row; see :meth:`CopyIn.write_row`."""
        await self._send_steps(self._row_steps(self._need_encoder(), row))

    async def write_rows(
        self, rows: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]]
    ) -> None:
        """Encode every row of a sync or async iterable, whole batches per kernel call.

        No coroutine per row: a sync iterable is encoded until the batch is
        full, then sent (awaiting the transport's drain); an async one is
        read ``ASYNC_ROWS_PER_BATCH`` rows at a time.
        """
        encoder = self._need_encoder()
        if not isinstance(rows, AsyncIterable):
            await self._send_steps(self._rows_steps(encoder, rows))
            return
        batch: list[Any] = []
        try:
            async for row in rows:
                batch.append(row)
                if len(batch) >= ASYNC_ROWS_PER_BATCH:
                    await self._send_steps(self._rows_steps(encoder, batch))
                    batch = []
        except BaseException as exc:
            await self._guard(exc)
            raise
        await self._send_steps(self._rows_steps(encoder, batch))

    async def write(self, data: bytes | bytearray | memoryview | str) -> None:
        """Send data already in the copy's format; see :meth:`CopyIn.write`."""
        await self._send_steps(self._raw_steps(data))

    async def close(self) -> int:
        """End the copy (CopyDone) and return the server's row count."""
        if not self._open:
            return self.rowcount
        self._finish(self._conn._proto.copy_done())
        await self._conn._send_buffer(self._buf)
        self._buf.clear()
        self.rowcount = await self._conn._run(
            copy_end_flow(self._conn._proto, self._conn._on_async)
        )
        return self.rowcount

    async def abort(self, reason: str = "aborted by the client") -> None:
        """Fail the copy (CopyFail); nothing is committed; the connection stays."""
        if not self._open:
            return
        self._failing(self._conn._proto.copy_fail(reason))
        await self._conn._send_buffer(self._buf)
        self._buf.clear()
        try:
            await self._conn._run(
                copy_end_flow(self._conn._proto, self._conn._on_async)
            )
        except DatabaseError:
            pass  # CopyFail's own answer (57014), or an earlier failure


class AsyncCopyOut(_CopyOutBase):
    """COPY TO STDOUT on an AsyncConnection: ``async for row in out``.

    A task cancelled while reading asks the server to cancel the COPY,
    reads up to the end, leaves the connection usable, and re-raises.
    """

    def __init__(
        self,
        conn: AsyncConnection,
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
    ) -> None:
        self._conn = conn
        self._results = results
        self._setup(sql, types, format, delimiter, null, quote, options, delimiters)
        self._entered = False

    async def _start(self) -> AsyncCopyOut:
        if self._entered:
            return self
        self._entered = True
        conn = self._conn
        self._note_transaction(conn.transaction_status)
        response = await conn._run(
            copy_start_flow(
                conn._proto, self._sql, "out", conn._on_async, self._results
            )
        )
        try:
            self._started(response)
        except BaseException:
            await self._drain()
            raise
        return self

    def __await__(self) -> Generator[Any, None, AsyncCopyOut]:
        return self._start().__await__()

    async def __aenter__(self) -> AsyncCopyOut:
        return await self._start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self._drain()
            return
        try:
            await self._stop()
        except Error:
            pass  # the original exception is the one to report

    async def _payloads(self, joined: bool = False) -> list[Any] | None:
        if not self._open:
            return None
        conn = self._conn
        flow = copy_out_flow(conn._proto, conn._on_async, joined)
        try:
            got = await _drive(conn._stream, flow)
        except asyncio.CancelledError:
            await self._stop()
            raise
        except (OSError, asyncio.TimeoutError) as exc:
            self._open = False
            conn._abandon()
            raise OperationalError(
                f"the connection to the server was lost: {exc}"
            ) from exc
        except BaseException:
            self._open = False
            if conn._proto.state is State.CLOSED:
                conn._abandon()
            raise
        return self._ended(got)

    async def _stop(self) -> None:
        # Abandoned (an error, or the task was cancelled): the protocol state
        # is intact, since bytes reach it only whole.  Cancel the COPY where
        # that fails nothing else, then read to the end so the connection is
        # idle again.
        conn = self._conn
        try:
            if self._open and self._stoppable and conn._proto.state is State.COPY_OUT:
                await conn.cancel()
            while self._open:
                try:
                    got = await _drive(
                        conn._stream, copy_out_flow(conn._proto, conn._on_async, True)
                    )
                except DatabaseError:
                    self._open = False  # QueryCanceled: what we asked for
                    return
                self._ended(got)
        except BaseException:
            self._open = False
            conn._abandon()

    async def _batch(self) -> list[tuple[Any, ...]] | None:
        while True:
            payloads = await self._payloads(joined=True)
            if payloads is None:
                self._decoder.finish()
                return None
            try:
                rows = self._decode(payloads)
            except BaseException:
                await self._drain()
                raise
            if rows:
                return rows

    async def __aiter__(self) -> AsyncGenerator[tuple[Any, ...], None]:
        for row in self._pending_rows():
            yield row
        while (batch := await self._batch()) is not None:
            for row in batch:
                yield row

    async def read_row(self) -> tuple[Any, ...] | None:
        """The next decoded row, or None after the last one."""
        row = self._next_row()
        if row is None:
            batch = await self._batch()
            if batch is None:
                return None
            self._rows, self._next = batch, 0
            row = self._next_row()
        return row

    async def read(self) -> bytes | None:
        """One raw CopyData payload, or None at the end."""
        if self._raw:
            return bytes(self._raw.pop())
        payloads = await self._payloads()
        if payloads is None:
            return None
        self._raw = payloads[:0:-1]
        return bytes(payloads[0])

    async def read_batches(self) -> AsyncIterator[list[Any]]:
        """Yield lists of raw CopyData payloads as they arrive."""
        if self._raw:
            yield self._raw[::-1]
            self._raw = []
        while (payloads := await self._payloads(joined=True)) is not None:
            yield payloads

    async def _drain(self) -> None:
        while self._open:
            await self._payloads(joined=True)

    async def close(self) -> None:
        """Read and drop whatever data is left."""
        await self._drain()


async def _attempt(
    params: ConnParams, host: str, port: int, tls: str
) -> AsyncConnection:
    deadline = (
        time.monotonic() + params.connect_timeout if params.connect_timeout else None
    )
    where = describe(host, port)
    try:
        stream = await _open(host, port, params.connect_timeout, params.hostaddr)
    except (OSError, asyncio.TimeoutError) as exc:
        reason = (
            "timeout expired"
            if isinstance(exc, asyncio.TimeoutError | TimeoutError)
            else exc.strerror or exc
        )
        raise OperationalError(f"{where} failed: {reason}") from exc
    proto = ClientProtocol()
    notices: list[Event] = []
    try:
        await _drive(
            stream,
            establish_flow(params, host, port, tls, proto, notices.append),
            deadline,
        )
    except ssl.SSLError as exc:
        stream.close()
        raise OperationalError(f"{where} failed: SSL error: {exc}") from exc
    except (OSError, asyncio.TimeoutError) as exc:
        stream.close()
        reason = (
            "timeout expired"
            if isinstance(exc, asyncio.TimeoutError | TimeoutError)
            else exc
        )
        raise OperationalError(f"{where} failed: {reason}") from exc
    except Error as exc:
        stream.close()
        raise as_operational(exc) from None
    except BaseException:
        stream.close()
        raise
    conn = AsyncConnection(stream, proto, params, host, port)
    for event in notices:
        conn._on_async(event)
    return conn


async def connect_async(dsn: str | None = None, **kwargs: Any) -> AsyncConnection:
    """Open an :class:`AsyncConnection`; the arguments of :func:`connect`.

    Raises:
        InterfaceError: an invalid DSN or option.
        OperationalError: no host could be reached, or authentication failed.
    """
    params = resolve(dsn, **kwargs)
    failures: list[OperationalError] = []
    for host, port in params.hosts:
        for tls in tls_plan(params, host):
            try:
                return await _attempt(params, host, port, tls)
            except OperationalError as exc:
                failures.append(exc)
                if not should_retry(exc, tls):
                    break
    raise combined_failure(failures)
