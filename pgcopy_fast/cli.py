"""The ``pgcopy-fast`` command: load and dump files, and run the benchmark.

    pgcopy-fast load FILE|- --table T [--format csv] [--header] [--jobs N] ...
    pgcopy-fast dump --table T | --query SQL [--format csv] [-o FILE] ...
    pgcopy-fast bench [--rows N] ...
    pgcopy-fast version

Connection settings come from ``--dsn``, the ``PG*`` variables and
``~/.pgpass``, as ``connect()`` reads them; ``--temp-server`` runs the
command against a throwaway local PostgreSQL instead (removed at exit).
Progress goes to stderr when it is a terminal (with tqdm, if installed);
in a pipe only errors are printed.  Exit status: 0 on success, 1 on a
failure (with a one-line error), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import mmap
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, cast

from . import __impl__, __version__
from .catalog import column_types, parse_table, quote_ident, quote_table, sql_literal
from .connection import Connection, connect
from .errors import DatabaseError, Error
from .tempserver import ServerNotFound, TempServer

__all__ = ["main"]

#: Bytes read from the input per write: a COPY batch's worth.
CHUNK = 256 * 1024
_LINE = re.compile(r"\bline (\d+)")


class CliError(Exception):
    """A failure to report in one line, with exit status 1."""


# -- connections -----------------------------------------------------------


@contextlib.contextmanager
def _connection(args: argparse.Namespace) -> Iterator[Connection]:
    with _dsn(args) as dsn:
        try:
            conn = connect(dsn)
        except Error as exc:
            raise CliError(f"cannot connect: {_first_line(exc)}") from exc
        with conn:
            yield conn


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
    if path == "-":
        return sys.stdin.buffer, None
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from exc
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw)), None
    if path.endswith((".zst", ".zstd")):
        return _zstd_reader(raw, path), None
    return raw, os.fstat(raw.fileno()).st_size


def _zstd_reader(raw: IO[bytes], path: str) -> IO[bytes]:
    try:
        import zstandard
    except ImportError:
        raise CliError(f"{path}: reading .zst needs the 'zstandard' package") from None
    return zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[no-any-return]


def _open_output(path: str | None) -> IO[bytes]:
    if path in (None, "-"):
        return sys.stdout.buffer
    assert path is not None
    try:
        if path.endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "wb"))
        if path.endswith((".zst", ".zstd")):
            try:
                import zstandard
            except ImportError:
                raise CliError(
                    f"{path}: writing .zst needs the 'zstandard' package"
                ) from None
            return zstandard.ZstdCompressor().stream_writer(open(path, "wb"))  # type: ignore[no-any-return]
        return open(path, "wb")
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from exc


@contextlib.contextmanager
def _progress(args: argparse.Namespace, total: int | None, what: str) -> Iterator[Any]:
    """A tqdm bar on an interactive stderr; otherwise a no-op callable."""
    bar = None
    if sys.stderr.isatty() and not args.quiet:
        try:
            from tqdm import tqdm

            bar = tqdm(
                total=total, unit="B", unit_scale=True, desc=what, file=sys.stderr
            )
        except ImportError:
            bar = None
    try:
        yield (bar.update if bar is not None else (lambda n: None))
    finally:
        if bar is not None:
            bar.close()


# -- COPY statements ------------------------------------------------------------------


def _options_sql(conn: Connection, args: argparse.Namespace, header: bool) -> str:
    parts = [f"FORMAT {args.format}"]
    if header:
        parts.append("HEADER")
    for name in ("delimiter", "null", "quote"):
        value = getattr(args, name, None)
        if value is not None:
            parts.append(f"{name.upper()} {sql_literal(conn, value)}")
    return "(" + ", ".join(parts) + ")"


def _target(args: argparse.Namespace, table: str | None = None) -> str:
    try:
        schema, name = parse_table(table or args.table)
    except Error as exc:
        raise CliError(str(exc)) from exc
    target = quote_table(schema, name)
    if args.columns:
        target += " (" + ", ".join(quote_ident(c) for c in _columns(args)) + ")"
    return target


def _columns(args: argparse.Namespace) -> list[str]:
    return [c.strip() for c in args.columns.split(",") if c.strip()]


def _describe_error(source: str, exc: BaseException, line_offset: int = 0) -> str:
    """``FILE: line N: message`` from a server error's context."""
    message = _first_line(exc)
    context = getattr(exc, "context", None) or ""
    match = _LINE.search(context)
    if match:
        return f"{source}: line {int(match.group(1)) + line_offset}: {message}"
    return f"{source}: {message}"


# -- load ------------------------------------------------------------------


@dataclass
class Range:
    """A byte range of the input file that one job loads."""

    start: int
    end: int
    first_line: int  # physical lines before start
    rows: int = -1
    error: str | None = None


def _split(path: str, jobs: int, fmt: str, quote: str) -> list[Range]:
    """Cut a file at line boundaries into about equal byte ranges.

    A CSV newline inside quotes is not a boundary: a field's quotes pair up
    (an escaped quote is doubled), so an odd number of quote characters
    before a newline means it is inside a quoted field.
    """
    size = os.path.getsize(path)
    if size == 0:
        return [Range(0, 0, 0)]
    qbyte = quote.encode() if fmt == "csv" else b""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        counted = [0, 0]  # quotes seen in [0, counted[0]): counted[1]

        def odd_quotes_before(pos: int) -> bool:
            while counted[0] < pos:  # in blocks: a slice of an mmap is a copy
                step = min(pos, counted[0] + (16 << 20))
                counted[1] += mm[counted[0] : step].count(qbyte)
                counted[0] = step
            return counted[1] % 2 == 1

        cuts = [0]
        for i in range(1, jobs):
            target = max(size * i // jobs, cuts[-1])
            while True:
                newline = mm.find(b"\n", target)
                if newline < 0 or not qbyte or not odd_quotes_before(newline):
                    break
                target = newline + 1
            if newline < 0 or newline + 1 >= size:
                break
            cuts.append(newline + 1)
        cuts.append(size)
        ranges = []
        lines = 0
        for start, end in itertools.pairwise(cuts):
            ranges.append(Range(start, end, lines))
            lines += mm[start:end].count(b"\n")
    return ranges


def _stream_range(path: str, rng: Range) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(rng.start)
        left = rng.end - rng.start
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


def cmd_load(args: argparse.Namespace) -> int:
    """``load``: stream a file into a table."""
    if args.format == "binary" and (
        args.delimiter or args.null or args.quote or args.header
    ):
        raise CliError(
            "--delimiter, --null, --quote and --header do not apply to binary"
        )
    if args.jobs > 1:
        return _load_parallel(args)
    stream, size = _open_input(args.file)
    source = "stdin" if args.file == "-" else args.file
    started = time.perf_counter()
    with _connection(args) as conn, stream:
        sql = f"COPY {_target(args)} FROM STDIN {_options_sql(conn, args, args.header)}"
        try:
            with _progress(args, size, "load") as advance, conn.copy_in(sql) as cp:
                while chunk := stream.read(CHUNK):
                    cp.write(chunk)
                    advance(len(chunk))
        except DatabaseError as exc:
            raise CliError(_describe_error(source, exc)) from exc
        except OSError as exc:
            raise CliError(f"{source}: {exc}") from exc
    _report(
        args, f"loaded {cp.rowcount:,} rows into {args.table}", cp.rowcount, started
    )
    return 0


def _report(args: argparse.Namespace, what: str, rows: int, started: float) -> None:
    seconds = time.perf_counter() - started
    rate = f", {rows / seconds:,.0f} rows/s" if seconds > 0 and rows > 0 else ""
    _say(args, f"{what} in {seconds:.2f} s{rate}")


def _load_parallel(args: argparse.Namespace) -> int:
    if args.file == "-" or args.file.endswith((".gz", ".zst", ".zstd")):
        raise CliError(
            "--jobs needs an uncompressed file, not stdin or a compressed one"
        )
    if args.format == "binary":
        raise CliError(
            "--jobs splits text or CSV at line boundaries; binary cannot be split"
        )
    if not os.path.exists(args.file):
        raise CliError(f"{args.file}: No such file or directory")
    ranges = _split(args.file, args.jobs, args.format, args.quote or '"')
    started = time.perf_counter()
    with _dsn(args) as dsn:
        try:
            admin = connect(dsn)
        except Error as exc:
            raise CliError(f"cannot connect: {_first_line(exc)}") from exc
        with admin:
            target = _target(args)
            staging = None
            if args.atomic:
                staging = _create_staging(admin, args)
            lock = threading.Lock()
            with _progress(args, os.path.getsize(args.file), "load") as advance:

                def job(index: int, rng: Range) -> None:
                    try:
                        with connect(dsn) as conn:
                            into = _staging_target(staging, args) if staging else target
                            header = args.header and index == 0
                            options = _options_sql(conn, args, header)
                            sql = f"COPY {into} FROM STDIN {options}"
                            with conn.copy_in(sql) as cp:
                                for chunk in _stream_range(args.file, rng):
                                    cp.write(chunk)
                                    with lock:
                                        advance(len(chunk))
                            rng.rows = cp.rowcount
                    except Error as exc:
                        rng.error = _describe_error(args.file, exc, rng.first_line)

                with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
                    for future in [
                        pool.submit(job, i, r) for i, r in enumerate(ranges)
                    ]:
                        future.result()
            failed = [r for r in ranges if r.error]
            if staging:
                return _finish_atomic(admin, args, staging, ranges, failed, started)
    if failed:
        committed = ", ".join(f"bytes {r.start}-{r.end}" for r in ranges if not r.error)
        raise CliError(
            f"{failed[0].error} (committed: {committed or 'nothing'}; failed: "
            + ", ".join(f"bytes {r.start}-{r.end}" for r in failed)
            + ")"
        )
    rows = sum(r.rows for r in ranges)
    _report(
        args,
        f"loaded {rows:,} rows into {args.table} with {len(ranges)} jobs",
        rows,
        started,
    )
    return 0


def _create_staging(conn: Connection, args: argparse.Namespace) -> str:
    schema, name = parse_table(args.table)
    staging = f"pgcopy_fast_stage_{uuid.uuid4().hex[:12]}"
    conn.execute(
        f"CREATE UNLOGGED TABLE {quote_ident(staging)} "
        f"(LIKE {quote_table(schema, name)} INCLUDING DEFAULTS)"
    )
    return staging


def _staging_target(staging: str, args: argparse.Namespace) -> str:
    target = quote_ident(staging)
    if args.columns:
        target += " (" + ", ".join(quote_ident(c) for c in _columns(args)) + ")"
    return target


def _finish_atomic(
    conn: Connection,
    args: argparse.Namespace,
    staging: str,
    ranges: list[Range],
    failed: list[Range],
    started: float,
) -> int:
    try:
        if failed:
            raise CliError(f"{failed[0].error} (--atomic: nothing committed)")
        schema, name = parse_table(args.table)
        columns = (
            _columns(args)
            if args.columns
            else [c.name for c in column_types(conn, schema, name, None)]
        )
        cols = ", ".join(quote_ident(c) for c in columns)
        result = conn.execute(
            f"BEGIN; INSERT INTO {quote_table(schema, name)} ({cols}) "
            f"SELECT {cols} FROM {quote_ident(staging)}; COMMIT"
        )
        del result
        rows = sum(r.rows for r in ranges)
        _report(
            args,
            f"loaded {rows:,} rows into {args.table} atomically with "
            f"{len(ranges)} jobs",
            rows,
            started,
        )
        return 0
    except DatabaseError as exc:
        with contextlib.suppress(Error):
            conn.execute("ROLLBACK")
        raise CliError(
            f"{args.file}: {_first_line(exc)} (--atomic: nothing committed)"
        ) from exc
    finally:
        with contextlib.suppress(Error):
            conn.execute(f"DROP TABLE IF EXISTS {quote_ident(staging)}")


# -- dump ------------------------------------------------------------------


def cmd_dump(args: argparse.Namespace) -> int:
    """``dump``: stream a table or a query's rows out."""
    if bool(args.table) == bool(args.query):
        raise CliError("give either --table or --query")
    if args.format == "binary" and (
        args.delimiter or args.null or args.quote or args.header
    ):
        raise CliError(
            "--delimiter, --null, --quote and --header do not apply to binary"
        )
    started = time.perf_counter()
    out = _open_output(args.output)
    with _connection(args) as conn:
        source = _target(args) if args.table else f"({args.query.strip().rstrip(';')})"
        sql = f"COPY {source} TO STDOUT {_options_sql(conn, args, args.header)}"
        try:
            with _progress(args, None, "dump") as advance, conn.copy_out(sql) as cp:
                for payloads in cp.read_batches():
                    data = b"".join(payloads)
                    out.write(data)
                    advance(len(data))
        except DatabaseError as exc:
            raise CliError(_describe_error("dump", exc)) from exc
        except BrokenPipeError:
            return 0  # the reader went away (| head): not an error
        finally:
            if out is not sys.stdout.buffer:
                out.close()
            else:
                with contextlib.suppress(BrokenPipeError):
                    out.flush()
    _report(args, f"dumped {cp.rowcount:,} rows", cp.rowcount, started)
    return 0


# -- bench -----------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    """``bench``: the comparison of benchmarks/compare.py."""
    from . import bench

    if args.dsn is None and (os.environ.get("PGHOST") or os.environ.get("PGDATABASE")):
        args.dsn = ""  # the environment names a server: use it
    bench.run(args)
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    """``version``: the version and the loaded implementation."""
    print(f"pgcopy_fast {__version__} (implementation: {__impl__})")
    return 0


# -- arguments -------------------------------------------------------------


def _connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--dsn",
        help="postgresql:// URI or key=value string "
        "(default: PG* variables and ~/.pgpass)",
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


def _format_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("format")
    group.add_argument(
        "--format",
        choices=["csv", "text", "binary"],
        default="csv",
        help="COPY format (default: csv)",
    )
    group.add_argument(
        "--header", action="store_true", help="first line holds column names"
    )
    group.add_argument(
        "--delimiter", help="field separator (default: , for csv, tab for text)"
    )
    group.add_argument("--null", help="the string that means NULL")
    group.add_argument("--quote", help='CSV quote character (default: ")')
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
        "file",
        metavar="FILE",
        help="input file, - for stdin; .gz and .zst are decompressed",
    )
    load.add_argument(
        "--table", "-t", required=True, help="target table, as written in SQL"
    )
    load.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="split the file across N connections (csv/text)",
    )
    load.add_argument(
        "--atomic",
        action="store_true",
        help="with --jobs: load through a staging table, commit once",
    )
    _format_args(load)
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
    _format_args(dump)
    _connection_args(dump)
    dump.set_defaults(func=cmd_dump)

    from . import bench

    bench_parser = sub.add_parser(
        "bench",
        help="compare with psycopg 3, asyncpg, pgcopy, "
        "psycopg2 and psql (peers that are installed)",
    )
    bench.add_arguments(bench_parser)
    bench_parser.set_defaults(func=cmd_bench, quiet=False)

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
    except KeyboardInterrupt:
        print("pgcopy-fast: interrupted", file=sys.stderr)
        return 130
