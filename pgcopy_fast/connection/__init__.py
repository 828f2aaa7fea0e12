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

from typing import TYPE_CHECKING, Any

from .blocking import Connection, connect

if TYPE_CHECKING:
    from .aio import AsyncConnection, connect_async

_ASYNC = frozenset({"AsyncConnection", "connect_async"})

__all__ = ["AsyncConnection", "Connection", "connect", "connect_async"]


def __getattr__(name: str) -> Any:
    # The asyncio classes load on first use: a blocking program (a command's
    # start-up) does not import asyncio for them.
    if name in _ASYNC:
        from . import aio

        value = getattr(aio, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
