"""Planning a random test from a traffic model: demand per window, GEH per window and hour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from traffic_ai.random_testing.geh import geh
from traffic_ai.random_testing.plan import plan_random_test


@pytest.fixture(scope="module")
def uneven_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3 x 3 grid and a baseline model of flows that are not flow-conserving.

    Every segment has its own level (60 to 400 veh/h) with a daily cycle, so the
    forecast's inflow and outflow of a junction differ, as with a GNN's forecast.
    """
    from traffic_ai.dataset import MacroDataset
    from traffic_ai.ensemble import TrafficModel
    from traffic_ai.network import generate_network, load_road_graph
    from traffic_ai.persistence import save_model
    from traffic_ai.training import TrainConfig

    folder = tmp_path_factory.mktemp("plan")
    network = generate_network("grid", folder / "grid.net.xml", size=3)
    graph = load_road_graph(network)
    steps, n = 2 * 288, len(graph.segments)
    rng = np.random.default_rng(0)
    level = rng.uniform(60.0, 400.0, n)
    flow = level * (1.0 + 0.3 * np.sin(2 * np.pi * np.arange(steps) / 288))[:, None]
    frame = pd.DataFrame({
        "segment": np.tile(np.array(graph.segments, dtype=object), steps),
        "time": np.repeat(pd.date_range("2024-01-01", periods=steps, freq="5min").to_numpy(), n),
        "flow": flow.ravel(), "speed": 12.0, "density": 10.0,
    })
    model = TrafficModel.fit(MacroDataset.from_frame(frame, graph=graph),
                             TrainConfig(backbones=(), baselines=("historical_average",)))
    return network, save_model(model, folder / "model")


def test_plan_checks_each_window_and_the_hour_by_geh(
    uneven_model: tuple[Path, Path], tmp_path: Path,
) -> None:
    network, model = uneven_model
    plan = plan_random_test(network, tmp_path, model=model, egos=1, hours=0.5,
                            window_minutes=15.0, min_count=50.0)
    assert len(plan.specs) == len(plan.demands) == 2
    assert plan.geh is not None and plan.geh_hourly is not None
    assert plan.notes == {"min_count": 50.0}
    windows = plan.geh.table
    assert set(windows["window"]) == {0, 1}
    assert (windows["hour"] == 0).all()
    assert windows["counted"].min() >= 50.0
    assert plan.geh.share_below == pytest.approx(float(np.mean(windows["geh"] < 5.0)))
    # the hourly volumes are the means of the two 15-minute windows of the half hour
    hourly = plan.geh_hourly.table.set_index("segment")
    both = windows.groupby("segment").filter(lambda g: len(g) == 2)
    means = both.groupby("segment")[["counted", "modelled"]].mean()
    np.testing.assert_allclose(hourly.loc[means.index, "counted"], means["counted"])
    np.testing.assert_allclose(hourly.loc[means.index, "modelled"], means["modelled"])
    np.testing.assert_allclose(hourly["geh"], geh(hourly["modelled"], hourly["counted"]))
    # routeSampler's optimisation meets the non-conserving forecast
    assert len(hourly) >= 12
    assert plan.geh.passed, windows.sort_values("geh").tail()
    assert plan.geh_hourly.passed


def test_plan_without_counted_segments_is_refused(
    uneven_model: tuple[Path, Path], tmp_path: Path,
) -> None:
    network, model = uneven_model
    with pytest.raises(ValidationError, match="no counted segment"):
        plan_random_test(network, tmp_path, model=model, egos=1, hours=0.25,
                         window_minutes=15.0, min_count=1e6)
