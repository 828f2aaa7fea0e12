"""RSS growth of a 10-million-row COPY IN from a generator.

    python benchmarks/memory.py [--rows N] [--format binary|text] [--dsn DSN]

Rows come from a generator, so all that can grow is pgcopy_fast's own
buffering: the write buffer (one batch) and nothing else.  (They are simple
sequential values: made inside the timed copy, random ones would time the
random generator.)  The table is uniquely named and dropped at the end.
"""

from __future__ import annotations

import argparse
import gc

from _common import (
    add_server_args,
    measure,
    peak_rss_mb,
    rss_mb,
    scratch_table,
    server_dsn,
)

import pgcopy_fast as pcf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--format", choices=["binary", "text"], default="binary")
    add_server_args(parser)
    args = parser.parse_args()
    with (
        server_dsn(args.dsn) as dsn,
        scratch_table(dsn, "bench_mem", "id int8, qty int4, price float8") as table,
        pcf.connect(dsn) as conn,
    ):
        rows = ((i, i % 1000, i * 0.25) for i in range(args.rows))
        gc.collect()
        before, peak_before = rss_mb(), peak_rss_mb()
        options = "(FORMAT binary)" if args.format == "binary" else ""
        types = ["int8", "int4", "float8"] if args.format == "binary" else None
        with (
            measure() as t,
            conn.copy_in(f"COPY {table} FROM STDIN {options}", types) as cp,
        ):
            cp.write_rows(rows)
        after, peak_after = rss_mb(), peak_rss_mb()
    print(
        f"pgcopy_fast {pcf.__version__} ({pcf.__impl__}), {args.format}, {cp.rowcount:,} rows"
    )
    print(
        f"wall {t.wall:.1f} s, {cp.rowcount / t.wall:,.0f} rows/s, "
        f"client CPU {t.per_row_us(cp.rowcount):.3f} us/row"
    )
    print(
        f"RSS before {before:.1f} MB, after {after:.1f} MB, growth {after - before:.1f} MB; "
        f"peak growth {max(0.0, peak_after - peak_before):.1f} MB"
    )


if __name__ == "__main__":
    main()
