"""Macroscopic traffic data per road segment: simulated in SUMO or loaded from METR-LA/PEMS-BAY.

Table layout (stable, shared with :mod:`traffic_ai.forecasting`)
----------------------------------------------------------------
Long format, one row per segment and 5-minute interval:

============ ===============================================================
column       meaning
============ ===============================================================
segment      SUMO edge id (``str``) or sensor id
time         start of the interval (``pandas.Timestamp``, 5-minute steps)
flow         vehicles leaving the segment per hour [veh/h]
speed        space-mean speed [m/s]
density      vehicles per km (all lanes) [veh/km]
incident     optional: an incident is active on the segment
lanes_closed optional: lanes closed by the incident
============ ===============================================================

Simulated data come from mesoscopic SUMO (``--mesosim``) with SUMO's edgeData output
(period 300 s) on the segments of one vehicle class (``passenger`` by default: footways,
tracks and bus-only streets carry no car traffic and are not in the table). Demand is a set
of origin-destination routes whose hourly rates follow a weekday profile (morning peak
towards the centre, evening peak away from it), a quieter weekend profile, a random level
per day and random noise per quarter hour; its peak level is given or derived from the
network's capacity (:mod:`traffic_ai.capacity`). Incidents last 20-90 minutes: on a
segment with several lanes open to the class they close half of them (SUMO rerouter with
``closingLaneReroute``), on a segment with one such lane they restrict its speed (variable
speed sign); either way queues spill back upstream.

Every simulated table carries its metadata in the Parquet file (key ``traffic_ai``, read
with :func:`read_macro_metadata`): the network summary, the demand and where its peak came
from, SUMO's warnings counted by kind (:class:`~traffic_ai.sumo_log.SumoReport`) and the
saturation check (:func:`~traffic_ai.saturation.saturation_check`). A saturated network or
a run with many teleported or dropped vehicles also raises a :class:`SimulationWarning`.
On an interval in which no vehicle used a segment, SUMO reports no speed: flow and density
are 0 and the speed is the segment's free-flow speed (its speed limit).

METR-LA / PEMS-BAY layout: an HDF5 file with key ``df``, a sensors × time table (sensors
as columns, a ``DatetimeIndex``; 0 means missing), plus the sensor adjacency as a CSV of
``from,to,cost`` road distances (turned into a thresholded Gaussian kernel as in DCRNN) or
an NPZ with arrays ``sensor_ids`` and ``adjacency``. Nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from safety_val._io import atomic_path
from safety_val.errors import ValidationError
from traffic_ai.network import (
    DEFAULT_VCLASS,
    RoadGraph,
    check_vclass,
    load_road_graph,
    sumo_binary,
    vehicle_classes,
)

__all__ = [
    "CHANNELS",
    "INTERVAL",
    "METADATA_KEY",
    "DemandProfile",
    "SimulationWarning",
    "load_macro_data",
    "load_metr_la",
    "read_macro_metadata",
    "simulate_macro_data",
]

#: The traffic quantities of the table, in this order.
CHANNELS: tuple[str, ...] = ("flow", "speed", "density")
#: Aggregation interval of the macro data.
INTERVAL = pd.Timedelta(minutes=5)
#: Key of the simulation's metadata (JSON) in the Parquet file's schema metadata.
METADATA_KEY = "traffic_ai"


class SimulationWarning(UserWarning):
    """A simulation ran but is not the traffic it was meant to be (saturated, teleports)."""


@dataclass(frozen=True)
class DemandProfile:
    """Time-varying demand of the simulated network.

    Attributes
    ----------
    peak_vehicles_per_hour
        Vehicles per hour entering the whole network at the weekday peaks; ``None``
        derives it from the network's capacity
        (:attr:`traffic_ai.capacity.NetworkCapacity.peak_vehicles_per_hour`).
    night_share
        Demand at night as a share of the peak.
    weekend_share
        Weekend midday demand as a share of the weekday peak.
    morning_peak, evening_peak
        Hours of the weekday peaks.
    day_level_sd
        Standard deviation of the log demand level of a day.
    noise_sd
        Standard deviation of the log demand of a route in a quarter hour.
    incidents_per_day
        Mean number of incidents per day (Poisson).
    incident_minutes
        Shortest and longest incident duration.
    incident_speed_share
        Speed limit during an incident on a one-lane segment as a share of the normal one.
    routes
        Number of origin-destination routes.
    """

    peak_vehicles_per_hour: float | None = None
    night_share: float = 0.06
    weekend_share: float = 0.55
    morning_peak: float = 8.0
    evening_peak: float = 17.5
    day_level_sd: float = 0.12
    noise_sd: float = 0.2
    incidents_per_day: float = 3.0
    incident_minutes: tuple[float, float] = (20.0, 90.0)
    incident_speed_share: float = 0.2
    routes: int = 40

    def rates(self, hours: np.ndarray, weekend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inbound and outbound demand shares of the peak at ``hours`` (0-24).

        Returns
        -------
        tuple of numpy.ndarray
            (inbound, outbound): weekdays peak inbound in the morning and outbound in the
            evening; weekends have one midday hump, the same in both directions.
        """

        def bump(centre: float, width: float) -> np.ndarray:
            return np.exp(-0.5 * ((hours - centre) / width) ** 2)

        day = 0.35 * bump(13.0, 3.5)
        inbound = self.night_share + day + bump(self.morning_peak, 1.0) + 0.3 * bump(17.5, 1.3)
        outbound = self.night_share + day + 0.3 * bump(8.0, 1.0) + bump(self.evening_peak, 1.3)
        weekend_rate = self.night_share + self.weekend_share * bump(13.5, 3.0)
        inbound = np.where(weekend, weekend_rate, inbound)
        outbound = np.where(weekend, weekend_rate, outbound)
        return np.clip(inbound, 0, None), np.clip(outbound, 0, None)


def _routes(graph: RoadGraph, count: int, rng: np.random.Generator) -> list[tuple[list[str], bool]]:
    """``count`` shortest-path routes between random segments; flag: heads to the centre."""
    import networkx as nx

    g = graph.graph
    lengths = {s: float(g.nodes[s]["length"]) for s in graph.segments}
    weighted = nx.DiGraph()
    weighted.add_weighted_edges_from((a, b, lengths[b]) for a, b in g.edges)
    centrality = nx.closeness_centrality(g)
    routes: list[tuple[list[str], bool]] = []
    segments = list(graph.segments)
    for _ in range(count * 20):
        if len(routes) >= count:
            break
        origin, destination = rng.choice(segments, size=2, replace=False)
        try:
            path = nx.shortest_path(weighted, origin, destination, weight="weight")
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            continue
        if len(path) < 3:
            continue
        routes.append((list(path), centrality[destination] >= centrality[origin]))
    if not routes:
        raise ValidationError(
            "no routes found in the network", file=graph.net_file, expected="a connected network"
        )
    return routes


def _write_demand(
    graph: RoadGraph,
    folder: Path,
    days: int,
    profile: DemandProfile,
    rng: np.random.Generator,
    peak: float,
    origin: pd.Timestamp,
) -> tuple[Path, Path, pd.DataFrame]:
    """Write routes (flows per quarter hour) and incidents (lane closures, speed signs).

    Simulation second 0 is the calendar time ``origin``: the profile's time of day and
    weekend follow the calendar, not the simulation clock.
    """
    routes = _routes(graph, profile.routes, rng)
    quarter = 900
    starts = np.arange(0, days * 86400, quarter)
    calendar = pd.DatetimeIndex(origin + pd.to_timedelta(starts + quarter // 2, unit="s"))
    hours = np.asarray(calendar.hour + calendar.minute / 60.0 + calendar.second / 3600.0)
    weekend = np.asarray(calendar.day_of_week >= 5)
    inbound, outbound = profile.rates(hours, weekend)
    day_level = np.exp(rng.normal(0.0, profile.day_level_sd, size=days))[starts // 86400]
    per_route = peak / len(routes)
    lines = [
        "<routes>",
        f'  <vType id="car" vClass="{graph.vclass}" speedFactor="normc(1,0.1,0.2,2)"/>',
    ]
    lines += [f'  <route id="r{i}" edges="{" ".join(p)}"/>' for i, (p, _) in enumerate(routes)]
    for k, begin in enumerate(starts):
        noise = np.exp(rng.normal(0.0, profile.noise_sd, size=len(routes)))
        for i, (_path, to_centre) in enumerate(routes):
            share = inbound[k] if to_centre else outbound[k]
            probability = min(per_route * share * day_level[k] * noise[i] / 3600.0, 1.0)
            if probability < 1e-5:
                continue
            lines.append(
                f'  <flow id="f{k}_{i}" type="car" route="r{i}" begin="{begin}" '
                f'end="{begin + quarter}" probability="{probability:.6f}" '
                'departLane="best" departSpeed="max"/>'
            )
    lines.append("</routes>")
    route_file = folder / "demand.rou.xml"
    route_file.write_text("\n".join(lines))

    count = rng.poisson(profile.incidents_per_day * days)
    lo, hi = profile.incident_minutes
    incidents = pd.DataFrame(
        {
            "segment": rng.choice(list(graph.segments), size=count),
            "begin": np.sort(rng.uniform(0, days * 86400 - 3600, size=count)).round(),
            "minutes": rng.uniform(lo, hi, size=count).round(),
        }
    )
    incidents["end"] = incidents["begin"] + 60 * incidents["minutes"]
    add = [
        "<additional>",
        '  <edgeData id="macro" period="300" file="edgedata.xml" excludeEmpty="false"/>',
    ]
    closed: list[int] = []
    for j, row in incidents.iterrows():
        segment = str(row["segment"])
        speed = float(graph.graph.nodes[segment]["speed"])
        open_lanes = graph.lanes_of(segment)  # the lanes of the class, rightmost first
        n_lanes = len(open_lanes)
        if n_lanes > 1:  # close the left half of the lanes (keep one open): capacity drops
            shut = open_lanes[n_lanes - n_lanes // 2:]
            closed.append(len(shut))
            add += [
                f'  <rerouter id="closure{j}" edges="{segment}">',
                f'    <interval begin="{row["begin"]:.0f}" end="{row["end"]:.0f}">',
                *(
                    f'      <closingLaneReroute id="{lane}" disallow="{graph.vclass}"/>'
                    for lane in shut
                ),
                "    </interval>",
                "  </rerouter>",
            ]
            continue
        closed.append(0)  # one lane for the class: the incident slows the traffic down
        lanes = " ".join(open_lanes)
        add += [
            f'  <variableSpeedSign id="incident{j}" lanes="{lanes}">',
            f'    <step time="{row["begin"]:.0f}" '
            f'speed="{speed * profile.incident_speed_share:.2f}"/>',
            f'    <step time="{row["end"]:.0f}" speed="{speed:.2f}"/>',
            "  </variableSpeedSign>",
        ]
    add.append("</additional>")
    incidents["lanes_closed"] = closed
    additional_file = folder / "macro.add.xml"
    additional_file.write_text("\n".join(add))
    return route_file, additional_file, incidents


def _read_edgedata(path: Path, graph: RoadGraph) -> pd.DataFrame:
    """SUMO edgeData XML (our own output) to the long table."""
    rows: list[tuple[str, float, float, float, float]] = []
    begin = 0.0
    for event, element in ET.iterparse(str(path), events=("start",)):
        if element.tag == "interval":
            begin = float(element.get("begin", "0"))
        elif element.tag == "edge" and event == "start":
            segment = element.get("id", "")
            left = float(element.get("left", "0"))
            speed = float(element.get("speed", "nan"))
            density = float(element.get("density", "0"))
            rows.append((segment, begin, left, speed, density))
    frame = pd.DataFrame(rows, columns=["segment", "seconds", "left", "speed", "density"])
    frame = frame[frame["segment"].isin(set(graph.segments))]
    frame["flow"] = frame["left"] * 3600.0 / INTERVAL.total_seconds()
    limits = frame["segment"].map({s: graph.graph.nodes[s]["speed"] for s in graph.segments})
    frame["speed"] = frame["speed"].fillna(limits)
    return frame


def simulate_macro_data(
    network: str | Path | RoadGraph,
    out: str | Path,
    *,
    days: float = 14,
    start: str | pd.Timestamp = "2024-01-01",
    seed: int = 0,
    profile: DemandProfile | None = None,
    mesoscopic: bool = True,
    vclass: str = DEFAULT_VCLASS,
) -> Path:
    """Simulate multi-day traffic in SUMO and write the 5-minute macro table as Parquet.

    Parameters
    ----------
    network
        A SUMO ``.net.xml`` (or ``.net.xml.gz``) or its :class:`~traffic_ai.network.RoadGraph`
        (whose vehicle class is then used).
    out
        The Parquet file to write (atomically).
    days
        Simulated days (fractions allowed; rounded to whole 5-minute intervals).
    start
        Calendar time of simulation second 0; a Monday by default, so weekends are days 5, 6.
    seed
        Seed of demand, incidents and SUMO.
    profile
        The demand (default :class:`DemandProfile`, whose peak is derived from the network).
    mesoscopic
        Run SUMO's mesoscopic model (fast, queue-based); microscopic otherwise.
    vclass
        The SUMO vehicle class of the traffic (for a network file).

    Returns
    -------
    Path
        ``out``, with the columns of the module docstring (incl. ``incident``, ``lanes_closed``)
        and the simulation's metadata (:func:`read_macro_metadata`).

    Raises
    ------
    ValidationError
        A bad network file, a network without segments for ``vclass``, or ``days <= 0``.

    Warns
    -----
    SimulationWarning
        The network saturated (:func:`~traffic_ai.saturation.saturation_check`), or more
        than 1 % of the vehicles teleported or were dropped
        (:attr:`~traffic_ai.sumo_log.SumoReport.flagged`).
    """
    from safety_val._random import as_generator
    from traffic_ai.capacity import network_capacity
    from traffic_ai.saturation import saturation_check
    from traffic_ai.sumo_log import read_sumo_report, sumo_log_options

    if days <= 0:
        raise ValidationError("nothing to simulate", field="days", value=days, expected="> 0")
    check_vclass(vclass)
    graph = (network if isinstance(network, RoadGraph)
             else load_road_graph(network, vclass=vclass))
    if graph.net_file is None:
        raise ValidationError("the road graph has no network file", field="network")
    profile = profile or DemandProfile()
    capacity = None
    peak = profile.peak_vehicles_per_hour
    if peak is None:
        capacity = network_capacity(graph)
        peak = capacity.peak_vehicles_per_hour
    elif not peak > 0:
        raise ValidationError("must be > 0", field="peak_vehicles_per_hour", value=peak)
    rng = as_generator(seed)
    end = round(days * 86400 / 300) * 300
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="macro-") as tmp:
        folder = Path(tmp)
        route_file, additional_file, incidents = _write_demand(
            graph, folder, int(np.ceil(days)), profile, rng, float(peak), pd.Timestamp(start)
        )
        args = [
            sumo_binary("sumo"),
            "-n",
            str(graph.net_file.resolve()),
            "-r",
            str(route_file),
            "-a",
            str(additional_file),
            "--begin",
            "0",
            "--end",
            str(end),
            "--seed",
            str(int(rng.integers(2**31 - 1))),
            "--no-step-log",
            "true",
            "--time-to-teleport",
            "300",
            "--step-length",
            "1",
            "--ignore-route-errors",
            "true",
            "--duration-log.disable",
            "true",
            "--max-depart-delay",
            "300",
            *sumo_log_options(folder, summary_period=300),
        ]
        if mesoscopic:  # one queue per edge, of the lanes open to the class
            ignored = ",".join(sorted(vehicle_classes() - {graph.vclass}))
            args += ["--mesosim", "true", "--meso-ignore-lanes-by-vclass", ignored]
        proc = subprocess.run(args, capture_output=True, text=True, check=False, cwd=folder)
        edgedata = folder / "edgedata.xml"
        if proc.returncode != 0 or not edgedata.exists():
            log = folder / "sumo.log"
            text = log.read_text(errors="replace") if log.is_file() else ""
            reason = (text or proc.stderr or proc.stdout).strip()[-500:]
            raise RuntimeError(f"SUMO failed: {reason}")
        frame = _read_edgedata(edgedata, graph)
        report = read_sumo_report(folder)
    origin = pd.Timestamp(start)
    frame["time"] = origin + pd.to_timedelta(frame["seconds"], unit="s")
    frame = frame[frame["seconds"] < end]
    frame["incident"] = False
    frame["lanes_closed"] = 0
    index = frame.set_index(["segment", "seconds"]).index
    for _, row in incidents.iterrows():
        hit = (index.get_level_values(0) == row["segment"]) & (
            (index.get_level_values(1) + 300 > row["begin"])
            & (index.get_level_values(1) < row["end"])
        )
        frame.loc[hit, "incident"] = True
        frame.loc[hit, "lanes_closed"] = int(row["lanes_closed"])
    table = (
        frame[["segment", "time", "flow", "speed", "density", "incident", "lanes_closed"]]
        .sort_values(["time", "segment"])
        .reset_index(drop=True)
    )
    table["lanes_closed"] = table["lanes_closed"].astype("int16")
    saturation = saturation_check(table, graph)
    metadata = {
        "network": str(graph.net_file),
        "network_summary": graph.summary(),
        "days": days,
        "start": str(origin),
        "seed": seed,
        "mesoscopic": mesoscopic,
        "demand": {
            "peak_vehicles_per_hour": float(peak),
            "peak_source": "given" if capacity is None else "network capacity",
            "capacity": capacity.to_dict() if capacity is not None else None,
            "routes": profile.routes,
            "incidents": len(incidents),
        },
        "sumo": report.to_dict(),
        "saturation": saturation.to_dict(),
    }
    _write_table(out, table, metadata)
    name = graph.net_file.name
    if saturation.saturated:
        warnings.warn(
            f"{name}: {saturation.describe()}; the demand (peak {peak:,.0f} veh/h) is more "
            "than the network carries: lower --peak", SimulationWarning, stacklevel=2)
    if report.flagged:
        warnings.warn(f"{name}: SUMO: {report.describe()}", SimulationWarning, stacklevel=2)
    return out


def _write_table(out: Path, table: pd.DataFrame, metadata: dict[str, Any]) -> None:
    """Write the macro table atomically as Parquet with ``metadata`` under :data:`METADATA_KEY`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(table, preserve_index=False)
    schema_metadata = dict(arrow.schema.metadata or {})
    schema_metadata[METADATA_KEY.encode()] = json.dumps(metadata, default=_json_default).encode()
    arrow = arrow.replace_schema_metadata(schema_metadata)
    with atomic_path(out) as tmp_file:
        pq.write_table(arrow, tmp_file)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def read_macro_metadata(path: str | Path) -> dict[str, Any]:
    """The simulation metadata of a macro table written by :func:`simulate_macro_data`.

    Returns
    -------
    dict
        ``network``, ``network_summary``, ``days``, ``start``, ``seed``, ``mesoscopic``,
        ``demand`` (peak, its source and the capacity estimate), ``sumo`` (the
        :class:`~traffic_ai.sumo_log.SumoReport`) and ``saturation`` (the
        :class:`~traffic_ai.saturation.SaturationReport`); empty for a table without them
        (e.g. converted from METR-LA).

    Raises
    ------
    ValidationError
        Not a Parquet file, or metadata that is not JSON.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for non-Parquet input
        raise ValidationError("not a Parquet macro table", file=path, value=str(exc)) from exc
    raw = (schema.metadata or {}).get(METADATA_KEY.encode())
    if raw is None:
        return {}
    try:
        metadata = json.loads(raw)
    except ValueError as exc:
        raise ValidationError("metadata is not JSON", file=path, field=METADATA_KEY) from exc
    if not isinstance(metadata, dict):
        raise ValidationError("metadata is not a JSON object", file=path, field=METADATA_KEY)
    return metadata


def load_macro_data(path: str | Path) -> pd.DataFrame:
    """Read a macro table (Parquet) and check its columns and types.

    The simulation's metadata, if any, is in ``frame.attrs["simulation"]``
    (:func:`read_macro_metadata`). Gaps are kept: a missing (segment, time) row or a NaN
    value stays missing, so metrics mask it and :class:`~traffic_ai.dataset.MacroDataset`
    reports it.

    Raises
    ------
    ValidationError
        Not a Parquet file, a missing column, or times that are not on 5-minute steps.
    """
    path = Path(path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for non-Parquet input
        raise ValidationError("not a Parquet macro table", file=path, value=str(exc)) from exc
    missing = [c for c in ("segment", "time") if c not in frame.columns]
    channels = [c for c in CHANNELS if c in frame.columns]
    if missing or not channels:
        raise ValidationError(
            "missing columns",
            file=path,
            value=missing or list(frame.columns),
            expected="segment, time and at least one of flow, speed, density",
        )
    frame["segment"] = frame["segment"].astype(str)
    frame["time"] = pd.to_datetime(frame["time"])
    offsets = (frame["time"] - frame["time"].min()) % INTERVAL
    if bool((offsets != pd.Timedelta(0)).any()):
        raise ValidationError(
            "times are not on a 5-minute grid", file=path, field="time", expected="5-minute steps"
        )
    frame.attrs["simulation"] = read_macro_metadata(path)
    return frame


def _gaussian_kernel(distance: np.ndarray, threshold: float = 0.1) -> np.ndarray:
    """DCRNN's ``exp(-(d/σ)²)`` on finite distances, σ their std; below ``threshold`` → 0."""
    finite = np.isfinite(distance)
    sigma = float(distance[finite].std()) or 1.0
    weights = np.where(finite, np.exp(-np.square(np.where(finite, distance, 0.0) / sigma)), 0.0)
    weights[weights < threshold] = 0.0
    np.fill_diagonal(weights, 0.0)
    return weights


def _read_speed_table(path: Path) -> pd.DataFrame:
    """The ``df`` table of a pandas HDF5 file: with PyTables if installed, else with h5py.

    The h5py reader understands pandas' *fixed* format, which METR-LA and PEMS-BAY use:
    group ``df`` with ``axis0`` (columns), ``axis1`` (index, int64 nanoseconds) and blocks
    ``blockK_items`` / ``blockK_values`` (values stored time × items).
    """
    import importlib.util

    if importlib.util.find_spec("tables") is not None:
        frame = pd.read_hdf(path, key="df")
        if not isinstance(frame, pd.DataFrame):
            raise TypeError("key 'df' is not a DataFrame")
        return frame
    import h5py

    def text(values: np.ndarray) -> list[str]:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]

    with h5py.File(path, "r") as handle:
        group = handle["df"]
        columns = text(group["axis0"][()])
        index = pd.DatetimeIndex(
            pd.to_datetime(np.asarray(group["axis1"][()], dtype="int64"), unit="ns")
        )
        frame = pd.DataFrame(index=index)
        k = 0
        while f"block{k}_items" in group:
            items = text(group[f"block{k}_items"][()])
            block = np.asarray(group[f"block{k}_values"][()], dtype=float)
            for j, item in enumerate(items):
                frame[item] = block[:, j]
            k += 1
    return frame[columns]


def load_metr_la(
    speeds: str | Path, adjacency: str | Path, *, threshold: float = 0.1
) -> tuple[pd.DataFrame, np.ndarray, str]:
    """Load a METR-LA / PEMS-BAY style dataset (HDF5 speeds + CSV or NPZ adjacency).

    Parameters
    ----------
    speeds
        HDF5 file with key ``df``: sensors as columns, a ``DatetimeIndex``, speeds (0 = missing).
    adjacency
        ``.csv`` with columns ``from,to,cost`` (road distance between sensor ids; a Gaussian
        kernel thresholded at ``threshold`` gives the weights) or ``.npz`` with ``sensor_ids``
        and ``adjacency`` (n × n) arrays, read with ``allow_pickle=False``.
    threshold
        Kernel weights below it are dropped (CSV only).

    Returns
    -------
    tuple
        (long table with ``segment``, ``time``, ``speed``; speeds of 0 become missing),
        the adjacency in the sensor order of the table, and a signature of the sensor graph.

    Raises
    ------
    ValidationError
        Unreadable files, a missing ``df`` key, a non-datetime index, or an adjacency whose
        sensors or size do not match the speed table.
    """
    speeds, adjacency = Path(speeds), Path(adjacency)
    try:
        wide = _read_speed_table(speeds)
    except (KeyError, OSError, ValueError, TypeError) as exc:
        raise ValidationError(
            "cannot read the speed table",
            file=speeds,
            field="df",
            value=str(exc),
            expected="an HDF5 file with key 'df'",
        ) from exc
    if not isinstance(wide, pd.DataFrame) or not isinstance(wide.index, pd.DatetimeIndex):
        raise ValidationError(
            "speed table needs a DatetimeIndex",
            file=speeds,
            field="df",
            expected="sensors as columns, time as index",
        )
    sensors = [str(c) for c in wide.columns]
    n = len(sensors)
    if adjacency.suffix == ".npz":
        try:
            with np.load(adjacency, allow_pickle=False) as npz:
                ids = [str(s) for s in npz["sensor_ids"]]
                weights = np.asarray(npz["adjacency"], dtype=float)
        except (KeyError, OSError, ValueError) as exc:
            raise ValidationError(
                "cannot read the adjacency",
                file=adjacency,
                value=str(exc),
                expected="an NPZ with arrays sensor_ids and adjacency",
            ) from exc
        if weights.shape != (len(ids), len(ids)) or len(ids) != n:
            raise ValidationError(
                "adjacency size does not match the data",
                file=adjacency,
                field="adjacency",
                value=weights.shape,
                expected=f"({n}, {n}) for {n} sensors",
            )
        order = [ids.index(s) if s in ids else -1 for s in sensors]
        if min(order) < 0:
            raise ValidationError(
                "adjacency sensors differ from the speed table",
                file=adjacency,
                field="sensor_ids",
                expected=f"the {n} sensors of {speeds.name}",
            )
        weights = weights[np.ix_(order, order)]
    else:
        try:
            edges = pd.read_csv(adjacency, dtype={"from": str, "to": str})
        except (OSError, ValueError) as exc:
            raise ValidationError("cannot read the adjacency", file=adjacency) from exc
        if not {"from", "to", "cost"} <= set(edges.columns):
            raise ValidationError(
                "missing columns",
                file=adjacency,
                value=list(edges.columns),
                expected="from, to, cost",
            )
        known = set(sensors)
        ids_in_csv = set(edges["from"]) | set(edges["to"])
        if not ids_in_csv <= known or len(ids_in_csv) != n:
            raise ValidationError(
                "adjacency size does not match the data",
                file=adjacency,
                value=f"{len(ids_in_csv)} sensors",
                expected=f"the {n} sensors of {speeds.name}",
            )
        position = {s: i for i, s in enumerate(sensors)}
        distance = np.full((n, n), np.inf)
        distance[edges["from"].map(position), edges["to"].map(position)] = edges["cost"]
        np.fill_diagonal(distance, 0.0)
        weights = _gaussian_kernel(distance, threshold)
    values = wide.to_numpy(dtype=float)
    values[values == 0.0] = np.nan
    table = pd.DataFrame(
        {
            "segment": np.tile(sensors, len(wide.index)),
            "time": np.repeat(wide.index.to_numpy(), n),
            "speed": values.reshape(-1),
        }
    )
    digest = hashlib.sha256(("\n".join(sensors)).encode())
    digest.update(np.round(weights, 6).tobytes())
    return table, weights, digest.hexdigest()
