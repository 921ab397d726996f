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
