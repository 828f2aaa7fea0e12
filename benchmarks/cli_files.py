"""The ``pgcopy-fast load`` / ``dump`` commands on files, beside ``psql \\copy``.

    python benchmarks/cli_files.py --rows 336776 --repeat 3 \\
        --markdown benchmarks/results/cli-files.md \\
        --json benchmarks/results/cli-files.json

A flights-like table (nycflights13's ``flights``: 336,776 rows, 19 columns
of int4, float8, text and timestamptz, some NULLs), made from a fixed seed
and written once to ``flights.csv`` (with a header) and ``flights.parquet``
(row groups of 65,536) in a temporary directory.  Each case is one command
run as a subprocess against a throwaway cluster: ``psql \\copy`` (the
server's ceiling for CSV), then ``pgcopy-fast load`` (plain, ``--jobs 2``,
Parquet, ``--on-error skip``) and ``pgcopy-fast dump`` (CSV, Parquet,
NDJSON, CSV ``--jobs 2``).  Wall time includes the process's start-up (the
Python interpreter and imports for pgcopy-fast); client CPU is the child's
user + system time (``os.wait4``); server CPU is the cluster's, from
``/proc`` as in ``parallel.py`` (autovacuum off, so that no ANALYZE lands
on a random case).  The table is truncated before each load; after it,
``count(*)`` and a hash of every row's text must match psql's load, and a
dump's row count must be N, all outside the timing.  Runs are interleaved
(case 1..10, R rounds), median; ``pgcopy-fast version`` is timed each round
too, to show the start-up cost inside every pgcopy-fast wall time.
"""

from __future__ import annotations

import argparse
import calendar
import compileall
import csv
import os
import platform
import random
import shlex
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Any

from parallel import _server_cpu

import pgcopy_fast as pcf
from pgcopy_fast.cli._bench import emit
from pgcopy_fast.tempserver import TempServer

SEED = 20240601
DDL = (
    "year int4, month int4, day int4, dep_time int4, sched_dep_time int4, "
    "dep_delay float8, arr_time int4, sched_arr_time int4, arr_delay float8, "
    "carrier text, flight int4, tailnum text, origin text, dest text, "
    "air_time float8, distance float8, hour float8, minute float8, "
    "time_hour timestamptz"
)
COLUMNS = [c.split()[0] for c in DDL.split(", ")]
CARRIERS = "9E AA AS B6 DL EV F9 FL HA MQ OO UA US VX WN YV".split()
DESTS = (
    "ABQ ACK ALB ANC ATL AUS AVL BDL BGR BHM BNA BOS BQN BTV BUF BUR BWI BZN "
    "CAE CAK CHO CHS CLE CLT CMH CRW CVG DAY DCA DEN DFW DSM DTW EGE EYW FLL "
    "GRR GSO GSP HDN HNL HOU IAD IAH ILM IND JAC JAX LAS LAX LEX LGB MCI MCO "
    "MDW MEM MHT MIA MKE MSN MSP MSY MTJ MVY MYR OAK OKC OMA ORD ORF PBI PDX "
    "PHL PHX PIT PSE PSP PVD PWM RDU RIC ROC RSW SAN SAT SAV SBN SDF SEA SFO "
    "SJC SJU SLC SMF SNA SRQ STL STT SYR TPA TUL TVC TYS XNA"
).split()
ORIGINS = ["EWR", "JFK", "LGA"]
#: the row count and a hash of every row's text, to compare loads
CHECK = "SELECT count(*), sum(hashtextextended(f::text, 0)) FROM flights f"
Case = tuple[str, str, list[str], str]
Sample = tuple[float, float, float]


def _hhmm(minutes: float) -> int:
    """Minutes after midnight as the HHMM integer flights uses (wraps at 24h)."""
    m = round(minutes) % 1440
    return m // 60 * 100 + m % 60


def _delay(rng: random.Random) -> float:
    """A delay in minutes: mostly a little early, a long tail of late ones."""
    d = rng.uniform(-15, 0) if rng.random() < 0.6 else min(rng.expovariate(1 / 35), 300)
    # mostly whole minutes, as in nycflights13, some with one decimal
    return round(d, 1) if rng.random() < 0.2 else float(round(d))


def make_flights(n: int, seed: int = SEED) -> list[tuple[Any, ...]]:
    """N random, realistic flights rows (in COLUMNS' order) from a fixed seed."""
    rng = random.Random(seed)
    # a route's distance is fixed, as in the real data; most routes are short
    routes = [(o, d) for o in ORIGINS for d in DESTS]
    distance = {r: float(min(80 + int(rng.expovariate(1 / 900)), 4983)) for r in routes}
    digits, letters = string.digits, string.ascii_uppercase
    tails = [
        "N"
        + "".join(rng.choice(digits) for _ in range(rng.randint(1, 3)))
        + "".join(rng.choice(digits + letters) for _ in range(2))
        for _ in range(4000)
    ]
    rows = []
    for _ in range(n):
        month = rng.randint(1, 12)
        day = rng.randint(1, calendar.monthrange(2013, month)[1])
        hour, minute = rng.randint(5, 23), rng.randrange(0, 60, 5)
        origin, dest = rng.choice(ORIGINS), rng.choice(DESTS)
        dist = distance[(origin, dest)]
        sched_dep = hour * 60 + minute
        sched_air = dist / 8 + 20
        sched_arr = _hhmm(sched_dep + sched_air + 15)
        if rng.random() < 0.02:  # cancelled: no times or delays
            dep_time = dep_delay = arr_time = arr_delay = air_time = None
        else:
            dep_delay = _delay(rng)
            dep_time = _hhmm(sched_dep + dep_delay)
            air_time = float(round(sched_air * rng.uniform(0.85, 1.1)))
            arr_delay = round(dep_delay + _delay(rng) / 2 - 8, 1)
            arr_time = _hhmm(sched_dep + sched_air + 15 + arr_delay)
        tailnum = None if rng.random() < 0.01 else rng.choice(tails)
        time_hour = datetime(2013, month, day, hour, tzinfo=timezone.utc)
        rows.append(
            (2013, month, day, dep_time, _hhmm(sched_dep), dep_delay, arr_time,
             sched_arr, arr_delay, rng.choice(CARRIERS), rng.randint(1, 8500),
             tailnum, origin, dest, air_time, dist, float(hour), float(minute),
             time_hour)
        )  # fmt: skip
    return rows


def write_files(rows: list[tuple[Any, ...]], tmp: str) -> tuple[str, str]:
    """Write flights.csv (header, NULL as empty) and flights.parquet; their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv_path, pq_path = (os.path.join(tmp, f"flights.{e}") for e in ("csv", "parquet"))
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for r in rows:
            # csv writes None as an empty, unquoted field: NULL to COPY CSV
            w.writerow((*r[:-1], f"{r[-1]:%Y-%m-%d %H:%M:%S}+00"))
    arrow_type = {"int4": pa.int32(), "float8": pa.float64(), "text": pa.string()}
    arrow_type["timestamptz"] = pa.timestamp("us", tz="UTC")
    types = [arrow_type[c.split()[1]] for c in DDL.split(", ")]
    cols = list(zip(*rows, strict=True))
    table = pa.table(
        [pa.array(c, type=t) for c, t in zip(cols, types, strict=True)],
        names=COLUMNS,
    )
    pq.write_table(table, pq_path, row_group_size=65_536)
    return csv_path, pq_path


#: The commands' environment: with bytecode caching, as an installed package
#: runs (a PYTHONDONTWRITEBYTECODE=1 shell would compile every module on
#: every start, about 0.08 s more).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str]) -> tuple[float, float]:
    """Run a command; its wall seconds and CPU seconds (user + sys).

    Output goes to a temporary file rather than a pipe, so that wait4 cannot
    deadlock on a full pipe; it is shown if the command fails.
    """
    with tempfile.TemporaryFile() as out:
        w0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=CHILD_ENV
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - w0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            out.seek(0)
            text = out.read().decode(errors="replace")
            sys.exit(f"FAILED (exit {code}): {shlex.join(argv)}\n{text}")
    return wall, usage.ru_utime + usage.ru_stime


def count_out(path: str) -> int:
    """Rows in a dump: Parquet metadata, else lines (less a CSV header)."""
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    return lines - (1 if path.endswith(".csv") else 0)


def cases(psql: str, cli: str, dsn: str, tmp: str) -> list[Case]:
    """The ten cases as (name, direction, argv, the dump's output file or "")."""
    csv_in, pq_in = (os.path.join(tmp, f"flights.{e}") for e in ("csv", "parquet"))
    o_csv, o_pq, o_nd, o_csv2 = (
        os.path.join(tmp, f)
        for f in ("out.csv", "out.parquet", "out.ndjson", "out2.csv")
    )
    psql_c = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c"]
    load = [cli, "load", "-q", "--dsn", dsn, "-t", "flights"]
    dump = [cli, "dump", "-q", "--dsn", dsn, "-t", "flights", "-o"]
    return [
        ("psql \\copy FROM csv", "load", [*psql_c, f"\\copy flights FROM '{csv_in}' (FORMAT csv, HEADER)"], ""),
        ("load csv", "load", [*load, csv_in, "--header"], ""),
        ("load csv --jobs 2", "load", [*load, csv_in, "--header", "--jobs", "2"], ""),
        ("load parquet", "load", [*load, pq_in], ""),
        ("load csv --on-error skip", "load", [*load, csv_in, "--header", "--on-error", "skip"], ""),
        ("psql \\copy TO csv", "dump", [*psql_c, f"\\copy flights TO '{o_csv}' (FORMAT csv, HEADER)"], o_csv),
        ("dump csv", "dump", [*dump, o_csv, "--header"], o_csv),
        ("dump parquet", "dump", [*dump, o_pq], o_pq),
        ("dump ndjson", "dump", [*dump, o_nd], o_nd),
        ("dump csv --jobs 2", "dump", [*dump, o_csv2, "--header", "--jobs", "2"], o_csv2),
    ]  # fmt: skip


def measure(
    conn: Any, data_dir: str, cli: str, todo: list[Case], n: int, repeat: int
) -> dict[str, list[Sample]]:
    """Run the cases, interleaved, ``repeat`` times; (wall, client, server) s.

    Exits with a message if a command fails or moves another number of rows.
    """
    samples: dict[str, list[Sample]] = {c[0]: [] for c in todo}
    samples["pgcopy-fast version"] = []
    psql_digest = None
    # the package's bytecode, as an installed one has it (see CHILD_ENV)
    compileall.compile_dir(os.path.dirname(pcf.__file__), quiet=1)
    for rnd in range(repeat):
        # the fixed cost in every pgcopy-fast case: interpreter and imports
        samples["pgcopy-fast version"].append((*run([cli, "version"]), 0.0))
        for name, direction, cmd, out_path in todo:
            if direction == "load":
                conn.execute("TRUNCATE flights")
            s0 = _server_cpu(data_dir)
            wall, client = run(cmd)
            # let the backend exit and be reaped, so its CPU is counted once
            time.sleep(0.3)
            server = _server_cpu(data_dir) - s0
            if direction == "load":
                got, digest = conn.execute(CHECK).rows[0]
                got = int(got)
                # every load must store the same values as psql's, not just as many
                psql_digest = psql_digest or digest  # psql's load comes first
                if digest != psql_digest:
                    sys.exit(
                        f"FAILED: {name} stored other values than psql: {shlex.join(cmd)}"
                    )
            else:
                got = count_out(out_path)
                os.remove(out_path)  # each run writes a new file, as the first did
            if got != n:
                sys.exit(
                    f"FAILED: {name} moved {got:,} rows, not {n:,}: {shlex.join(cmd)}"
                )
            samples[name].append((wall, client, server))
            print(
                f"cli_files: round {rnd + 1} {name}: {n / wall:,.0f} rows/s",
                file=sys.stderr,
            )
    return samples


def main(argv: list[str] | None = None) -> int:
    """Make the files, run every case R times interleaved, print and write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=336_776)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", help="write the table to this file")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    n = args.rows
    command = shlex.join(["python", *sys.argv])
    # the real entry point, not a pyenv shim (a shell script that would add
    # its own start-up to every pgcopy-fast run)
    cli = os.path.join(os.path.dirname(sys.executable), "pgcopy-fast")
    if not os.access(cli, os.X_OK):
        cli = shutil.which("pgcopy-fast") or "pgcopy-fast"
    tmp = tempfile.mkdtemp(prefix="cli_files-")
    try:
        t0 = time.perf_counter()
        write_files(make_flights(n), tmp)
        print(
            f"cli_files: {n:,} rows written in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )
        # autovacuum would analyze the freshly loaded table at random moments
        # and its CPU would land on whichever case is running then
        with TempServer(conf={"autovacuum": "off"}) as srv:
            conn = pcf.connect(srv.dsn)
            conn.execute(f"CREATE UNLOGGED TABLE flights ({DDL})")
            version = conn.execute("SHOW server_version").rows[0][0]
            todo = cases(os.path.join(srv.bindir, "psql"), cli, srv.dsn, tmp)
            samples = measure(conn, srv.data_dir, cli, todo, n, args.repeat)
            conn.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    machine = f"{os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {version}"
    startup = statistics.median(x[0] for x in samples.pop("pgcopy-fast version"))
    results = summarize(samples, n, todo)
    text = "\n".join(
        [
            f"{n:,} flights-like rows, median of {args.repeat} interleaved runs; {machine}.",
            f"Made by `{command}`.",
            "Wall and client CPU include the process's start-up (`pgcopy-fast version`"
            f" alone: {startup:.3f} s wall); server CPU is the cluster's (/proc).",
            "",
            *markdown(results),
        ]
    )
    doc = {"command": command, "machine": machine, "rows": n}
    doc |= {"repeat": args.repeat, "startup_s": startup, "cases": results}
    emit(text, doc, args.markdown, args.json)
    return 0


def summarize(
    samples: dict[str, list[Sample]], n: int, todo: list[Case]
) -> list[dict[str, Any]]:
    """Per case: medians, per-row CPU and (loads) the ratio to psql's rows/s."""
    results: list[dict[str, Any]] = []
    for name, direction, cmd, _ in todo:
        wall, client, server = (
            statistics.median(x[i] for x in samples[name]) for i in range(3)
        )
        base = results[0]["rows_per_s"] if results else n / wall  # psql \copy FROM
        results.append({
            "case": name, "direction": direction, "argv": cmd,
            "rows_per_s": n / wall, "wall_s": wall,
            "client_cpu_us_per_row": client / n * 1e6,
            "server_cpu_us_per_row": server / n * 1e6,
            "vs_psql": n / wall / base if direction == "load" else None,
            "samples_wall_client_server_s": samples[name],
        })  # fmt: skip
    return results


def markdown(results: list[dict[str, Any]]) -> list[str]:
    """The results as the lines of a Markdown table."""
    lines = [
        "| case | rows/s | wall s | client CPU µs/row | server CPU µs/row | vs psql |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r['vs_psql']:.2f}x" if r["vs_psql"] is not None else "—"
        lines.append(
            f"| {r['case']} | {r['rows_per_s']:,.0f} | {r['wall_s']:.3f} | "
            f"{r['client_cpu_us_per_row']:.3f} | {r['server_cpu_us_per_row']:.3f} | {ratio} |"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
