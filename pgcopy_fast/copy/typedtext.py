"""Text and CSV copies that know their column types: the same values as binary.

A binary copy converts each Python value to its column's type; a text or
CSV copy without types can only render a value by its Python type (a list
becomes an array literal, a dict JSON).  When the types are known (given
with ``types=``, or looked up by the high-level calls that fall back to
text for a type without a binary codec), a text copy must store exactly
what the binary copy would store.  The surest way to get that is to let the
binary codecs decide: each row is encoded by the binary encoder (so the
conversions, range checks and error messages are the binary path's own),
decoded back to canonical Python values, and those are rendered in
PostgreSQL's text input syntax, which has one spelling per canonical value.
Columns whose type has no binary codec are rendered by Python type, as
before.  The decoding direction parses typed text output to the values the
binary decoder gives (``textvalues``), with errors naming row and column.

This costs two extra kernel passes per row; it is the fallback path, not
the fast one.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from itertools import islice
from typing import Any

from ..errors import DecodeError
from ..kernels import core as _core
from ..kernels.consts import PG_EPOCH_ORDINAL, USECS_PER_DAY
from ..kernels.values import float_text
from ..options import DEFAULT_OPTIONS, CodecOptions
from .textvalues import text_parser

__all__ = ["TypedTextEncoder", "TypedTextDecoder", "array_text"]

Render = Callable[[Any], str]

_CHUNK_ROWS = 512


class _JsonText(str):
    """JSON text as the binary decoder found it (rendered as it is)."""

    __slots__ = ()


def _raw_json(data: str | bytes | bytearray | memoryview) -> _JsonText:
    if isinstance(data, str):
        return _JsonText(data)
    return _JsonText(bytes(data).decode())


_ARRAY_SPECIALS = frozenset('{}",\\ \t\n\r\v\f')


def _element_text(value: Any, render: Render) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return array_text(value, render)
    text = render(value)
    if text == "" or text.upper() == "NULL" or not _ARRAY_SPECIALS.isdisjoint(text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def array_text(items: list[Any], render: Render) -> str:
    """A decoded (nested) list as an array literal, elements rendered by type."""
    return "{" + ",".join(_element_text(v, render) for v in items) + "}"


def _interval(value: tuple[int, int, int]) -> str:
    months, days, micros = value
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, us = divmod(micros, 1_000_000)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return f"{months} mons {days} days {sign}{hh}:{mm:02d}:{ss:02d}.{us:06d}"


def _special(options: CodecOptions, low: Any, high: Any, render: Render) -> Render:
    # With infinity=True the binary codecs map min / max to -infinity /
    # infinity; the text rendering of the decoded value must say so too.
    if not options.infinity:
        return render

    def special(value: Any) -> str:
        if value == high:
            return "infinity"
        if value == low:
            return "-infinity"
        return render(value)

    return special


def _renderer(typname: str, options: CodecOptions) -> Render:
    """Text input syntax of a canonical decoded value of one binary type."""
    if typname.startswith("_"):
        element = _renderer(typname[1:], options)
        return lambda value: array_text(value, element)
    if typname == "bool":
        return lambda v: "t" if v else "f"
    if typname in ("int2", "int4", "int8", "oid"):
        return str
    if typname in ("float4", "float8"):
        return float_text
    if typname == "numeric":
        return lambda v: "NaN" if v.is_nan() else str(v)
    if typname == "bytea":
        return lambda v: "\\x" + bytes(v).hex()
    if typname == "date":
        return _special(
            options, datetime.date.min, datetime.date.max, datetime.date.isoformat
        )
    if typname == "timestamp":
        return lambda micros: _timestamp_text(micros, "")
    if typname == "timestamptz":
        return lambda micros: _timestamp_text(micros, "+00")
    if typname in ("time", "timetz"):
        return datetime.time.isoformat
    if typname == "interval":
        return _interval
    # uuid, inet, cidr, JSON text and every string type: str() is the syntax
    return str


def _decode_options(options: CodecOptions) -> CodecOptions:
    return replace(options, interval_tuple=True, json_loads=_raw_json)


# Timestamps are decoded as their int8 microseconds and written from them,
# since a value the server takes may have no Python datetime (an aware
# datetime of year 1 that is BC in UTC, or one of year 9999 past it).
_AS_MICROS = {"timestamp": "int8", "timestamptz": "int8"}
_INT64_MAX = (1 << 63) - 1
_CYCLE_DAYS = 146097  # 400 Gregorian years
_MAX_ORDINAL = datetime.date.max.toordinal()


def _decode_type(typname: str) -> str:
    if typname.startswith("_"):
        return "_" + _decode_type(typname[1:])
    return _AS_MICROS.get(typname, typname)


def _timestamp_text(micros: int, zone: str) -> str:
    if micros == _INT64_MAX:
        return "infinity"
    if micros == -_INT64_MAX - 1:
        return "-infinity"
    days, rem = divmod(micros, USECS_PER_DAY)
    ordinal, shift = PG_EPOCH_ORDINAL + days, 0
    # datetime.date spans years 1..9999: move by whole 400-year cycles.
    while ordinal < 1:
        ordinal, shift = ordinal + _CYCLE_DAYS, shift + 400
    while ordinal > _MAX_ORDINAL:
        ordinal, shift = ordinal - _CYCLE_DAYS, shift - 400
    day = datetime.date.fromordinal(ordinal)
    year = day.year - shift
    era = ""
    if year <= 0:
        year, era = 1 - year, " BC"
    seconds, us = divmod(rem, 1_000_000)
    minutes, ss = divmod(seconds, 60)
    hh, mm = divmod(minutes, 60)
    return (
        f"{year:04d}-{day.month:02d}-{day.day:02d} {hh:02d}:{mm:02d}:{ss:02d}"
        f".{us:06d}{zone}{era}"
    )


class TypedTextEncoder:
    """A text / CSV row encoder that renders each value as its column's type.

    Wraps a kernel ``TextEncoder`` / ``CsvEncoder`` (which does the framing,
    escaping and NULL markers) and has the same methods.
    """

    def __init__(
        self,
        framing: Any,
        types: Sequence[str],
        columns: Sequence[str] | None,
        options: CodecOptions | None,
        element_oids: Sequence[int | None] | None,
    ) -> None:
        opts = options if options is not None else DEFAULT_OPTIONS
        self._framing = framing
        self._ncolumns = len(types)
        binary = _core.binary_types()
        self._typed = [i for i, t in enumerate(types) if t in binary]
        self._check: Any = None
        if self._typed:
            sub_types = [types[i] for i in self._typed]
            labels = [columns[i] if columns else i for i in self._typed]
            oids = [element_oids[i] for i in self._typed] if element_oids else None
            self._check = _core.BinaryEncoder(sub_types, labels, opts, oids)
            self._decoder = _core.BinaryDecoder(
                [_decode_type(t) for t in sub_types], _decode_options(opts)
            )
            self._render = [_renderer(t, opts) for t in sub_types]
            self._scratch = _core.WriteBuffer()
            self._started = False

    @property
    def rows(self) -> int:
        """How many rows this encoder has encoded."""
        rows: int = self._framing.rows
        return rows

    def _rendered(self, rows: list[Any]) -> list[Any]:
        """The rows with every typed value replaced by its text (None stays)."""
        good: list[Any] = []
        for row in rows:
            if type(row) is not tuple and type(row) is not list:
                if not isinstance(row, Sequence) or isinstance(row, str | bytes):
                    break  # the framing encoder names the bad row
                row = tuple(row)
            if len(row) != self._ncolumns:
                break
            good.append(row)
        out: list[Any] = [list(r) for r in good]
        if self._check is not None and good:
            typed = self._typed
            scratch = self._scratch
            scratch.clear()
            if not self._started:
                self._check.header(scratch)
                self._started = True
            # Raises the binary path's own EncodeError; its row count is ours,
            # since this encoder sees every row.
            self._check.encode_rows(
                scratch, iter([tuple(r[i] for i in typed) for r in good]), 1 << 62
            )
            decoded = self._decoder.decode([scratch.getvalue()])
            render = self._render
            for target, values in zip(out, decoded, strict=True):
                for i, fn, value in zip(typed, render, values, strict=True):
                    target[i] = None if value is None else fn(value)
        # Untyped columns (no binary codec) go as they are: the framing
        # encoder renders them by Python type, numpy and pandas values too.
        # A row that failed the shape checks goes through as it is, so the
        # framing encoder raises its own error for it at the right index.
        return out + rows[len(good) :]

    def encode_row(self, buf: Any, row: Any) -> None:
        """Encode one row into ``buf`` (see the kernel encoders)."""
        self._framing.encode_row(buf, self._rendered([row])[0])

    def encode_rows(self, buf: Any, rows: Iterator[Any], limit: int) -> bool:
        """Encode rows until ``buf`` holds ``limit`` bytes; True when exhausted."""
        while True:
            chunk = list(islice(rows, _CHUNK_ROWS))
            if not chunk:
                return True
            for row in self._rendered(chunk):
                self._framing.encode_row(buf, row)
            if len(chunk) < _CHUNK_ROWS:
                return True
            if len(buf) >= limit:
                return False

    def header(self, buf: Any) -> None:
        """Text formats have no header."""

    def trailer(self, buf: Any) -> None:
        """Text formats have no trailer."""


class TypedTextDecoder:
    """A text / CSV row decoder that parses each field as its column's type.

    Wraps a kernel ``TextDecoder`` / ``CsvDecoder``; a field that does not
    parse is a :class:`DecodeError` naming row, column, type and the text.
    """

    def __init__(
        self,
        framing: Any,
        typnames: Sequence[str],
        options: CodecOptions | None,
        delimiters: Sequence[str] | None = None,
    ) -> None:
        opts = options if options is not None else DEFAULT_OPTIONS
        self._framing = framing
        delims = delimiters or [","] * len(typnames)
        self._typnames = tuple(typnames)
        self._parsers = [
            text_parser(t, opts, d) for t, d in zip(typnames, delims, strict=True)
        ]
        self._rows = 0

    @property
    def rows(self) -> int:
        """How many rows this decoder has decoded."""
        return self._rows

    def decode(self, payloads: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Decode payloads to rows of Python values."""
        raw = self._framing.decode(payloads)
        out = []
        parsers = self._parsers
        for row in raw:
            if len(row) != len(parsers):
                raise DecodeError(
                    f"row {self._rows}: {len(row)} fields, expected {len(parsers)}",
                    row_index=self._rows,
                )
            values: list[Any] = []
            for column, (parse, text) in enumerate(zip(parsers, row, strict=True)):
                if text is None:
                    values.append(None)
                    continue
                try:
                    values.append(parse(text))
                except (ValueError, OverflowError, TypeError, ArithmeticError) as exc:
                    pg_type = self._typnames[column]
                    error = DecodeError(
                        f"row {self._rows}, column {column}: cannot decode "
                        f"{pg_type} text {text[:80]!r}: {exc}",
                        row_index=self._rows,
                        column=column,
                        pg_type=pg_type,
                    )
                    raise error from exc
            out.append(tuple(values))
            self._rows += 1
        return out

    def finish(self) -> None:
        """Raise DecodeError if the stream ended inside a row."""
        self._framing.finish()
