"""``safety-val traffic random-test``: forecast-driven demand, refusals, Ray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from safety_val.cli import main


@pytest.fixture(scope="module")
def grid_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 3 x 3 grid and a small traffic model (baseline members only) trained on it."""
    from traffic_ai.dataset import MacroDataset
    from traffic_ai.ensemble import TrafficModel
    from traffic_ai.network import generate_network, load_road_graph
    from traffic_ai.persistence import save_model
    from traffic_ai.training import TrainConfig

    folder = tmp_path_factory.mktemp("model")
    network = generate_network("grid", folder / "grid.net.xml", size=3)
    graph = load_road_graph(network)
    steps, n = 2 * 288, len(graph.segments)
    rng = np.random.default_rng(0)
    flow = 150 + 60 * np.sin(2 * np.pi * np.arange(steps) / 288)[:, None] + rng.normal(
        0, 5, (steps, n))
    frame = pd.DataFrame({
        "segment": np.tile(np.array(graph.segments, dtype=object), steps),
        "time": np.repeat(pd.date_range("2024-01-01", periods=steps, freq="5min").to_numpy(), n),
        "flow": flow.ravel(), "speed": 12.0, "density": 10.0,
    })
    model = TrafficModel.fit(MacroDataset.from_frame(frame, graph=graph),
                             TrainConfig(backbones=(), baselines=("historical_average",
                                                                  "last_value")))
    return network, save_model(model, folder / "model")


def test_random_test_with_a_model_writes_events_rates_and_geh(
    grid_model: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    network, model = grid_model
    out = tmp_path / "run"
    code = main(["traffic", "random-test", "--network", str(network), "--model", str(model),
                 "--egos", "3", "--hours", "0.05", "--window-minutes", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "GEH < 5 on" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["instances"] == 1 and summary["instances_ok"] == 1
    assert summary["geh"]["segments"] > 0
    assert summary["distance_km"] > 0
    for name in ("events", "states", "instances", "ego_errors"):
        assert (out / f"{name}.parquet").exists()
    rates = pd.read_csv(out / "rates.csv")
    assert rates["event_type"].iloc[-1] == "all"
    assert (out / "demand" / "w0" / "counts.edgedata.xml").exists()


def test_model_of_another_network_is_refused(
    grid_model: tuple[Path, Path], road: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, model = grid_model
    other, _ = road
    code = main(["traffic", "random-test", "--network", str(other), "--model", str(model),
                 "--egos", "1", "--hours", "0.01", "--out", str(tmp_path / "run")])
    assert code == 2
    assert "the model was trained on another network" in capsys.readouterr().err
    assert not (tmp_path / "run" / "events.parquet").exists()


@pytest.mark.ray
def test_random_test_on_ray_without_a_model(
    ray_cluster: Any, grid_model: tuple[Path, Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network, _ = grid_model
    out = tmp_path / "run"
    code = main(["traffic", "random-test", "--network", str(network), "--egos", "2",
                 "--hours", "0.02", "--window-minutes", "0.6", "--peak", "2000",
                 "--executor", "ray", "--workers", "2", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    instances = pd.read_parquet(out / "instances.parquet")
    assert len(instances) == 2  # two 36 s windows, each its own Ray task
    assert set(instances["status"]) == {"ok"}
    assert instances["simulated_s"].sum() == pytest.approx(72.0)
