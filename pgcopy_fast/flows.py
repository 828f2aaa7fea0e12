"""Message flows as sans-I/O generators, shared by every I/O driver.

A flow yields either bytes to send or :data:`RECV` (a request for received
bytes, which the driver passes back with ``send()``), and returns its result.
The blocking ``Connection`` and the asyncio ``AsyncConnection`` drive the
same flows, so the protocol decisions live once (psycopg's generator style).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from .auth import Authenticator
from .errors import Error, InterfaceError, error_from_fields
from .events import (
    NEED_DATA,
    AuthenticationRequest,
    CommandComplete,
    CopyBothResponse,
    CopyData,
    CopyDone,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    EmptyQueryResponse,
    ErrorResponse,
    Event,
    ReadyForQuery,
    RowDescription,
)
from .protocol import ClientProtocol, State

__all__ = ["RECV", "Flow", "Result", "startup_flow", "query_flow", "next_event"]


class _Recv:
    __slots__ = ()

    def __repr__(self) -> str:
        return "RECV"


#: Yielded by a flow that needs bytes from the server.
RECV: Final = _Recv()

Flow: TypeAlias = Generator["bytes | _Recv", "bytes | None", "object"]
AsyncHandler: TypeAlias = Callable[[Event], None]


@dataclass
class Result:
    """The outcome of one statement of ``execute()`` (libpq's PGresult)."""

    command_tag: str = ""
    rowcount: int = -1
    columns: list[tuple[str, int]] = field(default_factory=list)
    rows: list[tuple[str | None, ...]] = field(default_factory=list)


def next_event(proto: ClientProtocol) -> Generator[_Recv, bytes | None, Event]:
    """Flow step: the next event, receiving as many bytes as it takes."""
    while True:
        event = proto.next_event()
        if event is not NEED_DATA:
            return event  # type: ignore[return-value]
        data = yield RECV
        if data:
            proto.receive_data(data)


def startup_flow(
    proto: ClientProtocol,
    params: dict[str, str],
    auth: Authenticator,
    on_async: AsyncHandler,
) -> Generator[bytes | _Recv, bytes | None, None]:
    """StartupMessage, authentication, up to the first ReadyForQuery.

    Raises:
        OperationalError: authentication failed or is not possible.
        DatabaseError: the server refused the connection (its class by SQLSTATE).
    """
    yield proto.startup(params)
    while True:
        event = yield from next_event(proto)
        if isinstance(event, AuthenticationRequest):
            reply = auth.respond(event)
            if reply is not None:
                yield proto.password_message(reply)
        elif isinstance(event, ErrorResponse):
            raise error_from_fields(event.fields)
        elif isinstance(event, ReadyForQuery):
            return
        else:
            on_async(event)


def query_flow(
    proto: ClientProtocol, sql: str, on_async: AsyncHandler
) -> Generator[bytes | _Recv, bytes | None, Result]:
    """A simple Query up to ReadyForQuery; the Result of the last statement.

    A server error is raised after ReadyForQuery, so the connection is idle
    and usable when the caller sees it.

    Raises:
        DatabaseError: the server's error (its class by SQLSTATE).
        InterfaceError: the query started a COPY (use copy_in / copy_out).
    """
    yield proto.query(sql)
    result = Result()
    error: Error | None = None
    columns: list[tuple[str, int]] = []
    rows: list[tuple[str | None, ...]] = []
    while True:
        event = yield from next_event(proto)
        if isinstance(event, DataRow):
            rows.append(event.values)
        elif isinstance(event, RowDescription):
            columns = [(c.name, c.type_oid) for c in event.columns]
            rows = []
        elif isinstance(event, CommandComplete):
            result = Result(event.tag, event.rowcount, columns, rows)
            columns, rows = [], []
        elif isinstance(event, EmptyQueryResponse):
            result = Result()
        elif isinstance(event, ErrorResponse):
            server_error = error_from_fields(event.fields)
            if proto.state is State.CLOSED:
                raise server_error
            error = error or server_error
        elif isinstance(event, ReadyForQuery):
            if error is not None:
                raise error
            return result
        elif isinstance(event, CopyInResponse | CopyOutResponse | CopyBothResponse):
            error = InterfaceError(
                "execute() cannot run COPY FROM STDIN / TO STDOUT; "
                "use copy_in() or copy_out()"
            )
            if isinstance(event, CopyInResponse):
                yield proto.copy_fail("COPY is not possible through execute()")
            elif isinstance(event, CopyBothResponse):
                yield proto.copy_done()
        elif isinstance(event, CopyData | CopyDone):
            pass  # the rest of a refused COPY OUT
        else:
            on_async(event)
