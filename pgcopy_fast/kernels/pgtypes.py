"""PostgreSQL type names and OIDs: one place that canonicalizes them.

Callers name column types as they like (``"integer"``, ``"int4"``, ``23``,
``"character varying"``, ``"text[]"``); the kernels receive the canonical
``typname`` of ``pg_type`` (``"int4"``, ``"varchar"``, ``"_text"`` for
arrays), so each twin maps a single spelling to its codec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..errors import InterfaceError

__all__ = ["OIDS", "NAMES", "TEXT_TYPES", "canonical", "canonical_types"]

#: typname -> OID for the built-in types we know (pg_type.dat).
OIDS: dict[str, int] = {
    "bool": 16,
    "bytea": 17,
    "char": 18,
    "name": 19,
    "int8": 20,
    "int2": 21,
    "int4": 23,
    "text": 25,
    "oid": 26,
    "json": 114,
    "xml": 142,
    "float4": 700,
    "float8": 701,
    "unknown": 705,
    "macaddr": 829,
    "inet": 869,
    "cidr": 650,
    "bpchar": 1042,
    "varchar": 1043,
    "date": 1082,
    "time": 1083,
    "timestamp": 1114,
    "timestamptz": 1184,
    "interval": 1186,
    "timetz": 1266,
    "numeric": 1700,
    "uuid": 2950,
    "jsonb": 3802,
    # arrays
    "_bool": 1000,
    "_bytea": 1001,
    "_char": 1002,
    "_name": 1003,
    "_int2": 1005,
    "_int4": 1007,
    "_text": 1009,
    "_oid": 1028,
    "_bpchar": 1014,
    "_varchar": 1015,
    "_int8": 1016,
    "_float4": 1021,
    "_float8": 1022,
    "_inet": 1041,
    "_cidr": 651,
    "_macaddr": 1040,
    "_json": 199,
    "_date": 1182,
    "_time": 1183,
    "_timestamp": 1115,
    "_timestamptz": 1185,
    "_interval": 1187,
    "_timetz": 1270,
    "_numeric": 1231,
    "_uuid": 2951,
    "_jsonb": 3807,
}

#: OID -> typname.
NAMES: dict[int, str] = {oid: name for name, oid in OIDS.items()}

#: The types whose binary form is their text in UTF-8: both twins give them
#: the text codec.
TEXT_TYPES: tuple[str, ...] = (
    "text", "varchar", "bpchar", "name", "unknown", "citext", "xml",
)  # fmt: skip

_ALIASES = {
    "boolean": "bool",
    "smallint": "int2",
    "integer": "int4",
    "int": "int4",
    "bigint": "int8",
    "real": "float4",
    "double precision": "float8",
    "double": "float8",
    "float": "float8",
    "decimal": "numeric",
    "character varying": "varchar",
    "character": "bpchar",
    "char": "bpchar",
    "string": "text",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "timetz",
    "citext": "text",
    # SQL's char is bpchar; the one-byte internal type is spelled "char"
    '"char"': "char",
}


def canonical(pg_type: str | int) -> str:
    """The canonical typname for a type name, alias or OID.

    A name with a modifier (``"numeric(12,2)"``, ``"varchar(10)"``) loses
    it; ``"x[]"`` becomes ``"_x"``; a schema prefix ``pg_catalog.`` is
    dropped.  An unknown name is returned lower-cased, for the caller to
    look up in the catalog.

    Raises:
        InterfaceError: an OID we do not know, or a value that is no type.
        TypeError: neither str nor int.
    """
    if isinstance(pg_type, bool) or not isinstance(pg_type, int | str):
        raise TypeError(f"a type is a name or an OID, not {type(pg_type).__name__}")
    if isinstance(pg_type, int):
        try:
            return NAMES[pg_type]
        except KeyError:
            raise InterfaceError(f"unknown type OID {pg_type}") from None
    name = " ".join(pg_type.strip().lower().split())
    if not name:
        raise InterfaceError("an empty type name")
    array = False
    while name.endswith("[]"):
        array = True
        name = name[:-2].rstrip()
    if "(" in name:
        head, _, tail = name.partition("(")
        name = (head.rstrip() + " " + tail.partition(")")[2].strip()).strip()
    name = name.removeprefix("pg_catalog.")
    name = _ALIASES.get(name, name)
    return "_" + name if array and not name.startswith("_") else name


def canonical_types(types: Iterable[str | int] | None) -> Sequence[str] | None:
    """``canonical`` applied to each of ``types`` (None stays None)."""
    if types is None:
        return None
    if isinstance(types, str | bytes):
        raise TypeError("types must be a sequence of type names or OIDs, not a string")
    return tuple(canonical(t) for t in types)
