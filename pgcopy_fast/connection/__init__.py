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

from .aio import AsyncConnection, connect_async
from .blocking import Connection, connect

__all__ = ["AsyncConnection", "Connection", "connect", "connect_async"]
