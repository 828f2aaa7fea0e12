"""Values for tests/test_integrity.py: the DESIGN.md section 3 types and edges.

A :class:`WriteCase` is one column type and the Python values written into
it, each with a readable label.  The judge of a write is the server's
``v::text`` of what psycopg 3 stores for the same value through its own
binary (or, where it has no binary dumper, text) COPY; where psycopg cannot
take a value as it is, ``to_pg`` gives it the equivalent psycopg does take
(a ``Jsonb`` wrapper, an aware datetime for a naive one into timestamptz, a
UUID for a str, a Decimal for a float into numeric), and where even that is
not possible the value carries its expected text itself (``expect``).

A :class:`ReadCase` is one column type and SQL literals inserted into it,
read back through every read path and compared with what psycopg 3 returns
for a plain SELECT.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from psycopg.types.json import Json, Jsonb

NO = object()
"""No explicit expectation: psycopg 3 is the judge."""

UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))
PST = dt.timezone(dt.timedelta(hours=-8))
ODD = dt.timezone(dt.timedelta(hours=1, seconds=30))
NEW_YORK = ZoneInfo("America/New_York")

ENUM = "integ_mood"
ENUM_LABELS = ("sad", "happy", "with space", 'q"uote,comma', "NULL", "NA", "żółw")
DOMAIN_INT = "integ_dint"
DOMAIN_TEXT = "integ_dtext"

SETUP_SQL = f"""
DROP TYPE IF EXISTS {ENUM} CASCADE;
CREATE TYPE {ENUM} AS ENUM ({", ".join("'" + x.replace("'", "''") + "'" for x in ENUM_LABELS)});
DROP DOMAIN IF EXISTS {DOMAIN_INT} CASCADE;
CREATE DOMAIN {DOMAIN_INT} AS int4;
DROP DOMAIN IF EXISTS {DOMAIN_TEXT} CASCADE;
CREATE DOMAIN {DOMAIN_TEXT} AS text;
"""


@dataclass(frozen=True)
class V:
    """One value to write: a label for messages, the value, its expectation."""

    label: str
    value: Any
    expect: Any = NO  # the server's v::text, or None for NULL; NO: ask psycopg


def compact(obj: Any) -> str:
    """The JSON text pgcopy_fast writes (and the stdlib writes compactly)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _deep(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return fn(value)

    return convert


def _same(value: Any) -> Any:
    return value


def _numeric_pg(value: Any) -> Any:
    # psycopg's binary numeric dumper takes Decimal and int, not float.  A
    # float stores its shortest repr (0.1 -> 0.1), as PostgreSQL's own
    # float8::numeric cast does: that is the contract tested here.
    if isinstance(value, float):
        if math.isnan(value):
            return Decimal("NaN")
        return Decimal(repr(value)) if math.isfinite(value) else Decimal(str(value))
    return value


def _tstz_pg(value: Any) -> Any:
    # DESIGN section 3: a naive datetime into timestamptz means UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _uuid_pg(value: Any) -> Any:
    return uuid.UUID(value) if isinstance(value, str) else value


def _inet_pg(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return ipaddress.ip_interface(str(value))
    if isinstance(value, str):
        return ipaddress.ip_interface(value)
    return value


def _cidr_pg(value: Any) -> Any:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    return ipaddress.ip_network(str(value))


def _json_pg(wrapper: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        return None if value is None else wrapper(value, compact)

    return convert


@dataclass(frozen=True)
class WriteCase:
    """A column type and the values written into it on every path."""

    id: str  # pytest id
    ddl: str  # the column's type in CREATE TABLE
    copy_type: str  # the name given in types= to copy_in
    values: tuple[V, ...]
    pg_type: str | None = None  # psycopg set_types name; None: psycopg text COPY
    to_pg: Callable[[Any], Any] = _same
    element: str | None = None  # arrays of enums / domains: element_oids
    array_pool: Sequence[Any] | None = None  # elements for the derived array case

    @property
    def table(self) -> str:
        return "wm_" + self.id.replace("[]", "_arr").replace("-", "_")


TEXTS = (
    V("empty", ""),
    V("plain", "plain"),
    V("tab", "a\tb"),
    V("newline", "a\nb"),
    V("cr", "a\rb"),
    V("crlf", "a\r\nb"),
    V("backslash", "a\\b"),
    V("backslash_N", "\\N"),
    V("backslash_dot", "\\."),
    V("dquote", 'say "hi"'),
    V("squote", "it's"),
    V("comma", "a,b"),
    V("semicolon", "a;b"),
    V("braces", "{a,b}"),
    V("word_NULL", "NULL"),
    V("word_NA", "NA"),
    V("spaces", "  padded  "),
    V("unicode", "żółw ✓ 日本 😀"),
    V("del_ctrl", "\x7f\x01\x1f"),
    V("long", "x\t" * 3000),
    V("null", None),
)
SHORT_TEXTS = tuple(
    v for v in TEXTS if v.label not in ("long", "crlf", "del_ctrl", "spaces")
)

INT_EDGES = (V("zero", 0), V("one", 1), V("minus_one", -1), V("null", None))
BOOL_AS_INT = (V("true", True), V("false", False))

JSON_VALUES = (
    V("empty_list", []),
    V("empty_obj", {}),
    V("str_123", "123"),  # a str is a JSON string: "123", not the number
    V("str_null", "null"),
    V("str_empty", ""),
    V("zero", 0),
    V("true", True),
    V("false", False),
    V("null_in_list", [None]),
    V("list_mixed", [1, None, "x", 2.5]),
    V("tuple", (1, 2)),
    V("nested", {"a": {"b": [1, 2.5, "x", None]}, "c": [], "d": {}}),
    V("big_int", 2**70),
    V("neg_big_int", -(2**70)),
    V("uint64", 12345678901234567890),
    V("unicode", "żółw ✓ 日本 😀"),
    V("unicode_key", {"ключ": "значение"}),
    V("escapes", 'tab\t"q"\\ nl\n'),
    V("float", -1.5),
    V("float_1e16", 1e16),
    V("float_neg_zero", -0.0),
    V("int_key", {1: "a"}),  # the stdlib turns int keys into strings
    V("sql_null", None),
)
JSON_SCALARS = [
    v.value
    for v in JSON_VALUES
    if v.value is not None and not isinstance(v.value, list | tuple)
]


def _ts(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    *,
    tz: dt.tzinfo | None = None,
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)


SCALAR_CASES: tuple[WriteCase, ...] = (
    WriteCase(
        "bool", "bool", "bool", (V("t", True), V("f", False), V("null", None)), "bool"
    ),
    WriteCase(
        "int2",
        "int2",
        "int2",
        (V("max", 32767), V("min", -32768), *INT_EDGES, *BOOL_AS_INT),
        "int2",
    ),
    WriteCase(
        "int4",
        "int4",
        "int4",
        (V("max", 2**31 - 1), V("min", -(2**31)), *INT_EDGES, *BOOL_AS_INT),
        "int4",
    ),
    WriteCase(
        "int8",
        "int8",
        "int8",
        (V("max", 2**63 - 1), V("min", -(2**63)), *INT_EDGES, *BOOL_AS_INT),
        "int8",
    ),
    WriteCase(
        "oid",
        "oid",
        "oid",
        (V("max", 2**32 - 1), V("zero", 0), V("one", 1), V("null", None)),
        "oid",
    ),
    WriteCase(
        "float4",
        "float4",
        "float4",
        (
            V("zero", 0.0),
            V("neg_zero", -0.0),
            V("one_half", 1.5),
            V("tenth", 0.1),
            V("nan", math.nan),
            V("inf", math.inf),
            V("neg_inf", -math.inf),
            V("max", 3.4028235e38),
            V("subnormal", 1.401298464324817e-45),
            V("int", 3),
            V("null", None),
        ),
        "float4",
    ),
    WriteCase(
        "float8",
        "float8",
        "float8",
        (
            V("zero", 0.0),
            V("neg_zero", -0.0),
            V("tenth", 0.1),
            V("third", 1 / 3),
            V("subnormal", 1e-310),
            V("min_subnormal", 5e-324),
            V("max", 1.7976931348623157e308),
            V("nan", math.nan),
            V("inf", math.inf),
            V("neg_inf", -math.inf),
            V("int", 12),
            V("int_2_53", 2**53),
            V("null", None),
        ),
        "float8",
    ),
    WriteCase(
        "numeric",
        "numeric",
        "numeric",
        (
            V("digits_11", Decimal("12345678901")),
            V("digits_30", Decimal("123456789012345678901.123456789")),
            V("scale_kept", Decimal("1.50")),
            V("neg", Decimal("-0.000000000000000000000000000001")),
            V("neg_zero", Decimal("-0")),
            V("exp_pos", Decimal("1E+30")),
            V("huge_scale", Decimal("1E-16383")),
            V("nan", Decimal("NaN")),
            V("inf", Decimal("Infinity")),
            V("neg_inf", Decimal("-Infinity")),
            V("int", 7),
            V("int_2_70", 2**70),
            V("float", 0.1),
            V("float_nan", math.nan),
            V("float_inf", math.inf),
            V("float_neg_inf", -math.inf),
            V("null", None),
        ),
        "numeric",
        _numeric_pg,
    ),
    WriteCase("text", "text", "text", TEXTS, "text"),
    WriteCase("varchar", "varchar", "varchar", SHORT_TEXTS, "text"),
    WriteCase(
        "bpchar",
        "char(6)",
        "bpchar",
        (
            V("short", "ab"),
            V("empty", ""),
            V("inner_space", "a b"),
            V("tab", "a\tb"),
            V("comma", "a,b"),
            V("quote", 'a"b'),
            V("backslash", "a\\b"),
            V("unicode", "żółw"),
            V("full", "abcdef"),
            V("null", None),
        ),
        "text",  # bpcharrecv reads text's binary form
    ),
    WriteCase(
        "name",
        "name",
        "name",
        (
            V("plain", "abc"),
            V("empty", ""),
            V("mixed", "Mixed Case"),
            V("tab", "a\tb"),
            V("comma", "a,b"),
            V("unicode", "żółw"),
            V("len_63", "n" * 63),
            V("null", None),
        ),
        "name",
    ),
    WriteCase(
        "enum",
        ENUM,
        "text",
        (
            *tuple(V(f"label_{i}", x) for i, x in enumerate(ENUM_LABELS)),
            V("null", None),
        ),
        "text",
    ),
    WriteCase(
        "bytea",
        "bytea",
        "bytea",
        (
            V("empty", b""),
            V("nul", b"\x00"),
            V("high", b"\x00\x01\xfe\xff"),
            V("backslash", b"\\"),
            V("hex_lookalike", b"\\x41"),
            V("tab_nl", b"tab\tnl\n"),
            V("all_bytes", bytes(range(256))),
            V("bytearray", bytearray(b"ba")),
            V("memoryview", memoryview(b"mv")),
            V("null", None),
        ),
        "bytea",
        _deep(bytes),
    ),
    WriteCase(
        "date",
        "date",
        "date",
        (
            V("min", dt.date(1, 1, 1)),
            V("max", dt.date(9999, 12, 31)),
            V("leap", dt.date(2000, 2, 29)),
            V("epoch", dt.date(1970, 1, 1)),
            V("pre_epoch", dt.date(1969, 12, 31)),
            V("null", None),
        ),
        "date",
    ),
    WriteCase(
        "time",
        "time",
        "time",
        (
            V("midnight", dt.time(0, 0)),
            V("last", dt.time(23, 59, 59, 999999)),
            V("micro", dt.time(12, 30, 15, 500)),
            V("null", None),
        ),
        "time",
    ),
    WriteCase(
        "timetz",
        "timetz",
        "timetz",
        (
            V("utc", dt.time(1, 2, 3, tzinfo=UTC)),
            V("ist", dt.time(23, 59, 59, 999999, tzinfo=IST)),
            V("pst", dt.time(0, 0, tzinfo=PST)),
            V("odd_seconds", dt.time(12, 0, tzinfo=ODD)),
            V("plus_14", dt.time(12, 0, tzinfo=dt.timezone(dt.timedelta(hours=14)))),
            V("null", None),
        ),
        "timetz",
    ),
    WriteCase(
        "timestamp",
        "timestamp",
        "timestamp",
        (
            V("min", _ts(1, 1, 1)),
            V("max", _ts(9999, 12, 31, 23, 59, 59, 999999)),
            V("micro", _ts(2000, 1, 1, 12, 0, 0, 123456)),
            V("pre_epoch", _ts(1969, 12, 31, 23, 59, 59, 999999)),
            V("null", None),
        ),
        "timestamp",
    ),
    WriteCase(
        "timestamptz",
        "timestamptz",
        "timestamptz",
        (
            V("utc", _ts(2020, 1, 1, 12, tz=UTC)),
            V("ist", _ts(2020, 1, 1, 12, 0, 0, 1, tz=IST)),
            V("pst", _ts(2020, 1, 1, 12, tz=PST)),
            V("odd_seconds", _ts(2020, 1, 1, 12, tz=ODD)),
            V("ny_winter", _ts(2021, 1, 1, 12, tz=NEW_YORK)),
            V("ny_summer", _ts(2021, 7, 1, 12, tz=NEW_YORK)),
            V("naive_is_utc", _ts(2020, 1, 1, 12)),
            V("min_utc", _ts(1, 1, 1, tz=UTC)),
            V("year1_ist_is_bc_in_utc", _ts(1, 1, 1, tz=IST)),
            V("max_utc", _ts(9999, 12, 31, 23, 59, 59, 999999, tz=UTC)),
            V("null", None),
        ),
        "timestamptz",
        _deep(_tstz_pg),
    ),
    WriteCase(
        "interval",
        "interval",
        "interval",
        (
            V("zero", dt.timedelta(0)),
            V("day_and_second", dt.timedelta(days=1, seconds=1)),
            V("micro", dt.timedelta(microseconds=1)),
            V("neg_micro", dt.timedelta(microseconds=-1)),
            V("neg_days", dt.timedelta(days=-3, hours=4)),
            V("weeks", dt.timedelta(weeks=52, microseconds=7)),
            V("max", dt.timedelta.max),
            V("min", dt.timedelta.min),
            V("null", None),
        ),
        "interval",
    ),
    WriteCase(
        "uuid",
        "uuid",
        "uuid",
        (
            V("zero", uuid.UUID(int=0)),
            V("max", uuid.UUID(int=2**128 - 1)),
            V("obj", uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            V("str", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12"),
            V("str_upper", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A13"),
            V("str_hex", "a0eebc999c0b4ef8bb6d6bb9bd380a14"),
            V("null", None),
        ),
        "uuid",
        _deep(_uuid_pg),
    ),
    WriteCase(
        "json",
        "json",
        "json",
        JSON_VALUES,
        "json",
        _json_pg(Json),
        array_pool=JSON_SCALARS,
    ),
    WriteCase(
        "jsonb",
        "jsonb",
        "jsonb",
        JSON_VALUES,
        "jsonb",
        _json_pg(Jsonb),
        array_pool=JSON_SCALARS,
    ),
    WriteCase(
        "inet",
        "inet",
        "inet",
        (
            V("v4", ipaddress.IPv4Address("192.168.0.1")),
            V("v6", ipaddress.IPv6Address("::1")),
            V("v4_iface", ipaddress.IPv4Interface("192.168.0.1/24")),
            V("v6_iface", ipaddress.IPv6Interface("2001:db8::1/64")),
            V("v4_net", ipaddress.IPv4Network("10.0.0.0/8")),
            V("v4_mapped", ipaddress.IPv6Address("::ffff:1.2.3.4")),
            V("str", "192.168.0.2"),
            V("str_prefix", "10.1.2.3/16"),
            V("null", None),
        ),
        "inet",
        _deep(_inet_pg),
    ),
    WriteCase(
        "cidr",
        "cidr",
        "cidr",
        (
            V("v4", ipaddress.IPv4Network("10.0.0.0/8")),
            V("v6", ipaddress.IPv6Network("2001:db8::/32")),
            V("host", ipaddress.IPv4Network("192.168.1.5/32")),
            V("address", ipaddress.IPv4Address("1.2.3.4")),
            V("str", "192.168.1.0/24"),
            V("null", None),
        ),
        "cidr",
        _deep(_cidr_pg),
    ),
    WriteCase(
        "macaddr",
        "macaddr",
        "macaddr",
        (
            V("colons", "08:00:2b:01:02:03"),
            V("dashes_upper", "08-00-2B-01-02-04"),
            V("bare", "08002b010205"),
            V("broadcast", "ff:ff:ff:ff:ff:ff"),
            V("null", None),
        ),
        None,  # psycopg has no binary macaddr dumper: it copies as text
    ),
    WriteCase(
        "domain_int",
        DOMAIN_INT,
        "int4",
        (V("max", 2**31 - 1), V("min", -(2**31)), V("zero", 0), V("null", None)),
        "int4",
    ),
    WriteCase("domain_text", DOMAIN_TEXT, "text", SHORT_TEXTS, "text"),
)


def _array_case(case: WriteCase) -> WriteCase:
    pool = list(
        case.array_pool or [v.value for v in case.values if v.value is not None]
    )
    a, b, c = (pool * 3)[:3]
    values = [
        V("1d_null", [a, None, b]),
        V("2d_null", [[a, b], [None, c]]),
        V("tuple", (b, a)),
        V("empty", []),
        V("only_null", [None]),
        V("all", pool),
        V("null", None),
    ]
    if case.id == "int4":
        values.insert(2, V("3d", [[[1, 2], [3, 4]], [[5, None], [7, 8]]]))
    # psycopg takes a tuple for a composite: lists for arrays.
    to_pg = _deep(case.to_pg)
    element = None
    pg_type = f"{case.pg_type}[]" if case.pg_type else None
    if case.id == "bpchar":
        pg_type = None  # psycopg's binary text[] names text, not bpchar
    if case.ddl in (ENUM, DOMAIN_INT, DOMAIN_TEXT):
        # psycopg's binary arrays name the base type as element type, which
        # array_recv refuses for an enum or a domain: psycopg copies as text.
        element = case.ddl
        pg_type = None
    return WriteCase(
        case.id + "[]",
        case.ddl + "[]",
        case.copy_type + "[]",
        tuple(values),
        pg_type,
        to_pg,
        element,
    )


ARRAY_CASES = tuple(_array_case(c) for c in SCALAR_CASES)
WRITE_CASES = SCALAR_CASES + ARRAY_CASES


# -- reads --------------------------------------------------------------------


def f4(x: float) -> float:
    """The double a float4 holds."""
    return float(struct.unpack("f", struct.pack("f", x))[0])


def lit(text: str) -> str:
    """A standard SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class R:
    """One SQL literal to read back.

    ``ours`` is the documented value pgcopy_fast returns where it deliberately
    differs from psycopg 3 (``theirs``, asserted too, so the comment stays
    true); NO means "the same as psycopg".
    """

    label: str
    sql: str
    ours: Any = NO
    theirs: Any = NO


@dataclass(frozen=True)
class ReadCase:
    id: str
    ddl: str
    copy_type: str | None  # types= for copy_out; None: no codec, skip copy_out
    literals: tuple[R, ...]
    delimiter: str = ","

    @property
    def table(self) -> str:
        return "rd_" + self.id.replace("[]", "_arr").replace('"', "")


def _r(ddl: str, *pairs: tuple[str, str]) -> tuple[R, ...]:
    return (
        *tuple(R(label, f"{sql}::{ddl}") for label, sql in pairs),
        R("null", f"NULL::{ddl}"),
    )


_TEXT_READ = (
    ("empty", lit("")),
    ("tab_nl", "E'a\\tb\\nc\\r'"),
    ("backslash", lit("a\\b\\N")),
    ("quotes", lit('say "hi" it\'s')),
    ("comma", lit("a,b;c")),
    ("word_null", lit("NULL")),
    ("unicode", lit("żółw ✓ 😀")),
)

READ_CASES: tuple[ReadCase, ...] = (
    ReadCase("bool", "bool", "bool", _r("bool", ("t", "true"), ("f", "false"))),
    ReadCase("int2", "int2", "int2", _r("int2", ("max", "32767"), ("min", "(-32768)"))),
    ReadCase(
        "int4",
        "int4",
        "int4",
        _r("int4", ("max", "2147483647"), ("min", "(-2147483648)")),
    ),
    ReadCase(
        "int8",
        "int8",
        "int8",
        _r("int8", ("max", "9223372036854775807"), ("min", "(-9223372036854775808)")),
    ),
    ReadCase("oid", "oid", "oid", _r("oid", ("max", "4294967295"), ("zero", "0"))),
    # Documented difference: pgcopy_fast returns a float4 as the exact value
    # the server holds, widened to a double, on every path (as psycopg's
    # binary loader would); psycopg's default text loader parses the
    # shortest decimal text instead (0.1 rather than 0.10000000149011612).
    ReadCase(
        "float4",
        "float4",
        "float4",
        (
            R("nan", "'NaN'::float4"),
            R("inf", "'Infinity'::float4"),
            R("neg_inf", "'-Infinity'::float4"),
            R("neg_zero", "'-0'::float4"),
            R(
                "max",
                "'3.4028235e38'::float4",
                ours=f4(3.4028235e38),
                theirs=3.4028235e38,
            ),
            R("subnormal", "'1.4e-45'::float4", ours=f4(1.4e-45), theirs=1e-45),
            R("tenth", "'0.1'::float4", ours=f4(0.1), theirs=0.1),
            R("one_half", "'1.5'::float4"),
            R("null", "NULL::float4"),
        ),
    ),
    ReadCase(
        "float8",
        "float8",
        "float8",
        _r(
            "float8",
            ("nan", "'NaN'"),
            ("neg_inf", "'-Infinity'"),
            ("neg_zero", "'-0'"),
            ("subnormal", "'1e-310'"),
            ("min_subnormal", "'5e-324'"),
            ("max", "'1.7976931348623157e308'"),
            ("tenth", "'0.1'"),
        ),
    ),
    ReadCase(
        "numeric",
        "numeric",
        "numeric",
        _r(
            "numeric",
            ("nan", "'NaN'"),
            ("inf", "'Infinity'"),
            ("neg_inf", "'-Infinity'"),
            ("digits_20", "'12345678901.123456789'"),
            ("scale_kept", "'1.50'"),
            ("tiny", "'0.000000000000000000001'"),
            ("digits_131072", "repeat('9', 131072)"),
            ("scale_16383", "('0.' || repeat('0', 16382) || '1')"),
            ("neg", "'-42.000'"),
        ),
    ),
    ReadCase("text", "text", "text", _r("text", *_TEXT_READ)),
    ReadCase("varchar", "varchar", "varchar", _r("varchar", *_TEXT_READ)),
    ReadCase(
        "bpchar", "char(6)", "bpchar", _r("char(6)", ("short", "'ab'"), ("empty", "''"))
    ),
    ReadCase(
        "name", "name", "name", _r("name", ("plain", "'abc'"), ("unicode", "'żółw'"))
    ),
    ReadCase(
        "char",
        '"char"',
        '"char"',  # quoted: the one-byte type; char alone is bpchar, as in SQL
        _r('"char"', ("empty", "''"), ("letter", "'a'"), ("high_byte", "'\\351'")),
    ),
    ReadCase(
        "enum",
        ENUM,
        "text",
        _r(ENUM, *[(f"l{i}", lit(x)) for i, x in enumerate(ENUM_LABELS)]),
    ),
    ReadCase(
        "bytea",
        "bytea",
        "bytea",
        _r(
            "bytea",
            ("empty", "'\\x'"),
            ("high", "'\\x00fe5c09ff'"),
            ("long", "decode(repeat('ab5c', 1000), 'hex')"),
        ),
    ),
    ReadCase(
        "date",
        "date",
        "date",
        _r(
            "date",
            ("min", "'0001-01-01'"),
            ("max", "'9999-12-31'"),
            ("leap", "'2000-02-29'"),
        ),
    ),
    ReadCase(
        "time",
        "time",
        "time",
        _r("time", ("midnight", "'00:00'"), ("last", "'23:59:59.999999'")),
    ),
    ReadCase(
        "timetz",
        "timetz",
        "timetz",
        _r(
            "timetz",
            ("ist", "'01:02:03+05:30'"),
            ("pst", "'23:59:59.999999-08'"),
            ("odd_seconds", "'12:00:00+01:00:30'"),
        ),
    ),
    ReadCase(
        "timestamp",
        "timestamp",
        "timestamp",
        _r(
            "timestamp",
            ("min", "'0001-01-01 00:00'"),
            ("max", "'9999-12-31 23:59:59.999999'"),
            ("pre_epoch", "'1969-12-31 23:59:59.999999'"),
        ),
    ),
    ReadCase(
        "timestamptz",
        "timestamptz",
        "timestamptz",
        _r(
            "timestamptz",
            ("ist", "'2020-01-01 12:00+05:30'"),
            ("min", "'0001-01-01 00:00+00'"),
            ("max", "'9999-12-31 23:59:59.999999+00'"),
        ),
    ),
    ReadCase(
        "interval",
        "interval",
        "interval",
        (
            R("day_second", "'1 day 00:00:01'::interval"),
            R("neg_micro", "'-00:00:00.000001'::interval"),
            R("neg_days", "'-3 days +04:00'::interval"),
            R("one_month", "'1 mon'::interval"),
            # Documented difference: pgcopy_fast counts every month as 30
            # days (DESIGN section 3), psycopg a year as 365 days.
            R(
                "year_2_months",
                "'1 year 2 mons'::interval",
                ours=dt.timedelta(days=420),
                theirs=dt.timedelta(days=425),
            ),
            R("null", "NULL::interval"),
        ),
    ),
    ReadCase(
        "uuid",
        "uuid",
        "uuid",
        _r(
            "uuid",
            ("zero", "'00000000-0000-0000-0000-000000000000'"),
            ("max", "'ffffffff-ffff-ffff-ffff-ffffffffffff'"),
        ),
    ),
    *(
        ReadCase(
            kind,
            kind,
            kind,
            _r(
                kind,
                ("empty_list", "'[]'"),
                ("empty_obj", "'{}'"),
                ("str_123", "'\"123\"'"),
                ("int_123", "'123'"),
                ("true", "'true'"),
                ("json_null", "'null'"),
                ("null_in_list", "'[null, 1]'"),
                ("nested", '\'{"b": {"a": [1, 2.5, "x"]}, "a": []}\''),
                ("big_int", f"'{2**70}'"),
                ("uint64", "'12345678901234567890'"),
                ("float_one", "'1.0'"),
                ("neg_zero", "'-0'"),
                ("neg_zero_float", "'-0.0'"),
                ("huge_exponent", "'1E400'"),
                ("unicode", "'\"żółw ✓ 😀\"'"),
            ),
        )
        for kind in ("json", "jsonb")
    ),
    ReadCase(
        "inet",
        "inet",
        "inet",
        _r(
            "inet",
            ("v4", "'192.168.0.1'"),
            ("v4_iface", "'192.168.0.1/24'"),
            ("v6", "'::1'"),
            ("v6_iface", "'2001:db8::1/64'"),
            ("v4_net", "'10.0.0.0/8'"),
        ),
    ),
    ReadCase(
        "cidr",
        "cidr",
        "cidr",
        _r(
            "cidr",
            ("v4", "'10.0.0.0/8'"),
            ("v6", "'2001:db8::/32'"),
            ("host", "'1.2.3.4/32'"),
        ),
    ),
    ReadCase(
        "macaddr",
        "macaddr",
        "macaddr",
        _r(
            "macaddr",
            ("colons", "'08:00:2b:01:02:03'"),
            ("upper", "'FF-FF-FF-FF-FF-FE'"),
        ),
    ),
    ReadCase("domain_int", DOMAIN_INT, "int4", _r(DOMAIN_INT, ("max", "2147483647"))),
    ReadCase("domain_text", DOMAIN_TEXT, "text", _r(DOMAIN_TEXT, *_TEXT_READ)),
    ReadCase(
        "int4[]",
        "int4[]",
        "int4[]",
        _r(
            "int4[]",
            ("1d_null", "'{1,NULL,3}'"),
            ("2d_null", "'{{1,2},{NULL,4}}'"),
            ("3d", "'{{{1,2},{3,4}},{{5,NULL},{7,8}}}'"),
            ("lower_bound", "'[2:3]={1,2}'"),
            ("lower_bounds_2d", "'[0:1][-1:0]={{1,2},{3,4}}'"),
            ("empty", "'{}'"),
            ("only_null", "'{NULL}'"),
        ),
    ),
    ReadCase(
        "text[]",
        "text[]",
        "text[]",
        _r(
            "text[]",
            (
                "tricky",
                "ARRAY['', NULL, 'NULL', 'a,b', 'q\"d', 'b\\s', '{x}', ' sp ', E'tab\\t', 'żółw']",
            ),
            ("2d", "'{{a,b},{NULL,\"c d\"}}'"),
            ("lower_bound", "'[5:5]={x}'"),
        ),
    ),
    ReadCase(
        "float8[]",
        "float8[]",
        "float8[]",
        _r("float8[]", ("edges", "'{NaN,-0,Infinity,-Infinity,1e-310,NULL}'")),
    ),
    ReadCase(
        "numeric[]",
        "numeric[]",
        "numeric[]",
        _r("numeric[]", ("edges", "'{NaN,1.50,-Infinity,12345678901.5,NULL}'")),
    ),
    ReadCase("bool[]", "bool[]", "bool[]", _r("bool[]", ("2d", "'{{t,f},{NULL,t}}'"))),
    ReadCase(
        "bytea[]",
        "bytea[]",
        "bytea[]",
        _r("bytea[]", ("mixed", "ARRAY['\\x00ff'::bytea, NULL, '\\x']")),
    ),
    ReadCase(
        "date[]",
        "date[]",
        "date[]",
        _r("date[]", ("edges", "'{0001-01-01,9999-12-31,NULL}'")),
    ),
    ReadCase(
        "timestamptz[]",
        "timestamptz[]",
        "timestamptz[]",
        _r(
            "timestamptz[]",
            ("mixed", "ARRAY['2020-01-01 12:00+05:30'::timestamptz, NULL]"),
        ),
    ),
    ReadCase(
        "interval[]",
        "interval[]",
        "interval[]",
        _r(
            "interval[]", ("mixed", "ARRAY['1 day 00:00:01'::interval, NULL, '-1 sec']")
        ),
    ),
    ReadCase(
        "uuid[]",
        "uuid[]",
        "uuid[]",
        _r("uuid[]", ("one", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'")),
    ),
    ReadCase(
        "jsonb[]",
        "jsonb[]",
        "jsonb[]",
        _r(
            "jsonb[]",
            ("mixed", "ARRAY['{\"a\": 1}', '[]', 'null', '\"s\"', NULL]::jsonb[]"),
        ),
    ),
    ReadCase(
        "inet[]",
        "inet[]",
        "inet[]",
        _r("inet[]", ("mixed", "'{192.168.0.1/24,::1,NULL}'")),
    ),
    ReadCase(
        "enum[]",
        f"{ENUM}[]",
        "text[]",
        # Documented difference: psycopg 3 does not know the array types of
        # enums and domains and returns their text; pgcopy_fast returns lists.
        (
            R(
                "mixed",
                f"ARRAY['sad', NULL, 'with space', 'NULL']::{ENUM}[]",
                ours=["sad", None, "with space", "NULL"],
                theirs='{sad,NULL,"with space","NULL"}',
            ),
            R("null", f"NULL::{ENUM}[]"),
        ),
    ),
    ReadCase(
        "domain_int[]",
        f"{DOMAIN_INT}[]",
        "int4[]",
        (
            R(
                "mixed",
                f"'{{1,NULL,-2}}'::{DOMAIN_INT}[]",
                ours=[1, None, -2],
                theirs="{1,NULL,-2}",
            ),
            R("null", f"NULL::{DOMAIN_INT}[]"),
        ),
    ),
    # box has no binary codec and ';' as its array delimiter.
    ReadCase(
        "box[]",
        "box[]",
        None,
        _r("box[]", ("two", "'{(1,1),(0,0);(2,2),(1,1)}'")),
        delimiter=";",
    ),
)


@dataclass(frozen=True)
class Bad:
    """A server value Python cannot hold: every read path raises DecodeError."""

    id: str
    ddl: str
    copy_type: str
    sql: str


BAD_READS = (
    Bad("date_infinity", "date", "date", "'infinity'::date"),
    Bad("date_neg_infinity", "date", "date", "'-infinity'::date"),
    Bad("date_bc", "date", "date", "'0044-03-15 BC'::date"),
    Bad("date_year_10000", "date", "date", "'10000-01-01'::date"),
    Bad("timestamp_infinity", "timestamp", "timestamp", "'infinity'::timestamp"),
    Bad("timestamp_bc", "timestamp", "timestamp", "'0044-03-15 12:00 BC'::timestamp"),
    Bad(
        "timestamp_year_10000",
        "timestamp",
        "timestamp",
        "'10000-01-01 00:00'::timestamp",
    ),
    Bad(
        "timestamptz_infinity", "timestamptz", "timestamptz", "'infinity'::timestamptz"
    ),
    Bad(
        "timestamptz_bc",
        "timestamptz",
        "timestamptz",
        "'0001-12-31 18:30+00 BC'::timestamptz",
    ),
    Bad("time_24h", "time", "time", "'24:00:00'::time"),
    Bad("interval_huge", "interval", "interval", "'178000000 years'::interval"),
)


def canon(value: Any) -> Any:
    """A comparable, type-revealing form: -0.0, NaN, int vs float stay apart."""
    if value is None:
        return None
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    if isinstance(value, list | tuple):
        return [canon(v) for v in value]
    if isinstance(value, dict):
        return ("dict", sorted((k, canon(v)) for k, v in value.items()))
    if isinstance(value, memoryview | bytearray):
        return ("bytes", bytes(value))
    if isinstance(value, dt.datetime | dt.time):
        offset = value.utcoffset()
        return (type(value).__name__, value.replace(tzinfo=None).isoformat(), offset)
    if isinstance(value, dt.date | dt.timedelta):
        return (type(value).__name__, str(value))
    return (type(value).__name__, str(value))


@dataclass(frozen=True)
class BadWrite:
    """A Python value its column cannot store: EncodeError on every path."""

    id: str
    ddl: str
    copy_type: str
    good: Any
    bad: Any


BAD_WRITES = (
    BadWrite("int2_over", "int2", "int2", 1, 32768),
    BadWrite("int2_under", "int2", "int2", 1, -32769),
    BadWrite("int4_over", "int4", "int4", 1, 2**31),
    BadWrite("int8_over", "int8", "int8", 1, 2**63),
    BadWrite("int8_under", "int8", "int8", 1, -(2**63) - 1),
    BadWrite("oid_negative", "oid", "oid", 1, -1),
    BadWrite("oid_over", "oid", "oid", 1, 2**32),
    BadWrite("int4_float", "int4", "int4", 1, 1.5),
    BadWrite("int4_str", "int4", "int4", 1, "12"),
    BadWrite("float4_overflow", "float4", "float4", 1.0, 1e39),
    BadWrite(
        "numeric_scale_16384", "numeric", "numeric", Decimal(1), Decimal("1E-16384")
    ),
    BadWrite("text_nul", "text", "text", "a", "a\x00b"),
    BadWrite("bytea_str", "bytea", "bytea", b"a", "abc"),
    BadWrite(
        "date_datetime", "date", "date", dt.date(2000, 1, 1), dt.datetime(2000, 1, 1)
    ),
    BadWrite("json_nan", "jsonb", "jsonb", 1, math.nan),
    BadWrite("json_object", "jsonb", "jsonb", 1, object()),
    BadWrite("uuid_bad_str", "uuid", "uuid", uuid.UUID(int=1), "not-a-uuid"),
    BadWrite("inet_bad_str", "inet", "inet", "1.2.3.4", "not an address"),
    BadWrite("array_ragged", "int4[]", "int4[]", [1], [[1, 2], [3]]),
    BadWrite("array_scalar", "int4[]", "int4[]", [1], 5),
)
