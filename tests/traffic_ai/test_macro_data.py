from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from traffic_ai.dataset import MacroDataset
from traffic_ai.macro_data import (
    DemandProfile,
    SimulationWarning,
    load_macro_data,
    load_metr_la,
    read_macro_metadata,
    simulate_macro_data,
)
from traffic_ai.network import load_road_graph


def test_simulated_data_has_every_segment_and_interval(grid_net: Path, tmp_path: Path) -> None:
    out = tmp_path / "macro.parquet"
    profile = DemandProfile(incidents_per_day=40.0, routes=10)
    simulate_macro_data(grid_net, out, days=2 / 24, start="2024-01-01 07:00", profile=profile)
    table = load_macro_data(out)
    graph = load_road_graph(grid_net)
    assert list(table.columns) == [
        "segment",
        "time",
        "flow",
        "speed",
        "density",
        "incident",
        "lanes_closed",
    ]
    assert set(table["segment"]) == set(graph.segments)
    times = pd.DatetimeIndex(sorted(table["time"].unique()))
    assert len(times) == 24
    assert times[0] == pd.Timestamp("2024-01-01 07:00")
    assert (times[1:] - times[:-1] == pd.Timedelta(minutes=5)).all()
    assert len(table) == 24 * len(graph)
    assert not table[["flow", "speed", "density"]].isna().any().any()
    assert (table["flow"] >= 0).all() and (table["density"] >= 0).all()
    assert table["flow"].sum() > 0  # morning traffic moved
    dataset = MacroDataset.from_frame(table, graph=graph)
    assert dataset.gaps.missing_values == 0
    # incidents restrict the speed limit on their segment
    limits = table["segment"].map({s: graph.graph.nodes[s]["speed"] for s in graph.segments})
    hit = table["incident"] & (table["flow"] > 0)
    if hit.any():
        assert (table.loc[hit, "speed"] < limits[hit]).all()


def test_incidents_close_lanes_of_multilane_segments(tmp_path: Path) -> None:
    from traffic_ai.network import generate_network

    net = generate_network("grid", tmp_path / "two.net.xml", size=2, default_lanenumber=2)
    out = tmp_path / "macro.parquet"
    profile = DemandProfile(incidents_per_day=200.0, routes=4)
    simulate_macro_data(net, out, days=1 / 24, start="2024-01-01 08:00", profile=profile)
    table = load_macro_data(out)
    assert table["incident"].any()
    assert set(table.loc[table["incident"], "lanes_closed"]) == {1}
    assert (table.loc[~table["incident"], "lanes_closed"] == 0).all()


def test_demand_profile_has_weekday_peaks_and_quiet_weekends() -> None:
    profile = DemandProfile()
    hours = np.array([3.0, 8.0, 12.0, 17.5])
    inbound, outbound = profile.rates(hours, np.zeros(4, dtype=bool))
    assert inbound.argmax() == 1 and outbound.argmax() == 3
    weekend_in, _ = profile.rates(hours, np.ones(4, dtype=bool))
    assert weekend_in.max() < inbound.max()


def write_metr_la(folder: Path, sensors: list[str], steps: int) -> Path:
    """The pandas fixed HDF5 layout of metr-la.h5, written with h5py."""
    times = pd.date_range("2012-03-01", periods=steps, freq="5min")
    values = np.arange(steps * len(sensors), dtype=float).reshape(steps, len(sensors)) % 60 + 1
    values[2, 1] = 0.0  # missing reading
    path = folder / "speeds.h5"
    with h5py.File(path, "w") as handle:
        group = handle.create_group("df")
        names = np.array([s.encode() for s in sensors])
        group["axis0"] = names
        group["axis1"] = times.as_unit("ns").asi8  # pandas stores nanoseconds
        group["block0_items"] = names
        group["block0_values"] = values
    return path


def test_metr_la_layout_csv_and_npz(tmp_path: Path) -> None:
    sensors = ["773869", "767541", "767542"]
    speeds = write_metr_la(tmp_path, sensors, 10)
    csv = tmp_path / "distances.csv"
    csv.write_text("from,to,cost\n773869,767541,100\n767541,767542,200\n767542,773869,5000\n")
    table, weights, signature = load_metr_la(speeds, csv)
    assert table.shape == (30, 3)
    assert np.isnan(table.loc[(table["segment"] == "767541"), "speed"].iloc[2])
    sigma = np.std([0.0, 100.0, 200.0, 5000.0, 0.0, 0.0])
    assert weights[0, 1] == pytest.approx(np.exp(-((100 / sigma) ** 2)))
    assert weights[2, 0] == 0.0  # far apart: below the threshold
    npz = tmp_path / "adj.npz"
    np.savez(npz, sensor_ids=np.array(sensors[::-1]), adjacency=weights[::-1, ::-1])
    _, from_npz, signature_npz = load_metr_la(speeds, npz)
    np.testing.assert_allclose(from_npz, weights)
    assert signature_npz == signature
    dataset = MacroDataset.from_frame(table, adjacency=weights, signature=signature)
    assert dataset.channels == ("speed",)
    assert dataset.gaps.missing_values == 1


def test_metr_la_adjacency_of_wrong_size(tmp_path: Path) -> None:
    speeds = write_metr_la(tmp_path, ["1", "2", "3"], 5)
    npz = tmp_path / "adj.npz"
    np.savez(npz, sensor_ids=np.array(["1", "2"]), adjacency=np.eye(2))
    with pytest.raises(ValidationError, match=r"adj\.npz.*adjacency size does not match"):
        load_metr_la(speeds, npz)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, sensor_ids=np.array([{"a": 1}], dtype=object), adjacency=np.eye(1))
    with pytest.raises(ValidationError, match="cannot read the adjacency"):
        load_metr_la(speeds, pickled)


def test_not_a_macro_table(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("nope")
    with pytest.raises(ValidationError, match=r"bad\.parquet.*not a Parquet"):
        load_macro_data(bad)
    table = tmp_path / "t.parquet"
    pd.DataFrame({"segment": ["a"], "when": [1]}).to_parquet(table)
    with pytest.raises(ValidationError, match="missing columns"):
        load_macro_data(table)


def test_district_data_from_the_cli_uses_car_segments_and_records_metadata(
    district_net: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A district with footways, tracks and a bus-only street: only car segments carry the
    demand and the incidents; the peak comes from the network's capacity."""
    from safety_val.cli import main
    from tests.traffic_ai.conftest import DISTRICT_EXCLUDED
    from traffic_ai.capacity import network_capacity

    out = tmp_path / "district.parquet"
    code = main(["traffic", "simulate-data", str(district_net), "--out", str(out),
                 "--days", str(2 / 24), "--incidents", "60"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    graph = load_road_graph(district_net)
    peak = network_capacity(graph).peak_vehicles_per_hour
    assert f"demand: peak {peak:,.0f} veh/h (u 0.6 x min(" in printed
    assert "closed to it: 2 rail, 2 tram, 2 bus, 1 bicycle, 2 pedestrian edges" in printed
    assert "network not saturated" in printed
    table = load_macro_data(out)
    assert set(table["segment"]) == set(graph.segments)
    assert not set(table["segment"]) & set(DISTRICT_EXCLUDED)
    metadata = read_macro_metadata(out)
    assert table.attrs["simulation"] == metadata
    assert metadata["demand"]["peak_source"] == "network capacity"
    assert metadata["demand"]["peak_vehicles_per_hour"] == pytest.approx(peak)
    assert metadata["network_summary"]["excluded_edges"]["pedestrian"] == 2
    assert metadata["sumo"]["teleports"] == 0 and metadata["sumo"]["inserted"] > 0
    assert not metadata["saturation"]["saturated"]
    # every car street has one car lane beside its sidewalk (lane 0): an incident slows
    # the car lane down, not the sidewalk
    limits = table["segment"].map({s: graph.graph.nodes[s]["speed"] for s in graph.segments})
    relative = table["speed"] / limits
    hit = table["incident"] & (table["flow"] > 0)
    free = ~table["incident"] & (table["flow"] > 0)
    assert hit.sum() >= 3
    assert relative[hit].median() < 0.5 < 0.8 < relative[free].median()
    dataset = MacroDataset.from_frame(table, graph=graph)
    assert dataset.metadata == metadata and dataset.saturated is False


def test_oversaturated_network_warns_and_says_so_in_the_metadata(
    grid_net: Path, tmp_path: Path,
) -> None:
    out = tmp_path / "jam.parquet"
    profile = DemandProfile(peak_vehicles_per_hour=6000.0, incidents_per_day=0.0, routes=10)
    with pytest.warns(SimulationWarning) as record:
        simulate_macro_data(grid_net, out, days=1 / 24, start="2024-01-01 07:30",
                            profile=profile)
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert messages[0].startswith("grid.net.xml: network SATURATED on 1 of 1 days")
    assert messages[1].startswith("grid.net.xml: SUMO: ")
    assert messages[1].endswith("vehicles teleported or dropped")
    metadata = read_macro_metadata(out)
    assert metadata["demand"] | {"capacity": None} == {
        "peak_vehicles_per_hour": 6000.0, "peak_source": "given", "capacity": None,
        "routes": 10, "incidents": 0}
    day = metadata["saturation"]["days"][0]
    assert day["share"] > 0.5 and metadata["saturation"]["saturated"]
    assert metadata["sumo"]["discarded"] > 0 and metadata["sumo"]["flagged"]
    dataset = MacroDataset.from_frame(load_macro_data(out), graph=load_road_graph(grid_net))
    assert dataset.saturated is True


def test_demand_follows_the_calendar_time_of_the_start() -> None:
    """Simulation second 0 is ``start``: a run from 07:00 gets the morning demand."""
    from traffic_ai.macro_data import _write_demand

    assert _write_demand.__doc__ and "calendar" in _write_demand.__doc__
    profile = DemandProfile()
    morning, _ = profile.rates(np.array([7.125]), np.array([False]))
    night, _ = profile.rates(np.array([0.125]), np.array([False]))
    assert morning[0] > 5 * night[0]
