"""Pure-Python kernels: the twin of ``_core_c.pyx``, name for name.

Only the hot, bytes-level pieces live here: the outgoing ``WriteBuffer`` and
the incoming ``FrameReader``.  Both twins raise the same exceptions with the
same messages; ``tests/test_twins.py`` checks that mechanically.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import DecodeError, InterfaceError, ProtocolError, encode_error
from ..options import DEFAULT_OPTIONS, CodecOptions
from ._arrow_in_py import ArrowEncoder, ArrowStreamReader
from ._arrow_out_py import ArrowDecoder, arrow_stream
from ._codecs_py import (
    BINARY_TYPES,
    check_element_oids,
    check_types,
    decoder_for,
    encoder_for,
)
from .consts import (
    COPY_DATA,
    HEADER_SIZE,
    LONG_MESSAGE_TYPES,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_MESSAGE_LENGTH,
    MIN_MESSAGE_LENGTH,
    PGCOPY_SIGNATURE,
    WRITE_BUFFER_INITIAL_SIZE,
)
from .values import (
    NUL_MESSAGE,
    check_csv_options,
    check_text_options,
    float_text,
    plain,
    text_escapes,
    to_text,
    unnull_text_field,
)

__all__ = [
    "IMPL",
    "WriteBuffer",
    "FrameReader",
    "TextEncoder",
    "CsvEncoder",
    "BinaryEncoder",
    "TextDecoder",
    "CsvDecoder",
    "BinaryDecoder",
    "binary_types",
    "ArrowEncoder",
    "ArrowStreamReader",
    "ArrowDecoder",
    "arrow_stream",
]

#: Which twin this module is (``pgcopy_fast.__impl__``).
IMPL = "python"

_pack_i16 = struct.Struct(">h").pack
_pack_i32 = struct.Struct(">i").pack
_pack_i64 = struct.Struct(">q").pack
_unpack_i16 = struct.Struct(">h").unpack_from
_unpack_i32 = struct.Struct(">i").unpack_from

#: The largest length field of each type byte (consts.LONG_MESSAGE_TYPES).
_MAX_LENGTH_OF = tuple(
    MAX_MESSAGE_LENGTH if bytes([b]) in LONG_MESSAGE_TYPES else MAX_SHORT_MESSAGE_LENGTH
    for b in range(256)
)


def _check_int(value: object, lo: int, hi: int, what: str) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{what} requires an int, not {type(value).__name__}")
    if value < lo or value > hi:
        raise OverflowError(f"{what} value out of range: {value}")
    return value


class WriteBuffer:
    """A growable output buffer for frontend messages and COPY data.

    ``start_message(type)`` reserves the type byte and the length field;
    ``end_message()`` back-patches the length.  A CopyData message opened with
    ``start_message(b"d")`` can take many rows and leave in one send with no
    extra copy: ``view()`` exposes the bytes written so far.
    """

    __slots__ = ("_buf", "_msg_start")

    def __init__(self, size_hint: int = WRITE_BUFFER_INITIAL_SIZE) -> None:
        _check_int(size_hint, 0, MAX_MESSAGE_LENGTH, "size_hint")
        self._buf = bytearray()
        self._msg_start = -1

    def __len__(self) -> int:
        return len(self._buf)

    @property
    def in_message(self) -> bool:
        """True between ``start_message()`` and ``end_message()``."""
        return self._msg_start >= 0

    def write_byte(self, value: int) -> None:
        """Append one unsigned byte.

        Raises:
            TypeError: ``value`` is not an int.
            OverflowError: ``value`` is outside 0..255.
        """
        self._buf.append(_check_int(value, 0, 255, "write_byte()"))

    def write_int16(self, value: int) -> None:
        """Append a big-endian signed 16-bit integer.

        Raises:
            TypeError: ``value`` is not an int.
            OverflowError: ``value`` does not fit in int16.
        """
        self._buf += _pack_i16(_check_int(value, -0x8000, 0x7FFF, "write_int16()"))

    def write_int32(self, value: int) -> None:
        """Append a big-endian signed 32-bit integer.

        Raises:
            TypeError: ``value`` is not an int.
            OverflowError: ``value`` does not fit in int32.
        """
        self._buf += _pack_i32(
            _check_int(value, -0x80000000, 0x7FFFFFFF, "write_int32()")
        )

    def write_int64(self, value: int) -> None:
        """Append a big-endian signed 64-bit integer.

        Raises:
            TypeError: ``value`` is not an int.
            OverflowError: ``value`` does not fit in int64.
        """
        self._buf += _pack_i64(
            _check_int(value, -0x8000000000000000, 0x7FFFFFFFFFFFFFFF, "write_int64()")
        )

    def write_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Append the contents of a contiguous bytes-like object.

        Raises:
            TypeError: ``data`` does not support the buffer protocol.
        """
        try:
            self._buf += data
        except TypeError:
            raise TypeError(
                f"write_bytes() requires a bytes-like object, not {type(data).__name__}"
            ) from None

    def write_cstr(self, data: str | bytes) -> None:
        """Append a NUL-terminated string; a ``str`` is encoded as UTF-8.

        Raises:
            TypeError: ``data`` is neither str nor bytes-like.
            ValueError: ``data`` contains a NUL byte.
        """
        if isinstance(data, str):
            raw: bytes | bytearray | memoryview = data.encode()
        else:
            raw = data
        try:
            view = memoryview(raw)
        except TypeError:
            raise TypeError(
                f"write_cstr() requires str or a bytes-like object, "
                f"not {type(data).__name__}"
            ) from None
        if b"\x00" in view.tobytes():
            raise ValueError("write_cstr() argument contains a NUL byte")
        self._buf += view
        self._buf.append(0)

    def start_message(self, msgtype: bytes = b"") -> None:
        """Open a message: write its type byte (none for b"") and reserve its length.

        Raises:
            TypeError: ``msgtype`` is not bytes.
            ValueError: ``msgtype`` is longer than one byte.
            InterfaceError: a message is already open.
        """
        if not isinstance(msgtype, bytes):
            raise TypeError(
                f"start_message() requires bytes, not {type(msgtype).__name__}"
            )
        if len(msgtype) > 1:
            raise ValueError("a message type is a single byte")
        if self._msg_start >= 0:
            raise InterfaceError("a message is already open in this buffer")
        self._buf += msgtype
        self._msg_start = len(self._buf)
        self._buf += b"\x00\x00\x00\x00"

    def end_message(self) -> None:
        """Close the open message, writing its length into the reserved field.

        Raises:
            InterfaceError: no message is open.
            OverflowError: the message is longer than the protocol allows.
        """
        start = self._msg_start
        if start < 0:
            raise InterfaceError("no message is open in this buffer")
        length = len(self._buf) - start
        if length > MAX_MESSAGE_LENGTH:
            raise OverflowError(f"message of {length} bytes is longer than 1 GiB")
        self._buf[start : start + 4] = _pack_i32(length)
        self._msg_start = -1

    def view(self) -> memoryview:
        """Return a memoryview of the bytes written so far.

        While the view is alive the buffer cannot grow or be cleared
        (BufferError): release it (``with buf.view() as v: ...``) first.
        """
        return memoryview(self._buf)

    def getvalue(self) -> bytes:
        """Return a copy of the bytes written so far."""
        return bytes(self._buf)

    def clear(self) -> None:
        """Forget the contents and any open message, keeping the memory.

        Raises:
            BufferError: a view of the buffer is still alive.
        """
        self._buf.clear()
        self._msg_start = -1


class FrameReader:
    """Splits the backend's byte stream into messages.

    ``feed()`` takes pieces of any size; ``next_message()`` returns
    ``(type, payload)`` for each complete message, or ``None`` until one is
    complete.  The payload is a read-only memoryview that stays valid after
    later feeds.
    """

    __slots__ = ("_buf", "_pos", "_chunks", "_avail")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self._chunks: list[bytes] = []
        self._avail = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as messages."""
        return len(self._buf) - self._pos + self._avail

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes (copied: the caller may reuse its buffer).

        Raises:
            TypeError: ``data`` is not a bytes-like object.
        """
        try:
            chunk = bytes(memoryview(data))
        except TypeError:
            raise TypeError(
                f"feed() requires a bytes-like object, not {type(data).__name__}"
            ) from None
        if chunk:
            self._chunks.append(chunk)
            self._avail += len(chunk)

    def _ensure(self, n: int) -> bool:
        # Joins pending chunks only once n bytes are really there, so a large
        # message fed in many small pieces is copied once, not once per piece.
        have = len(self._buf) - self._pos
        if have >= n:
            return True
        if have + self._avail < n:
            return False
        parts = [self._buf[self._pos :]] if have else []
        parts.extend(self._chunks)
        self._buf = b"".join(parts)
        self._pos = 0
        self._chunks = []
        self._avail = 0
        return True

    def _header(self) -> tuple[bytes, int] | None:
        if not self._ensure(HEADER_SIZE):
            return None
        pos = self._pos
        msgtype = self._buf[pos : pos + 1]
        length: int = _unpack_i32(self._buf, pos + 1)[0]
        if length < MIN_MESSAGE_LENGTH or length > _MAX_LENGTH_OF[self._buf[pos]]:
            raise ProtocolError(
                f"server sent a message of type {msgtype!r} "
                f"with invalid length {length}: lost synchronization with the server"
            )
        return msgtype, length

    def next_message(self) -> tuple[bytes, memoryview] | None:
        """Return the next complete ``(type, payload)``, or None for now.

        Raises:
            ProtocolError: the length field is below 4 or above the bound of
                its type (1 GiB for the long types, 30000 bytes for the others).
        """
        header = self._header()
        if header is None or not self._ensure(1 + header[1]):
            return None
        pos = self._pos
        end = pos + 1 + header[1]
        self._pos = end
        return header[0], memoryview(self._buf)[pos + HEADER_SIZE : end]

    def drain_copy_bytes(self) -> bytes:
        """The payloads of all consecutive complete CopyData messages, joined.

        One allocation for the whole batch (the decoders' input), instead of
        one view per message.  A bad header after payload bytes is reported
        by the next call, so that no data is lost to it.

        Raises:
            ProtocolError: a length field is below 4 or above the bound of its
                type (1 GiB for the long types, 30000 bytes for the others).
        """
        joined = b"".join(self.drain_copy_data())
        if not joined:
            self._header()  # raises for a bad header after empty messages
        return joined

    def drain_copy_data(self) -> list[memoryview]:
        """Return the payloads of all consecutive complete CopyData messages.

        Stops before the first message of another type (left for
        ``next_message()``) or the first incomplete one.  A bad header after
        complete messages is reported by the next call, so that no message
        is lost to it.

        Raises:
            ProtocolError: a length field is below 4 or above the bound of its
                type (1 GiB for the long types, 30000 bytes for the others).
        """
        out: list[memoryview] = []
        while True:
            try:
                header = self._header()
            except ProtocolError:
                if out:
                    return out  # the next call raises
                raise
            if header is None or header[0] != COPY_DATA:
                return out
            if not self._ensure(1 + header[1]):
                return out
            pos = self._pos
            end = pos + 1 + header[1]
            self._pos = end
            out.append(memoryview(self._buf)[pos + HEADER_SIZE : end])


# -- COPY row encoders ---------------------------------------------------------


def _text_of(value: Any) -> str | None:
    """The text of a non-None value, or None for a missing one (NaT, NA)."""
    t = type(value)
    if t is str:
        text: str = value
    elif t is int:
        return str(value)
    elif t is float:
        return float_text(value)
    elif t is bool:
        return "t" if value else "f"
    else:
        value = plain(value)
        if value is None:
            return None
        text = to_text(value)
    if "\x00" in text:
        raise ValueError(NUL_MESSAGE)
    return text


def _row_values(row: Any, ncolumns: int) -> Sequence[Any]:
    if type(row) is not tuple and type(row) is not list:
        if isinstance(row, str | bytes | bytearray) or not isinstance(row, Sequence):
            raise TypeError(f"a row must be a tuple or list, not {type(row).__name__}")
    if ncolumns >= 0 and len(row) != ncolumns:
        raise ValueError(
            f"the row has {len(row)} values, the copy has {ncolumns} columns"
        )
    return row  # type: ignore[no-any-return]


class _Encoder:
    """The shared loop of the row encoders (the subclasses say how a row looks)."""

    __slots__ = ("_columns", "_ncolumns", "_rows")
    _format = ""

    def __init__(self, ncolumns: int, columns: Sequence[Any] | None) -> None:
        self._ncolumns = ncolumns
        self._columns = tuple(columns) if columns is not None else None
        self._rows = 0

    @property
    def rows(self) -> int:
        """How many rows this encoder has encoded."""
        return self._rows

    def _column(self, index: int) -> Any:
        if self._columns is not None and index < len(self._columns):
            return self._columns[index]
        return index

    def _pg_type(self, index: int) -> str | None:
        return None

    def _encode(self, out: bytearray, values: Sequence[Any]) -> int:
        raise NotImplementedError

    def encode_row(self, buf: WriteBuffer, row: Any) -> None:
        """Encode one row into ``buf``.

        Raises:
            EncodeError: a value (or the row itself) cannot be encoded; the
                buffer is left as it was before the row.
        """
        out = buf._buf
        start = len(out)
        column: int = -1
        try:
            values = _row_values(row, self._ncolumns)
            column = self._encode(out, values)
        except (TypeError, ValueError, OverflowError) as exc:
            del out[start:]
            if column < 0:
                column = getattr(exc, "_pgcopy_column", -1)
            if column < 0:
                raise encode_error(
                    self._rows, None, None, row, exc, self._format
                ) from exc
            value = row[column]
            raise encode_error(
                self._rows,
                self._column(column),
                self._pg_type(column),
                value,
                exc,
                self._format,
            ) from exc
        except BaseException:
            del out[start:]
            raise
        self._rows += 1

    def encode_rows(self, buf: WriteBuffer, rows: Iterator[Any], limit: int) -> bool:
        """Encode rows from ``rows`` until ``buf`` holds ``limit`` bytes.

        Returns True when the iterator is exhausted.

        Raises:
            EncodeError: as ``encode_row``; the rows before it stay in ``buf``.
        """
        out = buf._buf
        for row in rows:
            self.encode_row(buf, row)
            if len(out) >= limit:
                return False
        return True

    def header(self, buf: WriteBuffer) -> None:
        """Write what opens the stream (the binary signature; nothing for text)."""

    def trailer(self, buf: WriteBuffer) -> None:
        """Write what closes the stream (the binary trailer; nothing for text)."""


def _failed_at(exc: BaseException, index: int) -> BaseException:
    exc._pgcopy_column = index  # type: ignore[attr-defined]
    return exc


class TextEncoder(_Encoder):
    """Rows to COPY text format: tab-separated, backslash escapes, ``\\N`` NULL."""

    __slots__ = ("_delimiter", "_null", "_table")
    _format = "text"

    def __init__(
        self,
        delimiter: str = "\t",
        null: str = "\\N",
        ncolumns: int = -1,
        columns: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(ncolumns, columns)
        self._delimiter, self._null = check_text_options(delimiter, null)
        self._table = text_escapes(self._delimiter)

    def _encode(self, out: bytearray, values: Sequence[Any]) -> int:
        fields = []
        null = self._null
        for i, value in enumerate(values):
            if value is None:
                fields.append(null)
                continue
            try:
                text = _text_of(value)
                if text is None:
                    fields.append(null)
                    continue
                field = text.translate(self._table)
                if field == null:
                    # the server would read it as NULL: it compares before unescaping
                    field = unnull_text_field(text, self._delimiter)
                fields.append(field)
            except (TypeError, ValueError, OverflowError) as exc:
                raise _failed_at(exc, i) from None
        out += (self._delimiter.join(fields) + "\n").encode()
        return -1


class CsvEncoder(_Encoder):
    """Rows to COPY CSV format: quotes where needed, NULL as unquoted ``null``."""

    __slots__ = ("_delimiter", "_null", "_quote", "_specials")
    _format = "csv"

    def __init__(
        self,
        delimiter: str = ",",
        quote: str = '"',
        null: str = "",
        ncolumns: int = -1,
        columns: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(ncolumns, columns)
        self._delimiter, self._quote, self._null = check_csv_options(
            delimiter, quote, null, distinct=True
        )
        self._specials = (self._delimiter, self._quote, "\r", "\n")

    def _encode(self, out: bytearray, values: Sequence[Any]) -> int:
        fields = []
        quote = self._quote
        for i, value in enumerate(values):
            if value is None:
                fields.append(self._null)
                continue
            try:
                text = _text_of(value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise _failed_at(exc, i) from None
            if text is None:
                fields.append(self._null)
                continue
            if (
                text == self._null
                or text == "\\."
                or any(c in text for c in self._specials)
            ):
                text = quote + text.replace(quote, quote + quote) + quote
            fields.append(text)
        out += (self._delimiter.join(fields) + "\n").encode()
        return -1


def binary_types() -> frozenset[str]:
    """The canonical type names this twin has binary codecs for."""
    return BINARY_TYPES


class BinaryEncoder(_Encoder):
    """Rows to COPY binary format, each value converted to its column's type."""

    __slots__ = ("_encoders", "_types", "_count")
    _format = "binary"

    def __init__(
        self,
        types: Sequence[str],
        columns: Sequence[Any] | None = None,
        options: CodecOptions | None = None,
        element_oids: Sequence[int | None] | None = None,
    ) -> None:
        self._types = check_types(types)
        opts = options if options is not None else DEFAULT_OPTIONS
        oids = check_element_oids(element_oids, len(self._types))
        self._encoders = [
            encoder_for(name, opts, oid)
            for name, oid in zip(self._types, oids, strict=True)
        ]
        super().__init__(len(self._types), columns)
        self._count = len(self._types).to_bytes(2, "big")

    def _pg_type(self, index: int) -> str | None:
        return self._types[index]

    def _encode(self, out: bytearray, values: Sequence[Any]) -> int:
        out += self._count
        for i, (encode, value) in enumerate(zip(self._encoders, values, strict=True)):
            if value is None:
                out += b"\xff\xff\xff\xff"
                continue
            try:
                encode(out, value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise _failed_at(exc, i) from None
        return -1

    def encode_rows(self, buf: WriteBuffer, rows: Iterator[Any], limit: int) -> bool:
        """Encode rows from ``rows`` until ``buf`` holds ``limit`` bytes.

        Returns True when the iterator is exhausted.

        Raises:
            EncodeError: as ``encode_row``; the rows before it stay in ``buf``.
        """
        # The loop of encode_row without its per-row checks and calls: a row
        # that fails is undone and handed to encode_row, which finds the
        # column and raises the proper EncodeError.
        out = buf._buf
        encoders = self._encoders
        count = self._count
        ncolumns = self._ncolumns
        null = b"\xff\xff\xff\xff"
        for row in rows:
            start = len(out)
            try:
                if (type(row) is tuple or type(row) is list) and len(row) == ncolumns:
                    out += count
                    for encode, value in zip(encoders, row):  # noqa: B905
                        if value is None:
                            out += null
                        else:
                            encode(out, value)
                    self._rows += 1
                else:
                    self.encode_row(buf, row)
            except BaseException as exc:
                del out[start:]
                if isinstance(exc, Exception):
                    self.encode_row(buf, row)  # raises this row's EncodeError
                raise
            if len(out) >= limit:
                return False
        return True

    def header(self, buf: WriteBuffer) -> None:
        """Write the signature, flags and empty header extension."""
        buf._buf += PGCOPY_SIGNATURE + b"\x00\x00\x00\x00\x00\x00\x00\x00"

    def trailer(self, buf: WriteBuffer) -> None:
        """Write the field count -1 that ends the stream."""
        buf._buf += b"\xff\xff"


# -- COPY row decoders ---------------------------------------------------------

_UNESCAPE = {
    ord("b"): "\b", ord("f"): "\f", ord("n"): "\n", ord("r"): "\r",
    ord("t"): "\t", ord("v"): "\v",
}  # fmt: skip


def _decode_utf8(raw: bytes, row: int, column: int) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"row {row}, column {column}: invalid UTF-8: {exc.reason}",
            row_index=row,
            column=column,
        ) from None


def _unescape_text(raw: bytes, row: int, column: int) -> str:
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c != 0x5C or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = raw[i + 1]
        if nxt in _UNESCAPE:
            out += _UNESCAPE[nxt].encode()
            i += 2
        elif 0x30 <= nxt <= 0x37:
            j = i + 1
            value = 0
            while j < n and j < i + 4 and 0x30 <= raw[j] <= 0x37:
                value = value * 8 + raw[j] - 0x30
                j += 1
            out.append(value & 0xFF)
            i = j
        elif nxt == 0x78 and i + 2 < n and chr(raw[i + 2]) in "0123456789abcdefABCDEF":
            j = i + 2
            value = 0
            while j < n and j < i + 4 and chr(raw[j]) in "0123456789abcdefABCDEF":
                value = value * 16 + int(chr(raw[j]), 16)
                j += 1
            out.append(value)
            i = j
        else:
            out.append(nxt)
            i += 2
    return _decode_utf8(bytes(out), row, column)


class _Decoder:
    __slots__ = ("_carry", "_rows")

    def __init__(self) -> None:
        self._carry = b""
        self._rows = 0

    @property
    def rows(self) -> int:
        """How many rows this decoder has decoded."""
        return self._rows

    def finish(self) -> None:
        """Check that the stream ended on a row boundary.

        Raises:
            DecodeError: bytes of an incomplete row are left over.
        """
        if self._carry:
            raise DecodeError(
                f"the COPY data ends in the middle of row {self._rows}",
                row_index=self._rows,
            )


class TextDecoder(_Decoder):
    """COPY text format to tuples of ``str | None``."""

    __slots__ = ("_delimiter", "_null")

    def __init__(self, delimiter: str = "\t", null: str = "\\N") -> None:
        super().__init__()
        delimiter, null = check_text_options(delimiter, null)
        self._delimiter = delimiter.encode()
        self._null = null.encode()

    def _split(self, line: bytes) -> list[bytes]:
        if b"\\" not in line:
            return line.split(self._delimiter)
        fields, start, i, n = [], 0, 0, len(line)
        delim = self._delimiter[0]
        while i < n:
            c = line[i]
            if c == 0x5C:
                i += 2
            elif c == delim:
                fields.append(line[start:i])
                i += 1
                start = i
            else:
                i += 1
        fields.append(line[start:n])
        return fields

    def decode(self, payloads: Sequence[bytes | memoryview]) -> list[tuple[Any, ...]]:
        """Decode every complete row in ``payloads`` (plus earlier leftovers).

        Raises:
            DecodeError: invalid UTF-8.
        """
        data = self._carry + b"".join(payloads)
        rows: list[tuple[Any, ...]] = []
        start = 0
        null = self._null
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            line = data[start:end]
            start = end + 1
            row = self._rows
            rows.append(tuple(
                None if field == null
                else (_unescape_text(field, row, i) if b"\\" in field
                      else _decode_utf8(field, row, i))
                for i, field in enumerate(self._split(line))
            ))  # fmt: skip
            self._rows += 1
        self._carry = data[start:]
        return rows


class CsvDecoder(_Decoder):
    """COPY CSV format to tuples of ``str | None`` (quoted values are never NULL)."""

    __slots__ = ("_delimiter", "_null", "_quote")

    def __init__(self, delimiter: str = ",", quote: str = '"', null: str = "") -> None:
        super().__init__()
        delimiter, quote, null = check_csv_options(delimiter, quote, null)
        self._delimiter = ord(delimiter)
        self._quote = ord(quote)
        self._null = null.encode()

    def _parse(self, data: bytes, start: int) -> tuple[list[Any], int] | None:
        fields: list[Any] = []
        n = len(data)
        i = start
        delim, quote = self._delimiter, self._quote
        while True:
            if i < n and data[i] == quote:
                buf = bytearray()
                i += 1
                while True:
                    if i >= n:
                        return None
                    c = data[i]
                    if c == quote:
                        if i + 1 < n and data[i + 1] == quote:
                            buf.append(quote)
                            i += 2
                            continue
                        i += 1
                        break
                    buf.append(c)
                    i += 1
                # text after the closing quote, up to the delimiter, belongs
                # to the same field (PostgreSQL accepts "ab"c as abc)
                while i < n and data[i] not in (delim, 0x0A, 0x0D):
                    buf.append(data[i])
                    i += 1
                fields.append(bytes(buf))
            else:
                j = i
                while j < n and data[j] not in (delim, 0x0A, 0x0D):
                    j += 1
                raw = data[i:j]
                fields.append(None if raw == self._null else raw)
                i = j
            if i >= n:
                return None
            c = data[i]
            if c == delim:
                i += 1
                continue
            if c == 0x0D:
                i += 1
                if i < n and data[i] == 0x0A:
                    i += 1
                elif i >= n:
                    return None
            else:
                i += 1
            return fields, i

    def decode(self, payloads: Sequence[bytes | memoryview]) -> list[tuple[Any, ...]]:
        """Decode every complete row in ``payloads`` (plus earlier leftovers).

        Raises:
            DecodeError: invalid UTF-8.
        """
        data = self._carry + b"".join(payloads)
        rows: list[tuple[Any, ...]] = []
        start = 0
        while start < len(data):
            parsed = self._parse(data, start)
            if parsed is None:
                break
            fields, start = parsed
            row = self._rows
            rows.append(
                tuple(
                    None if f is None else _decode_utf8(f, row, i)
                    for i, f in enumerate(fields)
                )
            )
            self._rows += 1
        self._carry = data[start:]
        return rows


class BinaryDecoder(_Decoder):
    """COPY binary format to tuples: Python values with ``types``, bytes without."""

    __slots__ = ("_decoders", "_header_done", "_done", "_types")

    def __init__(
        self, types: Sequence[str] | None = None, options: CodecOptions | None = None
    ) -> None:
        super().__init__()
        opts = options if options is not None else DEFAULT_OPTIONS
        self._types = check_types(types) if types is not None else None
        self._decoders = (
            [decoder_for(name, opts) for name in self._types]
            if self._types is not None
            else None
        )
        self._header_done = False
        self._done = False

    @property
    def done(self) -> bool:
        """True once the trailer was read."""
        return self._done

    def _header(self, data: bytes) -> int:
        # Returns the offset after the header, or -1 while it is incomplete.
        if len(data) < 19:
            if not PGCOPY_SIGNATURE.startswith(data[:11]):
                raise DecodeError("the binary COPY signature is missing")
            return -1
        if data[:11] != PGCOPY_SIGNATURE:
            raise DecodeError("the binary COPY signature is missing")
        flags = _unpack_i32(data, 11)[0]
        if flags & 0xFFFF0000:
            raise DecodeError(
                f"unknown critical flags in the binary COPY header: {flags:#x}"
            )
        ext: int = _unpack_i32(data, 15)[0]
        if ext < 0:
            raise DecodeError("negative binary COPY header extension length")
        if len(data) < 19 + ext:
            return -1
        return 19 + ext

    def decode(self, payloads: Sequence[bytes | memoryview]) -> list[tuple[Any, ...]]:
        """Decode every complete row in ``payloads`` (plus earlier leftovers).

        Raises:
            DecodeError: a bad header, a field count or length that does not
                fit, a value of the wrong size for its type, data after the
                trailer.
        """
        data = self._carry + b"".join(payloads)
        pos = 0
        if not self._header_done:
            pos = self._header(data)
            if pos < 0:
                self._carry = data
                return []
            self._header_done = True
        rows: list[tuple[Any, ...]] = []
        n = len(data)
        decoders = self._decoders
        while pos < n:
            if self._done:
                raise DecodeError("data after the binary COPY trailer")
            if pos + 2 > n:
                break
            count = _unpack_i16(data, pos)[0]
            if count == -1:
                self._done = True
                pos += 2
                continue
            if count < 0 or (decoders is not None and count != len(decoders)):
                raise DecodeError(
                    f"row {self._rows} has {count} fields"
                    + (f", expected {len(decoders)}" if decoders is not None else ""),
                    row_index=self._rows,
                )
            p = pos + 2
            values: list[Any] = []
            for i in range(count):
                if p + 4 > n:
                    break
                length = _unpack_i32(data, p)[0]
                p += 4
                if length == -1:
                    values.append(None)
                    continue
                if length < 0:
                    raise DecodeError(
                        f"row {self._rows}, column {i}: negative field length {length}",
                        row_index=self._rows,
                        column=i,
                    )
                if p + length > n:
                    break
                raw = data[p : p + length]
                p += length
                if decoders is None:
                    values.append(raw)
                    continue
                try:
                    values.append(decoders[i](raw))
                except ValueError as exc:
                    assert self._types is not None
                    raise DecodeError(
                        f"row {self._rows}, column {i}: cannot decode "
                        f"{self._types[i]}: {exc}",
                        row_index=self._rows,
                        column=i,
                        pg_type=self._types[i],
                    ) from None
            else:
                rows.append(tuple(values))
                self._rows += 1
                pos = p
                continue
            break
        self._carry = data[pos:]
        return rows

    def finish(self) -> None:
        """Check that the stream ended with its trailer.

        Raises:
            DecodeError: the stream is truncated.
        """
        super().finish()
        if not self._done:
            raise DecodeError(
                "the binary COPY data ends without its trailer", row_index=self._rows
            )
