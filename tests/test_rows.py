"""Row encoders and decoders: formats, escaping, errors, and twin parity."""

from __future__ import annotations

import math
import types
from typing import Any

import pytest
from conftest import core_c, core_py, encode
from hypothesis import given, settings
from hypothesis import strategies as st

import pgcopy_fast as pcf

ALL_BINARY = [
    "bool",
    "int2",
    "int4",
    "int8",
    "oid",
    "float4",
    "float8",
    "text",
    "bytea",
]


def test_text_escapes_specials_and_writes_null(impl: types.ModuleType) -> None:
    enc = impl.TextEncoder()
    got = encode(impl, enc, [("a\tb\nc\\d\re", None, "", 1, -2.5, True, 10**20)])
    assert got == b"a\\tb\\nc\\\\d\\re\t\\N\t\t1\t-2.5\tt\t100000000000000000000\n"
    assert impl.TextDecoder().decode([got]) == [
        ("a\tb\nc\\d\re", None, "", "1", "-2.5", "t", "100000000000000000000")
    ]


def test_text_custom_delimiter_and_null(impl: types.ModuleType) -> None:
    enc = impl.TextEncoder(delimiter="|", null="NULL")
    got = encode(impl, enc, [("a|b", None, "x")])
    assert got == b"a\\|b|NULL|x\n"
    assert impl.TextDecoder(delimiter="|", null="NULL").decode([got]) == [
        ("a|b", None, "x")
    ]


def test_text_decoder_reads_octal_hex_and_other_escapes(impl: types.ModuleType) -> None:
    data = b"\\101\\x42\\b\\f\\v\\q\\\\\t\\N\n"
    assert impl.TextDecoder().decode([data]) == [("AB\b\f\vq\\", None)]


def test_csv_quotes_only_where_needed(impl: types.ModuleType) -> None:
    enc = impl.CsvEncoder()
    got = encode(
        impl, enc, [("plain", 'q"uote', "com,ma", "new\nline", "", None, "\\.")]
    )
    assert got == b'plain,"q""uote","com,ma","new\nline","",,"\\."\n'
    assert impl.CsvDecoder().decode([got]) == [
        ("plain", 'q"uote', "com,ma", "new\nline", "", None, "\\.")
    ]


def test_csv_custom_options(impl: types.ModuleType) -> None:
    enc = impl.CsvEncoder(delimiter=";", quote="'", null="NA")
    got = encode(impl, enc, [("a;b", "it's", None, "NA")])
    assert got == b"'a;b';'it''s';NA;'NA'\n"
    dec = impl.CsvDecoder(delimiter=";", quote="'", null="NA")
    assert dec.decode([got]) == [("a;b", "it's", None, "NA")]


def test_csv_decoder_handles_crlf_and_rows_split_across_payloads(
    impl: types.ModuleType,
) -> None:
    dec = impl.CsvDecoder()
    assert dec.decode([b'a,"b\r\n', b'c"\r\nd,']) == [("a", "b\r\nc")]
    assert dec.decode([b"e\n"]) == [("d", "e")]
    dec.finish()


def test_binary_rows_round_trip_every_type(impl: types.ModuleType) -> None:
    enc = impl.BinaryEncoder(ALL_BINARY)
    row = (
        True,
        -32768,
        2**31 - 1,
        -(2**63),
        4294967295,
        1.5,
        -0.1,
        "h\u00e9 \U0001f600",
        b"\0\xff",
    )
    data = encode(impl, enc, [row, (None,) * 9])
    dec = impl.BinaryDecoder(ALL_BINARY)
    assert dec.decode([data]) == [row, (None,) * 9]
    assert dec.done
    dec.finish()
    raw = impl.BinaryDecoder().decode([data])
    assert raw[0][1] == b"\x80\x00" and raw[1] == (None,) * 9


def test_binary_int_accepts_any_int_and_float_takes_int(impl: types.ModuleType) -> None:
    enc = impl.BinaryEncoder(["int2", "float8"])
    data = encode(impl, enc, [(True, 3)])
    assert impl.BinaryDecoder(["int2", "float8"]).decode([data]) == [(1, 3.0)]


@pytest.mark.parametrize(
    ("pg_type", "value", "cause", "message"),
    [
        ("int4", "1", TypeError, "expected int, got str"),
        ("int4", 2**31, OverflowError, "2147483648 is out of range for int4"),
        ("int2", -40000, OverflowError, "-40000 is out of range for int2"),
        ("int8", 2**64, OverflowError, "out of range for int8"),
        ("oid", -1, OverflowError, "-1 is out of range for oid"),
        ("float4", 1e300, OverflowError, "1e+300 is out of range for float4"),
        ("float8", "x", TypeError, "expected float or int, got str"),
        ("float8", 10**400, OverflowError, "int too large to convert to float"),
        ("text", b"x", TypeError, "expected str, got bytes"),
        ("text", "a\x00b", ValueError, "cannot contain NUL"),
        ("bool", 1, TypeError, "expected bool, got int"),
        ("bytea", "x", TypeError, "expected bytes, bytearray or memoryview, got str"),
    ],
)
def test_binary_encode_errors_name_row_column_and_types(
    impl: types.ModuleType, pg_type: str, value: Any, cause: type, message: str
) -> None:
    enc = impl.BinaryEncoder(["int4", pg_type], columns=["id", "val"])
    buf = impl.WriteBuffer()
    enc.encode_row(buf, (1, None))
    before = buf.getvalue()
    with pytest.raises(pcf.EncodeError) as info:
        enc.encode_row(buf, (2, value))
    err = info.value
    assert (err.row_index, err.column, err.pg_type, err.value_type) == (
        1,
        "val",
        pg_type,
        type(value).__name__,
    )
    assert isinstance(err.__cause__, cause) and message in str(err)
    assert (
        f"row 1, column 'val': cannot encode {type(value).__name__} as {pg_type}"
        in str(err)
    )
    assert buf.getvalue() == before  # the half-written row is gone


def test_wrong_row_shape_is_an_encode_error(impl: types.ModuleType) -> None:
    enc = impl.TextEncoder(ncolumns=2)
    buf = impl.WriteBuffer()
    with pytest.raises(pcf.EncodeError, match="the row has 3 values, the copy has 2"):
        enc.encode_row(buf, (1, 2, 3))
    with pytest.raises(pcf.EncodeError, match="a row must be a tuple or list, not str"):
        enc.encode_row(buf, "ab")
    enc.encode_row(buf, range(2))  # any sequence of the right length
    assert buf.getvalue() == b"0\t1\n"


def test_encode_rows_stops_at_the_limit_and_is_lazy(impl: types.ModuleType) -> None:
    enc = impl.BinaryEncoder(["int8"])
    buf = impl.WriteBuffer()
    consumed = []

    def rows():
        for i in range(1000):
            consumed.append(i)
            yield (i,)

    it = rows()
    assert enc.encode_rows(buf, it, 140) is False
    assert len(consumed) == 10 and len(buf) == 140  # 14 bytes a row
    assert enc.encode_rows(buf, it, 10**9) is True
    assert enc.rows == 1000


def test_unknown_binary_type_is_an_interface_error(impl: types.ModuleType) -> None:
    with pytest.raises(pcf.InterfaceError, match="no binary codec for type 'hstore'"):
        impl.BinaryEncoder(["hstore"])
    assert "int4" in impl.binary_types()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PGCOPX\n\xff\r\n\x00" + b"\0" * 8, "signature is missing"),
        (b"PGCOPY\n\xff\r\n\x00\x00\x01\x00\x00\x00\x00\x00\x00", "critical flags"),
        (
            b"PGCOPY\n\xff\r\n\x00" + b"\0" * 8 + b"\x00\x02",
            "row 0 has 2 fields, expected 1",
        ),
        (
            b"PGCOPY\n\xff\r\n\x00" + b"\0" * 8 + b"\x00\x01\x00\x00\x00\x02\x00\x01",
            "int4 has 4 bytes, got 2",
        ),
        (
            b"PGCOPY\n\xff\r\n\x00" + b"\0" * 8 + b"\x00\x01\xff\xff\xff\xfe",
            "negative field length",
        ),
        (
            b"PGCOPY\n\xff\r\n\x00" + b"\0" * 8 + b"\xff\xff\x00\x01",
            "after the binary COPY trailer",
        ),
    ],
)
def test_malformed_binary_is_a_decode_error(
    impl: types.ModuleType, data: bytes, message: str
) -> None:
    with pytest.raises(pcf.DecodeError, match=message):
        impl.BinaryDecoder(["int4"]).decode([data])


def test_truncated_binary_stream_fails_at_finish(impl: types.ModuleType) -> None:
    dec = impl.BinaryDecoder(["int4"])
    data = b"PGCOPY\n\xff\r\n\x00" + b"\0" * 8 + b"\x00\x01\x00\x00\x00\x04\x00"
    assert dec.decode([data]) == []
    with pytest.raises(pcf.DecodeError, match="middle of row 0"):
        dec.finish()
    dec = impl.BinaryDecoder(["int4"])
    dec.decode([data[:19]])
    with pytest.raises(pcf.DecodeError, match="without its trailer"):
        dec.finish()


def test_invalid_utf8_is_a_decode_error(impl: types.ModuleType) -> None:
    with pytest.raises(pcf.DecodeError, match="row 0, column 1: invalid UTF-8"):
        impl.TextDecoder().decode([b"ok\t\xff\n"])


# -- the twins agree ---------------------------------------------------------

pytestmark_twins = pytest.mark.skipif(core_c is None, reason="compiled twin not built")

_scalar = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=8),
)


def _outcome(func: Any) -> Any:
    try:
        return ("ok", func())
    except Exception as exc:
        return (
            "raised",
            type(exc),
            str(exc),
            getattr(exc, "row_index", None),
            getattr(exc, "column", None),
        )


def _nan_safe(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, tuple | list):
        return type(value)(_nan_safe(v) for v in value)
    return value


@pytestmark_twins
@settings(max_examples=250, deadline=None)
@given(
    rows=st.lists(st.lists(_scalar, min_size=3, max_size=3), max_size=6),
    fmt=st.sampled_from(["text", "csv", "binary"]),
)
def test_twins_encode_and_decode_identically(rows: list[list[Any]], fmt: str) -> None:
    assert core_c is not None  # the marker skips without it
    types_ = ["int8", "text", "float8"]
    results = []
    for core in (core_py, core_c):
        if fmt == "text":
            enc, dec = core.TextEncoder(ncolumns=3), core.TextDecoder()
        elif fmt == "csv":
            enc, dec = core.CsvEncoder(ncolumns=3), core.CsvDecoder()
        else:
            enc, dec = core.BinaryEncoder(types_), core.BinaryDecoder(types_)
        buf = core.WriteBuffer()
        outcomes = []
        enc.header(buf)
        for row in rows:
            outcomes.append(_outcome(lambda r=row, e=enc, b=buf: e.encode_row(b, r)))
        enc.trailer(buf)
        data = bytes(buf.getvalue())
        decoded = _outcome(lambda d=dec, x=data: _nan_safe(d.decode([x])))
        results.append((outcomes, data, decoded))
    assert results[0] == results[1]


@pytestmark_twins
@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(max_size=120),
    prefix=st.booleans(),
    cut=st.integers(min_value=0, max_value=130),
    fmt=st.sampled_from(["text", "csv", "binary", "binary-untyped"]),
)
def test_twins_decode_garbage_identically(
    data: bytes, prefix: bool, cut: int, fmt: str
) -> None:
    assert core_c is not None  # the marker skips without it
    if prefix and fmt.startswith("binary"):
        data = b"PGCOPY\n\xff\r\n\x00" + b"\0" * 8 + data
    pieces = [data[:cut], data[cut:]]
    results = []
    for core in (core_py, core_c):
        if fmt == "text":
            dec = core.TextDecoder()
        elif fmt == "csv":
            dec = core.CsvDecoder()
        elif fmt == "binary":
            dec = core.BinaryDecoder(["int2", "text", "float8", "bool"])
        else:
            dec = core.BinaryDecoder()
        steps = [_outcome(lambda d=dec, p=p: _nan_safe(d.decode([p]))) for p in pieces]
        steps.append(_outcome(dec.finish))
        results.append(steps)
    assert results[0] == results[1]
