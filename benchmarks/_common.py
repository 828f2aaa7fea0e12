"""Shared helpers of the benchmark scripts: a server, a scratch table, timers."""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pgcopy_fast as pcf
from pgcopy_fast.tempserver import TempServer


def add_server_args(parser: argparse.ArgumentParser) -> None:
    """``--dsn``: use that server instead of a throwaway one."""
    parser.add_argument("--dsn", help="server to use (default: a throwaway cluster)")


@contextlib.contextmanager
def server_dsn(dsn: str | None) -> Iterator[str]:
    """The DSN given, or that of a throwaway cluster for the with block."""
    if dsn:
        yield dsn
        return
    with TempServer() as srv:
        yield srv.dsn


@contextlib.contextmanager
def scratch_table(dsn: str, stem: str, columns: str) -> Iterator[str]:
    """An unlogged table of a unique name for the with block, dropped after it.

    Unique, so that two runs against one server (``--dsn``) do not meet, and
    dropped on a fresh connection whatever happened, so that none is left.
    """
    name = f"{stem}_{os.getpid()}_{secrets.token_hex(3)}"
    with pcf.connect(dsn) as conn:
        conn.execute(f"CREATE UNLOGGED TABLE {name} ({columns})")
    try:
        yield name
    finally:
        with pcf.connect(dsn) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")


@dataclass
class Timing:
    """Wall and client CPU seconds of a measured block."""

    wall: float = 0.0
    cpu: float = 0.0

    def per_row_us(self, rows: int) -> float:
        """Client CPU microseconds per row."""
        return self.cpu / rows * 1e6


@contextlib.contextmanager
def measure() -> Iterator[Timing]:
    """Time the with block: wall clock and this process's user + system CPU."""
    timing = Timing()
    t0, c0 = time.perf_counter(), _cpu()
    yield timing
    timing.cpu = _cpu() - c0
    timing.wall = time.perf_counter() - t0


def _cpu() -> float:
    # getrusage has microsecond resolution, os.times only clock ticks.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    """Current resident set size of this process, in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
