"""Record byte exchanges with a real server into tests/exchanges/.

Run ``python tests/record_exchanges.py`` to re-record against a throwaway
cluster.  The files are what the protocol core's unit tests replay, so those
tests need no server.  A ``.jsonl`` file holds one line per socket call:
``{"from": "client" | "server", "hex": ...}``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

from rawwire import open_socket, read_until_ready, startup_message, terminate_message

import pgcopy_fast._core_py as core
from pgcopy_fast.auth import Authenticator
from pgcopy_fast.connection import _drive
from pgcopy_fast.flows import query_flow, startup_flow
from pgcopy_fast.protocol import ClientProtocol
from pgcopy_fast.tempserver import TempServer

HERE = os.path.join(os.path.dirname(__file__), "exchanges")

#: The statements of the recorded query session, in order.
SESSION_QUERIES = [
    "SELECT 1 AS a, NULL::text AS b, 'h\u00e9' AS c",
    "SELECT 1/0",
    "CREATE TEMP TABLE t (a int PRIMARY KEY); INSERT INTO t VALUES (1), (2)",
    "",
    "DO $$ BEGIN RAISE NOTICE 'note %', 1; END $$",
    "LISTEN chan; NOTIFY chan, 'hello'",
    "SET TimeZone = 'UTC'",
    "BEGIN; SELECT 1; COMMIT",
]
SESSION_STARTUP = {
    "user": "postgres",
    "database": "postgres",
    "client_encoding": "UTF8",
}


class RecordingSocket:
    """A socket proxy that logs what is sent and received."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.log: list[dict[str, str]] = []

    def sendall(self, data: bytes) -> None:
        self.log.append({"from": "client", "hex": bytes(data).hex()})
        self.sock.sendall(data)

    def recv_into(self, buf: bytearray) -> int:
        n = self.sock.recv_into(buf)
        self.log.append({"from": "server", "hex": bytes(buf[:n]).hex()})
        return n

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)


def record_startup(srv: TempServer) -> None:
    sent = startup_message(core, user="postgres", database="postgres")
    received = bytearray()
    with open_socket(srv.socket_dir, srv.port) as sock:
        sock.sendall(sent)
        read_until_ready(core, sock, received)
        sock.sendall(terminate_message(core))
    for side, data in (("client", sent), ("server", bytes(received))):
        with open(os.path.join(HERE, f"startup_trust.{side}.bin"), "wb") as f:
            f.write(data)


def record_flows(
    srv: TempServer, name: str, steps: Callable[[ClientProtocol], list[Any]]
) -> None:
    proto = ClientProtocol()
    with open_socket(srv.socket_dir, srv.port) as raw:
        sock = RecordingSocket(raw)
        buf = bytearray(65536)
        _drive(
            sock,
            startup_flow(
                proto, SESSION_STARTUP, Authenticator("postgres", None), lambda e: None
            ),
            buf,
        )  # type: ignore[arg-type]
        for flow in steps(proto):
            try:
                _drive(sock, flow, buf)  # type: ignore[arg-type]
            except Exception:  # errors are part of what is recorded
                pass
        raw.sendall(proto.terminate())
    with open(os.path.join(HERE, f"{name}.jsonl"), "w") as f:
        for entry in sock.log:
            f.write(json.dumps(entry) + "\n")


def main() -> None:
    with TempServer() as srv:
        record_startup(srv)
        record_flows(
            srv,
            "query_session",
            lambda proto: [
                query_flow(proto, q, lambda e: None) for q in SESSION_QUERIES
            ],
        )


if __name__ == "__main__":
    main()
