"""Shared helpers of the sensitivity package: output checks, SALib problems, global-state guard."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from safety_val.errors import ValidationError

__all__ = [
    "INDEX_COLUMNS",
    "check_finite_output",
    "check_not_constant",
    "check_sizes",
    "index_rows",
    "isolated_global_state",
    "unit_problem",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: Columns of the long table of sensitivity indices.
INDEX_COLUMNS = ("parameter", "method", "index", "value", "ci_low", "ci_high")


def unit_problem(names: Sequence[str]) -> dict[str, Any]:
    """A SALib problem over the unit cube ``[0, 1]^k`` with the given factor names."""
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def check_sizes(x: Any, y: Any, *, what: str = "X") -> None:
    """Raise if the sample ``x`` and the outputs ``y`` have different lengths."""
    if len(x) != len(y):
        raise ValidationError(
            "sample and outputs differ in size",
            field="y",
            value=f"{len(y)} outputs",
            expected=f"one output per row of {what} ({len(x)} rows)",
        )


def check_finite_output(y: _Array, *, field: str = "y") -> None:
    """Raise if ``y`` holds NaN or ±inf, naming the first offending rows and their count."""
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        first = ", ".join(str(int(i)) for i in bad[:10])
        raise ValidationError(
            f"{bad.size} of {y.size} outputs are NaN or infinite (rows {first}"
            f"{', ...' if bad.size > 10 else ''})",
            field=field,
            expected="finite outputs for every sample row",
        )


def check_not_constant(y: _Array, *, field: str = "y") -> None:
    """Raise if ``y`` is constant: every sensitivity index would be 0/0."""
    if y.size and np.ptp(y) <= 1e-12 * max(1.0, float(np.abs(y).max())):
        raise ValidationError(
            f"output is constant (value {float(y[0]):.6g}): sensitivity indices are undefined",
            field=field,
            expected="an output that varies with the inputs",
        )


def index_rows(
    method: str,
    names: Sequence[str],
    index: str,
    values: Any,
    half_width: Any = None,
) -> pd.DataFrame:
    """Rows of the long index table; ``half_width`` (a CI half-width) gives ``value ± hw``."""
    value = np.asarray(values, dtype=float)
    if half_width is None:
        low = high = np.full(value.shape, np.nan)
    else:
        hw = np.asarray(half_width, dtype=float)
        low, high = value - hw, value + hw
    return pd.DataFrame(
        {
            "parameter": list(names),
            "method": method,
            "index": index,
            "value": value,
            "ci_low": low,
            "ci_high": high,
        }
    )


@contextlib.contextmanager
def isolated_global_state() -> Iterator[None]:
    """Run SALib code that seeds ``np.random`` and changes warning settings, then restore both.

    SALib's delta and PAWN analyses call ``np.random.seed`` and ``warnings.simplefilter``;
    the project's rule is "no global state", so both are put back afterwards.
    """
    state = np.random.get_state()  # noqa: NPY002 - restoring SALib's global seeding
    formatwarning = warnings.formatwarning
    try:
        with warnings.catch_warnings():
            yield
    finally:
        np.random.set_state(state)  # noqa: NPY002
        warnings.formatwarning = formatwarning


def child_seed(rng: np.random.Generator) -> int:
    """A positive 31-bit seed drawn from ``rng`` (SALib ignores a seed of 0)."""
    return int(rng.integers(1, 2**31 - 1))
