"""The GEH statistic: agreement of simulated and target traffic counts.

GEH (after Geoffrey E. Havers) compares hourly volumes like a chi-squared term that
is insensitive to the size of the count: ``GEH = sqrt(2 (M - C)^2 / (M + C))`` with
``M`` the modelled (simulated) and ``C`` the counted (target) hourly volume. The usual
calibration criterion is GEH < 5 on at least 85 % of the counted segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from safety_val.errors import ValidationError

__all__ = ["GEH_THRESHOLD", "TARGET_SHARE", "GehResult", "geh", "geh_check", "hourly_geh"]

FloatArray = npt.NDArray[np.float64]

#: A segment fits when its GEH is below this value.
GEH_THRESHOLD = 5.0
#: Share of segments that must fit for the demand to be accepted.
TARGET_SHARE = 0.85


def geh(modelled: npt.ArrayLike, counted: npt.ArrayLike) -> FloatArray:
    """GEH of hourly volumes, element-wise.

    Parameters
    ----------
    modelled, counted
        Simulated and target hourly volumes (veh/h), broadcastable, non-negative.

    Returns
    -------
    ndarray
        ``sqrt(2 (M - C)^2 / (M + C))``; 0 where both volumes are 0.

    Raises
    ------
    ValidationError
        For negative or non-finite volumes.

    Examples
    --------
    >>> float(geh(150.0, 100.0)[()])
    4.47213595499958
    >>> geh([0.0, 400.0], [0.0, 500.0]).round(3).tolist()
    [0.0, 4.714]
    """
    m = np.asarray(modelled, dtype=np.float64)
    c = np.asarray(counted, dtype=np.float64)
    for name, values in (("modelled", m), ("counted", c)):
        if not np.all(np.isfinite(values)) or np.any(values < 0.0):
            raise ValidationError(
                "volumes must be finite and >= 0", field=name, expected="hourly volumes in veh/h"
            )
    total = m + c
    out = np.zeros(np.broadcast(m, c).shape)
    np.divide(2.0 * (m - c) ** 2, total, out=out, where=total > 0.0)
    return np.sqrt(out)


@dataclass(frozen=True)
class GehResult:
    """GEH of every counted segment and the share that meets the criterion.

    Attributes
    ----------
    table
        One row per segment and hour: ``segment``, ``hour``, ``counted``, ``modelled``
        (veh/h), ``geh``.
    share_below
        Fraction of rows with ``geh < threshold``.
    threshold, target_share
        The criterion: ``share_below >= target_share``.
    """

    table: pd.DataFrame
    share_below: float
    threshold: float = GEH_THRESHOLD
    target_share: float = TARGET_SHARE

    @property
    def passed(self) -> bool:
        """Whether the calibration criterion is met."""
        return self.share_below >= self.target_share

    def to_dict(self) -> dict[str, float | int | bool]:
        """Summary as plain numbers."""
        return {
            "segments": len(self.table),
            "share_below": self.share_below,
            "threshold": self.threshold,
            "target_share": self.target_share,
            "passed": self.passed,
            "median_geh": float(self.table["geh"].median()) if len(self.table) else float("nan"),
        }


def geh_check(
    modelled: pd.DataFrame,
    counted: pd.DataFrame,
    *,
    threshold: float = GEH_THRESHOLD,
    target_share: float = TARGET_SHARE,
    min_count: float = 0.0,
) -> GehResult:
    """Compare simulated and target hourly volumes per segment with GEH.

    Parameters
    ----------
    modelled, counted
        Long tables with columns ``segment``, ``hour`` and ``flow`` (veh/h). Segments
        and hours missing from ``modelled`` count as 0 veh/h.
    threshold, target_share
        The criterion (GEH < ``threshold`` on ``target_share`` of the segments).
    min_count
        Only segments whose counted volume is at least this are compared (veh/h).

    Returns
    -------
    GehResult

    Raises
    ------
    ValidationError
        If a column is missing or nothing is left to compare.

    Examples
    --------
    >>> target = pd.DataFrame({"segment": ["a", "b"], "hour": [0, 0], "flow": [100.0, 500.0]})
    >>> simulated = pd.DataFrame({"segment": ["a", "b"], "hour": [0, 0], "flow": [150.0, 400.0]})
    >>> result = geh_check(simulated, target)
    >>> round(result.share_below, 2), result.passed
    (1.0, True)
    """
    for name, frame in (("modelled", modelled), ("counted", counted)):
        missing = {"segment", "hour", "flow"} - set(frame.columns)
        if missing:
            raise ValidationError(
                "missing column", field=name, value=sorted(missing)[0],
                expected="columns segment, hour, flow",
            )
    target = counted.groupby(["segment", "hour"], as_index=False).agg(flow=("flow", "sum"))
    target = target[target["flow"] >= min_count]
    simulated = modelled.groupby(["segment", "hour"], as_index=False).agg(flow=("flow", "sum"))
    table = target.rename(columns={"flow": "counted"}).merge(
        simulated.rename(columns={"flow": "modelled"}), on=["segment", "hour"], how="left"
    )
    if table.empty:
        raise ValidationError(
            "no counted segment to compare", field="counted", expected=f"flows >= {min_count}"
        )
    table["modelled"] = table["modelled"].fillna(0.0)
    table["geh"] = geh(table["modelled"].to_numpy(), table["counted"].to_numpy())
    share = float(np.mean(table["geh"].to_numpy() < threshold))
    return GehResult(table.reset_index(drop=True), share, threshold, target_share)


def hourly_geh(
    windows: pd.DataFrame,
    *,
    threshold: float = GEH_THRESHOLD,
    target_share: float = TARGET_SHARE,
    min_count: float = 0.0,
) -> GehResult:
    """GEH of hourly volumes from equal-length time windows within each hour.

    Parameters
    ----------
    windows
        One row per segment and window: ``segment``, ``hour`` (the hour the window
        belongs to), ``counted`` and ``modelled`` (veh/h over the window), e.g. the
        tables of several windows' :func:`geh_check` with ``min_count=0``.
    threshold, target_share
        The criterion.
    min_count
        Only segments whose counted hourly volume is at least this are compared (veh/h).

    Returns
    -------
    GehResult
        One row per segment and hour; the volumes are the means of the windows' rates,
        that is the hourly volumes when the windows cover the hour in equal parts.

    Raises
    ------
    ValidationError
        If a column is missing or nothing is left to compare.

    Examples
    --------
    >>> windows = pd.DataFrame({"segment": "a", "hour": 0, "counted": [100.0, 300.0],
    ...                         "modelled": [160.0, 250.0]})
    >>> hourly_geh(windows).table[["counted", "modelled"]].to_numpy().tolist()
    [[200.0, 205.0]]
    """
    missing = {"segment", "hour", "counted", "modelled"} - set(windows.columns)
    if missing:
        raise ValidationError("missing column", field="windows", value=sorted(missing)[0],
                              expected="columns segment, hour, counted, modelled")
    means = windows.groupby(["segment", "hour"], as_index=False)[["counted", "modelled"]].mean()
    return geh_check(means.rename(columns={"modelled": "flow"})[["segment", "hour", "flow"]],
                     means.rename(columns={"counted": "flow"})[["segment", "hour", "flow"]],
                     threshold=threshold, target_share=target_share, min_count=min_count)
