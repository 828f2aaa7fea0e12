"""Selects the kernel twin: compiled ``_core_c`` or pure ``_core_py``.

``PGCOPY_FAST_IMPL`` decides (DESIGN.md section 1): unset or empty means the
best available; ``c`` means the compiled twin or an ImportError, never a
silent fallback; ``python`` means the pure twin.
"""

from __future__ import annotations

import os

_wanted = os.environ.get("PGCOPY_FAST_IMPL", "").strip().lower()

if _wanted == "python":
    from ._core_py import IMPL, FrameReader, WriteBuffer
elif _wanted == "c":
    from ._core_c import IMPL, FrameReader, WriteBuffer  # type: ignore[no-redef]
elif _wanted == "":
    try:
        from ._core_c import IMPL, FrameReader, WriteBuffer  # type: ignore[no-redef]
    except ImportError:
        from ._core_py import IMPL, FrameReader, WriteBuffer  # type: ignore[assignment]
else:
    raise ImportError(f"PGCOPY_FAST_IMPL must be 'c' or 'python', not {_wanted!r}")

__all__ = ["IMPL", "FrameReader", "WriteBuffer"]
