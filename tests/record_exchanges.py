"""Record byte exchanges with a real server into tests/exchanges/.

Run ``python tests/record_exchanges.py`` to re-record against a throwaway
cluster.  The files are what the protocol core's unit tests replay, so they
need no server.
"""

from __future__ import annotations

import os

from rawwire import open_socket, read_until_ready, startup_message, terminate_message

import pgcopy_fast._core_py as core
from pgcopy_fast.tempserver import TempServer

HERE = os.path.join(os.path.dirname(__file__), "exchanges")


def record_startup(srv: TempServer) -> None:
    sent = startup_message(core, user="postgres", database="postgres")
    received = bytearray()
    with open_socket(srv.socket_dir, srv.port) as sock:
        sock.sendall(sent)
        read_until_ready(core, sock, received)
        sock.sendall(terminate_message(core))
    _save("startup_trust", sent, bytes(received))


def _save(name: str, client: bytes, server: bytes) -> None:
    for side, data in (("client", client), ("server", server)):
        with open(os.path.join(HERE, f"{name}.{side}.bin"), "wb") as f:
            f.write(data)


def main() -> None:
    with TempServer() as srv:
        record_startup(srv)


if __name__ == "__main__":
    main()
