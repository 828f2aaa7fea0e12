# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, annotation_typing=False
"""Compiled kernels: the twin of ``_core_py.py``, name for name.

Same names, signatures, exceptions and messages as the pure twin; only the
speed differs.  ``tests/test_twins.py`` checks the parity mechanically.
The cdef classes' C attributes and methods are declared in ``_core_c.pxd``;
``_core_c.pyi`` is the typing stub of the Python-level names.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memchr, memcpy, strstr

from .consts import (
    COPY_DATA,
    HEADER_SIZE,
    LONG_MESSAGE_TYPES,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_MESSAGE_LENGTH,
    MIN_MESSAGE_LENGTH,
    WRITE_BUFFER_INITIAL_SIZE,
)
from ..errors import InterfaceError, ProtocolError

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
IMPL = "c"

cdef Py_ssize_t _MAX_LEN = MAX_MESSAGE_LENGTH
cdef Py_ssize_t _MIN_LEN = MIN_MESSAGE_LENGTH
cdef char _COPY_DATA = COPY_DATA[0]
# The largest length field of each type byte (consts.LONG_MESSAGE_TYPES).
cdef Py_ssize_t _MAX_LENGTH_OF[256]


cdef int _init_max_lengths() except -1:
    cdef int b
    for b in range(256):
        _MAX_LENGTH_OF[b] = MAX_SHORT_MESSAGE_LENGTH
    for msgtype in LONG_MESSAGE_TYPES:
        _MAX_LENGTH_OF[(<bytes>msgtype)[0]] = _MAX_LEN
    return 0


_init_max_lengths()
assert HEADER_SIZE == 5  # the type byte and the length field, spelled out below
cdef str _RESIZE_WHILE_VIEWED = "Existing exports of data: object cannot be re-sized"


cdef inline void _put_u32(char* p, uint32_t v) noexcept nogil:
    p[0] = <char>(v >> 24)
    p[1] = <char>(v >> 16)
    p[2] = <char>(v >> 8)
    p[3] = <char>v


cdef inline int32_t _get_i32(const char* p) noexcept nogil:
    cdef const uint8_t* u = <const uint8_t*>p
    return <int32_t>((<uint32_t>u[0] << 24) | (<uint32_t>u[1] << 16)
                     | (<uint32_t>u[2] << 8) | <uint32_t>u[3])


cdef int64_t _check_int(object value, int64_t lo, int64_t hi, str what) except? -1:
    cdef int overflow = 0
    cdef long long v
    if not isinstance(value, int):
        raise TypeError(f"{what} requires an int, not {type(value).__name__}")
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or v < lo or v > hi:
        raise OverflowError(f"{what} value out of range: {value}")
    return v


cdef class WriteBuffer:
    """A growable output buffer for frontend messages and COPY data.

    ``start_message(type)`` reserves the type byte and the length field;
    ``end_message()`` back-patches the length.  A CopyData message opened with
    ``start_message(b"d")`` can take many rows and leave in one send with no
    extra copy: ``view()`` exposes the bytes written so far.
    """

    def __cinit__(self, *args, **kwargs):
        self._data = NULL
        self._size = 0
        self._len = 0
        self._msg_start = -1
        self._views = 0

    def __init__(self, size_hint: int = WRITE_BUFFER_INITIAL_SIZE) -> None:
        cdef Py_ssize_t size = _check_int(size_hint, 0, _MAX_LEN, "size_hint")
        if size < 64:
            size = 64
        if self._data == NULL:
            self._data = <char*>PyMem_Malloc(size)
            if self._data == NULL:
                raise MemoryError()
            self._size = size

    def __dealloc__(self):
        PyMem_Free(self._data)
        self._data = NULL

    def __len__(self) -> int:
        return self._len

    def __getbuffer__(self, Py_buffer* view, int flags):
        view.buf = self._data
        view.obj = self
        view.len = self._len
        view.itemsize = 1
        view.readonly = 0
        view.ndim = 1
        view.format = NULL
        if flags & 0x0004:  # PyBUF_FORMAT
            view.format = b"B"
        view.shape = &view.len if flags & 0x0008 else NULL  # PyBUF_ND
        view.strides = &view.itemsize if flags & 0x0010 else NULL  # PyBUF_STRIDES
        view.suboffsets = NULL
        view.internal = NULL
        self._views += 1

    def __releasebuffer__(self, Py_buffer* view):
        self._views -= 1

    cdef inline int _reserve(self, Py_ssize_t extra) except -1:
        # Every write goes through here, so a live view (whose pointer would
        # dangle after a realloc) is refused as bytearray refuses it.
        cdef Py_ssize_t need = self._len + extra
        cdef Py_ssize_t new_size
        cdef char* p
        if self._views:
            raise BufferError(_RESIZE_WHILE_VIEWED)
        if need <= self._size:
            return 0
        new_size = self._size * 2
        if new_size < need:
            new_size = need
        p = <char*>PyMem_Realloc(self._data, new_size)
        if p == NULL:
            raise MemoryError()
        self._data = p
        self._size = new_size
        return 0

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
        cdef int64_t v = _check_int(value, 0, 255, "write_byte()")
        self._reserve(1)
        self._data[self._len] = <char>v
        self._len += 1

    def write_int16(self, value: int) -> None:
        """Append a big-endian signed 16-bit integer.

        Raises:
            TypeError: ``value`` is not an int.
            OverflowError: ``value`` does not fit in int16.
        """
        cdef uint16_t v = <uint16_t><int16_t>_check_int(
            value, -0x8000, 0x7FFF, "write_int16()")
        self._reserve(2)
        self._data[self._len] = <char>(v >> 8)
        self._data[self._len + 1] = <char>v
        self._len += 2

    def write_int32(self, value: int) -> None:
        """Append a big-endian signed 32-bit integer.

        Raises:
            TypeError: ``value`` is not an int.
            OverflowError: ``value`` does not fit in int32.
        """
        cdef int32_t v = <int32_t>_check_int(
            value, -0x80000000, 0x7FFFFFFF, "write_int32()")
        self._reserve(4)
        _put_u32(self._data + self._len, <uint32_t>v)
        self._len += 4

    def write_int64(self, value: int) -> None:
        """Append a big-endian signed 64-bit integer.

        Raises:
            TypeError: ``value`` is not an int.
            OverflowError: ``value`` does not fit in int64.
        """
        cdef uint64_t v = <uint64_t>_check_int(
            value, -0x8000000000000000, 0x7FFFFFFFFFFFFFFF, "write_int64()")
        self._reserve(8)
        _put_u32(self._data + self._len, <uint32_t>(v >> 32))
        _put_u32(self._data + self._len + 4, <uint32_t>v)
        self._len += 8

    def write_bytes(self, data) -> None:
        """Append the contents of a contiguous bytes-like object.

        Raises:
            TypeError: ``data`` does not support the buffer protocol.
        """
        cdef Py_buffer pybuf
        try:
            PyObject_GetBuffer(data, &pybuf, PyBUF_SIMPLE)
        except (TypeError, BufferError):
            raise TypeError(
                f"write_bytes() requires a bytes-like object, "
                f"not {type(data).__name__}"
            ) from None
        try:
            self._reserve(pybuf.len)
            memcpy(self._data + self._len, pybuf.buf, pybuf.len)
            self._len += pybuf.len
        finally:
            PyBuffer_Release(&pybuf)

    def write_cstr(self, data) -> None:
        """Append a NUL-terminated string; a ``str`` is encoded as UTF-8.

        Raises:
            TypeError: ``data`` is neither str nor bytes-like.
            ValueError: ``data`` contains a NUL byte.
        """
        cdef Py_buffer pybuf
        if isinstance(data, str):
            data = (<str>data).encode()
        try:
            PyObject_GetBuffer(data, &pybuf, PyBUF_SIMPLE)
        except (TypeError, BufferError):
            raise TypeError(
                f"write_cstr() requires str or a bytes-like object, "
                f"not {type(data).__name__}"
            ) from None
        try:
            if memchr(pybuf.buf, 0, pybuf.len) != NULL:
                raise ValueError("write_cstr() argument contains a NUL byte")
            self._reserve(pybuf.len + 1)
            memcpy(self._data + self._len, pybuf.buf, pybuf.len)
            self._len += pybuf.len
            self._data[self._len] = 0
            self._len += 1
        finally:
            PyBuffer_Release(&pybuf)

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
        cdef Py_ssize_t n = PyBytes_GET_SIZE(msgtype)
        if n > 1:
            raise ValueError("a message type is a single byte")
        if self._msg_start >= 0:
            raise InterfaceError("a message is already open in this buffer")
        self._reserve(n + 4)
        if n:
            self._data[self._len] = PyBytes_AS_STRING(msgtype)[0]
            self._len += 1
        self._msg_start = self._len
        _put_u32(self._data + self._len, 0)
        self._len += 4

    cpdef end_message(self):
        """Close the open message, writing its length into the reserved field.

        Raises:
            InterfaceError: no message is open.
            OverflowError: the message is longer than the protocol allows.
        """
        cdef Py_ssize_t start = self._msg_start
        cdef Py_ssize_t length
        if start < 0:
            raise InterfaceError("no message is open in this buffer")
        length = self._len - start
        if length > _MAX_LEN:
            raise OverflowError(f"message of {length} bytes is longer than 1 GiB")
        _put_u32(self._data + start, <uint32_t>length)
        self._msg_start = -1

    cdef inline char* _grow(self, Py_ssize_t extra) except NULL:
        # Room for extra bytes at the end; the caller advances _len.
        self._reserve(extra)
        return self._data + self._len

    def view(self) -> memoryview:
        """Return a memoryview of the bytes written so far.

        While the view is alive the buffer cannot grow or be cleared
        (BufferError): release it (``with buf.view() as v: ...``) first.
        """
        return memoryview(self)

    def getvalue(self) -> bytes:
        """Return a copy of the bytes written so far."""
        return PyBytes_FromStringAndSize(self._data, self._len)

    def clear(self) -> None:
        """Forget the contents and any open message, keeping the memory.

        Raises:
            BufferError: a view of the buffer is still alive.
        """
        if self._views:
            raise BufferError(_RESIZE_WHILE_VIEWED)
        self._len = 0
        self._msg_start = -1


cdef class FrameReader:
    """Splits the backend's byte stream into messages.

    ``feed()`` takes pieces of any size; ``next_message()`` returns
    ``(type, payload)`` for each complete message, or ``None`` until one is
    complete.  The payload is a read-only memoryview that stays valid after
    later feeds.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0
        self._chunks = []
        self._avail = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet handed out as messages."""
        return PyBytes_GET_SIZE(self._buf) - self._pos + self._avail

    def feed(self, data) -> None:
        """Append received bytes (copied: the caller may reuse its buffer).

        Raises:
            TypeError: ``data`` is not a bytes-like object.
        """
        cdef Py_buffer pybuf
        cdef bytes chunk
        try:
            PyObject_GetBuffer(data, &pybuf, PyBUF_SIMPLE)
        except (TypeError, BufferError):
            raise TypeError(
                f"feed() requires a bytes-like object, not {type(data).__name__}"
            ) from None
        try:
            if pybuf.len == 0:
                return
            if type(data) is bytes:
                chunk = <bytes>data
            else:
                chunk = PyBytes_FromStringAndSize(<char*>pybuf.buf, pybuf.len)
        finally:
            PyBuffer_Release(&pybuf)
        self._chunks.append(chunk)
        self._avail += PyBytes_GET_SIZE(chunk)

    cdef inline bint _ensure(self, Py_ssize_t n) except -1:
        # Joins pending chunks only once n bytes are really there, so a large
        # message fed in many small pieces is copied once, not once per piece.
        cdef Py_ssize_t have = PyBytes_GET_SIZE(self._buf) - self._pos
        cdef list parts
        if have >= n:
            return True
        if have + self._avail < n:
            return False
        parts = [self._buf[self._pos:]] if have else []
        parts.extend(self._chunks)
        self._buf = b"".join(parts)
        self._pos = 0
        self._chunks = []
        self._avail = 0
        return True

    cdef inline Py_ssize_t _header(self) except -2:
        # Returns the length field of the next message, or -1 for "not yet".
        cdef const char* p
        cdef int32_t length
        if not self._ensure(5):
            return -1
        p = PyBytes_AS_STRING(self._buf) + self._pos
        length = _get_i32(p + 1)
        if length < _MIN_LEN or length > _MAX_LENGTH_OF[<unsigned char>p[0]]:
            raise ProtocolError(
                f"server sent a message of type {p[:1]!r} "
                f"with invalid length {length}: lost synchronization with the server"
            )
        return length

    def next_message(self):
        """Return the next complete ``(type, payload)``, or None for now.

        Raises:
            ProtocolError: the length field is below 4 or above the bound of
                its type (1 GiB for the long types, 30000 bytes for the others).
        """
        cdef Py_ssize_t length = self._header()
        cdef Py_ssize_t pos
        if length < 0 or not self._ensure(1 + length):
            return None
        pos = self._pos
        self._pos = pos + 1 + length
        return (
            self._buf[pos:pos + 1],
            memoryview(self._buf)[pos + 5:pos + 1 + length],
        )

    def drain_copy_data(self) -> list:
        """Return the payloads of all consecutive complete CopyData messages.

        Stops before the first message of another type (left for
        ``next_message()``) or the first incomplete one.  A bad header after
        complete messages is reported by the next call, so that no message
        is lost to it.

        Raises:
            ProtocolError: a length field is below 4 or above the bound of its
                type (1 GiB for the long types, 30000 bytes for the others).
        """
        cdef list out = []
        cdef Py_ssize_t length, pos
        cdef object view = None
        cdef bytes viewed = None
        while True:
            try:
                length = self._header()
            except ProtocolError:
                if out:
                    return out  # the next call raises
                raise
            if length < 0 or PyBytes_AS_STRING(self._buf)[self._pos] != _COPY_DATA:
                return out
            if not self._ensure(1 + length):
                return out
            if viewed is not self._buf:
                viewed = self._buf
                view = memoryview(viewed)
            pos = self._pos
            self._pos = pos + 1 + length
            out.append(view[pos + 5:pos + 1 + length])

    def drain_copy_bytes(self) -> bytes:
        """The payloads of all consecutive complete CopyData messages, joined.

        One allocation for the whole batch (the decoders' input), instead of
        one view per message.  A bad header after payload bytes is reported
        by the next call, so that no data is lost to it.

        Raises:
            ProtocolError: a length field is below 4 or above the bound of its
                type (1 GiB for the long types, 30000 bytes for the others).
        """
        cdef list pieces = []
        cdef Py_ssize_t length
        while True:
            piece = self._copy_run()
            if piece:
                pieces.append(piece)
            # Is the next message a CopyData that more joined input completes?
            try:
                length = self._header()
            except ProtocolError:
                if pieces:
                    break  # the next call raises
                raise
            if length < 0 or PyBytes_AS_STRING(self._buf)[self._pos] != _COPY_DATA:
                break
            if not self._ensure(1 + length):
                break
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    cdef bytes _copy_run(self):
        # Copies the run of complete CopyData messages that lies in _buf now
        # (no joining, so nothing consumed can be dropped under us).
        cdef const char* base = PyBytes_AS_STRING(self._buf)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(self._buf)
        cdef Py_ssize_t pos = self._pos, total = 0, length
        cdef bytes out
        cdef char* o
        while pos + 5 <= n and base[pos] == _COPY_DATA:
            length = _get_i32(base + pos + 1)
            if length < _MIN_LEN or length > _MAX_LEN or pos + 1 + length > n:
                break  # _header() reports a bad length; a short one waits
            total += length - 4
            pos += 1 + length
        if total == 0:
            self._pos = pos  # empty CopyData messages
            return b""
        out = PyBytes_FromStringAndSize(NULL, total)
        o = PyBytes_AS_STRING(out)
        pos = self._pos
        while total:
            length = _get_i32(base + pos + 1) - 4
            memcpy(o, base + pos + 5, length)
            o += length
            total -= length
            pos += 5 + length
        self._pos = pos
        return out

include "_rows_c.pxi"
include "_arrow_out_c.pxi"
include "_arrow_in_c.pxi"
