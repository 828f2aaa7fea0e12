"""Columnar COPY OUT through the connections: ``copy_arrow_out`` and round trips.

What comes back keeps the declared types and equals what the server
holds; a round trip (``copy_arrow`` then ``copy_arrow_out``) gives the
data back; errors leave the connection usable.  Once per twin.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import uuid
from typing import Any

import pytest
from conftest import require
from test_arrow_in import WIDE, _wide

import pgcopy_fast as pcf
from pgcopy_fast import binary
from pgcopy_fast.errors import DecodeError, InterfaceError

pa = require("pyarrow")


@pytest.fixture
def wide_table(conn: pcf.Connection) -> Any:
    data = _wide(1000, seed=3)
    conn.execute(f"CREATE TEMP TABLE wide_out ({WIDE})")
    conn.copy_arrow("wide_out", data)
    return data


def test_round_trip_gives_the_data_back(
    conn: pcf.Connection, impl: Any, wide_table: Any
) -> None:
    got = conn.copy_arrow_out("wide_out", batch_rows=300).read_all()
    assert got.num_rows == 1000
    # the heap's order is not the load's (COPY fills free space it finds)
    keys = [("id", "ascending"), ("qty", "ascending"), ("name", "ascending")]
    got, wide_table = got.sort_by(keys), wide_table.sort_by(keys)
    types = {f.name: f.type for f in got.schema}
    assert types["qty"] == pa.int32() and types["small"] == pa.int16()
    assert types["amount"] == pa.decimal128(14, 2)
    assert types["created"] == pa.timestamp("us", tz="UTC")
    assert types["local"] == pa.timestamp("us")
    assert types["day"] == pa.date32()
    assert types["tags"] == pa.list_(pa.string()) or str(types["tags"]).startswith(
        "list"
    )
    for name in [
        "id",
        "qty",
        "small",
        "price",
        "ratio",
        "name",
        "created",
        "day",
        "flag",
        "amount",
        "raw",
        "at",
    ]:
        assert got.column(name).to_pylist() == wide_table.column(name).to_pylist(), name
    assert (
        got.column("local").to_pylist()
        == wide_table.column("local").cast(pa.timestamp("us")).to_pylist()
    )
    assert got.column("tags").to_pylist() == wide_table.column("tags").to_pylist()
    uids = got.column("uid").to_pylist()
    as_bytes = [None if v is None else getattr(v, "bytes", v) for v in uids]
    assert as_bytes == wide_table.column("uid").to_pylist()


def test_batches_stream_with_at_most_batch_rows(
    conn: pcf.Connection, impl: Any, wide_table: Any
) -> None:
    sizes = [
        b.num_rows
        for b in conn.copy_arrow_out("wide_out", ["id", "name"], batch_rows=128)
    ]
    assert sizes == [128] * 7 + [104]
    assert conn.execute("SELECT 1").rows == [("1",)]


def test_query_and_its_types(conn: pcf.Connection, impl: Any) -> None:
    u = uuid.uuid4()
    stream = conn.copy_arrow_out(
        "SELECT 1::int4 AS a, 2.50::numeric(5,2) AS b, 'x'::text AS c, "
        f"'{u}'::uuid AS d, '{{\"k\": 1}}'::jsonb AS e, '2020-01-02'::date AS f, "
        "NULL::int8 AS g, 1.5::numeric AS h"
    )
    table = stream.read_all()
    assert table.column("a").type == pa.int32()
    assert table.column("b").to_pylist() == [decimal.Decimal("2.50")]
    assert table.column("c").to_pylist() == ["x"]
    assert table.column("f").to_pylist() == [dt.date(2020, 1, 2)]
    assert table.column("g").to_pylist() == [None]
    assert table.column("h").to_pylist() == ["1.5"]  # unconstrained numeric: its text


def test_consumers_take_the_stream(
    conn: pcf.Connection, impl: Any, wide_table: Any
) -> None:
    pl = require("polars")
    pd = require("pandas")
    duckdb = require("duckdb")
    df = conn.copy_arrow_out("wide_out", ["id", "qty", "name"]).to_polars()
    assert isinstance(df, pl.DataFrame) and df.height == 1000
    frame = conn.copy_arrow_out("wide_out", ["id", "amount"]).to_pandas()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 1000
    table = pa.table(conn.copy_arrow_out("wide_out", ["qty"]))
    assert table.num_rows == 1000
    stream = conn.copy_arrow_out("wide_out", ["qty"])
    reader = pa.RecordBatchReader.from_stream(stream)
    con = duckdb.connect()
    con.register("qty_stream", reader)
    total = con.sql("SELECT count(*) AS n FROM qty_stream").fetchall()
    assert total == [(1000,)]


def test_decode_error_leaves_the_connection_usable(
    conn: pcf.Connection, impl: Any
) -> None:
    conn.execute("CREATE TEMP TABLE nan_out (v numeric(5,2))")
    conn.execute("INSERT INTO nan_out VALUES (1), ('NaN'), (2)")
    with pytest.raises(DecodeError):
        conn.copy_arrow_out("nan_out").read_all()
    assert conn.execute("SELECT count(*) FROM nan_out").rows == [("3",)]


def test_bad_sources_are_refused(conn: pcf.Connection, impl: Any) -> None:
    with pytest.raises(InterfaceError, match="columns"):
        conn.copy_arrow_out("SELECT 1", columns=["a"])
    with pytest.raises(pcf.DatabaseError):
        conn.copy_arrow_out("no_such_table")
    with pytest.raises(InterfaceError, match=r"binary codec|Arrow type"):
        conn.copy_arrow_out("SELECT point(1, 2) AS p").read_all()
    assert conn.execute("SELECT 1").rows == [("1",)]


def test_stopping_early_leaves_the_connection_usable(
    conn: pcf.Connection, impl: Any
) -> None:
    conn.execute(
        "CREATE TEMP TABLE many AS SELECT g AS k FROM generate_series(1, 50000) g"
    )
    stream = conn.copy_arrow_out("many", batch_rows=1000)
    for batch in stream:
        assert batch.num_rows == 1000
        break
    stream.close()
    assert conn.execute("SELECT count(*) FROM many").rows == [("50000",)]


def test_asyncio_copy_arrow_out(pg_server: Any, impl: Any) -> None:
    async def main() -> tuple[list[int], Any]:
        aconn = await pcf.connect_async(pg_server.dsn)
        try:
            await aconn.execute(
                "CREATE TEMP TABLE aout AS SELECT g::int8 AS k FROM generate_series(1, 10) g"
            )
            sizes = [
                b.num_rows async for b in aconn.copy_arrow_out("aout", batch_rows=4)
            ]
            table = await aconn.copy_arrow_out(
                "SELECT k FROM aout WHERE k > 5"
            ).read_all()
            return sizes, table
        finally:
            await aconn.close()

    sizes, table = asyncio.run(main())
    assert sizes == [4, 4, 2]
    assert table.column("k").to_pylist() == [6, 7, 8, 9, 10]


def test_decode_arrow_without_a_connection(impl: Any) -> None:
    data = binary.encode_rows(
        [(1, decimal.Decimal("1.25")), (None, None)], ["int4", "numeric(6,2)"]
    )
    table = binary.decode_arrow(
        data, ["int4", "numeric(6,2)"], columns=["a", "b"]
    ).read_all()
    assert table.column("a").to_pylist() == [1, None]
    assert table.column("b").type == pa.decimal128(6, 2)
    pieces = [data[i : i + 3] for i in range(0, len(data), 3)]
    again = binary.decode_arrow(
        pieces, ["int4", "numeric(6,2)"], columns=["a", "b"]
    ).read_all()
    assert again.equals(table)


def test_copy_arrow_out_under_every_driver(pg_server: Any, impl: Any) -> None:
    psycopg = require("psycopg")
    psycopg2 = require("psycopg2")
    asyncpg = require("asyncpg")
    sqlalchemy = require("sqlalchemy")
    from test_adapters import _asyncpg_args

    query = (
        "SELECT g::int4 AS k, (g * 1.5)::numeric(8,1) AS v FROM generate_series(1, 5) g"
    )
    expected = [1, 2, 3, 4, 5]
    with psycopg.connect(pg_server.dsn, autocommit=True) as pg:
        table = pcf.copy_arrow_out(pg, query, batch_rows=2).read_all()
        assert table.column("k").to_pylist() == expected
        assert table.column("v").type == pa.decimal128(8, 1)
        assert pg.execute("SELECT 1").fetchone() == (1,)
    pg2 = psycopg2.connect(pg_server.dsn)
    try:
        assert (
            pcf.copy_arrow_out(pg2, query).read_all().column("k").to_pylist()
            == expected
        )
    finally:
        pg2.close()
    engine = sqlalchemy.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(pg_server.dsn)
    )
    assert pcf.copy_arrow_out(engine, query).read_all().num_rows == 5
    engine.dispose()

    async def via_asyncpg() -> Any:
        a = await asyncpg.connect(**_asyncpg_args(pg_server))
        try:
            table = await pcf.copy_arrow_out_async(a, query).read_all()
            assert await a.fetchval("SELECT 1") == 1
            return table
        finally:
            await a.close()

    table = asyncio.run(via_asyncpg())
    assert table.column("k").to_pylist() == expected
    # asyncpg's Describe gives no type modifiers: numeric comes back as text
    assert table.column("v").to_pylist() == ["1.5", "3.0", "4.5", "6.0", "7.5"]
