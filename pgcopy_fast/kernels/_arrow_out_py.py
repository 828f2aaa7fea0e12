"""Pure twin of ``_arrow_out_c.pxi``: binary COPY tuples into Arrow batches.

The same framing, Arrow types, values, batch cuts and messages as the
compiled twin; it decodes each field to the plain value of its Arrow
storage (an int of days, microseconds, a ``(months, days, nanoseconds)``
tuple ...) and lets pyarrow build the arrays, so it needs pyarrow, which
the compiled twin does not.  The Arrow type of each column is chosen once,
in ``pgcopy_fast.columnar.outtypes``.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..columnar.outtypes import OutType, out_types
from ..errors import DecodeError, InterfaceError
from .consts import PGCOPY_SIGNATURE

if TYPE_CHECKING:
    from ..options import CodecOptions

__all__ = ["ArrowDecoder", "arrow_stream"]

_i16 = struct.Struct(">h").unpack_from
_i32 = struct.Struct(">i").unpack_from
_u16x4 = struct.Struct(">HhHH").unpack_from

_EPOCH_DAYS = 10957
_EPOCH_US = 946684800000000
_DATE_MAX, _DATE_MIN = 2932896, -719162
_TS_MAX, _TS_MIN = 253402300799999999, -62135596800000000
_INT64_MAX = 0x7FFFFFFFFFFFFFFF
_INT32_MIN, _INT32_MAX = -0x80000000, 0x7FFFFFFF
# as the compiled twin: a batch is cut before its COPY bytes pass this
_BATCH_BYTES = 0x7FFFFFFF // 3
_SPECIAL = {0xC000: "NaN", 0xD000: "Infinity", 0xF000: "-Infinity"}

_FIXED: dict[str, tuple[int, str]] = {
    "int2": (2, ">h"),
    "int4": (4, ">i"),
    "oid": (4, ">I"),
    "float4": (4, ">f"),
    "int8": (8, ">q"),
    "float8": (8, ">d"),
    "time": (8, ">q"),
}


class _Fail(Exception):
    """A value its Arrow type cannot hold; the message is the detail."""


def _pa() -> Any:
    # imported by name: pyarrow is optional and has no type stubs
    try:
        return importlib.import_module("pyarrow")
    except ImportError:  # pragma: no cover - depends on the environment
        raise InterfaceError(
            "the pure-Python twin of COPY OUT to Arrow needs pyarrow "
            "(pip install pyarrow), or build the compiled twin"
        ) from None


def _size(raw: bytes, size: int, name: str) -> None:
    if len(raw) != size:
        if size == 1:
            raise _Fail(f"{name} has 1 byte, got {len(raw)}")
        raise _Fail(f"{name} has {size} bytes, got {len(raw)}")


def _text(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise _Fail("invalid UTF-8") from None


def _numeric_head(raw: bytes) -> tuple[int, int, int, int, tuple[int, ...]]:
    if len(raw) < 8:
        raise _Fail(f"numeric has at least 8 bytes, got {len(raw)}")
    ndigits, weight, sign, dscale = _u16x4(raw)
    if len(raw) != 8 + 2 * ndigits:
        raise _Fail(f"numeric with {ndigits} digits has {len(raw)} bytes")
    if sign in _SPECIAL:
        return ndigits, weight, sign, dscale, ()
    if sign not in (0, 0x4000) or dscale > 0x3FFF:
        raise _Fail(f"invalid numeric sign {sign:#06x} or scale {dscale}")
    groups = struct.unpack_from(f">{ndigits}H", raw, 8)
    if any(g > 9999 for g in groups):
        raise _Fail("numeric digit out of range")
    return ndigits, weight, sign, dscale, groups


def _numeric_text(raw: bytes) -> str:
    _, weight, sign, dscale, groups = _numeric_head(raw)
    if sign in _SPECIAL:
        return _SPECIAL[sign]
    ndigits = len(groups)
    parts = ["-"] if sign == 0x4000 else []
    if weight < 0:
        parts.append("0")
    else:
        for i in range(weight + 1):
            g = groups[i] if i < ndigits else 0
            parts.append(str(g) if i == 0 else f"{g:04d}")
    if dscale > 0:
        parts.append(".")
        for i in range(dscale):
            k = weight + 1 + i // 4
            g = groups[k] if 0 <= k < ndigits else 0
            parts.append(f"{g:04d}"[i % 4])
    return "".join(parts)


def _decimal(raw: bytes, precision: int, scale: int) -> Decimal:
    _, weight, sign, _, groups = _numeric_head(raw)
    if sign in _SPECIAL:
        raise _Fail(f"{_SPECIAL[sign]} has no decimal128({precision},{scale}) value")
    limit = 10**precision
    acc, e_last, seen = 0, 0, False
    for i, g in enumerate(groups):
        for j, ch in enumerate(f"{g:04d}"):
            d = ord(ch) - 48
            e = 4 * (weight - i) + 3 - j + scale
            if e < 0:
                if d:
                    raise _Fail(f"value has more than {scale} digits after the point")
                continue
            acc = acc * 10 + d
            e_last, seen = e, True
            if acc >= limit:
                raise _Fail(f"value does not fit decimal128({precision},{scale})")
    if seen and acc and e_last > 0:
        acc *= 10**e_last
        if acc >= limit:
            raise _Fail(f"value does not fit decimal128({precision},{scale})")
    digits = tuple(int(c) for c in str(acc))
    return Decimal((1 if sign == 0x4000 else 0, digits, -scale))


def _ipv6(b: bytes) -> str:
    # inet_net_ntop's IPv6 text (PostgreSQL's network_out), as the C twin.
    words = [b[2 * i] << 8 | b[2 * i + 1] for i in range(8)]
    best_base, best_len, cur_base, cur_len = -1, 0, -1, 0
    for i, w in enumerate(words):
        if w == 0:
            if cur_base == -1:
                cur_base, cur_len = i, 1
            else:
                cur_len += 1
        elif cur_base != -1:
            if best_base == -1 or cur_len > best_len:
                best_base, best_len = cur_base, cur_len
            cur_base = -1
    if cur_base != -1 and (best_base == -1 or cur_len > best_len):
        best_base, best_len = cur_base, cur_len
    if best_base != -1 and best_len < 2:
        best_base = -1
    out: list[str] = []
    i = 0
    while i < 8:
        if best_base != -1 and best_base <= i < best_base + best_len:
            if i == best_base:
                out.append(":")
            i += 1
            continue
        if i != 0:
            out.append(":")
        if (
            i == 6
            and best_base == 0
            and (
                best_len == 6
                or (best_len == 7 and words[7] != 1)
                or (best_len == 5 and words[5] == 0xFFFF)
            )
        ):
            out.append(".".join(str(x) for x in b[12:16]))
            break
        out.append(f"{words[i]:x}")
        i += 1
    if best_base != -1 and best_base + best_len == 8:
        out.append(":")
    return "".join(out)


def _inet(raw: bytes, cidr: bool) -> str:
    if len(raw) < 4:
        raise _Fail(f"inet has at least 4 bytes, got {len(raw)}")
    family, bits, size = raw[0], raw[1], raw[3]
    width = 4 if family == 2 else 16 if family == 3 else 0
    if width == 0 or size != width or len(raw) != 4 + width or bits > width * 8:
        raise _Fail("invalid inet value")
    addr = raw[4:]
    text = ".".join(str(x) for x in addr) if width == 4 else _ipv6(addr)
    if cidr or bits != width * 8:
        text += f"/{bits}"
    return text


def _scalar(ot: OutType, infinity: bool) -> Callable[[bytes], Any]:
    """The decoder of one non-NULL field to its Arrow storage value."""
    kind, name = ot.kind, ot.pg_type
    if kind in _FIXED:
        size, fmt = _FIXED[kind]
        unpack = struct.Struct(fmt).unpack

        def fixed(raw: bytes) -> Any:
            _size(raw, size, name)
            return unpack(raw)[0]

        return fixed
    if kind == "bool":

        def boolean(raw: bytes) -> bool:
            _size(raw, 1, "bool")
            return raw[0] != 0

        return boolean
    if kind == "timetz":

        def timetz(raw: bytes) -> int:
            _size(raw, 12, "timetz")
            return int(struct.unpack_from(">q", raw)[0])

        return timetz
    if kind == "date":

        def date(raw: bytes) -> int:
            _size(raw, 4, "date")
            days: int = _i32(raw)[0]
            if days in (_INT32_MAX, _INT32_MIN):
                if not infinity:
                    raise _Fail(
                        "infinite date has no Arrow value (CodecOptions(infinity=True) "
                        "maps it to date.max / date.min)"
                    )
                return _DATE_MAX if days > 0 else _DATE_MIN
            return days + _EPOCH_DAYS

        return date
    if kind in ("timestamp", "timestamptz"):

        def timestamp(raw: bytes) -> int:
            _size(raw, 8, name)
            us: int = struct.unpack(">q", raw)[0]
            if us in (_INT64_MAX, -_INT64_MAX - 1):
                if not infinity:
                    raise _Fail(
                        f"infinite {name} has no Arrow value "
                        "(CodecOptions(infinity=True) maps it to datetime.max / "
                        "datetime.min)"
                    )
                return _TS_MAX if us > 0 else _TS_MIN
            if us > _INT64_MAX - _EPOCH_US:
                raise _Fail(f"{name} out of range for Arrow")
            return us + _EPOCH_US

        return timestamp
    if kind == "interval":

        def interval(raw: bytes) -> tuple[int, int, int]:
            _size(raw, 16, "interval")
            us, days, months = struct.unpack(">qii", raw)
            if not -(_INT64_MAX // 1000) <= us <= _INT64_MAX // 1000:
                raise _Fail(
                    f"interval of {us} microseconds does not fit "
                    "month_day_nano_interval"
                )
            return (months, days, us * 1000)

        return interval
    if kind == "uuid":

        def uuid(raw: bytes) -> bytes:
            _size(raw, 16, "uuid")
            return raw

        return uuid
    if kind == "decimal":
        precision, scale = ot.precision, ot.scale
        return lambda raw: _decimal(raw, precision, scale)
    if kind in ("text", "json"):
        return _text
    if kind == "jsonb":

        def jsonb(raw: bytes) -> str:
            if not raw:
                raise _Fail("empty jsonb value")
            if raw[0] != 1:
                raise _Fail(f"unsupported jsonb version {raw[0]}")
            return _text(raw[1:])

        return jsonb
    if kind == "bytea":
        return bytes
    if kind == "numeric_text":
        return _numeric_text
    if kind in ("inet", "cidr"):
        cidr = kind == "cidr"
        return lambda raw: _inet(raw, cidr)
    if kind == "macaddr":

        def macaddr(raw: bytes) -> str:
            _size(raw, 6, "macaddr")
            return ":".join(f"{b:02x}" for b in raw)

        return macaddr
    if kind == "char":

        def char(raw: bytes) -> str:
            _size(raw, 1, '"char"')
            code = raw[0]
            return f"\\{code:03o}" if code >= 0x80 else chr(code) if code else ""

        return char
    raise InterfaceError(f"no Arrow decoder for kind {kind!r}")  # pragma: no cover


def _array(element: Callable[[bytes], Any]) -> Callable[[bytes], list[Any]]:
    def dec(raw: bytes) -> list[Any]:
        n = len(raw)
        if n < 12:
            raise _Fail(f"array has at least 12 bytes, got {n}")
        ndim, flags = _i32(raw, 0)[0], _i32(raw, 4)[0]
        if not 0 <= ndim <= 6 or flags not in (0, 1):
            raise _Fail(f"invalid array header: {ndim} dimensions, flags {flags}")
        if ndim > 1:
            raise _Fail(
                f"a {ndim}-dimensional array has no Arrow value "
                "(only one-dimensional arrays are read, as lists)"
            )
        if n < 12 + 8 * ndim:
            raise _Fail("array dimensions run past the end")
        pos = 12 + 8 * ndim
        total = 0
        if ndim == 1:
            total = _i32(raw, 12)[0]
            if total < 0:
                raise _Fail(f"invalid array dimension {total}")
        if total > (n - pos) // 4:
            raise _Fail("array elements run past the end")
        items: list[Any] = []
        for _ in range(total):
            if pos + 4 > n:
                raise _Fail("array elements run past the end")
            length = _i32(raw, pos)[0]
            pos += 4
            if length == -1:
                items.append(None)
                continue
            if length < 0 or pos + length > n:
                raise _Fail("array elements run past the end")
            items.append(element(raw[pos : pos + length]))
            pos += length
        if pos != n:
            raise _Fail("array has bytes after its last element")
        return items

    return dec


def _pa_type(ot: OutType) -> Any:
    """The pyarrow type of an OutType (its format string, read)."""
    pa = _pa()
    fmt = ot.format
    simple = {
        "b": pa.bool_(),
        "s": pa.int16(),
        "i": pa.int32(),
        "l": pa.int64(),
        "I": pa.uint32(),
        "f": pa.float32(),
        "g": pa.float64(),
        "u": pa.string(),
        "z": pa.binary(),
        "tdD": pa.date32(),
        "ttu": pa.time64("us"),
        "tsu:": pa.timestamp("us"),
        "tsu:UTC": pa.timestamp("us", tz="UTC"),
        "tin": pa.month_day_nano_interval(),
        "w:16": pa.binary(16),
    }
    ext = dict(ot.metadata).get("ARROW:extension:name")
    if ext == "arrow.uuid":
        return pa.uuid()
    if ext == "arrow.json":
        return pa.json_(pa.string())
    if fmt.startswith("d:"):
        return pa.decimal128(ot.precision, ot.scale)
    if fmt == "+l":
        assert ot.child is not None
        return pa.list_(pa.field("item", _pa_type(ot.child)))
    return simple[fmt]


def _build(ot: OutType, values: list[Any]) -> Any:
    """A pyarrow array of ``ot`` from storage values (None is NULL)."""
    pa = _pa()
    typ = _pa_type(ot)
    if ot.kind == "list":
        assert ot.child is not None
        offsets = [0]
        flat: list[Any] = []
        for v in values:
            if v is not None:
                flat.extend(v)
            offsets.append(len(flat))
        mask = pa.array([v is None for v in values], pa.bool_())
        child = _build(ot.child, flat)
        return pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()), child, type=typ, mask=mask
        )
    if isinstance(typ, pa.ExtensionType):
        storage = pa.array(values, typ.storage_type)
        return pa.ExtensionArray.from_storage(typ, storage)
    if ot.kind == "interval":
        values = [None if v is None else pa.scalar(v, typ) for v in values]
    return pa.array(values, typ)


class ArrowDecoder:
    """Binary COPY data (``FORMAT binary``) to Arrow record batches.

    ``columns`` is ``(name, pg_type, typmod)`` per column (canonical type
    names, as ``pgcopy_fast.kernels.pgtypes`` spells them); the Arrow type
    of each is ``pgcopy_fast.columnar.outtypes.out_type``.  ``feed()`` takes
    the stream's bytes cut anywhere and returns the batches it completed,
    each a ``(schema, array)`` pair of PyCapsules of a struct array of at
    most ``batch_rows`` rows; ``finish()`` returns the last partial batch.
    """

    __slots__ = (
        "_names",
        "_types",
        "_specs",
        "_decoders",
        "_batch_rows",
        "_columns",
        "_batch_len",
        "_batch_bytes",
        "_rows",
        "_carry",
        "_header_done",
        "_done",
        "_failed",
        "_schema",
    )

    def __init__(
        self,
        columns: Sequence[tuple[str, str, int]],
        options: CodecOptions | None = None,
        batch_rows: int = 65536,
    ) -> None:
        specs = out_types(columns)
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int):
            raise TypeError(
                f"batch_rows must be an int, not {type(batch_rows).__name__}"
            )
        if not 1 <= batch_rows <= 0x7FFFFFFF:
            raise ValueError(
                f"batch_rows must be from 1 to 2**31 - 1, not {batch_rows}"
            )
        infinity = bool(getattr(options, "infinity", False))
        self._names = [name for name, _ in specs]
        self._types = [ot.pg_type for _, ot in specs]
        self._specs = [ot for _, ot in specs]
        self._decoders: list[Callable[[bytes], Any]] = []
        for ot in self._specs:
            if ot.child is not None:
                self._decoders.append(_array(_scalar(ot.child, infinity)))
            else:
                self._decoders.append(_scalar(ot, infinity))
        self._batch_rows = batch_rows
        self._columns: list[list[Any]] = [[] for _ in specs]
        self._batch_len = 0
        self._batch_bytes = 0
        self._rows = 0
        self._carry = bytearray()
        self._header_done = False
        self._done = False
        self._failed = False
        pa = _pa()
        self._schema = pa.schema([pa.field(name, _pa_type(ot)) for name, ot in specs])

    @property
    def rows(self) -> int:
        """How many rows this decoder has decoded."""
        return self._rows

    def schema(self) -> Any:
        """A PyCapsule ``arrow_schema`` of the batches' struct type."""
        self._check()
        return self._schema.__arrow_c_schema__()

    def _check(self) -> None:
        if self._failed:
            raise DecodeError("the ArrowDecoder failed on earlier data")

    def _header(self, data: bytes | bytearray) -> int:
        # The offset after the header, or -1 while it is incomplete.
        if len(data) < 19:
            if not PGCOPY_SIGNATURE.startswith(data[:11]):
                raise DecodeError("the binary COPY signature is missing")
            return -1
        if data[:11] != PGCOPY_SIGNATURE:
            raise DecodeError("the binary COPY signature is missing")
        flags = struct.unpack_from(">I", data, 11)[0]
        if flags & 0xFFFF0000:
            raise DecodeError(
                f"unknown critical flags in the binary COPY header: {flags:#x}"
            )
        ext: int = _i32(data, 15)[0]
        if ext < 0:
            raise DecodeError("negative binary COPY header extension length")
        if len(data) < 19 + ext:
            return -1
        return 19 + ext

    def _export(self) -> tuple[Any, Any]:
        pa = _pa()
        arrays = [
            _build(ot, values)
            for ot, values in zip(self._specs, self._columns, strict=True)
        ]
        batch = pa.RecordBatch.from_arrays(arrays, schema=self._schema)
        self._columns = [[] for _ in self._specs]
        self._batch_len = 0
        self._batch_bytes = 0
        return batch.__arrow_c_array__()  # type: ignore[no-any-return]

    def _parse(self, data: bytes | bytearray, pos: int) -> tuple[str, int]:
        # As the compiled twin's loop: ("full" | "more" | "trailer", pos).
        n = len(data)
        ncols = len(self._names)
        decoders = self._decoders
        columns = self._columns
        while True:
            if self._batch_len >= self._batch_rows:
                return "full", pos
            if pos + 2 > n:
                return "more", pos
            count = _i16(data, pos)[0]
            if count == -1:
                return "trailer", pos + 2
            if count != ncols:
                raise DecodeError(
                    f"row {self._rows} has {count} fields, expected {ncols}",
                    row_index=self._rows,
                )
            q = pos + 2
            fields: list[bytes | None] = []
            for i in range(ncols):
                if q + 4 > n:
                    return "more", pos
                length = _i32(data, q)[0]
                q += 4
                if length == -1:
                    fields.append(None)
                    continue
                if length < 0:
                    raise DecodeError(
                        f"row {self._rows}, column {i}: negative field length {length}",
                        row_index=self._rows,
                        column=i,
                    )
                if q + length > n:
                    return "more", pos
                fields.append(bytes(data[q : q + length]))
                q += length
            size = q - pos
            if self._batch_len > 0 and self._batch_bytes + size > _BATCH_BYTES:
                return "full", pos
            for i, raw in enumerate(fields):
                if raw is None:
                    columns[i].append(None)
                    continue
                try:
                    columns[i].append(decoders[i](raw))
                except _Fail as exc:
                    pg_type = self._types[i]
                    raise DecodeError(
                        f"row {self._rows}, column {i} ({self._names[i]!r}): "
                        f"cannot decode {pg_type}: {exc}",
                        row_index=self._rows,
                        column=i,
                        pg_type=pg_type,
                    ) from None
            pos = q
            self._batch_len += 1
            self._batch_bytes += size
            self._rows += 1

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[Any, Any]]:
        """Decode the next bytes of the stream; return the batches completed.

        Raises:
            DecodeError: a bad header, a field count or length that does not
                fit, a value its Arrow type cannot hold (NaN into decimal128,
                an infinite date without ``CodecOptions(infinity=True)``),
                data after the trailer.
        """
        self._check()
        # As the compiled twin: an incomplete tuple waits in a bytearray
        # that grows by each feed, so a tuple spanning many feeds is not
        # copied again each time.
        carried = bool(self._carry)
        if carried:
            self._carry += data
            buf: bytes | bytearray = self._carry
        else:
            buf = bytes(data)
        out: list[tuple[Any, Any]] = []
        pos = 0
        if not self._header_done:
            pos = self._header(buf)
            if pos < 0:
                if not carried:
                    self._carry = bytearray(buf)
                return out
            self._header_done = True
        try:
            while pos < len(buf):
                if self._done:
                    raise DecodeError("data after the binary COPY trailer")
                status, pos = self._parse(buf, pos)
                if status == "full":
                    out.append(self._export())
                elif status == "trailer":
                    self._done = True
                else:
                    break
        except DecodeError:
            self._failed = True
            raise
        if self._batch_len >= self._batch_rows:
            out.append(self._export())
        if carried:
            del self._carry[:pos]
        elif pos < len(buf):
            self._carry = bytearray(buf[pos:])
        return out

    def finish(self) -> list[tuple[Any, Any]]:
        """The last partial batch (if it has rows), once the trailer was read.

        Raises:
            DecodeError: the stream is truncated (bytes of an incomplete row
                are left, or the trailer is missing).
        """
        self._check()
        if self._carry:
            raise DecodeError(
                f"the COPY data ends in the middle of row {self._rows}",
                row_index=self._rows,
            )
        if not self._done:
            raise DecodeError(
                "the binary COPY data ends without its trailer", row_index=self._rows
            )
        if self._batch_len:
            return [self._export()]
        return []


class _Batches:
    """The iterator behind :func:`arrow_stream`: capsule pairs as RecordBatches."""

    def __init__(self, batches: Iterator[tuple[Any, Any]]) -> None:
        self._batches = batches

    def __iter__(self) -> _Batches:
        return self

    def __next__(self) -> Any:
        pa = _pa()
        schema, array = next(self._batches)
        return pa.RecordBatch._import_from_c_capsule(schema, array)


def arrow_stream(schema: Any, batches: Iterator[tuple[Any, Any]]) -> Any:
    """A PyCapsule ``arrow_array_stream`` pulling batches from an iterator.

    ``schema`` is an ``arrow_schema`` capsule, ``batches`` an iterator of
    ``(schema, array)`` capsule pairs, pulled one at a time, when the
    consumer asks for the next batch.  An exception from the iterator
    becomes the stream's error (``get_last_error`` gives its message).

    Raises:
        TypeError: ``schema`` is not a live ``arrow_schema`` capsule.
    """
    pa = _pa()
    if type(schema).__name__ != "PyCapsule":
        raise TypeError("schema must be a PyCapsule named 'arrow_schema'")
    try:
        pa_schema = pa.Schema._import_from_c_capsule(schema)
    except ValueError:
        raise TypeError("schema must be a PyCapsule named 'arrow_schema'") from None
    reader = pa.RecordBatchReader.from_batches(pa_schema, _Batches(iter(batches)))
    return reader.__arrow_c_stream__()
