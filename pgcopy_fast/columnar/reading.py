"""COPY OUT into Arrow: the decoder of a planned copy.

The connection reads the CopyData; the selected twin's ``ArrowDecoder``
turns it into record batches of the types :mod:`.outtypes` chooses, from
each column's type and type modifier (numeric(12,2) -> decimal128(12, 2)).
"""

from __future__ import annotations

from typing import Any

from ..errors import InterfaceError
from ..kernels import core as _core
from ..options import CodecOptions

#: Rows per record batch of copy_arrow_out unless the caller says (a batch
#: of a wide table is a few MB: one in flight keeps memory small).
ARROW_BATCH_ROWS = 65536


def arrow_decoder(plan: Any, options: CodecOptions | None, batch_rows: int) -> Any:
    """The twin's ``ArrowDecoder`` for a COPY OUT plan (binary format).

    Raises:
        InterfaceError: a column whose type has no binary codec, or a
            ``batch_rows`` below one.
    """
    if batch_rows < 1:
        raise InterfaceError(f"batch_rows must be at least 1, not {batch_rows}")
    if plan.types is None:
        missing = [
            c for c, t in zip(plan.columns, plan.codecs, strict=True) if t is None
        ]
        raise InterfaceError(
            f"copy_arrow_out reads binary COPY, and columns {missing} have types "
            "without a binary codec"
        )
    modifiers = plan.modifiers or (-1,) * len(plan.columns)
    columns = list(zip(plan.columns, plan.codecs, modifiers, strict=True))
    return _core.ArrowDecoder(columns, options, batch_rows)
