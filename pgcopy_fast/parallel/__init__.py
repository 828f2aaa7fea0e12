"""Beyond one connection: parallel COPY over several, and one snapshot for reads.

``load`` spreads Arrow batches over N connections (each its own COPY, the
encoding without the GIL, so the cores are really used), atomically through
staging tables when asked; ``read`` reads a table by ctid ranges or key
ranges over N connections that all see one exported snapshot.  Both run on
blocking connections in threads; the asyncio connection hands them to a
thread.  ``pgcopy_fast.dask`` uses the same pieces across machines.
"""
