import numpy as np
import pytest

from traffic_ai.metrics import horizon_table, masked_mae, masked_mape, masked_rmse


def test_masked_metrics_ignore_missing_and_zero() -> None:
    truth = np.array([10.0, 0.0, np.nan, 20.0])
    prediction = np.array([12.0, 99.0, 99.0, 17.0])
    assert masked_mae(prediction, truth) == pytest.approx(2.5)
    assert masked_rmse(prediction, truth) == pytest.approx(np.sqrt((4 + 9) / 2))
    assert masked_mape(prediction, truth) == pytest.approx(100 * (0.2 + 0.15) / 2)
    # without the zero mask a 0 is a valid observation for MAE but never for MAPE
    assert masked_mae(prediction, truth, null_value=None) == pytest.approx((2 + 99 + 3) / 3)
    assert masked_mape(prediction, truth, null_value=None) == pytest.approx(17.5)
    assert np.isnan(masked_mae(prediction, np.full(4, np.nan)))


def test_horizon_table_reads_steps_3_6_12() -> None:
    truth = np.zeros((2, 12, 1, 1)) + 10.0
    prediction = truth + np.arange(12)[None, :, None, None]
    table = horizon_table({"m": prediction}, truth, ("speed",))
    assert list(table["horizon"]) == ["15 min", "30 min", "60 min"]
    assert list(table["MAE"]) == [2.0, 5.0, 11.0]
