r"""Road graphs of SUMO networks: generation with ``netgenerate`` and reading with sumolib.

Contract (stable, used by :mod:`traffic_ai.random_testing`)
-----------------------------------------------------------
- :func:`generate_network` ``(kind, out, *, size=4, seed=0, **options) -> Path`` runs SUMO's
  ``netgenerate`` (``kind`` in ``grid | spider | random``) and writes a ``.net.xml``.
- :func:`load_road_graph` ``(path, *, vclass="passenger") -> RoadGraph`` reads a ``.net.xml``
  (or ``.net.xml.gz``) with sumolib.
- :class:`RoadGraph` has ``.graph`` (a :class:`networkx.DiGraph` whose nodes are the ids of the
  SUMO edges that are not internal and that allow the graph's vehicle class on at least one
  lane, with attributes ``length`` [m], ``lanes`` (lanes open to the class), ``speed`` [m/s],
  ``type``, ``from_junction``, ``to_junction``, ``lanes_total``, ``vclass_lanes`` (indices of
  the lanes open to the class) and ``lane_permissions`` (the classes each lane allows); an arc
  ``a -> b`` exists when a connection open to the class leads from such a lane of ``a`` to one
  of ``b``), ``.segments`` (the edge ids in a fixed, sorted order), ``.vclass``, ``.excluded``
  (edges closed to the class, by kind), ``.restricted_lanes`` (lanes of the segments closed to
  the class, by kind), ``.net_file``, ``.signature()`` (a SHA-256 over segments, attributes and
  arcs) and ``.adjacency()`` (a numpy array in ``.segments`` order).

Vehicle classes
---------------
SUMO networks of real cities carry footways, steps, cycleways, bus-only lanes and streets,
tram and rail tracks beside the roads cars may use; every lane says which vehicle classes
(``vClass``) it allows. The road graph holds the segments one class can drive on
(``passenger`` by default), so macro data, demand, incidents and ego routes never use a
footway or a bus lane. Edges closed to the class are counted by kind
(:func:`permission_kind`: ``rail``, ``tram``, ``bus``, ``bicycle``, ``pedestrian``,
``other``) in :meth:`RoadGraph.summary`.

OpenStreetMap
-------------
Road networks from OpenStreetMap are converted with SUMO's ``netconvert``::

    netconvert --osm-files map.osm.xml --output-file city.net.xml \\
        --geometry.remove --roundabouts.guess --ramps.guess --junctions.join \\
        --tls.guess-signals --tls.discard-simple --tls.join \\
        --keep-edges.by-vclass passenger --remove-edges.isolated

The resulting ``city.net.xml`` is read by :func:`load_road_graph` like a generated network.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from safety_val.errors import ValidationError

__all__ = [
    "DEFAULT_VCLASS",
    "EDGE_KINDS",
    "NETWORK_KINDS",
    "RoadGraph",
    "check_vclass",
    "generate_network",
    "load_road_graph",
    "permission_kind",
    "sumo_binary",
    "vehicle_classes",
]

#: The network kinds :func:`generate_network` knows, with the netgenerate switch of each.
NETWORK_KINDS: dict[str, str] = {"grid": "--grid", "spider": "--spider", "random": "--rand"}
#: The vehicle class of the background traffic and the egos unless another is asked for.
DEFAULT_VCLASS = "passenger"
#: Kinds of edges and lanes closed to a vehicle class, in the order they are recognised.
EDGE_KINDS: tuple[str, ...] = ("rail", "tram", "bus", "bicycle", "pedestrian", "other")
_RAIL_CLASSES = frozenset({"rail", "rail_urban", "rail_electric", "rail_fast", "rail_slow",
                           "cityrail", "lightrail", "subway", "cable_car"})
_BUS_CLASSES = frozenset({"bus", "coach", "taxi", "public_transport"})
_FOOT_CLASSES = frozenset({"pedestrian", "wheelchair"})


def vehicle_classes() -> frozenset[str]:
    """The vehicle classes SUMO knows (sumolib's list without the deprecated names)."""
    from sumolib.net.lane import SUMO_VEHICLE_CLASSES, SUMO_VEHICLE_CLASSES_DEPRECATED

    return frozenset(SUMO_VEHICLE_CLASSES) - frozenset(SUMO_VEHICLE_CLASSES_DEPRECATED)


def check_vclass(vclass: str, *, field_name: str = "vclass") -> str:
    """Return ``vclass`` if SUMO knows it, else raise :class:`ValidationError`.

    Examples
    --------
    >>> check_vclass("passenger")
    'passenger'
    >>> check_vclass("car")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: vclass: unknown SUMO vehicle class (got 'car'; ...)
    """
    known = vehicle_classes()
    if not isinstance(vclass, str) or vclass not in known:
        raise ValidationError("unknown SUMO vehicle class", field=field_name, value=vclass,
                              expected="one of " + ", ".join(sorted(known)))
    return vclass


def permission_kind(classes: Iterable[str]) -> str:
    """The kind of an edge or lane closed to cars, from the vehicle classes it allows.

    Parameters
    ----------
    classes
        The vehicle classes the edge (the union of its lanes) or the lane allows.

    Returns
    -------
    str
        The first kind of :data:`EDGE_KINDS` that applies: ``rail`` (any rail class,
        subway, cable car), ``tram``, ``bus`` (bus, coach or taxi: a bus lane or street),
        ``bicycle``, ``pedestrian`` (only pedestrians and wheelchairs: a footway, steps, a
        sidewalk), else ``other`` (e.g. delivery only, or closed to every class).

    Examples
    --------
    >>> permission_kind({"pedestrian"}), permission_kind({"bus", "pedestrian"})
    ('pedestrian', 'bus')
    >>> permission_kind({"tram"}), permission_kind({"bicycle", "pedestrian"})
    ('tram', 'bicycle')
    >>> permission_kind(set())
    'other'
    """
    allowed = frozenset(classes)
    if allowed & _RAIL_CLASSES:
        return "rail"
    if "tram" in allowed:
        return "tram"
    if allowed & _BUS_CLASSES:
        return "bus"
    if "bicycle" in allowed:
        return "bicycle"
    if allowed and allowed <= _FOOT_CLASSES:
        return "pedestrian"
    return "other"


def _permission_text(classes: frozenset[str]) -> str:
    """SUMO's shorter form of a permission: ``all``, ``all except …`` or the classes."""
    known = vehicle_classes()
    allowed = classes & known
    missing = known - allowed
    if not missing:
        return "all"
    if len(missing) < len(allowed):
        return "all except " + " ".join(sorted(missing))
    return " ".join(sorted(allowed)) or "none"


def sumo_binary(name: str) -> str:
    """The path of a SUMO executable (``sumo``, ``netgenerate``, …) from eclipse-sumo.

    Parameters
    ----------
    name
        The executable name.

    Returns
    -------
    str
        Its path (``SUMO_HOME/bin/<name>``, or whatever sumolib finds on ``PATH``).
    """
    import sumolib

    return str(sumolib.checkBinary(name))


def _size_options(kind: str, size: int) -> list[str]:
    """The netgenerate options that set the size of a ``kind`` network."""
    if kind == "grid":
        return ["--grid.number", str(size), "--grid.length", "200"]
    if kind == "spider":
        return ["--spider.arm-number", str(max(size, 3)), "--spider.circle-number", str(size)]
    return ["--rand.iterations", str(size * 25), "--rand.min-distance", "100"]


def generate_network(
    kind: str, out: Path, *, size: int = 4, seed: int = 0, **options: str | float | bool
) -> Path:
    """Generate a road network with SUMO's ``netgenerate`` and return the ``.net.xml`` path.

    Parameters
    ----------
    kind
        ``grid`` (``size`` × ``size`` junctions, 200 m streets), ``spider`` (``size`` circles,
        ``max(size, 3)`` arms) or ``random`` (``25 * size`` growth iterations).
    out
        The network file to write (conventionally ``*.net.xml``); its folder is created.
    size
        The size of the network (see ``kind``); at least 2.
    seed
        Seed of netgenerate's random generator (matters for ``random``).
    **options
        Further netgenerate options: ``name=value`` is passed as ``--name value`` with
        ``_`` replaced by ``.`` (``default_lanes=2`` → ``--default.lanes 2``); ``True``
        passes a bare switch, ``False`` omits it.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ValidationError
        An unknown ``kind``, ``size < 2``, or netgenerate rejecting the options.
    """
    if kind not in NETWORK_KINDS:
        raise ValidationError(
            "unknown network kind", field="kind", value=kind, expected=" | ".join(NETWORK_KINDS)
        )
    if size < 2:
        raise ValidationError("network too small", field="size", value=size, expected="an int >= 2")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    args = [sumo_binary("netgenerate"), NETWORK_KINDS[kind], *_size_options(kind, size)]
    args += ["--seed", str(seed), "--no-turnarounds", "true"]
    for name, value in options.items():
        flag = "--" + name.replace("_", ".")
        if value is True:
            args.append(flag)
        elif value is not False:
            args += [flag, str(value)]
    tmp = out.with_name(f".{out.name}.tmp.net.xml")
    args += ["--output-file", str(tmp)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        errors = [line for line in lines if line.startswith("Error")] or lines
        raise ValidationError(
            "netgenerate failed: " + (errors[0] if errors else f"exit {proc.returncode}"),
            field="options",
            value=options,
        )
    tmp.replace(out)
    return out


@dataclass(frozen=True)
class RoadGraph:
    """A road network as a directed graph of the road segments (SUMO edges) of one vehicle class.

    Attributes
    ----------
    graph
        Nodes are segment ids with ``length`` [m], ``lanes`` (lanes open to :attr:`vclass`),
        ``speed`` [m/s] (speed limit), ``type``, ``from_junction``, ``to_junction``,
        ``lanes_total`` (all lanes), ``vclass_lanes`` (indices of the lanes open to
        :attr:`vclass`, rightmost 0) and ``lane_permissions`` (per lane, the frozenset of the
        vehicle classes it allows); arc ``a -> b`` when a connection open to the class leads
        from segment ``a`` to segment ``b``.
    segments
        The segment ids in the fixed order used by every array of traffic_ai (sorted).
    net_file
        The network file the graph was read from (``None`` if built in memory).
    vclass
        The SUMO vehicle class whose segments the graph holds.
    excluded
        The network's other (non-internal) edges, closed to :attr:`vclass`, with their kind
        (:func:`permission_kind`).
    restricted_lanes
        Lanes of the segments closed to :attr:`vclass` (a bus lane, a sidewalk), with their
        kind.
    """

    graph: nx.DiGraph
    segments: tuple[str, ...]
    net_file: Path | None = None
    vclass: str = DEFAULT_VCLASS
    excluded: Mapping[str, str] = field(default_factory=dict)
    restricted_lanes: Mapping[str, str] = field(default_factory=dict)
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index.update({s: i for i, s in enumerate(self.segments)})

    def __len__(self) -> int:
        return len(self.segments)

    def index(self, segment: str) -> int:
        """The position of ``segment`` in :attr:`segments`."""
        return self._index[segment]

    def lanes_of(self, segment: str) -> tuple[str, ...]:
        """The SUMO lane ids of ``segment`` that are open to :attr:`vclass`, rightmost first."""
        node = self.graph.nodes[segment]
        indices = node.get("vclass_lanes", range(int(node["lanes"])))
        return tuple(f"{segment}_{i}" for i in indices)

    def excluded_by_kind(self) -> dict[str, int]:
        """Number of edges closed to :attr:`vclass`, per kind of :data:`EDGE_KINDS`."""
        return _count_kinds(self.excluded.values())

    def restricted_lanes_by_kind(self) -> dict[str, int]:
        """Number of lanes of the segments closed to :attr:`vclass`, per kind."""
        return _count_kinds(self.restricted_lanes.values())

    def signature(self) -> str:
        """A SHA-256 identifying the network: segments, their attributes and the arcs.

        Two graphs have the same signature exactly when a model trained on one applies to
        the other (same segments in the same order, same attributes, same connectivity).
        """
        keys = ("length", "lanes", "speed", "type", "from_junction", "to_junction")
        payload = {
            "segments": [
                [s, *(_round(self.graph.nodes[s].get(k)) for k in keys)] for s in self.segments
            ],
            "arcs": sorted([a, b] for a, b in self.graph.edges),
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def adjacency(self, *, weighted: bool = False, sigma: float | None = None) -> np.ndarray:
        """The (n, n) adjacency of the segments in :attr:`segments` order.

        Parameters
        ----------
        weighted
            If false, ``A[i, j] = 1`` when segment ``i`` feeds segment ``j``. If true, a
            Gaussian kernel of the distance between segment midpoints along the arc,
            ``exp(-d² / σ²)`` with ``d = (length_i + length_j) / 2``.
        sigma
            Kernel width [m] (default: the standard deviation of the distances).

        Returns
        -------
        numpy.ndarray
            Float array, zero diagonal.
        """
        n = len(self.segments)
        adjacency = np.zeros((n, n))
        pairs = [(self._index[a], self._index[b]) for a, b in self.graph.edges]
        if not pairs:
            return adjacency
        rows, cols = np.array(pairs).T
        if not weighted:
            adjacency[rows, cols] = 1.0
            return adjacency
        lengths = np.array([float(self.graph.nodes[s]["length"]) for s in self.segments])
        distance = (lengths[rows] + lengths[cols]) / 2.0
        width = sigma if sigma is not None else float(distance.std()) or float(distance.mean())
        adjacency[rows, cols] = np.exp(-((distance / width) ** 2))
        return adjacency

    def summary(self) -> dict[str, Any]:
        """Counts and totals for display.

        Returns
        -------
        dict
            ``vclass``; ``segments``, ``connections``, ``junctions`` and ``lane_km`` of the
            lanes open to the class; ``speed_min`` and ``speed_max`` [m/s];
            ``weakly_connected``; ``excluded_edges`` and ``restricted_lanes``: counts per
            kind of :data:`EDGE_KINDS` of the edges and of the segments' lanes closed to
            the class.
        """
        attrs = [self.graph.nodes[s] for s in self.segments]
        junctions = {a["from_junction"] for a in attrs} | {a["to_junction"] for a in attrs}
        speeds = [float(a["speed"]) for a in attrs] or [0.0]
        return {
            "vclass": self.vclass,
            "segments": len(self.segments),
            "connections": self.graph.number_of_edges(),
            "junctions": len(junctions),
            "lane_km": sum(float(a["length"]) * int(a["lanes"]) for a in attrs) / 1000.0,
            "speed_min": min(speeds),
            "speed_max": max(speeds),
            "weakly_connected": (
                nx.is_weakly_connected(self.graph) if len(self.segments) else False
            ),
            "excluded_edges": self.excluded_by_kind(),
            "restricted_lanes": self.restricted_lanes_by_kind(),
        }

    def to_frames(self) -> tuple[Any, Any]:
        """The graph as two tables: segments (one row per segment) and connections (from, to).

        The segment table has the node attributes, with ``vclass_lanes`` as space-separated
        lane indices and ``lane_permissions`` as SUMO-style text per lane (``all``,
        ``all except …`` or the allowed classes), lanes separated by `` | ``.
        """
        import pandas as pd

        rows = []
        for s in self.segments:
            node = dict(self.graph.nodes[s])
            if "vclass_lanes" in node:
                node["vclass_lanes"] = " ".join(str(i) for i in node["vclass_lanes"])
            if "lane_permissions" in node:
                node["lane_permissions"] = " | ".join(
                    _permission_text(p) for p in node["lane_permissions"])
            rows.append({"segment": s, **node})
        nodes = pd.DataFrame(rows)
        arcs = pd.DataFrame(sorted(self.graph.edges), columns=["from", "to"])
        return nodes, arcs


def _count_kinds(kinds: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(EDGE_KINDS, 0)
    for kind in kinds:
        counts[kind] += 1
    return counts


def _round(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def _check_is_sumo_network(path: Path) -> None:
    """Raise ValidationError unless ``path`` is an XML file whose root element is ``<net>``."""
    from defusedxml import ElementTree as DefusedET
    from defusedxml.common import DefusedXmlException

    if not path.is_file():
        raise ValidationError("no such file", file=path, expected="a SUMO network (.net.xml)")
    try:
        for _event, element in DefusedET.iterparse(str(path), events=("start",)):
            if element.tag != "net":
                raise ValidationError(
                    "not a SUMO network",
                    file=path,
                    value=f"<{element.tag}>",
                    expected="root element <net>",
                )
            return
    except DefusedXmlException as exc:
        raise ValidationError(
            "not a SUMO network: forbidden XML construct", file=path, value=type(exc).__name__
        ) from exc
    except SyntaxError as exc:  # ElementTree.ParseError
        raise ValidationError("not a SUMO network: invalid XML", file=path, value=str(exc)) from exc
    raise ValidationError("not a SUMO network: empty file", file=path)


def load_road_graph(path: str | Path, *, vclass: str = DEFAULT_VCLASS) -> RoadGraph:
    """Read a SUMO network into a :class:`RoadGraph` of the edges one vehicle class may use.

    Parameters
    ----------
    path
        A SUMO ``.net.xml`` (``.net.xml.gz`` is read by sumolib as well).
    vclass
        The SUMO vehicle class (``passenger``, ``bus``, ``truck``, …): segments are the
        non-internal edges with at least one lane that allows it, arcs the connections
        that allow it between such lanes. The other edges are counted by kind in
        :attr:`RoadGraph.excluded`.

    Returns
    -------
    RoadGraph
        Segments sorted by id; arcs from the network's lane-to-lane connections.

    Raises
    ------
    ValidationError
        The file is missing, is not XML, has another root element than ``<net>``, has no
        road segments, or no edge allows ``vclass``; an unknown ``vclass``.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> graph = load_road_graph(generate_network("grid", folder / "g.net.xml", size=2))
    >>> graph.summary()["segments"], graph.vclass, graph.excluded_by_kind()["pedestrian"]
    (8, 'passenger', 0)
    """
    import sumolib

    check_vclass(vclass)
    path = Path(path)
    if not path.name.endswith(".gz"):
        _check_is_sumo_network(path)
    elif not path.is_file():
        raise ValidationError("no such file", file=path, expected="a SUMO network (.net.xml.gz)")
    try:
        net = sumolib.net.readNet(str(path), withInternal=False)
    except Exception as exc:  # sumolib raises whatever its SAX handler hits
        raise ValidationError("not a SUMO network", file=path, value=str(exc)) from exc
    graph = nx.DiGraph()
    excluded: dict[str, str] = {}
    restricted: dict[str, str] = {}
    edges = [e for e in net.getEdges(withInternal=False) if not e.isSpecial()]
    for edge in edges:
        lanes = edge.getLanes()
        permissions = tuple(frozenset(lane.getPermissions()) for lane in lanes)
        open_lanes = tuple(i for i, lane in enumerate(lanes) if lane.allows(vclass))
        if not open_lanes:
            excluded[edge.getID()] = permission_kind(frozenset().union(*permissions))
            continue
        for i, lane in enumerate(lanes):
            if i not in open_lanes:
                restricted[lane.getID()] = permission_kind(permissions[i])
        graph.add_node(
            edge.getID(),
            length=float(edge.getLength()),
            lanes=len(open_lanes),
            speed=float(edge.getSpeed()),
            type=str(edge.getType() or ""),
            from_junction=str(edge.getFromNode().getID()),
            to_junction=str(edge.getToNode().getID()),
            lanes_total=len(lanes),
            vclass_lanes=open_lanes,
            lane_permissions=permissions,
        )
    for edge in edges:
        if edge.getID() not in graph:
            continue
        for lane in edge.getLanes():
            if not lane.allows(vclass):
                continue
            for connection in lane.getOutgoing():
                target = connection.getToLane()
                if (target.getEdge().getID() in graph and target.allows(vclass)
                        and connection.allows(vclass)):
                    graph.add_edge(edge.getID(), target.getEdge().getID())
    if not edges:
        raise ValidationError("SUMO network without road segments", file=path)
    if graph.number_of_nodes() == 0:
        raise ValidationError(
            f"no edge of the network allows vehicle class {vclass!r}", file=path,
            field="vclass", value=vclass,
            expected="a network with roads for this class (or another --vclass)")
    return RoadGraph(graph=graph, segments=tuple(sorted(graph.nodes)), net_file=path,
                     vclass=vclass, excluded=excluded, restricted_lanes=restricted)
