# Arrow input: record batches encoded into binary COPY tuples (ArrowEncoder).
#
# Reads the Arrow C data interface straight from the producer's buffers
# (validity bitmaps, offsets, views, dictionaries) and writes each field
# into the batch buffer: no Python object per value.  A call sizes its rows
# first (an upper bound), reserves once, then encodes with the GIL released.
# Which kind of column each is comes from pgcopy_fast.columnar.intypes,
# shared with the pure twin; its constants are repeated below as C enums.

from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport int8_t, int64_t

from ._arrow_abi cimport ArrowArray, ArrowArrayStream, ArrowSchema

cdef extern from *:
    """
    typedef __int128 pgcf_int128;
    typedef unsigned __int128 pgcf_uint128;
    """
    ctypedef long long pgcf_int128
    ctypedef unsigned long long pgcf_uint128


cdef enum:
    K_BOOL = 1
    K_INT = 2
    K_FLOAT = 3
    K_STRING = 4
    K_BINARY = 5
    K_UUID = 6
    K_DATE32 = 7
    K_DATE64 = 8
    K_TIMESTAMP = 9
    K_TIME = 10
    K_DECIMAL = 11
    K_INTERVAL = 12
    K_DURATION = 13
    K_NULL = 14
    K_ENCODED = 15
    K_LIST = 16

cdef enum:
    S_I8 = 1
    S_U8 = 2
    S_I16 = 3
    S_U16 = 4
    S_I32 = 5
    S_U32 = 6
    S_I64 = 7
    S_U64 = 8
    S_F32 = 9
    S_F64 = 10

cdef enum:
    L_OFFSETS32 = 1
    L_OFFSETS64 = 2
    L_VIEWS = 3

cdef enum:
    E_NUL = 1
    E_RANGE = 2
    E_SUBMICRO = 3
    E_PARTIAL_DAY = 4

# Unix epoch (Arrow) to PostgreSQL's 2000-01-01, and the range of Python's
# date / datetime, which the row path has too: one range on every path.
cdef int64_t _EPOCH_DAYS = 10957
cdef int64_t _EPOCH_US = 10957LL * 86400000000LL
cdef int64_t _MIN_DAYS = -719162
cdef int64_t _MAX_DAYS = 2932896
cdef int64_t _MIN_US = -719162LL * 86400000000LL
cdef int64_t _MAX_US = 2932897LL * 86400000000LL - 1


cdef struct _Values:
    const uint8_t* valid        # validity bitmap, or NULL (no nulls)
    int64_t offset              # the array's own offset
    const char* data            # buffers[1]: values, offsets or views
    const char* chars           # buffers[2]: string bytes (offsets layouts)
    const void** buffers        # all buffers (views read their data buffers)


cdef struct _Col:
    int kind, src, dst, index, child
    _Col* elem                  # a LIST's elements (values: the child array)
    int64_t unit
    _Values values              # the values (a dictionary's, when index != 0)
    _Values indices             # a dictionary's indices
    const char* blob            # ENCODED: fields written by the row codecs
    Py_ssize_t blob_len
    Py_ssize_t blob_pos         # where the next row's field starts


cdef inline void _values_of(const ArrowArray* a, _Values* v) noexcept nogil:
    v.valid = <const uint8_t*>a.buffers[0] if a.n_buffers > 0 and a.null_count != 0 else NULL
    v.offset = a.offset
    v.data = <const char*>a.buffers[1] if a.n_buffers > 1 else NULL
    v.chars = <const char*>a.buffers[2] if a.n_buffers > 2 else NULL
    v.buffers = a.buffers


cdef inline bint _is_null(const _Values* v, int64_t i) noexcept nogil:
    # i: the physical index (offset applied)
    return v.valid != NULL and not ((v.valid[i >> 3] >> (i & 7)) & 1)


cdef inline int64_t _int_at(const char* data, int src, int64_t i) noexcept nogil:
    if src == S_I8:
        return (<const int8_t*>data)[i]
    if src == S_U8:
        return (<const uint8_t*>data)[i]
    if src == S_I16:
        return (<const int16_t*>data)[i]
    if src == S_U16:
        return (<const uint16_t*>data)[i]
    if src == S_I32:
        return (<const int32_t*>data)[i]
    if src == S_U32:
        return (<const uint32_t*>data)[i]
    return (<const int64_t*>data)[i]


cdef inline const char* _bytes_at(const _Values* v, int layout, int64_t i,
                                  int64_t* size) noexcept nogil:
    cdef const char* view
    cdef int32_t n
    if layout == L_OFFSETS32:
        size[0] = (<const int32_t*>v.data)[i + 1] - (<const int32_t*>v.data)[i]
        return v.chars + (<const int32_t*>v.data)[i]
    if layout == L_OFFSETS64:
        size[0] = (<const int64_t*>v.data)[i + 1] - (<const int64_t*>v.data)[i]
        return v.chars + (<const int64_t*>v.data)[i]
    # a view: length, then the bytes inline (up to 12) or prefix, buffer, offset
    view = v.data + 16 * i
    n = (<const int32_t*>view)[0]
    size[0] = n
    if n <= 12:
        return view + 4
    return (<const char*>v.buffers[2 + (<const int32_t*>view)[2]]) + (<const int32_t*>view)[3]


cdef inline int64_t _row_of(_Col* c, int64_t row, bint* null) noexcept nogil:
    # The physical index of row's value in c.values, or null.
    cdef int64_t i
    if c.index:
        i = c.indices.offset + row
        if _is_null(&c.indices, i):
            null[0] = True
            return 0
        i = c.values.offset + _int_at(c.indices.data, c.index, i)
    else:
        i = c.values.offset + row
    null[0] = _is_null(&c.values, i)
    return i


cdef inline Py_ssize_t _bound(_Col* c, int64_t row, Py_ssize_t* blob_pos) noexcept nogil:
    # An upper bound of the bytes row's field takes (length word included).
    cdef bint null = False
    cdef int64_t i, k, lo, hi, size = 0
    cdef int32_t n
    if c.kind == K_ENCODED:
        n = _get_i32(c.blob + blob_pos[0] + 2)
        blob_pos[0] += 6 + (n if n > 0 else 0)
        return 4 + (n if n > 0 else 0)
    if c.kind == K_NULL:
        return 4
    i = _row_of(c, row, &null)
    if null:
        return 4
    if c.kind == K_STRING or c.kind == K_BINARY:
        _bytes_at(&c.values, c.src, i, &size)
        return 5 + size
    if c.kind == K_DECIMAL:
        return 40
    if c.kind == K_LIST:
        size = 24
        lo, hi = _list_start(c, i), _list_end(c, i)
        for k in range(lo, hi):
            size += _bound(c.elem, k, blob_pos)
        return size
    return 20  # every fixed-width kind: an interval's 16 bytes at most


cdef inline int64_t _list_start(const _Col* c, int64_t i) noexcept nogil:
    if c.src == L_OFFSETS32:
        return (<const int32_t*>c.values.data)[i]
    return (<const int64_t*>c.values.data)[i]


cdef inline int64_t _list_end(const _Col* c, int64_t i) noexcept nogil:
    return _list_start(c, i + 1)


cdef Py_ssize_t _put_list(_Col* c, int64_t i, char* p, bint truncate, bint infinity,
                          int* err, int64_t* bad) noexcept nogil:
    # A 1-D array: ndim, has-null flag, element OID, size and lower bound
    # (ndim 0 and no dimension for an empty list, as the row codec writes it)
    cdef int64_t k, start = _list_start(c, i), end = _list_end(c, i)
    cdef Py_ssize_t size, n = 16
    cdef bint null, has_null = False
    _put_u32(p + 4, 1 if end > start else 0)
    _put_u32(p + 12, <uint32_t>c.unit)
    if end > start:
        _put_u32(p + 16, <uint32_t>(end - start))
        _put_u32(p + 20, 1)
        n = 24
    for k in range(start, end):
        null = False
        _row_of(c.elem, k, &null)
        has_null = has_null or null
        size = _put_field(c.elem, k, p + n, truncate, infinity, err, bad)
        if err[0]:
            return 0
        n += size
    _put_u32(p + 8, 1 if has_null else 0)
    _put_u32(p, <uint32_t>(n - 4))
    return n


cdef inline void _put_i16(char* p, int v) noexcept nogil:
    p[0] = <char>(v >> 8)
    p[1] = <char>v


cdef inline int64_t _to_us(int64_t v, int64_t unit, bint truncate, int* err) noexcept nogil:
    # unit > 0: a multiplier; < 0: a divisor (nanoseconds), floor when truncating
    cdef int64_t q, r
    if unit > 0:
        if unit > 1 and (v > 9223372036854775807LL // unit or v < -9223372036854775807LL // unit):
            err[0] = E_RANGE
            return 0
        return v * unit
    q = v // (-unit)
    r = v % (-unit)
    if r != 0:
        if r < 0:
            q -= 1  # C division truncates toward zero; the floor is wanted
        if not truncate:
            err[0] = E_SUBMICRO
    return q


cdef inline int64_t _floor4(int64_t e) noexcept nogil:
    return e // 4 - (1 if e % 4 < 0 else 0)


cdef Py_ssize_t _put_decimal(char* p, const char* raw, int scale) noexcept nogil:
    # decimal128 (two's complement, native order) -> numeric's base-10000
    # groups: digit k of |unscaled| (least significant first) has exponent
    # k - scale, and group g holds exponents 4g .. 4g+3.  The display scale
    # is the decimal's scale, as str(Decimal) of the same value gives it.
    cdef pgcf_int128 v
    cdef pgcf_uint128 u
    cdef char digs[48]
    cdef int nd = 0, k, e, top, low, g, count
    cdef int group
    cdef bint negative
    memcpy(&v, raw, 16)
    negative = v < 0
    u = <pgcf_uint128>(-v) if negative else <pgcf_uint128>v
    while u:
        digs[nd] = <char>(u % 10)
        u //= 10
        nd += 1
    top = <int>_floor4(nd - 1 - scale) if nd else 0
    low = <int>_floor4(-scale)
    # skip zero groups at both ends
    while nd and top >= low:
        group = 0
        for k in range(4):
            e = 4 * top + k + scale
            if 0 <= e < nd:
                group += digs[e]
        if group:
            break
        top -= 1
    while nd and low <= top:
        group = 0
        for k in range(4):
            e = 4 * low + k + scale
            if 0 <= e < nd:
                group += digs[e]
        if group:
            break
        low += 1
    count = top - low + 1 if nd else 0
    _put_u32(p, <uint32_t>(8 + 2 * count))
    _put_u16(p + 4, <uint16_t>count)
    _put_u16(p + 6, <uint16_t><int16_t>(top if count else 0))
    _put_u16(p + 8, _NUMERIC_NEG if negative else _NUMERIC_POS)
    _put_u16(p + 10, <uint16_t>(scale if scale > 0 else 0))
    p += 12
    g = top
    while count and g >= low:
        group = 0
        for k in range(3, -1, -1):
            e = 4 * g + k + scale
            group = group * 10 + (digs[e] if 0 <= e < nd else 0)
        _put_u16(p, <uint16_t>group)
        p += 2
        g -= 1
    return 12 + 2 * count


cdef Py_ssize_t _put_field(_Col* c, int64_t row, char* p, bint truncate, bint infinity,
                           int* err, int64_t* bad) noexcept nogil:
    # Writes row's field (length word first); returns its size, or sets err.
    cdef bint null = False
    cdef int64_t i, v, size = 0
    cdef int32_t n
    cdef const char* s
    cdef const char* raw
    cdef float f4
    cdef double f8
    if c.kind == K_ENCODED:
        n = _get_i32(c.blob + c.blob_pos + 2)
        size = 4 + (n if n > 0 else 0)
        memcpy(p, c.blob + c.blob_pos + 2, size)
        c.blob_pos += 2 + size
        return size
    if c.kind == K_NULL:
        _put_u32(p, 0xFFFFFFFF)
        return 4
    i = _row_of(c, row, &null)
    if null:
        _put_u32(p, 0xFFFFFFFF)
        return 4
    if c.kind == K_STRING:
        s = _bytes_at(&c.values, c.src, i, &size)
        if memchr(s, 0, size) != NULL:
            err[0] = E_NUL
            return 0
        if c.dst == 1:  # jsonb: its version byte first
            _put_u32(p, <uint32_t>(size + 1))
            p[4] = 1
            memcpy(p + 5, s, size)
            return 5 + size
        _put_u32(p, <uint32_t>size)
        memcpy(p + 4, s, size)
        return 4 + size
    if c.kind == K_BINARY:
        s = _bytes_at(&c.values, c.src, i, &size)
        _put_u32(p, <uint32_t>size)
        memcpy(p + 4, s, size)
        return 4 + size
    if c.kind == K_INT:
        if c.src == S_U64:
            v = <int64_t>(<const uint64_t*>c.values.data)[i]
            if v < 0:  # beyond int64: shown as unsigned by the caller
                bad[0] = v
                err[0] = E_RANGE
                return 0
        else:
            v = _int_at(c.values.data, c.src, i)
        bad[0] = v
        if c.dst == 2:
            if v < -32768 or v > 32767:
                err[0] = E_RANGE
                return 0
            _put_u32(p, 2)
            _put_u16(p + 4, <uint16_t>v)
            return 6
        if c.dst == 4 or c.dst == -4:
            if (c.dst == 4 and (v < -2147483648LL or v > 2147483647LL)) or \
                    (c.dst == -4 and (v < 0 or v > 4294967295LL)):
                err[0] = E_RANGE
                return 0
            _put_u32(p, 4)
            _put_u32(p + 4, <uint32_t>v)
            return 8
        _put_u32(p, 8)
        _put_u64(p + 4, <uint64_t>v)
        return 12
    if c.kind == K_BOOL:
        _put_u32(p, 1)
        p[4] = (<const uint8_t*>c.values.data)[i >> 3] >> (i & 7) & 1
        return 5
    if c.kind == K_FLOAT:
        if c.src == S_F32:
            f4 = (<const float*>c.values.data)[i]
            if c.dst == 4:
                memcpy(&n, &f4, 4)
                _put_u32(p, 4)
                _put_u32(p + 4, <uint32_t>n)
                return 8
            f8 = f4
        else:
            f8 = (<const double*>c.values.data)[i]
        _put_u32(p, 8)
        memcpy(&v, &f8, 8)
        _put_u64(p + 4, <uint64_t>v)
        return 12
    if c.kind == K_UUID:
        _put_u32(p, 16)
        memcpy(p + 4, c.values.data + 16 * i, 16)
        return 20
    if c.kind == K_DATE32 or c.kind == K_DATE64:
        if c.kind == K_DATE32:
            v = (<const int32_t*>c.values.data)[i]
        else:
            v = (<const int64_t*>c.values.data)[i]
            bad[0] = v
            if v % 86400000 != 0:
                err[0] = E_PARTIAL_DAY
                return 0
            v = v // 86400000
        bad[0] = v
        if v < _MIN_DAYS or v > _MAX_DAYS:
            err[0] = E_RANGE
            return 0
        _put_u32(p, 4)
        if infinity and v == _MAX_DAYS:
            _put_u32(p + 4, <uint32_t>_DATE_INFINITY)
        elif infinity and v == _MIN_DAYS:
            _put_u32(p + 4, <uint32_t>_DATE_NEG_INFINITY)
        else:
            _put_u32(p + 4, <uint32_t>(v - _EPOCH_DAYS))
        return 8
    if c.kind == K_TIMESTAMP:
        v = (<const int64_t*>c.values.data)[i]
        bad[0] = v
        v = _to_us(v, c.unit, truncate, err)
        if err[0]:
            return 0
        if v < _MIN_US or v > _MAX_US:
            err[0] = E_RANGE
            return 0
        _put_u32(p, 8)
        if infinity and v == _MAX_US:
            _put_u64(p + 4, <uint64_t>_TS_INFINITY)
        elif infinity and v == _MIN_US:
            _put_u64(p + 4, <uint64_t>_TS_NEG_INFINITY)
        else:
            _put_u64(p + 4, <uint64_t>(v - _EPOCH_US))
        return 12
    if c.kind == K_TIME:
        if c.src == 4:
            v = (<const int32_t*>c.values.data)[i]
        else:
            v = (<const int64_t*>c.values.data)[i]
        bad[0] = v
        v = _to_us(v, c.unit, truncate, err)
        if err[0]:
            return 0
        if v < 0 or v >= 86400000000LL:
            err[0] = E_RANGE
            return 0
        _put_u32(p, 8)
        _put_u64(p + 4, <uint64_t>v)
        return 12
    if c.kind == K_DURATION:
        v = (<const int64_t*>c.values.data)[i]
        bad[0] = v
        v = _to_us(v, c.unit, truncate, err)
        if err[0]:
            return 0
        # as a timedelta holds it: whole days, and the rest (non-negative)
        n = <int32_t>(v // 86400000000LL - (1 if v % 86400000000LL < 0 else 0))
        _put_u32(p, 16)
        _put_u64(p + 4, <uint64_t>(v - <int64_t>n * 86400000000LL))
        _put_u32(p + 12, <uint32_t>n)
        _put_u32(p + 16, 0)
        return 20
    if c.kind == K_INTERVAL:
        raw = c.values.data + 16 * i
        v = (<const int64_t*>(raw + 8))[0]
        bad[0] = v
        v = _to_us(v, -1000, truncate, err)
        if err[0]:
            return 0
        _put_u32(p, 16)
        _put_u64(p + 4, <uint64_t>v)
        _put_u32(p + 12, <uint32_t>(<const int32_t*>(raw + 4))[0])
        _put_u32(p + 16, <uint32_t>(<const int32_t*>raw)[0])
        return 20
    if c.kind == K_DECIMAL:
        return _put_decimal(p, c.values.data + 16 * i, <int>c.unit)
    if c.kind == K_LIST:
        return _put_list(c, i, p, truncate, infinity, err, bad)
    err[0] = E_RANGE
    return 0


cdef int _set_col(_Col* c, tuple plan) except -1:
    kind, child, src, dst, unit, index, _ = plan
    c.kind = kind
    c.src = src
    c.dst = dst
    c.unit = unit
    c.index = index
    c.child = child
    return 0


cdef class ArrowEncoder:
    """Encodes Arrow record batches into binary COPY tuples.

    ``plans`` has one tuple per target column, in the table's column order:
    ``(kind, child, src, dst, unit, index)`` as
    :class:`pgcopy_fast.columnar.intypes.Plan` gives them.  ``fail`` is
    called as ``fail(column, row, code, raw)`` for a value that cannot be
    stored and must raise.
    """

    cdef _Col* _cols
    cdef _Col* _elems           # one per column, used by LIST columns
    cdef Py_ssize_t _n
    cdef object _fail
    cdef bint _truncate
    cdef bint _infinity

    def __cinit__(self, *args, **kwargs):
        self._cols = NULL
        self._elems = NULL
        self._n = 0

    def __dealloc__(self):
        PyMem_Free(self._cols)
        PyMem_Free(self._elems)

    def __init__(self, plans, fail, truncate=False, infinity=False) -> None:
        cdef Py_ssize_t j
        plans = list(plans)
        self._cols = <_Col*>PyMem_Malloc(max(1, len(plans)) * sizeof(_Col))
        if self._cols == NULL:
            raise MemoryError()
        memset(self._cols, 0, max(1, len(plans)) * sizeof(_Col))
        self._elems = <_Col*>PyMem_Malloc(max(1, len(plans)) * sizeof(_Col))
        if self._elems == NULL:
            raise MemoryError()
        memset(self._elems, 0, max(1, len(plans)) * sizeof(_Col))
        self._n = len(plans)
        for j, plan in enumerate(plans):
            _set_col(&self._cols[j], tuple(plan))
            if plan[6] is not None:
                _set_col(&self._elems[j], tuple(plan[6]))
                self._cols[j].elem = &self._elems[j]
        self._fail = fail
        self._truncate = bool(truncate)
        self._infinity = bool(infinity)

    def encode(self, WriteBuffer buf, schema, array, Py_ssize_t start,
               Py_ssize_t threshold, encoded=None) -> int:
        """Encode rows of a batch from ``start`` until ``buf`` passes ``threshold``.

        ``schema`` and ``array`` are the batch's ``arrow_schema`` and
        ``arrow_array`` capsules (a struct array), left to their owner;
        ``encoded`` has, for each ENCODED column, the batch's fields
        as the row codecs wrote them (one-column tuples), else None.
        Returns the next row to encode (the batch's length when done).
        """
        cdef const ArrowArray* batch
        cdef const ArrowArray* child
        cdef _Col* c
        cdef Py_ssize_t j, need = 0, row_size, written = 0, size
        cdef int64_t row, end, length, bad = 0
        cdef int err = 0, failed_col = -1
        cdef char* p
        cdef char* row_start
        cdef list blobs = [None] * self._n
        cdef Py_ssize_t* sizing = NULL
        if not PyCapsule_IsValid(array, b"arrow_array"):
            raise TypeError("ArrowEncoder.encode needs an 'arrow_array' capsule")
        batch = <const ArrowArray*>PyCapsule_GetPointer(array, b"arrow_array")
        length = batch.length
        if start >= length:
            return length
        for j in range(self._n):
            c = &self._cols[j]
            if c.kind == K_ENCODED:
                blob = encoded[j]
                blobs[j] = blob
                c.blob = PyBytes_AS_STRING(blob)
                c.blob_len = PyBytes_GET_SIZE(blob)
                if start == 0:
                    c.blob_pos = 0
                continue
            child = batch.children[c.child]
            if c.index:
                _values_of(child, &c.indices)
                _values_of(child.dictionary, &c.values)
            else:
                _values_of(child, &c.values)
            if c.kind == K_LIST:
                _values_of(child.children[0], &c.elem.values)
            c.indices.offset += batch.offset
            if not c.index:
                c.values.offset += batch.offset
        sizing = <Py_ssize_t*>PyMem_Malloc(max(1, self._n) * sizeof(Py_ssize_t))
        if sizing == NULL:
            raise MemoryError()
        try:
            with nogil:
                for j in range(self._n):
                    sizing[j] = self._cols[j].blob_pos
                row = start
                while row < length:
                    row_size = 2
                    for j in range(self._n):
                        row_size += _bound(&self._cols[j], row, &sizing[j])
                    need += row_size
                    row += 1
                    if buf._len + need >= threshold:
                        break
                end = row
            buf._reserve(need)
            with nogil:
                p = buf._data + buf._len
                row = start
                while row < end:
                    row_start = p
                    _put_i16(p, <int>self._n)
                    p += 2
                    for j in range(self._n):
                        size = _put_field(&self._cols[j], row, p, self._truncate,
                                          self._infinity, &err, &bad)
                        if err:
                            failed_col = j
                            break
                        p += size
                    if err:
                        p = row_start
                        break
                    row += 1
                buf._len = p - buf._data
        finally:
            PyMem_Free(sizing)
        if err:
            raw = bad
            if self._cols[failed_col].kind == K_INT and self._cols[failed_col].src == S_U64 \
                    and bad < 0:
                raw = bad + (1 << 64)
            self._fail(failed_col, row, err, raw)
            raise AssertionError("ArrowEncoder's fail callback must raise")
        return end


cdef class ArrowStreamReader:
    """Reads an ``arrow_array_stream`` capsule batch by batch, without pyarrow.

    The stream is moved out of the capsule (the producer's capsule no
    longer owns it) and released by :meth:`close` or when the reader goes.
    """

    cdef ArrowArrayStream _stream
    cdef bint _open

    def __cinit__(self, *args, **kwargs):
        memset(&self._stream, 0, sizeof(ArrowArrayStream))
        self._open = False

    def __init__(self, stream) -> None:
        cdef ArrowArrayStream* src
        if not PyCapsule_IsValid(stream, b"arrow_array_stream"):
            raise TypeError("ArrowStreamReader needs an 'arrow_array_stream' capsule")
        src = <ArrowArrayStream*>PyCapsule_GetPointer(stream, b"arrow_array_stream")
        if src.release == NULL:
            raise InterfaceError("the Arrow stream was consumed already")
        memcpy(&self._stream, src, sizeof(ArrowArrayStream))
        src.release = NULL  # moved
        self._open = True

    def __dealloc__(self):
        if self._open and self._stream.release != NULL:
            self._stream.release(&self._stream)

    cdef _error(self, int code, str what):
        cdef const char* message = NULL
        if self._stream.get_last_error != NULL:
            message = self._stream.get_last_error(&self._stream)
        detail = message.decode("utf-8", "replace") if message != NULL else f"error {code}"
        raise InterfaceError(f"the Arrow stream failed {what}: {detail}")

    def schema(self) -> object:
        """The stream's schema, an ``arrow_schema`` capsule."""
        cdef ArrowSchema* out
        cdef int code
        if not self._open:
            raise InterfaceError("the Arrow stream is closed")
        out = <ArrowSchema*>calloc(1, sizeof(ArrowSchema))
        if out == NULL:
            raise MemoryError()
        with nogil:
            code = self._stream.get_schema(&self._stream, out)
        if code != 0:
            free(out)
            self._error(code, "giving its schema")
        return PyCapsule_New(out, "arrow_schema", _ao_schema_capsule_free)

    def next(self) -> object:
        """The next batch, an ``arrow_array`` capsule, or None at the end."""
        cdef ArrowArray* out
        cdef int code
        if not self._open:
            return None
        out = <ArrowArray*>calloc(1, sizeof(ArrowArray))
        if out == NULL:
            raise MemoryError()
        with nogil:
            code = self._stream.get_next(&self._stream, out)
        if code != 0:
            free(out)
            self._error(code, "giving a batch")
        if out.release == NULL:  # the end of the stream
            free(out)
            self.close()
            return None
        return PyCapsule_New(out, "arrow_array", _ao_array_capsule_free)

    def close(self) -> None:
        """Release the stream (its producer's resources)."""
        if self._open:
            self._open = False
            if self._stream.release != NULL:
                self._stream.release(&self._stream)
