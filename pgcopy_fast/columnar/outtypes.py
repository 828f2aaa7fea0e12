"""Which Arrow type each PostgreSQL column is read as (COPY OUT to Arrow).

Both kernel twins call :func:`out_type` so that the choice exists once: the
compiled twin builds its ``ArrowSchema`` from the format strings and
metadata chosen here, the pure twin turns the same description into a
pyarrow type (``pgcopy_fast.kernels._arrow_out_py``).

Choices the contract leaves open, made here:

- ``oid`` is ``uint32`` (its exact range; ``int64`` would waste half).
- ``timetz`` is ``time64[us]`` of the local time as written, the offset
  dropped, which is what PostgreSQL's own ``timetz::time`` cast gives.
- ``numeric(p, s)`` is ``decimal128(p, s)`` when ``0 <= s <= p <= 38``;
  any other numeric (unconstrained, wider than 38 digits, a negative scale
  or a scale above the precision) is ``string`` holding the value's text as
  the server prints it.
- ``inet``, ``cidr`` and ``macaddr`` are ``string`` of their text form
  (``192.168.0.1/24``, ``10.0.0.0/8``, ``08:00:2b:01:02:03``), ``"char"``
  the text of its byte as ``charout`` prints it.
- Text columns are ``string`` (32-bit offsets) always: a batch is cut
  early rather than let one batch's text reach 2 GiB.
- ``uuid`` is the canonical extension ``arrow.uuid`` (``fixed_size_binary
  (16)`` storage), ``json`` / ``jsonb`` the extension ``arrow.json`` on
  ``string`` storage (the jsonb version byte stripped).
- Arrays are ``list<element>`` of one dimension (``[]`` for an empty
  array; a lower bound other than 1 is dropped); a multi-dimensional value
  is a DecodeError, since a column's Arrow type must be fixed before its
  first row says how many dimensions it has.
- ``infinity`` / ``-infinity`` dates and timestamps raise a DecodeError
  unless ``CodecOptions(infinity=True)``, which maps them to the Python
  types' min / max (``0001-01-01`` / ``9999-12-31``, ``23:59:59.999999``
  for timestamps), as the row path does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InterfaceError
from ..kernels.pgtypes import TEXT_TYPES, canonical

__all__ = ["OutType", "out_type", "out_types", "numeric_typmod", "OUT_TYPES"]

_UUID_META = (("ARROW:extension:name", "arrow.uuid"), ("ARROW:extension:metadata", ""))
_JSON_META = (("ARROW:extension:name", "arrow.json"), ("ARROW:extension:metadata", ""))

#: canonical scalar name -> (decoder kind, Arrow C format string, metadata)
_SCALARS: dict[str, tuple[str, str, tuple[tuple[str, str], ...]]] = {
    "bool": ("bool", "b", ()),
    "int2": ("int2", "s", ()),
    "int4": ("int4", "i", ()),
    "int8": ("int8", "l", ()),
    "oid": ("oid", "I", ()),
    "float4": ("float4", "f", ()),
    "float8": ("float8", "g", ()),
    "bytea": ("bytea", "z", ()),
    "char": ("char", "u", ()),
    "date": ("date", "tdD", ()),
    "time": ("time", "ttu", ()),
    "timetz": ("timetz", "ttu", ()),
    "timestamp": ("timestamp", "tsu:", ()),
    "timestamptz": ("timestamptz", "tsu:UTC", ()),
    "interval": ("interval", "tin", ()),
    "uuid": ("uuid", "w:16", _UUID_META),
    "json": ("json", "u", _JSON_META),
    "jsonb": ("jsonb", "u", _JSON_META),
    "inet": ("inet", "u", ()),
    "cidr": ("cidr", "u", ()),
    "macaddr": ("macaddr", "u", ()),
    # an enum's binary form is its label's text; callers may name it "enum"
    **{name: ("text", "u", ()) for name in (*TEXT_TYPES, "enum")},
}

#: Every canonical scalar type name with an Arrow mapping (arrays of each
#: are mapped too, as ``_name``).
OUT_TYPES: frozenset[str] = frozenset(["numeric", *_SCALARS])


@dataclass(frozen=True)
class OutType:
    """The Arrow type of one PostgreSQL column and how to decode it.

    Attributes:
        pg_type: the canonical PostgreSQL type name (``_int4`` for arrays).
        kind: the decoder each twin uses (``int4``, ``decimal``,
            ``numeric_text``, ``text``, ``list`` ...).
        format: the Arrow C data interface format string (``i``,
            ``d:12,2``, ``tsu:UTC``, ``+l`` ...).
        metadata: the field's metadata pairs (extension name and metadata).
        precision: decimal128 precision (``kind == "decimal"`` only).
        scale: decimal128 scale (``kind == "decimal"`` only).
        child: the element type of a list.
    """

    pg_type: str
    kind: str
    format: str
    metadata: tuple[tuple[str, str], ...] = ()
    precision: int = 0
    scale: int = 0
    child: OutType | None = None


def numeric_typmod(typmod: int) -> tuple[int, int] | None:
    """``(precision, scale)`` of a numeric typmod, None when unconstrained.

    The scale is read as PostgreSQL 15 stores it (11 signed bits), which is
    the plain low 16 bits for every scale older servers allow.
    """
    if typmod < 4:
        return None
    mod = typmod - 4
    precision = (mod >> 16) & 0xFFFF
    scale = ((mod & 0x7FF) ^ 1024) - 1024
    return precision, scale


def _scalar(name: str, typmod: int) -> OutType:
    if name == "numeric":
        ps = numeric_typmod(typmod)
        if ps is not None and 0 <= ps[1] <= ps[0] <= 38:
            p, s = ps
            return OutType("numeric", "decimal", f"d:{p},{s}", (), p, s)
        return OutType("numeric", "numeric_text", "u")
    try:
        kind, fmt, meta = _SCALARS[name]
    except KeyError:
        raise InterfaceError(
            f"no Arrow type for PostgreSQL type {name!r} (COPY OUT to Arrow reads "
            f"{', '.join(sorted(OUT_TYPES))} and arrays of them; cast the column, "
            "e.g. to text, in the query)"
        ) from None
    return OutType(name, kind, fmt, meta)


def out_type(pg_type: str, typmod: int = -1) -> OutType:
    """The Arrow type a column of ``pg_type`` (with its ``typmod``) is read as.

    ``pg_type`` is a canonical name (``int4``, ``_text``) or any spelling
    :func:`pgcopy_fast.kernels.pgtypes.canonical` accepts (``text[]``,
    ``numeric(12,2)`` with its typmod given separately).  An array's typmod
    is its element's.

    Raises:
        InterfaceError: a type with no Arrow mapping.
        TypeError: ``pg_type`` is not a str or ``typmod`` not an int.
    """
    if not isinstance(pg_type, str):
        raise TypeError(f"a column type is a str, not {type(pg_type).__name__}")
    if isinstance(typmod, bool) or not isinstance(typmod, int):
        raise TypeError(f"a typmod is an int, not {type(typmod).__name__}")
    name = canonical(pg_type)
    if name.startswith("_"):
        child = _scalar(name[1:], typmod)
        return OutType(name, "list", "+l", (), 0, 0, child)
    return _scalar(name, typmod)


def out_types(columns: object) -> list[tuple[str, OutType]]:
    """``(name, OutType)`` of each ``(name, pg_type, typmod)`` column.

    Raises:
        TypeError: ``columns`` is not a sequence of 3-tuples of the right types.
        InterfaceError: a type with no Arrow mapping, or no columns.
    """
    if isinstance(columns, str | bytes) or not hasattr(columns, "__iter__"):
        raise TypeError("columns must be a sequence of (name, type, typmod) tuples")
    result: list[tuple[str, OutType]] = []
    for column in columns:
        if not isinstance(column, tuple | list) or len(column) != 3:
            raise TypeError("each column is a (name, type, typmod) tuple")
        name, pg_type, typmod = column
        if not isinstance(name, str):
            raise TypeError(f"a column name is a str, not {type(name).__name__}")
        result.append((name, out_type(pg_type, typmod)))
    if not result:
        raise InterfaceError("COPY OUT to Arrow needs at least one column")
    return result
