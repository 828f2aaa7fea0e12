"""Which driver a connection belongs to, and the table a caller named.

Connections are recognised by the module of their type, so that no driver
is imported until a connection of its own is passed (and not even then:
the integrations use only the objects they are given).  Wrappers
(SQLAlchemy, Django) are unwrapped to the driver connection underneath.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Protocol

from ..connection import Connection
from . import asyncpg, django, psycopg, psycopg2, sqlalchemy
from ._common import CopyInJob, CopyOutJob, Row

__all__ = [
    "AsyncDriver",
    "SyncDriver",
    "async_connection",
    "async_driver",
    "sync_connection",
    "sync_driver",
    "table_name",
]

_ACCEPTED_SYNC = (
    "a pgcopy_fast Connection, a psycopg 3 Connection, a psycopg2 connection, "
    "a SQLAlchemy Engine, Connection or Session, or a Django connection"
)
_ACCEPTED_ASYNC = (
    "a pgcopy_fast AsyncConnection, an asyncpg connection or pool connection, "
    "a psycopg 3 AsyncConnection, or a SQLAlchemy AsyncEngine, AsyncConnection "
    "or AsyncSession"
)


class SyncDriver(Protocol):
    """What the module of a blocking driver provides (psycopg, psycopg2)."""

    def runner(self, raw: Any) -> Any:
        """The catalog runner of a raw connection."""
        ...

    def copy_in(self, raw: Any, job: CopyInJob) -> int:
        """Run a planned copy in; the row count."""
        ...

    def copy_out(self, raw: Any, job: CopyOutJob) -> Iterator[Row]:
        """Run a planned copy out; its rows."""
        ...


class AsyncDriver(Protocol):
    """What the module of an asyncio driver provides (asyncpg, psycopg)."""

    def async_runner(self, raw: Any) -> Any:
        """The catalog runner of a raw connection."""
        ...

    async def acopy_in(self, raw: Any, job: CopyInJob) -> int:
        """Run a planned copy in; the row count."""
        ...

    def acopy_out(self, raw: Any, job: CopyOutJob) -> AsyncGenerator[Row, None]:
        """Run a planned copy out; its rows."""
        ...


def table_name(table: Any) -> Any:
    """A SQLAlchemy ``Table`` / mapped class or a Django model as the name
    or ``(schema, name)`` it stands for; anything else as it is."""
    return sqlalchemy.table_name(django.table_name(table))


def sync_driver(conn: Any) -> tuple[SyncDriver | None, Any]:
    """(driver, raw DB-API connection); the driver is None for a pgcopy_fast
    ``Connection``, which copies by itself.

    Raises:
        TypeError: not a blocking connection of a kind this knows.
    """
    if isinstance(conn, Connection):
        return None, conn
    if psycopg2.owns(conn):
        return psycopg2, conn
    if psycopg.owns(conn):
        return psycopg, conn
    if django.owns(conn):
        return sync_driver(django.dbapi_connection(conn))
    raise TypeError(f"copy_records needs {_ACCEPTED_SYNC}, not {type(conn).__name__}")


def async_driver(conn: Any) -> tuple[AsyncDriver | None, Any]:
    """(driver, raw connection); the driver is None for a pgcopy_fast
    ``AsyncConnection``, which copies by itself.

    Raises:
        TypeError: not an asyncio connection of a kind this knows.
    """
    from ..connection.aio import AsyncConnection  # asyncio: only when asked

    if isinstance(conn, AsyncConnection):
        return None, conn
    if asyncpg.owns(conn):
        return asyncpg, conn
    if psycopg.owns_async(conn):
        return psycopg, conn
    raise TypeError(
        f"copy_records_async needs {_ACCEPTED_ASYNC}, not {type(conn).__name__}"
    )


@contextmanager
def sync_connection(conn: Any) -> Iterator[tuple[SyncDriver | None, Any]]:
    """:func:`sync_driver` of what the caller passed, a SQLAlchemy object
    unwrapped for the block (an Engine's own transaction lasts as long)."""
    if sqlalchemy.owns(conn):
        with sqlalchemy.dbapi_connection(conn) as raw:
            yield sync_driver(raw)
        return
    yield sync_driver(conn)


@asynccontextmanager
async def async_connection(
    conn: Any,
) -> AsyncIterator[tuple[AsyncDriver | None, Any]]:
    """:func:`async_driver` of what the caller passed, a SQLAlchemy object
    unwrapped for the block (an AsyncEngine's own transaction lasts as
    long)."""
    if sqlalchemy.owns(conn):
        async with sqlalchemy.driver_connection(conn) as raw:
            yield async_driver(raw)
        return
    yield async_driver(conn)
