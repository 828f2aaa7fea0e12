"""Record byte exchanges with a real server into tests/exchanges/.

Run ``python tests/record_exchanges.py`` to re-record against a throwaway
cluster.  The files are what the protocol core's unit tests replay, so those
tests need no server.  A ``.jsonl`` file holds one line per socket call:
``{"from": "client" | "server", "hex": ...}``.  The scenarios below are
shared with the replay tests, which run them again over the recorded bytes.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from typing import Any

from rawwire import open_socket, read_until_ready, startup_message, terminate_message

import pgcopy_fast as pcf
import pgcopy_fast.kernels._core_py as core
from pgcopy_fast.connection.transport import SocketTransport
from pgcopy_fast.connection.wire import drive
from pgcopy_fast.protocol.auth import Authenticator
from pgcopy_fast.protocol.flows import (
    copy_end_flow,
    copy_out_flow,
    copy_start_flow,
    query_flow,
    startup_flow,
)
from pgcopy_fast.protocol.machine import ClientProtocol
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

Run = Callable[[Any], Any]
Send = Callable[[bytes], None]


def _noop(event: Any) -> None:
    pass


def startup(
    run: Run, proto: ClientProtocol, on_async: Callable[[Any], None] = _noop
) -> None:
    """The trust-authenticated startup every recorded session begins with."""
    run(startup_flow(proto, SESSION_STARTUP, Authenticator("postgres", None), on_async))


def query_session(run: Run, send: Send, proto: ClientProtocol) -> list[Any]:
    """The statements of SESSION_QUERIES: their results, or their errors."""
    outcomes: list[Any] = []
    for sql in SESSION_QUERIES:
        try:
            outcomes.append(run(query_flow(proto, sql, _noop)))
        except pcf.Error as exc:
            outcomes.append(exc)
    return outcomes


def copy_session(
    run: Run, send: Send, proto: ClientProtocol, kernels: Any
) -> dict[str, Any]:
    """COPY IN and OUT in text and binary, with CopyFail and server errors."""
    got: dict[str, Any] = {}

    def attempt(key: str, flow: Any) -> None:
        try:
            got[key] = run(flow)
        except pcf.Error as exc:
            got[key] = (type(exc).__name__, getattr(exc, "sqlstate", None))

    run(query_flow(proto, "CREATE TEMP TABLE t (a int PRIMARY KEY, b text)", _noop))
    for key, sql, encoder, base in (
        ("text_in", "COPY t FROM STDIN", kernels.TextEncoder(), 1),
        (
            "binary_in",
            "COPY t FROM STDIN (FORMAT binary)",
            kernels.BinaryEncoder(["int4", "text"]),
            10,
        ),
    ):
        response = run(copy_start_flow(proto, sql, "in", _noop))
        got[key + "_response"] = (response.format, response.column_formats)
        buf = kernels.WriteBuffer()
        buf.start_message(b"d")
        encoder.header(buf)
        for row in ((base, "x\\ty"), (base + 1, None), (base + 2, "\u00e9")):
            encoder.encode_row(buf, row)
        encoder.trailer(buf)
        buf.end_message()
        send(bytes(buf.getvalue()) + proto.copy_done())
        attempt(key, copy_end_flow(proto, _noop))
    run(copy_start_flow(proto, "COPY t FROM STDIN", "in", _noop))
    send(proto.copy_fail("the client gave up"))
    attempt("copy_fail", copy_end_flow(proto, _noop))
    run(copy_start_flow(proto, "COPY t FROM STDIN", "in", _noop))
    send(b"d\x00\x00\x00\x0a1\tdup\n" + proto.copy_done())
    attempt("server_error", copy_end_flow(proto, _noop))
    for key, sql, decoder in (
        (
            "text_out",
            "COPY (SELECT * FROM t ORDER BY a) TO STDOUT",
            kernels.TextDecoder(),
        ),
        (
            "binary_out",
            "COPY (SELECT * FROM t ORDER BY a) TO STDOUT (FORMAT binary)",
            kernels.BinaryDecoder(["int4", "text"]),
        ),
    ):
        run(copy_start_flow(proto, sql, "out", _noop))
        rows: list[Any] = []
        while True:
            step = run(copy_out_flow(proto, _noop))
            if isinstance(step, int):
                got[key + "_count"] = step
                break
            rows += decoder.decode(step)
        decoder.finish()
        got[key] = rows
    run(
        copy_start_flow(
            proto,
            "COPY (SELECT 1 / (g - 2) FROM generate_series(1, 3) g) TO STDOUT",
            "out",
            _noop,
        )
    )
    attempt("out_first", copy_out_flow(proto, _noop))
    got["out_first"] = [bytes(p) for p in got["out_first"]]
    attempt("out_error", copy_out_flow(proto, _noop))
    return got


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

    def fileno(self) -> int:
        return self.sock.fileno()


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


def record(
    srv: TempServer, name: str, scenario: Callable[[Run, Send, ClientProtocol], Any]
) -> None:
    proto = ClientProtocol()
    with open_socket(srv.socket_dir, srv.port) as raw:
        sock = RecordingSocket(raw)
        transport = SocketTransport(sock)  # type: ignore[arg-type]

        def run(flow: Any) -> Any:
            return drive(transport, flow)

        startup(run, proto)
        scenario(run, sock.sendall, proto)
        raw.sendall(proto.terminate())
    with open(os.path.join(HERE, f"{name}.jsonl"), "w") as f:
        for entry in sock.log:
            f.write(json.dumps(entry) + "\n")


def main() -> None:
    with TempServer() as srv:
        record_startup(srv)
        record(srv, "query_session", query_session)
        record(
            srv,
            "copy_session",
            lambda run, send, proto: copy_session(run, send, proto, core),
        )


if __name__ == "__main__":
    main()
