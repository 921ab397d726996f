"""Demand from a forecast: edgedata counts, routeSampler routes, the GEH check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import defusedxml.ElementTree as DET
import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from traffic_ai.random_testing.demand import (
    check_demand,
    forecast_to_edgedata,
    random_demand,
    read_edge_counts,
    sample_routes,
)

START = pd.Timestamp("2024-01-03 08:00")


def test_edgedata_counts_are_flows_per_interval(tmp_path: Path) -> None:
    forecast = pd.DataFrame({
        "segment": ["a", "b", "a", "b"],
        "time": [START, START, START + pd.Timedelta("5min"), START + pd.Timedelta("5min")],
        "flow": [120.0, 0.0, 600.0, 59.0],  # veh/h -> 10, 0, 50, 4.9 vehicles per 5 min
    })
    path, duration = forecast_to_edgedata(forecast, tmp_path / "counts.xml")
    assert duration == 600.0
    intervals = DET.parse(str(path)).getroot().findall("interval")
    assert [(i.get("begin"), i.get("end")) for i in intervals] == [("0", "300"), ("300", "600")]
    counts = [{e.get("id"): int(e.get("entered")) for e in i.findall("edge")} for i in intervals]
    assert counts == [{"a": 10}, {"a": 50, "b": 5}]


def test_forecast_on_unknown_segment_is_refused(tmp_path: Path) -> None:
    forecast = pd.DataFrame({"segment": ["nowhere"], "time": [START], "flow": [10.0]})
    with pytest.raises(ValidationError, match="not an edge of the network"):
        forecast_to_edgedata(forecast, tmp_path / "c.xml", segments={"A0B0"})


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """A 3 x 3 grid and, as forecast, the edge counts of 15 min of random trips on it."""
    from traffic_ai.network import generate_network, sumo_binary

    tmp_path = tmp_path_factory.mktemp("counted")
    network = generate_network("grid", tmp_path / "g.net.xml", size=3)
    # target counts that some route set can meet: those of 15 min of random trips
    trips = random_demand(network, tmp_path / "truth", hours=0.25, seed=1,
                          peak_vehicles_per_hour=2000)
    add = tmp_path / "m.add.xml"
    add.write_text('<additional><edgeData id="m" period="300" file="m.xml"/>'
                   '<vType id="traffic"/></additional>')
    subprocess.run([sumo_binary("sumo"), "-n", str(network), "-r", str(trips.routes), "-a",
                    str(add), "--end", "900", "--no-step-log", "--no-warnings"], check=True)
    counts = read_edge_counts(tmp_path / "m.xml", attribute="entered")
    departed = read_edge_counts(tmp_path / "m.xml", attribute="departed")
    forecast = pd.DataFrame({
        "segment": counts["segment"],
        "time": START + pd.to_timedelta(counts["begin"], unit="s"),
        "flow": (counts["count"] + departed["count"]) * 12.0,
    })
    return network, forecast


def test_sampled_routes_reproduce_consistent_counts(
    counted: tuple[Path, pd.DataFrame], tmp_path: Path,
) -> None:
    network, forecast = counted
    demand = sample_routes(network, forecast, tmp_path / "sampled", seed=2)
    result = check_demand(network, demand, forecast, tmp_path / "check", min_count=50.0)
    assert len(result.table) >= 10
    assert result.passed, result.table.sort_values("geh").tail()


def test_optimisation_fits_counts_that_are_not_flow_conserving(
    counted: tuple[Path, pd.DataFrame], tmp_path: Path,
) -> None:
    # a forecast with independent errors per segment and interval (like a GNN's) is not
    # flow-conserving at junctions: no route set meets every count
    network, truth = counted
    rng = np.random.default_rng(3)
    forecast = truth.assign(flow=truth["flow"] * rng.lognormal(0.0, 0.3, len(truth)))
    results = {}
    for optimize in (0, 10):
        demand = sample_routes(network, forecast, tmp_path / f"o{optimize}", seed=2,
                               optimize=optimize)
        results[optimize] = check_demand(network, demand, forecast, tmp_path / f"o{optimize}",
                                         min_count=50.0)
        assert (tmp_path / f"o{optimize}" / "mismatch.edgedata.xml").is_file()
    greedy, fitted = results[0].table, results[10].table
    # sampling alone never exceeds a count, so the under-counted edges stay short ...
    assert greedy["modelled"].sum() < 0.95 * greedy["counted"].sum()
    # ... the linear program trades overshoot against undershoot and meets the criterion
    assert abs(fitted["modelled"].sum() / fitted["counted"].sum() - 1.0) < 0.05
    assert results[10].passed, fitted.sort_values("geh").tail()
    assert results[10].share_below > results[0].share_below


def test_bad_optimisation_level_is_refused(counted: tuple[Path, pd.DataFrame],
                                           tmp_path: Path) -> None:
    network, forecast = counted
    with pytest.raises(ValidationError, match="invalid routeSampler optimisation"):
        sample_routes(network, forecast, tmp_path, optimize=-1)
    assert not any(tmp_path.iterdir())


def test_random_demand_uses_the_edges_of_its_class(district_net: Path, tmp_path: Path) -> None:
    import re

    from traffic_ai.capacity import network_capacity
    from traffic_ai.network import load_road_graph

    demand = random_demand(district_net, tmp_path / "cars", hours=0.25, seed=0)
    assert demand.vclass == "passenger"
    assert demand.peak_vehicles_per_hour == pytest.approx(
        network_capacity(district_net).peak_vehicles_per_hour)
    text = demand.routes.read_text()
    used = {e for r in re.findall(r'edges="([^"]*)"', text) for e in r.split()}
    assert len(re.findall("<vehicle ", text)) > 50
    assert used <= set(load_road_graph(district_net).segments)
    with pytest.raises(ValidationError, match="peak_vehicles_per_hour"):
        random_demand(district_net, tmp_path / "none", hours=0.25, peak_vehicles_per_hour=0.0)


def test_forecast_on_a_footway_is_refused(district_net: Path, tmp_path: Path) -> None:
    forecast = pd.DataFrame({"segment": ["n00_n01", "footway"], "time": [START, START],
                             "flow": [100.0, 50.0]})
    with pytest.raises(ValidationError, match=r"not an edge of the network.*'footway'"):
        sample_routes(district_net, forecast, tmp_path)
