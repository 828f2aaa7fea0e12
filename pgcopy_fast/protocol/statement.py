"""What a COPY statement asks for, read with a tokenizer instead of a regex.

The server reports binary from text in CopyInResponse / CopyOutResponse but
says "text" for CSV, so the row format of a text-mode copy can only come
from the statement.  A regex cannot tell the option ``FORMAT csv`` from a
table or column *named* ``csv`` or ``format``; this module tokenizes the
SQL as PostgreSQL's scanner does (identifiers, quoted names, string
literals of every kind, dollar quotes, comments) and walks the COPY
grammar, both the option list of PostgreSQL 9.0+ and the old keywords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..errors import InterfaceError

__all__ = ["one_statement", "statement_format"]

_FORMATS = ("text", "csv", "binary")

#: What PostgreSQL's scanner takes in an identifier: ASCII letters and ``_``
#: (then digits and ``$`` too) and every non-ASCII character.  Written as
#: negated ASCII classes: a ``\u0080-\uffff`` range costs re 3 ms to
#: compile, on every start of a command.
IDENT_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
IDENT_CHAR = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
_TAG_CHAR = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"  # no $

# One token per match; the order matters (comments before operators, E''
# strings before identifiers).
_TOKEN = re.compile(
    rf"""
      (?P<space>\s+)
    | (?P<line_comment>--[^\n]*)
    | (?P<block_comment>/\*)
    | (?P<estring>[eE]'(?:[^'\\]|\\.|'')*')
    | (?P<string>(?:[bBxXnN]|[uU]&)?'(?:[^']|'')*')
    | (?P<dollar>\$(?:{IDENT_START}{_TAG_CHAR}*)?\$)
    | (?P<quoted>(?:[uU]&)?"(?:[^"]|"")*")
    | (?P<ident>{IDENT_START}{IDENT_CHAR}*)
    | (?P<number>\d[\w.]*|\.\d[\w]*)
    | (?P<param>\$\d+)
    | (?P<punct>[(),;.\[\]])
    | (?P<op>[^\s\w(),;.\[\]'"$]+|\$)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # "word" (unquoted, lower-cased), "name" (quoted), "str", "punct", ...
    text: str


def _comment_end(sql: str, pos: int) -> int | None:
    """Where a block comment opened just before ``pos`` ends (None: never).

    Block comments nest in PostgreSQL.
    """
    depth, i, n = 1, pos, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth, i = depth + 1, i + 2
        elif sql.startswith("*/", i):
            depth, i = depth - 1, i + 2
            if depth == 0:
                return i
        else:
            i += 1
    return None


def _tokens(sql: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos, n = 0, len(sql)
    while pos < n:
        match = _TOKEN.match(sql, pos)
        if match is None:  # an unterminated literal: nothing after it counts
            break
        kind = match.lastgroup
        text = match.group()
        pos = match.end()
        if kind in ("space", "line_comment"):
            continue
        if kind == "block_comment":
            end = _comment_end(sql, pos)
            pos = n if end is None else end
            continue
        if kind == "dollar":
            end = sql.find(text, pos)
            if end < 0:
                break
            out.append(_Tok("str", sql[pos:end]))
            pos = end + len(text)
            continue
        if kind == "ident":
            out.append(_Tok("word", text.lower()))
        elif kind == "quoted":
            body = text[text.index('"') + 1 : -1]
            out.append(_Tok("name", body.replace('""', '"')))
        elif kind == "string":
            body = text[text.index("'") + 1 : -1]
            out.append(_Tok("str", body.replace("''", "'")))
        elif kind == "estring":
            out.append(_Tok("str", text[2:-1]))
        else:
            out.append(_Tok("punct" if kind == "punct" else kind or "op", text))
    return out


def _statements(tokens: list[_Tok]) -> list[list[_Tok]]:
    stmts: list[list[_Tok]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.kind == "punct" and tok.text in "([":
            depth += 1
        elif tok.kind == "punct" and tok.text in ")]":
            depth = max(0, depth - 1)
        elif tok.kind == "punct" and tok.text == ";" and depth == 0:
            stmts.append([])
            continue
        stmts[-1].append(tok)
    return [s for s in stmts if s]


def _skip_parens(toks: list[_Tok], i: int) -> int:
    """The index after the balanced parenthesis group that starts at ``i``."""
    depth = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "punct" and tok.text == "(":
            depth += 1
        elif tok.kind == "punct" and tok.text == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _is(tok: _Tok | None, *words: str) -> bool:
    return tok is not None and tok.kind == "word" and tok.text in words


def _at(toks: list[_Tok], i: int) -> _Tok | None:
    return toks[i] if i < len(toks) else None


def _option_list(toks: list[_Tok], i: int) -> str | None:
    """``( FORMAT csv, HEADER, ... )`` starting at ``i``: the FORMAT value."""
    fmt: str | None = None
    depth = 0
    expect_name = True
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "punct" and tok.text == "(":
            depth += 1
            i += 1
            continue
        if tok.kind == "punct" and tok.text == ")":
            depth -= 1
            if depth == 0:
                break
            i += 1
            continue
        if depth == 1 and tok.kind == "punct" and tok.text == ",":
            expect_name = True
            i += 1
            continue
        if depth == 1 and expect_name:
            expect_name = False
            if _is(tok, "format"):
                value = _at(toks, i + 1)
                if value is not None and value.kind in ("word", "name", "str"):
                    fmt = value.text
                    i += 2
                    continue
        i += 1
    return fmt


def _legacy_options(toks: list[_Tok], i: int) -> str | None:
    """The pre-9.0 keywords after FROM/TO: ``BINARY``, ``CSV``, ``DELIMITER 'x'`` ..."""
    fmt: str | None = None
    while i < len(toks):
        tok = toks[i]
        if _is(tok, "where"):
            break  # COPY ... FROM ... WHERE condition: no options after it
        if _is(tok, "binary"):
            fmt = "binary"
        elif _is(tok, "csv"):
            fmt = fmt or "csv"
        elif _is(tok, "force"):
            # FORCE QUOTE / FORCE NOT NULL col, col ...: the columns are names
            i += 1
            while i < len(toks) and _is(toks[i], "quote", "not", "null"):
                i += 1
            while i < len(toks):
                if toks[i].kind in ("word", "name") or toks[i].text == "*":
                    i += 1
                    if i < len(toks) and toks[i].text == ",":
                        i += 1
                        continue
                break
            continue
        i += 1
    return fmt


def _copy_format(toks: list[_Tok]) -> str | None:
    i = 1
    legacy: str | None = None
    if _is(_at(toks, i), "binary"):  # COPY BINARY t FROM ...
        legacy = "binary"
        i += 1
    tok = _at(toks, i)
    if tok is not None and tok.kind == "punct" and tok.text == "(":
        i = _skip_parens(toks, i)  # COPY (query) TO ...
    else:
        # the table: name [. name [. name]]
        while i < len(toks) and toks[i].kind in ("word", "name"):
            i += 1
            if i < len(toks) and toks[i].kind == "punct" and toks[i].text == ".":
                i += 1
                continue
            break
        tok = _at(toks, i)
        if tok is not None and tok.kind == "punct" and tok.text == "(":
            i = _skip_parens(toks, i)  # the column list
    if _is(_at(toks, i), "with") and _is(_at(toks, i + 1), "oids"):
        i += 2
    if not _is(_at(toks, i), "from", "to"):
        return legacy
    i += 1
    if _is(_at(toks, i), "program"):
        i += 1
    i += 1  # STDIN / STDOUT / 'file'
    if _is(_at(toks, i), "with"):
        i += 1
    tok = _at(toks, i)
    if tok is not None and tok.kind == "punct" and tok.text == "(":
        found = _option_list(toks, i)
        return found if found is not None else legacy
    found = _legacy_options(toks, i)
    return legacy or found


@lru_cache(maxsize=256)  # the same statements come back, copy after copy
def statement_format(sql: str) -> str | None:
    """The FORMAT a COPY statement asks for (also the old BINARY / CSV keywords).

    Only the option list counts: a table or column named ``csv``,
    ``binary`` or ``format`` is a name.  Where the string holds several
    statements, the first COPY is read.

    Returns ``"text"``, ``"csv"``, ``"binary"``, or None when it says
    nothing (or names a format PostgreSQL will refuse).
    """
    for stmt in _statements(_tokens(sql)):
        if _is(stmt[0], "copy"):
            fmt = _copy_format(stmt)
            if fmt is None:
                return None
            fmt = fmt.lower() if fmt.lower() in _FORMATS else fmt
            return fmt if fmt in _FORMATS else None
    return None


def one_statement(sql: str) -> str:
    """``sql`` as exactly one statement, without its trailing semicolons.

    A query is pasted into ``COPY (...) TO STDOUT`` (and, under a driver
    without a describe step, into a subquery).  A string that holds a
    second statement, an unbalanced parenthesis or an unterminated literal
    or comment could end that wrapper early and run SQL nobody asked for,
    so it is refused here, before anything is sent.  The scan errs on the
    side of refusing: a semicolon anywhere but at the end is refused.

    Raises:
        InterfaceError: not exactly one statement.
    """
    if not isinstance(sql, str):
        raise TypeError(f"the query must be a str, not {type(sql).__name__}")
    pos, n, depth = 0, len(sql), 0
    end: int | None = None
    while pos < n:
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise InterfaceError("the query has an unterminated quoted string")
        kind, text, start = match.lastgroup, match.group(), match.start()
        pos = match.end()
        if kind == "block_comment":
            closed = _comment_end(sql, pos)
            if closed is None:
                raise InterfaceError("the query has an unterminated /* comment")
            pos = closed
            continue
        if kind in ("space", "line_comment"):
            continue
        if kind == "dollar":
            close = sql.find(text, pos)
            if close < 0:
                raise InterfaceError("the query has an unterminated dollar quote")
            pos = close + len(text)
        if end is not None and text != ";":
            raise InterfaceError(
                "the query must be one statement: it holds more than one"
            )
        if kind == "punct" and text in "([":
            depth += 1
        elif kind == "punct" and text in ")]":
            depth -= 1
            if depth < 0:
                raise InterfaceError("the query has an unbalanced parenthesis")
        elif text == ";":
            if depth:
                raise InterfaceError("the query has a semicolon inside parentheses")
            end = start if end is None else end
    if depth:
        raise InterfaceError("the query has an unbalanced parenthesis")
    body = (sql if end is None else sql[:end]).strip()
    if not body:
        raise InterfaceError("the query is empty")
    return body
