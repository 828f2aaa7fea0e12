"""Dask: write a dask DataFrame from its workers, read a table into one.

``to_postgres(ddf, table, dsn)`` writes every partition from the worker
that holds it, through ``copy_arrow`` on a connection of its own; with
``atomic=True`` each partition loads an unlogged staging table and the
client moves them all into the table in one transaction (or drops them on
any failure).  ``read_postgres(dsn, table_or_query, npartitions=N)``
returns a dask DataFrame whose partitions each read one part (ctid ranges
of a table, or ranges of the integer column ``partition_on``) through
``copy_arrow_out``, all inside one snapshot exported by the client.

dask.distributed (or any dask scheduler) runs the tasks; nothing here
schedules work itself.  The exporting transaction stays open, idle, on a
client connection until :func:`release_snapshots` or the end of the
process: while it is open the server keeps the row versions that snapshot
can see (VACUUM cannot remove them) and one connection slot is taken.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from typing import Any

from .catalog.queries import check_columns, parse_table, quote_ident, quote_table
from .connection.blocking import Connection, connect
from .errors import Error
from .parallel.load import Staging
from .parallel.read import export_snapshot, import_snapshot, partition_predicates

__all__ = ["to_postgres", "read_postgres", "release_snapshots"]

_EXPORTERS: list[Connection] = []
_LOCK = threading.Lock()


def _load_partition(frame: Any, dsn: str, target: str, columns: Any) -> int:
    with connect(dsn) as conn:
        n: int = conn.copy_arrow(target, frame, columns)
        return n


def _guarded(frame: Any, dsn: str, target: str, columns: Any, index: int) -> Any:
    # a failure comes back as a value, so the client knows which partitions
    # committed (dask would stop at the first exception)
    try:
        return ("ok", index, _load_partition(frame, dsn, target, columns))
    except Exception as exc:
        return ("failed", index, repr(exc), exc)


def to_postgres(
    ddf: Any,
    table: Any,
    dsn: str,
    atomic: bool = False,
    columns: Sequence[str] | None = None,
) -> int:
    """Write every partition of ``ddf`` into ``table``; the rows written.

    Each partition is copied by the worker holding it (``copy_arrow`` of a
    pandas DataFrame: the DataFrame's columns match the table's by name).
    Without ``atomic`` every partition commits on its own; a failure raises
    the first error, naming the partitions that committed.  With ``atomic``
    nothing is committed unless every partition loaded, and the staging
    tables are dropped on every path.

    Raises:
        the first partition's error (an ``Error`` of pgcopy_fast).
    """
    from dask.base import compute
    from dask.delayed import delayed

    schema, name = parse_table(table)
    target = quote_table(schema, name)
    cols = check_columns(columns)
    parts = ddf.to_delayed()
    with connect(dsn) as conn:
        staging = Staging(conn, target, cols, len(parts)) if atomic else None
        try:
            tasks = [
                delayed(_guarded)(
                    part, dsn, staging.names[i] if staging else target, cols, i
                )
                for i, part in enumerate(parts)
            ]
            results: Any = compute(*tasks)  # type: ignore[no-untyped-call]
            failed = [r for r in results if r[0] == "failed"]
            if failed:
                done = sorted(r[1] for r in results if r[0] == "ok")
                error = failed[0][3]
                if not atomic and isinstance(error, Error) and error.args:
                    shown = ", ".join(map(str, done)) or "none"
                    error.args = (
                        f"{error.args[0]} (partition {failed[0][1]}; partitions "
                        f"committed: {shown})",
                        *error.args[1:],
                    )
                raise error
            total: int = sum(r[2] for r in results)
            if staging:
                staging.move()
            return total
        finally:
            if staging:
                staging.drop()


def _read_partition(dsn: str, snapshot: str, sql: str, batch_rows: int) -> Any:
    with connect(dsn) as conn:
        import_snapshot(conn, snapshot)
        frame = conn.copy_arrow_out(sql, batch_rows=batch_rows).to_pandas()
        conn.execute("COMMIT")
        return frame


def read_postgres(
    dsn: str,
    table_or_query: Any,
    npartitions: int = 8,
    partition_on: str | None = None,
    columns: Sequence[str] | None = None,
    batch_rows: int = 65536,
) -> Any:
    """A dask DataFrame of a table (or a query), its partitions in one snapshot.

    A table without ``partition_on`` is split by ranges of its pages; a
    query needs ``partition_on``, an integer column.  The types are those
    of ``copy_arrow_out(...).to_pandas()``.

    Raises:
        InterfaceError: a query without ``partition_on``, or a bad name.
        DatabaseError: the server refused the table or the query.
    """
    import dask.dataframe as dd
    from dask.delayed import delayed

    exporter = connect(dsn)
    try:
        snapshot = export_snapshot(exporter)
        relation, preds = partition_predicates(
            exporter, table_or_query, npartitions, partition_on
        )
        cols = check_columns(columns)
        listed = ", ".join(quote_ident(c) for c in cols) if cols else "*"
        parts = [f"SELECT {listed} FROM {relation} WHERE {p}" for p in preds]
        meta = exporter.copy_arrow_out(
            f"SELECT {listed} FROM {relation} LIMIT 0"
        ).to_pandas()
    except BaseException:
        exporter.close()
        raise
    with _LOCK:
        _EXPORTERS.append(exporter)
    tasks = [delayed(_read_partition)(dsn, snapshot, sql, batch_rows) for sql in parts]
    return dd.from_delayed(tasks, meta=meta)


def release_snapshots() -> None:
    """End the snapshots ``read_postgres`` exported (their graphs then fail)."""
    with _LOCK:
        exporters = list(_EXPORTERS)
        _EXPORTERS.clear()
    for conn in exporters:
        try:
            conn.close()
        except Error:
            pass


atexit.register(release_snapshots)
