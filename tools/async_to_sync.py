#!/usr/bin/env python3
"""Write the blocking modules of pgcopy_fast from their asyncio sources.

The asyncio modules are the source: the blocking API is generated from them
so that the two cannot drift (psycopg 3 keeps its two APIs the same way).
The transformation is small and mechanical:

- ``async def`` / ``async with`` / ``async for`` lose ``async``; ``await``
  goes;
- names are renamed by :data:`RENAMES` (``AsyncConnection`` ->
  ``Connection``, ``__aenter__`` -> ``__enter__``, ``transport_aio`` ->
  ``transport``, ...), in code, docstrings and comments alike;
- an ``if True:  # ASYNC`` block is asyncio-only: it is dropped, and its
  ``else:`` block (if any) is kept, one level less indented;
- the result is formatted and its imports tidied by ruff, so the output
  passes the same lint as hand-written code.

Usage: ``python tools/async_to_sync.py`` rewrites the generated files;
``--check`` writes nothing and fails (exit 1) when a generated file is not
what the source gives (a hand edit, or a source changed without running
the tool).  CI runs ``--check``.
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (asyncio source, generated blocking module), relative to the repository.
PAIRS = [
    ("pgcopy_fast/connection/wire_aio.py", "pgcopy_fast/connection/wire.py"),
    ("pgcopy_fast/connection/aio.py", "pgcopy_fast/connection/blocking.py"),
    ("pgcopy_fast/copy/aio.py", "pgcopy_fast/copy/blocking.py"),
]

#: Names of the asyncio API and their blocking counterparts.
RENAMES = {
    "AsyncConnection": "Connection",
    "AsyncCopyIn": "CopyIn",
    "AsyncCopyOut": "CopyOut",
    "AsyncTransport": "SocketTransport",
    "AsyncWire": "Wire",
    "AsyncWireLike": "WireLike",
    "AsyncArrowBatchStream": "ArrowBatchStream",
    "connect_async": "connect",
    "arun_program": "run_program",
    "arecord_rows": "record_rows",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "aclose": "close",
    "AsyncIterator": "Iterator",
    "AsyncIterable": "Iterable",
    "AsyncGenerator": "Generator",
    "StopAsyncIteration": "StopIteration",
    "transport_aio": "transport",
    "wire_aio": "wire",
    "aio": "blocking",
}

#: Phrases of prose that say which API they describe.
PHRASES = {"over asyncio": "over blocking sockets"}

_WORDS = re.compile(r"\b(" + "|".join(map(re.escape, RENAMES)) + r")\b")
#: "async with", "async for", "async def", "await " inside prose.
_PROSE = re.compile(r"\basync (?=with\b|for\b|def\b)|\bawait ")
_ASYNC_BLOCK = re.compile(r"^(?P<indent>[ ]*)if True:  # ASYNC$")
#: The paragraph of a source's module docstring that says it is the source.
_SOURCE_NOTE = re.compile(
    r"\nThis file is the source of .*?(?:\n\n|(?=\"\"\"))", re.DOTALL
)

HEADER = (
    "# WARNING: generated from {source} by tools/async_to_sync.py.\n"
    "# Do not edit: change the source and run the tool (CI checks it).\n"
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def drop_async_blocks(lines: list[str]) -> list[str]:
    """Remove ``if True:  # ASYNC`` blocks, keeping their ``else:`` bodies."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _ASYNC_BLOCK.match(lines[i].rstrip("\n"))
        if not match:
            out.append(lines[i])
            i += 1
            continue
        depth = len(match.group("indent"))
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > depth):
            i += 1  # the asyncio-only body
        if i < len(lines) and lines[i].rstrip("\n") == " " * depth + "else:":
            i += 1
            while i < len(lines) and (
                not lines[i].strip() or _indent(lines[i]) > depth
            ):
                line = lines[i]
                out.append(line[4:] if line.strip() else line)
                i += 1
    return out


def _prose(text: str) -> str:
    for phrase, blocking in PHRASES.items():
        text = text.replace(phrase, blocking)
    return _WORDS.sub(lambda m: RENAMES[m.group(1)], _PROSE.sub("", text))


def rewrite_tokens(source: str) -> str:
    """Drop ``async`` / ``await`` and apply :data:`RENAMES`, token by token."""
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def at(pos: tuple[int, int]) -> int:
        return offsets[pos[0] - 1] + pos[1]

    edits: list[tuple[int, int, str]] = []
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for k, tok in enumerate(tokens):
        start, end = at(tok.start), at(tok.end)
        if tok.type == tokenize.NAME:
            following = tokens[k + 1] if k + 1 < len(tokens) else None
            if tok.string == "await" or (
                tok.string == "async"
                and following is not None
                and following.string in ("def", "with", "for")
            ):
                # the keyword and the space after it
                edits.append((start, at(following.start) if following else end, ""))
            elif tok.string in RENAMES:
                edits.append((start, end, RENAMES[tok.string]))
        elif tok.type in (tokenize.STRING, tokenize.COMMENT):
            new = _prose(tok.string)
            if new != tok.string:
                edits.append((start, end, new))
    out = source
    for start, end, text in reversed(edits):
        out = out[:start] + text + out[end:]
    return out


def _ruff(args: list[str], code: str, filename: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", filename, "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode not in (0, 1) or not done.stdout:
        raise SystemExit(f"ruff {' '.join(args)} failed on {filename}:\n{done.stderr}")
    return done.stdout


def generate(source: str, source_name: str, target_name: str) -> str:
    """The blocking module for an asyncio source text."""
    source = _SOURCE_NOTE.sub("\n", source, count=1)
    lines = drop_async_blocks(source.splitlines(keepends=True))
    code = HEADER.format(source=source_name) + rewrite_tokens("".join(lines))
    # Imports that only the asyncio code used, the import order after
    # renames and ``for x in y: yield x`` (an ``async for`` in the source)
    # are ruff's to fix; then the layout.
    code = _ruff(
        [
            "check",
            "--fix",
            "--unsafe-fixes",
            "--quiet",
            "--exit-zero",
            "--select",
            "F401,I,UP028",
        ],
        code,
        target_name,
    )
    return _ruff(["format", "--quiet"], code, target_name)


def main(argv: list[str] | None = None) -> int:
    """Generate (or with ``--check``, verify) every blocking module."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a generated file is stale or hand-edited",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="the repository to work on (default: the one holding this tool)",
    )
    args = parser.parse_args(argv)
    stale = []
    for source_name, target_name in PAIRS:
        source = (args.root / source_name).read_text()
        wanted = generate(source, source_name, target_name)
        target = args.root / target_name
        current = target.read_text() if target.exists() else ""
        if current == wanted:
            continue
        if args.check:
            stale.append(target_name)
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    wanted.splitlines(keepends=True),
                    f"{target_name} (on disk)",
                    f"{target_name} (generated from {source_name})",
                )
            )
        else:
            target.write_text(wanted)
            print(f"wrote {target_name}")
    if stale:
        print(
            f"\n{len(stale)} generated file(s) differ from their asyncio source: "
            f"{', '.join(stale)}.\nEdit the source, then run "
            "`python tools/async_to_sync.py`.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
