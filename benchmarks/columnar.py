"""Columnar COPY: pgcopy_fast's Arrow API beside ADBC, pgpq, connectorx, polars, pandas.

    python benchmarks/columnar.py --rows 1000000 --repeat 3 \\
        --json benchmarks/results/columnar-1M.json \\
        --markdown benchmarks/results/columnar-1M.md

Options: ``--rows N`` (default 1,000,000), ``--repeat R`` (median, default 3),
``--workloads wide,narrow``, ``--directions in,out``, ``--peers a,b`` (names
as in the legend, for either direction), ``--seed S``, ``--dsn DSN`` (default:
a throwaway cluster), ``--json FILE``, ``--markdown FILE``.

One run, the same data for every peer: the random realistic rows of
``pgcopy-fast bench`` (``make_rows``, from ``--seed``) turned once into a
pyarrow Table and written to an Arrow IPC file in a temporary directory, in
record batches of 65,536 rows.  Each measurement runs in a fresh process that
loads that file (and makes its own input from it: a pandas or polars
DataFrame, a converted table) before the clock starts.  Every peer reaches
the server the same way: TCP to 127.0.0.1 for the throwaway cluster (the
URI connectorx and polars need), or the host of ``--dsn``.

COPY IN: the target table is truncated before each run; after it the runner
checks ``count(*)`` and a hash of every row's text (``sum(hashtextextended
(t::text, 0))``) against the table loaded for COPY OUT, so a peer that loaded
other values than the others is reported so.  COPY OUT: one table, loaded
once with psycopg 3 binary COPY, read by every peer; the row count of what
it returns is checked.  Client CPU is user + system time of the measuring
process; peak RSS growth is its peak resident memory during the timed part
minus its RSS before it.  Runs are interleaved (peer after peer, R rounds) and
the median is reported.  Tables are uniquely named and dropped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from _common import add_server_args, measure, scratch_table, server_dsn

import pgcopy_fast as pcf
from pgcopy_fast.cli._bench import (
    DEFAULT_SEED,
    columns_of,
    csv_choice,
    make_rows,
    package_version,
    peak_mb,
    peak_reset,
)
from pgcopy_fast.connection.conninfo import resolve

WORKLOADS = ["wide", "narrow"]
DIRECTIONS = ["in", "out"]
BATCH_ROWS = 65_536
#: a measurement that takes longer than this is reported as failed
TIMEOUT_S = 1800


@dataclass(frozen=True)
class Peer:
    """One contender in one direction: its name and what it runs.

    A variant (``base`` set) runs the base peer on a converted input
    (``convert``, a key of CONVERTERS), on the ``workloads`` that need it.
    """

    name: str
    label: str
    base: str = ""
    convert: str = ""
    workloads: tuple[str, ...] = ("wide", "narrow")

    @property
    def runs(self) -> str:
        """The peer whose code runs."""
        return self.base or self.name


PEERS_IN = [
    Peer(
        "pgcopy_fast",
        "`conn = pgcopy_fast.connect(dsn)`; `conn.copy_arrow(table, arrow_table)`",
    ),
    Peer(
        "pgcopy_fast[pandas]",
        "`conn.copy_arrow(table, df)` of a pandas DataFrame "
        "(`arrow_table.to_pandas()`, made before the clock)",
    ),
    Peer(
        "pgcopy_fast[to_pylist]",
        "the row API as a baseline: `conn.copy_records(table, "
        "arrow_table.to_pylist())` (dicts; `to_pylist()` is inside the clock; "
        "`CodecOptions(json_str=True)` so the JSON text is stored as the object "
        "it spells)",
    ),
    Peer(
        "adbc",
        "`adbc_driver_postgresql.dbapi.connect(uri)`; "
        '`cursor.adbc_ingest(table, arrow_table, mode="append")`; `commit()`',
    ),
    Peer(
        "pgpq",
        "pgpq `ArrowToPostgresBinaryEncoder` into psycopg 3 "
        '`cursor.copy("COPY t FROM STDIN (FORMAT binary)")`: '
        "`write(encoder.write_header())`, `write(encoder.write_batch(b))` for each "
        "record batch, `write(encoder.finish())`, as pgpq's README shows (the "
        "encoder is built inside the clock)",
    ),
    Peer(
        "polars[adbc]",
        '`df.write_database(table, uri, if_table_exists="append", engine="adbc")` '
        "of a polars DataFrame (`pl.from_arrow(arrow_table)`, before the clock; "
        "the call opens its own connection)",
    ),
    Peer(
        "pandas[to_sql]",
        "`df.to_sql(table, sqlalchemy_conn, if_exists='append', index=False, "
        "method=psql_insert_copy)`: the COPY recipe of pandas' docs "
        '("insertion method": `csv.writer` into a StringIO, psycopg2 '
        "`copy_expert('COPY t (cols) FROM STDIN WITH CSV')`), SQLAlchemy "
        "`postgresql+psycopg2` engine; the DataFrame is `arrow_table.to_pandas()`",
    ),
    # the same peers on an input converted (before the clock) so that they can
    # load the wide table at all
    Peer(
        "adbc+arrow.json",
        "`adbc` given the JSON column as `arrow.json` (`pa.json_()`), the type "
        "ADBC takes for json / jsonb",
        base="adbc",
        convert="payload_arrow_json",
        workloads=("wide",),
    ),
    Peer(
        "polars[adbc]+arrow.json",
        "`polars[adbc]` given the JSON column as `arrow.json`",
        base="polars[adbc]",
        convert="payload_arrow_json",
        workloads=("wide",),
    ),
    Peer(
        "pandas[to_sql]+array_text",
        "`pandas[to_sql]` given the text[] column as PostgreSQL array literals "
        "(`{a,b}` strings; csv.writer would write a numpy array's repr)",
        base="pandas[to_sql]",
        convert="tags_array_text",
        workloads=("wide",),
    ),
]

PEERS_OUT = [
    Peer("pgcopy_fast", "`conn.copy_arrow_out(table).read_all()` (a pyarrow Table)"),
    Peer(
        "adbc",
        '`cursor.execute("SELECT * FROM t")`; `cursor.fetch_arrow_table()` '
        "(adbc_driver_postgresql.dbapi)",
    ),
    Peer(
        "connectorx",
        '`cx.read_sql(uri, "SELECT * FROM t", return_type="arrow")` (one '
        "connection, opened inside the call)",
    ),
    Peer(
        "connectorx[part2]",
        'the same with `partition_on="id", partition_num=2` (two connections '
        "reading in parallel)",
    ),
    Peer(
        "polars[cx]",
        '`pl.read_database_uri("SELECT * FROM t", uri)` (engine connectorx, '
        "the default)",
    ),
    Peer(
        "polars[adbc]",
        '`pl.read_database_uri("SELECT * FROM t", uri, engine="adbc")`',
    ),
    Peer(
        "pandas[read_sql]",
        '`pd.read_sql("SELECT * FROM t", sqlalchemy_conn)` (SQLAlchemy '
        "`postgresql+psycopg2` engine; a DataFrame of numpy / object columns)",
    ),
    Peer(
        "duckdb",
        "DuckDB's postgres extension: `ATTACH uri AS pg (TYPE postgres, "
        'READ_ONLY)`; `con.sql("SELECT * FROM pg.public.t").arrow()`; only if '
        "the extension loads without a download",
    ),
    Peer(
        "psycopg3[from_pylist]",
        "the row baseline: psycopg 3 `cursor.execute('SELECT * FROM t')`, "
        "`fetchall()` as dicts (`dict_row`; jsonb kept as its text), then "
        "`pyarrow.Table.from_pylist(rows, schema)` with the source table's schema",
    ),
]

PEERS = {"in": PEERS_IN, "out": PEERS_OUT}
PEER_BY_NAME = {d: {p.name: p for p in peers} for d, peers in PEERS.items()}
PEER_NAMES = list(dict.fromkeys(p.name for p in PEERS_IN + PEERS_OUT))


class Skip(Exception):
    """The peer cannot run here (not installed, an extension missing)."""


class NotAvailable(Exception):
    """The pgcopy_fast API measured is not there (yet)."""


# -- the data ------------------------------------------------------------------


def _arrow_type(sqltype: str) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    base = sqltype.split("(")[0]
    types: dict[str, Any] = {
        "int8": pa.int64(),
        "int4": pa.int32(),
        "float8": pa.float64(),
        "text": pa.string(),
        "timestamptz": pa.timestamp("us", tz="UTC"),
        "bool": pa.bool_(),
        "numeric": pa.decimal128(12, 2),
        "uuid": pa.uuid() if hasattr(pa, "uuid") else pa.binary(16),
        "jsonb": pa.string(),
        "text[]": pa.list_(pa.string()),
    }
    return types[base]


def arrow_table(workload: str, rows: list[tuple[Any, ...]]) -> Any:
    """The rows as a pyarrow Table: jsonb as JSON text, uuid as ``arrow.uuid``."""
    import orjson
    import pyarrow as pa

    arrays = {}
    for (name, sqltype), values in zip(
        columns_of(workload), zip(*rows, strict=True), strict=True
    ):
        typ = _arrow_type(sqltype)
        if sqltype == "jsonb":
            values = tuple(orjson.dumps(v).decode() for v in values)
        elif sqltype == "uuid" and typ == pa.binary(16):
            values = tuple(u.bytes for u in values)
        arrays[name] = pa.array(values, typ)
    return pa.table(arrays)


def write_ipc(table: Any, path: str) -> None:
    """The table to an Arrow IPC file, in record batches of BATCH_ROWS rows."""
    import pyarrow as pa

    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table, max_chunksize=BATCH_ROWS)


def read_ipc(path: str) -> Any:
    """The table of an IPC file, read into memory (not memory-mapped)."""
    import pyarrow as pa

    with pa.OSFile(path, "rb") as source:
        return pa.ipc.open_file(source).read_all()


# -- connections -----------------------------------------------------------------


def uri_of(dsn: str, tcp_loopback: bool) -> str:
    """A ``postgresql://`` URI of the DSN's first host, the form every peer takes.

    ``tcp_loopback``: the throwaway cluster's Unix socket is replaced by its
    TCP port on 127.0.0.1, which connectorx and polars can reach, so every
    peer goes the same way.
    """
    p = resolve(dsn)
    host, port = p.hosts[0]
    if tcp_loopback and host.startswith("/"):
        host = "127.0.0.1"
    auth = ""
    if p.user:
        auth = quote(p.user, safe="")
        if p.password:
            auth += ":" + quote(p.password, safe="")
        auth += "@"
    return f"postgresql://{auth}{quote(host, safe='')}:{port}/{quote(p.dbname or '', safe='')}"


def _sqlalchemy_conn(uri: str) -> Any:
    import sqlalchemy

    engine = sqlalchemy.create_engine(
        uri.replace("postgresql://", "postgresql+psycopg2://", 1)
    )
    return engine.connect()


def psql_insert_copy(table: Any, conn: Any, keys: list[str], data_iter: Any) -> None:
    """pandas' docs, "Insertion method": COPY of CSV through psycopg2."""
    dbapi_conn = conn.connection
    with dbapi_conn.cursor() as cur:
        s_buf = io.StringIO()
        writer = csv.writer(s_buf)
        writer.writerows(data_iter)
        s_buf.seek(0)
        columns = ", ".join([f'"{k}"' for k in keys])
        table_name = f"{table.schema}.{table.name}" if table.schema else table.name
        sql = f"COPY {table_name} ({columns}) FROM STDIN WITH CSV"
        cur.copy_expert(sql=sql, file=s_buf)


# -- the measured calls (in the worker) ---------------------------------------------


def _na(exc: BaseException) -> NotAvailable:
    return NotAvailable(f"{type(exc).__name__}: {_first_line(exc)}")


def prepare_in(peer: str, uri: str, table: str, data: Any) -> Callable[[], Any]:
    """Connect and build the peer's input; return the measured copy."""
    if peer == "pgcopy_fast" or peer == "pgcopy_fast[pandas]":
        conn = pcf.connect(uri)
        source = data.to_pandas() if peer == "pgcopy_fast[pandas]" else data
        if not hasattr(conn, "copy_arrow"):
            raise NotAvailable("no Connection.copy_arrow yet")

        def run() -> Any:
            try:
                return conn.copy_arrow(table, source)  # type: ignore[attr-defined]
            except (NotImplementedError, AttributeError) as exc:
                raise _na(exc) from exc

        return run
    if peer == "pgcopy_fast[to_pylist]":
        conn = pcf.connect(uri)
        options = pcf.CodecOptions(json_str=True)
        data.slice(0, 1).to_pylist()  # warm: pyarrow imports pandas for time zones
        return lambda: conn.copy_records(table, data.to_pylist(), options=options)
    if peer == "adbc":
        import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]

        aconn = adbc.connect(uri)
        cur = aconn.cursor()

        def ingest() -> Any:
            n = cur.adbc_ingest(table, data, mode="append")
            aconn.commit()
            return n

        return ingest
    if peer == "pgpq":
        import pgpq
        import psycopg

        pconn = psycopg.connect(uri, autocommit=True)
        encoders = _pgpq_encoders(data)

        def copy() -> None:
            if encoders:
                encoder = pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(
                    data.schema, encoders
                )
            else:
                encoder = pgpq.ArrowToPostgresBinaryEncoder(data.schema)
            with (
                pconn.cursor() as cursor,
                cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as cp,
            ):
                cp.write(encoder.write_header())
                for batch in data.to_batches():
                    cp.write(encoder.write_batch(batch))
                cp.write(encoder.finish())

        return copy
    if peer == "polars[adbc]":
        import adbc_driver_postgresql.dbapi  # noqa: F401  (the engine polars calls)
        import polars as pl

        df = pl.from_arrow(data)
        assert isinstance(df, pl.DataFrame)
        return lambda: df.write_database(
            table, uri, if_table_exists="append", engine="adbc"
        )
    if peer == "pandas[to_sql]":
        frame = data.to_pandas()
        sconn = _sqlalchemy_conn(uri)

        def to_sql() -> Any:
            n = frame.to_sql(
                table, sconn, if_exists="append", index=False, method=psql_insert_copy
            )
            sconn.commit()
            return n

        return to_sql
    raise SystemExit(f"unknown peer {peer}")


def _pgpq_encoders(data: Any) -> dict[str, Any]:
    """pgpq's README "Defining field encoders": the JSON text column as JSONB."""
    import pgpq
    from pgpq import encoders, schema

    if "payload" not in data.schema.names:
        return {}
    out: dict[str, Any] = {}
    for field in data.schema:
        if field.name == "payload":
            out[field.name] = encoders.StringEncoderBuilder.new_with_output(
                field, schema.Jsonb()
            )
        else:
            out[field.name] = pgpq.ArrowToPostgresBinaryEncoder.infer_encoder(field)
    return out


def prepare_out(peer: str, uri: str, table: str, data: Any) -> Callable[[], Any]:
    """Connect; return the measured read (it returns what the peer gives)."""
    query = f"SELECT * FROM {table}"
    if peer == "pgcopy_fast":
        conn = pcf.connect(uri)
        if not hasattr(conn, "copy_arrow_out"):
            raise NotAvailable("no Connection.copy_arrow_out yet")

        def run() -> Any:
            try:
                return conn.copy_arrow_out(table).read_all()
            except (NotImplementedError, AttributeError) as exc:
                raise _na(exc) from exc

        return run
    if peer == "adbc":
        import adbc_driver_postgresql.dbapi as adbc

        aconn = adbc.connect(uri)
        cur = aconn.cursor()

        def fetch() -> Any:
            cur.execute(query)
            return cur.fetch_arrow_table()

        return fetch
    if peer in ("connectorx", "connectorx[part2]"):
        import connectorx as cx

        if peer == "connectorx":
            return lambda: cx.read_sql(uri, query, return_type="arrow")
        return lambda: cx.read_sql(
            uri, query, return_type="arrow", partition_on="id", partition_num=2
        )
    if peer == "polars[cx]":
        import connectorx  # noqa: F401  (the engine polars calls)
        import polars as pl

        return lambda: pl.read_database_uri(query, uri)
    if peer == "polars[adbc]":
        import adbc_driver_postgresql.dbapi  # noqa: F401  (the engine polars calls)
        import polars as pl

        return lambda: pl.read_database_uri(query, uri, engine="adbc")
    if peer == "pandas[read_sql]":
        import pandas as pd

        sconn = _sqlalchemy_conn(uri)
        return lambda: pd.read_sql(query, sconn)
    if peer == "duckdb":
        import duckdb

        con = duckdb.connect()
        try:
            con.execute("SET autoinstall_known_extensions = false")
            con.execute("SET autoload_known_extensions = false")
            con.execute("LOAD postgres")
        except duckdb.Error as exc:
            raise Skip(
                "its postgres extension is not installed here and DuckDB cannot "
                "download it offline (`LOAD postgres` fails)"
            ) from exc
        con.execute(f"ATTACH '{uri}' AS pg (TYPE postgres, READ_ONLY)")

        def scan() -> Any:
            got = con.sql(f"SELECT * FROM pg.public.{table}").arrow()
            return got.read_all() if hasattr(got, "read_all") else got

        return scan
    if peer == "psycopg3[from_pylist]":
        import psycopg
        import pyarrow as pa
        from psycopg.rows import dict_row
        from psycopg.types.string import TextLoader

        pconn = psycopg.connect(uri, autocommit=True)
        pconn.adapters.register_loader("jsonb", TextLoader)  # the JSON text
        schema = data.schema
        # warm: pyarrow imports pandas for time zones on first use
        pa.Table.from_pylist(data.slice(0, 1).to_pylist(), schema=schema)

        def rows_then_arrow() -> Any:
            with pconn.cursor(row_factory=dict_row) as cur:
                cur.execute(query)
                rows = cur.fetchall()
            return pa.Table.from_pylist(rows, schema=schema)

        return rows_then_arrow
    raise SystemExit(f"unknown peer {peer}")


def _result_rows(result: Any) -> int:
    if hasattr(result, "num_rows"):
        return int(result.num_rows)
    if hasattr(result, "height"):  # polars
        return int(result.height)
    return len(result)


def _result_types(result: Any) -> list[str]:
    import pyarrow as pa

    if isinstance(result, pa.Table):
        return [f"{f.name}: {f.type}" for f in result.schema]
    if hasattr(result, "schema"):  # polars
        return [f"{name}: {typ}" for name, typ in result.schema.items()]
    return [f"{name}: {typ}" for name, typ in result.dtypes.items()]  # pandas


def _payload_arrow_json(table: Any) -> Any:
    """The JSON text column as the ``arrow.json`` extension type."""
    import pyarrow as pa

    i = table.schema.get_field_index("payload")
    col = table.column(i)
    typ = pa.json_()
    json_col = pa.chunked_array(
        [pa.ExtensionArray.from_storage(typ, c) for c in col.chunks], typ
    )
    return table.set_column(i, pa.field("payload", typ), json_col)


def _tags_array_text(table: Any) -> Any:
    """The list<string> column as PostgreSQL array literals (text)."""
    import pyarrow as pa

    def literal(items: list[str]) -> str:
        quoted = (
            '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items
        )
        return "{" + ",".join(quoted) + "}"

    i = table.schema.get_field_index("tags")
    text = pa.array([literal(v) for v in table.column(i).to_pylist()], pa.string())
    return table.set_column(i, pa.field("tags", pa.string()), text)


#: conversion key -> (the function, before the clock)
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "payload_arrow_json": _payload_arrow_json,
    "tags_array_text": _tags_array_text,
}


def worker(args: argparse.Namespace) -> None:
    """Measure one peer on one workload and direction; print a JSON line."""
    data = read_ipc(args.data)
    peer = PEER_BY_NAME[args.direction][args.peer]
    try:
        if peer.convert:
            data = CONVERTERS[peer.convert](data)
        prepare = prepare_in if args.direction == "in" else prepare_out
        run = prepare(peer.runs, args.uri, args.table, data)
    except ModuleNotFoundError as exc:
        _emit({"skipped": f"not installed: {exc.name}"})
        return
    except Skip as exc:
        _emit({"skipped": str(exc)})
        return
    except NotAvailable as exc:
        _emit({"na": str(exc)})
        return
    modules = set(sys.modules)
    rss0 = peak_reset()
    try:
        with measure() as t:
            result = run()
    except NotAvailable as exc:
        _emit({"na": str(exc)})
        return
    except Exception as exc:
        _emit({"error": f"{type(exc).__name__}: {_first_line(exc)}"})
        return
    peak = peak_mb()
    out: dict[str, Any] = {
        "wall": t.wall,
        "cpu": t.cpu,
        "rss_growth_mb": max(0.0, peak - rss0),
        # lazy imports inside the clock (a first-call cost, not a per-row one)
        "imported_in_clock": sorted(
            {m.split(".")[0] for m in set(sys.modules) - modules} - {"__main__"}
        ),
    }
    if args.direction == "out":
        out["rows_returned"] = _result_rows(result)
        out["types"] = _result_types(result)
    _emit(out)


def _emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] + ("…" if len(text) > 200 else "")


# -- the runner ------------------------------------------------------------------


def _say(t0: float, message: str) -> None:
    print(
        f"columnar {time.perf_counter() - t0:6.0f}s  {message}",
        file=sys.stderr,
        flush=True,
    )


def _run_worker(
    peer: str, workload: str, direction: str, uri: str, table: str, data: str
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--peer",
        peer,
        "--workload",
        workload,
        "--direction",
        direction,
        "--uri",
        uri,
        "--table",
        table,
        "--data",
        data,
    ]
    os.sync()  # the last run's table pages go to disk now, not during this run
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT_S} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"]
        return {"error": f"worker died: {tail[-1][:200]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _digest(conn: Any, table: str) -> tuple[int, str]:
    """Row count and an order-free hash of every row's text."""
    rows = conn.execute(
        f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)"
        f"::text FROM {table} t"
    ).rows
    return int(rows[0][0]), str(rows[0][1])


def _load_source(
    uri: str, table: str, workload: str, rows: list[tuple[Any, ...]]
) -> None:
    import psycopg

    types = [typ.split("(")[0] for _, typ in columns_of(workload)]
    with (
        psycopg.connect(uri, autocommit=True) as pconn,
        pconn.cursor() as cur,
    ):
        with cur.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as cp:
            cp.set_types(types)
            for r in rows:
                cp.write_row(r)
        cur.execute(f"ANALYZE {table}")


def _environment(uri: str) -> dict[str, Any]:
    with pcf.connect(uri) as conn:
        server = conn.execute("SHOW server_version").rows[0][0]
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "server": server,
        "cpus": os.cpu_count(),
        "pgcopy_fast": f"{pcf.__version__} ({pcf.__impl__})",
    }
    for dist in (
        "pyarrow",
        "polars",
        "pandas",
        "numpy",
        "adbc-driver-postgresql",
        "pgpq",
        "connectorx",
        "duckdb",
        "psycopg",
        "psycopg2-binary",
        "sqlalchemy",
    ):
        env[dist] = package_version(dist)
    if env["psycopg2-binary"] is None:
        env["psycopg2"] = package_version("psycopg2")
        del env["psycopg2-binary"]
    return env


def _summary(
    peer: str, workload: str, direction: str, rows: int, items: list[dict[str, Any]]
) -> dict[str, Any]:
    base: dict[str, Any] = {"peer": peer, "workload": workload, "direction": direction}
    for item in items:
        for key in ("skipped", "na", "error", "wrong"):
            if key in item:
                return {**base, key: item[key]}
    wall = statistics.median(i["wall"] for i in items)
    cpu = statistics.median(i["cpu"] for i in items)
    out = {
        **base,
        "wall_s": round(wall, 6),
        "rows_per_s": round(rows / wall),
        "client_cpu_s": round(cpu, 6),
        "client_cpu_us_per_row": round(cpu / rows * 1e6, 3),
        "rss_growth_mb": round(max(i["rss_growth_mb"] for i in items), 1),
        "runs": [{"wall": i["wall"], "cpu": i["cpu"]} for i in items],
        "imported_in_clock": items[0].get("imported_in_clock", []),
    }
    if "types" in items[0]:
        out["types"] = items[0]["types"]
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _short(reason: str) -> str:
    """The gist of a failure, for a table cell: the server's message and column."""
    gist = re.split(r"\s*\b(?:CONTEXT|DETAIL|HINT):|\.?\s*SQLSTATE", reason)[0]
    server = "ERROR:" in gist or "CONTEXT:" in reason
    gist = gist.split("ERROR:")[-1].strip()
    column = re.search(r"\bCONTEXT:.*?\bcolumn (\w+)", reason)
    if server:
        gist = re.sub(r"^\w+: ", "", gist)  # the driver's exception class
        gist = "server: " + gist + (f" (column {column.group(1)})" if column else "")
    return gist if len(gist) <= 120 else gist[:120] + "…"


def _markdown(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.rows:,} random rows per run (seed {args.seed}; the same rows for every "
        f"peer), median of {args.repeat}, peers interleaved, each run in a fresh "
        "process. Client CPU = user + system time of the measuring process; CPU "
        "µs/row = client CPU / rows; peak RSS growth = its peak resident memory "
        "during the timed part minus its RSS before it (the input is loaded before "
        "the clock starts).",
    ]
    for workload, direction in dict.fromkeys(
        (r["workload"], r["direction"]) for r in results
    ):
        cols = ", ".join(f"{n} {t}" for n, t in columns_of(workload))
        lines += [
            "",
            f"### {workload} COPY {direction.upper()} (`{cols}`)",
            "",
            "| peer | wall s | rows/s | client CPU s | CPU µs/row | peak RSS growth MB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in results:
            if (r["workload"], r["direction"]) != (workload, direction):
                continue
            name = r["peer"]
            if "wall_s" in r:
                lines.append(
                    f"| {name} | {r['wall_s']:.3f} | {r['rows_per_s']:,} | "
                    f"{r['client_cpu_s']:.3f} | {r['client_cpu_us_per_row']:.3f} | "
                    f"{r['rss_growth_mb']} |"
                )
                continue
            if "na" in r:
                reason = f"n/a ({r['na']})"
            elif "skipped" in r:
                reason = f"skipped: {r['skipped']}"
            elif "wrong" in r:
                reason = f"WRONG: {r['wrong']}"
            else:
                reason = f"failed: {_short(r['error'])}"
            lines.append(f"| {name} | {_cell(reason)} | | | | |")
    return "\n".join(lines)


def _legend(results: list[dict[str, Any]], env: dict[str, Any]) -> str:
    lines = ["Peers:", ""]
    for direction in DIRECTIONS:
        shown = {r["peer"] for r in results if r["direction"] == direction}
        for p in PEERS[direction]:
            if p.name in shown:
                lines.append(f"- {direction.upper()} `{p.name}`: {p.label}.")
    lines += [
        "",
        "The input of every IN peer is the same pyarrow Table (read from an Arrow "
        f"IPC file, record batches of {BATCH_ROWS:,} rows): int64, int32, float64, "
        "string, timestamp[us, tz=UTC], bool, decimal128(12, 2), "
        + (
            "arrow.uuid"
            if "arrow.uuid" in str(_arrow_type("uuid"))
            else "fixed_size_binary(16)"
        )
        + ", string (JSON text), list<string>. After each IN run the runner "
        "checks the row count and a hash of every row's text against the table "
        "psycopg 3 loaded from the same rows.",
    ]
    failed = [r for r in results if "error" in r or "wrong" in r]
    if failed:
        lines += ["", "What failed (a finding, not a crash of the benchmark):", ""]
        for r in failed:
            why = r.get("error") or r.get("wrong")
            lines.append(
                f"- {r['workload']} {r['direction'].upper()} `{r['peer']}`: {why}"
            )
    other = [r for r in results if "skipped" in r or "na" in r]
    if other:
        lines += ["", "Not measured:", ""]
        for r in other:
            why = r.get("skipped") or f"n/a: {r.get('na')}"
            lines.append(
                f"- {r['workload']} {r['direction'].upper()} `{r['peer']}`: {why}"
            )
    typed = [r for r in results if r.get("types") and r["workload"] == "wide"]
    if typed:
        lines += ["", "What each OUT peer returned for the wide table:", ""]
        for r in typed:
            lines.append(f"- `{r['peer']}`: " + "; ".join(f"`{t}`" for t in r["types"]))
    versions = ", ".join(
        f"{k} {v}"
        for k, v in env.items()
        if k not in ("python", "server", "cpus") and v
    )
    lines += [
        "",
        f"PostgreSQL {env['server']}, Python {env['python']}, {env['cpus']} CPUs; "
        f"{versions}.",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """The whole comparison; the exit status."""
    t0 = time.perf_counter()
    # kill / a closed terminal: unwind, so that the tables are dropped
    signal.signal(signal.SIGTERM, _unwind)
    wanted = set(args.peers or PEER_NAMES)
    plan = [
        (w, d, [p.name for p in PEERS[d] if p.name in wanted and w in p.workloads])
        for w in args.workloads
        for d in args.directions
    ]
    total = sum(len(peers) for _, _, peers in plan) * args.repeat
    _say(
        t0,
        f"{args.rows:,} rows per run, {args.repeat} runs per peer, {total} measurements",
    )
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        if not args.dsn:
            _say(t0, "starting a throwaway PostgreSQL server")
        dsn = stack.enter_context(server_dsn(args.dsn))
        uri = uri_of(dsn, tcp_loopback=not args.dsn)
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        env = _environment(uri)
        admin = stack.enter_context(contextlib.closing(pcf.connect(uri)))
        done = 0
        for workload in args.workloads:
            _say(t0, f"{workload}: generating {args.rows:,} rows (seed {args.seed})")
            rows = make_rows(workload, args.rows, args.seed)
            data = os.path.join(tmp, f"{workload}.arrow")
            write_ipc(arrow_table(workload, rows), data)
            cols = ", ".join(f"{n} {t}" for n, t in columns_of(workload))
            source = stack.enter_context(
                scratch_table(dsn, f"pcf_columnar_{workload}", cols)
            )
            target = stack.enter_context(
                scratch_table(dsn, f"pcf_columnar_{workload}_in", cols)
            )
            _say(t0, f"{workload}: loading {source} with psycopg 3 COPY")
            _load_source(uri, source, workload, rows)
            del rows
            expected = _digest(admin, source)
            for w, direction, peers in plan:
                if w != workload:
                    continue
                runs: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
                skipped: dict[str, dict[str, Any]] = {}
                for i in range(args.repeat):
                    for peer in peers:  # interleaved
                        done += 1
                        if peer in skipped:
                            result = skipped[peer]
                        else:
                            table = target if direction == "in" else source
                            if direction == "in":
                                admin.execute(f"TRUNCATE {target}")
                            result = _run_worker(
                                peer, workload, direction, uri, table, data
                            )
                            if "wall" in result:
                                result.update(
                                    _check(
                                        result,
                                        direction,
                                        admin,
                                        target,
                                        expected,
                                        args.rows,
                                    )
                                )
                            if "skipped" in result or "na" in result:
                                skipped[peer] = result
                        runs[peer].append(result)
                        _say(
                            t0,
                            f"[{done}/{total}] {workload} {direction} {peer} (run {i + 1}): {_outcome(result)}",
                        )
                for peer, items in runs.items():
                    results.append(
                        _summary(peer, workload, direction, args.rows, items)
                    )
    text = "\n".join([_markdown(results, args), "", _legend(results, env)])
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "command": " ".join(sys.argv),
                    "rows": args.rows,
                    "repeat": args.repeat,
                    "seed": args.seed,
                    "environment": env,
                    "results": results,
                },
                f,
                indent=2,
            )
    return 0


def _unwind(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _check(
    result: dict[str, Any],
    direction: str,
    admin: Any,
    target: str,
    expected: tuple[int, str],
    rows: int,
) -> dict[str, Any]:
    """{"wrong": why} when the peer did not move the rows it was given."""
    if direction == "out":
        got = result.get("rows_returned")
        return {} if got == rows else {"wrong": f"returned {got:,} rows, not {rows:,}"}
    count, digest = _digest(admin, target)
    if count != expected[0]:
        return {"wrong": f"loaded {count:,} rows, not {expected[0]:,}"}
    if digest != expected[1]:
        return {
            "wrong": f"loaded {count:,} rows, but other values than the source table"
        }
    return {}


def _outcome(result: dict[str, Any]) -> str:
    if "wrong" in result:
        return f"WRONG: {result['wrong']}"
    if "wall" in result:
        return f"{result['wall']:.3f} s wall, {result['cpu']:.3f} s client CPU"
    if "na" in result:
        return f"n/a: {result['na']}"
    return result.get("skipped") or f"FAILED: {result.get('error')}"


def main() -> None:
    """Parse the options; run the comparison or, with --worker, one measurement."""
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="peers:\n"
        + "\n".join(f"  {d.upper():<4}{p.name}" for d in DIRECTIONS for p in PEERS[d]),
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per peer (median)")
    parser.add_argument(
        "--workloads", type=csv_choice(WORKLOADS, "workload"), default=WORKLOADS
    )
    parser.add_argument(
        "--directions", type=csv_choice(DIRECTIONS, "direction"), default=DIRECTIONS
    )
    parser.add_argument(
        "--peers",
        type=csv_choice(PEER_NAMES, "peer"),
        help="comma-separated subset of: " + ", ".join(PEER_NAMES),
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the rows"
    )
    add_server_args(parser)
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument("--markdown", help="write the tables and legend here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--direction", help=argparse.SUPPRESS)
    parser.add_argument("--uri", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sys.exit(run(args))


if __name__ == "__main__":
    main()
