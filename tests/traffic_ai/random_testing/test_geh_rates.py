"""GEH on known cases and exact Poisson (Garwood) rate intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import poisson

from safety_val.errors import ValidationError
from traffic_ai.random_testing.geh import geh, geh_check, hourly_geh
from traffic_ai.random_testing.rates import event_rate, rate_table


def test_geh_known_values() -> None:
    # GEH = sqrt(2 (M - C)^2 / (M + C))
    np.testing.assert_allclose(geh([150.0, 100.0, 0.0, 1000.0], [100.0, 150.0, 0.0, 1100.0]),
                               [math.sqrt(20.0), math.sqrt(20.0), 0.0, math.sqrt(20000 / 2100)])


def test_geh_check_share_and_criterion() -> None:
    counted = pd.DataFrame({"segment": ["a", "b", "c", "d"], "hour": 0,
                            "flow": [100.0, 400.0, 900.0, 10.0]})
    modelled = pd.DataFrame({"segment": ["a", "b", "c"], "hour": 0,
                             "flow": [150.0, 400.0, 1200.0]})  # d missing: 0 veh/h
    result = geh_check(modelled, counted)
    table = result.table.set_index("segment")
    assert table.loc["d", "modelled"] == 0.0
    assert table.loc["c", "geh"] == pytest.approx(math.sqrt(2 * 300**2 / 2100))  # 9.26
    assert result.share_below == pytest.approx(0.75)  # a 4.47, b 0, d 4.47 pass; c fails
    assert not result.passed
    assert geh_check(modelled, counted, min_count=50.0).share_below == pytest.approx(2 / 3)


def test_hourly_geh_averages_the_windows_of_each_hour() -> None:
    # four 15-minute windows of hour 0 and two of hour 1 (rates in veh/h)
    windows = pd.DataFrame({
        "segment": ["a"] * 6 + ["b"] * 6, "hour": [0, 0, 0, 0, 1, 1] * 2,
        "counted": [100.0, 200.0, 300.0, 400.0, 40.0, 50.0] * 2,
        "modelled": [160.0, 140.0, 380.0, 320.0, 45.0, 45.0,
                     0.0, 0.0, 0.0, 1000.0, 0.0, 0.0],
    })
    result = hourly_geh(windows, min_count=50.0)
    table = result.table.set_index("segment")
    # window GEH of a is up to 5.3, yet its hourly volume matches: 250 against 250
    assert (table.loc["a", "counted"], table.loc["a", "modelled"]) == (250.0, 250.0)
    assert table.loc["a", "geh"] == 0.0
    assert table.loc["b", "modelled"] == 250.0
    # hour 1 (45 veh/h) is below min_count and not compared
    assert (table["hour"] == 0).all() and len(table) == 2
    assert result.share_below == 1.0
    with pytest.raises(ValidationError, match="missing column"):
        hourly_geh(windows.drop(columns="modelled"))


def test_geh_refuses_negative_volumes() -> None:
    with pytest.raises(ValidationError, match="finite and >= 0"):
        geh([-1.0], [10.0])


@pytest.mark.parametrize("k", [0, 1, 7, 40])
def test_garwood_interval_is_exact(k: int) -> None:
    # the bounds are the Poisson means at which observing <= k (>= k) has probability 2.5 %
    rate = event_rate(k, 2.0, confidence=0.95)
    assert rate.rate == k / 2.0
    assert poisson.cdf(k, rate.upper * 2.0) == pytest.approx(0.025, rel=1e-6)
    if k:
        assert poisson.sf(k - 1, rate.lower * 2.0) == pytest.approx(0.025, rel=1e-6)
    else:
        assert rate.lower == 0.0


def test_rate_table_per_type_and_total() -> None:
    events = pd.DataFrame({"event_type": ["collision", "low_ttc", "low_ttc"]})
    table = rate_table(events, distance_km=500.0, hours=10.0).set_index("event_type")
    assert table.loc["all", "events"] == 3
    assert table.loc["low_ttc", "per_1000km"] == pytest.approx(4.0)
    assert table.loc["collision", "per_hour"] == pytest.approx(0.1)
    total = table.loc["all"].to_dict()
    assert total["per_hour_lower"] < 0.3 < total["per_hour_upper"]


def test_rate_refuses_zero_exposure() -> None:
    with pytest.raises(ValidationError, match="exposure"):
        event_rate(1, 0.0)
