"""COPY in progress: the CopyIn / CopyOut objects and typed text.

- ``base``: every decision about a COPY's data, whatever does its I/O;
- ``aio`` (source) / ``blocking`` (generated): the asyncio and blocking
  COPY classes, over the part of a connection's wire they need;
- ``typedtext`` / ``textvalues``: text and CSV rows by column type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .blocking import CopyIn, CopyOut

if TYPE_CHECKING:
    from .aio import AsyncCopyIn, AsyncCopyOut

_ASYNC = frozenset({"AsyncCopyIn", "AsyncCopyOut"})

__all__ = ["AsyncCopyIn", "AsyncCopyOut", "CopyIn", "CopyOut"]


def __getattr__(name: str) -> Any:
    # The asyncio classes load on first use: a blocking program (a command's
    # start-up) does not import asyncio for them.
    if name in _ASYNC:
        from . import aio

        value = getattr(aio, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
