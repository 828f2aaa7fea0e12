"""Typing stub of the compiled twin, ``_core_c.pyx``.

The same public API as the pure twin ``_core_py``, name for name and
signature for signature (the docstrings are there).  ``tests/test_twins.py``
checks that this stub, the compiled module and the pure one export the same
names and methods.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from ..options import CodecOptions

__all__ = [
    "IMPL",
    "WriteBuffer",
    "FrameReader",
    "TextEncoder",
    "CsvEncoder",
    "BinaryEncoder",
    "TextDecoder",
    "CsvDecoder",
    "BinaryDecoder",
    "binary_types",
    "ArrowEncoder",
    "ArrowDecoder",
    "arrow_stream",
]

IMPL: str

class WriteBuffer:
    def __init__(self, size_hint: int = 1024) -> None: ...
    def __len__(self) -> int: ...
    @property
    def in_message(self) -> bool: ...
    def write_byte(self, value: int) -> None: ...
    def write_int16(self, value: int) -> None: ...
    def write_int32(self, value: int) -> None: ...
    def write_int64(self, value: int) -> None: ...
    def write_bytes(self, data: bytes | bytearray | memoryview) -> None: ...
    def write_cstr(self, data: str | bytes) -> None: ...
    def start_message(self, msgtype: bytes = b"") -> None: ...
    def end_message(self) -> None: ...
    def view(self) -> memoryview: ...
    def getvalue(self) -> bytes: ...
    def clear(self) -> None: ...

class FrameReader:
    def __init__(self) -> None: ...
    @property
    def buffered(self) -> int: ...
    def feed(self, data: bytes | bytearray | memoryview) -> None: ...
    def next_message(self) -> tuple[bytes, memoryview] | None: ...
    def drain_copy_data(self) -> list[memoryview]: ...
    def drain_copy_bytes(self) -> bytes: ...

class _Encoder:
    @property
    def rows(self) -> int: ...
    def encode_row(self, buf: WriteBuffer, row: Any) -> None: ...
    def encode_rows(
        self, buf: WriteBuffer, rows: Iterator[Any], limit: int
    ) -> bool: ...
    def header(self, buf: WriteBuffer) -> None: ...
    def trailer(self, buf: WriteBuffer) -> None: ...

class TextEncoder(_Encoder):
    def __init__(
        self,
        delimiter: str = "\t",
        null: str = "\\N",
        ncolumns: int = -1,
        columns: Sequence[Any] | None = None,
    ) -> None: ...

class CsvEncoder(_Encoder):
    def __init__(
        self,
        delimiter: str = ",",
        quote: str = '"',
        null: str = "",
        ncolumns: int = -1,
        columns: Sequence[Any] | None = None,
    ) -> None: ...

class BinaryEncoder(_Encoder):
    def __init__(
        self,
        types: Sequence[str],
        columns: Sequence[Any] | None = None,
        options: CodecOptions | None = None,
        element_oids: Sequence[int | None] | None = None,
    ) -> None: ...

class _Decoder:
    @property
    def rows(self) -> int: ...
    def finish(self) -> None: ...

class TextDecoder(_Decoder):
    def __init__(self, delimiter: str = "\t", null: str = "\\N") -> None: ...
    def decode(
        self, payloads: Sequence[bytes | memoryview]
    ) -> list[tuple[Any, ...]]: ...

class CsvDecoder(_Decoder):
    def __init__(
        self, delimiter: str = ",", quote: str = '"', null: str = ""
    ) -> None: ...
    def decode(
        self, payloads: Sequence[bytes | memoryview]
    ) -> list[tuple[Any, ...]]: ...

class BinaryDecoder(_Decoder):
    def __init__(
        self, types: Sequence[str] | None = None, options: CodecOptions | None = None
    ) -> None: ...
    @property
    def done(self) -> bool: ...
    def decode(
        self, payloads: Sequence[bytes | memoryview]
    ) -> list[tuple[Any, ...]]: ...

def binary_types() -> frozenset[str]: ...

class ArrowEncoder:
    def __init__(
        self,
        plans: Sequence[tuple[Any, ...]],
        fail: Any,
        truncate: bool = False,
        infinity: bool = False,
    ) -> None: ...
    def encode(
        self,
        buf: WriteBuffer,
        schema: Any,
        array: Any,
        start: int,
        threshold: int,
        encoded: Sequence[bytes | None] | None = None,
    ) -> int: ...

class ArrowDecoder:
    def __init__(
        self,
        columns: Sequence[tuple[str, str, int]],
        options: CodecOptions | None = None,
        batch_rows: int = 65536,
    ) -> None: ...
    @property
    def rows(self) -> int: ...
    def schema(self) -> Any: ...
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[Any, Any]]: ...
    def finish(self) -> list[tuple[Any, Any]]: ...

def arrow_stream(schema: Any, batches: Iterator[tuple[Any, Any]]) -> Any: ...
