"""SQLAlchemy: the driver connection under an Engine, Connection or Session.

The copy runs through the driver connection underneath (psycopg 3 or
psycopg2 blocking; asyncpg or psycopg 3 under asyncio), inside the
caller's transaction: a Connection that is in none begins one, so that
the caller's ``commit()`` commits the copy.  An Engine owns no
transaction of the caller's, so the copy runs in one of its own, which
is committed.  Tables may be given as a ``Table`` or a mapped class.
SQLAlchemy itself is never imported: its objects are recognised by their
type's module and name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from ._common import module_of

__all__ = ["dbapi_connection", "driver_connection", "owns", "table_name"]


def owns(conn: Any) -> bool:
    """Whether ``conn`` is a SQLAlchemy engine, connection or session."""
    return module_of(conn).startswith("sqlalchemy")


def table_name(table: Any) -> Any:
    """A ``Table`` or mapped class as a name or ``(schema, name)``; anything
    else as it is."""
    if isinstance(table, type) and hasattr(table, "__table__"):  # mapped class
        table = table.__table__
    if module_of(table).startswith("sqlalchemy") and type(table).__name__ == "Table":
        return (table.schema, table.name) if table.schema else table.name
    return table


def _in_transaction(conn: Any) -> Any:
    """A Connection in a transaction (Session / Connection given)."""
    if type(conn).__name__ in ("Session", "scoped_session"):
        return conn.connection()
    if not conn.in_transaction():
        conn.begin()  # so that the caller's commit() commits the copy
    return conn


@contextmanager
def dbapi_connection(conn: Any) -> Iterator[Any]:
    """The DB-API connection under a blocking Engine, Connection or Session.

    An Engine's transaction ends with the block: committed, or rolled back
    by an exception.
    """
    if type(conn).__name__ == "Engine":
        with conn.begin() as sa_conn:
            yield sa_conn.connection.dbapi_connection
        return
    yield _in_transaction(conn).connection.dbapi_connection


@asynccontextmanager
async def driver_connection(conn: Any) -> AsyncIterator[Any]:
    """The driver connection under an AsyncEngine, AsyncConnection or
    AsyncSession.

    An AsyncEngine's transaction is ended with the block as on success,
    even when the block raised (``__aexit__`` without the exception, as
    this path always has): a copy that failed on the server has aborted
    it already, so that COMMIT rolls back.
    """
    name = type(conn).__name__
    context = None
    if name == "AsyncEngine":
        context = conn.begin()
        sa_conn = await context.__aenter__()
    else:
        sa_conn = (
            await conn.connection()
            if name in ("AsyncSession", "async_scoped_session")
            else conn
        )
        if not sa_conn.in_transaction():
            await sa_conn.begin()
    try:
        raw = await sa_conn.get_raw_connection()
        yield raw.driver_connection
    finally:
        if context is not None:
            await context.__aexit__(None, None, None)
