"""COPY in progress: the CopyIn / CopyOut objects and typed text.

- ``base``: every decision about a COPY's data, whatever does its I/O;
- ``aio`` (source) / ``blocking`` (generated): the asyncio and blocking
  COPY classes, over the part of a connection's wire they need;
- ``typedtext`` / ``textvalues``: text and CSV rows by column type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import loader
from .blocking import CopyIn, CopyOut

if TYPE_CHECKING:
    from .aio import AsyncCopyIn, AsyncCopyOut


__all__ = ["AsyncCopyIn", "AsyncCopyOut", "CopyIn", "CopyOut"]

if not TYPE_CHECKING:  # a type checker sees the imports above, and no Any
    # asyncio loads with them, on first use
    __getattr__, __dir__ = loader(
        __name__, {"AsyncCopyIn": ".aio", "AsyncCopyOut": ".aio"}
    )
