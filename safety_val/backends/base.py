"""The :class:`Simulator` protocol and the checks every backend's output goes through.

A simulator takes a batch of concrete scenarios as a :class:`pandas.DataFrame` (one
row per concrete scenario: ``scenario_id`` plus one column per parameter) and
returns the same rows, in the same order and with the same index, with one column
per KPI plus ``status`` (``"ok"``, ``"error"`` or ``"timeout"``) and ``message``.
A scenario that could not be simulated is kept with its status and message: it is
never dropped and never counted as a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "STATUSES",
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_TIMEOUT",
    "Simulator",
    "failed_rows",
    "normalise_output",
]

STATUS_OK: Final = "ok"
STATUS_ERROR: Final = "error"
STATUS_TIMEOUT: Final = "timeout"
STATUSES: Final = (STATUS_OK, STATUS_ERROR, STATUS_TIMEOUT)


@runtime_checkable
class Simulator(Protocol):
    """A batch simulator of concrete scenarios.

    Attributes
    ----------
    name
        Short name of the backend (``"builtin"``, ``"callable"``, ``"command"``, ...).
    kpis
        Names of the KPI columns that :meth:`run` returns.
    """

    name: str
    kpis: tuple[str, ...]

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Simulate every row of ``batch``; return the same rows with KPIs, status, message."""
        ...


def failed_rows(
    batch: pd.DataFrame, kpis: Sequence[str], status: str, message: str
) -> pd.DataFrame:
    """Rows of ``batch`` marked ``status`` with ``message`` and NaN KPIs.

    Examples
    --------
    >>> out = failed_rows(pd.DataFrame({"scenario_id": ["a"]}), ["min_ttc"], "error", "boom")
    >>> out.loc[0, "status"], out.loc[0, "message"], bool(np.isnan(out.loc[0, "min_ttc"]))
    ('error', 'boom', True)
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    out = pd.DataFrame(index=batch.index)
    for kpi in kpis:
        out[kpi] = np.nan
    out["status"] = status
    out["message"] = message
    return out


def normalise_output(
    batch: pd.DataFrame, result: pd.DataFrame, kpis: Sequence[str], *, backend: str
) -> pd.DataFrame:
    """Check and complete a backend's output so it obeys the protocol.

    - the result must have exactly the rows of ``batch`` (same index); a row that is
      missing comes back as ``error`` with a message, extra rows are an error;
    - every KPI column is present and numeric (bools become 0/1 floats);
    - a KPI that is NaN or missing on an ``ok`` row turns the row into ``error``
      with a message naming the KPI;
    - ``status`` and ``message`` columns exist, ``status`` is one of :data:`STATUSES`.

    Returns a frame with index ``batch.index`` and columns ``[*kpis, "status", "message"]``.
    """
    out = pd.DataFrame(index=batch.index)
    if not result.index.isin(batch.index).all():
        extra = result.index[~result.index.isin(batch.index)]
        raise ValueError(
            f"backend {backend!r} returned rows that were not in the batch: {list(extra)[:5]}"
        )
    result = result.reindex(batch.index)
    missing_row = (
        result.isna().all(axis=1) if len(result.columns) else pd.Series(True, index=batch.index)
    )
    status = result["status"] if "status" in result else pd.Series(STATUS_OK, index=batch.index)
    status = status.where(status.isin(STATUSES), STATUS_ERROR).astype(object)
    message = (
        result["message"].fillna("").astype(str)
        if "message" in result
        else pd.Series("", index=batch.index, dtype=object)
    )
    for kpi in kpis:
        if kpi in result:
            column = result[kpi]
            if column.dtype == bool:
                column = column.astype(float)
            out[kpi] = pd.to_numeric(column, errors="coerce").astype(float)
        else:
            out[kpi] = np.nan
    ok = status == STATUS_OK
    nan_kpi = out[list(kpis)].isna() if kpis else pd.DataFrame(index=batch.index)
    for kpi in kpis:
        bad = ok & nan_kpi[kpi]
        if bad.any():
            what = "missing" if kpi not in result else "NaN or not a number"
            message = message.where(~bad, f"KPI {kpi!r} is {what}")
            status = status.where(~bad, STATUS_ERROR)
            ok = status == STATUS_OK
    if missing_row.any():
        status = status.where(~missing_row, STATUS_ERROR)
        message = message.where(
            ~missing_row, f"backend {backend!r} returned no result for this row"
        )
    out["status"] = status.astype(str)
    out["message"] = message.astype(str)
    return out
