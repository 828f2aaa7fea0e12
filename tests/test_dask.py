"""Dask round trips on a real ``dask.distributed.LocalCluster`` of worker processes.

``to_postgres`` writes each partition from its worker (atomic or not, a
failing partition with ``atomic=True`` leaves the table unchanged and no
staging table behind); ``read_postgres`` reads partitions in one snapshot.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import require

import pgcopy_fast as pcf

pytestmark = pytest.mark.kernel_free  # the workers run the selected twin


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = require("distributed")
    require("dask.dataframe")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture
def table(pg_server: Any) -> Iterator[str]:
    name = f"dk_{secrets.token_hex(3)}"
    with pg_server.connect() as conn:
        conn.execute(f"CREATE TABLE {name} (k int8, v int2, s text)")
    yield name
    with pg_server.connect() as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


def _frame(n: int, bad_at: int | None = None) -> Any:
    pd = require("pandas")
    dd = require("dask.dataframe")
    v = [i % 1000 for i in range(n)]
    if bad_at is not None:
        v[bad_at] = 100000
    frame = pd.DataFrame({"k": range(n), "v": v, "s": [f"r{i}" for i in range(n)]})
    return dd.from_pandas(frame, npartitions=4)


def _stats(pg_server: Any, name: str) -> tuple[Any, ...]:
    with pg_server.connect() as conn:
        return tuple(conn.execute(f"SELECT count(*), sum(k) FROM {name}").rows[0])


def _staging(pg_server: Any) -> list[Any]:
    with pg_server.connect() as conn:
        rows: list[Any] = conn.execute(
            "SELECT relname FROM pg_class WHERE relname LIKE 'pgcopy_fast_stage_%'"
        ).rows
        return rows


@pytest.mark.parametrize("atomic", [False, True])
def test_to_postgres_round_trip(
    client: Any, pg_server: Any, table: str, atomic: bool
) -> None:
    import pgcopy_fast.dask as pcd

    n = 20000
    assert pcd.to_postgres(_frame(n), table, pg_server.dsn, atomic=atomic) == n
    assert _stats(pg_server, table) == (str(n), str(n * (n - 1) // 2))
    assert _staging(pg_server) == []
    back = pcd.read_postgres(pg_server.dsn, table, npartitions=3)
    assert back.npartitions == 3
    frame = back.compute()
    assert len(frame) == n and int(frame["k"].sum()) == n * (n - 1) // 2
    by_key = pcd.read_postgres(
        pg_server.dsn, f"SELECT k, s FROM {table} WHERE v < 10", 4, partition_on="k"
    ).compute()
    assert sorted(by_key["k"]) == [k for k in range(n) if k % 1000 < 10]
    pcd.release_snapshots()


def test_a_failing_partition_with_atomic_leaves_the_table_unchanged(
    client: Any, pg_server: Any, table: str
) -> None:
    import pgcopy_fast.dask as pcd

    with pytest.raises(pcf.EncodeError):
        pcd.to_postgres(_frame(8000, bad_at=7000), table, pg_server.dsn, atomic=True)
    assert _stats(pg_server, table)[0] == "0"
    assert _staging(pg_server) == []


def test_without_atomic_the_error_names_what_committed(
    client: Any, pg_server: Any, table: str
) -> None:
    import pgcopy_fast.dask as pcd

    with pytest.raises(pcf.EncodeError, match="partitions committed: 0, 1, 2"):
        pcd.to_postgres(_frame(8000, bad_at=7000), table, pg_server.dsn)
    assert _stats(pg_server, table)[0] == "6000"
