"""What both connection kinds share and never waits: session state and events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..protocol.events import (
    Event,
    NegotiateProtocolVersion,
    NoticeResponse,
    NotificationResponse,
    TransactionStatus,
)
from .conninfo import ConnParams

__all__ = ["MAX_NOTICES", "BaseConnection"]

#: Notices kept in ``notices`` (older ones are dropped, as libpq drivers
#: do, so a chatty server cannot grow memory without bound).
MAX_NOTICES = 100


class BaseConnection:
    """Session state, notices and notifications, for both connection kinds.

    Attributes:
        notices: the latest NoticeResponse events (at most 100).
        notifies: NotificationResponse events received so far.
        info: the resolved connection parameters.
        host, port: where this connection went.
        protocol_negotiation: the server's NegotiateProtocolVersion, if any.
    """

    _wire: Any  # the AsyncWire or Wire of the subclass

    def __init__(self, info: ConnParams, host: str, port: int) -> None:
        self._notice_handlers: list[Callable[[NoticeResponse], None]] = []
        self.info = info
        self.host = host
        self.port = port
        self.notices: list[NoticeResponse] = []
        self.notifies: list[NotificationResponse] = []
        self.protocol_negotiation: NegotiateProtocolVersion | None = None

    @property
    def closed(self) -> bool:
        """True once closed by us, by the server, or by a lost connection."""
        closed: bool = self._wire.closed
        return closed

    @property
    def parameters(self) -> dict[str, str]:
        """ParameterStatus values: server_version, TimeZone, DateStyle, ..."""
        parameters: dict[str, str] = self._wire.proto.parameters
        return parameters

    @property
    def backend_pid(self) -> int:
        """The server process id serving this connection (0 when unknown)."""
        key = self._wire.proto.backend_key
        return key.pid if key else 0

    @property
    def transaction_status(self) -> TransactionStatus:
        """IDLE, INTRANS, INERROR, ACTIVE, or UNKNOWN when closed."""
        status: TransactionStatus = self._wire.transaction_status
        return status

    @property
    def server_version(self) -> int:
        """The server version as libpq's PQserverVersion (150004 for 15.4)."""
        text = self.parameters.get("server_version", "0").split()[0]
        parts = [
            int("".join(ch for ch in p if ch.isdigit()) or 0) for p in text.split(".")
        ]
        major = parts[0]
        minor = parts[1] if len(parts) > 1 else 0
        return major * 10000 + minor if major >= 10 else major * 10000 + minor * 100

    def add_notice_handler(self, handler: Callable[[NoticeResponse], None]) -> None:
        """Call ``handler(notice)`` for every NoticeResponse from now on."""
        self._notice_handlers.append(handler)

    def remove_notice_handler(self, handler: Callable[[NoticeResponse], None]) -> None:
        """Stop calling a handler given to :meth:`add_notice_handler`."""
        self._notice_handlers.remove(handler)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, NoticeResponse):
            self.notices.append(event)
            del self.notices[:-MAX_NOTICES]
            for handler in self._notice_handlers:
                handler(event)
        elif isinstance(event, NotificationResponse):
            self.notifies.append(event)
        elif isinstance(event, NegotiateProtocolVersion):
            self.protocol_negotiation = event

    def __repr__(self) -> str:
        state = "closed" if self.closed else self._wire.proto.state.value
        where = f"{self.info.user}@{self.host}:{self.port}"
        return f"<pgcopy_fast.{type(self).__name__} {where} {state}>"
