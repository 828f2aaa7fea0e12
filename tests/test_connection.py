"""connect() and Connection against the real server: auth, TLS, errors, cancel."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from pgsetup import ROLES

import pgcopy_fast as pcf


def _tcp(pg_server, role: str, **kwargs: Any) -> pcf.Connection:
    if pg_server.tls is None:
        pytest.skip("needs the throwaway cluster (pg_hba lines, roles, TLS)")
    password = {r: p for r, _, p, _ in ROLES}[role]
    kwargs.setdefault("password", password)
    kwargs.setdefault("sslmode", "disable")
    return pcf.connect(
        host="127.0.0.1", port=pg_server.port, user=role, dbname="postgres", **kwargs
    )


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("role", ["trust_user", "pw_user", "md5_user", "scram_user"])
def test_each_password_method_authenticates(pg_server, role: str) -> None:
    with _tcp(pg_server, role) as conn:
        assert conn.execute("SELECT current_user").rows == [(role,)]
        assert conn.transaction_status is pcf.TransactionStatus.IDLE


@pytest.mark.parametrize("role", ["pw_user", "md5_user", "scram_user"])
def test_wrong_password_is_refused_without_leaking(pg_server, role: str) -> None:
    before = _open_fds()
    with pytest.raises(pcf.OperationalError) as info:
        _tcp(pg_server, role, password="not-the-password")
    assert info.value.sqlstate == "28P01"
    assert "password authentication failed" in str(info.value)
    assert "not-the-password" not in str(info.value)
    assert _open_fds() == before


def test_missing_password_names_the_method(pg_server) -> None:
    with pytest.raises(pcf.OperationalError, match="no password was supplied"):
        _tcp(pg_server, "scram_user", password=None, passfile="/nonexistent")


def test_password_comes_from_pgpass(pg_server, tmp_path) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_server.port}:*:md5_user:md5 secret\n")
    passfile.chmod(0o600)
    with _tcp(pg_server, "md5_user", password=None, passfile=str(passfile)) as conn:
        assert conn.execute("SELECT 1").rows == [("1",)]


def _ssl_in_use(conn: pcf.Connection) -> bool:
    rows = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").rows
    return rows == [("t",)]


@pytest.mark.parametrize(
    ("sslmode", "expect_tls"),
    [("disable", False), ("allow", False), ("prefer", True), ("require", True)],
)
def test_sslmodes_without_verification(
    pg_server, sslmode: str, expect_tls: bool
) -> None:
    with _tcp(pg_server, "scram_user", sslmode=sslmode) as conn:
        assert _ssl_in_use(conn) is expect_tls


def test_allow_retries_with_tls_where_pg_hba_wants_it(pg_server) -> None:
    with _tcp(pg_server, "sslonly_user", sslmode="allow") as conn:
        assert _ssl_in_use(conn)
    with pytest.raises(pcf.OperationalError) as info:
        _tcp(pg_server, "sslonly_user", sslmode="disable")
    assert info.value.sqlstate == "28000"


def test_verify_ca_and_verify_full(pg_server) -> None:
    with _tcp(
        pg_server, "scram_user", sslmode="verify-ca", sslrootcert=pg_server.tls.ca
    ) as conn:
        assert _ssl_in_use(conn)
    if pg_server.tls is None:
        return
    conn = pcf.connect(
        host="localhost",
        hostaddr="127.0.0.1",
        port=pg_server.port,
        user="scram_user",
        dbname="postgres",
        password="scr\u00e4m secret",
        sslmode="verify-full",
        sslrootcert=pg_server.tls.ca,
    )
    with conn:
        assert _ssl_in_use(conn)


def test_verify_full_refuses_the_wrong_hostname(pg_server) -> None:
    with pytest.raises(pcf.OperationalError, match=r"certificate verify failed|match"):
        _tcp(
            pg_server, "scram_user", sslmode="verify-full", sslrootcert=pg_server.tls.ca
        )


def test_verify_ca_refuses_a_certificate_from_another_ca(pg_server) -> None:
    with pytest.raises(pcf.OperationalError, match="certificate verify failed"):
        _tcp(
            pg_server,
            "scram_user",
            sslmode="verify-ca",
            sslrootcert=pg_server.tls.other_ca,
        )


def test_verify_ca_without_root_file_says_so(pg_server, tmp_path) -> None:
    with pytest.raises(pcf.OperationalError, match="root certificate file"):
        _tcp(
            pg_server,
            "scram_user",
            sslmode="verify-ca",
            sslrootcert=str(tmp_path / "missing.crt"),
        )


def test_scram_uses_channel_binding_over_tls(pg_server) -> None:
    with _tcp(
        pg_server, "scram_user", sslmode="require", channel_binding="require"
    ) as conn:
        assert _ssl_in_use(conn)
    with pytest.raises(pcf.OperationalError, match="channel binding is required"):
        _tcp(pg_server, "scram_user", sslmode="disable", channel_binding="require")


def test_server_errors_map_to_classes_and_connection_survives(
    conn: pcf.Connection,
) -> None:
    with pytest.raises(pcf.ProgrammingError) as info:
        conn.execute("SELEC 1")
    assert info.value.sqlstate == "42601" and info.value.position == "1"
    conn.execute("CREATE TEMP TABLE u (a int PRIMARY KEY); INSERT INTO u VALUES (1)")
    with pytest.raises(pcf.IntegrityError) as uinfo:
        conn.execute("INSERT INTO u VALUES (1)")
    assert (uinfo.value.sqlstate, uinfo.value.constraint, uinfo.value.table) == (
        "23505",
        "u_pkey",
        "u",
    )
    assert "Key (a)=(1) already exists." == uinfo.value.detail
    with pytest.raises(pcf.DataError) as dinfo:
        conn.execute("SELECT 1/0")
    assert dinfo.value.sqlstate == "22012" and dinfo.value.severity == "ERROR"
    assert conn.execute("SELECT 42").rows == [("42",)]


def test_execute_returns_the_last_result(conn: pcf.Connection) -> None:
    res = conn.execute(
        "CREATE TEMP TABLE m (a int, b text); "
        "INSERT INTO m VALUES (1, 'x'), (2, NULL); SELECT * FROM m ORDER BY a"
    )
    assert res.command_tag == "SELECT 2" and res.rowcount == 2
    assert res.columns == [("a", 23), ("b", 25)]
    assert res.rows == [("1", "x"), ("2", None)]
    res = conn.execute("UPDATE m SET b = 'y'")
    assert (res.command_tag, res.rowcount, res.rows) == ("UPDATE 2", 2, [])
    assert conn.execute("").command_tag == ""
    assert conn.execute("CREATE TEMP TABLE n ()").rowcount == -1


def test_error_in_the_middle_stops_the_batch(conn: pcf.Connection) -> None:
    with pytest.raises(pcf.DataError):
        conn.execute(
            "CREATE TEMP TABLE b (a int); SELECT 1/0; INSERT INTO b VALUES (1)"
        )
    with pytest.raises(pcf.ProgrammingError):
        conn.execute("SELECT * FROM b")  # the implicit transaction rolled back


def _status(conn: pcf.Connection) -> pcf.TransactionStatus:
    # read through a call, so mypy does not keep the attribute narrowed
    # to the previous assert's value across the execute() that changes it
    return conn.transaction_status


def test_transaction_status_follows_ready_for_query(conn: pcf.Connection) -> None:
    conn.execute("BEGIN")
    assert _status(conn) is pcf.TransactionStatus.INTRANS
    with pytest.raises(pcf.DataError):
        conn.execute("SELECT 1/0")
    assert _status(conn) is pcf.TransactionStatus.INERROR
    with pytest.raises(pcf.InternalError) as info:
        conn.execute("SELECT 1")
    assert info.value.sqlstate == "25P02"
    conn.execute("ROLLBACK")
    assert _status(conn) is pcf.TransactionStatus.IDLE


def test_notices_parameters_and_notifications(conn: pcf.Connection) -> None:
    seen: list[pcf.NoticeResponse] = []
    conn.add_notice_handler(seen.append)
    conn.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
    assert [n.message for n in conn.notices] == ["hello 42"]
    assert seen[0].severity == "NOTICE" and seen[0].sqlstate == "00000"
    conn.execute("SET TimeZone = 'Asia/Tokyo'")
    assert conn.parameters["TimeZone"] == "Asia/Tokyo"
    assert conn.parameters["server_encoding"] == "UTF8"
    conn.execute("LISTEN chan; NOTIFY chan, 'payload'")
    assert [(n.channel, n.payload, n.pid) for n in conn.notifies] == [
        ("chan", "payload", conn.backend_pid)
    ]


def test_cancel_from_a_thread_gives_query_canceled(
    pg_server, conn: pcf.Connection
) -> None:
    pid = conn.backend_pid

    def cancel_when_running() -> None:
        with pg_server.connect() as watcher:
            while not watcher.execute(
                f"SELECT 1 FROM pg_stat_activity WHERE pid = {pid} "
                "AND state = 'active' AND query LIKE '%pg_sleep%'"
            ).rows:
                pass
        conn.cancel()

    thread = threading.Thread(target=cancel_when_running)
    thread.start()
    with pytest.raises(pcf.QueryCanceled) as info:
        conn.execute("SELECT pg_sleep(30)")
    thread.join()
    assert info.value.sqlstate == "57014"
    assert conn.execute("SELECT 'still here'").rows == [("still here",)]


def test_terminated_backend_closes_the_connection(
    pg_server, conn: pcf.Connection
) -> None:
    with pg_server.connect() as admin:
        admin.execute(f"SELECT pg_terminate_backend({conn.backend_pid})")
    with pytest.raises(pcf.OperationalError):
        conn.execute("SELECT 1")
    assert conn.closed
    with pytest.raises(pcf.InterfaceError, match="closed"):
        conn.execute("SELECT 1")
    assert conn.transaction_status is pcf.TransactionStatus.UNKNOWN


def test_unknown_database_is_an_operational_error(pg_server) -> None:
    with pytest.raises(pcf.OperationalError) as info:
        pcf.connect(pg_server.dsn, dbname="no_such_db")
    assert info.value.sqlstate == "3D000"


def test_unreachable_server_names_the_socket(tmp_path) -> None:
    with pytest.raises(pcf.OperationalError, match="connection to server on socket"):
        pcf.connect(host=str(tmp_path), port=5999, user="x")


def test_connect_timeout_is_honoured() -> None:
    import socket

    with socket.socket() as listener:  # accepts the TCP handshake, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with pytest.raises(pcf.OperationalError, match="timeout expired"):
            pcf.connect(
                host="127.0.0.1",
                port=port,
                user="x",
                sslmode="disable",
                connect_timeout=2,
            )


def test_close_is_idempotent_and_later_calls_fail(conn: pcf.Connection) -> None:
    conn.close()
    conn.close()
    assert conn.closed
    with pytest.raises(pcf.InterfaceError):
        conn.execute("SELECT 1")
    with pytest.raises(pcf.InterfaceError):
        conn.cancel()


def test_application_name_and_options_reach_the_server(pg_server) -> None:
    with pg_server.connect(
        application_name="etl job", options="-c search_path=pg_catalog"
    ) as conn:
        assert conn.execute("SHOW application_name").rows == [("etl job",)]
        assert conn.execute("SHOW search_path").rows == [("pg_catalog",)]
