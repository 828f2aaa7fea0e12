"""``copy_arrow_out(..., jobs=N)``: one table read over N connections, one snapshot.

The caller's connection opens a REPEATABLE READ transaction and exports
its snapshot (``pg_export_snapshot()``); N new connections each import it
(``SET TRANSACTION SNAPSHOT``) and read one part: a range of the table's
pages (ctid ranges, no key needed) or, with ``partition_on``, a range of
an integer key (a table or a query).  All parts see the table as of one
moment, so a concurrent writer cannot make rows go missing or appear
twice.  The batches arrive in whatever order the parts produce them,
through a bounded queue (memory: a few batches per job); the exporting
transaction ends when the stream does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..catalog.plans import is_query, plan_arrow_out_program
from ..catalog.queries import (
    check_columns,
    parse_table,
    quote_ident,
    quote_table,
    run_program,
)
from ..columnar.reading import arrow_decoder
from ..columnar.stream import ArrowBatchStream
from ..errors import InterfaceError
from ..options import CodecOptions
from ..protocol.events import TransactionStatus
from .jobs import POLL, QUEUED_PER_JOB, Stopped
from .jobs import put as queue_put

_DONE = object()


_REPEATABLE_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


def export_snapshot(conn: Any, begin: bool = True) -> str:
    """Begin a REPEATABLE READ transaction on ``conn``; its snapshot's id.

    With ``begin`` False, the transaction ``conn`` is already in exports its
    snapshot as it stands.  It stays importable until that transaction ends.
    """
    if begin:
        conn.execute(_REPEATABLE_READ)
    snapshot: str = conn.execute("SELECT pg_export_snapshot()").rows[0][0]
    return snapshot


def import_snapshot(conn: Any, snapshot: str) -> None:
    """Begin a transaction on ``conn`` that sees exactly ``snapshot``."""
    conn.execute(f"{_REPEATABLE_READ}; SET TRANSACTION SNAPSHOT '{snapshot}'")


def partition_predicates(
    conn: Any, source: Any, jobs: int, partition_on: str | None
) -> tuple[str, list[str]]:
    """``(the relation read, one WHERE condition per part)``.

    Raises:
        InterfaceError: a query without ``partition_on``, or a key that is
            not an integer column.
    """
    if is_query(source):
        if partition_on is None:
            raise InterfaceError(
                "a partitioned read of a query needs partition_on= (an integer "
                "column of its result); a table can be split by ctid ranges"
            )
        relation = f"(\n{source}\n) AS pgcopy_fast_part"
    else:
        schema, name = parse_table(source)
        relation = quote_table(schema, name)
    if partition_on is None:
        literal = relation.replace("'", "''")
        pages = int(
            conn.execute(
                f"SELECT pg_relation_size('{literal}'::regclass) / "
                "current_setting('block_size')::int"
            ).rows[0][0]
            or 0
        )
        cuts = [pages * i // jobs for i in range(jobs + 1)]
        preds = [
            f"ctid >= '({cuts[i]},0)'::tid AND ctid < '({cuts[i + 1]},0)'::tid"
            for i in range(jobs - 1)
        ]
        preds.append(f"ctid >= '({cuts[jobs - 1]},0)'::tid")  # and any page added
        return relation, preds
    key = quote_ident(partition_on)
    low, high = conn.execute(
        f"SELECT min({key})::text, max({key})::text FROM {relation}"
    ).rows[0]
    try:
        lo, hi = int(low or 0), int(high or 0)
    except ValueError:
        raise InterfaceError(
            f"partition_on={partition_on!r} must be an integer column"
        ) from None
    cuts = [lo + (hi - lo + 1) * i // jobs for i in range(jobs + 1)]
    preds = [f"({key} < {cuts[1]} OR {key} IS NULL)"]
    preds += [
        f"{key} >= {cuts[i]} AND {key} < {cuts[i + 1]}" for i in range(1, jobs - 1)
    ]
    if jobs > 1:
        preds.append(f"{key} >= {cuts[jobs - 1]}")
    return relation, preds


def copy_arrow_out_jobs(
    conn: Any,
    source: Any,
    columns: Sequence[str] | None,
    jobs: int,
    partition_on: str | None,
    batch_rows: int,
    options: CodecOptions | None,
) -> ArrowBatchStream:
    """The parts of ``source`` read over ``jobs`` connections in one snapshot.

    Raises:
        InterfaceError: as :func:`partition_predicates`, or a bad column list.
        DatabaseError: the server refused the plan or the snapshot.
    """
    began = conn.transaction_status is TransactionStatus.IDLE
    try:
        snapshot = export_snapshot(conn, began)
        plan = run_program(conn, plan_arrow_out_program(source, columns))
        schema = arrow_decoder(plan, options, batch_rows).schema()
        relation, preds = partition_predicates(conn, source, jobs, partition_on)
        cols = check_columns(columns)
        listed = ", ".join(quote_ident(c) for c in cols) if cols else "*"
        parts = [f"SELECT {listed} FROM {relation} WHERE {p}" for p in preds]
        siblings = [conn._sibling() for _ in parts]
    except BaseException:
        if began:
            conn.execute("ROLLBACK")
        raise
    return ArrowBatchStream(
        schema, _pairs(conn, began, snapshot, parts, siblings, batch_rows, options)
    )


def _pairs(
    conn: Any,
    began: bool,
    snapshot: str,
    parts: list[str],
    siblings: list[Any],
    batch_rows: int,
    options: CodecOptions | None,
) -> Iterator[tuple[Any, Any]]:
    shared: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_PER_JOB * len(parts))
    stop = threading.Event()
    errors: list[BaseException] = []

    def put(item: Any) -> None:
        queue_put(shared, item, stop)
        if stop.is_set():
            raise Stopped("stopped")  # the reader is gone, or a part failed

    def work(sql: str, sibling: Any) -> None:
        try:
            import_snapshot(sibling, snapshot)
            pairs = sibling._arrow_pairs(sql, None, batch_rows, options)
            try:
                next(pairs)  # its schema: the same plan as the caller's
                for pair in pairs:
                    put(pair)
            finally:
                pairs.close()
            sibling.execute("COMMIT")
        except BaseException as exc:
            if not isinstance(exc, Stopped):
                errors.append(exc)
            stop.set()
        finally:
            try:
                put(_DONE)
            except Stopped:
                pass  # the reader is gone, or another part failed

    threads = [
        threading.Thread(target=work, args=(sql, sib), name=f"pgcopy_fast-read-{i}")
        for i, (sql, sib) in enumerate(zip(parts, siblings, strict=True))
    ]
    for thread in threads:
        thread.start()
    try:
        finished = 0
        while finished < len(threads):
            if stop.is_set():
                break
            try:
                item = shared.get(timeout=POLL)
            except queue.Empty:
                continue
            if item is _DONE:
                finished += 1
            else:
                yield item
        if errors:
            raise errors[0]
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for sibling in siblings:
            sibling.close()
        if began and not conn.closed:
            conn.execute("COMMIT")
