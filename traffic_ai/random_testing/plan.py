"""Plan a random test: demand per time window, then seeds x windows x regions instances.

:func:`plan_random_test` builds the demand of every time window (from the traffic
model's forecast with ``routeSampler``, GEH-checked, or from random trips with a
time-of-day profile when no model is given) and one
:class:`~traffic_ai.random_testing.runner.InstanceSpec` per seed, window and network
region. :func:`random_test` runs the plan and writes everything to one folder.

The network is read first (:func:`traffic_ai.network.load_road_graph`) for the vehicle
class of the test: a network without roads for it, or an ego region without two of its
edges, is bad input before anything runs. The summary names the edges closed to the
class by kind, the demand's peak and where it came from, every instance that failed with
its first error, and SUMO's warnings of all instances.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from safety_val._io import atomic_write_text
from safety_val.errors import ValidationError
from traffic_ai.macro_data import SimulationWarning
from traffic_ai.network import DEFAULT_VCLASS, RoadGraph, check_vclass, load_road_graph
from traffic_ai.random_testing.demand import Demand, check_demand, random_demand, sample_routes
from traffic_ai.random_testing.geh import GEH_THRESHOLD, GehResult, hourly_geh
from traffic_ai.random_testing.runner import InstanceSpec, RandomTestResult, run_random_test
from traffic_ai.sumo_log import SumoReport, read_sumo_report

__all__ = ["RandomTestPlan", "network_regions", "plan_random_test", "random_test"]


@dataclass
class RandomTestPlan:
    """Instances of a random test and the check of their demand.

    Attributes
    ----------
    specs
        One instance per seed, window and region.
    demands
        The demand of each window.
    geh
        GEH of the simulated against the forecast volumes, one row per counted segment
        and window (``None`` without a model).
    geh_hourly
        The same as hourly volumes (the means of the windows of each hour), the usual
        form of the calibration criterion (``None`` without a model).
    notes
        Settings of the check: ``min_count`` (veh/h) of a counted segment.
    graph
        The road graph of the test's vehicle class (``None`` for a plan built by hand).
    demand_info
        The demand: ``source`` (``model`` or ``random trips``), ``peak_vehicles_per_hour``
        and ``peak_source`` (``given`` or ``network capacity``, with the ``capacity``
        estimate) for random trips.
    demand_sumo
        SUMO's warnings of the demand checks (with a model and ``check``).
    """

    specs: list[InstanceSpec]
    demands: list[Demand]
    geh: GehResult | None = None
    geh_hourly: GehResult | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    graph: RoadGraph | None = None
    demand_info: dict[str, Any] = field(default_factory=dict)
    demand_sumo: SumoReport | None = None


def network_regions(network: str | Path, count: int) -> list[tuple[float, float, float, float]]:
    """Split the network's bounding box into ``count`` vertical strips of equal width."""
    from sumolib.net import readNet

    if count < 1:
        raise ValidationError("must be >= 1", field="regions", value=count)
    x0, y0, x1, y1 = (float(v) for v in readNet(str(network)).getBoundary())
    edges = np.linspace(x0, x1, count + 1)
    return [(float(edges[i]), y0, float(edges[i + 1]), y1) for i in range(count)]


def _check_regions(network: Path, graph: RoadGraph,
                   boxes: list[tuple[float, float, float, float]]) -> None:
    """Refuse a region in which fewer than two segments of the graph start (no ego route)."""
    from sumolib.net import readNet

    net = readNet(str(network))
    starts = [net.getEdge(s).getShape()[0] for s in graph.segments]
    for r, (x0, y0, x1, y1) in enumerate(boxes):
        inside = sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y, *_ in starts)
        if inside < 2:
            raise ValidationError(
                f"ego region {r} has {inside} edges open to {graph.vclass!r}", file=network,
                field="regions", value=len(boxes), expected="fewer regions")


def plan_random_test(
    network: str | Path,
    out_dir: str | Path,
    *,
    egos: int = 100,
    hours: float = 1.0,
    model: str | Path | None = None,
    start: str | pd.Timestamp = "2024-01-03 08:00",
    seeds: int = 1,
    window_minutes: float = 15.0,
    regions: int = 1,
    policy: Any = "reference",
    vtypes: str | Path | None = None,
    peak_vehicles_per_hour: float | None = None,
    check: bool = True,
    min_count: float = 50.0,
    vclass: str = DEFAULT_VCLASS,
) -> RandomTestPlan:
    """Build the demand of every window and the instances of a random test.

    Parameters
    ----------
    network
        The SUMO network (``.net.xml`` or ``.net.xml.gz``).
    out_dir
        Folder of the run (demand files under ``demand/``).
    egos
        Egos per instance.
    hours
        Simulated time per seed and region (h), cut into windows.
    model
        A trained traffic model folder; ``None``: random trips with a time-of-day profile.
    start
        Wall-clock start of the first window (time of day of the demand).
    seeds, window_minutes, regions
        Instances are seeds x windows x regions.
    policy
        The ADS under test (see :func:`~traffic_ai.random_testing.egos.resolve_policy`).
    vtypes
        Additional file with the ``traffic`` vTypeDistribution (e.g. from
        :func:`~traffic_ai.random_testing.calibration.vtype_distribution`).
    peak_vehicles_per_hour
        Demand level without a model (veh/h at the weekday peak); ``None`` derives it
        from the network's capacity (:func:`traffic_ai.capacity.network_capacity`).
    check
        With a model: simulate each window's demand and compare with GEH.
    min_count
        A segment is counted (compared by GEH) in a window, or an hour, when its
        forecast is at least this (veh/h).
    vclass
        SUMO vehicle class of the background traffic and the egos.

    Returns
    -------
    RandomTestPlan

    Raises
    ------
    ValidationError
        Bad sizes, a file that is not a SUMO network, a network or an ego region without
        edges for ``vclass``, a peak <= 0, or a model trained on another network (from
        :func:`traffic_ai.forecasting.forecast`).
    """
    network = Path(network)
    if not network.is_file():
        raise ValidationError("network file not found", file=network, field="network")
    for name, value in (("egos", egos), ("seeds", seeds), ("regions", regions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("must be an int >= 1", field=name, value=value)
    if not hours > 0 or not window_minutes > 0:
        raise ValidationError("must be > 0", field="hours / window_minutes",
                              value=(hours, window_minutes))
    check_vclass(vclass)
    if peak_vehicles_per_hour is not None and not peak_vehicles_per_hour > 0:
        raise ValidationError("must be > 0", field="peak_vehicles_per_hour",
                              value=peak_vehicles_per_hour, expected="vehicles per hour")
    graph = load_road_graph(network, vclass=vclass)
    boxes: list[tuple[float, float, float, float] | None] = [None]
    if regions > 1:
        strips = network_regions(network, regions)
        _check_regions(network, graph, strips)
        boxes = list(strips)
    demand_info: dict[str, Any] = {"source": "model" if model is not None else "random trips"}
    if model is None:
        if peak_vehicles_per_hour is None:
            from traffic_ai.capacity import network_capacity

            capacity = network_capacity(graph)
            peak_vehicles_per_hour = capacity.peak_vehicles_per_hour
            demand_info.update(peak_source="network capacity", capacity=capacity.to_dict())
        else:
            demand_info["peak_source"] = "given"
        demand_info["peak_vehicles_per_hour"] = float(peak_vehicles_per_hour)
    folder = Path(out_dir)
    first = pd.Timestamp(start)
    windows = int(np.ceil(hours * 60.0 / window_minutes - 1e-9))
    length = hours * 3600.0 / windows
    forecast_table = None
    if model is not None:
        from traffic_ai.forecasting import forecast

        forecast_table = forecast(model, network, first, hours)
    demands: list[Demand] = []
    geh_tables = []
    checks: list[SumoReport] = []
    for w in range(windows):
        begin = first + pd.Timedelta(seconds=w * length)
        target = folder / "demand" / f"w{w}"
        if forecast_table is not None:
            times = pd.to_datetime(forecast_table["time"])
            part = forecast_table[(times >= begin) & (times < begin + pd.Timedelta(seconds=length))]
            demand = sample_routes(network, part, target, seed=w, vclass=vclass)
            if check:
                result = check_demand(network, demand, part, target, seed=w, min_count=0.0,
                                      additional=Path(vtypes) if vtypes else None)
                checks.append(read_sumo_report(target))
                geh_tables.append(result.table.assign(hour=int((w * length) // 3600.0),
                                                      window=w))
        else:
            hour = begin.hour + begin.minute / 60.0
            demand = random_demand(network, target, hours=length / 3600.0, seed=w,
                                   start_hour=hour, peak_vehicles_per_hour=peak_vehicles_per_hour,
                                   vclass=vclass)
        demands.append(demand)
    specs = []
    for seed in range(seeds):
        for w, demand in enumerate(demands):
            for r, box in enumerate(boxes):
                specs.append(InstanceSpec(
                    f"s{seed}w{w}r{r}", str(network), str(demand.routes), demand.duration, egos,
                    1000 * seed + w, str(folder), policy=policy,
                    vtypes=str(vtypes) if vtypes else None, region=box,
                    window=str(pd.Timestamp(first + pd.Timedelta(seconds=w * length))),
                    vclass=vclass,
                ))
    geh = geh_hourly = None
    if geh_tables:
        table = pd.concat(geh_tables, ignore_index=True)
        counted = table[table["counted"] >= min_count].reset_index(drop=True)
        if counted.empty:
            raise ValidationError("no counted segment to compare", field="min_count",
                                  value=min_count, expected="a forecast flow >= min_count")
        geh = GehResult(counted, float(np.mean(counted["geh"].to_numpy() < GEH_THRESHOLD)))
        geh_hourly = hourly_geh(table, min_count=min_count)
    return RandomTestPlan(specs, demands, geh, geh_hourly, {"min_count": min_count}, graph,
                          demand_info, SumoReport.combine(checks) if checks else None)


def random_test(
    network: str | Path,
    out_dir: str | Path,
    *,
    executor: Any = None,
    progress: Callable[[float, float], None] | None = None,
    odd: str | Path | None = None,
    max_xosc: int = 50,
    seed: int = 0,
    **options: Any,
) -> tuple[RandomTestPlan, RandomTestResult, list[Any]]:
    """Plan, run and save a random test; mine candidate scenarios; export replays.

    Writes to ``out_dir``: ``events.parquet``, ``states.parquet``, ``instances.parquet``,
    ``ego_errors.parquet``, ``rates.csv``, ``summary.json``, ``xosc/<event>.xosc`` (the
    most severe ``max_xosc`` events with states) with the road network they reference,
    ``xosc/network.xodr`` (OpenDRIVE from ``netconvert``), and ``candidates/*.yaml``.

    Parameters
    ----------
    network, out_dir
        The SUMO network and the output folder.
    executor
        Where the instances run (default serial).
    progress
        ``(simulated s done, total)`` as instances finish.
    odd
        ODD of the candidate scenarios (default ``scenarios/odd/urban.yaml`` of the
        source tree); candidates are skipped when it is not found.
    max_xosc
        Most events exported as OpenSCENARIO.
    seed
        Seed of the clustering.
    **options
        Passed to :func:`plan_random_test`.

    Returns
    -------
    (RandomTestPlan, RandomTestResult, list of CandidateScenario)

    Warns
    -----
    SimulationWarning
        More than 1 % of the vehicles of the instances (or of the demand checks) were
        teleported or dropped (:attr:`traffic_ai.sumo_log.SumoReport.flagged`).

    Notes
    -----
    ``summary.json`` holds ``instances``, ``instances_ok``, ``instances_failed`` and
    ``failed`` (id, status, attempts, first error and last message of each instance that
    failed every attempt), ``vclass``, ``network_summary`` (with the edges closed to the
    class by kind), ``demand`` (peak and its source), ``sumo`` (SUMO's warnings of all
    instances that ran), ``demand_check_sumo``, ``warnings`` (the lines raised as
    :class:`~traffic_ai.macro_data.SimulationWarning`), exposure, events, GEH, rates,
    template coverage and candidates.
    """
    from traffic_ai.random_testing.events import SEVERITY
    from traffic_ai.random_testing.mining import candidate_scenarios, template_coverage
    from traffic_ai.random_testing.replay import export_xosc

    folder = Path(out_dir)
    plan = plan_random_test(network, folder, **options)
    result = run_random_test(plan.specs, executor=executor, progress=progress)
    result.save(folder)
    events = result.events
    if len(events):
        ranked = events[events["has_states"].astype(bool)].assign(
            severity=events["event_type"].map(SEVERITY)).sort_values(
            ["severity", "min_ttc"], ascending=[False, True]).head(max_xosc)
        for row in ranked.to_dict("records"):
            export_xosc({str(k): v for k, v in row.items()}, result.states,
                        folder / "xosc" / f"{row['event_id']}.xosc", network=network)
    odd_path = Path(odd) if odd else Path(__file__).resolve().parents[2] / "scenarios" / "odd" \
        / "urban.yaml"
    candidates = (candidate_scenarios(events, folder / "candidates", odd=odd_path, seed=seed)
                  if odd_path.is_file() and len(events) else [])
    failed = result.failed
    notices = []
    for what, report in (("instances", result.sumo), ("demand check", plan.demand_sumo)):
        if report is not None and report.flagged:
            notices.append(f"SUMO ({what}): {report.describe()}")
    for notice in notices:
        warnings.warn(notice, SimulationWarning, stacklevel=2)
    summary = {
        "network": str(network), "instances": len(plan.specs),
        "instances_ok": result.instances_ok, "instances_failed": len(failed),
        "failed": [{"instance_id": row["instance_id"], "status": row["status"],
                    "attempts": int(row["attempts"]), "first_error": row["first_error"],
                    "message": row["message"]} for row in failed.to_dict("records")],
        "vclass": plan.graph.vclass if plan.graph is not None else None,
        "network_summary": plan.graph.summary() if plan.graph is not None else None,
        "demand": plan.demand_info,
        "sumo": result.sumo.to_dict(),
        "demand_check_sumo": plan.demand_sumo.to_dict() if plan.demand_sumo else None,
        "warnings": notices,
        "distance_km": result.distance_km, "ego_hours": result.ego_hours,
        "events": len(events), "geh": plan.geh.to_dict() if plan.geh else None,
        "geh_hourly": plan.geh_hourly.to_dict() if plan.geh_hourly else None,
        "geh_min_count": plan.notes.get("min_count"),
        "rates": result.rates.to_dict("records"),
        "template_coverage": (template_coverage(events).to_dict("records")
                              if "conflict_type" in events.columns and len(events) else []),
        "candidates": [str(c.path) for c in candidates],
    }
    atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2, default=str))
    return plan, result, candidates
