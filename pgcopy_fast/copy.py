"""The ``CopyIn`` / ``CopyOut`` facade over the protocol core and the kernels.

State, argument checks and the COPY decisions live here once; the row
loops run in the selected kernel twin (``_core``), and the message flows in
``flows.py``.  The connection object supplies the I/O (``_run``,
``_send_buffer``, ``_poll``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import _core
from ._consts import COPY_BATCH_THRESHOLD, HEADER_SIZE, MIN_COPY_BATCH_THRESHOLD
from .errors import (
    DatabaseError,
    Error,
    InterfaceError,
    QueryCanceled,
    error_from_fields,
)
from .events import CopyInResponse, CopyOutResponse, TransactionStatus
from .flows import copy_end_flow, copy_in_events, copy_out_flow, copy_start_flow
from .options import CodecOptions
from .pgtypes import canonical_types
from .protocol import State
from .statement import statement_format
from .typedtext import TypedTextDecoder, TypedTextEncoder

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["CopyIn", "CopyOut", "statement_format", "decode_batch"]

_FORMATS = ("text", "csv", "binary")


def _check_format(fmt: str | None) -> str | None:
    if fmt is None:
        return None
    if not isinstance(fmt, str) or fmt.lower() not in _FORMATS:
        raise InterfaceError(f"format must be 'text', 'csv' or 'binary', not {fmt!r}")
    return fmt.lower()


def _options(
    fmt: str, delimiter: str | None, null: str | None, quote: str | None
) -> dict[str, str]:
    opts: dict[str, str] = {}
    if fmt == "binary":
        if delimiter is not None or null is not None or quote is not None:
            raise InterfaceError(
                "delimiter, null and quote do not apply to binary COPY"
            )
        return opts
    if quote is not None and fmt != "csv":
        raise InterfaceError("quote applies to CSV only")
    for key, value in (("delimiter", delimiter), ("null", null), ("quote", quote)):
        if value is not None:
            opts[key] = value
    return opts


def _copy_format(
    response: CopyInResponse | CopyOutResponse, wanted: str | None, sql: str
) -> str:
    # The server knows binary from text; it reports CSV as text, so only the
    # statement (or format=) can tell CSV.
    fmt = wanted or statement_format(sql)
    if response.format == 1:
        return "binary"
    return "text" if fmt in (None, "binary") else fmt


class _CopyInBase:
    """What a COPY IN is, whatever does its I/O: arguments, encoder, batches.

    The blocking :class:`CopyIn` and the asyncio ``AsyncCopyIn`` add only the
    sending and receiving; every decision about the data lives here.
    """

    format: str
    column_formats: tuple[int, ...]
    ncolumns: int

    def _setup(
        self,
        sql: str,
        types: Sequence[str | int] | None,
        format: str | None,
        threshold: int,
        delimiter: str | None,
        null: str | None,
        quote: str | None,
        columns: Sequence[str] | None,
        options: CodecOptions | None,
        element_oids: Sequence[int | None] | None,
    ) -> None:
        self._sql = sql
        self._wanted = _check_format(format)
        if not isinstance(threshold, int) or threshold < MIN_COPY_BATCH_THRESHOLD:
            raise InterfaceError(
                f"threshold must be an int of at least {MIN_COPY_BATCH_THRESHOLD}"
            )
        self._types = canonical_types(types)
        self._threshold = threshold
        self._encoder_args = (delimiter, null, quote, columns, options, element_oids)
        self._open = False
        self.rowcount = -1

    def _started(self, response: Any) -> None:
        """The server is in COPY IN: make the encoder and the batch buffer.

        Raises:
            InterfaceError: the options or types do not fit (the caller aborts).
        """
        assert isinstance(response, CopyInResponse)
        self._open = True
        self.format = _copy_format(response, self._wanted, self._sql)
        self.column_formats = response.column_formats
        self.ncolumns = len(response.column_formats)
        self._buf = _core.WriteBuffer(self._threshold + self._threshold // 4)
        self._buf.start_message(b"d")
        self._header_pending = self.format == "binary"
        self._wrote_header = False
        self._encoder = self._make_encoder(*self._encoder_args)

    def _make_encoder(
        self,
        delimiter: str | None,
        null: str | None,
        quote: str | None,
        columns: Sequence[str] | None,
        options: CodecOptions | None,
        element_oids: Sequence[int | None] | None,
    ) -> Any:
        types = self._types
        opts = _options(self.format, delimiter, null, quote)
        if types is not None and len(types) != self.ncolumns:
            raise InterfaceError(
                f"{len(types)} types given for a COPY of {self.ncolumns} columns"
            )
        try:
            if self.format == "binary":
                if types is None:
                    return None
                return _core.BinaryEncoder(types, columns, options, element_oids)
            framing: Any
            if self.format == "csv":
                framing = _core.CsvEncoder(
                    **opts, ncolumns=self.ncolumns, columns=columns
                )
            else:
                framing = _core.TextEncoder(
                    **opts, ncolumns=self.ncolumns, columns=columns
                )
            if types is None:
                return framing
            return TypedTextEncoder(framing, types, columns, options, element_oids)
        except (TypeError, ValueError) as exc:
            raise InterfaceError(str(exc)) from exc

    def _check_open(self) -> None:
        if not self._open:
            raise InterfaceError("this COPY is finished; no more data can be written")

    def _need_encoder(self) -> Any:
        self._check_open()
        if self._encoder is None:
            raise InterfaceError(
                "binary COPY needs types= to encode rows; write() takes raw data"
            )
        if self._header_pending:
            self._encoder.header(self._buf)
            self._header_pending = False
            self._wrote_header = True
        return self._encoder

    def _raw_pieces(self, data: bytes | bytearray | memoryview | str) -> list[Any]:
        self._check_open()
        if isinstance(data, str):
            data = data.encode()
        self._header_pending = False
        view = memoryview(data).cast("B")
        step = self._threshold
        return [view[i : i + step] for i in range(0, len(view), step)]

    # The writing loops, once for both APIs: each yields when the batch is
    # full, and the caller (blocking or async) sends it before going on.

    def _row_steps(self, encoder: Any, row: Sequence[Any]) -> Iterator[None]:
        encoder.encode_row(self._buf, row)
        if len(self._buf) >= self._threshold:
            yield

    def _rows_steps(
        self, encoder: Any, rows: Iterable[Sequence[Any]]
    ) -> Iterator[None]:
        iterator = iter(rows)
        buf, threshold = self._buf, self._threshold
        while True:
            exhausted = encoder.encode_rows(buf, iterator, threshold)
            if len(buf) >= threshold:
                yield
            if exhausted:
                return

    def _raw_steps(self, data: bytes | bytearray | memoryview | str) -> Iterator[None]:
        for piece in self._raw_pieces(data):
            self._buf.write_bytes(piece)
            if len(self._buf) >= self._threshold:
                yield

    def _early_failure(self) -> Any:
        """After a batch left: the flow that ends a copy the server failed, or None.

        The server may have given up already (a constraint violation at row
        10 of 10 million): look without blocking, and stop if it has.
        """
        conn = self._conn  # type: ignore[attr-defined]
        if conn._poll():
            error = copy_in_events(conn._proto, conn._on_async)
            if error is not None:
                self._open = False
                return copy_end_flow(
                    conn._proto, conn._on_async, error_from_fields(error.fields)
                )
        return None

    def _batch_ready(self) -> bool:
        """Close the batch's CopyData message if it holds anything to send."""
        if len(self._buf) > HEADER_SIZE:
            self._buf.end_message()
            return True
        return False

    def _next_batch(self) -> None:
        self._buf.clear()
        self._buf.start_message(b"d")

    def _finish(self, done: bytes) -> None:
        """Put the last batch, the trailer and CopyDone in the buffer."""
        buf = self._buf
        self._open = False
        if self._wrote_header:
            self._encoder.trailer(buf)
        if len(buf) > HEADER_SIZE:
            buf.end_message()
        else:
            buf.clear()
        buf.write_bytes(done)

    def _failing(self, fail: bytes) -> None:
        """Replace whatever is unsent with CopyFail."""
        self._open = False
        self._buf.clear()
        self._buf.write_bytes(fail)

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        fmt = getattr(self, "format", "?")
        return f"<pgcopy_fast.{type(self).__name__} {fmt} {state}>"


def _reason(exc: BaseException | None) -> str:
    return (
        f"{type(exc).__name__}: {exc}" if exc is not None else "aborted by the client"
    )


class CopyIn(_CopyInBase):
    """COPY FROM STDIN in progress.  Made by ``Connection.copy_in()``.

    Rows are encoded by the kernel into one write buffer, which leaves as a
    single CopyData message whenever it passes ``threshold`` bytes.  Leaving
    a ``with`` block normally ends the copy (CopyDone); leaving it by an
    exception sends CopyFail and re-raises.

    Attributes:
        format: ``"text"``, ``"csv"`` or ``"binary"``.
        column_formats: per-column format codes (0 text, 1 binary).
        ncolumns: the number of columns the server expects.
        rowcount: the rows the server reported once closed, else -1.
    """

    def __init__(
        self,
        conn: Connection,
        sql: str,
        types: Sequence[str | int] | None = None,
        *,
        format: str | None = None,
        threshold: int = COPY_BATCH_THRESHOLD,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        columns: Sequence[str] | None = None,
        options: CodecOptions | None = None,
        element_oids: Sequence[int | None] | None = None,
        results: list[Any] | None = None,
    ) -> None:
        self._conn = conn
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
        response = conn._run(
            copy_start_flow(conn._proto, sql, "in", conn._on_async, results)
        )
        try:
            self._started(response)
        except BaseException as exc:
            self.abort(_reason(exc))
            raise

    def _flush(self) -> None:
        if self._batch_ready():
            self._conn._send_buffer(self._buf)
            self._next_batch()
            ending = self._early_failure()
            if ending is not None:
                self._conn._run(ending)

    def _guard(self, exc: BaseException) -> None:
        # Any failure while writing ends the copy with CopyFail (unless the
        # connection itself is gone), so nothing is half-written.
        if self._open and not self._conn.closed:
            self.abort(_reason(exc))

    def _send_steps(self, steps: Iterator[None]) -> None:
        try:
            for _ in steps:
                self._flush()
        except BaseException as exc:
            self._guard(exc)
            raise

    def write_row(self, row: Sequence[Any]) -> None:
        """Encode one row (a tuple or list) in the copy's format.

        Raises:
            EncodeError: a value cannot become its column's type; the copy is
                failed with CopyFail, nothing is committed.
            DatabaseError: the server already failed the copy.
            InterfaceError: the copy is finished.
        """
        self._send_steps(self._row_steps(self._need_encoder(), row))

    def write_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Encode every row of an iterable; the loop runs in the kernel.

        The iterable is consumed lazily, one batch at a time, so memory stays
        bounded whatever its length.

        Raises:
            EncodeError: as ``write_row``; rows before the bad one are not
                committed either.
            DatabaseError: the server failed the copy (detected between batches).
            InterfaceError: the copy is finished.
        """
        self._send_steps(self._rows_steps(self._need_encoder(), rows))

    def write(self, data: bytes | bytearray | memoryview | str) -> None:
        """Send data already in the copy's format, in pieces of any size.

        For binary COPY the data must include the header and trailer.

        Raises:
            DatabaseError: the server failed the copy.
            InterfaceError: the copy is finished.
            TypeError: data is not bytes-like or str.
        """
        self._send_steps(self._raw_steps(data))

    def close(self) -> int:
        """End the copy (CopyDone) and return the server's row count.

        Raises:
            DatabaseError: the server rejected the data (with its context,
                such as ``COPY t, line 5, column b``); nothing is committed.
        """
        if not self._open:
            return self.rowcount
        self._finish(self._conn._proto.copy_done())
        self._conn._send_buffer(self._buf)
        self._buf.clear()
        self.rowcount = self._conn._run(
            copy_end_flow(self._conn._proto, self._conn._on_async)
        )
        return self.rowcount

    def abort(self, reason: str = "aborted by the client") -> None:
        """Fail the copy (CopyFail); nothing is committed; the connection stays usable.

        Raises:
            OperationalError: the connection was lost.
        """
        if not self._open:
            return
        self._failing(self._conn._proto.copy_fail(reason))
        self._conn._send_buffer(self._buf)
        self._buf.clear()
        try:
            self._conn._run(copy_end_flow(self._conn._proto, self._conn._on_async))
        except DatabaseError:
            pass  # CopyFail's own answer (57014), or an earlier failure: nothing kept

    def __enter__(self) -> CopyIn:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
            return
        try:
            self.abort(_reason(exc))
        except Error:
            pass  # the original exception is the one to report


def decode_batch(decoder: Any, payloads: list[Any]) -> list[tuple[Any, ...]]:
    """``decoder.decode(payloads)`` with the cyclic GC paused.

    A batch creates thousands of containers (tuples, lists, dicts); with the
    GC on, every 700 allocations start a collection that walks them all.
    One collection after the batch is enough: nothing in it can form a
    cycle.  This halves decoding time for wide rows (pgcopy-fast bench).
    """
    collect = gc.isenabled()
    gc.disable()
    try:
        rows: list[tuple[Any, ...]] = decoder.decode(payloads)
    finally:
        if collect:
            gc.enable()
    return rows


class _CopyOutBase:
    """What a COPY OUT is, whatever does its I/O: arguments, decoder, rows."""

    format: str
    column_formats: tuple[int, ...]
    ncolumns: int

    def _setup(
        self,
        sql: str,
        types: Sequence[str | int] | None,
        format: str | None,
        delimiter: str | None,
        null: str | None,
        quote: str | None,
        options: CodecOptions | None,
        delimiters: Sequence[str] | None = None,
    ) -> None:
        self._sql = sql
        self._wanted = _check_format(format)
        self._types = canonical_types(types)
        self._delimiters = delimiters
        self._decoder_args = (delimiter, null, quote, options)
        self._stoppable = False
        self._open = False
        self.rowcount = -1
        self._rows: list[tuple[Any, ...]] = []
        self._next = 0
        self._raw: list[Any] = []

    def _started(self, response: Any) -> None:
        """The server is in COPY OUT: make the decoder.

        Raises:
            InterfaceError: the options or types do not fit (the caller drains).
        """
        assert isinstance(response, CopyOutResponse)
        self._open = True
        # A CancelRequest stops an abandoned copy soonest, but it fails the
        # transaction it runs in: send one only when the COPY is a
        # transaction of its own (none was open before it started).
        self._stoppable = self._implicit_transaction
        self.format = _copy_format(response, self._wanted, self._sql)
        self.column_formats = response.column_formats
        self.ncolumns = len(response.column_formats)
        delimiter, null, quote, options = self._decoder_args
        opts = _options(self.format, delimiter, null, quote)
        if self._types is not None and len(self._types) != self.ncolumns:
            raise InterfaceError(
                f"{len(self._types)} types given for a COPY of {self.ncolumns} columns"
            )
        self._decoder: Any
        if self.format == "binary":
            self._decoder = _core.BinaryDecoder(self._types, options)
            return
        if self.format == "csv":
            self._decoder = _core.CsvDecoder(**opts)
        else:
            self._decoder = _core.TextDecoder(**opts)
        if self._types is not None:
            # Typed text: the same values the binary decoder would give.
            self._decoder = TypedTextDecoder(
                self._decoder, self._types, options, self._delimiters
            )

    _implicit_transaction = True

    def _note_transaction(self, status: Any) -> None:
        self._implicit_transaction = status is TransactionStatus.IDLE

    def _ended(self, got: Any) -> list[Any] | None:
        """Book-keeping after one read: the payloads, or None at the end."""
        if isinstance(got, int):
            self._open = False
            self.rowcount = got
            return None
        return got  # type: ignore[no-any-return]

    def _decode(self, payloads: list[Any]) -> list[tuple[Any, ...]]:
        return decode_batch(self._decoder, payloads)

    def _pending_rows(self) -> list[tuple[Any, ...]]:
        rows, start = self._rows, self._next
        self._rows, self._next = [], 0
        return rows[start:] if start else rows

    def _next_row(self) -> tuple[Any, ...] | None:
        if self._next < len(self._rows):
            row = self._rows[self._next]
            self._next += 1
            return row
        return None

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        fmt = getattr(self, "format", "?")
        return f"<pgcopy_fast.{type(self).__name__} {fmt} {state}>"


class CopyOut(_CopyOutBase):
    """COPY TO STDOUT in progress.  Made by ``Connection.copy_out()``.

    Iterating decodes rows: text and CSV to tuples of ``str | None``, binary
    with ``types`` to Python values (raw ``bytes`` per field without types).
    Every CopyData message already received is decoded in one kernel call;
    reading is incremental.  Leaving a ``with`` block early reads and drops
    the rest of the data, so the connection is ready for the next command.

    Attributes:
        format, column_formats, ncolumns: as for ``CopyIn``.
        rowcount: the server's row count once all data was read, else -1.
    """

    def __init__(
        self,
        conn: Connection,
        sql: str,
        types: Sequence[str | int] | None = None,
        *,
        format: str | None = None,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        options: CodecOptions | None = None,
        delimiters: Sequence[str] | None = None,
        results: list[Any] | None = None,
    ) -> None:
        self._conn = conn
        self._setup(sql, types, format, delimiter, null, quote, options, delimiters)
        self._note_transaction(conn.transaction_status)
        response = conn._run(
            copy_start_flow(conn._proto, sql, "out", conn._on_async, results)
        )
        try:
            self._started(response)
        except BaseException:
            self._drain()
            raise

    def _payloads(self, joined: bool = False) -> list[Any] | None:
        """The next batch of raw CopyData payloads, or None at the end.

        ``joined``: the batch as one bytes object (in a list), for decoding.
        """
        if not self._open:
            return None
        try:
            got = self._conn._run(
                copy_out_flow(self._conn._proto, self._conn._on_async, joined)
            )
        except BaseException:
            self._open = False
            raise
        return self._ended(got)

    def _batch(self) -> list[tuple[Any, ...]] | None:
        while True:
            payloads = self._payloads(joined=True)
            if payloads is None:
                self._decoder.finish()
                return None
            try:
                rows = self._decode(payloads)
            except BaseException:
                self._drain()
                raise
            if rows:
                return rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        yield from self._pending_rows()
        while (batch := self._batch()) is not None:
            yield from batch

    def read_row(self) -> tuple[Any, ...] | None:
        """The next decoded row, or None after the last one.

        Raises:
            DatabaseError: the server failed during the copy.
            DecodeError: data that cannot be decoded (the rest is drained).
        """
        row = self._next_row()
        if row is None:
            batch = self._batch()
            if batch is None:
                return None
            self._rows, self._next = batch, 0
            row = self._next_row()
        return row

    def read(self) -> bytes | None:
        """One raw CopyData payload (one row for the server), or None at the end.

        Use either ``read()`` or the decoding calls on one copy, not both.

        Raises:
            DatabaseError: the server failed during the copy.
        """
        if self._raw:
            return bytes(self._raw.pop())
        payloads = self._payloads()
        if payloads is None:
            return None
        self._raw = payloads[:0:-1]  # the rest, reversed, to pop from the end
        return bytes(payloads[0])

    def read_batches(self) -> Iterator[list[Any]]:
        """Yield lists of raw CopyData payloads as they arrive (for files)."""
        if self._raw:
            yield self._raw[::-1]
            self._raw = []
        while (payloads := self._payloads(joined=True)) is not None:
            yield payloads

    def _drain(self) -> None:
        while self._open:
            self._payloads(joined=True)

    def close(self) -> None:
        """Read and drop whatever data is left; the connection is ready after it."""
        self._drain()

    def __enter__(self) -> CopyOut:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self._drain()
            return
        try:
            self._stop()
        except Error:
            pass  # the original exception is the one to report

    def _stop(self) -> None:
        """Abandon the copy after an error: cancel it if that is harmless, drain."""
        conn = self._conn
        if self._open and self._stoppable and conn._proto.state is State.COPY_OUT:
            conn.cancel()
            try:
                self._drain()
            except QueryCanceled:
                self._open = False
            return
        self._drain()
