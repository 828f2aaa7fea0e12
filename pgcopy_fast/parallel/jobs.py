"""N jobs fed from one thread through a bounded queue, stopped together.

The caller's thread produces the items (Arrow batches, chunks of a file)
and puts them on a queue of ``QUEUED_PER_JOB`` items per job, so memory
stays bounded however fast the input is; each job takes items as it is
ready for them.  The first job to fail, or an exception in the producing
thread (Ctrl-C lands there), sets the stop flag: every job's feed raises
:class:`Stopped` within ``POLL`` seconds, which ends its COPY with
CopyFail, and the exception is re-raised once every job has stopped.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: Items queued per job: enough to keep each busy, few enough to bound memory.
QUEUED_PER_JOB = 2
#: Seconds between looks at the stop flag while waiting on the queue.
POLL = 0.1


class Stopped(Exception):
    """A job was told to stop (another failed, or the caller was interrupted)."""


@dataclass
class Job:
    """What one job did: the items it took, its result or its error."""

    index: int
    items: list[Any] = field(default_factory=list)
    value: Any = None
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        """Whether the job finished without an error."""
        return self.error is None

    @property
    def failed(self) -> bool:
        """Whether the job failed itself (not only stopped because another did)."""
        return self.error is not None and not isinstance(self.error, Stopped)


def put(shared: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    """Queue ``item``, waiting for room; give up quietly once stopped."""
    while not stop.is_set():
        try:
            shared.put(item, timeout=POLL)
            return
        except queue.Full:
            continue


def _feed(shared: queue.Queue[Any], stop: threading.Event, job: Job) -> Iterator[Any]:
    while True:
        if stop.is_set():
            raise Stopped("stopped")
        try:
            item = shared.get(timeout=POLL)
        except queue.Empty:
            continue
        if item is None:
            shared.put(None)  # the end, for the next job too
            return
        job.items.append(item)
        yield item


def fan_out(
    items: Iterable[Any],
    jobs: int,
    work: Callable[[int, Iterator[Any]], Any],
    name: str = "pgcopy_fast-job",
) -> list[Job]:
    """Run ``work(index, feed)`` in ``jobs`` threads over the items; their Jobs.

    A job's error is kept in its Job (the others are then stopped, their
    error being :class:`Stopped`); an exception of the producing thread
    (KeyboardInterrupt included) is re-raised after every job stopped.
    """
    shared: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_PER_JOB * jobs)
    stop = threading.Event()
    states = [Job(i) for i in range(jobs)]

    def run(job: Job) -> None:
        try:
            job.value = work(job.index, _feed(shared, stop, job))
        except BaseException as exc:
            job.error = exc
            stop.set()

    threads = [
        threading.Thread(target=run, args=(job,), name=f"{name}-{job.index}")
        for job in states
    ]
    for thread in threads:
        thread.start()
    try:
        for item in items:
            if stop.is_set():
                break
            put(shared, item, stop)
        put(shared, None, stop)
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()
        for thread in threads:
            thread.join()
        raise
    return states


def first_failure(states: list[Job]) -> BaseException | None:
    """The error of the job that failed first (not one that was only stopped)."""
    for job in states:
        if job.failed:
            return job.error
    return None
