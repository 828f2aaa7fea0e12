"""What every driver integration shares, whatever does its I/O.

The catalog access (a runner per raw connection, so that its plan cache
lives with it), the encoding of rows into COPY data, the decoding of what
a driver hands over, and the two catalog programs that plan a copy in and
a copy out.  The programs yield SQL and are run by
:func:`~pgcopy_fast.catalog.queries.run_program` or
:func:`~pgcopy_fast.catalog.queries.arun_program`, so the planning logic
exists once for blocking and asyncio drivers.  Nothing here imports a
driver.
"""

from __future__ import annotations

import weakref
from collections.abc import (
    AsyncIterable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from .. import binary
from ..catalog.plans import (
    CopyPlan,
    forget,
    is_query,
    plan_query_program,
    validated_plan_program,
)
from ..catalog.queries import Describe
from ..columnar.source import open_batches
from ..columnar.writer import arrow_chunks, arrow_writer
from ..copy.base import decode_batch
from ..errors import InterfaceError
from ..kernels import core as _core
from ..kernels.consts import COPY_BATCH_THRESHOLD
from ..options import CodecOptions
from ..protocol.flows import Result

__all__ = [
    "END",
    "QUEUED_BATCHES",
    "Batches",
    "CopyInJob",
    "CopyOutJob",
    "CursorRunner",
    "Data",
    "Handover",
    "Row",
    "chunks",
    "collected",
    "copy_in_program",
    "copy_out_program",
    "is_query",
    "module_of",
    "native_rows",
    "runner_for",
    "server_parameters",
    "to_result",
]

#: A decoded row.
Row = tuple[Any, ...]
#: What a driver hands over of a COPY OUT's data.
Data = bytes | bytearray | memoryview | str

#: Decoded batches waiting for the consumer: bounds memory when it is slow.
QUEUED_BATCHES: Final = 4
#: Queued by a producer after its last batch.
END: Final = object()

_R = TypeVar("_R")


# -- what the caller passed ------------------------------------------------


def module_of(obj: Any) -> str:
    """The module that defines ``obj``'s type (how a driver is recognised)."""
    return type(obj).__module__ or ""


async def collected(records: Iterable[Any] | AsyncIterable[Any]) -> Iterable[Any]:
    """The records, an async iterable's read to a list first."""
    if isinstance(records, AsyncIterable):
        return [r async for r in records]
    return records


def native_rows(
    conn: Any, source: Any, columns: Sequence[str] | None, options: CodecOptions | None
) -> Any:
    """The rows of a pgcopy_fast connection's own copy out (either kind)."""
    if is_query(source):
        return conn.copy_query_out(source, options=options)
    return conn.copy_records_out(source, columns, options=options)


# -- catalog access through a driver ---------------------------------------


def to_result(description: Any, rows: Any) -> Result:
    """A driver's answer to a catalog query as the Result the programs read.

    The catalog programs read text values, as the simple query protocol
    gives them; drivers give Python values.
    """
    columns = [(d[0], int(d[1])) for d in description or ()]
    texts = [tuple(None if v is None else str(v) for v in row) for row in rows]
    return Result("", len(texts), columns, texts)


def server_parameters(standard_conforming_strings: str | None) -> dict[str, str]:
    """The server setting that literal quoting depends on, as a runner's
    ``parameters`` (each driver reads it from its own ParameterStatus, with
    no round trip)."""
    return {"standard_conforming_strings": standard_conforming_strings or "on"}


class CursorRunner:
    """Catalog queries through a DB-API cursor (psycopg 3, psycopg2)."""

    def __init__(
        self, cursor_factory: Callable[[], Any], parameters: dict[str, str]
    ) -> None:
        self._cursor = cursor_factory
        self.parameters = parameters

    def execute(self, sql: str) -> Result:
        """Run one catalog query and fetch its rows."""
        cur = self._cursor()
        try:
            cur.execute(sql)
            return to_result(cur.description, cur.fetchall() if cur.description else [])
        finally:
            cur.close()


_runners: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def runner_for(raw: Any, make: Callable[[], _R]) -> _R:
    """One runner per raw connection, so that its plan cache lives with it."""
    try:
        runner: _R | None = _runners.get(raw)
        if runner is None:
            runner = _runners[raw] = make()
        return runner
    except TypeError:  # not weak-referenceable: no cache across calls
        return make()


# -- encoding --------------------------------------------------------------


def chunks(
    plan: CopyPlan, rows: Iterator[Any], options: CodecOptions | None, threshold: int
) -> Iterator[bytes]:
    """The COPY data of the rows, in chunks of about ``threshold`` bytes."""
    if plan.types is not None:
        return binary.iter_encode(
            rows,
            plan.types,
            columns=plan.columns,
            options=options,
            element_oids=plan.element_oids,
            chunk_size=threshold,
        )
    return _text_chunks(plan, rows, options, threshold)


def _text_chunks(
    plan: CopyPlan, rows: Iterator[Any], options: CodecOptions | None, threshold: int
) -> Iterator[bytes]:
    encoder = plan.text_encoder(options)
    buf = _core.WriteBuffer(threshold + threshold // 4)
    while True:
        exhausted = encoder.encode_rows(buf, rows, threshold)
        if len(buf):
            yield buf.getvalue()
            buf.clear()
        if exhausted:
            return


# -- decoding --------------------------------------------------------------


class Batches:
    """Collects what a driver hands over (often one row at a time) and decodes
    it a batch at a time, in one kernel call with the GC paused."""

    def __init__(self, plan: CopyPlan, options: CodecOptions | None) -> None:
        self._decoder = plan.row_decoder(options)
        self._pending = bytearray()

    def feed(self, data: Data) -> list[Row]:
        """Take data; the rows of a full batch, or [] for now."""
        self._pending += data.encode() if isinstance(data, str) else data
        if len(self._pending) < COPY_BATCH_THRESHOLD:
            return []
        return self._decode()

    def finish(self) -> list[Row]:
        """The rows of what is left.

        Raises:
            DecodeError: the stream ended in the middle of a row.
        """
        rows = self._decode() if self._pending else []
        self._decoder.finish()
        return rows

    def _decode(self) -> list[Row]:
        data = bytes(self._pending)
        self._pending.clear()
        return decode_batch(self._decoder, [data])


class Handover:
    """The consumer's end of a queue of decoded batches.

    For drivers whose COPY OUT pushes its data (psycopg2's ``copy_expert``
    run in a thread, asyncpg's ``copy_from_query`` in a task): the producer
    queues batches of rows, then :data:`END` or the exception that ended
    it.  What a queued item means is decided here, once for the blocking
    and the asyncio queue; only the loop that takes the items differs.
    """

    def __init__(self) -> None:
        self.finished = False

    def rows(self, item: Any) -> list[Row] | None:
        """The rows of a queued item, or None at the end of the COPY.

        Raises:
            BaseException: the producer's error, queued in its place.
        """
        if item is END:
            self.finished = True
            return None
        if isinstance(item, BaseException):
            self.finished = True
            raise item
        rows: list[Row] = item
        return rows

    def drop(self, item: Any) -> None:
        """Drop an item the consumer no longer wants (it stopped early: the
        queue is read to the COPY's end so that the producer can finish)."""
        self.finished = item is END or isinstance(item, BaseException)


# -- planning: once for blocking and asyncio drivers -----------------------


@dataclass
class CopyInJob:
    """A planned copy into a table: its plan and its data, ready for a driver.

    Attributes:
        runner: the catalog runner whose cache holds the plan.
        key: the plan's cache key.
        table: the table as the caller named it (a name or a tuple).
        plan: the plan.
        chunks: the COPY data, encoded lazily as it is read.
        threshold: about how many bytes a chunk holds.
    """

    runner: Any
    key: Any
    table: Any
    plan: CopyPlan
    chunks: Iterator[bytes]
    threshold: int

    @contextmanager
    def forgetting(self) -> Iterator[None]:
        """Around the copy: a failed copy drops the cached plan (the table
        may have changed), unless a value or the call itself was at fault."""
        try:
            yield
        except InterfaceError:
            raise
        except Exception as exc:
            if not isinstance(exc, ValueError):
                forget(self.runner, self.key)
            raise


@dataclass
class CopyOutJob:
    """A planned copy out of a table or a query, ready for a driver.

    Attributes:
        plan: the plan.
        batches: the decoder of what the driver hands over.
    """

    plan: CopyPlan
    batches: Batches


def copy_in_program(
    runner: Any,
    table: Any,
    rows: Iterator[Any],
    columns: Sequence[str] | None,
    options: CodecOptions | None,
    threshold: int,
) -> Generator[str | Describe, Result, CopyInJob]:
    """Catalog program: the :class:`CopyInJob` of a copy of ``rows`` into
    ``table`` (a cached plan is checked first)."""
    key, plan = yield from validated_plan_program(runner, table, columns)
    data = chunks(plan, rows, options, threshold)
    return CopyInJob(runner, key, table, plan, data, threshold)


def copy_arrow_program(
    runner: Any,
    table: Any,
    data: Any,
    columns: Sequence[str] | None,
    options: CodecOptions | None,
    truncate: bool,
    threshold: int,
) -> Generator[str | Describe, Result, CopyInJob]:
    """Catalog program: the :class:`CopyInJob` of a copy of Arrow ``data``.

    Every column is planned (and a bad pair of types refused) before the
    COPY starts.
    """
    source = open_batches(data)
    wanted = list(columns) if columns is not None else source.names
    key, plan = yield from validated_plan_program(runner, table, wanted)
    writer = arrow_writer(plan, options, truncate)
    writer.plan(source.schema, source.objects)
    chunks_ = arrow_chunks(writer, source.batches, plan.codecs, options, threshold)
    return CopyInJob(runner, key, table, plan, chunks_, threshold)


def copy_out_program(
    runner: Any,
    source: Any,
    columns: Sequence[str] | None,
    options: CodecOptions | None,
) -> Generator[str | Describe, Result, CopyOutJob]:
    """Catalog program: the :class:`CopyOutJob` of a copy out of a table or
    of a query."""
    if is_query(source):
        plan = yield from plan_query_program(source)
    else:
        _, plan = yield from validated_plan_program(runner, source, columns)
    return CopyOutJob(plan, Batches(plan, options))
