"""DSN parsing, environment variables, precedence and the password file."""

from __future__ import annotations

import os

import pytest

from pgcopy_fast.connection.conninfo import find_pgpass_password, parse_dsn, resolve
from pgcopy_fast.errors import InterfaceError

pytestmark = pytest.mark.kernel_free


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PG"):
            monkeypatch.delenv(key)


def test_uri_with_percent_encoding_and_several_parameters() -> None:
    got = parse_dsn(
        "postgresql://us%40er:p%3Aw%20d@db.example:6543/my%20db"
        "?sslmode=require&application_name=etl%20job&connect_timeout=5"
    )
    assert got == {
        "user": "us@er",
        "password": "p:w d",
        "host": "db.example",
        "port": "6543",
        "dbname": "my db",
        "sslmode": "require",
        "application_name": "etl job",
        "connect_timeout": "5",
    }


def test_uri_with_socket_directory_ipv6_and_multiple_hosts() -> None:
    assert parse_dsn("postgres://%2Fvar%2Frun%2Fpostgresql/db")["host"] == (
        "/var/run/postgresql"
    )
    got = parse_dsn("postgresql://[::1]:5433,other:5434/db?ssl=true")
    assert (got["host"], got["port"], got["sslmode"]) == (
        "::1,other",
        "5433,5434",
        "require",
    )
    params = resolve("postgresql://a:1,b:2/db")
    assert params.hosts == [("a", 1), ("b", 2)]


def test_keyvalue_with_quoting_and_escapes() -> None:
    got = parse_dsn(r"host = localhost password='it\'s' user=\ bob dbname='a b\\c'")
    assert got == {
        "host": "localhost",
        "password": "it's",
        "user": " bob",
        "dbname": "a b\\c",
    }


def test_keyvalue_errors_are_interface_errors() -> None:
    with pytest.raises(InterfaceError, match='missing "="'):
        parse_dsn("host")
    with pytest.raises(InterfaceError, match="unterminated"):
        parse_dsn("password='abc")
    with pytest.raises(InterfaceError, match='invalid connection option "bogus"'):
        resolve("bogus=1")
    with pytest.raises(InterfaceError, match="invalid sslmode"):
        resolve(sslmode="sometimes")


def test_precedence_kwargs_over_dsn_over_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGHOST", "envhost")
    monkeypatch.setenv("PGPORT", "1111")
    monkeypatch.setenv("PGUSER", "envuser")
    monkeypatch.setenv("PGDATABASE", "envdb")
    monkeypatch.setenv("PGAPPNAME", "envapp")
    monkeypatch.setenv("PGOPTIONS", "-c search_path=x")
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "1")
    monkeypatch.setenv("PGSSLMODE", "disable")
    params = resolve("host=dsnhost port=2222", port=3333)
    assert params.hosts == [("dsnhost", 3333)]
    assert (params.user, params.dbname, params.sslmode) == (
        "envuser",
        "envdb",
        "disable",
    )
    assert params.startup["application_name"] == "envapp"
    assert params.startup["options"] == "-c search_path=x"
    assert params.connect_timeout == 2.0  # libpq raises 1 second to 2


def test_defaults_follow_libpq() -> None:
    params = resolve("user=alice")
    assert params.dbname == "alice"
    assert params.hosts[0][1] == 5432
    assert params.sslmode == "prefer"
    assert params.startup["client_encoding"] == "UTF8"


def _write_pgpass(path: str, text: str, mode: int = 0o600) -> str:
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def test_pgpass_first_match_wildcards_and_escapes(tmp_path) -> None:
    path = _write_pgpass(
        str(tmp_path / "pgpass"),
        "# comment\n"
        "otherhost:*:*:*:nope\n"
        "localhost:5432:db:bob:pa\\:ss\\\\\n"
        "*:*:*:bob:fallback\n",
    )
    assert (
        find_pgpass_password(path, "/var/run/postgresql", 5432, "db", "bob")
        == "pa:ss\\"
    )
    assert find_pgpass_password(path, "db.example", 5432, "db", "bob") == "fallback"
    assert find_pgpass_password(path, "db.example", 5432, "db", "carol") is None


def test_pgpass_readable_by_others_is_ignored(tmp_path) -> None:
    path = _write_pgpass(str(tmp_path / "pgpass"), "*:*:*:*:secret\n", 0o644)
    assert find_pgpass_password(path, "h", 5432, "d", "u") is None
