"""``copy_arrow(..., jobs=N)``: Arrow batches spread over N connections.

The caller's thread reads the data and hands batches through a bounded
queue (memory: about two batches per job) to N threads, each with its own
connection and its own COPY.  The first failure, or an interrupt of the
caller (Ctrl-C), stops every job: each open COPY ends with CopyFail, so
what it had sent is not committed.

Each job's COPY runs in a transaction that commits only once every job's
COPY has ended, so a failure or an interrupt before that rolls all of them
back: nothing is committed, and running the load again is its resume, with
no row twice.  Without ``atomic`` the N commits at the end are N
transactions (a crash between them would keep some); with ``atomic`` every
job loads a staging table of its own (``pgcopy_fast_stage_*``, unlogged)
and one final transaction on the caller's connection moves all of them
into the target and drops them, and every failure path drops the staging
tables.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..catalog.queries import (
    column_types,
    parse_table,
    quote_ident,
    quote_table,
    sql_literal,
)
from ..columnar.source import Batch, Source
from ..errors import EncodeError, Error, InterfaceError
from ..options import CodecOptions
from ..protocol.events import TransactionStatus
from .jobs import Job, fan_out, first_failure

#: What a failed or interrupted load says it left behind.
NOTHING_COMMITTED = " (nothing committed: every job rolled back; run it again)"


def with_note(error: BaseException, note: str) -> BaseException:
    """``error`` with ``note`` added to its message (a pgcopy_fast Error)."""
    if isinstance(error, Error) and error.args:
        error.args = (f"{error.args[0]}{note}", *error.args[1:])
    return error


#: Records per part of ``copy_records(jobs=N)``: what one job takes at a time.
RECORDS_PER_PART = 10000


def copy_arrow_jobs(
    conn: Any,
    table: Any,
    source: Source,
    columns: Sequence[str],
    jobs: int,
    atomic: bool,
    options: CodecOptions | None,
    truncate: bool,
    threshold: int,
) -> int:
    """Copy ``source`` into ``table`` over ``jobs`` new connections (see the module).

    Raises:
        InterfaceError: the connection is inside a transaction block (the
            jobs commit on connections of their own), or a bad argument.
        the first job's error, with the committed row ranges in its message
        when ``atomic`` is off; KeyboardInterrupt after every job stopped.
    """

    def parts() -> Iterator[tuple[int, int, Batch]]:
        start = 0
        for batch in source.batches:
            batch.start = start  # rows as the whole stream counts them
            yield start, batch.length, batch
            start += batch.length

    def load(sibling: Any, target: str, feed: Iterator[Batch]) -> int:
        rows: int = sibling.copy_arrow(
            target,
            Source(source.schema, feed, source.objects),
            list(columns),
            options=options,
            truncate=truncate,
            threshold=threshold,
        )
        return rows

    return load_jobs(conn, table, columns, jobs, atomic, parts(), load)


def copy_records_jobs(
    conn: Any,
    table: Any,
    rows: Iterator[Any],
    columns: Sequence[str] | None,
    jobs: int,
    atomic: bool,
    options: CodecOptions | None,
    threshold: int,
) -> int:
    """``copy_records(jobs=N)``: parts of RECORDS_PER_PART records over N jobs.

    Raises:
        as :func:`copy_arrow_jobs` (an EncodeError's row is the input's).
    """

    def parts() -> Iterator[tuple[int, int, list[Any]]]:
        start = 0
        while part := list(itertools.islice(rows, RECORDS_PER_PART)):
            yield start, len(part), part
            start += len(part)

    def load(sibling: Any, target: str, feed: Iterator[list[Any]]) -> int:
        count: int = sibling.copy_records(
            target,
            itertools.chain.from_iterable(feed),
            columns,
            options=options,
            threshold=threshold,
        )
        return count

    return load_jobs(conn, table, columns, jobs, atomic, parts(), load, renumber=True)


def refuse_in_transaction(conn: Any) -> None:
    """Jobs commit on connections of their own: not inside a transaction block.

    Raises:
        InterfaceError: ``conn`` is in a transaction block.
    """
    if conn.transaction_status is not TransactionStatus.IDLE:
        raise InterfaceError(
            "jobs=N loads through connections of its own and cannot join a "
            "transaction block: run it outside one (atomic=True makes it all "
            "or nothing)"
        )


class Staging:
    """Staging tables of a target's columns, one per job or partition.

    They have exactly the loaded columns (without ``columns``, the ones a
    COPY writes: not the generated ones), no constraints, and are unlogged
    tables in the target's own schema, whatever ``search_path`` says (jobs
    on other connections see them), or with ``temp`` temporary ones that
    drop themselves at the commit (one connection).  :meth:`move` puts all
    their rows into the target and drops them in one transaction, identity
    values included as a COPY would take them, so the columns the data
    leaves out get the target's defaults; :meth:`drop` (every failure
    path) leaves nothing behind.
    """

    def __init__(
        self,
        conn: Any,
        target: str,
        columns: Sequence[str] | None,
        count: int,
        temp: bool = False,
    ) -> None:
        self._conn = conn
        self._target = target
        schema, name = parse_table(target)
        if not columns:
            columns = [c.name for c in column_types(conn, schema, name, None)]
        self.columns = list(columns)
        self._columns = ", ".join(quote_ident(c) for c in columns)
        self._into = f"{target} ({self._columns})"
        token = secrets.token_hex(4)
        prefix, kind = "", "TEMP"
        if not temp:
            kind = "UNLOGGED"
            where = conn.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = "
                f"c.relnamespace WHERE c.oid = {sql_literal(conn, target)}::regclass"
            ).rows[0][0]
            prefix = f"{quote_ident(where)}."
        self.names = [f"{prefix}pgcopy_fast_stage_{token}_{i}" for i in range(count)]
        self._temp = temp
        created: list[str] = []
        try:
            for table in self.names:
                drop = " ON COMMIT DROP" if temp else ""
                conn.execute(
                    f"CREATE {kind} TABLE {table}{drop} AS SELECT {self._columns} "
                    f"FROM {target} WITH NO DATA"
                )
                created.append(table)
        except BaseException:
            self.names = created
            self.drop()
            raise

    def insert_sql(self, on_conflict: str = "") -> str:
        """The INSERTs of the move (``on_conflict``: ``ON CONFLICT ...`` of each)."""
        tail = f" {on_conflict}" if on_conflict else ""
        return "; ".join(
            f"INSERT INTO {self._into} OVERRIDING SYSTEM VALUE "
            f"SELECT {self._columns} FROM {s}{tail}"
            for s in self.names
        )

    def drop_sql(self) -> str:
        """The DROP of the move."""
        return f"DROP TABLE {', '.join(self.names)}"

    def move(self) -> None:
        """Their rows into the target, and drop them, in one transaction."""
        self._conn.execute(f"BEGIN; {self.insert_sql()}; {self.drop_sql()}; COMMIT")
        self.names = []

    def drop(self) -> None:
        """Drop what is left (the connection may be in a failed transaction).

        Temporary tables go with the transaction that made them.
        """
        if not self.names or self._temp:
            self.names = []
            return
        try:
            if self._conn.transaction_status is not TransactionStatus.IDLE:
                self._conn.execute("ROLLBACK")
            self._conn.execute(f"DROP TABLE IF EXISTS {', '.join(self.names)}")
        except Error:
            pass  # the original failure is the one to report
        self.names = []


def load_jobs(
    conn: Any,
    table: Any,
    columns: Sequence[str] | None,
    jobs: int,
    atomic: bool,
    parts: Iterator[tuple[int, int, Any]],
    load: Callable[[Any, str, Iterator[Any]], int],
    renumber: bool = False,
) -> int:
    """Feed ``(start, rows, payload)`` parts to ``load(sibling, target, feed)``.

    ``renumber``: a job's EncodeError counts rows from its own first one;
    its message and ``row_index`` are turned into the input's numbering.
    """
    refuse_in_transaction(conn)
    target = quote_table(*parse_table(table))
    staging = Staging(conn, target, columns, jobs) if atomic else None
    try:
        names = staging.names if staging else []
        count = _run_jobs(conn, target, names, jobs, parts, load, renumber)
        if staging:
            staging.move()
        return count
    finally:
        if staging:
            staging.drop()


def _renumbered(error: BaseException, job: Job) -> BaseException:
    # the job's row r is row (part start + r - rows before the part) of the input
    if not isinstance(error, EncodeError) or error.row_index is None:
        return error
    local = error.row_index
    before = 0
    for start, rows, _ in job.items:
        if local < before + rows:
            row = start + local - before
            message = error.args[0] if error.args else ""
            prefix = f"row {local},"
            if isinstance(message, str) and message.startswith(prefix):
                error.args = (f"row {row}," + message[len(prefix) :], *error.args[1:])
            error.row_index = row
            break
        before += rows
    return error


def _run_jobs(
    conn: Any,
    target: str,
    staging: list[str],
    jobs: int,
    parts: Iterator[tuple[int, int, Any]],
    load: Callable[[Any, str, Iterator[Any]], int],
    renumber: bool,
) -> int:
    siblings = [conn._sibling() for _ in range(jobs)]

    def work(index: int, feed: Iterator[tuple[int, int, Any]]) -> int:
        # each job's COPY stays in a transaction until every job's has ended
        into = staging[index] if staging else target
        siblings[index].execute("BEGIN")
        return load(siblings[index], into, (payload for _, _, payload in feed))

    try:
        states = fan_out(parts, jobs, work)
        failure = first_failure(states)
        if failure is None:
            for sibling in siblings:
                sibling.execute("COMMIT")
    finally:
        for sibling in siblings:
            sibling.close()  # an open transaction rolls back
    if failure is not None:
        if renumber:
            job = next(j for j in states if j.error is failure)
            failure = _renumbered(failure, job)
        raise with_note(failure, NOTHING_COMMITTED)
    return sum(job.value for job in states)
