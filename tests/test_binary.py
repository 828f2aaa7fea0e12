"""pgcopy_fast.binary: the binary COPY format with no connection."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import pgcopy_fast as pcf
from pgcopy_fast import binary

ROWS = [
    (1, "a", Decimal("1.5"), dt.date(2024, 1, 2), [1, None]),
    (2, None, None, None, None),
]
TYPES = ["int8", "text", "numeric", "date", "int4[]"]


def test_encode_and_decode_round_trip(impl) -> None:
    data = binary.encode_rows(ROWS, TYPES)
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00") and data.endswith(b"\xff\xff")
    assert binary.decode_rows(data, TYPES) == ROWS
    assert binary.decode_rows(data)[0][1] == b"a"  # raw fields without types


def test_chunked_forms_consume_lazily_and_accept_any_pieces(impl) -> None:
    consumed = []

    def rows():
        for i in range(10_000):
            consumed.append(i)
            yield (i, "x" * 20)

    chunks = binary.iter_encode(rows(), ["int8", "text"], chunk_size=4096)
    first = next(chunks)
    assert 4096 <= len(first) < 8192 and len(consumed) < 10_000
    data = first + b"".join(chunks)
    pieces = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert list(binary.iter_decode(pieces, ["int8", "text"]))[-1] == (9999, "x" * 20)


def test_the_server_reads_what_encode_rows_writes(conn: pcf.Connection, impl) -> None:
    conn.execute("CREATE TEMP TABLE b (a int8, b text, c numeric, d date, e int4[])")
    with conn.copy_in("COPY b FROM STDIN (FORMAT binary)") as cp:
        cp.write(binary.encode_rows(ROWS, TYPES))
    assert list(conn.copy_query_out("SELECT * FROM b ORDER BY a")) == ROWS


def test_errors(impl) -> None:
    with pytest.raises(pcf.EncodeError, match="row 1, column 0"):
        binary.encode_rows([(1,), ("x",)], ["int4"])
    with pytest.raises(pcf.DecodeError, match="without its trailer"):
        binary.decode_rows(binary.encode_rows([(1,)], ["int4"])[:-2], ["int4"])
