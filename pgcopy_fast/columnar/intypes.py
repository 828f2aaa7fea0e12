"""Which encoder each Arrow column gets, from its Arrow type and its target.

The plan exists once, here, for both twins: each column becomes a tuple of
small integers (:class:`Plan`) that the kernels' ``ArrowEncoder`` reads,
and the pairs no kernel encodes straight from the buffers (a list into an
array, a string into numeric) become :data:`ENCODED`: the values go
through the row codecs, so they store exactly what the same Python values
would store on the row path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import EncodeError, InterfaceError
from .abi import Field

# Kinds: how the kernel reads a column (kept in step with _arrow_in_c.pxi).
BOOL, INT, FLOAT, STRING, BINARY, UUID, DATE32, DATE64 = 1, 2, 3, 4, 5, 6, 7, 8
TIMESTAMP, TIME, DECIMAL, INTERVAL, DURATION, NULL, ENCODED = 9, 10, 11, 12, 13, 14, 15
LIST = 16

# Storage codes of fixed-width values: (width in bytes, signed, float).
I8, U8, I16, U16, I32, U32, I64, U64, F32, F64 = range(1, 11)
_INT_FORMATS = {"c": I8, "C": U8, "s": I16, "S": U16, "i": I32, "I": U32}
_INT_FORMATS.update({"l": I64, "L": U64})
_INT_NAMES = {I8: "int8", U8: "uint8", I16: "int16", U16: "uint16", I32: "int32"}
_INT_NAMES.update({U32: "uint32", I64: "int64", U64: "uint64"})
# Variable-width layouts: 32-bit offsets, 64-bit offsets, views.
OFFSETS32, OFFSETS64, VIEWS = 1, 2, 3
_STRINGS = {"u": OFFSETS32, "U": OFFSETS64, "vu": VIEWS}
_BINARIES = {"z": OFFSETS32, "Z": OFFSETS64, "vz": VIEWS}

TEXT_TARGETS = frozenset(
    {"text", "varchar", "bpchar", "name", "citext", "unknown", "xml", "char"}
)
_INT_TARGETS = {"int2": 2, "int4": 4, "int8": 8, "oid": -4}
_UNITS = {"s": 1_000_000, "m": 1_000, "u": 1, "n": -1_000}
_UNIT_NAMES = {"s": "s", "m": "ms", "u": "us", "n": "ns"}


@dataclass(frozen=True)
class Plan:
    """One target column's encoder: what the kernels read, and names for errors.

    ``src``: the storage code (ints, floats), the variable-width layout, or
    for times the byte width; ``dst``: int2/int4/int8 as 2/4/8 and oid as
    -4, float4/8 as 4/8, jsonb as 1 (a version byte before the text);
    ``unit``: the multiplier to microseconds (negative: a divisor);
    ``index``: the storage code of a dictionary's indices, else 0;
    ``element``: a LIST's element plan (its ``unit`` is the element OID).
    """

    kind: int
    child: int
    src: int
    dst: int
    unit: int
    index: int
    column: str
    pg_type: str
    arrow_type: str
    element: Plan | None = None

    def kernel(self) -> tuple[Any, ...]:
        """The integers the kernels' ``ArrowEncoder`` takes (nested for a LIST)."""
        element = self.element.kernel() if self.element is not None else None
        return (
            self.kind,
            self.child,
            self.src,
            self.dst,
            self.unit,
            self.index,
            element,
        )


def describe(f: Field) -> str:
    """An Arrow type as pyarrow spells it (``timestamp[ns, tz=UTC]``)."""
    fmt = f.format
    if f.dictionary is not None:
        values, indices = describe(f.dictionary), describe_storage(fmt)
        return f"dictionary<values={values}, indices={indices}>"
    if f.extension:
        return f"extension<{f.extension}>"
    if fmt.startswith("ts"):
        unit, _, tz = fmt[2:].partition(":")
        return f"timestamp[{_UNIT_NAMES.get(unit[:1], unit)}" + (
            f", tz={tz}]" if tz else "]"
        )
    if fmt.startswith("d:"):
        parts = fmt[2:].split(",")
        bits = parts[2] if len(parts) > 2 else "128"
        return f"decimal{bits}({parts[0]}, {parts[1]})"
    if fmt.startswith("w:"):
        return f"fixed_size_binary[{fmt[2:]}]"
    if fmt in ("+l", "+L", "+vl", "+vL") or fmt.startswith("+w:"):
        name = {"+l": "list", "+L": "large_list"}.get(fmt, "list")
        child = describe(f.children[0]) if f.children else "?"
        return f"{name}<item: {child}>"
    if fmt == "+s":
        return (
            "struct<" + ", ".join(f"{c.name}: {describe(c)}" for c in f.children) + ">"
        )
    return describe_storage(fmt)


def describe_storage(fmt: str) -> str:
    """A format string of a plain type as pyarrow names it."""
    named = {
        "n": "null", "b": "bool", "e": "halffloat", "f": "float", "g": "double",
        "u": "string", "U": "large_string", "vu": "string_view", "z": "binary",
        "Z": "large_binary", "vz": "binary_view", "tdD": "date32[day]",
        "tdm": "date64[ms]", "tts": "time32[s]", "ttm": "time32[ms]",
        "ttu": "time64[us]", "ttn": "time64[ns]", "tin": "month_day_nano_interval",
        "tiM": "month_interval", "tiD": "day_time_interval",
    }  # fmt: skip
    if fmt in _INT_FORMATS:
        return _INT_NAMES[_INT_FORMATS[fmt]]
    if fmt.startswith("tD"):
        return f"duration[{_UNIT_NAMES.get(fmt[2:3], fmt[2:])}]"
    return named.get(fmt, fmt)


def _refuse(column: str, f: Field, pg_type: str, why: str = "") -> InterfaceError:
    return InterfaceError(
        f"column {column!r}: an Arrow {describe(f)} column cannot feed "
        f"PostgreSQL {pg_type}" + (f" ({why})" if why else "")
    )


# Array elements a LIST column writes from the buffers (others: ENCODED)
_ELEMENT_KINDS = frozenset({BOOL, INT, FLOAT, STRING, BINARY, UUID, DATE32})
_ELEMENT_KINDS |= {TIMESTAMP, TIME, DECIMAL, INTERVAL, DURATION}


def plan_column(
    child: int, f: Field, pg_type: str, column: str, element_oid: int | None = None
) -> Plan:
    """The encoder of one column, or an InterfaceError naming both types."""
    index = 0
    value = f
    if f.dictionary is not None:
        if f.format not in _INT_FORMATS:
            raise _refuse(column, f, pg_type, "dictionary indices must be integers")
        index = _INT_FORMATS[f.format]
        value = f.dictionary

    def plan(kind: int, src: int = 0, dst: int = 0, unit: int = 0) -> Plan:
        return Plan(kind, child, src, dst, unit, index, column, pg_type, describe(f))

    fmt = value.format
    if fmt == "n":
        return plan(NULL)
    if index and fmt not in _STRINGS and fmt not in _BINARIES:
        return plan(ENCODED)  # dictionaries of other values: rare, and exact this way
    if fmt == "b" and pg_type == "bool":
        return plan(BOOL)
    if fmt in _INT_FORMATS and pg_type in _INT_TARGETS:
        return plan(INT, _INT_FORMATS[fmt], _INT_TARGETS[pg_type])
    if fmt in ("f", "g") and pg_type in ("float4", "float8"):
        src = F32 if fmt == "f" else F64
        if src == F64 and pg_type == "float4":
            return plan(ENCODED)  # rounding and range as the row codec does them
        return plan(FLOAT, src, 4 if pg_type == "float4" else 8)
    if fmt in _STRINGS:
        if pg_type in TEXT_TARGETS and pg_type != "char":
            return plan(STRING, _STRINGS[fmt], 0)
        if pg_type in ("json", "jsonb"):
            return plan(STRING, _STRINGS[fmt], 1 if pg_type == "jsonb" else 0)
        if pg_type in ("uuid", "numeric", "inet", "cidr", "macaddr", "char"):
            return plan(ENCODED)
        raise _refuse(column, f, pg_type)
    if fmt in _BINARIES or fmt.startswith("w:"):
        if pg_type == "bytea":
            if fmt.startswith("w:"):
                return plan(ENCODED)
            return plan(BINARY, _BINARIES[fmt])
        if pg_type == "uuid" and fmt == "w:16":
            return plan(UUID)
        raise _refuse(column, f, pg_type)
    if fmt == "tdD" and pg_type == "date":
        return plan(DATE32)
    if fmt == "tdm" and pg_type == "date":
        return plan(DATE64)
    if fmt.startswith("ts") and pg_type in ("timestamp", "timestamptz"):
        unit, _, tz = fmt[2:].partition(":")
        if tz and pg_type == "timestamp":
            raise _refuse(column, f, pg_type, "a time zone's instants need timestamptz")
        return plan(TIMESTAMP, 8, 0, _UNITS[unit])
    if fmt in ("tts", "ttm", "ttu", "ttn") and pg_type == "time":
        return plan(TIME, 4 if fmt in ("tts", "ttm") else 8, 0, _UNITS[fmt[2]])
    if fmt.startswith("tD") and pg_type == "interval":
        return plan(DURATION, 8, 0, _UNITS[fmt[2]])
    if fmt == "tin" and pg_type == "interval":
        return plan(INTERVAL, 16, 0, -1_000)
    if fmt.startswith("d:") and pg_type == "numeric":
        parts = fmt[2:].split(",")
        if len(parts) > 2 and parts[2] != "128":
            return plan(ENCODED)
        return plan(DECIMAL, 16, 0, int(parts[1]))
    if fmt in _INT_FORMATS and pg_type in ("numeric", "float4", "float8"):
        return plan(ENCODED)
    if fmt in ("+l", "+L", "+vl", "+vL") or fmt.startswith("+w:"):
        if pg_type.startswith("_") or pg_type.endswith("[]"):
            element_type = pg_type[1:] if pg_type.startswith("_") else pg_type[:-2]
            item = f.children[0] if f.children else None
            if fmt in ("+l", "+L") and item is not None and element_oid:
                try:
                    element = plan_column(0, item, element_type, column)
                except InterfaceError:
                    element = None
                if (
                    element is not None
                    and element.kind in _ELEMENT_KINDS
                    and not (element.index or (element.kind == STRING and element.dst))
                ):
                    layout = OFFSETS32 if fmt == "+l" else OFFSETS64
                    return Plan(
                        LIST, child, layout, 0, element_oid, index, column,
                        pg_type, describe(f), element,
                    )  # fmt: skip
            return plan(ENCODED)
        raise _refuse(column, f, pg_type, "a list needs an array column")
    if fmt in ("e",) and pg_type in ("float4", "float8"):
        return plan(ENCODED)
    raise _refuse(column, f, pg_type)


def plan_columns(
    root: Field,
    targets: Sequence[tuple[str, str, int | None]],
    table: str,
    objects: Sequence[str] = (),
) -> list[Plan]:
    """One Plan per target column, matching Arrow fields by name.

    Raises:
        InterfaceError: a column missing from the data or the table, a name
            twice, or a pair of types with no encoder.
    """
    if root.format != "+s":
        raise InterfaceError(
            f"Arrow data for {table} must be a table or record batch, "
            f"not {describe(root)}"
        )
    by_name: dict[str, int] = {}
    for i, child in enumerate(root.children):
        if child.name in by_name:
            raise InterfaceError(f"the Arrow data has column {child.name!r} twice")
        by_name[child.name] = i
    wanted = {name for name, _, _ in targets}
    extra = [c.name for c in root.children if c.name not in wanted]
    if extra:
        raise InterfaceError(
            f"the Arrow data has columns {table} does not copy: "
            + ", ".join(map(repr, extra))
        )
    missing = [name for name, _, _ in targets if name not in by_name]
    if missing:
        raise InterfaceError(
            f"the Arrow data lacks columns of {table}: {', '.join(map(repr, missing))}"
        )
    return [
        Plan(ENCODED, by_name[name], 0, 0, 0, 0, name, pg_type, "object")
        if name in objects
        else plan_column(
            by_name[name], root.children[by_name[name]], pg_type, name, oid
        )
        for name, pg_type, oid in targets
    ]


# -- value errors: raised by both twins, so their messages are one ------------------

NUL, RANGE, SUBMICRO, PARTIAL_DAY, NOT_FINITE = 1, 2, 3, 4, 5


def value_error(plan: Plan, row: int, code: int, raw: Any) -> EncodeError:
    """The EncodeError of a value a kernel could not store (``code`` says why)."""
    unit = plan.arrow_type
    if code == NUL:
        why = "a string with a NUL character has no PostgreSQL text value"
    elif code == RANGE:
        why = f"{raw} is out of range for {plan.pg_type}"
    elif code == SUBMICRO:
        why = (
            f"{raw} ({unit}) has digits below a microsecond, which PostgreSQL "
            "does not keep; pass truncate=True to drop them"
        )
    elif code == PARTIAL_DAY:
        why = f"{raw} ms is not a whole day"
    else:
        why = f"{raw} has no {plan.pg_type} value"
    return EncodeError(
        f"row {row}, column {plan.column!r} ({unit} into {plan.pg_type}): {why}",
        row_index=row,
        column=plan.column,
        pg_type=plan.pg_type,
        value_type=unit,
    )
