"""Pick the COPY IN batch threshold: client CPU and rows/s per batch size.

    python benchmarks/threshold.py [--rows N] [--repeat R] [--dsn DSN]

Loads the same narrow rows (int8, int4, float8) in binary with each
threshold, interleaved, and prints the median of the repeats.
"""

from __future__ import annotations

import argparse
import statistics

from _common import add_server_args, measure, server_dsn

import pgcopy_fast as pcf

THRESHOLDS = [16 * 1024, 64 * 1024, 128 * 1024, 256 * 1024, 512 * 1024, 1024 * 1024]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    add_server_args(parser)
    args = parser.parse_args()
    rows = [(i, i % 1000, i * 0.25) for i in range(args.rows)]
    results: dict[int, list[tuple[float, float]]] = {t: [] for t in THRESHOLDS}
    with server_dsn(args.dsn) as dsn, pcf.connect(dsn) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_thr")
        conn.execute(
            "CREATE UNLOGGED TABLE bench_thr (id int8, qty int4, price float8)"
        )
        for _ in range(args.repeat):
            for threshold in THRESHOLDS:
                conn.execute("TRUNCATE bench_thr")
                with (
                    measure() as t,
                    conn.copy_in(
                        "COPY bench_thr FROM STDIN (FORMAT binary)",
                        ["int8", "int4", "float8"],
                        threshold=threshold,
                    ) as cp,
                ):
                    cp.write_rows(rows)
                results[threshold].append((t.wall, t.per_row_us(args.rows)))
        conn.execute("DROP TABLE bench_thr")
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
