"""How long an asyncio COPY IN holds the event loop: a 10 ms ticker beside it.

    python benchmarks/loop_blocking.py --rows 2000000

A throwaway server; an ``AsyncConnection`` copies ``--rows`` narrow rows
(int8, int4, float8: the server keeps up, so the drain seldom waits) while
a task wakes every 10 ms and notes how late it woke.  Prints, per twin, the
copy's wall time, the longest gap between ticks (the longest the loop was
held) and the share of the copy the loop was held longer than 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from pgcopy_fast.tempserver import TempServer

TYPES = ["int8", "int4", "float8"]


def _rows(n: int) -> Iterator[tuple[Any, ...]]:
    import random

    rng = random.Random(7)
    for _ in range(n):
        yield (rng.getrandbits(62), rng.getrandbits(30), rng.random())


async def _measure(dsn: str, rows: int) -> dict[str, float]:
    import pgcopy_fast as pcf

    conn = await pcf.connect_async(dsn)
    if os.environ.get("LOOP_BLOCKING_NO_BACKPRESSURE"):
        # As if the network and the server always kept up: the drain never
        # waits, so only the writer's own yield gives other tasks a turn.
        # (``_stream`` is where releases before 0.2 keep their transport.)
        holder = getattr(conn, "_wire", None) or conn
        stream = getattr(holder, "transport", None) or conn._stream  # type: ignore[attr-defined]
        stream.transport.set_write_buffer_limits(high=1 << 31)
    await conn.execute(
        "DROP TABLE IF EXISTS loop_t; CREATE UNLOGGED TABLE loop_t "
        "(a int8, b int4, c float8)"
    )
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.get_running_loop().create_task(ticker())
    start = time.perf_counter()
    async with conn.copy_in("COPY loop_t FROM STDIN (FORMAT binary)", TYPES) as cp:
        await cp.write_rows(_rows(rows))
    wall = time.perf_counter() - start
    done = True
    await task
    await conn.execute("DROP TABLE loop_t")
    await conn.close()
    held = sum(g for g in gaps if g > 0.05)
    return {"wall": wall, "max_gap": max(gaps), "held_share": held / wall}


def main() -> None:
    """Run each twin in its own process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument(
        "--no-backpressure",
        action="store_true",
        help="a transport that never makes the writer wait (a fast network)",
    )
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dsn:
        print(asyncio.run(_measure(args.dsn, args.rows)))
        return
    with TempServer() as srv:
        for impl in ("c", "python"):
            env = dict(os.environ, PGCOPY_FAST_IMPL=impl)
            if args.no_backpressure:
                env["LOOP_BLOCKING_NO_BACKPRESSURE"] = "1"
            cmd = [sys.executable, __file__, "--rows", str(args.rows), "--dsn", srv.dsn]
            out = subprocess.run(
                cmd, env=env, capture_output=True, text=True, check=True
            )
            print(f"{impl}: {out.stdout.strip()}")


if __name__ == "__main__":
    main()
