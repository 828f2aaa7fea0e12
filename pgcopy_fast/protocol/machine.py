"""The sans-I/O client side of the frontend/backend protocol (3.0).

``ClientProtocol`` turns received bytes into events and requests into bytes;
it never touches a socket, a clock or a thread.  Every state transition of
the connection lives in this file.  The rules:

- NEW --startup()--> STARTUP --ReadyForQuery--> IDLE
- IDLE --query()--> BUSY --ReadyForQuery--> IDLE
- BUSY --CopyInResponse--> COPY_IN --copy_done() / copy_fail()--> BUSY
- BUSY --CopyOutResponse--> COPY_OUT --CopyDone--> BUSY
- BUSY --CopyBothResponse--> COPY_BOTH --copy_done()--> COPY_OUT
- COPY_IN / COPY_OUT / COPY_BOTH --ErrorResponse--> BUSY
- ErrorResponse with severity FATAL or PANIC, terminate(), or a malformed or
  out-of-place message (ProtocolError) --> CLOSED, from any state.
- NoticeResponse, ParameterStatus and NotificationResponse may arrive in
  any state after NEW and change none.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping

from ..errors import InterfaceError, ProtocolError
from ..kernels import core as _core
from ..kernels.consts import (
    AUTHENTICATION,
    BACKEND_KEY_DATA,
    CANCEL_REQUEST_CODE,
    COMMAND_COMPLETE,
    COPY_BOTH_RESPONSE,
    COPY_DATA,
    COPY_DONE,
    COPY_FAIL,
    COPY_IN_RESPONSE,
    COPY_OUT_RESPONSE,
    DATA_ROW,
    DESCRIBE,
    EMPTY_QUERY_RESPONSE,
    ERROR_RESPONSE,
    MAX_COPY_FAIL_MESSAGE,
    NEGOTIATE_PROTOCOL_VERSION,
    NO_DATA,
    NOTICE_RESPONSE,
    NOTIFICATION_RESPONSE,
    PARAMETER_DESCRIPTION,
    PARAMETER_STATUS,
    PARSE,
    PARSE_COMPLETE,
    PASSWORD_MESSAGE,
    PROTOCOL_VERSION,
    QUERY,
    READY_FOR_QUERY,
    ROW_DESCRIPTION,
    SSL_REQUEST_CODE,
    SYNC,
    TERMINATE,
)
from .events import (
    NEED_DATA,
    AuthenticationRequest,
    BackendKeyData,
    Column,
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
    NeedData,
    NegotiateProtocolVersion,
    NoData,
    NoticeResponse,
    NotificationResponse,
    ParameterDescription,
    ParameterStatus,
    ParseComplete,
    ReadyForQuery,
    RowDescription,
    TransactionStatus,
)

__all__ = [
    "ClientProtocol",
    "State",
    "cancel_request",
    "ssl_request",
    "parse_ssl_response",
]

_i16 = struct.Struct(">h")
_i32 = struct.Struct(">i")


class State(enum.Enum):
    """Where the connection is in the protocol's message flow."""

    NEW = "new"
    STARTUP = "startup"
    IDLE = "idle"
    BUSY = "busy"
    COPY_IN = "copy_in"
    COPY_OUT = "copy_out"
    COPY_BOTH = "copy_both"
    CLOSED = "closed"


def ssl_request() -> bytes:
    """The SSLRequest that asks the server to switch to TLS."""
    return _i32.pack(8) + _i32.pack(SSL_REQUEST_CODE)


def parse_ssl_response(byte: bytes) -> bool:
    """True for the server's 'S' (go TLS), False for 'N' (no TLS).

    Raises:
        ProtocolError: anything else (an 'E' comes from a pre-7.0 server or an
            error before TLS; we refuse to read further unencrypted data).
    """
    if byte == b"S":
        return True
    if byte == b"N":
        return False
    raise ProtocolError(f"unexpected answer {byte!r} to SSLRequest")


def cancel_request(pid: int, secret_key: int) -> bytes:
    """The CancelRequest for a backend, sent on a new connection."""
    return (
        _i32.pack(16)
        + _i32.pack(CANCEL_REQUEST_CODE)
        + _i32.pack(pid)
        + _i32.pack(secret_key)
    )


def _cstr(raw: bytes, pos: int) -> tuple[str, int]:
    # raw is the whole payload as bytes, searched in place: copying the rest
    # of it for each string made a message of many short strings quadratic.
    end = raw.index(b"\x00", pos)
    return raw[pos:end].decode("utf-8", "replace"), end + 1


def _fields(payload: memoryview) -> dict[str, str]:
    raw = bytes(payload)
    out: dict[str, str] = {}
    pos = 0
    while raw[pos] != 0:
        code = chr(raw[pos])
        out[code], pos = _cstr(raw, pos + 1)
    return out


def _formats(payload: memoryview) -> tuple[int, tuple[int, ...]]:
    overall = payload[0]
    (n,) = _i16.unpack_from(payload, 1)
    cols = struct.unpack_from(f">{n}h", payload, 3)
    if 3 + 2 * n != len(payload) or n < 0:
        raise ValueError("length mismatch")
    return overall, cols


class ClientProtocol:
    """The client's protocol state machine: bytes in, events out; calls in, bytes out.

    ``parameters``, ``backend_key`` and ``transaction_status`` are kept up to
    date from the messages that carry them.
    """

    def __init__(self) -> None:
        self.state = State.NEW
        self._reader = _core.FrameReader()
        self._rows_allowed = False
        self.parameters: dict[str, str] = {}
        self.backend_key: BackendKeyData | None = None
        self.transaction_status = TransactionStatus.UNKNOWN

    # -- outgoing ----------------------------------------------------------

    def _require(self, *states: State) -> None:
        if self.state not in states:
            if self.state is State.CLOSED:
                raise InterfaceError("the connection is closed")
            if self.state in (State.COPY_IN, State.COPY_OUT, State.COPY_BOTH):
                raise InterfaceError(
                    "a COPY is in progress on this connection; finish it first"
                )
            if self.state is State.BUSY:
                raise InterfaceError("another command is already in progress")
            raise InterfaceError(f"not possible in state {self.state.value}")

    def startup(self, params: Mapping[str, str]) -> bytes:
        """The StartupMessage with ``params`` (user, database, options, ...)."""
        self._require(State.NEW)
        buf = _core.WriteBuffer()
        buf.start_message()
        buf.write_int32(PROTOCOL_VERSION)
        for key, value in params.items():
            buf.write_cstr(key)
            buf.write_cstr(value)
        buf.write_byte(0)
        buf.end_message()
        self.state = State.STARTUP
        return buf.getvalue()

    def password_message(self, payload: bytes) -> bytes:
        """A PasswordMessage / SASLInitialResponse / SASLResponse (all 'p')."""
        self._require(State.STARTUP)
        return PASSWORD_MESSAGE + _i32.pack(len(payload) + 4) + payload

    def query(self, sql: str) -> bytes:
        """A simple Query message.

        Raises:
            InterfaceError: the connection is not idle.
            ValueError: ``sql`` contains a NUL character.
        """
        self._require(State.IDLE)
        buf = _core.WriteBuffer()
        buf.start_message(QUERY)
        buf.write_cstr(sql)
        buf.end_message()
        self.state = State.BUSY
        self._rows_allowed = False
        self.transaction_status = TransactionStatus.ACTIVE
        return buf.getvalue()

    def describe(self, sql: str) -> bytes:
        """Parse, Describe and Sync of one unnamed statement (nothing runs).

        The server answers ParseComplete, ParameterDescription, then
        RowDescription or NoData, then ReadyForQuery; a string holding more
        than one statement fails in Parse ("cannot insert multiple commands
        into a prepared statement").

        Raises:
            InterfaceError: the connection is not idle.
            ValueError: ``sql`` contains a NUL character.
        """
        self._require(State.IDLE)
        buf = _core.WriteBuffer()
        buf.start_message(PARSE)
        buf.write_cstr("")
        buf.write_cstr(sql)
        buf.write_int16(0)  # no parameter types given
        buf.end_message()
        buf.start_message(DESCRIBE)
        buf.write_byte(ord("S"))
        buf.write_cstr("")
        buf.end_message()
        buf.start_message(SYNC)
        buf.end_message()
        self.state = State.BUSY
        self._rows_allowed = False
        self.transaction_status = TransactionStatus.ACTIVE
        return buf.getvalue()

    def copy_done(self) -> bytes:
        """CopyDone: the end of COPY IN data (or of our half of copy-both)."""
        self._require(State.COPY_IN, State.COPY_BOTH)
        self.state = State.BUSY if self.state is State.COPY_IN else State.COPY_OUT
        return COPY_DONE + b"\x00\x00\x00\x04"

    def copy_fail(self, reason: str) -> bytes:
        """CopyFail: abort COPY IN; the server answers with an ErrorResponse.

        The reason is cut to stay under the server's 10,000-byte limit.
        """
        self._require(State.COPY_IN)
        raw = reason.replace("\x00", " ").encode("utf-8")
        if len(raw) > MAX_COPY_FAIL_MESSAGE:
            raw = raw[:MAX_COPY_FAIL_MESSAGE].decode("utf-8", "ignore").encode()
        self.state = State.BUSY
        return COPY_FAIL + _i32.pack(len(raw) + 5) + raw + b"\x00"

    def terminate(self) -> bytes:
        """Terminate: the polite goodbye; the protocol is CLOSED after it."""
        self.state = State.CLOSED
        self.transaction_status = TransactionStatus.UNKNOWN
        return TERMINATE + b"\x00\x00\x00\x04"

    def connection_lost(self) -> None:
        """The transport is gone (closed by us, by the server, or lost)."""
        self.state = State.CLOSED
        self.transaction_status = TransactionStatus.UNKNOWN

    # -- incoming ----------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Hand over bytes received from the server."""
        self._reader.feed(data)

    def drain_copy_bytes(self) -> bytes:
        """All complete CopyData payloads that are buffered, joined, in COPY OUT.

        Raises:
            ProtocolError: a malformed frame.
        """
        if self.state is not State.COPY_OUT:
            return b""
        try:
            return self._reader.drain_copy_bytes()  # type: ignore[no-any-return]
        except ProtocolError:
            self.state = State.CLOSED
            raise

    def drain_copy_data(self) -> list[memoryview]:
        """All complete CopyData payloads that are buffered, in COPY OUT.

        Raises:
            ProtocolError: a malformed frame.
        """
        if self.state is not State.COPY_OUT:
            return []
        try:
            return self._reader.drain_copy_data()  # type: ignore[no-any-return]
        except ProtocolError:
            self.state = State.CLOSED
            raise

    def next_event(self) -> Event | NeedData:
        """The next event, or ``NEED_DATA`` until more bytes are received.

        Raises:
            ProtocolError: a malformed message, or one that the current state
                does not allow; the protocol is CLOSED afterwards.
        """
        try:
            msg = self._reader.next_message()
        except ProtocolError:
            self.state = State.CLOSED
            raise
        if msg is None:
            return NEED_DATA
        msgtype, payload = msg
        try:
            return self._dispatch(msgtype, payload)
        except ProtocolError:
            self.state = State.CLOSED
            raise
        except (struct.error, ValueError, IndexError) as exc:
            self.state = State.CLOSED
            raise ProtocolError(
                f"malformed message of type {msgtype!r} from the server: {exc}"
            ) from None

    def _unexpected(self, msgtype: bytes) -> ProtocolError:
        return ProtocolError(
            f"unexpected message of type {msgtype!r} from the server "
            f"in state {self.state.value}"
        )

    def _dispatch(self, msgtype: bytes, payload: memoryview) -> Event:
        state = self.state
        if state is State.NEW or state is State.CLOSED:
            raise self._unexpected(msgtype)
        # CopyData
        if msgtype == COPY_DATA:
            if state is not State.COPY_OUT and state is not State.COPY_BOTH:
                raise self._unexpected(msgtype)
            return CopyData(payload)
        # NoticeResponse
        if msgtype == NOTICE_RESPONSE:
            return NoticeResponse(_fields(payload))
        # ParameterStatus
        if msgtype == PARAMETER_STATUS:
            raw = bytes(payload)
            name, pos = _cstr(raw, 0)
            value, _ = _cstr(raw, pos)
            self.parameters[name] = value
            return ParameterStatus(name, value)
        # NotificationResponse
        if msgtype == NOTIFICATION_RESPONSE:
            raw = bytes(payload)
            (pid,) = _i32.unpack_from(raw, 0)
            channel, pos = _cstr(raw, 4)
            body, _ = _cstr(raw, pos)
            return NotificationResponse(pid, channel, body)
        # ErrorResponse
        if msgtype == ERROR_RESPONSE:
            event = ErrorResponse(_fields(payload))
            severity = event.fields.get("V", event.fields.get("S"))
            if state is State.STARTUP or severity in ("FATAL", "PANIC"):
                self.state = State.CLOSED
                self.transaction_status = TransactionStatus.UNKNOWN
            elif state is not State.IDLE:
                self.state = State.BUSY
            return event
        if state is State.STARTUP:
            return self._dispatch_startup(msgtype, payload)
        if state is State.BUSY:
            return self._dispatch_busy(msgtype, payload)
        # CopyDone
        if msgtype == COPY_DONE and state in (State.COPY_OUT, State.COPY_BOTH):
            self.state = State.BUSY if state is State.COPY_OUT else State.COPY_IN
            return CopyDone()
        raise self._unexpected(msgtype)

    def _dispatch_startup(self, msgtype: bytes, payload: memoryview) -> Event:
        # Authentication*
        if msgtype == AUTHENTICATION:
            (code,) = _i32.unpack_from(payload, 0)
            return AuthenticationRequest(code, bytes(payload[4:]))
        # BackendKeyData
        if msgtype == BACKEND_KEY_DATA:
            pid, key = struct.unpack(">ii", payload)
            self.backend_key = BackendKeyData(pid, key)
            return self.backend_key
        # NegotiateProtocolVersion
        if msgtype == NEGOTIATE_PROTOCOL_VERSION:
            raw = bytes(payload)
            minor, count = struct.unpack_from(">ii", raw, 0)
            names, pos = [], 8
            for _ in range(count):
                name, pos = _cstr(raw, pos)
                names.append(name)
            return NegotiateProtocolVersion(minor, tuple(names))
        # ReadyForQuery
        if msgtype == READY_FOR_QUERY:
            return self._ready(payload)
        raise self._unexpected(msgtype)

    def _ready(self, payload: memoryview) -> ReadyForQuery:
        status = TransactionStatus(bytes(payload).decode("ascii"))
        if status not in (
            TransactionStatus.IDLE,
            TransactionStatus.INTRANS,
            TransactionStatus.INERROR,
        ):
            raise ValueError(f"bad transaction status {status.value!r}")
        self.state = State.IDLE
        self.transaction_status = status
        return ReadyForQuery(status)

    def _dispatch_busy(self, msgtype: bytes, payload: memoryview) -> Event:
        # DataRow
        if msgtype == DATA_ROW:
            if not self._rows_allowed:
                raise self._unexpected(msgtype)
            return DataRow(_data_row(payload))
        # RowDescription
        if msgtype == ROW_DESCRIPTION:
            self._rows_allowed = True
            return RowDescription(_row_description(payload))
        # CommandComplete
        if msgtype == COMMAND_COMPLETE:
            self._rows_allowed = False
            return CommandComplete(_cstr(bytes(payload), 0)[0])
        # EmptyQueryResponse
        if msgtype == EMPTY_QUERY_RESPONSE:
            return EmptyQueryResponse()
        # ReadyForQuery
        if msgtype == READY_FOR_QUERY:
            return self._ready(payload)
        # ParseComplete, ParameterDescription, NoData (a describe's answers)
        if msgtype == PARSE_COMPLETE:
            if len(payload):
                raise ValueError("length mismatch")
            return ParseComplete()
        if msgtype == PARAMETER_DESCRIPTION:
            (n,) = _i16.unpack_from(payload, 0)
            if len(payload) != 2 + 4 * n:
                raise ValueError("length mismatch")
            return ParameterDescription(struct.unpack_from(f">{n}I", payload, 2))
        if msgtype == NO_DATA:
            if len(payload):
                raise ValueError("length mismatch")
            return NoData()
        # CopyInResponse
        if msgtype == COPY_IN_RESPONSE:
            self.state = State.COPY_IN
            return CopyInResponse(*_formats(payload))
        # CopyOutResponse
        if msgtype == COPY_OUT_RESPONSE:
            self.state = State.COPY_OUT
            return CopyOutResponse(*_formats(payload))
        # CopyBothResponse
        if msgtype == COPY_BOTH_RESPONSE:
            self.state = State.COPY_BOTH
            return CopyBothResponse(*_formats(payload))
        raise self._unexpected(msgtype)


def _row_description(payload: memoryview) -> tuple[Column, ...]:
    raw = bytes(payload)
    (n,) = _i16.unpack_from(raw, 0)
    pos = 2
    cols = []
    for _ in range(n):
        name, pos = _cstr(raw, pos)
        table, colnum, typ, size, mod, fmt = struct.unpack_from(">IhIhih", raw, pos)
        pos += 18
        cols.append(Column(name, table, colnum, typ, size, mod, fmt))
    if pos != len(raw):
        raise ValueError("length mismatch")
    return tuple(cols)


def _data_row(payload: memoryview) -> tuple[str | None, ...]:
    raw = bytes(payload)
    (n,) = _i16.unpack_from(raw, 0)
    pos = 2
    values: list[str | None] = []
    for _ in range(n):
        (length,) = _i32.unpack_from(raw, pos)
        pos += 4
        if length == -1:
            values.append(None)
            continue
        end = pos + length
        if length < 0 or end > len(raw):
            raise ValueError("field runs past the end of the message")
        values.append(raw[pos:end].decode("utf-8"))
        pos = end
    if pos != len(raw):
        raise ValueError("length mismatch")
    return tuple(values)
