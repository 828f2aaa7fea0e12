"""``python -m pgcopy_fast``: report the version and the loaded kernel twin."""

from __future__ import annotations

import sys

import pgcopy_fast


def main() -> int:
    """Print the version and which implementation is loaded."""
    version, impl = pgcopy_fast.__version__, pgcopy_fast.__impl__
    print(f"pgcopy_fast {version} (implementation: {impl})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
