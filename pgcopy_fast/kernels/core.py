"""Selects the kernel twin: compiled ``_core_c`` or pure ``_core_py``.

``PGCOPY_FAST_IMPL`` decides: unset or empty means the
best available; ``c`` means the compiled twin or an ImportError, never a
silent fallback; ``python`` means the pure twin.  The names below are
rebound by the test suite's ``impl`` fixture, so the layers above must look
them up here at call time (``_core.WriteBuffer``), never import them.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import _core_py

# The pure twin is imported only when it is the one used: a command's
# start-up (pgcopy-fast load) should not pay for both.
_PURE = "pgcopy_fast.kernels._core_py"
_wanted = os.environ.get("PGCOPY_FAST_IMPL", "").strip().lower()

if _wanted == "python":
    _twin: ModuleType = importlib.import_module(_PURE)
elif _wanted == "c":
    _twin = importlib.import_module("pgcopy_fast.kernels._core_c")
elif _wanted == "":
    try:
        _twin = importlib.import_module("pgcopy_fast.kernels._core_c")
    except ImportError:
        _twin = importlib.import_module(_PURE)
else:
    raise ImportError(f"PGCOPY_FAST_IMPL must be 'c' or 'python', not {_wanted!r}")

IMPL: str = _twin.IMPL
WriteBuffer: type[_core_py.WriteBuffer] = _twin.WriteBuffer
FrameReader: type[_core_py.FrameReader] = _twin.FrameReader
TextEncoder: type[_core_py.TextEncoder] = _twin.TextEncoder
CsvEncoder: type[_core_py.CsvEncoder] = _twin.CsvEncoder
BinaryEncoder: type[_core_py.BinaryEncoder] = _twin.BinaryEncoder
TextDecoder: type[_core_py.TextDecoder] = _twin.TextDecoder
CsvDecoder: type[_core_py.CsvDecoder] = _twin.CsvDecoder
BinaryDecoder: type[_core_py.BinaryDecoder] = _twin.BinaryDecoder
binary_types = _twin.binary_types
ArrowEncoder: type[_core_py.ArrowEncoder] = _twin.ArrowEncoder
ArrowStreamReader: type[_core_py.ArrowStreamReader] = _twin.ArrowStreamReader
ArrowDecoder: type[_core_py.ArrowDecoder] = _twin.ArrowDecoder
arrow_stream = _twin.arrow_stream

__all__ = list(_twin.__all__)
