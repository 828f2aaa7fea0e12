"""Protocol constants shared by both kernel twins and the pure-Python layers.

One source for message type bytes, wire limits, buffer sizes and the numbers
of the binary value formats, so that the compiled and the pure twin cannot
drift apart on a number.  The compiled twin copies the ones it needs into
typed C globals at import time (``_codecs_c.pxi``), which costs nothing in
its loops.
"""

from __future__ import annotations

import datetime

# -- frontend/backend protocol ------------------------------------------------

#: Protocol 3.0 as the StartupMessage encodes it (major 3 << 16 | minor 0).
PROTOCOL_VERSION = 196608
#: Magic numbers that take the place of a protocol version in the first
#: message of a connection (protocol-message-formats: CancelRequest, SSLRequest).
CANCEL_REQUEST_CODE = 80877102
SSL_REQUEST_CODE = 80877103

#: A backend message is a type byte and an int32 length that counts itself.
HEADER_SIZE = 5
#: The smallest legal length field: it counts its own four bytes.
MIN_MESSAGE_LENGTH = 4
#: The largest length we accept.  PostgreSQL never builds a message over
#: 1 GiB (MaxAllocSize), so anything larger is a corrupt stream, and refusing
#: it keeps a garbage length from making us buffer gigabytes.
MAX_MESSAGE_LENGTH = 0x40000000

# Backend message types (protocol-message-formats).
AUTHENTICATION = b"R"
BACKEND_KEY_DATA = b"K"
COMMAND_COMPLETE = b"C"
COPY_DATA = b"d"
COPY_DONE = b"c"
COPY_IN_RESPONSE = b"G"
COPY_OUT_RESPONSE = b"H"
COPY_BOTH_RESPONSE = b"W"
DATA_ROW = b"D"
EMPTY_QUERY_RESPONSE = b"I"
ERROR_RESPONSE = b"E"
NEGOTIATE_PROTOCOL_VERSION = b"v"
NOTICE_RESPONSE = b"N"
NOTIFICATION_RESPONSE = b"A"
PARAMETER_STATUS = b"S"
READY_FOR_QUERY = b"Z"
ROW_DESCRIPTION = b"T"
FUNCTION_CALL_RESPONSE = b"V"
PARSE_COMPLETE = b"1"
PARAMETER_DESCRIPTION = b"t"
NO_DATA = b"n"

#: The backend message types that may be long, as libpq lists them
#: (VALID_LONG_MESSAGE_TYPE in fe-protocol3.c): rows and COPY data, errors
#: and notices (they quote the data), notifications, row descriptions (up to
#: 1664 columns) and function call results.  Their length is bounded by
#: MAX_MESSAGE_LENGTH only.
LONG_MESSAGE_TYPES = frozenset(
    [
        ROW_DESCRIPTION,
        DATA_ROW,
        COPY_DATA,
        FUNCTION_CALL_RESPONSE,
        ERROR_RESPONSE,
        NOTICE_RESPONSE,
        NOTIFICATION_RESPONSE,
    ]
)
#: The largest length field of every other type (and of a type byte the
#: protocol does not have), libpq's bound: a CommandComplete, ReadyForQuery or
#: ParameterStatus is a few dozen bytes, so a larger length means the stream
#: lost synchronization.  The reader says so as soon as the 5-byte header is
#: in, instead of waiting forever for a body that never comes.
MAX_SHORT_MESSAGE_LENGTH = 30000

# Frontend message types.
QUERY = b"Q"
PARSE = b"P"
DESCRIBE = b"D"
SYNC = b"S"
COPY_FAIL = b"f"
PASSWORD_MESSAGE = b"p"  # also SASLInitialResponse and SASLResponse
TERMINATE = b"X"

# -- COPY ---------------------------------------------------------------------

#: The 11-byte signature that opens every binary COPY stream.
PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"

#: The server refuses a CopyFail message of 10,000 bytes or more
#: (pq_getmessage limit in CopyGetData); we stay well under it.
MAX_COPY_FAIL_MESSAGE = 8000

#: Initial size of a WriteBuffer: large enough for a startup or query
#: message without a regrowth, small enough to be free to allocate.
WRITE_BUFFER_INITIAL_SIZE = 1024

#: A COPY IN batch leaves as one CopyData message once the write buffer
#: passes this many bytes.  benchmarks/threshold.py (3M narrow rows, binary,
#: loopback, 2 cores) measured 0.044 us/row of client CPU at 16 KiB and a
#: flat 0.040-0.041 from 64 KiB to 1 MiB, with rows/s within noise from
#: 64 KiB up.  256 KiB sits in the middle of that plateau: far from the
#: per-send cost below it, and small enough to stay in L2 and to keep the
#: server fed while the next batch is encoded.
COPY_BATCH_THRESHOLD = 256 * 1024
#: The smallest threshold accepted: anything smaller only adds system calls.
MIN_COPY_BATCH_THRESHOLD = 4 * 1024
#: The chunk size of copy_from_file reads.
COPY_FILE_CHUNK = 256 * 1024

# -- binary value formats -------------------------------------------------------

#: PostgreSQL counts dates in days and timestamps in microseconds from
#: 2000-01-01 (POSTGRES_EPOCH_JDATE): this is that day's ordinal as
#: date.toordinal() counts (730120).
PG_EPOCH_ORDINAL = datetime.date(2000, 1, 1).toordinal()
#: The largest ordinal of a Python date, date.max (3652059).
MAX_DATE_ORDINAL = datetime.date.max.toordinal()
#: Microseconds in a day (USECS_PER_DAY).
USECS_PER_DAY = 86_400_000_000
#: The int32 day counts of date 'infinity' and '-infinity'
#: (DATEVAL_NOEND, DATEVAL_NOBEGIN).
DATE_INFINITY = 0x7FFFFFFF
DATE_NEG_INFINITY = -0x80000000
#: The int64 microsecond counts of timestamp[tz] 'infinity' and '-infinity'
#: (DT_NOEND, DT_NOBEGIN).
TIMESTAMP_INFINITY = 0x7FFFFFFFFFFFFFFF
TIMESTAMP_NEG_INFINITY = -0x8000000000000000

#: The sign words of a binary numeric (numeric.c).
NUMERIC_POS = 0x0000
NUMERIC_NEG = 0x4000
NUMERIC_NAN = 0xC000
NUMERIC_PINF = 0xD000
NUMERIC_NINF = 0xF000
#: NUMERIC_DSCALE_MAX: the most decimal digits after the point.
NUMERIC_DSCALE_MAX = 0x3FFF
#: More integer digits than this overflow the int16 weight of numeric_recv
#: (32768 base-10000 groups of 4 digits).
NUMERIC_MAX_INT_DIGITS = 4 * 32768

#: MAXDIM: the most dimensions a PostgreSQL array has.
ARRAY_MAX_DIMS = 6

#: FLT_MAX, the largest finite float4, as a double.
FLT_MAX = 3.4028234663852886e38
#: Halfway between FLT_MAX and 2**128: doubles from here up round to
#: infinity in float4.  This double itself reads back as FLT_MAX through
#: float4in, since its shortest repr lies just below it.
FLT_OVERFLOW = 2.0**128 - 2.0**103

#: A long COPY OUT reads in gathered rounds (see ``SocketTransport.recv_bulk``)
#: once this much has arrived: a short one never waits.
GATHER_AFTER = 1024 * 1024
#: A gathered read that brought less than this waits GATHER_WAIT seconds and
#: takes what arrived meanwhile: on a machine where the client reads faster
#: than the server writes, each read otherwise brings a few KB, and the rounds
#: cost more client CPU than decoding (measured: 0.48 -> 0.2 µs/row wide).
GATHER_BYTES = 64 * 1024
GATHER_WAIT = 0.0005
