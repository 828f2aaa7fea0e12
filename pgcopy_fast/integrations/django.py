"""Django: the DB-API connection under ``django.db.connection``, and models.

The copy runs through the psycopg 3 or psycopg2 connection that Django's
connection wraps (opened first if it is not yet), inside whatever
transaction or ``atomic()`` block the caller is in.  Tables may be given
as a model class (its ``db_table``); records as model instances.  Django
itself is never imported: its objects are recognised by their type's
module and attributes.
"""

from __future__ import annotations

from typing import Any

from ._common import module_of

__all__ = ["dbapi_connection", "owns", "table_name"]


def owns(conn: Any) -> bool:
    """Whether ``conn`` is a Django database connection."""
    return module_of(conn).startswith("django") and hasattr(conn, "ensure_connection")


def dbapi_connection(conn: Any) -> Any:
    """The DB-API connection it wraps, opened if it is not yet."""
    conn.ensure_connection()
    return conn.connection


def table_name(table: Any) -> Any:
    """A model class as its ``db_table``; anything else as it is."""
    if hasattr(table, "_meta") and hasattr(table._meta, "db_table"):
        return table._meta.db_table
    return table
