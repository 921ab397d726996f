"""Random testing on networks in the format of real city maps.

The district has bus lanes and a bus-only street, a footway, steps, a cycleway, tram and
rail tracks, sidewalks and crossings; the signalised city has sidewalks and crossings and
is gzip-compressed. Before vehicle classes were honoured, every instance on such networks
failed ("Invalid departure edge for vehicle type 'DEFAULT_VEHTYPE'") and the command still
exited 0.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from safety_val.cli import main
from tests.traffic_ai.conftest import DISTRICT_EXCLUDED
from traffic_ai.network import load_road_graph


@pytest.mark.parametrize("fixture", ["district_net", "signal_city_gz"])
def test_random_test_runs_every_instance(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network: Path = request.getfixturevalue(fixture)
    out = tmp_path / "run"
    code = main(["traffic", "random-test", "--network", str(network), "--egos", "3",
                 "--hours", "0.006", "--regions", "2", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "SUMO instances: 2 ok, 0 failed" in printed.out
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["instances"], summary["instances_ok"], summary["instances_failed"]) == (
        2, 2, 0)
    assert summary["failed"] == [] and summary["vclass"] == "passenger"
    graph = load_road_graph(network)
    assert summary["network_summary"]["excluded_edges"] == graph.excluded_by_kind()
    assert summary["demand"]["peak_source"] == "network capacity"
    instances = pd.read_parquet(out / "instances.parquet")
    assert (instances["distance_km"] > 0).all()
    assert (instances["sumo_inserted"] > 0).all()
    assert (instances["sumo_invalid_routes"] == 0).all()
    assert summary["sumo"]["invalid_routes"] == 0
    routes = (out / "demand" / "w0" / "demand.rou.xml").read_text()
    used = {e for r in re.findall(r'edges="([^"]*)"', routes) for e in r.split()}
    assert used and used <= set(graph.segments)
    assert "<vType" not in routes  # the runner defines the traffic type


def test_egos_start_only_on_edges_open_to_their_class(district_net: Path) -> None:
    import libsumo

    from traffic_ai.random_testing.runner import _edges_open_to

    libsumo.start(["sumo", "-n", str(district_net), "--no-step-log", "true"])
    try:
        cars = set(_edges_open_to("passenger"))
        buses = set(_edges_open_to("bus"))
    finally:
        libsumo.close()
    assert cars == set(load_road_graph(district_net).segments)
    assert not cars & set(DISTRICT_EXCLUDED)
    assert buses == set(load_road_graph(district_net, vclass="bus").segments)
