"""Text and CSV COPY data cut into chunks at row boundaries, from any stream.

A plain file, a gzip or zstd stream and stdin read alike: the reader takes
blocks as they come and cuts each at its last row end, carrying the rest
into the next chunk, so it never needs the input's size or a seek.  In CSV
a newline inside a quoted field is no row end: quotes pair up (an escaped
quote is doubled), so the newlines after an even number of quote
characters (counted from the chunk's start, itself a row boundary) are the
row ends.  Each chunk knows its first line in the input, so a server error
at "line N" of a job's COPY can be named by its line in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

#: Bytes per chunk: a job takes whole chunks, a few MB keep the jobs even.
CHUNK_BYTES = 4 << 20


@dataclass
class Chunk:
    """Whole rows of the input: where they start and how many lines they span."""

    index: int
    first_line: int  # physical lines of the input before it
    data: bytes
    lines: int


def last_row_end(data: bytes, quote: bytes) -> int:
    """The offset just past the last row end of ``data`` (0: none yet).

    ``quote`` is the CSV quote character, or empty for the text format.
    """
    end = data.rfind(b"\n")
    if not quote:
        return end + 1
    while end >= 0:
        if data.count(quote, 0, end) % 2 == 0:
            return end + 1
        end = data.rfind(b"\n", 0, end)
    return 0


def row_chunks(
    stream: IO[bytes],
    quote: bytes,
    head: bytes = b"",
    first_line: int = 0,
    size: int = CHUNK_BYTES,
) -> Iterator[Chunk]:
    """Chunks of about ``size`` bytes of whole rows, read from ``stream`` lazily.

    ``head`` is input already read (after a header line); ``first_line``
    the lines before it.  The last chunk may end without a newline.
    """
    carry = head
    line = first_line
    index = 0
    while True:
        block = stream.read(size)
        data = carry + block if carry else block
        if not block:
            if data:
                yield Chunk(index, line, data, data.count(b"\n"))
            return
        cut = last_row_end(data, quote) if len(data) >= size else 0
        if cut == 0:
            carry = data  # no row end yet, or a small piece: read more first
            continue
        piece, carry = data[:cut], data[cut:]
        lines = piece.count(b"\n")
        yield Chunk(index, line, piece, lines)
        line += lines
        index += 1
