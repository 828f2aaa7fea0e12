"""The ``pgcopy-fast`` command: load, dump and bench (``commands``, ``_bench``)."""

from .commands import main

__all__ = ["main"]
