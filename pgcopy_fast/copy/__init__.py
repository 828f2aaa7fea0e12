"""COPY in progress: the CopyIn / CopyOut objects and typed text.

- ``base``: every decision about a COPY's data, whatever does its I/O;
- ``aio`` (source) / ``blocking`` (generated): the asyncio and blocking
  COPY classes, over the part of a connection's wire they need;
- ``typedtext`` / ``textvalues``: text and CSV rows by column type.
"""

from .aio import AsyncCopyIn, AsyncCopyOut
from .blocking import CopyIn, CopyOut

__all__ = ["AsyncCopyIn", "AsyncCopyOut", "CopyIn", "CopyOut"]
