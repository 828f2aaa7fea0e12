"""The ``pgcopy-fast`` command: load and dump files, and run the benchmark.

    pgcopy-fast load FILE... | - --table T [--format F] [--header] [--jobs N] ...
    pgcopy-fast dump --table T | --query SQL [--format F] [-o FILE] ...
    pgcopy-fast server start | stop | status
    pgcopy-fast bench [--rows N] ...
    pgcopy-fast version

Formats: CSV, text and binary COPY files, and Parquet, Arrow IPC and NDJSON
through the columnar path (cli/files.py); ``.gz`` / ``.zst`` by extension
(cli/packed.py).  One load is all or nothing: one transaction, or with
``--jobs`` a staging table moved in one (``_Sink``).  A dump's file is
moved into place only once it is whole.

Connection settings come from ``--dsn``, else ``$PGCOPY_FAST_DSN``, the
``PG*`` variables and ``~/.pgpass``, as ``connect()`` reads them;
``--temp-server`` runs the command against a throwaway local PostgreSQL
instead (removed at exit).  Progress goes to stderr when it is a terminal
(with tqdm, if installed); one summary line follows every load and dump,
in a pipe too, unless ``-q``.  Exit status: 0 on success, 1 on a failure
(with a one-line error), 2 on bad usage, 130 / 143 after Ctrl-C / SIGTERM.

``load --header`` reads the header line itself (CSV or text syntax, with
the given delimiter and quote) and copies into the columns it names, in
its order; it is checked against the table (and ``--columns``) first.  On
PostgreSQL 15 and later the COPY says ``HEADER MATCH``, so the server
checks the header against that column list too; older servers are sent
the rows without the header line.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import glob
import io
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from .. import __impl__, __version__
from ..catalog.queries import (
    parse_table,
    quote_ident,
    quote_table,
    sql_literal,
)
from ..connection import Connection, connect
from ..errors import DatabaseError, Error, InterfaceError
from ..parallel.jobs import Job, fan_out
from ..parallel.load import NOTHING_COMMITTED, Staging
from ..parallel.read import export_snapshot, import_snapshot, partition_predicates
from ..parallel.text import Chunk, last_row_end, row_chunks
from ..protocol.statement import one_statement
from ..tempserver import ServerNotFound, TempServer
from . import files, packed, rejects

__all__ = ["main"]

#: Bytes read from the input per write: a COPY batch's worth.
CHUNK = 256 * 1024
_LINE = rejects.LINE
_COLUMN = re.compile(r"\bline \d+, column ([^:,]+)")


class CliError(Exception):
    """A failure to report in one line, with exit status 1."""


# -- connections -----------------------------------------------------------


@contextlib.contextmanager
def _connection(args: argparse.Namespace) -> Iterator[Connection]:
    with _dsn(args) as dsn, _connect(dsn) as conn:
        yield conn


def _connect(dsn: str) -> Connection:
    try:
        return connect(dsn)
    except Error as exc:
        raise CliError(f"cannot connect: {_first_line(exc)}") from exc


@contextlib.contextmanager
def _dsn(args: argparse.Namespace) -> Iterator[str]:
    if getattr(args, "temp_server", False):
        _say(args, "starting a throwaway PostgreSQL server (removed at exit)")
        try:
            with TempServer() as srv:
                yield srv.dsn
        except ServerNotFound as exc:
            raise CliError(str(exc)) from exc
        return
    yield args.dsn or ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return re.sub(r"^(ERROR|FATAL):\s+", "", line)


def _say(args: argparse.Namespace, message: str) -> None:
    if sys.stderr.isatty() and not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


# -- files -----------------------------------------------------------------


def _open_input(path: str) -> tuple[IO[bytes], int | None]:
    """The input as a binary stream, and its size when known (for progress)."""
    try:
        return packed.open_input(path)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from exc
    except packed.PackedError as exc:
        raise CliError(str(exc)) from exc


@contextlib.contextmanager
def _progress(args: argparse.Namespace, total: int | None, what: str) -> Iterator[Any]:
    """``advance(data)``: counts bytes for the summary line, and moves a tqdm
    bar (bytes, with the rows beside) on an interactive stderr.
    """
    bar = None
    args.bytes_done = getattr(args, "bytes_done", 0)  # several files: a total
    args.lines_done = getattr(args, "lines_done", 0)
    if sys.stderr.isatty() and not args.quiet:
        try:
            from tqdm import tqdm

            bar = tqdm(
                total=total, unit="B", unit_scale=True, desc=what, file=sys.stderr
            )
        except ImportError:
            bar = None

    def advance(data: bytes | int) -> None:
        size = data if isinstance(data, int) else len(data)
        args.bytes_done += size
        if bar is not None:  # lines are counted only for a bar to show them
            if not isinstance(data, int):
                args.lines_done += data.count(b"\n")
            bar.set_postfix_str(f"{args.lines_done:,} rows", refresh=False)
            bar.update(size)

    try:
        yield advance
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def _row_progress(
    args: argparse.Namespace, total: int | None, what: str
) -> Iterator[Any]:
    """``count(batch)`` for a tqdm bar in rows on an interactive stderr, else None.

    For the columnar files, whose size in rows (a Parquet file's metadata)
    says more than their size in bytes.
    """
    if not sys.stderr.isatty() or args.quiet:
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    bar = tqdm(total=total, unit=" rows", unit_scale=True, desc=what, file=sys.stderr)

    def count(batch: Any) -> Any:
        bar.update(batch.num_rows)
        return batch

    try:
        yield count
    finally:
        bar.close()


# -- COPY statements ------------------------------------------------------------------


def _options_sql(
    conn: Connection, args: argparse.Namespace, header: bool | str | None
) -> str:
    """The COPY options; ``header`` True for ``HEADER``, a str for ``HEADER str``."""
    parts = [f"FORMAT {args.format}"]
    if header:
        parts.append("HEADER" if header is True else f"HEADER {header}")
    for name in ("delimiter", "null", "quote", "escape", "encoding"):
        value = getattr(args, name, None)
        if value is not None:
            parts.append(f"{name.upper()} {sql_literal(conn, value)}")
    for name in ("force_null", "force_not_null"):
        value = getattr(args, name, None)
        if value:
            cols = ", ".join(
                quote_ident(c.strip()) for c in value.split(",") if c.strip()
            )
            parts.append(f"{name.upper()} ({cols})")
    return "(" + ", ".join(parts) + ")"


def _table_sql(args: argparse.Namespace) -> str:
    """The table, quoted for SQL."""
    try:
        return quote_table(*parse_table(args.table))
    except Error as exc:
        raise CliError(str(exc)) from exc


def _target(args: argparse.Namespace, columns: list[str] | None = None) -> str:
    """The table (and column list: ``columns``, else ``--columns``) to copy."""
    return _table_sql(args) + _column_list(args, columns)


def _column_list(args: argparse.Namespace, columns: list[str] | None = None) -> str:
    if columns is None and args.columns:
        columns = _columns(args)
    if not columns:
        return ""
    return " (" + ", ".join(quote_ident(c) for c in columns) + ")"


def _columns(args: argparse.Namespace) -> list[str]:
    return [c.strip() for c in args.columns.split(",") if c.strip()]


def _quote_byte(args: argparse.Namespace) -> bytes:
    """The CSV quote that keeps a newline inside a field (b"" for text)."""
    return (args.quote or '"').encode() if args.format == "csv" else b""


def _select_list(args: argparse.Namespace) -> str:
    """``--columns`` as a SELECT list (``*`` without it)."""
    return ", ".join(map(quote_ident, _columns(args))) if args.columns else "*"


def _describe_error(source: str, exc: BaseException, line_offset: int = 0) -> str:
    """``FILE: line N: column C: message`` from a server error's context.

    As psql shows it: the line of the input and the column the server names.
    """
    match = _LINE.search(getattr(exc, "context", None) or "")
    if match:
        line = int(match.group(1)) + line_offset
        return f"{source}: line {line}: {_server_words(exc)}"
    return f"{source}: {_server_words(exc)}"


def _server_words(exc: BaseException) -> str:
    """``column C: message``: a bad row's error without its line (a reject's)."""
    column = _COLUMN.search(getattr(exc, "context", None) or "")
    where = f"column {column.group(1)}: " if column else ""
    return f"{where}{_first_line(exc)}"


# -- the header line of a load ----------------------------------------------------

#: The most bytes read to find the end of the header (or of the first row).
HEADER_LIMIT = 1 << 20
_BOM = b"\xef\xbb\xbf"
_TEXT_ESCAPES = {
    ord("b"): 8,
    ord("f"): 12,
    ord("n"): 10,
    ord("r"): 13,
    ord("t"): 9,
    ord("v"): 11,
}
_OCTAL = frozenset(b"01234567")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")


@dataclass
class Header:
    """The first record of a load's input, read before the COPY starts."""

    names: list[str]
    bom: int  # bytes of a UTF-8 byte order mark before it (0 or 3)
    end: int  # offset just past its line end
    row_fields: int | None  # fields in the first data row, when it was read


def _parse_record(
    buf: bytes,
    start: int,
    fmt: str,
    delimiter: bytes,
    quote: bytes,
    null: bytes,
    at_eof: bool,
) -> tuple[list[bytes | None], int] | None:
    """One record of ``buf`` from ``start``, read as the server reads it.

    Returns its fields (None for a NULL) and the offset past its line end,
    or None when ``buf`` stops before the record does (and is not the
    whole input).  CSV: quotes anywhere in a field, a doubled quote inside
    quotes is one, a quoted newline is data, an unquoted NULL string is
    NULL.  Text: backslash escapes (``\\t``, octal, ``\\x``, any other
    character literally), a field written as the NULL string is NULL.
    Either ends a line at LF, CR LF or CR.
    """
    csv = fmt == "csv"
    d, q, bsl, lf, cr = delimiter[0], quote[0], 0x5C, 0x0A, 0x0D
    n = len(buf)
    fields: list[bytes | None] = []
    cur = bytearray()
    field_start = i = start
    quoted = in_quote = False

    def finish(end: int) -> None:
        raw = buf[field_start:end]
        fields.append(None if raw == null and not quoted else bytes(cur))

    while True:
        if i >= n:
            if not at_eof:
                return None
            if in_quote:
                raise CliError("unterminated CSV quoted field")
            finish(i)
            return fields, n
        c = buf[i]
        if csv and in_quote:
            if c == q:
                if i + 1 >= n and not at_eof:
                    return None
                if i + 1 < n and buf[i + 1] == q:
                    cur.append(q)
                    i += 2
                    continue
                in_quote = False
            else:
                cur.append(c)
            i += 1
            continue
        if csv and c == q:
            in_quote = quoted = True
            i += 1
            continue
        if not csv and c == bsl:
            if i + 1 >= n:
                if not at_eof:
                    return None
                cur.append(c)
                i += 1
                continue
            c2 = buf[i + 1]
            if (c2 in _OCTAL or c2 == ord("x")) and i + 4 > n and not at_eof:
                return None  # the escape's digits may go on past the buffer
            i += 2
            if c2 in _OCTAL:
                value = c2 - 0x30
                for _ in range(2):
                    if i < n and buf[i] in _OCTAL:
                        value = value * 8 + buf[i] - 0x30
                        i += 1
                    else:
                        break
                cur.append(value & 0xFF)
            elif c2 == ord("x") and i < n and buf[i] in _HEX:
                j = i + 1 if i + 1 < n and buf[i + 1] in _HEX else i
                cur.append(int(buf[i : j + 1], 16))
                i = j + 1
            else:
                cur.append(_TEXT_ESCAPES.get(c2, c2))
            continue
        if c == d:
            finish(i)
            cur = bytearray()
            quoted = False
            i += 1
            field_start = i
            continue
        if c == lf:
            finish(i)
            return fields, i + 1
        if c == cr:
            if i + 1 >= n and not at_eof:
                return None
            finish(i)
            return fields, i + 2 if i + 1 < n and buf[i + 1] == lf else i + 1
        cur.append(c)
        i += 1


def _format_bytes(args: argparse.Namespace) -> tuple[bytes, bytes, bytes]:
    """The delimiter, quote and NULL string of a load, as the server defaults them."""
    csv = args.format == "csv"
    delimiter = args.delimiter if args.delimiter is not None else "," if csv else "\t"
    quote = args.quote if args.quote is not None else '"'
    null = args.null if args.null is not None else "" if csv else "\\N"
    if len(delimiter.encode()) != 1 or (csv and len(quote.encode()) != 1):
        raise CliError("--delimiter and --quote must be single one-byte characters")
    return delimiter.encode(), quote.encode(), null.encode()


def _read_header(
    stream: IO[bytes], args: argparse.Namespace, source: str
) -> tuple[bytes, Header | None]:
    """Read the header (and the first data row, if it is short) from ``stream``.

    Returns the bytes read, which the caller sends on, and the header;
    None for an empty input.
    """
    delimiter, quote, null = _format_bytes(args)
    buf = b""
    eof = False
    header: tuple[list[bytes | None], int] | None = None
    bom = 0
    row: tuple[list[bytes | None], int] | None = None
    try:
        while True:
            if not eof and (header is None or len(buf) < HEADER_LIMIT):
                chunk = stream.read(CHUNK)
                eof = not chunk
                buf += chunk
            bom = len(_BOM) if buf.startswith(_BOM) else 0
            if header is None:
                header = _parse_record(
                    buf, bom, args.format, delimiter, quote, null, eof
                )
                if header is None and len(buf) >= HEADER_LIMIT:
                    raise CliError(
                        f"{source}: the header line does not end within "
                        f"{HEADER_LIMIT >> 20} MiB (an unbalanced quote?)"
                    )
            if header is not None:
                try:
                    row = _parse_record(
                        buf, header[1], args.format, delimiter, quote, null, eof
                    )
                except CliError:  # the server says where, in its own words
                    row = None
                if row is not None or eof or len(buf) >= HEADER_LIMIT:
                    break
            elif eof:
                break
    except CliError as exc:
        if str(exc).startswith(source):
            raise
        raise CliError(f"{source}: the header line: {exc}") from exc
    except (OSError, EOFError) as exc:
        raise CliError(f"{source}: {exc}") from exc
    if not buf[bom:]:
        return buf, None
    assert header is not None
    fields, end = header
    names = []
    for number, field in enumerate(fields, 1):
        if field is None:
            raise CliError(
                f"the header of {source}: field {number} is "
                + ("empty" if not null else "the NULL string")
                + ", not a column name"
            )
        try:
            name = field.decode()
        except UnicodeDecodeError:
            raise CliError(
                f"the header of {source}: field {number} is not valid UTF-8"
            ) from None
        if not name or "\x00" in name:
            raise CliError(
                f"the header of {source}: field {number} is "
                + ("empty" if not name else "not a valid column name")
            )
        names.append(name)
    row_fields = None
    if row is not None and not (end >= len(buf) and eof):
        values, row_end = row
        if buf[end:row_end].rstrip(b"\r\n") != b"\\.":  # not the end marker
            row_fields = len(values)
    return buf, Header(names, bom, end, row_fields)


@dataclass
class TableColumn:
    """What a header is checked against: one column of the target table."""

    name: str
    required: bool  # NOT NULL, and nothing fills it in when it is left out
    generated: bool


def _show_ident(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else quote_ident(name)


def _table_columns(
    conn: Connection, args: argparse.Namespace
) -> tuple[str, list[TableColumn]]:
    """The target's name (schema-qualified, for messages) and its columns."""
    try:
        schema, name = parse_table(args.table)
    except Error as exc:
        raise CliError(str(exc)) from exc
    regclass = sql_literal(conn, quote_table(schema, name))
    sql = f"""
SELECT n.nspname, c.relname, a.attname,
       a.attnotnull OR coalesce(t.typnotnull, false),
       a.atthasdef OR t.typdefault IS NOT NULL OR a.attidentity <> '',
       a.attgenerated <> ''
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a
  ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid AND t.typtype = 'd'
WHERE c.oid = {regclass}::regclass
ORDER BY a.attnum"""
    try:
        rows = conn.execute(sql).rows
    except DatabaseError as exc:
        raise CliError(_first_line(exc)) from exc
    shown = f"{_show_ident(str(rows[0][0]))}.{_show_ident(str(rows[0][1]))}"
    columns = [
        TableColumn(str(r[2]), r[3] == "t" and r[4] != "t", r[5] == "t")
        for r in rows
        if r[2] is not None
    ]
    return shown, columns


def _quoted_list(names: list[str]) -> str:
    return ", ".join('"' + n.replace('"', '""') + '"' for n in names)


def _plural(names: list[str], word: str = "column") -> str:
    return f"{word}{'s' if len(names) > 1 else ''} {_quoted_list(names)}"


def _check_header(
    conn: Connection, args: argparse.Namespace, header: Header, source: str
) -> list[str]:
    """The header's names, checked against the table and ``--columns``.

    Raises:
        CliError: one line naming every problem found, of the first kind
            found: a name the table lacks (or a generated column), a name
            given twice, a ``--columns`` list that says otherwise, a first
            row with another number of fields, a required column left out.
    """
    names = header.names
    what = f"the header of {source}"
    table, columns = _table_columns(conn, args)
    by_name = {c.name: c for c in columns}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, list(by_name), n=1, cutoff=0.75)
            folded = [c for c in by_name if c.lower() == n.lower()]
            if folded or close:
                hints.append(f'"{n}" -> {_quoted_list((folded or close)[:1])}')
        hint = f" (did you mean: {'; '.join(hints)}?)" if hints else ""
        raise CliError(
            f"{what} names {_plural(unknown)}, which {table} does not have{hint}"
        )
    generated = [n for n in names if by_name[n].generated]
    if generated:
        raise CliError(
            f"{what} names {_plural(generated)}, which {table} generates "
            "(computed by the server, not loaded)"
        )
    twice = sorted({n for n in names if names.count(n) > 1}, key=names.index)
    if twice:
        raise CliError(f"{what} names {_plural(twice)} more than once")
    if args.columns and _columns(args) != names:
        raise CliError(
            f"{what} names {_quoted_list(names)} but --columns says "
            f"{_quoted_list(_columns(args))}"
        )
    if header.row_fields is not None and header.row_fields != len(names):
        raise CliError(
            f"{what} names {len(names)} column{'s' if len(names) > 1 else ''} "
            f"({_quoted_list(names)}) but its first row (line 2) has "
            f"{header.row_fields} field{'s' if header.row_fields > 1 else ''}"
        )
    lacking = [c.name for c in columns if c.required and c.name not in names]
    if lacking:
        raise CliError(
            f"{what} lacks {_plural(lacking)} (NOT NULL, no default), "
            f"which {table} requires"
        )
    return names


def _header_option(conn: Connection) -> str | None:
    """How the COPY is told of a header the CLI has read and checked.

    PostgreSQL 15 and later: ``HEADER MATCH``, so the server reads the
    header too and refuses a COPY whose column list disagrees with it.
    Older servers know no MATCH (nor HEADER in text format): the CLI
    leaves the line out (None).
    """
    return "MATCH" if conn.server_version >= 150000 else None


# -- load ------------------------------------------------------------------


def cmd_load(args: argparse.Namespace) -> int:
    """``load``: one file, several or a glob into a table, all or nothing.

    With one job everything (``--before``, ``--create``, ``--truncate``,
    every file, the ``--upsert`` merge, ``--after``) is one transaction.
    With ``--jobs N`` the jobs commit together; with several files,
    ``--atomic``, ``--upsert``, ``--truncate``, ``--before`` or ``--after``
    they load a staging table, moved in one final transaction.
    """
    args.file = args.files[0]
    if "-" in args.files and len(args.files) > 1:
        raise CliError("- (stdin) is the only input of its load")
    paths = (
        ["-"] if args.file == "-" else [p for f in args.files for p in _input_paths(f)]
    )
    kinds = sorted({files.format_of(p, args.format) for p in paths})
    if len(kinds) > 1:
        raise CliError(
            f"the files are of {len(kinds)} formats ({', '.join(kinds)}): "
            "one load reads one format"
        )
    args.format = kinds[0]
    _check_load_args(args)
    create = _create_statement(args, paths[0]) if args.create else None
    if args.dry_run:
        print(f"{create};")
        return 0
    started = time.perf_counter()
    args.bytes_done = 0
    args.finished = False  # set once the load has committed
    with _terminated_raises(args):
        try:
            if args.jobs > 1:
                rows, how = _load_jobs(args, paths, create)
            else:
                rows, how = _load_one_transaction(args, paths, create)
        except KeyboardInterrupt as exc:
            raise Interrupted(130, _committed(args)) from exc
    where = f" from {len(paths)} files" if len(paths) > 1 else ""
    _report(args, f"loaded {rows:,} rows into {args.table}{where}{how}", rows, started)
    return 0


def _check_load_args(args: argparse.Namespace) -> None:
    # what cannot work together, said before anything is read or run
    columnar = args.format in files.COLUMNAR
    if args.format == "binary":
        _refuse_options(args, "binary")
    elif columnar:  # the file says its columns' names, types and NULLs
        _refuse_options(
            args, args.format, "escape", "encoding", "force_null", "force_not_null"
        )
    if args.dry_run and not args.create:
        raise CliError("--dry-run prints the statement of --create: give --create")
    if args.create and (args.format == "binary" or args.file == "-"):
        raise CliError(
            "--create reads a Parquet, Arrow or NDJSON file's schema, or infers "
            "one from a CSV or text file (not binary, not stdin)"
        )
    if columnar and args.file == "-":
        raise CliError(f"{args.format} input is read from a file, not stdin")
    if args.jobs < 1:
        raise CliError("--jobs must be 1 or more")
    if args.jobs > 1 and args.format == "binary":
        raise CliError(
            "--jobs cuts text or CSV at row boundaries; binary cannot be cut"
        )
    if args.on_error == "skip":
        if args.format == "binary" or columnar:
            raise CliError("--on-error skip reads text or CSV rows")
        if args.jobs > 1:
            raise CliError("--on-error skip loads over one connection: no --jobs")


def _committed(args: argparse.Namespace) -> str:
    """What an interrupted load had committed, for its last line."""
    if getattr(args, "finished", False):
        return "every row (the load had ended)"
    return "nothing (rolled back)"


@contextlib.contextmanager
def _held_signals() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for the end of the block (a load's commits).

    Interrupted between two commits, a load would keep some of its rows and
    lose the others; held, the signal acts once the commits are done.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        held.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if held:
            signal.raise_signal(held[0])


@contextlib.contextmanager
def _terminated_raises(args: argparse.Namespace) -> Iterator[None]:
    # SIGTERM ends a load as Ctrl-C does: every open COPY ends with CopyFail
    # and nothing is committed (exit status 143)
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: Any) -> None:
        raise Interrupted(143, _committed(args))

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _create_statement(args: argparse.Namespace, path: str) -> str:
    # --create: a columnar file's schema, or pyarrow's inference over a CSV
    if args.format not in files.COLUMNAR:
        return _inferred_create(args, path)
    try:
        with contextlib.closing(files.open_reader(path, args.format)) as reader:
            schema = reader.schema
    except (OSError, EOFError, ValueError, ImportError) as exc:
        raise CliError(f"{path}: {_first_line(exc)}") from exc
    try:
        return files.create_sql(args.table, schema)
    except ValueError as exc:
        raise CliError(f"--create: {exc}") from exc


class _Sink:
    """Where a load's COPYs go: a staging table, made on first use.

    The table is a :class:`~pgcopy_fast.parallel.load.Staging` of the
    loaded columns (those every file gives), temporary with one connection
    and unlogged for jobs; :meth:`merge_sql` puts its rows into the table,
    so the columns the files leave out get the table's defaults and
    identities, as a COPY straight into it would give them.
    """

    def __init__(self, conn: Connection, args: argparse.Namespace, temp: bool) -> None:
        self.conn = conn
        self.args = args
        self.temp = temp
        self.staging: Staging | None = None
        self.first: str = ""  # the file whose columns made the staging table

    def into(self, columns: list[str] | None, source: str) -> tuple[str, list[str]]:
        """The staging table (in SQL) and the columns to copy into it."""
        wanted = columns or (_columns(self.args) if self.args.columns else None)
        if wanted is None:
            wanted = self._loadable()
        if self.staging is None:
            try:
                self.staging = Staging(
                    self.conn, _table_sql(self.args), wanted, 1, temp=self.temp
                )
            except DatabaseError as exc:
                raise CliError(f"{source}: {_first_line(exc)}") from exc
            self.first = source
        elif sorted(wanted) != sorted(self.staging.columns):
            raise CliError(
                f"{source} has columns {_quoted_list(wanted)} but {self.first} "
                f"{_quoted_list(self.staging.columns)}: the files of one load "
                "through a staging table give the same columns"
            )
        return self.staging.names[0], list(wanted)

    def _loadable(self) -> list[str]:
        # what COPY without a column list loads: every column but generated ones
        _, columns = _table_columns(self.conn, self.args)
        return [c.name for c in columns if not c.generated]

    def merge_sql(self) -> str:
        """The INSERT (``--upsert``: ``ON CONFLICT ... DO UPDATE``) from staging."""
        assert self.staging is not None
        if not self.args.upsert:
            return self.staging.insert_sql()
        loaded = self.staging.columns
        keys = [k.strip() for k in self.args.upsert.split(",") if k.strip()]
        missing = [k for k in keys if k not in loaded]
        if missing:
            raise CliError(
                f"--upsert: the files do not give the key {_plural(missing)}"
            )
        updates = ", ".join(
            f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}"
            for c in loaded
            if c not in keys
        )
        action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
        on = ", ".join(quote_ident(k) for k in keys)
        return self.staging.insert_sql(f"ON CONFLICT ({on}) {action}")

    def drop(self) -> None:
        """Drop a staging table left by a failure (the connection may be broken)."""
        if self.staging is not None:
            self.staging.drop()
            self.staging = None


def _copy_target(
    args: argparse.Namespace, sink: _Sink | None, names: list[str] | None, source: str
) -> str:
    """What a text / CSV COPY names: the table, or the staging table."""
    if sink is None:
        return _target(args, columns=names)
    staging, names = sink.into(names, source)
    return staging + _column_list(args, names)


def _execute(conn: Connection, sql: str, what: str) -> None:
    try:
        conn.execute(sql)
    except DatabaseError as exc:
        # a staged load's constraint error has no line of a file to name:
        # the server's DETAIL ("Failing row contains ...") shows the row
        detail = f" ({exc.detail})" if getattr(exc, "detail", None) else ""
        raise CliError(f"{what}: {_first_line(exc)}{detail}") from exc


def _load_one_transaction(
    args: argparse.Namespace, paths: list[str], create: str | None
) -> tuple[int, str]:
    # one connection, one transaction: a failure anywhere commits nothing
    with contextlib.ExitStack() as stack:
        conn = stack.enter_context(_connection(args))
        rejected = _Rejected()
        if args.on_error == "skip" and args.rejects:
            try:
                rejected.out = stack.enter_context(open(args.rejects, "wb"))
            except OSError as exc:
                raise CliError(f"{args.rejects}: {exc.strerror}") from exc
        sink = _Sink(conn, args, temp=True) if args.upsert else None
        rows = 0
        conn.execute("BEGIN")
        try:
            if args.before:
                _execute(conn, args.before, "--before")
            if create:
                _execute(conn, create, "--create")
            if args.truncate:
                _execute(conn, f"TRUNCATE {_table_sql(args)}", "--truncate")
            for path in paths:
                rows += _copy_file_in(conn, args, path, sink, rejected)
            if sink is not None and sink.staging is not None:
                _execute(conn, sink.merge_sql(), "--upsert")
            if args.after:
                _execute(conn, args.after, "--after")
            with _held_signals():
                conn.execute("COMMIT")
                args.finished = True
        except BaseException:
            with contextlib.suppress(Error):
                conn.execute("ROLLBACK")
            raise
    how = ""
    if args.on_error == "skip":
        where = f" ({args.rejects})" if args.rejects else ""
        how = f", rejected {rejected.count:,}{where}"
    return rows, how


@dataclass
class _Rejected:
    """``--on-error skip``: the rejects file, and the rejects of all files so far."""

    out: IO[bytes] | None = None
    count: int = 0


def _copy_file_in(
    conn: Connection,
    args: argparse.Namespace,
    path: str,
    sink: _Sink | None,
    rejected: _Rejected,
) -> int:
    """Copy one file into the table or ``sink``; the rows loaded."""
    if args.format in files.COLUMNAR:
        return _copy_columnar(conn, args, path, sink)
    stream, size = _open_input(path)
    source = "stdin" if path == "-" else path
    with stream, _reading(source):
        names, head, header_option, line_offset = None, b"", None, 0
        if args.header:
            head, header = _read_header(stream, args, source)
            if header is not None:
                names = _check_header(conn, args, header, source)
                header_option = _header_option(conn)
                if header_option and args.on_error != "skip":
                    head = head[header.bom :]
                else:  # the server does not read it: leave it out
                    head, line_offset = head[header.end :], 1
        target = _copy_target(args, sink, names, source)
        if args.on_error == "skip":
            return _copy_skipping(
                conn, args, stream, head, line_offset, target, source, rejected
            )
        sql = f"COPY {target} FROM STDIN {_options_sql(conn, args, header_option)}"
        try:
            with _progress(args, size, "load") as advance, conn.copy_in(sql) as cp:
                if head:
                    cp.write(head)
                    advance(head)
                while chunk := stream.read(CHUNK):
                    cp.write(chunk)
                    advance(chunk)
        except DatabaseError as exc:
            raise CliError(_describe_error(source, exc, line_offset)) from exc
    return cp.rowcount


@contextlib.contextmanager
def _reading(source: str, note: str = "") -> Iterator[None]:
    """An input that fails to read (cut short, corrupt) as one error line."""
    try:
        yield
    except (OSError, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise CliError(f"{source}: {reason}{note}") from exc


def _copy_skipping(
    conn: Connection,
    args: argparse.Namespace,
    stream: IO[bytes],
    head: bytes,
    first_line: int,
    target: str,
    source: str,
    rejected: _Rejected,
) -> int:
    # --on-error skip: chunks under savepoints, bad rows to --rejects with the
    # server's message (cli/rejects.py)
    quote = _quote_byte(args)
    sql = f"COPY {target} FROM STDIN {_options_sql(conn, args, None)}"

    def counted(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        for chunk in chunks:
            args.bytes_done += len(chunk.data)  # for the summary line
            yield chunk

    chunks = counted(row_chunks(stream, quote, head, first_line, size=1 << 20))
    try:
        loaded, bad = rejects.load_skipping(
            conn, sql, chunks, quote, args.max_errors, rejected.out, _server_words,
            source, rejected.count,
        )  # fmt: skip
    except rejects.TooManyErrors as exc:
        raise CliError(f"{source}: {exc} (nothing committed)") from exc
    rejected.count += bad
    return loaded


def _copy_columnar(
    conn: Connection, args: argparse.Namespace, path: str, sink: _Sink | None
) -> int:
    # Parquet / Arrow / NDJSON through copy_arrow: row groups and batches
    # stream, so memory stays at a batch or two whatever the file's size;
    # with --jobs they spread over connections (copy_arrow(jobs=))
    try:
        reader = files.open_reader(path, args.format)
    except (OSError, EOFError, ValueError, ImportError) as exc:
        raise CliError(f"{path}: {_first_line(exc)}") from exc
    # closed on every path: pyarrow's NDJSON reader has a thread of its own,
    # which must not outlive the file (C++ aborts the process at exit)
    with contextlib.closing(reader):
        return _copy_reader(conn, args, path, sink, reader)


def _copy_reader(
    conn: Connection,
    args: argparse.Namespace,
    path: str,
    sink: _Sink | None,
    reader: Any,
) -> int:
    columns = _columns(args) if args.columns else None
    table = args.table
    if sink is not None:
        table, columns = sink.into(columns or list(reader.schema.names), path)
    try:
        with _row_progress(args, _rows_in(args, path), "load") as count:
            if count is not None:
                reader = files.each_batch(reader, count)
            rows: int = conn.copy_arrow(table, reader, columns, jobs=args.jobs)
    except DatabaseError as exc:
        raise CliError(_describe_row_error(path, exc, args.jobs == 1)) from exc
    except Error as exc:
        raise CliError(f"{path}: {_first_line(exc)}") from exc
    except Exception as exc:
        if not (files.is_arrow_error(exc) or isinstance(exc, (OSError, EOFError))):
            raise
        # the file's own failure as pyarrow reads it (a value of another type
        # in a later NDJSON row, a cut-off file); a failure that crossed the
        # Arrow stream carries a note on the Python traceback: not for the user
        said = _first_line(exc).split(". Detail: Python exception")[0]
        raise CliError(f"{path}: {said}") from exc
    args.bytes_done += os.path.getsize(path)
    return rows


def _rows_in(args: argparse.Namespace, path: str) -> int | None:
    # the bar's total, read only when there is a bar to show it
    if not sys.stderr.isatty() or args.quiet:
        return None
    return files.row_count(path, args.format)


def _describe_row_error(path: str, exc: DatabaseError, one_copy: bool) -> str:
    # A server error of a columnar load: its "line N" is the COPY's N-th row,
    # the file's row N - 1 when one COPY took the whole file (counted from 0,
    # as the client's own errors count them)
    context = getattr(exc, "context", None) or ""
    line, column = _LINE.search(context), _COLUMN.search(context)
    where = f"row {int(line.group(1)) - 1}, " if line and one_copy else ""
    where += f"column {column.group(1)}: " if column else ""
    if not column and (name := getattr(exc, "column", None)):
        where += f"column {name}: "
    message = _first_line(exc)
    if not one_copy and "committed" not in message:
        message += NOTHING_COMMITTED
    return f"{path}: {where}{message}"


def _load_jobs(
    args: argparse.Namespace, paths: list[str], create: str | None
) -> tuple[int, str]:
    # N connections.  One file straight into the table: the jobs commit
    # together at the end.  Otherwise the files load a staging table and
    # one transaction runs --before, --truncate, the move (or the upsert)
    # and --after: all or nothing.  A table --create made is dropped again
    # when the load fails.
    staged = bool(
        len(paths) > 1
        or args.atomic
        or args.upsert
        or args.truncate
        or args.before
        or args.after
    )
    with _dsn(args) as dsn, _connect(dsn) as admin:
        made = False
        sink = _Sink(admin, args, temp=False) if staged else None
        try:
            if create:
                _execute(admin, create, "--create")  # the jobs must see it
                made = True
            rows = 0
            for path in paths:
                if args.format in files.COLUMNAR:
                    rows += _copy_columnar(admin, args, path, sink)
                else:
                    rows += _load_parallel(args, dsn, admin, path, sink)
            if sink is not None:
                _move(admin, args, sink)
        except BaseException:
            if sink is not None:
                sink.drop()
            if made and not args.finished:
                with contextlib.suppress(Error):
                    admin.execute(f"DROP TABLE IF EXISTS {_table_sql(args)}")
            raise
    how = " atomically" if staged else ""
    return rows, f"{how} with {args.jobs} jobs"


def _move(admin: Connection, args: argparse.Namespace, sink: _Sink) -> None:
    # the final transaction of a staged load: all of it, or none of it
    admin.execute("BEGIN")
    try:
        if args.before:
            _execute(admin, args.before, "--before")
        if args.truncate:
            _execute(admin, f"TRUNCATE {_table_sql(args)}", "--truncate")
        _execute(admin, sink.merge_sql(), "--upsert" if args.upsert else "the move")
        if args.after:
            _execute(admin, args.after, "--after")
        assert sink.staging is not None
        with _held_signals():
            admin.execute(f"{sink.staging.drop_sql()}; COMMIT")
            sink.staging = None
            args.finished = True
    except CliError as exc:
        raise CliError(f"{exc} (nothing committed)") from exc


def _load_parallel(
    args: argparse.Namespace,
    dsn: str,
    admin: Connection,
    path: str,
    sink: _Sink | None,
) -> int:
    # Any input (a file, gzip, zstd, stdin) is read by this thread and cut
    # into chunks at row boundaries; N jobs, each a connection and one COPY,
    # take chunks from a bounded queue (parallel.jobs).  A failure or an
    # interrupt stops every job: their COPYs end with CopyFail.
    stream, size = _open_input(path)
    source = "stdin" if path == "-" else path
    with stream, _reading(source, NOTHING_COMMITTED):
        columns = _columns(args) if args.columns else None
        head, first_line = b"", 0
        if args.header:
            head, header = _read_header(stream, args, source)
            if header is not None:
                columns = _check_header(admin, args, header, source)
                head, first_line = head[header.end :], 1
        target = _copy_target(args, sink, columns, source)
        rows, states = _run_load_jobs(
            args, dsn, stream, head, first_line, target, source, size
        )
    failed = [j for j in states if j.failed]
    if failed:
        raise CliError(f"{failed[0].value}{NOTHING_COMMITTED}")
    return rows


def _run_load_jobs(
    args: argparse.Namespace,
    dsn: str,
    stream: IO[bytes],
    head: bytes,
    first_line: int,
    target: str,
    source: str,
    size: int | None,
) -> tuple[int, list[Job]]:
    quote = _quote_byte(args)
    lock = threading.Lock()
    sessions: list[Connection] = []
    try:
        sessions.extend(connect(dsn) for _ in range(args.jobs))
    except Error as exc:
        for conn in sessions:
            conn.close()
        raise CliError(f"cannot connect: {_first_line(exc)}") from exc

    def work(index: int, feed: Iterator[Chunk], advance: Any) -> int:
        # the COPY's line N is line (first_line + N - copy_line) of the input
        # for the chunk that holds it
        conn = sessions[index]
        spans: list[tuple[int, int, int]] = []  # (copy lines before, first line, lines)
        copied = 0
        sql = f"COPY {target} FROM STDIN {_options_sql(conn, args, None)}"
        try:
            conn.execute("BEGIN")  # committed once every job's COPY has ended
            with conn.copy_in(sql) as cp:
                for chunk in feed:
                    spans.append((copied, chunk.first_line, chunk.lines))
                    copied += chunk.lines
                    cp.write(chunk.data)
                    with lock:
                        advance(chunk.data)
            return cp.rowcount
        except DatabaseError as exc:
            raise _JobError(_describe_error(source, exc, _offset(exc, spans))) from exc

    try:
        with _progress(args, size, "load") as advance:
            chunks = row_chunks(stream, quote, head, first_line)
            states = fan_out(chunks, args.jobs, lambda i, f: work(i, f, advance))
        if not any(j.failed for j in states):
            _commit_jobs(args, sessions, states, source)
    except (KeyboardInterrupt, Interrupted) as exc:
        status = exc.status if isinstance(exc, Interrupted) else 130
        said = _committed(args) if args.finished else "nothing (every job rolled back)"
        raise Interrupted(status, said) from exc
    finally:
        for conn in sessions:
            conn.close()
    for job in states:
        if isinstance(job.error, _JobError):
            job.value = str(job.error)
        elif job.failed and job.error is not None:
            job.value = f"{source}: {_first_line(job.error)}"
    rows = sum(j.value for j in states if j.done)
    return rows, states


def _commit_jobs(
    args: argparse.Namespace, sessions: list[Connection], states: list[Job], source: str
) -> None:
    # N commits, with Ctrl-C held until all are done.  A COMMIT the server
    # refuses (a deferred constraint, a lost connection) after others went
    # through is said as it is: those jobs' rows stay.
    with _held_signals():
        for index, conn in enumerate(sessions):
            try:
                conn.execute("COMMIT")
            except Error as exc:
                kept = sum(j.value for j in states[:index] if j.done)
                said = (
                    f"; jobs 1-{index} had committed {kept:,} rows: --atomic "
                    "makes the load one transaction"
                    if kept
                    else " (nothing committed)"
                )
                raise CliError(
                    f"{source}: COMMIT of job {index + 1}: {_first_line(exc)}{said}"
                ) from exc
        args.finished = True


class _JobError(Exception):
    """A job's failure, already described for the user."""


def _offset(exc: BaseException, spans: list[tuple[int, int, int]]) -> int:
    context = getattr(exc, "context", None) or ""
    match = _LINE.search(context)
    if not match:
        return 0
    line = int(match.group(1))
    for before, first, _lines in reversed(spans):
        if line > before:
            return first - before
    return 0


def _input_paths(pattern: str) -> list[str]:
    # one file, or every file a glob matches (sorted: a stable order)
    if any(c in pattern for c in "*?["):
        found = sorted(glob.glob(pattern))
        if not found:
            raise CliError(f"{pattern}: no file matches")
        return found
    if not os.path.exists(pattern):
        raise CliError(f"{pattern}: No such file or directory")
    return [pattern]


#: Bytes of a CSV / text file read to infer its columns' types for --create.
INFER_BYTES = 1 << 20


def _inferred_create(args: argparse.Namespace, path: str) -> str:
    # pyarrow's CSV type inference over the first MiB of whole rows; with
    # --header the names come from it, else c1, c2, ...
    try:
        import pyarrow.csv as pc
    except ImportError:
        raise CliError("--create for CSV needs pyarrow (pgcopy_fast[arrow])") from None
    stream, _ = _open_input(path)
    with stream, _reading(path):
        sample = stream.read(INFER_BYTES)
    quote = _quote_byte(args)
    if len(sample) == INFER_BYTES:
        sample = sample[: last_row_end(sample, quote)]
    delimiter = args.delimiter or ("," if args.format == "csv" else "\t")
    null = (
        args.null if args.null is not None else ("" if args.format == "csv" else "\\N")
    )
    try:
        table = pc.read_csv(
            io.BytesIO(sample),
            read_options=pc.ReadOptions(autogenerate_column_names=not args.header),
            parse_options=pc.ParseOptions(
                delimiter=delimiter,
                quote_char=(args.quote or '"') if args.format == "csv" else False,
                newlines_in_values=args.format == "csv",
            ),
            convert_options=pc.ConvertOptions(
                null_values=[null], strings_can_be_null=True
            ),
        )
    except Exception as exc:  # pyarrow's ArrowInvalid: the sample's own words
        raise CliError(f"{path}: --create: {_first_line(exc)}") from exc
    schema = table.schema
    if not args.header:
        names = [f"c{i + 1}" for i in range(len(schema))]
        schema = table.rename_columns(names).schema
    try:
        return files.create_sql(args.table, schema)
    except ValueError as exc:
        raise CliError(f"--create: {exc}") from exc


def _report(args: argparse.Namespace, what: str, rows: int, started: float) -> None:
    # one summary line after every command, in a pipe too (cron and Airflow
    # logs get the row count), unless -q
    seconds = time.perf_counter() - started
    rate = f", {rows / seconds:,.0f} rows/s" if seconds > 0 and rows > 0 else ""
    done = getattr(args, "bytes_done", 0)
    if done:
        size = f"{done / 1e6:,.1f} MB" if done >= 100_000 else f"{done / 1e3:,.1f} kB"
        rate = f", {size}{rate}"
    if not getattr(args, "quiet", False):
        print(f"pgcopy-fast: {what} in {seconds:.2f} s{rate}", file=sys.stderr)


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM during a load, with what it had committed."""

    def __init__(self, status: int, committed: str) -> None:
        super().__init__(committed)
        self.status = status
        self.committed = committed


# -- dump ------------------------------------------------------------------


def cmd_dump(args: argparse.Namespace) -> int:
    """``dump``: stream a table or a query's rows out."""
    if bool(args.table) == bool(args.query):
        raise CliError("give either --table or --query")
    args.format = files.format_of(args.output, args.format)
    args.transform = None
    if args.format == "ndjson":
        # The server writes the JSON (row_to_json: PostgreSQL's own form of
        # every type) as a text COPY; the client only undoes the COPY escapes,
        # which for UTF-8 are the only bytes to undo
        _refuse_options(args, "ndjson", "escape", "encoding")
        args.format, args.transform = "text", _json_lines
    elif args.format in files.COLUMNAR:
        return _dump_columnar(args)
    elif args.format == "binary":
        _refuse_options(args, "binary")
    if args.jobs > 1:
        return _dump_parallel(args)
    started = time.perf_counter()
    transform = args.transform or bytes
    with _connection(args) as conn:
        if args.table:
            source = _target(args)
            if args.transform:
                source = f"(SELECT {_select_list(args)} FROM {_table_sql(args)})"
        else:
            # One statement only: it is pasted into COPY (...) TO STDOUT.
            try:
                source = f"(\n{one_statement(args.query)}\n)"
            except InterfaceError as exc:
                raise CliError(f"--query: {exc}") from exc
        if args.transform:
            source = _as_json(source[1:-1])
        sql = f"COPY {source} TO STDOUT {_options_sql(conn, args, args.header)}"
        with _output(args.output) as out:
            try:
                with _progress(args, None, "dump") as advance, conn.copy_out(sql) as cp:
                    for payloads in cp.read_batches():
                        data = transform(b"".join(payloads))
                        out.stream.write(data)
                        advance(data)
            except DatabaseError as exc:
                raise CliError(_describe_error("dump", exc)) from exc
    if not out.broken:
        _report(args, f"dumped {cp.rowcount:,} rows", cp.rowcount, started)
    return 0


def _refuse_options(args: argparse.Namespace, fmt: str, *more: str) -> None:
    # the text / CSV options, given for a format they do not apply to
    names = ["delimiter", "null", "quote", "header", *more]
    given = [f"--{n}" for n in names if getattr(args, n, None)]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise CliError(f"{', '.join(given)} {verb} not apply to {fmt}")


@contextlib.contextmanager
def _output(path: str | None, raw: bool = False) -> Iterator[packed.Output]:
    """A dump's output: moved into place when the block ends well, else removed.

    A reader of stdout that goes away (``| head``) ends the dump quietly.
    """
    try:
        out = packed.Output(path, raw)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from exc
    except packed.PackedError as exc:
        raise CliError(str(exc)) from exc
    try:
        yield out
        out.commit()
    except BrokenPipeError:
        if not out.stdout:
            out.discard()
            raise CliError(f"{path}: broken pipe") from None
        # the reader went away (| head): not an error; stdout goes nowhere
        # now, so that the interpreter's last flush does not complain
        out.broken = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as exc:
        out.discard()
        raise CliError(f"{path or 'stdout'}: {exc.strerror or exc}") from exc
    except BaseException:
        out.discard()
        raise


def _as_json(query: str) -> str:
    """``query``'s rows as JSON objects, one per line (its column names as keys)."""
    return f"(SELECT row_to_json(q) FROM (\n{query}\n) AS q)"


#: COPY's text escapes; in JSON a raw newline, CR or tab can only be whitespace.
_COPY_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_UNESCAPED = {b"\\": b"\\", b"n": b" ", b"r": b" ", b"t": b" "}


def _json_lines(data: bytes) -> bytes:
    """Text COPY rows of one json column as NDJSON lines.

    The rows are whole (a CopyData holds whole rows), so no escape is cut.
    """
    if b"\\" not in data:
        return data
    return _COPY_ESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(0)), data)


def _dump_columnar(args: argparse.Namespace) -> int:
    if args.output in (None, "-"):
        raise CliError(f"{args.format} output goes to a file: give --output")
    source = args.table or args.query
    started = time.perf_counter()
    with _connection(args) as conn, _output(args.output, raw=True) as out:
        try:
            stream = conn.copy_arrow_out(
                source, _columns(args) if args.columns and args.table else None,
                jobs=args.jobs, partition_on=args.partition_on,
            )  # fmt: skip
            with _row_progress(args, None, "dump") as count:
                rows = files.write_stream(out.temp, args.format, stream, count)
        except Error as exc:
            raise CliError(f"dump: {_first_line(exc)}") from exc
        except Exception as exc:
            if not files.is_arrow_error(exc):
                raise
            # a type the file format cannot hold (pyarrow's words)
            raise CliError(f"{args.output}: {_first_line(exc)}") from exc
        args.bytes_done = os.path.getsize(out.temp)
    _report(args, f"dumped {rows:,} rows to {args.output}", rows, started)
    return 0


def _part_path(path: str, index: int) -> str:
    # events.csv.gz -> events.part0.csv.gz
    directory, name = os.path.split(path)
    stem, dot, rest = name.partition(".")
    return os.path.join(directory, f"{stem}.part{index}{dot}{rest}")


def _dump_parallel(args: argparse.Namespace) -> int:
    # N connections in one exported snapshot (parallel.read), each COPY of
    # one part into a temporary file beside the output; then one file (the
    # parts in order, the header once) or --parts files of their own.
    if args.output in (None, "-") and args.parts:
        raise CliError("--parts needs --output (the parts are named after it)")
    source = args.table or args.query
    if args.query:
        try:
            source = one_statement(args.query)
        except InterfaceError as exc:
            raise CliError(f"--query: {exc}") from exc
    started = time.perf_counter()
    with _dsn(args) as dsn, _connect(dsn) as conn:
        try:
            snapshot = export_snapshot(conn)
            relation, preds = partition_predicates(
                conn, source, args.jobs, args.partition_on
            )
        except (Error, InterfaceError) as exc:
            raise CliError(f"dump: {_first_line(exc)}") from exc
        cols = _select_list(args)
        to_file = args.output not in (None, "-")
        directory = (
            os.path.dirname(os.path.abspath(args.output))
            if to_file
            else tempfile.gettempdir()
        )
        temps = [
            os.path.join(directory, f".pgcopy_fast-dump-{os.getpid()}-{i}.part")
            for i in range(len(preds))
        ]
        counts = [0] * len(preds)

        def job(index: int) -> None:
            header = args.header if (index == 0 or args.parts) else False
            with connect(dsn) as part, open(temps[index], "wb") as f:
                import_snapshot(part, snapshot)
                query = f"SELECT {cols} FROM {relation} WHERE {preds[index]}"
                source = _as_json(query) if args.transform else f"({query})"
                sql = f"COPY {source} TO STDOUT {_options_sql(part, args, header)}"
                transform = args.transform or bytes
                with part.copy_out(sql) as cp:
                    for payloads in cp.read_batches():
                        f.write(transform(b"".join(payloads)))
                counts[index] = cp.rowcount
                part.execute("COMMIT")

        try:
            with ThreadPoolExecutor(max_workers=len(preds)) as pool:
                for future in [pool.submit(job, i) for i in range(len(preds))]:
                    future.result()
            conn.execute("COMMIT")
            args.bytes_done = sum(os.path.getsize(t) for t in temps)
            with contextlib.ExitStack() as stack:
                if args.parts:  # each moved into place once all are written
                    for i, temp in enumerate(temps):
                        out = stack.enter_context(_output(_part_path(args.output, i)))
                        _copy_file(temp, out.stream)
                else:
                    out = stack.enter_context(_output(args.output))
                    for temp in temps:
                        _copy_file(temp, out.stream)
        except DatabaseError as exc:
            raise CliError(_describe_error("dump", exc)) from exc
        except OSError as exc:  # a part's temporary file
            raise CliError(f"{directory}: {exc.strerror or exc}") from exc
        finally:
            for temp in temps:
                with contextlib.suppress(OSError):
                    os.remove(temp)
    rows = sum(counts)
    where = f" into {len(temps)} parts" if args.parts else ""
    _report(args, f"dumped {rows:,} rows with {len(temps)} jobs{where}", rows, started)
    return 0


def _copy_file(path: str, out: IO[bytes]) -> None:
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            out.write(block)


# -- bench -----------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    """``bench``: the comparison of benchmarks/compare.py."""
    from . import _bench as bench

    if args.dsn is None and (os.environ.get("PGHOST") or os.environ.get("PGDATABASE")):
        args.dsn = ""  # the environment names a server: use it
    status: int = bench.run(args)
    return status


def cmd_version(args: argparse.Namespace) -> int:
    """``version``: the version and the loaded implementation."""
    print(f"pgcopy_fast {__version__} (implementation: {__impl__})")
    return 0


# -- arguments -------------------------------------------------------------


def _connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--dsn",
        default=os.environ.get("PGCOPY_FAST_DSN") or None,
        help="postgresql:// URI or key=value string (default: $PGCOPY_FAST_DSN, "
        "else the PG* variables and ~/.pgpass)",
    )
    group.add_argument(
        "--temp-server",
        action="store_true",
        help="use a throwaway local PostgreSQL, removed at exit",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress or summary, even on a terminal",
    )


def _format_args(parser: argparse.ArgumentParser, header_help: str) -> None:
    group = parser.add_argument_group("format")
    group.add_argument(
        "--format",
        choices=["csv", "text", "binary", "parquet", "arrow", "ndjson"],
        default=None,
        help="csv, text or binary COPY, or a Parquet, Arrow IPC (Feather) or "
        "NDJSON file (default: by the file's extension, else csv)",
    )
    group.add_argument("--header", action="store_true", help=header_help)
    group.add_argument(
        "--delimiter", help="field separator (default: , for csv, tab for text)"
    )
    group.add_argument("--null", help="the string that means NULL")
    group.add_argument("--quote", help='CSV quote character (default: ")')
    group.add_argument("--escape", help="CSV escape character (default: the quote)")
    group.add_argument(
        "--encoding",
        help="the file's encoding (LATIN1, WIN1252 ...); the server converts it",
    )
    group.add_argument("--columns", help="comma-separated column names (exact names)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``pgcopy-fast``."""
    parser = argparse.ArgumentParser(
        prog="pgcopy-fast",
        description="Bulk load and dump PostgreSQL tables through COPY.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    load = sub.add_parser("load", help="load a file (or stdin) into a table")
    load.add_argument(
        "files",
        metavar="FILE",
        nargs="+",
        help="input files or globs ('data/*.parquet'), or - for stdin; .gz and "
        ".zst are decompressed; several are loaded in one transaction",
    )
    load.add_argument(
        "--table", "-t", required=True, help="target table, as written in SQL"
    )
    load.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="load over N connections: CSV / text cut at row boundaries, "
        "Parquet row groups, Arrow batches",
    )
    load.add_argument(
        "--atomic",
        action="store_true",
        help="with --jobs: load through a staging table, moved in one "
        "transaction (implied by several files, --truncate, --upsert, "
        "--before, --after)",
    )
    load.add_argument(
        "--create",
        action="store_true",
        help="create the table from a Parquet, Arrow or NDJSON file's schema, "
        "or from the types pyarrow infers over a CSV / text file's first MiB",
    )
    load.add_argument(
        "--dry-run",
        action="store_true",
        help="with --create: print the CREATE TABLE and load nothing",
    )
    load.add_argument(
        "--truncate", action="store_true", help="empty the table before loading"
    )
    load.add_argument(
        "--force-null", help="CSV: these columns' quoted empty strings are NULL too"
    )
    load.add_argument(
        "--force-not-null", help="CSV: these columns' empty values are '' not NULL"
    )
    load.add_argument(
        "--upsert",
        metavar="KEY[,KEY]",
        help="insert the rows, updating those whose KEY exists (through a "
        "staging table, one transaction)",
    )
    load.add_argument(
        "--on-error",
        choices=["stop", "skip"],
        default="stop",
        help="skip: load the good rows and set the bad ones aside (one "
        "transaction; text or CSV)",
    )
    load.add_argument(
        "--max-errors",
        type=int,
        default=1 << 62,
        help="with --on-error skip: more bad rows than this load nothing",
    )
    load.add_argument(
        "--rejects",
        metavar="FILE",
        help="with --on-error skip: each bad row, after a line with its line "
        "number and the server's message",
    )
    load.add_argument("--before", help="SQL run before the load, in its transaction")
    load.add_argument("--after", help="SQL run after the load, in its transaction")
    _format_args(
        load,
        "the first line names the file's columns (exact names): each value "
        "goes into the column its header names, the others get their defaults. "
        "A name the table lacks, a repeated name, a left-out NOT NULL column "
        "without a default, a --columns list that differs, or a first row of "
        "another width is an error, before any row is sent",
    )
    _connection_args(load)
    load.set_defaults(func=cmd_load)

    dump = sub.add_parser("dump", help="dump a table or a query to a file (or stdout)")
    dump.add_argument("--table", "-t", help="source table, as written in SQL")
    dump.add_argument("--query", help="a SELECT to dump instead of a table")
    dump.add_argument(
        "-o",
        "--output",
        help="output file (default: stdout); .gz and .zst are compressed",
    )
    _format_args(dump, "write a first line of column names")
    dump.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="read over N connections in one snapshot (a table by ctid ranges, "
        "or by --partition-on ranges)",
    )
    dump.add_argument(
        "--partition-on",
        help="with --jobs: an integer column to split by (needed for --query)",
    )
    dump.add_argument(
        "--parts",
        action="store_true",
        help="with --jobs: write N files (NAME.partK.EXT) instead of one",
    )
    _connection_args(dump)
    dump.set_defaults(func=cmd_dump)

    from . import _bench as bench

    bench_parser = sub.add_parser(
        "bench",
        help="compare with psycopg 3, asyncpg, pgcopy, "
        "psycopg2 and psql (peers that are installed)",
        description="pgcopy_fast side by side with its peers (those installed) and "
        "psql's \\copy, on the same random rows; or, with --per-column, client CPU "
        "per value of each column type.  Without --dsn (or PG* variables) it runs a "
        "throwaway server; with one, its tables are uniquely named and dropped at "
        "the end.  Progress goes to stderr, the tables to stdout.",
    )
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(func=cmd_bench, quiet=False)

    from . import server

    server.add_parser(sub)

    version = sub.add_parser("version", help="print the version and implementation")
    version.set_defaults(func=cmd_version, quiet=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except CliError as exc:
        print(f"pgcopy-fast: error: {exc}", file=sys.stderr)
        return 1
    except Error as exc:
        print(f"pgcopy-fast: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"pgcopy-fast: interrupted; committed: {exc.committed}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("pgcopy-fast: interrupted", file=sys.stderr)
        return 130
    except (OSError, EOFError) as exc:  # a file, a pipe: one line, not a traceback
        print(f"pgcopy-fast: error: {exc}", file=sys.stderr)
        return 1
