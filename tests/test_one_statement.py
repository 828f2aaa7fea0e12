"""A query given to copy it out runs as exactly that one statement, once.

The query is pasted into ``COPY (...) TO STDOUT``; a string that closes the
parenthesis and adds a statement must not run it, on any path: both
connection kinds, the adapters under psycopg 3, psycopg2 and asyncpg, and
``pgcopy-fast dump --query``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from conftest import require

import pgcopy_fast as pcf
from pgcopy_fast.connection.conninfo import resolve
from pgcopy_fast.protocol.statement import one_statement

INJECTIONS = [
    "SELECT 1) AS q; DROP TABLE victim; --",
    "SELECT 1; DROP TABLE victim",
    "SELECT 1 /* ; DROP TABLE victim",
    "SELECT 'x'; DROP TABLE victim; SELECT 'y",
    "SELECT $$x$$; DROP TABLE victim",
    "SELECT (1; DROP TABLE victim; SELECT 1)",
]


@pytest.fixture
def victim(conn: pcf.Connection) -> pcf.Connection:
    conn.execute(
        "DROP TABLE IF EXISTS victim; CREATE TABLE victim (v int); "
        "INSERT INTO victim VALUES (1)"
    )
    return conn


def _victim_alive(conn: pcf.Connection) -> bool:
    return conn.execute("SELECT to_regclass('victim') IS NOT NULL").rows == [("t",)]


@pytest.mark.kernel_free
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("  SELECT 1 ;; -- done\n", "SELECT 1"),
        ("SELECT ';', \"a;)\", $q$ ) ; $q$ FROM t -- )", None),
        ("SELECT 1 /* nested /* ; */ ) */", None),
        ("WITH a AS (SELECT 1) SELECT * FROM a", None),
    ],
)
def test_one_statement_keeps_what_is_one(sql: str, expected: str | None) -> None:
    assert one_statement(sql) == (expected or sql.strip())


@pytest.mark.kernel_free
@pytest.mark.parametrize("sql", [*INJECTIONS, "", " ; ", "SELECT (1", "SELECT 1)"])
def test_one_statement_refuses_the_rest(sql: str) -> None:
    with pytest.raises(pcf.InterfaceError):
        one_statement(sql)


@pytest.mark.parametrize("sql", INJECTIONS)
def test_copy_query_out_never_runs_a_second_statement(victim, sql: str) -> None:
    with pytest.raises(pcf.InterfaceError):
        list(victim.copy_query_out(sql))
    assert _victim_alive(victim)
    assert victim.execute("SELECT 2").rows == [("2",)]


def test_copy_query_out_runs_the_query_once_and_takes_a_trailing_comment(
    conn: pcf.Connection,
) -> None:
    conn.execute(
        "DROP TABLE IF EXISTS calls; CREATE TABLE calls (n int);"
        "CREATE OR REPLACE FUNCTION noted() RETURNS SETOF int LANGUAGE plpgsql AS "
        "$$ BEGIN INSERT INTO calls VALUES (1); RETURN NEXT 7; END $$"
    )
    rows = list(conn.copy_query_out("SELECT * FROM noted() AS n -- the end"))
    assert rows == [(7,)]
    assert conn.execute("SELECT count(*) FROM calls").rows == [("1",)]


def test_describe_reads_columns_without_running_and_refuses_two(
    conn: pcf.Connection,
) -> None:
    res = conn.describe("SELECT 1::int4 AS a, 'x'::text AS b")
    assert res.columns == [("a", 23), ("b", 25)] and res.rows == []
    assert conn.describe("CREATE TABLE never_made (a int)").columns == []
    assert conn.execute("SELECT to_regclass('never_made')").rows == [(None,)]
    with pytest.raises(pcf.ProgrammingError, match="multiple commands"):
        conn.describe("SELECT 1; SELECT 2")
    assert conn.execute("SELECT 3").rows == [("3",)]


def test_async_copy_query_out_refuses_injection(pg_server, victim) -> None:
    async def main() -> None:
        async with await pcf.connect_async(pg_server.dsn) as aconn:
            for sql in INJECTIONS:
                with pytest.raises(pcf.InterfaceError):
                    async for _ in aconn.copy_query_out(sql):
                        pass
            res = await aconn.describe("SELECT 1::int8 AS x")
            assert res.columns == [("x", 20)]
            assert [r async for r in aconn.copy_query_out("SELECT 5 -- x")] == [(5,)]

    asyncio.run(main())
    assert _victim_alive(victim)


def test_adapters_refuse_injection_and_describe(pg_server, victim) -> None:
    psycopg = require("psycopg")
    psycopg2 = require("psycopg2")
    with psycopg.connect(pg_server.dsn) as pconn:
        for sql in INJECTIONS:
            with pytest.raises(pcf.InterfaceError):
                list(pcf.copy_records_out(pconn, sql))
        assert list(pcf.copy_records_out(pconn, "SELECT 4::int8 AS n")) == [(4,)]
    p2 = psycopg2.connect(pg_server.dsn)
    try:
        for sql in INJECTIONS:
            with pytest.raises(pcf.InterfaceError):
                list(pcf.copy_records_out(p2, sql))
        assert list(pcf.copy_records_out(p2, "SELECT 6::int8 AS n")) == [(6,)]
    finally:
        p2.close()
    assert _victim_alive(victim)


def test_async_adapters_refuse_injection(pg_server, victim) -> None:
    psycopg = require("psycopg")
    asyncpg = require("asyncpg")
    params = resolve(pg_server.dsn)
    host, port = params.hosts[0]

    async def main() -> None:
        async with await psycopg.AsyncConnection.connect(pg_server.dsn) as pconn:
            for sql in INJECTIONS:
                with pytest.raises(pcf.InterfaceError):
                    async for _ in pcf.copy_records_out_async(pconn, sql):
                        pass
            got = [r async for r in pcf.copy_records_out_async(pconn, "SELECT 8 AS n")]
            assert got == [(8,)]
        a = await asyncpg.connect(
            host=host, port=port, user=params.user, database=params.dbname
        )
        try:
            for sql in INJECTIONS:
                with pytest.raises(pcf.InterfaceError):
                    async for _ in pcf.copy_records_out_async(a, sql):
                        pass
            got = [r async for r in pcf.copy_records_out_async(a, "SELECT 9 AS n")]
            assert got == [(9,)]
        finally:
            await a.close()

    asyncio.run(main())
    assert _victim_alive(victim)


def test_cli_dump_query_refuses_injection(pg_server, victim, impl: Any) -> None:
    params = resolve(pg_server.dsn)
    host, port = params.hosts[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGHOST=host, PGPORT=str(port), PGUSER=params.user)
    env.update(PGDATABASE=params.dbname)
    env["PGCOPY_FAST_IMPL"] = "python" if impl.IMPL == "python" else "c"
    done = subprocess.run(
        [sys.executable, "-m", "pgcopy_fast", "dump", "--query", INJECTIONS[0]],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode != 0
    assert b"one statement" in done.stderr or b"parenthesis" in done.stderr
    assert _victim_alive(victim)
