"""``AsyncCopyIn`` and ``AsyncCopyOut``: COPY in progress, over asyncio.

This file is the source of ``blocking.py`` (``CopyIn``, ``CopyOut``):
``tools/async_to_sync.py`` writes that module from this one.  Every
decision about the data is in ``base.py``; these classes add the waiting:
sending batches, reading CopyData, ending the copy.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from types import TracebackType
from typing import Any, Protocol, TypeVar

from ..errors import DatabaseError, Error, QueryCanceled
from ..kernels.consts import GATHER_AFTER
from ..protocol.flows import copy_end_flow, copy_out_flow, copy_start_flow
from ..protocol.machine import State
from .base import WireState, _CopyInBase, _CopyOutBase, reason

__all__ = ["AsyncCopyIn", "AsyncCopyOut"]

T = TypeVar("T")

if True:  # ASYNC
    #: Rows taken from an async iterable per kernel call: enough that the
    #: per-batch await is noise, few enough that memory stays small.
    ASYNC_ROWS_PER_BATCH = 2000


class AsyncWireLike(WireState, Protocol):
    """What a COPY object needs of its connection's wire (``AsyncWire``)."""

    #: What may interrupt a wait harmlessly (see the transports' INTERRUPTS).
    interrupts: tuple[type[BaseException], ...]

    async def run(self, flow: Generator[Any, Any, T], resumable: bool = False) -> T:
        """Run a flow to its end."""

    async def send_buffer(self, buf: Any) -> bool:
        """Send a WriteBuffer's contents; True if it waited for the drain."""

    async def cancel(self) -> None:
        """Send a CancelRequest."""


class AsyncCopyIn(_CopyInBase):
    """COPY FROM STDIN in progress.  Made by ``AsyncConnection.copy_in()``.

    Rows are encoded by the kernel into one write buffer, which leaves as a
    single CopyData message whenever it passes ``threshold`` bytes.  Leaving
    an ``async with`` block normally ends the copy (CopyDone); leaving it by
    an exception sends CopyFail and re-raises.  Under asyncio, a task
    cancelled while writing sends CopyFail too and leaves the connection
    usable, and other tasks run between batches.

    Attributes:
        format: ``"text"``, ``"csv"`` or ``"binary"``.
        column_formats: per-column format codes (0 text, 1 binary).
        ncolumns: the number of columns the server expects.
        rowcount: the rows the server reported once closed, else -1.
    """

    _wire: AsyncWireLike

    async def start(self) -> AsyncCopyIn:
        """Send the statement and wait for the server's CopyInResponse.

        The blocking ``copy_in()`` calls it; under asyncio, ``await`` or
        ``async with`` does.  A second call does nothing.

        Raises:
            InterfaceError: the statement is not COPY FROM STDIN, or the
                options do not fit (the copy is failed, the connection idle).
            DatabaseError: the server rejected the statement.
        """
        if self._started_once:
            return self
        self._started_once = True
        wire = self._wire
        response = await wire.run(
            copy_start_flow(wire.proto, self._sql, "in", wire.on_event, self._results)
        )
        try:
            self._started(response)
        except BaseException as exc:
            await self.abort(reason(exc))
            raise
        return self

    if True:  # ASYNC

        def __await__(self) -> Generator[Any, None, AsyncCopyIn]:
            return self.start().__await__()

    async def __aenter__(self) -> AsyncCopyIn:
        return await self.start()

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
            await self.abort(reason(exc))
        except Error:
            pass  # the original exception is the one to report

    async def _flush(self) -> None:
        if self._batch_ready():
            if True:  # ASYNC
                if not await self._wire.send_buffer(self._buf):
                    # Let other tasks run between batches (a cancel(), a
                    # timeout, the reader that sees an early ErrorResponse);
                    # a drain that waited has let them run already.
                    await asyncio.sleep(0)
            else:
                self._wire.send_buffer(self._buf)
            self._next_batch()
            ending = self._early_failure()
            if ending is not None:
                await self._wire.run(ending)

    async def _send_steps(self, steps: Iterator[None]) -> None:
        try:
            for _ in steps:
                await self._flush()
        except BaseException as exc:
            await self._guard(exc)
            raise

    async def _guard(self, exc: BaseException) -> None:
        # Any failure while writing ends the copy with CopyFail (unless the
        # connection itself is gone), so nothing is half-written.
        if self._open and not self._wire.closed:
            await self.abort(reason(exc))

    async def write_row(self, row: Sequence[Any]) -> None:
        """Encode one row (a tuple or list) in the copy's format.

        Raises:
            EncodeError: a value cannot become its column's type; the copy is
                failed with CopyFail, nothing is committed.
            DatabaseError: the server already failed the copy.
            InterfaceError: the copy is finished.
        """
        await self._send_steps(self._row_steps(self._need_encoder(), row))

    async def write_rows(
        self, rows: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]]
    ) -> None:
        """Encode every row of an iterable; the loop runs in the kernel.

        The iterable is consumed lazily, one batch at a time, so memory stays
        bounded whatever its length.  Under asyncio it may be an async
        iterable, read ``ASYNC_ROWS_PER_BATCH`` rows per kernel call.

        Raises:
            EncodeError: as ``write_row``; rows before the bad one are not
                committed either.
            DatabaseError: the server failed the copy (detected between batches).
            InterfaceError: the copy is finished.
        """
        encoder = self._need_encoder()
        if True:  # ASYNC
            if isinstance(rows, AsyncIterable):
                await self._write_async_rows(encoder, rows)
                return
        await self._send_steps(self._rows_steps(encoder, rows))

    if True:  # ASYNC

        async def _write_async_rows(
            self, encoder: Any, rows: AsyncIterable[Sequence[Any]]
        ) -> None:
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

    async def _write_arrow(self, writer: Any, batches: Iterator[Any]) -> None:
        # copy_arrow's writing loop: one CopyData batch per step, as write_rows
        await self._send_steps(self._arrow_steps(writer, batches))

    async def write(self, data: bytes | bytearray | memoryview | str) -> None:
        """Send data already in the copy's format, in pieces of any size.

        For binary COPY the data must include the header and trailer.

        Raises:
            DatabaseError: the server failed the copy.
            InterfaceError: the copy is finished.
            TypeError: data is not bytes-like or str.
        """
        await self._send_steps(self._raw_steps(data))

    async def close(self) -> int:
        """End the copy (CopyDone) and return the server's row count.

        Raises:
            DatabaseError: the server rejected the data (with its context,
                such as ``COPY t, line 5, column b``); nothing is committed.
        """
        if not self._open:
            return self.rowcount
        wire = self._wire
        self._finish(wire.proto.copy_done())
        await wire.send_buffer(self._buf)
        self._buf.clear()
        self.rowcount = await wire.run(copy_end_flow(wire.proto, wire.on_event))
        return self.rowcount

    async def abort(self, reason: str = "aborted by the client") -> None:
        """Fail the copy (CopyFail); nothing is committed; the connection stays usable.

        Raises:
            OperationalError: the connection was lost.
        """
        if not self._open:
            return
        wire = self._wire
        self._failing(wire.proto.copy_fail(reason))
        await wire.send_buffer(self._buf)
        self._buf.clear()
        try:
            await wire.run(copy_end_flow(wire.proto, wire.on_event))
        except DatabaseError:
            pass  # CopyFail's own answer (57014), or an earlier failure: nothing kept


class AsyncCopyOut(_CopyOutBase):
    """COPY TO STDOUT in progress.  Made by ``AsyncConnection.copy_out()``.

    Iterating decodes rows: text and CSV to tuples of ``str | None``, binary
    with ``types`` to Python values (raw ``bytes`` per field without types).
    Every CopyData message already received is decoded in one kernel call;
    reading is incremental.  Leaving the block early (or, under asyncio, a
    cancelled task) cancels the COPY where that fails nothing else, reads
    the rest, and leaves the connection ready for the next command.

    Attributes:
        format, column_formats, ncolumns: as for ``CopyIn``.
        rowcount: the server's row count once all data was read, else -1.
    """

    _wire: AsyncWireLike

    async def start(self) -> AsyncCopyOut:
        """Send the statement and wait for the server's CopyOutResponse.

        The blocking ``copy_out()`` calls it; under asyncio, ``await`` or
        ``async with`` does.  A second call does nothing.

        Raises:
            InterfaceError: the statement is not COPY TO STDOUT, or the
                options do not fit (the data is drained, the connection idle).
            DatabaseError: the server rejected the statement.
        """
        if self._started_once:
            return self
        self._started_once = True
        wire = self._wire
        self._note_transaction(wire.transaction_status)
        response = await wire.run(
            copy_start_flow(wire.proto, self._sql, "out", wire.on_event, self._results)
        )
        try:
            self._started(response)
        except BaseException:
            await self._drain()
            raise
        return self

    if True:  # ASYNC

        def __await__(self) -> Generator[Any, None, AsyncCopyOut]:
            return self.start().__await__()

    async def __aenter__(self) -> AsyncCopyOut:
        return await self.start()

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
        """The next batch of raw CopyData payloads, or None at the end.

        ``joined``: the batch as one bytes object (in a list), for decoding.
        """
        if not self._open:
            return None
        wire = self._wire
        bulk = self._received >= GATHER_AFTER
        flow = copy_out_flow(wire.proto, wire.on_event, joined, bulk)
        try:
            got = await wire.run(flow, resumable=True)
        except wire.interrupts:
            try:
                await self._stop()
            except Error:
                pass  # the interruption is the one to report
            raise
        except BaseException:
            self._open = False
            raise
        if joined and isinstance(got, list):
            self._received += len(got[0])
        return self._ended(got)

    async def _stop(self) -> None:
        """Abandon the copy after an error: cancel it if that is harmless, drain.

        The protocol state is intact (bytes reach it only whole): a
        CancelRequest stops the server soonest, and reading to the end makes
        the connection idle again.
        """
        wire = self._wire
        try:
            if self._open and self._stoppable and wire.proto.state is State.COPY_OUT:
                await wire.cancel()
            await self._drain()
        except QueryCanceled:
            self._open = False  # what we asked for

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

    async def __aiter__(self) -> AsyncIterator[tuple[Any, ...]]:
        for row in self._pending_rows():
            yield row
        while (batch := await self._batch()) is not None:
            for row in batch:
                yield row

    async def read_row(self) -> tuple[Any, ...] | None:
        """The next decoded row, or None after the last one.

        Raises:
            DatabaseError: the server failed during the copy.
            DecodeError: data that cannot be decoded (the rest is drained).
        """
        row = self._next_row()
        if row is None:
            batch = await self._batch()
            if batch is None:
                return None
            self._rows, self._next = batch, 0
            row = self._next_row()
        return row

    async def read(self) -> bytes | None:
        """One raw CopyData payload (one row for the server), or None at the end.

        Use either ``read()`` or the decoding calls on one copy, not both.

        Raises:
            DatabaseError: the server failed during the copy.
        """
        if self._raw:
            return bytes(self._raw.pop())
        payloads = await self._payloads()
        if payloads is None:
            return None
        self._raw = payloads[:0:-1]  # the rest, reversed, to pop from the end
        return bytes(payloads[0])

    async def read_batches(self) -> AsyncIterator[list[Any]]:
        """Yield lists of raw CopyData payloads as they arrive (for files)."""
        if self._raw:
            yield self._raw[::-1]
            self._raw = []
        while (payloads := await self._payloads(joined=True)) is not None:
            yield payloads

    async def _drain(self) -> None:
        while self._open:
            await self._payloads(joined=True)

    async def close(self) -> None:
        """Read and drop whatever data is left; the connection is ready after it."""
        await self._drain()
