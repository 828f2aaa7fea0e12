"""Python values to PostgreSQL's text input syntax, for text and CSV COPY.

One copy serves both kernel twins: the compiled twin handles str, int,
float, bool and None itself and calls :func:`to_text` for everything else,
so the two cannot disagree on a rendering.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import math
import uuid
from decimal import Decimal
from typing import Any

__all__ = ["to_text", "float_text", "array_literal", "check_copy_option"]

_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


def float_text(value: float) -> str:
    """A float as PostgreSQL reads it back exactly (shortest repr)."""
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _interval_text(value: datetime.timedelta) -> str:
    # Days stay days (not 24-hour chunks), as the binary encoder does.
    micros = value.seconds * 1_000_000 + value.microseconds
    return f"{value.days} days {micros // 1_000_000}.{micros % 1_000_000:06d} seconds"


def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return array_literal(value)
    text = to_text(value)
    if (
        text == ""
        or text.upper() == "NULL"
        or any(c in text for c in '{}",\\ \t\n\r\v\f')
    ):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def array_literal(value: list[Any] | tuple[Any, ...]) -> str:
    """A (nested) list as an array literal: ``{1,NULL,"a b"}``."""
    return "{" + ",".join(_array_element(v) for v in value) + "}"


def to_text(value: Any) -> str:
    """The text-format rendering of a non-None Python value.

    Raises:
        TypeError: a type with no text rendering.
        ValueError: a Decimal sNaN.
    """
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return float_text(float(value))
    if isinstance(value, Decimal):
        if value.is_snan():
            raise ValueError("a signaling NaN has no PostgreSQL value")
        return "NaN" if value.is_nan() else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return _interval_text(value)
    if isinstance(value, (uuid.UUID, *_IP_TYPES)):
        return str(value)
    if isinstance(value, list | tuple):
        return array_literal(value)
    if isinstance(value, dict):
        return json.dumps(value)
    raise TypeError(f"no text rendering for {type(value).__name__}")


def check_copy_option(name: str, value: str, allow_empty: bool = False) -> str:
    """Validate a COPY delimiter / quote (one one-byte character) or null string.

    Raises:
        TypeError: not a str.
        ValueError: not a single one-byte character, or one COPY forbids.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if allow_empty:
        if "\r" in value or "\n" in value:
            raise ValueError(f"{name} cannot contain newline or carriage return")
        return value
    if len(value) != 1 or len(value.encode()) != 1:
        raise ValueError(f"{name} must be a single one-byte character")
    if value in "\\\r\n" or value.isalnum():
        raise ValueError(f"{name} cannot be {value!r}")
    return value
