"""COPY IN and COPY OUT against the real server, on every path, both twins."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator

import pytest

import pgcopy_fast as pcf

TYPES = ["int4", "text", "float8"]


@pytest.fixture
def table(conn: pcf.Connection) -> str:
    conn.execute("DROP TABLE IF EXISTS copy_t")
    conn.execute("CREATE TABLE copy_t (a int PRIMARY KEY, b text, c float8)")
    return "copy_t"


def rows_in(conn: pcf.Connection) -> list[tuple[str | None, ...]]:
    return conn.execute("SELECT a, b, c FROM copy_t ORDER BY a").rows


def count(conn: pcf.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM copy_t").rows[0][0] or 0)


DATA = [
    (1, "one", 1.5),
    (2, "tab\there\nnewline", None),
    (3, None, -0.25),
    (4, "", 1e300),
]
EXPECTED = [
    ("1", "one", "1.5"),
    ("2", "tab\there\nnewline", None),
    ("3", None, "-0.25"),
    ("4", "", "1e+300"),
]


@pytest.mark.parametrize(
    ("options", "types"),
    [
        ("", None),
        ("(FORMAT csv)", None),
        ("(FORMAT binary)", TYPES),
        ("CSV", None),
        ("(FORMAT text, DELIMITER '|', NULL 'NULL')", None),
    ],
)
def test_copy_in_each_format_with_context_manager(
    conn: pcf.Connection, table: str, options: str, types: list[str] | None
) -> None:
    delimiter, null = ("|", "NULL") if "DELIMITER" in options else (None, None)
    sql = f"COPY {table} FROM STDIN {options}"
    with conn.copy_in(sql, types=types, delimiter=delimiter, null=null) as cp:
        assert cp.ncolumns == 3
        expected_format = (
            "binary" if types else ("csv" if "csv" in options.lower() else "text")
        )
        assert cp.format == expected_format
        assert cp.column_formats == ((1,) * 3 if types else (0,) * 3)
        cp.write_row(DATA[0])
        cp.write_rows(iter(DATA[1:]))
    assert cp.rowcount == 4
    assert rows_in(conn) == EXPECTED


def test_copy_in_explicit_close_and_format_argument(
    conn: pcf.Connection, table: str
) -> None:
    cp = conn.copy_in(f"COPY {table} FROM STDIN WITH (FORMAT binary)", TYPES)
    cp.write_rows(DATA)
    assert cp.close() == 4
    assert cp.close() == 4  # idempotent
    with pytest.raises(pcf.InterfaceError, match="finished"):
        cp.write_row(DATA[0])
    conn.execute("TRUNCATE copy_t")
    cp = conn.copy_in(f"COPY {table} FROM STDIN", format="csv")
    cp.write_rows(DATA)  # CSV rows into a text-format statement would break:
    with pytest.raises(pcf.DataError):
        cp.close()
    assert count(conn) == 0


def test_copy_in_many_batches_with_small_threshold(
    conn: pcf.Connection, table: str
) -> None:
    n = 20_000
    with conn.copy_in(
        f"COPY {table} FROM STDIN (FORMAT binary)", TYPES, threshold=4096
    ) as cp:
        cp.write_rows((i, f"row {i}", i / 7) for i in range(n))
    assert cp.rowcount == n
    assert conn.execute("SELECT sum(a), count(DISTINCT b) FROM copy_t").rows == [
        (str(n * (n - 1) // 2), str(n))
    ]


@pytest.mark.parametrize("piece", [1, 7, 4096])
def test_raw_write_in_any_chunking(
    conn: pcf.Connection, table: str, piece: int
) -> None:
    text = "1\tx\t1\n2\t\\N\t2.5\n"
    with conn.copy_in(f"COPY {table} FROM STDIN") as cp:
        for i in range(0, len(text), piece):
            cp.write(text[i : i + piece].encode())
    assert cp.rowcount == 2
    conn.execute("TRUNCATE copy_t")
    binary = pcf_binary_stream([(5, "five", 5.0)])
    with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)") as cp:
        for i in range(0, len(binary), piece):
            cp.write(binary[i : i + piece])
    assert rows_in(conn) == [("5", "five", "5")]


def pcf_binary_stream(rows: list[tuple[object, ...]]) -> bytes:
    from pgcopy_fast.kernels import core as _core

    buf = _core.WriteBuffer()
    enc = _core.BinaryEncoder(TYPES)
    enc.header(buf)
    for row in rows:
        enc.encode_row(buf, row)
    enc.trailer(buf)
    return bytes(buf.getvalue())


def test_binary_encoding_matches_what_the_server_emits(conn: pcf.Connection) -> None:
    with conn.copy_out(
        "COPY (SELECT 7::int4, 'x'::text, 2.5::float8 UNION ALL "
        "SELECT -1, NULL, NULL) TO STDOUT (FORMAT binary)"
    ) as out:
        server = b"".join(iter(out.read, None))
    assert pcf_binary_stream([(7, "x", 2.5), (-1, None, None)]) == server


@pytest.mark.parametrize(
    ("options", "types", "expected"),
    [
        ("", None, EXPECTED),
        ("(FORMAT csv)", None, EXPECTED),
        (
            "(FORMAT binary)",
            TYPES,
            [
                (1, "one", 1.5),
                (2, "tab\there\nnewline", None),
                (3, None, -0.25),
                (4, "", 1e300),
            ],
        ),
        ("(FORMAT text, DELIMITER ',', NULL 'nil')", None, EXPECTED),
    ],
)
def test_copy_out_each_format(
    conn: pcf.Connection,
    table: str,
    options: str,
    types: list[str] | None,
    expected: list[tuple[object, ...]],
) -> None:
    with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)", TYPES) as cp:
        cp.write_rows(DATA)
    delimiter, null = (",", "nil") if "nil" in options else (None, None)
    sql = f"COPY (SELECT * FROM {table} ORDER BY a) TO STDOUT {options}"
    with conn.copy_out(sql, types, delimiter=delimiter, null=null) as out:
        assert out.ncolumns == 3
        assert list(out) == expected
    assert out.rowcount == 4
    out = conn.copy_out(sql, types, delimiter=delimiter, null=null)
    assert out.read_row() == expected[0]
    assert [out.read_row() for _ in range(4)] == [*expected[1:], None]
    assert out.rowcount == 4


def test_copy_out_binary_without_types_gives_bytes(conn: pcf.Connection) -> None:
    with conn.copy_out(
        "COPY (SELECT 1::int2, NULL::text) TO STDOUT (FORMAT binary)"
    ) as out:
        assert list(out) == [(b"\x00\x01", None)]


def test_copy_out_read_gives_raw_payloads(conn: pcf.Connection) -> None:
    out = conn.copy_out("COPY (SELECT g FROM generate_series(1, 3) g) TO STDOUT")
    assert list(iter(out.read, None)) == [b"1\n", b"2\n", b"3\n"]
    assert out.rowcount == 3


def test_leaving_copy_out_early_leaves_the_connection_ready(
    conn: pcf.Connection,
) -> None:
    with conn.copy_out(
        "COPY (SELECT g FROM generate_series(1, 50000) g) TO STDOUT"
    ) as out:
        assert out.read_row() == ("1",)
    assert conn.execute("SELECT 'next'").rows == [("next",)]


def test_copy_files_with_header(conn: pcf.Connection, table: str, tmp_path) -> None:
    src = tmp_path / "in.csv"
    src.write_text('a,b,c\n1,"x,y",2.5\n2,,\n')
    with open(src, "rb") as f:
        assert (
            conn.copy_from_file(f"COPY {table} FROM STDIN (FORMAT csv, HEADER)", f) == 2
        )
    with open(src) as f:  # text mode works too
        conn.execute("TRUNCATE copy_t")
        assert (
            conn.copy_from_file(f"COPY {table} FROM STDIN (FORMAT csv, HEADER)", f) == 2
        )
    out = io.StringIO()
    n = conn.copy_to_file(
        f"COPY (SELECT * FROM {table} ORDER BY a) TO STDOUT (FORMAT csv, HEADER)", out
    )
    assert n == 2 and out.getvalue() == 'a,b,c\n1,"x,y",2.5\n2,,\n'
    binary = io.BytesIO()
    conn.copy_to_file(f"COPY {table} TO STDOUT (FORMAT binary)", binary)
    conn.execute("TRUNCATE copy_t")
    binary.seek(0)
    assert (
        conn.copy_from_file(
            f"COPY {table} FROM STDIN (FORMAT binary)", binary, chunk_size=5
        )
        == 2
    )
    assert rows_in(conn) == [("1", "x,y", "2.5"), ("2", None, None)]


def test_copy_among_other_statements(conn: pcf.Connection, table: str) -> None:
    with conn.copy_in(
        f"INSERT INTO {table} VALUES (100, 'pre', 0); "
        f"COPY {table} FROM STDIN; UPDATE {table} SET c = 9"
    ) as cp:
        cp.write_row((1, "x", 1.0))
    assert cp.rowcount == 1
    assert conn.execute("SELECT count(*) FROM copy_t WHERE c = 9").rows == [("2",)]
    with conn.copy_out(f"SELECT 1; COPY {table} TO STDOUT; SELECT 2") as out:
        assert len(list(out)) == 2
    assert out.rowcount == 2


def test_notices_during_copy_in_and_out(conn: pcf.Connection, table: str) -> None:
    conn.execute(
        "CREATE OR REPLACE FUNCTION copy_note() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE NOTICE 'row %', NEW.a; RETURN NEW; END $$; "
        f"CREATE TRIGGER note BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION copy_note()"
    )
    with conn.copy_in(f"COPY {table} FROM STDIN") as cp:
        cp.write_rows([(1, "a", 1), (2, "b", 2)])
    assert [n.message for n in conn.notices][-2:] == ["row 1", "row 2"]
    conn.execute(
        "CREATE OR REPLACE FUNCTION loud(i int) RETURNS int LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE NOTICE 'out %', i; PERFORM set_config('application_name', 'n' || i, false); RETURN i; END $$"
    )
    with conn.copy_out(
        "COPY (SELECT loud(g) FROM generate_series(1, 3) g) TO STDOUT"
    ) as out:
        assert list(out) == [("1",), ("2",), ("3",)]
    assert [n.message for n in conn.notices][-3:] == ["out 1", "out 2", "out 3"]
    assert conn.parameters["application_name"] == "n3"


# -- errors ---------------------------------------------------------------------


def test_server_error_in_copy_in_carries_context(
    conn: pcf.Connection, table: str
) -> None:
    with pytest.raises(pcf.DataError) as info:
        with conn.copy_in(f"COPY {table} FROM STDIN") as cp:
            cp.write_rows(
                [(1, "a", 1), (2, "b", 2), (3, "c", 3), (4, "d", 4), ("five", "e", 5)]
            )
    err = info.value
    assert err.sqlstate == "22P02"
    assert err.context is not None and "COPY copy_t, line 5, column a" in err.context
    assert count(conn) == 0 and conn.execute("SELECT 1").rows == [("1",)]


def test_unique_violation_and_wrong_column_count(
    conn: pcf.Connection, table: str
) -> None:
    with pytest.raises(pcf.IntegrityError) as info:
        with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)", TYPES) as cp:
            cp.write_rows([(1, "a", 1.0), (1, "b", 2.0)])
    assert info.value.constraint == "copy_t_pkey"
    with pytest.raises(pcf.DataError) as info2:
        with conn.copy_in(f"COPY {table} FROM STDIN") as cp:
            cp.write(b"1\tonly two\n")
    assert info2.value.sqlstate == "22P04"
    assert count(conn) == 0 and conn.execute("SELECT 2").rows == [("2",)]


def test_server_error_during_copy_out_is_raised_from_iteration(
    conn: pcf.Connection,
) -> None:
    out = conn.copy_out(
        "COPY (SELECT 10 / (3 - g) FROM generate_series(1, 5) g) TO STDOUT"
    )
    got = []
    with pytest.raises(pcf.DataError) as info:
        for row in out:
            got.append(row)
    assert info.value.sqlstate == "22012"
    assert got == [("5",), ("10",)]
    assert conn.execute("SELECT 3").rows == [("3",)]


def test_exception_in_the_block_sends_copy_fail(
    conn: pcf.Connection, table: str
) -> None:
    with pytest.raises(RuntimeError, match="changed my mind"):
        with conn.copy_in(f"COPY {table} FROM STDIN") as cp:
            cp.write_rows([(1, "a", 1.0)])
            raise RuntimeError("changed my mind")
    assert count(conn) == 0
    assert conn.transaction_status is pcf.TransactionStatus.IDLE


def test_keyboard_interrupt_during_write_rows(conn: pcf.Connection, table: str) -> None:
    def rows() -> Iterator[tuple[object, ...]]:
        for i in range(100_000):
            if i == 50_000:
                raise KeyboardInterrupt
            yield (i, "x", 1.0)

    with pytest.raises(KeyboardInterrupt):
        with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)", TYPES) as cp:
            cp.write_rows(rows())
    assert count(conn) == 0 and not conn.closed


@pytest.mark.parametrize(
    ("value", "pg_type"), [("not an int", "int4"), (2**40, "int4")]
)
def test_encode_error_fails_the_copy_and_commits_nothing(
    conn: pcf.Connection, table: str, value: object, pg_type: str
) -> None:
    with pytest.raises(pcf.EncodeError) as info:
        with conn.copy_in(
            f"COPY {table} (a, b, c) FROM STDIN (FORMAT binary)",
            TYPES,
            columns=["a", "b", "c"],
        ) as cp:
            cp.write_rows([(i, "ok", 0.0) for i in range(3000)] + [(value, "bad", 0.0)])
    err = info.value
    assert (err.row_index, err.column, err.pg_type, err.value_type) == (
        3000,
        "a",
        pg_type,
        type(value).__name__,
    )
    assert count(conn) == 0 and conn.execute("SELECT 4").rows == [("4",)]


def test_misuse_is_an_interface_error_and_leaves_the_connection_usable(
    conn: pcf.Connection, table: str
) -> None:
    with pytest.raises(pcf.InterfaceError, match="copy_out"):
        conn.copy_in(f"COPY {table} TO STDOUT")
    with pytest.raises(pcf.InterfaceError, match="copy_in"):
        conn.copy_out(f"COPY {table} FROM STDIN")
    with pytest.raises(pcf.InterfaceError, match="did not start a COPY"):
        conn.copy_in("SELECT 1")
    with pytest.raises(pcf.InterfaceError, match="cannot run COPY"):
        conn.execute(f"COPY {table} FROM STDIN")
    with pytest.raises(pcf.InterfaceError, match="needs types"):
        with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)") as cp:
            cp.write_row((1, "a", 1.0))
    cp = conn.copy_in(f"COPY {table} FROM STDIN")
    with pytest.raises(pcf.InterfaceError, match="COPY is in progress"):
        conn.execute("SELECT 1")
    cp.write_row((1, "a", 1.0))
    cp.abort("no thanks")
    assert count(conn) == 0 and conn.transaction_status is pcf.TransactionStatus.IDLE


def test_early_server_error_stops_encoding(conn: pcf.Connection, table: str) -> None:
    consumed = 0
    total = 3_000_000

    def rows() -> Iterator[tuple[object, ...]]:
        nonlocal consumed
        for i in range(total):
            consumed += 1
            yield (1 if i == 10 else i, "x", 0.0)  # duplicate key at row 10

    with pytest.raises(pcf.IntegrityError):
        with conn.copy_in(f"COPY {table} FROM STDIN (FORMAT binary)", TYPES) as cp:
            cp.write_rows(rows())
    assert consumed < total
    assert conn.execute("SELECT 5").rows == [("5",)]


def test_connection_lost_mid_copy_in_raises_without_hanging(
    pg_server, table: str
) -> None:
    victim = pg_server.connect()
    cp = victim.copy_in(
        f"COPY {table} FROM STDIN (FORMAT binary)", TYPES, threshold=4096
    )
    with pg_server.connect() as admin:
        admin.execute(f"SELECT pg_terminate_backend({victim.backend_pid})")
    with pytest.raises(pcf.OperationalError):
        cp.write_rows((i, "x" * 100, 0.0) for i in range(1_000_000))
        cp.close()
    assert victim.closed


def test_connection_lost_mid_copy_out_raises(pg_server) -> None:
    victim = pg_server.connect()
    out = victim.copy_out("COPY (SELECT generate_series(1, 100000000)) TO STDOUT")
    assert out.read_row() is not None
    with pg_server.connect() as admin:
        admin.execute(f"SELECT pg_terminate_backend({victim.backend_pid})")
    with pytest.raises(pcf.OperationalError):
        for _ in out:
            pass
    assert victim.closed


def test_cancel_a_long_copy_out(pg_server) -> None:
    conn = pg_server.connect()
    out = conn.copy_out("COPY (SELECT generate_series(1, 100000000)) TO STDOUT")
    assert out.read_row() == ("1",)
    threading.Thread(target=conn.cancel).start()
    with pytest.raises(pcf.QueryCanceled):
        for _ in out:
            pass
    assert conn.execute("SELECT 6").rows == [("6",)]
    conn.close()


def test_error_inside_a_huge_copy_out_cancels_it(conn: pcf.Connection) -> None:
    with pytest.raises(RuntimeError):
        with conn.copy_out(
            "COPY (SELECT generate_series(1, 100000000)) TO STDOUT"
        ) as out:
            for row in out:
                if row == ("1000",):
                    raise RuntimeError("enough")
    assert conn.execute("SELECT 7").rows == [("7",)]


def test_error_inside_copy_out_in_a_transaction_keeps_the_transaction(
    conn: pcf.Connection,
) -> None:
    conn.execute("BEGIN")
    with pytest.raises(RuntimeError):
        with conn.copy_out("COPY (SELECT generate_series(1, 20000)) TO STDOUT") as out:
            for _ in out:
                raise RuntimeError("stop")
    assert (
        conn.transaction_status is pcf.TransactionStatus.INTRANS
    )  # drained, not cancelled
    assert conn.execute("SELECT 8").rows == [("8",)]
    conn.execute("ROLLBACK")
