# WARNING: generated from pgcopy_fast/connection/wire_aio.py by tools/async_to_sync.py.
# Do not edit: change the source and run the tool (CI checks it).
"""One session's I/O: the sans-I/O protocol core driven over a transport."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from ..errors import Error, InterfaceError, OperationalError
from ..protocol.establish import RecvExactly, StartTLS
from ..protocol.events import Event, TransactionStatus
from ..protocol.flows import RECV, RECV_BULK, Compute
from ..protocol.machine import ClientProtocol, State, cancel_request
from .transport import INTERRUPTS, SocketTransport

__all__ = ["CANCEL_TIMEOUT", "Wire", "drive"]

T = TypeVar("T")

#: How long ``cancel()`` waits for the server to take the CancelRequest.
CANCEL_TIMEOUT = 10.0


def drive(
    transport: SocketTransport,
    flow: Generator[Any, Any, T],
    deadline: float | None = None,
) -> T:
    """Run a flow to its end over a transport.

    Raises:
        ConnectionResetError: the server closed the connection.
        TimeoutError: ``deadline`` (a ``time.monotonic()`` value) passed.
    """
    try:
        step = next(flow)
        while True:
            if step is RECV:
                data = transport.recv(deadline)
            elif step is RECV_BULK:
                data = transport.recv_bulk(deadline)
            elif isinstance(step, RecvExactly):
                data = transport.recv_exactly(step.n, deadline)
            elif isinstance(step, StartTLS):
                cert = transport.start_tls(step.context, step.server_hostname)
                step = flow.send(cert)
                continue
            elif isinstance(step, Compute):
                step = flow.send(transport.compute(step, deadline))
                continue
            else:
                transport.write(step)
                transport.drain()
                step = flow.send(None)
                continue
            if not data:
                raise ConnectionResetError("server closed the connection unexpectedly")
            step = flow.send(data)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _lost(exc: BaseException) -> OperationalError:
    return OperationalError(f"the connection to the server was lost: {exc}")


class Wire:
    """A session's transport and protocol state machine, and what moves between.

    Attributes:
        proto: the protocol state machine (the only owner of its state).
        on_event: called with every asynchronous event (notices, ...).
        closed: True once closed by us, by the server or by a lost connection.
    """

    #: What may interrupt a wait between whole messages, harmlessly.
    interrupts = INTERRUPTS

    def __init__(
        self,
        transport: SocketTransport,
        proto: ClientProtocol,
        on_event: Callable[[Event], None],
        host: str,
        port: int,
        hostaddr: str | None,
    ) -> None:
        self.transport = transport
        self.proto = proto
        self.on_event = on_event
        self.closed = False
        self._where = (host, port, hostaddr)

    @property
    def transaction_status(self) -> TransactionStatus:
        """IDLE, INTRANS, INERROR, ACTIVE, or UNKNOWN when closed."""
        if self.closed:
            return TransactionStatus.UNKNOWN
        return self.proto.transaction_status

    def run(self, flow: Generator[Any, Any, T], resumable: bool = False) -> T:
        """Run a flow; a lost connection or an interrupted exchange closes it.

        ``resumable``: the caller recovers from :data:`INTERRUPTS` itself
        (the COPY objects do), so they leave the connection open.

        Raises:
            InterfaceError: the connection is closed.
            OperationalError: the connection was lost.
        """
        if self.closed:
            flow.close()
            raise InterfaceError("the connection is closed")
        try:
            return drive(self.transport, flow)
        except OSError as exc:
            self.abandon()
            raise _lost(exc) from exc
        except Error:
            if self.proto.state is State.CLOSED:
                self.abandon()
            raise
        except INTERRUPTS:
            if not resumable:
                self.abandon()
            raise
        except BaseException:
            # Interrupted half-way through a message exchange: the stream's
            # position is unknown, so the connection cannot be trusted.
            self.abandon()
            raise

    def send_buffer(self, buf: Any) -> bool:
        """Send a WriteBuffer's contents (a COPY IN batch).

        Returns True when it had to wait for the transport to drain.

        Raises:
            OperationalError: the connection was lost.
        """
        try:
            self.transport.write_buffer(buf)
            return self.transport.drain()
        except OSError as exc:
            self.abandon()
            raise _lost(exc) from exc
        except INTERRUPTS:
            raise  # the batch was handed over whole: the stream is intact
        except BaseException:
            # Interrupted while sending: part of a message may be on the wire.
            self.abandon()
            raise

    def poll(self) -> bool:
        """Feed what the server already sent to the protocol, without waiting.

        Returns True when bytes arrived.

        Raises:
            OperationalError: the connection was lost.
        """
        try:
            data = self.transport.poll()
        except OSError as exc:
            self.abandon()
            raise _lost(exc) from exc
        if not data:
            return False
        self.proto.receive_data(data)
        return True

    def abandon(self) -> None:
        """Close at once, without Terminate: the stream cannot be trusted."""
        self.closed = True
        self.proto.connection_lost()
        self.transport.close()

    def cancel(self) -> None:
        """Send a CancelRequest on a second connection.

        Raises:
            InterfaceError: the connection is closed.
            OperationalError: the server could not be reached.
        """
        key = self.proto.backend_key
        if self.closed or key is None:
            raise InterfaceError("the connection is closed")
        host, port, hostaddr = self._where
        try:
            other = SocketTransport.open(host, port, CANCEL_TIMEOUT, hostaddr)
            try:
                other.write(cancel_request(key.pid, key.secret_key))
                other.drain()
                # The server closes once it has read the request.
                other.recv_exactly(1, time.monotonic() + CANCEL_TIMEOUT)
            finally:
                other.close()
        except OSError as exc:
            raise OperationalError(f"could not send the cancel request: {exc}") from exc

    def close(self) -> None:
        """Send Terminate and close the transport (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            if self.proto.state is not State.CLOSED:
                self.transport.write(self.proto.terminate())
                self.transport.drain()
        except OSError:
            pass
        finally:
            self.proto.connection_lost()
            self.transport.close()
