"""The pgcopy-fast command, run as a subprocess against the test server."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import require

import pgcopy_fast as pcf
from pgcopy_fast.connection.conninfo import resolve


def cli_env(pg_server, impl) -> dict[str, str]:
    """The environment of a pgcopy-fast run: the twin under test, the test server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCOPY_FAST_IMPL"] = "python" if impl.IMPL == "python" else "c"
    params = resolve(pg_server.dsn)
    host, port = params.hosts[0]
    env.update(
        PGHOST=host, PGPORT=str(port), PGUSER=params.user, PGDATABASE=params.dbname
    )
    return env


def run(
    pg_server, impl, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = cli_env(pg_server, impl)
    argv = [sys.executable, "-m", "pgcopy_fast", *args]
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=120)


@pytest.fixture
def cli(pg_server, impl):
    """Run pgcopy-fast with the twin under test, against the test server."""
    return lambda *args, stdin=None: run(pg_server, impl, *args, stdin=stdin)


@pytest.fixture
def cli_table(conn: pcf.Connection) -> str:
    conn.execute(
        "DROP TABLE IF EXISTS cli_t; CREATE TABLE cli_t (id int PRIMARY KEY, name text, note text)"
    )
    return "cli_t"


CSV = b'id,name,note\n1,alpha,"multi\nline, with comma"\n2,beta,\n3,"quote ""q""",x\n'


def test_load_and_dump_csv_with_header_round_trip(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(CSV)
    done = cli("load", str(src), "--table", cli_table, "--header")
    assert done.returncode == 0, done.stderr
    # one summary line, in a pipe too; -q leaves it out
    assert re.fullmatch(
        rb"pgcopy-fast: loaded 3 rows into cli_t in [0-9.]+ s.*\n", done.stderr
    )
    conn.execute("TRUNCATE cli_t")
    quiet = cli("load", str(src), "--table", cli_table, "--header", "-q")
    assert quiet.returncode == 0 and quiet.stderr == b""
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("3",)]
    out = tmp_path / "out.csv"
    done = cli(
        "dump", "--query", "SELECT * FROM cli_t ORDER BY id", "--header", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == CSV.replace(b"2,beta,\n", b"2,beta,\n")


@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_dump_and_load_text_and_binary(
    cli, pg_server, tmp_path: Path, cli_table: str, conn, fmt: str
) -> None:
    conn.execute("INSERT INTO cli_t VALUES (1, 'a\tb', NULL), (2, 'c', 'd')")
    path = tmp_path / f"dump.{fmt}.gz"
    assert (
        cli("dump", "--table", cli_table, "--format", fmt, "-o", str(path)).returncode
        == 0
    )
    assert gzip.decompress(path.read_bytes())  # compressed by extension
    conn.execute("TRUNCATE cli_t")
    done = cli("load", str(path), "--table", cli_table, "--format", fmt)
    assert done.returncode == 0, done.stderr
    assert conn.execute("SELECT * FROM cli_t ORDER BY id").rows == [
        ("1", "a\tb", None),
        ("2", "c", "d"),
    ]


def test_stdin_and_stdout_pipes(cli, pg_server, cli_table: str, conn) -> None:
    done = cli(
        "load",
        "-",
        "--table",
        cli_table,
        "--format",
        "text",
        "--columns",
        "id,name",
        stdin=b"7\tseven\n8\teight\n",
    )
    assert done.returncode == 0, done.stderr
    done = cli(
        "dump", "--query", "SELECT id, name FROM cli_t ORDER BY id", "--format", "text"
    )
    assert done.stdout == b"7\tseven\n8\teight\n"


def test_parallel_jobs_respect_quoted_newlines(
    cli, pg_server, tmp_path: Path, cli_table: str, conn
) -> None:
    lines = [b"id,name,note\n"]
    for i in range(3000):
        lines.append(b'%d,"name\n%d","a,""b"""\n' % (i, i))
    src = tmp_path / "big.csv"
    src.write_bytes(b"".join(lines))
    done = cli("load", str(src), "--table", cli_table, "--header", "--jobs", "3")
    assert done.returncode == 0, done.stderr
    assert conn.execute(
        "SELECT count(*), count(DISTINCT name), min(note), max(note) FROM cli_t"
    ).rows == [("3000", "3000", 'a,"b"', 'a,"b"')]
    conn.execute("TRUNCATE cli_t")
    done = cli(
        "load", str(src), "--table", cli_table, "--header", "--jobs", "3", "--atomic"
    )
    assert done.returncode == 0, done.stderr
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("3000",)]
    assert conn.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgcopy_fast_stage%'"
    ).rows == [("0",)]


def test_malformed_file_names_the_line_and_commits_nothing(
    cli, pg_server, tmp_path: Path, cli_table: str, conn
) -> None:
    src = tmp_path / "bad.csv"
    src.write_bytes(b"1,a,x\n2,b,y\nthree,c,z\n4,d,w\n")
    done = cli("load", str(src), "--table", cli_table)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert err.startswith(
        f"pgcopy-fast: error: {src}: line 3: column id: invalid input syntax for "
        "type integer"
    )
    assert err.count("\n") == 1
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]


def test_parallel_failure_reports_ranges_and_atomic_commits_nothing(
    cli, pg_server, tmp_path: Path, cli_table: str, conn
) -> None:
    rows = [b"%d,n,x\n" % i for i in range(3000)]
    rows[2500] = b"oops,n,x\n"
    src = tmp_path / "bad.csv"
    src.write_bytes(b"".join(rows))
    done = cli("load", str(src), "--table", cli_table, "--jobs", "3", "--atomic")
    assert done.returncode == 1
    assert b"line 2501" in done.stderr and b"nothing committed" in done.stderr
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]
    done = cli("load", str(src), "--table", cli_table, "--jobs", "3")
    assert done.returncode == 1
    assert b"line 2501" in done.stderr
    # the failing job stops the others: every job's transaction rolls back
    assert b"(nothing committed: every job rolled back; run it again)" in done.stderr
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]


@pytest.mark.parametrize("atomic", [[], ["--atomic"]])
def test_parallel_jobs_read_stdin_gzip_and_zstd(
    cli, tmp_path: Path, cli_table: str, conn, atomic: list[str]
) -> None:
    zstandard = require("zstandard")
    lines = [b"id,name,note\n"] + [b'%d,"n\n%d",x\n' % (i, i) for i in range(60000)]
    data = b"".join(lines)
    gz = tmp_path / "big.csv.gz"
    gz.write_bytes(gzip.compress(data))
    zst = tmp_path / "big.csv.zst"
    zst.write_bytes(zstandard.ZstdCompressor().compress(data))
    for source, stdin in ((str(gz), None), (str(zst), None), ("-", data)):
        conn.execute("TRUNCATE cli_t")
        args = ["load", source, "-t", cli_table, "--header", "--jobs", "3", *atomic]
        done = cli(*args, stdin=stdin)
        assert done.returncode == 0, done.stderr
        assert conn.execute("SELECT count(*), sum(id) FROM cli_t").rows == [
            ("60000", str(60000 * 59999 // 2))
        ]


@pytest.mark.parametrize("atomic", [[], ["--atomic"]])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_job_and_leaves_nothing(
    pg_server, impl, cli_table: str, conn, atomic: list[str], signum: int
) -> None:
    # stdin is a pipe we keep open: the load is mid-way when the signal comes
    env = cli_env(pg_server, impl)
    argv = [sys.executable, "-m", "pgcopy_fast", "load", "-", "-t", cli_table]
    proc = subprocess.Popen(
        [*argv, "--jobs", "2", *atomic],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None
    block = b"".join(b"%d,n,x\n" % i for i in range(100000))
    proc.stdin.write(block * 1)  # more than a few chunks, so the jobs are busy
    proc.stdin.flush()
    # wait until the jobs' COPYs are running on the server
    running = "0"
    for _ in range(600):
        running = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %FROM STDIN%' "
            "AND pid <> pg_backend_pid()"
        ).rows[0][0]
        if running == "2":
            break
        threading.Event().wait(0.05)  # hang protection only: we poll the server
    assert running == "2"  # both jobs are mid-COPY when the signal comes
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if signum == signal.SIGINT else 143), err
    assert (
        err.decode().count("\n") == 1
        and "interrupted; committed: nothing" in err.decode()
    )
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]
    assert conn.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgcopy_fast_stage%'"
    ).rows == [("0",)]


def test_missing_file_and_unreachable_server(cli, pg_server, tmp_path: Path) -> None:
    done = cli("load", str(tmp_path / "nope.csv"), "--table", "t")
    assert done.returncode == 1 and b"No such file or directory" in done.stderr
    done = cli("dump", "--table", "t", "--dsn", f"host={tmp_path} port=1")
    assert done.returncode == 1 and b"cannot connect" in done.stderr
    done = cli("dump", "--table", "no_such_table")
    assert done.returncode == 1 and b"does not exist" in done.stderr
    assert cli("load").returncode == 2


def test_temp_server_option(cli, pg_server, tmp_path: Path) -> None:
    if pg_server.temp is None:
        pytest.skip("needs server binaries")
    done = cli("dump", "--query", "SELECT 40 + 2", "--format", "text", "--temp-server")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"42\n"


def test_version_names_the_implementation(cli, pg_server) -> None:
    done = cli("version")
    assert done.stdout.decode().startswith("pgcopy_fast ")


# -- load --header: the header names the columns ---------------------------------


@pytest.fixture
def hdr_table(conn: pcf.Connection) -> str:
    """a and b required, c with a default, d nullable."""
    conn.execute(
        "DROP TABLE IF EXISTS cli_h; CREATE TABLE cli_h "
        "(a int NOT NULL, b text NOT NULL, c text NOT NULL DEFAULT 'dflt', d text)"
    )
    return "cli_h"


def one_error_line(done: subprocess.CompletedProcess[bytes]) -> str:
    """The whole stderr of a failed run, which must be exactly one line."""
    assert done.returncode == 1, done.stderr
    err = done.stderr.decode()
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("pgcopy-fast: error: "), err
    return err[len("pgcopy-fast: error: ") : -1]


def rows(conn: pcf.Connection) -> list[tuple[str | None, ...]]:
    return conn.execute("SELECT a, b, c, d FROM cli_h ORDER BY a").rows


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("csv", b'd,b,a\n"x, y",one,1\n,"t""wo",2\n'),
        ("text", b'd\tb\ta\nx, y\tone\t1\n\\N\tt"wo\t2\n'),
    ],
)
def test_header_swapped_columns_load_by_name(
    cli, tmp_path: Path, hdr_table: str, conn, fmt: str, data: bytes
) -> None:
    src = tmp_path / f"swapped.{fmt}"
    src.write_bytes(data)
    done = cli("load", str(src), "-t", hdr_table, "--format", fmt, "--header")
    assert done.returncode == 0, done.stderr
    assert rows(conn) == [("1", "one", "dflt", "x, y"), ("2", 't"wo', "dflt", None)]


def test_header_quoted_names_delimiter_crlf_and_bom(cli, tmp_path: Path, conn) -> None:
    conn.execute(
        'DROP TABLE IF EXISTS cli_q; CREATE TABLE cli_q ("Semi;Colon" int, "Quo""te" text)'
    )
    src = tmp_path / "q.csv"
    src.write_bytes(b"\xef\xbb\xbf'Quo\"te';'Semi;Colon'\r\nq;5\r\n'r;s';6\r\n")
    done = cli(
        "load", str(src), "-t", "cli_q", "--header", "--delimiter", ";", "--quote", "'"
    )
    assert done.returncode == 0, done.stderr
    assert conn.execute("SELECT * FROM cli_q ORDER BY 1").rows == [
        ("5", "q"),
        ("6", "r;s"),
    ]


def test_header_without_a_defaulted_column_loads_the_default(
    cli, tmp_path: Path, hdr_table: str, conn
) -> None:
    src = tmp_path / "fewer.csv"
    src.write_bytes(b"b,a\nx,1\n")
    done = cli("load", str(src), "-t", hdr_table, "--header")
    assert done.returncode == 0, done.stderr
    assert rows(conn) == [("1", "x", "dflt", None)]


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"], ["--jobs", "2", "--atomic"]])
def test_header_without_a_required_column_is_one_line_and_loads_nothing(
    cli, tmp_path: Path, hdr_table: str, conn, jobs: list[str]
) -> None:
    conn.execute("INSERT INTO cli_h VALUES (0, 'kept', 'k', NULL)")
    src = tmp_path / "lacks.csv"
    src.write_bytes(b"a,d\n" + b"".join(b"%d,x\n" % i for i in range(1, 2000)))
    err = one_error_line(cli("load", str(src), "-t", hdr_table, "--header", *jobs))
    assert err == (
        f'the header of {src} lacks column "b" (NOT NULL, no default), '
        "which public.cli_h requires"
    )
    assert rows(conn) == [("0", "kept", "k", None)]


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"], ["--jobs", "2", "--atomic"]])
def test_header_unknown_column_is_one_line_and_commits_nothing(
    cli, tmp_path: Path, hdr_table: str, conn, jobs: list[str]
) -> None:
    src = tmp_path / "unknown.csv"
    src.write_bytes(b"a,b,distnce\n" + b"".join(b"%d,x,y\n" % i for i in range(2000)))
    err = one_error_line(cli("load", str(src), "-t", hdr_table, "--header", *jobs))
    assert err == (
        f'the header of {src} names column "distnce", which public.cli_h does not have'
    )
    assert rows(conn) == []
    assert conn.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgcopy_fast_stage%'"
    ).rows == [("0",)]


def test_header_unknown_names_get_a_hint(cli, tmp_path: Path, conn) -> None:
    conn.execute(
        "DROP TABLE IF EXISTS cli_f; CREATE TABLE cli_f (a int, distance int, b text)"
    )
    src = tmp_path / "case.csv"
    src.write_bytes(b"A,distnce,b,zzz\n1,2,x,y\n")
    err = one_error_line(cli("load", str(src), "-t", "cli_f", "--header"))
    assert err == (
        f'the header of {src} names columns "A", "distnce", "zzz", which public.cli_f '
        'does not have (did you mean: "A" -> "a"; "distnce" -> "distance"?)'
    )


def test_header_duplicate_name_and_width_mismatch(
    cli, tmp_path: Path, hdr_table: str, conn
) -> None:
    src = tmp_path / "dup.csv"
    src.write_bytes(b"a,b,a\n1,x,2\n")
    err = one_error_line(cli("load", str(src), "-t", hdr_table, "--header"))
    assert err == f'the header of {src} names column "a" more than once'
    src.write_bytes(b"b,a\nx,1,extra\n")
    err = one_error_line(cli("load", str(src), "-t", hdr_table, "--header"))
    assert err == (
        f'the header of {src} names 2 columns ("b", "a") but its first row (line 2) '
        "has 3 fields"
    )
    assert rows(conn) == []


def test_header_later_bad_row_names_its_file_line(
    cli, tmp_path: Path, hdr_table: str, conn
) -> None:
    src = tmp_path / "late.csv"
    src.write_bytes(b"b,a\nx,1\ny,2,extra\n")
    err = one_error_line(cli("load", str(src), "-t", hdr_table, "--header"))
    assert err.startswith(f"{src}: line 3: extra data after last expected column")
    assert rows(conn) == []


def test_header_and_columns_must_agree(
    cli, tmp_path: Path, hdr_table: str, conn
) -> None:
    src = tmp_path / "cols.csv"
    src.write_bytes(b"b,a\nx,1\n")
    err = one_error_line(
        cli("load", str(src), "-t", hdr_table, "--header", "--columns", "a,b")
    )
    assert err == f'the header of {src} names "b", "a" but --columns says "a", "b"'
    assert rows(conn) == []
    done = cli("load", str(src), "-t", hdr_table, "--header", "--columns", "b, a")
    assert done.returncode == 0, done.stderr
    assert rows(conn) == [("1", "x", "dflt", None)]


def test_header_gzip_and_stdin(cli, tmp_path: Path, hdr_table: str, conn) -> None:
    src = tmp_path / "swapped.csv.gz"
    src.write_bytes(gzip.compress(b"b,a\nx,1\n"))
    done = cli("load", str(src), "-t", hdr_table, "--header")
    assert done.returncode == 0, done.stderr
    done = cli("load", "-", "-t", hdr_table, "--header", stdin=b"d,a,b\nw,2,y\n")
    assert done.returncode == 0, done.stderr
    assert rows(conn) == [("1", "x", "dflt", None), ("2", "y", "dflt", "w")]
    src.write_bytes(gzip.compress(b"b,zz\nx,1\n"))
    err = one_error_line(cli("load", str(src), "-t", hdr_table, "--header"))
    assert (
        err
        == f'the header of {src} names column "zz", which public.cli_h does not have'
    )
    err = one_error_line(cli("load", "-", "-t", hdr_table, "--header", stdin=b"a\n1\n"))
    assert err == (
        'the header of stdin lacks column "b" (NOT NULL, no default), '
        "which public.cli_h requires"
    )
    assert conn.execute("SELECT count(*) FROM cli_h").rows == [("2",)]


@pytest.mark.parametrize("atomic", [[], ["--atomic"]])
def test_header_parallel_jobs_load_by_name(
    cli, tmp_path: Path, hdr_table: str, conn, atomic: list[str]
) -> None:
    lines = [b'd,"b",a\n']
    for i in range(4000):
        lines.append(b'"d\n%d",b%d,%d\n' % (i, i, i))
    src = tmp_path / "big.csv"
    src.write_bytes(b"".join(lines))
    done = cli("load", str(src), "-t", hdr_table, "--header", "--jobs", "2", *atomic)
    assert done.returncode == 0, done.stderr
    assert conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE b = 'b' || a AND d = E'd\\n' || a "
        "AND c = 'dflt') FROM cli_h"
    ).rows == [("4000", "4000")]


def test_header_atomic_jobs_with_identity_column(cli, tmp_path: Path, conn) -> None:
    conn.execute(
        "DROP TABLE IF EXISTS cli_i; CREATE TABLE cli_i "
        "(id int GENERATED ALWAYS AS IDENTITY, v text NOT NULL)"
    )
    src = tmp_path / "ident.csv"
    src.write_bytes(b"v\n" + b"".join(b"v%d\n" % i for i in range(3000)))
    done = cli("load", str(src), "-t", "cli_i", "--header", "-j", "2", "--atomic")
    assert done.returncode == 0, done.stderr
    assert conn.execute("SELECT count(DISTINCT id), min(id) FROM cli_i").rows == [
        ("3000", "1")
    ]
    src.write_bytes(b"v,id\n" + b"".join(b"w%d,%d\n" % (i, -i) for i in range(3000)))
    done = cli("load", str(src), "-t", "cli_i", "--header", "-j", "2", "--atomic")
    assert done.returncode == 0, done.stderr  # as COPY: the file's ids are kept
    assert conn.execute("SELECT min(id) FROM cli_i").rows == [("-2999",)]


def test_header_before_postgresql_15_is_left_out_of_the_copy(
    pg_server, tmp_path: Path, hdr_table: str, conn, monkeypatch, capsys
) -> None:
    from pgcopy_fast.cli import commands as cli_module

    monkeypatch.setattr(cli_module, "_header_option", lambda conn: None)
    src = tmp_path / "old.txt"
    src.write_bytes(b"\xef\xbb\xbfb\ta\nx\t1\n")
    argv = ["load", str(src), "-t", hdr_table, "--format", "text", "--header"]
    assert cli_module.main([*argv, "--dsn", pg_server.dsn]) == 0
    assert rows(conn) == [("1", "x", "dflt", None)]
    src.write_bytes(b"b\ta\ny\t2\nz\tthree\n")
    argv += ["--jobs", "2", "--dsn", pg_server.dsn]
    assert cli_module.main(argv) == 1
    err = capsys.readouterr().err
    last = err.splitlines()[-1]  # after the first load's summary line
    assert last.startswith(
        f"pgcopy-fast: error: {src}: line 3: column a: invalid input"
    )
    assert rows(conn)[0] == ("1", "x", "dflt", None)


@pytest.mark.parametrize(
    ("fmt", "data", "fields", "end"),
    [
        ("csv", b'a,"b,""c""\nd",\n', [b"a", b'b,"c"\nd', None], 15),
        ("csv", b'x,"",y\r\nrest', [b"x", b"", b"y"], 8),
        ("csv", b"only\rnext", [b"only"], 5),
        ("text", b"a\\tb\\\\\t\\N\t\\101\\x41\\q\n", [b"a\tb\\", None, b"AAq"], 21),
    ],
)
def test_parse_record(
    fmt: str, data: bytes, fields: list[bytes | None], end: int
) -> None:
    from pgcopy_fast.cli.commands import _parse_record

    null = b"" if fmt == "csv" else b"\\N"
    delim = b"," if fmt == "csv" else b"\t"
    assert _parse_record(data, 0, fmt, delim, b'"', null, False) == (fields, end)
    assert _parse_record(data[: end - 2], 0, fmt, delim, b'"', null, False) is None


# -- bench ------------------------------------------------------------------

BENCH_TABLES = (
    "SELECT count(*) FROM pg_class "
    "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
)


@pytest.mark.kernel_free
def test_bench_unknown_peer_exits_2_naming_the_valid_ones(cli) -> None:
    done = cli("bench", "--peers", "pgcopy_fast[c],psycopg4", "--rows", "10")
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "unknown peer 'psycopg4'" in err
    from pgcopy_fast.cli._bench import PEER_NAMES

    for name in PEER_NAMES:
        assert name in err
    help_text = cli("bench", "--help").stdout.decode()
    for name in PEER_NAMES:
        assert name in help_text


@pytest.mark.kernel_free
def test_bench_leaves_no_tables_and_prints_legend_and_summary(
    cli, pg_server, conn, tmp_path: Path
) -> None:
    import json
    import re

    before = conn.execute(BENCH_TABLES).rows
    out = tmp_path / "bench.json"
    done = cli(
        "bench", "--rows", "2000", "--repeat", "1",
        "--peers", "pgcopy_fast[c],psycopg3", "--dsn", pg_server.dsn,
        "--json", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert conn.execute(BENCH_TABLES).rows == before
    text = done.stdout.decode()
    assert "| wide | in | pgcopy_fast[c] |" in text
    assert "| narrow | out | psycopg3 |" in text
    assert "- `pgcopy_fast[c]`: pgcopy_fast with its compiled (Cython) kernel" in text
    assert "- `psycopg3`: psycopg 3 binary COPY" in text
    assert "set_json_dumps(orjson.dumps)" in text  # which JSON library it got
    assert "Summary:" in text
    for head in ("wide COPY IN", "wide COPY OUT", "narrow COPY IN", "narrow COPY OUT"):
        line = next(x for x in text.splitlines() if x.startswith(f"- {head}, "))
        assert re.search(
            r"\d\N{MULTIPLICATION SIGN} (less|more) client CPU than psycopg3", line
        ), line
    err = done.stderr.decode()
    assert "[8/8] narrow out psycopg3 (run 1):" in err  # progress on stderr
    data = json.loads(out.read_text())
    assert {r["peer"] for r in data["results"]} == {"pgcopy_fast[c]", "psycopg3"}
    assert "orjson" in data["json_library"]["psycopg3"]


@pytest.mark.kernel_free
def test_bench_per_column_prints_a_table_and_leaves_no_tables(
    cli, pg_server, conn
) -> None:
    import re

    before = conn.execute(BENCH_TABLES).rows
    done = cli(
        "bench", "--per-column", "--rows", "500", "--repeat", "1",
        "--types", "int4,jsonb", "--peers", "pgcopy_fast[c],psycopg3",
        "--dsn", pg_server.dsn,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert conn.execute(BENCH_TABLES).rows == before
    text = done.stdout.decode()
    assert "COPY IN (encode), client CPU µs per value:" in text
    assert "COPY OUT (decode), client CPU µs per value:" in text
    assert "| type | pgcopy_fast[c] | psycopg3 |" in text
    assert re.search(r"^\| jsonb \| -?\d+\.\d{3} \| -?\d+\.\d{3} \|$", text, re.M)


@pytest.mark.kernel_free
def test_bench_rows_are_random_realistic_and_reproducible() -> None:
    import datetime as dt
    import uuid
    from decimal import Decimal

    from pgcopy_fast.cli._bench import make_rows

    rows = make_rows("wide", 3000)
    assert rows == make_rows("wide", 3000)  # the same in every worker
    assert rows != make_rows("wide", 3000, seed=7)
    ids = [r[0] for r in rows]
    assert len(set(ids)) == len(ids) and ids != sorted(ids)
    assert all(0 <= i < 1 << 63 for i in ids) and max(ids) > 1 << 60
    assert all(-(1 << 31) <= r[1] < 1 << 31 for r in rows)
    assert all(isinstance(r[2], float) for r in rows)
    assert all(10 <= len(r[3]) <= 30 for r in rows)
    non_ascii = sum(any(ord(c) > 127 for c in r[3]) for r in rows)
    assert 0.1 < non_ascii / len(rows) < 0.5
    created = [r[4] for r in rows]
    assert all(c.tzinfo is dt.timezone.utc for c in created)
    assert (max(created) - min(created)).days > 4 * 365
    assert {type(r[5]) for r in rows} == {bool}
    for r in rows:
        amount: Decimal = r[6]
        assert amount.as_tuple().exponent == -2 and len(amount.as_tuple().digits) == 11
        assert isinstance(r[7], uuid.UUID) and r[7].version == 4
        assert isinstance(r[8], dict) and len(r[8]) == 3
        assert isinstance(r[9], list) and 0 <= len(r[9]) <= 3
    assert {len(r[9]) for r in rows} == {0, 1, 2, 3}
    narrow = make_rows("narrow", 100)
    assert [type(v) for v in narrow[0]] == [int, int, float]


@pytest.mark.parametrize("fmt", ["csv", "text"])
def test_dump_jobs_one_file_or_parts(
    cli, tmp_path: Path, cli_table: str, conn, fmt: str
) -> None:
    conn.execute(
        "INSERT INTO cli_t SELECT g, 'n' || g, 'x' FROM generate_series(1, 30000) g"
    )
    one = tmp_path / f"all.{fmt}.gz"
    done = cli(
        "dump",
        "-t",
        cli_table,
        "--jobs",
        "3",
        "--format",
        fmt,
        "--header",
        "-o",
        str(one),
    )
    assert done.returncode == 0, done.stderr
    lines = gzip.decompress(one.read_bytes()).splitlines()
    assert len(lines) == 30001 and lines[0].startswith(b"id")  # the header once
    assert sorted(
        int(x.split(b"," if fmt == "csv" else b"\t")[0]) for x in lines[1:]
    ) == list(range(1, 30001))
    out = tmp_path / f"p.{fmt}"
    done = cli(
        "dump", "-t", cli_table, "-j", "2", "--format", fmt, "--parts", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    parts = [tmp_path / f"p.part{i}.{fmt}" for i in range(2)]
    assert sum(len(p.read_bytes().splitlines()) for p in parts) == 30000
    query = f"SELECT id FROM {cli_table} WHERE id % 3 = 0"
    done = cli("dump", "--query", query, "-j", "2", "--partition-on", "id")
    assert done.returncode == 0, done.stderr
    assert sorted(map(int, done.stdout.splitlines())) == list(range(3, 30001, 3))
    assert not list(tmp_path.glob(".pgcopy_fast-dump-*"))


def test_parquet_arrow_and_ndjson_load_create_truncate_and_dump(
    cli, tmp_path: Path, conn
) -> None:
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    table = pa.table(
        {
            "id": pa.array(range(5000), pa.int64()),
            "name": [f"n{i}" for i in range(5000)],
            "amount": pa.array([None] + [i / 4 for i in range(4999)], pa.float64()),
            "tags": [["a", "b"]] * 5000,
        }
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=1000)
    with pa.OSFile(str(tmp_path / "t.arrow"), "wb") as sink:
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=700)
    (tmp_path / "t.ndjson").write_bytes(
        b"".join(b'{"id": %d, "name": "j%d"}\n' % (i, i) for i in range(300))
    )
    conn.execute("DROP TABLE IF EXISTS pq_t")
    dry = cli(
        "load", str(tmp_path / "t.parquet"), "-t", "pq_t", "--create", "--dry-run"
    )
    assert dry.returncode == 0, dry.stderr
    assert b"CREATE TABLE" in dry.stdout and b'"tags" text[]' in dry.stdout
    done = cli("load", str(tmp_path / "t.parquet"), "-t", "pq_t", "--create")
    assert done.returncode == 0, done.stderr
    kinds = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'pq_t'::regclass AND attnum > 0 ORDER BY attnum"
    ).rows
    assert kinds == [
        ("id", "bigint"),
        ("name", "text"),
        ("amount", "double precision"),
        ("tags", "text[]"),
    ]
    done = cli("load", str(tmp_path / "t.arrow"), "-t", "pq_t", "--truncate", "-j", "2")
    assert done.returncode == 0, done.stderr
    assert conn.execute("SELECT count(*), sum(id) FROM pq_t").rows == [
        ("5000", "12497500")
    ]
    done = cli("load", str(tmp_path / "t.ndjson"), "-t", "pq_t", "--truncate")
    assert done.returncode == 0, done.stderr
    assert conn.execute("SELECT count(*), max(name) FROM pq_t").rows == [("300", "j99")]
    for ext in ("parquet", "arrow", "ndjson"):
        out = tmp_path / f"out.{ext}"
        done = cli("dump", "-t", "pq_t", "-o", str(out))
        assert done.returncode == 0, done.stderr
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 300
    assert len((tmp_path / "out.ndjson").read_bytes().splitlines()) == 300
    conn.execute("DROP TABLE pq_t")


@pytest.mark.kernel_free
def test_scratch_server_start_status_stop(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}

    def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "pgcopy_fast", *args]
        return subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=120
        )

    started = run_cli("server", "start")
    assert started.returncode == 0, started.stderr
    uri = started.stdout.strip()
    assert uri.startswith("postgresql://postgres@127.0.0.1:")
    try:
        assert run_cli("server", "status").stdout.strip() == uri
        assert run_cli("server", "start").stdout.strip() == uri  # the same one
        with pcf.connect(uri) as c:
            assert c.execute("SELECT 1").rows == [("1",)]
        env["PGCOPY_FAST_DSN"] = uri  # the quick start's: no --dsn needed
        dumped = run_cli("dump", "--query", "SELECT 41 + 1")
        assert dumped.returncode == 0 and dumped.stdout == "42\n", dumped.stderr
        with pcf.connect(uri) as c:
            c.execute("CREATE TABLE kept (a int); INSERT INTO kept VALUES (7)")
        # a reboot stops the server and leaves its directory: start it again
        state = json.loads((tmp_path / "pgcopy_fast" / "server.json").read_text())
        pg_ctl = os.path.join(state["bindir"], "pg_ctl")
        data = os.path.join(state["base_dir"], "data")
        subprocess.run([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"],
                       user=state["as_user"], check=True, capture_output=True)  # fmt: skip
        assert run_cli("server", "status").returncode == 1
        again = run_cli("server", "start")
        assert again.returncode == 0 and "its tables kept" in again.stderr, again.stderr
        uri = again.stdout.strip()
        with pcf.connect(uri) as c:
            assert c.execute("SELECT a FROM kept").rows == [("7",)]
    finally:
        stopped = run_cli("server", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert run_cli("server", "status").returncode == 1


def test_upsert_encoding_force_null_before_after_and_the_column_in_errors(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    conn.execute("INSERT INTO cli_t VALUES (1, 'old', 'keep'), (2, 'old', 'keep')")
    src = tmp_path / "up.csv"
    src.write_bytes(b"2,neu,n2\n3,trois,n3\n")
    done = cli("load", str(src), "-t", cli_table, "--upsert", "id")
    assert done.returncode == 0, done.stderr
    assert b"into cli_t" in done.stderr and b"pgcopy_fast_stage" not in done.stderr
    assert conn.execute("SELECT id, name, note FROM cli_t ORDER BY id").rows == [
        ("1", "old", "keep"),
        ("2", "neu", "n2"),
        ("3", "trois", "n3"),
    ]
    assert conn.execute(
        "SELECT count(*) FROM pg_class WHERE relname LIKE 'pgcopy_fast_stage%'"
    ).rows == [("0",)]
    latin = tmp_path / "latin1.csv"
    latin.write_bytes('4,caf\xe9,""\n'.encode("latin-1"))
    done = cli(
        "load", str(latin), "-t", cli_table, "--encoding", "LATIN1",
        "--force-null", "note",
        "--before", "CREATE TEMP TABLE IF NOT EXISTS x (a int)",
        "--after", "UPDATE cli_t SET note = 'after' WHERE id = 3",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert conn.execute(
        "SELECT name, note FROM cli_t WHERE id IN (3, 4) ORDER BY id"
    ).rows == [
        ("trois", "after"),
        ("café", None),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"5,a,b\nsix,b,c\n")
    err = one_error_line(cli("load", str(bad), "-t", cli_table))
    assert err.startswith(f"{bad}: line 2: column id: invalid input syntax"), err


def test_on_error_skip_sets_bad_rows_aside(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    n = 30000
    bad = {7, 4999, 5000, 12345, 29999}
    rows = []
    for i in range(n):
        if i in bad:
            rows.append(b'x%d,"bad\nrow",z\n' % i)  # a quoted newline in a bad row
        else:
            rows.append(b'%d,"n\n%d",x\n' % (i, i))
    src = tmp_path / "scattered.csv"
    src.write_bytes(b"".join(rows))
    rejects = tmp_path / "rejects.txt"
    args = [
        "load",
        str(src),
        "-t",
        cli_table,
        "--on-error",
        "skip",
        "--rejects",
        str(rejects),
    ]
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert b"rejected 5" in done.stderr
    loaded = int(conn.execute("SELECT count(*) FROM cli_t").rows[0][0])
    assert loaded + len(bad) == n
    report = rejects.read_bytes().decode()
    # each reject: its line in the file (two physical lines per row) and the message
    for i in sorted(bad):
        assert (
            f"line {2 * i + 1}: column id: invalid input syntax for type integer"
            in report
        )
        assert f'x{i},"bad\nrow",z\n' in report
    conn.execute("TRUNCATE cli_t")
    done = cli(*args, "--max-errors", "3")
    assert done.returncode == 1 and b"more than 3 bad rows" in done.stderr
    assert b"nothing committed" in done.stderr
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]


def test_a_glob_of_csv_files_loads_them_all(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    for part in range(3):
        rows = b"".join(b"%d,n,x\n" % (part * 100 + i) for i in range(100))
        data = gzip.compress(rows) if part == 1 else rows
        (tmp_path / f"part-{part}.csv{'.gz' if part == 1 else ''}").write_bytes(data)
    done = cli("load", str(tmp_path / "part-*.csv*"), "-t", cli_table)
    assert done.returncode == 0, done.stderr
    assert b"loaded 300 rows into cli_t from 3 files" in done.stderr
    assert conn.execute("SELECT count(*), sum(id) FROM cli_t").rows == [
        ("300", "44850")
    ]


def test_create_from_a_csv_infers_the_types(cli, tmp_path: Path, conn) -> None:
    src = tmp_path / "infer.csv"
    src.write_bytes(
        b'id,name,price,day,ok\n1,"a, b",1.5,2024-01-02,true\n2,,2.25,2024-01-03,false\n'
    )
    conn.execute("DROP TABLE IF EXISTS inf_t")
    dry = cli("load", str(src), "-t", "inf_t", "--header", "--create", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith(b"CREATE TABLE")
    done = cli("load", str(src), "-t", "inf_t", "--header", "--create")
    assert done.returncode == 0, done.stderr
    kinds = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'inf_t'::regclass AND attnum > 0 ORDER BY attnum"
    ).rows
    assert kinds == [
        ("id", "bigint"),
        ("name", "text"),
        ("price", "double precision"),
        ("day", "date"),
        ("ok", "boolean"),
    ]
    assert conn.execute("SELECT count(*), count(name) FROM inf_t").rows == [("2", "1")]
    conn.execute("DROP TABLE inf_t")


# -- one load, all or nothing ------------------------------------------------------


def _staging_tables(conn: pcf.Connection) -> list[tuple[str | None, ...]]:
    return conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE 'pgcopy_fast_stage%'"
    ).rows


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_a_failing_file_of_a_glob_commits_nothing(
    cli, tmp_path: Path, cli_table: str, conn, jobs: list[str]
) -> None:
    conn.execute(
        "INSERT INTO cli_t SELECT g, 'kept', NULL FROM generate_series(-9, 0) g"
    )
    before = conn.execute("SELECT count(*), sum(id) FROM cli_t").rows
    for part in range(3):
        rows = [b"%d,n,x\n" % (part * 5000 + i + 1) for i in range(5000)]
        if part == 2:
            rows[4321] = b"oops,n,x\n"
        (tmp_path / f"part-{part}.csv").write_bytes(b"".join(rows))
    pattern = str(tmp_path / "part-*.csv")
    for extra in ([], ["--truncate"], ["--before", "DELETE FROM cli_t"]):
        err = one_error_line(cli("load", pattern, "-t", cli_table, *jobs, *extra))
        assert err.startswith(f"{tmp_path / 'part-2.csv'}: line 4322: column id:"), err
        assert "nothing committed" in err or not jobs, err
        # the files before it, the TRUNCATE and the --before: all rolled back
        assert conn.execute("SELECT count(*), sum(id) FROM cli_t").rows == before
        assert _staging_tables(conn) == []


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_create_that_fails_to_load_leaves_no_table(
    cli, tmp_path: Path, conn, jobs: list[str]
) -> None:
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    conn.execute("DROP TABLE IF EXISTS made_t")
    # text with a NUL, which PostgreSQL refuses: the load fails after the CREATE
    table = pa.table({"id": pa.array(range(3000), pa.int64()), "s": ["x\x00y"] * 3000})
    pq.write_table(table, tmp_path / "nul.parquet", row_group_size=500)
    done = cli("load", str(tmp_path / "nul.parquet"), "-t", "made_t", "--create", *jobs)
    assert done.returncode == 1, done.stderr
    assert conn.execute("SELECT to_regclass('made_t') IS NULL").rows == [("t",)]
    assert _staging_tables(conn) == []


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_upsert_keeps_identities_and_generates_the_new_ones(
    cli, tmp_path: Path, conn, jobs: list[str]
) -> None:
    conn.execute(
        "DROP TABLE IF EXISTS up_t; CREATE TABLE up_t (id int GENERATED ALWAYS AS "
        "IDENTITY PRIMARY KEY, code text UNIQUE NOT NULL, n int, "
        "seen timestamptz NOT NULL DEFAULT now())"
    )
    conn.execute(
        "INSERT INTO up_t (code, n) SELECT 'c' || g, 0 FROM generate_series(1, 100) g"
    )
    old = dict(conn.execute("SELECT code, id FROM up_t").rows)
    src = tmp_path / "up.csv"
    # codes 51..150: 50 updates, 50 inserts; the file has no id column
    src.write_bytes(
        b"n,code\n" + b"".join(b"%d,c%d\n" % (g, g) for g in range(51, 151))
    )
    done = cli("load", str(src), "-t", "up_t", "--header", "--upsert", "code", *jobs)
    assert done.returncode == 0, done.stderr
    got = {code: (int(i), int(n)) for i, code, n in conn.execute(
        "SELECT id, code, n FROM up_t").rows}  # fmt: skip
    assert len(got) == 150
    for g in range(1, 151):
        ident, n = got[f"c{g}"]
        assert n == (g if g > 50 else 0)
        if g <= 100:
            assert ident == int(old[f"c{g}"])  # an update keeps its identity
    new_ids = [got[f"c{g}"][0] for g in range(101, 151)]
    assert len(set(new_ids)) == 50 and min(new_ids) > 100  # the table's sequence
    assert _staging_tables(conn) == []
    conn.execute("DROP TABLE up_t")


def test_on_error_skip_over_a_glob_counts_every_file(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    for part in range(2):
        rows = [b"%d,n,x\n" % (part * 100 + i) for i in range(100)]
        rows[10 * (part + 1)] = b"bad%d,n,x\n" % part
        (tmp_path / f"s-{part}.csv").write_bytes(b"".join(rows))
    rejects = tmp_path / "rej.txt"
    args = ["load", str(tmp_path / "s-*.csv"), "-t", cli_table, "--on-error", "skip"]
    done = cli(*args, "--rejects", str(rejects))
    assert done.returncode == 0, done.stderr
    assert b"loaded 198 rows into cli_t from 2 files, rejected 2" in done.stderr
    report = rejects.read_bytes().decode()
    assert "line 11: " in report and "bad0,n,x\n" in report
    assert "line 21: " in report and "bad1,n,x\n" in report
    conn.execute("TRUNCATE cli_t")
    done = cli(*args, "--max-errors", "1")  # one bad row per file: two in all
    assert done.returncode == 1 and b"more than 1 bad rows" in done.stderr
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]


def test_ndjson_dump_is_the_servers_json_one_object_per_line(
    cli, tmp_path: Path, conn
) -> None:
    orjson = require("orjson")
    conn.execute(
        "DROP TABLE IF EXISTS nj_t; CREATE TABLE nj_t (id int, s text, j json, "
        "n numeric, t timestamptz, b bytea, f float8, a int[])"
    )
    conn.execute(
        'INSERT INTO nj_t VALUES (1, E\'a\\\\b"c\\nd\\te\', E\'{"k":\\n\\t"v\\\\n"}\', '
        "1.50, '2024-01-02 03:04:05+00', '\\x0102', 'Infinity', '{1,NULL}'), "
        "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
    )
    conn.execute(
        "INSERT INTO nj_t SELECT g, E'x\\\\' || g, NULL, g, NULL, NULL, g, NULL "
        "FROM generate_series(3, 5000) g"
    )
    one, two = tmp_path / "one.ndjson", tmp_path / "two.ndjson.gz"
    done = cli("dump", "-t", "nj_t", "-o", str(one))
    assert done.returncode == 0, done.stderr
    done = cli("dump", "-t", "nj_t", "-o", str(two), "-j", "2")
    assert done.returncode == 0, done.stderr
    lines = one.read_bytes().splitlines()
    assert sorted(lines) == sorted(gzip.decompress(two.read_bytes()).splitlines())
    got = {r["id"]: r for r in map(orjson.loads, lines)}
    assert len(got) == 5000 and got[77]["s"] == "x\\77"
    assert got[1] == {
        "id": 1,
        "s": 'a\\b"c\nd\te',
        "j": {"k": "v\n"},  # the json column's raw newline and tab were whitespace
        "n": 1.5,
        "t": "2024-01-02T03:04:05+00:00",
        "b": "\\x0102",
        "f": "Infinity",
        "a": [1, None],
    }
    assert set(got[2].values()) == {2, None}
    query = cli("dump", "--query", "SELECT id AS \"the id\" FROM nj_t WHERE id = 1",
                "--format", "ndjson")  # fmt: skip
    assert query.returncode == 0 and query.stdout == b'{"the id":1}\n', query.stderr
    conn.execute("DROP TABLE nj_t")


@pytest.mark.kernel_free
def test_a_parquet_file_is_read_a_row_group_at_a_time(tmp_path: Path) -> None:
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    from pgcopy_fast.cli import files

    n = 2_000_000
    table = pa.table(
        {"id": pa.array(range(n), pa.int64()), "x": pa.array(range(n), pa.float64())}
    )
    path = tmp_path / "big.parquet"
    pq.write_table(table, path, row_group_size=50_000, compression="none")
    del table
    base = pa.total_allocated_bytes()
    most, rows = 0, 0
    for batch in files.open_reader(str(path), "parquet"):
        rows += batch.num_rows
        most = max(most, pa.total_allocated_bytes() - base)
        del batch
    assert rows == n
    # 32 MB of data: reading ahead (pyarrow's pre_buffer) would hold all of it
    assert most < path.stat().st_size / 4, (most, path.stat().st_size)


def test_compressed_dumps_are_whole(cli, tmp_path: Path, cli_table: str, conn) -> None:
    zstandard = require("zstandard")
    conn.execute(
        "INSERT INTO cli_t SELECT g, md5(g::text), NULL FROM generate_series(1, 200000) g"
    )
    plain, gz, zst = tmp_path / "a.csv", tmp_path / "a.csv.gz", tmp_path / "a.csv.zst"
    for out in (plain, gz, zst):
        done = cli("dump", "-t", cli_table, "-o", str(out))
        assert done.returncode == 0, done.stderr
    assert gzip.decompress(gz.read_bytes()) == plain.read_bytes()
    with zstandard.ZstdDecompressor().stream_reader(zst.open("rb")) as r:
        assert r.read() == plain.read_bytes()
    assert len(plain.read_bytes().splitlines()) == 200000


def test_several_file_arguments_and_globs_load_as_one(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    for part in range(4):
        rows = b"".join(b"%d,n,x\n" % (part * 100 + i) for i in range(100))
        (tmp_path / f"f{part}.csv").write_bytes(rows)
    glob = str(tmp_path / "f[23].csv")
    done = cli(
        "load",
        str(tmp_path / "f0.csv"),
        str(tmp_path / "f1.csv"),
        glob,
        "-t",
        cli_table,
    )
    assert done.returncode == 0, done.stderr
    assert b"loaded 400 rows into cli_t from 4 files" in done.stderr
    assert conn.execute("SELECT count(*), sum(id) FROM cli_t").rows == [
        ("400", "79800")
    ]
    (tmp_path / "g.parquet").write_bytes(b"")
    err = one_error_line(
        cli(
            "load",
            str(tmp_path / "f0.csv"),
            str(tmp_path / "g.parquet"),
            "-t",
            cli_table,
        )
    )
    assert err == "the files are of 2 formats (csv, parquet): one load reads one format"
    err = one_error_line(cli("load", "-", str(tmp_path / "f0.csv"), "-t", cli_table))
    assert err == "- (stdin) is the only input of its load"


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_a_columnar_server_error_names_the_row_and_column(
    cli, tmp_path: Path, conn, jobs: list[str]
) -> None:
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    conn.execute(
        "DROP TABLE IF EXISTS nn_t; CREATE TABLE nn_t (id int NOT NULL, s text)"
    )
    ids = pa.array([1, 2, None, 4], pa.int32())
    pq.write_table(pa.table({"id": ids, "s": list("abcd")}), tmp_path / "n.parquet")
    err = one_error_line(cli("load", str(tmp_path / "n.parquet"), "-t", "nn_t", *jobs))
    where = "row 2, " if not jobs else ""
    assert err.startswith(f"{tmp_path / 'n.parquet'}: {where}column id: null value"), (
        err
    )
    assert conn.execute("SELECT count(*) FROM nn_t").rows == [("0",)]
    conn.execute("DROP TABLE nn_t")


@pytest.mark.parametrize("ext", ["parquet", "arrow"])
def test_a_columnar_dump_of_many_batches_is_the_table(
    cli, tmp_path: Path, conn, ext: str
) -> None:
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    conn.execute(
        "DROP TABLE IF EXISTS many_t; CREATE TABLE many_t AS SELECT g AS id, "
        "md5(g::text) AS s, g / 7.0 AS x FROM generate_series(1, 300000) g"
    )
    out = tmp_path / f"many.{ext}"
    done = cli("dump", "-t", "many_t", "-o", str(out))
    assert done.returncode == 0, done.stderr
    if ext == "parquet":
        got = pq.read_table(out)
    else:
        got = pa.ipc.open_file(str(out)).read_all()
    # the batches were written by a thread while the next ones were read
    expected = conn.copy_arrow_out("many_t").read_all()
    assert got.num_rows == 300000 and got.equals(expected)
    conn.execute("DROP TABLE many_t")


def _on_a_terminal(pg_server, impl, *args: str) -> str:
    """Run pgcopy-fast with stderr on a pseudo-terminal 120 columns wide."""
    import fcntl
    import pty
    import struct
    import termios

    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = cli_env(pg_server, impl)
    argv = [sys.executable, "-m", "pgcopy_fast", *args]
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(main, 65536)
            except OSError:  # the other side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        done = subprocess.run(
            argv, stderr=side, stdout=subprocess.DEVNULL, env=env, timeout=120
        )
    finally:
        os.close(side)
        reader.join(timeout=30)
        os.close(main)
    assert done.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_on_a_terminal_counts_rows(
    pg_server, impl, tmp_path: Path, cli_table: str, conn
) -> None:
    require("tqdm")
    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    src = tmp_path / "p.csv"
    src.write_bytes(b"".join(b"%d,n,x\n" % i for i in range(50000)))
    shown = _on_a_terminal(pg_server, impl, "load", str(src), "-t", cli_table)
    assert "load: 100%" in shown and "50,000 rows" in shown, shown
    conn.execute("TRUNCATE cli_t")
    table = pa.table({"id": pa.array(range(70000), pa.int32())})
    pq.write_table(table, tmp_path / "p.parquet", row_group_size=10000)
    shown = _on_a_terminal(
        pg_server, impl, "load", str(tmp_path / "p.parquet"), "-t", cli_table
    )
    assert "70.0k/70.0k" in shown and "rows/s" in shown, (
        shown
    )  # its total: the footer's
    shown = _on_a_terminal(
        pg_server, impl, "dump", "-t", cli_table, "-o", str(tmp_path / "o.parquet")
    )
    assert "70.0k rows" in shown, shown


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
@pytest.mark.parametrize("ext", ["gz", "zst"])
def test_a_compressed_file_cut_short_loads_nothing(
    cli, tmp_path: Path, cli_table: str, conn, ext: str, jobs: list[str]
) -> None:
    zstandard = require("zstandard")
    rows = b"".join(b"%d,n,x\n" % i for i in range(300000))
    whole = (
        gzip.compress(rows)
        if ext == "gz"
        else zstandard.ZstdCompressor().compress(rows)
    )
    src = tmp_path / f"cut.csv.{ext}"
    src.write_bytes(whole[: len(whole) * 2 // 3])
    err = one_error_line(cli("load", str(src), "-t", cli_table, *jobs))
    assert err.startswith(f"{src}: "), err
    assert "ended before" in err or "ends inside a zstd frame" in err, err
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]
    ndjson = tmp_path / f"cut.ndjson.{ext}"
    lines = b"".join(b'{"id": %d}\n' % i for i in range(300000))
    packed = (
        gzip.compress(lines)
        if ext == "gz"
        else zstandard.ZstdCompressor().compress(lines)
    )
    ndjson.write_bytes(packed[: len(packed) // 2])
    err = one_error_line(cli("load", str(ndjson), "-t", cli_table, *jobs))
    assert err.startswith(f"{ndjson}: "), err
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]


def test_a_file_pyarrow_cannot_read_is_one_line(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    src = tmp_path / "drift.ndjson"
    src.write_bytes(b'{"id": 1}\n' * 60000 + b'{"id": "two"}\n')
    err = one_error_line(cli("load", str(src), "-t", cli_table))
    assert err.startswith(f"{src}: JSON parse error"), err
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]


def test_a_failed_dump_leaves_the_earlier_file_as_it_was(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    conn.execute(
        "INSERT INTO cli_t SELECT g, 'n', NULL FROM generate_series(1, 1000) g"
    )
    for name in ("old.csv", "old.csv.gz", "old.parquet", "old.ndjson"):
        out = tmp_path / name
        out.write_bytes(b"earlier contents")
        bad = "SELECT id, 1 / (id - 700) FROM cli_t"  # fails part way through
        for jobs in ([], ["--jobs", "2", "--partition-on", "id"]):
            if name.endswith(".parquet") and jobs:
                continue
            done = cli("dump", "--query", bad, "-o", str(out), *jobs)
            assert done.returncode == 1 and b"division by zero" in done.stderr, (
                done.stderr
            )
            assert out.read_bytes() == b"earlier contents"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS dummy (a int)")  # still usable
    out = tmp_path / "iv.parquet"
    conn.execute(
        "DROP TABLE IF EXISTS iv_t; CREATE TABLE iv_t AS SELECT interval '1 day' AS d"
    )
    err = one_error_line(cli("dump", "-t", "iv_t", "-o", str(out)))
    assert err.startswith(f"{out}: "), err
    assert not out.exists()
    conn.execute("DROP TABLE iv_t")


def test_ndjson_dump_of_some_columns(cli, tmp_path: Path, cli_table: str, conn) -> None:
    conn.execute("INSERT INTO cli_t VALUES (1, 'a', 'x'), (2, 'b', NULL)")
    for jobs in ([], ["--jobs", "2"]):
        done = cli(
            "dump", "-t", cli_table, "--columns", "note,id", "--format", "ndjson", *jobs
        )
        assert done.returncode == 0, done.stderr
        assert sorted(done.stdout.splitlines()) == [
            b'{"note":"x","id":1}',
            b'{"note":null,"id":2}',
        ]
    err = one_error_line(
        cli("dump", "-t", cli_table, "--format", "ndjson", "--encoding", "LATIN1")
    )
    assert err == "--encoding does not apply to ndjson"


@pytest.mark.parametrize("extra", [["--truncate"], ["--upsert", "id"], ["--atomic"]])
def test_staging_lives_in_the_tables_schema(
    cli, pg_server, tmp_path: Path, conn, extra: list[str]
) -> None:
    conn.execute(
        'DROP SCHEMA IF EXISTS "App Data" CASCADE; CREATE SCHEMA "App Data"; '
        'CREATE TABLE "App Data"."Events" (id int PRIMARY KEY, "Name" text)'
    )
    if extra != ["--atomic"]:  # a row the load replaces
        conn.execute("""INSERT INTO "App Data"."Events" VALUES (1, 'old')""")
    src = tmp_path / "e.csv"
    src.write_bytes(
        b"id,Name\n" + b"".join(b"%d,n%d\n" % (i, i) for i in range(1, 20001))
    )
    table = '"App Data"."Events"'
    # a search_path with no schema to create in: only the table's own will do
    dsn = f"{pg_server.dsn} options='-c search_path=nowhere'"
    done = cli(
        "load", str(src), "-t", table, "--header", "-j", "2", *extra, "--dsn", dsn
    )
    assert done.returncode == 0, done.stderr
    count = conn.execute('SELECT count(*), max("Name") FROM "App Data"."Events"').rows
    assert count == [("20000", "n9999")], count
    assert _staging_tables(conn) == []
    conn.execute('DROP SCHEMA "App Data" CASCADE')


def test_a_staged_constraint_error_shows_the_failing_row(
    cli, tmp_path: Path, cli_table: str, conn
) -> None:
    src = tmp_path / "dup.csv"
    src.write_bytes(b"".join(b"%d,n,x\n" % i for i in range(1, 5001)) + b"77,again,x\n")
    err = one_error_line(cli("load", str(src), "-t", cli_table, "-j", "2", "--atomic"))
    assert "duplicate key value violates unique constraint" in err, err
    assert "Key (id)=(77) already exists" in err and "nothing committed" in err, err
    assert conn.execute("SELECT count(*) FROM cli_t").rows == [("0",)]


def test_a_commit_the_server_refuses_is_said(cli, tmp_path: Path, conn) -> None:
    conn.execute(
        "DROP TABLE IF EXISTS dfr_t; CREATE TABLE dfr_t (id int, "
        "UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    src = tmp_path / "d.csv"
    src.write_bytes(b"".join(b"%d\n%d\n" % (i, i) for i in range(100)))
    err = one_error_line(cli("load", str(src), "-t", "dfr_t", "-j", "2"))
    assert re.match(
        rf"{re.escape(str(src))}: COMMIT of job \d: duplicate key value", err
    )
    assert err.endswith("(nothing committed)"), err
    assert conn.execute("SELECT count(*) FROM dfr_t").rows == [("0",)]
    conn.execute("DROP TABLE dfr_t")


@pytest.mark.kernel_free
def test_held_signals_wait_for_the_end_of_the_block() -> None:
    from pgcopy_fast.cli import commands

    reached = False
    with pytest.raises(KeyboardInterrupt):
        with commands._held_signals():
            signal.raise_signal(signal.SIGINT)  # held: the block goes on
            reached = True
    assert reached
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_text_options_do_not_apply_to_columnar_files(
    cli, tmp_path: Path, cli_table: str
) -> None:
    (tmp_path / "t.parquet").write_bytes(b"")
    for option in (["--header"], ["--delimiter", ";"], ["--encoding", "LATIN1"]):
        err = one_error_line(
            cli("load", str(tmp_path / "t.parquet"), "-t", cli_table, *option)
        )
        assert err == f"{option[0]} does not apply to parquet"


def test_upsert_with_on_error_skip(cli, tmp_path: Path, cli_table: str, conn) -> None:
    conn.execute("INSERT INTO cli_t VALUES (1, 'old', 'o')")
    src, rejects = tmp_path / "us.csv", tmp_path / "rej.txt"
    src.write_bytes(b"1,new,x\n2,b,y\nbad,c,z\n3,d,w\n")
    done = cli("load", str(src), "-t", cli_table, "--upsert", "id", "--on-error", "skip",
               "--rejects", str(rejects))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert rejects.read_bytes().startswith(f"{src}: line 3: ".encode())
    assert conn.execute("SELECT id, name FROM cli_t ORDER BY id").rows == [
        ("1", "new"), ("2", "b"), ("3", "d"),
    ]  # fmt: skip


def test_a_columnar_dump_leaves_stdout_open(
    pg_server, tmp_path: Path, cli_table: str, conn
) -> None:
    # a Parquet dump and a query's rows to stdout in one process
    from pgcopy_fast.cli import commands

    conn.execute("INSERT INTO cli_t VALUES (1, 'a', 'x')")
    out = tmp_path / "o.parquet"
    argv = ["dump", "-t", cli_table, "-o", str(out), "-q", "--dsn", pg_server.dsn]
    assert commands.main(argv) == 0 and out.exists()
    assert not sys.stdout.closed


@pytest.mark.parametrize("jobs", [[], ["--jobs", "2"]])
def test_a_corrupt_parquet_file_is_one_line_and_loads_nothing(
    cli, tmp_path: Path, conn, jobs: list[str]
) -> None:
    import random

    pa = require("pyarrow")
    pq = require("pyarrow.parquet")
    n = 400000
    table = pa.table(
        {"id": pa.array(range(n), pa.int64()), "s": [f"s{i}" for i in range(n)]}
    )
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path, row_group_size=50000, compression="snappy")
    data = bytearray(path.read_bytes())
    noise = random.Random(3)
    middle = len(data) * 3 // 5  # a later row group; the footer stays whole
    for i in range(middle, middle + 2000):
        data[i] = noise.randrange(256)
    path.write_bytes(bytes(data))
    conn.execute("DROP TABLE IF EXISTS bad_t; CREATE TABLE bad_t (id int8, s text)")
    err = one_error_line(cli("load", str(path), "-t", "bad_t", *jobs))
    assert err.startswith(f"{path}: ") and "Traceback" not in err, err
    assert conn.execute("SELECT count(*) FROM bad_t").rows == [("0",)]
    conn.execute("DROP TABLE bad_t")
