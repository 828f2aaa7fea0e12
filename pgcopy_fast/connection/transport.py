"""The blocking transport: a socket behind the method names of ``AsyncTransport``.

The connection code is written once, against these names (``recv``,
``recv_exactly``, ``poll``, ``write``, ``write_buffer``, ``drain``,
``start_tls``, ``close``), and generated for both APIs; this class and
``transport_aio.AsyncTransport`` are the only places that differ.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from ..kernels.consts import GATHER_BYTES, GATHER_WAIT
from ..protocol.establish import is_unix
from ..protocol.flows import Compute
from .conninfo import TCPOptions

__all__ = ["INTERRUPTS", "RECV_BUFFER_SIZE", "SocketTransport", "configure_tcp"]

#: Nothing interrupts a blocking wait harmlessly: a signal can land in the
#: middle of parsing, so an interrupted exchange leaves the stream at an
#: unknown position and the connection is closed.
INTERRUPTS: tuple[type[BaseException], ...] = ()

#: Bytes asked of the kernel per recv: large enough that a COPY OUT stream
#: arrives in few system calls, small enough to stay in the L2 cache.
RECV_BUFFER_SIZE = 256 * 1024


def start_compute(step: Compute, deliver: Callable[[bool, Any], None]) -> None:
    """Run ``step.fn(*step.args)`` in a daemon thread; then ``deliver(ok, value)``.

    ``deliver`` runs in that thread, with the result (ok True) or the
    exception (ok False).  A daemon thread, not an executor's: an abandoned
    computation must not keep the interpreter (or ``asyncio.run()``, which
    waits for its executor) from ending.
    """

    def work() -> None:
        try:
            outcome = (True, step.fn(*step.args))
        except BaseException as exc:  # handed to the waiting caller
            outcome = (False, exc)
        deliver(*outcome)

    threading.Thread(target=work, name="pgcopy_fast-compute", daemon=True).start()


def run_in_thread(step: Compute, timeout: float | None) -> Any:
    """``step.fn(*step.args)`` in a daemon thread, waited for ``timeout`` seconds.

    Raises:
        TimeoutError: it did not finish in time (the thread runs on, unseen).
    """
    outcome: list[Any] = []
    done = threading.Event()

    def deliver(ok: bool, value: Any) -> None:
        outcome.append((ok, value))
        done.set()

    start_compute(step, deliver)
    if not done.wait(None if timeout is None else max(timeout, 0)):
        raise TimeoutError("timeout expired")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


#: TCP_KEEPIDLE is TCP_KEEPALIVE on macOS, as libpq knows.
_KEEPIDLE: int | None = getattr(
    socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None)
)
_KEEPIDLE_NAME = "TCP_KEEPIDLE" if hasattr(socket, "TCP_KEEPIDLE") else "TCP_KEEPALIVE"


def configure_tcp(sock: Any, tcp: TCPOptions | None) -> None:
    """Set up a TCP socket as libpq does: no Nagle, and the keepalive options.

    ``sock`` is a socket (or asyncio's wrapper of one).  An option the
    platform lacks is skipped, as libpq skips it.

    Raises:
        OSError: the system refused a value ("setsockopt(TCP_KEEPCNT)
            failed: Invalid argument").
    """
    tcp = tcp or TCPOptions()
    wanted: list[tuple[int, int | None, str, int | None]] = [
        (socket.IPPROTO_TCP, socket.TCP_NODELAY, "TCP_NODELAY", 1),
        (socket.SOL_SOCKET, socket.SO_KEEPALIVE, "SO_KEEPALIVE", int(tcp.keepalives)),
    ]
    if tcp.keepalives:
        wanted += [
            (socket.IPPROTO_TCP, _KEEPIDLE, _KEEPIDLE_NAME, tcp.keepalives_idle),
            (
                socket.IPPROTO_TCP,
                getattr(socket, "TCP_KEEPINTVL", None),
                "TCP_KEEPINTVL",
                tcp.keepalives_interval,
            ),
            (
                socket.IPPROTO_TCP,
                getattr(socket, "TCP_KEEPCNT", None),
                "TCP_KEEPCNT",
                tcp.keepalives_count,
            ),
        ]
    wanted.append(
        (
            socket.IPPROTO_TCP,
            getattr(socket, "TCP_USER_TIMEOUT", None),
            "TCP_USER_TIMEOUT",
            tcp.tcp_user_timeout,
        )
    )
    for level, option, name, value in wanted:
        if option is None or value is None:
            continue
        try:
            sock.setsockopt(level, option, value)
        except OSError as exc:
            raise OSError(
                exc.errno, f"setsockopt({name}) failed: {exc.strerror or exc}"
            ) from exc


def _connect(
    host: str,
    port: int,
    timeout: float | None,
    hostaddr: str | None,
    tcp: TCPOptions | None = None,
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
    try:
        configure_tcp(sock, tcp)
    except BaseException:
        sock.close()
        raise
    return sock


class SocketTransport:
    """A blocking socket (TCP, Unix or TLS) with the transport method names.

    Received data is a view of one reused buffer: the caller consumes it
    before the next ``recv`` (the protocol's frame reader copies what it
    keeps).
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray(RECV_BUFFER_SIZE)
        self._view = memoryview(self._buf)
        self._poller = select.poll() if hasattr(select, "poll") else None
        if self._poller is not None:
            self._poller.register(sock, select.POLLIN)

    @classmethod
    def open(
        cls,
        host: str,
        port: int,
        timeout: float | None,
        hostaddr: str | None,
        tcp: TCPOptions | None = None,
    ) -> SocketTransport:
        """Connect to a host and port, or to a Unix socket directory.

        ``tcp``: the keepalive options of a TCP socket (libpq's defaults
        when None).

        Raises:
            OSError: the connection failed (TimeoutError after ``timeout``).
        """
        return cls(_connect(host, port, timeout, hostaddr, tcp))

    def _wait(self, deadline: float | None) -> None:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timeout expired")
            self.sock.settimeout(remaining)

    def recv(self, deadline: float | None = None) -> Any:
        """Wait for bytes (a view, valid until the next call); b"" at the end."""
        self._wait(deadline)
        return self._view[: self.sock.recv_into(self._buf)]

    def recv_bulk(self, deadline: float | None = None) -> Any:
        """:meth:`recv`, but a short read waits a moment and takes what follows.

        For the middle of a long COPY OUT (see ``consts.GATHER_BYTES``).
        """
        data = self.recv(deadline)
        got = len(data)
        if not 0 < got < GATHER_BYTES:
            return data
        time.sleep(GATHER_WAIT)
        sock = self.sock
        sock.setblocking(False)
        try:
            while got < len(self._buf):
                try:
                    n = sock.recv_into(self._view[got:])
                except (BlockingIOError, ssl.SSLWantReadError):
                    break
                if n == 0:
                    break  # the end: the next recv reports it
                got += n
        finally:
            sock.setblocking(True)
        return self._view[:got]

    def recv_exactly(self, n: int, deadline: float | None = None) -> bytes:
        """Up to ``n`` bytes, reading nothing beyond them (b"" at the end)."""
        self._wait(deadline)
        return self.sock.recv(n)

    def poll(self) -> Any:
        """Bytes the server already sent, without waiting (b"" when none).

        Raises:
            ConnectionResetError: the server closed the connection.
        """
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            ready = True
        elif self._poller is not None:
            ready = bool(self._poller.poll(0))
        else:
            ready = bool(select.select([sock], [], [], 0)[0])
        if not ready:
            return b""
        sock.setblocking(False)
        try:
            n = sock.recv_into(self._buf)
        except (BlockingIOError, ssl.SSLWantReadError):
            return b""
        finally:
            sock.setblocking(True)
        if n == 0:
            raise ConnectionResetError("server closed the connection unexpectedly")
        return self._view[:n]

    def write(self, data: bytes | memoryview) -> None:
        """Send all of ``data``."""
        self.sock.sendall(data)

    def write_buffer(self, buf: Any) -> None:
        """Send a WriteBuffer's contents without copying them."""
        with buf.view() as view:
            self.sock.sendall(view)

    def drain(self) -> bool:
        """Nothing to wait for: ``write`` returns once the kernel has the bytes."""
        return False

    def start_tls(self, context: ssl.SSLContext, server_hostname: str | None) -> bytes:
        """Wrap the socket in TLS; returns the server certificate (DER)."""
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)
        if self._poller is not None:
            self._poller = select.poll()
            self._poller.register(self.sock, select.POLLIN)
        cert: bytes = self.sock.getpeercert(binary_form=True) or b""
        return cert

    def compute(self, step: Compute, deadline: float | None = None) -> Any:
        """Run a flow's CPU-bound step; give up at ``deadline``.

        With a deadline the work runs in a daemon thread, so that a server
        asking for an endless computation cannot hold the caller past it.

        Raises:
            TimeoutError: the deadline passed first.
        """
        if deadline is None:
            return step.fn(*step.args)
        return run_in_thread(step, deadline - time.monotonic())

    def settle(self) -> None:
        """The session is open: no more connect_timeout on reads."""
        self.sock.settimeout(None)

    def close(self) -> None:
        """Close the socket (idempotent)."""
        self.sock.close()
