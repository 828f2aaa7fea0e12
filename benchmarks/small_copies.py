"""Many small copies, as ORMs make them: µs per call for 1, 10 and 100 rows.

    python benchmarks/small_copies.py [--calls N] [--repeat R] [--dsn DSN]

Each copy into an unlogged table (int8, int4, float8, text) on one
connection kept open, wall and client CPU per call, median of R runs
interleaved.  ``pgcopy_fast copy_records`` carries its plan check (LOCK +
one catalog query in the COPY's own query string); ``pgcopy_fast copy_in``
is the same copy with the types given and no plan or check, so the
difference between the two rows is what the check costs.  The table is
uniquely named and dropped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import string
from collections.abc import Callable
from typing import Any

from _common import add_server_args, measure, scratch_table, server_dsn

import pgcopy_fast as pcf
from pgcopy_fast.connection.conninfo import resolve

TYPES = ["int8", "int4", "float8", "text"]


def _rows(n: int) -> list[tuple[Any, ...]]:
    rng = random.Random(n)
    return [
        (
            rng.randrange(1 << 62),
            rng.randrange(-(1 << 31), 1 << 31),
            rng.uniform(-1e6, 1e6),
            "".join(rng.choices(string.ascii_letters, k=rng.randint(10, 30))),
        )
        for _ in range(n)
    ]


def peers(
    dsn: str,
    table: str,
) -> dict[str, tuple[Callable[[list[Any]], None], Callable[[], None]]]:
    """name -> (copy one batch, close)."""
    out: dict[str, tuple[Callable[[list[Any]], None], Callable[[], None]]] = {}
    conn = pcf.connect(dsn)

    def records_copy(rows: list[Any]) -> None:
        conn.copy_records(table, rows)

    out["pgcopy_fast copy_records"] = (records_copy, conn.close)
    raw = pcf.connect(dsn)

    def raw_copy(rows: list[Any]) -> None:
        with raw.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)", TYPES) as cp:
            cp.write_rows(rows)

    out["pgcopy_fast copy_in (no check)"] = (raw_copy, raw.close)
    try:
        import psycopg

        pg = psycopg.connect(dsn, autocommit=True)

        def pg_copy(rows: list[Any]) -> None:
            with pg.cursor() as cur:
                with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(TYPES)
                    for row in rows:
                        copy.write_row(row)

        out["psycopg 3 copy + write_row"] = (pg_copy, pg.close)
    except ImportError:
        pass
    try:
        import asyncpg

        loop = asyncio.new_event_loop()
        params = resolve(dsn)
        host, port = params.hosts[0]
        apg = loop.run_until_complete(
            asyncpg.connect(
                host=host, port=port, user=params.user, database=params.dbname
            )
        )

        def apg_copy(rows: list[Any]) -> None:
            loop.run_until_complete(apg.copy_records_to_table(table, records=rows))

        def apg_close() -> None:
            loop.run_until_complete(apg.close())
            loop.close()

        out["asyncpg copy_records_to_table"] = (apg_copy, apg_close)
    except ImportError:
        pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="1,10,100")
    add_server_args(parser)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    columns = "id int8, qty int4, price float8, name text"
    with (
        server_dsn(args.dsn) as dsn,
        scratch_table(dsn, "bench_small", columns) as table,
    ):
        found = peers(dsn, table)
        results: dict[tuple[str, int], list[tuple[float, float]]] = {}
        try:
            for _ in range(args.repeat):
                for size in sizes:
                    batch = _rows(size)
                    calls = max(50, args.calls // max(1, size // 10))
                    for name, (copy, _) in found.items():
                        copy(batch)  # warm: plans, caches
                        with measure() as t:
                            for _ in range(calls):
                                copy(batch)
                        results.setdefault((name, size), []).append(
                            (t.wall / calls * 1e6, t.cpu / calls * 1e6)
                        )
                with pcf.connect(dsn) as admin:
                    admin.execute(f"TRUNCATE {table}")
        finally:
            for _, close in found.values():
                close()
    print(
        f"pgcopy_fast {pcf.__version__} ({pcf.__impl__}); µs per call, median of {args.repeat}"
    )
    print()
    header = (
        "| peer | " + " | ".join(f"{s} rows wall | {s} rows CPU" for s in sizes) + " |"
    )
    print(header)
    print("|---|" + "---:|---:|" * len(sizes))
    for name in found:
        cells = []
        for size in sizes:
            got = results[(name, size)]
            cells.append(f"{statistics.median(w for w, _ in got):.0f}")
            cells.append(f"{statistics.median(c for _, c in got):.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
