"""Masked forecast errors as the traffic-forecasting literature reports them.

Values that are missing (``NaN``) or equal to ``null_value`` (0: METR-LA marks missing
speeds with 0) are left out of every metric, as in DCRNN's and Graph WaveNet's code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["HORIZON_STEPS", "horizon_table", "masked_mae", "masked_mape", "masked_rmse"]

#: Forecast steps of 5 minutes reported: 15, 30 and 60 minutes ahead.
HORIZON_STEPS: dict[str, int] = {"15 min": 3, "30 min": 6, "60 min": 12}


def _mask(truth: np.ndarray, null_value: float | None) -> np.ndarray:
    mask = np.isfinite(truth)
    if null_value is not None:
        mask &= truth != null_value
    return mask


def masked_mae(prediction: np.ndarray, truth: np.ndarray, null_value: float | None = 0.0) -> float:
    """Mean absolute error over the observed values.

    Examples
    --------
    >>> masked_mae(np.array([1.0, 2.0, 5.0]), np.array([2.0, np.nan, 0.0]))
    1.0
    """
    mask = _mask(truth, null_value)
    return float(np.abs(prediction[mask] - truth[mask]).mean()) if mask.any() else float("nan")


def masked_rmse(prediction: np.ndarray, truth: np.ndarray, null_value: float | None = 0.0) -> float:
    """Root mean squared error over the observed values.

    Examples
    --------
    >>> masked_rmse(np.array([1.0, 4.0]), np.array([2.0, 1.0]))
    2.23606797749979
    """
    mask = _mask(truth, null_value)
    if not mask.any():
        return float("nan")
    return float(np.sqrt(np.square(prediction[mask] - truth[mask]).mean()))


def masked_mape(prediction: np.ndarray, truth: np.ndarray, null_value: float | None = 0.0) -> float:
    """Mean absolute percentage error [%] over the observed, non-zero values.

    Examples
    --------
    >>> masked_mape(np.array([11.0, 1.0]), np.array([10.0, 0.0]))
    10.0
    """
    mask = _mask(truth, null_value) & (truth != 0)
    if not mask.any():
        return float("nan")
    return float(100.0 * np.abs((prediction[mask] - truth[mask]) / truth[mask]).mean())


def horizon_table(
    predictions: dict[str, np.ndarray],
    truth: np.ndarray,
    channels: tuple[str, ...],
    *,
    null_value: float | None = 0.0,
) -> pd.DataFrame:
    """MAE, RMSE, MAPE per model, channel and horizon (15, 30, 60 minutes).

    Parameters
    ----------
    predictions
        Model name → (S, Q, N, C) forecasts in physical units.
    truth
        (S, Q, N, C) observations, ``NaN`` where missing.
    channels
        The C channel names.
    null_value
        Observations equal to it are masked (``None``: only ``NaN`` is masked).

    Returns
    -------
    pandas.DataFrame
        Columns ``model, channel, horizon, MAE, RMSE, MAPE``; horizons beyond Q are left out.
    """
    rows = []
    for name, prediction in predictions.items():
        for c, channel in enumerate(channels):
            for label, step in HORIZON_STEPS.items():
                if step > truth.shape[1]:
                    continue
                p, t = prediction[:, step - 1, :, c], truth[:, step - 1, :, c]
                rows.append(
                    {
                        "model": name,
                        "channel": channel,
                        "horizon": label,
                        "MAE": masked_mae(p, t, null_value),
                        "RMSE": masked_rmse(p, t, null_value),
                        "MAPE": masked_mape(p, t, null_value),
                    }
                )
    return pd.DataFrame(rows)
