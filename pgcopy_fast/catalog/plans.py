"""High-level copies: the COPY statement, the types and the format, planned once.

``plan_table_program`` builds the statement from a table name and column
list (quoted safely), looks the column types up in the catalog (one round
trip, cached per connection, table and column list), and chooses binary
format unless a column's type has no binary codec, in which case the copy
falls back to text format, typed by the same codecs.

A cached plan is never trusted blindly: an ``ALTER TABLE ... TYPE`` by this
connection or another between two copies would make binary data of the
old type land in a column of the new one (an int8 ``1`` read as a float8
is ``5e-324``).  Each copy therefore carries its own check, in the same
query string as the COPY, so it costs no round trip:

    LOCK TABLE t IN ROW EXCLUSIVE MODE;
    SELECT array_agg(ARRAY[attname, atttypid]) ...; COPY ...

The lock is the one COPY takes anyway, taken first so that nothing can
change the table between the check and the copy; the check's answer is
compared with the plan's fingerprint when the COPY starts, and a stale
plan ends that copy before any row is sent (CopyDone with no data, or the
COPY OUT read to its end and dropped) and is planned again.  Drivers whose
COPY call takes one statement only run the check as a query of its own
just before the copy (:func:`validated_plan_program`).
"""

from __future__ import annotations

import re
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, replace
from itertools import chain
from typing import TYPE_CHECKING, Any

from ..copy.typedtext import TypedTextDecoder, TypedTextEncoder
from ..errors import InterfaceError
from ..kernels import core as _core
from ..kernels.pgtypes import canonical_types
from ..options import CodecOptions
from ..protocol.statement import one_statement
from .queries import (
    Describe,
    Program,
    check_columns,
    check_sql,
    columns_program,
    columns_sql,
    oid_types_program,
    parse_table,
    quote_ident,
    quote_table,
)

if TYPE_CHECKING:
    from ..protocol.flows import Result

__all__ = [
    "CopyPlan",
    "plan_table_program",
    "plan_query_program",
    "validated_plan_program",
    "forget",
    "record_rows",
    "arecord_rows",
    "record_converter",
    "key_table",
    "replannable",
    "MAX_REPLANS",
]

#: How often a copy re-plans a table that keeps changing under it.
MAX_REPLANS = 3


@dataclass(frozen=True)
class CopyPlan:
    """A copy ready to run.

    Attributes:
        target: the quoted table and column list, or the parenthesized query.
        columns: the column names (for error messages and dict records).
        types: the codec of each column, or None for a text-format copy.
        element_oids: the array element OIDs to write, per column.
        typnames: each column's type name in pg_type (its base type for a
            domain).
        codecs: each column's codec, or None where it has none.
        delimiters: each column's array element delimiter (``typdelim``).
        table: the quoted table (None for a query).
        fingerprint: the table's column names and type OIDs when planned.
        check_sql: the query whose answer is compared with the fingerprint.
        fresh: planned just now (not taken from the cache), so a server
            error cannot come from a stale plan.
    """

    target: str
    columns: tuple[str, ...]
    types: tuple[str, ...] | None
    element_oids: tuple[int | None, ...]
    typnames: tuple[str, ...]
    codecs: tuple[str | None, ...]
    delimiters: tuple[str, ...]
    table: str | None = None
    fingerprint: str | None = None
    modifiers: tuple[int, ...] = ()
    check_sql: str = ""
    fresh: bool = True

    @property
    def format(self) -> str:
        """The copy's row format: binary, or text for the fallback."""
        return "binary" if self.types is not None else "text"

    @property
    def options(self) -> str:
        """The COPY options clause."""
        return f"(FORMAT {self.format})"

    @property
    def column_types(self) -> tuple[str, ...]:
        """The type of each column for the copy: its codec, or its typname.

        For a text-format copy this types every column the codecs know, so
        the fallback stores and returns what the binary path would.
        """
        return tuple(
            c if c is not None else t
            for c, t in zip(self.codecs, self.typnames, strict=True)
        )

    def copy_in_args(
        self, threshold: int, options: CodecOptions | None, results: list[Result]
    ) -> dict[str, Any]:
        """The arguments of ``copy_in`` for this plan (both connection kinds)."""
        return {
            "sql": self.checked_sql("in"),
            "types": self.column_types,
            "format": self.format,
            "threshold": threshold,
            "columns": self.columns,
            "options": options,
            "element_oids": self.element_oids,
            "results": results,
        }

    def copy_out_args(
        self, options: CodecOptions | None, results: list[Result]
    ) -> dict[str, Any]:
        """The arguments of ``copy_out`` for this plan (both connection kinds)."""
        return {
            "sql": self.checked_sql("out"),
            "types": self.column_types,
            "format": self.format,
            "options": options,
            "delimiters": self.delimiters,
            "results": results,
        }

    def text_encoder(self, options: CodecOptions | None) -> TypedTextEncoder:
        """The typed text encoder of a fallback copy (driver adapters)."""
        framing = _core.TextEncoder(ncolumns=len(self.columns), columns=self.columns)
        return TypedTextEncoder(
            framing,
            canonical_types(self.column_types) or (),
            self.columns,
            options,
            self.element_oids,
        )

    def row_decoder(self, options: CodecOptions | None) -> Any:
        """The decoder of this plan's COPY OUT data (driver adapters)."""
        types = canonical_types(self.column_types)
        if self.types is not None:
            return _core.BinaryDecoder(types, options)
        return TypedTextDecoder(
            _core.TextDecoder(), types or (), options, self.delimiters or None
        )

    def copy_in_sql(self) -> str:
        """``COPY target FROM STDIN (...)``."""
        return f"COPY {self.target} FROM STDIN {self.options}"

    def copy_out_sql(self) -> str:
        """``COPY target TO STDOUT (...)``."""
        return f"COPY {self.target} TO STDOUT {self.options}"

    def checked_sql(self, direction: str) -> str:
        """The COPY preceded by the lock and the check (see the module's doc)."""
        if self.table is None:
            return self.copy_in_sql() if direction == "in" else self.copy_out_sql()
        mode = "ROW EXCLUSIVE" if direction == "in" else "ACCESS SHARE"
        copy = self.copy_in_sql() if direction == "in" else self.copy_out_sql()
        return f"LOCK TABLE {self.table} IN {mode} MODE; {self.check_sql}; {copy}"

    def current(self, results: list[Result]) -> bool:
        """Whether the check's answer (the last Result before the COPY) matches."""
        if self.table is None:
            return True
        if not results or len(results[-1].rows) != 1:
            return False
        return results[-1].rows[0][0] == self.fingerprint


def _cache(conn: Any) -> dict[Any, CopyPlan]:
    cache: dict[Any, CopyPlan] | None = getattr(conn, "_plan_cache", None)
    if cache is None:
        cache = {}
        conn._plan_cache = cache  # type: ignore[attr-defined]
    return cache


def plan_table_program(
    conn: Any, table: Any, columns: Any, *, validate: bool = False
) -> Program:
    """The catalog program of :func:`plan_table` (any connection kind).

    A cached plan is returned as it is: the copy must check it (the
    plan's :meth:`CopyPlan.checked_sql`).  With ``validate``, a cached plan
    is checked first, by a query of its own.
    """
    schema, name = parse_table(table)
    cols = check_columns(columns)
    key = ("table", schema, name, cols)
    cache = _cache(conn)
    plan = cache.get(key)
    if plan is not None and validate and not plan.current([(yield plan.check_sql)]):
        plan = None
    if plan is None:
        rows = (yield columns_sql(conn, schema, name)).rows
        plan = yield from _build(conn, rows, schema, name, cols)
        cache[key] = replace(plan, fresh=False)
    return key, plan


def validated_plan_program(conn: Any, table: Any, columns: Any) -> Program:
    """:func:`plan_table_program` with a cached plan checked first.

    For drivers that cannot send the check with the COPY: one query just
    before it (which a concurrent ``ALTER TABLE`` could still slip behind;
    inside a transaction that has already locked the table it cannot).
    """
    return plan_table_program(conn, table, columns, validate=True)


def _build(conn: Any, rows: Any, schema: str | None, name: str, cols: Any) -> Program:
    infos = yield from columns_program(rows, schema, name, cols)
    if not infos:
        raise InterfaceError(f"{quote_table(schema, name)} has no columns to copy")
    codecs = tuple(c.codec for c in infos)
    column_list = ", ".join(quote_ident(c.name) for c in infos)
    return CopyPlan(
        target=f"{quote_table(schema, name)} ({column_list})",
        columns=tuple(c.name for c in infos),
        types=codecs if None not in codecs else None,  # type: ignore[arg-type]
        element_oids=tuple(c.element_oid for c in infos),
        typnames=tuple(c.typname for c in infos),
        codecs=codecs,
        delimiters=tuple(c.delimiter for c in infos),
        table=quote_table(schema, name),
        fingerprint=rows[0][2] if rows else None,
        check_sql=check_sql(conn, schema, name),
    )


def plan_query_program(sql: str) -> Program:
    """Catalog program: the CopyPlan of a query's COPY TO STDOUT (any connection)."""
    # Exactly one statement, checked before anything is sent: the query is
    # pasted into COPY (...) below, and a second statement must not run.
    query = one_statement(sql)
    described = yield Describe(query)
    oids = [oid for _, oid in described.columns]
    info = yield from oid_types_program(oids)
    codecs = tuple(info[oid][1] for oid in oids)
    return CopyPlan(
        target=f"(\n{query}\n)",  # newlines: the query may end in a -- comment
        columns=tuple(name for name, _ in described.columns),
        types=codecs if None not in codecs else None,  # type: ignore[arg-type]
        element_oids=tuple(info[oid][2] for oid in oids),
        typnames=tuple(info[oid][0] for oid in oids),
        codecs=codecs,
        delimiters=tuple(info[oid][3] for oid in oids),
        modifiers=tuple(described.modifiers),
    )


_QUERY_START = re.compile(r"\s*\(*\s*(select|with|values|table)\b", re.I)


def is_query(source: Any) -> bool:
    """Whether a copy-out source is a query rather than a table name."""
    return isinstance(source, str) and bool(_QUERY_START.match(source))


def plan_arrow_out_program(source: Any, columns: Sequence[str] | None) -> Program:
    """Catalog program: the CopyPlan of ``copy_arrow_out`` (a table or a query).

    Both go through a Describe, whose answer carries each column's type
    modifier (numeric(12,2) becomes decimal128(12, 2)); a table becomes
    ``SELECT its columns FROM it``.  Nothing is cached: the types are read
    the moment before the copy.
    """
    if is_query(source):
        if columns is not None:
            raise InterfaceError("columns= goes with a table, not with a query")
        return (yield from plan_query_program(source))
    schema, name = parse_table(source)
    cols = check_columns(columns)
    listed = ", ".join(quote_ident(c) for c in cols) if cols else "*"
    query = f"SELECT {listed} FROM {quote_table(schema, name)}"
    return (yield from plan_query_program(query))


def _object_columns(first: Any) -> tuple[list[str], Any] | None:
    """(column names, getter) for a mapped instance or a Django model instance."""
    cls = type(first)
    meta = getattr(cls, "_meta", None)
    if meta is not None and hasattr(meta, "concrete_fields"):  # Django
        fields = [
            f
            for f in meta.concrete_fields
            if not (
                getattr(f, "primary_key", False) and getattr(first, f.attname) is None
            )
        ]
        names = [f.column for f in fields]
        attnames = [f.attname for f in fields]
        return names, lambda obj: tuple(getattr(obj, a) for a in attnames)
    if hasattr(cls, "__mapper__"):  # SQLAlchemy ORM
        pairs = []
        for attr in cls.__mapper__.column_attrs:
            for column in attr.columns:
                value = getattr(first, attr.key)
                if value is None and column.primary_key and column.autoincrement:
                    continue
                pairs.append((column.name, attr.key))
        keys = [k for _, k in pairs]
        return [n for n, _ in pairs], lambda obj: tuple(getattr(obj, k) for k in keys)
    return None


def record_converter(
    first: Any, columns: Sequence[str] | None
) -> tuple[Callable[[Any], Any] | None, Sequence[str] | None]:
    """How to turn records like ``first`` into rows, and the columns they imply.

    Returns (None, columns) for tuples and lists, which go as they are.
    """
    if isinstance(first, dict):
        names = list(columns) if columns is not None else list(first)

        def from_dict(record: Any) -> tuple[Any, ...]:
            try:
                return tuple(record[name] for name in names)
            except KeyError as exc:
                raise InterfaceError(
                    f"a record has no value for column {exc.args[0]!r}"
                ) from None
            except TypeError:
                return record  # type: ignore[no-any-return]  # the encoder names it

        return from_dict, names
    if not isinstance(first, tuple | list):
        found = _object_columns(first)
        if found is not None:
            names, getter = found
            if columns is not None:
                names, getter = (
                    list(columns),
                    (lambda obj, c=list(columns): tuple(getattr(obj, n) for n in c)),
                )
            return getter, names
    return None, columns


def record_rows(
    records: Iterable[Any], columns: Sequence[str] | None
) -> tuple[Iterator[Any], Sequence[str] | None]:
    """The rows as tuples, lazily, and the column list the records imply.

    ``records`` may hold tuples or lists (in ``columns`` order), dicts keyed
    by column name (the first dict names the columns when ``columns`` is
    None), or SQLAlchemy mapped / Django model instances.  One
    normalisation for every entry point, native and adapter alike.

    Raises:
        InterfaceError: a dict lacks a column's value.
    """
    iterator = iter(records)
    for first in iterator:
        convert, names = record_converter(first, columns)
        rows = chain((first,), iterator)
        return (rows if convert is None else map(convert, rows)), names
    return iter(()), columns


def arecord_rows(
    records: AsyncIterable[Any], columns: Sequence[str] | None
) -> Awaitable[tuple[AsyncIterator[Any], Sequence[str] | None]]:
    """:func:`record_rows` for an async iterable."""

    async def start() -> tuple[AsyncIterator[Any], Sequence[str] | None]:
        iterator = aiter(records)
        try:
            first = await anext(iterator)
        except StopAsyncIteration:
            return _empty(), columns
        convert, names = record_converter(first, columns)

        async def rows() -> AsyncIterator[Any]:
            yield first if convert is None else convert(first)
            async for record in iterator:
                yield record if convert is None else convert(record)

        return rows(), names

    return start()


async def _empty() -> AsyncIterator[Any]:
    return
    yield  # an async generator with nothing in it


def key_table(key: Any) -> tuple[tuple[str, str] | str, Any]:
    """The (table, columns) arguments that planned the cached ``key``."""
    _, schema, name, cols = key
    return ((schema, name) if schema is not None else quote_ident(name)), cols


def replannable(plan: CopyPlan, status: Any) -> bool:
    """Whether a server error at the start of a copy may be retried afresh.

    Only a cached plan can be stale, and only outside a transaction block
    (where the error ended nothing but the failed statement itself).
    """
    return not plan.fresh and plan.table is not None and status.name == "IDLE"


def forget(conn: Any, key: Any) -> None:
    """Drop a cached plan (after a failed copy: the table may have changed)."""
    _cache(conn).pop(key, None)
