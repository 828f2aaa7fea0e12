"""pgcopy_fast side by side with its peers and the server's own ceiling.

    pgcopy-fast bench [--rows N] [--repeat R] [--dsn DSN]
                      [--workloads wide,narrow] [--directions in,out]
                      [--peers a,b] [--json FILE] [--markdown FILE]

(``python benchmarks/compare.py`` takes the same options.)

One run, the same generated data, one throwaway server (or ``--dsn``).  Each
measurement runs in a fresh worker process, so its client CPU time (user +
system, from getrusage) and its peak RSS are its own.  Peers that are not
installed are reported as skipped.  Runs are interleaved and the median of
``--repeat`` is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

WORKLOADS = {
    "wide": [
        ("id", "int8"),
        ("qty", "int4"),
        ("price", "float8"),
        ("name", "text"),
        ("created", "timestamptz"),
        ("flag", "bool"),
        ("amount", "numeric(12,2)"),
        ("uid", "uuid"),
        ("payload", "jsonb"),
        ("tags", "text[]"),
    ],
    "narrow": [("id", "int8"), ("qty", "int4"), ("price", "float8")],
}

PEERS_IN = [
    "pgcopy_fast[c]",
    "pgcopy_fast[async]",
    "pgcopy_fast[py]",
    "psycopg3",
    "asyncpg",
    "pgcopy",
    "psycopg2_csv",
    "psql_copy",
    "psycopg3+pcf",
    "psycopg2+pcf",
    "asyncpg+pcf",
    "sqlalchemy+pcf",
]
PEERS_OUT = [
    "pgcopy_fast[c]",
    "pgcopy_fast[async]",
    "pgcopy_fast[py]",
    "psycopg3",
    "asyncpg_fetch",
    "psql_copy",
    "psycopg3+pcf",
    "psycopg2+pcf",
    "asyncpg+pcf",
    "sqlalchemy+pcf",
]


def make_rows(workload: str, n: int) -> list[tuple[Any, ...]]:
    """Deterministic rows for a workload."""
    if workload == "narrow":
        return [(i, i % 1000, i * 0.25) for i in range(n)]
    base = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    second = dt.timedelta(seconds=1)
    return [
        (
            i,
            i % 1000,
            i * 0.25,
            f"name {i}",
            base + i * second,
            i % 2 == 0,
            Decimal(i % 100000) / 100,
            uuid.UUID(int=i),
            {"k": i, "v": [1, 2]},
            ["a", "bb", str(i % 7)],
        )
        for i in range(n)
    ]


def _table_sql(workload: str) -> str:
    cols = ", ".join(f"{name} {typ}" for name, typ in WORKLOADS[workload])
    return f"CREATE UNLOGGED TABLE IF NOT EXISTS bench_{workload} ({cols})"


def _types(workload: str) -> list[str]:
    return [typ.split("(")[0] for _, typ in WORKLOADS[workload]]


def _cols(workload: str) -> list[str]:
    return [name for name, _ in WORKLOADS[workload]]


# -- workers (one measurement each, in their own process) --------------------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _copy_in(
    peer: str, dsn: str, workload: str, rows: list[tuple[Any, ...]], binfile: str
) -> Any:
    """Connect and prepare; return the function that does the measured copy."""
    table = f"bench_{workload}"
    cols = _cols(workload)
    types = _types(workload)
    if peer == "pgcopy_fast[async]":
        import pgcopy_fast as pcf

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(pcf.connect_async(dsn))

        async def load() -> None:
            async with aconn.copy_in(
                f"COPY {table} FROM STDIN (FORMAT binary)", types
            ) as cp:
                await cp.write_rows(rows)

        return lambda: loop.run_until_complete(load())
    if peer.startswith("pgcopy_fast"):
        import pgcopy_fast as pcf

        conn = pcf.connect(dsn)

        def run() -> None:
            with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)", types) as cp:
                cp.write_rows(rows)

        return run
    if peer == "psycopg3":
        import psycopg
        from psycopg.types.json import Jsonb

        pconn = psycopg.connect(dsn, autocommit=True)

        def run() -> None:
            with (
                pconn.cursor() as cur,
                cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(types)
                write = copy.write_row
                if workload == "wide":
                    for r in rows:
                        write((*r[:8], Jsonb(r[8]), r[9]))
                else:
                    for r in rows:
                        write(r)

        return run
    if peer == "asyncpg":
        import asyncpg

        loop = asyncio.new_event_loop()

        async def setup() -> Any:
            aconn = await asyncpg.connect(_asyncpg_dsn(dsn))
            if workload == "wide":
                await aconn.set_type_codec(
                    "jsonb",
                    schema="pg_catalog",
                    format="binary",
                    encoder=lambda v: b"\x01" + json.dumps(v).encode(),
                    decoder=lambda b: json.loads(b[1:]),
                )
            return aconn

        aconn = loop.run_until_complete(setup())

        def run() -> None:
            loop.run_until_complete(
                aconn.copy_records_to_table(table, records=rows, columns=cols)
            )

        return run
    if peer == "pgcopy":
        import psycopg2
        from pgcopy import CopyManager

        p2 = psycopg2.connect(dsn)
        manager = CopyManager(p2, table, cols)
        if workload == "wide":
            # pgcopy takes text as bytes: converted before the clock starts
            rows = [
                (
                    *r[:3],
                    r[3].encode(),
                    *r[4:8],
                    json.dumps(r[8]).encode(),
                    [t.encode() for t in r[9]],
                )
                for r in rows
            ]

        def run() -> None:
            manager.copy(rows)
            p2.commit()

        return run
    if peer == "psycopg2_csv":
        import psycopg2

        p2 = psycopg2.connect(dsn)

        def run() -> None:
            buf = io.StringIO()
            writer = csv.writer(buf)
            for r in rows:
                writer.writerow(_csv_row(r))
            buf.seek(0)
            with p2.cursor() as cur:
                cur.copy_expert(f"COPY {table} FROM STDIN (FORMAT csv)", buf)
            p2.commit()

        return run
    if peer.endswith("+pcf"):
        return _adapter_in(peer, dsn, table, cols, rows)
    if peer == "psql_copy":
        return lambda: _psql(dsn, f"\\copy {table} FROM '{binfile}' (FORMAT binary)")
    raise SystemExit(f"unknown peer {peer}")


def _driver_connection(driver: str, dsn: str) -> Any:
    """A connection of a peer driver, for the adapter rows (psycopg3+pcf, ...)."""
    if driver == "psycopg3":
        import psycopg

        return psycopg.connect(dsn, autocommit=True)
    if driver == "psycopg2":
        import psycopg2

        return psycopg2.connect(dsn)
    if driver == "sqlalchemy":
        import sqlalchemy

        from ..connection.conninfo import resolve

        params = resolve(dsn)
        host, port = params.hosts[0]
        return sqlalchemy.create_engine(
            f"postgresql+psycopg://{params.user}@/{params.dbname}?host={host}&port={port}"
        )
    raise SystemExit(f"unknown driver {driver}")


def _adapter_in(peer: str, dsn: str, table: str, cols: list[str], rows: Any) -> Any:
    """pgcopy_fast's encoder under another driver's connection."""
    import pgcopy_fast as pcf

    driver = peer[: -len("+pcf")]
    if driver == "asyncpg":
        import asyncpg

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(asyncpg.connect(_asyncpg_dsn(dsn)))
        return lambda: loop.run_until_complete(
            pcf.copy_records_async(aconn, table, rows, cols)
        )
    conn = _driver_connection(driver, dsn)

    def run() -> None:
        pcf.copy_records(conn, table, rows, cols)
        if driver == "psycopg2":
            conn.commit()

    return run


def _adapter_out(peer: str, dsn: str, table: str) -> Any:
    import pgcopy_fast as pcf

    driver = peer[: -len("+pcf")]
    if driver == "asyncpg":
        import asyncpg

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(asyncpg.connect(_asyncpg_dsn(dsn)))

        async def read() -> None:
            async for _ in pcf.copy_records_out_async(aconn, table):
                pass

        return lambda: loop.run_until_complete(read())
    conn = _driver_connection(driver, dsn)

    def run() -> None:
        for _ in pcf.copy_records_out(conn, table):
            pass

    return run


def _csv_row(r: tuple[Any, ...]) -> list[Any]:
    out = []
    for v in r:
        if v is None:
            out.append("")
        elif isinstance(v, bool):
            out.append("t" if v else "f")
        elif isinstance(v, dict):
            out.append(json.dumps(v))
        elif isinstance(v, list):
            out.append("{" + ",".join(v) + "}")
        else:
            out.append(v)
    return out


def _copy_out(peer: str, dsn: str, workload: str, binfile: str) -> Any:
    """Connect and prepare; return the function that does the measured copy."""
    table = f"bench_{workload}"
    types = _types(workload)
    if peer.endswith("+pcf"):
        return _adapter_out(peer, dsn, table)
    if peer == "asyncpg_fetch":  # asyncpg decodes rows with fetch, not COPY
        import asyncpg

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(asyncpg.connect(_asyncpg_dsn(dsn)))
        if workload == "wide":
            loop.run_until_complete(
                aconn.set_type_codec(
                    "jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads
                )
            )
        return lambda: loop.run_until_complete(aconn.fetch(f"SELECT * FROM {table}"))
    if peer == "pgcopy_fast[async]":
        import pgcopy_fast as pcf

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(pcf.connect_async(dsn))

        async def dump() -> None:
            async with aconn.copy_out(
                f"COPY {table} TO STDOUT (FORMAT binary)", types
            ) as out:
                async for _ in out:
                    pass

        return lambda: loop.run_until_complete(dump())
    if peer.startswith("pgcopy_fast"):
        import pgcopy_fast as pcf

        conn = pcf.connect(dsn)

        def run() -> None:
            with conn.copy_out(f"COPY {table} TO STDOUT (FORMAT binary)", types) as out:
                for _ in out:
                    pass

        return run
    if peer == "psycopg3":
        import psycopg

        pconn = psycopg.connect(dsn, autocommit=True)

        def run() -> None:
            with (
                pconn.cursor() as cur,
                cur.copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as copy,
            ):
                copy.set_types(types)
                for _ in copy.rows():
                    pass

        return run
    if peer == "psql_copy":
        return lambda: _psql(dsn, f"\\copy {table} TO '{binfile}' (FORMAT binary)")
    raise SystemExit(f"unknown peer {peer}")


def _psql(dsn: str, command: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        raise ModuleNotFoundError("psql")
    subprocess.run([psql, dsn, "-q", "-X", "-c", command], check=True)


def _asyncpg_dsn(dsn: str) -> str:
    from pgcopy_fast.connection.conninfo import resolve

    p = resolve(dsn)
    host, port = p.hosts[0]
    return f"postgresql://{p.user}@/{p.dbname}?host={host}&port={port}"


def worker(args: argparse.Namespace) -> None:
    """Measure one peer on one workload and direction; print a JSON line."""
    if args.peer.startswith("pgcopy_fast"):
        import pgcopy_fast

        wanted = "python" if args.peer == "pgcopy_fast[py]" else "c"
        if pgcopy_fast.__impl__ != wanted:
            raise SystemExit(f"{args.peer} loaded the {pgcopy_fast.__impl__} twin")
    rows = make_rows(args.workload, args.rows) if args.direction == "in" else []
    try:
        if args.direction == "in":
            run = _copy_in(args.peer, args.dsn, args.workload, rows, args.binfile)
        else:
            run = _copy_out(args.peer, args.dsn, args.workload, args.binfile)
    except ModuleNotFoundError as exc:
        print(json.dumps({"skipped": f"not installed: {exc.name}"}))
        return
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0, k0 = time.perf_counter(), _cpu(), _children_cpu()
    run()
    wall = time.perf_counter() - t0
    cpu = (_cpu() - c0) + (_children_cpu() - k0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": rss / 1e3,
                "rss_growth_mb": (rss - rss0) / 1e3,
            }
        )
    )


# -- the runner ----------------------------------------------------------------


def _run_worker(
    peer: str, workload: str, direction: str, rows: int, dsn: str, binfile: str
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "pgcopy_fast.cli._bench",
        "--worker",
        "--peer",
        peer,
        "--workload",
        workload,
        "--direction",
        direction,
        "--rows",
        str(rows),
        "--dsn",
        dsn,
        "--binfile",
        binfile,
    ]
    env = dict(os.environ)
    env.pop("PGCOPY_FAST_IMPL", None)
    if peer == "pgcopy_fast[py]":
        env["PGCOPY_FAST_IMPL"] = "python"  # chosen at import, so before it
    elif peer.startswith("pgcopy_fast"):
        env["PGCOPY_FAST_IMPL"] = "c"
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _prepare(dsn: str, workload: str, rows: int, binfile: str) -> int:
    import pgcopy_fast as pcf

    with pcf.connect(dsn) as conn:
        conn.execute(f"DROP TABLE IF EXISTS bench_{workload}; {_table_sql(workload)}")
        conn.copy_records(f"bench_{workload}", make_rows(workload, rows))
        with open(binfile, "wb") as f:
            conn.copy_to_file(f"COPY bench_{workload} TO STDOUT (FORMAT binary)", f)
    return os.path.getsize(binfile)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, for this module and ``pgcopy-fast bench``."""
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per peer (median)")
    parser.add_argument("--dsn", help="server (default: a throwaway cluster)")
    parser.add_argument("--workloads", default="wide,narrow", help="wide, narrow")
    parser.add_argument("--directions", default="in,out", help="in, out")
    parser.add_argument("--peers", help="comma-separated subset of peers")
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--markdown", help="write the table as Markdown to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--direction", help=argparse.SUPPRESS)
    parser.add_argument("--binfile", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> None:
    """Run the comparison (or, with --worker, one measurement)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> None:
    """Run the comparison for parsed arguments and print the table."""
    if args.worker:
        worker(args)
        return

    results: list[dict[str, Any]] = []
    with _server_dsn(args.dsn) as dsn, tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        for workload in args.workloads.split(","):
            binfile = os.path.join(tmp, f"{workload}.bin")
            size = _prepare(dsn, workload, args.rows, binfile)
            os.chmod(binfile, 0o644)
            for direction in args.directions.split(","):
                peers = PEERS_IN if direction == "in" else PEERS_OUT
                if args.peers:
                    peers = [p for p in peers if p in args.peers.split(",")]
                runs: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
                for _ in range(args.repeat):
                    for peer in peers:  # interleaved
                        if direction == "in":
                            import pgcopy_fast as pcf

                            with pcf.connect(dsn) as conn:
                                conn.execute(f"TRUNCATE bench_{workload}")
                        out_file = (
                            os.path.join(tmp, "out.bin")
                            if direction == "out"
                            else binfile
                        )
                        runs[peer].append(
                            _run_worker(
                                peer, workload, direction, args.rows, dsn, out_file
                            )
                        )
                for peer, items in runs.items():
                    results.append(
                        _summary(peer, workload, direction, args.rows, size, items)
                    )
    table = _markdown(results, args.rows)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"rows": args.rows, "repeat": args.repeat, "results": results},
                f,
                indent=2,
            )


@contextlib.contextmanager
def _server_dsn(dsn: str | None) -> Iterator[str]:
    if dsn is not None:  # "" means: what the PG* variables say
        yield dsn
        return
    from ..tempserver import TempServer

    print("starting a throwaway PostgreSQL server...", file=sys.stderr)
    with TempServer() as srv:
        yield srv.dsn


def _summary(
    peer: str,
    workload: str,
    direction: str,
    rows: int,
    size: int,
    items: list[dict[str, Any]],
) -> dict[str, Any]:
    base = {"peer": peer, "workload": workload, "direction": direction}
    for item in items:
        if "skipped" in item or "error" in item:
            return {**base, **item}
    wall = statistics.median(i["wall"] for i in items)
    cpu = statistics.median(i["cpu"] for i in items)
    return {
        **base,
        "wall_s": round(wall, 3),
        "rows_per_s": round(rows / wall),
        "client_cpu_s": round(cpu, 3),
        "client_cpu_us_per_row": round(cpu / rows * 1e6, 3),
        "mb_per_s": round(size / wall / 1e6, 1),
        "rss_growth_mb": round(max(i["rss_growth_mb"] for i in items), 1),
    }


def _markdown(results: list[dict[str, Any]], rows: int) -> str:
    lines = [
        f"{rows:,} rows per run; client CPU = user + system of the client process "
        "(psql's for the psql ceiling); MB/s of the binary COPY stream; RSS growth = "
        "peak resident memory during the copy minus before it (the input rows are "
        "built before). pgcopy gets its "
        "text as bytes, converted before the clock starts (its API needs them).",
        "",
        "| workload | direction | peer | wall s | rows/s | client CPU s | CPU µs/row "
        "| MB/s | RSS growth MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "wall_s" in r:
            lines.append(
                f"| {r['workload']} | {r['direction']} | {r['peer']} | {r['wall_s']} | "
                f"{r['rows_per_s']:,} | {r['client_cpu_s']} | "
                f"{r['client_cpu_us_per_row']} | {r['mb_per_s']} | "
                f"{r['rss_growth_mb']} |"
            )
        else:
            reason = r.get("skipped") or f"failed: {r.get('error')}"
            where = f"| {r['workload']} | {r['direction']} | {r['peer']} |"
            lines.append(f"{where} {reason} | | | | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
