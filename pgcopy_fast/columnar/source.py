"""What a caller passes to ``copy_arrow``, as a stream of Arrow record batches.

Anything with ``__arrow_c_stream__`` (a pyarrow Table or RecordBatchReader,
a polars or pandas DataFrame, a duckdb relation, nanoarrow) is read batch
by batch as its producer hands them out, so memory stays at one batch;
anything with ``__arrow_c_array__`` (a RecordBatch, a struct array) is one
batch; a dict of column name to numpy array (or list) becomes a table.
"""

from __future__ import annotations

import decimal
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InterfaceError
from ..kernels import core as _core
from .abi import array_length, read_schema


@dataclass
class Batch:
    """One record batch: its capsules, and pyarrow's view of it when there is one."""

    schema: Any
    array: Any
    table: Any  # pyarrow.RecordBatch, for the columns the row codecs encode
    length: int
    # a pandas DataFrame's object columns: their Python values (None for NA)
    objects: dict[str, list[Any]] | None = None
    # the batch's first row in the whole stream, when a job gets some batches only
    start: int | None = None


@dataclass
class Source:
    """Arrow data opened for reading: its schema, its batches (lazily).

    ``objects`` names the columns whose values come as Python objects (a
    pandas DataFrame's object columns; see :func:`open_batches`).
    """

    schema: Any
    batches: Iterator[Batch]
    objects: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """The column names, in the data's order."""
        return schema_fields(self.schema)


def _pyarrow(why: str) -> Any:
    try:
        import pyarrow
    except ImportError:
        raise InterfaceError(
            f"{why} needs pyarrow (pip install 'pgcopy_fast[arrow]')"
        ) from None
    return pyarrow


def open_batches(data: Any) -> Source:
    """The :class:`Source` of ``data``; its batches are read lazily.

    Raises:
        InterfaceError: ``data`` is no Arrow data (the message says what is).
    """
    if isinstance(data, Source):
        return data
    if _is_pandas_frame(data):
        return _from_pandas(data)
    if isinstance(data, Mapping):
        data = _pyarrow("a dict of arrays").table(dict(data))
    if hasattr(data, "__arrow_c_stream__"):
        try:
            import pyarrow as pa
        except ImportError:
            # the twin reads the C stream itself (the compiled one needs no pyarrow)
            twin = _core.ArrowStreamReader(data.__arrow_c_stream__())
            schema = twin.schema()
            return Source(schema, _from_twin(twin, schema))
        reader = pa.RecordBatchReader.from_stream(data)
        return Source(reader.schema.__arrow_c_schema__(), _from_reader(reader))
    if hasattr(data, "__arrow_c_array__"):
        schema, array = data.__arrow_c_array__()
        return Source(schema, iter([_single(schema, array)]))
    raise InterfaceError(
        "copy_arrow needs Arrow data (an object with __arrow_c_stream__ or "
        f"__arrow_c_array__, or a dict of arrays), not {type(data).__name__}"
    )


def _is_pandas_frame(data: Any) -> bool:
    return type(data).__module__.startswith("pandas") and hasattr(data, "dtypes")


_KEPT = (decimal.Decimal, uuid.UUID, dict)

# A pandas DataFrame's batches: as many rows as an Arrow stream's usual batch.
PANDAS_BATCH_ROWS = 65536


def _from_pandas(df: Any) -> Source:
    # Object columns of Decimal, UUID or dict values are kept as Python
    # values for the row codecs (pyarrow's conversion of a Decimal costs
    # ten times the row codec's encoding of it); missing values (None,
    # NaN, NaT, pd.NA) are NULL, as in pandas' own Arrow conversion.  The
    # other columns (numbers, times, strings, lists) go through pyarrow,
    # zero-copy where pandas allows; a kept column is a null placeholder
    # there, for the names to match.
    pa = _pyarrow("a pandas DataFrame")
    from pandas.api.types import is_object_dtype

    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise InterfaceError("the DataFrame has a column name twice")
    objects = []
    for i, (name, dtype) in enumerate(zip(names, df.dtypes, strict=True)):
        if is_object_dtype(dtype):
            series = df.iloc[:, i]
            first = series.first_valid_index()
            if first is not None and isinstance(series[first], _KEPT):
                objects.append(name)
    plain = df[[c for c, n in zip(df.columns, names, strict=True) if n not in objects]]
    table = pa.Table.from_pandas(plain, preserve_index=False)
    for i, name in enumerate(names):
        if name in objects:
            table = table.add_column(i, name, pa.nulls(len(df)))
    reader = table.to_reader(max_chunksize=PANDAS_BATCH_ROWS)
    columns = {n: df.iloc[:, i] for i, n in enumerate(names) if n in objects}
    schema = reader.schema.__arrow_c_schema__()
    return Source(schema, _pandas_batches(reader, columns), tuple(objects))


def _pandas_batches(reader: Any, columns: dict[str, Any]) -> Iterator[Batch]:
    start = 0
    for batch in _from_reader(reader):
        end = start + batch.length
        objects = {}
        for name, series in columns.items():
            part = series.iloc[start:end]
            values = part.to_numpy(dtype=object, copy=True)
            values[part.isna().to_numpy()] = None
            objects[name] = values.tolist()
        batch.objects = objects
        start = end
        yield batch


def _from_twin(reader: Any, schema: Any) -> Iterator[Batch]:
    try:
        while (array := reader.next()) is not None:
            yield Batch(schema, array, None, array_length(array))
    finally:
        reader.close()


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
        return Batch(schema, array, None, array_length(array))
    # pyarrow takes the capsules over: export fresh ones from what it built
    batch = pa.RecordBatch._import_from_c_capsule(schema, array)
    schema, array = batch.__arrow_c_array__()
    return Batch(schema, array, batch, batch.num_rows)


def schema_fields(schema: Any) -> list[str]:
    """The column names of an ``arrow_schema`` capsule."""
    return [child.name for child in read_schema(schema).children]
