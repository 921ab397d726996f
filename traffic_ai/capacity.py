r"""How much traffic a road network carries, and the default peak demand derived from it.

A city network saturates at its junctions and on its links long before every lane is
full: the network's production (vehicle-km per hour) reaches a maximum at a critical
accumulation of vehicles, beyond which speeds and throughput collapse (the network
macroscopic fundamental diagram, Geroliminis & Daganzo 2008). Random trips ask for a
number of *trips per hour*, so the capacity is turned into trips with the mean trip:

.. math::

    N_\text{link} = \frac{q_\text{lane}\,\text{LK}}{\bar L}, \qquad
    N_\text{junction} = \frac{c_J}{s_\text{max}} \le \frac{c_J\,J}{\bar n_J}, \qquad
    N_\text{peak} = u \min(N_\text{link}, N_\text{junction})

with ``LK`` the lane-km open to the vehicle class, :math:`\bar L` the mean trip length
(km), ``J`` the number of junctions where at least three road arms meet, :math:`\bar n_J`
the mean number of such junctions a trip crosses, :math:`s_\text{max}` the share of all
trips that cross the busiest of them, :math:`q_\text{lane}` the capacity of one urban lane
and :math:`c_J` the throughput of one junction (veh/h), and ``u`` the utilisation at the
peak. If trips loaded every junction alike, each would carry :math:`\bar n_J / J` of them
and the junction bound would be :math:`c_J J / \bar n_J`; random origins and destinations
load the central junctions more, so the busiest junction sets the bound.
:math:`\bar L`, :math:`\bar n_J` and :math:`s_\text{max}` come from shortest paths between
random pairs of segments of the road graph.

The per-lane capacity follows the Highway Capacity Manual: a base saturation flow of
1,900 pc/h/ln at a signalised approach times an effective green ratio of about 0.47
gives :data:`LANE_CAPACITY` = 900 veh/h/ln; all conflicting streams of a junction share
its conflict area, so a junction passes about one lane's saturation flow,
:data:`JUNCTION_CAPACITY` = 1,800 veh/h (conservative for junctions of multi-lane roads).
The utilisation :data:`UTILISATION` = 0.6 leaves room for the randomness of the demand and
for junctions slower than the saturation flow. It was checked with microscopic SUMO
(random trips, the 30 minutes up to the morning peak, 0.1 s steps) on generated grids
(3 x 3 and 4 x 4 with priority junctions, 6 x 6 signalised), a spider, a random network and
a district with bus lanes, sidewalks, tram and rail: at ``u = 0.7`` the random network (its
busiest junction carries about 40 % of the trips) had 2.2 % of its vehicles teleported out
of yield deadlocks, at 0.6 0.2 %; the others had none at 0.7 (mean speeds 0.8-0.87 of the
limits, 0.46-0.5 on the signalised grid, whose vehicles wait at red lights).

References
----------
Transportation Research Board (2016). Highway Capacity Manual, 6th ed., chapter 19
(signalised intersections: base saturation flow rate). doi:10.17226/24798

Geroliminis, N., Daganzo, C. F. (2008). Existence of urban-scale macroscopic fundamental
diagrams: some experimental findings. Transportation Research Part B 42(9), 759-770.
doi:10.1016/j.trb.2008.02.002
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from safety_val._random import as_generator
from safety_val._validation import Interval, check_options
from traffic_ai.network import DEFAULT_VCLASS, RoadGraph, load_road_graph

__all__ = [
    "JUNCTION_CAPACITY",
    "LANE_CAPACITY",
    "UTILISATION",
    "NetworkCapacity",
    "conflict_junctions",
    "network_capacity",
]

#: Capacity of one urban lane (veh/h): HCM base saturation flow 1,900 pc/h/ln x g/C 0.47.
LANE_CAPACITY = 900.0
#: Throughput of one junction (veh/h): about one lane's saturation flow.
JUNCTION_CAPACITY = 1800.0
#: Share of the capacity the weekday peak demand asks for.
UTILISATION = 0.6

_CONSTRAINTS = {
    "lane_capacity": [Interval(float, 0, None, closed="neither")],
    "junction_capacity": [Interval(float, 0, None, closed="neither")],
    "utilisation": [Interval(float, 0, 1, closed="right")],
    "origins": [Interval(int, 1, None)],
    "trips_per_origin": [Interval(int, 1, None)],
}


@dataclass(frozen=True)
class NetworkCapacity:
    """The capacity of a road network in trips per hour and the peak demand derived from it.

    Attributes
    ----------
    vclass
        The vehicle class of the road graph.
    lane_km
        Lane-km open to the class.
    junctions
        Junctions where at least three road arms meet (:func:`conflict_junctions`).
    mean_trip_km
        Mean length of a shortest-path trip between random segments (km).
    mean_junctions_per_trip
        Mean number of those junctions such a trip crosses.
    busiest_junction_share
        Share of the trips that cross the busiest of those junctions.
    lane_capacity, junction_capacity
        Capacity of one lane and throughput of one junction (veh/h).
    utilisation
        Share of the capacity asked for at the peak.
    """

    vclass: str
    lane_km: float
    junctions: int
    mean_trip_km: float
    mean_junctions_per_trip: float
    busiest_junction_share: float
    lane_capacity: float = LANE_CAPACITY
    junction_capacity: float = JUNCTION_CAPACITY
    utilisation: float = UTILISATION

    @property
    def link_bound(self) -> float:
        """Trips per hour the lanes carry at capacity, ``q_lane LK / L`` (veh/h)."""
        return self.lane_capacity * self.lane_km / self.mean_trip_km

    @property
    def junction_bound(self) -> float:
        """Trips per hour at which the busiest junction reaches capacity, ``c_J / s_max``.

        Infinite when trips cross no junction where three arms meet.
        """
        if self.busiest_junction_share <= 0.0:
            return float("inf")
        return self.junction_capacity / self.busiest_junction_share

    @property
    def uniform_junction_bound(self) -> float:
        """The junction bound if every junction carried the same load, ``c_J J / n_J``."""
        if self.mean_junctions_per_trip <= 0.0:
            return float("inf")
        return self.junction_capacity * self.junctions / self.mean_junctions_per_trip

    @property
    def peak_vehicles_per_hour(self) -> float:
        """The default peak demand: ``u min(link bound, junction bound)`` (veh/h)."""
        return self.utilisation * min(self.link_bound, self.junction_bound)

    def to_dict(self) -> dict[str, Any]:
        """The inputs, both bounds and the peak demand as plain values."""
        return {**asdict(self), "link_bound": self.link_bound,
                "junction_bound": self.junction_bound,
                "uniform_junction_bound": self.uniform_junction_bound,
                "peak_vehicles_per_hour": self.peak_vehicles_per_hour}

    def describe(self) -> str:
        """One line: the peak demand and where it comes from."""
        return (f"peak demand {self.peak_vehicles_per_hour:,.0f} veh/h = {self.utilisation:g} x "
                f"min(lanes {self.lane_capacity:g} veh/h x {self.lane_km:.1f} lane-km / "
                f"{self.mean_trip_km:.2f} km per trip = {self.link_bound:,.0f}, busiest of "
                f"{self.junctions} junctions {self.junction_capacity:g} veh/h / "
                f"{self.busiest_junction_share:.2f} of the trips = {self.junction_bound:,.0f})")


def conflict_junctions(graph: RoadGraph) -> set[str]:
    """Junctions of the road graph where at least three road arms meet.

    An arm is a neighbouring junction joined by a segment in either direction, so a
    two-way street through a junction is one arm each side, a dead end has one arm and a
    bend (or a geometry node of an imported map) two: neither constrains the traffic.

    Examples
    --------
    >>> import tempfile
    >>> from traffic_ai.network import generate_network
    >>> folder = Path(tempfile.mkdtemp())
    >>> grid = load_road_graph(generate_network("grid", folder / "g.net.xml", size=3))
    >>> len(conflict_junctions(grid))  # a 3 x 3 grid: the centre and the four edge midpoints
    5
    """
    arms: dict[str, set[str]] = {}
    for segment in graph.segments:
        node = graph.graph.nodes[segment]
        a, b = str(node["from_junction"]), str(node["to_junction"])
        if a != b:
            arms.setdefault(a, set()).add(b)
            arms.setdefault(b, set()).add(a)
    return {junction for junction, neighbours in arms.items() if len(neighbours) >= 3}


def network_capacity(
    network: str | Path | RoadGraph,
    *,
    vclass: str = DEFAULT_VCLASS,
    lane_capacity: float = LANE_CAPACITY,
    junction_capacity: float = JUNCTION_CAPACITY,
    utilisation: float = UTILISATION,
    origins: int = 100,
    trips_per_origin: int = 20,
    seed: int | np.random.Generator | None = 0,
) -> NetworkCapacity:
    """Estimate a network's capacity and the default peak demand (see the module notes).

    Parameters
    ----------
    network
        A SUMO network file or its road graph (whose vehicle class is then used).
    vclass
        The vehicle class of the road graph read from a file.
    lane_capacity, junction_capacity
        Capacity of one lane and throughput of one junction (veh/h).
    utilisation
        Share of the capacity asked for at the peak, in (0, 1].
    origins, trips_per_origin
        The trips that estimate the mean trip and the junction loads: shortest paths from
        this many random origin segments to as many random destinations each.
    seed
        Seed of the random origins and destinations.

    Returns
    -------
    NetworkCapacity

    Raises
    ------
    ValidationError
        Bad options.

    Notes
    -----
    In a network where no route joins two segments (a single road without turnarounds)
    every trip stays on one segment: the mean trip is the mean segment length.
    """
    check_options(_CONSTRAINTS, lane_capacity=lane_capacity,
                  junction_capacity=junction_capacity, utilisation=utilisation,
                  origins=origins, trips_per_origin=trips_per_origin)
    graph = network if isinstance(network, RoadGraph) else load_road_graph(network, vclass=vclass)
    rng = as_generator(seed)
    nodes = graph.graph.nodes
    lengths = {s: float(nodes[s]["length"]) for s in graph.segments}
    conflicts = conflict_junctions(graph)
    weighted = nx.DiGraph()
    weighted.add_nodes_from(graph.segments)
    weighted.add_weighted_edges_from((a, b, lengths[b]) for a, b in graph.graph.edges)
    segments = list(graph.segments)
    trip_km: list[float] = []
    crossed: list[int] = []
    load: dict[str, int] = {}
    for i in rng.permutation(len(segments))[:origins]:
        paths = nx.single_source_dijkstra_path(weighted, segments[int(i)], weight="weight")
        reachable = sorted(d for d, p in paths.items() if len(p) >= 2)
        if not reachable:
            continue
        size = min(trips_per_origin, len(reachable))
        for j in rng.choice(len(reachable), size=size, replace=False):
            path = paths[reachable[int(j)]]
            trip_km.append(sum(lengths[s] for s in path) / 1000.0)
            passed = [nodes[s]["to_junction"] for s in path[:-1]
                      if nodes[s]["to_junction"] in conflicts]
            crossed.append(len(passed))
            for junction in set(passed):
                load[junction] = load.get(junction, 0) + 1
    if not trip_km:  # no route joins two segments: every trip stays on its segment
        trip_km = [lengths[s] / 1000.0 for s in segments]
        crossed = [0]
    lane_km = sum(lengths[s] * int(nodes[s]["lanes"]) for s in segments) / 1000.0
    busiest = max(load.values(), default=0) / len(trip_km)
    return NetworkCapacity(graph.vclass, lane_km, len(conflicts), float(np.mean(trip_km)),
                           float(np.mean(crossed)), float(busiest), float(lane_capacity),
                           float(junction_capacity), float(utilisation))
