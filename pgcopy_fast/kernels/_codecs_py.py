"""Binary value codecs of the pure-Python twin, one pair per PostgreSQL type.

``encoder_for(name, options, element_oid)`` returns ``f(out, value)`` that
appends the value's length and bytes to a bytearray; ``decoder_for(name,
options)`` returns ``f(raw) -> value``.  Errors: TypeError for a value of the
wrong Python type, OverflowError for one out of range, ValueError for one
that no PostgreSQL value matches.  The compiled twin (``_codecs_c.pxi``)
has the same functions with the same messages.
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import struct
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from ..errors import InterfaceError
from ..options import CodecOptions, default_loads
from .consts import (
    ARRAY_MAX_DIMS,
    DATE_INFINITY,
    DATE_NEG_INFINITY,
    FLT_MAX,
    FLT_OVERFLOW,
    MAX_DATE_ORDINAL,
    NUMERIC_DSCALE_MAX,
    NUMERIC_MAX_INT_DIGITS,
    NUMERIC_NAN,
    NUMERIC_NEG,
    NUMERIC_NINF,
    NUMERIC_PINF,
    NUMERIC_POS,
    PG_EPOCH_ORDINAL,
    TIMESTAMP_INFINITY,
    TIMESTAMP_NEG_INFINITY,
    USECS_PER_DAY,
)
from .pgtypes import OIDS, TEXT_TYPES
from .values import NUL_MESSAGE, got, plain
from .values import shown as _shown

_ORJSON_LOADS: Any
try:
    from orjson import loads as _ORJSON_LOADS
except ImportError:  # pragma: no cover - depends on the environment
    _ORJSON_LOADS = None

__all__ = [
    "encoder_for",
    "decoder_for",
    "BINARY_TYPES",
    "check_types",
    "check_element_oids",
]

Encode = Callable[[bytearray, Any], None]
Decode = Callable[[bytes], Any]

_i16 = struct.Struct(">h")
_i32 = struct.Struct(">i")
_i64 = struct.Struct(">q")
_u32 = struct.Struct(">I")
_f32 = struct.Struct(">f")
_f64 = struct.Struct(">d")
_len_i16 = struct.Struct(">ih").pack
_len_i32 = struct.Struct(">ii").pack
_len_i64 = struct.Struct(">iq").pack
_len_u32 = struct.Struct(">iI").pack
_len_f32 = struct.Struct(">if").pack
_len_f64 = struct.Struct(">id").pack

_NULL = b"\xff\xff\xff\xff"
_PG_EPOCH = datetime.datetime.fromordinal(PG_EPOCH_ORDINAL)
_PG_EPOCH_UTC = _PG_EPOCH.replace(tzinfo=datetime.timezone.utc)
_AF_INET, _AF_INET6 = 2, 3


def _again(out: bytearray, v: Any, encode: Encode, expected: str) -> None:
    """A value the encoder's type check refused, made plain (see values.plain).

    NaT and NA are NULL; a numpy scalar is encoded as the value it holds;
    anything else is the TypeError, naming the original type.
    """
    value = plain(v)
    if value is None:
        out += _NULL
        return
    if value is v:
        raise TypeError(f"expected {expected}, got {got(v)}")
    try:
        encode(out, value)
    except TypeError:
        raise TypeError(f"expected {expected}, got {got(v)}") from None


def _int_range(v: int, lo: int, hi: int, pg_type: str) -> None:
    if v < lo or v > hi:
        raise OverflowError(f"{_shown(v)} is out of range for {pg_type}")


def _put(out: bytearray, raw: bytes | bytearray) -> None:
    out += _i32.pack(len(raw))
    out += raw


# -- scalars ------------------------------------------------------------------


def _enc_bool(out: bytearray, v: Any) -> None:
    if v is True:
        out += b"\x00\x00\x00\x01\x01"
    elif v is False:
        out += b"\x00\x00\x00\x01\x00"
    else:
        _again(out, v, _enc_bool, "bool")


def _enc_int2(out: bytearray, v: Any) -> None:
    if isinstance(v, int) and -0x8000 <= v <= 0x7FFF:
        out += _len_i16(2, v)
    elif isinstance(v, int):
        _int_range(v, -0x8000, 0x7FFF, "int2")
    else:
        _again(out, v, _enc_int2, "int")


def _enc_int4(out: bytearray, v: Any) -> None:
    if isinstance(v, int) and -0x80000000 <= v <= 0x7FFFFFFF:
        out += _len_i32(4, v)
    elif isinstance(v, int):
        _int_range(v, -0x80000000, 0x7FFFFFFF, "int4")
    else:
        _again(out, v, _enc_int4, "int")


def _enc_int8(out: bytearray, v: Any) -> None:
    if isinstance(v, int) and -(2**63) <= v <= 2**63 - 1:
        out += _len_i64(8, v)
    elif isinstance(v, int):
        _int_range(v, -(2**63), 2**63 - 1, "int8")
    else:
        _again(out, v, _enc_int8, "int")


def _enc_oid(out: bytearray, v: Any) -> None:
    if isinstance(v, int) and 0 <= v <= 0xFFFFFFFF:
        out += _len_u32(4, v)
    elif isinstance(v, int):
        _int_range(v, 0, 0xFFFFFFFF, "oid")
    else:
        _again(out, v, _enc_oid, "int")


def float4_tie(d: float) -> int:
    """Which way float4in rounds a double halfway between two float4 values.

    The text path sends repr(d), and float4in rounds that decimal, which
    lies a little beyond d (1: away from zero) or short of it (-1); on d
    itself (0) round-half-even applies, as in a cast.  Both twins call this.
    """
    shown, exact = Decimal(repr(abs(d))), Decimal(abs(d))
    return (shown > exact) - (shown < exact)


def _float4_value(d: float) -> float:
    """The float4 value that float4in stores for repr(d), as a double.

    Raises:
        OverflowError: float4in refuses it (overflow, or underflow to zero).
    """
    if not math.isfinite(d):
        return d
    if abs(d) >= FLT_OVERFLOW:
        if abs(d) == FLT_OVERFLOW:  # its repr is just below: FLT_MAX
            return math.copysign(FLT_MAX, d)
        raise OverflowError(f"{d!r} is out of range for float4")
    rounded: float = _f32.unpack(_f32.pack(d))[0]
    if rounded != d:
        # Exactly the float4 on d's other side when d is halfway between two.
        other = 2.0 * d - rounded
        if abs(other) < FLT_OVERFLOW and _f32.unpack(_f32.pack(other))[0] == other:
            way = float4_tie(d)
            if way:
                far = other if abs(other) > abs(rounded) else rounded
                near = rounded if far is other else other
                rounded = far if way > 0 else near
        if rounded == 0.0:
            raise OverflowError(f"{d!r} is out of range for float4")
    return rounded


def _enc_float4(out: bytearray, v: Any) -> None:
    if isinstance(v, float | int):
        out += _len_f32(4, _float4_value(float(v)))
    else:
        _again(out, v, _enc_float4, "float or int")


def _enc_float8(out: bytearray, v: Any) -> None:
    if type(v) is float:
        out += _len_f64(8, v)
    elif isinstance(v, float | int):
        out += _len_f64(8, float(v))
    else:
        _again(out, v, _enc_float8, "float or int")


def _enc_text(out: bytearray, v: Any) -> None:
    if isinstance(v, str):
        raw = v.encode()
        if b"\x00" in raw:
            raise ValueError(NUL_MESSAGE)
        out += _i32.pack(len(raw))
        out += raw
    else:
        _again(out, v, _enc_text, "str")


_CHAR_SPELLING = (
    "\"char\" holds one byte: a str of one ASCII character, '', or \\ooo "
    "for a byte from 0x80 (as the server writes them)"
)


def _enc_char(out: bytearray, v: Any) -> None:
    # The texts charout writes, and only those, so that a value reads back
    # as itself: '' is the zero byte, a byte from 0x80 is \ooo (PG 15+).
    if not isinstance(v, str):
        _again(out, v, _enc_char, "str")
        return
    n = len(v)
    if n == 1 and 0 < ord(v) < 0x80:
        code = ord(v)
    elif n == 0:
        code = 0
    elif n == 4 and v[0] == "\\" and v[1] in "23" and set(v[2:]) <= _OCTAL:
        code = int(v[1:], 8)
    else:
        raise ValueError(_CHAR_SPELLING)
    out += b"\x00\x00\x00\x01"
    out.append(code)


_OCTAL = frozenset("01234567")


def _enc_bytea(out: bytearray, v: Any) -> None:
    if isinstance(v, bytes | bytearray):
        _put(out, v)
    elif isinstance(v, memoryview):
        _put(out, v.tobytes())
    else:
        _again(out, v, _enc_bytea, "bytes, bytearray or memoryview")


def _numeric_parts(v: Any) -> tuple[int, int, int, list[int]]:
    """(sign, weight, dscale, base-10000 digits) of a Decimal, int or float."""
    if isinstance(v, Decimal):
        d = v
    elif isinstance(v, int):
        d = Decimal(int(v))
    elif isinstance(v, float):
        d = Decimal(repr(float(v))) if math.isfinite(v) else Decimal(float(v))
    else:
        raise TypeError(f"expected Decimal, int or float, got {got(v)}")
    if d.is_nan():
        if d.is_snan():
            raise ValueError("a signaling NaN has no PostgreSQL value")
        return NUMERIC_NAN, 0, 0, []
    if d.is_infinite():
        return (NUMERIC_NINF if d < 0 else NUMERIC_PINF), 0, 0, []
    sign, digit_tuple, exponent = d.as_tuple()
    assert isinstance(exponent, int)
    if (
        exponent >= 0
        and any(digit_tuple)
        and len(digit_tuple) + exponent > NUMERIC_MAX_INT_DIGITS
    ):
        raise OverflowError(f"{_shown(v)} is out of range for numeric")
    digits = "".join(map(str, digit_tuple))
    if exponent >= 0:
        int_part, frac_part = digits + "0" * exponent, ""
    elif len(digits) > -exponent:
        int_part, frac_part = digits[:exponent], digits[exponent:]
    else:
        int_part, frac_part = "", "0" * (-exponent - len(digits)) + digits
    dscale = len(frac_part)
    if dscale > NUMERIC_DSCALE_MAX:
        raise OverflowError(
            f"{_shown(v)} has more than {NUMERIC_DSCALE_MAX} decimal digits"
        )
    int_part = int_part.lstrip("0")
    int_part = "0" * (-len(int_part) % 4) + int_part
    frac_part = frac_part + "0" * (-len(frac_part) % 4)
    both = int_part + frac_part
    groups = [int(both[i : i + 4]) for i in range(0, len(both), 4)]
    weight = len(int_part) // 4 - 1
    start = 0
    while start < len(groups) and groups[start] == 0:
        start += 1
        weight -= 1
    end = len(groups)
    while end > start and groups[end - 1] == 0:
        end -= 1
    groups = groups[start:end]
    if not groups:
        weight = 0
    if weight > 0x7FFF or weight < -0x8000:
        raise OverflowError(f"{_shown(v)} is out of range for numeric")
    return (NUMERIC_NEG if sign else NUMERIC_POS), weight, dscale, groups


_POW10 = [10**i for i in range(4)]


def _numeric_small(v: Any) -> tuple[int, int, int, list[int]] | None:
    """_numeric_parts by integer arithmetic, for the common small values."""
    if type(v) is int:
        if not -(10**36) < v < 10**36:
            return None
        text, exponent = str(v), 0
    else:
        text = str(v)
        mantissa, _, exp_text = text.partition("E")
        if not mantissa[-1:].isdigit() or len(mantissa) > 38:
            return None  # NaN, Infinity, or too long for the fast path
        int_text, _, frac_text = mantissa.partition(".")
        exponent = (int(exp_text) if exp_text else 0) - len(frac_text)
        if not -1000 <= exponent <= 40:
            return None
        text = int_text + frac_text
    negative = text.startswith("-")
    coefficient = int(text.lstrip("-"))
    if exponent > 0:
        coefficient *= 10**exponent
        exponent = 0
    dscale = -exponent
    pad = -dscale % 4
    coefficient *= _POW10[pad]
    frac_groups = (dscale + pad) // 4
    groups = []  # least significant first
    while coefficient:
        coefficient, rest = divmod(coefficient, 10000)
        groups.append(rest)
    weight = len(groups) - frac_groups - 1
    start = 0
    while start < len(groups) and groups[start] == 0:
        start += 1  # trailing zero groups go
    groups = groups[start:][::-1]
    if not groups:
        weight = 0
    return (NUMERIC_NEG if negative else NUMERIC_POS), weight, dscale, groups


def _enc_numeric(out: bytearray, v: Any) -> None:
    parts = None
    if type(v) is Decimal or type(v) is int:
        parts = _numeric_small(v)
    elif not isinstance(v, Decimal | int | float):
        _again(out, v, _enc_numeric, "Decimal, int or float")
        return
    sign, weight, dscale, groups = parts if parts is not None else _numeric_parts(v)
    n = len(groups)
    # ndigits is unsigned: 131072 integer digits are 32768 groups (numeric_recv)
    out += struct.pack(f">iHhHH{n}H", 8 + 2 * n, n, weight, sign, dscale, *groups)


def _make_enc_date(options: CodecOptions) -> Encode:
    def enc(out: bytearray, v: Any) -> None:
        if type(v) is not datetime.date and (
            isinstance(v, datetime.datetime) or not isinstance(v, datetime.date)
        ):
            _again(out, v, enc, "date")
            return
        if options.infinity and v == datetime.date.max:
            days = DATE_INFINITY
        elif options.infinity and v == datetime.date.min:
            days = DATE_NEG_INFINITY
        else:
            days = v.toordinal() - PG_EPOCH_ORDINAL
        out += _len_i32(4, days)

    return enc


def _time_us(v: datetime.time) -> int:
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond


def _enc_time(out: bytearray, v: Any) -> None:
    if not isinstance(v, datetime.time):
        _again(out, v, _enc_time, "time")
        return
    if v.utcoffset() is not None:
        raise ValueError("time needs a naive time; use timetz for an aware one")
    out += _len_i64(8, _time_us(v))


def _enc_timetz(out: bytearray, v: Any) -> None:
    if not isinstance(v, datetime.time):
        _again(out, v, _enc_timetz, "time")
        return
    offset = v.utcoffset()
    if offset is None:
        raise ValueError("timetz needs an aware time")
    if offset.microseconds:
        raise ValueError("timetz offsets are whole seconds")
    out += struct.pack(">iqi", 12, _time_us(v), -(offset.days * 86400 + offset.seconds))


def _datetime_us(v: datetime.datetime) -> int:
    days = v.toordinal() - PG_EPOCH_ORDINAL
    return days * USECS_PER_DAY + _time_us(v.time())


_ONE_US = datetime.timedelta(microseconds=1)


def _make_enc_timestamp(options: CodecOptions, aware: bool) -> Encode:
    if not options.infinity:
        epoch_utc, epoch = _PG_EPOCH_UTC, _PG_EPOCH

        def fast(out: bytearray, v: Any) -> None:
            # datetime arithmetic in C: the offset is applied by the subtraction
            if type(v) is datetime.datetime:
                if v.tzinfo is None:
                    out += _len_i64(8, (v - epoch) // _ONE_US)
                    return
                if aware:
                    try:
                        out += _len_i64(8, (v - epoch_utc) // _ONE_US)
                        return
                    except TypeError:
                        pass  # a tzinfo whose utcoffset() is None: naive

            slow(out, v)

    def slow(out: bytearray, v: Any) -> None:
        if type(v) is not datetime.datetime:
            # pd.NaT and pd.Timestamp are datetimes too: made plain first
            value = plain(v)
            if value is not v or not isinstance(v, datetime.datetime):
                _again(out, v, slow, "datetime")
                return
        offset = v.utcoffset()
        if not aware and offset is not None:
            raise ValueError(
                "timestamp needs a naive datetime; use timestamptz for an aware one"
            )
        if options.infinity and v.replace(tzinfo=None) == datetime.datetime.max:
            us = TIMESTAMP_INFINITY
        elif options.infinity and v.replace(tzinfo=None) == datetime.datetime.min:
            us = TIMESTAMP_NEG_INFINITY
        else:
            us = _datetime_us(v)
            if offset is not None:
                us -= (offset.days * 86400 + offset.seconds) * 1_000_000
                us -= offset.microseconds
        out += _len_i64(8, us)

    return slow if options.infinity else fast


def _enc_interval(out: bytearray, v: Any) -> None:
    if type(v) is not datetime.timedelta and (
        not isinstance(v, datetime.timedelta) or plain(v) is not v
    ):
        _again(out, v, _enc_interval, "timedelta")
        return
    out += struct.pack(">iqii", 16, v.seconds * 1_000_000 + v.microseconds, v.days, 0)


def _enc_uuid(out: bytearray, v: Any) -> None:
    if isinstance(v, str):
        v = uuid.UUID(v)
    elif not isinstance(v, uuid.UUID):
        _again(out, v, _enc_uuid, "UUID or str")
        return
    out += b"\x00\x00\x00\x10" + v.bytes


_JSON_PLAIN = frozenset([dict, list, str, int, float, bool, tuple])


def _make_enc_json(options: CodecOptions, jsonb: bool) -> Encode:
    def enc(out: bytearray, v: Any) -> None:
        if type(v) not in _JSON_PLAIN:
            value = plain(v)
            if value is None:
                out += _NULL
                return
            v = value
        if options.json_str and isinstance(v, str):
            raw: bytes | str = v
        else:
            raw = options.json_dumps(v)
        if isinstance(raw, str):
            raw = raw.encode()
        elif not isinstance(raw, bytes):
            raise TypeError(
                f"json_dumps returned {type(raw).__name__}, not str or bytes"
            )
        if b"\x00" in raw:
            raise ValueError(NUL_MESSAGE)
        if jsonb:
            out += _i32.pack(len(raw) + 1) + b"\x01"
            out += raw
        else:
            _put(out, raw)

    return enc


_IP_VALUES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
)


def _make_enc_inet(cidr: bool) -> Encode:
    def enc(out: bytearray, v: Any) -> None:
        if isinstance(v, str):
            v = ipaddress.ip_network(v) if cidr else ipaddress.ip_interface(v)
        elif not isinstance(v, _IP_VALUES):
            _again(out, v, enc, "an ipaddress object or str")
            return
        if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network):
            address, bits = v.network_address, v.prefixlen
        elif isinstance(v, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
            if cidr:
                v = ipaddress.ip_network(v.with_prefixlen)  # refuses host bits
                address, bits = v.network_address, v.prefixlen
            else:
                address, bits = v.ip, v.network.prefixlen
        else:
            address, bits = v, v.max_prefixlen
        packed = address.packed
        family = _AF_INET if len(packed) == 4 else _AF_INET6
        out += struct.pack(
            ">iBBBB", 4 + len(packed), family, bits, int(cidr), len(packed)
        )
        out += packed

    return enc


_HEX = frozenset("0123456789abcdefABCDEF")


def _enc_macaddr(out: bytearray, v: Any) -> None:
    if not isinstance(v, str):
        _again(out, v, _enc_macaddr, "str")
        return
    digits = v.replace(":", "").replace("-", "").replace(".", "")
    if len(digits) != 12 or not set(digits) <= _HEX:
        raise ValueError(f"invalid macaddr {v!r}")
    out += b"\x00\x00\x00\x06" + bytes.fromhex(digits)


# -- arrays -----------------------------------------------------------------------


def _array_shape(v: Any) -> list[int]:
    dims: list[int] = []
    while isinstance(v, list | tuple):
        dims.append(len(v))
        if not v:
            return []
        v = v[0]
    if len(dims) > ARRAY_MAX_DIMS:
        raise ValueError(f"arrays have at most {ARRAY_MAX_DIMS} dimensions")
    return dims


def _array_flatten(v: Any, dims: list[int], depth: int, flat: list[Any]) -> None:
    if depth == len(dims):
        if isinstance(v, list | tuple):
            raise ValueError("an array's sub-lists must all have the same length")
        flat.append(v)
        return
    if not isinstance(v, list | tuple) or len(v) != dims[depth]:
        raise ValueError("an array's sub-lists must all have the same length")
    for item in v:
        _array_flatten(item, dims, depth + 1, flat)


def _element(out: bytearray, item: Any, element: Encode, start: int) -> None:
    size = len(out)
    element(out, item)
    if len(out) - size == 4 and out[size:] == _NULL:
        out[start + 11] = 1  # a NaT or NA element: the array has a NULL after all


def _make_enc_array(element: Encode, element_oid: int) -> Encode:
    header_1d = struct.Struct(">iiiIii").pack

    def enc(out: bytearray, v: Any) -> None:
        if not isinstance(v, list | tuple):
            _again(out, v, enc, "list or tuple")
            return
        if v and not isinstance(v[0], list | tuple):
            # the common case: a list of scalars, without the flattened copy
            has_null = False
            for item in v:
                if item is None:
                    has_null = True
                elif isinstance(item, list | tuple):
                    raise ValueError(
                        "an array's sub-lists must all have the same length"
                    )
            start = len(out)
            out += header_1d(0, 1, has_null, element_oid, len(v), 1)
            for item in v:
                if item is None:
                    out += _NULL
                else:
                    _element(out, item, element, start)
            out[start : start + 4] = _i32.pack(len(out) - start - 4)
            return
        dims = _array_shape(v)
        flat: list[Any] = []
        if dims:
            _array_flatten(v, dims, 0, flat)
        start = len(out)
        out += b"\x00\x00\x00\x00"  # length, back-patched below
        has_null = any(item is None for item in flat)
        out += struct.pack(">iiI", len(dims), int(has_null), element_oid)
        for size in dims:
            out += struct.pack(">ii", size, 1)
        for item in flat:
            if item is None:
                out += _NULL
            else:
                _element(out, item, element, start)
        out[start : start + 4] = _i32.pack(len(out) - start - 4)

    return enc


# -- decoders ---------------------------------------------------------------------


def _size(raw: bytes, size: int, name: str) -> None:
    if len(raw) != size:
        raise ValueError(f"{name} has {size} bytes, got {len(raw)}")


def _fixed(size: int, unpack: Any, name: str) -> Decode:
    def dec(raw: bytes) -> Any:
        _size(raw, size, name)
        return unpack(raw)[0]

    return dec


def _dec_bool(raw: bytes) -> bool:
    if len(raw) != 1:
        raise ValueError(f"bool has 1 byte, got {len(raw)}")
    return raw[0] != 0


def _dec_text(raw: bytes) -> str:
    return raw.decode()


def _dec_char(raw: bytes) -> str:
    # charout's text: the zero byte is '', a byte from 0x80 is \ooo
    if len(raw) != 1:
        raise ValueError(f'"char" has 1 byte, got {len(raw)}')
    code = raw[0]
    if code >= 0x80:
        return f"\\{code:03o}"
    return chr(code) if code else ""


def _dec_numeric(raw: bytes) -> Decimal:
    if len(raw) < 8:
        raise ValueError(f"numeric has at least 8 bytes, got {len(raw)}")
    ndigits, weight, sign, dscale = struct.unpack_from(">HhHH", raw)
    if len(raw) != 8 + 2 * ndigits:
        raise ValueError(f"numeric with {ndigits} digits has {len(raw)} bytes")
    if sign == NUMERIC_NAN:
        return Decimal("NaN")
    if sign == NUMERIC_PINF:
        return Decimal("Infinity")
    if sign == NUMERIC_NINF:
        return Decimal("-Infinity")
    if sign not in (NUMERIC_POS, NUMERIC_NEG) or dscale > NUMERIC_DSCALE_MAX:
        raise ValueError(f"invalid numeric sign {sign:#06x} or scale {dscale}")
    groups = struct.unpack_from(f">{ndigits}H", raw, 8)
    if any(g > 9999 for g in groups):
        raise ValueError("numeric digit out of range")
    digits = "".join(f"{g:04d}" for g in groups)
    if weight >= 0:
        int_len = (weight + 1) * 4
        digits = digits + "0" * max(0, int_len - len(digits))
        int_part, frac = digits[:int_len], digits[int_len:]
    else:
        int_part, frac = "", "0000" * (-weight - 1) + digits
    frac = (frac + "0" * dscale)[:dscale]
    text = (int_part.lstrip("0") or "0") + ("." + frac if frac else "")
    return Decimal(("-" if sign == NUMERIC_NEG else "") + text)


def _make_dec_date(options: CodecOptions) -> Decode:
    def dec(raw: bytes) -> datetime.date:
        _size(raw, 4, "date")
        days = _i32.unpack(raw)[0]
        if days in (DATE_INFINITY, DATE_NEG_INFINITY):
            if not options.infinity:
                raise ValueError(
                    "infinite date has no Python value (CodecOptions(infinity=True) "
                    "maps it to date.max / date.min)"
                )
            return datetime.date.max if days > 0 else datetime.date.min
        ordinal = days + PG_EPOCH_ORDINAL
        if not 1 <= ordinal <= MAX_DATE_ORDINAL:
            raise ValueError(
                f"date out of range for Python: {days} days from 2000-01-01"
            )
        return datetime.date.fromordinal(ordinal)

    return dec


def _time_of(us: int) -> datetime.time:
    if not 0 <= us < USECS_PER_DAY:
        raise ValueError(f"time of {us} microseconds has no Python value")
    seconds, micro = divmod(us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return datetime.time(hour, minute, second, micro)


def _dec_time(raw: bytes) -> datetime.time:
    _size(raw, 8, "time")
    return _time_of(_i64.unpack(raw)[0])


def _dec_timetz(raw: bytes) -> datetime.time:
    _size(raw, 12, "timetz")
    us, zone = struct.unpack(">qi", raw)
    if not -86400 < zone < 86400:
        raise ValueError(f"timetz offset of {zone} seconds has no Python value")
    tz = datetime.timezone(datetime.timedelta(seconds=-zone))
    return _time_of(us).replace(tzinfo=tz)


def _make_dec_timestamp(options: CodecOptions, aware: bool) -> Decode:
    epoch = _PG_EPOCH_UTC if aware else _PG_EPOCH
    name = "timestamptz" if aware else "timestamp"

    def dec(raw: bytes) -> datetime.datetime:
        _size(raw, 8, name)
        us = _i64.unpack(raw)[0]
        if us in (TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY):
            if not options.infinity:
                raise ValueError(
                    f"infinite {name} has no Python value (CodecOptions(infinity=True) "
                    "maps it to datetime.max / datetime.min)"
                )
            value = datetime.datetime.max if us > 0 else datetime.datetime.min
            return value.replace(tzinfo=datetime.timezone.utc) if aware else value
        try:
            return epoch + datetime.timedelta(microseconds=us)
        except OverflowError:
            raise ValueError(
                f"{name} out of range for Python: {us} microseconds from 2000-01-01"
            ) from None

    return dec


def _make_dec_interval(options: CodecOptions) -> Decode:
    def dec(raw: bytes) -> Any:
        _size(raw, 16, "interval")
        us, days, months = struct.unpack(">qii", raw)
        if options.interval_tuple:
            return (months, days, us)
        try:
            return datetime.timedelta(days=months * 30 + days, microseconds=us)
        except OverflowError:
            raise ValueError("interval out of range for timedelta") from None

    return dec


def _dec_uuid(raw: bytes) -> uuid.UUID:
    _size(raw, 16, "uuid")
    return uuid.UUID(bytes=raw)


#: The error of a JSON document nested deeper than Python's recursion limit
#: lets ``json.loads`` go (the server stores deeper ones).
JSON_TOO_DEEP = "JSON nested too deeply for the parser"


def _make_dec_json(options: CodecOptions, jsonb: bool) -> Decode:
    def dec(raw: bytes) -> Any:
        if jsonb:
            if not raw or raw[0] != 1:
                raise ValueError(f"unsupported jsonb version {raw[:1]!r}")
            raw = raw[1:]
        try:
            if loads is _ORJSON_LOADS or loads is default_loads:
                return loads(raw)  # they validate UTF-8 themselves (both twins do)
            return loads(raw.decode())
        except RecursionError:
            raise ValueError(JSON_TOO_DEEP) from None

    loads = options.json_loads
    return dec


def _make_dec_inet(cidr: bool) -> Decode:
    def dec(raw: bytes) -> Any:
        if len(raw) < 4:
            raise ValueError(f"inet has at least 4 bytes, got {len(raw)}")
        family, bits, _, size = raw[0], raw[1], raw[2], raw[3]
        width = 4 if family == _AF_INET else 16 if family == _AF_INET6 else 0
        if width == 0 or size != width or len(raw) != 4 + width or bits > width * 8:
            raise ValueError("invalid inet value")
        address = ipaddress.ip_address(raw[4:])
        if cidr:
            return ipaddress.ip_network(f"{address}/{bits}")
        if bits == width * 8:
            return address
        return ipaddress.ip_interface(f"{address}/{bits}")

    return dec


def _dec_macaddr(raw: bytes) -> str:
    _size(raw, 6, "macaddr")
    return ":".join(f"{b:02x}" for b in raw)


def _make_dec_array(element: Decode) -> Decode:
    def dec(raw: bytes) -> list[Any]:
        if len(raw) < 12:
            raise ValueError(f"array has at least 12 bytes, got {len(raw)}")
        ndim, flags, _ = struct.unpack_from(">iiI", raw)
        if not 0 <= ndim <= ARRAY_MAX_DIMS or flags not in (0, 1):
            raise ValueError(f"invalid array header: {ndim} dimensions, flags {flags}")
        if len(raw) < 12 + 8 * ndim:
            raise ValueError("array dimensions run past the end")
        dims = [struct.unpack_from(">i", raw, 12 + 8 * i)[0] for i in range(ndim)]
        pos = 12 + 8 * ndim
        # Every element takes at least its 4-byte length, so more elements
        # than room could hold run past the end.  The product saturates at
        # room + 1 (a later zero dimension still makes it 0), as it must in
        # the compiled twin, where it could overflow int64.
        room = (len(raw) - pos) // 4
        total = 1
        for size in dims:
            if size < 0:
                raise ValueError(f"invalid array dimension {size}")
            total = min(total * size, room + 1)
        if ndim == 0:
            total = 0
        if total > room:
            raise ValueError("array elements run past the end")
        flat: list[Any] = []
        for _ in range(total):
            if pos + 4 > len(raw):
                raise ValueError("array elements run past the end")
            length = _i32.unpack_from(raw, pos)[0]
            pos += 4
            if length == -1:
                flat.append(None)
                continue
            if length < 0 or pos + length > len(raw):
                raise ValueError("array elements run past the end")
            flat.append(element(raw[pos : pos + length]))
            pos += length
        if pos != len(raw):
            raise ValueError("array has bytes after its last element")
        if total == 0:
            return []  # as array_recv: no elements is the empty array
        for size in reversed(dims[1:]):
            flat = [flat[i : i + size] for i in range(0, len(flat), size)]
        return flat

    return dec


# -- tables -----------------------------------------------------------------------

_SIMPLE_ENCODERS: dict[str, Encode] = {
    "bool": _enc_bool,
    "int2": _enc_int2,
    "int4": _enc_int4,
    "int8": _enc_int8,
    "oid": _enc_oid,
    "float4": _enc_float4,
    "float8": _enc_float8,
    "bytea": _enc_bytea,
    "numeric": _enc_numeric,
    "time": _enc_time,
    "timetz": _enc_timetz,
    "interval": _enc_interval,
    "uuid": _enc_uuid,
    "macaddr": _enc_macaddr,
    "char": _enc_char,
    **dict.fromkeys(TEXT_TYPES, _enc_text),
}

_SIMPLE_DECODERS: dict[str, Decode] = {
    "bool": _dec_bool,
    "int2": _fixed(2, _i16.unpack, "int2"),
    "int4": _fixed(4, _i32.unpack, "int4"),
    "int8": _fixed(8, _i64.unpack, "int8"),
    "oid": _fixed(4, _u32.unpack, "oid"),
    "float4": _fixed(4, _f32.unpack, "float4"),
    "float8": _fixed(8, _f64.unpack, "float8"),
    "bytea": bytes,
    "numeric": _dec_numeric,
    "time": _dec_time,
    "timetz": _dec_timetz,
    "uuid": _dec_uuid,
    "macaddr": _dec_macaddr,
    "char": _dec_char,
    **dict.fromkeys(TEXT_TYPES, _dec_text),
}

_SCALARS = frozenset(
    [
        *_SIMPLE_ENCODERS,
        "date",
        "timestamp",
        "timestamptz",
        "json",
        "jsonb",
        "inet",
        "cidr",
    ]
)
#: Every canonical type name with a binary codec: the scalars and arrays of them.
BINARY_TYPES = frozenset([*_SCALARS, *("_" + name for name in _SCALARS)])


def check_types(types: Sequence[str]) -> tuple[str, ...]:
    """The ``types`` argument of the binary row codecs, checked (both twins).

    Raises:
        TypeError: not a sequence, or a str.
        InterfaceError: a name not in ``BINARY_TYPES``.
    """
    if isinstance(types, str) or not isinstance(types, Sequence):
        raise TypeError("types must be a sequence of canonical type names")
    for name in types:
        if name not in BINARY_TYPES:
            raise InterfaceError(f"no binary codec for type {name!r}")
    return tuple(types)


def check_element_oids(
    element_oids: Sequence[int | None] | None, n: int
) -> Sequence[int | None]:
    """The ``element_oids`` argument of the binary encoders, checked (both twins).

    Raises:
        ValueError: not one entry per type.
    """
    if element_oids is None:
        return [None] * n
    if len(element_oids) != n:
        raise ValueError("element_oids must have one entry per type")
    return element_oids


def _scalar_encoder(name: str, options: CodecOptions) -> Encode:
    if name in _SIMPLE_ENCODERS:
        return _SIMPLE_ENCODERS[name]
    if name == "date":
        return _make_enc_date(options)
    if name in ("timestamp", "timestamptz"):
        return _make_enc_timestamp(options, name == "timestamptz")
    if name in ("json", "jsonb"):
        return _make_enc_json(options, name == "jsonb")
    return _make_enc_inet(name == "cidr")


def encoder_for(
    name: str, options: CodecOptions, element_oid: int | None = None
) -> Encode:
    """The encoder of a canonical type name in ``BINARY_TYPES``.

    ``element_oid`` overrides the element type OID written into an array
    (an enum's or a domain's, where the element codec is text's).
    """
    if name.startswith("_"):
        element = name[1:]
        oid = element_oid if element_oid is not None else OIDS.get(element, 0)
        return _make_enc_array(_scalar_encoder(element, options), oid)
    return _scalar_encoder(name, options)


def _scalar_decoder(name: str, options: CodecOptions) -> Decode:
    if name in _SIMPLE_DECODERS:
        return _SIMPLE_DECODERS[name]
    if name == "date":
        return _make_dec_date(options)
    if name in ("timestamp", "timestamptz"):
        return _make_dec_timestamp(options, name == "timestamptz")
    if name == "interval":
        return _make_dec_interval(options)
    if name in ("json", "jsonb"):
        return _make_dec_json(options, name == "jsonb")
    return _make_dec_inet(name == "cidr")


def decoder_for(name: str, options: CodecOptions) -> Decode:
    """The decoder of a canonical type name in ``BINARY_TYPES``."""
    if name.startswith("_"):
        return _make_dec_array(_scalar_decoder(name[1:], options))
    return _scalar_decoder(name, options)
