"""The network capacity and the default peak demand: known answers on small networks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from safety_val.errors import ValidationError
from traffic_ai.capacity import (
    JUNCTION_CAPACITY,
    LANE_CAPACITY,
    UTILISATION,
    NetworkCapacity,
    conflict_junctions,
    network_capacity,
)
from traffic_ai.network import load_road_graph, sumo_binary


def _line(folder: Path) -> Path:
    """Three junctions on a straight line, 400 m apart, one lane each way (4 edges)."""
    (folder / "l.nod.xml").write_text(
        '<nodes><node id="a" x="0" y="0"/><node id="b" x="400" y="0"/>'
        '<node id="c" x="800" y="0"/></nodes>')
    (folder / "l.edg.xml").write_text(
        '<edges><edge id="ab" from="a" to="b"/><edge id="ba" from="b" to="a"/>'
        '<edge id="bc" from="b" to="c"/><edge id="cb" from="c" to="b"/></edges>')
    out = folder / "line.net.xml"
    subprocess.run([sumo_binary("netconvert"), "-n", str(folder / "l.nod.xml"), "-e",
                    str(folder / "l.edg.xml"), "--no-turnarounds", "-o", str(out)],
                   check=True, capture_output=True)
    return out


def test_bounds_and_peak_follow_the_formula() -> None:
    capacity = NetworkCapacity("passenger", lane_km=10.0, junctions=8, mean_trip_km=2.0,
                               mean_junctions_per_trip=4.0, busiest_junction_share=0.5)
    assert capacity.link_bound == pytest.approx(LANE_CAPACITY * 10.0 / 2.0)  # 4,500
    assert capacity.junction_bound == pytest.approx(JUNCTION_CAPACITY / 0.5)  # 3,600
    assert capacity.uniform_junction_bound == pytest.approx(JUNCTION_CAPACITY * 8 / 4.0)
    assert capacity.peak_vehicles_per_hour == pytest.approx(UTILISATION * 3600.0)
    assert capacity.to_dict()["peak_vehicles_per_hour"] == capacity.peak_vehicles_per_hour
    assert "busiest of 8 junctions" in capacity.describe()


def test_line_has_no_conflict_junction_and_a_known_link_bound(tmp_path: Path) -> None:
    graph = load_road_graph(_line(tmp_path))
    assert conflict_junctions(graph) == set()  # b has two arms: a bend, not a junction
    capacity = network_capacity(graph)
    # the only trips: ab -> bc and cb -> ba, each the length of two edges
    lengths = {s: graph.graph.nodes[s]["length"] for s in graph.segments}
    trip_km = (lengths["ab"] + lengths["bc"] + lengths["cb"] + lengths["ba"]) / 2 / 1000.0
    assert capacity.mean_trip_km == pytest.approx(trip_km)
    assert capacity.lane_km == pytest.approx(sum(lengths.values()) / 1000.0)
    assert capacity.junctions == 0 and capacity.junction_bound == float("inf")
    assert capacity.link_bound == pytest.approx(LANE_CAPACITY * capacity.lane_km / trip_km)
    assert capacity.peak_vehicles_per_hour == pytest.approx(UTILISATION * capacity.link_bound)


def test_grid_junction_loads(grid_net: Path) -> None:
    graph = load_road_graph(grid_net)
    assert len(conflict_junctions(graph)) == 5  # the centre and the four edge midpoints
    capacity = network_capacity(graph, seed=0)
    assert capacity == network_capacity(graph, seed=0)  # seeded
    # every trip crosses the busiest junction at most once: its share is at most 1 and at
    # least the mean share of a junction
    uniform = capacity.mean_junctions_per_trip / capacity.junctions
    assert uniform <= capacity.busiest_junction_share <= 1.0
    assert capacity.junction_bound <= capacity.uniform_junction_bound
    doubled = network_capacity(graph, seed=0, utilisation=1.0, lane_capacity=2 * LANE_CAPACITY)
    assert doubled.link_bound == pytest.approx(2 * capacity.link_bound)


def test_district_capacity_counts_car_lanes_only(district_net: Path) -> None:
    capacity = network_capacity(district_net)
    graph = load_road_graph(district_net)
    assert capacity.lane_km == pytest.approx(graph.summary()["lane_km"])
    assert capacity.junctions == 5  # footway, steps and tracks add no car junction


def test_bad_options(grid_net: Path) -> None:
    with pytest.raises(ValidationError, match="utilisation"):
        network_capacity(grid_net, utilisation=1.5)
    with pytest.raises(ValidationError, match="lane_capacity"):
        network_capacity(grid_net, lane_capacity=0.0)
