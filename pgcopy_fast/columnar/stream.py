"""The object COPY OUT to Arrow returns: record batches, pulled lazily.

:class:`ArrowBatchStream` wraps a schema capsule and an iterator of
``(schema, array)`` capsule pairs (what ``ArrowDecoder.feed`` returns as
the COPY data arrives).  It exports the Arrow C stream interface
(``__arrow_c_stream__``), so ``pyarrow.table(stream)``,
``polars.DataFrame(stream)`` and duckdb read it with no copy and no
pyarrow needed on our side; iterating it gives ``pyarrow.RecordBatch``
objects.  Only one batch is in flight at a time: the iterator is pulled
when the consumer asks for the next batch, never ahead.

:class:`AsyncArrowBatchStream` is the asyncio form, over an async iterator.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ..errors import InterfaceError

__all__ = ["ArrowBatchStream", "AsyncArrowBatchStream"]

_CONSUMED = "the Arrow batch stream was already consumed (it can be read once)"


def _pyarrow() -> Any:
    """pyarrow, imported when first needed: the C stream itself needs none."""
    # imported by name: pyarrow is optional and has no type stubs
    try:
        return importlib.import_module("pyarrow")
    except ImportError:
        raise InterfaceError(
            "this needs pyarrow (pip install pyarrow); the stream's "
            "__arrow_c_stream__ works without it (polars, duckdb)"
        ) from None


def _polars() -> Any:
    try:
        return importlib.import_module("polars")
    except ImportError:
        raise InterfaceError("to_polars() needs polars (pip install polars)") from None


def _arrow_stream(schema: Any, batches: Iterator[tuple[Any, Any]]) -> Any:
    # Looked up at call time: the test suite rebinds the kernel twin.
    from ..kernels import core

    return core.arrow_stream(schema, batches)


class _Collected:
    """Batches already read, exported again as a C stream (for polars)."""

    def __init__(self, schema: Any, pairs: list[tuple[Any, Any]]) -> None:
        self._schema = schema
        self._pairs = pairs

    def __arrow_c_stream__(self, requested_schema: object = None) -> Any:
        return _arrow_stream(self._schema, iter(self._pairs))


class ArrowBatchStream:
    """Record batches of a COPY OUT, read once, one batch in memory at a time.

    Built from an ``arrow_schema`` PyCapsule and an iterator of
    ``(arrow_schema, arrow_array)`` capsule pairs, each a struct array (a
    record batch).  Consume it one way, once: hand it to an Arrow consumer
    (``pyarrow.table(stream)``, ``polars.DataFrame(stream)``,
    ``duckdb.sql("SELECT ... FROM stream")``), iterate it, or call
    :meth:`read_all` / :meth:`to_pandas` / :meth:`to_polars`.
    """

    def __init__(self, schema: Any, batches: Iterator[tuple[Any, Any]]) -> None:
        """Wrap ``schema`` (a capsule) and ``batches`` (pulled lazily)."""
        self._schema_capsule = schema
        self._pa_schema: Any = None
        self._batches: Iterator[tuple[Any, Any]] | None = iter(batches)

    def _take(self) -> Iterator[tuple[Any, Any]]:
        # Every way of reading ends the stream's life: the batches go once.
        batches = self._batches
        if batches is None:
            raise InterfaceError(_CONSUMED)
        self._batches = None
        return batches

    @property
    def schema(self) -> Any:
        """The batches' schema as a ``pyarrow.Schema``.

        Raises:
            InterfaceError: pyarrow is not installed.
        """
        if self._pa_schema is None:
            pa = _pyarrow()
            # Importing moves the capsule's contents into pyarrow; keep a
            # fresh capsule of the same schema for __arrow_c_stream__.
            self._pa_schema = pa.Schema._import_from_c_capsule(self._schema_capsule)
            self._schema_capsule = self._pa_schema.__arrow_c_schema__()
        return self._pa_schema

    def __arrow_c_stream__(self, requested_schema: object = None) -> Any:
        """A PyCapsule ``arrow_array_stream`` of the batches (once only).

        ``requested_schema`` is ignored (the PyCapsule protocol lets a
        producer keep its own schema): the consumer gets the types of
        ``pgcopy_fast.columnar.outtypes``.

        Raises:
            InterfaceError: the stream was already consumed.
        """
        return _arrow_stream(self._schema_capsule, self._take())

    def __iter__(self) -> Iterator[Any]:
        """Yield each batch as a ``pyarrow.RecordBatch``, reading lazily.

        Raises:
            InterfaceError: pyarrow is missing, or the stream was consumed.
        """
        pa = _pyarrow()
        batches = self._take()
        for schema, array in batches:
            yield pa.RecordBatch._import_from_c_capsule(schema, array)

    def read_all(self) -> Any:
        """Every batch as one ``pyarrow.Table`` (empty with the schema if none).

        Raises:
            InterfaceError: pyarrow is missing, or the stream was consumed.
        """
        pa = _pyarrow()
        schema = self.schema
        return pa.Table.from_batches(list(self), schema=schema)

    def to_pandas(self, **kwargs: Any) -> Any:
        """``read_all().to_pandas(**kwargs)``: a pandas DataFrame.

        Raises:
            InterfaceError: pyarrow is missing, or the stream was consumed.
        """
        return self.read_all().to_pandas(**kwargs)

    def to_polars(self) -> Any:
        """A polars DataFrame, read through the C stream (pyarrow not needed).

        polars reads every type of ``outtypes`` but ``interval``
        (``month_day_nano_interval``), which it imports only with
        ``POLARS_IMPORT_INTERVAL_AS_STRUCT=1`` in the environment; cast
        interval columns (e.g. to text) in the query otherwise.

        Raises:
            InterfaceError: polars is missing, or the stream was consumed.
        """
        pl = _polars()
        if self._batches is None:
            raise InterfaceError(_CONSUMED)
        return pl.DataFrame(self)

    def close(self) -> None:
        """Stop reading: close the batch iterator (a generator ends its COPY)."""
        batches, self._batches = self._batches, None
        close = getattr(batches, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> ArrowBatchStream:
        """The stream itself; leaving the block closes it."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the stream (see :meth:`close`)."""
        self.close()


class AsyncArrowBatchStream:
    """The asyncio form of :class:`ArrowBatchStream`, over an async iterator.

    ``async for batch in stream`` yields ``pyarrow.RecordBatch`` objects as
    the COPY data arrives; :meth:`read_all`, :meth:`to_pandas` and
    :meth:`to_polars` are coroutines.  Read once.
    """

    def __init__(self, schema: Any, batches: AsyncIterator[Any]) -> None:
        """Wrap ``schema`` (a capsule) and ``batches`` (pulled lazily).

        With ``schema`` None, the iterator's first item is the schema
        capsule: a connection plans its copy only when the stream is read.
        """
        self._schema_capsule = schema
        self._pa_schema: Any = None
        self._batches: AsyncIterator[Any] | None = batches

    async def _take(self) -> AsyncIterator[tuple[Any, Any]]:
        batches = self._batches
        if batches is None:
            raise InterfaceError(_CONSUMED)
        self._batches = None
        if self._schema_capsule is None:
            try:
                self._schema_capsule = await batches.__anext__()
            except BaseException:
                await _aclose(batches)
                raise
        return batches  # type: ignore[no-any-return]

    @property
    def schema(self) -> Any:
        """The batches' schema as a ``pyarrow.Schema``.

        Raises:
            InterfaceError: pyarrow is not installed.
        """
        if self._pa_schema is None:
            if self._schema_capsule is None:
                raise InterfaceError(
                    "the schema is known once the stream is read "
                    "(async for, read_all())"
                )
            pa = _pyarrow()
            self._pa_schema = pa.Schema._import_from_c_capsule(self._schema_capsule)
            self._schema_capsule = self._pa_schema.__arrow_c_schema__()
        return self._pa_schema

    async def _pairs(self) -> list[tuple[Any, Any]]:
        return [pair async for pair in await self._take()]

    async def __aiter__(self) -> AsyncIterator[Any]:
        """Yield each batch as a ``pyarrow.RecordBatch`` as it arrives.

        Raises:
            InterfaceError: pyarrow is missing, or the stream was consumed.
        """
        pa = _pyarrow()
        async for schema, array in await self._take():
            yield pa.RecordBatch._import_from_c_capsule(schema, array)

    async def read_all(self) -> Any:
        """Every batch as one ``pyarrow.Table``.

        Raises:
            InterfaceError: pyarrow is missing, or the stream was consumed.
        """
        pa = _pyarrow()
        batches = await self._take()
        schema = self.schema
        return pa.Table.from_batches(
            [pa.RecordBatch._import_from_c_capsule(s, a) async for s, a in batches],
            schema=schema,
        )

    async def to_pandas(self, **kwargs: Any) -> Any:
        """``(await read_all()).to_pandas(**kwargs)``: a pandas DataFrame."""
        return (await self.read_all()).to_pandas(**kwargs)

    async def to_polars(self) -> Any:
        """A polars DataFrame, through the C stream (pyarrow not needed).

        polars reads every type of ``outtypes`` but ``interval``
        (``month_day_nano_interval``), which it imports only with
        ``POLARS_IMPORT_INTERVAL_AS_STRUCT=1`` in the environment; cast
        interval columns (e.g. to text) in the query otherwise.

        Raises:
            InterfaceError: polars is missing, or the stream was consumed.
        """
        pl = _polars()
        pairs = await self._pairs()
        return pl.DataFrame(_Collected(self._schema_capsule, pairs))

    async def aclose(self) -> None:
        """Stop reading: close the async batch iterator if it can be closed."""
        batches, self._batches = self._batches, None
        aclose = getattr(batches, "aclose", None)
        if aclose is not None:
            await aclose()


async def _aclose(batches: Any) -> None:
    # an async generator's aclose ends its COPY (the connection is drained)
    aclose = getattr(batches, "aclose", None)
    if aclose is not None:
        await aclose()
