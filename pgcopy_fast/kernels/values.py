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

__all__ = [
    "to_text",
    "float_text",
    "array_literal",
    "check_copy_option",
    "check_text_options",
    "check_csv_options",
    "NUL_MESSAGE",
    "plain",
    "type_name",
    "got",
    "shown",
    "text_escapes",
    "unnull_text_field",
]

_IP_TYPES = (
    ipaddress.IPv4Address,
    ipaddress.IPv6Address,
    ipaddress.IPv4Network,
    ipaddress.IPv6Network,
    ipaddress.IPv4Interface,
    ipaddress.IPv6Interface,
)


# -- pandas and numpy values, without importing either -------------------------

_KEEP, _NULL, _ITEM, _DATETIME64, _TIMEDELTA64, _PD_TIMESTAMP, _PD_TIMEDELTA = range(7)
#: What plain() does with each type it has seen; types are few, values many.
_KINDS: dict[type, int] = {}
#: Types plain() leaves alone, checked first so that they cost one lookup.
_PLAIN_TYPES = frozenset([str, int, float, bool, type(None), Decimal, bytes])
_SUB_MICROSECOND = "{} has sub-microsecond digits; PostgreSQL keeps microseconds"
#: What both twins raise (ValueError) for a text value with a NUL character.
NUL_MESSAGE = "PostgreSQL text cannot contain NUL characters"


def _classify(t: type) -> int:
    root = (getattr(t, "__module__", None) or "").partition(".")[0]
    if root == "pandas":
        name = t.__name__
        if name in ("NaTType", "NAType"):
            return _NULL
        if name == "Timestamp":
            return _PD_TIMESTAMP
        if name == "Timedelta":
            return _PD_TIMEDELTA
        return _KEEP
    scalar = False
    for base in t.__mro__:
        if base.__module__ != "numpy":
            continue
        if base.__name__ == "datetime64":
            return _DATETIME64
        if base.__name__ == "timedelta64":
            return _TIMEDELTA64
        if base.__name__ == "generic":
            scalar = True  # an ndarray is no scalar: .item() would unwrap size 1
    return _ITEM if scalar else _KEEP


def _numpy_unit(value: Any) -> str:
    # dtype.str is "<M8[ns]"; the unit is what the brackets hold.
    return str(value.dtype.str).partition("[")[2].rstrip("]")


def _from_datetime64(value: Any) -> Any:
    if value != value:  # NaT is unequal to itself, as NaN
        return None
    us = value.astype("datetime64[us]")
    if us != value:
        raise ValueError(_SUB_MICROSECOND.format(value))
    result = us.item()  # an int when the year is outside 1-9999
    if not isinstance(result, datetime.datetime):
        raise ValueError(f"{value} is out of range for a Python datetime")
    return result


def _from_timedelta64(value: Any) -> Any:
    if value != value:
        return None
    if _numpy_unit(value) in ("Y", "M"):
        raise ValueError(
            f"{value!r} counts years or months, which have no fixed length"
        )
    us = value.astype("timedelta64[us]")
    if us != value:
        raise ValueError(_SUB_MICROSECOND.format(value))
    result = us.item()
    if not isinstance(result, datetime.timedelta):
        raise ValueError(f"{value!r} is out of range for a Python timedelta")
    return result


def plain(value: Any) -> Any:
    """The plain Python value behind a pandas or numpy value.

    ``None`` for a missing value (``pd.NaT``, ``pd.NA``, ``np.datetime64`` /
    ``np.timedelta64`` NaT): the caller writes NULL.  A numpy scalar becomes
    the Python value it holds (``.item()``: int, float, bool, str, bytes,
    complex); ``np.datetime64`` a naive ``datetime`` and ``np.timedelta64``
    a ``timedelta``, both of microsecond precision; ``pd.Timestamp`` and
    ``pd.Timedelta`` the stdlib objects.  Anything else, NaN floats
    included, is returned unchanged (the same object), so ``plain(v) is v``
    says that nothing applied.  Neither numpy nor pandas is imported.

    Raises:
        ValueError: nonzero sub-microsecond digits (never silently
            truncated), a datetime outside Python's years 1-9999, a
            timedelta64 counted in years or months.
    """
    t = type(value)
    kind = _KINDS.get(t)
    if kind is None:
        kind = _KINDS[t] = _classify(t)
    if kind == _KEEP:
        return value
    if kind == _NULL:
        return None
    if kind == _ITEM:
        result = value.item()
        # np.longdouble.item() is itself: not a Python value, keep the original
        return result if type(result).__module__ == "builtins" else value
    if kind == _DATETIME64:
        return _from_datetime64(value)
    if kind == _TIMEDELTA64:
        return _from_timedelta64(value)
    if kind == _PD_TIMESTAMP:
        if value.nanosecond:
            raise ValueError(_SUB_MICROSECOND.format(value))
        return value.to_pydatetime()
    if value.nanoseconds:  # _PD_TIMEDELTA
        raise ValueError(_SUB_MICROSECOND.format(value))
    return value.to_pytimedelta()


def type_name(value: Any) -> str:
    """The name of a value's type for messages: ``numpy.bool`` is not ``bool``."""
    t = type(value)
    module = getattr(t, "__module__", None) or ""
    root = module.partition(".")[0]
    if root in ("numpy", "pandas"):
        return f"{root}.{t.__name__}"
    return t.__name__


def got(value: Any) -> str:
    """What a type error says it got: the type, and NaN called by its name."""
    name = type_name(value)
    try:
        number = plain(value)
    except ValueError:
        return name
    if isinstance(number, float) and math.isnan(number):
        return f"{name} NaN (pandas' missing value? pass None for NULL)"
    return name


def shown(value: Any) -> str:
    """A number as an error message shows it: in full unless it is huge.

    (str() of an int past 4300 digits raises, and a message of 100,000
    digits helps no one.)
    """
    if isinstance(value, int) and value.bit_length() > 200:
        return f"an int of {value.bit_length()} bits"
    if isinstance(value, Decimal) and value.is_finite():
        _, digits, exponent = value.as_tuple()
        if len(digits) > 60:
            return f"a Decimal of {len(digits)} digits and exponent {exponent}"
    return str(value)


# -- text format fields ----------------------------------------------------------

#: Letters that PostgreSQL's text COPY reads back as themselves after a
#: backslash: not b f n r t v (control characters), not x (hex), and not N,
#: so that no field can look like the default null marker \N.
_SELF_ESCAPING = frozenset("ABCDEFGHIJKLMOPQRSTUVWXYZacdeghijklmopqsuwyz")
_EMPTY_IS_NULL = (
    "an empty string cannot be told from NULL with null=''; "
    "use CSV or another null marker"
)


def text_escapes(delimiter: str) -> dict[int, str]:
    """The str.translate table of a text-format field with this delimiter."""
    table = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
    table.setdefault(delimiter, "\\" + delimiter)
    return str.maketrans(table)


def unnull_text_field(text: str, delimiter: str) -> str:
    """A text-format field for ``text`` whose usual escaping equals the null marker.

    The server compares the raw field with the null marker before it undoes
    backslashes, so escaping the first character gives a field that is not
    NULL and reads back as the same text: a letter as backslash-letter,
    anything else as octal escapes of its UTF-8 bytes (so never ``\\.``,
    the end-of-data marker).

    Raises:
        ValueError: ``text`` is empty: no escape can spell it (``\\0`` is
            refused as a NUL byte), so with ``null=''`` it is NULL.
    """
    if not text:
        raise ValueError(_EMPTY_IS_NULL)
    first = text[0]
    if first in _SELF_ESCAPING:
        head = "\\" + first
    else:
        head = "".join(f"\\{byte:03o}" for byte in first.encode())
    return head + text[1:].translate(text_escapes(delimiter))


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
    if type(value) not in _PLAIN_TYPES:
        value = plain(value)
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
        ValueError: a Decimal sNaN, a missing value (``pd.NaT``, ``pd.NA``:
            the caller writes NULL for them, see :func:`plain`), a value
            :func:`plain` refuses.
    """
    if type(value) not in _PLAIN_TYPES:
        original, value = value, plain(value)
        if value is None:
            raise ValueError(f"{type_name(original)} is a missing value: write NULL")
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
    raise TypeError(f"no text rendering for {type_name(value)}")


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


def check_text_options(delimiter: str, null: str) -> tuple[str, str]:
    """The delimiter and null string of a text-format encoder or decoder, checked.

    Raises:
        TypeError, ValueError: as :func:`check_copy_option`.
    """
    return (
        check_copy_option("delimiter", delimiter),
        check_copy_option("null", null, allow_empty=True),
    )


def check_csv_options(
    delimiter: str, quote: str, null: str, distinct: bool = False
) -> tuple[str, str, str]:
    """The delimiter, quote and null string of a CSV encoder or decoder, checked.

    ``distinct`` also refuses a quote equal to the delimiter (the encoders
    ask for it).

    Raises:
        TypeError, ValueError: as :func:`check_copy_option`; ValueError for
            a quote equal to the delimiter, with ``distinct``.
    """
    delimiter = check_copy_option("delimiter", delimiter)
    quote = check_copy_option("quote", quote)
    if distinct and quote == delimiter:
        raise ValueError("quote and delimiter must differ")
    return delimiter, quote, check_copy_option("null", null, allow_empty=True)
