"""The sans-I/O core with no server: recorded exchanges replayed, a fake peer.

``exchanges/query_session.jsonl`` was recorded from a real server by
``record_exchanges.py``; here the same flows run against those bytes, whole
and one byte at a time, and must send the same bytes and give the same
results.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import types
from collections.abc import Generator
from typing import Any

import pytest
from record_exchanges import SESSION_QUERIES, copy_session, startup

import pgcopy_fast as pcf
from pgcopy_fast.protocol.auth import Authenticator, saslprep, tls_server_end_point
from pgcopy_fast.protocol.events import NEED_DATA, AuthenticationRequest, ReadyForQuery
from pgcopy_fast.protocol.flows import RECV, Result, copy_start_flow, query_flow
from pgcopy_fast.protocol.machine import ClientProtocol, State

EXCHANGES = os.path.join(os.path.dirname(__file__), "exchanges")


def _load(name: str) -> tuple[bytes, list[bytes]]:
    client, server = b"", []
    with open(os.path.join(EXCHANGES, name)) as f:
        for line in f:
            entry = json.loads(line)
            if entry["from"] == "client":
                client += bytes.fromhex(entry["hex"])
            else:
                server.append(bytes.fromhex(entry["hex"]))
    return client, server


class Replay:
    """Drives flows against recorded server bytes, checking what they send."""

    def __init__(self, client: bytes, server: list[bytes], byte_by_byte: bool) -> None:
        self.expected = client
        data = b"".join(server)
        self.chunks = (
            [data[i : i + 1] for i in range(len(data))] if byte_by_byte else server
        )
        self.sent = b""

    def send(self, data: bytes) -> None:
        self.sent += data
        assert self.expected.startswith(self.sent)

    def run(self, flow: Generator[Any, Any, Any]) -> Any:
        try:
            step = next(flow)
            while True:
                if step is RECV:
                    step = flow.send(self.chunks.pop(0))
                else:
                    self.send(step)
                    step = flow.send(None)
        except StopIteration as stop:
            return stop.value


def _replay(
    name: str, byte_by_byte: bool, scenario: Any
) -> tuple[Replay, ClientProtocol, list[Any], Any]:
    client, server = _load(f"{name}.jsonl")
    replay = Replay(client, server, byte_by_byte)
    proto = ClientProtocol()
    events: list[Any] = []
    startup(replay.run, proto, events.append)
    assert proto.state is State.IDLE and proto.backend_key is not None
    assert proto.parameters["server_encoding"] == "UTF8"
    outcome = scenario(replay.run, replay.send, proto)
    assert replay.sent == client
    assert replay.chunks == []
    return replay, proto, events, outcome


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["chunks", "bytes"])
def test_recorded_query_session_replays(byte_by_byte: bool) -> None:
    events: list[Any] = []

    def scenario(run: Any, send: Any, proto: ClientProtocol) -> list[Any]:
        outcomes = []
        for sql in SESSION_QUERIES:
            try:
                outcomes.append(run(query_flow(proto, sql, events.append)))
            except pcf.Error as exc:
                outcomes.append(exc)
        return outcomes

    _, proto, _, outcomes = _replay("query_session", byte_by_byte, scenario)
    assert outcomes[0] == Result(
        "SELECT 1",
        1,
        [("a", 23), ("b", 25), ("c", 25)],
        [("1", None, "h\u00e9")],
        [-1, -1, -1],
    )
    assert isinstance(outcomes[1], pcf.DataError) and outcomes[1].sqlstate == "22012"
    assert outcomes[2].command_tag == "INSERT 0 2" and outcomes[2].rowcount == 2
    assert outcomes[3] == Result()
    assert [e.message for e in events if isinstance(e, pcf.NoticeResponse)] == [
        "note 1"
    ]
    notifications = [e for e in events if isinstance(e, pcf.NotificationResponse)]
    assert [(n.channel, n.payload) for n in notifications] == [("chan", "hello")]
    assert proto.parameters["TimeZone"] == "UTC"
    assert outcomes[7].command_tag == "COMMIT"
    assert proto.state is State.IDLE


@pytest.mark.parametrize("byte_by_byte", [False, True], ids=["chunks", "bytes"])
def test_recorded_copy_session_replays(
    impl: types.ModuleType, byte_by_byte: bool
) -> None:
    _, proto, _, got = _replay(
        "copy_session",
        byte_by_byte,
        lambda run, send, proto: copy_session(run, send, proto, impl),
    )
    assert got["text_in_response"] == (0, (0, 0))
    assert got["binary_in_response"] == (1, (1, 1))
    assert (got["text_in"], got["binary_in"]) == (3, 3)
    assert got["copy_fail"] == ("QueryCanceled", "57014")
    assert got["server_error"] == ("IntegrityError", "23505")
    expected = [
        (1, "x\\ty"),
        (2, None),
        (3, "\u00e9"),
        (10, "x\\ty"),
        (11, None),
        (12, "\u00e9"),
    ]
    assert got["binary_out"] == expected
    assert got["text_out"] == [(str(a), b) for a, b in expected]
    assert got["text_out_count"] == got["binary_out_count"] == 6
    assert got["out_first"] == [b"-1\n"]
    assert got["out_error"] == ("DataError", "22012")
    assert proto.state is State.IDLE


def _msg(msgtype: bytes, payload: bytes) -> bytes:
    return msgtype + struct.pack(">i", len(payload) + 4) + payload


def _idle_protocol() -> ClientProtocol:
    proto = ClientProtocol()
    proto.startup({"user": "u"})
    proto.receive_data(_msg(b"R", b"\0\0\0\0") + _msg(b"Z", b"I"))
    assert isinstance(proto.next_event(), AuthenticationRequest)
    assert isinstance(proto.next_event(), ReadyForQuery)
    return proto


def _state(proto: ClientProtocol) -> State:
    # read through a call, so mypy does not keep proto.state narrowed to an
    # earlier assert's value across the calls that change it
    return proto.state


@pytest.mark.parametrize(
    ("setup_query", "message"),
    [
        (True, _msg(b"D", b"\0\0")),  # DataRow before RowDescription
        (False, _msg(b"d", b"x")),  # CopyData while idle
        (True, _msg(b"R", b"\0\0\0\0")),  # Authentication after startup
        (True, _msg(b"Z", b"X")),  # a transaction status that does not exist
        (True, _msg(b"T", b"\0\1abc")),  # truncated RowDescription
        (True, _msg(b"!", b"")),  # a type the protocol does not have
        (False, _msg(b"K", b"\0\0\0\1\0\0\0\2")),  # BackendKeyData after startup
    ],
)
def test_out_of_order_or_malformed_messages_are_protocol_errors(
    setup_query: bool, message: bytes
) -> None:
    proto = _idle_protocol()
    if setup_query:
        proto.query("SELECT 1")
    proto.receive_data(message)
    with pytest.raises(pcf.ProtocolError):
        proto.next_event()
    assert proto.state is State.CLOSED
    with pytest.raises(pcf.InterfaceError, match="closed"):
        proto.query("SELECT 1")


def test_data_row_field_running_past_the_end_is_a_protocol_error() -> None:
    proto = _idle_protocol()
    proto.query("SELECT 1")
    proto.receive_data(
        _msg(b"T", b"\0\1a\0" + b"\0" * 18) + _msg(b"D", b"\0\1\0\0\0\x09ab")
    )
    proto.next_event()
    with pytest.raises(pcf.ProtocolError, match="malformed"):
        proto.next_event()


def test_query_while_busy_is_an_interface_error() -> None:
    proto = _idle_protocol()
    proto.query("SELECT 1")
    with pytest.raises(pcf.InterfaceError, match="in progress"):
        proto.query("SELECT 2")
    assert proto.next_event() is NEED_DATA


def test_copy_fail_message_stays_under_the_server_limit() -> None:
    proto = _idle_protocol()
    proto.query("COPY t FROM STDIN")
    proto.receive_data(_msg(b"G", b"\0\0\1\0\0"))
    proto.next_event()
    assert _state(proto) is State.COPY_IN
    message = proto.copy_fail("\u00e9" * 20_000)
    assert message[:1] == b"f" and len(message) < 10_000
    message[5:-1].decode("utf-8")  # cut on a character boundary
    assert _state(proto) is State.BUSY


# -- authentication ---------------------------------------------------------


def test_md5_password_matches_the_documented_formula() -> None:
    auth = Authenticator("bob", "secret")
    reply = auth.respond(AuthenticationRequest(5, b"\x01\x02\x03\x04"))
    import hashlib

    inner = hashlib.md5(b"secretbob").hexdigest().encode()
    assert (
        reply
        == b"md5"
        + hashlib.md5(inner + b"\x01\x02\x03\x04").hexdigest().encode()
        + b"\0"
    )


@pytest.mark.parametrize(
    ("code", "name"), [(7, "GSSAPI"), (9, "SSPI"), (2, "Kerberos V5")]
)
def test_unsupported_methods_are_named(code: int, name: str) -> None:
    with pytest.raises(
        pcf.OperationalError, match=f"authentication method {name} is not supported"
    ):
        Authenticator("u", "p").respond(AuthenticationRequest(code))


def test_scram_follows_the_rfc_7677_example() -> None:
    auth = Authenticator("user", "pencil")
    first = auth.respond(AuthenticationRequest(10, b"SCRAM-SHA-256\0\0"))
    assert first is not None and first.startswith(b"SCRAM-SHA-256\0")
    # Pin the nonce and the user name of the RFC's example.
    auth._nonce = "rOprNGfwEbeRWgbNEkqO"
    auth._first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO"
    server_first = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    final = auth.respond(AuthenticationRequest(11, server_first))
    assert final == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    assert (
        auth.respond(
            AuthenticationRequest(12, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        )
        is None
    )
    assert auth.respond(AuthenticationRequest(0)) is None


def test_scram_refuses_a_server_that_does_not_know_the_password() -> None:
    auth = Authenticator("user", "pencil")
    auth.respond(AuthenticationRequest(10, b"SCRAM-SHA-256\0\0"))
    nonce = auth._nonce
    auth.respond(AuthenticationRequest(11, f"r={nonce}xyz,s=AAAA,i=4096".encode()))
    bogus = base64.b64encode(b"\0" * 32)
    with pytest.raises(pcf.OperationalError, match="signature"):
        auth.respond(AuthenticationRequest(12, b"v=" + bogus))


def test_scram_refuses_a_nonce_that_does_not_extend_ours() -> None:
    auth = Authenticator("user", "pencil")
    auth.respond(AuthenticationRequest(10, b"SCRAM-SHA-256\0\0"))
    with pytest.raises(pcf.OperationalError, match="nonce"):
        auth.respond(AuthenticationRequest(11, b"r=other,s=AAAA,i=4096"))


def test_saslprep_maps_and_normalizes() -> None:
    assert saslprep("I\u00adX") == "IX"  # soft hyphen maps to nothing
    assert saslprep("\u2168") == "IX"  # NFKC
    assert saslprep("a\u00a0b") == "a b"  # non-ASCII space
    assert saslprep("a\u0007b") == "a\u0007b"  # prohibited: used raw, as libpq


def test_channel_binding_hash_refuses_unknown_signature_algorithms() -> None:
    with pytest.raises(pcf.OperationalError, match="channel binding"):
        tls_server_end_point(b"\x30\x03\x02\x01\x00")


def test_copy_both_is_refused_and_the_protocol_returns_to_idle() -> None:
    proto = _idle_protocol()
    server = (
        _msg(b"W", b"\0\0\0")
        + _msg(b"d", b"wal")
        + _msg(b"c", b"")
        + _msg(b"C", b"START_REPLICATION\0")
        + _msg(b"Z", b"I")
    )
    replay = Replay(b"", [server], byte_by_byte=False)
    replay.expected = None  # type: ignore[assignment]
    sent: list[bytes] = []

    def send(data: bytes) -> None:
        sent.append(data)

    replay.send = send  # type: ignore[method-assign]
    with pytest.raises(pcf.InterfaceError, match="copy-both"):
        replay.run(copy_start_flow(proto, "START_REPLICATION", "in", lambda e: None))
    assert sent[0][:1] == b"Q" and sent[1] == b"c\0\0\0\4"
    assert proto.state is State.IDLE
