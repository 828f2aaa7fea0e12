"""A cached COPY plan is never used after its table changed (DESIGN: Integrity)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from conftest import require

import pgcopy_fast as pcf


@pytest.fixture
def other(pg_server: Any) -> Any:
    """A second connection, for the ALTER TABLE the first one does not see."""
    with pg_server.connect() as c:
        yield c


def _fresh(conn: Any, name: str, columns: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {name}; CREATE TABLE {name} ({columns})")


def test_type_change_by_another_connection(conn: Any, other: Any) -> None:
    _fresh(conn, "pc_num", "v int8")
    assert conn.copy_records("pc_num", [(1,)]) == 1
    assert list(conn.copy_records_out("pc_num")) == [(1,)]
    other.execute("ALTER TABLE pc_num ALTER COLUMN v TYPE float8")
    # the plan cached for int8 must not read float8 bits as an int8 ...
    assert list(conn.copy_records_out("pc_num")) == [(1.0,)]
    # ... nor write an int8's bits into a float8 column
    other.execute("ALTER TABLE pc_num ALTER COLUMN v TYPE int8")
    conn.copy_records("pc_num", [(5,)])
    other.execute("ALTER TABLE pc_num ALTER COLUMN v TYPE float8")
    conn.copy_records("pc_num", [(2,)])
    assert conn.execute("SELECT v::text FROM pc_num ORDER BY v").rows == [
        ("1",),
        ("2",),
        ("5",),
    ]


def test_timestamp_to_timestamptz(conn: Any, other: Any) -> None:
    _fresh(conn, "pc_ts", "v timestamp")
    when = datetime.datetime(2020, 1, 1, 12)
    conn.copy_records("pc_ts", [(when,)])
    assert list(conn.copy_records_out("pc_ts")) == [(when,)]
    other.execute(
        "SET TimeZone = 'UTC'; ALTER TABLE pc_ts ALTER COLUMN v TYPE timestamptz"
    )
    assert list(conn.copy_records_out("pc_ts")) == [
        (when.replace(tzinfo=datetime.timezone.utc),)
    ]


def test_added_and_dropped_columns(conn: Any, other: Any) -> None:
    _fresh(conn, "pc_cols", "a int4, b text")
    conn.copy_records("pc_cols", [(1, "x")])
    other.execute("ALTER TABLE pc_cols ADD COLUMN c numeric")
    conn.copy_records("pc_cols", [(2, "y", Decimal("1.5"))])
    assert sorted(conn.copy_records_out("pc_cols")) == [
        (1, "x", None),
        (2, "y", Decimal("1.5")),
    ]
    other.execute("ALTER TABLE pc_cols DROP COLUMN b")
    conn.copy_records("pc_cols", [(3, Decimal(2))])
    assert sorted(conn.copy_records_out("pc_cols")) == [
        (1, None),
        (2, Decimal("1.5")),
        (3, Decimal(2)),
    ]


def test_change_to_a_new_domain(conn: Any, other: Any) -> None:
    """A type the connection has never seen (a domain) is looked up afresh."""
    _fresh(conn, "pc_dom", "v int4")
    conn.copy_records("pc_dom", [(7,)])
    other.execute(
        "DROP DOMAIN IF EXISTS pc_money CASCADE; CREATE DOMAIN pc_money AS numeric(12,2);"
        "ALTER TABLE pc_dom ALTER COLUMN v TYPE pc_money"
    )
    conn.copy_records("pc_dom", [(Decimal("2.50"),)])
    assert sorted(conn.copy_records_out("pc_dom")) == [
        (Decimal("2.50"),),
        (Decimal("7.00"),),
    ]


def test_inside_a_transaction(conn: Any) -> None:
    """The check ends a stale copy cleanly: the transaction goes on."""
    _fresh(conn, "pc_tx", "v int8")
    conn.copy_records("pc_tx", [(1,)])
    conn.execute("BEGIN")
    conn.execute("ALTER TABLE pc_tx ALTER COLUMN v TYPE float8")
    conn.copy_records("pc_tx", [(0.5,)])
    assert sorted(conn.copy_records_out("pc_tx")) == [(0.5,), (1.0,)]
    conn.execute("COMMIT")
    assert conn.execute("SELECT v::text FROM pc_tx ORDER BY v").rows == [
        ("0.5",),
        ("1",),
    ]


def test_a_cached_copy_is_one_query(conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check travels with the COPY: no extra round trip once planned."""
    _fresh(conn, "pc_rt", "v int4")
    conn.copy_records("pc_rt", [(1,)])
    sent: list[str] = []
    real: Callable[[str], bytes] = conn._wire.proto.query

    def counting(sql: str) -> bytes:
        sent.append(sql)
        return real(sql)

    monkeypatch.setattr(conn._wire.proto, "query", counting)
    conn.copy_records("pc_rt", [(2,)])
    list(conn.copy_records_out("pc_rt"))
    assert len(sent) == 2
    assert all(s.startswith("LOCK TABLE") for s in sent)


def test_async_connection(pg_server: Any, other: Any) -> None:
    async def main() -> list[Any]:
        conn = await pcf.connect_async(pg_server.dsn)
        try:
            await conn.execute(
                "DROP TABLE IF EXISTS pc_async; CREATE TABLE pc_async (v int8)"
            )
            await conn.copy_records("pc_async", [(1,)])
            other.execute("ALTER TABLE pc_async ALTER COLUMN v TYPE float8")
            first = [r async for r in conn.copy_records_out("pc_async")]
            other.execute("ALTER TABLE pc_async ALTER COLUMN v TYPE int8")
            await conn.copy_records("pc_async", [(3,)])
            other.execute("ALTER TABLE pc_async ALTER COLUMN v TYPE numeric")
            await conn.copy_records("pc_async", [(Decimal("0.25"),)])
            rest = [r async for r in conn.copy_records_out("pc_async")]
            return [first, sorted(rest)]
        finally:
            await conn.close()

    first, rest = asyncio.run(main())
    assert first == [(1.0,)]
    assert rest == [(Decimal("0.25"),), (Decimal(1),), (Decimal(3),)]


def test_psycopg_adapter(pg_server: Any, other: Any) -> None:
    psycopg = require("psycopg")
    with psycopg.connect(pg_server.dsn, autocommit=True) as pconn:
        pconn.execute("DROP TABLE IF EXISTS pc_pg; CREATE TABLE pc_pg (v int8)")
        pcf.copy_records(pconn, "pc_pg", [(1,)])
        other.execute("ALTER TABLE pc_pg ALTER COLUMN v TYPE float8")
        assert list(pcf.copy_records_out(pconn, "pc_pg")) == [(1.0,)]
        pcf.copy_records(pconn, "pc_pg", [(2,)])
        got = pconn.execute("SELECT v::text FROM pc_pg ORDER BY v").fetchall()
    assert got == [("1",), ("2",)]
