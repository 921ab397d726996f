r"""Road graphs of SUMO networks: generation with ``netgenerate`` and reading with sumolib.

Contract (stable, used by :mod:`traffic_ai.random_testing`)
-----------------------------------------------------------
- :func:`generate_network` ``(kind, out, *, size=4, seed=0, **options) -> Path`` runs SUMO's
  ``netgenerate`` (``kind`` in ``grid | spider | random``) and writes a ``.net.xml``.
- :func:`load_road_graph` ``(path) -> RoadGraph`` reads a ``.net.xml`` with sumolib.
- :class:`RoadGraph` has ``.graph`` (a :class:`networkx.DiGraph` whose nodes are the ids of the
  SUMO edges that are not internal, with attributes ``length`` [m], ``lanes``, ``speed`` [m/s],
  ``type``, ``from_junction``, ``to_junction``; an arc ``a -> b`` exists when a connection leads
  from a lane of edge ``a`` to a lane of edge ``b``), ``.segments`` (the edge ids in a fixed,
  sorted order), ``.net_file``, ``.signature()`` (a SHA-256 over segments, attributes and arcs)
  and ``.adjacency()`` (a numpy array in ``.segments`` order).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from safety_val.errors import ValidationError

__all__ = ["NETWORK_KINDS", "RoadGraph", "generate_network", "load_road_graph", "sumo_binary"]

#: The network kinds :func:`generate_network` knows, with the netgenerate switch of each.
NETWORK_KINDS: dict[str, str] = {"grid": "--grid", "spider": "--spider", "random": "--rand"}


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
    """A road network as a directed graph of road segments (SUMO edges).

    Attributes
    ----------
    graph
        Nodes are segment ids with ``length`` [m], ``lanes``, ``speed`` [m/s] (speed limit),
        ``type``, ``from_junction`` and ``to_junction``; arc ``a -> b`` when a connection leads
        from segment ``a`` to segment ``b``.
    segments
        The segment ids in the fixed order used by every array of traffic_ai (sorted).
    net_file
        The network file the graph was read from (``None`` if built in memory).
    """

    graph: nx.DiGraph
    segments: tuple[str, ...]
    net_file: Path | None = None
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index.update({s: i for i, s in enumerate(self.segments)})

    def __len__(self) -> int:
        return len(self.segments)

    def index(self, segment: str) -> int:
        """The position of ``segment`` in :attr:`segments`."""
        return self._index[segment]

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
        """Counts and totals for display: segments, arcs, junctions, lane-km, speed range."""
        attrs = [self.graph.nodes[s] for s in self.segments]
        junctions = {a["from_junction"] for a in attrs} | {a["to_junction"] for a in attrs}
        speeds = [float(a["speed"]) for a in attrs] or [0.0]
        return {
            "segments": len(self.segments),
            "connections": self.graph.number_of_edges(),
            "junctions": len(junctions),
            "lane_km": sum(float(a["length"]) * int(a["lanes"]) for a in attrs) / 1000.0,
            "speed_min": min(speeds),
            "speed_max": max(speeds),
            "weakly_connected": (
                nx.is_weakly_connected(self.graph) if len(self.segments) else False
            ),
        }

    def to_frames(self) -> tuple[Any, Any]:
        """The graph as two tables: segments (one row per segment) and connections (from, to)."""
        import pandas as pd

        nodes = pd.DataFrame(
            [{"segment": s, **self.graph.nodes[s]} for s in self.segments],
        )
        arcs = pd.DataFrame(sorted(self.graph.edges), columns=["from", "to"])
        return nodes, arcs


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


def load_road_graph(path: str | Path) -> RoadGraph:
    """Read a SUMO network into a :class:`RoadGraph` of its (non-internal) edges.

    Parameters
    ----------
    path
        A SUMO ``.net.xml`` (``.net.xml.gz`` is read by sumolib as well).

    Returns
    -------
    RoadGraph
        Segments sorted by id; arcs from the network's lane-to-lane connections.

    Raises
    ------
    ValidationError
        The file is missing, is not XML, has another root element than ``<net>``, or has
        no road segments.
    """
    import sumolib

    path = Path(path)
    if not path.name.endswith(".gz"):
        _check_is_sumo_network(path)
    try:
        net = sumolib.net.readNet(str(path), withInternal=False)
    except Exception as exc:  # sumolib raises whatever its SAX handler hits
        raise ValidationError("not a SUMO network", file=path, value=str(exc)) from exc
    graph = nx.DiGraph()
    for edge in net.getEdges(withInternal=False):
        if edge.getFunction() == "internal":
            continue
        graph.add_node(
            edge.getID(),
            length=float(edge.getLength()),
            lanes=int(edge.getLaneNumber()),
            speed=float(edge.getSpeed()),
            type=str(edge.getType() or ""),
            from_junction=str(edge.getFromNode().getID()),
            to_junction=str(edge.getToNode().getID()),
        )
    for edge in net.getEdges(withInternal=False):
        if edge.getID() not in graph:
            continue
        for target in edge.getOutgoing():
            if target.getID() in graph:
                graph.add_edge(edge.getID(), target.getID())
    if graph.number_of_nodes() == 0:
        raise ValidationError("SUMO network without road segments", file=path)
    return RoadGraph(graph=graph, segments=tuple(sorted(graph.nodes)), net_file=path)
