"""Parallel COPY: rows/s, client CPU and server CPU for jobs = 1, 2, 4.

    python benchmarks/parallel.py --rows 1000000 --repeat 3 \\
        --markdown benchmarks/results/parallel-1M.md

The wide rows of ``pgcopy-fast bench`` as one pyarrow Table (record
batches of 65,536 rows) go into an unlogged table with
``conn.copy_arrow(table, data, jobs=N)`` (IN) and come back with
``conn.copy_arrow_out(table, jobs=N).read_all()`` (OUT, ctid ranges in one
snapshot).  Client CPU is this process's (every thread); server CPU is the
throwaway cluster's, read from ``/proc``: the postmaster's children, the
ones that exited included (its cumulative child times).  Runs are
interleaved, median of ``--repeat``.  The closing lines say what a machine
with more cores would gain, from the measured server CPU per row.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from typing import Any

from columnar import arrow_table

import pgcopy_fast as pcf
from pgcopy_fast.cli._bench import make_rows
from pgcopy_fast.tempserver import TempServer

WIDE = (
    "id int8, qty int4, price float8, name text, created timestamptz, flag bool, "
    "amount numeric(12,2), uid uuid, payload jsonb, tags text[]"
)
_TICK = os.sysconf("SC_CLK_TCK")


def _client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _server_cpu(data_dir: str) -> float:
    """CPU seconds of the cluster: live children plus the reaped ones."""
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        if int(pid) == postmaster:
            # its own time and that of every child it has reaped
            total += sum(int(x) for x in fields[11:15]) / _TICK
        elif ppid == postmaster:
            total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", default="1,2,4")
    parser.add_argument("--markdown", help="write the table to this file")
    args = parser.parse_args(argv)
    jobs_list = [int(j) for j in args.jobs.split(",")]
    print(f"parallel: generating {args.rows:,} rows", file=sys.stderr)
    data = arrow_table("wide", make_rows("wide", args.rows))
    results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    with TempServer() as srv:
        conn = pcf.connect(srv.dsn)
        conn.execute(f"CREATE UNLOGGED TABLE par_bench ({WIDE})")
        conn.copy_arrow("par_bench", data)
        conn.execute(f"CREATE UNLOGGED TABLE par_in ({WIDE})")
        for run in range(args.repeat):
            for jobs in jobs_list:
                for direction in ("in", "out"):
                    if direction == "in":
                        conn.execute("TRUNCATE par_in")
                    c0, s0, w0 = (
                        _client_cpu(),
                        _server_cpu(srv.data_dir),
                        time.perf_counter(),
                    )
                    if direction == "in":
                        conn.copy_arrow("par_in", data, jobs=jobs)
                    else:
                        got = conn.copy_arrow_out("par_bench", jobs=jobs).read_all()
                        assert got.num_rows == args.rows
                    wall = time.perf_counter() - w0
                    sample = (wall, _client_cpu() - c0, _server_cpu(srv.data_dir) - s0)
                    results.setdefault((direction, jobs), []).append(sample)
                    print(
                        f"parallel: run {run + 1} {direction} jobs={jobs}: "
                        f"{args.rows / wall:,.0f} rows/s",
                        file=sys.stderr,
                    )
        conn.close()
    lines = _table(results, args.rows, jobs_list)
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


def _table(results: Any, rows: int, jobs_list: list[int]) -> list[str]:
    lines = [
        f"{rows:,} wide rows, median of the runs; server CPU is the cluster's.",
        "",
        "| direction | jobs | wall s | rows/s | client CPU µs/row | server CPU µs/row |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    server_per_row: dict[str, float] = {}
    client_per_row: dict[str, float] = {}
    for direction in ("in", "out"):
        for jobs in jobs_list:
            samples = results[(direction, jobs)]
            wall = statistics.median(s[0] for s in samples)
            client = statistics.median(s[1] for s in samples) / rows * 1e6
            server = statistics.median(s[2] for s in samples) / rows * 1e6
            if jobs == 1:
                server_per_row[direction] = server
                client_per_row[direction] = client
            lines.append(
                f"| {direction} | {jobs} | {wall:.3f} | {rows / wall:,.0f} | "
                f"{client:.3f} | {server:.3f} |"
            )
    lines.append("")
    cores = os.cpu_count() or 1
    for direction in ("in", "out"):
        s, c = server_per_row[direction], client_per_row[direction]
        per_core = 1e6 / (s + c / 1)
        lines.append(
            f"- {direction}: one job costs {s:.2f} µs of server CPU and {c:.2f} of "
            f"client CPU per row; on this {cores}-core machine the jobs share "
            f"{cores} cores, so rows/s cannot pass about {cores * 1e6 / (s + c):,.0f}. "
            "With N jobs on a machine with at least N + N·client/server free "
            f"cores, rows/s would grow to about N x {1e6 / s:,.0f} (the server "
            "side alone), until the disk or WAL is the limit "
            f"({per_core:,.0f} rows/s per core of both sides together)."
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
