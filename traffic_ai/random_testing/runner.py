"""One SUMO instance with many egos, and many instances through an executor.

:func:`run_instance` runs one instance (one network, one time window of demand, one
seed, one ego region) in this process with libsumo: background traffic from the
route file, ``N`` egos driven every step by the ADS under test, NG events recorded by
:class:`~traffic_ai.random_testing.events.EventDetector` and SUMO's SSM device (whose
conflicts get their states from the detector's close-encounter captures).
libsumo holds one simulation per process, so each instance is one task of an
executor (:func:`safety_val.execution.make_executor`): with the process or Ray
executor every instance gets its own worker process.

:func:`run_random_test` maps the instances over the executor. A worker that dies
(SUMO crashing the process) is retried by the executor; an instance that raises is
caught inside the task and resubmitted; every attempt is counted in an attempt file,
and an instance that fails every attempt is kept in the instance table with its
status, its first error and its last message, never dropped.

Vehicle classes and SUMO's warnings: the background traffic and the egos are of one
vehicle class (``passenger`` by default); egos start and end only on edges with a lane
open to it and are routed for their own type. SUMO's warnings go to the instance's
``sumo.log`` (not the console) and are counted with its statistics
(:class:`~traffic_ai.sumo_log.SumoReport`: teleports, discarded vehicles, invalid routes,
collisions) in the instance table's ``sumo_*`` columns.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from safety_val._io import atomic_write_bytes, atomic_write_text
from safety_val.errors import SimulationError, ValidationError
from traffic_ai.network import DEFAULT_VCLASS
from traffic_ai.random_testing.demand import TRAFFIC_TYPE
from traffic_ai.random_testing.egos import (
    CAR_WIDTH,
    EGO_VARIABLES,
    TARGET_VARIABLES,
    VAR_ALLOWED_SPEED,
    VAR_DISTANCE,
    VAR_LANE_ID,
    VAR_LANEPOSITION,
    VAR_NEXT_TLS,
    add_junction_context,
    build_view,
    policy_commands,
    resolve_policy,
)
from traffic_ai.random_testing.events import (
    EVENT_COLUMNS,
    STATE_COLUMNS,
    EventDetector,
    Thresholds,
    merge_ssm,
    read_ssm,
)
from traffic_ai.random_testing.rates import rate_table
from traffic_ai.sumo_log import SumoReport, read_sumo_report, sumo_log_options

__all__ = [
    "EGO_TYPE",
    "InstanceResult",
    "InstanceSpec",
    "RandomTestResult",
    "run_instance",
    "run_random_test",
    "traffic_options",
]

#: Vehicle type id of the egos (carries the SSM device).
EGO_TYPE = "ego"
#: Speed mode of controlled egos: SUMO keeps acceleration limits, right of way and red
#: lights (bits 1-4) but not the safe speed to the leader (bit 0): the ADS follows.
EGO_SPEED_MODE = 0b011110
_CMD_GET_VEHICLE_VARIABLE = 0xA4


@dataclass(frozen=True)
class InstanceSpec:
    """One SUMO instance of a random test.

    Attributes
    ----------
    instance_id
        Unique name (used in event ids and file names).
    network, routes
        SUMO network and background route file (vehicles of type ``traffic``).
    duration
        Simulated time (s).
    egos
        Number of egos kept on the road (an ego that arrives is replaced).
    seed
        Seed of SUMO and of the ego routes.
    out_dir
        Folder of the run; the instance writes under ``instances/<instance_id>/``.
    policy
        ADS under test: ``"reference"``, ``"module:attribute"`` or a picklable policy.
    vtypes
        Additional file defining the ``traffic`` type or vTypeDistribution (default: a
        plain Krauss passenger car).
    region
        ``(xmin, ymin, xmax, ymax)``: egos start and end on edges inside (default: all).
    step_length, sensor_range, targets
        Step (s), sensor range (m) and target slots of the egos' view.
    thresholds
        NG event thresholds.
    window
        Label of the demand window (for the instance table).
    ego_route_length
        Shortest ego route (m).
    ego_routes
        Fixed ego routes (edge ids), used in turn instead of random ones.
    vclass
        SUMO vehicle class of the egos and (without ``vtypes``) of the background traffic.
    """

    instance_id: str
    network: str
    routes: str
    duration: float
    egos: int
    seed: int
    out_dir: str
    policy: Any = "reference"
    vtypes: str | None = None
    region: tuple[float, float, float, float] | None = None
    step_length: float = 0.1
    sensor_range: float = 100.0
    targets: int = 6
    thresholds: Thresholds = field(default_factory=Thresholds)
    window: str = ""
    ego_route_length: float = 1500.0
    ego_routes: tuple[tuple[str, ...], ...] | None = None
    vclass: str = DEFAULT_VCLASS

    @property
    def folder(self) -> Path:
        """Output folder of the instance, absolute.

        SUMO resolves the relative output paths of an additional file against that file's
        folder, not the working directory.
        """
        return Path(self.out_dir).resolve() / "instances" / self.instance_id


@dataclass
class InstanceResult:
    """Outcome of one instance.

    Attributes
    ----------
    instance_id, status, message
        ``status`` is ``ok``, ``error`` (the instance raised) or ``lost`` (its worker
        died on every attempt).
    attempts
        How many times the instance was started.
    events, states
        NG events and their recorded states.
    ego_errors
        ``ego_id``, ``time``, ``message`` of every ego whose policy failed.
    ego_kpis
        Per ego: ``distance_km``, ``hours``, ``min_ttc``, ``min_gap``, ``max_deceleration``.
    stats
        ``simulated_s``, ``wall_s``, ``cpu_s``, ``mean_vehicles``, ``mean_egos``,
        ``distance_km``, ``ego_hours``, ``capture_rows`` (states held by the
        detector's close-encounter captures at the end, a measure of their memory) and
        SUMO's counts as ``sumo_<name>`` (:meth:`~traffic_ai.sumo_log.SumoReport.counts`).
    folder
        Where the instance wrote its files.
    sumo
        SUMO's warnings and statistics of the run (also of a failed run, as far as it got).
    """

    instance_id: str
    status: str
    message: str = ""
    attempts: int = 1
    events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EVENT_COLUMNS))
    states: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=STATE_COLUMNS))
    ego_errors: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["ego_id", "time", "message"]))
    ego_kpis: pd.DataFrame = field(default_factory=pd.DataFrame)
    stats: dict[str, float] = field(default_factory=dict)
    folder: str = ""
    sumo: SumoReport = field(default_factory=SumoReport)


def _attempt(spec: InstanceSpec) -> int:
    """Count this start of the instance in its attempt file; return the attempt number."""
    folder = Path(spec.out_dir) / "attempts"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.instance_id}.txt"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    return len(path.read_text(encoding="utf-8").splitlines())


def attempts_of(out_dir: str | Path, instance_id: str) -> int:
    """How many times an instance was started (its attempt file)."""
    path = Path(out_dir) / "attempts" / f"{instance_id}.txt"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def _additional(spec: InstanceSpec, ssm_file: Path) -> Path:
    ssm = {
        "has.ssm.device": "true", "device.ssm.measures": "TTC DRAC PET",
        "device.ssm.thresholds": f"{spec.thresholds.ttc} {spec.thresholds.drac} "
                                 f"{spec.thresholds.pet}",
        "device.ssm.range": f"{spec.thresholds.ssm_range}",
        "device.ssm.extratime": f"{spec.thresholds.post}",
        "device.ssm.file": str(ssm_file), "device.ssm.trajectories": "false",
        "device.ssm.geo": "false",
    }
    lines = ["<additional>",
             f'  <vType id="{EGO_TYPE}" vClass="{spec.vclass}" accel="2.6" decel="9" '
             'emergencyDecel="9" color="1,0,0">']
    lines += [f'    <param key="{k}" value="{v}"/>' for k, v in ssm.items()]
    lines.append("  </vType>")
    if spec.vtypes is None:
        lines.append(f'  <vType id="{TRAFFIC_TYPE}" vClass="{spec.vclass}" '
                     'speedFactor="normc(1,0.1,0.2,2)"/>')
    lines.append("</additional>")
    path = spec.folder / "egos.add.xml"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def _edges_open_to(vclass: str) -> list[str]:
    """The loaded network's non-internal edges with a lane that allows ``vclass``.

    TraCI reports a lane's permissions as its allowed classes (an empty list when every
    class is allowed) and its disallowed classes.
    """
    import libsumo

    edges = []
    for edge in libsumo.edge.getIDList():
        if edge.startswith(":"):
            continue
        for index in range(libsumo.edge.getLaneNumber(edge)):
            lane = f"{edge}_{index}"
            allowed = libsumo.lane.getAllowed(lane)
            if (vclass in allowed if allowed
                    else vclass not in libsumo.lane.getDisallowed(lane)):
                edges.append(edge)
                break
    return edges


class _EgoFleet:
    """Spawns egos on random routes inside the region and keeps ``n`` of them running.

    Origins and destinations are edges with a lane open to the egos' vehicle class;
    routes are found for the ego type, so they use only lanes it may drive on.
    """

    def __init__(self, spec: InstanceSpec, rng: np.random.Generator) -> None:
        import libsumo

        self.spec = spec
        self.rng = rng
        edges = _edges_open_to(spec.vclass)
        if spec.region is not None:
            x0, y0, x1, y1 = spec.region
            inside = []
            for e in edges:
                x, y = libsumo.simulation.convert2D(e, 0.0)
                if x0 <= x <= x1 and y0 <= y <= y1:
                    inside.append(e)
            edges = inside
        if len(edges) < 2:
            raise ValidationError(f"fewer than two edges open to {spec.vclass!r} in the ego "
                                  "region", field="region", value=spec.region)
        self.edges = edges
        self.count = 0
        self.pending: set[str] = set()
        self.controlled: set[str] = set()
        self.failed: set[str] = set()

    def spawn(self, slot: int) -> None:
        import libsumo

        if self.spec.ego_routes:
            edges = list(self.spec.ego_routes[(self.count + slot) % len(self.spec.ego_routes)])
            self._add(slot, edges)
            return
        for _ in range(50):
            origin, destination = self.rng.choice(self.edges, size=2, replace=False)
            route = libsumo.simulation.findRoute(str(origin), str(destination), vType=EGO_TYPE)
            if route.edges and route.length >= self.spec.ego_route_length:
                break
        else:
            if not route.edges:
                return
        self._add(slot, list(route.edges))

    def _add(self, slot: int, edges: list[str]) -> None:
        import libsumo

        self.count += 1
        vid = f"ego{slot}.{self.count}"
        libsumo.route.add(f"r_{vid}", edges)
        libsumo.vehicle.add(vid, f"r_{vid}", typeID=EGO_TYPE, depart="now", departLane="best",
                            departSpeed="max")
        self.pending.add(vid)

    def on_departed(self, vid: str) -> None:
        import libsumo

        self.pending.discard(vid)
        libsumo.vehicle.subscribe(vid, EGO_VARIABLES)
        libsumo.vehicle.subscribeContext(vid, _CMD_GET_VEHICLE_VARIABLE,
                                         self.spec.sensor_range, TARGET_VARIABLES)
        libsumo.vehicle.setSpeedMode(vid, EGO_SPEED_MODE)
        self.controlled.add(vid)

    def release(self, vid: str) -> None:
        """Give an ego back to SUMO's driver model (its policy failed)."""
        import libsumo

        self.controlled.discard(vid)
        self.failed.add(vid)
        libsumo.vehicle.setSpeedMode(vid, 31)
        libsumo.vehicle.setSpeed(vid, -1.0)


class _EgoMap:
    """What the egos' map tells them: turn speeds and the traffic lights ahead.

    Turns: the ADS's set speed is capped by ``sqrt(v_turn^2 + 2 a d)``, the speed from
    which the ego reaches the speed limit ``v_turn`` of its next junction lane (SUMO's
    internal lane, whose limit netconvert derives from the turn radius) at the
    comfortable deceleration ``a`` over the distance ``d`` left on its lane.

    Traffic lights: the signal controlling the end of the ego's lane, with its current
    state (one ``getRedYellowGreenState`` per signal and step).

    The next link and signal of an ego are looked up once per lane it enters (they
    depend only on its lane and route), not every step.
    """

    def __init__(self, comfortable_decel: float = 2.0) -> None:
        self.decel = comfortable_decel
        self._lanes: dict[str, tuple[float, float]] = {}
        self._ahead: dict[str, tuple[str, float, str, int]] = {}
        self._states: dict[str, str] = {}

    def _lane(self, lane: str) -> tuple[float, float]:
        import libsumo

        if lane not in self._lanes:
            self._lanes[lane] = (float(libsumo.lane.getMaxSpeed(lane)),
                                 float(libsumo.lane.getLength(lane)))
        return self._lanes[lane]

    def new_step(self) -> None:
        """Forget the signal states of the previous step."""
        self._states.clear()

    def forget(self, ego: str) -> None:
        """Drop the cached look-ahead of an ego that left."""
        self._ahead.pop(ego, None)

    def update(self, ego: str, values: dict[int, Any]) -> None:
        """Cap the ego's allowed speed for the next turn; add the signal ahead."""
        import libsumo

        lane = str(values[VAR_LANE_ID])
        values[VAR_NEXT_TLS] = ()
        if not lane:  # teleporting: SUMO has lifted a jammed vehicle off the road, no map
            return
        speed, length = self._lane(lane)
        if lane.startswith(":"):
            values[VAR_ALLOWED_SPEED] = min(values[VAR_ALLOWED_SPEED], speed)
            return
        cached = self._ahead.get(ego)
        if cached is None or cached[0] != lane:
            links = libsumo.vehicle.getNextLinks(ego)
            v_turn = self._lane(str(links[0][4]))[0] if links and links[0][4] else np.inf
            tls, index = "", -1
            left = length - float(values[VAR_LANEPOSITION])
            for tls_id, tls_index, distance, _state in libsumo.vehicle.getNextTLS(ego):
                if abs(distance - left) < 1.0:  # the signal at the end of this lane
                    tls, index = tls_id, tls_index
                break
            cached = self._ahead[ego] = (lane, float(v_turn), tls, index)
        _, v_turn, tls, index = cached
        left = max(length - float(values[VAR_LANEPOSITION]), 0.0)
        values[VAR_ALLOWED_SPEED] = min(values[VAR_ALLOWED_SPEED],
                                        float(np.sqrt(v_turn**2 + 2.0 * self.decel * left)))
        if tls:
            state = self._states.get(tls)
            if state is None:
                state = self._states[tls] = libsumo.trafficlight.getRedYellowGreenState(tls)
            values[VAR_NEXT_TLS] = ((tls, index, left, state[index]),)


def run_instance(spec: InstanceSpec) -> InstanceResult:
    """Run one instance; exceptions become an ``error`` result (never raised).

    Parameters
    ----------
    spec
        The instance.

    Returns
    -------
    InstanceResult
        Events, states, ego errors and KPIs, exposure and timing, SUMO's warnings. The
        instance also writes ``events.parquet``, ``states.parquet`` and SUMO's
        ``sumo.log``, ``sumo.statistics.xml`` and ``sumo.summary.xml`` to its folder.

    Raises
    ------
    ValidationError
        Bad input that no retry mends, e.g. an ego region without two edges open to the
        vehicle class.
    """
    attempt = _attempt(spec)
    try:
        result = _simulate(spec)
    except ValidationError:
        raise
    except Exception as exc:
        sumo = read_sumo_report(spec.folder)
        result = InstanceResult(
            spec.instance_id, "error", f"{type(exc).__name__}: {exc}",
            stats={f"sumo_{k}": float(v) for k, v in sumo.counts().items()}, sumo=sumo)
    result.attempts = attempt
    return result


def traffic_options(step_length: float, duration: float, seed: int) -> list[str]:
    """SUMO options of a random-test instance's traffic: step, seed, collisions, teleports.

    Collisions (junctions included, no minimum gap) are only warned of, so that the event
    detector records them and the vehicles drive on.
    """
    return [
        "--step-length", f"{step_length}", "--begin", "0", "--end", f"{duration}",
        "--seed", str(seed), "--collision.mingap-factor", "0",
        "--collision.action", "warn", "--collision.check-junctions", "true",
        "--time-to-teleport", "120", "--max-depart-delay", "60", "--no-step-log",
    ]


def _simulate(spec: InstanceSpec) -> InstanceResult:
    import libsumo

    spec.folder.mkdir(parents=True, exist_ok=True)
    ssm_file = spec.folder / "ssm.xml"
    ssm_file.unlink(missing_ok=True)
    add = _additional(spec, ssm_file)
    additional = ",".join([*([spec.vtypes] if spec.vtypes else []), str(add)])
    dt = spec.step_length
    policy = resolve_policy(spec.policy)
    rng = np.random.default_rng(spec.seed)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    options = [
        "sumo", "-n", spec.network, "-r", spec.routes, "-a", additional,
        *traffic_options(dt, spec.duration, spec.seed),
        "--duration-log.disable", "--ignore-route-errors", "true",
        *sumo_log_options(spec.folder, summary_period=60.0),
    ]
    detector = EventDetector(spec.instance_id, dt, spec.thresholds)
    errors: list[dict[str, Any]] = []
    kpis: dict[str, dict[str, float]] = {}
    vehicles = 0.0
    running = 0
    ego_steps = 0
    steps = 0
    started = False
    try:
        libsumo.start(options)
        started = True
        fleet = _EgoFleet(spec, rng)
        ego_map = _EgoMap()
        for slot in range(spec.egos):
            fleet.spawn(slot)
        slot_of = {}
        end = spec.duration - 1e-9
        while libsumo.simulation.getTime() < end:
            libsumo.simulationStep()
            steps += 1
            now = libsumo.simulation.getTime()
            for vid in libsumo.simulation.getDepartedIDList():
                if vid in fleet.pending:
                    fleet.on_departed(vid)
                    slot_of[vid] = int(vid[3:].split(".")[0])
            for vid in libsumo.simulation.getArrivedIDList():
                if vid in slot_of:
                    fleet.controlled.discard(vid)
                    ego_map.forget(vid)
                    forget = getattr(policy, "forget", None)
                    if forget is not None:
                        forget(vid)
                    fleet.spawn(slot_of.pop(vid))
            egos = libsumo.vehicle.getAllSubscriptionResults()
            contexts = libsumo.vehicle.getAllContextSubscriptionResults()
            ego_map.new_step()
            for ego, values in egos.items():
                ego_map.update(ego, values)
            if getattr(policy, "needs_junctions", False):
                add_junction_context(egos, contexts)
            running += (libsumo.simulation.getDepartedNumber()
                        - libsumo.simulation.getArrivedNumber())
            vehicles += running
            view = build_view(now, egos, contexts, targets=spec.targets,
                              sensor_range=spec.sensor_range)
            ego_steps += len(view.ego_ids)
            detector.record_step(now, egos, contexts)
            collisions = [(c.collider, c.victim) for c in libsumo.simulation.getCollisions()]
            detector.observe(view, egos, collisions)
            detector.observe_encounters(now)
            detector.flush(now)
            _update_kpis(kpis, view, egos, dt)
            active = [e in fleet.controlled for e in view.ego_ids]
            commands, failed = policy_commands(policy, view, dt, active)
            for i, message in failed.items():
                ego = view.ego_ids[i]
                errors.append({"ego_id": ego, "time": now, "message": message[:500]})
                fleet.release(ego)
            target = np.maximum(view.speed + commands * dt, 0.0)
            for i, ego in enumerate(view.ego_ids):
                if active[i] and i not in failed:
                    libsumo.vehicle.setSpeed(ego, float(target[i]))
        detector.flush(libsumo.simulation.getTime(), final=True)
    finally:
        if started:
            libsumo.close()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    sumo = read_sumo_report(spec.folder)
    events, states = detector.records()
    events, ssm_states = merge_ssm(events, read_ssm(ssm_file), spec.thresholds,
                                   spec.instance_id, states_of=detector.captured_states)
    states = _concat([states, ssm_states], STATE_COLUMNS)
    ego_kpis = pd.DataFrame.from_dict(kpis, orient="index").rename_axis("ego_id").reset_index()
    distance_km = float(ego_kpis["distance_km"].sum()) if len(ego_kpis) else 0.0
    simulated = steps * dt
    stats = {
        "simulated_s": simulated, "wall_s": wall, "cpu_s": cpu,
        "mean_vehicles": vehicles / max(steps, 1), "mean_egos": ego_steps / max(steps, 1),
        "distance_km": distance_km, "ego_hours": ego_steps * dt / 3600.0,
        "capture_rows": float(detector.capture_rows),
        **{f"sumo_{k}": float(v) for k, v in sumo.counts().items()},
    }
    _write_frame(spec.folder / "events.parquet", events)
    _write_frame(spec.folder / "states.parquet", states)
    return InstanceResult(spec.instance_id, "ok", "", 1, events, states,
                          pd.DataFrame(errors, columns=["ego_id", "time", "message"]),
                          ego_kpis, stats, str(spec.folder), sumo)


def _update_kpis(kpis: dict[str, dict[str, float]], view: Any,
                 egos: dict[str, dict[int, Any]], dt: float) -> None:
    """Running per-ego KPIs like the built-in simulator's (min TTC, min gap, max decel)."""
    in_path = view.detected & (np.abs(view.dy) < CAR_WIDTH) & (view.gap > 0.0)
    closing = in_path & (view.dvx < 0.0)
    ttc = np.full(view.gap.shape, np.inf)
    np.divide(view.gap, -view.dvx, out=ttc, where=closing)
    min_ttc = ttc.min(axis=1, initial=np.inf)
    min_gap = np.where(in_path, view.gap, np.inf).min(axis=1, initial=np.inf)
    for i, ego in enumerate(view.ego_ids):
        k = kpis.get(ego)
        if k is None:
            k = kpis[ego] = {"distance_km": 0.0, "hours": 0.0, "min_ttc": np.inf,
                             "min_gap": np.inf, "max_deceleration": 0.0}
        k["distance_km"] = float(egos[ego][VAR_DISTANCE]) / 1000.0
        k["hours"] += dt / 3600.0
        k["min_ttc"] = min(k["min_ttc"], float(min_ttc[i]))
        k["min_gap"] = min(k["min_gap"], float(min_gap[i]))
        k["max_deceleration"] = max(k["max_deceleration"], float(-view.acceleration[i]))


def _write_frame(path: Path, frame: pd.DataFrame) -> None:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    atomic_write_bytes(path, buffer.getvalue())


@dataclass
class RandomTestResult:
    """All instances of a random test.

    Attributes
    ----------
    events, states
        NG events of every instance (deduplicated within each instance) and their states.
    instances
        One row per instance: id, window, seed, status, attempts, ``first_error`` (the
        error of its first failed attempt, empty if none failed), ``message`` (of its
        last attempt), exposure, timing and SUMO's counts (``sumo_*``).
    ego_errors
        Every ego whose policy failed.
    rates
        Event rates per 1,000 km and per hour with Garwood intervals.
    sumo
        SUMO's warnings and statistics summed over the instances that ran.
    """

    events: pd.DataFrame
    states: pd.DataFrame
    instances: pd.DataFrame
    ego_errors: pd.DataFrame
    rates: pd.DataFrame
    sumo: SumoReport = field(default_factory=SumoReport)

    @property
    def failed(self) -> pd.DataFrame:
        """The instances that did not run (``error`` or ``lost`` after every attempt)."""
        return self.instances[self.instances["status"] != "ok"]

    @property
    def instances_ok(self) -> int:
        """Number of instances that ran."""
        return int((self.instances["status"] == "ok").sum())

    @property
    def distance_km(self) -> float:
        """Distance driven by all egos (km)."""
        return float(self.instances["distance_km"].fillna(0).sum())

    @property
    def ego_hours(self) -> float:
        """Time driven by all egos (h)."""
        return float(self.instances["ego_hours"].fillna(0).sum())

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the tables of the result atomically and return their paths.

        Files: ``events.parquet``, ``states.parquet``, ``instances.parquet``,
        ``ego_errors.parquet`` and ``rates.csv``.
        """
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for name, frame in (("events", self.events), ("states", self.states),
                            ("instances", self.instances), ("ego_errors", self.ego_errors)):
            paths[name] = folder / f"{name}.parquet"
            _write_frame(paths[name], frame)
        paths["rates"] = folder / "rates.csv"
        atomic_write_text(paths["rates"], self.rates.to_csv(index=False))
        return paths


TaskFunction = Callable[[InstanceSpec], InstanceResult]


def run_random_test(
    specs: Sequence[InstanceSpec],
    *,
    executor: Any = None,
    max_attempts: int = 3,
    task: TaskFunction = run_instance,
    progress: Callable[[float, float], None] | None = None,
    confidence: float = 0.95,
) -> RandomTestResult:
    """Run the instances through an executor; retry failures; gather events and rates.

    Parameters
    ----------
    specs
        The instances (unique ids, one output folder).
    executor
        An :class:`~safety_val.execution.Executor` (default: serial in this process).
    max_attempts
        Rounds of submission: an instance that returned ``error`` or whose worker was
        lost is submitted again, up to this many rounds.
    task
        The picklable function run per instance (default :func:`run_instance`).
    progress
        Called with ``(simulated seconds done, total)`` as instances finish.
    confidence
        Level of the rate intervals.

    Returns
    -------
    RandomTestResult

    Raises
    ------
    ValidationError
        For duplicate instance ids or ``max_attempts < 1``.
    """
    from safety_val.execution import make_executor

    ids = [s.instance_id for s in specs]
    if len(set(ids)) != len(ids):
        raise ValidationError("duplicate instance id", field="specs",
                              value=next(i for i in ids if ids.count(i) > 1))
    if max_attempts < 1:
        raise ValidationError("must be >= 1", field="max_attempts", value=max_attempts)
    pool = executor if executor is not None else make_executor("serial")
    for spec in specs:  # count the attempts of this run only
        (Path(spec.out_dir) / "attempts" / f"{spec.instance_id}.txt").unlink(missing_ok=True)
    total = float(sum(s.duration for s in specs))
    done: dict[str, InstanceResult] = {}
    last: dict[str, InstanceResult] = {}
    first_error: dict[str, str] = {}
    pending = list(specs)
    for _ in range(max_attempts):
        if not pending:
            break
        try:
            for position, result in pool.imap_unordered(task, pending):
                spec = pending[position]
                last[spec.instance_id] = result
                if result.status != "ok":
                    first_error.setdefault(spec.instance_id, result.message)
                if result.status == "ok":
                    done[spec.instance_id] = result
                    if progress is not None:
                        progress(sum(s.duration for s in specs if s.instance_id in done), total)
        except SimulationError as exc:
            for spec in pending:
                if spec.instance_id not in done:
                    last.setdefault(spec.instance_id,
                                    InstanceResult(spec.instance_id, "lost", str(exc)))
                    first_error.setdefault(spec.instance_id, str(exc))
        pending = [s for s in pending if s.instance_id not in done]
    rows = []
    results = []
    for spec in specs:
        result = done.get(spec.instance_id) or last.get(spec.instance_id) or InstanceResult(
            spec.instance_id, "lost", "no result")
        result = replace(result, attempts=max(attempts_of(spec.out_dir, spec.instance_id),
                                              result.attempts))
        results.append(result)
        rows.append({"instance_id": spec.instance_id, "window": spec.window, "seed": spec.seed,
                     "egos": spec.egos, "status": result.status, "attempts": result.attempts,
                     "first_error": first_error.get(spec.instance_id, ""),
                     "message": result.message, **result.stats})
    ok = [r for r in results if r.status == "ok"]
    events = _concat([r.events for r in ok], EVENT_COLUMNS)
    states = _concat([r.states for r in ok], STATE_COLUMNS)
    errors = _concat([r.ego_errors.assign(instance_id=r.instance_id) for r in ok],
                     ("ego_id", "time", "message", "instance_id"))
    instances = pd.DataFrame(rows)
    for column in ("distance_km", "ego_hours", "simulated_s", "wall_s", "cpu_s",
                   "mean_vehicles", "mean_egos"):
        if column not in instances:
            instances[column] = np.nan
    distance = float(instances["distance_km"].fillna(0).sum())
    hours = float(instances["ego_hours"].fillna(0).sum())
    rates = (rate_table(events, distance_km=distance, hours=hours, confidence=confidence)
             if distance > 0 and hours > 0 else pd.DataFrame())
    return RandomTestResult(events, states, instances, errors, rates,
                            SumoReport.combine(r.sumo for r in ok))


def _concat(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)
