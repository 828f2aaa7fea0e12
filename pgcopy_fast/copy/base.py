"""What a COPY is, whatever does its I/O: arguments, codecs, batches, rows.

``_CopyInBase`` and ``_CopyOutBase`` hold every decision about a COPY's
data (its format, its encoder or decoder, the batch buffer, the rows
already decoded); the COPY classes of ``aio.py`` (and ``blocking.py``,
generated from it) add only the waiting.  They work over a
:class:`WireState`, the part of a connection's wire they need, so they
never see a connection object.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from ..errors import InterfaceError, error_from_fields
from ..kernels import core as _core
from ..kernels.consts import (
    COPY_BATCH_THRESHOLD,
    HEADER_SIZE,
    MIN_COPY_BATCH_THRESHOLD,
)
from ..kernels.pgtypes import canonical_types
from ..options import CodecOptions
from ..protocol.events import (
    CopyInResponse,
    CopyOutResponse,
    Event,
    TransactionStatus,
)
from ..protocol.flows import Result, copy_end_flow, copy_in_events
from ..protocol.machine import ClientProtocol
from ..protocol.statement import statement_format
from .typedtext import TypedTextDecoder, TypedTextEncoder

__all__ = ["WireState", "decode_batch", "reason"]


class WireState(Protocol):
    """What a COPY object needs of its connection's wire without waiting.

    The asyncio and blocking COPY classes add the waiting half
    (``run``, ``send_buffer``, ``cancel``); ``connection.wire_aio.AsyncWire``
    and its generated blocking twin provide both.
    """

    proto: ClientProtocol
    on_event: Callable[[Event], None]
    closed: bool

    @property
    def transaction_status(self) -> TransactionStatus:
        """The session's transaction status."""

    def poll(self) -> bool:
        """Feed what already arrived to the protocol; True if anything did."""


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

    The asyncio ``AsyncCopyIn`` and the blocking ``CopyIn`` add only the
    sending and receiving; every decision about the data lives here.
    """

    _wire: WireState
    format: str
    column_formats: tuple[int, ...]
    ncolumns: int

    def __init__(
        self,
        wire: WireState,
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
        results: list[Result] | None = None,
    ) -> None:
        """Check the arguments; nothing is sent until ``start()``.

        The connection's ``copy_in()`` documents the arguments.
        """
        self._wire = wire
        self._results = results
        self._started_once = False
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

    def _arrow_steps(self, writer: Any, batches: Iterator[Any]) -> Iterator[None]:
        # Arrow batches through the columnar writer, after the binary header
        self._need_encoder()
        return writer.steps(self._buf, batches, self._threshold)  # type: ignore[no-any-return]

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
        wire = self._wire
        if wire.poll():
            error = copy_in_events(wire.proto, wire.on_event)
            if error is not None:
                self._open = False
                return copy_end_flow(
                    wire.proto, wire.on_event, error_from_fields(error.fields)
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


def reason(exc: BaseException | None) -> str:
    """The CopyFail message for an exception that ended a copy."""
    return (
        f"{type(exc).__name__}: {exc}" if exc is not None else "aborted by the client"
    )


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

    _wire: WireState
    format: str
    column_formats: tuple[int, ...]
    ncolumns: int

    def __init__(
        self,
        wire: WireState,
        sql: str,
        types: Sequence[str | int] | None = None,
        *,
        format: str | None = None,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        options: CodecOptions | None = None,
        delimiters: Sequence[str] | None = None,
        results: list[Result] | None = None,
    ) -> None:
        """Check the arguments; nothing is sent until ``start()``.

        The connection's ``copy_out()`` documents the arguments.
        """
        self._wire = wire
        self._results = results
        self._started_once = False
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
        self._received = 0  # bytes of joined payloads so far (gathered reads after)

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
