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


def test_failed_instance_exits_1_with_its_first_error(
    grid_net: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One of two instances fails on every attempt: both are in the summary, exit code 1."""
    from traffic_ai.random_testing import runner

    simulate = runner._simulate
    attempts: list[str] = []

    def failing(spec: runner.InstanceSpec) -> runner.InstanceResult:
        if spec.instance_id == "s0w1r0":
            attempts.append(spec.instance_id)
            raise RuntimeError(f"boom {len(attempts)}")
        return simulate(spec)

    monkeypatch.setattr(runner, "_simulate", failing)
    out = tmp_path / "run"
    code = main(["traffic", "random-test", "--network", str(grid_net), "--egos", "1",
                 "--hours", "0.004", "--window-minutes", "0.12", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 1
    assert "SUMO instances: 1 ok, 1 failed" in printed.out
    assert ("error: 1 of 2 instances failed after their retries (first: s0w1r0: "
            "RuntimeError: boom 1)") in printed.err
    assert "instance s0w1r0 error after 3 attempts; first error: RuntimeError: boom 1" \
        in printed.err
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["instances"], summary["instances_ok"], summary["instances_failed"]) == (
        2, 1, 1)
    assert summary["failed"] == [{"instance_id": "s0w1r0", "status": "error", "attempts": 3,
                                  "first_error": "RuntimeError: boom 1",
                                  "message": "RuntimeError: boom 3"}]
    instances = pd.read_parquet(out / "instances.parquet").set_index("instance_id")
    assert instances.loc["s0w0r0", "first_error"] == ""


def test_bad_input_exits_2(road: tuple[Path, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    from traffic_ai.network import sumo_binary

    (tmp_path / "p.nod.xml").write_text(
        '<nodes><node id="a" x="0" y="0"/><node id="b" x="300" y="0"/></nodes>')
    (tmp_path / "p.edg.xml").write_text(
        '<edges><edge id="ab" from="a" to="b" allow="pedestrian"/>'
        '<edge id="ba" from="b" to="a" allow="pedestrian"/></edges>')
    footways = tmp_path / "footways.net.xml"
    subprocess.run([sumo_binary("netconvert"), "-n", str(tmp_path / "p.nod.xml"), "-e",
                    str(tmp_path / "p.edg.xml"), "-o", str(footways)], check=True,
                   capture_output=True)
    out = tmp_path / "run"
    code = main(["traffic", "random-test", "--network", str(footways), "--egos", "1",
                 "--hours", "0.01", "--out", str(out)])
    assert code == 2
    assert ("footways.net.xml: vclass: no edge of the network allows vehicle class "
            "'passenger'") in capsys.readouterr().err
    assert not (out / "summary.json").exists()
    network, _ = road
    code = main(["traffic", "random-test", "--network", str(network), "--vclass", "car",
                 "--hours", "0.01", "--out", str(out)])
    assert code == 2
    assert "vclass: unknown SUMO vehicle class (got 'car'" in capsys.readouterr().err
