"""Columnar COPY: Arrow record batches in and out, no Python object per value.

``intypes`` maps an Arrow column onto its target column's PostgreSQL type
(the encoder each column gets); ``outtypes`` maps a PostgreSQL column onto
the Arrow type it is read as; ``source`` turns what a caller passes (a
pyarrow Table, a polars or pandas DataFrame, a dict of numpy arrays, any
object with ``__arrow_c_stream__`` / ``__arrow_c_array__``) into record
batches; ``stream`` is the object COPY OUT returns.
"""
