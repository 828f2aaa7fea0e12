"""Pure twin of ``_arrow_in_c.pxi``: Arrow record batches into binary COPY tuples.

Where the compiled twin reads the C data interface's buffers, this one
leans on pyarrow to read the values (as Python ints, strings and bytes)
and does the same arithmetic on them, so both write the same bytes and
raise the same errors.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from ..columnar import intypes as k
from .consts import (
    DATE_INFINITY,
    DATE_NEG_INFINITY,
    NUMERIC_NEG,
    NUMERIC_POS,
    TIMESTAMP_INFINITY,
    TIMESTAMP_NEG_INFINITY,
)

_EPOCH_DAYS = 10957
_EPOCH_US = 10957 * 86_400_000_000
_MIN_DAYS, _MAX_DAYS = -719162, 2932896
_MIN_US, _MAX_US = _MIN_DAYS * 86_400_000_000, (_MAX_DAYS + 1) * 86_400_000_000 - 1
_DAY_US = 86_400_000_000
_NULL = b"\xff\xff\xff\xff"
_INT_RANGES = {2: (-(1 << 15), (1 << 15) - 1), 4: (-(1 << 31), (1 << 31) - 1)}
_INT_RANGES.update({8: (-(1 << 63), (1 << 63) - 1), -4: (0, (1 << 32) - 1)})
_INT_PACK = {2: ">ih", 4: ">ii", 8: ">iq", -4: ">iI"}


class _Failed(Exception):
    def __init__(self, code: int, raw: Any) -> None:
        self.code, self.raw = code, raw


def _to_us(v: int, unit: int, truncate: bool) -> int:
    if unit > 0:
        if unit > 1 and not -(2**63) // unit <= v <= (2**63 - 1) // unit:
            raise _Failed(k.RANGE, v)
        return v * unit
    q, r = divmod(v, -unit)
    if r and not truncate:
        raise _Failed(k.SUBMICRO, v)
    return q


def _decimal(value: Any) -> bytes:
    # The same groups as the compiled twin's _put_decimal: |unscaled| digits
    # with their exponents, zero groups dropped at both ends.
    sign, digits, exponent = value.as_tuple()
    scale = -exponent
    nd = len(digits)
    while nd and digits[0] == 0 and nd > 1:
        digits, nd = digits[1:], nd - 1
    if nd == 1 and digits[0] == 0:
        nd = 0
    digs = list(reversed(digits))[:nd]

    def group(g: int) -> int:
        total = 0
        for i in range(3, -1, -1):
            e = 4 * g + i + scale
            total = total * 10 + (digs[e] if 0 <= e < nd else 0)
        return total

    top = (nd - 1 - scale) // 4 if nd else 0
    low = (-scale) // 4
    while nd and top >= low and group(top) == 0:
        top -= 1
    while nd and low <= top and group(low) == 0:
        low += 1
    count = top - low + 1 if nd else 0
    body = struct.pack(
        ">ihhHH",
        8 + 2 * count,
        count,
        top if count else 0,
        NUMERIC_NEG if sign and count else NUMERIC_POS,
        max(scale, 0),
    )
    return body + b"".join(struct.pack(">H", group(g)) for g in range(top, low - 1, -1))


class ArrowEncoder:
    """Encodes Arrow record batches into binary COPY tuples.

    ``plans`` has one tuple per target column, in the table's column order:
    ``(kind, child, src, dst, unit, index)`` as
    :class:`pgcopy_fast.columnar.intypes.Plan` gives them.  ``fail`` is
    called as ``fail(column, row, code, raw)`` for a value that cannot be
    stored and must raise.
    """

    def __init__(
        self,
        plans: Sequence[tuple[Any, ...]],
        fail: Callable[[int, int, int, Any], Any],
        truncate: bool = False,
        infinity: bool = False,
    ) -> None:
        self._plans = [tuple(p) for p in plans]
        self._fail = fail
        self._truncate = bool(truncate)
        self._infinity = bool(infinity)
        self._batch: tuple[Any, list[list[Any]]] | None = None
        self._blob_pos: list[int] = [0] * len(self._plans)

    def encode(
        self,
        buf: Any,
        schema: Any,
        array: Any,
        start: int,
        threshold: int,
        encoded: Sequence[bytes | None] | None = None,
    ) -> int:
        """Encode rows of a batch from ``start`` until ``buf`` passes ``threshold``.

        ``schema`` and ``array`` are the batch's ``arrow_schema`` and
        ``arrow_array`` capsules (a struct array), left to their owner;
        ``encoded`` has, for each ENCODED column, the batch's fields
        as the row codecs wrote them (one-column tuples), else None.
        Returns the next row to encode (the batch's length when done).
        """
        columns = self._columns(schema, array)
        length = len(columns[0]) if columns else self._length
        if start >= length:
            return length
        if start == 0:
            self._blob_pos = [0] * len(self._plans)
        header = struct.pack(">h", len(self._plans))
        row = start
        while row < length:
            fields = [header]
            for j, plan in enumerate(self._plans):
                try:
                    fields.append(self._field(j, plan, columns[j], row, encoded))
                except _Failed as failed:
                    self._fail(j, row, failed.code, failed.raw)
                    raise AssertionError("the fail callback must raise") from None
            buf.write_bytes(b"".join(fields))
            row += 1
            if len(buf) >= threshold:
                break
        return row

    def _columns(self, schema: Any, array: Any) -> list[list[Any]]:
        # pyarrow's import takes the array over: keep it for the batch's
        # later calls, as the capsule can be imported once only
        if self._batch is not None and self._batch[0] is array:
            return self._batch[1]
        import pyarrow as pa

        batch = pa.RecordBatch._import_from_c_capsule(schema, array)
        self._length = batch.num_rows
        columns = [
            [None] * batch.num_rows
            if plan[0] in (k.ENCODED, k.NULL)
            else self._values(plan, batch.column(plan[1]))
            for plan in self._plans
        ]
        self._batch = (array, columns)
        return columns

    def _values(self, plan: tuple[Any, ...], column: Any) -> list[Any]:
        import pyarrow as pa

        kind = plan[0]
        if kind == k.LIST:
            # spans into the child's values, which are read as the element's
            offsets = column.offsets.to_pylist()
            items = self._values(plan[6], column.values)
            valid = column.is_valid().to_pylist()
            return [
                (offsets[i], offsets[i + 1], items) if valid[i] else None
                for i in range(len(column))
            ]
        if isinstance(column, pa.ExtensionArray):
            column = column.storage
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if (kind in (k.DATE32, k.TIME) and plan[2] == 4) or kind == k.DATE32:
            column = column.cast(pa.int32())
        elif kind in (k.DATE64, k.TIMESTAMP, k.TIME, k.DURATION):
            column = column.cast(pa.int64())
        elif kind == k.FLOAT and plan[2] == k.F32:
            # float32 to Python float and back is exact; keep the bits
            return [
                None if v is None else struct.unpack("<I", struct.pack("<f", v))[0]
                for v in column.to_pylist()
            ]
        return list(column.to_pylist())

    def _field(
        self,
        j: int,
        plan: tuple[Any, ...],
        values: list[Any],
        row: int,
        encoded: Sequence[bytes | None] | None,
    ) -> bytes:
        kind, _, src, dst, unit = plan[:5]
        if kind == k.ENCODED:
            assert encoded is not None
            blob = encoded[j]
            assert blob is not None
            pos = self._blob_pos[j]
            (n,) = struct.unpack_from(">i", blob, pos + 2)
            end = pos + 6 + max(n, 0)
            self._blob_pos[j] = end
            return bytes(blob[pos + 2 : end])
        v = values[row]
        if v is None:
            return _NULL
        if kind == k.STRING:
            data = v.encode("utf-8") if isinstance(v, str) else bytes(v)
            if b"\0" in data:
                raise _Failed(k.NUL, 0)
            if dst == 1:
                return struct.pack(">ib", len(data) + 1, 1) + data
            return struct.pack(">i", len(data)) + data
        if kind == k.BINARY:
            return struct.pack(">i", len(v)) + bytes(v)
        if kind == k.INT:
            lo, hi = _INT_RANGES[dst]
            if not lo <= v <= hi:
                raise _Failed(k.RANGE, v)
            return struct.pack(_INT_PACK[dst], abs(dst), v)
        if kind == k.BOOL:
            return struct.pack(">ib", 1, 1 if v else 0)
        if kind == k.FLOAT:
            if src == k.F32:
                if dst == 4:
                    return struct.pack(">iI", 4, v)
                return struct.pack(
                    ">id", 8, struct.unpack("<f", struct.pack("<I", v))[0]
                )
            return struct.pack(">id", 8, v)
        if kind == k.UUID:
            return struct.pack(">i", 16) + bytes(v)
        if kind in (k.DATE32, k.DATE64):
            if kind == k.DATE64:
                if v % 86_400_000:
                    raise _Failed(k.PARTIAL_DAY, v)
                v //= 86_400_000
            if not _MIN_DAYS <= v <= _MAX_DAYS:
                raise _Failed(k.RANGE, v)
            if self._infinity and v in (_MIN_DAYS, _MAX_DAYS):
                days = DATE_INFINITY if v == _MAX_DAYS else DATE_NEG_INFINITY
            else:
                days = v - _EPOCH_DAYS
            return struct.pack(">ii", 4, days)
        if kind == k.TIMESTAMP:
            us = _to_us(v, unit, self._truncate)
            if not _MIN_US <= us <= _MAX_US:
                raise _Failed(k.RANGE, v)
            if self._infinity and us in (_MIN_US, _MAX_US):
                stored = TIMESTAMP_INFINITY if us == _MAX_US else TIMESTAMP_NEG_INFINITY
            else:
                stored = us - _EPOCH_US
            return struct.pack(">iq", 8, stored)
        if kind == k.TIME:
            us = _to_us(v, unit, self._truncate)
            if not 0 <= us < _DAY_US:
                raise _Failed(k.RANGE, v)
            return struct.pack(">iq", 8, us)
        if kind == k.DURATION:
            us = _to_us(v, unit, self._truncate)
            days, rest = divmod(us, _DAY_US)
            return struct.pack(">iqii", 16, rest, days, 0)
        if kind == k.INTERVAL:
            months, days, ns = v.months, v.days, v.nanoseconds
            us = _to_us(ns, -1000, self._truncate)
            return struct.pack(">iqii", 16, us, days, months)
        if kind == k.DECIMAL:
            return _decimal(v)
        if kind == k.LIST:
            start, end, items = v
            element = plan[6]
            parts = [self._field(j, element, items, i, None) for i in range(start, end)]
            has_null = any(part == _NULL for part in parts)
            head = struct.pack(">iiI", 1 if parts else 0, has_null, unit)
            if parts:
                head += struct.pack(">ii", len(parts), 1)
            body = head + b"".join(parts)
            return struct.pack(">i", len(body)) + body
        raise _Failed(k.RANGE, v)


class ArrowStreamReader:
    """Reads an ``arrow_array_stream`` capsule batch by batch, without pyarrow.

    The stream is moved out of the capsule (the producer's capsule no
    longer owns it) and released by :meth:`close` or when the reader goes.
    """

    def __init__(self, stream: Any) -> None:
        try:
            import pyarrow as pa
        except ImportError:
            from ..errors import InterfaceError

            raise InterfaceError(
                "the pure-Python twin reads Arrow streams through pyarrow "
                "(pip install 'pgcopy_fast[arrow]')"
            ) from None
        self._reader: Any = pa.RecordBatchReader._import_from_c_capsule(stream)
        self._schema = self._reader.schema

    def schema(self) -> Any:
        """The stream's schema, an ``arrow_schema`` capsule."""
        return self._schema.__arrow_c_schema__()

    def next(self) -> Any:
        """The next batch, an ``arrow_array`` capsule, or None at the end."""
        if self._reader is None:
            return None
        try:
            batch = self._reader.read_next_batch()
        except StopIteration:
            self.close()
            return None
        return batch.__arrow_c_array__()[1]

    def close(self) -> None:
        """Release the stream (its producer's resources)."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
