"""Evaluate a trained macro model and its members on the test period of a dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd

from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import TrafficModel
from traffic_ai.metrics import horizon_table

__all__ = ["evaluate_model"]


def evaluate_model(model: TrafficModel, dataset: MacroDataset) -> pd.DataFrame:
    """Masked MAE, RMSE, MAPE per model (members and ``stacking``), channel and horizon.

    Forecast origins are all those of the last ``config.test_share`` of the dataset whose
    windows lie inside it; missing observations are masked (and counted in
    ``dataset.gaps``), never filled, and so are those equal to the model's
    ``config.null_value`` (the same observations its combiner was chosen on).

    Returns
    -------
    pandas.DataFrame
        See :func:`traffic_ai.metrics.horizon_table`.
    """
    config = model.config
    _, test_period = dataset.split(config.test_share)
    origins = dataset.window_starts(test_period, config.history, config.horizon)
    forecasts = model.predict_all(dataset, origins)
    truth = dataset.values[origins[:, None] + np.arange(config.horizon)]
    return horizon_table(forecasts, truth, dataset.channels, null_value=config.null_value)
