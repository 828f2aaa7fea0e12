"""The binary COPY format on its own, with no connection.

``encode_rows(rows, types)`` gives a whole binary COPY stream (signature,
tuples, trailer); ``iter_encode`` gives it in chunks of about
``chunk_size`` bytes, consuming the rows lazily; ``decode_rows`` and
``iter_decode`` read one back.  Any driver's raw COPY API can carry these
bytes (the adapters do exactly that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from .columnar.reading import ARROW_BATCH_ROWS
from .columnar.source import open_batches
from .columnar.stream import ArrowBatchStream
from .columnar.writer import ArrowWriter, arrow_chunks
from .copy.base import decode_batch
from .errors import InterfaceError
from .kernels import core as _core
from .kernels.consts import COPY_BATCH_THRESHOLD
from .kernels.pgtypes import canonical_types
from .options import CodecOptions

__all__ = [
    "encode_rows",
    "iter_encode",
    "decode_rows",
    "iter_decode",
    "encode_arrow",
    "iter_encode_arrow",
    "decode_arrow",
]


def iter_encode(
    rows: Iterable[Sequence[Any]],
    types: Sequence[str | int],
    *,
    columns: Sequence[str] | None = None,
    options: CodecOptions | None = None,
    element_oids: Sequence[int | None] | None = None,
    chunk_size: int = COPY_BATCH_THRESHOLD,
) -> Iterator[bytes]:
    """A binary COPY stream of ``rows`` in chunks of about ``chunk_size`` bytes.

    ``types`` are names or OIDs, one per column.  The first chunk starts with
    the signature and the last ends with the trailer.

    Raises:
        EncodeError: a value does not fit its column (row index, column,
            types named).
        InterfaceError: a type without a binary codec.
    """
    canonical = canonical_types(types)
    assert canonical is not None
    encoder = _core.BinaryEncoder(canonical, columns, options, element_oids)
    buf = _core.WriteBuffer(chunk_size + chunk_size // 4)
    encoder.header(buf)
    iterator = iter(rows)
    while True:
        exhausted = encoder.encode_rows(buf, iterator, chunk_size)
        if exhausted:
            encoder.trailer(buf)
        if len(buf):
            yield buf.getvalue()
            buf.clear()
        if exhausted:
            return


def encode_rows(
    rows: Iterable[Sequence[Any]],
    types: Sequence[str | int],
    *,
    columns: Sequence[str] | None = None,
    options: CodecOptions | None = None,
    element_oids: Sequence[int | None] | None = None,
) -> bytes:
    """A whole binary COPY stream (signature, tuples, trailer) of ``rows``.

    Raises:
        EncodeError: a value does not fit its column.
        InterfaceError: a type without a binary codec.
    """
    return b"".join(
        iter_encode(
            rows, types, columns=columns, options=options, element_oids=element_oids
        )
    )


def iter_decode(
    chunks: Iterable[bytes | bytearray | memoryview],
    types: Sequence[str | int] | None = None,
    *,
    options: CodecOptions | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Rows of a binary COPY stream given in pieces of any size.

    Without ``types`` each field is its raw ``bytes``.

    Raises:
        DecodeError: a malformed or truncated stream.
    """
    decoder = _core.BinaryDecoder(canonical_types(types), options)
    for chunk in chunks:
        yield from decode_batch(decoder, [bytes(chunk)])
    decoder.finish()


def decode_rows(
    data: bytes | bytearray | memoryview,
    types: Sequence[str | int] | None = None,
    *,
    options: CodecOptions | None = None,
) -> list[tuple[Any, ...]]:
    """The rows of a whole binary COPY stream.

    Raises:
        DecodeError: a malformed or truncated stream.
    """
    return list(iter_decode([data], types, options=options))


def iter_encode_arrow(
    data: Any,
    types: Sequence[str | int] | Mapping[str, str | int],
    *,
    options: CodecOptions | None = None,
    truncate: bool = False,
    chunk_size: int = COPY_BATCH_THRESHOLD,
) -> Iterator[bytes]:
    """A binary COPY stream of Arrow data in chunks of about ``chunk_size`` bytes.

    ``data`` is anything ``copy_arrow`` takes; ``types`` gives each column's
    PostgreSQL type, in the data's column order or as a mapping by name.
    Batches are read lazily.  ``truncate`` drops sub-microsecond digits
    instead of refusing them.

    Raises:
        EncodeError: a value cannot become its column's type (row, column
            and both types named).
        InterfaceError: a column without a type, or an Arrow type that
            cannot feed its PostgreSQL type.
    """
    source = open_batches(data)
    names = source.names
    if isinstance(types, Mapping):
        unknown = [n for n in names if n not in types]
        if unknown:
            raise InterfaceError(f"no type given for columns {unknown}")
        wanted: list[str | int] = [types[n] for n in names]
    else:
        wanted = list(types)
        if len(wanted) != len(names):
            raise InterfaceError(
                f"{len(wanted)} types given for Arrow data of {len(names)} columns"
            )
    canonical = canonical_types(wanted)
    assert canonical is not None
    writer = ArrowWriter(
        [(n, t, None) for n, t in zip(names, canonical, strict=True)],
        "the Arrow data",
        options,
        truncate,
    )
    writer.plan(source.schema, source.objects)
    yield from arrow_chunks(writer, source.batches, canonical, options, chunk_size)


def encode_arrow(
    data: Any,
    types: Sequence[str | int] | Mapping[str, str | int],
    *,
    options: CodecOptions | None = None,
    truncate: bool = False,
) -> bytes:
    """A whole binary COPY stream (signature, tuples, trailer) of Arrow data.

    See :func:`iter_encode_arrow`.
    """
    return b"".join(iter_encode_arrow(data, types, options=options, truncate=truncate))


_NUMERIC_MODIFIER = re.compile(
    r"^\s*(?:numeric|decimal)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)", re.I
)


def _modifier(pg_type: str | int) -> int:
    # numeric(p, s) as the server's type modifier: ((p << 16) | s) + 4
    match = _NUMERIC_MODIFIER.match(pg_type) if isinstance(pg_type, str) else None
    if match is None:
        return -1
    return ((int(match.group(1)) << 16) | int(match.group(2) or 0)) + 4


def decode_arrow(
    chunks: bytes | bytearray | memoryview | Iterable[bytes | bytearray | memoryview],
    types: Sequence[str | int],
    *,
    columns: Sequence[str] | None = None,
    options: CodecOptions | None = None,
    batch_rows: int = ARROW_BATCH_ROWS,
) -> ArrowBatchStream:
    """A binary COPY stream (whole, or in chunks cut anywhere) as Arrow batches.

    ``types`` are names or OIDs, one per column (``numeric(12,2)`` becomes
    decimal128(12, 2); a bare ``numeric`` becomes strings); ``columns``
    names them (``f0``, ``f1`` ... by default).  The chunks are read as the
    stream is consumed.

    Raises:
        DecodeError: data that is no binary COPY stream of these types, or a
            value with no Arrow form of its type.
        InterfaceError: a type without a binary codec or Arrow form.
    """
    canonical = canonical_types(types)
    assert canonical is not None
    names = (
        list(columns) if columns is not None else [f"f{i}" for i in range(len(types))]
    )
    if len(names) != len(canonical):
        raise InterfaceError(f"{len(names)} column names for {len(canonical)} types")
    specs = list(zip(names, canonical, map(_modifier, types), strict=True))
    decoder = _core.ArrowDecoder(specs, options, batch_rows)
    if isinstance(chunks, bytes | bytearray | memoryview):
        chunks = [chunks]

    def pairs() -> Iterator[tuple[Any, Any]]:
        for chunk in chunks:
            yield from decoder.feed(bytes(chunk))
        yield from decoder.finish()

    return ArrowBatchStream(decoder.schema(), pairs())
