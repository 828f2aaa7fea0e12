"""Every type of the mapping against the real server, and the twins against each other.

For each type and edge value: pgcopy_fast encodes it in binary, the server
renders it (``col::text``) exactly as it renders the same value written as
a SQL literal, and pgcopy_fast's binary COPY OUT decodes it back to the
Python value.  The encoding of a row is byte-for-byte what the server emits
for the same values.
"""

from __future__ import annotations

import datetime as dt
import ipaddress as ip
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from conftest import core_c, core_py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pgcopy_fast as pcf
from pgcopy_fast.options import CodecOptions

UTC = dt.timezone.utc
SAME = object()


def tz(hours: float = 0, seconds: int = 0) -> dt.timezone:
    return dt.timezone(dt.timedelta(hours=hours, seconds=seconds))


# (type, [(python value, SQL literal of the same value, decoded value or SAME)])
CASES: list[tuple[str, list[tuple[Any, str, Any]]]] = [
    ("bool", [(True, "true", SAME), (False, "false", SAME)]),
    ("int2", [(-32768, "-32768", SAME), (32767, "32767", SAME), (True, "1", 1)]),
    ("int4", [(-(2**31), "-2147483648", SAME), (2**31 - 1, "2147483647", SAME)]),
    (
        "int8",
        [
            (-(2**63), "-9223372036854775808", SAME),
            (2**63 - 1, "9223372036854775807", SAME),
        ],
    ),
    ("oid", [(0, "0", SAME), (4294967295, "4294967295", SAME)]),
    (
        "float4",
        [
            (1.5, "1.5", SAME),
            (3.4028234663852886e38, "3.4028235e38", SAME),
            (float("inf"), "'Infinity'", SAME),
            (float("nan"), "'NaN'", SAME),
            (7, "7", 7.0),
        ],
    ),
    (
        "float8",
        [
            (1e308, "1e308", SAME),
            (5e-324, "5e-324", SAME),
            (-0.1, "-0.1", SAME),
            (float("-inf"), "'-Infinity'", SAME),
            (float("nan"), "'NaN'", SAME),
            (2**53, "9007199254740992", float(2**53)),
        ],
    ),
    (
        "numeric",
        [
            (Decimal("0"), "0", SAME),
            (Decimal("1.50"), "1.50", SAME),
            (
                Decimal("-123456789012345678901234567890.123456789"),
                "-123456789012345678901234567890.123456789",
                SAME,
            ),
            (
                Decimal("1E+20"),
                "100000000000000000000",
                Decimal("100000000000000000000"),
            ),
            (Decimal("0.000001"), "0.000001", SAME),
            (Decimal("-0.00012300"), "-0.00012300", SAME),
            (Decimal("NaN"), "'NaN'", SAME),
            (Decimal("Infinity"), "'Infinity'", SAME),
            (Decimal("-Infinity"), "'-Infinity'", SAME),
            (Decimal("9" * 1000), "9" * 1000, SAME),
            (Decimal("1." + "0" * 998 + "1"), "1." + "0" * 998 + "1", SAME),
            (10**40, "1" + "0" * 40, Decimal(10**40)),
            (-12345678, "-12345678", Decimal(-12345678)),
            (0.1, "0.1", Decimal("0.1")),
            (10000, "10000", Decimal(10000)),
        ],
    ),
    (
        "text",
        [
            ("", "''", SAME),
            ("h\u00e9llo \U0001f600", "'h\u00e9llo \U0001f600'", SAME),
            ("tab\tnew\nline\\back'q\"", "E'tab\\tnew\\nline\\\\back''q\"'", SAME),
        ],
    ),
    ("varchar", [("abc", "'abc'", SAME)]),
    ("bpchar", [("ab ", "'ab '", "ab ")]),
    ("name", [("a_name", "'a_name'", SAME)]),
    (
        "bytea",
        [
            (b"", "''::bytea", SAME),
            (
                bytes(range(256)),
                "decode('" + bytes(range(256)).hex() + "', 'hex')",
                SAME,
            ),
            (bytearray(b"\x00\xff"), "'\\x00ff'::bytea", b"\x00\xff"),
            (memoryview(b"mv"), "'mv'::bytea", b"mv"),
        ],
    ),
    (
        "date",
        [
            (dt.date(2000, 1, 1), "'2000-01-01'", SAME),
            (dt.date(1, 1, 1), "'0001-01-01'", SAME),
            (dt.date(9999, 12, 31), "'9999-12-31'", SAME),
            (dt.date(2024, 2, 29), "'2024-02-29'", SAME),
            (dt.date(1999, 12, 31), "'1999-12-31'", SAME),
        ],
    ),
    (
        "time",
        [
            (dt.time(0, 0), "'00:00'", SAME),
            (dt.time(23, 59, 59, 999999), "'23:59:59.999999'", SAME),
            (dt.time(12, 30, 0, 5), "'12:30:00.000005'", SAME),
        ],
    ),
    (
        "timetz",
        [
            (dt.time(12, 0, tzinfo=tz(5.5)), "'12:00:00+05:30'", SAME),
            (
                dt.time(1, 2, 3, 4, tzinfo=tz(seconds=-30)),
                "'01:02:03.000004-00:00:30'",
                SAME,
            ),
            (dt.time(0, 0, tzinfo=UTC), "'00:00:00+00'", dt.time(0, 0, tzinfo=tz())),
        ],
    ),
    (
        "timestamp",
        [
            (dt.datetime(2000, 1, 1), "'2000-01-01 00:00'", SAME),
            (dt.datetime(1, 1, 1), "'0001-01-01 00:00'", SAME),
            (
                dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
                "'9999-12-31 23:59:59.999999'",
                SAME,
            ),
            (dt.datetime(1970, 1, 1, 0, 0, 0, 1), "'1970-01-01 00:00:00.000001'", SAME),
        ],
    ),
    (
        "timestamptz",
        [
            (dt.datetime(2024, 6, 1, 12, tzinfo=UTC), "'2024-06-01 12:00+00'", SAME),
            (
                dt.datetime(2024, 6, 1, 14, 30, tzinfo=tz(2)),
                "'2024-06-01 14:30+02'",
                dt.datetime(2024, 6, 1, 12, 30, tzinfo=UTC),
            ),
            (
                dt.datetime(1999, 1, 1, 0, 0, 0, 7),
                "'1999-01-01 00:00:00.000007+00'",
                dt.datetime(1999, 1, 1, 0, 0, 0, 7, tzinfo=UTC),
            ),
        ],
    ),
    (
        "interval",
        [
            (dt.timedelta(days=1, seconds=1), "'1 day 00:00:01'", SAME),
            (dt.timedelta(microseconds=1), "'00:00:00.000001'", SAME),
            (dt.timedelta(days=-1, seconds=5), "'-1 days +00:00:05'", SAME),
            (dt.timedelta(days=400), "'400 days'", SAME),
        ],
    ),
    (
        "uuid",
        [
            (uuid.UUID(int=0), "'00000000-0000-0000-0000-000000000000'", SAME),
            (
                uuid.UUID("12345678-1234-5678-1234-567812345678"),
                "'12345678-1234-5678-1234-567812345678'",
                SAME,
            ),
            (
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
                uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ),
        ],
    ),
    (
        "json",
        [
            ({"a": [1, 2.5, None, True]}, "'{\"a\":[1,2.5,null,true]}'", SAME),
            ("s", "'\"s\"'", SAME),
        ],
    ),
    (
        "jsonb",
        [
            (
                {"k": {"n": [1, {"x": "y"}]}, "e": []},
                '\'{"k": {"n": [1, {"x": "y"}]}, "e": []}\'',
                SAME,
            ),
            (3, "'3'", SAME),
            (None, "NULL", SAME),
        ],
    ),
    (
        "inet",
        [
            (ip.ip_address("192.168.0.1"), "'192.168.0.1'", SAME),
            (ip.ip_interface("10.1.2.3/8"), "'10.1.2.3/8'", SAME),
            (ip.ip_address("::1"), "'::1'", SAME),
            (ip.ip_interface("2001:db8::1/64"), "'2001:db8::1/64'", SAME),
            ("10.0.0.1/24", "'10.0.0.1/24'", ip.ip_interface("10.0.0.1/24")),
        ],
    ),
    (
        "cidr",
        [
            (ip.ip_network("10.0.0.0/8"), "'10.0.0.0/8'", SAME),
            (ip.ip_network("2001:db8::/32"), "'2001:db8::/32'", SAME),
            ("192.168.0.0/16", "'192.168.0.0/16'", ip.ip_network("192.168.0.0/16")),
        ],
    ),
    (
        "macaddr",
        [
            ("08:00:2b:01:02:03", "'08:00:2b:01:02:03'", SAME),
            ("08-00-2B-01-02-0A", "'08:00:2b:01:02:0a'", "08:00:2b:01:02:0a"),
        ],
    ),
    (
        "int4[]",
        [
            ([1, 2, 3], "'{1,2,3}'", SAME),
            ([], "'{}'", SAME),
            ([[1, 2], [3, None]], "'{{1,2},{3,NULL}}'", SAME),
            ([None], "'{NULL}'", SAME),
            ((4, 5), "'{4,5}'", [4, 5]),
            ([[[1], [2]], [[3], [4]]], "'{{{1},{2}},{{3},{4}}}'", SAME),
        ],
    ),
    (
        "text[]",
        [
            (
                ["a", "b c", "", None, "NULL", 'quo"te', "back\\slash", "\u00e9"],
                "ARRAY['a', 'b c', '', NULL, 'NULL', 'quo\"te', E'back\\\\slash', '\u00e9']",
                SAME,
            )
        ],
    ),
    ("numeric[]", [([Decimal("1.5"), None, Decimal("NaN")], "'{1.5,NULL,NaN}'", SAME)]),
    ("date[]", [([dt.date(2024, 1, 1)], "'{2024-01-01}'", SAME)]),
    (
        "uuid[]",
        [([uuid.UUID(int=1)], "'{00000000-0000-0000-0000-000000000001}'", SAME)],
    ),
    (
        "timestamptz[]",
        [([dt.datetime(2024, 1, 1, tzinfo=UTC)], "'{2024-01-01 00:00+00}'", SAME)],
    ),
    ("jsonb[]", [([{"a": 1}, None], "ARRAY['{\"a\": 1}'::jsonb, NULL]", SAME)]),
    ("bool[]", [([True, False], "'{t,f}'", SAME)]),
    ("float8[]", [([1.5, float("inf")], "'{1.5,Infinity}'", SAME)]),
    ("inet[]", [([ip.ip_address("10.0.0.1")], "'{10.0.0.1}'", SAME)]),
    ("interval[]", [([dt.timedelta(hours=1)], "'{01:00:00}'", SAME)]),
    ("bytea[]", [([b"\x01", None], "ARRAY['\\x01'::bytea, NULL]", SAME)]),
]


def same(a: Any, b: Any) -> bool:
    if (
        isinstance(a, float)
        and isinstance(b, float)
        and math.isnan(a)
        and math.isnan(b)
    ):
        return True
    if isinstance(a, Decimal) and isinstance(b, Decimal) and a.is_nan() and b.is_nan():
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@pytest.fixture
def utc_conn(conn: pcf.Connection) -> pcf.Connection:
    conn.execute("SET TimeZone = 'UTC'")
    return conn


@pytest.mark.parametrize(("pg_type", "cases"), CASES, ids=[c[0] for c in CASES])
def test_round_trip_matches_the_servers_rendering(
    utc_conn: pcf.Connection, pg_type: str, cases: list[tuple[Any, str, Any]]
) -> None:
    conn = utc_conn
    conn.execute(f"DROP TABLE IF EXISTS rt; CREATE TEMP TABLE rt (i int4, v {pg_type})")
    with conn.copy_in("COPY rt FROM STDIN (FORMAT binary)", ["int4", pg_type]) as cp:
        cp.write_rows((i, value) for i, (value, _, _) in enumerate(cases))
    ours = conn.execute("SELECT v::text FROM rt ORDER BY i").rows
    theirs = conn.execute(
        " UNION ALL ".join(
            f"SELECT {i} AS i, ({lit})::{pg_type}::text"
            for i, (_, lit, _) in enumerate(cases)
        )
        + " ORDER BY i"
    ).rows
    assert ours == [(row[1],) for row in theirs]
    with conn.copy_out(
        "COPY (SELECT v FROM rt ORDER BY i) TO STDOUT (FORMAT binary)", [pg_type]
    ) as out:
        decoded = [row[0] for row in out]
    expected = [value if want is SAME else want for value, _, want in cases]
    for got, want in zip(decoded, expected, strict=True):
        assert same(got, want), (got, want)


BYTE_TYPES = [c for c in CASES if c[0] not in ("json", "jsonb", "jsonb[]")]


def test_binary_encoding_is_byte_for_byte_the_servers(
    utc_conn: pcf.Connection, impl
) -> None:
    types = [t for t, _ in BYTE_TYPES]
    row = tuple(cases[0][0] for _, cases in BYTE_TYPES)
    literals = ", ".join(f"({cases[0][1]})::{t}" for t, cases in BYTE_TYPES)
    with utc_conn.copy_out(
        f"COPY (SELECT {literals}) TO STDOUT (FORMAT binary)"
    ) as out:
        server = b"".join(iter(out.read, None))
    buf = impl.WriteBuffer()
    enc = impl.BinaryEncoder([pcf.pgtypes.canonical(t) for t in types])
    enc.header(buf)
    enc.encode_row(buf, row)
    enc.trailer(buf)
    assert bytes(buf.getvalue()) == server


def test_interval_months_and_tuple_form(conn: pcf.Connection) -> None:
    sql = "COPY (SELECT '1 year 2 mons 3 days 00:00:04'::interval) TO STDOUT (FORMAT binary)"
    with conn.copy_out(sql, ["interval"]) as out:
        assert list(out) == [(dt.timedelta(days=14 * 30 + 3, seconds=4),)]
    with conn.copy_out(
        sql, ["interval"], options=CodecOptions(interval_tuple=True)
    ) as out:
        assert list(out) == [((14, 3, 4_000_000),)]


def test_infinity_needs_the_opt_in(conn: pcf.Connection) -> None:
    sql = "COPY (SELECT 'infinity'::date, '-infinity'::timestamp) TO STDOUT (FORMAT binary)"
    with pytest.raises(pcf.DecodeError, match="infinite date"):
        with conn.copy_out(sql, ["date", "timestamp"]) as out:
            list(out)
    assert conn.execute("SELECT 1").rows == [("1",)]
    with conn.copy_out(
        sql, ["date", "timestamp"], options=CodecOptions(infinity=True)
    ) as out:
        assert list(out) == [(dt.date.max, dt.datetime.min)]
    conn.execute("CREATE TEMP TABLE inf (d date, t timestamptz)")
    with conn.copy_in(
        "COPY inf FROM STDIN (FORMAT binary)",
        ["date", "timestamptz"],
        options=CodecOptions(infinity=True),
    ) as cp:
        cp.write_row((dt.date.max, dt.datetime.min.replace(tzinfo=UTC)))
    assert conn.execute("SELECT d::text, t::text FROM inf").rows == [
        ("infinity", "-infinity")
    ]


def test_json_options(conn: pcf.Connection) -> None:
    conn.execute("CREATE TEMP TABLE j (v jsonb)")
    with conn.copy_in(
        "COPY j FROM STDIN (FORMAT binary)",
        ["jsonb"],
        options=CodecOptions(json_str=True),
    ) as cp:
        cp.write_row(('{"raw": true}',))
    with conn.copy_out(
        "COPY j TO STDOUT (FORMAT binary)",
        ["jsonb"],
        options=CodecOptions(json_loads=lambda s: ("loaded", s)),
    ) as out:
        assert list(out) == [(("loaded", '{"raw": true}'),)]


@pytest.mark.parametrize(
    ("pg_type", "value", "cause", "message"),
    [
        ("text", "nul\x00inside", ValueError, "NUL"),
        ("date", dt.datetime(2024, 1, 1), TypeError, "expected date, got datetime"),
        ("timestamp", dt.datetime(2024, 1, 1, tzinfo=UTC), ValueError, "naive"),
        ("timetz", dt.time(1), ValueError, "aware"),
        ("numeric", "1.5", TypeError, "expected Decimal, int or float, got str"),
        ("numeric", Decimal("sNaN"), ValueError, "signaling"),
        ("numeric", Decimal("1E-20000"), OverflowError, "decimal digits"),
        ("uuid", "not-a-uuid", ValueError, "hexadecimal"),
        ("inet", "300.1.1.1", ValueError, "does not appear"),
        ("cidr", "10.0.0.1/8", ValueError, "host bits"),
        ("macaddr", "08:00", ValueError, "invalid macaddr"),
        ("int4[]", [[1], [2, 3]], ValueError, "same length"),
        ("int4[]", ["x"], TypeError, "expected int, got str"),
        ("int4[]", "1,2", TypeError, "expected list or tuple, got str"),
        ("int2[]", [70000], OverflowError, "70000 is out of range for int2"),
    ],
)
def test_values_that_do_not_fit_are_encode_errors(
    conn: pcf.Connection, pg_type: str, value: Any, cause: type, message: str
) -> None:
    conn.execute(
        f"DROP TABLE IF EXISTS bad; CREATE TEMP TABLE bad (i int4, v {pg_type})"
    )
    with pytest.raises(pcf.EncodeError) as info:
        conn.copy_records("bad", [(1, None), (2, value)])
    err = info.value
    assert (err.row_index, err.column, err.value_type) == (1, "v", type(value).__name__)
    assert err.pg_type == pcf.pgtypes.canonical(pg_type)
    assert isinstance(err.__cause__, cause) and message in str(err)
    assert conn.execute("SELECT count(*) FROM bad").rows == [("0",)]


# -- high-level copies ------------------------------------------------------------


def test_copy_records_resolves_names_domains_enums_and_arrays(
    conn: pcf.Connection,
) -> None:
    conn.execute(
        'DROP SCHEMA IF EXISTS "My Schema" CASCADE; DROP TYPE IF EXISTS mood CASCADE; '
        "DROP DOMAIN IF EXISTS small_pos, posint CASCADE; "
        "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); "
        "CREATE DOMAIN posint AS int4 CHECK (VALUE > 0); "
        "CREATE DOMAIN small_pos AS posint CHECK (VALUE < 100); "
        'CREATE SCHEMA "My Schema"; '
        'CREATE TABLE "My Schema"."Odd ""Name""" (id small_pos, m mood, ms mood[], '
        "tags text[], amount numeric(12,2), gen int GENERATED ALWAYS AS (id * 2) STORED)"
    )
    rows = [
        (1, "ok", ["sad", "happy"], ["x", None], Decimal("12.50")),
        (2, None, [], None, Decimal("-0.01")),
    ]
    for table in ('"My Schema"."Odd ""Name"""', ("My Schema", 'Odd "Name"')):
        conn.execute('TRUNCATE "My Schema"."Odd ""Name"""')
        assert conn.copy_records(table, rows) == 2
    assert list(conn.copy_records_out(("My Schema", 'Odd "Name"'))) == [
        (1, "ok", ["sad", "happy"], ["x", None], Decimal("12.50")),
        (2, None, [], None, Decimal("-0.01")),
    ]
    assert list(
        conn.copy_records_out('"My Schema"."Odd ""Name"""', columns=["amount", "id"])
    ) == [(Decimal("12.50"), 1), (Decimal("-0.01"), 2)]
    assert list(
        conn.copy_query_out(
            'SELECT id, gen, ms FROM "My Schema"."Odd ""Name""" ORDER BY id;'
        )
    ) == [(1, 2, ["sad", "happy"]), (2, 4, [])]
    with pytest.raises(pcf.IntegrityError):  # the domain's check still applies
        conn.copy_records(("My Schema", 'Odd "Name"'), [(0, None, None, None, None)])


def test_unquoted_names_fold_to_lower_case(conn: pcf.Connection) -> None:
    conn.execute("CREATE TEMP TABLE MixedCase (A int4)")
    assert conn.copy_records("MIXEDCASE", [(1,)]) == 1
    assert list(conn.copy_records_out("mixedcase")) == [(1,)]


def test_unquoted_non_ascii_names_keep_their_case(conn: pcf.Connection) -> None:
    # PostgreSQL folds only A-Z of an unquoted name in UTF-8: Ünits stays Ünits
    conn.execute("CREATE TEMP TABLE Ünits_𐐀 (a int4)")
    assert conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE '%nits%'"
    ).rows == [("Ünits_𐐀",)]
    assert conn.copy_records("Ünits_𐐀", [(1,)]) == 1
    assert list(conn.copy_records_out("ÜNITS_𐐀")) == [(1,)]


@pytest.mark.parametrize(
    "table",
    ["users; DROP TABLE x", "a.b.c", "", '"unterminated', "1abc", ("a",), 42, "a .b"],
)
def test_bad_table_names_are_interface_errors(conn: pcf.Connection, table: Any) -> None:
    with pytest.raises(pcf.InterfaceError):
        conn.copy_records(table, [])


def test_missing_column_and_table(conn: pcf.Connection) -> None:
    conn.execute("CREATE TEMP TABLE mc (a int4)")
    with pytest.raises(pcf.InterfaceError, match="column 'b' does not exist"):
        conn.copy_records("mc", [(1,)], columns=["b"])
    with pytest.raises(pcf.ProgrammingError):
        conn.copy_records("no_such_table", [(1,)])
    assert conn.execute("SELECT 1").rows == [("1",)]


def test_type_without_binary_codec_falls_back_to_text(conn: pcf.Connection) -> None:
    conn.execute(
        "CREATE EXTENSION IF NOT EXISTS hstore; CREATE EXTENSION IF NOT EXISTS citext"
    )
    conn.execute(
        "CREATE TEMP TABLE fb (id int4, h hstore, c citext, p point, d date, a int4[])"
    )
    rows = [(1, 'a=>1, "b c"=>NULL', "MiXeD", "(1,2)", dt.date(2024, 1, 2), [1, None])]
    assert conn.copy_records("fb", rows) == 1
    assert conn.execute("SELECT h -> 'a', c = 'mixed', p[0], d FROM fb").rows == [
        ("1", "t", "1", "2024-01-02")
    ]
    got = list(conn.copy_records_out("fb"))
    assert got == [
        (1, '"a"=>"1", "b c"=>NULL', "MiXeD", "(1,2)", dt.date(2024, 1, 2), [1, None])
    ]


def test_plan_cache_is_dropped_when_the_table_changes(conn: pcf.Connection) -> None:
    conn.execute("CREATE TABLE cache_t (a int4, b text)")
    try:
        assert conn.copy_records("cache_t", [(1, "x")]) == 1
        conn.execute(
            "ALTER TABLE cache_t DROP COLUMN b; ALTER TABLE cache_t ADD COLUMN b int8"
        )
        with pytest.raises(pcf.DatabaseError):
            conn.copy_records("cache_t", [(2, "y")])  # the cached plan sends text
        assert conn.copy_records("cache_t", [(3, 4)]) == 1  # a fresh plan: int8
        assert conn.execute("SELECT a, b FROM cache_t ORDER BY a").rows == [
            ("1", None),
            ("3", "4"),
        ]
    finally:
        conn.execute("DROP TABLE cache_t")


def test_text_format_copy_with_types_decodes_values(conn: pcf.Connection) -> None:
    conn.execute("SET TimeZone = 'UTC'")
    rows = list(
        conn.copy_query_out(
            "SELECT 1::int8, 't'::bool, 1.5::numeric, '2024-01-02 03:04:05.6+00'::timestamptz, "
            "'1 day 02:00:00'::interval, '{1,2}'::int4[], '{\"a\": 1}'::jsonb, '(1,2)'::point"
        )
    )
    assert rows == [
        (
            1,
            True,
            Decimal("1.5"),
            dt.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
            dt.timedelta(days=1, hours=2),
            [1, 2],
            {"a": 1},
            "(1,2)",
        )
    ]


# -- hypothesis: values through the server, and the twins against each other ---------


def _modest_decimal(d: Decimal) -> bool:
    """A finite Decimal of a size the server round-trips quickly."""
    exponent = d.as_tuple().exponent
    return (
        isinstance(exponent, int)
        and -1000 < exponent < 1000
        and len(d.as_tuple().digits) < 500
    )


def _small_exponent(d: Decimal) -> bool:
    """NaN, an infinity, or a Decimal whose exponent is below 400 either way."""
    exponent = d.as_tuple().exponent
    return not isinstance(exponent, int) or abs(exponent) < 400


_VALUES = {
    "int8": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "float8": st.floats(allow_nan=False),
    "numeric": st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        _modest_decimal
    ),
    "text": st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
    ),
    "bytea": st.binary(max_size=64),
    "date": st.dates(),
    "timestamp": st.datetimes(),
    "timestamptz": st.datetimes(timezones=st.just(UTC)),
    "interval": st.timedeltas(
        min_value=dt.timedelta(days=-99999), max_value=dt.timedelta(days=99999)
    ),
    "uuid": st.uuids(),
    "time": st.times(),
}


def _decimal_key(value: Any) -> Any:
    return value.normalize() if isinstance(value, Decimal) else value


@pytest.mark.parametrize("pg_type", sorted(_VALUES))
def test_hypothesis_values_round_trip_through_the_server(
    pg_server, impl, pg_type: str
) -> None:
    conn = pg_server.connect()
    conn.execute(f"CREATE TEMP TABLE hv (i int4, v {pg_type}, a {pg_type}[])")

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(values=st.lists(_VALUES[pg_type], min_size=1, max_size=8))
    def check(values: list[Any]) -> None:
        conn.execute("TRUNCATE hv")
        conn.copy_records("hv", [(i, v, [v, None]) for i, v in enumerate(values)])
        got = list(conn.copy_query_out("SELECT v, a FROM hv ORDER BY i"))
        assert [g[0] for g in got] == values
        assert [g[1] for g in got] == [[v, None] for v in values]

    try:
        check()
    finally:
        conn.close()


twins = pytest.mark.skipif(core_c is None, reason="compiled twin not built")

_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.decimals(places=None).filter(_small_exponent),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.lists(st.integers(min_value=-5, max_value=5), max_size=3),
    st.datetimes(timezones=st.just(tz(1))),
)
_TYPES = sorted(core_py.binary_types())


def _outcome(func: Any) -> Any:
    try:
        return ("ok", _nan_safe(func()))
    except Exception as exc:
        return ("raised", type(exc), str(exc), type(exc.__cause__))


def _nan_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "float-nan"
    if isinstance(value, Decimal) and value.is_nan():
        return "decimal-nan"
    if isinstance(value, list | tuple):
        return [_nan_safe(v) for v in value]
    return value


@twins
@settings(max_examples=500, deadline=None)
@given(types=st.lists(st.sampled_from(_TYPES), min_size=1, max_size=4), data=st.data())
def test_twins_encode_and_decode_every_type_identically(
    types: list[str], data: Any
) -> None:
    assert core_c is not None  # the marker skips without it
    rows = data.draw(st.lists(st.tuples(*[_ANY] * len(types)), max_size=4))
    results = []
    for core in (core_py, core_c):
        enc = core.BinaryEncoder(types)
        buf = core.WriteBuffer()
        enc.header(buf)
        steps = [_outcome(lambda r=r, e=enc, b=buf: e.encode_row(b, r)) for r in rows]
        enc.trailer(buf)
        stream = bytes(buf.getvalue())
        decoded = _outcome(lambda c=core, s=stream: c.BinaryDecoder(types).decode([s]))
        results.append((steps, stream, decoded))
    assert results[0] == results[1]


def _valid_stream() -> tuple[list[str], bytes]:
    types, row = [], []
    for pg_type, cases in CASES:
        types.append(pcf.pgtypes.canonical(pg_type))
        row.append(cases[0][0])
    buf = core_py.WriteBuffer()
    enc = core_py.BinaryEncoder(types)
    enc.header(buf)
    enc.encode_row(buf, tuple(row))
    enc.trailer(buf)
    return types, bytes(buf.getvalue())


@twins
@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_mutated_binary_streams_fail_the_same_way_in_both_twins(data: Any) -> None:
    assert core_c is not None  # the marker skips without it
    types, stream = _valid_stream()
    mutated = bytearray(stream)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(min_value=0, max_value=max(0, len(mutated) - 1)))
        if kind == "flip" and mutated:
            mutated[pos] ^= data.draw(st.integers(min_value=1, max_value=255))
        elif kind == "cut":
            del mutated[pos : pos + data.draw(st.integers(min_value=1, max_value=8))]
        else:
            mutated[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    outcomes = []
    for core in (core_py, core_c):
        dec = core.BinaryDecoder(types)
        first = _outcome(lambda d=dec, m=bytes(mutated): d.decode([m]))
        outcomes.append((first, _outcome(dec.finish)))
        if first[0] == "raised":
            assert first[1] is pcf.DecodeError, first
    assert outcomes[0] == outcomes[1]


@twins
@settings(max_examples=400, deadline=None)
@given(
    value=st.one_of(
        st.decimals(places=None),
        st.builds(
            lambda d, e: Decimal(d).scaleb(e),
            st.integers(-(10**30), 10**30),
            st.integers(-20000, 140000),
        ),
        st.floats(),
        st.integers(min_value=-(10**60), max_value=10**60),
    )
)
def test_twins_agree_on_every_numeric(value: Any) -> None:
    assert core_c is not None  # the marker skips without it
    results = []
    for core in (core_py, core_c):
        buf = core.WriteBuffer()
        outcome = _outcome(
            lambda c=core, b=buf: c.BinaryEncoder(["numeric"]).encode_row(b, (value,))
        )
        data = bytes(buf.getvalue())
        decoded = _outcome(
            lambda c=core, d=data: c.BinaryDecoder(["numeric"]).decode(
                [b"PGCOPY\n\xff\r\n\x00" + b"\0" * 8 + d]
            )
        )
        results.append((outcome, data, decoded))
    assert results[0] == results[1]


# -- malformed arrays and documents: one DecodeError in both twins ----------------------


def _one_value_stream(value: bytes) -> bytes:
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
    return header + b"\0\1" + len(value).to_bytes(4, "big") + value + b"\xff\xff"


def _array_value(dims: list[int], elements: bytes = b"") -> bytes:
    head = len(dims).to_bytes(4, "big") + bytes(4) + (23).to_bytes(4, "big")
    return head + b"".join(d.to_bytes(4, "big") + b"\0\0\0\1" for d in dims) + elements


_OVERFLOWING_DIMS = [
    [0x7FFFFFFF] * 3,  # the product wrapped to -2**40 in int64: decoded as []
    [0x100000, 0x100000, 0x1000000],  # exactly 2**64: wrapped to 0
    [0x7FFFFFFF] * 6,
    [2, 0x7FFFFFFF, 0x7FFFFFFF, 3],
]


@pytest.mark.parametrize("dims", _OVERFLOWING_DIMS)
def test_array_dimensions_whose_product_overflows_are_decode_errors(
    impl: Any, dims: list[int]
) -> None:
    stream = _one_value_stream(_array_value(dims))
    with pytest.raises(
        pcf.DecodeError, match="cannot decode _int4: array elements run past the end"
    ):
        impl.BinaryDecoder(["_int4"]).decode([stream])


@pytest.mark.parametrize(
    "dims", [[3, 0], [0x7FFFFFFF, 0x7FFFFFFF, 0], [0, 5], [2, 0, 2]]
)
def test_arrays_without_elements_are_empty_lists(impl: Any, dims: list[int]) -> None:
    # as array_recv; a zero dimension after the first used to fail with
    # "range() arg 3 must not be zero"
    stream = _one_value_stream(_array_value(dims))
    assert impl.BinaryDecoder(["_int4"]).decode([stream]) == [([],)]
    stream = _one_value_stream(_array_value(dims, b"\0\0\0\4\0\0\0\1"))
    with pytest.raises(pcf.DecodeError, match="array has bytes after its last element"):
        impl.BinaryDecoder(["_int4"]).decode([stream])


@pytest.mark.parametrize(
    ("pg_type", "value"),
    [
        ("json", b"[" * 3000),
        ("json", b"[" * 3000 + b"]" * 3000),  # valid JSON, too deep for json.loads
        ("jsonb", b"\x01" + b'{"a":' * 2000 + b"1" + b"}" * 2000),
    ],
)
def test_json_nested_too_deeply_is_a_decode_error(
    impl: Any, pg_type: str, value: bytes
) -> None:
    # Found by tools/fuzz.py: json.loads raised RecursionError through the decoder.
    stream = _one_value_stream(value)
    for options in (None, CodecOptions(json_loads=__import__("json").loads)):
        with pytest.raises(pcf.DecodeError, match="JSON nested too deeply") as info:
            impl.BinaryDecoder([pg_type], options).decode([stream])
        assert info.value.__cause__ is None
    array = _one_value_stream(_array_value([1], len(value).to_bytes(4, "big") + value))
    with pytest.raises(pcf.DecodeError, match="JSON nested too deeply"):
        impl.BinaryDecoder(["_" + pg_type]).decode([array])


@twins
def test_twins_agree_on_malformed_arrays_and_deep_json() -> None:
    assert core_c is not None  # the marker skips without it
    streams = [
        (["_int4"], _one_value_stream(_array_value(dims)))
        for dims in [*_OVERFLOWING_DIMS, [3, 0], [0x7FFFFFFF, 0x7FFFFFFF, 0], [1, 1, 1]]
    ]
    streams += [(["json"], _one_value_stream(b"[" * 3000))]
    for types, stream in streams:
        outcomes = [
            _outcome(lambda c=core, t=types, s=stream: c.BinaryDecoder(t).decode([s]))
            for core in (core_py, core_c)
        ]
        assert outcomes[0] == outcomes[1], (types, stream[:60])
        assert outcomes[0][0] == "ok" or outcomes[0][1] is pcf.DecodeError
