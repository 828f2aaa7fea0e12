"""The COPY statement's FORMAT, read by a tokenizer: names are not options."""

from __future__ import annotations

import pytest

from pgcopy_fast.protocol.statement import statement_format

CASES = [
    ("COPY t FROM STDIN", None),
    ("COPY t FROM STDIN (FORMAT csv)", "csv"),
    ("COPY t FROM STDIN WITH (FORMAT 'binary')", "binary"),
    ("copy t from stdin (delimiter ',', format CSV, header)", "csv"),
    ("COPY t TO STDOUT (FORMAT text)", "text"),
    ("COPY BINARY t FROM STDIN", "binary"),
    ("COPY t FROM STDIN WITH BINARY", "binary"),
    ("COPY t TO STDOUT WITH CSV HEADER", "csv"),
    ("COPY t FROM STDIN WITH DELIMITER '|' CSV QUOTE '\"'", "csv"),
    # names that look like options
    ("COPY csv FROM STDIN", None),
    ('COPY "binary" TO STDOUT', None),
    ("COPY t (format, csv) FROM STDIN", None),
    ("COPY format (csv) FROM STDIN", None),
    ("COPY s.csv (a) FROM STDIN (FORMAT binary)", "binary"),
    ("COPY t FROM STDIN WITH CSV FORCE NOT NULL binary", "csv"),
    ("COPY t FROM STDIN WHERE csv > 1", None),
    ("COPY (SELECT 'format csv', \"binary\" FROM csv) TO STDOUT", None),
    ("COPY (SELECT $$ (FORMAT csv) $$) TO STDOUT", None),
    ("COPY /* (FORMAT csv) */ t FROM STDIN -- binary", None),
    ("COPY /* a /* nested */ (FORMAT csv) */ t FROM STDIN", None),
    ("COPY t FROM STDIN (FORMAT csv) -- binary", "csv"),
    ("COPY t FROM STDIN (NULL 'format binary', FORMAT csv)", "csv"),
    ('COPY t FROM STDIN (FORMAT "csv")', "csv"),
    # several statements: the COPY's options count
    ("SELECT 'binary'; COPY t FROM STDIN (FORMAT csv)", "csv"),
    ("LOCK TABLE csv IN ROW EXCLUSIVE MODE; SELECT 1; COPY csv (a) FROM STDIN", None),
    ("SELECT 1", None),
    ("", None),
    ("COPY t FROM STDIN (FORMAT 'unterminated", None),
]


@pytest.mark.parametrize(("sql", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_statement_format(sql: str, expected: str | None) -> None:
    assert statement_format(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "COPY csv FROM STDIN",
        "COPY t (format, csv) FROM STDIN",
        'COPY "binary" ("binary") FROM STDIN',
    ],
)
def test_names_are_not_options_against_the_server(conn, sql: str) -> None:
    """Rows are encoded in the format the server really uses (text here)."""
    conn.execute(
        'DROP TABLE IF EXISTS csv, t, "binary";'
        "CREATE TEMP TABLE csv (a int, b text);"
        "CREATE TEMP TABLE t (format int, csv text);"
        'CREATE TEMP TABLE "binary" ("binary" text)'
    )
    width = 1 if '"binary"' in sql else 2
    row = (7, "a,b\tc") if width == 2 else ("x,y",)
    with conn.copy_in(sql) as cp:
        assert cp.format == "text"
        cp.write_row(row)
    table = sql.split()[1]
    got = conn.execute(f"SELECT * FROM {table}").rows
    assert got == [tuple(str(v) for v in row)]
