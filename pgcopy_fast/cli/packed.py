"""The CLI's files: compressed or not, read to their end and written whole.

- :func:`open_input` decompresses ``.gz`` and ``.zst``; a file cut short
  is an :class:`EOFError` (gzip's own, and :class:`ZstdReader`'s for an
  unfinished zstd frame), never a shorter input that loads as if complete.
- :class:`Output` writes ``NAME`` as a hidden file beside it, compressed
  by a thread of its own (zlib and zstd release the GIL), and moves it
  over ``NAME`` only when the dump succeeded: a failed dump leaves an
  earlier ``NAME`` as it was and no partial file.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import sys
from typing import IO, Any, cast

from .behind import WriteBehind

#: Compressed bytes read per step of a zstd stream.
_ZSTD_READ = 1 << 20


class PackedError(Exception):
    """A compressed file this process cannot read or write (zstandard missing)."""


def _zstandard(path: str) -> Any:
    try:
        import zstandard
    except ImportError:
        raise PackedError(f"{path}: .zst files need the 'zstandard' package") from None
    return zstandard


def open_input(path: str) -> tuple[IO[bytes], int | None]:
    """``path`` (``-``: stdin) as a binary stream, and its size when known.

    Raises:
        OSError: the file cannot be opened.
        PackedError: a ``.zst`` file without the zstandard package.
    """
    if path == "-":
        return sys.stdin.buffer, None
    raw = open(path, "rb")
    if path.endswith(".gz"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw)), None
    if path.endswith((".zst", ".zstd")):
        try:
            reader = ZstdReader(raw, _zstandard(path))
            return cast(IO[bytes], io.BufferedReader(reader, _ZSTD_READ)), None
        except BaseException:
            raw.close()
            raise
    return raw, os.fstat(raw.fileno()).st_size


class ZstdReader(io.RawIOBase):
    """A zstd file's bytes, frame after frame; an unfinished frame is an error.

    (zstandard's ``stream_reader`` ends quietly where a cut-off file ends.)
    A raw stream: :func:`open_input` buffers it.
    """

    def __init__(self, raw: IO[bytes], zstandard: Any) -> None:
        super().__init__()
        self._raw = raw
        self._new = zstandard.ZstdDecompressor().decompressobj
        self._error = zstandard.ZstdError
        self._frame = self._new()
        self._pending = bytearray()
        self._in_frame = False  # bytes of a frame seen, its end not yet

    def readable(self) -> bool:
        """Yes."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with what comes next; 0 at the end of the file."""
        view = memoryview(buffer).cast("B")
        while not self._pending:
            data = self._raw.read(_ZSTD_READ)
            if not data:
                if self._in_frame:
                    raise EOFError("the file ends inside a zstd frame (cut short?)")
                return 0
            while data:
                if self._frame.eof:
                    self._frame = self._new()  # the next frame of the file
                try:
                    self._pending += self._frame.decompress(data)
                except self._error as exc:
                    raise EOFError(f"not valid zstd data ({exc})") from exc
                self._in_frame = not self._frame.eof
                data = self._frame.unused_data if self._frame.eof else b""
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        del self._pending[:size]
        return size

    def close(self) -> None:
        """Close the file."""
        if not self.closed:
            self._raw.close()
        super().close()


class Output:
    """A dump's output file, written beside ``path`` and moved over it at the end.

    ``stream`` takes the bytes (compressed by extension); :meth:`commit`
    closes it and moves the file into place, :meth:`discard` removes it.
    ``path`` None or ``-`` is stdout, written as it comes.  ``temp`` is the
    file's name while it is written (for writers that take a path).
    """

    def __init__(self, path: str | None, raw: bool = False) -> None:
        self.path = path
        self.stdout = path in (None, "-")
        self.temp = ""
        self.broken = False  # stdout's reader went away
        self.stream: IO[bytes] = sys.stdout.buffer
        if self.stdout:
            return
        assert path is not None
        directory, name = os.path.split(os.path.abspath(path))
        self.temp = os.path.join(directory, f".{name}.pgcopy_fast-{os.getpid()}")
        if raw:  # the caller writes self.temp itself (Parquet, Arrow)
            return
        if path.endswith(".gz"):
            # gzip's own default level: 9 costs twice the time for 1% less
            packed = cast(IO[bytes], gzip.open(self.temp, "wb", compresslevel=6))
        elif path.endswith((".zst", ".zstd")):
            zstandard = _zstandard(path)
            packed = zstandard.ZstdCompressor().stream_writer(open(self.temp, "wb"))
        else:
            self.stream = open(self.temp, "wb")
            return
        self.stream = cast(IO[bytes], WriteBehind(packed.write, packed.close))

    def commit(self) -> None:
        """Finish the file and put it in place (stdout: flush it)."""
        if self.stdout:
            self.stream.flush()
            return
        if self.stream is not sys.stdout.buffer:  # raw: the caller wrote the file
            self.stream.close()
        assert self.path is not None
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        """Drop what was written: an earlier file at ``path`` stays as it was."""
        if self.stdout:
            return
        with contextlib.suppress(Exception):  # the dump's own error is the one
            if self.stream is not sys.stdout.buffer:
                self.stream.close()
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.temp)
