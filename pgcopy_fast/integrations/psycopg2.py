"""psycopg2: the fast COPY path through ``cursor.copy_expert``.

``copy_expert`` reads its data from a file-like object, which encodes as
it is read, and writes what it receives to one, which decodes.  It
delivers a whole COPY OUT before it returns, so it runs in a thread that
hands decoded batches over through a small queue: rows stream and memory
stays bounded.  psycopg2 itself is never imported: its connections are
recognised by their type's module.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

from ._common import (
    END,
    QUEUED_BATCHES,
    Batches,
    CopyInJob,
    CopyOutJob,
    CursorRunner,
    Data,
    Handover,
    Row,
    module_of,
    runner_for,
    server_parameters,
)

__all__ = ["copy_in", "copy_out", "owns", "runner"]


def owns(conn: Any) -> bool:
    """Whether ``conn`` is a psycopg2 connection."""
    return module_of(conn).startswith("psycopg2")


def runner(raw: Any) -> CursorRunner:
    """The catalog runner of a connection (cached with it)."""

    def make() -> CursorRunner:
        value = raw.get_parameter_status("standard_conforming_strings")
        return CursorRunner(raw.cursor, server_parameters(value))

    return runner_for(raw, make)


class _ChunkReader:
    """A file-like object for ``copy_expert`` that encodes as it is read."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes of COPY data (all that is left for -1)."""
        try:
            while size < 0 or len(self._pending) < size:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending += chunk
        except BaseException as exc:
            self.error = exc  # psycopg2 turns it into "error in .read() call"
            raise
        if size < 0:
            out, self._pending = self._pending, b""
        else:
            out, self._pending = self._pending[:size], self._pending[size:]
        return out

    readline = read


def copy_in(raw: Any, job: CopyInJob) -> int:
    """Run a planned copy in; the row count.

    Raises:
        the error of encoding a row as it is, not psycopg2's wrapper of it.
    """
    with raw.cursor() as cur:
        reader = _ChunkReader(job.chunks)
        try:
            cur.copy_expert(job.plan.copy_in_sql(), reader, size=job.threshold)
        except Exception as exc:
            if reader.error is not None:
                raise reader.error from exc
            raise
        return int(cur.rowcount)


class _QueueWriter:
    """A file-like sink for ``copy_expert``: decoded batches to a queue."""

    def __init__(self, batches: Batches, out: queue.Queue[Any]) -> None:
        self._batches = batches
        self._out = out

    def write(self, data: Data) -> int:
        """Take data; queue the rows of each full batch."""
        rows = self._batches.feed(data)
        if rows:
            self._out.put(rows)
        return len(data)


def copy_out(raw: Any, job: CopyOutJob) -> Iterator[Row]:
    """Run a planned copy out; its rows, as the thread decodes them."""
    with raw.cursor() as cur:
        yield from _threaded_copy_expert(cur, job.plan.copy_out_sql(), job.batches)


def _threaded_copy_expert(cur: Any, sql: str, batches: Batches) -> Iterator[Row]:
    out: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_BATCHES)

    def work() -> None:
        try:
            cur.copy_expert(sql, _QueueWriter(batches, out))
            out.put(batches.finish())
            out.put(END)
        except BaseException as exc:
            out.put(exc)

    worker = threading.Thread(target=work, name="pgcopy_fast-copy_expert", daemon=True)
    worker.start()
    handover = Handover()
    try:
        while (rows := handover.rows(out.get())) is not None:
            yield from rows
    finally:
        while not handover.finished:  # the consumer stopped early: let the COPY end
            handover.drop(out.get())
        worker.join()
