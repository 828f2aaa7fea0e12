# Row encoders and decoders of the compiled twin (included by _core_c.pyx).
#
# Same classes, messages and results as the row kernels of _core_py.py; the
# loops run in C and write straight into the WriteBuffer's memory.

from collections.abc import Sequence as _Sequence

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_AsDouble, PyLong_FromLong, PyLong_FromLongLong, PyLong_FromUnsignedLong
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF
from libc.math cimport fabs, isfinite, isnan
from libc.stdio cimport snprintf
from libc.string cimport memcmp, memset

from .consts import PGCOPY_SIGNATURE
from .values import (
    NUL_MESSAGE,
    check_csv_options,
    check_text_options,
    float_text,
    plain,
    to_text,
    unnull_text_field,
)
from ..errors import DecodeError, encode_error

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t* size) except NULL
    object PyUnicode_DecodeUTF8(const char* s, Py_ssize_t size, const char* errors)
    char* PyOS_double_to_string(double val, char format_code, int precision, int flags, int* ptype) except NULL
    int Py_DTSF_ADD_DOT_0

cdef bytes _SIGNATURE = PGCOPY_SIGNATURE
cdef str _NUL_MESSAGE = NUL_MESSAGE


cdef inline void _put_u16(char* p, uint16_t v) noexcept nogil:
    p[0] = <char>(v >> 8)
    p[1] = <char>v


cdef inline int16_t _get_i16(const char* p) noexcept nogil:
    cdef const uint8_t* u = <const uint8_t*>p
    return <int16_t>((<uint16_t>u[0] << 8) | <uint16_t>u[1])


cdef inline uint64_t _get_u64(const char* p) noexcept nogil:
    return (<uint64_t><uint32_t>_get_i32(p) << 32) | <uint64_t><uint32_t>_get_i32(p + 4)


# -- shared row plumbing --------------------------------------------------------

cdef object _row_values(object row, Py_ssize_t ncolumns):
    if type(row) is not tuple and type(row) is not list:
        if isinstance(row, (str, bytes, bytearray)) or not isinstance(row, _Sequence):
            raise TypeError(f"a row must be a tuple or list, not {type(row).__name__}")
        row = tuple(row)
    if ncolumns >= 0 and len(row) != ncolumns:
        raise ValueError(f"the row has {len(row)} values, the copy has {ncolumns} columns")
    return row


cdef inline Py_ssize_t _seq_size(object seq) noexcept:
    if type(seq) is tuple:
        return PyTuple_GET_SIZE(seq)
    return PyList_GET_SIZE(seq)


cdef inline object _seq_item(object seq, Py_ssize_t i):
    if type(seq) is tuple:
        return <object>PyTuple_GET_ITEM(seq, i)
    return <object>PyList_GET_ITEM(seq, i)


cdef class _Encoder:
    """The shared loop of the row encoders (the subclasses say how a row looks)."""

    def __cinit__(self, *args, **kwargs):
        self._ncolumns = -1
        self._rows = 0
        self._columns = None

    cdef _setup(self, Py_ssize_t ncolumns, object columns):
        self._ncolumns = ncolumns
        self._columns = tuple(columns) if columns is not None else None

    @property
    def rows(self) -> int:
        """How many rows this encoder has encoded."""
        return self._rows

    cdef object _column(self, Py_ssize_t index):
        if self._columns is not None and index < len(self._columns):
            return self._columns[index]
        return index

    cdef object _pg_type(self, Py_ssize_t index):
        return None

    cdef int _encode(self, WriteBuffer buf, object values, Py_ssize_t* failed) except -1:
        raise NotImplementedError

    cdef int _encode_row(self, WriteBuffer buf, object row) except -1:
        cdef Py_ssize_t start = buf._len
        cdef Py_ssize_t failed = -1
        cdef object values
        try:
            values = _row_values(row, self._ncolumns)
            self._encode(buf, values, &failed)
        except (TypeError, ValueError, OverflowError) as exc:
            buf._len = start
            if failed < 0:
                raise encode_error(self._rows, None, None, row, exc, self._format) from exc
            raise encode_error(
                self._rows, self._column(failed), self._pg_type(failed),
                values[failed], exc, self._format,
            ) from exc
        except BaseException:
            buf._len = start
            raise
        self._rows += 1
        return 0

    def encode_row(self, WriteBuffer buf, row) -> None:
        """Encode one row into ``buf``.

        Raises:
            EncodeError: a value (or the row itself) cannot be encoded; the
                buffer is left as it was before the row.
        """
        self._encode_row(buf, row)

    def encode_rows(self, WriteBuffer buf, rows, Py_ssize_t limit) -> bool:
        """Encode rows from ``rows`` until ``buf`` holds ``limit`` bytes.

        Returns True when the iterator is exhausted.

        Raises:
            EncodeError: as ``encode_row``; the rows before it stay in ``buf``.
        """
        for row in rows:
            self._encode_row(buf, row)
            if buf._len >= limit:
                return False
        return True

    def header(self, WriteBuffer buf) -> None:
        """Write what opens the stream (the binary signature; nothing for text)."""

    def trailer(self, WriteBuffer buf) -> None:
        """Write what closes the stream (the binary trailer; nothing for text)."""


# -- text and CSV values ------------------------------------------------------------

cdef inline int _write_raw(WriteBuffer buf, const char* p, Py_ssize_t n) except -1:
    cdef char* out = buf._grow(n)
    memcpy(out, p, n)
    buf._len += n
    return 0


cdef object _MISSING = object()


cdef object _text_value(object v, const char** data, Py_ssize_t* size, char* scratch):
    # Points data/size at v's text form; returns the object that owns the
    # bytes (or None when they are in scratch, at least 32 bytes), or
    # _MISSING for a value that is NULL (NaT, NA: values.plain).
    cdef object t = type(v)
    cdef long long n
    cdef int overflow = 0
    cdef double d
    cdef char* rep
    cdef object text
    if t is str:
        data[0] = PyUnicode_AsUTF8AndSize(v, size)
        if memchr(data[0], 0, size[0]) != NULL:
            raise ValueError(_NUL_MESSAGE)
        return v
    if t is int:
        n = PyLong_AsLongLongAndOverflow(v, &overflow)
        if not overflow:
            size[0] = snprintf(scratch, 32, "%lld", n)
            data[0] = scratch
            return None
        text = str(v)
        data[0] = PyUnicode_AsUTF8AndSize(text, size)
        return text
    if t is float:
        d = PyFloat_AS_DOUBLE(v)
        if isfinite(d):
            rep = PyOS_double_to_string(d, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
            size[0] = <Py_ssize_t>strlen(rep)
            memcpy(scratch, rep, size[0])
            PyMem_Free(rep)
            data[0] = scratch
            return None
        text = float_text(v)
        data[0] = PyUnicode_AsUTF8AndSize(text, size)
        return text
    if t is bool:
        scratch[0] = b't' if v is True else b'f'
        size[0] = 1
        data[0] = scratch
        return None
    v = plain(v)
    if v is None:
        return _MISSING
    text = to_text(v)
    data[0] = PyUnicode_AsUTF8AndSize(text, size)
    if memchr(data[0], 0, size[0]) != NULL:
        raise ValueError(_NUL_MESSAGE)
    return text


cdef extern from "string.h":
    size_t strlen(const char* s)


cdef class TextEncoder(_Encoder):
    """Rows to COPY text format: tab-separated, backslash escapes, ``\\N`` NULL."""

    def __init__(self, delimiter: str = "\t", null: str = "\\N", ncolumns: int = -1,
                 columns=None) -> None:
        self._setup(ncolumns, columns)
        self._format = "text"
        self._delimiter_text, null = check_text_options(delimiter, null)
        self._delimiter = self._delimiter_text.encode()[0]
        self._null = null.encode()
        memset(self._escape, 0, 256)
        self._escape[<unsigned char>b'\\'] = b'\\'
        self._escape[<unsigned char>b'\t'] = b't'
        self._escape[<unsigned char>b'\n'] = b'n'
        self._escape[<unsigned char>b'\r'] = b'r'
        if self._escape[<unsigned char>self._delimiter] == 0:
            self._escape[<unsigned char>self._delimiter] = <unsigned char>self._delimiter

    cdef int _encode(self, WriteBuffer buf, object values, Py_ssize_t* failed) except -1:
        cdef Py_ssize_t n = _seq_size(values)
        cdef Py_ssize_t i, j, size, field_start
        cdef const char* data
        cdef char scratch[40]
        cdef char* out
        cdef unsigned char c
        cdef object owner, field
        cdef const char* null = PyBytes_AS_STRING(self._null)
        cdef Py_ssize_t null_size = PyBytes_GET_SIZE(self._null)
        for i in range(n):
            if i:
                buf._grow(1)[0] = self._delimiter
                buf._len += 1
            v = _seq_item(values, i)
            if v is None:
                _write_raw(buf, null, null_size)
                continue
            failed[0] = i
            owner = _text_value(v, &data, &size, scratch)
            if owner is _MISSING:
                failed[0] = -1
                _write_raw(buf, null, null_size)
                continue
            field_start = buf._len
            out = buf._grow(size * 2)
            for j in range(size):
                c = <unsigned char>data[j]
                if self._escape[c]:
                    out[0] = b'\\'
                    out[1] = <char>self._escape[c]
                    out += 2
                else:
                    out[0] = <char>c
                    out += 1
            buf._len = out - buf._data
            if (buf._len - field_start == null_size
                    and memcmp(buf._data + field_start, null, null_size) == 0):
                # the server would read it as NULL: it compares before unescaping
                buf._len = field_start
                field = unnull_text_field(PyUnicode_DecodeUTF8(data, size, NULL),
                                          self._delimiter_text)
                data = PyUnicode_AsUTF8AndSize(field, &size)
                _write_raw(buf, data, size)
            failed[0] = -1
        buf._grow(1)[0] = b'\n'
        buf._len += 1
        return 0


cdef class CsvEncoder(_Encoder):
    """Rows to COPY CSV format: quotes where needed, NULL as unquoted ``null``."""

    def __init__(self, delimiter: str = ",", quote: str = '"', null: str = "",
                 ncolumns: int = -1, columns=None) -> None:
        self._setup(ncolumns, columns)
        self._format = "csv"
        delimiter, quote, null = check_csv_options(delimiter, quote, null, distinct=True)
        self._delimiter = delimiter.encode()[0]
        self._quote = quote.encode()[0]
        self._null = null.encode()

    cdef int _encode(self, WriteBuffer buf, object values, Py_ssize_t* failed) except -1:
        cdef Py_ssize_t n = _seq_size(values)
        cdef Py_ssize_t i, j, size
        cdef const char* data
        cdef char scratch[40]
        cdef char* out
        cdef char c
        cdef bint quoted
        cdef object owner
        cdef Py_ssize_t null_size = PyBytes_GET_SIZE(self._null)
        for i in range(n):
            if i:
                buf._grow(1)[0] = self._delimiter
                buf._len += 1
            v = _seq_item(values, i)
            if v is None:
                _write_raw(buf, PyBytes_AS_STRING(self._null), null_size)
                continue
            failed[0] = i
            owner = _text_value(v, &data, &size, scratch)
            failed[0] = -1
            if owner is _MISSING:
                _write_raw(buf, PyBytes_AS_STRING(self._null), null_size)
                continue
            quoted = (
                (size == null_size and memcmp(data, PyBytes_AS_STRING(self._null), size) == 0)
                or (size == 2 and data[0] == b'\\' and data[1] == b'.')
            )
            if not quoted:
                for j in range(size):
                    c = data[j]
                    if c == self._delimiter or c == self._quote or c == b'\r' or c == b'\n':
                        quoted = True
                        break
            if not quoted:
                _write_raw(buf, data, size)
                continue
            out = buf._grow(size * 2 + 2)
            out[0] = self._quote
            out += 1
            for j in range(size):
                c = data[j]
                out[0] = c
                out += 1
                if c == self._quote:
                    out[0] = c
                    out += 1
            out[0] = self._quote
            buf._len = out + 1 - buf._data
        buf._grow(1)[0] = b'\n'
        buf._len += 1
        return 0


include "_codecs_c.pxi"


cdef class BinaryEncoder(_Encoder):
    """Rows to COPY binary format, each value converted to its column's type."""

    def __dealloc__(self):
        PyMem_Free(self._encoders)

    def __init__(self, types, columns=None, options=None, element_oids=None) -> None:
        cdef Py_ssize_t i, n
        cdef object state = None
        self._types = check_types(types)
        n = len(self._types)
        if options is None:
            options = _DEFAULT_OPTIONS
        element_oids = check_element_oids(element_oids, n)
        self._encoders = <bin_encode_fn*>PyMem_Malloc(sizeof(bin_encode_fn) * (n + 1))
        if self._encoders == NULL:
            raise MemoryError()
        self._states = []
        for i in range(n):
            self._states.append(
                _binary_encoder(self._types[i], options, element_oids[i], &self._encoders[i]))
        self._setup(n, columns)
        self._format = "binary"

    cdef object _pg_type(self, Py_ssize_t index):
        return self._types[index]

    cdef int _encode(self, WriteBuffer buf, object values, Py_ssize_t* failed) except -1:
        cdef Py_ssize_t n = self._ncolumns
        cdef Py_ssize_t i
        cdef char* p = buf._grow(2)
        _put_u16(p, <uint16_t>n)
        buf._len += 2
        for i in range(n):
            v = _seq_item(values, i)
            if v is None:
                _put_u32(buf._grow(4), 0xFFFFFFFF)
                buf._len += 4
                continue
            failed[0] = i
            self._encoders[i](buf, v, <object>PyList_GET_ITEM(self._states, i))
        failed[0] = -1
        return 0

    def header(self, WriteBuffer buf) -> None:
        """Write the signature, flags and empty header extension."""
        cdef char* p = buf._grow(19)
        memcpy(p, PyBytes_AS_STRING(_SIGNATURE), 11)
        memset(p + 11, 0, 8)
        buf._len += 19

    def trailer(self, WriteBuffer buf) -> None:
        """Write the field count -1 that ends the stream."""
        cdef char* p = buf._grow(2)
        p[0] = <char>0xFF
        p[1] = <char>0xFF
        buf._len += 2


# -- decoders -------------------------------------------------------------------

cdef object _decode_utf8(const char* p, Py_ssize_t n, Py_ssize_t row, Py_ssize_t column):
    try:
        return PyUnicode_DecodeUTF8(p, n, NULL)
    except UnicodeDecodeError as exc:
        raise DecodeError(
            f"row {row}, column {column}: invalid UTF-8: {exc.reason}",
            row_index=row, column=column,
        ) from None


cdef inline int _hexval(unsigned char c) noexcept nogil:
    if 48 <= c <= 57:  # 0-9
        return c - 48
    if 97 <= c <= 102:  # a-f
        return c - 87
    if 65 <= c <= 70:  # A-F
        return c - 55
    return -1


cdef object _unescape_text(const char* raw, Py_ssize_t n, Py_ssize_t row, Py_ssize_t column):
    cdef bytearray out = bytearray(n)
    cdef char* o = PyByteArray_AS_STRING(out)
    cdef Py_ssize_t i = 0, j, k = 0
    cdef unsigned char c, nxt
    cdef int value
    while i < n:
        c = <unsigned char>raw[i]
        if c != b'\\' or i + 1 >= n:
            o[k] = <char>c
            k += 1
            i += 1
            continue
        nxt = <unsigned char>raw[i + 1]
        if nxt == b'b':
            o[k] = b'\b'
        elif nxt == b'f':
            o[k] = b'\f'
        elif nxt == b'n':
            o[k] = b'\n'
        elif nxt == b'r':
            o[k] = b'\r'
        elif nxt == b't':
            o[k] = b'\t'
        elif nxt == b'v':
            o[k] = b'\v'
        elif 48 <= nxt <= 55:
            j = i + 1
            value = 0
            while j < n and j < i + 4 and 48 <= <unsigned char>raw[j] <= 55:
                value = value * 8 + raw[j] - 48
                j += 1
            o[k] = <char>(value & 0xFF)
            k += 1
            i = j
            continue
        elif nxt == b'x' and i + 2 < n and _hexval(<unsigned char>raw[i + 2]) >= 0:
            j = i + 2
            value = 0
            while j < n and j < i + 4 and _hexval(<unsigned char>raw[j]) >= 0:
                value = value * 16 + _hexval(<unsigned char>raw[j])
                j += 1
            o[k] = <char>value
            k += 1
            i = j
            continue
        else:
            o[k] = <char>nxt
        k += 1
        i += 2
    return _decode_utf8(o, k, row, column)


cdef class _Decoder:
    def __cinit__(self, *args, **kwargs):
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

    cdef bytes _take(self, object payloads):
        if not self._carry and len(payloads) == 1 and type(payloads[0]) is bytes:
            return payloads[0]
        return self._carry + b"".join(payloads)


cdef class TextDecoder(_Decoder):
    """COPY text format to tuples of ``str | None``."""

    def __init__(self, delimiter: str = "\t", null: str = "\\N") -> None:
        delimiter, null = check_text_options(delimiter, null)
        self._delimiter = delimiter.encode()[0]
        self._null = null.encode()

    cdef object _field(self, const char* p, Py_ssize_t n, Py_ssize_t column):
        cdef Py_ssize_t null_size = PyBytes_GET_SIZE(self._null)
        if n == null_size and memcmp(p, PyBytes_AS_STRING(self._null), n) == 0:
            return None
        if memchr(p, b'\\', n) != NULL:
            return _unescape_text(p, n, self._rows, column)
        return _decode_utf8(p, n, self._rows, column)

    def decode(self, payloads) -> list:
        """Decode every complete row in ``payloads`` (plus earlier leftovers).

        Raises:
            DecodeError: invalid UTF-8.
        """
        cdef bytes data = self._take(payloads)
        cdef const char* base = PyBytes_AS_STRING(data)
        cdef Py_ssize_t total = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t start = 0, end, i, nfields, field_start, col
        cdef const char* nl
        cdef list rows = []
        cdef tuple row
        cdef char delim = self._delimiter
        while start < total:
            nl = <const char*>memchr(base + start, b'\n', total - start)
            if nl == NULL:
                break
            end = nl - base
            nfields = 1
            i = start
            while i < end:
                if base[i] == b'\\':
                    i += 2
                    continue
                if base[i] == delim:
                    nfields += 1
                i += 1
            row = PyTuple_New(nfields)
            col = 0
            field_start = start
            i = start
            while True:
                if i < end and base[i] == b'\\':
                    i += 2
                    continue
                if i >= end or base[i] == delim:
                    value = self._field(base + field_start, min(i, end) - field_start, col)
                    Py_INCREF(value)
                    PyTuple_SET_ITEM(row, col, value)
                    col += 1
                    if i >= end:
                        break
                    field_start = i + 1
                i += 1
            rows.append(row)
            self._rows += 1
            start = end + 1
        self._carry = data[start:]
        return rows


cdef class CsvDecoder(_Decoder):
    """COPY CSV format to tuples of ``str | None`` (quoted values are never NULL)."""

    def __init__(self, delimiter: str = ",", quote: str = '"', null: str = "") -> None:
        delimiter, quote, null = check_csv_options(delimiter, quote, null)
        self._delimiter = delimiter.encode()[0]
        self._quote = quote.encode()[0]
        self._null = null.encode()

    cdef Py_ssize_t _parse(self, const char* data, Py_ssize_t n, Py_ssize_t i, list fields) except -2:
        # Returns the offset after the row, or -1 when the row is incomplete.
        cdef unsigned char delim = self._delimiter, quote = self._quote, c
        cdef bytearray buf
        cdef Py_ssize_t j
        while True:
            if i < n and <unsigned char>data[i] == quote:
                buf = bytearray()
                i += 1
                while True:
                    if i >= n:
                        return -1
                    c = <unsigned char>data[i]
                    if c == quote:
                        if i + 1 < n and <unsigned char>data[i + 1] == quote:
                            buf.append(quote)
                            i += 2
                            continue
                        i += 1
                        break
                    j = i
                    while j < n and <unsigned char>data[j] != quote:
                        j += 1
                    buf += data[i:j]
                    i = j
                j = i
                while j < n and <unsigned char>data[j] not in (delim, 0x0A, 0x0D):
                    j += 1
                buf += data[i:j]
                i = j
                fields.append(bytes(buf))
            else:
                j = i
                while j < n and <unsigned char>data[j] not in (delim, 0x0A, 0x0D):
                    j += 1
                if (j - i == PyBytes_GET_SIZE(self._null)
                        and memcmp(data + i, PyBytes_AS_STRING(self._null), j - i) == 0):
                    fields.append(None)
                else:
                    fields.append(data[i:j])
                i = j
            if i >= n:
                return -1
            c = <unsigned char>data[i]
            if c == delim:
                i += 1
                continue
            if c == 0x0D:
                i += 1
                if i < n and <unsigned char>data[i] == 0x0A:
                    i += 1
                elif i >= n:
                    return -1
            else:
                i += 1
            return i

    def decode(self, payloads) -> list:
        """Decode every complete row in ``payloads`` (plus earlier leftovers).

        Raises:
            DecodeError: invalid UTF-8.
        """
        cdef bytes data = self._take(payloads)
        cdef const char* base = PyBytes_AS_STRING(data)
        cdef Py_ssize_t total = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t start = 0, after, i
        cdef list rows = []
        cdef list fields
        while start < total:
            fields = []
            after = self._parse(base, total, start, fields)
            if after < 0:
                break
            start = after
            row = PyTuple_New(len(fields))
            for i in range(len(fields)):
                f = fields[i]
                value = None if f is None else _decode_utf8(
                    PyBytes_AS_STRING(f), PyBytes_GET_SIZE(f), self._rows, i)
                Py_INCREF(value)
                PyTuple_SET_ITEM(row, i, value)
            rows.append(row)
            self._rows += 1
        self._carry = data[start:]
        return rows


cdef class BinaryDecoder(_Decoder):
    """COPY binary format to tuples: Python values with ``types``, bytes without."""

    def __dealloc__(self):
        PyMem_Free(self._decoders)

    def __init__(self, types=None, options=None) -> None:
        cdef Py_ssize_t i
        cdef object state = None
        self._ntypes = -1
        self._types = None
        if options is None:
            options = _DEFAULT_OPTIONS
        if types is not None:
            self._types = check_types(types)
            self._ntypes = len(self._types)
            self._decoders = <bin_decode_fn*>PyMem_Malloc(sizeof(bin_decode_fn) * (self._ntypes + 1))
            if self._decoders == NULL:
                raise MemoryError()
            self._states = []
            for i in range(self._ntypes):
                self._states.append(
                    _binary_decoder(self._types[i], options, &self._decoders[i]))

    @property
    def done(self) -> bool:
        """True once the trailer was read."""
        return self._done

    cdef Py_ssize_t _header(self, bytes data) except -2:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef const char* p = PyBytes_AS_STRING(data)
        cdef int32_t flags, ext
        if n < 19:
            if memcmp(p, PyBytes_AS_STRING(_SIGNATURE), n if n < 11 else 11) != 0:
                raise DecodeError("the binary COPY signature is missing")
            return -1
        if memcmp(p, PyBytes_AS_STRING(_SIGNATURE), 11) != 0:
            raise DecodeError("the binary COPY signature is missing")
        flags = _get_i32(p + 11)
        if <uint32_t>flags & 0xFFFF0000:
            raise DecodeError(
                f"unknown critical flags in the binary COPY header: {flags:#x}")
        ext = _get_i32(p + 15)
        if ext < 0:
            raise DecodeError("negative binary COPY header extension length")
        if n < 19 + <Py_ssize_t>ext:
            return -1
        return 19 + ext

    def decode(self, payloads) -> list:
        """Decode every complete row in ``payloads`` (plus earlier leftovers).

        Raises:
            DecodeError: a bad header, a field count or length that does not
                fit, a value of the wrong size for its type, data after the
                trailer.
        """
        cdef bytes data = self._take(payloads)
        cdef const char* base = PyBytes_AS_STRING(data)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t pos = 0, p, i
        cdef int16_t count
        cdef int32_t length
        cdef list rows = []
        cdef tuple row
        cdef bint complete
        if not self._header_done:
            pos = self._header(data)
            if pos < 0:
                self._carry = data
                return rows
            self._header_done = True
        while pos < n:
            if self._done:
                raise DecodeError("data after the binary COPY trailer")
            if pos + 2 > n:
                break
            count = _get_i16(base + pos)
            if count == -1:
                self._done = True
                pos += 2
                continue
            if count < 0 or (self._ntypes >= 0 and count != self._ntypes):
                raise DecodeError(
                    f"row {self._rows} has {count} fields"
                    + (f", expected {self._ntypes}" if self._ntypes >= 0 else ""),
                    row_index=self._rows,
                )
            p = pos + 2
            row = PyTuple_New(count)
            complete = True
            for i in range(count):
                if p + 4 > n:
                    complete = False
                    break
                length = _get_i32(base + p)
                p += 4
                if length == -1:
                    Py_INCREF(None)
                    PyTuple_SET_ITEM(row, i, None)
                    continue
                if length < 0:
                    raise DecodeError(
                        f"row {self._rows}, column {i}: negative field length {length}",
                        row_index=self._rows, column=i,
                    )
                if p + length > n:
                    complete = False
                    break
                if self._ntypes < 0:
                    value = PyBytes_FromStringAndSize(base + p, length)
                else:
                    try:
                        value = self._decoders[i](
                            base + p, length, <object>PyList_GET_ITEM(self._states, i))
                    except ValueError as exc:
                        raise DecodeError(
                            f"row {self._rows}, column {i}: cannot decode "
                            f"{self._types[i]}: {exc}",
                            row_index=self._rows, column=i, pg_type=self._types[i],
                        ) from None
                Py_INCREF(value)
                PyTuple_SET_ITEM(row, i, value)
                p += length
            if not complete:
                break  # a half-built tuple frees its unset (NULL) slots fine
            rows.append(row)
            self._rows += 1
            pos = p
        self._carry = data[pos:]
        return rows

    def finish(self) -> None:
        """Check that the stream ended with its trailer.

        Raises:
            DecodeError: the stream is truncated.
        """
        _Decoder.finish(self)
        if not self._done:
            raise DecodeError(
                "the binary COPY data ends without its trailer", row_index=self._rows
            )
