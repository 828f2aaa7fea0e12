"""Parallel COPY: ``copy_arrow(jobs=N)`` and ``copy_arrow_out(jobs=N)``.

Loads over several connections add up (count and sum) whatever the input;
a failure or an interrupt with ``atomic=True`` leaves the table unchanged
and no staging table behind (``pg_class`` is the judge); a partitioned read
sees one snapshot while another session moves money between rows.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import require

import pgcopy_fast as pcf
from pgcopy_fast.errors import EncodeError, InterfaceError

pa = require("pyarrow")

ROWS = 40000


@pytest.fixture
def table(conn: pcf.Connection) -> Iterator[str]:
    name = f"par_{secrets.token_hex(3)}"
    conn.execute(f"CREATE TABLE {name} (k int8, v int2, s text)")
    yield name
    conn.execute(f"DROP TABLE IF EXISTS {name}")


def _data(rows: int = ROWS, bad_at: int | None = None) -> Any:
    v = [i % 1000 for i in range(rows)]
    if bad_at is not None:
        v[bad_at] = 100000  # does not fit int2
    table = pa.table(
        {
            "k": pa.array(range(rows), pa.int64()),
            "v": pa.array(v, pa.int64()),
            "s": [f"row {i}" for i in range(rows)],
        }
    )
    return pa.Table.from_batches(table.to_batches(max_chunksize=3000))


def _stats(conn: pcf.Connection, name: str) -> tuple[Any, ...]:
    return tuple(conn.execute(f"SELECT count(*), sum(k), sum(v) FROM {name}").rows[0])


def _staging(conn: pcf.Connection) -> list[Any]:
    return conn.execute(
        "SELECT relname FROM pg_class WHERE relname LIKE 'pgcopy_fast_stage_%'"
    ).rows


@pytest.mark.parametrize("atomic", [False, True])
def test_parallel_load_adds_up(
    conn: pcf.Connection, impl: Any, table: str, atomic: bool
) -> None:
    assert conn.copy_arrow(table, _data(), jobs=3, atomic=atomic) == ROWS
    expected = (
        str(ROWS),
        str(ROWS * (ROWS - 1) // 2),
        str(sum(i % 1000 for i in range(ROWS))),
    )
    assert _stats(conn, table) == expected
    assert _staging(conn) == []


def test_atomic_failure_leaves_the_table_unchanged(
    conn: pcf.Connection, impl: Any, table: str
) -> None:
    conn.copy_arrow(table, _data(10))
    with pytest.raises(EncodeError) as info:
        conn.copy_arrow(table, _data(bad_at=ROWS - 5), jobs=3, atomic=True)
    assert info.value.row_index == ROWS - 5 and info.value.column == "v"
    assert _stats(conn, table)[0] == "10"
    assert _staging(conn) == []
    assert conn.execute("SELECT 1").rows == [("1",)]


@pytest.mark.parametrize("bad_at", [100, ROWS - 2])
def test_failure_without_atomic_commits_nothing(
    conn: pcf.Connection, impl: Any, table: str, bad_at: int
) -> None:
    # a failure at the last rows too: the jobs that had ended roll back
    with pytest.raises(EncodeError, match="nothing committed: every job rolled back"):
        conn.copy_arrow(table, _data(bad_at=bad_at), jobs=3)
    assert _stats(conn, table)[0] == "0"
    assert _staging(conn) == []


@pytest.mark.parametrize("atomic", [False, True])
def test_interrupt_stops_every_job(
    conn: pcf.Connection,
    impl: Any,
    table: str,
    atomic: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pgcopy_fast.parallel import jobs

    real = jobs.put
    calls = []

    def interrupted(shared: Any, item: Any, stop: threading.Event) -> None:
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt  # Ctrl-C lands in the feeding main thread
        real(shared, item, stop)

    monkeypatch.setattr(jobs, "put", interrupted)
    with pytest.raises(KeyboardInterrupt):
        conn.copy_arrow(table, _data(), jobs=3, atomic=atomic)
    # every job's COPY ended with CopyFail: nothing of this load committed
    assert _stats(conn, table)[0] == "0"
    assert _staging(conn) == []
    assert conn.execute("SELECT 1").rows == [("1",)]


def test_jobs_refuse_a_transaction_block(
    conn: pcf.Connection, impl: Any, table: str
) -> None:
    conn.execute("BEGIN")
    with pytest.raises(InterfaceError, match="transaction block"):
        conn.copy_arrow(table, _data(10), jobs=2)
    conn.execute("ROLLBACK")


def test_partitioned_read_by_ctid_and_by_key(
    conn: pcf.Connection, impl: Any, table: str
) -> None:
    conn.copy_arrow(table, _data())
    by_ctid = conn.copy_arrow_out(table, jobs=3, batch_rows=5000).read_all()
    assert by_ctid.num_rows == ROWS
    assert sorted(by_ctid.column("k").to_pylist()) == list(range(ROWS))
    query = f"SELECT k, s FROM {table} WHERE k % 2 = 0"
    by_key = conn.copy_arrow_out(query, jobs=4, partition_on="k").read_all()
    assert sorted(by_key.column("k").to_pylist()) == list(range(0, ROWS, 2))
    with pytest.raises(InterfaceError, match="partition_on"):
        conn.copy_arrow_out(query, jobs=2)
    assert conn.transaction_status is pcf.TransactionStatus.IDLE


def test_partitioned_read_sees_one_snapshot(
    conn: pcf.Connection, pg_server: Any, impl: Any
) -> None:
    name = f"bank_{secrets.token_hex(3)}"
    conn.execute(
        f"CREATE TABLE {name} AS SELECT g AS id, 1000::int8 AS balance "
        "FROM generate_series(1, 20000) g"
    )
    stop = threading.Event()

    def transfers() -> None:
        # money moves from the last rows to the first ones, each transfer
        # one transaction: the total never changes in any snapshot
        with pg_server.connect() as mover:
            i = 0
            while not stop.is_set():
                a, b = 1 + i % 100, 20000 - i % 100
                mover.execute(
                    f"BEGIN; UPDATE {name} SET balance = balance + 7 WHERE id = {a}; "
                    f"UPDATE {name} SET balance = balance - 7 WHERE id = {b}; COMMIT"
                )
                i += 1

    mover = threading.Thread(target=transfers)
    mover.start()
    try:
        totals = []
        for _ in range(3):
            table = conn.copy_arrow_out(name, jobs=4, batch_rows=1000).read_all()
            assert table.num_rows == 20000
            totals.append(sum(table.column("balance").to_pylist()))
    finally:
        stop.set()
        mover.join()
        conn.execute(f"DROP TABLE {name}")
    assert totals == [20000 * 1000] * 3


def test_asyncio_jobs(pg_server: Any, impl: Any) -> None:
    name = f"apar_{secrets.token_hex(3)}"

    async def main() -> tuple[int, Any]:
        aconn = await pcf.connect_async(pg_server.dsn)
        try:
            await aconn.execute(f"CREATE TABLE {name} (k int8, v int2, s text)")
            n = await aconn.copy_arrow(name, _data(), jobs=2, atomic=True)
            table = await aconn.copy_arrow_out(name, jobs=2).read_all()
            return n, table
        finally:
            await aconn.execute(f"DROP TABLE IF EXISTS {name}")
            await aconn.close()

    n, table = asyncio.run(main())
    assert n == ROWS and table.num_rows == ROWS


@pytest.mark.parametrize("atomic", [False, True])
def test_copy_records_jobs(
    conn: pcf.Connection, impl: Any, table: str, atomic: bool
) -> None:
    records = ({"k": i, "v": i % 1000, "s": f"r{i}"} for i in range(ROWS))
    assert conn.copy_records(table, records, jobs=3, atomic=atomic) == ROWS
    assert _stats(conn, table)[:2] == (str(ROWS), str(ROWS * (ROWS - 1) // 2))
    bad = [(i, 100000 if i == 25003 else 1, "x") for i in range(ROWS)]
    conn.execute(f"TRUNCATE {table}")
    with pytest.raises(EncodeError) as info:
        conn.copy_records(table, bad, jobs=3, atomic=True)
    assert info.value.row_index == 25003 and str(info.value).startswith("row 25003,")
    assert _stats(conn, table)[0] == "0" and _staging(conn) == []


@pytest.mark.parametrize("atomic", [False, True])
def test_jobs_load_identity_and_generated_columns_alike(
    conn: pcf.Connection, impl: Any, pg_server: Any, atomic: bool
) -> None:
    # atomic or not, a job's rows land as a COPY would put them: identity
    # values from the data kept, generated columns computed; the staging
    # tables live in the table's schema, with a search_path that has none
    conn.execute(
        'DROP SCHEMA IF EXISTS "Par Schema" CASCADE; CREATE SCHEMA "Par Schema"; '
        'CREATE TABLE "Par Schema".gen (id int8 GENERATED ALWAYS AS IDENTITY, '
        "v int4, twice int4 GENERATED ALWAYS AS (v * 2) STORED)"
    )
    target = ("Par Schema", "gen")
    dsn = f"{pg_server.dsn} options='-c search_path=nowhere'"
    with pcf.connect(dsn) as other:
        data = pa.table({"id": pa.array(range(10000, 15000), pa.int64()),
                         "v": pa.array(range(5000), pa.int32())})  # fmt: skip
        assert other.copy_arrow(target, data, jobs=2, atomic=atomic) == 5000
        rows = ((i,) for i in range(5000))
        assert other.copy_records(target, rows, ["v"], jobs=2, atomic=atomic) == 5000
    got = conn.execute(
        'SELECT count(*), min(id), sum(twice), count(DISTINCT id) FROM "Par Schema".gen'
    ).rows
    assert got == [("10000", "1", str(2 * 2 * sum(range(5000))), "10000")]
    assert _staging(conn) == []
    conn.execute('DROP SCHEMA "Par Schema" CASCADE')
