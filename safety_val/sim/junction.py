"""Junction scenes of the built-in simulator: paths, conflict areas, urban ADS, KPIs.

A junction template hands :func:`run_junction` a :class:`JunctionSetup`: the ego and
one other road user (a car or a pedestrian), each moving along its path through the
junction (:class:`~safety_val.sim.paths.Paths`), the interval of each path in which
its body occupies the conflict area, stop lines, right of way, the ego's signal and
what hides the other road user from the ego's sensors. The other road user follows
a script (:class:`~safety_val.sim.setup.Phases`); the ego is driven by the yielding
urban ADS (:func:`~safety_val.sim.urban_ads.junction_command`) on what its sensor
reports. As in the straight-road engine, the only Python loop is over time, every
random number is keyed by the scenario's seed and a scenario in collision is frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from safety_val.sim import rng
from safety_val.sim.parameters import COMMON_PARAMETERS, LIGHTING_DETECTION_FACTOR
from safety_val.sim.paths import PathGeometry, Paths, obb_overlap, segment_hits_box
from safety_val.sim.sensor import base_probability, detection_probability, effective_range
from safety_val.sim.setup import Phases
from safety_val.sim.urban_ads import (
    SIGNAL_GREEN,
    SIGNAL_NONE,
    SIGNAL_RED,
    SIGNAL_YELLOW,
    UrbanAdsSettings,
    junction_command,
    occupancy_times,
)
from safety_val.sim.vehicle import (
    GRAVITY,
    VehicleState,
    lag_coefficient,
    longitudinal_step,
    mean_lag_coefficient,
)

__all__ = ["JUNCTION_KPIS", "YELLOW_DURATION", "JunctionSetup", "run_junction", "signal_state"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]

#: KPIs every junction template reports (see :class:`JunctionKpis`).
JUNCTION_KPIS: Final = (
    "collision",
    "impact_speed",
    "min_ttc",
    "pet",
    "encroachment_time",
    "max_deceleration",
)
#: Duration of the yellow phase after green (s).
YELLOW_DURATION: Final = 3.0
#: Random streams of the junction sensor: detection; distance and speed noise (and
#: acceleration noise on the next pair).
_STREAM_DETECT, _STREAM_NOISE = 0, 1
#: The tracker's acceleration noise is this many 1/s times the speed noise (a speed
#: difference over about half a second).
_ACCEL_NOISE_TIME = 2.0
_LIGHTING = np.array([LIGHTING_DETECTION_FACTOR[label]
                      for label in COMMON_PARAMETERS["lighting"].categories])


@dataclass(frozen=True)
class JunctionSetup:
    """Initial conditions, paths and rules of ``n`` junction scenes (ego = road user 0).

    Attributes
    ----------
    paths
        Paths of the ego and the other road user, ``(n, 2)``.
    s0, v0
        Initial path coordinate of each centre (m) and speed (m/s), ``(n, 2)``.
    length, width
        Body length along the heading and width (m), ``(n, 2)``.
    lag, accel_min, accel_max
        Actuator time constant (s) and acceleration bounds (m/s²), ``(n, 2)``.
    script
        Speed script of the other road user (one agent).
    set_speed
        Cruising speed of the ego's ADS (m/s), ``(n,)``.
    entry, exit
        Path coordinates of each centre at which the body first touches and last
        leaves the conflict area, ``(n, 2)`` (:func:`~safety_val.sim.paths.conflict_intervals`).
    stop_line
        Path coordinate of each centre at which its front reaches its stop line,
        ``(n, 2)``; ``-inf`` where there is none (the ego then gives way short of the
        conflict area).
    ego_must_yield
        Whether the other road user has the right of way over the ego, ``(n,)``.
    ego_minor
        Whether the ego's approach gives way (it reaches the stop line at the ADS's
        approach speed at most), ``(n,)``.
    signal, signal_change
        The ego's signal (:data:`~safety_val.sim.urban_ads.SIGNAL_NONE`, ``GREEN`` or
        ``RED``) and when it changes (s): green turns yellow (then red after
        :data:`YELLOW_DURATION`), red turns green; ``(n,)``.
    occluder
        Axis-aligned box ``xmin, ymin, xmax, ymax`` (m) that blocks the ego's line of
        sight (a building at the corner), ``(n, 4)``; empty when ``xmin > xmax``.
    yielder
        Index (0 ego, 1 other) of the road user without the right of way, ``(n,)``:
        its time in the conflict area is the encroachment time.
    turn_lateral_accel
        Lateral acceleration of the ego's curve speed (m/s²), ``(n,)``.
    kinds
        ``"car"`` or ``"pedestrian"`` per road user.
    """

    paths: Paths
    s0: FloatArray
    v0: FloatArray
    length: FloatArray
    width: FloatArray
    lag: FloatArray
    accel_min: FloatArray
    accel_max: FloatArray
    script: Phases
    set_speed: FloatArray
    entry: FloatArray
    exit: FloatArray
    stop_line: FloatArray
    ego_must_yield: BoolArray
    ego_minor: BoolArray
    signal: IntArray
    signal_change: FloatArray
    occluder: FloatArray
    yielder: IntArray
    turn_lateral_accel: FloatArray
    kinds: tuple[str, ...] = field(default=("car", "car"))

    @property
    def n(self) -> int:
        """Number of scenarios."""
        return int(self.s0.shape[0])

    @property
    def agents(self) -> int:
        """Number of road users (2)."""
        return int(self.s0.shape[1])


def signal_state(setup: JunctionSetup, t: float) -> IntArray:
    """The ego's signal at time ``t`` (codes of :mod:`safety_val.sim.urban_ads`), ``(n,)``.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(signal=np.array([1, 1, 1, 3, 0]),
    ...                        signal_change=np.array([5.0, 2.0, 1.0, 2.0, 0.0]))
    >>> signal_state(fake, 4.5).tolist()  # green, yellow, red, green, none
    [1, 2, 3, 1, 0]
    """
    after = t >= setup.signal_change
    green_now = np.where(after, np.where(t >= setup.signal_change + YELLOW_DURATION,
                                         SIGNAL_RED, SIGNAL_YELLOW), SIGNAL_GREEN)
    red_now = np.where(after, SIGNAL_GREEN, SIGNAL_RED)
    return np.asarray(np.select([setup.signal == SIGNAL_GREEN, setup.signal == SIGNAL_RED],
                                [green_now, red_now], SIGNAL_NONE), dtype=np.intp)


class JunctionKpis:
    """Running KPIs of ``n`` junction scenes.

    Notes
    -----
    A road user *occupies* the conflict area while its centre lies strictly inside
    its interval ``(entry, exit)``. With ``T_in``, ``T_out`` the first and last
    times of each occupancy:

    - ``collision``: the two bodies (oriented rectangles) overlap; ``impact_speed``
      is the magnitude of their relative velocity at the first contact;
    - ``pet`` (post-encroachment time): ``T_in`` of the second road user through the
      area minus ``T_out`` of the first, 0 when the occupancies overlap or on a
      collision, ``inf`` when one never occupies it;
    - ``encroachment_time``: how long the road user without the right of way
      occupies the area (0 if it never does; Allen et al. 1978);
    - ``min_ttc``: smallest conflict-area TTC, ``max(t_in,0, t_in,1)`` over the steps
      at which the constant-speed occupancies ``[t_in, t_out]`` of the two overlap
      (:func:`~safety_val.sim.urban_ads.occupancy_times`), as SUMO's SSM device
      defines it for crossing conflicts; 0 on a collision;
    - ``max_deceleration``: the largest realised ego deceleration;
    - ``red_light_violation``: 1 when the ego's front passes its stop line while
      its signal is red.

    References
    ----------
    B. L. Allen, B. T. Shin, P. J. Cooper, "Analysis of traffic conflicts and
    collisions", Transportation Research Record 667, 67-74, 1978.
    """

    def __init__(self, n: int, yielder: IntArray) -> None:
        self.collision = np.zeros(n, dtype=bool)
        self.impact_speed = np.zeros(n)
        self.min_ttc = np.full(n, np.inf)
        self.max_deceleration = np.zeros(n)
        self.red_light_violation = np.zeros(n, dtype=bool)
        self.enter = np.full((n, 2), np.inf)
        self.leave = np.full((n, 2), np.inf)
        self.yielder = yielder

    def occupancy(self, inside: BoolArray, t: float, dt: float) -> None:
        """Fold this step's occupancy flags ``(n, 2)`` in (at time ``t``, end of step)."""
        np.copyto(self.enter, t - dt, where=inside & np.isinf(self.enter))
        np.copyto(self.leave, t, where=inside)

    def pet(self) -> FloatArray:
        """Post-encroachment time per scene (s)."""
        both = np.isfinite(self.enter).all(axis=1)
        e0, e1 = self.enter[:, 0], self.enter[:, 1]
        l0, l1 = self.leave[:, 0], self.leave[:, 1]
        with np.errstate(invalid="ignore"):
            pet = np.where(l0 <= e1, e1 - l0, np.where(l1 <= e0, e0 - l1, 0.0))
        pet = np.where(both, pet, np.inf)
        return np.asarray(np.where(self.collision, 0.0, pet), dtype=np.float64)

    def encroachment_time(self) -> FloatArray:
        """Time the road user without the right of way spent in the conflict area (s)."""
        rows = np.arange(self.yielder.shape[0])
        enter, leave = self.enter[rows, self.yielder], self.leave[rows, self.yielder]
        entered = np.isfinite(enter)
        return np.asarray(np.where(entered, np.where(entered, leave, 0.0)
                                   - np.where(entered, enter, 0.0), 0.0), dtype=np.float64)

    def result(self, names: tuple[str, ...]) -> dict[str, FloatArray]:
        """The KPIs named in ``names``, float arrays ``(n,)``."""
        values = {
            "collision": self.collision.astype(np.float64),
            "impact_speed": self.impact_speed.copy(),
            "min_ttc": self.min_ttc.copy(),
            "pet": self.pet(),
            "encroachment_time": self.encroachment_time(),
            "max_deceleration": self.max_deceleration.copy(),
            "red_light_violation": self.red_light_violation.astype(np.float64),
        }
        return {name: values[name] for name in names}


def conflict_ttc(entry: FloatArray, exit_: FloatArray, speed: FloatArray) -> FloatArray:
    """Conflict-area TTC of two road users, ``(n,)`` from ``(n, 2)`` distances and speeds.

    Examples
    --------
    The ego 20 m before the area at 10 m/s, the other 15 m before it at 10 m/s,
    both 6 m of occupancy: collision course, the later entry is at 2 s.

    >>> float(conflict_ttc(np.array([[20.0, 15.0]]), np.array([[26.0, 21.0]]),
    ...                    np.array([[10.0, 10.0]]))[0])
    2.0
    """
    t_in, t_out = occupancy_times(entry, exit_, speed)
    overlap = (t_in[:, 0] < t_out[:, 1]) & (t_in[:, 1] < t_out[:, 0]) \
        & (exit_ > 0.0).all(axis=1)
    return np.asarray(np.where(overlap, np.maximum(t_in[:, 0], t_in[:, 1]), np.inf),
                      dtype=np.float64)


def run_junction(
    setup: JunctionSetup,
    values: Mapping[str, FloatArray],
    seeds: npt.NDArray[np.uint64],
    dt: float,
    steps: int,
    kpis: tuple[str, ...],
    record: bool,
) -> tuple[dict[str, FloatArray], int, dict[str, FloatArray] | None]:
    """Simulate ``steps`` steps of ``n`` junction scenes.

    Parameters
    ----------
    setup
        The scenes.
    values
        Resolved simulator inputs, ``(n,)`` arrays (ADS, sensor, environment, vehicle).
    seeds
        One seed per scene.
    dt
        Step (s).
    steps
        Number of steps.
    kpis
        KPI names to return.
    record
        Whether to return trajectories.

    Returns
    -------
    (dict, int, dict or None)
        KPIs, the number of agent state updates, and with ``record`` the
        trajectories ``t`` (``(steps + 1,)``) and ``x``, ``y``, ``psi``, ``v``, ``a``
        (``(n, steps + 1, 2)``, centres in the junction frame).

    Notes
    -----
    Each step: (1) on every sensor cycle, the sensor looks at the other road user as
    it was ``sensor_latency`` ago: it is visible within the effective range, inside
    the field of view around the ego's heading and not behind the occluder; it is
    detected with :func:`~safety_val.sim.sensor.detection_probability`, and its
    distance to the conflict area, its speed and its acceleration are measured with
    Gaussian noise (``sigma = s_d + s_rel r``, ``s_v`` and ``2 s_v`` per second). The
    track keeps the last measurement and predicts it at constant speed for
    ``track_coast_time``. The ADS
    (:func:`~safety_val.sim.urban_ads.junction_command`) decides on the track, its
    map (distances to its stop line, the conflict area and the curve) and its signal.
    (2) The other road user follows its script. (3) Both move along their paths
    (first-order actuator lag; on an arc the friction circle leaves
    ``sqrt((mu g)^2 - (v^2 k)^2)`` for the longitudinal acceleration). (4) The KPIs are
    updated (:class:`JunctionKpis`).
    """
    return _JunctionEngine(setup, values, seeds, dt).run(steps, kpis, record)


class _JunctionEngine:
    def __init__(self, setup: JunctionSetup, values: Mapping[str, FloatArray],
                 seeds: npt.NDArray[np.uint64], dt: float) -> None:
        from safety_val.sim.engine import _Scripts

        n = setup.n
        self.setup, self.dt, self.n = setup, dt, n
        self.state = VehicleState.create(setup.s0, np.zeros((n, 2)), np.zeros((n, 2)), setup.v0)
        self.keys = rng.scenario_keys(seeds)
        col = lambda name: values[name][:, None]  # noqa: E731
        self.mu_g = col("friction_coefficient") * GRAVITY
        self.a_min = np.maximum(setup.accel_min, -self.mu_g)
        self.a_max = np.minimum(setup.accel_max, self.mu_g)
        self.a_lo, self.a_hi = self.a_min.copy(), self.a_max.copy()
        self.alpha = lag_coefficient(setup.lag, dt)
        self.gamma = mean_lag_coefficient(setup.lag, dt)
        self.h = np.full((n, 1), dt)
        self.a_cmd = np.zeros((n, 2))
        self.scratch = np.empty((n, 2))
        self.distance = np.empty((n, 2))
        self.scripts = _Scripts((setup.script,), n)

        v = values
        self.range = effective_range(v["sensor_range"], v["fog_visibility"],
                                     v["fog_range_factor"])
        self.half_fov = np.radians(v["sensor_fov"]) / 2.0
        self.p_base = base_probability(v["detection_probability"], v["rain_intensity"],
                                       v["rain_detection_coeff"],
                                       _LIGHTING[v["lighting"].astype(np.intp)])
        self.noise_d, self.noise_rel = v["sensor_noise_distance"], v["sensor_noise_distance_rel"]
        self.noise_v = v["sensor_noise_speed"]
        self.coast = v["track_coast_time"]
        self.ads = UrbanAdsSettings(
            set_speed=setup.set_speed[:, None], cruise_gain=col("acc_cruise_gain"),
            max_accel=col("acc_max_accel"), comfort_decel=col("acc_max_decel"),
            max_decel=col("max_decel"), critical_gap=col("critical_gap"),
            gap_margin=col("gap_margin"), approach_speed=col("approach_speed"),
            violation_decel=col("violation_decel"), ttc_warning=col("aeb_ttc_warning"),
            ttc_partial=col("aeb_ttc_partial"), ttc_full=col("aeb_ttc_full"),
            warning_decel=col("aeb_warning_decel"), partial_decel=col("aeb_partial_decel"),
        )
        period_steps = np.maximum(1, np.rint(v["sensor_period"] / dt)).astype(np.intp)
        self.period_steps = period_steps
        self.period = period_steps * dt
        self.latency = np.rint(v["sensor_latency"] / dt).astype(np.intp)
        self.depth = int(self.latency.max(initial=0)) + 1
        # delayed truth: foe distance to entry, foe speed, foe x, y, ego x, y, heading, foe
        # acceleration
        self.buffer = np.zeros((8, self.depth, n))
        self.track_d = np.zeros(n)
        self.track_v = np.zeros(n)
        self.track_a = np.zeros(n)
        self.track_age = np.full(n, np.inf)
        self.stage = np.zeros(n)
        self.zone = setup.exit[:, 1] - setup.entry[:, 1]
        paths = setup.paths
        k = np.abs(paths.curvature[:, 0])
        self.curve_speed = np.where(
            k > 0.0, np.sqrt(setup.turn_lateral_accel / np.where(k > 0.0, k, 1.0)), np.inf)
        self.arc_start, self.arc_end = paths.arc_start[:, 0], paths.arc_end[:, 0]
        self.kpi = JunctionKpis(n, setup.yielder)
        self.geometry = PathGeometry(*(getattr(paths, f) for f in (
            "x0", "y0", "psi0", "arc_start", "curvature", "arc_angle")))
        radius = 0.5 * np.hypot(setup.length, setup.width)
        self.reach2 = (radius[:, 0] + radius[:, 1]) ** 2
        self.signalled = bool(np.any(setup.signal != SIGNAL_NONE))
        self.no_signal = np.full(n, SIGNAL_NONE, dtype=np.intp)
        self.alive = np.ones(n, dtype=bool)
        self.rows = np.arange(n)

    # ------------------------------------------------------------------ truth
    def _pose(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        return self.geometry.pose(self.state.x)

    def _truth(self, slot: int, x: FloatArray, y: FloatArray, psi: FloatArray) -> None:
        s = self.state.x
        b = self.buffer[:, slot]
        b[0] = self.setup.entry[:, 1] - s[:, 1]
        b[1] = self.state.v[:, 1]
        b[2], b[3] = x[:, 1], y[:, 1]
        b[4], b[5], b[6] = x[:, 0], y[:, 0], psi[:, 0]
        b[7] = self.state.a[:, 1]

    # ------------------------------------------------------------------ ADS
    def _decide(self, step: int, rows: IntArray) -> None:
        setup = self.setup
        lat = self.latency[rows]
        slot = (step - lat) % self.depth
        d_in, v_o, ox, oy, ex, ey, epsi, a_o = (self.buffer[c, slot, rows] for c in range(8))
        available = step >= lat
        dx, dy = ox - ex, oy - ey
        r = np.hypot(dx, dy)
        bearing = np.abs((np.arctan2(dy, dx) - epsi + np.pi) % (2.0 * np.pi) - np.pi)
        visible = available & (r <= self.range[rows]) & (bearing <= self.half_fov[rows])
        visible &= ~segment_hits_box(ex, ey, ox, oy, setup.occluder[rows])
        keys = self.keys[rows]
        cycle = step  # the step index: a counter unique to each of a row's cycles
        u = rng.uniform(keys, cycle, _STREAM_DETECT)
        z_d, z_v = rng.normal_pair(keys, cycle, _STREAM_NOISE)
        z_a, _ = rng.normal_pair(keys, cycle, _STREAM_NOISE + 2)
        p = detection_probability(r, effective_range=self.range[rows],
                                  base_probability=self.p_base[rows])
        detected = visible & (u < p)
        sigma_d = self.noise_d[rows] + self.noise_rel[rows] * r
        period = self.period[rows]
        d = np.where(detected, d_in + sigma_d * z_d,
                     self.track_d[rows] - self.track_v[rows] * period)
        speed = np.where(detected, np.maximum(v_o + self.noise_v[rows] * z_v, 0.0),
                         self.track_v[rows])
        accel = np.where(detected, a_o + _ACCEL_NOISE_TIME * self.noise_v[rows] * z_a,
                         self.track_a[rows])
        age = np.where(detected, 0.0, self.track_age[rows] + period)
        self.track_d[rows], self.track_v[rows], self.track_age[rows] = d, speed, age
        self.track_a[rows] = accel
        valid = age <= self.coast[rows]

        s_e = self.state.x[rows, 0]
        on_or_before_arc = s_e <= self.arc_end[rows]
        curve_distance = np.where(on_or_before_arc, self.arc_start[rows] - s_e, np.inf)
        decision = junction_command(
            self.ads.take(rows),
            speed=self.state.v[rows, 0],
            stop_distance=setup.stop_line[rows, 0] - s_e,
            signal=(signal_state(setup, step * self.dt)[rows] if self.signalled
                    else self.no_signal[rows]),
            minor=setup.ego_minor[rows],
            entry=(setup.entry[rows, 0] - s_e)[:, None],
            exit_=(setup.exit[rows, 0] - s_e)[:, None],
            must_yield=setup.ego_must_yield[rows][:, None],
            valid=valid[:, None],
            foe_entry=d[:, None],
            foe_exit=(d + self.zone[rows])[:, None],
            foe_speed=speed[:, None],
            stage=self.stage[rows],
            curve_distance=curve_distance,
            curve_speed=self.curve_speed[rows],
            foe_accel=accel[:, None],
        )
        self.stage[rows] = decision.stage
        self.a_cmd[rows, 0] = decision.accel

    # ------------------------------------------------------------------ loop
    def run(self, steps: int, kpis: tuple[str, ...], record: bool,
            ) -> tuple[dict[str, FloatArray], int, dict[str, FloatArray] | None]:
        st, dt, n, setup = self.state, self.dt, self.n, self.setup
        traj: dict[str, FloatArray] | None = None
        x, y, psi = self._pose()
        if record:
            traj = {key: np.empty((n, steps + 1, 2)) for key in ("x", "y", "psi", "v", "a")}
            self._record(traj, 0, x, y, psi)
        self._truth(0, x, y, psi)
        ego_v_before = np.empty(n)
        was_before_line = st.x[:, 0] < setup.stop_line[:, 0]
        done = steps
        for step in range(steps):
            t = step * dt
            due = (step % self.period_steps) == 0
            if due.all():
                self._decide(step, self.rows)
            elif due.any():
                self._decide(step, np.flatnonzero(due))
            self.scripts.advance(t)
            self.scripts.command(st.v[:, 1:], self.a_cmd[:, 1:])
            # friction circle on the arcs
            a_lat = st.v * st.v * np.abs(self.geometry.curvature_at(st.x))
            room = np.sqrt(np.maximum(self.mu_g * self.mu_g - a_lat * a_lat, 0.0))
            np.minimum(self.a_max, room, out=self.a_hi)
            np.maximum(self.a_min, -room, out=self.a_lo)
            ego_v_before[:] = st.v[:, 0]
            longitudinal_step(st, self.a_cmd, self.alpha, self.gamma, self.a_lo, self.a_hi,
                              self.h, self.scratch, self.distance)
            st.x += self.distance
            x, y, psi = self._pose()
            slot = (step + 1) % self.depth
            self._truth(slot, x, y, psi)
            new = self._update_kpis(t + dt, x, y, psi, ego_v_before, was_before_line)
            if traj is not None:
                self._record(traj, step + 1, x, y, psi)
            if new.any():
                self.alive &= ~new
                self.h[new] = 0.0
                self.alpha[new] = 0.0
                if not self.alive.any():
                    done = step + 1
                    if traj is not None:
                        for key in traj:
                            traj[key][:, step + 2:] = traj[key][:, step + 1: step + 2]
                    break
        if traj is not None:
            traj["t"] = np.arange(steps + 1, dtype=np.float64) * dt
        return self.kpi.result(kpis), n * 2 * done, traj

    def _update_kpis(self, t: float, x: FloatArray, y: FloatArray, psi: FloatArray,
                     ego_v_before: FloatArray, was_before_line: BoolArray) -> BoolArray:
        st, setup, kpi = self.state, self.setup, self.kpi
        s = st.x
        inside = (s > setup.entry) & (s < setup.exit)
        kpi.occupancy(inside & self.alive[:, None], t, self.dt)
        contact = np.zeros(self.n, dtype=bool)
        near = np.flatnonzero((x[:, 0] - x[:, 1]) ** 2 + (y[:, 0] - y[:, 1]) ** 2
                              <= self.reach2)
        if near.size:
            contact[near] = obb_overlap(
                x[near, 0], y[near, 0], psi[near, 0], setup.length[near, 0],
                setup.width[near, 0], x[near, 1], y[near, 1], psi[near, 1],
                setup.length[near, 1], setup.width[near, 1])
        ttc = conflict_ttc(setup.entry - s, setup.exit - s, st.v)
        ttc = np.where(contact, 0.0, ttc)
        alive = self.alive
        np.minimum(kpi.min_ttc, np.where(alive, ttc, np.inf), out=kpi.min_ttc)
        decel = (ego_v_before - st.v[:, 0]) / self.dt
        np.maximum(kpi.max_deceleration, np.where(alive, decel, 0.0), out=kpi.max_deceleration)
        if self.signalled:
            crossed = was_before_line & (s[:, 0] >= setup.stop_line[:, 0])
            red = signal_state(setup, t) == SIGNAL_RED
            kpi.red_light_violation |= crossed & red & alive
            was_before_line &= ~crossed
        new = contact & ~kpi.collision & alive
        if new.any():
            vx = st.v * np.cos(psi)
            vy = st.v * np.sin(psi)
            speed = np.hypot(vx[:, 0] - vx[:, 1], vy[:, 0] - vy[:, 1])
            kpi.impact_speed[new] = speed[new]
            kpi.collision |= new
        return np.asarray(new, dtype=bool)

    def _record(self, traj: dict[str, FloatArray], k: int, x: FloatArray, y: FloatArray,
                psi: FloatArray) -> None:
        traj["x"][:, k] = x
        traj["y"][:, k] = y
        traj["psi"][:, k] = psi
        traj["v"][:, k] = self.state.v
        traj["a"][:, k] = self.state.a
