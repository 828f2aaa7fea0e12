"""Arrow record batches into binary COPY data, batch by batch.

:class:`ArrowWriter` plans each column once per stream (``intypes``),
hands the buffers to the selected twin's ``ArrowEncoder`` and, for the
pairs no kernel reads straight from the buffers, encodes the values with
the row codecs first (:func:`encoded_fields`).  Its :meth:`steps` yield
each time the buffer passes the threshold, so the caller (blocking or
asyncio) sends one batch and goes on: memory stays at one Arrow batch and
one CopyData batch.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import EncodeError, InterfaceError
from ..kernels import core as _core
from ..kernels.pgtypes import OIDS
from ..options import CodecOptions
from . import intypes
from .abi import read_schema
from .source import Batch

_STRING_TYPES = frozenset({"string", "large_string", "string_view"})


def _numeric(value: Any) -> Any:
    # A string feeding numeric is its decimal text (as the server reads it)
    if isinstance(value, str):
        try:
            return decimal.Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    return value


def element_oid(pg_type: str) -> int | None:
    """The element OID of a built-in array type's canonical name (``_text``)."""
    return OIDS.get(pg_type[1:]) if pg_type.startswith("_") else None


class ArrowWriter:
    """Writes Arrow batches into a COPY's buffer as binary tuples.

    ``targets`` are ``(column, canonical type, element OID or None)`` of the
    table's columns in the COPY's order; ``table`` names it in errors.
    """

    def __init__(
        self,
        targets: Sequence[tuple[str, str, int | None]],
        table: str,
        options: CodecOptions | None = None,
        truncate: bool = False,
    ) -> None:
        self._targets = list(targets)
        self._table = table
        self._options = options
        self._truncate = truncate
        self._plans: list[intypes.Plan] = []
        self._encoder: Any = None
        self._row_base = 0
        self.rows = 0

    def plan(self, schema: Any, objects: Sequence[str] = ()) -> None:
        """Choose every column's encoder from the stream's schema.

        ``objects`` names columns whose values come as Python objects (a
        pandas DataFrame's object columns): the row codecs encode them.

        Raises:
            InterfaceError: a missing or extra column, or a pair of types
                with no encoder (both named).
        """
        root = read_schema(schema)
        targets = [(n, pg, oid or element_oid(pg)) for n, pg, oid in self._targets]
        self._plans = intypes.plan_columns(root, targets, self._table, objects)
        infinity = bool(self._options.infinity) if self._options else False
        self._encoder = _core.ArrowEncoder(
            [p.kernel() for p in self._plans], self._fail, self._truncate, infinity
        )

    def _fail(self, column: int, row: int, code: int, raw: Any) -> None:
        raise intypes.value_error(self._plans[column], self._row_base + row, code, raw)

    def steps(
        self, buf: Any, batches: Iterator[Batch], threshold: int
    ) -> Iterator[None]:
        """Encode every batch into ``buf``; yield whenever it passes ``threshold``."""
        for batch in batches:
            if batch.start is not None:
                self._row_base = batch.start  # rows as the whole stream counts them
            encoded = self.encoded_fields(batch)
            start = 0
            while start < batch.length:
                start = self._encoder.encode(
                    buf, batch.schema, batch.array, start, threshold, encoded
                )
                if len(buf) >= threshold:
                    yield
            self._row_base += batch.length
            self.rows += batch.length

    def encoded_fields(self, batch: Batch) -> list[bytes | None] | None:
        """The row codecs' fields of each ENCODED column of ``batch``, else None."""
        wanted = [p for p in self._plans if p.kind == intypes.ENCODED]
        if not wanted:
            return None
        if batch.table is None:
            names = ", ".join(repr(p.column) for p in wanted)
            raise InterfaceError(f"columns {names} need pyarrow to be encoded")
        out: list[bytes | None] = []
        for plan, (_, pg_type, element_oid) in zip(
            self._plans, self._targets, strict=True
        ):
            if plan.kind != intypes.ENCODED:
                out.append(None)
                continue
            out.append(self._encode_column(plan, pg_type, element_oid, batch))
        return out

    def _encode_column(
        self, plan: intypes.Plan, pg_type: str, element_oid: int | None, batch: Batch
    ) -> bytes:
        if batch.objects is not None and plan.column in batch.objects:
            values = batch.objects[plan.column]
        else:
            values = batch.table.column(plan.child).to_pylist()
        if pg_type == "numeric" and plan.arrow_type in _STRING_TYPES:
            for i, value in enumerate(values):
                try:
                    values[i] = _numeric(value)
                except ValueError as exc:
                    raise self._error(plan, i, exc, type(value).__name__) from exc
        encoder = _core.BinaryEncoder([pg_type], None, self._options, [element_oid])
        buf = _core.WriteBuffer(max(1024, 16 * len(values)))
        try:
            encoder.encode_rows(buf, zip(values), 1 << 62)
        except EncodeError as exc:
            cause = exc.__cause__ or exc
            raise self._error(plan, exc.row_index or 0, cause, exc.value_type) from exc
        return bytes(buf.getvalue())

    def _error(
        self, plan: intypes.Plan, index: int, cause: BaseException, value_type: Any
    ) -> EncodeError:
        row = self._row_base + index
        return EncodeError(
            f"row {row}, column {plan.column!r} ({plan.arrow_type} into "
            f"{plan.pg_type}): {cause}",
            row_index=row,
            column=plan.column,
            pg_type=plan.pg_type,
            value_type=value_type or plan.arrow_type,
        )


def arrow_writer(
    plan: Any, options: CodecOptions | None, truncate: bool
) -> ArrowWriter:
    """The writer of a table's COPY plan (:class:`pgcopy_fast.catalog.plans.CopyPlan`).

    Raises:
        InterfaceError: a column whose type has no binary codec (the
            columnar path writes binary only).
    """
    if plan.types is None:
        missing = [
            c
            for c, codec in zip(plan.columns, plan.codecs, strict=True)
            if codec is None
        ]
        raise InterfaceError(
            f"copy_arrow writes binary COPY, and columns {missing} of "
            f"{plan.table} have types without a binary codec"
        )
    targets = list(zip(plan.columns, plan.codecs, plan.element_oids, strict=True))
    return ArrowWriter(targets, plan.table or plan.target, options, truncate)


def arrow_chunks(
    writer: ArrowWriter,
    batches: Iterator[Batch],
    types: Sequence[str],
    options: CodecOptions | None,
    threshold: int,
) -> Iterator[bytes]:
    """A whole binary COPY stream of ``batches`` in chunks of about ``threshold``.

    For drivers whose COPY takes bytes (the adapters) and for
    :func:`pgcopy_fast.binary.iter_encode_arrow`.
    """
    buf = _core.WriteBuffer(threshold + threshold // 4)
    framing = _core.BinaryEncoder(list(types), None, options)
    framing.header(buf)
    for _ in writer.steps(buf, batches, threshold):
        yield bytes(buf.getvalue())
        buf.clear()
    framing.trailer(buf)
    yield bytes(buf.getvalue())
