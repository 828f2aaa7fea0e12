"""pgcopy_fast: bulk rows in and out of PostgreSQL through the COPY protocol.

A Cython core with a pure-Python twin of identical behaviour;
``__impl__`` says which one is loaded (``"c"`` or ``"python"``), and the
``PGCOPY_FAST_IMPL`` environment variable chooses (README, "Two
implementations, one behaviour").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import binary, errors
from ._lazy import loader
from .connection import Connection, connect
from .copy import CopyIn, CopyOut
from .errors import (
    DatabaseError,
    DataError,
    DecodeError,
    EncodeError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    ProtocolError,
    QueryCanceled,
)
from .integrations import (
    copy_arrow,
    copy_arrow_async,
    copy_arrow_out,
    copy_arrow_out_async,
    copy_records,
    copy_records_async,
    copy_records_out,
    copy_records_out_async,
)
from .kernels import pgtypes
from .kernels.core import IMPL as __impl__
from .options import CodecOptions
from .protocol.events import NoticeResponse, NotificationResponse, TransactionStatus
from .protocol.flows import Result

if TYPE_CHECKING:
    from .connection import AsyncConnection, connect_async
    from .copy import AsyncCopyIn, AsyncCopyOut

if not TYPE_CHECKING:  # a type checker sees the imports above, and no Any
    # asyncio loads with these, on first use
    __getattr__, __dir__ = loader(
        __name__,
        {
            "AsyncConnection": ".connection",
            "connect_async": ".connection",
            "AsyncCopyIn": ".copy",
            "AsyncCopyOut": ".copy",
        },
    )


__version__ = "0.1.0"

#: PEP 249 module globals, for code that inspects a driver module.
apilevel = "2.0"
threadsafety = 1
paramstyle = "pyformat"

__all__ = [
    "__impl__",
    "__version__",
    "errors",
    "pgtypes",
    "binary",
    "CodecOptions",
    "connect",
    "connect_async",
    "copy_arrow",
    "copy_arrow_async",
    "copy_arrow_out",
    "copy_arrow_out_async",
    "copy_records",
    "copy_records_out",
    "copy_records_async",
    "copy_records_out_async",
    "AsyncConnection",
    "AsyncCopyIn",
    "AsyncCopyOut",
    "Connection",
    "CopyIn",
    "CopyOut",
    "Result",
    "NoticeResponse",
    "NotificationResponse",
    "TransactionStatus",
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
]
