"""Names a package loads on first use (PEP 562), to keep imports cheap.

The asyncio classes import asyncio (about 20 ms); a blocking program, such
as a ``pgcopy-fast`` command, starts without them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def loader(
    package: str, names: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module's ``__getattr__`` and ``__dir__`` for ``package``'s lazy names.

    ``names`` maps each lazy name to the module (relative to ``package``)
    that defines it; the value is cached in the package on first use.
    """

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(importlib.import_module(package))) | set(names))

    return __getattr__, __dir__
