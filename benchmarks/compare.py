"""pgcopy_fast side by side with psycopg 3, asyncpg, pgcopy, psycopg2 and psql.

    python benchmarks/compare.py [--rows N] [--repeat R] [--dsn DSN] ...
    python benchmarks/compare.py --per-column [--rows N] [--types int8,jsonb] ...

The same as ``pgcopy-fast bench`` (``--help`` lists the peers); the harness
is ``pgcopy_fast/cli/_bench.py``.
"""

from pgcopy_fast.cli._bench import main

if __name__ == "__main__":
    main()
