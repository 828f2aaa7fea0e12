#!/usr/bin/env python3
"""Fuzz the bytes-level kernels of both twins and the protocol state machine.

Every input goes to one target, in turn:

- ``frames``: ``FrameReader`` (``next_message``, ``drain_copy_data``,
  ``drain_copy_bytes``) over a stream of backend messages;
- ``protocol``: ``ClientProtocol`` driven as a client would drive it (startup,
  a query whenever it is idle, CopyDone for COPY IN), its events parsed;
- ``binary``, ``text``, ``csv``: the row decoders (``BinaryDecoder`` with a
  set of types or none, ``TextDecoder``, ``CsvDecoder``) over COPY data.

The inputs are random bytes, random well-framed messages, and mutations
(bit flips, truncation, insertion, deletion, length-field corruption) of
the exchanges captured from a real server in ``tests/exchanges`` and of
streams the encoders write; each is fed whole, cut at random places, or one
byte at a time.  Each input runs through both twins, and a finding is:

- a crash: an exception that is not one of the library's own
  (``pgcopy_fast.errors.Error``), e.g. IndexError, UnicodeDecodeError,
  struct.error, SystemError, MemoryError;
- an unexpected exception class: a library error other than the one the
  target raises for bad input (ProtocolError, DecodeError);
- a hang: more steps than the input can need, a reader waiting for the body
  of a message longer than its type allows, or (in long runs) an input that
  takes more than ``--slow`` seconds;
- a twin disagreement: not the same output, or not the same exception
  class and message;
- a split disagreement: the same twin answering differently when the same
  bytes arrive in other pieces.

Usage::

    python tools/fuzz.py --seconds 600            # a long run
    python tools/fuzz.py --inputs 100000 --seed 7
    python tools/fuzz.py --replay binary:1234 --seed 7   # one input again

Inputs are reproducible from ``--seed`` and their index alone.  A run that
dies (a segfault in the compiled twin) leaves the input it was on in the
``--state`` file.  ``tests/test_fuzz.py`` runs short, deterministic runs of
the same harness in the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import faulthandler
import importlib
import ipaddress
import itertools
import json
import mmap
import os
import random
import struct
import sys
import tempfile
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's package, not an installed one

from pgcopy_fast.errors import DecodeError, Error, ProtocolError  # noqa: E402
from pgcopy_fast.kernels import _core_py  # noqa: E402
from pgcopy_fast.kernels.consts import (  # noqa: E402
    LONG_MESSAGE_TYPES,
    MAX_MESSAGE_LENGTH,
    MAX_SHORT_MESSAGE_LENGTH,
    PGCOPY_SIGNATURE,
)
from pgcopy_fast.options import CodecOptions  # noqa: E402
from pgcopy_fast.protocol.events import NEED_DATA, CopyData  # noqa: E402
from pgcopy_fast.protocol.machine import ClientProtocol, State  # noqa: E402

try:
    _core_c: types.ModuleType | None = importlib.import_module(
        "pgcopy_fast.kernels._core_c"
    )
except ImportError:  # pragma: no cover - depends on the build
    _core_c = None

EXCHANGES = ROOT / "tests" / "exchanges"
TARGETS = ("frames", "protocol", "binary", "text", "csv")
KINDS = ("crash", "unexpected", "hang", "twins", "split")
#: What each target raises for bad input; another library error is a finding.
EXPECTED: dict[str, type[Error]] = {
    "frames": ProtocolError,
    "protocol": ProtocolError,
    "binary": DecodeError,
    "text": DecodeError,
    "csv": DecodeError,
}
#: Every type byte the backend sends, and a few it never does.
BACKEND_TYPES = b"RKSZTDCIEGHWdcNAvV1tn2s3!\x00\xff"
BYTE_AT_A_TIME_MAX = 4096
_OPTIONS = (CodecOptions(), CodecOptions(infinity=True, interval_tuple=True))
#: (TextDecoder or TextEncoder kwargs) and (CsvDecoder or CsvEncoder kwargs).
TEXT_VARIANTS: tuple[dict[str, str], ...] = ({}, {"delimiter": ",", "null": "NULL"})
CSV_VARIANTS: tuple[dict[str, str], ...] = (
    {},
    {"delimiter": ";", "quote": "'", "null": "\\N"},
)


class Hang(Exception):
    """A harness loop took more steps than its input can need."""


# -- seeds -----------------------------------------------------------------------


def _tz(minutes: int) -> dt.timezone:
    return dt.timezone(dt.timedelta(minutes=minutes))


#: Values of every scalar type with a binary codec (arrays are built of them).
SAMPLES: dict[str, list[Any]] = {
    "bool": [True, False],
    "int2": [-32768, 7],
    "int4": [2**31 - 1, -1],
    "int8": [-(2**63), 42],
    "oid": [0, 4294967295],
    "float4": [1.5, float("inf")],
    "float8": [-0.1, float("nan")],
    "numeric": [
        Decimal("-123.4500"),
        Decimal("NaN"),
        Decimal("1E+20"),
        Decimal("1E-9"),
    ],
    "text": ["h\u00e9", ""],
    "varchar": ["x\ty"],
    "bpchar": ["ab "],
    "name": ["n"],
    "citext": ["CI"],
    "xml": ["<a/>"],
    "unknown": ["?"],
    "char": ["a", "\\200"],
    "bytea": [b"\x00\xff", b""],
    "date": [dt.date(2000, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31)],
    "time": [dt.time(23, 59, 59, 999999), dt.time(0)],
    "timetz": [dt.time(1, 2, 3, tzinfo=_tz(330)), dt.time(4, tzinfo=_tz(-600))],
    "timestamp": [dt.datetime(2024, 2, 29, 12, 0, 0, 1), dt.datetime(1, 1, 1)],
    "timestamptz": [dt.datetime(1999, 12, 31, 23, tzinfo=dt.timezone.utc)],
    "interval": [dt.timedelta(days=-1, microseconds=5), dt.timedelta(days=40)],
    "uuid": [uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF)],
    "json": [{"a": [1, 2.5, None, "\u00e9"]}, 12345678901234567890123],
    "jsonb": [{"k": [1, "x", True]}],
    "inet": [ipaddress.ip_address("192.168.0.1"), ipaddress.ip_interface("::1/64")],
    "cidr": [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")],
    "macaddr": ["08:00:2b:01:02:03"],
}


def _array_samples(values: list[Any]) -> list[Any]:
    a = values[0]
    b = values[-1]
    return [[a, None, b], [[a, b], [b, a]], [], [[[a]]]]


def _binary_stream(
    core: types.ModuleType, types_: Sequence[str], rows: list[Any]
) -> bytes:
    buf = core.WriteBuffer()
    enc = core.BinaryEncoder(list(types_))
    enc.header(buf)
    for row in rows:
        enc.encode_row(buf, row)
    enc.trailer(buf)
    return bytes(buf.getvalue())


def _frames(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(offset, type, length field) of each whole message at the start of data."""
    pos = 0
    while pos + 5 <= len(data):
        length = int.from_bytes(data[pos + 1 : pos + 5], "big", signed=True)
        if length < 4 or pos + 1 + length > len(data):
            return
        yield pos, data[pos : pos + 1], length
        pos += 1 + length


def _copy_payloads(server: bytes) -> list[tuple[int, bytes]]:
    """The COPY OUT data of a recorded session: (format, joined payloads)."""
    out: list[tuple[int, bytes]] = []
    fmt, chunks = -1, bytearray()
    for pos, msgtype, length in _frames(server):
        payload = server[pos + 5 : pos + 1 + length]
        if msgtype == b"H":
            fmt, chunks = payload[0], bytearray()
        elif msgtype == b"d" and fmt >= 0:
            chunks += payload
        elif msgtype in (b"c", b"E") and fmt >= 0:
            out.append((fmt, bytes(chunks)))
            fmt = -1
    return out


@dataclass
class Seeds:
    """What the mutations start from."""

    #: Backend byte streams: the captured sessions, whole.
    server: list[bytes] = field(default_factory=list)
    #: (types, binary COPY stream).
    binary: list[tuple[tuple[str, ...], bytes]] = field(default_factory=list)
    #: (variant index, COPY text data) and (variant index, CSV data).
    text: list[tuple[int, bytes]] = field(default_factory=list)
    csv: list[tuple[int, bytes]] = field(default_factory=list)
    #: The captured startup reply, which random messages follow.
    startup: bytes = b""


def load_seeds(exchanges: Path = EXCHANGES) -> Seeds:
    seeds = Seeds()
    seeds.startup = (exchanges / "startup_trust.server.bin").read_bytes()
    seeds.server.append(seeds.startup)
    for path in sorted(exchanges.glob("*.jsonl")):
        server = bytearray()
        with path.open() as f:
            for line in f:
                entry = json.loads(line)
                if entry["from"] == "server":
                    server += bytes.fromhex(entry["hex"])
        seeds.server.append(bytes(server))
        for fmt, data in _copy_payloads(bytes(server)):
            if fmt == 1:
                seeds.binary.append((("int4", "text"), data))
            elif data:
                seeds.text.append((0, data))

    scalars = sorted(SAMPLES)
    groups: list[list[str]] = [[name] for name in scalars]
    groups += [["_" + name] for name in scalars]
    groups += [scalars[i : i + 6] for i in range(0, len(scalars), 6)]
    for group in groups:
        values = [
            SAMPLES[n] if not n.startswith("_") else _array_samples(SAMPLES[n[1:]])
            for n in group
        ]
        width = max(len(v) for v in values)
        rows: list[Any] = [tuple(v[i % len(v)] for v in values) for i in range(width)]
        rows.append(tuple(None for _ in group))
        seeds.binary.append((tuple(group), _binary_stream(_core_py, group, rows)))

    text_rows = [
        ("a\tb", None, "\\N", "h\u00e9", "x\ny\r", "\\"),
        ("", ",", '"q"', "\x01\x7f", "end\\.", "  "),
    ]
    encoders: list[tuple[Any, Callable[..., Any], list[tuple[int, bytes]]]] = [
        (TEXT_VARIANTS, _core_py.TextEncoder, seeds.text),
        (CSV_VARIANTS, _core_py.CsvEncoder, seeds.csv),
    ]
    for variants, encoder, out in encoders:
        for i, kwargs in enumerate(variants):
            buf = _core_py.WriteBuffer()
            enc = encoder(**kwargs)
            for row in text_rows:
                enc.encode_row(buf, row)
            out.append((i, bytes(buf.getvalue())))
    seeds.csv.append((0, b'a,"b\r\nc",\r\n"x""y"z,,""\n'))
    return seeds


# -- inputs ----------------------------------------------------------------------

_INTERESTING_32 = (
    0, 1, 3, 4, 5, -1, -2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
    MAX_SHORT_MESSAGE_LENGTH, MAX_SHORT_MESSAGE_LENGTH + 1,
    MAX_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH + 1, 0x7FFFFFFF, -0x80000000,
)  # fmt: skip
_INTERESTING_16 = (
    0,
    1,
    -1,
    2,
    6,
    7,
    0x7F,
    0x80,
    0x7FFF,
    -0x8000,
    0x4000,
    0xC000 - 0x10000,
)


def _put_int(data: bytearray, pos: int, value: int, size: int) -> None:
    data[pos : pos + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(size, "big")


def _length_fields_of_frames(data: bytes) -> list[int]:
    return [pos + 1 for pos, _, _ in _frames(data)]


def _length_fields_of_copy(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the counts and lengths of a binary COPY stream."""
    found: list[tuple[int, int]] = []
    if len(data) < 19 or data[:11] != PGCOPY_SIGNATURE:
        return found
    found += [(11, 4), (15, 4)]
    pos = 19 + max(0, int.from_bytes(data[15:19], "big", signed=True))
    while pos + 2 <= len(data):
        count = int.from_bytes(data[pos : pos + 2], "big", signed=True)
        found.append((pos, 2))
        pos += 2
        if count < 0:
            break
        for _ in range(count):
            if pos + 4 > len(data):
                return found
            length = int.from_bytes(data[pos : pos + 4], "big", signed=True)
            found.append((pos, 4))
            pos += 4
            if length > 0:
                # an array's header words, or any int32 of the value
                found += [
                    (p, 4) for p in range(pos, min(pos + length, len(data)) - 3, 4)
                ]
                pos += length
    return found


def _raw_mutation(
    rng: random.Random, out: bytearray, kind: str, others: Sequence[bytes]
) -> None:
    n = len(out)
    pos = rng.randrange(n) if n else 0
    op = rng.randrange(10)
    if op == 0 and n:  # bit flip
        out[pos] ^= 1 << rng.randrange(8)
    elif op == 1 and n:  # an interesting byte
        out[pos] = rng.choice((0, 1, 0x0A, 0x0D, 0x5C, 0x22, 0x7F, 0x80, 0xC3, 0xFF))
    elif op == 2 and n:  # truncation
        del out[pos:]
    elif op == 3 and n:  # deletion
        del out[pos : pos + rng.randint(1, 16)]
    elif op == 4:  # insertion of random bytes
        out[pos:pos] = rng.randbytes(rng.randint(1, 8))
    elif op == 5 and n:  # a slice repeated (long runs, deep nesting)
        a = pos if rng.random() < 0.5 else rng.randrange(n)
        piece = out[a : a + rng.choice((1, 1, 2, 4, 8))]
        out[pos:pos] = piece * rng.choice((2, 16, 300, 1100, 3000))
    elif op == 6 and kind == "value":  # deep nesting (json, arrays of text)
        opener = rng.choice((b"[", b"{", b'{"a":', b"[1,", b"("))
        out[pos:pos] = opener * rng.choice((500, 1100, 5000))
    elif op == 6 and others:  # splice another seed's tail
        other = rng.choice(others)
        out[pos:] = other[rng.randrange(len(other) + 1) :]
    elif op == 7 and n >= 2:  # an interesting int anywhere
        size = rng.choice((2, 4))
        pos = min(pos, max(0, n - size))
        value = rng.choice(_INTERESTING_16 if size == 2 else _INTERESTING_32)
        _put_int(out, pos, value, size)
    else:  # length-field corruption, where the structure is known
        if kind == "frames":
            spots = [(p, 4) for p in _length_fields_of_frames(bytes(out))]
        elif kind in ("binary", "value"):
            spots = _length_fields_of_copy(bytes(out))
            if kind == "value":  # an array's dimensions and element lengths
                spots = [(p, 4) for p in range(0, n - 3, 4)]
        else:
            spots = []
        if spots:
            p, size = rng.choice(spots)
            old = int.from_bytes(out[p : p + size], "big", signed=True)
            value = rng.choice(
                (
                    old + rng.randint(-8, 8),
                    old * 2,
                    rng.choice(_INTERESTING_16 if size == 2 else _INTERESTING_32),
                )
            )
            _put_int(out, p, value, size)
        elif kind in ("text", "csv"):
            out[pos:pos] = rng.choice(
                (b"\\", b"\\N", b"\\x4", b"\\0", b"\n", b"\r", b"\r\n", b'"', b"'",
                 b",", b";", b"\t", b"\xff", b"\xc3", b"\xe2\x82")
            )  # fmt: skip


def _split_frames(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    frames = [(t, data[p + 5 : p + 1 + n]) for p, t, n in _frames(data)]
    used = sum(5 + len(payload) for _, payload in frames)
    return frames, data[used:]


def _join_frames(frames: list[tuple[bytes, bytes]], rest: bytes) -> bytes:
    return b"".join(t + struct.pack(">i", len(p) + 4) + p for t, p in frames) + rest


def _frame_mutation(rng: random.Random, data: bytes) -> bytes:
    """A mutation that keeps the framing: payloads, types and order change."""
    frames, rest = _split_frames(data)
    if not frames:
        return data
    i = rng.randrange(len(frames))
    op = rng.randrange(6)
    if op <= 1:  # a payload mutated, its length fixed
        payload = bytearray(frames[i][1])
        for _ in range(rng.randint(1, 3)):
            _raw_mutation(rng, payload, "payload", ())
        frames[i] = (frames[i][0], bytes(payload))
    elif op == 2:  # another type byte
        frames[i] = (bytes([rng.choice(BACKEND_TYPES)]), frames[i][1])
    elif op == 3:  # a message twice
        frames.insert(i, frames[i])
    elif op == 4:  # a message dropped, or two swapped
        if rng.random() < 0.5:
            del frames[i]
        else:
            j = rng.randrange(len(frames))
            frames[i], frames[j] = frames[j], frames[i]
    else:  # a random message inserted
        msgtype = bytes([rng.choice(BACKEND_TYPES)])
        frames.insert(i, (msgtype, _random_payload(rng, msgtype)))
    return _join_frames(frames, rest)


def _split_copy(data: bytes) -> tuple[bytes, list[list[bytes | None]], bytes] | None:
    """(header, rows of values, the rest) of a binary COPY stream, or None."""
    if len(data) < 19 or data[:11] != PGCOPY_SIGNATURE:
        return None
    ext = int.from_bytes(data[15:19], "big", signed=True)
    if ext < 0 or 19 + ext > len(data):
        return None
    pos = 19 + ext
    header = data[:pos]
    rows: list[list[bytes | None]] = []
    while pos + 2 <= len(data):
        count = int.from_bytes(data[pos : pos + 2], "big", signed=True)
        if count < 0:
            break
        p = pos + 2
        row: list[bytes | None] = []
        for _ in range(count):
            if p + 4 > len(data):
                break
            length = int.from_bytes(data[p : p + 4], "big", signed=True)
            p += 4
            if length == -1:
                row.append(None)
                continue
            if length < 0 or p + length > len(data):
                break
            row.append(data[p : p + length])
            p += length
        else:
            rows.append(row)
            pos = p
            continue
        break
    return header, rows, data[pos:]


def _join_copy(header: bytes, rows: list[list[bytes | None]], rest: bytes) -> bytes:
    out = bytearray(header)
    for row in rows:
        out += struct.pack(">h", len(row))
        for value in row:
            out += (
                b"\xff\xff\xff\xff"
                if value is None
                else struct.pack(">i", len(value)) + value
            )
    return bytes(out + rest)


def _copy_mutation(rng: random.Random, data: bytes, others: Sequence[bytes]) -> bytes:
    """A mutation that keeps the rows framed: values change, lengths follow."""
    parts = _split_copy(data)
    if parts is None or not parts[1]:
        return data
    header, rows, rest = parts
    r = rng.randrange(len(rows))
    row = rows[r]
    op = rng.randrange(6)
    if op <= 2 and row:  # a value mutated, its length fixed
        c = rng.randrange(len(row))
        value = bytearray(row[c] or b"")
        for _ in range(rng.randint(1, 3)):
            _raw_mutation(rng, value, "value", ())
        row[c] = bytes(value)
    elif op == 3 and row:  # a value from another column or stream
        donor = _split_copy(rng.choice(others))
        values = [v for rw in donor[1] for v in rw] if donor is not None else []
        row[rng.randrange(len(row))] = rng.choice(values) if values else None
    elif op == 4:  # a row twice, or dropped
        if rng.random() < 0.5:
            rows.insert(r, list(row))
        else:
            del rows[r]
    else:  # a value made NULL or empty
        if row:
            row[rng.randrange(len(row))] = rng.choice((None, b""))
    return _join_copy(header, rows, rest)


def mutate(
    rng: random.Random, data: bytes, kind: str, others: Sequence[bytes]
) -> bytes:
    """One to four mutations of ``data``; ``kind`` names its structure."""
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        if kind == "frames" and rng.random() < 0.5:
            data = _frame_mutation(rng, data)
        elif kind == "binary" and rng.random() < 0.6:
            data = _copy_mutation(rng, data, others)
        else:
            out = bytearray(data)
            _raw_mutation(rng, out, kind, others)
            data = bytes(out)
    return data


def _cstr(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape") + b"\x00"


def _random_payload(rng: random.Random, msgtype: bytes) -> bytes:
    """A payload for ``msgtype``, plausible or not."""
    if rng.random() < 0.25:
        return rng.randbytes(rng.randint(0, 24))
    word = rng.choice(("", "x", "SELECT 1", "h\u00e9", "\udcff", "a" * 40))
    word_b = word.encode("utf-8", "surrogateescape")
    if msgtype == b"R":
        return struct.pack(">i", rng.choice((0, 3, 5, 10, 11, 12, 7))) + rng.randbytes(
            rng.choice((0, 4, 12))
        )
    if msgtype == b"K":
        return rng.randbytes(rng.choice((8, 7, 12)))
    if msgtype == b"S":
        return word_b + b"\x00" + rng.choice((b"UTF8\x00", b"x", b""))
    if msgtype == b"Z":
        return rng.choice((b"I", b"T", b"E", b"A", b"", b"II"))
    if msgtype == b"C":
        return word_b + rng.choice((b"\x00", b""))
    if msgtype in (b"E", b"N"):
        fields = b"".join(
            rng.choice(b"SVCMDHWPpqstcdnFLR?").to_bytes(1, "big") + word_b + b"\x00"
            for _ in range(rng.randint(0, 5))
        )
        return fields + rng.choice((b"\x00", b""))
    if msgtype == b"A":
        return rng.randbytes(4) + word_b + b"\x00" + word_b + rng.choice((b"\x00", b""))
    if msgtype == b"T":
        n = rng.randint(0, 3)
        cols = b"".join(_cstr(word) + rng.randbytes(18) for _ in range(n))
        return struct.pack(">h", n + rng.choice((0, 0, 1, -1))) + cols
    if msgtype == b"D":
        n = rng.randint(0, 3)
        fields = b"".join(
            struct.pack(">i", -1)
            if rng.random() < 0.2
            else struct.pack(">i", len(word_b)) + word_b
            for _ in range(n)
        )
        return struct.pack(">h", n + rng.choice((0, 0, 1, -1))) + fields
    if msgtype in (b"G", b"H", b"W"):
        n = rng.randint(0, 3)
        return bytes([rng.choice((0, 1, 2))]) + struct.pack(
            f">h{n}h",
            n + rng.choice((0, 0, 1, -1)),
            *[rng.choice((0, 1)) for _ in range(n)],
        )
    if msgtype == b"v":
        n = rng.randint(0, 3)
        return struct.pack(">ii", 0, n + rng.choice((0, 1))) + b"".join(
            _cstr(word) for _ in range(n)
        )
    if msgtype == b"t":
        n = rng.randint(0, 3)
        return struct.pack(">h", n + rng.choice((0, 1))) + rng.randbytes(4 * n)
    if msgtype == b"d":
        return rng.randbytes(rng.randint(0, 40))
    return b""


def random_messages(rng: random.Random, startup: bytes) -> bytes:
    """Well-framed backend messages of any type, after the startup reply or not."""
    out = bytearray(startup if rng.random() < 0.7 else b"")
    for _ in range(rng.randint(1, 12)):
        msgtype = bytes([rng.choice(BACKEND_TYPES)])
        payload = _random_payload(rng, msgtype)
        out += msgtype + struct.pack(">i", len(payload) + 4) + payload
    return bytes(out)


@dataclass
class Input:
    """One fuzz input: the bytes, how they arrive, and what reads them."""

    target: str
    index: int
    data: bytes
    #: cut offsets: the data arrives as data[0:cuts[0]], data[cuts[0]:cuts[1]], ...
    cuts: list[int]
    #: per step, which call the harness makes (reader modes, payload grouping)
    modes: list[int]
    #: decoder types (binary) or options variant (text, csv)
    types: tuple[str, ...] | None = None
    variant: int = 0
    origin: str = ""

    def pieces(self) -> list[bytes]:
        bounds = [0, *self.cuts, len(self.data)]
        return [self.data[a:b] for a, b in itertools.pairwise(bounds)]


def _cuts(rng: random.Random, n: int) -> list[int]:
    r = rng.random()
    if r < 0.35 or n == 0:
        return []
    if r < 0.5 and n <= BYTE_AT_A_TIME_MAX:
        return list(range(1, n))
    return sorted({rng.randint(1, n) for _ in range(rng.randint(1, 8))} - {n})


_ALL_BINARY_TYPES = sorted(_core_py.binary_types())


def make_input(seeds: Seeds, target: str, seed: int, index: int) -> Input:
    """The input ``index`` of a run with ``seed``: reproducible from the two alone."""
    rng = random.Random(f"{seed}:{target}:{index}")
    r = rng.random()
    types_: tuple[str, ...] | None = None
    variant = 0
    if target in ("frames", "protocol"):
        if r < 0.1:
            data, origin = rng.randbytes(rng.randint(0, 300)), "random"
        elif r < 0.45:
            data, origin = random_messages(rng, seeds.startup), "messages"
            if rng.random() < 0.5:
                data = mutate(rng, data, "frames", seeds.server)
                origin += "+mutated"
        else:
            base = rng.choice(seeds.server)
            data, origin = mutate(rng, base, "frames", seeds.server), "exchange+mutated"
            if r < 0.5:
                data, origin = base, "exchange"
    elif target == "binary":
        types_, base = rng.choice(seeds.binary)
        others = [s for _, s in seeds.binary]
        if r < 0.05:
            data, origin = (
                PGCOPY_SIGNATURE + bytes(8) + rng.randbytes(rng.randint(0, 200)),
                "random",
            )
        elif r < 0.1:
            data, origin = base, "encoded"
        else:
            data, origin = mutate(rng, base, "binary", others), "encoded+mutated"
        t = rng.random()
        if t < 0.25:  # the same field count, other types: every decoder on any bytes
            types_ = tuple(rng.choice(_ALL_BINARY_TYPES) for _ in types_)
            origin += "+retyped"
        elif t < 0.35:
            types_ = None
            origin += "+untyped"
        variant = rng.randrange(len(_OPTIONS))
    else:
        pool = seeds.text if target == "text" else seeds.csv
        variant, base = rng.choice(pool)
        others = [s for _, s in pool]
        if r < 0.1:
            data, origin = rng.randbytes(rng.randint(0, 200)), "random"
        elif r < 0.15:
            data, origin = base, "encoded"
        else:
            data, origin = mutate(rng, base, target, others), "encoded+mutated"
    cuts = _cuts(rng, len(data))
    modes = [rng.randrange(3) for _ in range(rng.randint(1, 4))]
    return Input(target, index, data, cuts, modes, types_, variant, origin)


# -- running one input -------------------------------------------------------------


def _error(exc: BaseException) -> tuple[Any, ...]:
    return (
        type(exc),
        str(exc),
        getattr(exc, "row_index", None),
        getattr(exc, "column", None),
        getattr(exc, "pg_type", None),
    )


@dataclass
class Outcome:
    """What one twin did with one input."""

    log: list[Any]
    error: tuple[Any, ...] | None = None
    #: the traceback of an exception that is a finding (crash / unexpected)
    trace: str = ""
    hang: str = ""
    #: a broken rule of the state machine (ProtocolError must close it)
    invariant: str = ""
    #: the log, normalized so that how the bytes were cut does not show
    merged: list[Any] = field(default_factory=list)

    def same(self, other: Outcome) -> bool:
        return (self.log, self.error, self.hang) == (other.log, other.error, other.hang)


def _merge_copy(log: list[Any]) -> list[Any]:
    """Consecutive CopyData payloads joined: how they were drained does not show."""
    out: list[Any] = []
    for entry in log:
        is_copy = isinstance(entry, tuple) and entry[0] == b"d"
        if is_copy and out and isinstance(out[-1], tuple) and out[-1][0] == b"d":
            out[-1] = (b"d", out[-1][1] + entry[1])
        elif not is_copy or entry[1]:
            out.append(entry)
    return out


def _pending_hang(data: bytes, buffered: int) -> str:
    """A reader waiting for the body of a message longer than its type allows."""
    pending = data[len(data) - buffered :]
    if len(pending) < 5:
        return ""
    msgtype = pending[:1]
    length = int.from_bytes(pending[1:5], "big", signed=True)
    bound = (
        MAX_MESSAGE_LENGTH
        if msgtype in LONG_MESSAGE_TYPES
        else MAX_SHORT_MESSAGE_LENGTH
    )
    if length > bound:
        return f"waits for the body of a {msgtype!r} message of length {length}"
    return ""


def run_frames(core: types.ModuleType, inp: Input) -> Outcome:
    reader = core.FrameReader()
    out = Outcome([])
    steps, limit = 0, 2 * len(inp.data) + 3 * len(inp.cuts) + 16
    messages: list[Any] = []
    try:
        for piece in inp.pieces():
            reader.feed(piece)
            while True:
                steps += 1
                if steps > limit:
                    raise Hang(f"more than {limit} reader calls")
                mode = inp.modes[steps % len(inp.modes)]
                if mode == 1:
                    drained = [bytes(p) for p in reader.drain_copy_data()]
                    out.log.append(("drain", drained))
                    messages += [(b"d", p) for p in drained]
                    if drained:
                        continue
                elif mode == 2:
                    joined = bytes(reader.drain_copy_bytes())
                    out.log.append(("drain_bytes", joined))
                    if joined:
                        messages.append((b"d", joined))
                        continue
                m = reader.next_message()
                if m is None:
                    out.log.append(("none", reader.buffered))
                    break
                messages.append((m[0], bytes(m[1])))
                out.log.append(messages[-1])
        out.hang = _pending_hang(inp.data, reader.buffered)
    except Hang as exc:
        out.hang = str(exc)
    except Exception as exc:  # every exception is an outcome to classify
        out.error = _error(exc)
        out.trace = traceback.format_exc()
    out.merged = _merge_copy(messages)
    return out


def _event(ev: Any) -> Any:
    if isinstance(ev, CopyData):
        return (b"d", bytes(ev.data))
    return repr(ev)


def run_protocol(core: types.ModuleType, inp: Input) -> Outcome:
    proto = ClientProtocol()
    proto._reader = core.FrameReader()
    proto.startup({"user": "fuzz"})
    out = Outcome([])
    events: list[Any] = []
    steps, limit = 0, 2 * len(inp.data) + 3 * len(inp.cuts) + 16
    try:
        for piece in inp.pieces():
            proto.receive_data(piece)
            while True:
                steps += 1
                if steps > limit:
                    raise Hang(f"more than {limit} protocol calls")
                mode = inp.modes[steps % len(inp.modes)]
                if proto.state is State.COPY_OUT and mode:
                    if mode == 1:
                        joined = b"".join(bytes(p) for p in proto.drain_copy_data())
                    else:
                        joined = bytes(proto.drain_copy_bytes())
                    if joined:
                        events.append((b"d", joined))
                        out.log.append(("drained", joined))
                ev = proto.next_event()
                if ev is NEED_DATA:
                    out.log.append(("need data", proto.state.value))
                    break
                events.append(_event(ev))
                out.log.append(events[-1])
                # react as a client does: a query when idle, CopyDone for COPY IN
                if proto.state is State.IDLE:
                    proto.query("SELECT 1")
                elif proto.state in (State.COPY_IN, State.COPY_BOTH):
                    proto.copy_done()
        out.hang = _pending_hang(inp.data, proto._reader.buffered)
    except Hang as exc:
        out.hang = str(exc)
    except Exception as exc:  # every exception is an outcome to classify
        out.error = _error(exc)
        out.trace = traceback.format_exc()
        if isinstance(exc, ProtocolError) and proto.state is not State.CLOSED:
            out.invariant = f"ProtocolError left the protocol {proto.state.value}"
    out.log.append(("state", proto.state.value, proto.transaction_status.value))
    out.merged = [*_merge_copy(events), out.log[-1]]
    return out


def _decoder(core: types.ModuleType, inp: Input) -> Any:
    if inp.target == "binary":
        options = _OPTIONS[inp.variant]
        return (
            core.BinaryDecoder(inp.types, options)
            if inp.types is not None
            else core.BinaryDecoder()
        )
    if inp.target == "text":
        return core.TextDecoder(**TEXT_VARIANTS[inp.variant])
    return core.CsvDecoder(**CSV_VARIANTS[inp.variant])


def run_decoder(core: types.ModuleType, inp: Input) -> Outcome:
    dec = _decoder(core, inp)
    out = Outcome([])
    rows: list[Any] = []
    pieces = inp.pieces()
    try:
        i = step = 0
        while i < len(pieces):
            # one, two or three pieces per call, as bytes or as memoryviews
            mode = inp.modes[step % len(inp.modes)]
            step += 1
            group = pieces[i : i + 1 + mode]
            i += len(group)
            payloads: list[Any] = [memoryview(p) for p in group] if mode == 1 else group
            got = dec.decode(payloads)
            out.log.append(repr(got))
            rows += got
        dec.finish()
        out.log.append(("finished", dec.rows))
    except Exception as exc:  # every exception is an outcome to classify
        out.error = _error(exc)
        out.trace = traceback.format_exc()
    if inp.target == "binary":
        out.log.append(("done", dec.done))
    out.merged = [repr(rows), dec.rows] if out.error is None else []
    return out


RUNNERS: dict[str, Callable[[types.ModuleType, Input], Outcome]] = {
    "frames": run_frames,
    "protocol": run_protocol,
    "binary": run_decoder,
    "text": run_decoder,
    "csv": run_decoder,
}


@dataclass
class Finding:
    kind: str
    target: str
    index: int
    summary: str
    detail: str
    data: bytes

    def __str__(self) -> str:
        return f"[{self.kind}] {self.target}:{self.index}: {self.summary}"


def _twins() -> list[types.ModuleType]:
    return [_core_py] if _core_c is None else [_core_py, _core_c]


def check(inp: Input, twins: Sequence[types.ModuleType] | None = None) -> list[Finding]:
    """Run ``inp`` through every twin and return what is wrong."""
    twins = list(twins) if twins is not None else _twins()
    runner = RUNNERS[inp.target]
    findings: list[Finding] = []

    def found(kind: str, summary: str, detail: str = "") -> None:
        findings.append(Finding(kind, inp.target, inp.index, summary, detail, inp.data))

    outcomes = [runner(core, inp) for core in twins]
    for core, out in zip(twins, outcomes, strict=True):
        name = core.IMPL
        if out.hang:
            found("hang", f"{name}: {out.hang}")
        if out.invariant:
            found("unexpected", f"{name}: {out.invariant}", out.trace)
        if out.error is not None:
            cls = out.error[0]
            if not issubclass(cls, Error):
                found("crash", f"{name}: {cls.__name__}: {out.error[1]}", out.trace)
            elif not issubclass(cls, EXPECTED[inp.target]):
                found(
                    "unexpected", f"{name}: {cls.__name__}: {out.error[1]}", out.trace
                )
    for other, out in zip(twins[1:], outcomes[1:], strict=True):
        if not outcomes[0].same(out):
            found(
                "twins",
                f"{twins[0].IMPL} and {other.IMPL} differ",
                _diff(outcomes[0], out),
            )
    if inp.cuts:
        # The same bytes in one piece, through the last twin (the compiled
        # one): the same messages or rows, and the same error.
        whole = Input(
            inp.target, inp.index, inp.data, [], inp.modes, inp.types, inp.variant
        )
        alone, cut = runner(twins[-1], whole), outcomes[-1]
        if inp.target in ("frames", "protocol"):
            differ = (alone.merged, _msg(alone)) != (cut.merged, _msg(cut))
        elif alone.error is None and cut.error is None:
            differ = alone.merged != cut.merged
        else:
            differ = _msg(alone) != _msg(cut)
        if differ:
            found(
                "split", f"{twins[-1].IMPL}: another answer when cut", _diff(alone, cut)
            )
    return findings


def _msg(out: Outcome) -> Any:
    return out.error[:2] if out.error is not None else None


def _short(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _diff(a: Outcome, b: Outcome) -> str:
    lines = []
    for i, (x, y) in enumerate(zip(a.log, b.log, strict=False)):
        if x != y:
            lines.append(f"log[{i}]: {_short(x)}\n     vs: {_short(y)}")
            break
    if len(a.log) != len(b.log):
        lines.append(f"log lengths {len(a.log)} vs {len(b.log)}")
    if a.error != b.error:
        lines.append(f"error: {_short(a.error)}\n   vs: {_short(b.error)}")
    if a.hang != b.hang:
        lines.append(f"hang: {a.hang!r} vs {b.hang!r}")
    if a.merged != b.merged:
        lines.append(f"merged: {_short(a.merged)}\n    vs: {_short(b.merged)}")
    return "\n".join(lines)


# -- a run -------------------------------------------------------------------------


@dataclass
class Report:
    seed: int
    inputs: int = 0
    per_target: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    slowest: float = 0.0
    slowest_input: str = ""
    seconds: float = 0.0
    stopped_by: str = ""

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def unexpected_classes(self) -> list[str]:
        names = set()
        for f in self.findings:
            if f.kind in ("crash", "unexpected"):
                names.add(f.summary.split(": ")[1])
        return sorted(names)

    def summary(self) -> str:
        twins = "+".join(core.IMPL for core in _twins())
        per = ", ".join(f"{t} {n}" for t, n in self.per_target.items())
        rate = self.inputs / self.seconds if self.seconds else 0.0
        lines = [
            f"seed {self.seed}, twins {twins}: {self.inputs} inputs ({per}) "
            f"in {self.seconds:.1f} s ({rate:.0f}/s){self.stopped_by}",
            f"slowest input: {self.slowest * 1000:.1f} ms ({self.slowest_input})",
            f"crashes: {self.count('crash')}",
            f"hangs: {self.count('hang')}",
            f"unexpected exception classes: "
            f"{', '.join(self.unexpected_classes()) or 'none'}",
            f"twin disagreements: {self.count('twins')}",
            f"split disagreements: {self.count('split')}",
        ]
        return "\n".join(lines)


class _State:
    """The input being run, in a file that survives a crash of the process."""

    def __init__(self, path: str | None) -> None:
        self.map: mmap.mmap | None = None
        if path:
            with open(path, "wb") as f:
                f.write(b" " * 128)
            fd = os.open(path, os.O_RDWR)
            self.map = mmap.mmap(fd, 128)
            os.close(fd)

    def set(self, text: str) -> None:
        if self.map is not None:
            self.map[:128] = text.encode()[:128].ljust(128)


def run(
    inputs: int | None = None,
    seconds: float | None = None,
    seed: int = 0,
    targets: Sequence[str] = TARGETS,
    twins: Sequence[types.ModuleType] | None = None,
    slow: float | None = None,
    max_findings: int = 1000,
    state_file: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Run ``inputs`` inputs (or for ``seconds``), rotating over ``targets``.

    ``slow`` (long runs only) counts an input that takes longer as a hang;
    the tests give none, so they make no timing assertion.
    """
    if inputs is None and seconds is None:
        raise ValueError("give inputs or seconds")
    seeds = load_seeds()
    report = Report(seed, per_target={t: 0 for t in targets})
    state = _State(state_file)
    start = time.perf_counter()
    deadline = start + seconds if seconds is not None else None
    next_progress = start + 30
    i = 0
    while True:
        if inputs is not None and i >= inputs:
            break
        now = time.perf_counter()
        if deadline is not None and now >= deadline:
            break
        if len(report.findings) >= max_findings:
            report.stopped_by = f", stopped after {max_findings} findings"
            break
        if progress is not None and now >= next_progress:
            next_progress = now + 30
            progress(
                f"{now - start:.0f} s: {i} inputs, {len(report.findings)} findings"
            )
        target = targets[i % len(targets)]
        index = i // len(targets)
        state.set(f"--seed {seed} --replay {target}:{index}\n")
        inp = make_input(seeds, target, seed, index)
        t0 = time.perf_counter()
        report.findings += check(inp, twins)
        took = time.perf_counter() - t0
        if took > report.slowest:
            report.slowest, report.slowest_input = took, f"{target}:{index}"
        if slow is not None and took > slow:
            report.findings.append(
                Finding("hang", target, index, f"took {took:.1f} s", "", inp.data)
            )
        report.per_target[target] += 1
        i += 1
    report.inputs = i
    report.seconds = time.perf_counter() - start
    return report


def _print_findings(findings: list[Finding], verbose: bool) -> None:
    shown: dict[tuple[str, str, str], int] = {}
    for f in findings:
        key = (f.kind, f.target, f.summary[:80])
        shown[key] = shown.get(key, 0) + 1
        if shown[key] > 3 and not verbose:
            continue
        print(f, file=sys.stderr)
        print(f"  input ({len(f.data)} bytes): {_short(f.data, 300)}", file=sys.stderr)
        if f.detail:
            print("  " + f.detail.strip().replace("\n", "\n  "), file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="run for this long")
    parser.add_argument("--inputs", type=int, help="run this many inputs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help="comma-separated, of " + ", ".join(TARGETS),
    )
    parser.add_argument(
        "--slow", type=float, default=5.0, help="an input taking longer is a hang (s)"
    )
    parser.add_argument(
        "--watchdog",
        type=float,
        default=120.0,
        help="dump the stacks and exit when one input runs longer (s)",
    )
    parser.add_argument(
        "--state",
        default=os.path.join(tempfile.gettempdir(), "pgcopy_fast-fuzz.state"),
        help="file that names the input being run (read it after a crash)",
    )
    parser.add_argument(
        "--replay", help="TARGET:INDEX: run that input alone, verbosely"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    faulthandler.enable()  # a segfault in the compiled twin still says where

    if args.replay:
        target, _, index = args.replay.partition(":")
        inp = make_input(load_seeds(), target, args.seed, int(index))
        pieces = len(inp.pieces())
        print(
            f"{target}:{index} ({inp.origin}), {len(inp.data)} bytes in {pieces} pieces"
        )
        print(f"types {inp.types}, variant {inp.variant}, modes {inp.modes}")
        print(_short(inp.data, 2000))
        findings = check(inp)
        for core in _twins():
            out = RUNNERS[target](core, inp)
            print(f"{core.IMPL}: error {_short(out.error)} hang {out.hang!r}")
            print(f"  log {_short(out.log, 2000)}")
        _print_findings(findings, True)
        return 1 if findings else 0

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = sorted(set(targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets: {', '.join(unknown)}")
    if args.seconds is None and args.inputs is None:
        parser.error("give --seconds or --inputs")
    if _core_c is None:
        print(
            "warning: the compiled twin is not built: no twin comparison",
            file=sys.stderr,
        )

    # A hang inside one call (no step limit reaches it) ends the run with
    # every thread's stack; progress() re-arms the watchdog every 30 s.
    faulthandler.dump_traceback_later(args.watchdog, exit=True)

    def progress(text: str) -> None:
        faulthandler.dump_traceback_later(args.watchdog, exit=True)
        print(text, file=sys.stderr, flush=True)

    report = run(
        inputs=args.inputs,
        seconds=args.seconds,
        seed=args.seed,
        targets=targets,
        slow=args.slow,
        state_file=args.state,
        progress=progress,
    )
    faulthandler.cancel_dump_traceback_later()
    _print_findings(report.findings, args.verbose)
    print(report.summary())
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
