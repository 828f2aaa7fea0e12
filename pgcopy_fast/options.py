"""Options of the value codecs, shared by both kernel twins.

``CodecOptions`` is what the high-level calls and ``copy_in`` / ``copy_out``
pass down to the kernels: how JSON is dumped and loaded, whether infinite
dates and timestamps map to the Python type's min / max, and whether an
interval is decoded to a timedelta or its exact ``(months, days,
microseconds)`` form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CodecOptions", "default_dumps", "default_loads"]

try:  # orjson is several times faster; the stdlib serves where it is missing
    import orjson

    def default_dumps(value: Any) -> bytes:
        """JSON text of a value (orjson)."""
        return orjson.dumps(value)

    default_loads: Callable[[str | bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment

    def default_dumps(value: Any) -> bytes:
        """JSON text of a value (stdlib json)."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    default_loads = json.loads


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
