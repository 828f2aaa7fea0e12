"""The CLI's columnar files: Parquet and Arrow IPC (Feather) in and out, NDJSON in.

They go through the columnar path (``copy_arrow`` / ``copy_arrow_out``):
a Parquet file streams by row groups, an IPC file by record batches, so
memory stays at a batch whatever the file's size.  ``create_sql`` writes a
``CREATE TABLE`` from a file's Arrow schema, for ``load --create``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from ..catalog.queries import parse_table, quote_ident, quote_table
from .behind import WriteBehind

#: Extensions of the columnar formats (a ``.gz`` / ``.zst`` after NDJSON's).
EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
COLUMNAR = frozenset(EXTENSIONS.values())


def format_of(path: str | None, given: str | None) -> str:
    """The format a file is read or written in: ``given``, else by extension."""
    if given:
        return given
    if not path or path == "-":
        return "csv"
    name = path.lower()
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return EXTENSIONS.get(os.path.splitext(name)[1], "csv")


def is_arrow_error(exc: BaseException) -> bool:
    """A pyarrow exception (ArrowInvalid, ArrowNotImplementedError, ...).

    Told by its module, so that the check does not import pyarrow.
    """
    return type(exc).__module__.startswith("pyarrow")


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(
            "Parquet, Arrow and NDJSON files need pyarrow (pip install "
            "'pgcopy_fast[arrow]')"
        ) from None
    return pyarrow


def open_reader(path: str, fmt: str) -> Any:
    """A ``pyarrow.RecordBatchReader`` over the file, read lazily."""
    pa = _pyarrow()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # pre_buffer (pyarrow's default) would read the whole file ahead: memory
        # as large as the file, where one row group at a time is enough
        source = pq.ParquetFile(path, pre_buffer=False)
        return pa.RecordBatchReader.from_batches(
            source.schema_arrow, source.iter_batches(batch_size=65536)
        )
    if fmt == "arrow":
        try:
            return _file_batches(pa, path)
        except pa.ArrowInvalid:
            return pa.ipc.open_stream(pa.memory_map(path))  # the streaming IPC form
    import pyarrow.json as pj

    # pyarrow's own file and decompressor (a cut-off .gz / .zst is an error),
    # and no parsing threads: after a failed parse, a streaming reader's
    # threads could still be running at exit, where C++ aborts the process
    # ("terminate called", about 1 run in 80); one thread parses 2M rows/s
    packing = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
    compression = next((c for e, c in packing.items() if path.endswith(e)), None)
    raw = pa.input_stream(path, compression=compression)
    if hasattr(pj, "open_json"):  # pyarrow 18+: read as it goes
        return pj.open_json(raw, read_options=pj.ReadOptions(use_threads=False))
    return pa.Table.to_reader(pj.read_json(raw))


def row_count(path: str, fmt: str) -> int | None:
    """The rows in a file, when it says without being read (None: unknown).

    A Parquet file's footer; an Arrow IPC file's batches, memory-mapped.
    """
    pa = _pyarrow()
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        if fmt == "arrow":
            reader = pa.ipc.open_file(pa.memory_map(path))
            batches = range(reader.num_record_batches)
            return sum(int(reader.get_batch(i).num_rows) for i in batches)
    except (OSError, pa.ArrowInvalid):
        pass  # the streaming IPC form, or a file the load will report on
    return None


def each_batch(reader: Any, call: Any) -> Any:
    """``reader`` with ``call(batch)`` on each batch as it goes by."""
    pa = _pyarrow()
    return pa.RecordBatchReader.from_batches(reader.schema, (call(b) for b in reader))


def _file_batches(pa: Any, path: str) -> Any:
    reader = pa.ipc.open_file(pa.memory_map(path))
    batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
    return pa.RecordBatchReader.from_batches(reader.schema, batches)


def write_stream(path: str, fmt: str, stream: Any, each: Any = None) -> int:
    """Write an Arrow stream (``copy_arrow_out``'s) to ``path``; the rows written.

    ``each(batch)``, when given, sees every batch as it is read (progress).
    """
    pa = _pyarrow()
    batches: Iterator[Any] = iter(stream)
    if each is not None:
        batches = (each(b) for b in batches)
    first = next(batches, None)
    schema = first.schema if first is not None else stream.schema
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(path, schema) as writer:
            return _write_behind(_chain(first, batches), writer.write_batch)
    if fmt == "arrow":
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            return _write_behind(_chain(first, batches), writer.write_batch)
    raise ValueError(f"cannot write {fmt} as Arrow")


def _write_behind(batches: Iterator[Any], write: Any) -> int:
    # pyarrow encodes and compresses without the GIL: the next batch is read
    # from the server while this one is written (cli/behind.py)
    behind = WriteBehind(write, depth=4)
    rows = 0
    try:
        for batch in batches:
            behind.write(batch)
            rows += batch.num_rows
    except BaseException:
        with contextlib.suppress(Exception):  # the reading side's error is the one
            behind.close()
        raise
    behind.close()
    return rows


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
        yield from rest


def _pg_type(t: Any) -> str:
    pa = _pyarrow()
    types = pa.types
    if isinstance(t, pa.ExtensionType):
        name = t.extension_name
        if name == "arrow.uuid":
            return "uuid"
        if name == "arrow.json":
            return "jsonb"
        t = t.storage_type
    if types.is_dictionary(t):
        t = t.value_type
    simple = [
        (types.is_boolean, "boolean"),
        (types.is_int8, "smallint"),
        (types.is_int16, "smallint"),
        (types.is_uint8, "smallint"),
        (types.is_int32, "integer"),
        (types.is_uint16, "integer"),
        (types.is_int64, "bigint"),
        (types.is_uint32, "bigint"),
        (types.is_uint64, "numeric(20,0)"),
        (types.is_float16, "real"),
        (types.is_float32, "real"),
        (types.is_float64, "double precision"),
        (types.is_date, "date"),
        (types.is_time, "time"),
        (types.is_duration, "interval"),
        (types.is_interval, "interval"),
    ]
    for test, name in simple:
        if test(t):
            return name
    if types.is_string(t) or types.is_large_string(t) or types.is_string_view(t):
        return "text"
    if types.is_fixed_size_binary(t) and t.byte_width == 16:
        return "bytea"
    if types.is_binary(t) or types.is_large_binary(t) or types.is_fixed_size_binary(t):
        return "bytea"
    if types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    if types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})" if t.scale >= 0 else "numeric"
    if types.is_list(t) or types.is_large_list(t):
        return _pg_type(t.value_type) + "[]"
    raise ValueError(f"no PostgreSQL type for an Arrow {t} column")


def create_sql(table: str, schema: Any) -> str:
    """``CREATE TABLE`` of the columns of an Arrow schema, in its order.

    Raises:
        ValueError: a column type with no PostgreSQL counterpart.
    """
    name = quote_table(*parse_table(table))
    cols = ",\n".join(f"    {quote_ident(f.name)} {_pg_type(f.type)}" for f in schema)
    return f"CREATE TABLE {name} (\n{cols}\n)"
