"""The pgcopy-fast command, run as a subprocess against the test server."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pgcopy_fast as pcf
from pgcopy_fast.conninfo import resolve


def run(
    pg_server, impl, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCOPY_FAST_IMPL"] = "python" if impl.IMPL == "python" else "c"
    params = resolve(pg_server.dsn)
    host, port = params.hosts[0]
    env.update(
        PGHOST=host, PGPORT=str(port), PGUSER=params.user, PGDATABASE=params.dbname
    )
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
    assert done.stderr == b""  # quiet in a pipe
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
        f"pgcopy-fast: error: {src}: line 3: invalid input syntax for type integer"
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
    assert b"committed: bytes 0-" in done.stderr and b"failed: bytes" in done.stderr


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
