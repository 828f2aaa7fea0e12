"""DSN parsing, environment variables, precedence and the password file."""

from __future__ import annotations

import os
import ssl
import warnings

import pytest

from pgcopy_fast.connection import conninfo
from pgcopy_fast.connection.conninfo import (
    PasswordFileWarning,
    TCPOptions,
    find_pgpass_password,
    parse_dsn,
    resolve,
    tls_context,
)
from pgcopy_fast.errors import InterfaceError

pytestmark = pytest.mark.kernel_free


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PG"):
            monkeypatch.delenv(key)
    # each test starts with no password file warned about yet
    monkeypatch.setattr(conninfo, "_warned_passfiles", set())


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


def test_pgpass_readable_by_others_is_ignored_with_one_warning(tmp_path) -> None:
    path = _write_pgpass(str(tmp_path / "pgpass"), "*:*:*:*:secret\n", 0o640)
    with pytest.warns(PasswordFileWarning) as record:
        assert find_pgpass_password(path, "h", 5432, "d", "u") is None
    assert [str(w.message) for w in record] == [
        f'password file "{path}" has group or world access; '
        "permissions should be u=rw (0600) or less"
    ]
    assert issubclass(PasswordFileWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per file: no second warning
        assert find_pgpass_password(path, "h", 5432, "d", "u") is None
        assert find_pgpass_password(path, "h", 5432, "d", "other") is None
    other = _write_pgpass(str(tmp_path / "other"), "*:*:*:*:secret\n", 0o604)
    with pytest.warns(PasswordFileWarning, match="world access"):
        assert find_pgpass_password(other, "h", 5432, "d", "u") is None


def test_pgpass_that_is_not_a_plain_file_is_ignored_with_a_warning(tmp_path) -> None:
    with pytest.warns(PasswordFileWarning, match="is not a plain file"):
        assert find_pgpass_password(str(tmp_path), "h", 5432, "d", "u") is None


def test_pgpass_closed_to_others_and_missing_files_do_not_warn(tmp_path) -> None:
    path = _write_pgpass(str(tmp_path / "pgpass"), "*:*:*:*:secret\n", 0o400)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert find_pgpass_password(path, "h", 5432, "d", "u") == "secret"
        assert find_pgpass_password(str(tmp_path / "no"), "h", 5432, "d", "u") is None


def test_pgpass_bytes_that_are_not_utf8_are_kept(tmp_path) -> None:
    path = str(tmp_path / "pgpass")
    with open(path, "wb") as f:
        f.write(b"*:*:*:*:caf\xe9\n")
    os.chmod(path, 0o600)
    password = find_pgpass_password(path, "h", 5432, "d", "u")
    assert password is not None
    assert password.encode("utf-8", "surrogateescape") == b"caf\xe9"


# -- nothing printable holds the password ---------------------------------------


@pytest.mark.parametrize("where", ["uri", "keyvalue", "keyword", "environment"])
def test_repr_and_str_of_params_hide_the_password(
    monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    secret = "pa55-w0rd!"
    if where == "uri":
        params = resolve(f"postgresql://bob:{secret}@db/shop")
    elif where == "keyvalue":
        params = resolve(f"user=bob password={secret}")
    elif where == "keyword":
        params = resolve(user="bob", password=secret)
    else:
        monkeypatch.setenv("PGPASSWORD", secret)
        params = resolve(user="bob")
    assert params.password == secret
    for text in (repr(params), str(params), f"{params}", repr([params])):
        assert secret not in text
        assert "password='********'" in text
        assert "user='bob'" in text
    monkeypatch.delenv("PGPASSWORD", raising=False)
    assert "password=None" in repr(resolve(user="bob"))


# -- require_auth -----------------------------------------------------------------


def test_require_auth_from_keyword_dsn_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert resolve("user=u").require_auth is None
    assert resolve("user=u require_auth=").require_auth is None
    assert resolve("user=u require_auth=scram-sha-256").require_auth == "scram-sha-256"
    monkeypatch.setenv("PGREQUIREAUTH", "!password,!md5")
    assert resolve("user=u").require_auth == "!password,!md5"
    assert resolve("user=u", require_auth="md5").require_auth == "md5"
    monkeypatch.setenv("PGREQUIREAUTH", "bogus")
    with pytest.raises(InterfaceError, match='invalid require_auth value: "bogus"'):
        resolve("user=u")


@pytest.mark.parametrize(
    "value", ["kerberos", "md5,!password", "!md5,md5", "md5,md5", "SCRAM-SHA-256"]
)
def test_invalid_require_auth_fails_at_resolve_time(value: str) -> None:
    with pytest.raises(InterfaceError, match="require_auth"):
        resolve(user="u", require_auth=value)


# -- TCP keepalives ---------------------------------------------------------------


def test_keepalive_keywords_are_parsed_as_libpq_does() -> None:
    assert resolve("user=u").tcp == TCPOptions()
    assert TCPOptions().keepalives is True
    params = resolve(
        "user=u keepalives=1 keepalives_idle=' 30 ' keepalives_interval=5",
        keepalives_count=4,
        tcp_user_timeout="2500",
    )
    assert params.tcp == TCPOptions(True, 30, 5, 4, 2500)
    assert resolve("user=u keepalives=0").tcp.keepalives is False
    assert resolve("user=u keepalives=7").tcp.keepalives is True
    assert resolve(user="u", keepalives=False).tcp.keepalives is False
    assert resolve(user="u", keepalives=True).tcp.keepalives is True
    # zero or less: the system's default
    params = resolve("user=u keepalives_idle=0 keepalives_count=-3 tcp_user_timeout=0")
    assert params.tcp == TCPOptions()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("keepalives", "yes"),
        ("keepalives_idle", "1.5"),
        ("keepalives_interval", ""),
        ("keepalives_count", "1_0"),
        ("tcp_user_timeout", "99999999999"),
        ("keepalives_idle", "\u0663"),
    ],
)
def test_invalid_keepalive_values_are_interface_errors(key: str, value: str) -> None:
    with pytest.raises(InterfaceError) as info:
        resolve(user="u", **{key: value})
    assert str(info.value) == (
        f'invalid integer value "{value}" for connection option "{key}"'
    )


def test_keepalives_have_no_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PGKEEPALIVES", "0")
    monkeypatch.setenv("PGKEEPALIVESIDLE", "10")
    assert resolve("user=u").tcp == TCPOptions()


def test_boolean_keywords_mean_libpq_one_and_zero() -> None:
    assert resolve(user="u", sslsni=False).sslsni is False
    assert resolve(user="u", sslsni=True).sslsni is True


# -- TLS verification as libpq: a root certificate file means verification -------


def _root_crt(home: str) -> str:
    # Any PEM certificate will do: the context only has to load it.
    from pgsetup import TLSFiles

    tls = TLSFiles()
    os.makedirs(os.path.join(home, ".postgresql"))
    target = os.path.join(home, ".postgresql", "root.crt")
    os.replace(tls.ca, target)
    return target


def test_require_verifies_the_chain_when_the_default_root_file_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    ctx = tls_context(resolve(user="u", sslmode="require"))
    assert ctx.verify_mode == ssl.CERT_NONE  # no root.crt yet
    _root_crt(str(tmp_path))
    for mode in ("allow", "prefer", "require", "verify-ca"):
        ctx = tls_context(resolve(user="u", sslmode=mode))
        assert ctx.verify_mode == ssl.CERT_REQUIRED, mode
        assert ctx.check_hostname is False
        assert ctx.cert_store_stats()["x509_ca"] == 1
    ctx = tls_context(resolve(user="u", sslmode="verify-full"))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is True


def test_require_verifies_the_chain_when_sslrootcert_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    root = _root_crt(str(tmp_path))
    ctx = tls_context(resolve(user="u", sslmode="require", sslrootcert=root))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname is False
    missing = str(tmp_path / "missing.crt")
    ctx = tls_context(resolve(user="u", sslmode="require", sslrootcert=missing))
    assert ctx.verify_mode == ssl.CERT_NONE


def test_sslrootcert_system_means_verify_full(tmp_path) -> None:
    assert resolve(user="u", sslrootcert="system").sslmode == "verify-full"
    with pytest.raises(InterfaceError, match='weak sslmode "require" may not be used'):
        resolve(user="u", sslrootcert="system", sslmode="require")
