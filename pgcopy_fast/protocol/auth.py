"""Sans-I/O password authentication: cleartext, MD5 and SCRAM-SHA-256(-PLUS).

``Authenticator.step()`` takes one Authentication* request and returns the
payload of the PasswordMessage / SASL message to answer with, None where no
answer is due, or a :class:`KeyDerivation`: SCRAM's salted password, whose
cost the server chooses.  The caller runs that (``startup_flow`` yields it
as a ``Compute`` step, so the drivers run it off the event loop and within
connect_timeout) and hands the result to ``Authenticator.finish_scram()``.
``respond()`` does both at once.  Nothing here touches a socket.

Everything the server sends is checked before it is used: a malformed
message raises ProtocolError, a refused or impossible exchange
OperationalError, and nothing else escapes.  ``require_auth`` (libpq 16)
is checked before any answer is sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass

from ..errors import InterfaceError, OperationalError, ProtocolError
from .events import AuthenticationRequest

__all__ = [
    "Authenticator",
    "AuthRequirement",
    "KeyDerivation",
    "parse_require_auth",
    "salted_password",
    "tls_server_end_point",
    "saslprep",
]

AUTH_OK = 0
AUTH_KERBEROS_V5 = 2
AUTH_CLEARTEXT = 3
AUTH_MD5 = 5
AUTH_SCM_CREDENTIAL = 6
AUTH_GSS = 7
AUTH_GSS_CONTINUE = 8
AUTH_SSPI = 9
AUTH_SASL = 10
AUTH_SASL_CONTINUE = 11
AUTH_SASL_FINAL = 12

_UNSUPPORTED = {
    AUTH_KERBEROS_V5: "Kerberos V5",
    AUTH_SCM_CREDENTIAL: "SCM credential",
    AUTH_GSS: "GSSAPI",
    AUTH_GSS_CONTINUE: "GSSAPI",
    AUTH_SSPI: "SSPI",
}

SCRAM = "SCRAM-SHA-256"
SCRAM_PLUS = "SCRAM-SHA-256-PLUS"

#: The largest iteration count PBKDF2 takes (hashlib refuses more than INT_MAX).
MAX_ITERATIONS = 2**31 - 1

#: require_auth's method names and the request codes each one allows (libpq 16).
_REQUIRE_AUTH_CODES: dict[str, frozenset[int]] = {
    "password": frozenset({AUTH_CLEARTEXT}),
    "md5": frozenset({AUTH_MD5}),
    "gss": frozenset({AUTH_GSS, AUTH_GSS_CONTINUE}),
    "sspi": frozenset({AUTH_SSPI, AUTH_GSS_CONTINUE}),
    # SCRAM is the only SASL mechanism, as libpq assumes too.
    "scram-sha-256": frozenset({AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL}),
}
#: Every request code that require_auth can allow; any other is refused.
_CHECKED_CODES = frozenset().union(*_REQUIRE_AUTH_CODES.values())


@dataclass(frozen=True)
class AuthRequirement:
    """A parsed ``require_auth``: the request codes allowed, and whether the
    server may skip authentication (``none``)."""

    text: str
    allowed: frozenset[int]
    auth_required: bool

    def check(self, code: int, finished: bool) -> None:
        """Refuse request ``code`` (AuthenticationOk: 0) if not allowed.

        ``finished``: the client completed an authentication exchange.

        Raises:
            OperationalError: with libpq's wording.
        """
        if code == AUTH_OK:
            if not self.auth_required or finished:
                return
            reason = "server did not complete authentication"
        elif code in _CHECKED_CODES and code in self.allowed:
            return
        else:
            reason = _describe_request(code)
        raise OperationalError(
            f'authentication method requirement "{self.text}" failed: {reason}'
        )


def _describe_request(code: int) -> str:
    if code == AUTH_CLEARTEXT:
        return "server requested a cleartext password"
    if code == AUTH_MD5:
        return "server requested a hashed password"
    if code in (AUTH_GSS, AUTH_GSS_CONTINUE):
        return "server requested GSSAPI authentication"
    if code == AUTH_SSPI:
        return "server requested SSPI authentication"
    if code in (AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL):
        return "server requested SASL authentication"
    return "server requested an unknown authentication type"


def parse_require_auth(text: str | None) -> AuthRequirement | None:
    """libpq 16's ``require_auth``: ``a,b`` allows only those methods, ``!a,!b``
    allows all but those; ``none`` lets the server skip authentication.

    None (no requirement) for an empty or missing value.

    Raises:
        InterfaceError: an unknown method, a duplicate, or negated methods
            mixed with plain ones (libpq's wording).
    """
    if not text:
        return None
    allowed: set[int] = set()
    auth_required = True
    negated = False
    for index, item in enumerate(text.split(",")):
        part = method = item.strip()
        if method.startswith("!"):
            if index == 0:
                # A permissive set, subtracted from.
                allowed, auth_required, negated = set(_CHECKED_CODES), False, True
            elif not negated:
                raise InterfaceError(
                    f'negative require_auth method "{method}" cannot be mixed '
                    "with non-negative methods"
                )
            method = method[1:]
        elif negated:
            raise InterfaceError(
                f'require_auth method "{method}" cannot be mixed with negative methods'
            )
        if method == "none":
            # "!none": the server must authenticate; "none": it may skip it.
            if auth_required is negated:
                raise InterfaceError(
                    f'require_auth method "{part}" is specified more than once'
                )
            auth_required = negated
            continue
        codes = _REQUIRE_AUTH_CODES.get(method)
        if codes is None:
            raise InterfaceError(f'invalid require_auth value: "{method}"')
        if negated:
            if not allowed & codes:
                raise InterfaceError(
                    f'require_auth method "{part}" is specified more than once'
                )
            allowed -= codes
        else:
            if codes <= allowed:
                raise InterfaceError(
                    f'require_auth method "{part}" is specified more than once'
                )
            allowed |= codes
    return AuthRequirement(text, frozenset(allowed), auth_required)


def saslprep(password: str) -> str:
    """RFC 4013 SASLprep, or the password unchanged where it is not valid.

    PostgreSQL's own client falls back to the raw password when SASLprep
    fails, and the server did the same when it stored the verifier.
    """
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c
        for c in password
        if not stringprep.in_table_b1(c)
    )
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized:
        return password
    for c in normalized:
        if (
            stringprep.in_table_c12(c)
            or stringprep.in_table_c21_c22(c)
            or stringprep.in_table_c3(c)
            or stringprep.in_table_c4(c)
            or stringprep.in_table_c5(c)
            or stringprep.in_table_c6(c)
            or stringprep.in_table_c7(c)
            or stringprep.in_table_c8(c)
            or stringprep.in_table_c9(c)
            or stringprep.in_table_a1(c)
        ):
            return password
    if any(stringprep.in_table_d1(c) for c in normalized):
        if not (
            stringprep.in_table_d1(normalized[0])
            and stringprep.in_table_d1(normalized[-1])
        ) or any(stringprep.in_table_d2(c) for c in normalized):
            return password
    return normalized


# DER-encoded OIDs of certificate signature algorithms and the hash that
# tls-server-end-point uses for each (RFC 5929 section 4.1: MD5 and SHA-1
# are replaced by SHA-256).
_SIG_HASHES = {
    bytes.fromhex("2a864886f70d010104"): "sha256",  # md5WithRSAEncryption
    bytes.fromhex("2a864886f70d010105"): "sha256",  # sha1WithRSAEncryption
    bytes.fromhex("2a864886f70d01010b"): "sha256",  # sha256WithRSAEncryption
    bytes.fromhex("2a864886f70d01010c"): "sha384",  # sha384WithRSAEncryption
    bytes.fromhex("2a864886f70d01010d"): "sha512",  # sha512WithRSAEncryption
    bytes.fromhex("2a8648ce3d040301"): "sha256",  # ecdsa-with-SHA1
    bytes.fromhex("2a8648ce3d040302"): "sha256",  # ecdsa-with-SHA256
    bytes.fromhex("2a8648ce3d040303"): "sha384",  # ecdsa-with-SHA384
    bytes.fromhex("2a8648ce3d040304"): "sha512",  # ecdsa-with-SHA512
}


def _der_tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the DER element at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def tls_server_end_point(cert_der: bytes) -> bytes:
    """The tls-server-end-point channel binding data of a server certificate.

    Raises:
        OperationalError: the certificate's signature algorithm has no
            defined hash for channel binding (Ed25519, say).
    """
    try:
        _, cert_start, _ = _der_tlv(cert_der, 0)  # Certificate SEQUENCE
        _, _, tbs_end = _der_tlv(cert_der, cert_start)  # tbsCertificate
        _, alg_start, _ = _der_tlv(cert_der, tbs_end)  # signatureAlgorithm
        tag, oid_start, oid_end = _der_tlv(cert_der, alg_start)
        oid = cert_der[oid_start:oid_end] if tag == 0x06 else b""
    except (IndexError, ValueError):
        oid = b""
    name = _SIG_HASHES.get(oid)
    if name is None:
        raise OperationalError(
            "channel binding is not possible with the server certificate's "
            "signature algorithm"
        )
    return hashlib.new(name, cert_der).digest()


def _malformed(what: str) -> ProtocolError:
    return ProtocolError(f"malformed SCRAM message from the server ({what})")


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(f"{what} is not valid UTF-8") from None


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise _malformed(f"invalid {what}") from None


def _attr(part: str, name: str, what: str) -> str:
    if not part.startswith(name + "="):
        raise _malformed(f"{what}: expected attribute {name!r}")
    return part[2:]


def _secret_bytes(text: str) -> bytes:
    """A password as bytes: UTF-8, and any raw bytes kept as they were read."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise OperationalError("the password cannot be encoded in UTF-8") from None


def salted_password(password: bytes, salt: bytes, iterations: int) -> bytes:
    """SCRAM's SaltedPassword: PBKDF2-HMAC-SHA-256 (RFC 5802, RFC 7677)."""
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations)


class KeyDerivation:
    """SCRAM's key derivation, to be run by the caller: ``run()`` gives the
    salted password that :meth:`Authenticator.finish_scram` takes.

    Its cost is the server's choice (the iteration count), which is why it
    is handed out rather than run here.  The repr never shows the password.
    """

    __slots__ = ("_password", "iterations", "salt")

    def __init__(self, password: bytes, salt: bytes, iterations: int) -> None:
        self._password = password
        self.salt = salt
        self.iterations = iterations

    def run(self) -> bytes:
        """The salted password (CPU-bound; releases the GIL while it works)."""
        return salted_password(self._password, self.salt, self.iterations)

    def __repr__(self) -> str:
        return f"<KeyDerivation PBKDF2-HMAC-SHA-256, {self.iterations} iterations>"


# What the exchange has done so far.
_START = "start"  # nothing yet
_PASSWORD_SENT = "password sent"  # cleartext or MD5: only AuthenticationOk is due
_SASL_STARTED = "SASL started"  # client-first sent; SASLContinue is due
_SASL_DERIVING = "SASL deriving"  # the salted password is being derived
_SASL_CONTINUED = "SASL continued"  # client-final sent; SASLFinal is due
_SASL_DONE = "SASL done"  # server verified; AuthenticationOk is due
_OK = "ok"  # AuthenticationOk received


class Authenticator:
    """Answers the server's authentication requests for one connection attempt.

    ``channel_binding`` is libpq's option: ``disable``, ``prefer`` or
    ``require``; ``cert_der`` is the server certificate when on TLS;
    ``require_auth`` is libpq 16's option (see :func:`parse_require_auth`).
    The repr never shows the password.
    """

    def __init__(
        self,
        user: str,
        password: str | None,
        *,
        channel_binding: str = "prefer",
        cert_der: bytes | None = None,
        require_auth: str | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.channel_binding = channel_binding
        self.cert_der = cert_der
        self.requirement = parse_require_auth(require_auth)
        self.mechanism: str | None = None
        self._phase = _START
        self._nonce = ""
        self._first_bare = ""
        self._gs2 = ""
        self._server_first = ""
        self._final_bare = ""
        self._server_signature = b""

    def __repr__(self) -> str:
        return (
            f"<Authenticator user={self.user!r} mechanism={self.mechanism!r} "
            f"phase={self._phase!r}>"
        )

    @property
    def _finished(self) -> bool:
        """The client has done its part of an exchange (libpq's
        client_finished_auth): a password sent, or SCRAM verified."""
        return self._phase in (_PASSWORD_SENT, _SASL_DONE)

    def _need_password(self, method: str) -> str:
        if self.password is None:
            raise OperationalError(
                f"the server asks for {method} authentication "
                "but no password was supplied"
            )
        return self.password

    def respond(self, request: AuthenticationRequest) -> bytes | None:
        """The payload to send back for ``request`` (None: send nothing).

        :meth:`step` with any key derivation run at once, here.

        Raises:
            OperationalError: see :meth:`step`.
            ProtocolError: a malformed request.
        """
        reply = self.step(request)
        if isinstance(reply, KeyDerivation):
            return self.finish_scram(reply.run())
        return reply

    def step(self, request: AuthenticationRequest) -> bytes | KeyDerivation | None:
        """The payload to send back for ``request`` (None: send nothing), or
        the key derivation to run before :meth:`finish_scram` gives it.

        Raises:
            OperationalError: a method refused by require_auth or by
                channel_binding=require, an unsupported method, a missing
                password, or a server that failed SCRAM verification.
            ProtocolError: a malformed or out-of-order request.
        """
        try:
            return self._step(request)
        except (ValueError, IndexError, OverflowError) as exc:
            # A safety net: every input is checked, but a server must never
            # get anything but our own errors out of connect().
            raise ProtocolError(
                f"malformed authentication request from the server: {exc}"
            ) from None

    def _step(self, request: AuthenticationRequest) -> bytes | KeyDerivation | None:
        code, data = request.code, request.data
        if self._phase == _OK:
            raise ProtocolError("authentication request after AuthenticationOk")
        if self.requirement is not None:
            self.requirement.check(code, self._finished)
        if code == AUTH_OK:
            self._authentication_ok()
            return None
        if self.channel_binding == "require" and code in (AUTH_CLEARTEXT, AUTH_MD5):
            raise OperationalError(
                "channel binding is required, but the server asked for "
                "a password without it"
            )
        if code in (AUTH_CLEARTEXT, AUTH_MD5):
            return self._password_reply(code, data)
        if code == AUTH_SASL:
            return self._sasl_start(data)
        if code == AUTH_SASL_CONTINUE:
            return self._sasl_continue(data)
        if code == AUTH_SASL_FINAL:
            self._sasl_final(data)
            return None
        method = _UNSUPPORTED.get(code, f"unknown (code {code})")
        raise OperationalError(f"authentication method {method} is not supported")

    def _authentication_ok(self) -> None:
        if self.channel_binding == "require" and (
            self.mechanism != SCRAM_PLUS or self._phase != _SASL_DONE
        ):
            raise OperationalError(
                "channel binding is required, but the server authenticated "
                "the client without it"
            )
        if self.mechanism and self._phase != _SASL_DONE:
            raise OperationalError("the server ended SCRAM authentication early")
        self._phase = _OK

    def _password_reply(self, code: int, data: bytes) -> bytes:
        if self._phase != _START:
            raise ProtocolError(
                f"unexpected password request from the server ({self._phase})"
            )
        if code == AUTH_CLEARTEXT:
            reply = _secret_bytes(self._need_password("password")) + b"\x00"
        else:
            if len(data) != 4:
                raise ProtocolError(
                    "malformed AuthenticationMD5Password from the server "
                    f"(a salt of {len(data)} bytes, not 4)"
                )
            password = _secret_bytes(self._need_password("md5"))
            inner = hashlib.md5(password + _secret_bytes(self.user)).hexdigest()
            outer = hashlib.md5(inner.encode() + data).hexdigest()
            reply = b"md5" + outer.encode() + b"\x00"
        self._phase = _PASSWORD_SENT
        return reply

    def _sasl_start(self, data: bytes) -> bytes:
        if self._phase != _START:
            raise ProtocolError(
                f"unexpected AuthenticationSASL from the server ({self._phase})"
            )
        if not data.endswith(b"\x00"):
            raise ProtocolError(
                "malformed AuthenticationSASL from the server "
                "(the mechanism list is not terminated)"
            )
        names = data[:-1].split(b"\x00")
        if names and names[-1] == b"":
            names.pop()  # the list's terminating empty name
        if not names or not all(n and n.isascii() for n in names):
            raise ProtocolError(
                f"malformed AuthenticationSASL from the server: mechanisms {data!r}"
            )
        mechanisms = [n.decode("ascii") for n in names]
        plus = (
            SCRAM_PLUS in mechanisms
            and self.cert_der is not None
            and self.channel_binding != "disable"
        )
        if plus:
            self.mechanism = SCRAM_PLUS
            self._gs2 = "p=tls-server-end-point,,"
        elif SCRAM in mechanisms:
            if self.channel_binding == "require":
                raise OperationalError(
                    "channel binding is required, but the server does not offer it"
                )
            self.mechanism = SCRAM
            # "y": we could bind but the server did not offer it (RFC 5802).
            self._gs2 = "y,," if self.cert_der is not None else "n,,"
        else:
            raise OperationalError(
                "none of the server's SASL authentication mechanisms "
                f"({', '.join(map(repr, mechanisms))}) are supported"
            )
        self._need_password("SCRAM")
        self._nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        # The user name is empty: the server takes it from the startup packet.
        self._first_bare = f"n=,r={self._nonce}"
        first = (self._gs2 + self._first_bare).encode()
        self._phase = _SASL_STARTED
        return self.mechanism.encode() + b"\x00" + len(first).to_bytes(4, "big") + first

    def _sasl_continue(self, data: bytes) -> KeyDerivation:
        if self._phase != _SASL_STARTED:
            raise ProtocolError(
                f"unexpected AuthenticationSASLContinue from the server ({self._phase})"
            )
        server_first = _utf8(data, "server-first-message")
        parts = server_first.split(",")
        if parts and parts[0].startswith("m="):
            raise _malformed("server-first-message: unsupported mandatory extension")
        if len(parts) != 3:
            raise _malformed(
                "server-first-message: expected nonce, salt and iteration count"
            )
        nonce = _attr(parts[0], "r", "server-first-message")
        salt = _b64decode(_attr(parts[1], "s", "server-first-message"), "salt")
        iterations = _attr(parts[2], "i", "server-first-message")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise OperationalError("SCRAM: the server's nonce does not extend ours")
        if not nonce.isascii() or not nonce.isprintable():
            raise _malformed("invalid nonce")
        if (
            not iterations.isascii()
            or not iterations.isdigit()
            or not 0 < int(iterations) <= MAX_ITERATIONS
        ):
            raise _malformed("invalid iteration count")
        cbind = self._gs2.encode()
        if self.mechanism == SCRAM_PLUS:
            assert self.cert_der is not None
            cbind += tls_server_end_point(self.cert_der)
        self._server_first = server_first
        self._final_bare = f"c={base64.b64encode(cbind).decode()},r={nonce}"
        self._phase = _SASL_DERIVING
        password = _secret_bytes(saslprep(self._need_password("SCRAM")))
        return KeyDerivation(password, salt, int(iterations))

    def finish_scram(self, salted: bytes) -> bytes:
        """The client-final-message, from the result of the :class:`KeyDerivation`
        that :meth:`step` returned for SASLContinue.

        Raises:
            InterfaceError: no derivation is pending, or ``salted`` is not one.
        """
        if self._phase != _SASL_DERIVING:
            raise InterfaceError("no SCRAM key derivation is pending")
        if not isinstance(salted, bytes) or len(salted) != hashlib.sha256().digest_size:
            raise InterfaceError("finish_scram() takes the 32-byte salted password")
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = (
            f"{self._first_bare},{self._server_first},{self._final_bare}".encode()
        )
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, auth_message, "sha256")
        self._phase = _SASL_CONTINUED
        return f"{self._final_bare},p={base64.b64encode(proof).decode()}".encode()

    def _sasl_final(self, data: bytes) -> None:
        if self._phase != _SASL_CONTINUED:
            # Before SASLContinue there is no signature to check: accepting
            # one now would skip the server's proof that it knows the password.
            raise ProtocolError(
                f"unexpected AuthenticationSASLFinal from the server ({self._phase})"
            )
        server_final = _utf8(data, "server-final-message")
        if server_final.startswith("e="):
            raise OperationalError(f"SCRAM authentication failed: {server_final[2:]}")
        verifier = _b64decode(
            _attr(server_final, "v", "server-final-message"), "server signature"
        )
        if len(verifier) != len(self._server_signature):
            raise _malformed("invalid server signature")
        if not hmac.compare_digest(verifier, self._server_signature):
            raise OperationalError(
                "SCRAM: the server's signature is wrong; it does not know the password"
            )
        self._phase = _SASL_DONE
