"""What a caller passes to ``copy_arrow``, as a stream of Arrow record batches.

Anything with ``__arrow_c_stream__`` (a pyarrow Table or RecordBatchReader,
a polars or pandas DataFrame, a duckdb relation, nanoarrow) is read batch
by batch as its producer hands them out, so memory stays at one batch;
anything with ``__arrow_c_array__`` (a RecordBatch, a struct array) is one
batch; a dict of column name to numpy array (or list) becomes a table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InterfaceError
from .abi import read_schema


@dataclass
class Batch:
    """One record batch: its capsules, and pyarrow's view of it when there is one."""

    schema: Any
    array: Any
    table: Any  # pyarrow.RecordBatch, for the columns the row codecs encode
    length: int


def _pyarrow(why: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise InterfaceError(
            f"{why} needs pyarrow (pip install 'pgcopy_fast[arrow]')"
        ) from None
    return pyarrow


def open_batches(data: Any) -> tuple[Any, Iterator[Batch]]:
    """``(schema capsule, batches)`` of ``data``; the batches are read lazily.

    Raises:
        InterfaceError: ``data`` is no Arrow data (the message says what is).
    """
    if isinstance(data, Mapping):
        pa = _pyarrow("a dict of arrays")
        data = pa.table(dict(data))
    if hasattr(data, "__arrow_c_stream__"):
        pa = _pyarrow("reading an Arrow stream")
        reader = pa.RecordBatchReader.from_stream(data)
        return reader.schema.__arrow_c_schema__(), _from_reader(reader)
    if hasattr(data, "__arrow_c_array__"):
        schema, array = data.__arrow_c_array__()
        return schema, iter([_single(schema, array)])
    raise InterfaceError(
        "copy_arrow needs Arrow data (an object with __arrow_c_stream__ or "
        f"__arrow_c_array__, or a dict of arrays), not {type(data).__name__}"
    )


def _from_reader(reader: Any) -> Iterator[Batch]:
    try:
        for batch in reader:
            schema, array = batch.__arrow_c_array__()
            yield Batch(schema, array, batch, batch.num_rows)
    finally:
        reader.close()


def _single(schema: Any, array: Any) -> Batch:
    try:
        import pyarrow as pa
    except ImportError:
        pa = None
    if pa is None:
        import ctypes

        from .abi import ARRAY_CAPSULE, _get_pointer

        address = _get_pointer(array, ARRAY_CAPSULE.encode())
        length = ctypes.c_int64.from_address(address).value
        return Batch(schema, array, None, length)
    # pyarrow takes the capsules over: export fresh ones from what it built
    batch = pa.RecordBatch._import_from_c_capsule(schema, array)
    schema, array = batch.__arrow_c_array__()
    return Batch(schema, array, batch, batch.num_rows)


def schema_fields(schema: Any) -> list[str]:
    """The column names of an ``arrow_schema`` capsule."""
    return [child.name for child in read_schema(schema).children]
