"""pgcopy_fast side by side with psycopg 3, asyncpg, pgcopy, psycopg2 and psql.

    python benchmarks/compare.py [--rows N] [--repeat R] [--dsn DSN] ...

The same as ``pgcopy-fast bench``; see ``pgcopy_fast/bench.py``.
"""

from pgcopy_fast.cli._bench import main

if __name__ == "__main__":
    main()
