"""PostgreSQL's text output to Python values, for text-format copies with types.

Used when a copy falls back to text format (a column type without a binary
codec): the other columns still come back as Python values.  Assumes the
server's default ``DateStyle`` (ISO) and ``IntervalStyle`` (postgres).
Types it does not know stay ``str``.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import struct
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..options import DEFAULT_OPTIONS, CodecOptions

__all__ = ["text_parser", "parse_array"]

Parse = Callable[[str], Any]

_OFFSET = re.compile(r"([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?$")
_INTERVAL_PART = re.compile(
    r"([+-]?\d+) (years?|mons?|days?)|([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?"
)


def _iso_offset(text: str) -> str:
    # fromisoformat wants +HH:MM; PostgreSQL writes +HH where minutes are 0.
    match = _OFFSET.search(text)
    if not match:
        return text
    sign, hh, mm, ss = match.groups()
    offset = f"{sign}{hh}:{mm or '00'}" + (f":{ss}" if ss else "")
    return text[: match.start()] + offset


def _infinite(text: str, options: CodecOptions, low: Any, high: Any, name: str) -> Any:
    if text in ("infinity", "-infinity"):
        if not options.infinity:
            raise ValueError(f"infinite {name} has no Python value")
        return high if text == "infinity" else low
    if text.endswith(" BC"):
        raise ValueError(f"{name} before year 1 has no Python value")
    return None


def _date_parser(options: CodecOptions) -> Parse:
    def parse(text: str) -> datetime.date:
        special = _infinite(text, options, datetime.date.min, datetime.date.max, "date")
        return special if special is not None else datetime.date.fromisoformat(text)

    return parse


def _timestamp_parser(options: CodecOptions, aware: bool) -> Parse:
    utc = datetime.timezone.utc
    low = datetime.datetime.min.replace(tzinfo=utc) if aware else datetime.datetime.min
    high = datetime.datetime.max.replace(tzinfo=utc) if aware else datetime.datetime.max

    def parse(text: str) -> datetime.datetime:
        special = _infinite(text, options, low, high, "timestamp")
        if special is not None:
            return special  # type: ignore[no-any-return]
        value = datetime.datetime.fromisoformat(_iso_offset(text) if aware else text)
        return value.astimezone(utc) if aware else value

    return parse


def _interval_parser(options: CodecOptions) -> Parse:
    def parse(text: str) -> Any:
        months = days = micros = 0
        for match in _INTERVAL_PART.finditer(text):
            number, unit, sign, hh, mm, ss, frac = match.groups()
            if unit:
                n = int(number)
                if unit.startswith("year"):
                    months += 12 * n
                elif unit.startswith("mon"):
                    months += n
                else:
                    days += n
            else:
                us = ((int(hh) * 60 + int(mm)) * 60 + int(ss)) * 1_000_000
                us += int((frac or "0").ljust(6, "0"))
                micros += -us if sign == "-" else us
        if options.interval_tuple:
            return (months, days, micros)
        return datetime.timedelta(days=months * 30 + days, microseconds=micros)

    return parse


def _bytea(text: str) -> bytes:
    if not text.startswith("\\x"):
        raise ValueError("bytea text is expected in hex format")
    return bytes.fromhex(text[2:])


def _timetz(text: str) -> datetime.time:
    return datetime.time.fromisoformat(_iso_offset(text))


def _inet(text: str) -> Any:
    value = ipaddress.ip_interface(text)
    if value.network.prefixlen == value.max_prefixlen and "/" not in text:
        return value.ip
    return value


def parse_array(text: str, delimiter: str = ",") -> list[Any]:
    """An array literal (``{1,NULL,"a b"}``, nested) to lists of str | None.

    ``delimiter`` is the element type's ``typdelim`` (``;`` for box).
    """
    if text.startswith("["):  # non-default bounds: "[0:2]={...}"
        text = text[text.index("=") + 1 :]
    pos = 0

    def parse_list() -> list[Any]:
        nonlocal pos
        if text[pos] != "{":
            raise ValueError(f"malformed array literal: {text!r}")
        pos += 1
        items: list[Any] = []
        if text[pos] == "}":
            pos += 1
            return items
        while True:
            if text[pos] == "{":
                items.append(parse_list())
            elif text[pos] == '"':
                pos += 1
                buf = []
                while text[pos] != '"':
                    if text[pos] == "\\":
                        pos += 1
                    buf.append(text[pos])
                    pos += 1
                pos += 1
                items.append("".join(buf))
            else:
                end = pos
                while text[end] != delimiter and text[end] != "}":
                    end += 1
                raw = text[pos:end].strip()
                items.append(None if raw == "NULL" else raw)
                pos = end
            if text[pos] == delimiter:
                pos += 1
                continue
            if text[pos] == "}":
                pos += 1
                return items
            raise ValueError(f"malformed array literal: {text!r}")

    try:
        return parse_list()
    except IndexError:
        raise ValueError(f"malformed array literal: {text!r}") from None


def _array_parser(element: Parse, delimiter: str) -> Parse:
    def convert(items: list[Any]) -> list[Any]:
        return [
            None
            if item is None
            else convert(item)
            if isinstance(item, list)
            else element(item)
            for item in items
        ]

    return lambda text: convert(parse_array(text, delimiter))


def _str(text: str) -> str:
    return text


_F32 = struct.Struct("f")


def _float4(text: str) -> float:
    # The value a float4 holds, as binary gives it (0.1 is 0.10000000149011612):
    # the server's shortest text read as a double would be another number.
    return _F32.unpack(_F32.pack(float(text)))[0]  # type: ignore[no-any-return]


def text_parser(
    typname: str, options: CodecOptions = DEFAULT_OPTIONS, delimiter: str = ","
) -> Parse:
    """The parser of one type's text output (``str`` itself when unknown).

    ``delimiter`` separates array elements (the element type's ``typdelim``).
    """
    if typname.startswith("_"):
        return _array_parser(text_parser(typname[1:], options), delimiter)
    simple: dict[str, Parse] = {
        "bool": lambda t: t == "t",
        "int2": int,
        "int4": int,
        "int8": int,
        "oid": int,
        "float4": _float4,
        "float8": float,
        "numeric": Decimal,
        "bytea": _bytea,
        "time": datetime.time.fromisoformat,
        "timetz": _timetz,
        "uuid": uuid.UUID,
        "inet": _inet,
        "cidr": ipaddress.ip_network,
        "json": options.json_loads,
        "jsonb": options.json_loads,
    }
    if typname in simple:
        return simple[typname]
    if typname == "date":
        return _date_parser(options)
    if typname in ("timestamp", "timestamptz"):
        return _timestamp_parser(options, typname == "timestamptz")
    if typname == "interval":
        return _interval_parser(options)
    return _str
