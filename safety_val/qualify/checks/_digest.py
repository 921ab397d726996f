"""SHA-256 digests of result tables, for bit-for-bit comparisons."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["frame_digest", "values_digest"]


def frame_digest(frame: pd.DataFrame, *, exclude: Iterable[str] = ()) -> str:
    """SHA-256 over a table's column names, dtypes and raw values, in column order.

    Numeric columns contribute their bytes (so ``-0.0`` and ``0.0``, or two NaN
    payloads, differ: the comparison is bit for bit); other columns their UTF-8 text.

    Examples
    --------
    >>> a = pd.DataFrame({"g": [0.5, np.nan], "status": ["ok", "error"]})
    >>> frame_digest(a) == frame_digest(a.copy()), frame_digest(a) == frame_digest(a.iloc[::-1])
    (True, False)
    """
    skip = set(exclude)
    digest = hashlib.sha256()
    for column in frame.columns:
        if column in skip:
            continue
        values = frame[column].to_numpy()
        digest.update(f"{column}\0".encode())
        if values.dtype.kind in "biuf":
            digest.update(values.dtype.str.encode())
            digest.update(np.ascontiguousarray(values).tobytes())
        else:
            digest.update("\0".join(str(v) for v in values).encode())
        digest.update(b"\1")
    return digest.hexdigest()


def values_digest(*values: Any) -> str:
    """SHA-256 of the ``repr`` of scalars (floats with all 17 significant digits).

    Examples
    --------
    >>> values_digest(0.1 + 0.2, 3) == values_digest(0.30000000000000004, 3)
    True
    """
    text = "\0".join(
        repr(float(v)) if isinstance(v, float | np.floating) else repr(v) for v in values
    )
    return hashlib.sha256(text.encode()).hexdigest()
