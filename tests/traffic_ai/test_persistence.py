import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.dataset import MacroDataset
from traffic_ai.ensemble import TrafficModel
from traffic_ai.forecasting import forecast
from traffic_ai.network import load_road_graph
from traffic_ai.persistence import load_model, save_model
from traffic_ai.training import TrainConfig


@pytest.fixture(scope="module")
def trained(grid_net: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrafficModel]:
    graph = load_road_graph(grid_net)
    table = synthetic_table(graph.segments, graph.adjacency(), days=1.2)
    dataset = MacroDataset.from_frame(table, graph=graph)
    model = TrafficModel.fit(
        dataset, TrainConfig(epochs=1, hidden=4, epoch_windows=16, min_blocks=2, device="cpu")
    )
    folder = save_model(model, tmp_path_factory.mktemp("model") / "m")
    return folder, model


def test_round_trip_gives_identical_forecasts(grid_net: Path, trained: tuple) -> None:
    folder, model = trained
    loaded = load_model(folder)
    assert loaded.signature == model.signature
    assert list(loaded.members) == list(model.members) == model.member_names
    np.testing.assert_array_equal(loaded.meta.selected_, model.meta.selected_)
    np.testing.assert_array_equal(loaded.meta.weights_, model.meta.weights_)
    np.testing.assert_array_equal(loaded.meta.blocks_, model.meta.blocks_)
    # NaN (a candidate not tested) survives the JSON round trip as null
    assert np.isnan(model.meta.p_values_).any()
    np.testing.assert_array_equal(loaded.meta.p_values_, model.meta.p_values_)
    assert model.meta.p_worse_.shape == model.meta.p_values_.shape
    np.testing.assert_array_equal(loaded.meta.p_worse_, model.meta.p_worse_)
    np.testing.assert_array_equal(loaded.meta.candidate_mae_, model.meta.candidate_mae_)
    assert loaded.training_log == model.training_log
    assert loaded.combiner_table() == model.combiner_table()
    # every backbone is deployed as its two fold fits, each restored
    for name in model.config.backbones:
        assert len(loaded.members[name].fits) == len(model.members[name].fits) == 2  # type: ignore[attr-defined]
    before = forecast(model, grid_net, "2024-01-03 06:00", 2)
    after = forecast(folder, grid_net, "2024-01-03 06:00", 2)
    pd.testing.assert_frame_equal(before, after)
    graph = load_road_graph(grid_net)
    assert list(after.columns) == ["segment", "time", "flow", "speed", "density"]
    assert len(after) == 24 * len(graph)
    assert set(after["segment"]) == set(graph.segments)
    assert after["time"].min() == pd.Timestamp("2024-01-03 06:00")
    assert (after[["flow", "speed", "density"]] >= 0).all().all()
    assert np.isfinite(after[["flow", "speed", "density"]].to_numpy()).all()


def test_model_refuses_another_network(other_net: Path, trained: tuple) -> None:
    folder, _ = trained
    with pytest.raises(ValidationError, match=r"s\.net\.xml.*trained on another network"):
        forecast(folder, other_net, "2024-01-03", 1)


def test_not_a_model_folder(tmp_path: Path, trained: tuple) -> None:
    with pytest.raises(ValidationError, match="not a traffic model folder"):
        load_model(tmp_path)
    folder, _ = trained
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text((folder / "model.json").read_text())
    (broken / "weights.pt").write_bytes(b"\x80\x04not a torch file")
    with pytest.raises(ValidationError, match="unreadable weights"):
        load_model(broken)


def test_model_of_another_version_is_refused(tmp_path: Path, trained: tuple) -> None:
    folder, _ = trained
    old = tmp_path / "old"
    old.mkdir()
    meta = json.loads((folder / "model.json").read_text())
    meta["version"] = 2
    (old / "model.json").write_text(json.dumps(meta))
    (old / "weights.pt").write_bytes((folder / "weights.pt").read_bytes())
    with pytest.raises(ValidationError, match="unsupported model version"):
        load_model(old)
