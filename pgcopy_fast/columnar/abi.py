"""The Arrow C data interface's schema, read with ctypes (no pyarrow needed).

A schema is small and read once per stream, so plain ctypes serves both
twins: the planning in :mod:`.intypes` sees the same fields whichever twin
encodes the values.
"""

from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass, field
from typing import Any

SCHEMA_CAPSULE = "arrow_schema"
ARRAY_CAPSULE = "arrow_array"
STREAM_CAPSULE = "arrow_array_stream"
EXTENSION_NAME = "ARROW:extension:name"
_NULLABLE = 2


class _Schema(ctypes.Structure):
    pass


_Schema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_void_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(_Schema))),
    ("dictionary", ctypes.POINTER(_Schema)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_is_valid.restype = ctypes.c_int
_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]


@dataclass(frozen=True)
class Field:
    """One field of an Arrow schema: what the planner needs of it.

    ``format`` is the C data interface's format string (``"l"``,
    ``"tsu:UTC"``, ``"d:12,2"``, ``"+l"`` ...); ``dictionary`` is the value
    field of a dictionary-encoded one; ``extension`` the
    ``ARROW:extension:name`` metadata, if any.
    """

    name: str
    format: str
    nullable: bool = True
    extension: str | None = None
    children: tuple[Field, ...] = field(default=())
    dictionary: Field | None = None


def is_capsule(obj: Any, name: str) -> bool:
    """Whether ``obj`` is a PyCapsule named ``name``."""
    try:
        return bool(_is_valid(obj, name.encode()))
    except TypeError:
        return False


def _metadata(address: int | None) -> dict[bytes, bytes]:
    # int32 count, then (int32 length, key, int32 length, value) pairs, in
    # native byte order (the C data interface's specification)
    if not address:
        return {}
    (count,) = struct.unpack("=i", ctypes.string_at(address, 4))
    out: dict[bytes, bytes] = {}
    pos = address + 4
    for _ in range(count):
        (klen,) = struct.unpack("=i", ctypes.string_at(pos, 4))
        key = ctypes.string_at(pos + 4, klen)
        pos += 4 + klen
        (vlen,) = struct.unpack("=i", ctypes.string_at(pos, 4))
        out[key] = ctypes.string_at(pos + 4, vlen)
        pos += 4 + vlen
    return out


def _field(schema: _Schema) -> Field:
    extension = _metadata(schema.metadata).get(EXTENSION_NAME.encode())
    children = tuple(_field(schema.children[i][0]) for i in range(schema.n_children))
    return Field(
        name=(schema.name or b"").decode("utf-8", "replace"),
        format=(schema.format or b"").decode("ascii", "replace"),
        nullable=bool(schema.flags & _NULLABLE),
        extension=extension.decode("utf-8", "replace") if extension else None,
        children=children,
        dictionary=_field(schema.dictionary[0]) if schema.dictionary else None,
    )


def array_length(capsule: Any) -> int:
    """The length of an ``arrow_array`` capsule's array (its first field)."""
    address = _get_pointer(capsule, ARRAY_CAPSULE.encode())
    return int(ctypes.c_int64.from_address(address).value)


def read_schema(capsule: Any) -> Field:
    """The field tree of an ``arrow_schema`` capsule (left untouched)."""
    address = _get_pointer(capsule, SCHEMA_CAPSULE.encode())
    return _field(_Schema.from_address(address))
