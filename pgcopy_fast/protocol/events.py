"""Frozen dataclasses for the backend messages, named after the protocol.

``protocol.ClientProtocol.next_event()`` returns one of these (or
``NEED_DATA``).  They carry decoded fields only; no behaviour.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final, Union

__all__ = [
    "NEED_DATA",
    "NeedData",
    "Event",
    "AuthenticationRequest",
    "ParameterStatus",
    "BackendKeyData",
    "ReadyForQuery",
    "RowDescription",
    "Column",
    "DataRow",
    "CommandComplete",
    "EmptyQueryResponse",
    "ErrorResponse",
    "NoticeResponse",
    "NotificationResponse",
    "NegotiateProtocolVersion",
    "CopyInResponse",
    "CopyOutResponse",
    "CopyBothResponse",
    "CopyData",
    "CopyDone",
    "ParseComplete",
    "ParameterDescription",
    "NoData",
    "TransactionStatus",
]


class NeedData(enum.Enum):
    """The type of :data:`NEED_DATA`."""

    NEED_DATA = "NEED_DATA"


#: Returned by ``next_event()`` until more bytes are received.
NEED_DATA: Final = NeedData.NEED_DATA


class TransactionStatus(str, enum.Enum):
    """The transaction status of ReadyForQuery (libpq's PQtransactionStatus)."""

    IDLE = "I"
    INTRANS = "T"
    INERROR = "E"
    ACTIVE = "A"  # a command is in progress (no ReadyForQuery yet)
    UNKNOWN = "U"  # not connected


@dataclass(frozen=True, slots=True)
class AuthenticationRequest:
    """Authentication* messages: ``code`` (0 = Ok, 3 = cleartext, 5 = MD5,
    10 = SASL, 11 = SASLContinue, 12 = SASLFinal, ...) and the rest of the payload.
    """

    code: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    """A run-time parameter's current value (server_version, TimeZone, ...)."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    """The process id and secret key that a CancelRequest needs."""

    pid: int
    secret_key: int


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    """The server is idle; ``status`` is the transaction status."""

    status: TransactionStatus


@dataclass(frozen=True, slots=True)
class Column:
    """One RowDescription field."""

    name: str
    table_oid: int
    column_number: int
    type_oid: int
    type_size: int
    type_modifier: int
    format: int


@dataclass(frozen=True, slots=True)
class RowDescription:
    """The columns of the rows that follow."""

    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class DataRow:
    """One row of a query result: text values, None for NULL."""

    values: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class CommandComplete:
    """A statement finished; ``tag`` is e.g. ``"INSERT 0 5"`` or ``"COPY 10"``."""

    tag: str

    @property
    def rowcount(self) -> int:
        """The row count in the tag, or -1 where the tag has none."""
        last = self.tag.rpartition(" ")[2]
        first = self.tag.partition(" ")[0]
        if last.isdigit() and first in _COUNTED_COMMANDS:
            return int(last)
        return -1


_COUNTED_COMMANDS = frozenset(
    {"INSERT", "DELETE", "UPDATE", "SELECT", "MOVE", "FETCH", "COPY", "MERGE"}
)


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse:
    """The query string held no statement."""


@dataclass(frozen=True, slots=True)
class _Diagnostic:
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> str | None:
        """Localized severity (ERROR, FATAL, NOTICE, WARNING, ...)."""
        return self.fields.get("S")

    @property
    def sqlstate(self) -> str | None:
        """The five-character SQLSTATE code."""
        return self.fields.get("C")

    @property
    def message(self) -> str | None:
        """The primary human-readable message."""
        return self.fields.get("M")

    def __str__(self) -> str:
        return f"{self.severity}:  {self.message}"


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Diagnostic):
    """An error; ``fields`` maps the protocol's field codes to values."""


@dataclass(frozen=True, slots=True)
class NoticeResponse(_Diagnostic):
    """A notice or warning; same fields as an error."""


@dataclass(frozen=True, slots=True)
class NotificationResponse:
    """A NOTIFY delivered to this session's LISTEN."""

    pid: int
    channel: str
    payload: str


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    """The server supports an older minor version / not all our options."""

    newest_minor: int
    unrecognized: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CopyInResponse:
    """The server is ready for COPY data.  ``format``: 0 text, 1 binary."""

    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyOutResponse:
    """The server is about to send COPY data.  ``format``: 0 text, 1 binary."""

    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyBothResponse:
    """The server entered copy-both mode (replication); we refuse it."""

    format: int
    column_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CopyData:
    """One CopyData payload from the server."""

    data: bytes | memoryview


@dataclass(frozen=True, slots=True)
class CopyDone:
    """The server finished sending COPY data."""


@dataclass(frozen=True, slots=True)
class ParseComplete:
    """The server parsed a statement (extended query protocol)."""


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    """The parameter types of a described statement."""

    type_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NoData:
    """A described statement returns no rows."""


Event = Union[
    AuthenticationRequest,
    ParameterStatus,
    BackendKeyData,
    ReadyForQuery,
    RowDescription,
    DataRow,
    CommandComplete,
    EmptyQueryResponse,
    ErrorResponse,
    NoticeResponse,
    NotificationResponse,
    NegotiateProtocolVersion,
    CopyInResponse,
    CopyOutResponse,
    CopyBothResponse,
    CopyData,
    CopyDone,
    ParseComplete,
    ParameterDescription,
    NoData,
]
