"""copy_records / copy_records_out under psycopg 3, psycopg2, asyncpg,
SQLAlchemy and Django connections, against the real server.

Each test imports the drivers it uses through ``require``: without one,
only its tests skip (and under CI they fail, so that a missing driver
cannot hide them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import uuid
from collections.abc import Awaitable, Callable, Generator
from decimal import Decimal
from typing import Any

import pytest
from conftest import require

import pgcopy_fast as pcf
from pgcopy_fast.connection.conninfo import resolve

UTC = dt.timezone.utc
ROWS = [
    (
        1,
        "one",
        Decimal("1.50"),
        dt.datetime(2024, 1, 1, tzinfo=UTC),
        uuid.UUID(int=1),
        {"a": [1]},
        ["x", None],
    ),
    (2, None, None, None, None, None, None),
]
DDL = (
    "DROP TABLE IF EXISTS ad_t; CREATE TABLE ad_t (id int8 PRIMARY KEY, name text, amount numeric, "
    "at timestamptz, uid uuid, doc jsonb, tags text[])"
)


def _parts(pg_server) -> tuple[str, int, str, str]:
    params = resolve(pg_server.dsn)
    host, port = params.hosts[0]
    return host, port, params.user, params.dbname


def _asyncpg_args(pg_server) -> dict[str, Any]:
    """asyncpg's connect arguments for the test server (no DSN: its own parser)."""
    host, port, user, db = _parts(pg_server)
    return {"host": host, "port": port, "user": user, "database": db}


def _on_asyncpg(pg_server, body: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``body`` on a new asyncpg connection to the test server."""
    asyncpg = require("asyncpg")

    async def main() -> None:
        a = await asyncpg.connect(**_asyncpg_args(pg_server))
        try:
            await body(a)
        finally:
            await a.close()

    asyncio.run(main())


def _url(pg_server, driver: str) -> str:
    require("sqlalchemy")
    require(driver)
    host, port, user, db = _parts(pg_server)
    return f"postgresql+{driver}://{user}@/{db}?host={host}&port={port}"


@pytest.fixture
def table(conn: pcf.Connection) -> str:
    conn.execute(DDL)
    return "ad_t"


def _stored(conn: pcf.Connection) -> list[tuple[Any, ...]]:
    return list(conn.copy_query_out("SELECT * FROM ad_t ORDER BY id"))


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_dbapi_connections_copy_in_and_out_in_the_callers_transaction(
    pg_server, conn: pcf.Connection, table: str, driver: str
) -> None:
    module = require(driver)
    raw = module.connect(pg_server.dsn)
    try:
        assert pcf.copy_records(raw, table, ROWS) == 2
        assert (
            list(pcf.copy_records_out(raw, table)) == ROWS
        )  # sees its own transaction
        raw.rollback()  # the adapter committed nothing
        assert _stored(conn) == []
        assert pcf.copy_records(raw, ("public", "ad_t"), [{"id": 5, "name": "d"}]) == 1
        raw.commit()
        assert list(pcf.copy_records_out(raw, "SELECT id, name FROM ad_t")) == [
            (5, "d")
        ]
    finally:
        raw.close()
    assert _stored(conn)[0][:2] == (5, "d")


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_errors_surface_and_the_connection_follows_its_driver(
    pg_server, conn: pcf.Connection, table: str, driver: str
) -> None:
    module = require(driver)
    raw = module.connect(pg_server.dsn)
    try:
        with pytest.raises(pcf.EncodeError) as info:
            pcf.copy_records(
                raw, table, [(1, "a"), ("two", "b")], columns=["id", "name"]
            )
        assert (info.value.row_index, info.value.column) == (1, "id")
        raw.rollback()  # the driver's transaction is failed until rollback
        with pytest.raises(module.errors.UniqueViolation):
            pcf.copy_records(raw, table, [(1, "a"), (1, "b")], columns=["id", "name"])
        raw.rollback()
        cur = raw.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    finally:
        raw.close()


@pytest.mark.parametrize("driver", ["psycopg", "psycopg2"])
def test_sqlalchemy_engine_connection_session_and_orm(
    pg_server, conn: pcf.Connection, table: str, driver: str
) -> None:
    require("sqlalchemy")
    from sqlalchemy import (
        BigInteger,
        Column,
        MetaData,
        Numeric,
        Table,
        Text,
        create_engine,
    )
    from sqlalchemy.orm import DeclarativeBase, Session

    engine = create_engine(_url(pg_server, driver))

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __tablename__ = "ad_t"
        id = Column(BigInteger, primary_key=True, autoincrement=False)
        name = Column(Text)
        amount = Column(Numeric)

    try:
        assert (
            pcf.copy_records(engine, Item, [Item(id=1, name="e", amount=Decimal("2"))])
            == 1
        )  # commits
        with engine.connect() as sa_conn:
            table_obj = Table("ad_t", MetaData(), autoload_with=sa_conn)
            assert pcf.copy_records(sa_conn, table_obj, [{"id": 2, "name": "c"}]) == 1
            sa_conn.rollback()
        with Session(engine) as session:
            assert pcf.copy_records(session, Item, [Item(id=3, name="s")]) == 1
            assert [
                r[0]
                for r in pcf.copy_records_out(
                    session, "SELECT id FROM ad_t ORDER BY id"
                )
            ] == [1, 3]
            session.commit()
        assert [r[:3] for r in pcf.copy_records_out(engine, Item)] == [
            (1, "e", Decimal("2")),
            (3, "s", None),
        ]
    finally:
        engine.dispose()


_DJANGO_MODELS: dict[str, Any] = {}


def _django_model() -> Any:
    # A model class registers itself once per process; the test runs twice.
    if "Thing" not in _DJANGO_MODELS:
        from django.db import models

        class Thing(models.Model):  # type: ignore[misc]  # django has no stubs
            id = models.BigIntegerField(primary_key=True)
            name = models.TextField(null=True)

            class Meta:
                app_label = "pgcopy_fast_tests"
                db_table = "ad_t"
                managed = False

        _DJANGO_MODELS["Thing"] = Thing
    return _DJANGO_MODELS["Thing"]


def test_django_connection_models_and_dicts(
    pg_server, conn: pcf.Connection, table: str
) -> None:
    django = require("django")
    # Django's backend runs on psycopg 3 when it is there, else on psycopg2.
    require("psycopg" if importlib.util.find_spec("psycopg") else "psycopg2")
    from django.conf import settings

    host, port, user, db = _parts(pg_server)
    if not settings.configured:
        settings.configure(
            DATABASES={
                "default": {
                    "ENGINE": "django.db.backends.postgresql",
                    "NAME": db,
                    "USER": user,
                    "HOST": host,
                    "PORT": str(port),
                }
            },
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        django.setup()
    from django.db import connection, transaction

    Thing = _django_model()

    try:
        assert (
            pcf.copy_records(connection, Thing, [Thing(id=1, name="m"), Thing(id=2)])
            == 2
        )
        with pytest.raises(RuntimeError), transaction.atomic():
            pcf.copy_records(connection, Thing, [{"id": 3, "name": "gone"}])
            raise RuntimeError("roll back")  # the copy joined the atomic block
        assert [r[:2] for r in pcf.copy_records_out(connection, Thing)] == [
            (1, "m"),
            (2, None),
        ]
        pa = require("pyarrow")
        data = pa.table({"id": pa.array([5], pa.int64()), "name": ["arrow"]})
        assert pcf.copy_arrow(connection, Thing, data) == 1
        back = pcf.copy_arrow_out(connection, Thing).read_all()
        assert sorted(back.column("id").to_pylist()) == [1, 2, 5]
    finally:
        connection.close()


def test_asyncpg_connection_and_pool_connection(
    pg_server, conn: pcf.Connection, table: str
) -> None:
    asyncpg = require("asyncpg")

    async def body(a: Any) -> None:
        assert await pcf.copy_records_async(a, table, ROWS) == 2
        assert [r async for r in pcf.copy_records_out_async(a, table)] == ROWS
        await a.execute("TRUNCATE ad_t")

    async def through_a_pool() -> None:
        args = _asyncpg_args(pg_server)
        pool = await asyncpg.create_pool(**args, min_size=1, max_size=1)
        async with pool.acquire() as pooled:
            assert (
                await pcf.copy_records_async(
                    pooled, table, [(7, "pool")], columns=["id", "name"]
                )
                == 1
            )
        await pool.close()

    _on_asyncpg(pg_server, body)
    asyncio.run(through_a_pool())
    assert [r[:2] for r in _stored(conn)] == [(7, "pool")]


def test_psycopg_async_connection_in_the_callers_transaction(
    pg_server, conn: pcf.Connection, table: str
) -> None:
    psycopg = require("psycopg")

    async def main() -> None:
        p = await psycopg.AsyncConnection.connect(pg_server.dsn)
        async with p:
            assert (
                await pcf.copy_records_async(
                    p, table, [(8, "psy")], columns=["id", "name"]
                )
                == 1
            )
            assert [
                r
                async for r in pcf.copy_records_out_async(
                    p, "SELECT id, name FROM ad_t ORDER BY id"
                )
            ] == [(8, "psy")]
            await p.rollback()  # the adapter committed nothing

    asyncio.run(main())
    assert _stored(conn) == []


def test_sqlalchemy_async_engine_connection_and_session(
    pg_server, conn: pcf.Connection, table: str
) -> None:
    require("sqlalchemy")
    require("greenlet")  # SQLAlchemy's asyncio extension runs on it
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    engine = create_async_engine(_url(pg_server, "asyncpg"))

    async def main() -> None:
        try:
            async with AsyncSession(engine) as session:
                assert (
                    await pcf.copy_records_async(
                        session, table, [{"id": 9, "name": "sa"}]
                    )
                    == 1
                )
                await session.commit()
            assert (  # commits
                await pcf.copy_records_async(engine, table, [{"id": 10, "name": "e"}])
                == 1
            )
            async with engine.connect() as sa_conn:
                got = [
                    r
                    async for r in pcf.copy_records_out_async(
                        sa_conn, "SELECT id FROM ad_t ORDER BY id"
                    )
                ]
                assert got == [(9,), (10,)]
            got = [r[:2] async for r in pcf.copy_records_out_async(engine, table)]
            assert got == [(9, "sa"), (10, "e")]
        finally:
            await engine.dispose()

    asyncio.run(main())


def test_unsupported_connections_are_type_errors() -> None:
    with pytest.raises(TypeError, match="psycopg2 connection"):
        pcf.copy_records(object(), "t", [])

    async def main() -> None:
        with pytest.raises(TypeError, match="asyncpg connection"):
            await pcf.copy_records_async("not a connection", "t", [])

    asyncio.run(main())


def test_drivers_are_not_imported_by_pgcopy_fast() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pgcopy_fast; "
        "print(sorted(m for m in ('psycopg', 'psycopg2', 'asyncpg', 'sqlalchemy', 'django') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_asyncpg_errors_leave_the_connection_usable(
    pg_server, conn: pcf.Connection, table: str
) -> None:
    asyncpg = require("asyncpg")

    async def body(a: Any) -> None:
        with pytest.raises(pcf.EncodeError):
            await pcf.copy_records_async(
                a, table, [(1, "a"), ("x", "b")], columns=["id", "name"]
            )
        with pytest.raises(asyncpg.exceptions.UniqueViolationError):
            await pcf.copy_records_async(
                a, table, [(1, "a"), (1, "b")], columns=["id", "name"]
            )
        assert await a.fetchval("SELECT count(*) FROM ad_t") == 0

    _on_asyncpg(pg_server, body)


def test_psycopg_async_errors_leave_the_connection_usable(
    pg_server, conn: pcf.Connection, table: str
) -> None:
    psycopg = require("psycopg")

    async def main() -> None:
        p = await psycopg.AsyncConnection.connect(pg_server.dsn)
        async with p:
            with pytest.raises(pcf.EncodeError):
                await pcf.copy_records_async(
                    p, table, [("x", "b")], columns=["id", "name"]
                )
            await p.rollback()
            async with p.cursor() as cur:
                await cur.execute("SELECT 1")
                assert await cur.fetchone() == (1,)

    asyncio.run(main())


def test_sqlalchemy_session_errors_need_a_rollback(
    pg_server, conn: pcf.Connection, table: str
) -> None:
    sqlalchemy = require("sqlalchemy")
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    engine = create_engine(_url(pg_server, "psycopg"))
    try:
        with Session(engine) as session:
            with pytest.raises(pcf.EncodeError):
                pcf.copy_records(session, table, [{"id": "nope"}])
            session.rollback()
            with pytest.raises(sqlalchemy.exc.SQLAlchemyError):
                session.execute(text("SELECT 1 FROM no_such_table"))
            session.rollback()
            assert session.execute(text("SELECT 2")).scalar() == 2
    finally:
        engine.dispose()


def test_psycopg2_rows_stream_and_stopping_early_leaves_it_usable(
    pg_server,
) -> None:
    psycopg2 = require("psycopg2")
    raw = psycopg2.connect(pg_server.dsn)
    try:
        rows = pcf.copy_records_out(
            raw, "SELECT g, repeat('x', 50) FROM generate_series(1, 200000) g"
        )
        assert next(rows) == (1, "x" * 50)
        # annotated Iterator, documented as closable: a generator
        assert isinstance(rows, Generator)
        rows.close()  # the rest of the COPY is read and dropped
        cur = raw.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    finally:
        raw.close()


def test_asyncpg_rows_stream_and_stopping_early_leaves_it_usable(pg_server) -> None:
    async def body(a: Any) -> None:
        rows = pcf.copy_records_out_async(
            a, "SELECT g FROM generate_series(1, 200000) g"
        )
        assert await rows.__anext__() == (1,)
        await rows.aclose()
        assert await a.fetchval("SELECT 2") == 2

    _on_asyncpg(pg_server, body)
