"""Message flows as sans-I/O generators, shared by every I/O driver.

A flow yields either bytes to send or :data:`RECV` (a request for received
bytes, which the driver passes back with ``send()``), and returns its result.
The blocking ``Connection`` and the asyncio ``AsyncConnection`` drive the
same flows, so the protocol decisions live once (psycopg's generator style).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from ..errors import Error, InterfaceError, error_from_fields
from .auth import Authenticator, KeyDerivation
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
    NoData,
    ParameterDescription,
    ParseComplete,
    ReadyForQuery,
    RowDescription,
)
from .machine import ClientProtocol, State

__all__ = [
    "RECV",
    "RECV_BULK",
    "Compute",
    "Result",
    "startup_flow",
    "query_flow",
    "describe_flow",
    "next_event",
    "copy_start_flow",
    "copy_end_flow",
    "copy_in_events",
    "copy_out_flow",
]


class _Recv:
    __slots__ = ()

    def __repr__(self) -> str:
        return "RECV"


#: Yielded by a flow that needs bytes from the server.
RECV: Final = _Recv()
#: The same, in the middle of a long COPY OUT: the driver may wait a moment
#: to gather more than a few KB per read (fewer rounds, less client CPU).
RECV_BULK: Final = _Recv()


@dataclass(frozen=True)
class Compute:
    """Instruction: run ``fn(*args)`` (CPU-bound) and send back its result.

    A flow yields it for work too slow to run where the flow runs (SCRAM's
    key derivation, whose iteration count the server chooses): the asyncio
    driver runs it in a thread, off the event loop, and both drivers give
    up on it at the connection's deadline.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


AsyncHandler: TypeAlias = Callable[[Event], None]


@dataclass
class Result:
    """The outcome of one statement of ``execute()`` (libpq's PGresult)."""

    command_tag: str = ""
    rowcount: int = -1
    columns: list[tuple[str, int]] = field(default_factory=list)
    rows: list[tuple[str | None, ...]] = field(default_factory=list)
    #: each column's type modifier (numeric(12,2)'s precision and scale), -1
    #: where there is none; empty where the driver does not say
    modifiers: list[int] = field(default_factory=list)


class _Statements:
    """Builds the Result of each statement from its row and completion events."""

    __slots__ = ("columns", "modifiers", "rows")

    def __init__(self) -> None:
        self.columns: list[tuple[str, int]] = []
        self.modifiers: list[int] = []
        self.rows: list[tuple[str | None, ...]] = []

    def take(self, event: DataRow | RowDescription | CommandComplete) -> Result | None:
        """Take one event; the statement's Result once it is complete."""
        if isinstance(event, DataRow):
            self.rows.append(event.values)
            return None
        if isinstance(event, RowDescription):
            self.columns = [(c.name, c.type_oid) for c in event.columns]
            self.modifiers = [c.type_modifier for c in event.columns]
            self.rows = []
            return None
        done = Result(
            event.tag, event.rowcount, self.columns, self.rows, self.modifiers
        )
        self.columns, self.rows, self.modifiers = [], [], []
        return done


def next_event(
    proto: ClientProtocol, recv: _Recv = RECV
) -> Generator[_Recv, bytes | None, Event]:
    """Flow step: the next event, receiving as many bytes as it takes."""
    while True:
        event = proto.next_event()
        if event is not NEED_DATA:
            return event  # type: ignore[return-value]
        data = yield recv
        if data:
            proto.receive_data(data)


def startup_flow(
    proto: ClientProtocol,
    params: dict[str, str],
    auth: Authenticator,
    on_async: AsyncHandler,
) -> Generator[bytes | _Recv | Compute, Any, None]:
    """StartupMessage, authentication, up to the first ReadyForQuery.

    SCRAM's key derivation, whose cost the server sets, is yielded as a
    :class:`Compute` step: the drivers run it off the event loop and give
    up on it at connect_timeout.

    Raises:
        OperationalError: authentication failed or is not possible.
        ProtocolError: the server sent a malformed authentication request.
        DatabaseError: the server refused the connection (its class by SQLSTATE).
    """
    yield proto.startup(params)
    while True:
        event = yield from next_event(proto)
        if isinstance(event, AuthenticationRequest):
            reply = auth.step(event)
            if isinstance(reply, KeyDerivation):
                salted = yield Compute(reply.run)
                reply = auth.finish_scram(salted)
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
    statements = _Statements()
    while True:
        event = yield from next_event(proto)
        if isinstance(event, DataRow | RowDescription | CommandComplete):
            done = statements.take(event)
            if done is not None:
                result = done
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


def describe_flow(
    proto: ClientProtocol, sql: str, on_async: AsyncHandler
) -> Generator[bytes | _Recv, bytes | None, Result]:
    """Parse and Describe one statement without running it.

    Returns a Result with the statement's ``columns`` (none for a statement
    that returns no rows) and no rows.  The server refuses a string of
    several statements in Parse, so what is described is exactly one.
    The error, if any, is raised after ReadyForQuery.

    Raises:
        DatabaseError: the server could not parse or describe it.
    """
    yield proto.describe(sql)
    result = Result()
    error: Error | None = None
    while True:
        event = yield from next_event(proto)
        if isinstance(event, RowDescription):
            result.columns = [(c.name, c.type_oid) for c in event.columns]
            result.modifiers = [c.type_modifier for c in event.columns]
        elif isinstance(event, ParseComplete | ParameterDescription | NoData):
            pass
        elif isinstance(event, ErrorResponse):
            server_error = error_from_fields(event.fields)
            if proto.state is State.CLOSED:
                raise server_error
            error = error or server_error
        elif isinstance(event, ReadyForQuery):
            if error is not None:
                raise error
            return result
        else:
            on_async(event)


def _refuse_copy(
    proto: ClientProtocol, event: Event
) -> Generator[bytes | _Recv, bytes | None, None]:
    """Leave a COPY that the caller did not ask for (wrong direction)."""
    if isinstance(event, CopyInResponse):
        yield proto.copy_fail("pgcopy_fast: this COPY goes the other way")
    elif isinstance(event, CopyBothResponse):
        yield proto.copy_done()
    # CopyOut: the CopyData and CopyDone that follow are skipped by the caller.


def copy_start_flow(
    proto: ClientProtocol,
    sql: str,
    direction: str,
    on_async: AsyncHandler,
    results: list[Result] | None = None,
) -> Generator[bytes | _Recv, bytes | None, CopyInResponse | CopyOutResponse]:
    """Send the query and read up to the CopyInResponse / CopyOutResponse.

    Statements before the COPY in the same query string run first; their
    Results are appended to ``results`` when it is given.  A COPY in the
    other direction, copy-both, or no COPY at all is refused after the
    server is idle again.

    Raises:
        InterfaceError: the statement is not a COPY in ``direction``.
        DatabaseError: the server's error, raised once it is idle again.
    """
    wanted = CopyInResponse if direction == "in" else CopyOutResponse
    yield proto.query(sql)
    error: Error | None = None
    statements = _Statements()
    while True:
        event = yield from next_event(proto)
        if isinstance(event, wanted) and error is None:
            return event
        if isinstance(event, CopyInResponse | CopyOutResponse | CopyBothResponse):
            if isinstance(event, CopyBothResponse):
                what = "copy-both mode (replication) is not supported"
            elif direction == "in":
                what = (
                    "copy_in() needs COPY ... FROM STDIN; use copy_out() for TO STDOUT"
                )
            else:
                what = (
                    "copy_out() needs COPY ... TO STDOUT; use copy_in() for FROM STDIN"
                )
            error = error or InterfaceError(what)
            yield from _refuse_copy(proto, event)
        elif isinstance(event, ErrorResponse):
            server_error = error_from_fields(event.fields)
            if proto.state is State.CLOSED:
                raise server_error
            if error is None or isinstance(error, InterfaceError):
                error = server_error if error is None else error
        elif isinstance(event, ReadyForQuery):
            kind = "FROM STDIN" if direction == "in" else "TO STDOUT"
            raise error or InterfaceError(f"the statement did not start a COPY {kind}")
        elif isinstance(event, DataRow | RowDescription | CommandComplete):
            done = statements.take(event)
            if done is not None and results is not None:
                results.append(done)
        elif isinstance(event, EmptyQueryResponse):
            pass
        elif isinstance(event, CopyData | CopyDone):
            pass  # a refused COPY OUT's data
        else:
            on_async(event)


def copy_end_flow(
    proto: ClientProtocol, on_async: AsyncHandler, pending: Error | None = None
) -> Generator[bytes | _Recv, bytes | None, int]:
    """After CopyDone / CopyFail / a server error: read up to ReadyForQuery.

    Returns the row count of the COPY's CommandComplete.  Statements after
    the COPY in the same query string run to their end, as libpq's
    PQgetResult loop does.

    Raises:
        DatabaseError: ``pending``, or the first server error.
        InterfaceError: a second COPY in the same query string.
    """
    rowcount = -1
    error = pending
    while True:
        event = yield from next_event(proto)
        if isinstance(event, CommandComplete):
            if rowcount < 0 and event.tag.startswith("COPY"):
                rowcount = event.rowcount
        elif isinstance(event, ErrorResponse):
            server_error = error_from_fields(event.fields)
            if proto.state is State.CLOSED:
                raise error or server_error
            error = error or server_error
        elif isinstance(event, ReadyForQuery):
            if error is not None:
                raise error
            return rowcount
        elif isinstance(event, CopyInResponse | CopyOutResponse | CopyBothResponse):
            error = error or InterfaceError(
                "only one COPY per query string is supported"
            )
            yield from _refuse_copy(proto, event)
        elif isinstance(
            event, RowDescription | DataRow | EmptyQueryResponse | CopyData | CopyDone
        ):
            pass
        else:
            on_async(event)


def copy_in_events(
    proto: ClientProtocol, on_async: AsyncHandler
) -> ErrorResponse | None:
    """Handle what the server sent during COPY IN, without waiting for more.

    Returns the ErrorResponse if the server already gave up on the copy
    (a constraint violation at row 10 of 10 million, say).
    """
    while True:
        event = proto.next_event()
        if event is NEED_DATA:
            return None
        if isinstance(event, ErrorResponse):
            return event
        on_async(event)  # type: ignore[arg-type]


def copy_out_flow(
    proto: ClientProtocol,
    on_async: AsyncHandler,
    joined: bool = False,
    bulk: bool = False,
) -> Generator[bytes | _Recv, bytes | None, list[Any] | int]:
    """The next CopyData payloads (a non-empty list), or at the end the row count.

    With ``joined`` the list holds one bytes object: every payload received
    so far, concatenated (what the decoders take, without a view per row).
    With ``bulk`` it receives with :data:`RECV_BULK` (a long copy).

    Raises:
        DatabaseError: the server failed during the copy (raised once idle).
    """
    while True:
        if joined:
            data = proto.drain_copy_bytes()
            if data:
                return [data]
        else:
            payloads = proto.drain_copy_data()
            if payloads:
                return payloads
        event = yield from next_event(proto, RECV_BULK if bulk else RECV)
        if isinstance(event, CopyData):
            return [event.data]  # type: ignore[list-item]
        if isinstance(event, CopyDone):
            return (yield from copy_end_flow(proto, on_async))
        if isinstance(event, ErrorResponse):
            return (
                yield from copy_end_flow(
                    proto, on_async, error_from_fields(event.fields)
                )
            )
        on_async(event)
