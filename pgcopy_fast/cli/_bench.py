"""pgcopy_fast side by side with its peers and the server's own ceiling.

    pgcopy-fast bench [--rows N] [--repeat R] [--dsn DSN]
                      [--workloads wide,narrow] [--directions in,out]
                      [--peers a,b] [--json FILE] [--markdown FILE]
    pgcopy-fast bench --per-column [--rows N] [--types int8,jsonb] ...

(``python benchmarks/compare.py`` takes the same options.)

One run, the same rows for every peer (random, from a fixed seed, generated
before the clock starts), one throwaway server (or ``--dsn``: then the
tables are uniquely named and dropped at the end, whatever happens).  Each
measurement runs in a fresh worker process, so its client CPU time (user +
system, from getrusage, psql's included for the psql ceiling) and its RSS
growth are its own.  Peers that are not installed are reported as skipped.
Runs are interleaved and the median of ``--repeat`` is reported.  Every peer
that handles JSON gets the same JSON library, orjson.

``--per-column`` prints µs per value for each column type instead: the
client CPU of a COPY of a ``(k int4, v TYPE)`` table minus that of a
``(k int4)`` table of the same rows, per row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import gc
import io
import json
import os
import platform
import random
import resource
import secrets
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

# -- what is measured -------------------------------------------------------------

WORKLOADS = {
    "wide": [
        ("id", "int8"),
        ("qty", "int4"),
        ("price", "float8"),
        ("name", "text"),
        ("created", "timestamptz"),
        ("flag", "bool"),
        ("amount", "numeric(12,2)"),
        ("uid", "uuid"),
        ("payload", "jsonb"),
        ("tags", "text[]"),
    ],
    "narrow": [("id", "int8"), ("qty", "int4"), ("price", "float8")],
}

#: The column types of the per-column table (those of the wide rows).
COLUMN_TYPES = [typ for _, typ in WORKLOADS["wide"]]

#: The per-column baseline: a row of one int4 column.
BASELINE = "col"

DIRECTIONS = ["in", "out"]
DEFAULT_SEED = 20240601
TIMES = "\N{MULTIPLICATION SIGN}"


@dataclass(frozen=True)
class Peer:
    """One contender: its name, directions, what it runs, and its JSON library."""

    name: str
    directions: tuple[str, ...]
    label: str
    json: str


_PCF_JSON = "orjson, built in (results exactly the stdlib's)"
_ADAPTER = (
    "pgcopy_fast's encoder and decoder on a connection of {0}: "
    "`pcf.copy_records(conn, table, rows, columns)` / "
    "`pcf.copy_records_out(conn, table)`"
)

PEERS = [
    Peer(
        "pgcopy_fast[c]",
        ("in", "out"),
        "pgcopy_fast with its compiled (Cython) kernel, the one a wheel or a build "
        "gives; blocking connection: `conn.copy_in(sql, types).write_rows(rows)`, "
        "`for row in conn.copy_out(sql, types)`",
        _PCF_JSON,
    ),
    Peer(
        "pgcopy_fast[async]",
        ("in", "out"),
        "the same compiled kernel on the asyncio connection (`pcf.connect_async`)",
        _PCF_JSON,
    ),
    Peer(
        "pgcopy_fast[py]",
        ("in", "out"),
        "pgcopy_fast's pure-Python twin (`PGCOPY_FAST_IMPL=python`): what runs "
        "where the compiled kernel is not there; blocking connection",
        _PCF_JSON,
    ),
    Peer(
        "psycopg3",
        ("in", "out"),
        "psycopg 3 binary COPY: `cursor.copy(...)`, `copy.set_types(types)`, "
        "`copy.write_row(row)` for each row / `for row in copy.rows()`",
        "orjson via `psycopg.types.json.set_json_dumps(orjson.dumps)` / "
        "`set_json_loads(orjson.loads)`",
    ),
    Peer(
        "asyncpg",
        ("in",),
        "asyncpg `conn.copy_records_to_table(table, records=rows, columns=...)` "
        "(binary COPY)",
        "orjson via `conn.set_type_codec('jsonb', format='binary', ...)` "
        "(binary jsonb is a version byte and the text; COPY takes no text codec)",
    ),
    Peer(
        "asyncpg_fetch",
        ("out",),
        "asyncpg has no COPY OUT that decodes rows: `conn.fetch('SELECT * FROM t')` "
        "(binary protocol) stands in; `--peers asyncpg` selects it too",
        "orjson via `conn.set_type_codec('jsonb', format='binary', ...)`",
    ),
    Peer(
        "pgcopy",
        ("in",),
        "pgcopy `CopyManager(conn, table, columns).copy(rows)` on psycopg2 "
        "(binary COPY through a temporary file)",
        "orjson via a `jsonb` entry in `CopyManager.type_formatters`",
    ),
    Peer(
        "psycopg2_csv",
        ("in",),
        "psycopg2 `cursor.copy_expert('COPY ... (FORMAT csv)', f)` of CSV written "
        "by `csv.writer` into a StringIO, the whole CSV first",
        "orjson (`orjson.dumps(value).decode()` for each jsonb cell)",
    ),
    Peer(
        "psql_copy",
        ("in", "out"),
        "`psql -c '\\copy t FROM/TO file (FORMAT binary)'` of a file already in COPY "
        "format: no Python values at all, so its rows/s is the server's ceiling and "
        "its client CPU is psql's",
        "none (the server parses and prints JSON)",
    ),
    Peer("psycopg3+pcf", ("in", "out"), _ADAPTER.format("psycopg 3"), _PCF_JSON),
    Peer("psycopg2+pcf", ("in", "out"), _ADAPTER.format("psycopg2"), _PCF_JSON),
    Peer("asyncpg+pcf", ("in", "out"), _ADAPTER.format("asyncpg"), _PCF_JSON),
    Peer(
        "sqlalchemy+pcf",
        ("in", "out"),
        _ADAPTER.format("a SQLAlchemy engine (psycopg 3 dialect)"),
        _PCF_JSON,
    ),
]
#: One line on each peer, for --help.
SHORT = {
    "pgcopy_fast[c]": "pgcopy_fast, compiled kernel, blocking connection",
    "pgcopy_fast[async]": "pgcopy_fast, compiled kernel, asyncio connection",
    "pgcopy_fast[py]": "pgcopy_fast, pure-Python twin",
    "psycopg3": "psycopg 3 binary COPY, write_row() / rows()",
    "asyncpg": "asyncpg copy_records_to_table()",
    "asyncpg_fetch": "asyncpg fetch() (it has no COPY OUT that decodes)",
    "pgcopy": "pgcopy CopyManager on psycopg2",
    "psycopg2_csv": "psycopg2 copy_expert() of CSV from csv.writer",
    "psql_copy": "psql \\copy of a binary file: the server's ceiling",
    "psycopg3+pcf": "pgcopy_fast on a psycopg 3 connection",
    "psycopg2+pcf": "pgcopy_fast on a psycopg2 connection",
    "asyncpg+pcf": "pgcopy_fast on an asyncpg connection",
    "sqlalchemy+pcf": "pgcopy_fast on a SQLAlchemy engine",
}
PEER_BY_NAME = {p.name: p for p in PEERS}
PEER_NAMES = [p.name for p in PEERS]
PEERS_IN = [p.name for p in PEERS if "in" in p.directions]
PEERS_OUT = [p.name for p in PEERS if "out" in p.directions]
#: The adapters run pgcopy_fast's own kernel: left out of --per-column unless named.
ADAPTERS = [p for p in PEER_NAMES if p.endswith("+pcf")]
#: A name given to --peers that selects another peer too.
ALIASES = {"asyncpg": ["asyncpg_fetch"]}

COLUMN_NOTE = (
    "client CPU = user + system time of the worker process that does the copy (psql's "
    "for psql_copy); CPU µs/row = client CPU / rows; MB/s = bytes of the binary COPY "
    "stream / wall; RSS growth = peak resident memory during the copy minus before "
    "it (the input rows are built before the clock starts)."
)


def columns_of(workload: str) -> list[tuple[str, str]]:
    """The columns (name, SQL type) of a workload: wide, narrow, col, col:TYPE."""
    if workload in WORKLOADS:
        return WORKLOADS[workload]
    if workload == BASELINE:
        return [("k", "int4")]
    if workload.startswith(BASELINE + ":"):
        return [("k", "int4"), ("v", workload[len(BASELINE) + 1 :])]
    raise SystemExit(f"unknown workload {workload}")


def _base_type(sqltype: str) -> str:
    """The type name pgcopy_fast and psycopg take: numeric(12,2) -> numeric."""
    return sqltype.split("(")[0]


def _types(workload: str) -> list[str]:
    return [_base_type(typ) for _, typ in columns_of(workload)]


def _cols(workload: str) -> list[str]:
    return [name for name, _ in columns_of(workload)]


# -- the rows: random, realistic, the same for every peer -------------------------

_ASCII = string.ascii_letters + string.digits + "  "
_NON_ASCII = "äöüßéèêñçøåłžčřЖяΩπ中文字€"
_WORDS = (
    "red green blue amber alpha beta gamma delta north south east west new sale vip "
    "urgent draft archived eu us apac retail b2b promo"
).split()
_EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
_FIVE_YEARS_US = (
    dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc) - _EPOCH
) // dt.timedelta(microseconds=1)
_POOL = 1 << 16


def _pool(rng: random.Random, alphabet: str) -> str:
    return "".join(rng.choices(alphabet, k=_POOL + 64))


def _texts(rng: random.Random, n: int) -> list[str]:
    """10-30 random characters; about one in five has non-ASCII ones."""
    plain, mixed = _pool(rng, _ASCII), _pool(rng, _ASCII + _NON_ASCII * 2)
    r, rr = rng.random, rng.randrange
    out = []
    for _ in range(n):
        pool = mixed if r() < 0.2 else plain
        start = rr(_POOL)
        out.append(pool[start : start + rr(10, 31)])
    return out


def _column(sqltype: str, n: int, rng: random.Random) -> list[Any]:
    """n random values of a column type."""
    typ = _base_type(sqltype)
    r, bits, rr = rng.random, rng.getrandbits, rng.randrange
    if typ == "int8":
        return [bits(63) for _ in range(n)]
    if typ == "int4":
        return [bits(32) - (1 << 31) for _ in range(n)]
    if typ == "float8":
        return [r() * 10_000 for _ in range(n)]
    if typ == "text":
        return _texts(rng, n)
    if typ == "timestamptz":
        us = dt.timedelta(microseconds=1)
        return [_EPOCH + rr(_FIVE_YEARS_US) * us for _ in range(n)]
    if typ == "bool":
        return [r() < 0.5 for _ in range(n)]
    if typ == "numeric":  # 11 random digits, two of them after the point
        return [
            Decimal(rr(10**10, 10**11) * (1 if r() < 0.5 else -1)).scaleb(-2)
            for _ in range(n)
        ]
    if typ == "uuid":
        return [uuid.UUID(int=bits(128), version=4) for _ in range(n)]
    if typ == "jsonb":
        skus = _pool(rng, string.ascii_uppercase + string.digits)
        out = []
        for _ in range(n):
            start = rr(_POOL)
            sku = skus[start : start + 8]
            out.append({"sku": sku, "stock": rr(100_000), "rating": round(r() * 5, 2)})
        return out
    if typ == "text[]":
        words, k = _WORDS, len(_WORDS)
        return [[words[rr(k)] for _ in range(rr(4))] for _ in range(n)]
    raise SystemExit(f"no generator for {sqltype}")


def make_rows(workload: str, n: int, seed: int = DEFAULT_SEED) -> list[tuple[Any, ...]]:
    """The rows of a workload: random, from a fixed seed, so the same in every process.

    wide: id int8 (random 63-bit), qty int4, price float8, name text (10-30
    characters, some non-ASCII), created timestamptz (aware UTC instants over
    five years), flag bool, amount numeric(12,2) (11 random digits), uid uuid
    (random, version 4), payload jsonb (a 3-key dict), tags text[] (0-3 words).
    narrow: int8, int4, float8.
    """
    enabled = gc.isenabled()
    gc.disable()  # millions of new containers: no point in scanning them
    try:
        columns = [
            _column(typ, n, random.Random(seed * 100 + i))
            for i, (_, typ) in enumerate(columns_of(workload))
        ]
        rows = list(zip(*columns, strict=True))
    finally:
        if enabled:
            gc.enable()
    gc.collect()  # the rows start the copy in the oldest generation, as built ones do
    return rows


# -- workers (one measurement each, in their own process) --------------------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _orjson_dumps_str(value: Any) -> str:
    import orjson

    text: str = orjson.dumps(value).decode()
    return text


def _asyncpg_jsonb_codec(loop: asyncio.AbstractEventLoop, aconn: Any) -> None:
    """orjson for jsonb under asyncpg, in the binary format COPY needs."""
    import orjson

    dumps, loads = orjson.dumps, orjson.loads
    loop.run_until_complete(
        aconn.set_type_codec(
            "jsonb",
            schema="pg_catalog",
            format="binary",
            encoder=lambda v: b"\x01" + dumps(v),
            decoder=lambda b: loads(b[1:]),
        )
    )


def _psycopg_orjson() -> None:
    """orjson for psycopg 3's json and jsonb, globally (the worker is ours alone)."""
    import orjson
    from psycopg.types.json import set_json_dumps, set_json_loads

    set_json_dumps(orjson.dumps)
    set_json_loads(orjson.loads)


def _copy_in(
    peer: str, dsn: str, table: str, workload: str, rows: list[Any], binfile: str
) -> Callable[[], Any]:
    """Connect and prepare; return the function that does the measured copy."""
    cols = _cols(workload)
    types = _types(workload)
    has_json = "jsonb" in types
    if peer == "pgcopy_fast[async]":
        import pgcopy_fast as pcf

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(pcf.connect_async(dsn))

        async def load() -> None:
            async with aconn.copy_in(
                f"COPY {table} FROM STDIN (FORMAT binary)", types
            ) as cp:
                await cp.write_rows(rows)

        return lambda: loop.run_until_complete(load())
    if peer.startswith("pgcopy_fast"):
        import pgcopy_fast as pcf

        conn = pcf.connect(dsn)

        def run() -> None:
            with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)", types) as cp:
                cp.write_rows(rows)

        return run
    if peer == "psycopg3":
        import psycopg

        _psycopg_orjson()
        pconn = psycopg.connect(dsn, autocommit=True)

        def run() -> None:
            with (
                pconn.cursor() as cur,
                cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(types)
                write = copy.write_row
                for r in rows:
                    write(r)

        return run
    if peer == "asyncpg":
        import asyncpg

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(asyncpg.connect(**_asyncpg_args(dsn)))
        if has_json:
            _asyncpg_jsonb_codec(loop, aconn)
        return lambda: loop.run_until_complete(
            aconn.copy_records_to_table(table, records=rows, columns=cols)
        )
    if peer == "pgcopy":
        import orjson
        import psycopg2
        from pgcopy import CopyManager
        from pgcopy.copy import jsonb_formatter

        class OrjsonCopyManager(CopyManager):  # type: ignore[misc]
            type_formatters: ClassVar[dict[str, Any]] = {
                "jsonb": lambda v: jsonb_formatter(orjson.dumps(v))
            }

        p2 = psycopg2.connect(dsn)
        manager = OrjsonCopyManager(p2, table, cols)

        def run() -> None:
            manager.copy(rows)
            p2.commit()

        return run
    if peer == "psycopg2_csv":
        import psycopg2

        p2 = psycopg2.connect(dsn)

        def run() -> None:
            buf = io.StringIO()
            writerow = csv.writer(buf).writerow
            for r in rows:
                writerow(_csv_row(r))
            buf.seek(0)
            with p2.cursor() as cur:
                cur.copy_expert(f"COPY {table} FROM STDIN (FORMAT csv)", buf)
            p2.commit()

        return run
    if peer.endswith("+pcf"):
        return _adapter_in(peer, dsn, table, cols, rows)
    if peer == "psql_copy":
        return lambda: _psql(dsn, f"\\copy {table} FROM '{binfile}' (FORMAT binary)")
    raise SystemExit(f"unknown peer {peer}")


def _driver_connection(driver: str, dsn: str) -> Any:
    """A connection of a peer driver, for the adapter rows (psycopg3+pcf, ...)."""
    if driver == "psycopg3":
        import psycopg

        return psycopg.connect(dsn, autocommit=True)
    if driver == "psycopg2":
        import psycopg2

        return psycopg2.connect(dsn)
    if driver == "sqlalchemy":
        import sqlalchemy
        from sqlalchemy.engine import URL

        a = _asyncpg_args(dsn)
        url = URL.create(
            "postgresql+psycopg",
            username=a["user"],
            password=a["password"],
            database=a["database"],
            query={"host": a["host"], "port": str(a["port"])},
        )
        return sqlalchemy.create_engine(url)
    raise SystemExit(f"unknown driver {driver}")


def _adapter_in(
    peer: str, dsn: str, table: str, cols: list[str], rows: Any
) -> Callable[[], Any]:
    """pgcopy_fast's encoder under another driver's connection."""
    import pgcopy_fast as pcf

    driver = peer[: -len("+pcf")]
    if driver == "asyncpg":
        import asyncpg

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(asyncpg.connect(**_asyncpg_args(dsn)))
        return lambda: loop.run_until_complete(
            pcf.copy_records_async(aconn, table, rows, cols)
        )
    conn = _driver_connection(driver, dsn)

    def run() -> None:
        pcf.copy_records(conn, table, rows, cols)
        if driver == "psycopg2":
            conn.commit()

    return run


def _adapter_out(peer: str, dsn: str, table: str) -> Callable[[], Any]:
    import pgcopy_fast as pcf

    driver = peer[: -len("+pcf")]
    if driver == "asyncpg":
        import asyncpg

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(asyncpg.connect(**_asyncpg_args(dsn)))

        async def read() -> None:
            async for _ in pcf.copy_records_out_async(aconn, table):
                pass

        return lambda: loop.run_until_complete(read())
    conn = _driver_connection(driver, dsn)

    def run() -> None:
        for _ in pcf.copy_records_out(conn, table):
            pass

    return run


def _csv_row(r: tuple[Any, ...]) -> list[Any]:
    out = []
    for v in r:
        if v is None:
            out.append("")
        elif isinstance(v, bool):
            out.append("t" if v else "f")
        elif isinstance(v, dict):
            out.append(_orjson_dumps_str(v))
        elif isinstance(v, list):  # the words need no quoting inside the array
            out.append("{" + ",".join(v) + "}")
        else:
            out.append(v)
    return out


def _copy_out(
    peer: str, dsn: str, table: str, workload: str, binfile: str
) -> Callable[[], Any]:
    """Connect and prepare; return the function that does the measured copy."""
    types = _types(workload)
    if peer.endswith("+pcf"):
        return _adapter_out(peer, dsn, table)
    if peer == "asyncpg_fetch":  # asyncpg decodes rows with fetch, not COPY
        import asyncpg

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(asyncpg.connect(**_asyncpg_args(dsn)))
        if "jsonb" in types:
            _asyncpg_jsonb_codec(loop, aconn)
        return lambda: loop.run_until_complete(aconn.fetch(f"SELECT * FROM {table}"))
    if peer == "pgcopy_fast[async]":
        import pgcopy_fast as pcf

        loop = asyncio.new_event_loop()
        aconn = loop.run_until_complete(pcf.connect_async(dsn))

        async def dump() -> None:
            async with aconn.copy_out(
                f"COPY {table} TO STDOUT (FORMAT binary)", types
            ) as out:
                async for _ in out:
                    pass

        return lambda: loop.run_until_complete(dump())
    if peer.startswith("pgcopy_fast"):
        import pgcopy_fast as pcf

        conn = pcf.connect(dsn)

        def run() -> None:
            with conn.copy_out(f"COPY {table} TO STDOUT (FORMAT binary)", types) as out:
                for _ in out:
                    pass

        return run
    if peer == "psycopg3":
        import psycopg

        _psycopg_orjson()
        pconn = psycopg.connect(dsn, autocommit=True)

        def run() -> None:
            with (
                pconn.cursor() as cur,
                cur.copy(f"COPY {table} TO STDOUT (FORMAT BINARY)") as copy,
            ):
                copy.set_types(types)
                for _ in copy.rows():
                    pass

        return run
    if peer == "psql_copy":
        return lambda: _psql(dsn, f"\\copy {table} TO '{binfile}' (FORMAT binary)")
    raise SystemExit(f"unknown peer {peer}")


def _psql(dsn: str, command: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        raise ModuleNotFoundError("psql", name="psql")
    subprocess.run([psql, dsn, "-q", "-X", "-c", command], check=True)


def _asyncpg_args(dsn: str) -> dict[str, Any]:
    """connect() keywords for asyncpg (and SQLAlchemy's URL) from a libpq DSN."""
    from pgcopy_fast.connection.conninfo import resolve

    p = resolve(dsn)
    host, port = p.hosts[0]
    return {
        "host": host,
        "port": port,
        "user": p.user,
        "database": p.dbname,
        "password": p.password,
    }


def worker(args: argparse.Namespace) -> None:
    """Measure one peer on one workload and direction; print a JSON line."""
    if args.peer.startswith("pgcopy_fast"):
        import pgcopy_fast

        wanted = "python" if args.peer == "pgcopy_fast[py]" else "c"
        if pgcopy_fast.__impl__ != wanted:
            raise SystemExit(f"{args.peer} loaded the {pgcopy_fast.__impl__} twin")
    rows = (
        make_rows(args.workload, args.rows, args.seed) if args.direction == "in" else []
    )
    try:
        if args.direction == "in":
            run = _copy_in(
                args.peer, args.dsn, args.table, args.workload, rows, args.binfile
            )
        else:
            run = _copy_out(
                args.peer, args.dsn, args.table, args.workload, args.binfile
            )
    except ModuleNotFoundError as exc:
        print(json.dumps({"skipped": f"not installed: {exc.name}"}))
        return
    rss0 = peak_reset()
    t0, c0, k0 = time.perf_counter(), _cpu(), _children_cpu()
    run()
    wall = time.perf_counter() - t0
    cpu = (_cpu() - c0) + (_children_cpu() - k0)
    peak = peak_mb()
    print(
        json.dumps(
            {
                "wall": wall,
                "cpu": cpu,
                "peak_rss_mb": peak,
                "rss_growth_mb": max(0.0, peak - rss0),
            }
        )
    )


def _proc_status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1e3  # kB
    except OSError:
        pass
    return None


def peak_reset() -> float:
    """Start the peak-RSS count afresh; the RSS now, in MB.

    getrusage's ru_maxrss will not do alone: across fork and exec it keeps
    the parent's peak (the runner's, which built a million rows), and it
    holds the peak of building this worker's rows.  On Linux the peak of
    this process's own memory (VmHWM) is reset to its current RSS by
    writing 5 to /proc/self/clear_refs.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    now = _proc_status_mb("VmRSS")
    return now if now is not None else 0.0


def peak_mb() -> float:
    """Peak RSS since peak_reset, in MB."""
    peak = _proc_status_mb("VmHWM")
    if peak is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    return peak


# -- the runner ----------------------------------------------------------------


class _Progress:
    """Progress lines on stderr: what runs, how far along, how long it took."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()

    def say(self, message: str) -> None:
        elapsed = time.perf_counter() - self.t0
        print(f"bench {elapsed:6.0f}s  {message}", file=sys.stderr, flush=True)

    def step(self, what: str, result: dict[str, Any]) -> None:
        self.done += 1
        if "wall" in result:
            outcome = f"{result['wall']:.3f} s wall, {result['cpu']:.3f} s client CPU"
        else:
            outcome = result.get("skipped") or f"FAILED: {result.get('error')}"
        width = len(str(self.total))
        self.say(f"[{self.done:{width}}/{self.total}] {what}: {outcome}")


def _run_worker(
    peer: str,
    workload: str,
    direction: str,
    rows: int,
    dsn: str,
    table: str,
    binfile: str,
    seed: int,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "pgcopy_fast.cli._bench",
        "--worker",
        "--peer",
        peer,
        "--workload",
        workload,
        "--direction",
        direction,
        "--rows",
        str(rows),
        "--dsn",
        dsn,
        "--table",
        table,
        "--binfile",
        binfile,
        "--seed",
        str(seed),
    ]
    env = dict(os.environ)
    env.pop("PGCOPY_FAST_IMPL", None)
    if peer == "pgcopy_fast[py]":
        env["PGCOPY_FAST_IMPL"] = "python"  # chosen at import, so before it
    elif peer.startswith("pgcopy_fast"):
        env["PGCOPY_FAST_IMPL"] = "c"
    # The last run's table pages (written by a local server) go to disk now,
    # not in the middle of this run: less noise in the wall times.
    os.sync()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


class _Tables:
    """Uniquely named tables, all dropped at the end (``with``), whatever happens."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.prefix = f"pcf_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.created: list[str] = []

    def name(self, workload: str, suffix: str = "") -> str:
        safe = "".join(c if c.isalnum() else "_" for c in workload.replace("[]", "_a"))
        return f"{self.prefix}_{safe.strip('_')}{suffix}"

    def create(self, table: str, workload: str) -> None:
        import pgcopy_fast as pcf

        cols = ", ".join(f"{name} {typ}" for name, typ in columns_of(workload))
        self.created.append(table)
        with pcf.connect(self.dsn) as conn:
            conn.execute(f"CREATE UNLOGGED TABLE {table} ({cols})")

    def truncate(self, table: str) -> None:
        import pgcopy_fast as pcf

        with pcf.connect(self.dsn) as conn:
            conn.execute(f"TRUNCATE {table}")

    def __enter__(self) -> _Tables:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.created:
            return
        import pgcopy_fast as pcf

        with pcf.connect(self.dsn) as conn:
            conn.execute(
                "; ".join(f"DROP TABLE IF EXISTS {t}" for t in reversed(self.created))
            )
        self.created.clear()


def _prepare(
    tables: _Tables, workload: str, rows: int, seed: int, binfile: str
) -> tuple[str, str, int]:
    """The source table (loaded, for COPY OUT), the target (empty, for COPY IN),
    and the binary COPY file of the rows (psql's input; its size gives MB/s)."""
    import pgcopy_fast as pcf

    source, target = tables.name(workload), tables.name(workload, "_in")
    tables.create(source, workload)
    tables.create(target, workload)
    with pcf.connect(tables.dsn) as conn:
        conn.copy_records(source, make_rows(workload, rows, seed))
        with open(binfile, "wb") as f:
            conn.copy_to_file(f"COPY {source} TO STDOUT (FORMAT binary)", f)
        conn.execute(f"ANALYZE {source}")
    os.chmod(binfile, 0o644)
    return source, target, os.path.getsize(binfile)


def csv_choice(valid: list[str], what: str) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated subset of ``valid`` (else exit 2)."""

    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in valid]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(map(repr, unknown)) or repr(text)}; "
                f"valid {what}s: {', '.join(valid)}"
            )
        return names

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The benchmark's options, for this module and ``pgcopy-fast bench``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "peers:\n"
        + "\n".join(
            f"  {p.name:<20}{', '.join(p.directions).upper():<9}{SHORT[p.name]}"
            for p in PEERS
        )
        + (
            "\n\nQuote the peer list in a shell ('pgcopy_fast[c],psycopg3'): the "
            "brackets are glob characters."
        )
    )
    parser.add_argument(
        "--rows",
        type=int,
        help="rows per run (default: 1,000,000; with --per-column 100,000)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per peer (median)")
    parser.add_argument(
        "--dsn",
        help="server (default: a throwaway cluster); its bench tables are dropped "
        "at the end",
    )
    parser.add_argument(
        "--workloads",
        type=csv_choice(list(WORKLOADS), "workload"),
        default=list(WORKLOADS),
        help="wide, narrow (default: both)",
    )
    parser.add_argument(
        "--directions",
        type=csv_choice(DIRECTIONS, "direction"),
        default=DIRECTIONS,
        help="in (COPY FROM STDIN), out (COPY TO STDOUT) (default: both)",
    )
    parser.add_argument(
        "--peers",
        type=csv_choice(PEER_NAMES, "peer"),
        help="comma-separated subset of: " + ", ".join(PEER_NAMES),
    )
    parser.add_argument(
        "--per-column",
        action="store_true",
        help="print client CPU µs per value for each column type, COPY IN and OUT, "
        "instead of the comparison of whole rows",
    )
    parser.add_argument(
        "--types",
        type=csv_choice(COLUMN_TYPES, "type"),
        default=COLUMN_TYPES,
        help="with --per-column: the types (default: " + ", ".join(COLUMN_TYPES) + ")",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the random rows"
    )
    parser.add_argument("--json", help="write the results as JSON to this file")
    parser.add_argument(
        "--markdown", help="write the tables, legend and summary as Markdown here"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--direction", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--binfile", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> None:
    """Run the comparison (or, with --worker, one measurement)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(run(parser.parse_args(argv)))


def _selected(
    args: argparse.Namespace, direction: str, default: list[str]
) -> list[str]:
    peers = PEERS_IN if direction == "in" else PEERS_OUT
    if not args.peers:
        return [p for p in peers if p in default]
    wanted = set(args.peers)
    for name in args.peers:
        wanted.update(ALIASES.get(name, []))
    return [p for p in peers if p in wanted]


def run(args: argparse.Namespace) -> int:
    """Run the comparison for parsed arguments and print it; the exit status."""
    if args.worker:
        worker(args)
        return 0
    if args.rows is None:
        args.rows = 100_000 if args.per_column else 1_000_000
    if threading.current_thread() is threading.main_thread():
        # kill / a closed terminal: unwind, so that the tables are dropped
        signal.signal(signal.SIGTERM, _unwind)
    if args.per_column:
        return _run_per_column(args)
    plan = [
        (workload, direction, _selected(args, direction, PEER_NAMES))
        for workload in args.workloads
        for direction in args.directions
    ]
    total = sum(len(peers) for _, _, peers in plan) * args.repeat
    progress = _Progress(total)
    progress.say(
        f"{args.rows:,} rows per run, {args.repeat} runs per peer, {total} measurements"
        ", each in a fresh process"
    )
    results: list[dict[str, Any]] = []
    skipped: dict[str, dict[str, Any]] = {}
    with (
        _server_dsn(args.dsn, progress) as dsn,
        tempfile.TemporaryDirectory() as tmp,
        _Tables(dsn) as tables,
    ):
        os.chmod(tmp, 0o755)
        environment = _environment(dsn)
        for workload in args.workloads:
            progress.say(
                f"{workload}: generating {args.rows:,} random rows (seed {args.seed}) "
                "and loading them"
            )
            binfile = os.path.join(tmp, f"{workload}.bin")
            source, target, size = _prepare(
                tables, workload, args.rows, args.seed, binfile
            )
            for w, direction, peers in plan:
                if w != workload:
                    continue
                runs: dict[str, list[dict[str, Any]]] = {p: [] for p in peers}
                for i in range(args.repeat):
                    for peer in peers:  # interleaved
                        what = f"{workload} {direction} {peer} (run {i + 1})"
                        if direction == "in":
                            table, file = target, binfile
                        else:
                            table, file = source, os.path.join(tmp, "out.bin")
                        if peer in skipped:
                            result = skipped[peer]
                        else:
                            if direction == "in":
                                tables.truncate(target)
                            result = _run_worker(
                                peer,
                                workload,
                                direction,
                                args.rows,
                                dsn,
                                table,
                                file,
                                args.seed,
                            )
                        if "skipped" in result:
                            skipped[peer] = result
                        runs[peer].append(result)
                        progress.step(what, result)
                for peer, items in runs.items():
                    results.append(
                        _summary(peer, workload, direction, args.rows, size, items)
                    )
    summary = _ratios(results)
    text = "\n".join(
        [
            _markdown(results, args.rows, args.repeat, args.seed),
            "",
            _legend([r["peer"] for r in results], environment),
            "",
            "Summary:",
            "",
            *(f"- {line}" for line in summary),
        ]
    )
    doc = {
        "rows": args.rows,
        "repeat": args.repeat,
        "seed": args.seed,
        "environment": environment,
        "json_library": {p: PEER_BY_NAME[p].json for p in _unique(results)},
        "results": results,
        "summary": summary,
    }
    emit(text, doc, args.markdown, args.json)
    return 1 if any("error" in r for r in results) else 0


def emit(text: str, doc: Any, markdown: str | None, json_path: str | None) -> None:
    """A benchmark's table to stdout and ``markdown``, its figures to ``json_path``."""
    print(text)
    if markdown:
        with open(markdown, "w") as f:
            f.write(text + "\n")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(doc, f, indent=2)


def _unwind(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _unique(results: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(r["peer"] for r in results))


@contextlib.contextmanager
def _server_dsn(dsn: str | None, progress: _Progress) -> Iterator[str]:
    if dsn is not None:  # "" means: what the PG* variables say
        yield dsn
        return
    from ..tempserver import TempServer

    progress.say("starting a throwaway PostgreSQL server")
    with TempServer() as srv:
        yield srv.dsn


def package_version(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _environment(dsn: str) -> dict[str, Any]:
    """Versions of everything measured, for the legend and the JSON."""
    import pgcopy_fast as pcf

    with pcf.connect(dsn) as conn:
        server = conn.execute("SHOW server_version").rows[0][0]
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "server": server,
        "pgcopy_fast": pcf.__version__,
        "orjson": package_version("orjson"),
        "psycopg": package_version("psycopg"),
        "asyncpg": package_version("asyncpg"),
        "pgcopy": package_version("pgcopy"),
        "psycopg2": package_version("psycopg2-binary") or package_version("psycopg2"),
        "sqlalchemy": package_version("sqlalchemy"),
        "cpus": os.cpu_count(),
    }
    with contextlib.suppress(ImportError):
        import psycopg

        env["psycopg_impl"] = psycopg.pq.__impl__
    psql = shutil.which("psql")
    if psql:
        done = subprocess.run([psql, "--version"], capture_output=True, text=True)
        env["psql"] = done.stdout.strip()
    return env


def _summary(
    peer: str,
    workload: str,
    direction: str,
    rows: int,
    size: int,
    items: list[dict[str, Any]],
) -> dict[str, Any]:
    base = {"peer": peer, "workload": workload, "direction": direction}
    for item in items:
        if "skipped" in item or "error" in item:
            return {**base, **item}
    wall = statistics.median(i["wall"] for i in items)
    cpu = statistics.median(i["cpu"] for i in items)
    return {
        **base,
        "wall_s": round(wall, 6),
        "rows_per_s": round(rows / wall),
        "client_cpu_s": round(cpu, 6),
        "client_cpu_us_per_row": round(cpu / rows * 1e6, 3),
        "mb_per_s": round(size / wall / 1e6, 1),
        "rss_growth_mb": round(max(i["rss_growth_mb"] for i in items), 1),
        "runs": [{"wall": i["wall"], "cpu": i["cpu"]} for i in items],
    }


def _markdown(results: list[dict[str, Any]], rows: int, repeat: int, seed: int) -> str:
    lines = [
        f"{rows:,} random rows per run (seed {seed}; the same rows for every peer), "
        f"median of {repeat} runs, peers interleaved, each run in a fresh process. "
        + COLUMN_NOTE,
        "",
        "| workload | direction | peer | wall s | rows/s | client CPU s | CPU µs/row "
        "| MB/s | RSS growth MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "wall_s" in r:
            lines.append(
                f"| {r['workload']} | {r['direction']} | {r['peer']} | "
                f"{r['wall_s']:.3f} | {r['rows_per_s']:,} | {r['client_cpu_s']:.3f} | "
                f"{r['client_cpu_us_per_row']} | {r['mb_per_s']} | "
                f"{r['rss_growth_mb']} |"
            )
        else:
            reason = r.get("skipped") or f"failed: {r.get('error')}"
            where = f"| {r['workload']} | {r['direction']} | {r['peer']} |"
            lines.append(f"{where} {reason} | | | | | |")
    return "\n".join(lines)


def _legend(peers: list[str], environment: dict[str, Any]) -> str:
    """What each peer name in the table means, and the JSON library it got."""
    lines = ["Peers (JSON: the JSON library each one got for the jsonb column):", ""]
    for p in PEERS:
        if p.name not in peers:
            continue
        lines.append(f"- `{p.name}`: {p.label}. JSON: {p.json}.")
    env = environment
    versions = [
        f"pgcopy_fast {env['pgcopy_fast']}",
        f"orjson {env['orjson']}",
    ]
    if env.get("psycopg"):
        versions.append(f"psycopg {env['psycopg']} ({env.get('psycopg_impl')})")
    for dist in ("asyncpg", "pgcopy", "psycopg2", "sqlalchemy"):
        if env.get(dist):
            versions.append(f"{dist} {env[dist]}")
    if env.get("psql"):
        versions.append(env["psql"])
    lines += [
        "",
        f"PostgreSQL {env['server']}, Python {env['python']}, {env['cpus']} CPUs; "
        + ", ".join(versions)
        + ".",
    ]
    return "\n".join(lines)


def _times(x: float) -> str:
    digits = 2 if x < 10 else 1 if x < 100 else 0
    return f"{x:.{digits}f}{TIMES}"


def _ratios(results: list[dict[str, Any]]) -> list[str]:
    """The closing summary: pgcopy_fast[c] against each peer, as ratios."""
    by = {
        (r["workload"], r["direction"], r["peer"]): r for r in results if "wall_s" in r
    }
    lines = []
    for workload, direction in dict.fromkeys(
        (r["workload"], r["direction"]) for r in results
    ):
        ours = by.get((workload, direction, "pgcopy_fast[c]"))
        if ours is None:
            continue
        cpu = ours["client_cpu_s"] or 1e-9
        parts: list[str] = []
        for peer in ("psycopg3", "asyncpg", "asyncpg_fetch", "pgcopy", "psycopg2_csv"):
            other = by.get((workload, direction, peer))
            if other is None:
                continue
            ratio = other["client_cpu_s"] / cpu
            what = " client CPU" if not parts else ""
            if ratio >= 1:
                parts.append(f"{_times(ratio)} less{what} than {peer}")
            else:
                parts.append(f"{_times(1 / ratio)} more{what} than {peer}")
        psql = by.get((workload, direction, "psql_copy"))
        tail = []
        if psql is not None:
            tail.append(
                f"{ours['rows_per_s'] / psql['rows_per_s']:.2f}{TIMES} "
                "psql \\copy's rows/s "
                f"({ours['rows_per_s']:,} vs {psql['rows_per_s']:,})"
            )
        py = by.get((workload, direction, "pgcopy_fast[py]"))
        pg3 = by.get((workload, direction, "psycopg3"))
        if py is not None and pg3 is not None:
            tail.append(
                f"pure-Python twin pgcopy_fast[py]: "
                f"{py['client_cpu_s'] / (pg3['client_cpu_s'] or 1e-9):.2f}{TIMES} "
                "psycopg3's client CPU"
            )
        head = f"{workload} COPY {direction.upper()}, pgcopy_fast[c]"
        body = ", ".join(parts) or "no peer to compare with"
        lines.append(f"{head}: {body}" + "".join(f"; {t}" for t in tail) + ".")
    return lines


# -- per column --------------------------------------------------------------


def _run_per_column(args: argparse.Namespace) -> int:
    """µs per value of each type, COPY IN and OUT, for each peer that can."""
    workloads = [BASELINE] + [f"{BASELINE}:{t}" for t in args.types]
    default = [p for p in PEER_NAMES if p not in ADAPTERS]
    plan = [(d, _selected(args, d, default)) for d in args.directions]
    total = sum(len(peers) for _, peers in plan) * len(workloads) * args.repeat
    progress = _Progress(total)
    progress.say(
        f"per column: {len(args.types)} types + the baseline, {args.rows:,} rows, "
        f"{args.repeat} runs each, {total} measurements, each in a fresh process"
    )
    cpu: dict[tuple[str, str, str], list[float]] = {}
    wall: dict[tuple[str, str, str], list[float]] = {}
    failed: dict[tuple[str, str], str] = {}
    with (
        _server_dsn(args.dsn, progress) as dsn,
        tempfile.TemporaryDirectory() as tmp,
        _Tables(dsn) as tables,
    ):
        os.chmod(tmp, 0o755)
        environment = _environment(dsn)
        prepared = {}
        progress.say(f"generating and loading {len(workloads)} tables")
        for w in workloads:
            binfile = os.path.join(tmp, f"{tables.name(w)}.bin")
            prepared[w] = (*_prepare(tables, w, args.rows, args.seed, binfile), binfile)
        for i in range(args.repeat):
            for direction, peers in plan:
                for w in workloads:  # types and peers interleaved
                    source, target, _, binfile = prepared[w]
                    for peer in peers:
                        what = f"{w} {direction} {peer} (run {i + 1})"
                        if (peer, direction) in failed:
                            progress.step(what, {"skipped": failed[(peer, direction)]})
                            continue
                        if direction == "in":
                            tables.truncate(target)
                            table, file = target, binfile
                        else:
                            table, file = source, os.path.join(tmp, "out.bin")
                        result = _run_worker(
                            peer, w, direction, args.rows, dsn, table, file, args.seed
                        )
                        progress.step(what, result)
                        if "wall" not in result:
                            failed[(peer, direction)] = (
                                result.get("skipped")
                                or f"failed: {result.get('error')}"
                            )
                            continue
                        cpu.setdefault((peer, direction, w), []).append(result["cpu"])
                        wall.setdefault((peer, direction, w), []).append(result["wall"])
    tables_md, data = _per_column_markdown(args, plan, workloads, cpu, wall, failed)
    text = "\n".join(
        [tables_md, "", _legend([p for _, ps in plan for p in ps], environment)]
    )
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "rows": args.rows,
                    "repeat": args.repeat,
                    "seed": args.seed,
                    "environment": environment,
                    "per_value_us": data,
                    "failed": {f"{p} {d}": why for (p, d), why in failed.items()},
                },
                f,
                indent=2,
            )
    return 1 if any(why.startswith("failed") for why in failed.values()) else 0


def _per_column_markdown(
    args: argparse.Namespace,
    plan: list[tuple[str, list[str]]],
    workloads: list[str],
    cpu: dict[tuple[str, str, str], list[float]],
    wall: dict[tuple[str, str, str], list[float]],
    failed: dict[tuple[str, str], str],
) -> tuple[str, dict[str, Any]]:
    n = args.rows
    lines = [
        f"Client CPU µs per value, {n:,} random rows (seed {args.seed}), median of "
        f"{args.repeat} runs, each in a fresh process, peers and types interleaved. "
        f"A type's figure is (client CPU of a COPY of a `(k int4, v TYPE)` table minus "
        f"that of a `(k int4)` table of the same k) / {n:,}: what one more column of "
        "that type costs a row. The baseline row is the `(k int4)` table's CPU per "
        "row (per-row work and one int4); ± is half the spread of the baseline's "
        "runs, per row: figures smaller than it are noise. The last row adds up a "
        "wide row: the baseline plus its nine other columns.",
    ]
    data: dict[str, Any] = {}
    for direction, peers in plan:
        title = "COPY IN (encode)" if direction == "in" else "COPY OUT (decode)"
        shown = [p for p in peers if (p, direction) not in failed]
        lines += [
            "",
            f"{title}, client CPU µs per value:",
            "",
            "| type | " + " | ".join(shown) + " |",
            "|---|" + "---:|" * len(shown),
        ]
        base = {
            p: statistics.median(cpu[(p, direction, BASELINE)]) / n * 1e6 for p in shown
        }
        per: dict[str, dict[str, float]] = {p: {} for p in shown}
        for w in workloads[1:]:
            typ = w[len(BASELINE) + 1 :]
            cells = []
            for p in shown:
                us = statistics.median(cpu[(p, direction, w)]) / n * 1e6 - base[p]
                per[p][typ] = us
                cells.append(f"{us:.3f}")
            lines.append(f"| {typ} | " + " | ".join(cells) + " |")
        lines.append(
            "| baseline row `(k int4)`, µs/row | "
            + " | ".join(f"{base[p]:.3f}" for p in shown)
            + " |"
        )
        noise = {
            p: (max(cpu[(p, direction, BASELINE)]) - min(cpu[(p, direction, BASELINE)]))
            / 2
            / n
            * 1e6
            for p in shown
        }
        lines.append(
            "| ± (noise) | " + " | ".join(f"{noise[p]:.3f}" for p in shown) + " |"
        )
        if all(t in per[p] for p in shown for t in COLUMN_TYPES):
            wide = {
                p: base[p] + sum(per[p][t] for t in COLUMN_TYPES) - per[p]["int4"]
                for p in shown
            }
            lines.append(
                "| ≈ a wide row, µs/row | "
                + " | ".join(f"{wide[p]:.3f}" for p in shown)
                + " |"
            )
        for p in peers:
            if (p, direction) in failed:
                lines.append(f"\n{p} ({direction}): {failed[(p, direction)]}")
        data[direction] = {
            p: {
                "baseline_us_per_row": base[p],
                "noise_us": noise[p],
                "per_value_us": per[p],
                "wall_s": {
                    w: statistics.median(wall[(p, direction, w)]) for w in workloads
                },
            }
            for p in shown
        }
    return "\n".join(lines), data


if __name__ == "__main__":
    main()
