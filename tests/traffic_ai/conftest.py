"""Fixtures of the traffic_ai tests: tiny SUMO networks and a synthetic macro dataset.

Besides generated grids, two networks in the format of real city maps: a district built
with netconvert from hand-written node, edge and type files (OpenStreetMap type names; bus
lanes, a bus-only street, footway, steps, cycleway, tram and rail tracks, sidewalks and
crossings guessed by netconvert) and a signalised grid with sidewalks and crossings,
written gzip-compressed.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sumolib")


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One thread per test: the machine is shared and the tensors are tiny."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def grid_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 x 3 grid from netgenerate (24 segments)."""
    from traffic_ai.network import generate_network

    return generate_network("grid", tmp_path_factory.mktemp("net") / "grid.net.xml", size=3)


@pytest.fixture(scope="session")
def other_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A different network (spider) for the refusal tests."""
    from traffic_ai.network import generate_network

    return generate_network("spider", tmp_path_factory.mktemp("net2") / "s.net.xml", size=2)


#: OpenStreetMap-like edge types of the district (netconvert type file).
DISTRICT_TYPES = """<types>
  <type id="highway.residential" priority="3" numLanes="1" speed="13.89"/>
  <type id="highway.busway" priority="2" numLanes="1" speed="13.89" allow="bus"/>
  <type id="highway.footway" priority="1" numLanes="1" speed="2.78" width="2" allow="pedestrian"/>
  <type id="highway.steps" priority="1" numLanes="1" speed="1.25" width="2" allow="pedestrian"/>
  <type id="highway.cycleway" priority="1" numLanes="1" speed="8.33" width="2" allow="bicycle"/>
  <type id="railway.tram" priority="1" numLanes="1" speed="13.89" allow="tram"/>
  <type id="railway.rail" priority="1" numLanes="1" speed="33.33" allow="rail"/>
</types>
"""

#: What the district holds besides its 24 car streets (edge id -> kind closed to cars).
DISTRICT_EXCLUDED = {
    "n10_depot": "bus", "depot_n10": "bus", "tram_e": "tram", "tram_w": "tram",
    "rail_e": "rail", "rail_w": "rail", "footway": "pedestrian", "steps": "pedestrian",
    "cycleway": "bicycle",
}
#: The car streets with a bus lane (lane 0) beside the car lane (lane 1).
DISTRICT_BUS_LANES = ("n01_n11", "n11_n01", "n11_n21", "n21_n11")


def build_district(folder: Path, *, name: str = "district.net.xml") -> Path:
    """A 3 x 3 district (200 m blocks) with restricted edges, built by netconvert.

    Car streets ``n{i}{j}_n{k}{l}`` both ways (24 edges, one car lane; the middle east-west
    street has a bus lane beside it), a bus-only street to a depot, a tram line, a rail
    line, a footway, steps and a cycleway; netconvert guesses a sidewalk for every edge
    of urban speed and crossings at the junctions.
    """
    from traffic_ai.network import sumo_binary

    nodes = [f'  <node id="n{i}{j}" x="{200 * i}" y="{200 * j}" type="priority"/>'
             for i in range(3) for j in range(3)]
    nodes += ['  <node id="depot" x="200" y="-200"/>', '  <node id="t0" x="0" y="600"/>',
              '  <node id="t1" x="400" y="600"/>', '  <node id="r0" x="-100" y="-350"/>',
              '  <node id="r1" x="500" y="-350"/>', '  <node id="p0" x="600" y="0"/>',
              '  <node id="p1" x="600" y="200"/>']
    edges = []
    for i in range(3):
        for j in range(3):
            for di, dj in ((1, 0), (0, 1)):
                if i + di > 2 or j + dj > 2:
                    continue
                a, b = f"n{i}{j}", f"n{i + di}{j + dj}"
                for x, y in ((a, b), (b, a)):
                    head = f'  <edge id="{x}_{y}" from="{x}" to="{y}" type="highway.residential"'
                    if f"{x}_{y}" in DISTRICT_BUS_LANES:
                        edges.append(head + ' numLanes="2"><lane index="0" allow="bus"/></edge>')
                    else:
                        edges.append(head + "/>")
    extra = {"n10_depot": ("n10", "depot", "highway.busway"),
             "depot_n10": ("depot", "n10", "highway.busway"),
             "tram_e": ("t0", "t1", "railway.tram"), "tram_w": ("t1", "t0", "railway.tram"),
             "rail_e": ("r0", "r1", "railway.rail"), "rail_w": ("r1", "r0", "railway.rail"),
             "footway": ("n20", "p0", "highway.footway"),
             "steps": ("p0", "p1", "highway.steps"),
             "cycleway": ("p1", "n21", "highway.cycleway")}
    edges += [f'  <edge id="{e}" from="{a}" to="{b}" type="{t}"/>'
              for e, (a, b, t) in extra.items()]
    (folder / "district.nod.xml").write_text("<nodes>\n" + "\n".join(nodes) + "\n</nodes>\n")
    (folder / "district.edg.xml").write_text("<edges>\n" + "\n".join(edges) + "\n</edges>\n")
    (folder / "district.typ.xml").write_text(DISTRICT_TYPES)
    out = folder / name
    subprocess.run([
        sumo_binary("netconvert"), "-n", str(folder / "district.nod.xml"),
        "-e", str(folder / "district.edg.xml"), "-t", str(folder / "district.typ.xml"),
        "--sidewalks.guess", "--crossings.guess", "--no-turnarounds", "-o", str(out),
    ], check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def district_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The district with restricted edges (:func:`build_district`), plain XML."""
    return build_district(tmp_path_factory.mktemp("district"))


@pytest.fixture(scope="session")
def signal_city_gz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 x 3 signalised grid with sidewalks and crossings, as ``.net.xml.gz``."""
    from traffic_ai.network import sumo_binary

    out = tmp_path_factory.mktemp("city") / "city.net.xml.gz"
    subprocess.run([
        sumo_binary("netgenerate"), "--grid", "--grid.number", "3", "--grid.length", "200",
        "--no-turnarounds", "true", "--tls.guess", "--tls.guess.threshold", "0",
        "--sidewalks.guess", "--crossings.guess", "-o", str(out),
    ], check=True, capture_output=True)
    return out


def synthetic_table(
    segments: tuple[str, ...],
    adjacency: np.ndarray,
    days: float = 2,
    seed: int = 0,
    pulse_rate: float = 0.05,
) -> pd.DataFrame:
    """Traffic with a known structure: a daily cycle per segment plus a disturbance that
    travels one arc downstream per interval (so the upstream past predicts the future)."""
    rng = np.random.default_rng(seed)
    steps, n = int(days * 288), len(segments)
    t = np.arange(steps)
    daily = 1.0 + 0.5 * np.sin(2 * np.pi * t / 288)[:, None] * rng.uniform(0.5, 1.5, n)
    shock = np.zeros((steps, n))
    pulses = rng.normal(0, 1, size=(steps, n)) * (rng.uniform(size=(steps, n)) < pulse_rate)
    transition = adjacency / np.maximum(adjacency.sum(axis=1, keepdims=True), 1)
    for k in range(1, steps):
        shock[k] = 0.8 * shock[k - 1] @ transition + pulses[k]
    flow = 600 * daily + 100 * shock
    speed = 14 - 2 * daily - 0.5 * shock
    density = flow / np.maximum(speed * 3.6, 1)
    times = pd.date_range("2024-01-01", periods=steps, freq="5min")
    return pd.DataFrame(
        {
            "segment": np.tile(np.array(segments, dtype=object), steps),
            "time": np.repeat(times.to_numpy(), n),
            "flow": flow.ravel(),
            "speed": speed.ravel(),
            "density": density.ravel(),
        }
    )
