"""Text, CSV and the text fallback store and return what binary does (issue: Integrity)."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest

import pgcopy_fast as pcf
from pgcopy_fast.options import CodecOptions

NY = "America/New_York"
INF = CodecOptions(infinity=True)

# (type, value, the server's col::text under TimeZone America/New_York)
CASES: list[tuple[str, Any, str]] = [
    ("jsonb", [], "[]"),
    ("jsonb", [1, "a,b", None], '[1, "a,b", null]'),
    ("jsonb", "123", '"123"'),
    ("jsonb", True, "true"),
    ("jsonb", {"k": [1, {"t": "\t\\"}]}, '{"k": [1, {"t": "\\t\\\\"}]}'),
    ("jsonb", 2**70, "1180591620717411303424"),
    ("json", [], "[]"),
    ("json", "x", '"x"'),
    ("timestamptz", datetime.datetime(2020, 1, 1, 12), "2020-01-01 07:00:00-05"),
    (
        "timestamptz",
        datetime.datetime(
            2020, 1, 1, 12, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
        ),
        "2020-01-01 05:00:00-05",
    ),
    ("int4", True, "1"),
    ("int8", False, "0"),
    ("float8", 1, "1"),
    ("float4", 0.1, "0.1"),
    ("float8", -0.0, "-0"),
    ("float8", float("nan"), "NaN"),
    ("numeric", 1.5, "1.5"),
    ("numeric", Decimal("-12345678901.25"), "-12345678901.25"),
    ("numeric", Decimal("Infinity"), "Infinity"),
    (
        "uuid",
        "12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-567812345678",
    ),
    ("text[]", ["a b", None, "NULL", "", '"q"'], '{"a b",NULL,"NULL","","\\"q\\""}'),
    ("int4[]", [[1, None], [3, 4]], "{{1,NULL},{3,4}}"),
    ("jsonb[]", [{"a": 1}, 2], '{"{\\"a\\": 1}",2}'),
    (
        "interval",
        datetime.timedelta(days=-1, microseconds=5),
        "-1 days +00:00:00.000005",
    ),
    ("bytea", b"\x00\\\t", "\\x005c09"),
    ("date", datetime.date(2020, 2, 29), "2020-02-29"),
    ("timetz", datetime.time(1, 2, 3, tzinfo=datetime.timezone.utc), "01:02:03+00"),
]
IDS = [f"{t}-{v!r}"[:50] for t, v, _ in CASES]


def _table(conn: Any, typ: str) -> None:
    conn.execute(
        f"DROP TABLE IF EXISTS tt; CREATE TABLE tt (id int4, v {typ}, p point)"
    )


def _stored(conn: Any) -> list[str | None]:
    return [r[0] for r in conn.execute("SELECT v::text FROM tt ORDER BY id").rows]


@pytest.mark.parametrize(("typ", "value", "text"), CASES, ids=IDS)
def test_every_path_stores_one_value(
    conn: Any, typ: str, value: Any, text: str
) -> None:
    conn.execute(f"SET TimeZone = '{NY}'")
    _table(conn, typ)
    types = ["int4", typ]
    with conn.copy_in("COPY tt (id, v) FROM STDIN (FORMAT binary)", types) as cp:
        cp.write_row((1, value))
    with conn.copy_in("COPY tt (id, v) FROM STDIN", types) as cp:
        cp.write_row((2, value))
    with conn.copy_in("COPY tt (id, v) FROM STDIN (FORMAT csv)", types) as cp:
        cp.write_row((3, value))
    conn.copy_records("tt", [(4, value)], columns=("id", "v"))
    # a point column (no binary codec) sends the whole copy through text
    conn.copy_records("tt", [(5, value, "(1,2)")])
    assert _stored(conn) == [text] * 5


@pytest.mark.parametrize(("typ", "value", "text"), CASES, ids=IDS)
def test_every_path_reads_one_value(conn: Any, typ: str, value: Any, text: str) -> None:
    conn.execute(f"SET TimeZone = '{NY}'")
    _table(conn, typ)
    conn.copy_records("tt", [(1, value, "(1,2)")])
    binary = list(conn.copy_records_out("tt", columns=("id", "v")))
    fallback = [r[:2] for r in conn.copy_records_out("tt")]
    types = ["int4", typ]
    with conn.copy_out("COPY tt (id, v) TO STDOUT", types) as out:
        as_text = list(out)
    with conn.copy_out("COPY tt (id, v) TO STDOUT (FORMAT csv)", types) as out:
        as_csv = list(out)
    # repr: NaN is not equal to itself
    assert repr(fallback) == repr(binary)
    assert repr(as_text) == repr(binary)
    assert repr(as_csv) == repr(binary)


def test_infinity_on_every_path(conn: Any) -> None:
    conn.execute(
        "DROP TABLE IF EXISTS ti; CREATE TABLE ti (d date, t timestamptz, p point)"
    )
    high = datetime.datetime.max
    conn.copy_records(
        "ti", [(datetime.date.max, high)], columns=("d", "t"), options=INF
    )
    conn.copy_records("ti", [(datetime.date.min, high, "(0,0)")], options=INF)
    with conn.copy_in(
        "COPY ti (d, t) FROM STDIN (FORMAT csv)", ["date", "timestamptz"], options=INF
    ) as cp:
        cp.write_row((datetime.date.max, None))
    rows = conn.execute("SELECT d::text, t::text FROM ti").rows
    assert rows == [
        ("infinity", "infinity"),
        ("-infinity", "infinity"),
        ("infinity", None),
    ]
    # the fallback reads them back as the binary path does
    back = [r[:2] for r in conn.copy_records_out("ti", options=INF)]
    assert back[0] == (datetime.date.max, high.replace(tzinfo=datetime.timezone.utc))
    with pytest.raises(pcf.DecodeError) as info:
        list(conn.copy_records_out("ti"))
    assert info.value.row_index == 0 and info.value.pg_type == "date"


def test_encode_errors_agree(conn: Any) -> None:
    """A bad value fails alike on every path, naming row, column and type."""
    _table(conn, "int2")
    messages = []
    for sql in (
        "COPY tt (id, v) FROM STDIN (FORMAT binary)",
        "COPY tt (id, v) FROM STDIN",
        "COPY tt (id, v) FROM STDIN (FORMAT csv)",
    ):
        with pytest.raises(pcf.EncodeError) as info:
            with conn.copy_in(sql, ["int4", "int2"], columns=["id", "v"]) as cp:
                cp.write_rows([(1, 1), (2, 70000)])
        assert (info.value.row_index, info.value.column, info.value.pg_type) == (
            1,
            "v",
            "int2",
        )
        messages.append(str(info.value))
    with pytest.raises(pcf.EncodeError) as info:
        conn.copy_records("tt", [(1, 1, None), (2, 70000, None)])
    assert (info.value.row_index, info.value.column) == (1, "v")
    assert len(set(messages)) == 1
    assert conn.execute("SELECT count(*) FROM tt").rows == [("0",)]


@pytest.mark.parametrize(
    ("literal", "typ"),
    [
        ("'infinity'::date", "date"),
        ("'10000-01-01'::date", "date"),
        ("'24:00:00'::time", "time"),
        ("'178000000 years'::interval", "interval"),
        ("'2020-01-01 BC'::timestamp", "timestamp"),
    ],
)
def test_fallback_decode_errors_name_row_and_column(
    conn: Any, literal: str, typ: str
) -> None:
    sql = f"SELECT 1 AS a, {literal} AS v, point(1, 2) AS p"
    with pytest.raises(pcf.DecodeError) as info:
        list(conn.copy_query_out(sql))
    assert (info.value.row_index, info.value.column, info.value.pg_type) == (0, 1, typ)
    with pytest.raises(pcf.DecodeError):
        with conn.copy_out(f"COPY ({sql}) TO STDOUT", ["int4", typ, "point"]) as out:
            list(out)
    assert conn.execute("SELECT 1").rows == [("1",)]


def test_types_on_text_copy_out(conn: Any) -> None:
    with conn.copy_out(
        "COPY (SELECT 1, true, NULL::int4) TO STDOUT", types=["int4", "bool", "int4"]
    ) as out:
        assert list(out) == [(1, True, None)]
    with conn.copy_out(
        "COPY (SELECT 1, true) TO STDOUT (FORMAT csv)", types=["int4", "bool"]
    ) as out:
        assert list(out) == [(1, True)]


def test_array_delimiter_from_the_catalog(conn: Any) -> None:
    conn.execute(
        "DROP TABLE IF EXISTS tb; CREATE TABLE tb (b box[]);"
        "INSERT INTO tb VALUES (ARRAY[box '((1,1),(0,0))', box '((3,3),(2,2))'])"
    )
    assert list(conn.copy_records_out("tb")) == [(["(1,1),(0,0)", "(3,3),(2,2)"],)]
    assert list(conn.copy_query_out("SELECT b FROM tb")) == [
        (["(1,1),(0,0)", "(3,3),(2,2)"],)
    ]


def test_dict_records_on_the_connection(conn: Any) -> None:
    conn.execute("DROP TABLE IF EXISTS td; CREATE TABLE td (a int4, b text)")
    assert conn.copy_records("td", [{"b": "x", "a": 1}, {"a": 2, "b": "y"}]) == 2
    assert conn.copy_records("td", [{"b": "z"}], columns=["b"]) == 1
    assert sorted(conn.execute("SELECT a, b FROM td").rows, key=str) == [
        ("1", "x"),
        ("2", "y"),
        (None, "z"),
    ]
    with pytest.raises(pcf.InterfaceError, match="'a'"):
        conn.copy_records("td", [{"a": 1, "b": "x"}, {"b": "y"}])
    assert conn.execute("SELECT count(*) FROM td").rows == [("3",)]
