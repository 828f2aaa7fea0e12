"""Connection parameters with libpq's conventions, and every file they name.

Sources, strongest first: keyword arguments, the DSN (a ``postgresql://``
URI or a ``key=value`` string), the ``PG*`` environment variables, built-in
defaults; the password last of all from the password file (``~/.pgpass``).
This module does all the file reading of opening a session (the password
file, certificates and keys): the protocol layer never touches a file, and
the asyncio connection runs :func:`session_secrets` off the event loop.
"""

from __future__ import annotations

import getpass
import os
import ssl
import stat
import threading
import warnings
from dataclasses import dataclass, field, fields
from urllib.parse import unquote

from ..errors import InterfaceError, OperationalError
from ..protocol.auth import parse_require_auth

__all__ = [
    "ConnParams",
    "PasswordFileWarning",
    "TCPOptions",
    "find_pgpass_password",
    "parse_dsn",
    "resolve",
    "session_secrets",
    "tls_context",
]

#: The keywords we accept, as libpq spells them.
KEYWORDS = frozenset(
    {
        "host", "hostaddr", "port", "user", "password", "dbname", "passfile",
        "sslmode", "sslrootcert", "sslcert", "sslkey", "sslsni",
        "channel_binding", "application_name", "fallback_application_name",
        "connect_timeout", "options", "client_encoding", "keepalives",
        "keepalives_idle", "keepalives_interval", "keepalives_count",
        "tcp_user_timeout", "require_auth", "target_session_attrs", "gssencmode",
    }
)  # fmt: skip

#: Environment variables and the keyword each one supplies.
ENVIRONMENT = {
    "PGHOST": "host",
    "PGHOSTADDR": "hostaddr",
    "PGPORT": "port",
    "PGDATABASE": "dbname",
    "PGUSER": "user",
    "PGPASSWORD": "password",
    "PGPASSFILE": "passfile",
    "PGOPTIONS": "options",
    "PGAPPNAME": "application_name",
    "PGSSLMODE": "sslmode",
    "PGSSLROOTCERT": "sslrootcert",
    "PGSSLCERT": "sslcert",
    "PGSSLKEY": "sslkey",
    "PGSSLSNI": "sslsni",
    "PGCHANNELBINDING": "channel_binding",
    "PGREQUIREAUTH": "require_auth",
    "PGCONNECT_TIMEOUT": "connect_timeout",
    "PGCLIENTENCODING": "client_encoding",
    "PGTARGETSESSIONATTRS": "target_session_attrs",
    "PGGSSENCMODE": "gssencmode",
}

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

#: Debian's and most distributions' socket directory; libpq's compiled-in
#: default elsewhere is /tmp.
DEFAULT_SOCKET_DIRS = ("/var/run/postgresql", "/tmp")


@dataclass(frozen=True)
class TCPOptions:
    """What a TCP socket is set up with (libpq's keywords; none on Unix sockets).

    ``keepalives`` turns TCP keepalives on (the default) or off; the other
    values are seconds (``tcp_user_timeout``: milliseconds), None for the
    system's default.
    """

    keepalives: bool = True
    keepalives_idle: int | None = None
    keepalives_interval: int | None = None
    keepalives_count: int | None = None
    tcp_user_timeout: int | None = None


@dataclass(repr=False)
class ConnParams:
    """Resolved connection parameters: what ``connect()`` will use.

    The repr shows ``password='********'``, never the password.
    """

    hosts: list[tuple[str, int]]
    user: str
    dbname: str
    password: str | None = None
    sslmode: str = "prefer"
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None
    sslsni: bool = True
    channel_binding: str = "prefer"
    connect_timeout: float | None = None
    passfile: str | None = None
    startup: dict[str, str] = field(default_factory=dict)
    hostaddr: str | None = None
    require_auth: str | None = None
    tcp: TCPOptions = field(default_factory=TCPOptions)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "password" and value is not None:
                shown.append("password='********'")
            else:
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _parse_keyvalue(dsn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i, n = 0, len(dsn)
    while True:
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n:
            return out
        start = i
        while i < n and dsn[i] != "=" and not dsn[i].isspace():
            i += 1
        key = dsn[start:i]
        while i < n and dsn[i].isspace():
            i += 1
        if i >= n or dsn[i] != "=":
            raise InterfaceError(f'missing "=" after "{key}" in connection info string')
        i += 1
        while i < n and dsn[i].isspace():
            i += 1
        value: list[str] = []
        if i < n and dsn[i] == "'":
            i += 1
            while True:
                if i >= n:
                    raise InterfaceError(
                        "unterminated quoted string in connection info string"
                    )
                c = dsn[i]
                if c == "\\" and i + 1 < n:
                    value.append(dsn[i + 1])
                    i += 2
                elif c == "'":
                    i += 1
                    break
                else:
                    value.append(c)
                    i += 1
        else:
            while i < n and not dsn[i].isspace():
                if dsn[i] == "\\" and i + 1 < n:
                    i += 1
                value.append(dsn[i])
                i += 1
        out[key] = "".join(value)


def _parse_uri(dsn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    rest = dsn.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    if slash and path:
        out["dbname"] = unquote(path)
    userinfo, at, hostspec = netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if user:
            out["user"] = unquote(user)
        if colon:
            out["password"] = unquote(password)
    hosts, ports = [], []
    for item in hostspec.split(",") if hostspec else []:
        if item.startswith("["):
            host, _, tail = item[1:].partition("]")
            port = tail[1:] if tail.startswith(":") else ""
        else:
            host, _, port = item.partition(":")
        hosts.append(unquote(host))
        ports.append(port)
    if any(hosts):
        out["host"] = ",".join(hosts)
    if any(ports):
        out["port"] = ",".join(ports)
    for pair in query.split("&") if query else []:
        key, eq, value = pair.partition("=")
        if not eq:
            raise InterfaceError(f'missing "=" after "{key}" in connection URI')
        key, value = unquote(key), unquote(value)
        if key == "ssl" and value == "true":  # JDBC spelling, as libpq allows
            key, value = "sslmode", "require"
        out[key] = value
    return out


def parse_dsn(dsn: str | None) -> dict[str, str]:
    """The keywords written in a DSN (URI or key=value), unvalidated.

    Raises:
        InterfaceError: the DSN cannot be parsed.
    """
    if not dsn:
        return {}
    if dsn.startswith(("postgresql://", "postgres://")):
        return _parse_uri(dsn)
    return _parse_keyvalue(dsn)


def _default_host() -> str:
    for path in DEFAULT_SOCKET_DIRS:
        if os.path.isdir(path):
            return path
    return "localhost"


def _unescape_pgpass(line: str) -> list[str]:
    fields: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
            continue
        if c == ":" and len(fields) < 4:
            fields.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    fields.append("".join(cur))
    return fields


class PasswordFileWarning(UserWarning):
    """The password file is ignored: it is open to group or others, or is not
    a plain file (libpq prints the same warning)."""


_warned_passfiles: set[str] = set()
_warned_lock = threading.Lock()


def _warn_passfile(passfile: str, problem: str) -> None:
    """Warn about a password file once per path in this process."""
    key = os.path.abspath(passfile)
    with _warned_lock:
        if key in _warned_passfiles:
            return
        _warned_passfiles.add(key)
    warnings.warn(
        f'password file "{passfile}" {problem}', PasswordFileWarning, stacklevel=3
    )


def find_pgpass_password(
    passfile: str, host: str, port: int, dbname: str, user: str
) -> str | None:
    """The password of the first matching line of a password file, if any.

    A socket-directory host matches ``localhost``, as in libpq.  The file is
    ignored unless it is a regular file closed to group and others; as
    libpq, a :class:`PasswordFileWarning` says so (once per file).
    """
    try:
        st = os.stat(passfile)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        _warn_passfile(passfile, "is not a plain file")
        return None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        _warn_passfile(
            passfile,
            "has group or world access; permissions should be u=rw (0600) or less",
        )
        return None
    if host.startswith("/") or not host:
        host = "localhost"
    wanted = (host, str(port), dbname, user)
    try:
        # Bytes that are not UTF-8 are kept as they are (libpq reads bytes).
        with open(passfile, encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        if not line or line.startswith("#"):
            continue
        fields = _unescape_pgpass(line)
        if len(fields) != 5:
            continue
        if all(f == "*" or f == w for f, w in zip(fields[:4], wanted, strict=True)):
            return fields[4]
    return None


def _home_file(*parts: str) -> str:
    return os.path.join(os.path.expanduser("~"), *parts)


_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _int_option(raw: dict[str, str], key: str) -> int | None:
    """An integer keyword as libpq parses it (spaces around, nothing else)."""
    text = raw.get(key)
    if text is None:
        return None
    digits = text.strip()
    unsigned = digits[1:] if digits[:1] in ("+", "-") else digits
    if (
        not unsigned.isascii()
        or not unsigned.isdigit()
        or not _INT_MIN <= int(digits) <= _INT_MAX
    ):
        raise InterfaceError(
            f'invalid integer value "{text}" for connection option "{key}"'
        )
    return int(digits)


def _tcp_options(raw: dict[str, str]) -> TCPOptions:
    def positive(key: str) -> int | None:
        # Zero (and, as libpq clamps it, less) leaves the system's default.
        value = _int_option(raw, key)
        return value if value is not None and value > 0 else None

    keepalives = _int_option(raw, "keepalives")
    return TCPOptions(
        keepalives=keepalives is None or keepalives != 0,
        keepalives_idle=positive("keepalives_idle"),
        keepalives_interval=positive("keepalives_interval"),
        keepalives_count=positive("keepalives_count"),
        tcp_user_timeout=positive("tcp_user_timeout"),
    )


def _as_text(value: object) -> str:
    # Python's booleans as libpq's 1 and 0 (keepalives=False, sslsni=True).
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def resolve(dsn: str | None = None, **kwargs: object) -> ConnParams:
    """Merge keyword arguments, the DSN, the environment and the defaults.

    Raises:
        InterfaceError: an unknown keyword, or a value out of its domain.
    """
    raw: dict[str, str] = {}
    for env, key in ENVIRONMENT.items():
        if os.environ.get(env):
            raw[key] = os.environ[env]
    raw.update(parse_dsn(dsn))
    raw.update({k: _as_text(v) for k, v in kwargs.items() if v is not None})
    unknown = sorted(set(raw) - KEYWORDS)
    if unknown:
        raise InterfaceError(f'invalid connection option "{unknown[0]}"')

    user = raw.get("user") or getpass.getuser()
    dbname = raw.get("dbname") or user
    host_list = (raw.get("host") or raw.get("hostaddr") or _default_host()).split(",")
    port_list = (raw.get("port") or "5432").split(",")
    if len(port_list) == 1:
        port_list = port_list * len(host_list)
    if len(port_list) != len(host_list):
        raise InterfaceError(
            f"could not match {len(port_list)} port numbers to {len(host_list)} hosts"
        )
    hosts = []
    for host, port in zip(host_list, port_list, strict=True):
        port = port or "5432"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise InterfaceError(f'invalid port number: "{port}"')
        hosts.append((host or _default_host(), int(port)))

    sslrootcert = raw.get("sslrootcert")
    # As libpq 16: the system's CAs mean verify-full (any CA vouches for
    # any name, so only the host name check makes them safe).
    default_sslmode = "verify-full" if sslrootcert == "system" else "prefer"
    sslmode = raw.get("sslmode", default_sslmode)
    if sslmode not in SSLMODES:
        raise InterfaceError(f'invalid sslmode value: "{sslmode}"')
    if sslrootcert == "system" and sslmode != "verify-full":
        raise InterfaceError(
            f'weak sslmode "{sslmode}" may not be used with sslrootcert=system '
            '(use "verify-full")'
        )
    channel_binding = raw.get("channel_binding", "prefer")
    if channel_binding not in ("disable", "prefer", "require"):
        raise InterfaceError(f'invalid channel_binding value: "{channel_binding}"')
    require_auth = raw.get("require_auth") or None
    parse_require_auth(require_auth)  # raises InterfaceError if invalid
    tcp = _tcp_options(raw)
    encoding = raw.get("client_encoding", "UTF8")
    if encoding.upper().replace("-", "") not in ("UTF8", "UNICODE"):
        raise InterfaceError(
            "pgcopy_fast speaks UTF8 only; client_encoding must be UTF8"
        )
    timeout: float | None = None
    if raw.get("connect_timeout"):
        try:
            seconds = int(raw["connect_timeout"])
        except ValueError:
            raise InterfaceError(
                f'invalid connect_timeout value: "{raw["connect_timeout"]}"'
            ) from None
        # As libpq: zero or less waits forever, and 1 second is raised to 2.
        timeout = float(max(seconds, 2)) if seconds > 0 else None

    startup = {"user": user, "database": dbname, "client_encoding": "UTF8"}
    app = raw.get("application_name") or raw.get("fallback_application_name")
    if app:
        startup["application_name"] = app
    if raw.get("options"):
        startup["options"] = raw["options"]

    return ConnParams(
        hosts=hosts,
        user=user,
        dbname=dbname,
        password=raw.get("password"),
        sslmode=sslmode,
        sslrootcert=sslrootcert,
        sslcert=raw.get("sslcert"),
        sslkey=raw.get("sslkey"),
        sslsni=raw.get("sslsni", "1") != "0",
        channel_binding=channel_binding,
        connect_timeout=timeout,
        passfile=raw.get("passfile") or _home_file(".pgpass"),
        startup=startup,
        hostaddr=raw.get("hostaddr"),
        require_auth=require_auth,
        tcp=tcp,
    )


def tls_context(params: ConnParams) -> ssl.SSLContext:
    """The SSLContext for params' sslmode, root certificate and client cert.

    Raises:
        OperationalError: verification is asked for but the root file is missing.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # libpq's default minimum
    mode = params.sslmode
    rootcert = params.sslrootcert or _home_file(".postgresql", "root.crt")
    # As libpq: whenever the root certificate file exists (sslrootcert, or
    # ~/.postgresql/root.crt by default) the chain is verified, whatever the
    # sslmode: "require" behaves as "verify-ca" (and "prefer" falls back to
    # plain when verification fails, as on any TLS failure).
    if mode in ("allow", "prefer", "require") and rootcert != "system":
        if os.path.exists(rootcert):
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
    cert = params.sslcert or _home_file(".postgresql", "postgresql.crt")
    if os.path.exists(cert):
        key = params.sslkey or _home_file(".postgresql", "postgresql.key")
        ctx.load_cert_chain(cert, key)
    return ctx


def session_secrets(
    params: ConnParams, host: str, port: int, tls: str
) -> tuple[ssl.SSLContext | None, str | None]:
    """What one attempt needs from files: its TLS context and its password.

    The context is None when ``tls`` is "no"; the password comes from the
    parameters, else from the password file.

    Raises:
        OperationalError: verification is asked for but the root file is missing.
    """
    context = tls_context(params) if tls != "no" else None
    password = params.password
    if password is None and params.passfile:
        password = find_pgpass_password(
            params.passfile, host, port, params.dbname, params.user
        )
    return context, password
