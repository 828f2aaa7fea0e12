"""What the server's catalog says about a table, and the COPY plans built on it.

- ``queries``: table names as SQL writes them, identifier quoting, the
  catalog queries and the programs (generators of SQL) that run them under
  any connection kind;
- ``plans``: ``CopyPlan`` (columns, types, codecs, the check that travels
  with each COPY), cached per connection; the normalisation of records.
"""
