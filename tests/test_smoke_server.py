"""The kernels against a real server: a raw StartupMessage up to ReadyForQuery."""

from __future__ import annotations

import types

from rawwire import (
    int32,
    open_socket,
    read_until_ready,
    startup_message,
    terminate_message,
)

from pgcopy_fast.kernels.consts import (
    AUTHENTICATION,
    BACKEND_KEY_DATA,
    PARAMETER_STATUS,
    READY_FOR_QUERY,
)


def test_startup_reaches_ready_for_query(impl: types.ModuleType, pg_server) -> None:
    with open_socket(pg_server.host, pg_server.port) as sock:
        sock.sendall(
            startup_message(impl, user=pg_server.user, database=pg_server.dbname)
        )
        messages = read_until_ready(impl, sock)
        sock.sendall(terminate_message(impl))
    types_seen = [t for t, _ in messages]
    assert types_seen[0] == AUTHENTICATION and int32(messages[0][1]) == 0
    assert BACKEND_KEY_DATA in types_seen
    params: dict[str, str] = {}
    for t, p in messages:
        if t == PARAMETER_STATUS:
            name, value = p.decode().split("\x00")[:2]
            params[name] = value
    assert params["server_encoding"] == "UTF8"
    assert int(params["server_version"].split(".")[0]) >= 10
    assert messages[-1] == (READY_FOR_QUERY, b"I")


def test_server_rejects_unknown_database_with_error_response(
    impl: types.ModuleType, pg_server
) -> None:
    with open_socket(pg_server.host, pg_server.port) as sock:
        sock.sendall(startup_message(impl, user=pg_server.user, database="no_such_db"))
        reader = impl.FrameReader()
        seen: list[tuple[bytes, memoryview]] = []
        while not seen or seen[-1][0] != b"E":
            msg = reader.next_message()
            if msg is None:
                reader.feed(sock.recv(4096))
            else:
                seen.append(msg)
    payload = seen[-1][1]
    fields = {f[:1]: f[1:] for f in bytes(payload).split(b"\x00") if f}
    assert fields[b"C"] == b"3D000"
    assert b"no_such_db" in fields[b"M"]
