"""Pure-Python kernels: the twin of ``_core_c.pyx``, name for name.

Only the hot, bytes-level pieces live here: the outgoing ``WriteBuffer`` and
the incoming ``FrameReader``.  Both twins raise the same exceptions with the
same messages; ``tests/test_twins.py`` checks that mechanically.
"""

from __future__ import annotations

import struct

from ._consts import (
    COPY_DATA,
    HEADER_SIZE,
    MAX_MESSAGE_LENGTH,
    MIN_MESSAGE_LENGTH,
    WRITE_BUFFER_INITIAL_SIZE,
)
from .errors import InterfaceError, ProtocolError

__all__ = ["WriteBuffer", "FrameReader", "IMPL"]

#: Which twin this module is (``pgcopy_fast.__impl__``).
IMPL = "python"

_pack_i16 = struct.Struct(">h").pack
_pack_i32 = struct.Struct(">i").pack
_pack_i64 = struct.Struct(">q").pack
_unpack_i32 = struct.Struct(">i").unpack_from


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
        if length < MIN_MESSAGE_LENGTH or length > MAX_MESSAGE_LENGTH:
            raise ProtocolError(
                f"server sent a message of type {msgtype!r} "
                f"with invalid length {length}"
            )
        return msgtype, length

    def next_message(self) -> tuple[bytes, memoryview] | None:
        """Return the next complete ``(type, payload)``, or None for now.

        Raises:
            ProtocolError: the length field is below 4 or above 1 GiB.
        """
        header = self._header()
        if header is None or not self._ensure(1 + header[1]):
            return None
        pos = self._pos
        end = pos + 1 + header[1]
        self._pos = end
        return header[0], memoryview(self._buf)[pos + HEADER_SIZE : end]

    def drain_copy_data(self) -> list[memoryview]:
        """Return the payloads of all consecutive complete CopyData messages.

        Stops before the first message of another type (left for
        ``next_message()``) or the first incomplete one.

        Raises:
            ProtocolError: a length field is below 4 or above 1 GiB.
        """
        out: list[memoryview] = []
        while True:
            header = self._header()
            if header is None or header[0] != COPY_DATA:
                return out
            if not self._ensure(1 + header[1]):
                return out
            pos = self._pos
            end = pos + 1 + header[1]
            self._pos = end
            out.append(memoryview(self._buf)[pos + HEADER_SIZE : end])
