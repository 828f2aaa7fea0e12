"""Shared helpers of the benchmark scripts: a server to talk to, and timers."""

from __future__ import annotations

import argparse
import contextlib
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass

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
