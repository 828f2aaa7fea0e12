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
import ssl
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import Error, OperationalError
from .auth import Authenticator
from .events import Event
from .flows import startup_flow
from .machine import ClientProtocol, parse_ssl_response, ssl_request

if TYPE_CHECKING:
    from ..connection.conninfo import ConnParams

__all__ = [
    "RecvExactly",
    "StartTLS",
    "establish_flow",
    "tls_plan",
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


def establish_flow(
    params: ConnParams,
    host: str,
    port: int,
    tls: str,
    proto: ClientProtocol,
    on_async: Callable[[Event], None],
    context: ssl.SSLContext | None,
    password: str | None,
) -> Generator[Any, Any, None]:
    """SSLRequest (as ``tls`` says), then authentication up to ReadyForQuery.

    ``context`` (needed unless ``tls`` is "no") and ``password`` come from
    the connection layer, which reads the files they need
    (``connection.conninfo.session_secrets``): a flow does no I/O.

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
            assert context is not None
            cert_der = yield StartTLS(context, name)
        elif tls == "must":
            raise OperationalError(
                f"{describe(host, port)} failed: server does not support SSL, "
                "but SSL was required"
            )
    auth = Authenticator(
        params.user,
        password,
        channel_binding=params.channel_binding,
        cert_der=cert_der,
        require_auth=params.require_auth,
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
