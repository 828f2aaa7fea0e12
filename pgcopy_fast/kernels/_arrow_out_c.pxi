# Arrow output of the compiled twin (included by _core_c.pyx): binary COPY
# tuples decoded straight into Arrow buffers, exported through the Arrow C
# data interface.  No Python object per value and no pyarrow: each column
# has a builder of plain malloc'd buffers (validity bitmap, offsets, data,
# a child builder for lists) filled by the per-batch loop without the GIL;
# a finished batch hands its buffers to an ArrowArray whose release
# callback frees them.  Same types, values and messages as _arrow_out_py.py;
# the Arrow type of each column is chosen once, in columnar/outtypes.py.

from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New
from cpython.ref cimport PyObject, Py_DECREF, Py_INCREF
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset, strlen
from libc.stdio cimport snprintf

from ._arrow_abi cimport ArrowArray, ArrowArrayStream, ArrowSchema

import struct as _ao_struct
import sys as _ao_sys

from ..columnar.outtypes import out_types as _ao_out_types
from ..errors import DecodeError as _AoDecodeError

cdef extern from *:
    """
    typedef __int128 _ao_i128;
    typedef unsigned __int128 _ao_u128;
    """
    ctypedef long long _ao_i128
    ctypedef unsigned long long _ao_u128

cdef extern from "errno.h":
    int EIO
    int ENOMEM
    int EINVAL

# decoder kinds (outtypes.OutType.kind)
cdef enum:
    _AK_BOOL = 1
    _AK_INT2
    _AK_INT4
    _AK_INT8
    _AK_OID
    _AK_FLOAT4
    _AK_FLOAT8
    _AK_DECIMAL
    _AK_NUMTEXT
    _AK_TEXT
    _AK_CHAR
    _AK_BYTEA
    _AK_DATE
    _AK_TIME
    _AK_TIMETZ
    _AK_TS
    _AK_TSTZ
    _AK_INTERVAL
    _AK_UUID
    _AK_JSON
    _AK_JSONB
    _AK_INET
    _AK_CIDR
    _AK_MACADDR
    _AK_LIST

_AO_KINDS = {
    "bool": _AK_BOOL, "int2": _AK_INT2, "int4": _AK_INT4, "int8": _AK_INT8,
    "oid": _AK_OID, "float4": _AK_FLOAT4, "float8": _AK_FLOAT8,
    "decimal": _AK_DECIMAL, "numeric_text": _AK_NUMTEXT, "text": _AK_TEXT,
    "char": _AK_CHAR, "bytea": _AK_BYTEA, "date": _AK_DATE, "time": _AK_TIME,
    "timetz": _AK_TIMETZ, "timestamp": _AK_TS, "timestamptz": _AK_TSTZ,
    "interval": _AK_INTERVAL, "uuid": _AK_UUID, "json": _AK_JSON,
    "jsonb": _AK_JSONB, "inet": _AK_INET, "cidr": _AK_CIDR,
    "macaddr": _AK_MACADDR, "list": _AK_LIST,
}

# The epoch shift (2000-01-01 to 1970-01-01) and the Python min / max that
# CodecOptions(infinity=True) maps infinite values to, as on the row path.
cdef int32_t _AO_EPOCH_DAYS = 10957
cdef int64_t _AO_EPOCH_US = 946684800000000LL
cdef int32_t _AO_DATE_MAX = 2932896      # 9999-12-31
cdef int32_t _AO_DATE_MIN = -719162      # 0001-01-01
cdef int64_t _AO_TS_MAX = 253402300799999999LL   # 9999-12-31 23:59:59.999999
cdef int64_t _AO_TS_MIN = -62135596800000000LL   # 0001-01-01 00:00:00
cdef int64_t _AO_INT64_MAX = 0x7FFFFFFFFFFFFFFFLL
# A batch is cut before its COPY bytes pass this, so that no text column's
# 32-bit offsets can overflow (text is at most ~2.2x its binary form).
cdef int64_t _AO_BATCH_BYTES = 0x7FFFFFFF // 3
cdef int64_t _AO_ERR_LEN = 512

cdef _ao_u128 _AO_POW10[40]


cdef int _ao_init_pow10() except -1:
    cdef int i
    _AO_POW10[0] = 1
    for i in range(1, 40):
        _AO_POW10[i] = _AO_POW10[i - 1] * 10
    return 0


_ao_init_pow10()


# -- growable buffers ------------------------------------------------------------

cdef struct _AoBuf:
    char* data
    int64_t len
    int64_t cap


cdef int _ao_buf_init(_AoBuf* b) noexcept nogil:
    # Never NULL, even when empty: consumers may read a zero-length buffer.
    b.data = <char*>malloc(64)
    b.len = 0
    b.cap = 64
    return 0 if b.data != NULL else -1


cdef inline int _ao_reserve(_AoBuf* b, int64_t extra) noexcept nogil:
    cdef int64_t need = b.len + extra
    cdef int64_t cap
    cdef char* p
    if need <= b.cap:
        return 0
    cap = b.cap * 2
    if cap < need:
        cap = need
    p = <char*>realloc(b.data, cap)
    if p == NULL:
        return -1
    b.data = p
    b.cap = cap
    return 0


cdef inline int _ao_put(_AoBuf* b, const void* src, int64_t n) noexcept nogil:
    if _ao_reserve(b, n) < 0:
        return -1
    memcpy(b.data + b.len, src, n)
    b.len += n
    return 0


# -- column builders -------------------------------------------------------------

cdef struct _AoCol:
    int kind
    int width          # bytes per value of a fixed-width column, else 0
    int precision
    int scale
    int infinity       # CodecOptions.infinity
    int64_t length
    int64_t null_count
    _AoBuf valid       # validity bitmap
    _AoBuf data        # values (bool: a bitmap), or the bytes of text / binary
    _AoBuf offsets     # int32 offsets of text / binary / list
    _AoCol* child      # list element builder
    char pg_type[64]   # for messages


cdef int _ao_col_reset(_AoCol* c) noexcept nogil:
    cdef int32_t zero = 0
    c.length = 0
    c.null_count = 0
    if _ao_buf_init(&c.valid) < 0 or _ao_buf_init(&c.data) < 0:
        return -1
    if _ao_buf_init(&c.offsets) < 0:
        return -1
    if c.width == 0 and c.kind != _AK_BOOL:
        _ao_put(&c.offsets, &zero, 4)
    if c.child != NULL:
        return _ao_col_reset(c.child)
    return 0


cdef void _ao_col_free(_AoCol* c) noexcept nogil:
    # Frees the builder's buffers (and its child's), not the struct.
    free(c.valid.data)
    free(c.data.data)
    free(c.offsets.data)
    c.valid.data = NULL
    c.data.data = NULL
    c.offsets.data = NULL
    if c.child != NULL:
        _ao_col_free(c.child)
        free(c.child)
        c.child = NULL


cdef inline int _ao_bit(_AoBuf* b, int64_t i, bint value) noexcept nogil:
    # Sets bit i of a bitmap growing one bit at a time (new bytes are zero).
    cdef int64_t byte = i >> 3
    if byte >= b.len:
        if _ao_reserve(b, 1) < 0:
            return -1
        b.data[b.len] = 0
        b.len += 1
    if value:
        b.data[byte] = <char>(<uint8_t>b.data[byte] | (1 << (i & 7)))
    return 0


cdef inline int _ao_end_var(_AoCol* c) noexcept nogil:
    # Closes a text / binary value: its end offset (a batch is cut before
    # 2 GiB, so this only trips on one enormous row).
    cdef int32_t end
    if c.data.len > 0x7FFFFFFF:
        return -1
    end = <int32_t>c.data.len
    return _ao_put(&c.offsets, &end, 4)


cdef int _ao_null(_AoCol* c) noexcept nogil:
    cdef int32_t end
    if _ao_bit(&c.valid, c.length, 0) < 0:
        return -1
    if c.kind == _AK_BOOL:
        if _ao_bit(&c.data, c.length, 0) < 0:
            return -1
    elif c.width:
        if _ao_reserve(&c.data, c.width) < 0:
            return -1
        memset(c.data.data + c.data.len, 0, c.width)
        c.data.len += c.width
    elif c.kind == _AK_LIST:
        end = <int32_t>c.child.length
        if _ao_put(&c.offsets, &end, 4) < 0:
            return -1
    elif _ao_end_var(c) < 0:
        return -1
    c.length += 1
    c.null_count += 1
    return 0


# -- value decoders: 0, or -1 with a message in err ---------------------------------

cdef inline int _ao_fail(char* err, const char* msg) noexcept nogil:
    snprintf(err, _AO_ERR_LEN, "%s", msg)
    return -1


cdef inline int _ao_oom(char* err) noexcept nogil:
    return _ao_fail(err, "out of memory")


cdef int _ao_size(char* err, const char* name, int size, int32_t n) noexcept nogil:
    if n == size:
        return 0
    if size == 1:
        snprintf(err, _AO_ERR_LEN, "%s has 1 byte, got %d", name, <int>n)
    else:
        snprintf(err, _AO_ERR_LEN, "%s has %d bytes, got %d", name, size, <int>n)
    return -1


cdef int _ao_utf8(const uint8_t* s, int64_t n) noexcept nogil:
    # Strict UTF-8 (no overlong forms, surrogates or code points past
    # U+10FFFF), as Python's decoder: Arrow strings must be valid UTF-8.
    cdef int64_t i = 0
    cdef uint64_t word
    cdef uint8_t c, c1
    cdef int k, j
    while i < n:
        while i + 8 <= n:  # eight ASCII bytes at a time
            memcpy(&word, s + i, 8)
            if word & 0x8080808080808080ULL:
                break
            i += 8
        if i >= n:
            break
        c = s[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2:
            return -1
        if c < 0xE0:
            k = 1
        elif c < 0xF0:
            k = 2
        elif c < 0xF5:
            k = 3
        else:
            return -1
        if i + k >= n:
            return -1
        c1 = s[i + 1]
        if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 > 0x9F):
            return -1
        if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 > 0x8F):
            return -1
        for j in range(1, k + 1):
            if (s[i + j] & 0xC0) != 0x80:
                return -1
        i += k + 1
    return 0


cdef inline int _ao_text_put(_AoCol* c, const char* p, int32_t n, char* err) noexcept nogil:
    if _ao_utf8(<const uint8_t*>p, n) < 0:
        return _ao_fail(err, "invalid UTF-8")
    if _ao_put(&c.data, p, n) < 0:
        return _ao_oom(err)
    return 0


cdef inline int _ao_str(_AoBuf* b, const char* s) noexcept nogil:
    return _ao_put(b, s, strlen(s))


cdef int _ao_numeric_head(const char* p, int32_t n, int* ndigits, int* weight,
                          int* sign, int* dscale, char* err) noexcept nogil:
    cdef int i, g
    if n < 8:
        snprintf(err, _AO_ERR_LEN, "numeric has at least 8 bytes, got %d", <int>n)
        return -1
    ndigits[0] = <uint16_t>_get_i16(p)
    weight[0] = _get_i16(p + 2)
    sign[0] = <uint16_t>_get_i16(p + 4)
    dscale[0] = <uint16_t>_get_i16(p + 6)
    if n != 8 + 2 * ndigits[0]:
        snprintf(err, _AO_ERR_LEN, "numeric with %d digits has %d bytes",
                 ndigits[0], <int>n)
        return -1
    if sign[0] == 0xC000 or sign[0] == 0xD000 or sign[0] == 0xF000:
        return 0
    if (sign[0] != 0 and sign[0] != 0x4000) or dscale[0] > 0x3FFF:
        snprintf(err, _AO_ERR_LEN, "invalid numeric sign 0x%04x or scale %d",
                 sign[0], dscale[0])
        return -1
    for i in range(ndigits[0]):
        g = <uint16_t>_get_i16(p + 8 + 2 * i)
        if g > 9999:
            return _ao_fail(err, "numeric digit out of range")
    return 0


cdef const char* _ao_special(int sign) noexcept nogil:
    if sign == 0xC000:
        return "NaN"
    if sign == 0xD000:
        return "Infinity"
    if sign == 0xF000:
        return "-Infinity"
    return NULL


cdef int _ao_decimal(_AoCol* c, const char* p, int32_t n, char* err) noexcept nogil:
    # value * 10^scale as an exact int128, digit by digit: every digit's
    # decimal exponent is known, and digits below the scale must be zero.
    cdef int ndigits, weight, sign, dscale, i, j, g, d, e, e_last = 0
    cdef int seen = 0
    cdef _ao_u128 acc = 0
    cdef _ao_u128 limit = _AO_POW10[c.precision]
    cdef _ao_i128 v
    cdef const char* special
    if _ao_numeric_head(p, n, &ndigits, &weight, &sign, &dscale, err) < 0:
        return -1
    special = _ao_special(sign)
    if special != NULL:
        snprintf(err, _AO_ERR_LEN, "%s has no decimal128(%d,%d) value",
                 special, c.precision, c.scale)
        return -1
    for i in range(ndigits):
        g = <uint16_t>_get_i16(p + 8 + 2 * i)
        for j in range(4):
            d = (g // (1000 if j == 0 else 100 if j == 1 else 10 if j == 2 else 1)) % 10
            e = 4 * (weight - i) + 3 - j + c.scale
            if e < 0:
                if d != 0:
                    snprintf(err, _AO_ERR_LEN,
                             "value has more than %d digits after the point",
                             c.scale)
                    return -1
                continue
            acc = acc * 10 + <_ao_u128>d
            e_last = e
            seen = 1
            if acc >= limit:
                snprintf(err, _AO_ERR_LEN, "value does not fit decimal128(%d,%d)",
                         c.precision, c.scale)
                return -1
    if seen and acc != 0 and e_last > 0:
        if e_last > 38 or acc > (limit - 1) // _AO_POW10[e_last]:
            snprintf(err, _AO_ERR_LEN, "value does not fit decimal128(%d,%d)",
                     c.precision, c.scale)
            return -1
        acc = acc * _AO_POW10[e_last]
    v = <_ao_i128>acc
    if sign == 0x4000:
        v = -v
    if _ao_put(&c.data, &v, 16) < 0:
        return _ao_oom(err)
    return 0


cdef int _ao_numeric_text(_AoCol* c, const char* p, int32_t n, char* err) noexcept nogil:
    # numeric_out's text: the integer groups (the first without leading
    # zeros), then exactly dscale digits after the point.
    cdef int ndigits, weight, sign, dscale, i, g, k, j
    cdef char tmp[8]
    cdef const char* special
    cdef _AoBuf* b = &c.data
    if _ao_numeric_head(p, n, &ndigits, &weight, &sign, &dscale, err) < 0:
        return -1
    special = _ao_special(sign)
    if special != NULL:
        if _ao_str(b, special) < 0:
            return _ao_oom(err)
        return 0
    if _ao_reserve(b, 4 * (weight + 2 if weight >= 0 else 1) + dscale + 8) < 0:
        return _ao_oom(err)
    if sign == 0x4000:
        b.data[b.len] = b'-'
        b.len += 1
    if weight < 0:
        b.data[b.len] = b'0'
        b.len += 1
    else:
        for i in range(weight + 1):
            g = <uint16_t>_get_i16(p + 8 + 2 * i) if i < ndigits else 0
            if i == 0:
                k = snprintf(tmp, 8, "%d", g)
            else:
                k = snprintf(tmp, 8, "%04d", g)
            memcpy(b.data + b.len, tmp, k)
            b.len += k
    if dscale > 0:
        b.data[b.len] = b'.'
        b.len += 1
        for i in range(dscale):
            k = weight + 1 + i // 4
            g = <uint16_t>_get_i16(p + 8 + 2 * k) if 0 <= k < ndigits else 0
            j = i % 4
            b.data[b.len] = <char>(48 + (g // (1000 if j == 0 else 100 if j == 1 else 10 if j == 2 else 1)) % 10)
            b.len += 1
    return 0


cdef int _ao_inet(_AoCol* c, const char* p, int32_t n, bint cidr, char* err) noexcept nogil:
    # network_out's text: IPv4 as four octets, IPv6 as inet_net_ntop writes
    # it (the longest run of two or more zero words as ::, an embedded IPv4
    # tail dotted); /bits unless it is the full width (always for cidr).
    cdef const uint8_t* u = <const uint8_t*>p
    cdef int family, bits, size, width, i, best_base, best_len, cur_base, cur_len
    cdef unsigned int words[8]
    cdef char tmp[80]
    cdef int k = 0
    if n < 4:
        snprintf(err, _AO_ERR_LEN, "inet has at least 4 bytes, got %d", <int>n)
        return -1
    family = u[0]
    bits = u[1]
    size = u[3]
    width = 4 if family == 2 else 16 if family == 3 else 0
    if width == 0 or size != width or n != 4 + width or bits > width * 8:
        return _ao_fail(err, "invalid inet value")
    if width == 4:
        k = snprintf(tmp, 80, "%d.%d.%d.%d", u[4], u[5], u[6], u[7])
    else:
        for i in range(8):
            words[i] = (<unsigned int>u[4 + 2 * i] << 8) | u[5 + 2 * i]
        best_base = -1
        best_len = 0
        cur_base = -1
        cur_len = 0
        for i in range(8):
            if words[i] == 0:
                if cur_base == -1:
                    cur_base = i
                    cur_len = 1
                else:
                    cur_len += 1
            elif cur_base != -1:
                if best_base == -1 or cur_len > best_len:
                    best_base = cur_base
                    best_len = cur_len
                cur_base = -1
        if cur_base != -1 and (best_base == -1 or cur_len > best_len):
            best_base = cur_base
            best_len = cur_len
        if best_base != -1 and best_len < 2:
            best_base = -1
        i = 0
        while i < 8:
            if best_base != -1 and best_base <= i < best_base + best_len:
                if i == best_base:
                    tmp[k] = b':'
                    k += 1
                i += 1
                continue
            if i != 0:
                tmp[k] = b':'
                k += 1
            if i == 6 and best_base == 0 and (
                    best_len == 6 or (best_len == 7 and words[7] != 1)
                    or (best_len == 5 and words[5] == 0xFFFF)):
                k += snprintf(tmp + k, 80 - k, "%d.%d.%d.%d", u[16], u[17], u[18], u[19])
                break
            k += snprintf(tmp + k, 80 - k, "%x", words[i])
            i += 1
        if best_base != -1 and best_base + best_len == 8:
            tmp[k] = b':'
            k += 1
    if cidr or bits != width * 8:
        k += snprintf(tmp + k, 80 - k, "/%d", bits)
    if _ao_put(&c.data, tmp, k) < 0:
        return _ao_oom(err)
    return 0


cdef int _ao_scalar(_AoCol* c, const char* p, int32_t n, char* err) noexcept nogil:
    # One non-NULL value of a non-list column.
    cdef int32_t i32
    cdef int64_t i64
    cdef uint64_t u64
    cdef char* out = NULL
    cdef int k = c.kind
    cdef char tmp[24]
    cdef uint8_t b
    if k == _AK_BOOL:
        if _ao_size(err, "bool", 1, n) < 0:
            return -1
        if _ao_bit(&c.data, c.length, p[0] != 0) < 0:
            return _ao_oom(err)
        return 0
    if c.width:
        if _ao_reserve(&c.data, c.width) < 0:
            return _ao_oom(err)
        out = c.data.data + c.data.len
    if k == _AK_INT2:
        if _ao_size(err, "int2", 2, n) < 0:
            return -1
        (<int16_t*>out)[0] = _get_i16(p)
    elif k == _AK_INT4 or k == _AK_OID or k == _AK_FLOAT4:
        if _ao_size(err, c.pg_type, 4, n) < 0:
            return -1
        (<int32_t*>out)[0] = _get_i32(p)
    elif k == _AK_INT8 or k == _AK_FLOAT8 or k == _AK_TIME:
        if _ao_size(err, c.pg_type, 8, n) < 0:
            return -1
        (<uint64_t*>out)[0] = _get_u64(p)
    elif k == _AK_TIMETZ:
        if _ao_size(err, "timetz", 12, n) < 0:
            return -1
        (<uint64_t*>out)[0] = _get_u64(p)
    elif k == _AK_DATE:
        if _ao_size(err, "date", 4, n) < 0:
            return -1
        i32 = _get_i32(p)
        if i32 == 0x7FFFFFFF or i32 == <int32_t>0x80000000:
            if not c.infinity:
                return _ao_fail(err, "infinite date has no Arrow value "
                                "(CodecOptions(infinity=True) maps it to "
                                "date.max / date.min)")
            i32 = _AO_DATE_MAX if i32 > 0 else _AO_DATE_MIN
        else:
            i32 = i32 + _AO_EPOCH_DAYS
        (<int32_t*>out)[0] = i32
    elif k == _AK_TS or k == _AK_TSTZ:
        if _ao_size(err, c.pg_type, 8, n) < 0:
            return -1
        i64 = <int64_t>_get_u64(p)
        if i64 == _AO_INT64_MAX or i64 == -_AO_INT64_MAX - 1:
            if not c.infinity:
                snprintf(err, _AO_ERR_LEN, "infinite %s has no Arrow value "
                         "(CodecOptions(infinity=True) maps it to datetime.max / "
                         "datetime.min)", c.pg_type)
                return -1
            i64 = _AO_TS_MAX if i64 > 0 else _AO_TS_MIN
        elif i64 > _AO_INT64_MAX - _AO_EPOCH_US:
            snprintf(err, _AO_ERR_LEN, "%s out of range for Arrow", c.pg_type)
            return -1
        else:
            i64 = i64 + _AO_EPOCH_US
        (<int64_t*>out)[0] = i64
    elif k == _AK_INTERVAL:
        if _ao_size(err, "interval", 16, n) < 0:
            return -1
        i64 = <int64_t>_get_u64(p)
        if i64 > _AO_INT64_MAX // 1000 or i64 < -(_AO_INT64_MAX // 1000):
            snprintf(err, _AO_ERR_LEN, "interval of %lld microseconds does not fit "
                     "month_day_nano_interval", <long long>i64)
            return -1
        (<int32_t*>out)[0] = _get_i32(p + 12)     # months
        (<int32_t*>(out + 4))[0] = _get_i32(p + 8)  # days
        (<int64_t*>(out + 8))[0] = i64 * 1000     # nanoseconds
    elif k == _AK_UUID:
        if _ao_size(err, "uuid", 16, n) < 0:
            return -1
        memcpy(out, p, 16)
    elif k == _AK_DECIMAL:
        return _ao_decimal(c, p, n, err)
    # -- variable width: bytes into data, then the end offset
    elif k == _AK_TEXT or k == _AK_JSON:
        if _ao_text_put(c, p, n, err) < 0:
            return -1
    elif k == _AK_JSONB:
        if n < 1:
            return _ao_fail(err, "empty jsonb value")
        if <uint8_t>p[0] != 1:
            snprintf(err, _AO_ERR_LEN, "unsupported jsonb version %d", <uint8_t>p[0])
            return -1
        if _ao_text_put(c, p + 1, n - 1, err) < 0:
            return -1
    elif k == _AK_BYTEA:
        if _ao_put(&c.data, p, n) < 0:
            return _ao_oom(err)
    elif k == _AK_NUMTEXT:
        if _ao_numeric_text(c, p, n, err) < 0:
            return -1
    elif k == _AK_INET or k == _AK_CIDR:
        if _ao_inet(c, p, n, k == _AK_CIDR, err) < 0:
            return -1
    elif k == _AK_MACADDR:
        if _ao_size(err, "macaddr", 6, n) < 0:
            return -1
        snprintf(tmp, 24, "%02x:%02x:%02x:%02x:%02x:%02x",
                 <uint8_t>p[0], <uint8_t>p[1], <uint8_t>p[2],
                 <uint8_t>p[3], <uint8_t>p[4], <uint8_t>p[5])
        if _ao_put(&c.data, tmp, 17) < 0:
            return _ao_oom(err)
    elif k == _AK_CHAR:
        if _ao_size(err, '"char"', 1, n) < 0:
            return -1
        b = <uint8_t>p[0]
        if b >= 0x80:
            snprintf(tmp, 24, "\\%03o", b)
            i32 = 4
        else:
            tmp[0] = <char>b
            i32 = 1 if b else 0
        if _ao_put(&c.data, tmp, i32) < 0:
            return _ao_oom(err)
    if c.width:
        c.data.len += c.width
    elif _ao_end_var(c) < 0:
        return _ao_fail(err, "a batch's text passed 2 GiB")
    return 0


cdef int _ao_array(_AoCol* c, const char* p, int32_t n, char* err) noexcept nogil:
    # A one-dimensional binary array into the list's child builder.
    cdef int32_t ndim, flags, size, length, end
    cdef int64_t pos, total, room, i
    cdef _AoCol* child = c.child
    if n < 12:
        snprintf(err, _AO_ERR_LEN, "array has at least 12 bytes, got %d", <int>n)
        return -1
    ndim = _get_i32(p)
    flags = _get_i32(p + 4)
    if ndim < 0 or ndim > 6 or (flags != 0 and flags != 1):
        snprintf(err, _AO_ERR_LEN, "invalid array header: %d dimensions, flags %d",
                 <int>ndim, <int>flags)
        return -1
    if ndim > 1:
        snprintf(err, _AO_ERR_LEN, "a %d-dimensional array has no Arrow value "
                 "(only one-dimensional arrays are read, as lists)", <int>ndim)
        return -1
    if n < 12 + 8 * ndim:
        return _ao_fail(err, "array dimensions run past the end")
    pos = 12 + 8 * ndim
    total = 0
    if ndim == 1:
        size = _get_i32(p + 12)
        if size < 0:
            snprintf(err, _AO_ERR_LEN, "invalid array dimension %d", <int>size)
            return -1
        total = size
    room = (n - pos) // 4
    if total > room:
        return _ao_fail(err, "array elements run past the end")
    for i in range(total):
        if pos + 4 > n:
            return _ao_fail(err, "array elements run past the end")
        length = _get_i32(p + pos)
        pos += 4
        if length == -1:
            if _ao_null(child) < 0:
                return _ao_oom(err)
            continue
        if length < 0 or pos + length > n:
            return _ao_fail(err, "array elements run past the end")
        if _ao_bit(&child.valid, child.length, 1) < 0:
            return _ao_oom(err)
        if _ao_scalar(child, p + pos, length, err) < 0:
            return -1
        child.length += 1
        pos += length
    if pos != n:
        return _ao_fail(err, "array has bytes after its last element")
    if child.length > 0x7FFFFFFF:
        return _ao_fail(err, "a batch's list elements passed 2**31")
    end = <int32_t>child.length
    if _ao_put(&c.offsets, &end, 4) < 0:
        return _ao_oom(err)
    return 0


cdef inline int _ao_value(_AoCol* c, const char* p, int32_t n, char* err) noexcept nogil:
    if _ao_bit(&c.valid, c.length, 1) < 0:
        return _ao_oom(err)
    if c.kind == _AK_LIST:
        if _ao_array(c, p, n, err) < 0:
            return -1
    elif _ao_scalar(c, p, n, err) < 0:
        return -1
    c.length += 1
    return 0


# -- ArrowArray export: the builders' buffers move into the array -----------------

cdef struct _AoArrPriv:
    void* bufs[3]
    const void* ptrs[3]
    ArrowArray* kids
    ArrowArray** kid_ptrs
    int64_t nkids


cdef void _ao_array_release(ArrowArray* a) noexcept nogil:
    cdef _AoArrPriv* priv = <_AoArrPriv*>a.private_data
    cdef int64_t i
    if priv != NULL:
        for i in range(priv.nkids):
            if priv.kid_ptrs[i].release != NULL:
                priv.kid_ptrs[i].release(priv.kid_ptrs[i])
        for i in range(3):
            free(priv.bufs[i])
        free(priv.kids)
        free(priv.kid_ptrs)
        free(priv)
    a.private_data = NULL
    a.release = NULL


cdef int _ao_priv(ArrowArray* a, int64_t nkids) noexcept nogil:
    cdef _AoArrPriv* priv = <_AoArrPriv*>calloc(1, sizeof(_AoArrPriv))
    cdef int64_t i
    memset(a, 0, sizeof(ArrowArray))
    if priv == NULL:
        return -1
    a.private_data = priv
    a.release = _ao_array_release
    a.buffers = priv.ptrs
    if nkids:
        priv.kids = <ArrowArray*>calloc(nkids, sizeof(ArrowArray))
        priv.kid_ptrs = <ArrowArray**>calloc(nkids, sizeof(ArrowArray*))
        if priv.kids == NULL or priv.kid_ptrs == NULL:
            return -1
        priv.nkids = nkids
        for i in range(nkids):
            priv.kid_ptrs[i] = &priv.kids[i]
        a.children = priv.kid_ptrs
        a.n_children = nkids
    return 0


cdef int _ao_export_col(_AoCol* c, ArrowArray* a) noexcept nogil:
    # Moves c's buffers into a (which owns them from here on), then resets c.
    # On failure a is still releasable.
    cdef _AoArrPriv* priv
    if _ao_priv(a, 1 if c.kind == _AK_LIST else 0) < 0:
        return -1
    priv = <_AoArrPriv*>a.private_data
    a.length = c.length
    a.null_count = c.null_count
    priv.bufs[0] = c.valid.data
    if c.kind == _AK_LIST:
        priv.bufs[1] = c.offsets.data
        free(c.data.data)
        a.n_buffers = 2
    elif c.width or c.kind == _AK_BOOL:
        priv.bufs[1] = c.data.data
        free(c.offsets.data)
        a.n_buffers = 2
    else:
        priv.bufs[1] = c.offsets.data
        priv.bufs[2] = c.data.data
        a.n_buffers = 3
    priv.ptrs[0] = priv.bufs[0]
    priv.ptrs[1] = priv.bufs[1]
    priv.ptrs[2] = priv.bufs[2]
    c.valid.data = NULL
    c.data.data = NULL
    c.offsets.data = NULL
    if c.kind == _AK_LIST:
        if _ao_export_col(c.child, &priv.kids[0]) < 0:
            return -1
    return _ao_col_reset(c) if c.kind != _AK_LIST else _ao_col_reset_self(c)


cdef int _ao_col_reset_self(_AoCol* c) noexcept nogil:
    # A list's own buffers only (its child was reset by its own export).
    cdef _AoCol* child = c.child
    cdef int rc
    c.child = NULL
    rc = _ao_col_reset(c)
    c.child = child
    return rc


# -- ArrowSchema: built once from outtypes, deep-copied for every capsule ---------

cdef struct _AoSchPriv:
    char* format
    char* name
    char* metadata
    ArrowSchema* kids
    ArrowSchema** kid_ptrs
    int64_t nkids
    ArrowSchema* dictionary


cdef void _ao_schema_release(ArrowSchema* s) noexcept nogil:
    cdef _AoSchPriv* priv = <_AoSchPriv*>s.private_data
    cdef int64_t i
    if priv != NULL:
        for i in range(priv.nkids):
            if priv.kid_ptrs[i].release != NULL:
                priv.kid_ptrs[i].release(priv.kid_ptrs[i])
        if priv.dictionary != NULL:
            if priv.dictionary.release != NULL:
                priv.dictionary.release(priv.dictionary)
            free(priv.dictionary)
        free(priv.format)
        free(priv.name)
        free(priv.metadata)
        free(priv.kids)
        free(priv.kid_ptrs)
        free(priv)
    s.private_data = NULL
    s.release = NULL


cdef int64_t _ao_metadata_len(const char* m) noexcept nogil:
    # The metadata encoding: int32 count, then (int32 length, bytes) twice
    # per pair, in native byte order.
    cdef int32_t count, size, i
    cdef int64_t pos = 4
    if m == NULL:
        return 0
    memcpy(&count, m, 4)
    for i in range(2 * count):
        memcpy(&size, m + pos, 4)
        pos += 4 + size
    return pos


cdef char* _ao_dup(const char* s, int64_t n) noexcept nogil:
    cdef char* d
    if s == NULL:
        return NULL
    d = <char*>malloc(n + 1)
    if d != NULL:
        memcpy(d, s, n)
        d[n] = 0
    return d


cdef int _ao_schema_copy(const ArrowSchema* src, ArrowSchema* dst) noexcept nogil:
    # A deep copy that owns all its memory; on failure dst is releasable.
    cdef _AoSchPriv* priv = <_AoSchPriv*>calloc(1, sizeof(_AoSchPriv))
    cdef int64_t i
    memset(dst, 0, sizeof(ArrowSchema))
    if priv == NULL:
        return -1
    dst.private_data = priv
    dst.release = _ao_schema_release
    dst.flags = src.flags
    priv.format = _ao_dup(src.format, strlen(src.format))
    dst.format = priv.format
    if src.name != NULL:
        priv.name = _ao_dup(src.name, strlen(src.name))
        dst.name = priv.name
        if priv.name == NULL:
            return -1
    if src.metadata != NULL:
        priv.metadata = _ao_dup(src.metadata, _ao_metadata_len(src.metadata))
        dst.metadata = priv.metadata
        if priv.metadata == NULL:
            return -1
    if priv.format == NULL:
        return -1
    if src.n_children:
        priv.kids = <ArrowSchema*>calloc(src.n_children, sizeof(ArrowSchema))
        priv.kid_ptrs = <ArrowSchema**>calloc(src.n_children, sizeof(ArrowSchema*))
        if priv.kids == NULL or priv.kid_ptrs == NULL:
            return -1
        dst.children = priv.kid_ptrs
        for i in range(src.n_children):
            priv.kid_ptrs[i] = &priv.kids[i]
            priv.nkids = i + 1
            dst.n_children = i + 1
            if _ao_schema_copy(src.children[i], &priv.kids[i]) < 0:
                return -1
    if src.dictionary != NULL:
        priv.dictionary = <ArrowSchema*>calloc(1, sizeof(ArrowSchema))
        if priv.dictionary == NULL:
            return -1
        dst.dictionary = priv.dictionary
        if _ao_schema_copy(src.dictionary, priv.dictionary) < 0:
            return -1
    return 0


cdef bytes _ao_metadata(tuple pairs):
    if not pairs:
        return None
    out = [_ao_struct.pack("=i", len(pairs))]
    for key, value in pairs:
        for text in (key, value):
            raw = text.encode()
            out.append(_ao_struct.pack("=i", len(raw)))
            out.append(raw)
    return b"".join(out)


cdef int _ao_schema_set(ArrowSchema* s, bytes fmt, bytes name, bytes meta,
                        int64_t flags, int64_t nkids) except -1:
    # Fills a zeroed ArrowSchema owning copies of the strings.
    cdef _AoSchPriv* priv = <_AoSchPriv*>calloc(1, sizeof(_AoSchPriv))
    cdef int64_t i
    if priv == NULL:
        raise MemoryError()
    s.private_data = priv
    s.release = _ao_schema_release
    s.flags = flags
    priv.format = _ao_dup(fmt, len(fmt))
    priv.name = _ao_dup(name, len(name))
    s.format = priv.format
    s.name = priv.name
    if meta is not None:
        priv.metadata = _ao_dup(meta, len(meta))
        s.metadata = priv.metadata
        if priv.metadata == NULL:
            raise MemoryError()
    if priv.format == NULL or priv.name == NULL:
        raise MemoryError()
    if nkids:
        priv.kids = <ArrowSchema*>calloc(nkids, sizeof(ArrowSchema))
        priv.kid_ptrs = <ArrowSchema**>calloc(nkids, sizeof(ArrowSchema*))
        if priv.kids == NULL or priv.kid_ptrs == NULL:
            raise MemoryError()
        for i in range(nkids):
            priv.kid_ptrs[i] = &priv.kids[i]
        priv.nkids = nkids
        s.children = priv.kid_ptrs
        s.n_children = nkids
    return 0


cdef int _ao_field_schema(ArrowSchema* s, str name, object ot) except -1:
    cdef _AoSchPriv* priv
    _ao_schema_set(s, ot.format.encode(), name.encode(), _ao_metadata(ot.metadata),
                   2, 1 if ot.child is not None else 0)  # ARROW_FLAG_NULLABLE
    if ot.child is not None:
        priv = <_AoSchPriv*>s.private_data
        _ao_field_schema(&priv.kids[0], "item", ot.child)
    return 0


cdef void _ao_schema_capsule_free(object capsule) noexcept:
    cdef ArrowSchema* s = <ArrowSchema*>PyCapsule_GetPointer(capsule, "arrow_schema")
    if s != NULL:
        if s.release != NULL:
            s.release(s)
        free(s)


cdef void _ao_array_capsule_free(object capsule) noexcept:
    cdef ArrowArray* a = <ArrowArray*>PyCapsule_GetPointer(capsule, "arrow_array")
    if a != NULL:
        if a.release != NULL:
            a.release(a)
        free(a)


cdef object _ao_schema_capsule(const ArrowSchema* src):
    cdef ArrowSchema* s = <ArrowSchema*>calloc(1, sizeof(ArrowSchema))
    if s == NULL:
        raise MemoryError()
    if _ao_schema_copy(src, s) < 0:
        if s.release != NULL:
            s.release(s)
        free(s)
        raise MemoryError()
    return PyCapsule_New(s, "arrow_schema", _ao_schema_capsule_free)


cdef int _ao_fill_col(_AoCol* c, object ot, int infinity) except -1:
    cdef bytes name = ot.pg_type.encode()[:63]
    memset(c, 0, sizeof(_AoCol))
    c.kind = _AO_KINDS[ot.kind]
    c.precision = ot.precision
    c.scale = ot.scale
    c.infinity = infinity
    memcpy(c.pg_type, <const char*>name, len(name))
    c.pg_type[len(name)] = 0
    k = c.kind
    if k in (_AK_INT2,):
        c.width = 2
    elif k in (_AK_INT4, _AK_OID, _AK_FLOAT4, _AK_DATE):
        c.width = 4
    elif k in (_AK_INT8, _AK_FLOAT8, _AK_TIME, _AK_TIMETZ, _AK_TS, _AK_TSTZ):
        c.width = 8
    elif k in (_AK_DECIMAL, _AK_INTERVAL, _AK_UUID):
        c.width = 16
    return 0


# -- the decoder -------------------------------------------------------------------

cdef enum:
    _AS_MORE = 0      # the data ends inside a tuple: carry it
    _AS_FULL = 1      # a batch is complete
    _AS_TRAILER = 2   # the trailer was read
    _AS_ERROR = -1    # a message in _err (row and column in _err_row / _err_col)
    _AS_OOM = -2


cdef class ArrowDecoder:
    """Binary COPY data (``FORMAT binary``) to Arrow record batches.

    ``columns`` is ``(name, pg_type, typmod)`` per column (canonical type
    names, as ``pgcopy_fast.kernels.pgtypes`` spells them); the Arrow type
    of each is ``pgcopy_fast.columnar.outtypes.out_type``.  ``feed()`` takes
    the stream's bytes cut anywhere and returns the batches it completed,
    each a ``(schema, array)`` pair of PyCapsules of a struct array of at
    most ``batch_rows`` rows; ``finish()`` returns the last partial batch.
    """

    cdef _AoCol* _cols
    cdef Py_ssize_t _ncols
    cdef ArrowSchema _schema
    cdef int64_t _batch_rows
    cdef int64_t _batch_len
    cdef int64_t _batch_bytes
    cdef int64_t _rows
    cdef bytearray _carry
    cdef bint _header_done
    cdef bint _done
    cdef bint _failed
    cdef bint _busy
    cdef list _names
    cdef list _types
    cdef char _err[512]
    cdef int64_t _err_row
    cdef int _err_col

    def __cinit__(self, *args, **kwargs):
        self._cols = NULL
        self._ncols = 0
        memset(&self._schema, 0, sizeof(ArrowSchema))

    def __init__(self, columns, options=None, batch_rows=65536):
        cdef Py_ssize_t i
        cdef _AoSchPriv* priv
        if self._cols != NULL:
            raise InterfaceError("ArrowDecoder.__init__ called twice")
        specs = _ao_out_types(columns)
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int):
            raise TypeError(f"batch_rows must be an int, not {type(batch_rows).__name__}")
        if not 1 <= batch_rows <= 0x7FFFFFFF:
            raise ValueError(f"batch_rows must be from 1 to 2**31 - 1, not {batch_rows}")
        infinity = bool(getattr(options, "infinity", False)) if options is not None else False
        self._batch_rows = batch_rows
        self._names = [name for name, _ in specs]
        self._types = [ot.pg_type for _, ot in specs]
        self._carry = bytearray()
        self._cols = <_AoCol*>calloc(len(specs), sizeof(_AoCol))
        if self._cols == NULL:
            raise MemoryError()
        for i, (name, ot) in enumerate(specs):
            _ao_fill_col(&self._cols[i], ot, infinity)
            self._ncols = i + 1
            if ot.child is not None:
                self._cols[i].child = <_AoCol*>calloc(1, sizeof(_AoCol))
                if self._cols[i].child == NULL:
                    raise MemoryError()
                _ao_fill_col(self._cols[i].child, ot.child, infinity)
            if _ao_col_reset(&self._cols[i]) < 0:
                raise MemoryError()
        _ao_schema_set(&self._schema, b"+s", b"", None, 0, len(specs))
        priv = <_AoSchPriv*>self._schema.private_data
        for i, (name, ot) in enumerate(specs):
            _ao_field_schema(&priv.kids[i], name, ot)

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self._cols != NULL:
            for i in range(self._ncols):
                _ao_col_free(&self._cols[i])
            free(self._cols)
            self._cols = NULL
        if self._schema.release != NULL:
            self._schema.release(&self._schema)

    @property
    def rows(self) -> int:
        """How many rows this decoder has decoded."""
        return self._rows

    def schema(self):
        """A PyCapsule ``arrow_schema`` of the batches' struct type."""
        self._check()
        return _ao_schema_capsule(&self._schema)

    cdef int _check(self) except -1:
        if self._cols == NULL:
            raise InterfaceError("ArrowDecoder is not initialized")
        if self._failed:
            raise _AoDecodeError("the ArrowDecoder failed on earlier data")
        return 0

    cdef int _header(self, const char* p, Py_ssize_t n) except -2:
        # The offset after the header, or -1 while it is incomplete.
        cdef int32_t flags, ext
        if n < 19:
            if not _SIGNATURE.startswith(p[:min(n, 11)]):
                raise _AoDecodeError("the binary COPY signature is missing")
            return -1
        if p[:11] != _SIGNATURE:
            raise _AoDecodeError("the binary COPY signature is missing")
        flags = _get_i32(p + 11)
        if flags & <int32_t>0xFFFF0000:
            raise _AoDecodeError(
                f"unknown critical flags in the binary COPY header: {<uint32_t>flags:#x}")
        ext = _get_i32(p + 15)
        if ext < 0:
            raise _AoDecodeError("negative binary COPY header extension length")
        if n < 19 + <int64_t>ext:
            return -1
        return 19 + ext

    cdef int _parse(self, const char* p, int64_t n, int64_t* pos_io) noexcept nogil:
        # Decodes whole tuples from p[pos:] into the builders until a batch
        # fills, the data runs out or the trailer comes.
        cdef int64_t pos = pos_io[0]
        cdef int64_t q, size
        cdef int16_t count
        cdef int32_t length
        cdef Py_ssize_t i
        cdef Py_ssize_t ncols = self._ncols
        cdef _AoCol* cols = self._cols
        while True:
            if self._batch_len >= self._batch_rows:
                pos_io[0] = pos
                return _AS_FULL
            if pos + 2 > n:
                break
            count = _get_i16(p + pos)
            if count == -1:
                pos_io[0] = pos + 2
                return _AS_TRAILER
            if count != ncols:
                snprintf(self._err, _AO_ERR_LEN, "row %lld has %d fields, expected %d",
                         <long long>self._rows, <int>count, <int>ncols)
                self._err_row = self._rows
                self._err_col = -1
                pos_io[0] = pos
                return _AS_ERROR
            # First make sure the whole tuple is here: a tuple is decoded in
            # one go or not at all.
            q = pos + 2
            for i in range(ncols):
                if q + 4 > n:
                    pos_io[0] = pos
                    return _AS_MORE
                length = _get_i32(p + q)
                q += 4
                if length == -1:
                    continue
                if length < 0:
                    snprintf(self._err, _AO_ERR_LEN,
                             "row %lld, column %d: negative field length %d",
                             <long long>self._rows, <int>i, <int>length)
                    self._err_row = self._rows
                    self._err_col = -2 - <int>i  # a framing error: no "cannot decode"
                    pos_io[0] = pos
                    return _AS_ERROR
                if q + length > n:
                    pos_io[0] = pos
                    return _AS_MORE
                q += length
            size = q - pos
            if self._batch_len > 0 and self._batch_bytes + size > _AO_BATCH_BYTES:
                pos_io[0] = pos
                return _AS_FULL
            q = pos + 2
            for i in range(ncols):
                length = _get_i32(p + q)
                q += 4
                if length == -1:
                    if _ao_null(&cols[i]) < 0:
                        return _AS_OOM
                    continue
                if _ao_value(&cols[i], p + q, length, self._err) < 0:
                    self._err_row = self._rows
                    self._err_col = <int>i
                    pos_io[0] = pos
                    return _AS_ERROR
                q += length
            pos = q
            self._batch_len += 1
            self._batch_bytes += size
            self._rows += 1
        pos_io[0] = pos
        return _AS_MORE

    cdef object _raise(self, int status):
        self._failed = True
        if status == _AS_OOM:
            raise MemoryError()
        message = self._err.decode("utf-8", "replace")
        col = self._err_col
        if col == -1:
            raise _AoDecodeError(message, row_index=self._err_row)
        if col <= -2:
            raise _AoDecodeError(message, row_index=self._err_row, column=-2 - col)
        pg_type = self._types[col]
        raise _AoDecodeError(
            f"row {self._err_row}, column {col} ({self._names[col]!r}): "
            f"cannot decode {pg_type}: {message}",
            row_index=self._err_row,
            column=col,
            pg_type=pg_type,
        )

    cdef object _export(self):
        # The builders' current batch as a (schema, array) capsule pair.
        cdef ArrowArray* a = <ArrowArray*>calloc(1, sizeof(ArrowArray))
        cdef _AoArrPriv* priv
        cdef Py_ssize_t i
        cdef int rc = 0
        if a == NULL:
            raise MemoryError()
        schema = _ao_schema_capsule(&self._schema)
        if _ao_priv(a, self._ncols) < 0:
            rc = -1
        else:
            a.length = self._batch_len
            a.n_buffers = 1  # a struct's only buffer: its validity, none here
            priv = <_AoArrPriv*>a.private_data
            with nogil:
                for i in range(self._ncols):
                    if _ao_export_col(&self._cols[i], &priv.kids[i]) < 0:
                        rc = -1
                        break
        self._batch_len = 0
        self._batch_bytes = 0
        if rc < 0:
            self._failed = True
            if a.release != NULL:
                a.release(a)
            free(a)
            raise MemoryError()
        return (schema, PyCapsule_New(a, "arrow_array", _ao_array_capsule_free))

    def feed(self, data) -> list:
        """Decode the next bytes of the stream; return the batches completed.

        Raises:
            DecodeError: a bad header, a field count or length that does not
                fit, a value its Arrow type cannot hold (NaN into decimal128,
                an infinite date without ``CodecOptions(infinity=True)``),
                data after the trailer.
        """
        cdef Py_buffer view
        cdef const char* p
        cdef int64_t n, pos = 0
        cdef int status
        cdef bint carried
        self._check()
        # The loop runs without the GIL: a second thread feeding the same
        # decoder meanwhile would race on its builders.
        if self._busy:
            raise InterfaceError("ArrowDecoder.feed() is already running in another thread")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        self._busy = True
        try:
            # An incomplete tuple waits in a bytearray that grows by each
            # feed (amortized, so a tuple spanning many feeds is not copied
            # again each time); without one, the caller's bytes are parsed
            # in place.
            carried = PyByteArray_GET_SIZE(self._carry) > 0
            if carried:
                self._carry += (<const char*>view.buf)[:view.len]
                p = PyByteArray_AS_STRING(self._carry)
                n = PyByteArray_GET_SIZE(self._carry)
            else:
                p = <const char*>view.buf
                n = view.len
            out = []
            if not self._header_done:
                pos = self._header(p, n)
                if pos < 0:
                    if not carried:
                        self._carry = bytearray(p[:n])
                    return out
                self._header_done = True
            while pos < n:
                if self._done:
                    self._failed = True
                    raise _AoDecodeError("data after the binary COPY trailer")
                with nogil:
                    status = self._parse(p, n, &pos)
                if status < 0:
                    self._raise(status)
                if status == _AS_FULL:
                    out.append(self._export())
                elif status == _AS_TRAILER:
                    self._done = True
                else:
                    break
            if self._batch_len >= self._batch_rows:
                out.append(self._export())
            if carried:
                if pos:
                    del self._carry[:pos]  # O(1) at the front of a bytearray
            elif pos < n:
                self._carry = bytearray(p[pos:n])
            return out
        finally:
            self._busy = False
            PyBuffer_Release(&view)

    def finish(self) -> list:
        """The last partial batch (if it has rows), once the trailer was read.

        Raises:
            DecodeError: the stream is truncated (bytes of an incomplete row
                are left, or the trailer is missing).
        """
        self._check()
        if self._carry:
            raise _AoDecodeError(
                f"the COPY data ends in the middle of row {self._rows}",
                row_index=self._rows,
            )
        if not self._done:
            raise _AoDecodeError(
                "the binary COPY data ends without its trailer", row_index=self._rows
            )
        if self._batch_len:
            return [self._export()]
        return []


# -- ArrowArrayStream over an iterator of (schema, array) capsule pairs -----------

cdef struct _AoStreamPriv:
    PyObject* schema
    PyObject* iterator
    char* error


cdef void _ao_stream_set_error(_AoStreamPriv* priv, object exc) noexcept:
    cdef bytes text
    try:
        text = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
    except BaseException:
        text = b"error"
    free(priv.error)
    priv.error = _ao_dup(text, len(text))


cdef int _ao_stream_get_schema(ArrowArrayStream* st, ArrowSchema* out) noexcept nogil:
    cdef _AoStreamPriv* priv = <_AoStreamPriv*>st.private_data
    cdef ArrowSchema* src
    with gil:
        try:
            src = <ArrowSchema*>PyCapsule_GetPointer(<object>priv.schema, "arrow_schema")
            if src.release == NULL:
                raise ValueError("the schema capsule was consumed elsewhere")
            if _ao_schema_copy(src, out) < 0:
                if out.release != NULL:
                    out.release(out)
                return ENOMEM
            return 0
        except BaseException as exc:
            _ao_stream_set_error(priv, exc)
            return EINVAL


cdef int _ao_stream_get_next(ArrowArrayStream* st, ArrowArray* out) noexcept nogil:
    cdef _AoStreamPriv* priv = <_AoStreamPriv*>st.private_data
    cdef ArrowArray* src
    with gil:
        try:
            try:
                item = next(<object>priv.iterator)
            except StopIteration:
                memset(out, 0, sizeof(ArrowArray))  # release NULL: the end
                return 0
            schema_capsule, array_capsule = item
            src = <ArrowArray*>PyCapsule_GetPointer(array_capsule, "arrow_array")
            if src.release == NULL:
                raise ValueError("the batch's ArrowArray was already released")
            memcpy(out, src, sizeof(ArrowArray))
            src.release = NULL  # moved: the capsule no longer owns it
            return 0
        except BaseException as exc:
            _ao_stream_set_error(priv, exc)
            return EIO


cdef const char* _ao_stream_last_error(ArrowArrayStream* st) noexcept nogil:
    return (<_AoStreamPriv*>st.private_data).error


cdef void _ao_stream_release(ArrowArrayStream* st) noexcept nogil:
    cdef _AoStreamPriv* priv = <_AoStreamPriv*>st.private_data
    if priv != NULL:
        with gil:
            Py_DECREF(<object>priv.schema)
            Py_DECREF(<object>priv.iterator)
        free(priv.error)
        free(priv)
    st.private_data = NULL
    st.release = NULL


cdef void _ao_stream_capsule_free(object capsule) noexcept:
    cdef ArrowArrayStream* st = <ArrowArrayStream*>PyCapsule_GetPointer(
        capsule, "arrow_array_stream")
    if st != NULL:
        if st.release != NULL:
            st.release(st)
        free(st)


def arrow_stream(schema, batches):
    """A PyCapsule ``arrow_array_stream`` pulling batches from an iterator.

    ``schema`` is an ``arrow_schema`` capsule, ``batches`` an iterator of
    ``(schema, array)`` capsule pairs, pulled one at a time, when the
    consumer asks for the next batch.  An exception from the iterator
    becomes the stream's error (``get_last_error`` gives its message).

    Raises:
        TypeError: ``schema`` is not a live ``arrow_schema`` capsule.
    """
    cdef ArrowArrayStream* st
    cdef _AoStreamPriv* priv
    if not PyCapsule_IsValid(schema, "arrow_schema"):
        raise TypeError("schema must be a PyCapsule named 'arrow_schema'")
    if (<ArrowSchema*>PyCapsule_GetPointer(schema, "arrow_schema")).release == NULL:
        raise TypeError("the schema capsule was already consumed (released)")
    iterator = iter(batches)
    st = <ArrowArrayStream*>calloc(1, sizeof(ArrowArrayStream))
    priv = <_AoStreamPriv*>calloc(1, sizeof(_AoStreamPriv))
    if st == NULL or priv == NULL:
        free(st)
        free(priv)
        raise MemoryError()
    Py_INCREF(schema)
    Py_INCREF(iterator)
    priv.schema = <PyObject*>schema
    priv.iterator = <PyObject*>iterator
    st.private_data = priv
    st.get_schema = _ao_stream_get_schema
    st.get_next = _ao_stream_get_next
    st.get_last_error = _ao_stream_last_error
    st.release = _ao_stream_release
    return PyCapsule_New(st, "arrow_array_stream", _ao_stream_capsule_free)
