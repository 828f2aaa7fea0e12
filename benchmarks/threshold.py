"""Pick the COPY IN batch threshold: client CPU and rows/s per batch size.

    python benchmarks/threshold.py [--rows N] [--repeat R] [--dsn DSN]

Loads the same narrow rows (random int8, int4, float8, as the bench's) in
binary with each threshold, interleaved, and prints the median of the
repeats.  The table is uniquely named and dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics

from _common import add_server_args, measure, scratch_table, server_dsn

import pgcopy_fast as pcf
from pgcopy_fast.cli._bench import make_rows

THRESHOLDS = [16 * 1024, 64 * 1024, 128 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    add_server_args(parser)
    args = parser.parse_args()
    rows = make_rows("narrow", args.rows)
    results: dict[int, list[tuple[float, float]]] = {t: [] for t in THRESHOLDS}
    with (
        server_dsn(args.dsn) as dsn,
        scratch_table(dsn, "bench_thr", "id int8, qty int4, price float8") as table,
        pcf.connect(dsn) as conn,
    ):
        for _ in range(args.repeat):
            for threshold in THRESHOLDS:
                conn.execute(f"TRUNCATE {table}")
                with (
                    measure() as t,
                    conn.copy_in(
                        f"COPY {table} FROM STDIN (FORMAT binary)",
                        ["int8", "int4", "float8"],
                        threshold=threshold,
                    ) as cp,
                ):
                    cp.write_rows(rows)
                results[threshold].append((t.wall, t.per_row_us(args.rows)))
    print(
        f"pgcopy_fast ({pcf.__impl__}), {args.rows:,} narrow rows, median of {args.repeat}"
    )
    print("| threshold | rows/s | client CPU us/row |")
    print("|---:|---:|---:|")
    for threshold, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        print(f"| {threshold // 1024} KiB | {args.rows / wall:,.0f} | {cpu:.3f} |")


if __name__ == "__main__":
    main()
