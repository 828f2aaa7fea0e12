"""Faults injected between the client and a real server (tests/faultproxy.py).

Byte-at-a-time delivery must change nothing; a cut connection is an
OperationalError and a closed connection, in both APIs; a corrupted stream
is a ProtocolError, never a hang.  Nothing is committed by a copy that
failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from faultproxy import Fault, FaultProxy, cut_after, flip_bits, replace_at

import pgcopy_fast as pcf

TYPES = ["int8", "text", "float8"]
ROWS = [(i, f"row {i}", i / 7) for i in range(3000)]


@pytest.fixture
def faults(pg_server, conn: pcf.Connection) -> Iterator[Any]:
    """Make a proxy with a fault; the table ``faulty`` is fresh."""
    conn.execute(
        "DROP TABLE IF EXISTS faulty; CREATE TABLE faulty (a int8, b text, c float8);"
        "INSERT INTO faulty SELECT i, 'row ' || i, i / 7.0 FROM generate_series(0, 2999) i"
    )
    made: list[FaultProxy] = []

    def make(
        fault: Fault | None = None,
        trickle: bool = False,
        idle_close: float | None = None,
    ) -> dict[str, Any]:
        proxy = FaultProxy(
            ("127.0.0.1", pg_server.port),
            fault or (lambda w, o, c: c),
            trickle,
            idle_close,
        )
        made.append(proxy)
        return {
            "host": "127.0.0.1",
            "port": proxy.port,
            "user": "postgres",
            "dbname": pg_server.dbname,
            "sslmode": "disable",
            "connect_timeout": 30,
        }

    yield make
    for proxy in made:
        proxy.close()


def _count(conn: pcf.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM faulty").rows[0][0] or 0)


def test_byte_at_a_time_changes_nothing(faults, conn) -> None:
    with pcf.connect(**faults(trickle=True)) as slow:
        assert slow.execute("SELECT 1").rows == [("1",)]
        with slow.copy_out("COPY faulty TO STDOUT (FORMAT binary)", TYPES) as out:
            got = list(out)
        assert got == [(a, b, pytest.approx(c)) for a, b, c in ROWS]
        with slow.copy_in("COPY faulty FROM STDIN (FORMAT binary)", TYPES) as cp:
            cp.write_rows(ROWS)
        assert cp.rowcount == 3000
    assert _count(conn) == 6000


def test_byte_at_a_time_under_asyncio(faults) -> None:
    async def main() -> None:
        async with await pcf.connect_async(**faults(trickle=True)) as slow:
            async with slow.copy_out("COPY faulty TO STDOUT", TYPES) as out:
                got = [row async for row in out]
            assert len(got) == 3000 and got[5] == (5, "row 5", pytest.approx(5 / 7))

    asyncio.run(main())


@pytest.mark.parametrize("cut", [200, 5_000, 40_000])
def test_a_connection_cut_during_copy_out_is_an_operational_error(
    faults, cut: int
) -> None:
    # ~300 bytes of startup answers first; then the COPY OUT stream.
    c = pcf.connect(**faults(cut_after(600 + cut)))
    with pytest.raises(pcf.OperationalError):
        list(c.copy_records_out("faulty"))
    assert c.closed
    with pytest.raises(pcf.InterfaceError):
        c.execute("SELECT 1")


def test_a_connection_cut_during_copy_in_commits_nothing(faults, conn) -> None:
    c = pcf.connect(**faults(cut_after(60_000, "to_server")))
    with pytest.raises(pcf.OperationalError):
        with c.copy_in("COPY faulty FROM STDIN (FORMAT binary)", TYPES) as cp:
            cp.write_rows(ROWS * 20)
    assert c.closed
    assert _count(conn) == 3000


def test_a_cut_under_asyncio_is_an_operational_error(faults, conn) -> None:
    async def main() -> None:
        c = await pcf.connect_async(**faults(cut_after(5_000)))
        with pytest.raises(pcf.OperationalError):
            async for _ in c.copy_records_out("faulty"):
                pass
        assert c.closed
        c2 = await pcf.connect_async(**faults(cut_after(60_000, "to_server")))
        with pytest.raises(pcf.OperationalError):
            async with c2.copy_in(
                "COPY faulty FROM STDIN (FORMAT binary)", TYPES
            ) as cp:
                await cp.write_rows(ROWS * 20)
        assert c2.closed

    asyncio.run(main())
    assert _count(conn) == 3000


def _startup_bytes(faults: Any) -> int:
    """How many bytes the server sends up to the first ReadyForQuery."""
    seen: list[int] = []

    def record(where: str, offset: int, chunk: bytes) -> bytes:
        if where == "to_client":
            seen.append(offset + len(chunk))
        return chunk

    pcf.connect(**faults(record)).close()
    return seen[-1]


def test_a_corrupted_message_type_is_a_protocol_error(faults) -> None:
    start = _startup_bytes(faults)
    c = pcf.connect(**faults(replace_at(start, b"\x01")))
    with pytest.raises(pcf.ProtocolError):
        c.execute("SELECT 1")
    assert c.closed


def test_a_huge_length_on_a_short_message_fails_at_once(faults) -> None:
    """A CommandComplete header claiming 256 MiB: lost synchronization, at once.

    Without the bound the client would wait for 256 MiB that never come.
    """
    start = _startup_bytes(faults)
    c = pcf.connect(**faults(replace_at(start, b"C\x10\x00\x00\x00")))
    with pytest.raises(pcf.ProtocolError, match="lost synchronization"):
        c.execute("SELECT 1")
    assert c.closed

    async def main() -> None:
        a = await pcf.connect_async(**faults(replace_at(start, b"C\x10\x00\x00\x00")))
        with pytest.raises(pcf.ProtocolError, match="lost synchronization"):
            await a.execute("SELECT 1")
        assert a.closed

    asyncio.run(main())


@pytest.mark.parametrize("seed", range(6))
def test_random_bit_flips_end_in_rows_or_a_library_error(faults, seed: int) -> None:
    """Flips (1e-3 per bit) in what the server sends during a COPY OUT.

    Some flips land in row data and decode to other values (the stream has
    no checksum; libpq's has none either); what must not happen is a crash
    or an exception outside the library's own.  A flip that makes a long
    message's length larger than what follows leaves the client waiting
    for bytes the server will never send, as libpq would (only a length
    beyond any message's bound is caught at once): the proxy then cuts the
    silent link, which must end in OperationalError.
    """
    start = _startup_bytes(faults)
    c = pcf.connect(**faults(flip_bits(1e-3, start + 200, seed), idle_close=1.0))
    try:
        rows = list(c.copy_out("COPY faulty TO STDOUT (FORMAT binary)", TYPES))
    except pcf.Error:
        pass
    else:
        assert len(rows) <= 3000
    finally:
        c.close()
