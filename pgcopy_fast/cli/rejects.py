"""``load --on-error skip``: load what loads, set the bad rows aside.

PostgreSQL 15's COPY stops at the first bad row, so the client does what
PostgreSQL 17's ``ON_ERROR`` and pg_bulkload do: one transaction, the input
in chunks of whole rows, each COPY under a savepoint.  A chunk that fails
is rolled back to its savepoint; the server's error names the line of the
bad row, which goes to the rejects file with that message, and the rows
around it are copied again (a failure without a line is cut in halves until
the bad rows are found).  More than ``--max-errors`` rejects roll the whole
load back: nothing is committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import IO, Any

from ..errors import DatabaseError
from ..parallel.text import Chunk

#: The line of a COPY error, in the server's CONTEXT.
LINE = re.compile(r"\bline (\d+)")


class TooManyErrors(Exception):
    """More bad rows than ``--max-errors`` allows."""


def split_rows(data: bytes, quote: bytes) -> list[bytes]:
    """The rows of a chunk, each with its line end (CSV quotes respected)."""
    rows: list[bytes] = []
    start = 0
    pos = 0
    quotes = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            if start < len(data):
                rows.append(data[start:])
            return rows
        if quote:
            quotes += data.count(quote, pos, end)
        pos = end + 1
        if quotes % 2 == 0:
            rows.append(data[start:pos])
            start = pos
            quotes = 0


def load_skipping(
    conn: Any,
    sql: str,
    chunks: Iterator[Chunk],
    quote: bytes,
    max_errors: int,
    rejects: IO[bytes] | None,
    describe: Callable[[BaseException], str],
    source: str,
    rejected_before: int = 0,
) -> tuple[int, int]:
    """Copy the chunks, rejecting bad rows; ``(rows loaded, rows rejected)``.

    Runs inside the caller's transaction (each chunk under a savepoint).

    Each reject is written to ``rejects`` after a line ``SOURCE: line N:
    message`` (the file, as a glob loads several).  ``rejected_before``:
    the load's earlier files' rejects, which count towards ``max_errors``
    too.

    Raises:
        TooManyErrors: more than ``max_errors`` rejects.
    """
    loaded = rejected = 0
    for chunk in chunks:
        rows = split_rows(chunk.data, quote)
        pending: list[tuple[int, list[bytes]]] = [(chunk.first_line, rows)]
        while pending:
            first_line, part = pending.pop()
            if not part:
                continue
            conn.execute("SAVEPOINT pgcopy_fast_chunk")
            try:
                with conn.copy_in(sql) as cp:
                    cp.write(b"".join(part))
                conn.execute("RELEASE SAVEPOINT pgcopy_fast_chunk")
                loaded += cp.rowcount
                continue
            except DatabaseError as exc:
                conn.execute("ROLLBACK TO SAVEPOINT pgcopy_fast_chunk")
                bad = _bad_row(exc, part)
                if bad is None and len(part) > 1:
                    half = len(part) // 2
                    lines = sum(r.count(b"\n") for r in part[:half])
                    pending.append((first_line + lines, part[half:]))
                    pending.append((first_line, part[:half]))
                    continue
                index = bad if bad is not None else 0
                before = part[:index]
                line = first_line + sum(r.count(b"\n") for r in before) + 1
                rejected += 1
                if rejects is not None:
                    rejects.write(
                        f"{source}: line {line}: {describe(exc)}\n".encode()
                        + part[index]
                    )
                if rejected + rejected_before > max_errors:
                    raise TooManyErrors(
                        f"more than {max_errors} bad rows (the last at line "
                        f"{line}: {describe(exc)})"
                    ) from exc
                after_line = line + part[index].count(b"\n") - 1
                pending.append((after_line, part[index + 1 :]))
                pending.append((first_line, before))
    return loaded, rejected


def _bad_row(exc: BaseException, part: list[bytes]) -> int | None:
    # the server's "line N" is the COPY's N-th physical line: the row holding it
    context = getattr(exc, "context", None) or ""
    match = LINE.search(context)
    if not match:
        return None
    line = int(match.group(1))
    seen = 0
    for index, row in enumerate(part):
        seen += max(row.count(b"\n"), 1)
        if line <= seen:
            return index
    return None
