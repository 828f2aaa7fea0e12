"""A TCP proxy between a client and the real server that injects faults.

Each direction runs in its own thread and passes what it reads through a
*fault*: a function of (direction, offset, chunk) that returns the bytes to
forward (changed or not), or None to cut the connection there.  Faults
here: byte-at-a-time delivery, cutting after N bytes, flipping bits,
replacing bytes at an offset.  Used by tests/test_faults.py; long runs can
drive it with any fault function.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable

#: (direction "to_client" or "to_server", offset of chunk in that direction,
#: chunk) -> bytes to forward, or None to cut the connection.
Fault = Callable[[str, int, bytes], bytes | None]


def passthrough(direction: str, offset: int, chunk: bytes) -> bytes | None:
    """Forward everything unchanged."""
    return chunk


def cut_after(limit: int, direction: str = "to_client") -> Fault:
    """Cut the connection once ``limit`` bytes went in ``direction``."""

    def fault(where: str, offset: int, chunk: bytes) -> bytes | None:
        if where != direction:
            return chunk
        if offset >= limit:
            return None
        return chunk[: limit - offset]

    return fault


def replace_at(at: int, data: bytes, direction: str = "to_client") -> Fault:
    """Overwrite the bytes at offset ``at`` of ``direction`` with ``data``."""

    def fault(where: str, offset: int, chunk: bytes) -> bytes | None:
        if where != direction or not offset <= at < offset + len(chunk):
            return chunk
        i = at - offset
        return chunk[:i] + data + chunk[i + len(data) :]

    return fault


def flip_bits(
    rate: float, after: int, seed: int, direction: str = "to_client"
) -> Fault:
    """Flip each bit after offset ``after`` with probability ``rate``."""
    rng = random.Random(seed)

    def fault(where: str, offset: int, chunk: bytes) -> bytes | None:
        if where != direction or offset + len(chunk) <= after:
            return chunk
        out = bytearray(chunk)
        for i in range(max(after - offset, 0), len(out)):
            if rng.random() < rate * 8:
                out[i] ^= 1 << rng.randrange(8)
        return bytes(out)

    return fault


class FaultProxy:
    """Listens on 127.0.0.1; each accepted client gets its own upstream link.

    ``trickle``: forward server-to-client bytes one at a time.
    ``idle_close``: cut the link once the server has been silent that many
    seconds (a client left waiting for bytes that a corrupted length
    promised then sees the end of the stream instead of waiting forever).
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        fault: Fault = passthrough,
        trickle: bool = False,
        idle_close: float | None = None,
    ) -> None:
        self.upstream = upstream
        self.fault = fault
        self.trickle = trickle
        self.idle_close = idle_close
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            for src, dst, where in (
                (client, server, "to_server"),
                (server, client, "to_client"),
            ):
                threading.Thread(
                    target=self._pump, args=(src, dst, where), daemon=True
                ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, where: str) -> None:
        offset = 0
        if where == "to_client" and self.idle_close is not None:
            src.settimeout(self.idle_close)
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                out = self.fault(where, offset, chunk)
                offset += len(chunk)
                if out is None:
                    break
                if self.trickle and where == "to_client":
                    for i in range(len(out)):
                        dst.sendall(out[i : i + 1])
                else:
                    dst.sendall(out)
        except OSError:
            pass
        # Either side ending ends both: a cut is a cut in both directions.
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Stop accepting and close every link."""
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self._listener.close()
        for s in self._sockets:
            # shutdown first: close() alone does not wake a thread in recv()
            # nor tell the peer
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
