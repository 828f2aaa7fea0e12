"""The integrity matrix: DESIGN.md section 2 "Integrity rules" on every path.

(a) Writes.  The same Python values go through every write path --
    binary / text / CSV ``copy_in`` with ``types=``, ``copy_records`` (binary,
    catalog types), ``copy_records`` into a table with a column that has no
    binary codec (the text fallback), the psycopg 3 adapter and the asyncio
    API -- and the server's ``v::text`` must equal what psycopg 3's own
    binary COPY stores for the value (``integrity_cases`` says where psycopg
    needs an equivalent value, or cannot be the judge).  Plus non-default
    NULL markers, a session TimeZone, ``CodecOptions(infinity=True)``.
(b) Reads.  Values inserted with SQL literals are read through every read
    path and compared with what psycopg 3 returns for a SELECT (its default
    loaders); deliberate differences are written in the cases and asserted.
    Values Python cannot hold raise ``DecodeError`` on every path.
(c) Regressions: stale plan cache, FORMAT sniffing, dicts in
    ``Connection.copy_records``, typed text ``copy_out``, exact JSON integers.

A failing write case lists every value that came out wrong (label, value,
what the server holds, what was expected); when a whole copy fails, each
value is retried alone so that the message names the culprits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import types as pytypes
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import pytest
from integrity_cases import (
    BAD_READS,
    BAD_WRITES,
    DOMAIN_TEXT,
    ENUM,
    NO,
    READ_CASES,
    SETUP_SQL,
    UTC,
    WRITE_CASES,
    Bad,
    BadWrite,
    ReadCase,
    WriteCase,
    canon,
)

import pgcopy_fast as pcf
from pgcopy_fast.kernels import core as _core
from pgcopy_fast.options import CodecOptions

WRITE_PATHS = ("binary", "text", "csv", "records", "fallback", "adapter", "async")
READ_PATHS = (
    "records_out",
    "query_out",
    "fallback",
    "copy_out_binary",
    "copy_out_text",
    "copy_out_csv",
    "adapter_table",
    "adapter_query",
    "async_records_out",
)
COPY_OUT_PATHS = ("copy_out_binary", "copy_out_text", "copy_out_csv")

JUDGE_SETTINGS = (
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY'; "
    "SET IntervalStyle = 'postgres'; SET extra_float_digits = 1"
)


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="session")
def judge(pg_server: Any) -> Iterator[psycopg.Connection[Any]]:
    """psycopg 3 in autocommit with fixed output settings: reads v::text."""
    with psycopg.connect(pg_server.dsn, autocommit=True) as c:
        c.execute(JUDGE_SETTINGS)
        c.execute(SETUP_SQL)
        yield c


@pytest.fixture(scope="session")
def oids(judge: psycopg.Connection[Any]) -> dict[str, int]:
    """OIDs of the enum and domains (for element_oids of their arrays)."""
    names = (ENUM, "integ_dint", DOMAIN_TEXT)
    return {n: scalar(judge, "SELECT %s::regtype::oid", (n,)) for n in names}


@pytest.fixture
def twin(impl: pytypes.ModuleType) -> str:
    return "c" if impl.__name__.endswith("_c") else "py"


def server_text(
    judge: psycopg.Connection[Any], table: str, col: str = "v"
) -> dict[int, Any]:
    rows = judge.execute(f"SELECT id, {col}::text FROM {table} ORDER BY id").fetchall()
    return dict(rows)


def fresh(judge: psycopg.Connection[Any], table: str, columns: str) -> None:
    judge.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({columns})")


def scalar(judge: psycopg.Connection[Any], sql: str, params: Sequence[Any]) -> Any:
    """The one value of a one-row query."""
    row = judge.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


# -- psycopg 3 as the reference -------------------------------------------------

_REFERENCE: dict[str, dict[int, Any]] = {}


def _psycopg_copy(
    judge: psycopg.Connection[Any],
    table: str,
    pg_type: str | None,
    rows: list[tuple[int, Any]],
) -> None:
    with judge.cursor() as cur:
        if pg_type is None:  # psycopg's text COPY
            with cur.copy(f"COPY {table} (id, v) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)
        else:
            with cur.copy(f"COPY {table} (id, v) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int4", pg_type])
                for row in rows:
                    cp.write_row(row)


def reference(judge: psycopg.Connection[Any], case: WriteCase) -> dict[int, Any]:
    """id -> expected v::text: psycopg's answer, or the case's own expectation.

    psycopg's binary COPY is the judge; the few values its binary array
    dumper cannot take (an empty list, ``[None]`` with set_types) go through
    its text COPY instead.
    """
    if case.id in _REFERENCE:
        return _REFERENCE[case.id]
    table = "ref_" + case.table
    fresh(judge, table, f"id int4, v {case.ddl}")
    rows = [
        (i, case.to_pg(v.value)) for i, v in enumerate(case.values) if v.expect is NO
    ]
    try:
        _psycopg_copy(judge, table, case.pg_type, rows)
    except Exception:
        judge.execute(f"TRUNCATE {table}")
        for row in rows:
            try:
                _psycopg_copy(judge, table, case.pg_type, [row])
            except Exception as exc:
                try:
                    _psycopg_copy(judge, table, None, [row])
                except Exception:  # a mistake in the cases, not in the library
                    pytest.fail(f"psycopg 3 refused {case.id} value {row!r}: {exc!r}")
    expected = server_text(judge, table)
    judge.execute(f"DROP TABLE {table}")
    for i, v in enumerate(case.values):
        if v.expect is not NO:
            expected[i] = v.expect
    _REFERENCE[case.id] = expected
    return expected


# -- the write paths ------------------------------------------------------------


class Writer:
    """Writes rows into a table by one path, with a fresh connection when the
    fixture's one was lost."""

    def __init__(
        self,
        path: str,
        conn: pcf.Connection,
        pg_server: Any,
        *,
        options: CodecOptions | None = None,
        setup_sql: str | None = None,
        element_oids: Sequence[int | None] | None = None,
    ) -> None:
        self.path = path
        self.conn = conn
        self.pg_server = pg_server
        self.options = options
        self.setup_sql = setup_sql
        self.element_oids = element_oids

    def _conn(self) -> pcf.Connection:
        if self.conn.closed:
            self.conn = self.pg_server.connect()
            if self.setup_sql:
                self.conn.execute(self.setup_sql)
        return self.conn

    def setup(self) -> None:
        if self.setup_sql and self.path not in ("adapter", "async"):
            self.conn.execute(self.setup_sql)

    def write(
        self,
        table: str,
        columns: Sequence[str],
        types: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None:
        path, opts = self.path, self.options
        if path in ("binary", "text", "csv"):
            fmt = {"binary": " (FORMAT binary)", "text": "", "csv": " (FORMAT csv)"}[
                path
            ]
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN{fmt}"
            with self._conn().copy_in(
                sql, types=list(types), options=opts, element_oids=self.element_oids
            ) as cp:
                assert cp.format == path
                cp.write_rows(rows)
            assert cp.rowcount == len(rows)
        elif path == "records":
            n = self._conn().copy_records(
                table, rows, columns=tuple(columns), options=opts
            )
            assert n == len(rows)
        elif path == "fallback":
            # the point column has no binary codec: the whole copy is text
            n = self._conn().copy_records(
                table, [(*r, None) for r in rows], columns=(*columns, "p"), options=opts
            )
            assert n == len(rows)
        elif path == "adapter":
            with psycopg.connect(self.pg_server.dsn, autocommit=True) as pgc:
                if self.setup_sql:
                    pgc.execute(self.setup_sql)
                n = pcf.copy_records(
                    pgc, table, rows, columns=list(columns), options=opts
                )
            assert n == len(rows)
        elif path == "async":
            asyncio.run(self._async_write(table, columns, rows))
        else:  # pragma: no cover
            raise AssertionError(path)

    async def _async_write(
        self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        aconn = await pcf.connect_async(self.pg_server.dsn)
        try:
            if self.setup_sql:
                await aconn.execute(self.setup_sql)
            n = await aconn.copy_records(
                table, rows, columns=tuple(columns), options=self.options
            )
            assert n == len(rows)
        finally:
            await aconn.close()


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) < 300 else text[:300] + "..."


def write_and_compare(
    judge: psycopg.Connection[Any],
    writer: Writer,
    table: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: list[tuple[Any, ...]],
    expected: dict[str, dict[int, Any]],
    labels: dict[int, str],
) -> list[str]:
    """Write rows by the writer's path; return one line per wrong value.

    ``expected`` maps each column to {id: v::text}.  When the copy of all the
    rows fails, each row is written alone to find which values fail.
    """
    problems: list[str] = []

    def compare(only: set[int] | None = None) -> None:
        for col, want in expected.items():
            got = server_text(judge, table, col)
            for i, text in want.items():
                if only is not None and i not in only:
                    continue
                if got.get(i, "<missing row>") != text:
                    value = rows[i][columns.index(col)]
                    problems.append(
                        f"{labels[i]} [{col}] value={value!r}: server has "
                        f"{got.get(i, '<missing row>')!r}, expected {text!r}"
                    )

    try:
        writer.write(table, columns, types, rows)
    except Exception as exc:
        problems.append(f"the copy of all {len(rows)} rows failed: {_describe(exc)}")
        for i, row in enumerate(rows):
            judge.execute(f"TRUNCATE {table}")
            try:
                writer.write(table, columns, types, [row])
            except Exception as exc1:
                problems.append(f"{labels[i]} value={row[1:]!r}: {_describe(exc1)}")
                continue
            compare({i})
        return problems
    compare()
    return problems


# -- (a) the write matrix ---------------------------------------------------------


def test_fallback_premise() -> None:
    """The "fallback" paths rely on point having no binary codec."""
    assert "point" not in _core.binary_types()
    assert "box" not in _core.binary_types()


def _write_params() -> list[Any]:
    return [
        pytest.param(case, path, id=f"{case.id}-{path}")
        for case in WRITE_CASES
        for path in WRITE_PATHS
    ]


@pytest.mark.parametrize(("case", "path"), _write_params())
def test_write_matrix(
    case: WriteCase,
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    oids: dict[str, int],
    twin: str,
) -> None:
    """Every value of the case stores what psycopg 3 stores, on this path."""
    expected = reference(judge, case)
    table = f"{case.table}_{path}_{twin}"
    fresh(judge, table, f"id int4, v {case.ddl}, p point")
    element_oids = [None, oids[case.element]] if case.element else None
    writer = Writer(path, conn, pg_server, element_oids=element_oids)
    rows = [(i, v.value) for i, v in enumerate(case.values)]
    labels = {i: v.label for i, v in enumerate(case.values)}
    problems = write_and_compare(
        judge,
        writer,
        table,
        ("id", "v"),
        ("int4", case.copy_type),
        rows,
        {"v": expected},
        labels,
    )
    judge.execute(f"DROP TABLE IF EXISTS {table}")
    assert not problems, f"{case.id} via {path}:\n  " + "\n  ".join(problems)


# -- NULL markers -------------------------------------------------------------------

NULL_MARKERS = [
    # (id, statement options, null=, the value that equals the marker)
    ("text_NA", " (NULL 'NA')", "NA", "NA", "text"),
    ("text_default", "", None, "\\N", "text"),
    ("csv_NA", " (FORMAT csv, NULL 'NA')", "NA", "NA", "csv"),
    ("csv_empty", " (FORMAT csv, NULL '')", "", "", "csv"),
    ("csv_default", " (FORMAT csv)", None, "", "csv"),
]


@pytest.mark.parametrize("typed", [True, False], ids=["types", "untyped"])
@pytest.mark.parametrize(
    ("options", "null", "marker", "fmt"),
    [pytest.param(*m[1:], id=m[0]) for m in NULL_MARKERS],
)
def test_null_marker_value_is_not_null(
    options: str,
    null: str | None,
    marker: str,
    fmt: str,
    typed: bool,
    conn: pcf.Connection,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    """A value equal to the NULL marker is escaped / quoted, never NULL."""
    table = f"nm_{re.sub(r'[^a-z]', '', options.lower())}_{int(typed)}_{twin}"
    fresh(
        judge,
        table,
        f"id int4, t text, vc varchar, e {ENUM}, d {DOMAIN_TEXT}, a text[]",
    )
    arr = [marker, None, "NA", "NULL", ""]
    rows = [
        (1, marker, marker, "NA", marker, arr),
        (2, None, None, None, None, None),
        (3, "NULL", "NA", "NULL", "", [marker]),
    ]
    types = ["int4", "text", "varchar", "text", "text", "text[]"] if typed else None
    sql = f"COPY {table} (id, t, vc, e, d, a) FROM STDIN{options}"
    with conn.copy_in(sql, types=types, null=null) as cp:
        assert cp.format == fmt
        cp.write_rows(rows)
    got = judge.execute(
        f"SELECT id, t, vc, e::text, d, a::text FROM {table} ORDER BY id"
    ).fetchall()
    want_arr = scalar(judge, "SELECT %s::text[]::text", (arr,))
    want_arr3 = scalar(judge, "SELECT %s::text[]::text", ([marker],))
    assert got == [
        (1, marker, marker, "NA", marker, want_arr),
        (2, None, None, None, None, None),
        (3, "NULL", "NA", "NULL", "", want_arr3),
    ]


def test_text_null_empty_string_is_an_error(
    conn: pcf.Connection, judge: psycopg.Connection[Any], twin: str
) -> None:
    """Text format with NULL '' cannot tell "" from NULL (it has no quoting):
    an EncodeError, never a NULL stored in the value's place."""
    table = f"nm_text_empty_{twin}"
    fresh(judge, table, "id int4, t text")
    for types in (["int4", "text"], None):
        with pytest.raises(pcf.EncodeError) as info:
            with conn.copy_in(
                f"COPY {table} (id, t) FROM STDIN (NULL '')", types=types, null=""
            ) as cp:
                cp.write_rows([(1, "a"), (2, "")])
        assert info.value.row_index == 1
        assert conn.execute(f"SELECT count(*) FROM {table}").rows == [("0",)]


# -- session TimeZone: a naive datetime into timestamptz is UTC on every path -------


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_naive_timestamptz_is_utc_under_session_timezone(
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    table = f"tz_{path}_{twin}"
    fresh(judge, table, "id int4, v timestamptz, w timestamp, a timestamptz[], p point")
    setup = "SET TimeZone = 'America/New_York'"
    writer = Writer(path, conn, pg_server, setup_sql=setup)
    writer.setup()
    winter, summer = dt.datetime(2020, 1, 1, 12), dt.datetime(2020, 7, 1, 12, 0, 0, 5)
    rows = [
        (0, winter, winter, [winter, None]),
        (1, summer, summer, [summer]),
        (2, summer.replace(tzinfo=UTC), summer, None),
    ]
    expected: dict[str, dict[int, Any]] = {
        "v": {
            0: "2020-01-01 12:00:00+00",
            1: "2020-07-01 12:00:00.000005+00",
            2: "2020-07-01 12:00:00.000005+00",
        },
        "w": {
            0: "2020-01-01 12:00:00",
            1: "2020-07-01 12:00:00.000005",
            2: "2020-07-01 12:00:00.000005",
        },
        "a": {
            0: '{"2020-01-01 12:00:00+00",NULL}',
            1: '{"2020-07-01 12:00:00.000005+00"}',
            2: None,
        },
    }
    problems = write_and_compare(
        judge,
        writer,
        table,
        ("id", "v", "w", "a"),
        ("int4", "timestamptz", "timestamp", "timestamptz[]"),
        rows,
        expected,
        {0: "winter", 1: "summer", 2: "aware"},
    )
    assert not problems, f"via {path} under America/New_York:\n  " + "\n  ".join(
        problems
    )


# -- CodecOptions(infinity=True): the Python min / max are +-infinity ---------------


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_infinity_option_writes_infinity(
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    table = f"inf_{path}_{twin}"
    fresh(
        judge,
        table,
        "id int4, d date, ts timestamp, tz timestamptz, da date[], p point",
    )
    writer = Writer(path, conn, pg_server, options=CodecOptions(infinity=True))
    rows = [
        (0, dt.date.max, dt.datetime.max, dt.datetime.max, [dt.date.max, dt.date.min]),
        (1, dt.date.min, dt.datetime.min, dt.datetime.min, None),
        (2, dt.date.max, dt.datetime.max, dt.datetime.max.replace(tzinfo=UTC), None),
        (
            3,
            dt.date(2000, 1, 2),
            dt.datetime(2000, 1, 2),
            dt.datetime(2000, 1, 2, tzinfo=UTC),
            None,
        ),
    ]
    expected: dict[str, dict[int, Any]] = {
        "d": {0: "infinity", 1: "-infinity", 2: "infinity", 3: "2000-01-02"},
        "ts": {0: "infinity", 1: "-infinity", 2: "infinity", 3: "2000-01-02 00:00:00"},
        "tz": {
            0: "infinity",
            1: "-infinity",
            2: "infinity",
            3: "2000-01-02 00:00:00+00",
        },
        "da": {0: "{infinity,-infinity}", 1: None, 2: None, 3: None},
    }
    problems = write_and_compare(
        judge,
        writer,
        table,
        ("id", "d", "ts", "tz", "da"),
        ("int4", "date", "timestamp", "timestamptz", "date[]"),
        rows,
        expected,
        {0: "max", 1: "min", 2: "max_aware", 3: "finite"},
    )
    assert not problems, f"via {path} with infinity=True:\n  " + "\n  ".join(problems)


# -- values that cannot be stored: EncodeError on every path -----------------------


def _bad_write_params() -> list[Any]:
    return [
        pytest.param(bad, path, id=f"{bad.id}-{path}")
        for bad in BAD_WRITES
        for path in WRITE_PATHS
    ]


@pytest.mark.parametrize(("bad", "path"), _bad_write_params())
def test_unstorable_value_raises_encode_error(
    bad: BadWrite,
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    """An EncodeError naming row, column, PostgreSQL and Python type, on every
    path (never a silent change, never a different answer per path); nothing
    is stored and the connection stays usable."""
    table = f"badw_{bad.id}_{path}_{twin}"
    fresh(judge, table, f"id int4, v {bad.ddl}, p point")
    writer = Writer(path, conn, pg_server)
    with pytest.raises(Exception) as info:
        writer.write(
            table, ("id", "v"), ("int4", bad.copy_type), [(0, bad.good), (1, bad.bad)]
        )
        stored = server_text(judge, table)
        pytest.fail(f"no error; the server holds {stored!r}")
    exc = info.value
    assert isinstance(exc, pcf.EncodeError), _describe(exc)
    assert exc.row_index == 1, f"row_index={exc.row_index!r}"
    assert exc.column in (1, "v"), f"column={exc.column!r}"
    assert exc.pg_type is not None and bad.copy_type.rstrip("[]") in exc.pg_type, (
        f"pg_type={exc.pg_type!r}"
    )
    assert exc.value_type == type(bad.bad).__name__, f"value_type={exc.value_type!r}"
    assert server_text(judge, table) == {}
    if not conn.closed:
        assert conn.execute("SELECT 1").rows == [("1",)]
    judge.execute(f"DROP TABLE {table}")


# -- (b) the differential read test -------------------------------------------------

_READ_REFERENCE: dict[str, list[Any]] = {}


def _read_table(judge: psycopg.Connection[Any], case: ReadCase) -> str:
    """The case's rows, inserted once per session by SQL literals."""
    table = case.table
    if case.id not in _READ_REFERENCE:
        fresh(judge, table, f"id int4, v {case.ddl}, p point")
        values = ", ".join(f"({i}, {r.sql})" for i, r in enumerate(case.literals))
        judge.execute(f"INSERT INTO {table} (id, v) VALUES {values}")
        got = judge.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall()
        _READ_REFERENCE[case.id] = [v for _, v in got]
    return table


def read_rows(
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    table: str,
    copy_type: str | None,
    *,
    options: CodecOptions | None = None,
    delimiter: str = ",",
) -> list[tuple[Any, ...]]:
    """(id, v) rows of the table read through one path, sorted by id."""
    query = f"SELECT id, v FROM {table} ORDER BY id"
    if path == "records_out":
        rows = list(conn.copy_records_out(table, columns=("id", "v"), options=options))
    elif path == "query_out":
        rows = list(conn.copy_query_out(query, options=options))
    elif path == "fallback":
        rows = [
            r[:2]
            for r in conn.copy_records_out(
                table, columns=("id", "v", "p"), options=options
            )
        ]
    elif path in COPY_OUT_PATHS:
        fmt = {
            "copy_out_binary": " (FORMAT binary)",
            "copy_out_text": "",
            "copy_out_csv": " (FORMAT csv)",
        }[path]
        assert copy_type is not None
        with conn.copy_out(
            f"COPY ({query}) TO STDOUT{fmt}",
            types=["int4", copy_type],
            options=options,
            delimiters=[",", delimiter],
        ) as out:
            rows = list(out)
    elif path in ("adapter_table", "adapter_query"):
        with psycopg.connect(pg_server.dsn, autocommit=True) as pgc:
            source = table if path == "adapter_table" else query
            columns = ("id", "v") if path == "adapter_table" else None
            rows = list(pcf.copy_records_out(pgc, source, columns, options=options))
    elif path == "async_records_out":

        async def go() -> list[tuple[Any, ...]]:
            aconn = await pcf.connect_async(pg_server.dsn)
            try:
                return [
                    r
                    async for r in aconn.copy_records_out(
                        table, columns=("id", "v"), options=options
                    )
                ]
            finally:
                await aconn.close()

        rows = asyncio.run(go())
    else:  # pragma: no cover
        raise AssertionError(path)
    return sorted(rows, key=lambda r: r[0])


def _read_params() -> list[Any]:
    return [
        pytest.param(case, path, id=f"{case.id}-{path}")
        for case in READ_CASES
        for path in READ_PATHS
        if case.copy_type is not None or path not in COPY_OUT_PATHS
    ]


@pytest.mark.parametrize(("case", "path"), _read_params())
def test_read_matrix(
    case: ReadCase,
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
) -> None:
    """Every path decodes what psycopg 3's default loaders return."""
    table = _read_table(judge, case)
    theirs = _READ_REFERENCE[case.id]
    expected = []
    for r, their in zip(case.literals, theirs, strict=True):
        if r.theirs is not NO:  # keeps the documented difference honest
            assert canon(their) == canon(r.theirs), f"psycopg changed for {r.label}"
        expected.append(canon(their if r.ours is NO else r.ours))
    rows = read_rows(
        path, conn, pg_server, table, case.copy_type, delimiter=case.delimiter
    )
    assert [r[0] for r in rows] == list(range(len(case.literals)))
    problems = [
        f"{r.label} ({r.sql[:60]}): got {canon(row[1])!r:.300}, expected {want!r:.300}"
        for r, row, want in zip(case.literals, rows, expected, strict=True)
        if canon(row[1]) != want
    ]
    assert not problems, f"{case.id} via {path}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", READ_PATHS)
def test_read_infinity_with_option(
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    """With infinity=True, +-infinity read as the Python type's max / min.

    psycopg 3 raises DataError for these (no such option): no reference.
    """
    table = f"rd_inf_{twin}"
    cases = [
        ("date", dt.date.max, dt.date.min),
        ("timestamp", dt.datetime.max, dt.datetime.min),
        (
            "timestamptz",
            dt.datetime.max.replace(tzinfo=UTC),
            dt.datetime.min.replace(tzinfo=UTC),
        ),
    ]
    problems = []
    for typ, high, low in cases:
        fresh(judge, table, f"id int4, v {typ}, p point")
        judge.execute(
            f"INSERT INTO {table} (id, v) VALUES (0, 'infinity'), (1, '-infinity')"
        )
        try:
            rows = read_rows(
                path, conn, pg_server, table, typ, options=CodecOptions(infinity=True)
            )
        except Exception as exc:
            problems.append(f"{typ}: {_describe(exc)}")
            continue
        got = [canon(v) for _, v in rows]
        if got != [canon(high), canon(low)]:
            problems.append(f"{typ}: got {got}, expected {[canon(high), canon(low)]}")
    assert not problems, f"via {path}:\n  " + "\n  ".join(problems)


def _bad_params() -> list[Any]:
    return [
        pytest.param(bad, path, id=f"{bad.id}-{path}")
        for bad in BAD_READS
        for path in READ_PATHS
    ]


GOOD_LITERAL = {
    "date": "'2000-01-01'",
    "timestamp": "'2000-01-01 00:00'",
    "timestamptz": "'2000-01-01 00:00+00'",
    "time": "'12:00'",
    "interval": "'1 day'",
}


@pytest.mark.parametrize(("bad", "path"), _bad_params())
def test_unrepresentable_value_raises_decode_error(
    bad: Bad,
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    """A server value Python cannot hold is a DecodeError (row, column, type)
    on every path -- never a ValueError / OverflowError, never a wrong value --
    and the connection stays usable."""
    table = f"bad_{bad.id}_{twin}"
    fresh(judge, table, f"id int4, v {bad.ddl}, p point")
    judge.execute(
        f"INSERT INTO {table} (id, v) VALUES (0, {GOOD_LITERAL[bad.ddl]}::{bad.ddl}), (1, {bad.sql})"
    )
    with pytest.raises(Exception) as info:
        rows = read_rows(path, conn, pg_server, table, bad.copy_type)
        pytest.fail(f"no error; got {rows!r}")
    exc = info.value
    assert isinstance(exc, pcf.DecodeError), f"{_describe(exc)} ({type(exc).__mro__})"
    assert exc.row_index == 1, f"row_index={exc.row_index!r}"
    assert exc.column in (1, "v"), f"column={exc.column!r}"
    assert exc.pg_type is not None and bad.ddl in exc.pg_type, (
        f"pg_type={exc.pg_type!r}"
    )
    assert conn.execute("SELECT 1").rows == [("1",)]
    judge.execute(f"DROP TABLE {table}")


# -- (c) regressions -----------------------------------------------------------------


@pytest.fixture
def other(pg_server: Any) -> Iterator[pcf.Connection]:
    """A second connection, for the ALTER TABLE the first one does not see."""
    with pg_server.connect() as c:
        c.execute("SET TimeZone = 'UTC'")
        yield c


def _adapter_conn(pg_server: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(pg_server.dsn, autocommit=True)


@pytest.mark.parametrize("api", ["connection", "adapter"])
def test_stale_plan_int8_to_float8(
    api: str,
    conn: pcf.Connection,
    other: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    """ALTER ... TYPE by another connection between two copies changes no data
    (a stale int8 plan would store 2 as 1e-323 and read 1.0 as
    4607182418800017408)."""
    table = f"stale_num_{api}_{twin}"
    fresh(judge, table, "id int4, v int8")
    pgc = _adapter_conn(pg_server) if api == "adapter" else None

    def copy_in(rows: list[tuple[Any, ...]]) -> None:
        if pgc is None:
            conn.copy_records(table, rows, columns=("id", "v"))
        else:
            pcf.copy_records(pgc, table, rows, columns=["id", "v"])

    def copy_out() -> list[tuple[Any, ...]]:
        if pgc is None:
            return sorted(conn.copy_records_out(table, columns=("id", "v")))
        return sorted(pcf.copy_records_out(pgc, table, ["id", "v"]))

    try:
        copy_in([(1, 1)])
        assert copy_out() == [(1, 1)]
        other.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE float8")
        got = copy_out()
        assert [canon(v) for v in got] == [canon((1, 1.0))], f"stale read: {got!r}"
        other.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE int8")
        copy_in([(2, 2)])
        other.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE float8")
        copy_in([(3, 3)])
        assert server_text(judge, table) == {1: "1", 2: "2", 3: "3"}
    finally:
        if pgc is not None:
            pgc.close()


@pytest.mark.parametrize("api", ["connection", "adapter"])
def test_stale_plan_timestamp_to_timestamptz(
    api: str,
    conn: pcf.Connection,
    other: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    table = f"stale_ts_{api}_{twin}"
    fresh(judge, table, "id int4, v timestamp")
    pgc = _adapter_conn(pg_server) if api == "adapter" else None
    when = dt.datetime(2020, 1, 1, 12)

    def copy_in(rows: list[tuple[Any, ...]]) -> None:
        if pgc is None:
            conn.copy_records(table, rows, columns=("id", "v"))
        else:
            pcf.copy_records(pgc, table, rows, columns=["id", "v"])

    def copy_out() -> list[tuple[Any, ...]]:
        if pgc is None:
            return sorted(conn.copy_records_out(table, columns=("id", "v")))
        return sorted(pcf.copy_records_out(pgc, table, ["id", "v"]))

    try:
        copy_in([(1, when)])
        assert copy_out() == [(1, when)]
        other.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE timestamptz")
        got = copy_out()
        assert [canon(r) for r in got] == [canon((1, when.replace(tzinfo=UTC)))], got
        other.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE timestamp")
        copy_in([(2, when)])
        other.execute(f"ALTER TABLE {table} ALTER COLUMN v TYPE timestamptz")
        copy_in([(3, when)])  # naive into timestamptz: UTC
        assert server_text(judge, table) == {
            1: "2020-01-01 12:00:00+00",
            2: "2020-01-01 12:00:00+00",
            3: "2020-01-01 12:00:00+00",
        }
    finally:
        if pgc is not None:
            pgc.close()


SNIFF = [
    # (id, table name, its columns, the COPY statement)
    ("table_named_csv", "csv", "id int4, v text", "COPY csv FROM STDIN"),
    ("table_named_binary", '"binary"', "id int4, v text", 'COPY "binary" FROM STDIN'),
    (
        "columns_format_csv",
        "sniff_fc",
        "format int4, csv text",
        "COPY sniff_fc (format, csv) FROM STDIN",
    ),
    (
        "columns_format_binary_with_options",
        "sniff_fb",
        'format int4, "binary" text',
        "COPY sniff_fb (format, \"binary\") FROM STDIN WITH (DELIMITER E'\\t')",
    ),
]


@pytest.mark.parametrize("typed", [True, False], ids=["types", "untyped"])
@pytest.mark.parametrize(
    ("name", "ddl", "sql"), [pytest.param(*s[1:], id=s[0]) for s in SNIFF]
)
def test_format_sniffing_names_are_not_options(
    name: str,
    ddl: str,
    sql: str,
    typed: bool,
    conn: pcf.Connection,
    judge: psycopg.Connection[Any],
) -> None:
    """A table or column named csv / binary / format is a name: text format."""
    fresh(judge, name, ddl)
    rows = [(1, 'a"b,c'), (2, "tab\there"), (3, None), (4, "")]
    with conn.copy_in(sql, types=["int4", "text"] if typed else None) as cp:
        assert cp.format == "text"
        cp.write_rows(rows)
    got = judge.execute(f"SELECT * FROM {name} ORDER BY 1").fetchall()
    judge.execute(f"DROP TABLE {name}")
    assert got == rows


def test_copy_records_accepts_dicts(
    conn: pcf.Connection, pg_server: Any, judge: psycopg.Connection[Any], twin: str
) -> None:
    """Connection.copy_records takes dicts as pgcopy_fast.copy_records does."""
    table = f"dicts_{twin}"
    fresh(judge, table, "id int4, v text, w float8")
    n = conn.copy_records(
        table, [{"id": 1, "v": "a", "w": 1.5}, {"id": 2, "v": None, "w": None}]
    )
    assert n == 2
    # with columns: keys matched by name, whatever the dict's order
    n = conn.copy_records(
        table, [{"w": 2.5, "id": 3, "v": "c"}], columns=("id", "v", "w")
    )
    assert n == 1
    n = conn.copy_records(table, [{"v": "d", "id": 4}], columns=("v", "id"))
    assert n == 1
    got = judge.execute(f"SELECT id, v, w FROM {table} ORDER BY id").fetchall()
    assert got == [(1, "a", 1.5), (2, None, None), (3, "c", 2.5), (4, "d", None)]
    # the adapter, for comparison: the same rows the same way
    with psycopg.connect(pg_server.dsn, autocommit=True) as pgc:
        judge.execute(f"TRUNCATE {table}")
        pcf.copy_records(
            pgc, table, [{"id": 1, "v": "a", "w": 1.5}, {"id": 2, "v": None, "w": None}]
        )
    assert (
        judge.execute(f"SELECT id, v, w FROM {table} ORDER BY id").fetchall() == got[:2]
    )


@pytest.mark.parametrize(
    ("fmt", "sql"),
    [
        ("text", "COPY (SELECT 1, true, NULL::int4, 'x'::text) TO STDOUT"),
        ("csv", "COPY (SELECT 1, true, NULL::int4, 'x'::text) TO STDOUT (FORMAT csv)"),
        (
            "binary",
            "COPY (SELECT 1, true, NULL::int4, 'x'::text) TO STDOUT (FORMAT binary)",
        ),
    ],
)
def test_typed_copy_out_gives_values(fmt: str, sql: str, conn: pcf.Connection) -> None:
    """types= on a text / CSV copy_out decodes typed values, as binary does."""
    with conn.copy_out(sql, types=["int4", "bool", "int4", "text"]) as out:
        assert out.format == fmt
        rows = list(out)
    assert rows == [(1, True, None, "x")]
    assert [type(v) for v in rows[0]] == [int, bool, type(None), str]


BIG = 2**70


@pytest.mark.parametrize(
    "path",
    [
        "records_out",
        "query_out",
        "copy_out_text",
        "copy_out_binary",
        "fallback",
        "adapter_table",
    ],
)
def test_json_big_integers_exact(
    path: str,
    conn: pcf.Connection,
    pg_server: Any,
    judge: psycopg.Connection[Any],
    twin: str,
) -> None:
    """2**70 in jsonb round-trips as the int 2**70 (whatever JSON library
    is installed); an integral float stays a float."""
    table = f"json_big_{path}_{twin}"
    fresh(judge, table, "id int4, v jsonb, p point")
    values = [BIG, {"a": BIG, "b": [-BIG]}, 12345678901234567890, 1.0, [1.5, BIG]]
    conn.copy_records(table, list(enumerate(values)), columns=("id", "v"))
    assert server_text(judge, table) == {
        0: str(BIG),
        1: f'{{"a": {BIG}, "b": [-{BIG}]}}',
        2: "12345678901234567890",
        3: "1.0",
        4: f"[1.5, {BIG}]",
    }
    got = [v for _, v in read_rows(path, conn, pg_server, table, "jsonb")]
    assert [canon(v) for v in got] == [canon(v) for v in values]
