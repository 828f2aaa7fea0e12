# Binary value codecs of the compiled twin (included by _rows_c.pxi).
#
# Same results and messages as _codecs_py.py.  Each column gets a C function
# pointer, picked once per copy, and a state object (None, a flag, or the
# element codec of an array).  inet, cidr, macaddr and timetz are not hot
# enough to be worth a second implementation: for them the state is the
# pure twin's function, which the C wrapper calls.

cimport cpython.datetime as cdt
from cpython.datetime cimport (
    PyDate_Check,
    PyDateTime_Check,
    PyDateTime_CheckExact,
    PyDelta_Check,
    PyDelta_CheckExact,
    PyTime_Check,
    date_new,
    datetime_new,
    timedelta_new,
    import_datetime,
)

import datetime as _dt
import uuid as _uuid_mod
from decimal import Decimal as _Decimal

from . import _codecs_py
from . import consts as _consts
from . import pgtypes as _pgtypes
from ._codecs_py import check_element_oids, check_types
from .values import got as _got, plain as _plain, shown as _shown
from ..options import DEFAULT_OPTIONS as _DEFAULT_OPTIONS
from ..options import default_dumps as _DEFAULT_DUMPS
from ..options import default_loads as _DEFAULT_LOADS
from ..options import refuse_nonfinite as _refuse_nonfinite
from ..options import stdlib_dumps as _stdlib_dumps
from ..options import stdlib_loads as _stdlib_loads
from .pgtypes import OIDS as _OIDS

import_datetime()

cdef extern from *:
    """
    #if PY_VERSION_HEX >= 0x030D0000
    #define PGCF_LONG_AS_BYTES(v, buf, n) _PyLong_AsByteArray((PyLongObject*)(v), (buf), (n), 0, 0, 1)
    #else
    #define PGCF_LONG_AS_BYTES(v, buf, n) _PyLong_AsByteArray((PyLongObject*)(v), (buf), (n), 0, 0)
    #endif
    """
    int PGCF_LONG_AS_BYTES(object v, unsigned char* buf, size_t n) except -1
    object _PyLong_FromByteArray(const unsigned char* buf, size_t n, int little_endian, int is_signed)

cdef extern from "Python.h":
    int PyObject_GenericSetAttr(object o, object name, object value) except -1
    object PyType_GenericNew(object type, object args, object kwds)

cdef int[4] _POW10 = [1000, 100, 10, 1]

cdef extern from "Python.h":
    object PyUnicode_FromStringAndSize(const char* u, Py_ssize_t size)

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    int PyBUF_READ

try:
    import orjson as _orjson_mod
    _ORJSON_LOADS = _orjson_mod.loads
    _ORJSON_DUMPS = _orjson_mod.dumps
    _ORJSON_ERROR = _orjson_mod.JSONDecodeError
except ImportError:  # pragma: no cover - depends on the environment
    _ORJSON_LOADS = None
    _ORJSON_DUMPS = None
    _ORJSON_ERROR = None
cdef str _ATTR_INT = "int"
cdef str _ATTR_IS_SAFE = "is_safe"
cdef object _UUID_SAFE_UNKNOWN = _uuid_mod.SafeUUID.unknown

# bin_encode_fn and bin_decode_fn, the C types of the codecs, are in _core_c.pxd.

cdef object _UUID = _uuid_mod.UUID
cdef object _UTC = _dt.timezone.utc
cdef object _DEC_NAN = _Decimal("NaN")
cdef object _DEC_INF = _Decimal("Infinity")
cdef object _DEC_NINF = _Decimal("-Infinity")

# The numbers of the binary formats, from consts.py (their one source) into
# typed C globals once, at import.
cdef long long _US_PER_DAY = _consts.USECS_PER_DAY
cdef int _PG_EPOCH_ORDINAL = _consts.PG_EPOCH_ORDINAL
cdef int _MAX_ORDINAL = _consts.MAX_DATE_ORDINAL
cdef int32_t _DATE_INFINITY = _consts.DATE_INFINITY
cdef int32_t _DATE_NEG_INFINITY = _consts.DATE_NEG_INFINITY
cdef int64_t _TS_INFINITY = _consts.TIMESTAMP_INFINITY
cdef int64_t _TS_NEG_INFINITY = _consts.TIMESTAMP_NEG_INFINITY
cdef uint16_t _NUMERIC_POS = _consts.NUMERIC_POS
cdef uint16_t _NUMERIC_NEG = _consts.NUMERIC_NEG
cdef uint16_t _NUMERIC_NAN = _consts.NUMERIC_NAN
cdef uint16_t _NUMERIC_PINF = _consts.NUMERIC_PINF
cdef uint16_t _NUMERIC_NINF = _consts.NUMERIC_NINF
cdef int _NUMERIC_DSCALE_MAX = _consts.NUMERIC_DSCALE_MAX
cdef Py_ssize_t _NUMERIC_MAX_INT_DIGITS = _consts.NUMERIC_MAX_INT_DIGITS
cdef int _ARRAY_MAX_DIMS = _consts.ARRAY_MAX_DIMS
cdef double _FLT_MAX = _consts.FLT_MAX
cdef double _FLT_OVERFLOW = _consts.FLT_OVERFLOW

cdef object _float4_tie = _codecs_py.float4_tie
cdef frozenset _JSON_PLAIN = _codecs_py._JSON_PLAIN
cdef str _JSON_TOO_DEEP = _codecs_py.JSON_TOO_DEEP


cdef inline int _need_failed(object v, str expected) except -1:
    raise TypeError(f"expected {expected}, got {_got(v)}")


cdef int _again(WriteBuffer buf, object v, object state, bin_encode_fn encode,
                str expected) except -1:
    # A value the encoder's type check refused, made plain (values.plain):
    # NaT and NA are NULL, a numpy scalar is the value it holds, anything
    # else the TypeError naming the original type.  Same as _codecs_py._again.
    cdef object value = _plain(v)
    if value is None:
        _put_u32(buf._grow(4), 0xFFFFFFFF)
        buf._len += 4
        return 0
    if value is v:
        raise TypeError(f"expected {expected}, got {_got(v)}")
    try:
        encode(buf, value, state)
    except TypeError:
        raise TypeError(f"expected {expected}, got {_got(v)}") from None
    return 0


cdef inline char* _put_len(WriteBuffer buf, Py_ssize_t size) except NULL:
    cdef char* p = buf._grow(4 + size)
    _put_u32(p, <uint32_t>size)
    buf._len += 4 + size
    return p + 4


cdef inline void _put_u64(char* p, uint64_t v) noexcept nogil:
    _put_u32(p, <uint32_t>(v >> 32))
    _put_u32(p + 4, <uint32_t>v)


# -- calendar arithmetic (proleptic Gregorian, as Python's datetime) --------------

cdef int[13] _DAYS_BEFORE_MONTH = [0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
cdef int[13] _DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef inline bint _is_leap(int y) noexcept nogil:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


cdef inline int _ymd_to_ord(int y, int m, int d) noexcept nogil:
    cdef int y1 = y - 1
    cdef int before = _DAYS_BEFORE_MONTH[m] + (1 if m > 2 and _is_leap(y) else 0)
    return y1 * 365 + y1 // 4 - y1 // 100 + y1 // 400 + before + d


cdef inline void _ord_to_ymd(int n, int* year, int* month, int* day) noexcept nogil:
    # The algorithm of CPython's _datetimemodule.c ord_to_ymd.
    cdef int n400, n100, n4, n1, preceding
    n -= 1
    n400 = n // 146097
    n = n % 146097
    year[0] = n400 * 400 + 1
    n100 = n // 36524
    n = n % 36524
    n4 = n // 1461
    n = n % 1461
    n1 = n // 365
    n = n % 365
    year[0] += n100 * 100 + n4 * 4 + n1
    if n1 == 4 or n100 == 4:
        year[0] -= 1
        month[0] = 12
        day[0] = 31
        return
    month[0] = (n + 50) >> 5
    preceding = _DAYS_BEFORE_MONTH[month[0]] + (1 if month[0] > 2 and _is_leap(year[0]) else 0)
    if preceding > n:
        month[0] -= 1
        preceding -= _DAYS_IN_MONTH[month[0]] + (1 if month[0] == 2 and _is_leap(year[0]) else 0)
    day[0] = n - preceding + 1


cdef inline long long _floordiv(long long a, long long b) noexcept nogil:
    cdef long long q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


# -- scalar encoders ----------------------------------------------------------------

cdef int _enc_bool(WriteBuffer buf, object v, object state) except -1:
    cdef char* p
    if v is not True and v is not False:
        return _again(buf, v, state, _enc_bool, "bool")
    p = _put_len(buf, 1)
    p[0] = 1 if v is True else 0
    return 0


cdef inline long long _int_in(object v, long long lo, long long hi, str pg_type) except? -1:
    cdef int overflow = 0
    cdef long long n
    if not isinstance(v, int):
        _need_failed(v, "int")
    n = PyLong_AsLongLongAndOverflow(v, &overflow)
    if overflow or n < lo or n > hi:
        raise OverflowError(f"{_shown(v)} is out of range for {pg_type}")
    return n


cdef int _enc_int2(WriteBuffer buf, object v, object state) except -1:
    cdef long long n
    if not isinstance(v, int):
        return _again(buf, v, state, _enc_int2, "int")
    n = _int_in(v, -0x8000, 0x7FFF, "int2")
    _put_u16(_put_len(buf, 2), <uint16_t>n)
    return 0


cdef int _enc_int4(WriteBuffer buf, object v, object state) except -1:
    cdef long long n
    if not isinstance(v, int):
        return _again(buf, v, state, _enc_int4, "int")
    n = _int_in(v, -0x80000000, 0x7FFFFFFF, "int4")
    _put_u32(_put_len(buf, 4), <uint32_t>n)
    return 0


cdef int _enc_int8(WriteBuffer buf, object v, object state) except -1:
    cdef long long n
    if not isinstance(v, int):
        return _again(buf, v, state, _enc_int8, "int")
    n = _int_in(v, -0x7FFFFFFFFFFFFFFF - 1, 0x7FFFFFFFFFFFFFFF, "int8")
    _put_u64(_put_len(buf, 8), <uint64_t>n)
    return 0


cdef int _enc_oid(WriteBuffer buf, object v, object state) except -1:
    cdef long long n
    if not isinstance(v, int):
        return _again(buf, v, state, _enc_oid, "int")
    n = _int_in(v, 0, 0xFFFFFFFF, "oid")
    _put_u32(_put_len(buf, 4), <uint32_t>n)
    return 0


cdef inline double _as_float(object v) except? -1.0:
    if isinstance(v, float):
        return PyFloat_AS_DOUBLE(v)
    if not isinstance(v, int):
        _need_failed(v, "float or int")
    return PyLong_AsDouble(v)


cdef int _enc_float4(WriteBuffer buf, object v, object state) except -1:
    # What float4in stores for repr(d): see _codecs_py._float4_value.
    cdef double d, other, far, near
    cdef float f
    cdef uint32_t bits
    cdef int way
    if not isinstance(v, (float, int)):
        return _again(buf, v, state, _enc_float4, "float or int")
    d = _as_float(v)
    f = <float>d
    if isfinite(d):
        if fabs(d) >= _FLT_OVERFLOW:
            if fabs(d) != _FLT_OVERFLOW:  # its repr is just below: FLT_MAX
                raise OverflowError(f"{d!r} is out of range for float4")
            f = <float>(_FLT_MAX if d > 0 else -_FLT_MAX)
        elif <double>f != d:
            # exactly the float4 on d's other side when d is halfway between two
            other = 2.0 * d - <double>f
            if fabs(other) < _FLT_OVERFLOW and <double><float>other == other:
                way = _float4_tie(d)
                if way:
                    far = other if fabs(other) > fabs(<double>f) else <double>f
                    near = <double>f if far == other else other
                    f = <float>(far if way > 0 else near)
            if f == 0:
                raise OverflowError(f"{d!r} is out of range for float4")
    memcpy(&bits, &f, 4)
    _put_u32(_put_len(buf, 4), bits)
    return 0


cdef int _enc_float8(WriteBuffer buf, object v, object state) except -1:
    cdef double d
    cdef uint64_t bits
    if not isinstance(v, (float, int)):
        return _again(buf, v, state, _enc_float8, "float or int")
    d = _as_float(v)
    memcpy(&bits, &d, 8)
    _put_u64(_put_len(buf, 8), bits)
    return 0


cdef int _enc_text(WriteBuffer buf, object v, object state) except -1:
    cdef Py_ssize_t size
    cdef const char* data
    if not isinstance(v, str):
        return _again(buf, v, state, _enc_text, "str")
    data = PyUnicode_AsUTF8AndSize(v, &size)
    if memchr(data, 0, size) != NULL:
        raise ValueError(_NUL_MESSAGE)
    memcpy(_put_len(buf, size), data, size)
    return 0


cdef str _CHAR_SPELLING = _codecs_py._CHAR_SPELLING


cdef inline bint _is_octal(Py_UCS4 c) noexcept:
    return 48 <= c <= 55


cdef int _enc_char(WriteBuffer buf, object v, object state) except -1:
    # The texts charout writes, and only those (see _codecs_py._enc_char).
    cdef Py_ssize_t n
    cdef int code
    if not isinstance(v, str):
        return _again(buf, v, state, _enc_char, "str")
    n = len(<str>v)
    if n == 1 and 0 < ord(v) < 0x80:
        code = ord(v)
    elif n == 0:
        code = 0
    elif (n == 4 and (<str>v)[0] == "\\" and (<str>v)[1] in "23"
          and _is_octal((<str>v)[2]) and _is_octal((<str>v)[3])):
        code = ((ord((<str>v)[1]) - 48) << 6) | ((ord((<str>v)[2]) - 48) << 3) | (ord((<str>v)[3]) - 48)
    else:
        raise ValueError(_CHAR_SPELLING)
    _put_len(buf, 1)[0] = <char>code
    return 0


cdef int _enc_bytea(WriteBuffer buf, object v, object state) except -1:
    cdef const char* data
    cdef Py_ssize_t size
    if isinstance(v, bytes):
        data = PyBytes_AS_STRING(v)
        size = PyBytes_GET_SIZE(v)
    elif isinstance(v, bytearray):
        data = PyByteArray_AS_STRING(v)
        size = PyByteArray_GET_SIZE(v)
    elif isinstance(v, memoryview):
        v = v.tobytes()
        data = PyBytes_AS_STRING(v)
        size = PyBytes_GET_SIZE(v)
    else:
        return _again(buf, v, state, _enc_bytea, "bytes, bytearray or memoryview")
    memcpy(_put_len(buf, size), data, size)
    return 0


cdef int _enc_numeric(WriteBuffer buf, object v, object state) except -1:
    cdef int overflow = 0
    cdef long long small
    cdef object text
    cdef double d
    if isinstance(v, _Decimal):
        text = str(v)
    elif isinstance(v, int):
        small = PyLong_AsLongLongAndOverflow(v, &overflow)
        if not overflow and small != (-0x7FFFFFFFFFFFFFFF - 1):
            return _numeric_from_int(buf, small)
        text = str(_Decimal(int(v)))  # str(int) stops at sys.get_int_max_str_digits()
    elif isinstance(v, float):
        d = PyFloat_AS_DOUBLE(v)
        if isnan(d):
            return _numeric_special(buf, _NUMERIC_NAN)
        if not isfinite(d):
            return _numeric_special(buf, _NUMERIC_NINF if d < 0 else _NUMERIC_PINF)
        text = repr(float(v))
    else:
        return _again(buf, v, state, _enc_numeric, "Decimal, int or float")
    return _numeric_from_text(buf, v, text)


cdef int _numeric_special(WriteBuffer buf, uint16_t sign) except -1:
    cdef char* p = _put_len(buf, 8)
    memset(p, 0, 8)
    _put_u16(p + 4, sign)
    return 0


cdef int _numeric_from_int(WriteBuffer buf, long long n) except -1:
    # Base-10000 groups of a machine integer: the common case, no Decimal.
    cdef uint16_t groups[5]
    cdef int count = 0, weight, end, i
    cdef unsigned long long u = <unsigned long long>(-n) if n < 0 else <unsigned long long>n
    cdef char* p
    while u:
        groups[count] = <uint16_t>(u % 10000)
        u //= 10000
        count += 1
    # groups are least significant first; trailing zero groups are dropped
    weight = count - 1
    end = 0
    while end < count and groups[end] == 0:
        end += 1
    p = _put_len(buf, 8 + 2 * (count - end))
    _put_u16(p, <uint16_t>(count - end))
    _put_u16(p + 2, <uint16_t>(weight if count else 0))
    _put_u16(p + 4, _NUMERIC_NEG if n < 0 else _NUMERIC_POS)
    _put_u16(p + 6, 0)
    p += 8
    i = count - 1
    while i >= end:
        _put_u16(p, groups[i])
        p += 2
        i -= 1
    return 0


cdef int _numeric_from_text(WriteBuffer buf, object v, object text) except -1:
    # Parses Decimal's str() (or a float's repr): [-]digits[.digits][E[+-]n],
    # NaN, sNaN, Infinity -- the same numbers as Decimal.as_tuple() gives.
    cdef Py_ssize_t size, i = 0, nd = 0, frac_digits = 0
    cdef const char* s = PyUnicode_AsUTF8AndSize(text, &size)
    cdef bint negative = False, in_frac = False, exp_negative = False
    cdef long long exponent = 0, e = 0
    cdef char* digits
    if size and s[0] == b'-':
        negative = True
        i = 1
    if i < size and s[i] == b's':
        raise ValueError("a signaling NaN has no PostgreSQL value")
    if i < size and s[i] == b'N':
        return _numeric_special(buf, _NUMERIC_NAN)
    if i < size and s[i] == b'I':
        return _numeric_special(buf, _NUMERIC_NINF if negative else _NUMERIC_PINF)
    digits = <char*>PyMem_Malloc(size + 1)
    if digits == NULL:
        raise MemoryError()
    try:
        while i < size:
            if s[i] == b'.':
                in_frac = True
            elif s[i] == b'e' or s[i] == b'E':
                i += 1
                if i < size and (s[i] == b'-' or s[i] == b'+'):
                    exp_negative = s[i] == b'-'
                    i += 1
                while i < size:
                    e = e * 10 + (s[i] - 48)
                    if e > 4000000000000LL:
                        e = 4000000000000LL  # far beyond any numeric; stop growing
                    i += 1
                break
            else:
                digits[nd] = <char>(s[i] - 48)
                nd += 1
                if in_frac:
                    frac_digits += 1
            i += 1
        exponent = (-e if exp_negative else e) - frac_digits
        return _numeric_from_digits(buf, v, negative, digits, nd, exponent)
    finally:
        PyMem_Free(digits)


cdef int _numeric_from_digits(WriteBuffer buf, object v, bint negative, const char* digits,
                              Py_ssize_t nd, long long exponent) except -1:
    cdef long long int_len, frac_len, lead, total, ngroups, i, j, start, end, int_pad, frac_pad
    cdef long long weight
    cdef char* dig = NULL
    cdef char* p
    # int part: the digit string (plus exponent zeros) before the point;
    # frac part: -exponent digits after it (zeros first when digits run out)
    if exponent >= 0:
        int_len = nd + exponent
        frac_len = 0
    else:
        int_len = nd + exponent if nd > -exponent else 0
        frac_len = -exponent
    if frac_len > _NUMERIC_DSCALE_MAX:
        raise OverflowError(f"{_shown(v)} has more than {_NUMERIC_DSCALE_MAX} decimal digits")
    lead = 0  # leading zeros of the int part are dropped
    while lead < int_len and lead < nd and digits[lead] == 0:
        lead += 1
    if lead == nd and int_len > nd:
        lead = int_len  # nothing but zeros before the point
    int_len -= lead
    if int_len > _NUMERIC_MAX_INT_DIGITS:
        raise OverflowError(f"{_shown(v)} is out of range for numeric")
    int_pad = (4 - int_len % 4) % 4
    frac_pad = (4 - frac_len % 4) % 4
    total = int_pad + int_len + frac_len + frac_pad
    dig = <char*>PyMem_Malloc(total + 1)
    if dig == NULL:
        raise MemoryError()
    try:
        j = 0
        for i in range(int_pad):
            dig[j] = 0
            j += 1
        for i in range(int_len + frac_len):
            dig[j] = _numeric_digit(digits, nd, exponent, lead + i, frac_len)
            j += 1
        for i in range(frac_pad):
            dig[j] = 0
            j += 1
        ngroups = total // 4
        weight = (int_pad + int_len) // 4 - 1
        start = 0
        while start < ngroups and _group(dig, start) == 0:
            start += 1
            weight -= 1
        end = ngroups
        while end > start and _group(dig, end - 1) == 0:
            end -= 1
        if start == end:
            weight = 0
        if weight > 0x7FFF or weight < -0x8000:
            raise OverflowError(f"{_shown(v)} is out of range for numeric")
        p = _put_len(buf, 8 + 2 * (end - start))
        _put_u16(p, <uint16_t>(end - start))
        _put_u16(p + 2, <uint16_t><int16_t>weight)
        _put_u16(p + 4, _NUMERIC_NEG if negative else _NUMERIC_POS)
        _put_u16(p + 6, <uint16_t>frac_len)
        p += 8
        for i in range(start, end):
            _put_u16(p, <uint16_t>_group(dig, i))
            p += 2
    finally:
        PyMem_Free(dig)
    return 0


cdef inline int _group(char* dig, Py_ssize_t i) noexcept:
    return dig[4 * i] * 1000 + dig[4 * i + 1] * 100 + dig[4 * i + 2] * 10 + dig[4 * i + 3]


cdef inline char _numeric_digit(const char* digits, Py_ssize_t nd, long long exponent,
                                long long k, long long frac_len) noexcept:
    # Digit k of int part + frac part, before leading zeros are stripped.
    cdef long long pos
    if exponent >= 0:
        return digits[k] if k < nd else 0
    if nd > -exponent:
        return digits[k]
    pos = k - (frac_len - nd)  # int part empty; the fraction starts with zeros
    return digits[pos] if pos >= 0 else 0


cdef bint _is_date_max(object v):
    return cdt.date_year(v) == 9999 and cdt.date_month(v) == 12 and cdt.date_day(v) == 31


cdef bint _is_date_min(object v):
    return cdt.date_year(v) == 1 and cdt.date_month(v) == 1 and cdt.date_day(v) == 1


cdef int _enc_date(WriteBuffer buf, object v, object state) except -1:
    cdef int32_t days
    if PyDateTime_Check(v) or not PyDate_Check(v):
        return _again(buf, v, state, _enc_date, "date")
    if state is True and _is_date_max(v):
        days = _DATE_INFINITY
    elif state is True and _is_date_min(v):
        days = _DATE_NEG_INFINITY
    else:
        days = _ymd_to_ord(cdt.date_year(v), cdt.date_month(v), cdt.date_day(v)) - _PG_EPOCH_ORDINAL
    _put_u32(_put_len(buf, 4), <uint32_t>days)
    return 0


cdef inline long long _time_us(int h, int m, int s, int us) noexcept:
    return ((h * 60LL + m) * 60 + s) * 1000000LL + us


cdef int _enc_time(WriteBuffer buf, object v, object state) except -1:
    if not PyTime_Check(v):
        return _again(buf, v, state, _enc_time, "time")
    if cdt.time_tzinfo(v) is not None and v.utcoffset() is not None:
        raise ValueError("time needs a naive time; use timetz for an aware one")
    _put_u64(_put_len(buf, 8), <uint64_t>_time_us(
        cdt.time_hour(v), cdt.time_minute(v), cdt.time_second(v), cdt.time_microsecond(v)))
    return 0


cdef int _enc_timestamp(WriteBuffer buf, object v, object state) except -1:
    return _encode_datetime(buf, v, state, False)


cdef int _enc_timestamptz(WriteBuffer buf, object v, object state) except -1:
    return _encode_datetime(buf, v, state, True)


cdef int _encode_datetime(WriteBuffer buf, object v, object infinity, bint aware) except -1:
    cdef object offset = None
    cdef object tzinfo
    cdef long long us
    cdef int y, mo, d, h, mi, s, micro
    cdef bint has_offset = False
    if not PyDateTime_CheckExact(v) and (not PyDateTime_Check(v) or _plain(v) is not v):
        # pd.NaT and pd.Timestamp are datetimes too: made plain first
        return _again(buf, v, infinity, _enc_timestamptz if aware else _enc_timestamp,
                      "datetime")
    tzinfo = cdt.datetime_tzinfo(v)
    if tzinfo is _UTC:
        has_offset = True  # offset zero, without the call
    elif tzinfo is not None:
        offset = v.utcoffset()
        has_offset = offset is not None
    if not aware and has_offset:
        raise ValueError("timestamp needs a naive datetime; use timestamptz for an aware one")
    y, mo, d = cdt.datetime_year(v), cdt.datetime_month(v), cdt.datetime_day(v)
    h, mi, s = cdt.datetime_hour(v), cdt.datetime_minute(v), cdt.datetime_second(v)
    micro = cdt.datetime_microsecond(v)
    if infinity is True and y == 9999 and mo == 12 and d == 31 and h == 23 and mi == 59 \
            and s == 59 and micro == 999999:
        us = _TS_INFINITY
    elif infinity is True and y == 1 and mo == 1 and d == 1 and h == 0 and mi == 0 \
            and s == 0 and micro == 0:
        us = _TS_NEG_INFINITY
    else:
        us = (_ymd_to_ord(y, mo, d) - _PG_EPOCH_ORDINAL) * _US_PER_DAY + _time_us(h, mi, s, micro)
        if offset is not None:
            us -= (cdt.timedelta_days(offset) * 86400LL + cdt.timedelta_seconds(offset)) * 1000000LL
            us -= cdt.timedelta_microseconds(offset)
    _put_u64(_put_len(buf, 8), <uint64_t>us)
    return 0


cdef int _enc_interval(WriteBuffer buf, object v, object state) except -1:
    cdef char* p
    if not PyDelta_CheckExact(v) and (not PyDelta_Check(v) or _plain(v) is not v):
        return _again(buf, v, state, _enc_interval, "timedelta")
    p = _put_len(buf, 16)
    _put_u64(p, <uint64_t>(cdt.timedelta_seconds(v) * 1000000LL + cdt.timedelta_microseconds(v)))
    _put_u32(p + 8, <uint32_t>cdt.timedelta_days(v))
    _put_u32(p + 12, 0)
    return 0


cdef int _enc_uuid(WriteBuffer buf, object v, object state) except -1:
    if isinstance(v, str):
        v = _UUID(v)
    elif not isinstance(v, _UUID):
        return _again(buf, v, state, _enc_uuid, "UUID or str")
    PGCF_LONG_AS_BYTES(v.int, <unsigned char*>_put_len(buf, 16), 16)
    return 0


cdef int _enc_json(WriteBuffer buf, object v, object state) except -1:
    # state: (json_dumps, json_str, jsonb)
    cdef tuple st = <tuple>state
    cdef object raw
    cdef const char* data
    cdef Py_ssize_t size
    cdef char* p
    if type(v) not in _JSON_PLAIN:
        raw = _plain(v)
        if raw is None:
            _put_u32(buf._grow(4), 0xFFFFFFFF)
            buf._len += 4
            return 0
        v = raw
    if st[1] and isinstance(v, str):
        raw = v
    elif st[0] is _DEFAULT_DUMPS and _ORJSON_DUMPS is not None:
        # default_dumps without its Python frame (the same answers)
        try:
            raw = _ORJSON_DUMPS(v)
        except TypeError:
            raw = _stdlib_dumps(v)
        else:
            # bytes objects end in a NUL, and orjson escapes any inside
            if strstr(PyBytes_AS_STRING(raw), b"null") != NULL:
                _refuse_nonfinite(v)
    else:
        raw = st[0](v)
    if isinstance(raw, str):
        data = PyUnicode_AsUTF8AndSize(raw, &size)
    elif isinstance(raw, bytes):
        data = PyBytes_AS_STRING(raw)
        size = PyBytes_GET_SIZE(raw)
    else:
        kind = type(raw).__name__
        raise TypeError(f"json_dumps returned {kind}, not str or bytes")
    if memchr(data, 0, size) != NULL:
        raise ValueError(_NUL_MESSAGE)
    if st[2]:
        p = _put_len(buf, size + 1)
        p[0] = 1
        memcpy(p + 1, data, size)
    else:
        memcpy(_put_len(buf, size), data, size)
    return 0


cdef int _enc_python(WriteBuffer buf, object v, object state) except -1:
    # state: the pure twin's encoder, which appends length and bytes.
    cdef bytearray out = bytearray()
    state(out, v)
    _write_raw(buf, PyByteArray_AS_STRING(out), PyByteArray_GET_SIZE(out))
    return 0


# -- arrays -----------------------------------------------------------------------------

cdef class _ArrayCodec:
    """The element codec of an array column."""


cdef list _array_shape(object v):
    cdef list dims = []
    while isinstance(v, (list, tuple)):
        dims.append(len(v))
        if not v:
            return []
        v = v[0]
    if len(dims) > _ARRAY_MAX_DIMS:
        raise ValueError(f"arrays have at most {_ARRAY_MAX_DIMS} dimensions")
    return dims


cdef int _array_flatten(object v, list dims, Py_ssize_t depth, list flat) except -1:
    if depth == len(dims):
        if isinstance(v, (list, tuple)):
            raise ValueError("an array's sub-lists must all have the same length")
        flat.append(v)
        return 0
    if not isinstance(v, (list, tuple)) or len(v) != dims[depth]:
        raise ValueError("an array's sub-lists must all have the same length")
    for item in v:
        _array_flatten(item, dims, depth + 1, flat)
    return 0


cdef inline int _encode_element(WriteBuffer buf, object item, _ArrayCodec codec,
                                Py_ssize_t start) except -1:
    cdef Py_ssize_t size = buf._len
    codec.encode(buf, item, codec.state)
    if buf._len - size == 4 and _get_i32(buf._data + size) == -1:
        _put_u32(buf._data + start + 8, 1)  # a NaT or NA element: the array has a NULL
    return 0


cdef int _enc_array(WriteBuffer buf, object v, object state) except -1:
    cdef _ArrayCodec codec = <_ArrayCodec>state
    cdef list dims, flat = []
    cdef Py_ssize_t start, i, ndim
    cdef bint has_null = False
    cdef char* p
    if not isinstance(v, (list, tuple)):
        return _again(buf, v, state, _enc_array, "list or tuple")
    if len(v) and not isinstance(v[0], (list, tuple)):
        return _enc_array_1d(buf, v, codec)
    dims = _array_shape(v)
    if dims:
        _array_flatten(v, dims, 0, flat)
    for item in flat:
        if item is None:
            has_null = True
            break
    ndim = len(dims)
    start = buf._len
    p = buf._grow(16 + 8 * ndim)
    _put_u32(p + 4, <uint32_t>ndim)
    _put_u32(p + 8, 1 if has_null else 0)
    _put_u32(p + 12, codec.element_oid)
    for i in range(ndim):
        _put_u32(p + 16 + 8 * i, <uint32_t><long>dims[i])
        _put_u32(p + 20 + 8 * i, 1)
    buf._len += 16 + 8 * ndim
    for item in flat:
        if item is None:
            _put_u32(buf._grow(4), 0xFFFFFFFF)
            buf._len += 4
        else:
            _encode_element(buf, item, codec, start)
    _put_u32(buf._data + start, <uint32_t>(buf._len - start - 4))
    return 0


cdef int _enc_array_1d(WriteBuffer buf, object v, _ArrayCodec codec) except -1:
    # The common case, without the flattened copy: a list of scalars.
    cdef Py_ssize_t start, n = len(v)
    cdef bint has_null = False
    cdef char* p
    for item in v:
        if item is None:
            has_null = True
        elif isinstance(item, (list, tuple)):
            raise ValueError("an array's sub-lists must all have the same length")
    start = buf._len
    p = buf._grow(24)
    _put_u32(p + 4, 1)
    _put_u32(p + 8, 1 if has_null else 0)
    _put_u32(p + 12, codec.element_oid)
    _put_u32(p + 16, <uint32_t>n)
    _put_u32(p + 20, 1)
    buf._len += 24
    for item in v:
        if item is None:
            _put_u32(buf._grow(4), 0xFFFFFFFF)
            buf._len += 4
        else:
            _encode_element(buf, item, codec, start)
    _put_u32(buf._data + start, <uint32_t>(buf._len - start - 4))
    return 0


# -- scalar decoders --------------------------------------------------------------------

cdef inline int _size_is(Py_ssize_t n, Py_ssize_t size, str name) except -1:
    if n != size:
        raise ValueError(f"{name} has {size} bytes, got {n}")
    return 0


cdef object _dec_bool(const char* p, Py_ssize_t n, object state):
    if n != 1:
        raise ValueError(f"bool has 1 byte, got {n}")
    return p[0] != 0


cdef object _dec_int2(const char* p, Py_ssize_t n, object state):
    _size_is(n, 2, "int2")
    return PyLong_FromLong(_get_i16(p))


cdef object _dec_int4(const char* p, Py_ssize_t n, object state):
    _size_is(n, 4, "int4")
    return PyLong_FromLong(_get_i32(p))


cdef object _dec_int8(const char* p, Py_ssize_t n, object state):
    _size_is(n, 8, "int8")
    return PyLong_FromLongLong(<long long>_get_u64(p))


cdef object _dec_oid(const char* p, Py_ssize_t n, object state):
    _size_is(n, 4, "oid")
    return PyLong_FromUnsignedLong(<uint32_t>_get_i32(p))


cdef object _dec_float4(const char* p, Py_ssize_t n, object state):
    cdef uint32_t bits
    cdef float f
    _size_is(n, 4, "float4")
    bits = <uint32_t>_get_i32(p)
    memcpy(&f, &bits, 4)
    return <double>f


cdef object _dec_float8(const char* p, Py_ssize_t n, object state):
    cdef uint64_t bits
    cdef double d
    _size_is(n, 8, "float8")
    bits = _get_u64(p)
    memcpy(&d, &bits, 8)
    return d


cdef object _dec_text(const char* p, Py_ssize_t n, object state):
    return PyUnicode_DecodeUTF8(p, n, NULL)


cdef object _dec_char(const char* p, Py_ssize_t n, object state):
    # charout's text: the zero byte is '', a byte from 0x80 is \\ooo
    cdef unsigned char code
    if n != 1:
        raise ValueError(f'"char" has 1 byte, got {n}')
    code = <unsigned char>p[0]
    if code >= 0x80:
        return f"\\{code:03o}"
    return chr(code) if code else ""


cdef object _dec_bytea(const char* p, Py_ssize_t n, object state):
    return PyBytes_FromStringAndSize(p, n)


cdef object _dec_numeric(const char* p, Py_ssize_t n, object state):
    # ndigits is unsigned: 131072 integer digits are 32768 groups (numeric_recv)
    cdef uint16_t ndigits
    cdef int16_t weight
    cdef uint16_t sign, dscale, g
    cdef Py_ssize_t i, int_groups, k
    cdef bytearray text
    cdef char* o
    cdef Py_ssize_t pos
    cdef bint seen
    if n < 8:
        raise ValueError(f"numeric has at least 8 bytes, got {n}")
    ndigits = <uint16_t>_get_i16(p)
    weight = _get_i16(p + 2)
    sign = <uint16_t>_get_i16(p + 4)
    dscale = <uint16_t>_get_i16(p + 6)
    if n != 8 + 2 * <Py_ssize_t>ndigits:
        raise ValueError(f"numeric with {ndigits} digits has {n} bytes")
    if sign == _NUMERIC_NAN:
        return _DEC_NAN
    if sign == _NUMERIC_PINF:
        return _DEC_INF
    if sign == _NUMERIC_NINF:
        return _DEC_NINF
    if (sign != _NUMERIC_POS and sign != _NUMERIC_NEG) or dscale > _NUMERIC_DSCALE_MAX:
        raise ValueError(f"invalid numeric sign {sign:#06x} or scale {dscale}")
    for i in range(ndigits):
        if <uint16_t>_get_i16(p + 8 + 2 * i) > 9999:
            raise ValueError("numeric digit out of range")
    # "-" + int digits + "." + dscale fraction digits
    int_groups = weight + 1 if weight >= 0 else 0
    cdef Py_ssize_t need = 2 + 4 * (int_groups if int_groups > 0 else 1) + 1 + dscale
    cdef char small[128]  # most numerics: no heap buffer at all
    if need <= 128:
        o = small
    else:
        text = bytearray(need)
        o = PyByteArray_AS_STRING(text)
    pos = 0
    if sign == _NUMERIC_NEG:
        o[pos] = b'-'
        pos += 1
    seen = False
    for i in range(int_groups):
        g = <uint16_t>_get_i16(p + 8 + 2 * i) if i < ndigits else 0
        for k in range(4):
            if seen or (g // _POW10[k]) % 10 or (i == int_groups - 1 and k == 3):
                o[pos] = <char>(48 + (g // _POW10[k]) % 10)
                pos += 1
                seen = True
    if not seen:
        o[pos] = b'0'
        pos += 1
    if dscale:
        o[pos] = b'.'
        pos += 1
        for i in range(dscale):
            # fraction digit i sits in group weight + 1 + i // 4
            k = weight + 1 + i // 4
            if 0 <= k < ndigits:
                g = <uint16_t>_get_i16(p + 8 + 2 * k)
                o[pos] = <char>(48 + (g // _POW10[i % 4]) % 10)
            else:
                o[pos] = b'0'
            pos += 1
    return _Decimal(PyUnicode_FromStringAndSize(o, pos))


cdef object _dec_date(const char* p, Py_ssize_t n, object state):
    cdef int32_t days
    cdef int y, m, d, ordinal
    _size_is(n, 4, "date")
    days = _get_i32(p)
    if days == _DATE_INFINITY or days == _DATE_NEG_INFINITY:
        if state is not True:
            raise ValueError(
                "infinite date has no Python value (CodecOptions(infinity=True) "
                "maps it to date.max / date.min)"
            )
        return _dt.date.max if days > 0 else _dt.date.min
    ordinal = days + _PG_EPOCH_ORDINAL
    if ordinal < 1 or ordinal > _MAX_ORDINAL:
        raise ValueError(f"date out of range for Python: {days} days from 2000-01-01")
    _ord_to_ymd(ordinal, &y, &m, &d)
    return date_new(y, m, d)


cdef object _time_of(long long us):
    cdef long long seconds
    if us < 0 or us >= _US_PER_DAY:
        raise ValueError(f"time of {us} microseconds has no Python value")
    seconds = us // 1000000
    return cdt.time_new(<int>(seconds // 3600), <int>(seconds // 60 % 60), <int>(seconds % 60),
                        <int>(us % 1000000), None)


cdef object _dec_time(const char* p, Py_ssize_t n, object state):
    _size_is(n, 8, "time")
    return _time_of(<long long>_get_u64(p))


cdef object _dec_timestamp(const char* p, Py_ssize_t n, object state):
    return _decode_datetime(p, n, state, False)


cdef object _dec_timestamptz(const char* p, Py_ssize_t n, object state):
    return _decode_datetime(p, n, state, True)


cdef object _decode_datetime(const char* p, Py_ssize_t n, object infinity, bint aware):
    cdef str name = "timestamptz" if aware else "timestamp"
    cdef long long us, days, rem, seconds
    cdef int y, m, d
    cdef object value
    _size_is(n, 8, name)
    us = <long long>_get_u64(p)
    if us == _TS_INFINITY or us == _TS_NEG_INFINITY:
        if infinity is not True:
            raise ValueError(
                f"infinite {name} has no Python value (CodecOptions(infinity=True) "
                "maps it to datetime.max / datetime.min)"
            )
        value = _dt.datetime.max if us > 0 else _dt.datetime.min
        return value.replace(tzinfo=_UTC) if aware else value
    days = _floordiv(us, _US_PER_DAY)
    rem = us - days * _US_PER_DAY
    if days + _PG_EPOCH_ORDINAL < 1 or days + _PG_EPOCH_ORDINAL > _MAX_ORDINAL:
        raise ValueError(f"{name} out of range for Python: {us} microseconds from 2000-01-01")
    _ord_to_ymd(<int>(days + _PG_EPOCH_ORDINAL), &y, &m, &d)
    seconds = rem // 1000000
    return datetime_new(y, m, d, <int>(seconds // 3600), <int>(seconds // 60 % 60),
                        <int>(seconds % 60), <int>(rem % 1000000), _UTC if aware else None)


cdef object _dec_interval(const char* p, Py_ssize_t n, object state):
    cdef long long us, total_days, extra
    cdef int32_t days, months
    _size_is(n, 16, "interval")
    us = <long long>_get_u64(p)
    days = _get_i32(p + 8)
    months = _get_i32(p + 12)
    if state is True:
        return (months, days, us)
    extra = _floordiv(us, _US_PER_DAY)
    total_days = months * 30LL + days + extra
    us -= extra * _US_PER_DAY
    if total_days > 999999999 or total_days < -999999999:
        raise ValueError("interval out of range for timedelta")
    return timedelta_new(<int>total_days, <int>(us // 1000000), <int>(us % 1000000))


cdef object _dec_uuid(const char* p, Py_ssize_t n, object state):
    # UUID(bytes=...) runs a Python __init__; setting the slots directly is
    # several times faster and gives the same object.
    cdef object value
    _size_is(n, 16, "uuid")
    value = PyType_GenericNew(_UUID, None, None)
    PyObject_GenericSetAttr(value, _ATTR_INT, _PyLong_FromByteArray(<const unsigned char*>p, 16, 0, 0))
    PyObject_GenericSetAttr(value, _ATTR_IS_SAFE, _UUID_SAFE_UNKNOWN)
    return value


cdef bint _long_digit_run(const char* p, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i, run = 0
    for i in range(n):
        if 48 <= p[i] <= 57:
            run += 1
            if run >= 19:
                return True
        else:
            run = 0
    return False


cdef object _dec_json(const char* p, Py_ssize_t n, object state):
    # state: (json_loads, jsonb)
    cdef tuple st = <tuple>state
    if st[1]:
        if n < 1 or p[0] != 1:
            raise ValueError(f"unsupported jsonb version {p[:1 if n else 0]!r}")
        p += 1
        n -= 1
    try:
        return _loads_json(p, n, st[0])
    except RecursionError:
        raise ValueError(_JSON_TOO_DEEP) from None


cdef object _loads_json(const char* p, Py_ssize_t n, object loads):
    if loads is _ORJSON_LOADS:
        # orjson parses (and validates) bytes itself: a view spares the copy
        # into a str, and it keeps no reference to it.
        return loads(PyMemoryView_FromMemory(<char*>p, n, PyBUF_READ))
    if loads is _DEFAULT_LOADS:
        # default_loads without its Python frame (the same answers): orjson
        # unless a run of 19 digits might be an integer past 64 bits
        if _ORJSON_LOADS is not None and not _long_digit_run(p, n):
            try:
                return _ORJSON_LOADS(PyMemoryView_FromMemory(<char*>p, n, PyBUF_READ))
            except _ORJSON_ERROR:
                pass  # what orjson refuses (1E400), the stdlib may read
        return _stdlib_loads(PyBytes_FromStringAndSize(p, n))
    return loads(PyUnicode_DecodeUTF8(p, n, NULL))


cdef object _dec_python(const char* p, Py_ssize_t n, object state):
    return state(PyBytes_FromStringAndSize(p, n))


cdef object _dec_array_1d(const char* p, Py_ssize_t n, Py_ssize_t pos, Py_ssize_t total,
                          _ArrayCodec codec):
    cdef list out = PyList_New(total)
    cdef Py_ssize_t i
    cdef int32_t length
    cdef object item
    for i in range(total):
        if pos + 4 > n:
            _fill_none(out, i, total)
            raise ValueError("array elements run past the end")
        length = _get_i32(p + pos)
        pos += 4
        if length == -1:
            item = None
        elif length < 0 or pos + length > n:
            _fill_none(out, i, total)
            raise ValueError("array elements run past the end")
        else:
            try:
                item = codec.decode(p + pos, length, codec.state)
            except BaseException:
                _fill_none(out, i, total)
                raise
            pos += length
        Py_INCREF(item)
        PyList_SET_ITEM(out, i, item)
    if pos != n:
        raise ValueError("array has bytes after its last element")
    return out


cdef void _fill_none(list out, Py_ssize_t start, Py_ssize_t total):
    # A list from PyList_New holds NULLs; give the unset slots None before
    # it can be seen or freed.
    cdef Py_ssize_t i
    for i in range(start, total):
        Py_INCREF(None)
        PyList_SET_ITEM(out, i, None)


cdef object _dec_array(const char* p, Py_ssize_t n, object state):
    cdef _ArrayCodec codec = <_ArrayCodec>state
    cdef int32_t ndim, flags, size, length
    cdef long long total = 1
    cdef Py_ssize_t pos, i, room
    cdef list dims = [], flat, grouped
    if n < 12:
        raise ValueError(f"array has at least 12 bytes, got {n}")
    ndim = _get_i32(p)
    flags = _get_i32(p + 4)
    if ndim < 0 or ndim > _ARRAY_MAX_DIMS or (flags != 0 and flags != 1):
        raise ValueError(f"invalid array header: {ndim} dimensions, flags {flags}")
    if n < 12 + 8 * ndim:
        raise ValueError("array dimensions run past the end")
    if ndim == 1:  # the common case, without the list of dimensions
        size = _get_i32(p + 12)
        if size < 0:
            raise ValueError(f"invalid array dimension {size}")
        if <long long>size * 4 > n - 20:
            raise ValueError("array elements run past the end")
        return _dec_array_1d(p, n, 20, size, codec)
    for i in range(ndim):
        size = _get_i32(p + 12 + 8 * i)
        dims.append(size)
    pos = 12 + 8 * ndim
    # Every element takes at least its 4-byte length, so more elements than
    # room could hold run past the end.  The product saturates at room + 1
    # (below 2**28, so total * size stays far from int64 overflow; a later
    # zero dimension still makes it 0), the pure twin's exact answer.
    room = (n - pos) // 4
    for size in dims:
        if size < 0:
            raise ValueError(f"invalid array dimension {size}")
        total = total * size
        if total > room:
            total = room + 1
    if ndim == 0:
        total = 0
    if total > room:
        raise ValueError("array elements run past the end")
    if ndim == 1:
        return _dec_array_1d(p, n, pos, total, codec)
    flat = []
    for i in range(total):
        if pos + 4 > n:
            raise ValueError("array elements run past the end")
        length = _get_i32(p + pos)
        pos += 4
        if length == -1:
            flat.append(None)
            continue
        if length < 0 or pos + length > n:
            raise ValueError("array elements run past the end")
        flat.append(codec.decode(p + pos, length, codec.state))
        pos += length
    if pos != n:
        raise ValueError("array has bytes after its last element")
    if total == 0:
        return []  # as array_recv: no elements is the empty array
    for i in range(ndim - 1, 0, -1):
        size = dims[i]
        flat = [flat[j:j + size] for j in range(0, len(flat), size)]
    return flat


# -- choosing a codec ------------------------------------------------------------

cdef tuple _TEXT_TYPES = _pgtypes.TEXT_TYPES
cdef frozenset _BINARY_TYPES = _codecs_py.BINARY_TYPES


def binary_types() -> frozenset:
    """The canonical type names this twin has binary codecs for."""
    return _BINARY_TYPES


cdef object _scalar_encoder(str name, object options, bin_encode_fn* fn):
    # Sets fn to the encoder and returns its state.
    fn[0] = NULL
    if name == "bool":
        fn[0] = _enc_bool
    elif name == "int2":
        fn[0] = _enc_int2
    elif name == "int4":
        fn[0] = _enc_int4
    elif name == "int8":
        fn[0] = _enc_int8
    elif name == "oid":
        fn[0] = _enc_oid
    elif name == "float4":
        fn[0] = _enc_float4
    elif name == "float8":
        fn[0] = _enc_float8
    elif name in _TEXT_TYPES:
        fn[0] = _enc_text
    elif name == "char":
        fn[0] = _enc_char
    elif name == "bytea":
        fn[0] = _enc_bytea
    elif name == "numeric":
        fn[0] = _enc_numeric
    elif name == "time":
        fn[0] = _enc_time
    elif name == "interval":
        fn[0] = _enc_interval
    elif name == "uuid":
        fn[0] = _enc_uuid
    if fn[0] != NULL:
        return None
    if name == "date":
        fn[0] = _enc_date
    elif name == "timestamp":
        fn[0] = _enc_timestamp
    elif name == "timestamptz":
        fn[0] = _enc_timestamptz
    if fn[0] != NULL:
        return bool(options.infinity)
    if name == "json" or name == "jsonb":
        fn[0] = _enc_json
        return (options.json_dumps, bool(options.json_str), name == "jsonb")
    fn[0] = _enc_python
    return _codecs_py.encoder_for(name, options)


cdef object _binary_encoder(str name, object options, object element_oid, bin_encode_fn* fn):
    cdef _ArrayCodec codec
    cdef bin_encode_fn element
    if name.startswith("_"):
        codec = _ArrayCodec()
        codec.state = _scalar_encoder(name[1:], options, &element)
        codec.encode = element
        codec.element_oid = <uint32_t>(
            element_oid if element_oid is not None else _OIDS.get(name[1:], 0))
        fn[0] = _enc_array
        return codec
    return _scalar_encoder(name, options, fn)


cdef object _scalar_decoder(str name, object options, bin_decode_fn* fn):
    # Sets fn to the decoder and returns its state.
    fn[0] = NULL
    if name == "bool":
        fn[0] = _dec_bool
    elif name == "int2":
        fn[0] = _dec_int2
    elif name == "int4":
        fn[0] = _dec_int4
    elif name == "int8":
        fn[0] = _dec_int8
    elif name == "oid":
        fn[0] = _dec_oid
    elif name == "float4":
        fn[0] = _dec_float4
    elif name == "float8":
        fn[0] = _dec_float8
    elif name in _TEXT_TYPES:
        fn[0] = _dec_text
    elif name == "char":
        fn[0] = _dec_char
    elif name == "bytea":
        fn[0] = _dec_bytea
    elif name == "numeric":
        fn[0] = _dec_numeric
    elif name == "time":
        fn[0] = _dec_time
    elif name == "uuid":
        fn[0] = _dec_uuid
    if fn[0] != NULL:
        return None
    if name == "date":
        fn[0] = _dec_date
    elif name == "timestamp":
        fn[0] = _dec_timestamp
    elif name == "timestamptz":
        fn[0] = _dec_timestamptz
    if fn[0] != NULL:
        return bool(options.infinity)
    if name == "interval":
        fn[0] = _dec_interval
        return bool(options.interval_tuple)
    if name == "json" or name == "jsonb":
        fn[0] = _dec_json
        return (options.json_loads, name == "jsonb")
    fn[0] = _dec_python
    return _codecs_py.decoder_for(name, options)


cdef object _binary_decoder(str name, object options, bin_decode_fn* fn):
    cdef _ArrayCodec codec
    cdef bin_decode_fn element
    if name.startswith("_"):
        codec = _ArrayCodec()
        codec.state = _scalar_decoder(name[1:], options, &element)
        codec.decode = element
        fn[0] = _dec_array
        return codec
    return _scalar_decoder(name, options, fn)
