"""Micro benchmarks of the kernels, compiled vs pure (pytest-benchmark).

    pytest benchmarks/test_micro.py --benchmark-enable [--benchmark-group-by=param:case]

Row encoding per type, CopyData framing, and COPY OUT decoding per type, on
10,000 rows each; no server needed.
"""

from __future__ import annotations

import datetime as dt
import importlib
import uuid
from decimal import Decimal
from typing import Any

import pytest

N = 10_000
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

VALUES: dict[str, Any] = {
    "int8": lambda i: i,
    "float8": lambda i: i * 0.25,
    "text": lambda i: f"name {i}",
    "timestamptz": lambda i: BASE + dt.timedelta(seconds=i),
    "numeric": lambda i: Decimal(i) / 100,
    "uuid": lambda i: uuid.UUID(int=i),
    "jsonb": lambda i: {"k": i},
    "_text": lambda i: ["a", str(i)],
}

TWINS = {}
for name in ("c", "py"):
    try:
        TWINS[name] = importlib.import_module(f"pgcopy_fast.kernels._core_{name}")
    except ImportError:
        pass


@pytest.fixture(params=sorted(TWINS), autouse=True)
def impl(request: pytest.FixtureRequest) -> Any:
    return TWINS[request.param]


def _encoded(core: Any, pg_type: str) -> tuple[list[tuple[Any, ...]], bytes]:
    rows = [(VALUES[pg_type](i),) for i in range(N)]
    buf = core.WriteBuffer()
    enc = core.BinaryEncoder([pg_type])
    enc.header(buf)
    enc.encode_rows(buf, iter(rows), 1 << 60)
    enc.trailer(buf)
    return rows, bytes(buf.getvalue())


@pytest.mark.parametrize("case", sorted(VALUES))
def test_encode_rows(benchmark: Any, impl: Any, case: str) -> None:
    rows, _ = _encoded(impl, case)

    def run() -> None:
        buf = impl.WriteBuffer()
        impl.BinaryEncoder([case]).encode_rows(buf, iter(rows), 1 << 60)

    benchmark(run)


@pytest.mark.parametrize("case", sorted(VALUES))
def test_decode_rows(benchmark: Any, impl: Any, case: str) -> None:
    _, data = _encoded(impl, case)
    benchmark(lambda: impl.BinaryDecoder([case]).decode([data]))


def test_copy_data_framing(benchmark: Any, impl: Any) -> None:
    payload = b"x" * 100
    message = b"d" + (len(payload) + 4).to_bytes(4, "big") + payload
    stream = message * N

    def run() -> None:
        reader = impl.FrameReader()
        reader.feed(stream)
        reader.drain_copy_bytes()

    benchmark(run)


def test_text_encode(benchmark: Any, impl: Any) -> None:
    rows = [(i, f"name\t{i}", i * 0.5, None) for i in range(N)]
    benchmark(
        lambda: impl.TextEncoder().encode_rows(impl.WriteBuffer(), iter(rows), 1 << 60)
    )
