"""Connection security in both APIs: hostile servers, require_auth, secrets
kept out of reprs, TLS verification with a root certificate file, the
password file's permissions, and TCP keepalives.

Hostile servers are a small fake server (a thread on 127.0.0.1 that speaks
just enough protocol); everything else runs against the real server.
Each test runs once (none of them depends on the kernel twin).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import shutil
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pgsetup import ROLES

import pgcopy_fast as pcf
from pgcopy_fast.connection import conninfo
from pgcopy_fast.connection.conninfo import PasswordFileWarning, resolve
from pgcopy_fast.connection.transport import SocketTransport
from pgcopy_fast.connection.transport_aio import AsyncTransport

pytestmark = pytest.mark.kernel_free

APIS = ["blocking", "asyncio"]
#: How long a test waits for connect() before calling it hung (no test
#: relies on this for its outcome; it only keeps a broken build from hanging).
HANG = 120.0
PASSWORD = "correct horse battery staple"
PASSWORDS = {role: password for role, _, password, _ in ROLES}


# -- running connect() in either API, with hang protection -------------------------


def _in_thread(fn: Callable[[], Any]) -> Any:
    """``fn()`` in a daemon thread; its result, or the exception it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG)
    if thread.is_alive():
        pytest.fail(f"no answer from connect() within {HANG} s")
    return outcome[0]


def _session(api: str, sql: str | None = None, **kwargs: Any) -> Any:
    """Connect, run ``sql`` (its rows are returned), close; or the exception.

    Without ``sql`` the open connection's repr and info's repr and str.
    """

    def blocking() -> Any:
        with pcf.connect(**kwargs) as conn:
            if sql is None:
                return repr(conn), repr(conn.info), str(conn.info)
            return conn.execute(sql).rows

    async def asyncio_() -> Any:
        async with await pcf.connect_async(**kwargs) as conn:
            if sql is None:
                return repr(conn), repr(conn.info), str(conn.info)
            return (await conn.execute(sql)).rows

    if api == "blocking":
        return _in_thread(blocking)
    return _in_thread(lambda: asyncio.run(asyncio_()))


def _failure(api: str, **kwargs: Any) -> BaseException:
    """The exception connect() raises (failing the test if it connects)."""
    result = _session(api, "SELECT 1", **kwargs)
    if not isinstance(result, BaseException):
        pytest.fail(f"connect() succeeded: {result!r}")
    return result


# -- a fake server ---------------------------------------------------------------


def auth(code: int, data: bytes = b"") -> bytes:
    """An Authentication* message."""
    return b"R" + struct.pack(">ii", 8 + len(data), code) + data


def error(sqlstate: str, message: str) -> bytes:
    """A FATAL ErrorResponse."""
    body = b"".join(
        k + v.encode() + b"\0"
        for k, v in (
            (b"S", "FATAL"),
            (b"V", "FATAL"),
            (b"C", sqlstate),
            (b"M", message),
        )
    )
    return b"E" + struct.pack(">i", 5 + len(body)) + body + b"\0"


SALT = b"fake salt"
SESSION_START = b"K" + struct.pack(">iii", 12, 4242, 99) + b"Z\0\0\0\x05I"
#: The answer to "SELECT 1": RowDescription, DataRow, CommandComplete, ready.
SELECT_ONE = (
    b"T"
    + struct.pack(">ih", 4 + 2 + 9 + 18, 1)
    + b"?column?\0"
    + struct.pack(">IhIhih", 0, 0, 23, 4, -1, 0)
    + b"D"
    + struct.pack(">ihi", 4 + 2 + 4 + 1, 1, 1)
    + b"1"
    + b"C\0\0\0\x0dSELECT 1\0"
    + b"Z\0\0\0\x05I"
)


class Peer:
    """The server end of one client connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.raw = b""  # everything the client sent after its StartupMessage
        self.messages: list[tuple[bytes, bytes]] = []

    def _read(self, n: int) -> bytes | None:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def startup(self) -> None:
        """Read the StartupMessage (answering SSLRequest with 'N')."""
        while True:
            head = self._read(8)
            assert head is not None, "the client sent no StartupMessage"
            length, code = struct.unpack(">ii", head)
            rest = self._read(length - 8)
            assert rest is not None
            if code == 80877103:  # SSLRequest
                self.sock.sendall(b"N")
                continue
            return

    def send(self, *messages: bytes) -> None:
        self.sock.sendall(b"".join(messages))

    def recv(self) -> tuple[bytes, bytes] | None:
        """The client's next message (type, payload); None once it closed."""
        head = self._read(5)
        if head is None:
            return None
        length = struct.unpack(">i", head[1:])[0]
        payload = self._read(length - 4)
        if payload is None:
            return None
        self.raw += head + payload
        self.messages.append((head[:1], payload))
        return head[:1], payload

    def until_closed(self) -> None:
        """Read what the client sends until it closes the connection."""
        while self.recv() is not None:
            pass


class FakeServer:
    """Runs ``script(peer)`` for each connection to 127.0.0.1:``port``."""

    def __init__(self, script: Callable[[Peer], None]) -> None:
        self.script = script
        self.peers: list[Peer] = []
        self.failures: list[BaseException] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.05)
        self.port: int = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            with sock:
                sock.settimeout(HANG)
                peer = Peer(sock)
                self.peers.append(peer)
                try:
                    peer.startup()
                    self.script(peer)
                    # Done: the client sees the end of the stream, and the
                    # server reads whatever it still sends.
                    sock.shutdown(socket.SHUT_WR)
                    peer.until_closed()
                except OSError:
                    pass  # the client went away: what a client may do
                except BaseException as exc:
                    self.failures.append(exc)

    def close(self) -> None:
        """Stop serving, once the connection being served is done (idempotent)."""
        self._stop.set()
        self._thread.join(HANG)
        self.listener.close()
        assert not self.failures, self.failures


@pytest.fixture
def fake_server() -> Iterator[Callable[[Callable[[Peer], None]], FakeServer]]:
    servers: list[FakeServer] = []

    def start(script: Callable[[Peer], None]) -> FakeServer:
        servers.append(FakeServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _fake_connect(api: str, server: FakeServer, **kwargs: Any) -> Any:
    kwargs.setdefault("password", PASSWORD)
    kwargs.setdefault("connect_timeout", 30)
    return _session(
        api,
        "SELECT 1",
        host="127.0.0.1",
        port=server.port,
        user="victim",
        dbname="db",
        sslmode="disable",
        **kwargs,
    )


def _fake_failure(api: str, server: FakeServer, **kwargs: Any) -> BaseException:
    result = _fake_connect(api, server, **kwargs)
    assert isinstance(result, BaseException), result
    return result


def scram(
    peer: Peer,
    *,
    password: str = PASSWORD,
    iterations: int = 4096,
    server_first: Callable[[str], bytes] | None = None,
    server_final: bytes | None = None,
    then: bytes = auth(0) + SESSION_START,
    salted: bytes | None = None,
) -> None:
    """A SCRAM-SHA-256 server exchange; ``server_first`` / ``server_final``
    replace the messages it would send (given the client's nonce).

    The server derives its key before it sends server-first (or takes it
    as ``salted``), so that the client's own derivation is all that happens
    between the two messages.
    """
    salt = SALT
    if salted is None and server_final is None:
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    peer.send(auth(10, b"SCRAM-SHA-256\0\0"))
    message = peer.recv()
    if message is None:
        return
    client_first = message[1].partition(b"\0")[2][4:].decode()
    first_bare = client_first.split(",,", 1)[1]
    nonce = first_bare.split("r=", 1)[1] + "fakeserver"
    first = f"r={nonce},s={base64.b64encode(salt).decode()},i={iterations}"
    peer.send(auth(11, server_first(nonce) if server_first else first.encode()))
    message = peer.recv()
    if message is None:
        return
    final_bare = message[1].decode().rsplit(",p=", 1)[0]
    server_key = hmac.digest(salted or b"", b"Server Key", "sha256")
    signed = f"{first_bare},{first},{final_bare}".encode()
    verifier = base64.b64encode(hmac.digest(server_key, signed, "sha256"))
    peer.send(auth(12, b"v=" + verifier if server_final is None else server_final))
    peer.send(then)


def _sends(*messages: bytes) -> Callable[[Peer], None]:
    return lambda peer: peer.send(*messages)


def _steps(*steps: Callable[[Peer], object]) -> Callable[[Peer], None]:
    """A script of several steps, in order."""

    def script(peer: Peer) -> None:
        for step in steps:
            step(peer)

    return script


# -- a hostile server gets nothing but OperationalError out of connect() -------------

PROTOCOL_ERRORS: dict[str, Callable[[Peer], None]] = {
    "SASL mechanisms not UTF-8": _sends(auth(10, b"SCRAM\xff\0\0")),
    "SASL mechanisms unterminated": _sends(auth(10, b"SCRAM-SHA-256")),
    "SASLContinue without SASL": _sends(auth(11, b"r=x,s=AAAA,i=1")),
    "SASLFinal without SASL": _sends(auth(12, b"v=AAAA")),
    "SASLFinal before SASLContinue": _steps(
        _sends(auth(10, b"SCRAM-SHA-256\0\0")), Peer.recv, _sends(auth(12, b"v="))
    ),
    "server-first not UTF-8": lambda peer: scram(
        peer, server_first=lambda nonce: b"r=\xc3\x28,s=AAAA,i=1"
    ),
    "server-first missing attributes": lambda peer: scram(
        peer, server_first=lambda nonce: f"r={nonce}".encode()
    ),
    "salt not base64": lambda peer: scram(
        peer, server_first=lambda nonce: f"r={nonce},s=*salt*,i=4096".encode()
    ),
    "iteration count 0": lambda peer: scram(
        peer, server_first=lambda nonce: f"r={nonce},s=AAAA,i=0".encode()
    ),
    "iteration count not numeric": lambda peer: scram(
        peer, server_first=lambda nonce: f"r={nonce},s=AAAA,i=4k".encode()
    ),
    "iteration count beyond PBKDF2": lambda peer: scram(
        peer, server_first=lambda nonce: f"r={nonce},s=AAAA,i={2**64}".encode()
    ),
    "server-final not base64": lambda peer: scram(peer, server_final=b"v=%%%%"),
    "server-final not UTF-8": lambda peer: scram(peer, server_final=b"v=\xff\xff"),
    "server-final without verifier": lambda peer: scram(peer, server_final=b"q=1"),
    "MD5 salt too short": _sends(auth(5, b"\x01")),
    "Authentication message too short": _sends(b"R\0\0\0\x06\0\0"),
    "two SASL starts": _steps(
        _sends(auth(10, b"SCRAM-SHA-256\0\0")),
        Peer.recv,
        _sends(auth(10, b"SCRAM-SHA-256\0\0")),
    ),
}

OPERATIONAL_ERRORS: dict[str, tuple[Callable[[Peer], None], str]] = {
    "unknown SASL mechanism": (
        _sends(auth(10, b"X-UNHEARD-OF\0\0")),
        "none of the server's SASL authentication mechanisms",
    ),
    "nonce not extending ours": (
        lambda peer: scram(peer, server_first=lambda nonce: b"r=mine,s=AAAA,i=4096"),
        "nonce",
    ),
    "wrong server signature": (
        lambda peer: scram(peer, password="the server does not know it"),
        "signature",
    ),
    "SCRAM error from the server": (
        lambda peer: scram(peer, server_final=b"e=other-error"),
        "SCRAM authentication failed: other-error",
    ),
    "AuthenticationOk before SASLFinal": (
        _steps(
            _sends(auth(10, b"SCRAM-SHA-256\0\0")),
            Peer.recv,
            _sends(auth(0) + SESSION_START),
        ),
        "ended SCRAM authentication early",
    ),
    "unknown authentication method": (_sends(auth(77)), "not supported"),
    "garbage instead of messages": (_sends(b"\x00" * 64), ""),
    "closed in the middle of a message": (_sends(auth(10)[:6]), ""),
    "server error during SCRAM": (
        lambda peer: scram(peer, server_final=b"", then=error("28P01", "no")),
        "",
    ),
}


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", sorted(PROTOCOL_ERRORS))
def test_malformed_authentication_raises_protocol_error(
    fake_server: Any, api: str, case: str
) -> None:
    server = fake_server(PROTOCOL_ERRORS[case])
    exc = _fake_failure(api, server)
    assert isinstance(exc, pcf.ProtocolError), repr(exc)
    assert PASSWORD not in str(exc)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", sorted(OPERATIONAL_ERRORS))
def test_refused_authentication_raises_operational_error(
    fake_server: Any, api: str, case: str
) -> None:
    script, match = OPERATIONAL_ERRORS[case]
    exc = _fake_failure(api, fake_server(script))
    assert isinstance(exc, pcf.OperationalError), repr(exc)
    assert match in str(exc)
    assert PASSWORD not in str(exc)


@pytest.mark.parametrize("api", APIS)
def test_a_full_scram_exchange_with_the_fake_server(fake_server: Any, api: str) -> None:
    # The fake server's own proof is right: the exchange ends in a session
    # (the Compute step ran in a thread under connect_timeout, or inline
    # without it in the blocking API).
    for timeout in (None, 30):
        server = fake_server(_steps(scram, Peer.recv, _sends(SELECT_ONE)))
        assert _fake_connect(api, server, connect_timeout=timeout) == [("1",)]
        server.close()  # done with the connection: its record is complete
        sent = [t for t, _ in server.peers[0].messages]
        assert sent == [b"p", b"p", b"Q", b"X"]


# -- require_auth: refused before anything is sent ------------------------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("require", "request_", "reason"),
    [
        ("scram-sha-256", auth(3), "server requested a cleartext password"),
        ("scram-sha-256", auth(5, b"salt"), "server requested a hashed password"),
        ("!password", auth(3), "server requested a cleartext password"),
        (
            "md5",
            auth(10, b"SCRAM-SHA-256\0\0"),
            "server requested SASL authentication",
        ),
        (
            "scram-sha-256",
            auth(0) + SESSION_START,
            "server did not complete authentication",
        ),
    ],
)
def test_require_auth_refuses_before_sending_the_password(
    fake_server: Any, api: str, require: str, request_: bytes, reason: str
) -> None:
    server = fake_server(_sends(request_))
    exc = _fake_failure(api, server, require_auth=require)
    assert isinstance(exc, pcf.OperationalError)
    assert f'authentication method requirement "{require}" failed: {reason}' in str(exc)
    server.close()  # the client closed: everything it sent has been read
    peer = server.peers[0]
    assert peer.messages == []  # not a PasswordMessage, nor anything else
    assert PASSWORD.encode() not in peer.raw


@pytest.mark.parametrize("api", APIS)
def test_channel_binding_require_does_not_send_the_password(
    fake_server: Any, api: str
) -> None:
    server = fake_server(_sends(auth(3)))
    exc = _fake_failure(api, server, channel_binding="require")
    assert "channel binding is required" in str(exc)
    server.close()
    assert server.peers[0].messages == []


def _tcp(pg_server: Any, role: str, **kwargs: Any) -> dict[str, Any]:
    if pg_server.tls is None:
        pytest.skip("needs the throwaway cluster (pg_hba lines, roles, TLS)")
    kwargs.setdefault("password", PASSWORDS[role])
    kwargs.setdefault("sslmode", "disable")
    return dict(
        host="127.0.0.1", port=pg_server.port, user=role, dbname="postgres", **kwargs
    )


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("role", "require"),
    [
        ("scram_user", "scram-sha-256"),
        ("scram_user", "!password,!md5"),
        ("md5_user", "md5,password"),
        ("pw_user", "password"),
        ("trust_user", "none"),
        ("trust_user", "!md5"),
        ("trust_user", "scram-sha-256,none"),
    ],
)
def test_require_auth_lets_allowed_methods_connect(
    pg_server: Any, api: str, role: str, require: str
) -> None:
    rows = _session(
        api, "SELECT current_user", **_tcp(pg_server, role, require_auth=require)
    )
    assert rows == [(role,)]


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("role", "require", "reason"),
    [
        ("pw_user", "scram-sha-256", "server requested a cleartext password"),
        ("md5_user", "scram-sha-256", "server requested a hashed password"),
        ("md5_user", "!md5", "server requested a hashed password"),
        ("scram_user", "password,md5", "server requested SASL authentication"),
        ("trust_user", "!none", "server did not complete authentication"),
        ("trust_user", "scram-sha-256", "server did not complete authentication"),
    ],
)
def test_require_auth_refuses_other_methods(
    pg_server: Any, api: str, role: str, require: str, reason: str
) -> None:
    exc = _failure(api, **_tcp(pg_server, role, require_auth=require))
    assert isinstance(exc, pcf.OperationalError)
    assert str(exc).endswith(
        f'authentication method requirement "{require}" failed: {reason}'
    )
    assert exc.sqlstate is None  # refused by us, not by the server


@pytest.mark.parametrize("api", APIS)
def test_require_auth_from_the_environment(
    pg_server: Any, api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGREQUIREAUTH", "md5")
    exc = _failure(api, **_tcp(pg_server, "pw_user"))
    assert "server requested a cleartext password" in str(exc)


@pytest.mark.parametrize("api", APIS)
def test_require_auth_with_channel_binding_require(pg_server: Any, api: str) -> None:
    tcp = _tcp(
        pg_server,
        "scram_user",
        sslmode="require",
        channel_binding="require",
        require_auth="scram-sha-256",
    )
    sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    assert _session(api, sql, **tcp) == [("t",)]
    # Allowed by require_auth, refused by channel_binding: nothing is sent.
    exc = _failure(
        api,
        **_tcp(
            pg_server, "pw_user", require_auth="password", channel_binding="require"
        ),
    )
    assert "channel binding is required" in str(exc)


# -- SCRAM's iteration count is the server's choice: bounded by connect_timeout -------


def test_the_event_loop_runs_during_the_key_derivation(fake_server: Any) -> None:
    # A derivation of a second or two: the loop must tick all along.  The
    # server's key is derived beforehand, so the client's derivation is the
    # only thing between server-first and server-final.
    iterations = 6_000_000
    salted = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), SALT, iterations)
    server = fake_server(
        _steps(
            lambda peer: scram(peer, iterations=iterations, salted=salted),
            Peer.until_closed,
        )
    )

    async def main() -> tuple[int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        try:
            conn = await pcf.connect_async(
                host="127.0.0.1",
                port=server.port,
                user="victim",
                dbname="db",
                password=PASSWORD,
                sslmode="disable",
            )
        finally:
            task.cancel()
        pid = conn.backend_pid
        await conn.close()
        return ticks, pid

    ticks, pid = _in_thread(lambda: asyncio.run(main()))
    assert pid == 4242  # the session opened: the derived key was right
    # A blocked loop would tick only around the network waits (a few times).
    assert ticks > 25


@pytest.mark.parametrize("api", APIS)
def test_a_huge_iteration_count_ends_at_connect_timeout(
    fake_server: Any, api: str
) -> None:
    # Tens of seconds of PBKDF2 on any current machine; the client gives up
    # at connect_timeout (its thread computes on, unseen, and is a daemon).
    server = fake_server(
        lambda peer: scram(peer, iterations=40_000_000, server_final=b"v=")
    )
    exc = _fake_failure(api, server, connect_timeout=2)
    assert isinstance(exc, pcf.OperationalError), repr(exc)
    assert "timeout expired" in str(exc)
    # It gave up during the derivation, not after it: the client-final-
    # message was never sent (only the SASLInitialResponse was).
    server.close()
    assert [kind for kind, _ in server.peers[0].messages] == [b"p"]


# -- nothing printable holds the password ------------------------------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("source", ["dsn", "keyword", "PGPASSWORD"])
def test_connection_info_does_not_print_the_password(
    pg_server: Any, api: str, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tcp = _tcp(pg_server, "scram_user")
    password = tcp.pop("password")
    if source == "dsn":
        dsn = f"password='{password}'"
        texts = _session(api, None, dsn=dsn, **tcp)
    elif source == "keyword":
        texts = _session(api, None, password=password, **tcp)
    else:
        monkeypatch.setenv("PGPASSWORD", password)
        texts = _session(api, None, **tcp)
    assert not isinstance(texts, BaseException), texts
    conn_repr, info_repr, info_str = texts
    assert "scram_user@127.0.0.1" in conn_repr
    for text in texts:
        assert password not in text and "secret" not in text
    assert "password='********'" in info_repr and "password='********'" in info_str


# -- TLS: a root certificate file makes sslmode=require verify the chain ---------------


def _home_with_root(tmp_path: Any, ca: str, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".postgresql").mkdir(parents=True)
    shutil.copy(ca, home / ".postgresql" / "root.crt")
    monkeypatch.setenv("HOME", str(home))


SSL_IN_USE = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


@pytest.mark.parametrize("api", APIS)
def test_require_verifies_against_the_home_root_certificate(
    pg_server: Any, api: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tcp = _tcp(pg_server, "scram_user", sslmode="require")
    _home_with_root(tmp_path, pg_server.tls.ca, monkeypatch)
    assert _session(api, SSL_IN_USE, **tcp) == [("t",)]


@pytest.mark.parametrize("api", APIS)
def test_require_refuses_a_server_the_home_root_certificate_does_not_sign(
    pg_server: Any, api: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tcp = _tcp(pg_server, "scram_user", sslmode="require")
    _home_with_root(tmp_path, pg_server.tls.other_ca, monkeypatch)
    exc = _failure(api, **tcp)
    assert isinstance(exc, pcf.OperationalError)
    assert "certificate verify failed" in str(exc)
    # Without the file, require does not verify (and connects).
    os.remove(tmp_path / "home" / ".postgresql" / "root.crt")
    assert _session(api, SSL_IN_USE, **tcp) == [("t",)]


@pytest.mark.parametrize("api", APIS)
def test_require_verifies_against_an_explicit_sslrootcert(
    pg_server: Any, api: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    good = _tcp(
        pg_server, "scram_user", sslmode="require", sslrootcert=pg_server.tls.ca
    )
    assert _session(api, SSL_IN_USE, **good) == [("t",)]
    bad = dict(good, sslrootcert=pg_server.tls.other_ca)
    assert "certificate verify failed" in str(_failure(api, **bad))


@pytest.mark.parametrize("api", APIS)
def test_prefer_falls_back_to_plain_when_verification_fails(
    pg_server: Any, api: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As libpq: the root file makes prefer verify too, and prefer's answer
    # to a failed TLS attempt is a plain one.
    tcp = _tcp(pg_server, "scram_user", sslmode="prefer")
    _home_with_root(tmp_path, pg_server.tls.other_ca, monkeypatch)
    assert _session(api, SSL_IN_USE, **tcp) == [("f",)]
    _home_with_root(tmp_path / "2", pg_server.tls.ca, monkeypatch)
    assert _session(api, SSL_IN_USE, **tcp) == [("t",)]


# -- the password file open to others: ignored, with libpq's warning ------------------


@pytest.mark.parametrize("api", APIS)
def test_a_password_file_open_to_others_is_ignored_with_a_warning(
    pg_server: Any, api: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conninfo, "_warned_passfiles", set())
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{pg_server.port}:*:md5_user:md5 secret\n")
    passfile.chmod(0o644)
    tcp = _tcp(pg_server, "md5_user", password=None, passfile=str(passfile))
    with pytest.warns(PasswordFileWarning, match="has group or world access") as rec:
        exc = _failure(api, **tcp)
    # Only ours: a ResourceWarning of an earlier test's garbage may land here.
    ours = [w for w in rec if issubclass(w.category, PasswordFileWarning)]
    assert len(ours) == 1 and str(passfile) in str(ours[0].message)
    assert "no password was supplied" in str(exc)
    passfile.chmod(0o600)
    assert _session(api, "SELECT 1", **tcp) == [("1",)]


# -- TCP keepalives, read back from the socket ------------------------------------

KEEPALIVE_OPTIONS = {
    "keepalives_idle": 17,
    "keepalives_interval": 3,
    "keepalives_count": 4,
    "tcp_user_timeout": 9000,
}
needs_linux_tcp_options = pytest.mark.skipif(
    not all(
        hasattr(socket, name)
        for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT", "TCP_USER_TIMEOUT")
    ),
    reason="the platform lacks some TCP keepalive options",
)


def _read_back(sock: Any) -> dict[str, int]:
    return {
        "keepalives": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "keepalives_idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        "keepalives_interval": sock.getsockopt(
            socket.IPPROTO_TCP, socket.TCP_KEEPINTVL
        ),
        "keepalives_count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        "tcp_user_timeout": sock.getsockopt(
            socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT
        ),
        "nodelay": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
    }


def _transport_sockopts(api: str, host: str, port: int, **kwargs: Any) -> Any:
    tcp = resolve(user="x", **kwargs).tcp

    def blocking() -> dict[str, int]:
        transport = SocketTransport.open(host, port, 10, None, tcp)
        try:
            return _read_back(transport.sock)
        finally:
            transport.close()

    async def asyncio_() -> dict[str, int]:
        transport = await AsyncTransport.open(host, port, 10, None, tcp)
        try:
            assert transport.transport is not None
            return _read_back(transport.transport.get_extra_info("socket"))
        finally:
            transport.close()

    return _in_thread(
        blocking if api == "blocking" else lambda: asyncio.run(asyncio_())
    )


@needs_linux_tcp_options
@pytest.mark.parametrize("api", APIS)
def test_transports_apply_the_keepalive_options(pg_server: Any, api: str) -> None:
    got = _transport_sockopts(api, "127.0.0.1", pg_server.port, **KEEPALIVE_OPTIONS)
    assert got == dict(KEEPALIVE_OPTIONS, keepalives=1, nodelay=1)
    got = _transport_sockopts(api, "127.0.0.1", pg_server.port)
    assert got["keepalives"] == 1 and got["nodelay"] == 1  # libpq's default
    got = _transport_sockopts(
        api, "127.0.0.1", pg_server.port, keepalives=0, tcp_user_timeout=1234
    )
    assert got["keepalives"] == 0 and got["tcp_user_timeout"] == 1234


@pytest.mark.parametrize("api", APIS)
def test_a_refused_keepalive_value_fails_the_connection(
    pg_server: Any, api: str
) -> None:
    if not hasattr(socket, "TCP_KEEPCNT"):
        pytest.skip("no TCP_KEEPCNT here")
    # Linux takes at most 127 probes: setsockopt refuses more.
    exc = _failure(api, **_tcp(pg_server, "trust_user", keepalives_count=100_000))
    assert isinstance(exc, pcf.OperationalError)
    assert "setsockopt(TCP_KEEPCNT) failed" in str(exc)


@pytest.mark.parametrize("api", APIS)
def test_keepalive_options_are_not_applied_to_unix_sockets(
    pg_server: Any, api: str
) -> None:
    if not pg_server.host.startswith("/"):
        pytest.skip("the server is not on a Unix socket")
    rows = _session(
        api,
        "SELECT 1",
        dsn=pg_server.dsn,
        keepalives_count=100_000,  # would be refused on a TCP socket
        **{k: v for k, v in KEEPALIVE_OPTIONS.items() if k != "keepalives_count"},
    )
    assert rows == [("1",)]


def _connection_sockopts(api: str, **kwargs: Any) -> Any:
    def blocking() -> dict[str, int]:
        with pcf.connect(**kwargs) as conn:
            return _read_back(conn._wire.transport.sock)

    async def asyncio_() -> dict[str, int]:
        async with await pcf.connect_async(**kwargs) as conn:
            return _read_back(conn._wire.transport.transport.get_extra_info("socket"))

    return _in_thread(
        blocking if api == "blocking" else lambda: asyncio.run(asyncio_())
    )


@needs_linux_tcp_options
@pytest.mark.parametrize("api", APIS)
def test_connections_apply_the_keepalive_options(pg_server: Any, api: str) -> None:
    got = _connection_sockopts(
        api, **_tcp(pg_server, "trust_user", **KEEPALIVE_OPTIONS)
    )
    assert got == dict(KEEPALIVE_OPTIONS, keepalives=1, nodelay=1)
    got = _connection_sockopts(api, **_tcp(pg_server, "trust_user", keepalives=0))
    assert got["keepalives"] == 0
