"""The sans-I/O Authenticator against hostile input, require_auth, and the
SCRAM key derivation handed out as a Compute step (no server needed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from typing import Any

import pytest

import pgcopy_fast as pcf
from pgcopy_fast.protocol.auth import (
    Authenticator,
    KeyDerivation,
    parse_require_auth,
)
from pgcopy_fast.protocol.events import AuthenticationRequest
from pgcopy_fast.protocol.flows import RECV, Compute, startup_flow
from pgcopy_fast.protocol.machine import ClientProtocol

pytestmark = pytest.mark.kernel_free

PASSWORD = "hunter2 s3cret"


def _req(code: int, data: bytes = b"") -> AuthenticationRequest:
    return AuthenticationRequest(code, data)


def _started(**kwargs: Any) -> Authenticator:
    """An Authenticator that has sent its SCRAM client-first-message."""
    auth = Authenticator("u", PASSWORD, **kwargs)
    first = auth.step(_req(10, b"SCRAM-SHA-256\0\0"))
    assert isinstance(first, bytes)
    return auth


def _server_first(auth: Authenticator, iterations: int = 4096) -> bytes:
    salt = base64.b64encode(b"pepper").decode()
    return f"r={auth._nonce}srv,s={salt},i={iterations}".encode()


def _continued(**kwargs: Any) -> Authenticator:
    """An Authenticator that has sent its client-final-message."""
    auth = _started(**kwargs)
    assert auth.respond(_req(11, _server_first(auth))) is not None
    return auth


# -- require_auth parsing (libpq 16's rules and wording) -------------------------


def test_require_auth_lists_allow_or_forbid_methods() -> None:
    assert parse_require_auth(None) is None and parse_require_auth("") is None
    req = parse_require_auth("password, md5")
    assert req is not None
    assert req.allowed == {3, 5} and req.auth_required
    req = parse_require_auth("scram-sha-256,none")
    assert req is not None and req.allowed == {10, 11, 12} and not req.auth_required
    req = parse_require_auth("!password,!md5")
    assert req is not None and not req.auth_required
    assert {10, 11, 12} <= req.allowed and not req.allowed & {3, 5}
    req = parse_require_auth("!none")
    assert req is not None and req.auth_required and {3, 5, 10} <= req.allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scram", 'invalid require_auth value: "scram"'),
        ("!kerberos", 'invalid require_auth value: "kerberos"'),
        ("password,", 'invalid require_auth value: ""'),
        (
            "scram-sha-256,!md5",
            'negative require_auth method "!md5" cannot be mixed with '
            "non-negative methods",
        ),
        (
            "!password,!none,scram-sha-256",
            'require_auth method "scram-sha-256" cannot be mixed with negative methods',
        ),
        ("password,md5,password", 'require_auth method "password" is specified'),
        ("!md5,!md5", 'require_auth method "!md5" is specified more than once'),
        ("none,md5,none", 'require_auth method "none" is specified more than once'),
        ("!none,!none", 'require_auth method "!none" is specified more than once'),
    ],
)
def test_require_auth_errors_are_interface_errors(text: str, message: str) -> None:
    with pytest.raises(pcf.InterfaceError) as info:
        parse_require_auth(text)
    assert message in str(info.value)


# -- require_auth checks, before anything is sent ---------------------------------


@pytest.mark.parametrize(
    ("require", "code", "data", "reason"),
    [
        ("scram-sha-256", 3, b"", "server requested a cleartext password"),
        ("scram-sha-256", 5, b"salt", "server requested a hashed password"),
        ("password", 10, b"SCRAM-SHA-256\0\0", "server requested SASL authentication"),
        (
            "!scram-sha-256",
            10,
            b"SCRAM-SHA-256\0\0",
            "server requested SASL authentication",
        ),
        ("md5", 7, b"", "server requested GSSAPI authentication"),
        ("!md5", 2, b"", "server requested an unknown authentication type"),
        ("scram-sha-256", 0, b"", "server did not complete authentication"),
        ("!none", 0, b"", "server did not complete authentication"),
    ],
)
def test_require_auth_refuses_with_libpq_wording(
    require: str, code: int, data: bytes, reason: str
) -> None:
    auth = Authenticator("u", PASSWORD, require_auth=require)
    with pytest.raises(pcf.OperationalError) as info:
        auth.step(_req(code, data))
    assert str(info.value) == (
        f'authentication method requirement "{require}" failed: {reason}'
    )


@pytest.mark.parametrize(
    ("require", "code", "data"),
    [
        ("none", 0, b""),
        ("!md5", 0, b""),
        ("password", 3, b""),
        ("md5,password", 5, b"salt"),
        ("!md5", 3, b""),
        ("!password,!md5", 10, b"SCRAM-SHA-256\0\0"),
    ],
)
def test_require_auth_lets_allowed_methods_through(
    require: str, code: int, data: bytes
) -> None:
    Authenticator("u", PASSWORD, require_auth=require).step(_req(code, data))


def test_require_auth_is_satisfied_by_a_finished_exchange() -> None:
    auth = Authenticator("u", PASSWORD, require_auth="password")
    assert auth.step(_req(3)) == PASSWORD.encode() + b"\0"
    assert auth.step(_req(0)) is None
    # A SCRAM exchange that did not reach SASLFinal does not satisfy it.
    auth = _continued(require_auth="scram-sha-256")
    with pytest.raises(pcf.OperationalError, match="did not complete"):
        auth.step(_req(0))


# -- hostile and malformed requests ---------------------------------------------


def _scram_first(payload: bytes) -> Any:
    return lambda: _started().step(_req(11, payload))


def _scram_final(payload: bytes) -> Any:
    return lambda: _continued().step(_req(12, payload))


def _continue_with(template: str) -> Any:
    def run() -> Any:
        auth = _started()
        return auth.step(_req(11, template.format(nonce=auth._nonce + "x").encode()))

    return run


MALFORMED = {
    "mechanism list not UTF-8": lambda: Authenticator("u", "p").step(
        _req(10, b"SCRAM\xff\0\0")
    ),
    "mechanism list unterminated": lambda: Authenticator("u", "p").step(
        _req(10, b"SCRAM-SHA-256")
    ),
    "mechanism list empty": lambda: Authenticator("u", "p").step(_req(10, b"\0")),
    "SASLContinue first": lambda: Authenticator("u", "p").step(_req(11, b"r=x")),
    "SASLFinal first": lambda: Authenticator("u", "p").step(_req(12, b"v=")),
    "SASLFinal before SASLContinue": lambda: _started().step(_req(12, b"v=")),
    "SASL twice": lambda: _started().step(_req(10, b"SCRAM-SHA-256\0\0")),
    "password during SASL": lambda: _started().step(_req(3)),
    "MD5 salt of 2 bytes": lambda: Authenticator("u", "p").step(_req(5, b"ab")),
    "server-first not UTF-8": _scram_first(b"r=\xff\xfe,s=AAAA,i=1"),
    "server-first empty": _scram_first(b""),
    "server-first without salt": _continue_with("r={nonce}"),
    "server-first attributes reordered": _continue_with("s=AAAA,r={nonce},i=4096"),
    "server-first mandatory extension": _continue_with("m=x,r={nonce},s=AAAA,i=1"),
    "server-first trailing garbage": _continue_with("r={nonce},s=AAAA,i=1,x=y"),
    "salt not base64": _continue_with("r={nonce},s=!!not base64!!,i=4096"),
    "salt badly padded": _continue_with("r={nonce},s=AAA,i=4096"),
    "iteration count 0": _continue_with("r={nonce},s=AAAA,i=0"),
    "iteration count negative": _continue_with("r={nonce},s=AAAA,i=-1"),
    "iteration count not numeric": _continue_with("r={nonce},s=AAAA,i=many"),
    "iteration count empty": _continue_with("r={nonce},s=AAAA,i="),
    "iteration count non-ASCII digits": _continue_with(
        "r={nonce},s=AAAA,i=\u0664\u0660\u0669\u0666"
    ),
    "iteration count too large": _continue_with("r={nonce},s=AAAA,i=" + "9" * 30),
    "nonce not printable": _continue_with("r={nonce}\x01,s=AAAA,i=1"),
    "server-final not UTF-8": _scram_final(b"v=\xff"),
    "server-final without verifier": _scram_final(b"x=1"),
    "verifier not base64": _scram_final(b"v=@@@@"),
    "verifier too short": _scram_final(b"v=AAAA"),
    "verifier with trailing garbage": _scram_final(
        b"v=" + base64.b64encode(b"\0" * 32) + b",x=1"
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_requests_raise_protocol_error(case: str) -> None:
    with pytest.raises(pcf.ProtocolError) as info:
        MALFORMED[case]()
    assert PASSWORD not in str(info.value)


REFUSED = {
    "unknown mechanism": (
        lambda: Authenticator("u", "p").step(_req(10, b"FOO-BAR\0\0")),
        "none of the server's SASL authentication mechanisms",
    ),
    "nonce not extending ours": (
        _scram_first(b"r=other,s=AAAA,i=4096"),
        "nonce",
    ),
    "nonce equal to ours": (
        lambda: (a := _started()).step(_req(11, f"r={a._nonce},s=AAAA,i=1".encode())),
        "nonce",
    ),
    "wrong server signature": (
        _scram_final(b"v=" + base64.b64encode(b"\0" * 32)),
        "signature",
    ),
    "server error in SASLFinal": (
        _scram_final(b"e=invalid-proof"),
        "SCRAM authentication failed: invalid-proof",
    ),
    "AuthenticationOk before SASLFinal": (
        lambda: _continued().step(_req(0)),
        "ended SCRAM authentication early",
    ),
    "AuthenticationOk after SASL start": (
        lambda: _started().step(_req(0)),
        "ended SCRAM authentication early",
    ),
    "unknown method": (
        lambda: Authenticator("u", "p").step(_req(99)),
        "not supported",
    ),
    "request after AuthenticationOk": (
        lambda: (a := Authenticator("u", PASSWORD), a.step(_req(0)), a.step(_req(3))),
        "after AuthenticationOk",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_exchanges_raise_operational_error(case: str) -> None:
    run, match = REFUSED[case]
    with pytest.raises(pcf.OperationalError, match=match) as info:
        run()
    assert PASSWORD not in str(info.value)


def test_channel_binding_require_refuses_passwords_before_sending() -> None:
    for code, data in ((3, b""), (5, b"salt")):
        auth = Authenticator("u", PASSWORD, channel_binding="require")
        with pytest.raises(pcf.OperationalError, match="channel binding is required"):
            auth.step(_req(code, data))
    auth = Authenticator("u", PASSWORD, channel_binding="require", require_auth="md5")
    with pytest.raises(pcf.OperationalError, match="channel binding is required"):
        auth.step(_req(5, b"salt"))


def test_password_bytes_that_are_not_utf8_are_sent_raw() -> None:
    raw = b"caf\xe9"  # Latin-1, as a password file may hold it
    auth = Authenticator("u", raw.decode("utf-8", "surrogateescape"))
    assert auth.step(_req(3)) == raw + b"\0"
    with pytest.raises(pcf.OperationalError, match="cannot be encoded"):
        Authenticator("u", "\ud800").step(_req(3))


# -- the key derivation as a step -----------------------------------------------


def test_scram_continue_hands_out_the_key_derivation() -> None:
    auth = _started()
    derivation = auth.step(_req(11, _server_first(auth, iterations=1234)))
    assert isinstance(derivation, KeyDerivation)
    assert derivation.iterations == 1234 and derivation.salt == b"pepper"
    salted = derivation.run()
    assert salted == hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), b"pepper", 1234)
    final = auth.finish_scram(salted)
    assert final.startswith(b"c=biws,r=") and b",p=" in final
    with pytest.raises(pcf.InterfaceError, match="no SCRAM key derivation"):
        auth.finish_scram(salted)


def test_finish_scram_takes_only_a_salted_password() -> None:
    auth = _started()
    auth.step(_req(11, _server_first(auth)))
    with pytest.raises(pcf.InterfaceError, match="32-byte"):
        auth.finish_scram(b"short")


def test_nothing_printable_holds_the_password() -> None:
    auth = _started()
    derivation = auth.step(_req(11, _server_first(auth)))
    assert isinstance(derivation, KeyDerivation)
    for text in (
        repr(auth),
        str(auth),
        repr(derivation),
        repr(Compute(derivation.run)),
    ):
        assert PASSWORD not in text and "hunter2" not in text


def _auth_message(code: int, data: bytes = b"") -> bytes:
    return b"R" + struct.pack(">ii", 8 + len(data), code) + data


def test_startup_flow_yields_the_derivation_as_a_compute_step() -> None:
    proto = ClientProtocol()
    auth = Authenticator("u", PASSWORD)
    flow = startup_flow(proto, {"user": "u"}, auth, lambda event: None)
    assert isinstance(next(flow), bytes)  # the StartupMessage
    assert flow.send(None) is RECV
    first = flow.send(_auth_message(10, b"SCRAM-SHA-256\0\0"))
    assert isinstance(first, bytes) and first.startswith(b"p")
    assert flow.send(None) is RECV
    salt = base64.b64encode(b"pepper").decode()
    server_first = f"r={auth._nonce}srv,s={salt},i=4096"
    step = flow.send(_auth_message(11, server_first.encode()))
    assert isinstance(step, Compute)
    salted = step.fn(*step.args)
    final = flow.send(salted)
    assert isinstance(final, bytes) and final.startswith(b"p")
    # The server's proof, computed as a server would.
    final_bare = final[5:].decode().rsplit(",p=", 1)[0]
    message = f"{auth._first_bare},{server_first},{final_bare}".encode()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    verifier = base64.b64encode(hmac.digest(server_key, message, "sha256"))
    assert flow.send(None) is RECV
    assert flow.send(_auth_message(12, b"v=" + verifier)) is RECV
    with pytest.raises(StopIteration):  # AuthenticationOk, ReadyForQuery: done
        flow.send(_auth_message(0) + b"Z\0\0\0\x05I")
