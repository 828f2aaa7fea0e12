"""Writing behind: a thread of its own writes what the COPY has just read.

Compressing a file (zlib, zstd) and writing Parquet or Arrow (pyarrow)
release the GIL, so a writer thread runs beside the connection that reads
the rows instead of after each block: a dump takes about the longer of the
two, not their sum.  A bounded queue keeps memory at a few blocks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class WriteBehind:
    """``write(item)`` queues it for ``sink``; ``close()`` waits, then ``done()``.

    An error of the writer thread is raised by the next ``write`` or by
    ``close``; after one, the thread drops what is still queued.
    """

    def __init__(
        self,
        sink: Callable[[Any], object],
        done: Callable[[], object] | None = None,
        depth: int = 8,
    ) -> None:
        self._sink = sink
        self._done = done
        self._queue: queue.Queue[Any] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._sink(item)
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc

    def write(self, item: Any) -> int:
        """Queue ``item`` (waits while the queue is full)."""
        if self._error is not None:
            raise self._error
        self._queue.put(item)
        return len(item) if isinstance(item, (bytes, bytearray)) else 0

    def flush(self) -> None:
        """Nothing to do before close: the thread writes as items come."""

    def close(self) -> None:
        """Write what is queued, then ``done()``; raise the writer's error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        try:
            if self._done is not None:
                self._done()
        finally:
            self._done = None
        if self._error is not None:
            raise self._error
