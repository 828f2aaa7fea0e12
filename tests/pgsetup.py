"""What the session's throwaway cluster needs for the connection tests.

A CA and a server certificate made at fixture time (for ``localhost`` only,
so that verify-full against 127.0.0.1 is refused), pg_hba.conf lines for
each authentication method over TCP, and the roles that use them.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

#: (role, pg_hba method, password, password_encryption while setting it)
ROLES = [
    ("trust_user", "trust", None, None),
    ("pw_user", "password", "pw secret", "scram-sha-256"),
    ("md5_user", "md5", "md5 secret", "md5"),
    ("scram_user", "scram-sha-256", "scr\u00e4m secret", "scram-sha-256"),
    ("sslonly_user", "scram-sha-256", "ssl secret", "scram-sha-256"),
]

HBA = [
    "local all all trust",
    "hostssl all sslonly_user 127.0.0.1/32 scram-sha-256",
    "hostnossl all sslonly_user 127.0.0.1/32 reject",
    "host all trust_user 127.0.0.1/32 trust",
    "host all pw_user 127.0.0.1/32 password",
    "host all md5_user 127.0.0.1/32 md5",
    "host all scram_user 127.0.0.1/32 scram-sha-256",
    "host all postgres 127.0.0.1/32 trust",
    "host all all 127.0.0.1/32 scram-sha-256",
    "host all all ::1/128 scram-sha-256",
]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def make_ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA certificate and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, dns: str
) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for ``dns``, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(dns))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


class TLSFiles:
    """The CA files the tests point ``sslrootcert`` at, in a temporary dir."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="pgcopy_fast-tls-")
        ca_key, ca_cert = make_ca("pgcopy_fast test CA")
        self.server_cert, self.server_key = make_server_cert(
            ca_key, ca_cert, "localhost"
        )
        self.ca = os.path.join(self.dir, "root.crt")
        with open(self.ca, "wb") as f:
            f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
        _, other_cert = make_ca("some other CA")
        self.other_ca = os.path.join(self.dir, "other.crt")
        with open(self.other_ca, "wb") as f:
            f.write(other_cert.public_bytes(serialization.Encoding.PEM))


def server_options(tls: TLSFiles) -> dict[str, object]:
    """TempServer keyword arguments: TLS on, our pg_hba lines."""
    return {
        "conf": {
            "ssl": "on",
            "ssl_cert_file": "'server.crt'",
            "ssl_key_file": "'server.key'",
        },
        "hba": HBA,
        "files": {"server.crt": tls.server_cert, "server.key": tls.server_key},
    }


def create_roles_sql() -> str:
    """SQL that creates the test roles with their passwords."""
    out = []
    for role, _, password, encryption in ROLES:
        out.append(f"DROP ROLE IF EXISTS {role}")
        if encryption:
            out.append(f"SET password_encryption = '{encryption}'")
        pw = "NULL" if password is None else "'" + password.replace("'", "''") + "'"
        out.append(f"CREATE ROLE {role} LOGIN PASSWORD {pw}")
        out.append(f"GRANT pg_read_all_stats TO {role}")
    out.append("RESET password_encryption")
    return ";\n".join(out)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8 and ::1."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
