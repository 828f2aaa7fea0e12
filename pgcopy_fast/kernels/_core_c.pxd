# Table of contents of the compiled twin: its cdef classes, their C
# attributes and C methods, and the C types of the per-column codecs.
#
# Cython reads this file with _core_c.pyx (same name), so the attributes are
# declared here only; the method bodies are in the .pyx and .pxi files named
# beside each class.  Module-level C functions are not listed: declaring one
# here would export it through __pyx_capi__ (and an inline one would need its
# body here), while they are private helpers of _core_c.pyx, _rows_c.pxi
# (row loops) and _codecs_c.pxi (value codecs).  The Python-level API is in
# _core_c.pyi, the same as the pure twin's.

from libc.stdint cimport uint32_t


# -- _core_c.pyx -------------------------------------------------------------------

cdef class WriteBuffer:
    cdef char* _data            # heap storage, _size bytes
    cdef Py_ssize_t _size       # allocated bytes
    cdef Py_ssize_t _len        # bytes written
    cdef Py_ssize_t _msg_start  # offset of the open message's length field, or -1
    cdef int _views             # live buffer exports: while > 0 nothing may move

    cdef inline int _reserve(self, Py_ssize_t extra) except -1
    cdef inline char* _grow(self, Py_ssize_t extra) except NULL
    cpdef end_message(self)


cdef class FrameReader:
    cdef bytes _buf             # contiguous bytes being parsed (immutable, so views stay valid)
    cdef Py_ssize_t _pos        # offset of the next unread byte in _buf
    cdef list _chunks           # fed pieces not yet joined onto _buf
    cdef Py_ssize_t _avail      # total size of _chunks

    cdef inline bint _ensure(self, Py_ssize_t n) except -1
    cdef inline Py_ssize_t _header(self) except -2
    cdef bytes _copy_run(self)


# -- _codecs_c.pxi: one C function per column, picked once per copy ------------------

ctypedef int (*bin_encode_fn)(WriteBuffer buf, object v, object state) except -1
ctypedef object (*bin_decode_fn)(const char* p, Py_ssize_t n, object state)


cdef class _ArrayCodec:
    cdef bin_encode_fn encode   # element encoder
    cdef bin_decode_fn decode   # element decoder
    cdef object state           # element codec state
    cdef uint32_t element_oid   # written into the array header


# -- _rows_c.pxi: row encoders -------------------------------------------------------

cdef class _Encoder:
    cdef object _columns        # tuple of names, or None
    cdef Py_ssize_t _ncolumns   # expected values per row, -1 for any
    cdef Py_ssize_t _rows       # rows encoded so far
    cdef str _format            # "text" | "csv" | "binary", for error messages

    cdef _setup(self, Py_ssize_t ncolumns, object columns)
    cdef object _column(self, Py_ssize_t index)
    cdef object _pg_type(self, Py_ssize_t index)
    cdef int _encode(self, WriteBuffer buf, object values, Py_ssize_t* failed) except -1
    cdef int _encode_row(self, WriteBuffer buf, object row) except -1


cdef class TextEncoder(_Encoder):
    cdef char _delimiter
    cdef str _delimiter_text
    cdef bytes _null
    cdef unsigned char _escape[256]  # byte -> the letter after the backslash, or 0


cdef class CsvEncoder(_Encoder):
    cdef char _delimiter
    cdef char _quote
    cdef bytes _null


cdef class BinaryEncoder(_Encoder):
    cdef bin_encode_fn* _encoders   # one per column, picked once
    cdef list _states               # per column: what its encoder needs, or None
    cdef tuple _types


# -- _rows_c.pxi: row decoders -------------------------------------------------------

cdef class _Decoder:
    cdef bytes _carry           # bytes of an incomplete row, kept for the next call
    cdef Py_ssize_t _rows       # rows decoded so far

    cdef bytes _take(self, object payloads)


cdef class TextDecoder(_Decoder):
    cdef char _delimiter
    cdef bytes _null

    cdef object _field(self, const char* p, Py_ssize_t n, Py_ssize_t column)


cdef class CsvDecoder(_Decoder):
    cdef unsigned char _delimiter
    cdef unsigned char _quote
    cdef bytes _null

    cdef Py_ssize_t _parse(self, const char* data, Py_ssize_t n, Py_ssize_t i,
                           list fields) except -2


cdef class BinaryDecoder(_Decoder):
    cdef bin_decode_fn* _decoders   # one per column, or NULL without types
    cdef list _states               # per column: what its decoder needs, or None
    cdef Py_ssize_t _ntypes         # len(types), or -1 without types
    cdef object _types
    cdef bint _header_done
    cdef bint _done

    cdef Py_ssize_t _header(self, bytes data) except -2
