"""One Python value stores one server value, in both twins (DESIGN.md, integrity).

NULL markers that a value could spell, pandas' and numpy's values, the
one-byte ``"char"``, the largest numerics and float4's edge: each checked
against the real server (``col::text`` is the judge) and the twins against
each other (same bytes, same errors).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import types
from decimal import Decimal
from typing import Any

import pytest
from conftest import both_twins, core_c, core_py, encode, require

import pgcopy_fast as pcf

np = require("numpy")


def outcome(core: types.ModuleType, make: Any, rows: list[Any]) -> Any:
    try:
        return ("ok", encode(core, make(core), rows))
    except pcf.EncodeError as exc:
        return ("raised", str(exc), type(exc.__cause__))


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def send(conn: pcf.Connection, sql: str, data: bytes) -> None:
    with conn.copy_in(sql) as cp:
        cp.write(data)


# -- 1. a value equal to the NULL marker is not NULL ------------------------------


@pytest.mark.parametrize(
    ("null", "values"),
    [
        ("NA", ["NA", "NAB", "na"]),
        ("NULL", ["NULL", "null"]),
        ("N", ["N"]),
        ("1", ["1", 1]),
        ("t", ["t", True]),
        ("x", ["x"]),
        ("\u00e9", ["\u00e9"]),
        ("\\\\", ["\\"]),
        (".", ["."]),
        ("\\N", ["\\N", "N"]),
    ],
)
def test_text_value_equal_to_the_null_marker_is_not_null(
    conn: pcf.Connection, impl: types.ModuleType, null: str, values: list[Any]
) -> None:
    conn.execute("CREATE TEMP TABLE nm (i int4, v text)")
    rows = [(i + 10, v) for i, v in enumerate(values)] + [(99, None)]
    data = encode(impl, impl.TextEncoder(null=null), rows)
    send(conn, f"COPY nm FROM STDIN (NULL {literal(null)})", data)
    got = conn.execute("SELECT i, v, v IS NULL FROM nm ORDER BY i").rows
    expected = [(str(i), "t" if v is True else str(v), "f") for i, v in rows[:-1]] + [
        ("99", None, "t")
    ]
    assert got == expected
    if core_c is not None:
        assert encode(core_py, core_py.TextEncoder(null=null), rows) == encode(
            core_c, core_c.TextEncoder(null=null), rows
        )


def test_a_single_column_dot_is_never_the_end_of_data_marker(
    conn: pcf.Connection, impl: types.ModuleType
) -> None:
    conn.execute("CREATE TEMP TABLE dot (v text)")
    data = encode(impl, impl.TextEncoder(null="."), [(".",), ("x",)])
    assert b"\\.\n" not in data
    send(conn, "COPY dot FROM STDIN (NULL '.')", data)
    assert conn.execute("SELECT v FROM dot ORDER BY v").rows == [(".",), ("x",)]


def test_an_integer_equal_to_the_null_marker_reaches_an_int_column(
    conn: pcf.Connection, impl: types.ModuleType
) -> None:
    conn.execute("CREATE TEMP TABLE ni (a int4, b int4)")
    data = encode(impl, impl.TextEncoder(null="1"), [(1, None), (None, 12)])
    assert data == b"\\061\t1\n1\t12\n"
    send(conn, "COPY ni FROM STDIN (NULL '1')", data)
    assert conn.execute("SELECT a, b FROM ni ORDER BY a NULLS LAST").rows == [
        ("1", None),
        (None, "12"),
    ]


def test_the_default_marker_cannot_collide(impl: types.ModuleType) -> None:
    # the backslash of a value is doubled, so "\N" the text is never \N
    assert encode(impl, impl.TextEncoder(), [("\\N", None)]) == b"\\\\N\t\\N\n"


def test_an_empty_string_with_an_empty_null_marker_is_an_encode_error(
    conn: pcf.Connection, impl: types.ModuleType
) -> None:
    enc = impl.TextEncoder(null="", columns=["v"])
    with pytest.raises(pcf.EncodeError) as info:
        encode(impl, enc, [("",)])
    assert isinstance(info.value.__cause__, ValueError)
    assert (info.value.row_index, info.value.column) == (0, "v")
    assert "an empty string cannot be told from NULL with null=''" in str(info.value)
    # CSV can tell them apart (quoted), and the server agrees
    conn.execute("CREATE TEMP TABLE es (i int4, v text)")
    data = encode(impl, impl.CsvEncoder(), [(1, ""), (2, None)])
    send(conn, "COPY es FROM STDIN (FORMAT csv)", data)
    assert conn.execute("SELECT i, v IS NULL FROM es ORDER BY i").rows == [
        ("1", "f"),
        ("2", "t"),
    ]


# -- 2. pandas and numpy values ----------------------------------------------------

NULL_TYPES = [
    "bool",
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "numeric",
    "text",
    "bytea",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "uuid",
    "json",
    "jsonb",
    "inet",
    "macaddr",
    "int4[]",
]


def _missing_values() -> list[Any]:
    values: list[Any] = [np.datetime64("NaT"), np.timedelta64("NaT")]
    try:
        import pandas as pd
    except ImportError:
        return values
    return [*values, pd.NaT, pd.NA]


@pytest.mark.parametrize("fmt", ["binary", "text", "csv"])
def test_missing_values_are_null_in_every_codec(
    utc_conn: pcf.Connection, impl: types.ModuleType, fmt: str
) -> None:
    conn = utc_conn
    cols = ", ".join(f"c{i} {t}" for i, t in enumerate(NULL_TYPES))
    conn.execute(f"CREATE TEMP TABLE mv (k int4, {cols})")
    rows = [(k, *([v] * len(NULL_TYPES))) for k, v in enumerate(_missing_values())]
    names = [pcf.pgtypes.canonical(t) for t in ["int4", *NULL_TYPES]]
    if fmt == "binary":
        enc = impl.BinaryEncoder(names)
    elif fmt == "text":
        enc = impl.TextEncoder()
    else:
        enc = impl.CsvEncoder()
    data = encode(impl, enc, rows)
    send(conn, f"COPY mv FROM STDIN (FORMAT {fmt})", data)
    nulls = " AND ".join(f"c{i} IS NULL" for i in range(len(NULL_TYPES)))
    assert conn.execute(f"SELECT count(*) FROM mv WHERE {nulls}").rows == [
        (str(len(rows)),)
    ]


@pytest.fixture
def utc_conn(conn: pcf.Connection) -> pcf.Connection:
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def _numpy_cases() -> list[tuple[str, Any, str]]:
    # (type, numpy value, the server's text of the same value)
    return [
        ("bool", np.bool_(True), "true"),
        ("int2", np.int16(-7), "-7"),
        ("int4", np.int32(2**31 - 1), "2147483647"),
        ("int8", np.int64(-(2**63)), "-9223372036854775808"),
        ("int8", np.uint32(4000000000), "4000000000"),
        ("int4", np.uint8(200), "200"),
        ("oid", np.uint32(4294967295), "4294967295"),
        ("float4", np.float32(0.1), "0.1"),
        ("float4", np.float32(3.4028235e38), "3.4028235e+38"),
        ("float8", np.float64(0.1), "0.1"),
        ("float8", np.float32(0.1), "0.10000000149011612"),
        ("numeric", np.int64(12), "12"),
        ("numeric", np.float64(1.25), "1.25"),
        ("text", np.str_("h\u00e9"), "h\u00e9"),
        ("bytea", np.bytes_(b"\x01\xff"), "\\x01ff"),
        (
            "timestamp",
            np.datetime64("2024-02-03T04:05:06.123456"),
            "2024-02-03 04:05:06.123456",
        ),
        ("timestamp", np.datetime64("2024-02-03", "D"), "2024-02-03 00:00:00"),
        (
            "timestamptz",
            np.datetime64("2024-02-03T04:05:06", "ns"),
            "2024-02-03 04:05:06+00",
        ),
        ("interval", np.timedelta64(90061, "s"), "1 day 01:01:01"),
        ("interval", np.timedelta64(1500, "us"), "00:00:00.0015"),
        ("int4[]", [np.int32(1), np.int64(2)], "{1,2}"),
    ]


@pytest.mark.parametrize("fmt", ["binary", "text", "csv"])
def test_numpy_scalars_are_the_values_they_hold(
    utc_conn: pcf.Connection, impl: types.ModuleType, fmt: str
) -> None:
    conn = utc_conn
    cases = _numpy_cases()
    cols = ", ".join(f"c{i} {t}" for i, (t, _, _) in enumerate(cases))
    conn.execute(f"CREATE TEMP TABLE ns ({cols})")
    row = tuple(v for _, v, _ in cases)
    if fmt == "binary":
        enc = impl.BinaryEncoder([pcf.pgtypes.canonical(t) for t, _, _ in cases])
    elif fmt == "text":
        enc = impl.TextEncoder()
    else:
        enc = impl.CsvEncoder()
    send(conn, f"COPY ns FROM STDIN (FORMAT {fmt})", encode(impl, enc, [row]))
    texts = ", ".join(f"c{i}::text" for i in range(len(cases)))
    got = conn.execute(f"SELECT {texts} FROM ns").rows[0]
    assert list(got) == [text for _, _, text in cases]


def test_a_nat_inside_an_array_is_a_null_element(
    utc_conn: pcf.Connection, impl: types.ModuleType
) -> None:
    conn = utc_conn
    conn.execute("CREATE TEMP TABLE na (a timestamp[], b float8[][])")
    nat = np.datetime64("NaT")
    row = ([nat, dt.datetime(2020, 1, 2)], [[1.5, nat], [np.float32(2), None]])
    enc = impl.BinaryEncoder(["_timestamp", "_float8"])
    data = encode(impl, enc, [row])
    send(conn, "COPY na FROM STDIN (FORMAT binary)", data)
    assert conn.execute("SELECT a::text, b::text FROM na").rows == [
        ('{NULL,"2020-01-02 00:00:00"}', "{{1.5,NULL},{2,NULL}}")
    ]
    # the header's has-NULL flag is what the server itself writes
    with conn.copy_out("COPY na TO STDOUT (FORMAT binary)") as out:
        assert b"".join(iter(out.read, None)) == data


@pytest.mark.parametrize(
    ("pg_type", "value", "message"),
    [
        ("date", "bool_", "expected date, got numpy.bool"),
        ("int4", "float64", "expected int, got numpy.float64"),
        (
            "text",
            "nan",
            "expected str, got float NaN (pandas' missing value? pass None for NULL)",
        ),
        (
            "varchar",
            "float32nan",
            "got numpy.float32 NaN (pandas' missing value? pass None for NULL)",
        ),
        ("timestamp", "ns", "has sub-microsecond digits"),
        ("interval", "months", "no fixed length"),
    ],
)
def test_numpy_values_that_do_not_fit_name_their_type(
    conn: pcf.Connection, pg_type: str, value: str, message: str
) -> None:
    v = {
        "bool_": np.bool_(True),
        "float64": np.float64(1.5),
        "nan": float("nan"),
        "float32nan": np.float32("nan"),
        "ns": np.datetime64("2024-01-01T00:00:00.000000001"),
        "months": np.timedelta64(1, "M"),
    }[value]
    conn.execute(f"CREATE TEMP TABLE bad (i int4, v {pg_type})")
    with pytest.raises(pcf.EncodeError) as info:
        conn.copy_records("bad", [(1, None), (2, v)])
    err = info.value
    assert (err.row_index, err.column, err.pg_type) == (1, "v", pg_type)
    assert message in str(err), str(err)
    assert conn.execute("SELECT count(*) FROM bad").rows == [("0",)]


def test_sub_microsecond_digits_are_an_error_in_text_too(
    impl: types.ModuleType,
) -> None:
    enc = impl.TextEncoder()
    with pytest.raises(pcf.EncodeError, match="sub-microsecond"):
        encode(impl, enc, [(np.datetime64("2024-01-01T00:00:00.000000500"),)])
    assert encode(
        impl, impl.TextEncoder(), [(np.datetime64("2024-01-01T00:00:00.5"),)]
    ) == (b"2024-01-01 00:00:00.500000\n")


def test_pandas_values(utc_conn: pcf.Connection, impl: types.ModuleType) -> None:
    pd = require("pandas")
    conn = utc_conn
    conn.execute("CREATE TEMP TABLE pv (t timestamptz, d date, i interval, n int8)")
    rows = [
        (pd.Timestamp("2024-01-02 03:04:05.5", tz="UTC"), pd.NaT, pd.NaT, pd.NA),
        (pd.NaT, pd.NaT, pd.Timedelta(seconds=90), np.int64(5)),
    ]
    enc = impl.BinaryEncoder(["timestamptz", "date", "interval", "int8"])
    send(conn, "COPY pv FROM STDIN (FORMAT binary)", encode(impl, enc, rows))
    assert conn.execute(
        "SELECT t::text, d::text, i::text, n::text FROM pv ORDER BY t NULLS LAST"
    ).rows == [
        ("2024-01-02 03:04:05.5+00", None, None, None),
        (None, None, "00:01:30", "5"),
    ]
    with pytest.raises(pcf.EncodeError, match="sub-microsecond"):
        encode(impl, enc, [(pd.Timestamp("2024-01-01 00:00:00.000000001"),) * 4])


# -- 3. "char" ------------------------------------------------------------------------


def test_char_round_trips_as_the_server_prints_it(
    conn: pcf.Connection, impl: types.ModuleType
) -> None:
    assert "char" in impl.binary_types()
    sql = "SELECT ''::\"char\", 'A'::\"char\", '\\351'::\"char\""
    expected = ("", "A", "\\351")
    with conn.copy_out(
        f"COPY ({sql}) TO STDOUT (FORMAT binary)", ['"char"'] * 3
    ) as out:
        assert list(out) == [expected]
    with conn.copy_out(f"COPY ({sql}) TO STDOUT") as out:  # text: the same str
        assert impl.TextDecoder().decode([b"".join(iter(out.read, None))]) == [expected]
    assert conn.execute(sql.replace('"char"', '"char"::text')).rows == [expected]
    conn.execute('CREATE TEMP TABLE ch (i int4, c "char", a "char"[])')
    rows = [(1, "", ["", None]), (2, "A", ["A"]), (3, "\\351", ["\\351", "z"])]
    enc = impl.BinaryEncoder(["int4", "char", "_char"])
    data = encode(impl, enc, rows)
    send(conn, "COPY ch FROM STDIN (FORMAT binary)", data)
    assert conn.execute(
        "SELECT c::text, ascii(c::text), c = '\\351'::\"char\", a::text FROM ch ORDER BY i"
    ).rows == [
        ("", "0", "f", '{"",NULL}'),
        ("A", "65", "f", "{A}"),
        ("\\351", "92", "t", '{"\\\\351",z}'),
    ]
    with conn.copy_out("COPY ch TO STDOUT (FORMAT binary)") as out:
        assert b"".join(iter(out.read, None)) == data


@pytest.mark.parametrize("value", ["ab", "\u00e9", "\\101", "\\400", "\x00", 65])
def test_char_refuses_what_it_cannot_store_exactly(
    impl: types.ModuleType, value: Any
) -> None:
    enc = impl.BinaryEncoder(["char"], columns=["c"])
    with pytest.raises(pcf.EncodeError) as info:
        encode(impl, enc, [(value,)])
    assert info.value.pg_type == "char" and info.value.column == "c"


# -- 4. numeric at its limits ---------------------------------------------------------

BIG_NUMERICS = [
    "9" * 131072,
    "9" * 131072 + "." + "9" * 16383,
    "-" + "1" + "0" * 131071 + "." + "0" * 16382 + "1",
    "0." + "0" * 16382 + "1",
]


@pytest.mark.parametrize("text", BIG_NUMERICS, ids=["int", "both", "neg", "frac"])
def test_the_largest_numerics_round_trip(
    conn: pcf.Connection, impl: types.ModuleType, text: str
) -> None:
    conn.execute("CREATE TEMP TABLE bn (v numeric)")
    with conn.copy_out(
        f"COPY (SELECT '{text}'::numeric) TO STDOUT (FORMAT binary)", ["numeric"]
    ) as out:
        assert list(out) == [(Decimal(text),)]
    enc = impl.BinaryEncoder(["numeric"])
    data = encode(impl, enc, [(Decimal(text),)])
    send(conn, "COPY bn FROM STDIN (FORMAT binary)", data)
    assert conn.execute(f"SELECT v = '{text}'::numeric, scale(v) FROM bn").rows == [
        ("t", str(len(text.partition(".")[2])))
    ]
    with conn.copy_out("COPY bn TO STDOUT (FORMAT binary)") as out:
        assert b"".join(iter(out.read, None)) == data
    if text == "9" * 131072:  # an int as large, not only a Decimal
        assert encode(impl, enc, [(10**131072 - 1,)]) == data


@pytest.mark.parametrize(
    ("value", "sql", "message"),
    [
        (Decimal("1E+131072"), "1E+131072", "out of range for numeric"),
        (10**131072, "1E+131072", "an int of 435412 bits is out of range for numeric"),
        (Decimal("1E-16384"), "1E-16384", "decimal digits"),
    ],
    ids=["decimal", "int", "scale"],
)
def test_numerics_beyond_the_limits_are_encode_errors(
    conn: pcf.Connection, impl: types.ModuleType, value: Any, sql: str, message: str
) -> None:
    enc = impl.BinaryEncoder(["numeric"])
    with pytest.raises(pcf.EncodeError) as info:
        encode(impl, enc, [(value,)])
    assert isinstance(info.value.__cause__, OverflowError)
    assert message in str(info.value)
    with pytest.raises(pcf.DatabaseError, match="overflows numeric"):
        conn.execute(f"SELECT '{sql}'::numeric")


# -- 5. float4 -------------------------------------------------------------------------

FLT_MAX = struct.unpack(">f", b"\x7f\x7f\xff\xff")[0]
HALFWAY_TO_INF = 2.0**128 - 2.0**103


def _float4_halfway_doubles() -> list[float]:
    # doubles exactly between two float4 values, where a cast rounds half to
    # even but float4in rounds the shortest repr, which is not the double
    out = []
    for bits in range(0x3F800000, 0x3F800000 + 4000, 7):
        low = struct.unpack(">f", struct.pack(">I", bits))[0]
        high = struct.unpack(">f", struct.pack(">I", bits + 1))[0]
        out.append((low + high) / 2)
    out += [-out[0], 16777217.0, 2.0**-150 * 3, (FLT_MAX + 2.0**128 - 2.0**104) / 2]
    return out


def test_float4_stores_what_float4in_stores_for_the_repr(
    conn: pcf.Connection, impl: types.ModuleType
) -> None:
    values = [3.4028235e38, -3.4028235e38, HALFWAY_TO_INF, 1.4e-45, 1e-40]
    values += _float4_halfway_doubles()
    conn.execute("CREATE TEMP TABLE f4 (i int4, v float4)")
    enc = impl.BinaryEncoder(["int4", "float4"])
    send(
        conn,
        "COPY f4 FROM STDIN (FORMAT binary)",
        encode(impl, enc, list(enumerate(values))),
    )
    # the text path: the server parses the repr of the same double
    array = literal("{" + ",".join(repr(v) for v in values) + "}")
    theirs = conn.execute(
        f"SELECT i, v::text FROM unnest({array}::float4[]) WITH ORDINALITY AS u(v, i)"
        " ORDER BY i"
    ).rows
    ours = conn.execute("SELECT i + 1, v::text FROM f4 ORDER BY i").rows
    assert ours == theirs
    top = "3.4028235e+38"
    assert [v for _, v in ours[:3]] == [top, "-" + top, top]


@pytest.mark.parametrize("value", [3.5e38, -3.4028236e38, 2.0**128, 1e-46, -1e-50])
def test_float4_refuses_what_float4in_refuses(
    conn: pcf.Connection, impl: types.ModuleType, value: float
) -> None:
    with pytest.raises(pcf.DatabaseError, match="out of range for type real"):
        conn.execute(f"SELECT '{value!r}'::float4")
    enc = impl.BinaryEncoder(["float4"])
    with pytest.raises(pcf.EncodeError, match="out of range for float4") as info:
        encode(impl, enc, [(value,)])
    assert isinstance(info.value.__cause__, OverflowError)


def test_float4_keeps_infinity_nan_and_zero(impl: types.ModuleType) -> None:
    enc = impl.BinaryEncoder(["float4"])
    data = encode(impl, enc, [(math.inf,), (-0.0,), (0,)])
    assert b"\x7f\x80\x00\x00" in data and b"\x80\x00\x00\x00" in data


# -- the twins agree ---------------------------------------------------------------------


def _parity_cases() -> list[tuple[list[str], tuple[Any, ...]]]:
    if np is None:
        return []
    cases: list[tuple[list[str], tuple[Any, ...]]] = [
        (
            ["bool", "int2", "int4", "int8", "oid"],
            (np.bool_(False),) + (np.int8(-1),) * 3 + (np.uint16(9),),
        ),
        (["bool"], (np.int64(1),)),
        (["int4"], (np.int64(2**40),)),
        (["int8"], (np.uint64(2**63),)),
        (["float4", "float8"], (np.float16(0.5), np.longdouble(1))),
        (
            ["text", "varchar", "bytea"],
            (np.str_("a"), np.float64("nan"), np.bytes_(b"")),
        ),
        (["numeric"], (np.float32(0.1),)),
        (["date"], (np.datetime64("2024-01-01"),)),
        (["timestamp"], (np.datetime64("99999-01-01"),)),
        (["interval", "interval"], (np.timedelta64(3, "D"), np.timedelta64(1, "ns"))),
        (["_int4"], ([[np.int32(1), np.datetime64("NaT")], [None, 3]],)),
        (["_int4"], (np.timedelta64("NaT"),)),
        (["jsonb", "json"], (np.int64(3), np.datetime64("NaT"))),
        (["uuid", "inet", "macaddr", "timetz"], (np.datetime64("NaT"),) * 4),
        (["inet"], (np.float64(1),)),
        (["float4"] * 4, (3.4028235e38, HALFWAY_TO_INF, 1 + 2.0**-24, 2.0**-150)),
        (["char", "_char"], ("\\377", ["", "\\200", None])),
        (["numeric"], (Decimal(BIG_NUMERICS[1]),)),
        (["numeric"], (-(10**131072),)),
    ]
    try:
        import pandas as pd
    except ImportError:
        return cases
    return [
        *cases,
        (
            ["timestamp", "timestamptz", "date"],
            (pd.NaT, pd.Timestamp("2024-01-01"), pd.NaT),
        ),
        (["interval", "text"], (pd.Timedelta(1, "us"), pd.NA)),
        (["date"], (pd.Timestamp("2024-01-01"),)),
    ]


@both_twins
@pytest.mark.parametrize("case", range(len(_parity_cases())))
def test_twins_encode_pandas_and_numpy_identically(case: int) -> None:
    assert core_c is not None  # the marker skips without it
    names, row = _parity_cases()[case]
    binary = [
        outcome(core, lambda c: c.BinaryEncoder(names), [row])
        for core in (core_py, core_c)
    ]
    assert binary[0] == binary[1]
    for make in (lambda c: c.TextEncoder(null="1"), lambda c: c.CsvEncoder()):
        results = [outcome(core, make, [row]) for core in (core_py, core_c)]
        assert results[0] == results[1]
