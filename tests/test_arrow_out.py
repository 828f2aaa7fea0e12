"""COPY OUT to Arrow: binary COPY data decoded into Arrow record batches.

Kernel tests feed ``encode_rows`` streams (no server) cut at random points
into ``core.ArrowDecoder`` (each test runs once per twin); parity tests
compare the two twins' tables; server tests decode real ``COPY ... TO
STDOUT (FORMAT binary)`` payloads and compare with psycopg 3 and with the
server's own text; consumer tests hand the C stream to pyarrow, polars and
duckdb.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal, localcontext
from typing import Any

import pytest
from conftest import both_twins, require

import pgcopy_fast as pcf
import pgcopy_fast.kernels._core_py as core_py
from pgcopy_fast.binary import encode_rows
from pgcopy_fast.columnar.outtypes import numeric_typmod, out_type
from pgcopy_fast.columnar.stream import ArrowBatchStream, AsyncArrowBatchStream
from pgcopy_fast.errors import DecodeError, InterfaceError
from pgcopy_fast.kernels import core
from pgcopy_fast.kernels.consts import PGCOPY_SIGNATURE
from pgcopy_fast.options import CodecOptions

pa = require("pyarrow")

UTC = datetime.timezone.utc
TRAILER = b"\xff\xff"
HEADER = PGCOPY_SIGNATURE + b"\x00\x00\x00\x00\x00\x00\x00\x00"


def typmod(precision: int, scale: int) -> int:
    """The typmod of numeric(precision, scale)."""
    return ((precision << 16) | scale) + 4


def chunks(data: bytes, rng: random.Random, pieces: int = 8) -> list[bytes]:
    """``data`` cut at random points (some pieces empty, some one byte)."""
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(pieces))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def decode(
    columns: list[tuple[str, str, int]],
    data: bytes,
    *,
    batch_rows: int = 65536,
    options: CodecOptions | None = None,
    seed: int = 0,
    decoder: Any = None,
) -> list[Any]:
    """The pyarrow RecordBatches of ``data``, fed in random pieces."""
    cls = decoder if decoder is not None else core.ArrowDecoder
    dec = cls(columns, options, batch_rows)
    pairs: list[tuple[Any, Any]] = []
    for piece in chunks(data, random.Random(seed)):
        pairs += dec.feed(piece)
    pairs += dec.finish()
    batches = [pa.RecordBatch._import_from_c_capsule(s, a) for s, a in pairs]
    assert dec.rows == sum(b.num_rows for b in batches)
    return batches


def table(columns: list[tuple[str, str, int]], data: bytes, **kw: Any) -> Any:
    batches = decode(columns, data, **kw)
    dec = core.ArrowDecoder(columns)
    schema = pa.Schema._import_from_c_capsule(dec.schema())
    return pa.Table.from_batches(batches, schema=schema)


# -- every type, with NULLs ---------------------------------------------------------

V4 = ipaddress.ip_interface("192.168.0.1/24")
CASES: list[tuple[str, int, list[Any], Any, list[Any]]] = [
    # (pg type, typmod, values in, Arrow type, values out)
    ("bool", -1, [True, False, None], pa.bool_(), [True, False, None]),
    ("int2", -1, [-32768, 32767, None], pa.int16(), [-32768, 32767, None]),
    ("int4", -1, [-(2**31), 2**31 - 1, None], pa.int32(), [-(2**31), 2**31 - 1, None]),
    ("int8", -1, [-(2**63), 2**63 - 1, None], pa.int64(), [-(2**63), 2**63 - 1, None]),
    ("oid", -1, [0, 2**32 - 1, None], pa.uint32(), [0, 2**32 - 1, None]),
    (
        "float4",
        -1,
        [1.5, float("-inf"), None],
        pa.float32(),
        [1.5, float("-inf"), None],
    ),
    ("float8", -1, [2.5e300, -0.0, None], pa.float64(), [2.5e300, -0.0, None]),
    (
        "numeric",
        typmod(12, 2),
        [Decimal("1234567890.12"), Decimal("-0.5"), Decimal("0"), None],
        pa.decimal128(12, 2),
        [Decimal("1234567890.12"), Decimal("-0.50"), Decimal("0.00"), None],
    ),
    (
        "numeric",
        typmod(38, 0),
        [Decimal("9" * 38), Decimal("-" + "9" * 38), None],
        pa.decimal128(38, 0),
        [Decimal("9" * 38), Decimal("-" + "9" * 38), None],
    ),
    (
        "numeric",
        typmod(20, 10),
        [Decimal("0.0000000001"), Decimal("1234567890"), None],
        pa.decimal128(20, 10),
        [Decimal("0.0000000001"), Decimal("1234567890.0000000000"), None],
    ),
    (
        "numeric",
        -1,
        [
            Decimal("0.0000001"),
            Decimal("-12345678901234567890.000"),
            Decimal("1E+20"),
            Decimal("NaN"),
            Decimal("Infinity"),
            Decimal("-Infinity"),
            None,
        ],
        pa.string(),
        [
            "0.0000001",
            "-12345678901234567890.000",
            "100000000000000000000",
            "NaN",
            "Infinity",
            "-Infinity",
            None,
        ],
    ),
    ("text", -1, ["héllo", "", None], pa.string(), ["héllo", "", None]),
    ("varchar", -1, ["a" * 1000, None], pa.string(), ["a" * 1000, None]),
    ("bpchar", -1, ["ab ", None], pa.string(), ["ab ", None]),
    ("name", -1, ["pg_class", None], pa.string(), ["pg_class", None]),
    ("enum", -1, ["happy", None], pa.string(), ["happy", None]),
    ("citext", -1, ["MiXed", None], pa.string(), ["MiXed", None]),
    ('"char"', -1, ["x", "", None], pa.string(), ["x", "", None]),
    ("bytea", -1, [b"\x00\xff", b"", None], pa.binary(), [b"\x00\xff", b"", None]),
    (
        "date",
        -1,
        [
            datetime.date(1969, 12, 31),
            datetime.date(1, 1, 1),
            datetime.date(9999, 12, 31),
            None,
        ],
        pa.date32(),
        [
            datetime.date(1969, 12, 31),
            datetime.date(1, 1, 1),
            datetime.date(9999, 12, 31),
            None,
        ],
    ),
    (
        "time",
        -1,
        [datetime.time(0), datetime.time(23, 59, 59, 999999), None],
        pa.time64("us"),
        [datetime.time(0), datetime.time(23, 59, 59, 999999), None],
    ),
    (
        "timetz",
        -1,
        [
            datetime.time(
                1, 2, 3, 4, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
            ),
            None,
        ],
        pa.time64("us"),
        [datetime.time(1, 2, 3, 4), None],
    ),
    (
        "timestamp",
        -1,
        [datetime.datetime(2020, 2, 29, 12, 0, 0, 1), datetime.datetime(1, 1, 1), None],
        pa.timestamp("us"),
        [datetime.datetime(2020, 2, 29, 12, 0, 0, 1), datetime.datetime(1, 1, 1), None],
    ),
    (
        "timestamptz",
        -1,
        [datetime.datetime(1960, 1, 1, tzinfo=UTC), None],
        pa.timestamp("us", tz="UTC"),
        [datetime.datetime(1960, 1, 1, tzinfo=UTC), None],
    ),
    (
        "interval",
        -1,
        [datetime.timedelta(days=-3, microseconds=7), None],
        pa.month_day_nano_interval(),
        [pa.MonthDayNano([0, -3, 7000]), None],
    ),
    (
        "uuid",
        -1,
        [uuid.UUID(int=1), None],
        pa.uuid(),
        [uuid.UUID(int=1), None],
    ),
    ("json", -1, [{"a": [1, 2]}, None], pa.json_(), ['{"a":[1,2]}', None]),
    ("jsonb", -1, [{"b": None}, "s", None], pa.json_(), ['{"b":null}', '"s"', None]),
    (
        "inet",
        -1,
        [
            V4,
            ipaddress.ip_address("10.1.2.3"),
            ipaddress.ip_address("::1"),
            ipaddress.ip_interface("2001:db8::1/64"),
            ipaddress.ip_address("::ffff:1.2.3.4"),
            None,
        ],
        pa.string(),
        ["192.168.0.1/24", "10.1.2.3", "::1", "2001:db8::1/64", "::ffff:1.2.3.4", None],
    ),
    (
        "cidr",
        -1,
        [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::/0"), None],
        pa.string(),
        ["10.0.0.0/8", "::/0", None],
    ),
    (
        "macaddr",
        -1,
        ["08:00:2B:01:02:03", None],
        pa.string(),
        ["08:00:2b:01:02:03", None],
    ),
    (
        "_int4",
        -1,
        [[1, None, 3], [], None],
        pa.list_(pa.int32()),
        [[1, None, 3], [], None],
    ),
    (
        "text[]",
        -1,
        [["a", None, ""], None, []],
        pa.list_(pa.string()),
        [["a", None, ""], None, []],
    ),
    (
        "_numeric",
        typmod(5, 1),
        [[Decimal("1.5"), None], None],
        pa.list_(pa.decimal128(5, 1)),
        [[Decimal("1.5"), None], None],
    ),
    (
        "_uuid",
        -1,
        [[uuid.UUID(int=7), None], None],
        pa.list_(pa.uuid()),
        [[uuid.UUID(int=7), None], None],
    ),
    (
        "_timestamptz",
        -1,
        [[datetime.datetime(2000, 1, 1, tzinfo=UTC)], None],
        pa.list_(pa.timestamp("us", tz="UTC")),
        [[datetime.datetime(2000, 1, 1, tzinfo=UTC)], None],
    ),
    (
        "_bool",
        -1,
        [[True, None, False] * 5, None],
        pa.list_(pa.bool_()),
        [[True, None, False] * 5, None],
    ),
]

_ENCODE_AS = {"enum": "text", "citext": "text", "text[]": "_text"}


@pytest.mark.parametrize(
    ("pg_type", "mod", "values", "arrow_type", "expected"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_each_type_with_nulls(
    pg_type: str, mod: int, values: list[Any], arrow_type: Any, expected: list[Any]
) -> None:
    data = encode_rows([(v,) for v in values], [_ENCODE_AS.get(pg_type, pg_type)])
    for seed in range(3):
        t = table([("col", pg_type, mod)], data, batch_rows=2, seed=seed)
        t.validate(full=True)
        assert t.schema.field("col").type == arrow_type
        assert t.schema.field("col").nullable
        got = t.column("col").to_pylist()
        assert got == expected
        assert t.column("col").null_count == expected.count(None)


def test_float_nan() -> None:
    pc = require("pyarrow.compute")
    data = encode_rows(
        [(float("nan"), float("nan")), (1.0, None)], ["float4", "float8"]
    )
    t = table([("a", "float4", -1), ("b", "float8", -1)], data)
    assert pc.is_nan(t.column("a")).to_pylist() == [True, False]
    assert pc.is_nan(t.column("b")).to_pylist() == [True, None]


def test_uuid_and_json_are_canonical_extension_types() -> None:
    cols = [("u", "uuid", -1), ("j", "jsonb", -1)]
    schema = pa.Schema._import_from_c_capsule(core.ArrowDecoder(cols).schema())
    assert schema.field("u").type.extension_name == "arrow.uuid"
    assert schema.field("u").type.storage_type == pa.binary(16)
    assert schema.field("j").type.extension_name == "arrow.json"
    assert schema.field("j").type.storage_type == pa.string()


def test_many_columns_many_rows_random_cuts() -> None:
    rng = random.Random(5)
    types = ["int8", "text", "float8", "bool", "_int2"]
    rows = [
        (
            rng.choice([None, rng.randrange(-(2**63), 2**63)]),
            rng.choice(
                [None, "".join(rng.choice("aé€𝄞") for _ in range(rng.randrange(5)))]
            ),
            rng.choice([None, rng.random()]),
            rng.choice([None, True, False]),
            rng.choice(
                [None, [rng.choice([None, rng.randrange(-99, 99)]) for _ in range(3)]]
            ),
        )
        for _ in range(500)
    ]
    data = encode_rows(rows, types)
    cols = [(f"c{i}", t, -1) for i, t in enumerate(types)]
    for seed in range(5):
        t = table(cols, data, batch_rows=37, seed=seed)
        assert [tuple(r.values()) for r in t.to_pylist()] == rows


# -- batches --------------------------------------------------------------------------


def test_batches_have_batch_rows_rows_except_the_last() -> None:
    data = encode_rows([(i,) for i in range(10)], ["int4"])
    batches = decode([("a", "int4", -1)], data, batch_rows=3)
    assert [b.num_rows for b in batches] == [3, 3, 3, 1]
    assert [v for b in batches for v in b.column(0).to_pylist()] == list(range(10))


def test_a_full_batch_leaves_as_soon_as_it_is_complete() -> None:
    data = encode_rows([(i,) for i in range(6)], ["int4"])
    dec = core.ArrowDecoder([("a", "int4", -1)], None, 3)
    body = data[:-2]
    first = dec.feed(body)
    assert len(first) == 2
    assert dec.rows == 6
    assert dec.feed(TRAILER) == []
    assert dec.finish() == []


def test_no_rows_gives_no_batches() -> None:
    data = encode_rows([], ["int4"])
    dec = core.ArrowDecoder([("a", "int4", -1)])
    assert dec.feed(data) == []
    assert dec.finish() == []
    assert dec.rows == 0


def test_one_byte_at_a_time() -> None:
    rows = [(i, str(i) * i, [i, None]) for i in range(20)]
    data = encode_rows(rows, ["int2", "text", "_int8"])
    dec = core.ArrowDecoder(
        [("a", "int2", -1), ("b", "text", -1), ("c", "_int8", -1)], None, 7
    )
    pairs = []
    for i in range(len(data)):
        pairs += dec.feed(data[i : i + 1])
    pairs += dec.finish()
    t = pa.Table.from_batches(
        [pa.RecordBatch._import_from_c_capsule(*p) for p in pairs]
    )
    assert [tuple(r.values()) for r in t.to_pylist()] == [
        (a, b, [a, None]) for a, b, _ in rows
    ]


def test_a_tuple_spanning_many_feeds_is_not_copied_again_each_time() -> None:
    big = "x" * (16 << 20)
    data = encode_rows([(big,), ("y",)], ["text"])
    dec = core.ArrowDecoder([("t", "text", -1)])
    start = time.perf_counter()
    for i in range(0, len(data), 1024):  # 16 000 feeds: quadratic would be ~128 GB
        assert dec.feed(data[i : i + 1024]) == []
    assert time.perf_counter() - start < 10
    (pair,) = dec.finish()
    assert pa.RecordBatch._import_from_c_capsule(*pair).column(0).to_pylist() == [
        big,
        "y",
    ]


def test_feed_takes_memoryview_and_bytearray() -> None:
    data = encode_rows([(1,), (2,)], ["int4"])
    dec = core.ArrowDecoder([("a", "int4", -1)])
    assert dec.feed(memoryview(data)[:10]) == []
    assert dec.feed(bytearray(data[10:])) == []
    (pair,) = dec.finish()
    assert pa.RecordBatch._import_from_c_capsule(*pair).column(0).to_pylist() == [1, 2]


def test_header_extension_is_skipped() -> None:
    body = encode_rows([(5,)], ["int4"])[19:]
    data = PGCOPY_SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x03abc" + body
    (batch,) = decode([("a", "int4", -1)], data)
    assert batch.column(0).to_pylist() == [5]


def test_batch_capsules_outlive_the_decoder() -> None:
    data = encode_rows([("x" * 100, [1, 2])] * 50, ["text", "_int4"])
    dec = core.ArrowDecoder([("a", "text", -1), ("b", "_int4", -1)], None, 10)
    pairs = dec.feed(data) + dec.finish()
    del dec
    batches = [pa.RecordBatch._import_from_c_capsule(*p) for p in pairs]
    del pairs
    t = pa.Table.from_batches(batches)
    assert t.num_rows == 50
    assert t.column("a").to_pylist() == ["x" * 100] * 50
    t.validate(full=True)


def test_unimported_capsules_are_freed() -> None:
    data = encode_rows([("x",)] * 10, ["text"])
    dec = core.ArrowDecoder([("a", "text", -1)], None, 3)
    pairs = dec.feed(data)
    assert len(pairs) == 3
    del pairs  # the capsules' destructors release the arrays


# -- errors -----------------------------------------------------------------------------


def test_bad_signature() -> None:
    dec = core.ArrowDecoder([("a", "int4", -1)])
    with pytest.raises(DecodeError, match="signature is missing"):
        dec.feed(b"PGCOPY\n\xff\r\n\x01" + bytes(8))


def test_short_bad_signature_fails_early() -> None:
    with pytest.raises(DecodeError, match="signature is missing"):
        core.ArrowDecoder([("a", "int4", -1)]).feed(b"COPY")


def test_critical_header_flags() -> None:
    dec = core.ArrowDecoder([("a", "int4", -1)])
    with pytest.raises(DecodeError, match="critical flags"):
        dec.feed(PGCOPY_SIGNATURE + b"\x00\x01\x00\x00" + bytes(4))


def test_missing_trailer() -> None:
    data = encode_rows([(1,)], ["int4"])[:-2]
    dec = core.ArrowDecoder([("a", "int4", -1)])
    dec.feed(data)
    with pytest.raises(DecodeError, match="without its trailer"):
        dec.finish()


def test_truncated_row() -> None:
    data = encode_rows([(1,), (2,)], ["int4"])[:-4]
    dec = core.ArrowDecoder([("a", "int4", -1)])
    dec.feed(data)
    with pytest.raises(DecodeError, match="middle of row 1") as info:
        dec.finish()
    assert info.value.row_index == 1


def test_data_after_trailer() -> None:
    data = encode_rows([(1,)], ["int4"])
    dec = core.ArrowDecoder([("a", "int4", -1)])
    with pytest.raises(DecodeError, match="after the binary COPY trailer"):
        dec.feed(data + b"\x00")


def test_wrong_field_count() -> None:
    data = encode_rows([(1, 2)], ["int4", "int4"])
    dec = core.ArrowDecoder([("a", "int4", -1)])
    with pytest.raises(DecodeError, match="row 0 has 2 fields, expected 1"):
        dec.feed(data)
    with pytest.raises(DecodeError, match="failed on earlier data"):
        dec.feed(b"")


def test_negative_field_length() -> None:
    data = HEADER + b"\x00\x01\xff\xff\xff\xfe" + TRAILER
    with pytest.raises(DecodeError, match="column 0: negative field length -2") as info:
        core.ArrowDecoder([("a", "int4", -1)]).feed(data)
    assert info.value.column == 0


def test_wrong_value_size_names_row_and_column() -> None:
    data = (
        HEADER
        + b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x01"
        + b"\x00\x01\x00\x00\x00\x02\x00\x01"
        + TRAILER
    )
    with pytest.raises(DecodeError) as info:
        core.ArrowDecoder([("amount", "int4", -1)]).feed(data)
    assert (
        str(info.value)
        == "row 1, column 0 ('amount'): cannot decode int4: int4 has 4 bytes, got 2"
    )
    assert (info.value.row_index, info.value.column, info.value.pg_type) == (
        1,
        0,
        "int4",
    )


@pytest.mark.parametrize("special", ["NaN", "Infinity", "-Infinity"])
def test_numeric_special_into_decimal128(special: str) -> None:
    data = encode_rows([(Decimal("1"),), (Decimal(special),)], ["numeric"])
    with pytest.raises(DecodeError) as info:
        decode([("amount", "numeric", typmod(12, 2))], data)
    assert str(info.value) == (
        f"row 1, column 0 ('amount'): cannot decode numeric: "
        f"{special} has no decimal128(12,2) value"
    )
    assert info.value.row_index == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (Decimal("1234"), "value does not fit decimal128(5,2)"),
        (Decimal("1.005"), "value has more than 2 digits after the point"),
        (Decimal("1E+40"), "value does not fit decimal128(5,2)"),
    ],
)
def test_numeric_that_does_not_fit(value: Decimal, message: str) -> None:
    data = encode_rows([(value,)], ["numeric"])
    with pytest.raises(
        DecodeError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        decode([("n", "numeric", typmod(5, 2))], data)


def test_numeric_exact_digits_at_every_position() -> None:
    rng = random.Random(1)
    values = []
    for _ in range(300):
        scale = rng.randrange(0, 10)
        digits = rng.randrange(1, 28 - scale)
        n = rng.randrange(-(10**digits) + 1, 10**digits)
        values.append((Decimal(n).scaleb(-scale), scale))
    for scale in range(10):
        with localcontext() as ctx:
            ctx.prec = 60
            col = [
                v.quantize(Decimal(1).scaleb(-scale)) for v, s in values if s <= scale
            ]
        data = encode_rows([(v,) for v in col], ["numeric"])
        t = table([("n", "numeric", typmod(38, scale))], data)
        assert t.column("n").to_pylist() == col


@pytest.mark.parametrize(
    ("pg_type", "value"),
    [
        ("date", datetime.date.max),
        ("timestamp", datetime.datetime.max),
        ("timestamptz", datetime.datetime.max.replace(tzinfo=UTC)),
    ],
)
def test_infinity_is_an_error_unless_mapped(pg_type: str, value: Any) -> None:
    opts = CodecOptions(infinity=True)
    data = encode_rows([(value,), (value,)], [pg_type], options=opts)  # +infinity
    with pytest.raises(DecodeError, match=f"row 0, column 0 .*infinite {pg_type}"):
        decode([("d", pg_type, -1)], data)
    t = table([("d", pg_type, -1)], data, options=opts)
    assert t.column("d").to_pylist() == [value, value]
    low = (
        type(value).min
        if pg_type != "timestamptz"
        else datetime.datetime.min.replace(tzinfo=UTC)
    )
    data = encode_rows([(low,)], [pg_type], options=opts)  # -infinity
    assert table([("d", pg_type, -1)], data, options=opts).column("d").to_pylist() == [
        low
    ]


def test_multidimensional_array_is_an_error() -> None:
    data = encode_rows([([[1, 2], [3, 4]],)], ["_int4"])
    with pytest.raises(DecodeError, match="2-dimensional array has no Arrow value"):
        decode([("a", "_int4", -1)], data)


def test_invalid_utf8_is_an_error() -> None:
    data = HEADER + b"\x00\x01\x00\x00\x00\x02\xc3\x28" + TRAILER
    with pytest.raises(DecodeError, match="cannot decode text: invalid UTF-8"):
        core.ArrowDecoder([("t", "text", -1)]).feed(data)


@pytest.mark.parametrize(
    "raw",
    [b"\xed\xa0\x80", b"\xc0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xff", b"\x80"],
)
def test_utf8_validation_is_strict(raw: bytes) -> None:
    data = HEADER + b"\x00\x01" + len(raw).to_bytes(4, "big") + raw + TRAILER
    with pytest.raises(DecodeError, match="invalid UTF-8"):
        core.ArrowDecoder([("t", "text", -1)]).feed(data)


def test_jsonb_version_byte() -> None:
    data = HEADER + b"\x00\x01\x00\x00\x00\x03\x02{}" + TRAILER
    with pytest.raises(DecodeError, match="unsupported jsonb version 2"):
        core.ArrowDecoder([("j", "jsonb", -1)]).feed(data)


def test_types_without_arrow_mapping() -> None:
    with pytest.raises(
        InterfaceError, match="no Arrow type for PostgreSQL type 'point'"
    ):
        core.ArrowDecoder([("p", "point", -1)])
    with pytest.raises(InterfaceError, match="at least one column"):
        core.ArrowDecoder([])
    with pytest.raises(TypeError):
        core.ArrowDecoder([("a", "int4")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="batch_rows"):
        core.ArrowDecoder([("a", "int4", -1)], None, 0)


# -- outtypes ---------------------------------------------------------------------------


@pytest.mark.kernel_free
def test_numeric_typmods() -> None:
    assert numeric_typmod(-1) is None
    assert numeric_typmod(typmod(12, 2)) == (12, 2)
    assert out_type("numeric", typmod(12, 2)).format == "d:12,2"
    assert out_type("numeric", -1).kind == "numeric_text"
    assert out_type("numeric", typmod(50, 2)).kind == "numeric_text"  # past decimal128
    assert out_type("numeric(12,2)", typmod(12, 2)).precision == 12
    assert out_type("integer").format == "i"
    assert out_type("text[]").child == out_type("text")
    assert out_type("oid").format == "I"


# -- parity between the twins ----------------------------------------------------------

RANDOM_TYPES: list[tuple[str, int]] = [
    ("bool", -1), ("int2", -1), ("int4", -1), ("int8", -1), ("oid", -1),
    ("float4", -1), ("float8", -1), ("numeric", typmod(18, 4)), ("numeric", -1),
    ("text", -1), ("bytea", -1), ("date", -1), ("time", -1), ("timetz", -1),
    ("timestamp", -1), ("timestamptz", -1), ("interval", -1), ("uuid", -1),
    ("json", -1), ("jsonb", -1), ("inet", -1), ("cidr", -1), ("macaddr", -1),
    ("_int4", -1), ("_text", -1), ("_numeric", typmod(9, 3)), ("_float8", -1),
]  # fmt: skip


def _random_value(rng: random.Random, pg_type: str, mod: int) -> Any:
    if pg_type.startswith("_"):
        return [
            None if rng.random() < 0.2 else _random_value(rng, pg_type[1:], mod)
            for _ in range(rng.randrange(4))
        ]
    r = rng.randrange
    if pg_type == "bool":
        return rng.random() < 0.5
    if pg_type in ("int2", "int4", "int8"):
        bits = {"int2": 15, "int4": 31, "int8": 63}[pg_type]
        return r(-(2**bits), 2**bits)
    if pg_type == "oid":
        return r(2**32)
    if pg_type in ("float4", "float8"):
        # (no NaN: Table.equals holds NaN unequal to itself; test_float_nan has it)
        return rng.choice([0.5, -2.25, float("inf"), -0.0, rng.random()])
    if pg_type == "numeric":
        if mod < 0:
            return Decimal(r(-(10**30), 10**30)).scaleb(-r(0, 40))
        p, s = numeric_typmod(mod) or (0, 0)
        return Decimal(r(-(10**p) + 1, 10**p)).scaleb(-s)
    if pg_type in ("text", "json"):
        text = "".join(rng.choice('ab\u00e9\u20ac\U0001d11e"\\ ') for _ in range(r(8)))
        return {"k": text} if pg_type == "json" else text
    if pg_type == "jsonb":
        return [r(100), "x"]
    if pg_type == "bytea":
        return rng.randbytes(r(10))
    if pg_type == "date":
        return datetime.date.fromordinal(r(1, 3652059))
    if pg_type in ("time", "timetz"):
        t = datetime.time(r(24), r(60), r(60), r(10**6))
        if pg_type == "timetz":
            t = t.replace(
                tzinfo=datetime.timezone(datetime.timedelta(minutes=r(-600, 600)))
            )
        return t
    if pg_type in ("timestamp", "timestamptz"):
        ts = datetime.datetime(1, 1, 1) + datetime.timedelta(
            microseconds=r(315537897600000000)
        )
        return ts.replace(tzinfo=UTC) if pg_type == "timestamptz" else ts
    if pg_type == "interval":
        return datetime.timedelta(
            days=r(-(10**6), 10**6), microseconds=r(86400 * 10**6)
        )
    if pg_type == "uuid":
        return uuid.UUID(int=r(2**128))
    if pg_type == "inet":
        if rng.random() < 0.5:
            return ipaddress.ip_interface((r(2**32), r(33)))
        words = [rng.choice([0, 0, r(65536)]) for _ in range(8)]
        return ipaddress.ip_interface(
            (int("".join(f"{w:04x}" for w in words), 16), r(129))
        )
    if pg_type == "cidr":
        return ipaddress.ip_network((r(2**32) & ~0xFF, 24))
    if pg_type == "macaddr":
        return ":".join(f"{r(256):02x}" for _ in range(6))
    raise AssertionError(pg_type)


def random_rows(seed: int, n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    return [
        tuple(
            None if rng.random() < 0.15 else _random_value(rng, t, m)
            for t, m in RANDOM_TYPES
        )
        for _ in range(n)
    ]


@both_twins
@pytest.mark.kernel_free
@pytest.mark.parametrize("seed", range(4))
def test_twins_agree_on_random_data(seed: int) -> None:
    from conftest import core_c

    cols = [(f"c{i}", t, m) for i, (t, m) in enumerate(RANDOM_TYPES)]
    data = encode_rows(random_rows(seed, 300), [t for t, _ in RANDOM_TYPES])
    tables = []
    for twin in (core_c, core_py):
        assert twin is not None
        batches = decode(
            cols, data, batch_rows=64, seed=seed, decoder=twin.ArrowDecoder
        )
        assert [b.num_rows for b in batches] == [64, 64, 64, 64, 44]
        tables.append(pa.Table.from_batches(batches))
    assert tables[0].schema == tables[1].schema
    assert tables[0].equals(tables[1])
    for name in tables[0].column_names:
        assert tables[0][name].to_pylist() == tables[1][name].to_pylist(), name


@both_twins
@pytest.mark.kernel_free
@pytest.mark.parametrize(
    ("cols", "rows", "types"),
    [
        ([("n", "numeric", typmod(5, 2))], [(Decimal("NaN"),)], ["numeric"]),
        ([("n", "numeric", typmod(5, 2))], [(Decimal("123456"),)], ["numeric"]),
        ([("d", "date", -1)], [(datetime.date.max,)], ["date"]),
        ([("a", "_int4", -1)], [([[1]],)], ["_int4"]),
    ],
)
def test_twins_raise_the_same_errors(cols: Any, rows: Any, types: Any) -> None:
    from conftest import core_c

    data = encode_rows(rows, types, options=CodecOptions(infinity=True))
    errors = []
    for twin in (core_c, core_py):
        assert twin is not None
        with pytest.raises(DecodeError) as info:
            twin.ArrowDecoder(cols).feed(data)
        errors.append((str(info.value), info.value.row_index, info.value.column))
    assert errors[0] == errors[1]


# -- the C stream and its consumers -----------------------------------------------------


def _pairs(n: int, batch_rows: int = 4) -> tuple[Any, list[tuple[Any, Any]]]:
    cols = [("id", "int8", -1), ("name", "text", -1), ("u", "uuid", -1)]
    rows = [(i, f"n{i}", uuid.UUID(int=i)) for i in range(n)]
    dec = core.ArrowDecoder(cols, None, batch_rows)
    pairs = dec.feed(encode_rows(rows, ["int8", "text", "uuid"])) + dec.finish()
    return dec.schema(), pairs


def test_arrow_stream_into_pyarrow() -> None:
    schema, pairs = _pairs(10)
    reader = pa.RecordBatchReader._import_from_c_capsule(
        core.arrow_stream(schema, iter(pairs))
    )
    t = reader.read_all()
    assert t.column("id").to_pylist() == list(range(10))
    assert t.schema.field("u").type == pa.uuid()


def test_arrow_stream_is_lazy() -> None:
    schema, pairs = _pairs(12)
    pulled: list[int] = []

    def gen() -> Iterator[tuple[Any, Any]]:
        for i, pair in enumerate(pairs):
            pulled.append(i)
            yield pair

    reader = pa.RecordBatchReader._import_from_c_capsule(
        core.arrow_stream(schema, gen())
    )
    assert pulled == []
    reader.read_next_batch()
    assert pulled == [0]


def test_arrow_stream_error_surfaces() -> None:
    schema, pairs = _pairs(8)

    def gen() -> Iterator[tuple[Any, Any]]:
        yield pairs[0]
        raise DecodeError("the server sent garbage")

    reader = pa.RecordBatchReader._import_from_c_capsule(
        core.arrow_stream(schema, gen())
    )
    reader.read_next_batch()
    with pytest.raises(Exception, match="the server sent garbage"):
        reader.read_next_batch()


def test_arrow_stream_rejects_a_non_schema() -> None:
    with pytest.raises(TypeError):
        core.arrow_stream(object(), iter([]))


def test_batch_stream_iter_read_all_schema() -> None:
    schema, pairs = _pairs(10)
    stream = ArrowBatchStream(schema, iter(pairs))
    assert stream.schema.names == ["id", "name", "u"]
    batches = list(stream)
    assert [b.num_rows for b in batches] == [4, 4, 2]
    with pytest.raises(InterfaceError, match="already consumed"):
        stream.read_all()
    schema, pairs = _pairs(0)
    t = ArrowBatchStream(schema, iter(pairs)).read_all()
    assert t.num_rows == 0
    assert t.schema.names == ["id", "name", "u"]


def test_batch_stream_into_pyarrow_table_and_pandas() -> None:
    schema, pairs = _pairs(9)
    stream = ArrowBatchStream(schema, iter(pairs))
    _ = stream.schema  # the capsule moved into pyarrow: the stream must still work
    t = pa.table(stream)
    assert t.num_rows == 9
    with pytest.raises(InterfaceError):
        stream.__arrow_c_stream__()
    schema, pairs = _pairs(3)
    df = ArrowBatchStream(schema, iter(pairs)).to_pandas()
    assert list(df["name"]) == ["n0", "n1", "n2"]


def test_batch_stream_into_polars() -> None:
    pl = require("polars")
    schema, pairs = _pairs(9)
    df = ArrowBatchStream(schema, iter(pairs)).to_polars()
    assert isinstance(df, pl.DataFrame)
    assert df["id"].to_list() == list(range(9))
    schema, pairs = _pairs(5)
    df = pl.DataFrame(ArrowBatchStream(schema, iter(pairs)))
    assert df["name"].to_list() == [f"n{i}" for i in range(5)]


def test_batch_stream_into_duckdb() -> None:
    duckdb = require("duckdb")
    schema, pairs = _pairs(10)
    stream = ArrowBatchStream(schema, iter(pairs))  # noqa: F841 - read by name
    con = duckdb.connect()
    rel = con.sql("SELECT sum(id) AS s, count(*) AS n, min(u) AS u FROM stream")
    assert rel.fetchall() == [(45, 10, uuid.UUID(int=0))]


def _random_stream(skip: tuple[str, ...] = ()) -> tuple[ArrowBatchStream, list[Any]]:
    picked = [(i, t, m) for i, (t, m) in enumerate(RANDOM_TYPES) if t not in skip]
    rows = [tuple(r[i] for i, _, _ in picked) for r in random_rows(9, 100)]
    cols = [(f"c{i}", t, m) for i, t, m in picked]
    dec = core.ArrowDecoder(cols, None, 30)
    pairs = dec.feed(encode_rows(rows, [t for _, t, _ in picked])) + dec.finish()
    return ArrowBatchStream(dec.schema(), iter(pairs)), rows


def test_every_type_into_duckdb() -> None:
    duckdb = require("duckdb")
    stream, rows = _random_stream()
    con = duckdb.connect()
    con.register("s", pa.table(stream))
    got = con.sql("SELECT * FROM s").fetchall()
    assert len(got) == len(rows)
    ids = [i for i, (t, _) in enumerate(RANDOM_TYPES) if t in ("int8", "uuid", "date")]
    for mine, want in zip(got, rows, strict=True):
        for i in ids:
            assert mine[i] == want[i]


def test_every_type_but_interval_into_polars() -> None:
    require("polars")
    stream, rows = _random_stream(skip=("interval",))
    df = stream.to_polars()
    assert df.height == len(rows)
    assert df["c3"].to_list() == [r[3] for r in rows]  # int8
    assert df["c9"].to_list() == [r[9] for r in rows]  # text


@pytest.mark.filterwarnings("ignore:.*unregistered extension 'arrow.uuid'")
def test_batch_stream_into_nanoarrow() -> None:
    na = require("nanoarrow")
    schema, pairs = _pairs(5, batch_rows=2)
    stream = na.ArrayStream(ArrowBatchStream(schema, iter(pairs)))
    rows = list(stream.read_all().iter_py())
    assert [r["id"] for r in rows] == list(range(5))


def test_batch_stream_close() -> None:
    schema, pairs = _pairs(10)
    closed: list[bool] = []

    def gen() -> Iterator[tuple[Any, Any]]:
        try:
            yield from pairs
        finally:
            closed.append(True)

    with ArrowBatchStream(schema, gen()) as stream:
        next(iter(stream))
    assert closed == [True]


def test_async_batch_stream() -> None:
    async def agen(pairs: list[tuple[Any, Any]]) -> AsyncIterator[tuple[Any, Any]]:
        for pair in pairs:
            await asyncio.sleep(0)
            yield pair

    async def main() -> None:
        schema, pairs = _pairs(10)
        stream = AsyncArrowBatchStream(schema, agen(pairs))
        sizes = [b.num_rows async for b in stream]
        assert sizes == [4, 4, 2]
        schema, pairs = _pairs(6)
        t = await AsyncArrowBatchStream(schema, agen(pairs)).read_all()
        assert t.column("id").to_pylist() == list(range(6))
        schema, pairs = _pairs(6)
        df = await AsyncArrowBatchStream(schema, agen(pairs)).to_pandas()
        assert list(df["id"]) == list(range(6))
        schema, pairs = _pairs(6)
        pdf = await AsyncArrowBatchStream(schema, agen(pairs)).to_polars()
        assert pdf["name"].to_list() == [f"n{i}" for i in range(6)]

    asyncio.run(main())


# -- against the server -------------------------------------------------------------------

SERVER_COLUMNS: list[tuple[str, str, str, int]] = [
    # (name, SQL expression, type, typmod)
    ("b", "(g % 2 = 0)", "bool", -1),
    ("i2", "(g - 50)::int2", "int2", -1),
    ("i4", "g * 1000", "int4", -1),
    ("i8", "g::int8 * 100000000000", "int8", -1),
    ("o", "g::oid", "oid", -1),
    ("f4", "(g / 3.0)::float4", "float4", -1),
    ("f8", "g / 7.0::float8", "float8", -1),
    ("n", "(g * 12345.678)::numeric(12,2)", "numeric", typmod(12, 2)),
    ("nt", "(g::numeric / 7)", "numeric", -1),
    ("t", "repeat('é', g % 5) || g", "text", -1),
    ("by", "decode(md5(g::text), 'hex')", "bytea", -1),
    ("d", "date '1999-12-25' + g * 37", "date", -1),
    ("tm", "time '00:00:01.5' + g * interval '17 minutes'", "time", -1),
    (
        "ts",
        "timestamp '1950-01-01 00:00:00.000001' + g * interval '71 days 3 seconds'",
        "timestamp",
        -1,
    ),
    (
        "tstz",
        "timestamptz '2020-01-01 12:00+02' + g * interval '1 hour'",
        "timestamptz",
        -1,
    ),
    ("iv", "g * interval '1 mon 2 days 3.000004 seconds'", "interval", -1),
    ("u", "md5(g::text)::uuid", "uuid", -1),
    ("j", "json_build_object('g', g)", "json", -1),
    ("jb", "jsonb_build_object('g', g, 'a', array[g])", "jsonb", -1),
    ("ip", "('10.0.' || g || '.1/' || (g % 33))::inet", "inet", -1),
    (
        "ip6",
        "('2001:db8:' || to_hex(g) || '::' || to_hex(g * 3) || '/' || (g % 129))::inet",
        "inet",
        -1,
    ),
    ("ci", "('10.' || g || '.0.0/16')::cidr", "cidr", -1),
    ("m", "('08:00:2b:01:02:' || lpad(to_hex(g), 2, '0'))::macaddr", "macaddr", -1),
    ("ai", "array[g, NULL, -g]", "_int4", -1),
    ("at", "array['x' || g, NULL]", "_text", -1),
]


def _server_sql(where_null: bool) -> str:
    exprs = ", ".join(
        f"CASE WHEN g % 11 = 0 THEN NULL ELSE {e} END AS {n}"
        if where_null
        else f"{e} AS {n}"
        for n, e, _, _ in SERVER_COLUMNS
    )
    return f"SELECT {exprs} FROM generate_series(1, 200) g ORDER BY g"


def test_server_rows_match_psycopg(conn: pcf.Connection, pg_server: Any) -> None:
    psycopg = require("psycopg")
    sql = _server_sql(True)
    with conn.copy_out(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as out:
        payloads = list(iter(out.read, None))
    cols = [(n, t, m) for n, _, t, m in SERVER_COLUMNS]
    dec = core.ArrowDecoder(cols, None, 64)
    pairs = []
    for p in payloads:
        pairs += dec.feed(p)
    pairs += dec.finish()
    t = pa.Table.from_batches(
        [pa.RecordBatch._import_from_c_capsule(*p) for p in pairs]
    )
    assert t.num_rows == 200
    text_sql = (
        "SELECT "
        + ", ".join(f"format('%s', {n})" for n, _, _, _ in SERVER_COLUMNS)
        + f" FROM ({sql}) s"
    )
    with psycopg.connect(pg_server.dsn) as pg:
        values = pg.execute(sql).fetchall()
        texts = pg.execute(text_sql).fetchall()
    ours = t.to_pylist()
    for i, (row, text_row, mine) in enumerate(zip(values, texts, ours, strict=True)):
        for j, (name, _, pg_type, _) in enumerate(SERVER_COLUMNS):
            got, want, text = mine[name], row[j], text_row[j]
            if want is None:
                assert got is None, (i, name)
            elif pg_type in ("numeric", "inet", "cidr", "macaddr") and isinstance(
                got, str
            ):
                assert got == text, (i, name)  # the server's own text form
            elif pg_type == "interval":
                # psycopg folds months into days its own way: compare the text
                us = got.nanoseconds // 1000
                assert datetime.timedelta(microseconds=us) == _interval_time(text), (
                    i,
                    name,
                )
            elif pg_type in ("json", "jsonb"):
                assert got == text, (i, name)
            elif pg_type == "_text" or pg_type == "_int4":
                assert got == want, (i, name)
            elif pg_type == "float4":
                assert got == pytest.approx(want, rel=1e-7), (i, name)
            else:
                assert got == want, (i, name, got, want)


def _interval_time(text: str) -> datetime.timedelta:
    # the time part of an interval's text ("1 mon 2 days 00:00:03.000004")
    clock = text.split()[-1]
    h, m, sec = clock.lstrip("-").split(":")
    sign = -1 if clock.startswith("-") else 1
    us = int(Decimal(sec) * 10**6)
    return sign * datetime.timedelta(hours=int(h), minutes=int(m), microseconds=us)


def test_server_rows_match_our_row_decoder(conn: pcf.Connection) -> None:
    sql = f"COPY ({_server_sql(True)}) TO STDOUT (FORMAT binary)"
    with conn.copy_out(sql) as out:
        payloads = list(iter(out.read, None))
    cols = [(n, t, m) for n, _, t, m in SERVER_COLUMNS]
    t = pa.Table.from_batches(decode(cols, b"".join(payloads), batch_rows=50))
    rows = core.BinaryDecoder(
        [c[2] for c in SERVER_COLUMNS], CodecOptions(interval_tuple=True)
    ).decode(payloads)
    for mine, row in zip(t.to_pylist(), rows, strict=True):
        for (name, _, pg_type, _), want in zip(SERVER_COLUMNS, row, strict=True):
            got = mine[name]
            if want is None:
                assert got is None
            elif pg_type == "interval":
                assert (got.months, got.days, got.nanoseconds) == (
                    want[0],
                    want[1],
                    want[2] * 1000,
                )
            elif pg_type in ("inet", "cidr"):
                assert ipaddress.ip_interface(got) == ipaddress.ip_interface(want)
            elif pg_type in ("json", "jsonb"):
                import json

                assert json.loads(got) == want
            elif pg_type == "numeric" and isinstance(got, str):
                assert Decimal(got) == want
            elif pg_type == "float4":
                assert got == pytest.approx(want, rel=1e-7)
            else:
                assert got == want, (name, got, want)


def test_server_ipv6_text_forms(conn: pcf.Connection, pg_server: Any) -> None:
    psycopg = require("psycopg")
    addrs = [
        "::", "::1", "1::", "1:0:0:1::", "::ffff:1.2.3.4", "::1.2.3.4", "::ffff:0:1.2.3.4",
        "1:0:2:0:0:3:0:4", "1:0:0:2:0:0:3:4", "fe80::1/64",
        "::/0", "2001:db8:0:0:1:0:0:1", "0:0:1::", "1:2:3:4:5:6:7:8", "::0.0.0.2",
        "::ffff:0.0.0.0",
    ]  # fmt: skip
    values = ", ".join(f"('{a}'::inet, '{a}'::inet::cidr)" for a in addrs)
    sql = f"SELECT * FROM (VALUES {values}) v(a, c)"
    with conn.copy_out(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as out:
        data = b"".join(iter(out.read, None))
    t = table([("a", "inet", -1), ("c", "cidr", -1)], data)
    with psycopg.connect(pg_server.dsn) as pg:
        texts = pg.execute(
            f"SELECT format('%s', a), format('%s', c) FROM ({sql}) s"
        ).fetchall()
    assert (
        list(zip(t.column("a").to_pylist(), t.column("c").to_pylist(), strict=True))
        == texts
    )


def test_server_numeric_text_forms(conn: pcf.Connection, pg_server: Any) -> None:
    psycopg = require("psycopg")
    nums = [
        "0", "0.000", "-0.5", "1e-20", "123456789012345678901234567890.123", "10000",
        "0.0001", "99990000", "1.10", "NaN", "Infinity", "-Infinity", "-1e30", "5e-7",
    ]  # fmt: skip
    values = ", ".join(f"('{n}'::numeric)" for n in nums)
    sql = f"SELECT * FROM (VALUES {values}) v(n)"
    with conn.copy_out(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as out:
        data = b"".join(iter(out.read, None))
    t = table([("n", "numeric", -1)], data)
    with psycopg.connect(pg_server.dsn) as pg:
        texts = [r[0] for r in pg.execute(f"SELECT n::text FROM ({sql}) s").fetchall()]
    assert t.column("n").to_pylist() == texts


def test_server_copy_into_stream_consumers(conn: pcf.Connection) -> None:
    duckdb = require("duckdb")
    pl = require("polars")
    sql = "COPY (SELECT g AS id, g::numeric(10,2) / 4 AS x FROM generate_series(1, 1000) g) TO STDOUT (FORMAT binary)"
    cols = [("id", "int4", -1), ("x", "numeric", typmod(10, 2))]

    def batches() -> Iterator[tuple[Any, Any]]:
        dec = core.ArrowDecoder(cols, None, 128)
        with conn.copy_out(sql) as out:
            for payload in iter(out.read, None):
                yield from dec.feed(payload)
        yield from dec.finish()

    schema = core.ArrowDecoder(cols).schema()
    s = ArrowBatchStream(schema, batches())
    con = duckdb.connect()
    con.register(
        "s", pa.RecordBatchReader._import_from_c_capsule(s.__arrow_c_stream__())
    )
    assert con.sql("SELECT sum(id), sum(x) FROM s").fetchall() == [
        (500500, Decimal("125125.00"))
    ]
    df = ArrowBatchStream(core.ArrowDecoder(cols).schema(), batches()).to_polars()
    assert isinstance(df, pl.DataFrame)
    assert df.height == 1000
