"""The one exception hierarchy of pgcopy_fast, shaped as DB-API 2 and psycopg.

The names and the shape follow DB-API 2 (PEP 249) so that ORMs and pools map
our errors as they map psycopg's.  Both kernel twins raise these classes.
Wrong argument *types* raise the built-in TypeError, as in any Python library.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .kernels import values as _values

__all__ = [
    "Error",
    "InterfaceError",
    "DatabaseError",
    "DataError",
    "EncodeError",
    "DecodeError",
    "OperationalError",
    "QueryCanceled",
    "ProtocolError",
    "IntegrityError",
    "ProgrammingError",
    "InternalError",
    "NotSupportedError",
    "error_from_fields",
    "class_for_sqlstate",
    "ERROR_FIELDS",
]

#: ErrorResponse / NoticeResponse field codes (protocol-error-fields) and the
#: attribute each one is stored under.
ERROR_FIELDS: Mapping[str, str] = {
    "S": "severity",
    "V": "severity_nonlocalized",
    "C": "sqlstate",
    "M": "message",
    "D": "detail",
    "H": "hint",
    "P": "position",
    "p": "internal_position",
    "q": "internal_query",
    "W": "context",
    "s": "schema",
    "t": "table",
    "c": "column",
    "d": "datatype",
    "n": "constraint",
    "F": "file",
    "L": "line",
    "R": "routine",
}


class Error(Exception):
    """Base class of every failure of the database work (PEP 249 ``Error``)."""

    def __reduce__(self) -> Any:
        # Exceptions pickle as (cls, args) and lose their attributes; keep them
        # so that errors cross process pools intact.
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[Error], args: tuple[Any, ...], state: dict[str, Any]) -> Error:
    err = cls.__new__(cls)
    err.args = args
    err.__dict__.update(state)
    return err


class InterfaceError(Error):
    """Misuse of the library: wrong state, a closed connection, bad ``types``."""


class DatabaseError(Error):
    """An error related to the database, from the server or found by the client.

    Every field of the server's ErrorResponse is an attribute (``sqlstate``,
    ``severity``, ``message``, ``detail``, ``hint``, ``position``, ``context``,
    ``schema``, ``table``, ``column``, ``datatype``, ``constraint`` and the
    rest of :data:`ERROR_FIELDS`); each is ``None`` when the server did not
    send it or when the error was raised on the client side.
    """

    sqlstate: str | None = None
    severity: str | None = None
    severity_nonlocalized: str | None = None
    message: str | None = None
    detail: str | None = None
    hint: str | None = None
    position: str | None = None
    internal_position: str | None = None
    internal_query: str | None = None
    context: str | None = None
    schema: str | None = None
    table: str | None = None
    column: Any = None
    datatype: str | None = None
    constraint: str | None = None
    file: str | None = None
    line: str | None = None
    routine: str | None = None


class DataError(DatabaseError):
    """Problems with the processed data (SQLSTATE class 22)."""


class EncodeError(DataError, ValueError):
    """A Python value that cannot become its column's PostgreSQL type.

    Attributes: ``row_index`` (0-based position of the row in this copy),
    ``column`` (name, or 0-based position when names are unknown),
    ``pg_type`` (the column's type name) and ``value_type`` (the Python type
    name of the value).  The kernel's ``TypeError`` / ``OverflowError`` /
    ``ValueError`` is the ``__cause__``.
    """

    row_index: int | None = None
    pg_type: str | None = None
    value_type: str | None = None

    def __init__(
        self,
        message: str,
        *,
        row_index: int | None = None,
        column: Any = None,
        pg_type: str | None = None,
        value_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.row_index = row_index
        self.column = column
        self.pg_type = pg_type
        self.value_type = value_type


class DecodeError(DataError, ValueError):
    """COPY data that cannot be decoded: truncated, malformed, or not the type.

    Attributes: ``row_index`` (0-based row of this copy, where known),
    ``column`` (0-based position, where known) and ``pg_type``.  The
    protocol stream itself is intact, so the connection stays usable.
    """

    row_index: int | None = None
    pg_type: str | None = None

    def __init__(
        self,
        message: str,
        *,
        row_index: int | None = None,
        column: Any = None,
        pg_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.row_index = row_index
        self.column = column
        self.pg_type = pg_type


def encode_error(
    row_index: int,
    column: Any,
    pg_type: str | None,
    value: object,
    cause: BaseException,
    fmt: str,
) -> EncodeError:
    """The EncodeError for a value that failed; both kernel twins use it."""
    target = pg_type if pg_type is not None else f"COPY {fmt} format"
    value_type = _values.type_name(value)  # numpy.bool_, not a second "bool"
    err = EncodeError(
        f"row {row_index}, column {column!r}: cannot encode {value_type} "
        f"as {target}: {cause}",
        row_index=row_index,
        column=column,
        pg_type=pg_type,
        value_type=value_type,
    )
    err.__cause__ = cause
    return err


class OperationalError(DatabaseError):
    """The database's operation failed: connection, authentication, resources.

    SQLSTATE classes 08, 28, 53, 57, 58, and client-side socket, TLS,
    authentication and lost-connection failures.
    """


class QueryCanceled(OperationalError):
    """The statement was cancelled (SQLSTATE 57014)."""


class ProtocolError(OperationalError):
    """A malformed or unexpected server message; the stream is lost."""


class IntegrityError(DatabaseError):
    """A constraint was violated (SQLSTATE class 23)."""


class ProgrammingError(DatabaseError):
    """A mistake in the SQL or its objects (classes 42, 26, 34, 3D, 3F, ...)."""


class InternalError(DatabaseError):
    """The database hit an internal error (classes XX, P0, 2D, 25, ...)."""


class NotSupportedError(DatabaseError):
    """A feature the database does not support (SQLSTATE class 0A)."""


_CLASS_BY_PREFIX: Mapping[str, type[DatabaseError]] = {
    "0A": NotSupportedError,
    "08": OperationalError,
    "20": ProgrammingError,
    "21": ProgrammingError,
    "22": DataError,
    "23": IntegrityError,
    "24": InternalError,
    "25": InternalError,
    "26": ProgrammingError,
    "27": OperationalError,
    "28": OperationalError,
    "2B": InternalError,
    "2D": InternalError,
    "2F": InternalError,
    "34": ProgrammingError,
    "38": InternalError,
    "39": InternalError,
    "3B": InternalError,
    "3D": ProgrammingError,
    "3F": ProgrammingError,
    "40": OperationalError,
    "42": ProgrammingError,
    "44": ProgrammingError,
    "53": OperationalError,
    "54": OperationalError,
    "55": OperationalError,
    "57": OperationalError,
    "58": OperationalError,
    "F0": InternalError,
    "HV": OperationalError,
    "P0": InternalError,
    "XX": InternalError,
}


def class_for_sqlstate(sqlstate: str | None) -> type[DatabaseError]:
    """Return the DB-API class for a SQLSTATE (DatabaseError when unknown)."""
    if not sqlstate:
        return DatabaseError
    if sqlstate == "57014":
        return QueryCanceled
    return _CLASS_BY_PREFIX.get(sqlstate[:2], DatabaseError)


def error_from_fields(fields: Mapping[str, str]) -> DatabaseError:
    """Build the exception for an ErrorResponse's fields (code -> value).

    The exception's text is the server's message, as psql prints it
    (``SEVERITY:  message`` followed by DETAIL / HINT / CONTEXT lines).
    """
    cls = class_for_sqlstate(fields.get("C"))
    lines = [f"{fields.get('S', 'ERROR')}:  {fields.get('M', '')}"]
    for code, label in (("D", "DETAIL"), ("H", "HINT"), ("W", "CONTEXT")):
        if code in fields:
            lines.append(f"{label}:  {fields[code]}")
    err = cls("\n".join(lines))
    for code, value in fields.items():
        attr = ERROR_FIELDS.get(code)
        if attr is not None:
            setattr(err, attr, value)
    return err
