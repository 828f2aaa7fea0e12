"""High-level copies: the COPY statement, the types and the format, planned once.

``plan_copy_in`` / ``plan_copy_out`` build the statement from a table name
and column list (quoted safely), look the column types up in the catalog
(one round trip, cached per connection, table and column list; dropped when
a copy fails), and choose binary format unless a column's type has no
binary codec, in which case the copy falls back to text format.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .catalog import (
    Program,
    check_columns,
    column_types_program,
    oid_types_program,
    parse_table,
    quote_ident,
    quote_table,
    run_program,
)
from .errors import InterfaceError

if TYPE_CHECKING:
    from .connection import Connection

__all__ = [
    "CopyPlan",
    "plan_table",
    "plan_query",
    "plan_table_program",
    "plan_query_program",
    "forget",
]


@dataclass(frozen=True)
class CopyPlan:
    """A copy ready to run.

    Attributes:
        target: the quoted table and column list, or the parenthesized query.
        columns: the column names (for error messages and dict records).
        types: the codec of each column, or None for a text-format copy.
        element_oids: the array element OIDs to write, per column.
    """

    target: str
    columns: tuple[str, ...]
    types: tuple[str, ...] | None
    element_oids: tuple[int | None, ...]
    typnames: tuple[str, ...]

    @property
    def options(self) -> str:
        """The COPY options clause."""
        return "(FORMAT binary)" if self.types is not None else "(FORMAT text)"

    def copy_in_sql(self) -> str:
        """``COPY target FROM STDIN (...)``."""
        return f"COPY {self.target} FROM STDIN {self.options}"

    def copy_out_sql(self) -> str:
        """``COPY target TO STDOUT (...)``."""
        return f"COPY {self.target} TO STDOUT {self.options}"


def _cache(conn: Any) -> dict[Any, CopyPlan]:
    cache: dict[Any, CopyPlan] | None = getattr(conn, "_plan_cache", None)
    if cache is None:
        cache = {}
        conn._plan_cache = cache  # type: ignore[attr-defined]
    return cache


def plan_table(conn: Connection, table: Any, columns: Any) -> tuple[Any, CopyPlan]:
    """The plan of a copy to or from a table; returns (cache key, plan).

    Raises:
        InterfaceError: a bad table name or column list, or a missing column.
        ProgrammingError: no such table.
    """
    result: tuple[Any, CopyPlan] = run_program(
        conn, plan_table_program(conn, table, columns)
    )
    return result


def plan_table_program(conn: Any, table: Any, columns: Any) -> Program:
    """The catalog program of :func:`plan_table` (any connection kind)."""
    schema, name = parse_table(table)
    cols = check_columns(columns)
    key = ("table", schema, name, cols)
    cache = _cache(conn)
    plan = cache.get(key)
    if plan is None:
        infos = yield from column_types_program(conn, schema, name, cols)
        if not infos:
            raise InterfaceError(f"{quote_table(schema, name)} has no columns to copy")
        codecs = [c.codec for c in infos]
        column_list = ", ".join(quote_ident(c.name) for c in infos)
        plan = CopyPlan(
            target=f"{quote_table(schema, name)} ({column_list})",
            columns=tuple(c.name for c in infos),
            types=tuple(codecs) if None not in codecs else None,  # type: ignore[arg-type]
            element_oids=tuple(c.element_oid for c in infos),
            typnames=tuple(c.typname for c in infos),
        )
        cache[key] = plan
    return key, plan


def plan_query(conn: Connection, sql: str) -> CopyPlan:
    """The plan of ``COPY (query) TO STDOUT``: types from the query's columns.

    Raises:
        DatabaseError: the query does not plan.
    """
    result: CopyPlan = run_program(conn, plan_query_program(sql))
    return result


def plan_query_program(sql: str) -> Program:
    """The catalog program of :func:`plan_query` (any connection kind)."""
    query = sql.strip().rstrip(";").strip()
    described = yield f"SELECT * FROM ({query}) AS pgcopy_fast_query LIMIT 0"
    oids = [oid for _, oid in described.columns]
    info = yield from oid_types_program(oids)
    codecs = [info[oid][1] for oid in oids]
    return CopyPlan(
        target=f"({query})",
        columns=tuple(name for name, _ in described.columns),
        types=tuple(codecs) if None not in codecs else None,  # type: ignore[arg-type]
        element_oids=tuple(info[oid][2] for oid in oids),
        typnames=tuple(info[oid][0] for oid in oids),
    )


def forget(conn: Any, key: Any) -> None:
    """Drop a cached plan (after a failed copy: the table may have changed)."""
    _cache(conn).pop(key, None)
