from pathlib import Path

import pytest
import sumolib

from safety_val.errors import ValidationError
from traffic_ai.network import generate_network, load_road_graph


def test_graph_matches_sumo_network(grid_net: Path) -> None:
    net = sumolib.net.readNet(str(grid_net))
    edges = [e for e in net.getEdges(withInternal=False) if e.getFunction() != "internal"]
    graph = load_road_graph(grid_net)
    # 3 x 3 grid: 12 streets, both directions, no turnarounds
    assert len(graph) == len(edges) == 24
    assert graph.summary()["junctions"] == 9
    expected = {(e.getID(), t.getID()) for e in edges for t in e.getOutgoing()}
    assert set(graph.graph.edges) == expected
    some = edges[0]
    attrs = graph.graph.nodes[some.getID()]
    assert attrs["length"] == pytest.approx(some.getLength())
    assert attrs["lanes"] == some.getLaneNumber()
    assert attrs["speed"] == pytest.approx(some.getSpeed())
    assert attrs["from_junction"] == some.getFromNode().getID()
    adjacency = graph.adjacency()
    assert adjacency.shape == (24, 24)
    assert adjacency.sum() == len(expected)
    i, j = graph.index(some.getID()), graph.index(next(iter(some.getOutgoing())).getID())
    assert adjacency[i, j] == 1.0


def test_signature_identifies_the_network(grid_net: Path, other_net: Path, tmp_path: Path) -> None:
    same = generate_network("grid", tmp_path / "again.net.xml", size=3)
    assert load_road_graph(same).signature() == load_road_graph(grid_net).signature()
    assert load_road_graph(other_net).signature() != load_road_graph(grid_net).signature()


@pytest.mark.parametrize("kind", ["spider", "random"])
def test_generate_other_kinds(kind: str, tmp_path: Path) -> None:
    graph = load_road_graph(generate_network(kind, tmp_path / f"{kind}.net.xml", size=2, seed=1))
    assert len(graph) > 4
    assert graph.summary()["weakly_connected"]


def test_options_reach_netgenerate(tmp_path: Path) -> None:
    net = generate_network("grid", tmp_path / "two.net.xml", size=2, default_lanenumber=2)
    assert {d["lanes"] for _, d in load_road_graph(net).graph.nodes(data=True)} == {2}


def test_not_a_network_names_the_file(tmp_path: Path) -> None:
    routes = tmp_path / "demand.rou.xml"
    routes.write_text("<routes><vType id='car'/></routes>")
    with pytest.raises(ValidationError, match=r"demand\.rou\.xml.*not a SUMO network.*<routes>"):
        load_road_graph(routes)
    garbage = tmp_path / "garbage.net.xml"
    garbage.write_text("this is not xml")
    with pytest.raises(ValidationError, match=r"garbage\.net\.xml.*invalid XML"):
        load_road_graph(garbage)
    with pytest.raises(ValidationError, match="no such file"):
        load_road_graph(tmp_path / "missing.net.xml")


def test_bad_generation_options(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="unknown network kind"):
        generate_network("hexagon", tmp_path / "x.net.xml")
    with pytest.raises(ValidationError, match="netgenerate failed"):
        generate_network("grid", tmp_path / "x.net.xml", size=2, no_such_option=3)
    assert not (tmp_path / "x.net.xml").exists()


def test_district_graph_keeps_only_car_edges_and_counts_the_others(district_net: Path) -> None:
    from tests.traffic_ai.conftest import DISTRICT_BUS_LANES, DISTRICT_EXCLUDED

    graph = load_road_graph(district_net)
    summary = graph.summary()
    assert summary["vclass"] == "passenger"
    assert summary["segments"] == len(graph) == 24  # the car streets, nothing else
    assert dict(graph.excluded) == DISTRICT_EXCLUDED
    assert summary["excluded_edges"] == {"rail": 2, "tram": 2, "bus": 2, "bicycle": 1,
                                         "pedestrian": 2, "other": 0}
    # a guessed sidewalk on each of the 24 streets, a bus lane on 4 of them
    assert summary["restricted_lanes"] == {"rail": 0, "tram": 0, "bus": 4, "bicycle": 0,
                                           "pedestrian": 24, "other": 0}
    street = graph.graph.nodes[DISTRICT_BUS_LANES[0]]
    assert (street["lanes"], street["lanes_total"], street["vclass_lanes"]) == (1, 3, (2,))
    assert street["lane_permissions"][0] == frozenset({"pedestrian"})
    assert street["lane_permissions"][1] == frozenset({"bus"})
    assert "passenger" in street["lane_permissions"][2]
    assert graph.lanes_of(DISTRICT_BUS_LANES[0]) == (f"{DISTRICT_BUS_LANES[0]}_2",)
    # lane-km counts the car lanes only: 24 streets, one car lane each
    lengths = sum(graph.graph.nodes[s]["length"] for s in graph.segments)
    assert summary["lane_km"] == pytest.approx(lengths / 1000.0)
    # arcs only between car streets, and exactly the connections open to cars
    net = sumolib.net.readNet(str(district_net))
    expected = {(e.getID(), c.getToLane().getEdge().getID())
                for e in net.getEdges() if e.getID() in graph.graph
                for lane in e.getLanes() if lane.allows("passenger")
                for c in lane.getOutgoing()
                if c.getToLane().allows("passenger") and c.allows("passenger")}
    assert set(graph.graph.edges) == expected
    assert not {b for _, b in graph.graph.edges} & set(DISTRICT_EXCLUDED)
    segments, _ = graph.to_frames()
    row = segments.set_index("segment").loc[DISTRICT_BUS_LANES[0]]
    assert row["lane_permissions"].startswith("pedestrian | bus | all except ")
    assert row["vclass_lanes"] == "2"


def test_graph_of_another_vehicle_class(district_net: Path) -> None:
    buses = load_road_graph(district_net, vclass="bus")
    assert buses.vclass == "bus"
    assert set(buses.segments) == {*load_road_graph(district_net).segments,
                                   "n10_depot", "depot_n10"}
    assert buses.excluded_by_kind()["bus"] == 0
    assert buses.graph.nodes["n01_n11"]["vclass_lanes"] == (1, 2)  # bus lane and car lane
    # the streets allow every class but pedestrians (netconvert's default), trams too
    trams = load_road_graph(district_net, vclass="tram")
    assert set(trams.segments) == {*load_road_graph(district_net).segments, "tram_e", "tram_w"}
    with pytest.raises(ValidationError, match=r"unknown SUMO vehicle class.*'car'"):
        load_road_graph(district_net, vclass="car")


def test_gzip_network_and_network_without_roads_for_the_class(
    signal_city_gz: Path, tmp_path: Path,
) -> None:
    graph = load_road_graph(signal_city_gz)
    assert len(graph) == 24 and graph.net_file == signal_city_gz
    assert graph.restricted_lanes_by_kind()["pedestrian"] == 24  # guessed sidewalks
    assert graph.summary()["excluded_edges"] == dict.fromkeys(graph.summary()["excluded_edges"], 0)
    footways = tmp_path / "paths.net.xml"
    net = sumolib.net.readNet(str(signal_city_gz))
    assert net.getEdge("A0A1").allows("passenger")
    from traffic_ai.network import sumo_binary

    (tmp_path / "p.nod.xml").write_text(
        '<nodes><node id="a" x="0" y="0"/><node id="b" x="100" y="0"/></nodes>')
    (tmp_path / "p.edg.xml").write_text(
        '<edges><edge id="ab" from="a" to="b" allow="pedestrian"/></edges>')
    import subprocess

    subprocess.run([sumo_binary("netconvert"), "-n", str(tmp_path / "p.nod.xml"), "-e",
                    str(tmp_path / "p.edg.xml"), "-o", str(footways)], check=True,
                   capture_output=True)
    with pytest.raises(ValidationError,
                       match=r"paths\.net\.xml: vclass: no edge of the network allows vehicle "
                             r"class 'passenger'"):
        load_road_graph(footways)
    with pytest.raises(ValidationError, match=r"missing\.net\.xml\.gz: no such file"):
        load_road_graph(tmp_path / "missing.net.xml.gz")


def test_permission_kinds() -> None:
    from traffic_ai.network import permission_kind

    assert permission_kind({"rail", "rail_electric"}) == "rail"
    assert permission_kind({"tram", "bus", "pedestrian"}) == "tram"
    assert permission_kind({"bus", "taxi"}) == "bus"
    assert permission_kind({"bicycle", "pedestrian"}) == "bicycle"
    assert permission_kind({"pedestrian", "wheelchair"}) == "pedestrian"
    assert permission_kind({"delivery"}) == "other"
