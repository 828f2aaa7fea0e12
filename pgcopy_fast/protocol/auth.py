"""Sans-I/O password authentication: cleartext, MD5 and SCRAM-SHA-256(-PLUS).

``Authenticator.respond()`` takes one Authentication* request and returns the
payload of the PasswordMessage / SASL message to answer with (or None where
no answer is due).  Nothing here touches a socket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import stringprep
import unicodedata

from ..errors import OperationalError, ProtocolError
from .events import AuthenticationRequest

__all__ = ["Authenticator", "tls_server_end_point", "saslprep"]

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


def _parse_attrs(message: str) -> dict[str, str]:
    out = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise ProtocolError(f"malformed SCRAM message from the server: {message!r}")
        out[key] = value
    return out


class Authenticator:
    """Answers the server's authentication requests for one connection attempt.

    ``channel_binding`` is libpq's option: ``disable``, ``prefer`` or
    ``require``; ``cert_der`` is the server certificate when on TLS.
    """

    def __init__(
        self,
        user: str,
        password: str | None,
        *,
        channel_binding: str = "prefer",
        cert_der: bytes | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.channel_binding = channel_binding
        self.cert_der = cert_der
        self.mechanism: str | None = None
        self._nonce = ""
        self._first_bare = ""
        self._gs2 = ""
        self._server_signature = b""
        self._done = False

    def _need_password(self, method: str) -> str:
        if self.password is None:
            raise OperationalError(
                f"the server asks for {method} authentication "
                "but no password was supplied"
            )
        return self.password

    def respond(self, request: AuthenticationRequest) -> bytes | None:
        """The payload to send back for ``request`` (None: send nothing).

        Raises:
            OperationalError: an unsupported method, a missing password, a
                server that failed SCRAM verification, or channel binding
                required but impossible.
            ProtocolError: a malformed SASL message.
        """
        code = request.code
        if code == AUTH_OK:
            if self.channel_binding == "require" and self.mechanism != SCRAM_PLUS:
                raise OperationalError(
                    "channel binding is required, but the server authenticated "
                    "the client without it"
                )
            if self.mechanism and not self._done:
                raise OperationalError("the server ended SCRAM authentication early")
            return None
        if self.channel_binding == "require" and code in (AUTH_CLEARTEXT, AUTH_MD5):
            raise OperationalError(
                "channel binding is required, but the server asked for "
                "a password without it"
            )
        if code == AUTH_CLEARTEXT:
            return self._need_password("password").encode() + b"\x00"
        if code == AUTH_MD5:
            password = self._need_password("md5")
            inner = hashlib.md5((password + self.user).encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + request.data[:4]).hexdigest()
            return b"md5" + outer.encode() + b"\x00"
        if code == AUTH_SASL:
            return self._sasl_start(request.data)
        if code == AUTH_SASL_CONTINUE:
            return self._sasl_continue(request.data)
        if code == AUTH_SASL_FINAL:
            self._sasl_final(request.data)
            return None
        method = _UNSUPPORTED.get(code, f"unknown (code {code})")
        raise OperationalError(f"authentication method {method} is not supported")

    def _sasl_start(self, data: bytes) -> bytes:
        mechanisms = [m.decode() for m in data.split(b"\x00") if m]
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
                f"({', '.join(mechanisms)}) are supported"
            )
        self._need_password("SCRAM")
        self._nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        # The user name is empty: the server takes it from the startup packet.
        self._first_bare = f"n=,r={self._nonce}"
        first = (self._gs2 + self._first_bare).encode()
        return self.mechanism.encode() + b"\x00" + len(first).to_bytes(4, "big") + first

    def _sasl_continue(self, data: bytes) -> bytes:
        if self.mechanism is None:
            raise ProtocolError("SASLContinue before SASL authentication started")
        server_first = data.decode()
        attrs = _parse_attrs(server_first)
        nonce, salt, iters = attrs.get("r", ""), attrs.get("s"), attrs.get("i", "")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise OperationalError("SCRAM: the server's nonce does not extend ours")
        if salt is None or not iters.isdigit() or int(iters) < 1:
            raise ProtocolError(
                f"malformed SCRAM message from the server: {server_first!r}"
            )
        cbind = self._gs2.encode()
        if self.mechanism == SCRAM_PLUS:
            assert self.cert_der is not None
            cbind += tls_server_end_point(self.cert_der)
        final_bare = f"c={base64.b64encode(cbind).decode()},r={nonce}"
        salted = hashlib.pbkdf2_hmac(
            "sha256",
            saslprep(self.password or "").encode(),
            base64.b64decode(salt),
            int(iters),
        )
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = f"{self._first_bare},{server_first},{final_bare}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{final_bare},p={base64.b64encode(proof).decode()}".encode()

    def _sasl_final(self, data: bytes) -> None:
        attrs = _parse_attrs(data.decode())
        if "e" in attrs:
            raise OperationalError(f"SCRAM authentication failed: {attrs['e']}")
        verifier = base64.b64decode(attrs.get("v", ""))
        if not hmac.compare_digest(verifier, self._server_signature):
            raise OperationalError(
                "SCRAM: the server's signature is wrong; it does not know the password"
            )
        self._done = True
