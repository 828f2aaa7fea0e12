"""Table names, identifier quoting and column types from the catalog.

``parse_table`` reads a table name as PostgreSQL does (unquoted parts fold
to lower case); ``quote_ident`` quotes one exact name; ``column_types``
asks the catalog, in one query, for each column's codec: domains become
their base type, enums use text's codec, arrays their element's.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InterfaceError
from ..kernels import core as _core
from ..kernels.pgtypes import NAMES, OIDS
from ..protocol.statement import IDENT_CHAR, IDENT_START

__all__ = [
    "ColumnType",
    "parse_table",
    "quote_ident",
    "quote_table",
    "sql_literal",
    "column_types",
    "columns_program",
    "columns_sql",
    "check_sql",
    "codec_name",
    "TypeInfo",
    "Describe",
    "Program",
    "run_program",
    "arun_program",
]

_UNQUOTED = re.compile(f"{IDENT_START}{IDENT_CHAR}*")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class ColumnType:
    """What a column needs from the codecs.

    Attributes:
        name: the column's exact name.
        oid: the column's type OID.
        typname: the type's name in pg_type.
        codec: the canonical name of the binary codec, or None when the
            type has none (the copy then falls back to text format).
        element_oid: for arrays, the element type OID to write.
        delimiter: for arrays, the element type's ``typdelim`` (``;`` for
            box, ``,`` for nearly everything else).
    """

    name: str
    oid: int
    typname: str
    codec: str | None
    element_oid: int | None = None
    delimiter: str = ","


def parse_table(table: str | tuple[str, str]) -> tuple[str | None, str]:
    """``(schema or None, name)`` of a table as written in SQL, or of a tuple.

    Raises:
        InterfaceError: anything that is not one or two identifiers.
    """
    if isinstance(table, tuple):
        if len(table) != 2 or not all(isinstance(p, str) and p for p in table):
            raise InterfaceError(f"a (schema, name) tuple of two names, not {table!r}")
        return table[0], table[1]
    if not isinstance(table, str):
        raise InterfaceError(
            f"a table is a name or a (schema, name) tuple, not {table!r}"
        )
    parts: list[str] = []
    i, n = 0, len(table)
    while True:
        if i < n and table[i] == '"':
            j, buf = i + 1, []
            while True:
                end = table.find('"', j)
                if end < 0:
                    raise InterfaceError(f"unterminated quoted identifier in {table!r}")
                buf.append(table[j:end])
                if end + 1 < n and table[end + 1] == '"':
                    buf.append('"')
                    j = end + 2
                    continue
                i = end + 1
                break
            part = "".join(buf)
            if not part:
                raise InterfaceError(f"empty quoted identifier in {table!r}")
        else:
            match = _UNQUOTED.match(table, i)
            if not match:
                raise InterfaceError(f"not a table name: {table!r}")
            # as PostgreSQL folds an unquoted name in UTF-8: A-Z only
            part = match.group().translate(_ASCII_LOWER)
            i = match.end()
        parts.append(part)
        if i == n:
            break
        if table[i] != "." or len(parts) == 2:
            raise InterfaceError(f"not a table name: {table!r}")
        i += 1
    if "\x00" in "".join(parts):
        raise InterfaceError("identifiers cannot contain NUL characters")
    if len(parts) == 1:
        return None, parts[0]
    return parts[0], parts[1]


def quote_ident(name: str) -> str:
    """One exact name as a quoted SQL identifier.

    Raises:
        InterfaceError: not a non-empty str without NUL characters.
    """
    if not isinstance(name, str) or not name or "\x00" in name:
        raise InterfaceError(f"not a valid identifier: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_table(schema: str | None, name: str) -> str:
    """``"schema"."name"`` (or ``"name"``)."""
    quoted = quote_ident(name)
    return f"{quote_ident(schema)}.{quoted}" if schema is not None else quoted


def sql_literal(conn: Any, text: str) -> str:
    """A string literal, safe whatever standard_conforming_strings says.

    ``conn`` is any connection (its ``parameters`` are read).
    """
    if "\x00" in text:
        raise InterfaceError("a string literal cannot contain NUL characters")
    if conn.parameters.get("standard_conforming_strings", "on") == "on":
        return "'" + text.replace("'", "''") + "'"
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


# Resolves domains (of domains) to their base type, then names the codec
# input: the base type, its kind, and for arrays the element's.
_TYPE_QUERY = """
WITH RECURSIVE base(start_oid, oid, depth) AS (
    SELECT t.oid, t.oid, 0 FROM pg_catalog.pg_type t WHERE t.oid IN ({oids})
  UNION ALL
    SELECT b.start_oid, t.typbasetype, b.depth + 1
    FROM base b JOIN pg_catalog.pg_type t ON t.oid = b.oid
    WHERE t.typtype = 'd' AND b.depth < 32
), resolved AS (
    SELECT DISTINCT ON (start_oid) start_oid, oid FROM base
    ORDER BY start_oid, depth DESC
)
SELECT r.start_oid, t.typname, t.typtype, t.typelem, e.typname, e.typtype, eb.typname,
       eb.typtype, COALESCE(e.typdelim, t.typdelim)
FROM resolved r
JOIN pg_catalog.pg_type t ON t.oid = r.oid
LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typlen = -1 AND t.typelem <> 0
LEFT JOIN pg_catalog.pg_type eb ON eb.oid = CASE WHEN e.typtype = 'd'
    THEN e.typbasetype END
"""


def codec_name(typname: str) -> str:
    """The name to pass as a type for a catalog typname.

    Type names given by users are read as SQL reads them, where ``char``
    means ``bpchar``; the one-byte internal type is spelled ``"char"``.
    """
    if typname == "char":
        return '"char"'
    if typname == "_char":
        return '"char"[]'
    return typname


def _codec(typname: str, typtype: str) -> str | None:
    if typtype == "e":
        return "text"  # an enum's binary form is its label
    return codec_name(typname) if typname in _core.binary_types() else None


@dataclass(frozen=True)
class Describe:
    """A catalog program's request: one statement's result columns, not run.

    The runner sends it to ``conn.describe(sql)`` (Parse / Describe of the
    extended protocol: nothing is executed, and the server refuses a second
    statement) where the connection has one, and otherwise runs the
    statement as an empty subquery.  Either way ``sql`` has passed
    :func:`~pgcopy_fast.protocol.statement.one_statement` first.
    """

    sql: str

    def fallback(self) -> str:
        """The query that describes ``sql`` on a connection with no describe."""
        return f"SELECT * FROM (\n{self.sql}\n) AS pgcopy_fast_query LIMIT 0"


#: A catalog program: yields SQL (or a :class:`Describe`), is sent back each
#: statement's Result, returns its answer.  Both connection kinds run it
#: (run_program / arun_program), so catalog logic exists once.
Program = Generator[str | Describe, Any, Any]


def _call(conn: Any, step: str | Describe) -> Any:
    if isinstance(step, Describe):
        describe = getattr(conn, "describe", None)
        return describe(step.sql) if describe else conn.execute(step.fallback())
    return conn.execute(step)


def run_program(conn: Any, program: Program) -> Any:
    """Run a catalog program on anything with a blocking ``execute(sql)``."""
    try:
        step = next(program)
        while True:
            step = program.send(_call(conn, step))
    except StopIteration as stop:
        return stop.value


async def arun_program(conn: Any, program: Program) -> Any:
    """Run a catalog program on anything with an awaitable ``execute(sql)``."""
    try:
        step = next(program)
        while True:
            step = program.send(await _call(conn, step))
    except StopIteration as stop:
        return stop.value


#: What a type OID needs from the codecs: (typname, codec or None, array
#: element OID or None, array element delimiter).
TypeInfo = tuple[str, str | None, int | None, str]


def oid_types_program(oids: Sequence[int]) -> Program:
    """Catalog program: the :data:`TypeInfo` of each type OID."""
    out: dict[int, TypeInfo] = {}
    unknown = []
    for oid in set(oids):
        name = NAMES.get(oid)
        if name is not None and name in _core.binary_types():
            element = OIDS.get(name[1:]) if name.startswith("_") else None
            out[oid] = (name, codec_name(name), element, ",")
        else:
            unknown.append(oid)
    if unknown:
        rows = (
            yield _TYPE_QUERY.format(oids=",".join(str(int(o)) for o in unknown))
        ).rows
        for row in rows:
            start, typname, typtype, typelem, ename, etype, ebname, ebtype, delim = row
            delim = delim or ","
            assert start is not None and typname is not None and typtype is not None
            if ename is not None and typelem not in (None, "0"):
                elem_name, elem_type = (ebname, ebtype) if ebname else (ename, etype)
                assert elem_name is not None and elem_type is not None
                elem_codec = _codec(elem_name, elem_type)
                codec = (
                    elem_codec + "[]"
                    if elem_codec
                    and not elem_codec.startswith("_")
                    and not elem_codec.endswith("[]")
                    else None
                )
                element_oid = int(typelem) if typelem else None
                out[int(start)] = (typname, codec, element_oid, delim)
            else:
                out[int(start)] = (typname, _codec(typname, typtype), None, ",")
    return out


_COLUMNS_WHERE = (
    "FROM pg_catalog.pg_attribute WHERE attrelid = {table}::regclass AND attnum > 0 "
    "AND NOT attisdropped AND attgenerated = ''"
)
_FINGERPRINT = "array_agg(ARRAY[attname::text, atttypid::text]"
# The columns, each row also carrying the table's fingerprint (all names and
# type OIDs as one array text), read in the same snapshot.
_COLUMNS_QUERY = (
    f"SELECT attname, atttypid, {_FINGERPRINT}) OVER (ORDER BY attnum ROWS BETWEEN "
    f"UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)::text {_COLUMNS_WHERE} "
    "ORDER BY attnum"
)
# The fingerprint alone: one short row, for the check every cached copy sends.
_CHECK_QUERY = f"SELECT {_FINGERPRINT} ORDER BY attnum)::text {_COLUMNS_WHERE}"


def check_sql(conn: Any, schema: str | None, name: str) -> str:
    """The query whose one value is the table's current fingerprint.

    It equals the third column of :func:`columns_sql`'s rows until an
    ``ALTER TABLE`` changes a column's name or type, adds or drops one.
    """
    return _CHECK_QUERY.format(table=sql_literal(conn, quote_table(schema, name)))


def column_types(
    conn: Any, schema: str | None, name: str, columns: Sequence[str] | None
) -> list[ColumnType]:
    """The codec of each column of a table (all insertable columns by default).

    Raises:
        ProgrammingError: no such table (the server's error).
        InterfaceError: a named column that the table does not have.
    """
    result: list[ColumnType] = run_program(
        conn, column_types_program(conn, schema, name, columns)
    )
    return result


def columns_sql(conn: Any, schema: str | None, name: str) -> str:
    """The query of a table's insertable columns.

    Rows of (attname, atttypid, fingerprint): see :func:`check_sql`.
    """
    return _COLUMNS_QUERY.format(table=sql_literal(conn, quote_table(schema, name)))


def column_types_program(
    conn: Any, schema: str | None, name: str, columns: Sequence[str] | None
) -> Program:
    """The catalog program of :func:`column_types`."""
    rows = (yield columns_sql(conn, schema, name)).rows
    result: list[ColumnType] = yield from columns_program(rows, schema, name, columns)
    return result


def columns_program(
    rows: Sequence[Sequence[str | None]],
    schema: str | None,
    name: str,
    columns: Sequence[str] | None,
) -> Program:
    """Catalog program: the ColumnTypes of the columns query's ``rows``."""
    by_name: dict[str, int] = {str(r[0]): int(str(r[1])) for r in rows}
    if columns is None:
        names = list(by_name)
    else:
        names = list(columns)
        missing = [c for c in names if c not in by_name]
        if missing:
            raise InterfaceError(
                f"column {missing[0]!r} does not exist in {quote_table(schema, name)}"
            )
    info = yield from oid_types_program([by_name[c] for c in names])
    out = []
    for col in names:
        oid = by_name[col]
        typname, codec, element, delimiter = info[oid]
        out.append(ColumnType(col, oid, typname, codec, element, delimiter))
    return out


def check_columns(columns: Any) -> tuple[str, ...] | None:
    """Validate a user's column list (exact names)."""
    if columns is None:
        return None
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise InterfaceError("columns must be a sequence of column names")
    for col in columns:
        quote_ident(col)
    return tuple(columns)
