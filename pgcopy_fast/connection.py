"""The blocking ``Connection``: sockets and TLS around the sans-I/O core.

This is the only module of the blocking API that touches a socket.  It
drives the flows of ``flows.py`` over a socket, opens TLS when ``sslmode``
asks for it, and keeps the session's notices and notifications.
"""

from __future__ import annotations

import io
import os
import select
import socket
import ssl
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from ._consts import COPY_BATCH_THRESHOLD, COPY_FILE_CHUNK
from .conninfo import ConnParams, resolve
from .copy import CopyIn, CopyOut
from .errors import DatabaseError, EncodeError, Error, InterfaceError, OperationalError
from .establish import (
    RecvExactly,
    StartTLS,
    as_operational,
    combined_failure,
    describe,
    establish_flow,
    is_unix,
    should_retry,
    tls_plan,
)
from .events import (
    Event,
    NegotiateProtocolVersion,
    NoticeResponse,
    NotificationResponse,
    TransactionStatus,
)
from .flows import RECV, Result, query_flow
from .options import CodecOptions
from .protocol import ClientProtocol, State, cancel_request
from .records import (
    MAX_REPLANS,
    CopyPlan,
    forget,
    key_table,
    plan_query,
    plan_table,
    record_rows,
)
from .records import (
    replannable as _replannable,
)

__all__ = ["Connection", "connect"]

T = TypeVar("T")

#: Bytes asked of the kernel per recv: large enough that a COPY OUT stream
#: arrives in few system calls, small enough to stay in the L2 cache.
RECV_BUFFER_SIZE = 256 * 1024
#: Notices kept in ``Connection.notices`` (older ones are dropped, as libpq
#: drivers do, so a chatty server cannot grow memory without bound).
MAX_NOTICES = 100
#: How long ``cancel()`` waits for the server to take the CancelRequest.
CANCEL_TIMEOUT = 10.0


def _open_socket(
    host: str, port: int, timeout: float | None, hostaddr: str | None = None
) -> socket.socket:
    if is_unix(host):
        path = os.path.join(host, f".s.PGSQL.{port}")
        if host.startswith("@"):  # Linux abstract namespace, as libpq
            path = "\0" + path[1:]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return sock
    sock = socket.create_connection((hostaddr or host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


class _Transport:
    """The socket a flow runs on; StartTLS swaps it for the TLS one."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock


def _drive(
    transport: _Transport | socket.socket,
    flow: Generator[Any, Any, T],
    buf: bytearray,
    deadline: float | None = None,
) -> T:
    """Run a flow to its end over a blocking socket."""
    holder = transport if isinstance(transport, _Transport) else _Transport(transport)
    view = memoryview(buf)
    try:
        step = next(flow)
        while True:
            sock = holder.sock
            if step is RECV or isinstance(step, RecvExactly):
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError("timeout expired")
                    sock.settimeout(remaining)
                if isinstance(step, RecvExactly):
                    data: Any = sock.recv(step.n)
                else:
                    data = view[: sock.recv_into(buf)]
                if not data:
                    raise ConnectionResetError(
                        "server closed the connection unexpectedly"
                    )
                step = flow.send(data)
            elif isinstance(step, StartTLS):
                holder.sock = step.context.wrap_socket(
                    sock, server_hostname=step.server_hostname
                )
                step = flow.send(holder.sock.getpeercert(binary_form=True))
            else:
                sock.sendall(step)
                step = flow.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


class BaseConnection:
    """What both connection kinds share: session state, notices, notifications.

    Attributes:
        notices: the latest NoticeResponse events (at most 100).
        notifies: NotificationResponse events received so far.
        info: the resolved connection parameters.
    """

    def __init__(
        self, proto: ClientProtocol, info: ConnParams, host: str, port: int
    ) -> None:
        self._proto = proto
        self._closed = False
        self._notice_handlers: list[Callable[[NoticeResponse], None]] = []
        self.info = info
        self.host = host
        self.port = port
        self.notices: list[NoticeResponse] = []
        self.notifies: list[NotificationResponse] = []
        self.protocol_negotiation: NegotiateProtocolVersion | None = None

    @property
    def closed(self) -> bool:
        """True once closed by us, by the server, or by a lost connection."""
        return self._closed

    @property
    def parameters(self) -> dict[str, str]:
        """ParameterStatus values: server_version, TimeZone, DateStyle, ..."""
        return self._proto.parameters

    @property
    def backend_pid(self) -> int:
        """The server process id serving this connection (0 when unknown)."""
        key = self._proto.backend_key
        return key.pid if key else 0

    @property
    def transaction_status(self) -> TransactionStatus:
        """IDLE, INTRANS, INERROR, ACTIVE, or UNKNOWN when closed."""
        if self._closed:
            return TransactionStatus.UNKNOWN
        return self._proto.transaction_status

    @property
    def server_version(self) -> int:
        """The server version as libpq's PQserverVersion (150004 for 15.4)."""
        text = self.parameters.get("server_version", "0").split()[0]
        parts = [
            int("".join(ch for ch in p if ch.isdigit()) or 0) for p in text.split(".")
        ]
        major = parts[0]
        minor = parts[1] if len(parts) > 1 else 0
        return major * 10000 + minor if major >= 10 else major * 10000 + minor * 100

    def add_notice_handler(self, handler: Callable[[NoticeResponse], None]) -> None:
        """Call ``handler(notice)`` for every NoticeResponse from now on."""
        self._notice_handlers.append(handler)

    def remove_notice_handler(self, handler: Callable[[NoticeResponse], None]) -> None:
        """Stop calling a handler given to :meth:`add_notice_handler`."""
        self._notice_handlers.remove(handler)

    def _on_async(self, event: Event) -> None:
        if isinstance(event, NoticeResponse):
            self.notices.append(event)
            del self.notices[:-MAX_NOTICES]
            for handler in self._notice_handlers:
                handler(event)
        elif isinstance(event, NotificationResponse):
            self.notifies.append(event)
        elif isinstance(event, NegotiateProtocolVersion):
            self.protocol_negotiation = event

    def __repr__(self) -> str:
        state = "closed" if self._closed else self._proto.state.value
        where = f"{self.info.user}@{self.host}:{self.port}"
        return f"<pgcopy_fast.{type(self).__name__} {where} {state}>"


class Connection(BaseConnection):
    """A blocking connection to PostgreSQL.  Make one with :func:`connect`.

    Attributes:
        notices: the latest NoticeResponse events (at most 100).
        notifies: NotificationResponse events received so far.
        info: the resolved connection parameters.
    """

    def __init__(
        self,
        sock: socket.socket,
        proto: ClientProtocol,
        info: ConnParams,
        host: str,
        port: int,
    ) -> None:
        super().__init__(proto, info, host, port)
        self._sock = sock
        self._buf = bytearray(RECV_BUFFER_SIZE)
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(sock, select.POLLIN)

    # -- I/O ---------------------------------------------------------------

    def _run(self, flow: Generator[Any, Any, T]) -> T:
        if self._closed:
            flow.close()
            raise InterfaceError("the connection is closed")
        try:
            return _drive(self._sock, flow, self._buf)
        except OSError as exc:
            self._abandon()
            raise OperationalError(
                f"the connection to the server was lost: {exc}"
            ) from exc
        except Error:
            if self._proto.state is State.CLOSED:
                self._abandon()
            raise
        except BaseException:
            # Interrupted half-way through a message exchange: the stream's
            # position is unknown, so the connection cannot be trusted.
            self._abandon()
            raise

    def _abandon(self) -> None:
        self._closed = True
        self._proto.state = State.CLOSED
        self._sock.close()

    def _send_buffer(self, buf: Any) -> None:
        """Send a WriteBuffer's contents (the COPY IN batches)."""
        try:
            with buf.view() as view:
                self._sock.sendall(view)
        except OSError as exc:
            self._abandon()
            raise OperationalError(
                f"the connection to the server was lost: {exc}"
            ) from exc
        except BaseException:
            # Interrupted inside sendall: part of a message may be on the wire.
            self._abandon()
            raise

    def _poll(self) -> bool:
        """Receive what the server already sent, without waiting.

        Returns True when bytes were received.
        """
        sock = self._sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            ready = True
        elif self._poller is not None:
            ready = bool(self._poller.poll(0))
        else:
            ready = bool(select.select([sock], [], [], 0)[0])
        if not ready:
            return False
        try:
            sock.setblocking(False)
            try:
                n = sock.recv_into(self._buf)
            except (BlockingIOError, ssl.SSLWantReadError):
                return False
            finally:
                sock.setblocking(True)
        except OSError as exc:
            self._abandon()
            raise OperationalError(
                f"the connection to the server was lost: {exc}"
            ) from exc
        if n == 0:
            self._abandon()
            raise OperationalError(
                "the connection to the server was lost: server closed it"
            )
        self._proto.receive_data(memoryview(self._buf)[:n])
        return True

    # -- COPY ----------------------------------------------------------------

    def copy_in(
        self,
        sql: str,
        types: Any = None,
        *,
        format: str | None = None,
        threshold: int = COPY_BATCH_THRESHOLD,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        columns: Any = None,
        options: CodecOptions | None = None,
        element_oids: Any = None,
        results: list[Result] | None = None,
    ) -> CopyIn:
        """Start ``COPY ... FROM STDIN`` and return its :class:`CopyIn`.

        ``types`` (names or OIDs, one per column) are needed to encode rows
        in binary; the row format follows the statement's FORMAT (or
        ``format=``, which wins).  ``delimiter`` / ``null`` / ``quote`` must
        match the options the statement uses.  ``threshold`` is the batch
        size in bytes of each CopyData message.  ``columns`` names the
        columns in error messages; ``options`` tunes the value codecs
        (:class:`CodecOptions`); ``element_oids`` gives the element type
        OID of array columns whose elements are enums or domains.  With
        ``types``, text and CSV rows are rendered by column type, storing
        exactly what binary would.  ``results`` receives the Result of each
        statement that runs before the COPY in the same query string.

        Raises:
            InterfaceError: the statement is not COPY FROM STDIN (the
                connection is left idle), or the options do not fit.
            DatabaseError: the server rejected the statement.
        """
        return CopyIn(
            self,
            sql,
            types,
            format=format,
            threshold=threshold,
            delimiter=delimiter,
            null=null,
            quote=quote,
            columns=columns,
            options=options,
            element_oids=element_oids,
            results=results,
        )

    def copy_out(
        self,
        sql: str,
        types: Any = None,
        *,
        format: str | None = None,
        delimiter: str | None = None,
        null: str | None = None,
        quote: str | None = None,
        options: CodecOptions | None = None,
        delimiters: Sequence[str] | None = None,
        results: list[Result] | None = None,
    ) -> CopyOut:
        """Start ``COPY ... TO STDOUT`` and return its :class:`CopyOut`.

        With ``types``, rows decode to Python values in every format (text
        and CSV fields are parsed as their column's type; ``delimiters``
        gives each array column's element delimiter, ``,`` by default).
        ``results`` receives the Result of each statement that runs before
        the COPY in the same query string.

        Raises:
            InterfaceError: the statement is not COPY TO STDOUT (the
                connection is left idle), or the options do not fit.
            DatabaseError: the server rejected the statement.
        """
        return CopyOut(
            self,
            sql,
            types,
            format=format,
            delimiter=delimiter,
            null=null,
            quote=quote,
            options=options,
            delimiters=delimiters,
            results=results,
        )

    def copy_records(
        self,
        table: Any,
        records: Iterable[Any],
        columns: Sequence[str] | None = None,
        *,
        options: CodecOptions | None = None,
        threshold: int = COPY_BATCH_THRESHOLD,
    ) -> int:
        """Copy records into a table, with types from the catalog.

        ``table`` is a name as written in SQL (``users``, ``app.users``,
        ``"Mixed Case"``) or a ``(schema, name)`` tuple of exact names;
        ``columns`` are exact names (default: every insertable column).
        Binary format, unless a column's type has no binary codec: then text.
        Returns the number of rows copied.

        Raises:
            EncodeError: a value does not fit its column; nothing is committed.
            DatabaseError: the server rejected the data or the table.
            InterfaceError: a bad table name or column list.
        """
        rows, columns = record_rows(records, columns)
        for _ in range(MAX_REPLANS):
            key, plan = plan_table(self, table, columns)
            before: list[Result] = []
            try:
                cp = self.copy_in(**plan.copy_in_args(threshold, options, before))
            except DatabaseError:
                forget(self, key)
                if _replannable(plan, self.transaction_status):
                    continue  # a column the stale plan names was dropped
                raise
            if not plan.current(before):
                # The table changed since it was planned: end this copy
                # with no rows (nothing is sent, nothing fails) and re-plan.
                forget(self, key)
                cp.write_rows(())
                cp.close()
                continue
            try:
                with cp:
                    cp.write_rows(rows)
            except DatabaseError as exc:
                if not isinstance(exc, EncodeError):
                    forget(self, key)
                raise
            return cp.rowcount
        raise InterfaceError(f"{table!r} kept changing while its copy was planned")

    def copy_records_out(
        self,
        table: Any,
        columns: Sequence[str] | None = None,
        *,
        options: CodecOptions | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Yield a table's rows as Python values (types from the catalog).

        Consume the iterator to its end (or close it) before using the
        connection again.

        Raises:
            DatabaseError: the server failed.
            InterfaceError: a bad table name or column list.
        """
        key, plan = plan_table(self, table, columns)
        return self._copy_plan_out(plan, options, key)

    def copy_query_out(
        self, sql: str, *, options: CodecOptions | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """Yield a query's rows as Python values, typed from its columns.

        Runs ``COPY (sql) TO STDOUT``; the types come from describing the
        query first (one extra round trip).

        Raises:
            DatabaseError: the query failed.
        """
        return self._copy_plan_out(plan_query(self, sql), options, None)

    def _copy_plan_out(
        self, plan: CopyPlan, options: CodecOptions | None, key: Any
    ) -> Iterator[tuple[Any, ...]]:
        for _ in range(MAX_REPLANS):
            before: list[Result] = []
            try:
                out = self.copy_out(**plan.copy_out_args(options, before))
            except DatabaseError:
                if key is not None:
                    forget(self, key)
                if key is None or not _replannable(plan, self.transaction_status):
                    raise
            else:
                if plan.current(before):
                    return _rows_of(out)
                out.close()  # read and dropped undecoded: the types were stale
                forget(self, key)
            key, plan = plan_table(self, *key_table(key))
        raise InterfaceError("the table kept changing while its copy was planned")

    def copy_from_file(
        self, sql: str, fileobj: Any, *, chunk_size: int = COPY_FILE_CHUNK
    ) -> int:
        """Stream a file (binary or text mode) into ``COPY ... FROM STDIN``.

        Returns the server's row count.

        Raises:
            DatabaseError: the server rejected the data; nothing is committed.
        """
        with self.copy_in(sql) as cp:
            while chunk := fileobj.read(chunk_size):
                cp.write(chunk)
        return cp.rowcount

    def copy_to_file(self, sql: str, fileobj: Any) -> int:
        """Stream ``COPY ... TO STDOUT`` into a file (binary or text mode).

        Returns the server's row count.

        Raises:
            DatabaseError: the server failed during the copy.
        """
        text_mode = isinstance(fileobj, io.TextIOBase)
        with self.copy_out(sql) as out:
            for payloads in out.read_batches():
                data = b"".join(payloads)
                fileobj.write(data.decode() if text_mode else data)
        return out.rowcount

    def execute(self, sql: str) -> Result:
        """Run one or more SQL statements with the simple query protocol.

        Returns the Result of the last statement (as libpq's PQexec).

        Raises:
            DatabaseError: the server's error, by SQLSTATE class; the
                connection is idle and usable afterwards (unless FATAL).
            InterfaceError: the connection is closed or busy, or the SQL
                started a COPY (use copy_in / copy_out).
            OperationalError: the connection was lost.
        """
        if self._closed:
            raise InterfaceError("the connection is closed")
        return self._run(query_flow(self._proto, sql, self._on_async))

    def cancel(self) -> None:
        """Ask the server to cancel the running command (CancelRequest).

        Safe to call from another thread.  The cancelled command raises
        QueryCanceled in the thread that runs it.

        Raises:
            InterfaceError: the connection is closed.
            OperationalError: the server could not be reached.
        """
        key = self._proto.backend_key
        if self._closed or key is None:
            raise InterfaceError("the connection is closed")
        try:
            sock = _open_socket(
                self.host, self.port, CANCEL_TIMEOUT, self.info.hostaddr
            )
            with sock:
                sock.sendall(cancel_request(key.pid, key.secret_key))
                sock.recv(1)  # the server closes once it has read the request
        except OSError as exc:
            raise OperationalError(f"could not send the cancel request: {exc}") from exc

    def close(self) -> None:
        """Send Terminate and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._proto.state is not State.CLOSED:
                self._sock.sendall(self._proto.terminate())
        except OSError:
            pass
        finally:
            self._proto.state = State.CLOSED
            self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _rows_of(out: CopyOut) -> Iterator[tuple[Any, ...]]:
    with out:
        yield from out


def _attempt(params: ConnParams, host: str, port: int, tls: str) -> Connection:
    """One connection attempt; ``tls`` is "no", "try" or "must"."""
    deadline = (
        time.monotonic() + params.connect_timeout if params.connect_timeout else None
    )
    where = describe(host, port)
    try:
        sock = _open_socket(host, port, params.connect_timeout, params.hostaddr)
    except OSError as exc:
        reason = (
            "timeout expired" if isinstance(exc, TimeoutError) else exc.strerror or exc
        )
        raise OperationalError(f"{where} failed: {reason}") from exc
    transport = _Transport(sock)
    proto = ClientProtocol()
    notices: list[Event] = []
    try:
        _drive(
            transport,
            establish_flow(params, host, port, tls, proto, notices.append),
            bytearray(RECV_BUFFER_SIZE),
            deadline,
        )
        transport.sock.settimeout(None)
    except ssl.SSLError as exc:
        transport.sock.close()
        raise OperationalError(f"{where} failed: SSL error: {exc}") from exc
    except OSError as exc:
        transport.sock.close()
        reason = "timeout expired" if isinstance(exc, TimeoutError) else exc
        raise OperationalError(f"{where} failed: {reason}") from exc
    except Error as exc:
        transport.sock.close()
        raise as_operational(exc) from None
    except BaseException:
        transport.sock.close()
        raise
    conn = Connection(transport.sock, proto, params, host, port)
    for event in notices:
        conn._on_async(event)
    return conn


def connect(dsn: str | None = None, **kwargs: Any) -> Connection:
    """Open a connection with libpq's conventions.

    ``dsn`` is a ``postgresql://`` URI or a ``key=value`` string; keyword
    arguments (host, port, user, password, dbname, sslmode, sslrootcert,
    sslcert, sslkey, channel_binding, application_name, connect_timeout,
    options, passfile, ...) override it; the PG* environment variables and
    the password file fill in what neither gives.  Several comma-separated
    hosts are tried in turn.

    Raises:
        InterfaceError: an invalid DSN or option.
        OperationalError: no host could be reached, or authentication failed.
    """
    params = resolve(dsn, **kwargs)
    failures: list[OperationalError] = []
    for host, port in params.hosts:
        for tls in tls_plan(params, host):
            try:
                return _attempt(params, host, port, tls)
            except OperationalError as exc:
                failures.append(exc)
                if not should_retry(exc, tls):
                    break
    raise combined_failure(failures)
