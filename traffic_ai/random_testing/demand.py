"""Demand for the microscopic simulation: routes that reproduce forecast flows.

Two sources of demand:

- **From the macro model** (:func:`sample_routes`): the per-segment flow forecast of
  the traffic model becomes an edgedata count file (vehicles per 5-minute interval),
  SUMO's ``routeSampler.py`` picks routes from a set of candidate routes (written by
  ``randomTrips.py``) and then adjusts the route counts with its linear program
  (``--optimize``, scipy) so that the counts are met as closely as possible, and
  :func:`check_demand` runs SUMO on the result and compares the simulated hourly
  volumes with the forecast by GEH.
- **Without a model** (:func:`random_demand`): ``randomTrips.py`` with a time-of-day
  profile (the demand profile of :mod:`traffic_ai.macro_data`), in equal time slots; its
  peak is given or derived from the network's capacity (:mod:`traffic_ai.capacity`).

Both write plain SUMO route files whose vehicles have ``type="traffic"``; the runner
defines that type (or a calibrated ``vTypeDistribution`` of that id) in an additional
file. Every route is for one vehicle class (``passenger`` by default): randomTrips picks
origins and destinations among the edges that allow it (``--vclass``) and duarouter routes
a ``traffic`` type of that class, so no route starts on a footway or uses a bus lane or a
tram track.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree as DET
import numpy as np
import pandas as pd

from safety_val._io import atomic_write_text
from safety_val.errors import ValidationError
from traffic_ai.network import DEFAULT_VCLASS, check_vclass
from traffic_ai.random_testing.geh import GehResult, geh_check
from traffic_ai.sumo_log import sumo_log_options

__all__ = [
    "TRAFFIC_TYPE",
    "Demand",
    "check_demand",
    "forecast_to_edgedata",
    "hourly_volumes",
    "random_demand",
    "read_edge_counts",
    "sample_routes",
    "sumo_tool",
]

#: Vehicle type (or vTypeDistribution) id of the background traffic.
TRAFFIC_TYPE = "traffic"
_FORECAST_COLUMNS = ("segment", "time", "flow")
_VEHICLE_ATTRIBUTES = f'type="{TRAFFIC_TYPE}" departLane="best" departSpeed="max"'


@dataclass(frozen=True)
class Demand:
    """Routes for one time window.

    Attributes
    ----------
    routes
        The SUMO route file.
    duration
        Length of the window (s); simulation time 0 is its start.
    counts
        The edgedata count file the routes were sampled for, if any.
    start
        Wall-clock start of the window, if known.
    vclass
        The SUMO vehicle class of the routes.
    peak_vehicles_per_hour
        Random trips: the peak demand of the profile (veh/h).
    """

    routes: Path
    duration: float
    counts: Path | None = None
    start: pd.Timestamp | None = None
    vclass: str = DEFAULT_VCLASS
    peak_vehicles_per_hour: float | None = None


def sumo_tool(name: str) -> Path:
    """Path of a script in the ``tools`` folder of the eclipse-sumo package."""
    import sumo  # type: ignore[import-untyped]

    return Path(sumo.SUMO_HOME) / "tools" / name


def _traffic_vtype(folder: Path, vclass: str) -> list[str]:
    """The randomTrips options that route a ``traffic`` vehicle of ``vclass``.

    duarouter reads the type from an additional file and writes it to a separate file
    (``--vtype-output``), so the route file keeps only vehicles: the runner defines the
    ``traffic`` type itself.
    """
    vtype = folder / "traffic.vtype.add.xml"
    atomic_write_text(vtype, f'<additional>\n  <vType id="{TRAFFIC_TYPE}" vClass="{vclass}"/>\n'
                             "</additional>\n")
    return ["--vclass", vclass, "--additional-files", str(vtype),
            "--vtype-output", str(folder / "traffic.vtype.out.xml")]


def _run_tool(args: list[str], what: str) -> None:
    env = dict(os.environ)
    import sumo

    env.setdefault("SUMO_HOME", str(sumo.SUMO_HOME))
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit {proc.returncode}"
        raise ValidationError(f"{what} failed: {reason}")


def _check_forecast(forecast: pd.DataFrame, segments: set[str] | None) -> pd.DataFrame:
    missing = [c for c in _FORECAST_COLUMNS if c not in forecast.columns]
    if missing:
        raise ValidationError("missing column", field="forecast", value=missing[0],
                              expected="columns segment, time, flow (veh/h)")
    if forecast.empty:
        raise ValidationError("empty forecast", field="forecast")
    flow = forecast["flow"].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(flow)) or np.any(flow < 0):
        raise ValidationError("flows must be finite and >= 0", field="forecast.flow")
    if segments is not None:
        unknown = sorted(set(forecast["segment"].astype(str)) - segments)
        if unknown:
            raise ValidationError(
                "forecast segment is not an edge of the network", field="forecast.segment",
                value=unknown[0], expected="SUMO edge ids of the simulated network",
            )
    frame = forecast.loc[:, list(_FORECAST_COLUMNS)].copy()
    frame["segment"] = frame["segment"].astype(str)
    frame["time"] = pd.to_datetime(frame["time"])
    return frame


def _interval_seconds(times: pd.Series) -> float:
    steps = np.diff(np.sort(times.unique()))
    if len(steps) == 0:
        return 300.0
    return float(pd.Timedelta(steps.min()).total_seconds())


def forecast_to_edgedata(forecast: pd.DataFrame, path: str | Path, *,
                         segments: set[str] | None = None) -> tuple[Path, float]:
    """Write the forecast as an edgedata count file for ``routeSampler.py``.

    Parameters
    ----------
    forecast
        Long table ``segment``, ``time`` (equal steps, e.g. 5 min), ``flow`` (veh/h).
    path
        The file to write.
    segments
        Edge ids of the network; forecast segments outside it are refused.

    Returns
    -------
    (Path, float)
        The file and the window duration (s). Interval ``k`` covers simulation time
        ``[k T, (k + 1) T)`` with ``T`` the forecast step; its count of a segment is
        ``round(flow T / 3600)`` vehicles.

    Raises
    ------
    ValidationError
        Missing columns, negative flows, or segments not in ``segments``.
    """
    frame = _check_forecast(forecast, segments)
    step = _interval_seconds(frame["time"])
    start = frame["time"].min()
    frame["begin"] = (frame["time"] - start).dt.total_seconds()
    frame["count"] = np.rint(frame["flow"] * step / 3600.0).astype(int)
    lines = ["<data>"]
    for begin_value, group in frame.groupby("begin", sort=True):
        begin = float(begin_value)  # type: ignore[arg-type]
        lines.append(f'  <interval id="forecast" begin="{begin:.0f}" end="{begin + step:.0f}">')
        lines += [f'    <edge id="{s}" entered="{c}"/>'
                  for s, c in zip(group["segment"], group["count"], strict=True) if c > 0]
        lines.append("  </interval>")
    lines.append("</data>")
    out = Path(path)
    atomic_write_text(out, "\n".join(lines) + "\n")
    duration = float(frame["begin"].max() + step)
    return out, duration


def _candidate_routes(network: Path, out: Path, *, duration: float, seed: int,
                      count: int, vclass: str = DEFAULT_VCLASS) -> Path:
    """``count`` random routes of ``vclass`` through the network (randomTrips.py + duarouter)."""
    period = max(duration / max(count, 1), 1e-3)
    _run_tool([
        str(sumo_tool("randomTrips.py")), "-n", str(network), "-b", "0", "-e", f"{duration:.0f}",
        "-p", f"{period:.6f}", "--seed", str(seed), "--min-distance", "300",
        "--fringe-factor", "5", "-o", str(out.with_suffix(".trips.xml")), "-r", str(out),
        "--validate", "--remove-loops", *_traffic_vtype(out.parent, vclass),
    ], "randomTrips.py")
    return out


def sample_routes(network: str | Path, forecast: pd.DataFrame, out_dir: str | Path, *,
                  seed: int = 0, candidates: int = 2000, optimize: int | str = 10,
                  vclass: str = DEFAULT_VCLASS) -> Demand:
    """Routes whose edge counts follow the forecast, sampled by SUMO's ``routeSampler.py``.

    Parameters
    ----------
    network
        The SUMO network.
    forecast
        Long table ``segment``, ``time``, ``flow`` (veh/h) of one time window.
    out_dir
        Folder for the count, candidate and route files.
    seed
        Seed of randomTrips and routeSampler.
    candidates
        Number of candidate routes routeSampler chooses from.
    optimize
        routeSampler's ``--optimize``: after sampling, a linear program changes the
        count of every sampled route by at most this many vehicles (or freely with
        ``"full"``, which keeps fewer distinct routes) to minimise the count mismatch;
        ``0`` keeps the sampled routes.
    vclass
        The SUMO vehicle class of the routes: candidates start, end and run on edges that
        allow it, and forecast segments closed to it are refused.

    Returns
    -------
    Demand

    Raises
    ------
    ValidationError
        A bad forecast (see :func:`forecast_to_edgedata`), ``optimize`` or ``vclass``, or
        a failing SUMO tool.

    Notes
    -----
    routeSampler works interval by interval: it samples routes that pass under-counted
    edges and never overshoots a count, so a forecast that is not flow-conserving at
    junctions (a GNN's forecast is not) leaves many edges under-counted (on a 6 x 6
    city grid 17 % of the vehicles were missing). The ``--optimize`` step trades
    overshoot on some edges against undershoot on others (minimum total absolute
    mismatch). routeSampler's per-edge mismatch is written to
    ``mismatch.edgedata.xml``; the simulated match is judged by GEH with
    :func:`check_demand`.
    """
    from traffic_ai.network import load_road_graph

    if optimize != "full" and (isinstance(optimize, bool) or not isinstance(optimize, int)
                               or optimize < 0):
        raise ValidationError("invalid routeSampler optimisation", field="optimize",
                              value=optimize, expected='"full" or an int >= 0')
    check_vclass(vclass)
    network = Path(network)
    segments = set(load_road_graph(network, vclass=vclass).segments)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    counts, duration = forecast_to_edgedata(forecast, folder / "counts.edgedata.xml",
                                            segments=segments)
    candidate_file = _candidate_routes(network, folder / "candidates.rou.xml",
                                       duration=duration, seed=seed, count=candidates,
                                       vclass=vclass)
    routes = folder / "demand.rou.xml"
    _run_tool([
        str(sumo_tool("routeSampler.py")), "-r", str(candidate_file), "-d", str(counts),
        "-o", str(routes), "--seed", str(seed), "--attributes", _VEHICLE_ATTRIBUTES,
        "--prefix", "t", "--weighted", "--mismatch-output", str(folder / "mismatch.edgedata.xml"),
        *(["--optimize", str(optimize)] if optimize != 0 else []),
    ], "routeSampler.py")
    start = pd.to_datetime(forecast["time"]).min()
    return Demand(routes, duration, counts, start, vclass)


def random_demand(network: str | Path, out_dir: str | Path, *, hours: float, seed: int = 0,
                  start_hour: float = 8.0, peak_vehicles_per_hour: float | None = None,
                  slots_per_hour: int = 4, vclass: str = DEFAULT_VCLASS) -> Demand:
    """Random trips with a time-of-day profile (no traffic model).

    Parameters
    ----------
    network
        The SUMO network.
    out_dir
        Folder for the route file.
    hours
        Length of the window (h).
    seed
        Seed of randomTrips.
    start_hour
        Time of day at simulation time 0 (h, weekday).
    peak_vehicles_per_hour
        Vehicles per hour entering the network at the weekday peak; ``None`` derives it
        from the network's capacity (:func:`traffic_ai.capacity.network_capacity`).
    slots_per_hour
        The profile is piecewise constant over this many slots per hour.
    vclass
        The SUMO vehicle class of the trips (origins, destinations and routes on edges
        that allow it).

    Returns
    -------
    Demand

    Raises
    ------
    ValidationError
        ``hours <= 0``, ``peak_vehicles_per_hour <= 0``, an unknown ``vclass``, a network
        without edges for it, or randomTrips failing.

    Notes
    -----
    The share of the peak at hour ``h`` is the mean of the inbound and outbound
    weekday profile of :class:`traffic_ai.macro_data.DemandProfile`; randomTrips
    applies one insertion period per equal time slot.
    """
    from traffic_ai.macro_data import DemandProfile

    if not hours > 0:
        raise ValidationError("must be > 0", field="hours", value=hours)
    check_vclass(vclass)
    if peak_vehicles_per_hour is None:
        from traffic_ai.capacity import network_capacity

        peak_vehicles_per_hour = network_capacity(network, vclass=vclass).peak_vehicles_per_hour
    elif not peak_vehicles_per_hour > 0:
        raise ValidationError("must be > 0", field="peak_vehicles_per_hour",
                              value=peak_vehicles_per_hour, expected="vehicles per hour")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    duration = hours * 3600.0
    slots = max(1, int(np.ceil(hours * slots_per_hour)))
    centres = start_hour + (np.arange(slots) + 0.5) * hours / slots
    inbound, outbound = DemandProfile().rates(centres % 24.0, np.zeros(slots, dtype=bool))
    rates = peak_vehicles_per_hour * (inbound + outbound) / 2.0
    routes = folder / "demand.rou.xml"
    _run_tool([
        str(sumo_tool("randomTrips.py")), "-n", str(network), "-b", "0", "-e", f"{duration:.0f}",
        "--insertion-rate", *[f"{r:.3f}" for r in rates], "--seed", str(seed),
        "--min-distance", "300", "--fringe-factor", "5", "--prefix", "t",
        "--trip-attributes", _VEHICLE_ATTRIBUTES, "-o", str(folder / "trips.xml"),
        "-r", str(routes), "--validate", "--remove-loops", *_traffic_vtype(folder, vclass),
    ], "randomTrips.py")
    return Demand(routes, duration, vclass=vclass,
                  peak_vehicles_per_hour=float(peak_vehicles_per_hour))


def read_edge_counts(path: str | Path, *, attribute: str = "left") -> pd.DataFrame:
    """Vehicle counts per edge and interval from a SUMO ``edgeData`` output file.

    Returns
    -------
    DataFrame
        ``segment``, ``begin``, ``end`` (s) and ``count`` (vehicles ``attribute``,
        default those that left the edge, as in the macro data).
    """
    rows: list[tuple[str, float, float, float]] = []
    root = DET.parse(str(path)).getroot()
    for interval in root.iter("interval"):
        begin, end = float(interval.get("begin", "0")), float(interval.get("end", "0"))
        for edge in interval.iter("edge"):
            rows.append((edge.get("id", ""), begin, end, float(edge.get(attribute, "0"))))
    return pd.DataFrame(rows, columns=["segment", "begin", "end", "count"])


def hourly_volumes(forecast: pd.DataFrame) -> pd.DataFrame:
    """Mean forecast flow per segment and hour of the window (``segment``, ``hour``, ``flow``)."""
    frame = _check_forecast(forecast, None)
    start = frame["time"].min()
    frame["hour"] = ((frame["time"] - start).dt.total_seconds() // 3600).astype(int)
    return frame.groupby(["segment", "hour"], as_index=False).agg(flow=("flow", "mean"))


def check_demand(network: str | Path, demand: Demand, forecast: pd.DataFrame,
                 out_dir: str | Path, *, seed: int = 0, min_count: float = 50.0,
                 additional: Path | None = None, drain: float = 600.0) -> GehResult:
    """Simulate the demand (SUMO, no egos) and compare hourly volumes with the forecast.

    Parameters
    ----------
    network, demand
        The network and the routes to check.
    forecast
        The forecast the demand was built from.
    out_dir
        Folder for the edgedata output.
    seed
        SUMO seed.
    min_count
        Only segments with a forecast of at least this many veh/h are compared (GEH is
        meant for counted, not empty, segments).
    additional
        Additional file defining the ``traffic`` vehicle type (default: a plain one of the
        demand's vehicle class).
    drain
        Simulated time after the window (s) so that vehicles that departed late in the
        window still drive their routes.

    Returns
    -------
    GehResult
        One row per segment: the forecast's mean flow over the window against the
        simulated volume (vehicles that entered or departed on the segment from the
        start of the window to the end of the drain, per hour of window), in veh/h.

    Notes
    -----
    The check is whether SUMO carries the sampled demand: routes that could not be
    inserted (``--max-depart-delay``), teleports and gridlock show up as missing
    volume. Comparing per hour of simulated time instead would count the warm-up and
    the unfinished trips at the window's end as errors. SUMO's warnings, statistics and
    summary are written to ``out_dir`` (read them with
    :func:`traffic_ai.sumo_log.read_sumo_report`).
    """
    from traffic_ai.network import sumo_binary

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "check.edgedata.xml"
    meandata = folder / "check.add.xml"
    end = demand.duration + drain
    edge_data = (f'  <edgeData id="check" begin="0" end="{end:.0f}" period="{end:.0f}" '
                 f'file="{output.name}" excludeEmpty="true"/>\n')
    vtype = ("" if additional is not None
             else f'  <vType id="{TRAFFIC_TYPE}" vClass="{demand.vclass}"/>\n')
    atomic_write_text(meandata, f"<additional>\n{edge_data}{vtype}</additional>\n")
    files = ",".join(str(p) for p in ([additional] if additional else []) + [meandata])
    proc = subprocess.run([
        sumo_binary("sumo"), "-n", str(network), "-r", str(demand.routes), "-a", files,
        "--begin", "0", "--end", f"{end:.0f}", "--seed", str(seed),
        "--no-step-log", "--time-to-teleport", "120", "--max-depart-delay", "60",
        *sumo_log_options(folder),
    ], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        from traffic_ai.sumo_log import LOG_FILE

        log = folder / LOG_FILE
        text = log.read_text(errors="replace") if log.is_file() else proc.stderr
        raise ValidationError("SUMO failed on the demand: " + text.strip()[-300:])
    counts = read_edge_counts(output, attribute="entered")
    departed = read_edge_counts(output, attribute="departed")
    counts["count"] += departed["count"].to_numpy()
    counts["hour"] = 0
    counts["flow"] = counts["count"] / (demand.duration / 3600.0)
    target = hourly_volumes(forecast).groupby("segment", as_index=False)["flow"].mean()
    return geh_check(counts[["segment", "hour", "flow"]], target.assign(hour=0),
                     min_count=min_count)
