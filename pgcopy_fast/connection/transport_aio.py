"""The asyncio transport: an ``asyncio.Protocol`` behind the transport method names.

The twin of ``transport.SocketTransport``: the same method names, awaitable
where the blocking one would wait (``open``, ``recv``, ``recv_exactly``,
``drain``, ``start_tls``).  Received bytes are queued for the protocol
core; writes go to the asyncio transport with backpressure in both
directions.
"""

from __future__ import annotations

import asyncio
import collections
import os
import ssl
import sys
import time
from typing import Any

from ..kernels.consts import COPY_BATCH_THRESHOLD, GATHER_BYTES, GATHER_WAIT
from ..protocol.establish import is_unix
from ..protocol.flows import Compute
from .conninfo import TCPOptions
from .transport import RECV_BUFFER_SIZE, configure_tcp, start_compute

__all__ = ["INTERRUPTS", "AsyncTransport"]

#: What may interrupt a wait between whole messages: a cancelled task.  The
#: protocol state stays intact (bytes reach it only whole, and a batch is
#: handed to the transport whole), so a COPY can still end cleanly.
INTERRUPTS: tuple[type[BaseException], ...] = (asyncio.CancelledError,)

#: Bytes the transport may hold unsent before a writer waits (drain): four
#: COPY batches, so memory stays bounded and encoding overlaps sending.
WRITE_HIGH_WATER = 4 * COPY_BATCH_THRESHOLD
#: Received bytes buffered before the transport stops reading (backpressure
#: towards the server when the consumer is slow).
MAX_BUFFERED = 4 * RECV_BUFFER_SIZE
#: Up to 3.11 the selector transport copies unsent data into its own
#: bytearray, so a view of the batch buffer can be written without a copy;
#: later versions may keep the view itself.
_TRANSPORT_COPIES = sys.version_info < (3, 12)


def _timeout(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0)


class AsyncTransport(asyncio.Protocol):
    """Bytes in (queued until read) and out (with drain), for one connection."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._reading_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self._eof = False
        self._lost: BaseException | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        timeout: float | None,
        hostaddr: str | None,
        tcp: TCPOptions | None = None,
    ) -> AsyncTransport:
        """Connect to a host and port, or to a Unix socket directory.

        ``tcp``: the keepalive options of a TCP socket (libpq's defaults
        when None).

        Raises:
            OSError: the connection failed (TimeoutError after ``timeout``).
        """
        loop = asyncio.get_running_loop()
        unix = is_unix(host)
        if unix:
            path = os.path.join(host, f".s.PGSQL.{port}")
            if host.startswith("@"):  # Linux abstract namespace, as libpq
                path = "\0" + path[1:]
            coro = loop.create_unix_connection(cls, path)
        else:
            coro = loop.create_connection(cls, hostaddr or host, port)
        try:
            _, transport = await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError("timeout expired") from None
        if not unix and transport.transport is not None:
            sock = transport.transport.get_extra_info("socket")
            if sock is not None:
                try:
                    configure_tcp(sock, tcp)
                except BaseException:
                    transport.close()
                    raise
        return transport

    # asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        # The default high-water mark (64 KiB) is below one COPY batch, so
        # every batch would wait for the previous one to be fully sent;
        # a few batches of slack let encoding overlap with sending.
        self.transport.set_write_buffer_limits(  # type: ignore[union-attr]
            high=WRITE_HIGH_WATER, low=WRITE_HIGH_WATER // 4
        )

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if (
            self._buffered > MAX_BUFFERED
            and self.transport
            and not self._reading_paused
        ):
            self.transport.pause_reading()
            self._reading_paused = True
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._lost = exc or ConnectionResetError(
            "server closed the connection unexpectedly"
        )
        self._wake()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(self._lost)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # the transport method names --------------------------------------------------

    def _take(self) -> bytes:
        if not self._chunks:
            return b""
        data = (
            self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        )
        self._chunks.clear()
        self._buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return data

    async def _arrival(self) -> bytes:
        while not self._chunks:
            if self._eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._take()

    async def recv(self, deadline: float | None = None) -> bytes:
        """Wait for bytes; b"" at the end of the stream."""
        data = self._take()
        if data:
            return data
        try:
            return await asyncio.wait_for(self._arrival(), _timeout(deadline))
        except asyncio.TimeoutError:
            raise TimeoutError("timeout expired") from None

    async def recv_bulk(self, deadline: float | None = None) -> bytes:
        """:meth:`recv`, but a short read waits a moment and takes what follows.

        For the middle of a long COPY OUT (see ``consts.GATHER_BYTES``): the
        event loop runs other tasks meanwhile.
        """
        data = await self.recv(deadline)
        if not 0 < len(data) < GATHER_BYTES:
            return data
        await asyncio.sleep(GATHER_WAIT)
        more = self._take()
        return data + more if more else data

    async def recv_exactly(self, n: int, deadline: float | None = None) -> bytes:
        """Exactly ``n`` bytes (b"" at the end); the rest stays queued."""
        data = b""
        while len(data) < n:
            chunk = await self.recv(deadline)
            if not chunk:
                return b""
            data += chunk
        if len(data) > n:
            self._chunks.appendleft(data[n:])
            self._buffered += len(data) - n
        return data[:n]

    def poll(self) -> bytes:
        """Bytes that already arrived, without waiting (b"" when none).

        Raises:
            ConnectionResetError: the connection was lost.
        """
        data = self._take()
        if not data and self._lost is not None:
            raise ConnectionResetError("the connection to the server was lost")
        return data

    def write(self, data: bytes | memoryview) -> None:
        """Queue bytes on the transport (``drain`` waits for room)."""
        if self._lost is not None or self.transport is None:
            raise ConnectionResetError("the connection is closed")
        self.transport.write(data)

    def write_buffer(self, buf: Any) -> None:
        """Queue a WriteBuffer's contents (the buffer may be reused at once)."""
        if _TRANSPORT_COPIES:
            with buf.view() as view:
                self.write(view)
        else:
            # The transport may keep a reference to what it cannot send at
            # once, and the buffer is reused for the next batch.
            self.write(buf.getvalue())

    async def drain(self) -> bool:
        """Wait while the transport holds more than its high-water mark.

        Returns True when it waited (other tasks ran meanwhile).
        """
        if self._lost is not None:
            raise self._lost
        if not self._writing_paused:
            return False
        self._drain_waiter = asyncio.get_running_loop().create_future()
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None
        return True

    async def start_tls(
        self, context: ssl.SSLContext, server_hostname: str | None
    ) -> bytes:
        """Upgrade the transport to TLS; returns the server certificate (DER)."""
        if self._chunks:
            raise ConnectionResetError(
                "the server sent unencrypted data after its SSL answer"
            )
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        transport = await loop.start_tls(
            self.transport, self, context, server_hostname=server_hostname
        )
        assert transport is not None
        self.transport = transport  # type: ignore[assignment]
        ssl_object = transport.get_extra_info("ssl_object")
        cert: bytes = ssl_object.getpeercert(binary_form=True)
        return cert

    async def compute(self, step: Compute, deadline: float | None = None) -> Any:
        """Run a flow's CPU-bound step in a thread, off the event loop.

        Raises:
            TimeoutError: ``deadline`` passed first.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def finish(ok: bool, value: Any) -> None:
            if future.done():
                return
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

        def deliver(ok: bool, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(finish, ok, value)
            except RuntimeError:
                pass  # the loop is gone: nobody waits any more

        start_compute(step, deliver)
        try:
            return await asyncio.wait_for(future, _timeout(deadline))
        except asyncio.TimeoutError:
            raise TimeoutError("timeout expired") from None

    def settle(self) -> None:
        """The session is open (timeouts are per call here: nothing to undo)."""

    def close(self) -> None:
        """Close the transport (idempotent)."""
        if self.transport is not None:
            self.transport.close()
