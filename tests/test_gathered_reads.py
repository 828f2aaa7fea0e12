"""Long COPY OUTs read in gathered rounds (``recv_bulk``), on every transport.

After ``GATHER_AFTER`` bytes a short read waits a moment and takes what
follows; the rows must come out whole and in order whatever the cut, over
a Unix socket, TCP and TLS, blocking and asyncio, rows and Arrow.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import require
from test_connection import _tcp

import pgcopy_fast as pcf
from pgcopy_fast.kernels.consts import GATHER_AFTER

ROWS = 60000
QUERY = f"SELECT g::int8 AS k, repeat(md5(g::text), 2) AS s FROM generate_series(1, {ROWS}) g"


def _check_rows(rows: list[Any]) -> None:
    assert len(rows) == ROWS
    assert [r[0] for r in rows[:3]] == [1, 2, 3] and rows[-1][0] == ROWS
    assert all(len(r[1]) == 64 for r in rows)


def _rows(conn: pcf.Connection) -> list[Any]:
    with conn.copy_out(
        f"COPY ({QUERY}) TO STDOUT (FORMAT binary)", ["int8", "text"]
    ) as out:
        return list(out)


def test_the_copy_is_long_enough_to_gather() -> None:
    assert ROWS * (2 + 4 + 8 + 4 + 64) > 3 * GATHER_AFTER


@pytest.mark.parametrize("how", ["unix", "tcp", "tls"])
def test_blocking_rows_and_arrow(
    pg_server: Any, impl: Any, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pgcopy_fast.connection.transport import SocketTransport

    calls = []
    real = SocketTransport.recv_bulk

    def counted(self: SocketTransport, deadline: float | None = None) -> Any:
        calls.append(1)
        return real(self, deadline)

    monkeypatch.setattr(SocketTransport, "recv_bulk", counted)
    if how == "unix":
        conn = pg_server.connect()
    else:
        conn = _tcp(
            pg_server, "scram_user", sslmode="require" if how == "tls" else "disable"
        )
    with conn:
        _check_rows(_rows(conn))
        pa = require("pyarrow")
        table = conn.copy_arrow_out(QUERY, batch_rows=7000).read_all()
        assert isinstance(table, pa.Table) and table.num_rows == ROWS
        assert table.column("k").to_pylist() == list(range(1, ROWS + 1))
        assert conn.execute("SELECT 1").rows == [("1",)]
    assert calls  # the gathered reads were taken


def test_asyncio_rows_and_arrow(pg_server: Any, impl: Any) -> None:
    async def main() -> tuple[list[Any], Any]:
        aconn = await pcf.connect_async(pg_server.dsn)
        try:
            sql = f"COPY ({QUERY}) TO STDOUT (FORMAT binary)"
            async with aconn.copy_out(sql, ["int8", "text"]) as out:
                rows = [row async for row in out]
            table = await aconn.copy_arrow_out(QUERY, batch_rows=7000).read_all()
            return rows, table
        finally:
            await aconn.close()

    rows, table = asyncio.run(main())
    _check_rows(rows)
    assert table.column("k").to_pylist() == list(range(1, ROWS + 1))
