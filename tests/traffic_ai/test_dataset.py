from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from tests.traffic_ai.conftest import synthetic_table
from traffic_ai.dataset import MacroDataset
from traffic_ai.metrics import masked_mae
from traffic_ai.network import load_road_graph


def test_gaps_and_missing_segments_are_reported_not_filled(grid_net: Path) -> None:
    graph = load_road_graph(grid_net)
    table = synthetic_table(graph.segments, graph.adjacency(), days=0.5)
    times = sorted(table["time"].unique())
    absent = graph.segments[0]
    holes = table[(table["segment"] != absent) & (table["time"] != times[10])].copy()
    holes.loc[holes.index[:5], "speed"] = np.nan
    dataset = MacroDataset.from_frame(holes, graph=graph)
    assert dataset.gaps.missing_segments == (absent,)
    assert dataset.gaps.missing_intervals == 1
    t, n, c = dataset.values.shape
    expected = t * c + (n - 1) * c + 5  # absent segment + absent interval + 5 NaN speeds
    assert dataset.gaps.missing_values == expected
    assert np.isnan(dataset.values[10]).all()
    assert np.isnan(dataset.values[:, graph.index(absent)]).all()
    assert "1 segments without data" in dataset.gaps.describe()
    # metrics mask the gaps rather than counting them as zeros
    truth = dataset.values
    prediction = np.where(np.isnan(truth), 1e6, truth + 1.0)
    assert masked_mae(prediction, truth) == pytest.approx(1.0)


def test_adjacency_must_match_the_data() -> None:
    table = synthetic_table(("a", "b", "c"), np.ones((3, 3)) - np.eye(3), days=0.1)
    with pytest.raises(ValidationError, match=r"adjacency size does not match.*\(2, 2\)"):
        MacroDataset.from_frame(table, adjacency=np.eye(2))


def test_segments_outside_the_graph(grid_net: Path) -> None:
    graph = load_road_graph(grid_net)
    table = synthetic_table(("nowhere",), np.zeros((1, 1)), days=0.1)
    with pytest.raises(ValidationError, match=r"segments not in the road graph.*nowhere"):
        MacroDataset.from_frame(table, graph=graph, file="x.parquet")


def test_times_off_the_5_minute_grid() -> None:
    table = pd.DataFrame(
        {
            "segment": ["a", "a"],
            "time": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:07"]),
            "speed": [1.0, 2.0],
        }
    )
    with pytest.raises(ValidationError, match="5-minute grid"):
        MacroDataset.from_frame(table, adjacency=np.zeros((1, 1)))
