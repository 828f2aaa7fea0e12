"""Raw-socket helpers for tests that talk to the server below the Connection.

Messages are built with the kernels' WriteBuffer and parsed with their
FrameReader, so these helpers exercise whichever twin the test selected.
"""

from __future__ import annotations

import os
import socket
import struct
import types

from pgcopy_fast.kernels.consts import PROTOCOL_VERSION, READY_FOR_QUERY, TERMINATE


def open_socket(host: str, port: int) -> socket.socket:
    """Connect to a Unix socket directory or a TCP host, as libpq would."""
    if host.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(os.path.join(host, f".s.PGSQL.{port}"))
    else:
        sock = socket.create_connection((host, port))
    sock.settimeout(30)
    return sock


def startup_message(core: types.ModuleType, **params: str) -> bytes:
    """A StartupMessage (protocol 3.0) carrying ``params``."""
    buf = core.WriteBuffer()
    buf.start_message()
    buf.write_int32(PROTOCOL_VERSION)
    for key, value in params.items():
        buf.write_cstr(key)
        buf.write_cstr(value)
    buf.write_byte(0)
    buf.end_message()
    return bytes(buf.getvalue())


def terminate_message(core: types.ModuleType) -> bytes:
    """A Terminate message."""
    buf = core.WriteBuffer()
    buf.start_message(TERMINATE)
    buf.end_message()
    return bytes(buf.getvalue())


def read_until_ready(
    core: types.ModuleType, sock: socket.socket, raw: bytearray | None = None
) -> list[tuple[bytes, bytes]]:
    """Read messages up to and including ReadyForQuery; ``raw`` gets the bytes."""
    reader = core.FrameReader()
    out: list[tuple[bytes, bytes]] = []
    while True:
        msg = reader.next_message()
        if msg is None:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            if raw is not None:
                raw += data
            reader.feed(data)
            continue
        out.append((msg[0], bytes(msg[1])))
        if msg[0] == READY_FOR_QUERY:
            return out


def int32(payload: bytes, offset: int = 0) -> int:
    """The big-endian int32 at ``offset``."""
    value: int = struct.unpack_from(">i", payload, offset)[0]
    return value
