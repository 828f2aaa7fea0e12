"""Options of the value codecs, shared by both kernel twins.

``CodecOptions`` is what the high-level calls and ``copy_in`` / ``copy_out``
pass down to the kernels: how JSON is dumped and loaded, whether infinite
dates and timestamps map to the Python type's min / max, and whether an
interval is decoded to a timedelta or its exact ``(months, days,
microseconds)`` form.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .kernels import values as _values

__all__ = [
    "CodecOptions",
    "default_dumps",
    "default_loads",
    "stdlib_dumps",
    "stdlib_loads",
    "refuse_nonfinite",
]

# Integers past 64 bits: orjson refuses to dump them and loads them as
# floats, the stdlib keeps them exact.  Any run of 19 digits (a number that
# might not fit, or a long fraction) sends a document to the stdlib, which
# gives the same answer as orjson for everything orjson parses exactly.
_LONG_NUMBER_BYTES = re.compile(rb"\d{19}")
_LONG_NUMBER_TEXT = re.compile(r"\d{19}")
_NONFINITE = "NaN and Infinity have no JSON value"


def _plain(value: Any) -> Any:
    """What the stdlib encoder cannot take but orjson can, made plain."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    plain = _values.plain(value)
    if plain is not value:
        return plain
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def stdlib_dumps(value: Any) -> bytes:
    """JSON text of a value with the stdlib ``json`` (exact big integers).

    Raises:
        ValueError: a NaN or infinite float (JSON has no such value).
        TypeError: a value JSON cannot represent.
    """
    try:
        text = json.dumps(
            value,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
            default=_plain,
        )
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise ValueError(_NONFINITE) from None
        raise
    return text.encode()


def stdlib_loads(data: str | bytes | bytearray | memoryview) -> Any:
    """Parse JSON text with the stdlib ``json`` (bytes must be UTF-8)."""
    if not isinstance(data, str):
        data = bytes(data).decode()
    return json.loads(data)


def refuse_nonfinite(value: Any) -> None:
    """Raise ValueError if a value holds a NaN or infinite float.

    For output in which orjson may have written such a float as ``null``.
    """
    if _nonfinite(value):
        raise ValueError(_NONFINITE)


def _nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_nonfinite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_nonfinite(v) for v in value)
    return False


try:  # orjson is several times faster; the stdlib serves where it has no wheel
    import orjson

    def default_dumps(value: Any) -> bytes:
        """JSON text of a value: orjson, or the stdlib where orjson refuses.

        The answers are the stdlib's: integers of any size, and an error
        for NaN / Infinity (orjson would write ``null``).

        Raises:
            ValueError: a NaN or infinite float.
            TypeError: a value JSON cannot represent.
        """
        try:
            out: bytes = orjson.dumps(value)
        except TypeError:
            return stdlib_dumps(value)
        if b"null" in out:
            refuse_nonfinite(value)
        return out

    def default_loads(data: str | bytes | bytearray | memoryview) -> Any:
        """Parse JSON text: orjson, or the stdlib where a number may not fit.

        Integers beyond 64 bits stay exact ints, as with the stdlib alone.
        """
        long = (
            _LONG_NUMBER_TEXT.search(data)
            if isinstance(data, str)
            else _LONG_NUMBER_BYTES.search(data)
        )
        if long is None:
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                pass  # what orjson refuses (1E400), the stdlib may read
        return stdlib_loads(data)

except ImportError:  # pragma: no cover - depends on the environment
    default_dumps = stdlib_dumps
    default_loads = stdlib_loads


@dataclass(frozen=True)
class CodecOptions:
    """How values convert where more than one answer is reasonable.

    Attributes:
        infinity: map PostgreSQL's ``infinity`` / ``-infinity`` dates and
            timestamps to ``date.max`` / ``date.min`` (``datetime`` likewise)
            and back; without it they raise an error.
        interval_tuple: decode intervals to ``(months, days, microseconds)``
            instead of a timedelta (which counts a month as 30 days).
        json_dumps: serializes Python values for json / jsonb (str or bytes).
        json_loads: parses json / jsonb text.
        json_str: take a ``str`` for a json / jsonb column as JSON text
            as it is, instead of encoding it as a JSON string.
    """

    infinity: bool = False
    interval_tuple: bool = False
    json_dumps: Callable[[Any], str | bytes] = field(default=default_dumps)
    json_loads: Callable[[str | bytes], Any] = field(default=default_loads)
    json_str: bool = False


DEFAULT_OPTIONS = CodecOptions()
