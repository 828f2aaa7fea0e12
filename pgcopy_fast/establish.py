"""Opening a session, sans-I/O: TLS negotiation, authentication, startup.

``establish_flow`` is a flow (see ``flows.py``) that both the blocking and
the asyncio connection drive.  Besides bytes to send and ``RECV``, it yields
two instructions only a connection can carry out: :class:`RecvExactly` (the
one-byte answer to SSLRequest, which must not read further) and
:class:`StartTLS` (wrap the transport; the driver sends back the server's
certificate in DER form, for channel binding).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from .auth import Authenticator
from .conninfo import ConnParams, find_pgpass_password
from .errors import Error, OperationalError
from .events import Event
from .flows import startup_flow
from .protocol import ClientProtocol, parse_ssl_response, ssl_request

__all__ = [
    "RecvExactly",
    "StartTLS",
    "establish_flow",
    "tls_plan",
    "tls_context",
    "is_unix",
    "describe",
    "as_operational",
]


@dataclass(frozen=True)
class RecvExactly:
    """Instruction: receive exactly ``n`` bytes, and nothing beyond them."""

    n: int


@dataclass(frozen=True)
class StartTLS:
    """Instruction: start TLS on the transport; answer with the peer's DER cert."""

    context: ssl.SSLContext
    server_hostname: str | None


def is_unix(host: str) -> bool:
    """True for a Unix socket directory (or Linux abstract namespace, ``@``)."""
    return host.startswith("/") or host.startswith("@")


def describe(host: str, port: int) -> str:
    """How libpq names a connection target in its errors."""
    if is_unix(host):
        return f'connection to server on socket "{host}/.s.PGSQL.{port}"'
    return f'connection to server at "{host}", port {port}'


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def tls_plan(params: ConnParams, host: str) -> list[str]:
    """The attempts sslmode asks for: each "no", "try" or "must" (TLS)."""
    mode = params.sslmode
    if is_unix(host) or mode == "disable":
        return ["no"]  # libpq ignores sslmode on Unix sockets
    if mode == "allow":
        return ["no", "must"]
    if mode == "prefer":
        return ["try", "no"]
    return ["must"]


def tls_context(params: ConnParams) -> ssl.SSLContext:
    """The SSLContext for params' sslmode, root certificate and client cert.

    Raises:
        OperationalError: verification is asked for but the root file is missing.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # libpq's default minimum
    mode = params.sslmode
    rootcert = params.sslrootcert or os.path.expanduser("~/.postgresql/root.crt")
    # As libpq: "require" with a root certificate file verifies the chain.
    if mode == "require" and params.sslrootcert and os.path.exists(rootcert):
        mode = "verify-ca"
    if mode in ("verify-ca", "verify-full"):
        if rootcert == "system":
            ctx.load_default_certs()
        elif not os.path.exists(rootcert):
            raise OperationalError(
                f'root certificate file "{rootcert}" does not exist; either '
                "provide the file or change sslmode to disable server "
                "certificate verification"
            )
        else:
            ctx.load_verify_locations(rootcert)
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.check_hostname = mode == "verify-full"
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert = params.sslcert or os.path.expanduser("~/.postgresql/postgresql.crt")
    if os.path.exists(cert):
        key = params.sslkey or os.path.expanduser("~/.postgresql/postgresql.key")
        ctx.load_cert_chain(cert, key)
    return ctx


def establish_flow(
    params: ConnParams,
    host: str,
    port: int,
    tls: str,
    proto: ClientProtocol,
    on_async: Callable[[Event], None],
) -> Generator[Any, Any, None]:
    """SSLRequest (as ``tls`` says), then authentication up to ReadyForQuery.

    Raises:
        OperationalError: TLS refused or failed, authentication failed.
        DatabaseError: the server refused the session.
    """
    cert_der: bytes | None = None
    if tls != "no":
        yield ssl_request()
        answer = yield RecvExactly(1)
        if parse_ssl_response(answer):
            sni = params.sslsni and not _is_ip(host)
            name = host if (sni or params.sslmode == "verify-full") else None
            cert_der = yield StartTLS(tls_context(params), name)
        elif tls == "must":
            raise OperationalError(
                f"{describe(host, port)} failed: server does not support SSL, "
                "but SSL was required"
            )
    password = params.password
    if password is None and params.passfile:
        password = find_pgpass_password(
            params.passfile, host, port, params.dbname, params.user
        )
    auth = Authenticator(
        params.user, password, channel_binding=params.channel_binding, cert_der=cert_der
    )
    yield from startup_flow(proto, params.startup, auth, on_async)


def as_operational(exc: Error) -> OperationalError:
    """Connection failures are OperationalError whatever the SQLSTATE.

    (A missing database is 3D000.)  libpq-based drivers do the same.
    """
    if isinstance(exc, OperationalError):
        return exc
    err = OperationalError(str(exc))
    err.__dict__.update(exc.__dict__)
    return err


def should_retry(exc: OperationalError, tls: str) -> bool:
    """Whether the next sslmode attempt on the same host can help.

    Only where pg_hba.conf refused this one (hostssl / hostnossl lines:
    28000) or where TLS itself failed; a wrong password stays wrong.
    """
    return exc.sqlstate == "28000" or (tls == "try" and exc.sqlstate is None)


def combined_failure(failures: list[OperationalError]) -> OperationalError:
    """One error for every failed attempt (the last one's fields)."""
    if len(failures) == 1:
        return failures[0]
    err = OperationalError("\n".join(str(f) for f in failures))
    err.__dict__.update(failures[-1].__dict__)
    err.__cause__ = failures[-1]
    return err
