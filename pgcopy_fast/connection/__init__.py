"""Connections: parameters and their files, transports, the wire, the classes.

- ``conninfo``: DSNs, keywords, the environment, the password file and
  the TLS files (all the file reading of opening a session);
- ``transport`` / ``transport_aio``: a blocking socket and an asyncio
  stream behind the same method names;
- ``wire_aio`` (source) / ``wire`` (generated): a session's protocol state
  machine driven over its transport;
- ``aio`` (source) / ``blocking`` (generated): ``AsyncConnection`` and
  ``Connection``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import loader
from .blocking import Connection, connect

if TYPE_CHECKING:
    from .aio import AsyncConnection, connect_async


__all__ = ["AsyncConnection", "Connection", "connect", "connect_async"]

if not TYPE_CHECKING:  # a type checker sees the imports above, and no Any
    # asyncio loads with them, on first use
    __getattr__, __dir__ = loader(
        __name__, {"AsyncConnection": ".aio", "connect_async": ".aio"}
    )
