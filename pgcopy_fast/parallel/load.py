"""``copy_arrow(..., jobs=N)``: Arrow batches spread over N connections.

The caller's thread reads the data and hands batches through a bounded
queue (memory: about two batches per job) to N threads, each with its own
connection and its own COPY.  The first failure, or an interrupt of the
caller (Ctrl-C), stops every job: each open COPY ends with CopyFail, so
what it had sent is not committed.

Without ``atomic`` each job's COPY commits when it ends, so a failure
leaves the jobs that had finished committed; the error says which row
ranges those were.  With ``atomic`` every job loads a staging table of its
own (``pgcopy_fast_stage_*``, unlogged), and one final transaction on the
caller's connection moves all of them into the target and drops them:
nothing is committed unless everything is, and every failure path drops
the staging tables.
"""

from __future__ import annotations

import queue
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog.queries import parse_table, quote_ident, quote_table
from ..columnar.source import Batch, Source
from ..errors import Error, InterfaceError
from ..options import CodecOptions
from ..protocol.events import TransactionStatus

#: Batches queued per job: enough to keep each busy, few enough to bound memory.
QUEUED_PER_JOB = 2
_POLL = 0.1  # seconds between looks at the stop flag while waiting


class Stopped(Exception):
    """A job was told to stop (another failed, or the caller was interrupted)."""


@dataclass
class _Job:
    index: int
    target: str
    ranges: list[tuple[int, int]] = field(default_factory=list)
    rows: int = 0
    error: BaseException | None = None
    done: bool = False


class _Feed:
    """One job's view of the shared queue, as the batches of a Source."""

    def __init__(self, shared: queue.Queue[Any], stop: threading.Event, job: _Job):
        self._queue, self._stop, self._job = shared, stop, job

    def __iter__(self) -> Iterator[Batch]:
        while True:
            if self._stop.is_set():
                raise Stopped("stopped")
            try:
                item = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is None:
                self._queue.put(None)  # the end, for the next job too
                return
            start, batch = item
            self._job.ranges.append((start, start + batch.length))
            batch.start = start
            yield batch


def _put(shared: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            shared.put(item, timeout=_POLL)
            return
        except queue.Full:
            continue


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def copy_arrow_jobs(
    conn: Any,
    table: Any,
    source: Source,
    columns: Sequence[str],
    jobs: int,
    atomic: bool,
    options: CodecOptions | None,
    truncate: bool,
    threshold: int,
) -> int:
    """Copy ``source`` into ``table`` over ``jobs`` new connections (see the module).

    Raises:
        InterfaceError: the connection is inside a transaction block (the
            jobs commit on connections of their own), or a bad argument.
        the first job's error, with the committed row ranges in its message
        when ``atomic`` is off; KeyboardInterrupt after every job stopped.
    """
    if conn.transaction_status is not TransactionStatus.IDLE:
        raise InterfaceError(
            "copy_arrow(jobs=...) loads through connections of its own and "
            "cannot join a transaction block: run it outside one (atomic=True "
            "makes it all or nothing)"
        )
    schema, name = parse_table(table)
    target = quote_table(schema, name)
    column_list = ", ".join(quote_ident(c) for c in columns)
    token = secrets.token_hex(4)
    staging = [f"pgcopy_fast_stage_{token}_{i}" for i in range(jobs)] if atomic else []
    for stage in staging:
        conn.execute(
            f"CREATE UNLOGGED TABLE {stage} AS SELECT {column_list} FROM {target} "
            "WITH NO DATA"
        )
    try:
        count = _run_jobs(
            conn, target, staging, source, columns, jobs, options, truncate, threshold
        )
        if atomic:
            moves = "; ".join(
                f"INSERT INTO {target} ({column_list}) SELECT {column_list} FROM {s}"
                for s in staging
            )
            drops = ", ".join(staging)
            conn.execute(f"BEGIN; {moves}; DROP TABLE {drops}; COMMIT")
            staging = []
        return count
    finally:
        if staging:
            _drop(conn, staging)


def _drop(conn: Any, staging: list[str]) -> None:
    # every failure path: leave nothing behind (the connection may be in a
    # failed transaction after an interrupt: end it first)
    try:
        if conn.transaction_status is not TransactionStatus.IDLE:
            conn.execute("ROLLBACK")
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(staging)}")
    except Error:
        pass  # the original failure is the one to report


def _run_jobs(
    conn: Any,
    target: str,
    staging: list[str],
    source: Source,
    columns: Sequence[str],
    jobs: int,
    options: CodecOptions | None,
    truncate: bool,
    threshold: int,
) -> int:
    shared: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_PER_JOB * jobs)
    stop = threading.Event()
    states = [_Job(i, staging[i] if staging else target) for i in range(jobs)]
    siblings = [conn._sibling() for _ in range(jobs)]

    def work(job: _Job, sibling: Any) -> None:
        try:
            feed = Source(source.schema, iter(_Feed(shared, stop, job)), source.objects)
            job.rows = sibling.copy_arrow(
                job.target,
                feed,
                list(columns),
                options=options,
                truncate=truncate,
                threshold=threshold,
            )
            job.done = True
        except BaseException as exc:
            job.error = exc
            stop.set()

    threads = [
        threading.Thread(
            target=work, args=(job, sib), name=f"pgcopy_fast-job-{job.index}"
        )
        for job, sib in zip(states, siblings, strict=True)
    ]
    for thread in threads:
        thread.start()
    try:
        start = 0
        for batch in source.batches:
            if stop.is_set():
                break
            _put(shared, (start, batch), stop)
            start += batch.length
        _put(shared, None, stop)
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()  # Ctrl-C (or a failing source): every job ends its COPY
        for thread in threads:
            thread.join()
        raise
    finally:
        for sibling in siblings:
            sibling.close()
    failed = [
        j for j in states if j.error is not None and not isinstance(j.error, Stopped)
    ]
    if failed:
        first = failed[0].error
        assert first is not None
        if not staging:
            committed = _merged([r for j in states if j.done for r in j.ranges])
            shown = ", ".join(f"{a}-{b - 1}" for a, b in committed) or "none"
            note = f" (rows committed by the jobs that finished: {shown})"
            if isinstance(first, Error) and first.args:
                first.args = (f"{first.args[0]}{note}", *first.args[1:])
        raise first
    return sum(j.rows for j in states)
