"""The stepping loop of the built-in simulator: one loop over time, arrays over scenarios."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safety_val._validation import Constraint, Interval
from safety_val.errors import ValidationError
from safety_val.sim import rng
from safety_val.sim.ads import AdsSettings, Tracks, decide
from safety_val.sim.junction import JunctionSetup, run_junction
from safety_val.sim.kpi import KpiAccumulator
from safety_val.sim.parameters import COMMON_PARAMETERS, LIGHTING_DETECTION_FACTOR
from safety_val.sim.sensor import (
    SensorSettings,
    base_probability,
    effective_range,
    measure,
)
from safety_val.sim.setup import Phases, ScenarioSetup
from safety_val.sim.template import Template
from safety_val.sim.templates import get_template
from safety_val.sim.vehicle import (
    GRAVITY,
    VehicleState,
    lag_coefficient,
    lateral_step,
    longitudinal_step,
    mean_lag_coefficient,
)

__all__ = [
    "DT_MAX",
    "DT_MIN",
    "DURATION_MAX",
    "SETTINGS_CONSTRAINTS",
    "SimulationOutput",
    "simulate",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
DT_MIN, DT_MAX = 0.001, 0.1
DURATION_MAX = 600.0
"""Longest simulated scenario (s): 600,000 steps at the finest ``dt``, still one batch."""

SETTINGS_CONSTRAINTS: dict[str, list[Constraint]] = {
    "dt": [Interval(float, DT_MIN, DT_MAX)],
    "duration": [Interval(float, 0.0, DURATION_MAX, closed="right")],
}
"""The simulation settings (``scenario.simulation`` and the built-in backend's options)."""

#: Detection factor of each lighting code (the label's index in the categories).
_LIGHTING_FACTOR = np.array(
    [LIGHTING_DETECTION_FACTOR[label] for label in COMMON_PARAMETERS["lighting"].categories]
)


@dataclass(frozen=True)
class SimulationOutput:
    """What :func:`simulate` returns.

    Attributes
    ----------
    kpis
        KPI name -> array of shape ``(n,)``, in the order of the template's KPIs.
    vehicle_steps
        Number of agent state updates computed: scenarios x agents x steps.
    trajectories
        With ``record=True``: ``"t"`` of shape ``(steps + 1,)`` and ``"x"``, ``"y"``,
        ``"v"``, ``"a"`` of shape ``(n, steps + 1, agents)`` (ego first); else ``None``.
    """

    kpis: dict[str, FloatArray]
    vehicle_steps: int
    trajectories: dict[str, FloatArray] | None = None


def simulate(
    template: Template | str,
    inputs: Mapping[str, Any],
    *,
    seeds: npt.ArrayLike,
    dt: float = 0.01,
    duration: float | None = None,
    record: bool = False,
) -> SimulationOutput:
    """Simulate a batch of concrete scenarios of one template.

    Parameters
    ----------
    template
        A :class:`~safety_val.sim.template.Template` or its registry name.
    inputs
        Input name -> scalar or array of length ``n`` (labels for categorical inputs);
        inputs not given take their defaults.
    seeds
        One unsigned 64-bit seed per scenario (e.g. from
        :func:`~safety_val.sim.rng.seed_from_id`); defines ``n``. A scenario's outcome
        depends only on its inputs and its seed, never on the rest of the batch.
    dt
        Fixed step in ``[0.001, 0.1]`` s.
    duration
        Simulated time (s); the template's default when ``None``.
    record
        Whether to return trajectories (memory grows with ``n x steps``).

    Returns
    -------
    SimulationOutput

    Raises
    ------
    ValidationError
        Unknown input name, input that is not numeric or outside its valid range,
        unknown label, ``dt`` outside ``[0.001, 0.1]`` or a non-positive duration.

    Notes
    -----
    Each step: (1) on every sensor cycle, the sensor measures the true relative
    state delayed by the latency (ring buffer of past states) and the ADS updates
    its tracks and command; (2) scripted agents compute their commands; (3) steered
    agents update their heading (kinematic bicycle), every agent its acceleration
    (lag, friction circle), speed and position; (4) the KPIs are updated. A
    scenario in collision is frozen, so its KPIs keep their values at the contact.

    Examples
    --------
    >>> out = simulate("lead_braking", {"lead_decel": [2.0, 8.0]}, seeds=[1, 2], duration=8.0)
    >>> out.kpis["collision"].tolist(), out.vehicle_steps
    ([0.0, 1.0], 3200)
    """
    if isinstance(template, str):
        template = get_template(template)
    if not DT_MIN <= float(dt) <= DT_MAX:
        raise ValidationError(
            "simulation step out of range", field="dt", value=dt, expected="0.001 <= dt <= 0.1 s"
        )
    duration = template.duration if duration is None else float(duration)
    if not (np.isfinite(duration) and duration > 0.0):
        raise ValidationError(
            "duration must be positive", field="duration", value=duration, expected="a number > 0 s"
        )
    seeds_arr = np.atleast_1d(np.asarray(seeds, dtype=np.uint64)).ravel()
    n = int(seeds_arr.shape[0])
    values, problems = template.resolve(inputs, n)
    bad = np.flatnonzero(problems != "")
    if bad.size:
        raise ValidationError(f"invalid input in scenario {int(bad[0])}: {problems[bad[0]]}",
                              field="inputs")
    setup = template.build(values, n)
    if isinstance(setup, JunctionSetup):
        kpis, vehicle_steps, trajectories = run_junction(
            setup, values, seeds_arr, float(dt), round(duration / dt), template.kpis, record
        )
        return SimulationOutput(kpis, vehicle_steps, trajectories)
    return _Engine(setup, values, seeds_arr, float(dt)).run(
        round(duration / dt), template.kpis, record
    )


class _Scripts:
    """Phase bookkeeping of the scripted (non-ego) agents, all agents at once.

    The phase tables of the ``m`` agents are stacked into ``(n, m, P + 1)`` arrays,
    ``P`` being the largest number of phases of any agent; the columns beyond an
    agent's last phase start at ``+inf`` so that they are never reached, and the
    next start of the last phase reads ``+inf`` without a bounds check.
    """

    def __init__(self, scripts: tuple[Phases, ...], n: int) -> None:
        m = len(scripts)
        width = max((ph.start.shape[1] for ph in scripts), default=1) + 1
        self.start = np.full((n, m, width), np.inf)
        self.speed_table = np.zeros((n, m, width))
        self.accel_table = np.zeros((n, m, width))
        self.lateral_table = np.zeros((n, m, width))
        self.gain_table = np.zeros((n, m, width))
        # setup-time copy of each agent's table (a loop over the template's agents)
        for j, ph in enumerate(scripts):
            p = ph.start.shape[1]
            self.start[:, j, :p] = ph.start
            self.speed_table[:, j, :p] = ph.speed
            self.accel_table[:, j, :p] = ph.accel
            self.lateral_table[:, j, :p] = ph.lateral
            self.gain_table[:, j, :p] = ph.gain(ph.speed)
        self.index = np.zeros((n, m), dtype=np.intp)
        self.speed = np.ascontiguousarray(self.speed_table[:, :, 0])
        self.accel = np.ascontiguousarray(self.accel_table[:, :, 0])
        self.lateral = np.ascontiguousarray(self.lateral_table[:, :, 0])
        self.gain = np.ascontiguousarray(self.gain_table[:, :, 0])
        self.next_start = np.ascontiguousarray(self.start[:, :, 1])
        self.lower = np.empty((n, m))

    def _load(self, rows: IntArray, agents: IntArray, phase: IntArray) -> None:
        """Enter phase ``phase`` for the (scenario, agent) pairs ``(rows, agents)``."""
        self.speed[rows, agents] = self.speed_table[rows, agents, phase]
        self.accel[rows, agents] = self.accel_table[rows, agents, phase]
        self.lateral[rows, agents] = self.lateral_table[rows, agents, phase]
        self.gain[rows, agents] = self.gain_table[rows, agents, phase]
        self.index[rows, agents] = phase
        self.next_start[rows, agents] = self.start[rows, agents, phase + 1]

    def advance(self, t: float) -> None:
        """Switch every agent whose next phase has started (several at once if needed)."""
        due = self.next_start <= t
        while due.any():  # one pass per phase switch, all agents and scenarios at once
            rows, agents = np.nonzero(due)
            self._load(rows, agents, self.index[rows, agents] + 1)
            due = self.next_start <= t

    def command(self, v: FloatArray, out: FloatArray) -> None:
        """Commanded acceleration ``clip(K (v_target - v), -a_p, a_p)`` into ``out``."""
        np.subtract(self.speed, v, out=out)
        out *= self.gain
        np.negative(self.accel, out=self.lower)
        np.clip(out, self.lower, self.accel, out=out)


class _Engine:
    """State and per-step work of one batch (internal)."""

    def __init__(
        self, setup: ScenarioSetup, values: Mapping[str, FloatArray], seeds: npt.NDArray[np.uint64],
        dt: float,
    ) -> None:
        n, agents = setup.n, setup.agents
        m = agents - 1
        self.setup, self.dt, self.n, self.m = setup, dt, n, m
        self.state = VehicleState.create(setup.x, setup.y, setup.psi, setup.v)
        for arr in (self.state.cos_psi, self.state.sin_psi):
            arr[np.abs(arr) < 1e-12] = 0.0
        self.keys = rng.scenario_keys(seeds)
        col = lambda name: values[name][:, None]  # noqa: E731

        self.mu_g = col("friction_coefficient") * GRAVITY
        self.a_min = np.maximum(setup.accel_min, -self.mu_g)
        self.a_max = np.minimum(setup.accel_max, self.mu_g)
        self.a_lo, self.a_hi = self.a_min.copy(), self.a_max.copy()
        self.alpha = lag_coefficient(setup.lag, dt)
        self.gamma = mean_lag_coefficient(setup.lag, dt)
        self.h = np.full((n, 1), dt)
        self.a_cmd = np.zeros((n, agents))
        self.scratch = np.empty((n, agents))
        self.distance = np.empty((n, agents))
        self.vx = np.empty((n, agents))
        self.scripts = _Scripts(setup.scripts, n)

        # sensor and ADS
        self.sensor = SensorSettings(
            effective_range=effective_range(
                col("sensor_range"), col("fog_visibility"), col("fog_range_factor")),
            tan_half_fov=np.tan(np.radians(col("sensor_fov")) / 2.0),
            base_probability=base_probability(
                col("detection_probability"), col("rain_intensity"), col("rain_detection_coeff"),
                _LIGHTING_FACTOR[values["lighting"].astype(np.intp)][:, None]),
            noise_distance=col("sensor_noise_distance"),
            noise_distance_rel=col("sensor_noise_distance_rel"),
            noise_lateral=col("sensor_noise_lateral"),
            noise_speed=col("sensor_noise_speed"),
        )
        width = setup.width
        self.ads = AdsSettings(
            set_speed=setup.set_speed[:, None],
            time_gap=col("acc_time_gap"),
            standstill_gap=col("acc_standstill_gap"),
            gap_gain=col("acc_gap_gain"),
            speed_gain=col("acc_speed_gain"),
            cruise_gain=col("acc_cruise_gain"),
            acc_max_accel=col("acc_max_accel"),
            acc_max_decel=col("acc_max_decel"),
            ttc_warning=col("aeb_ttc_warning"),
            ttc_partial=col("aeb_ttc_partial"),
            ttc_full=col("aeb_ttc_full"),
            warning_decel=col("aeb_warning_decel"),
            partial_decel=col("aeb_partial_decel"),
            max_decel=col("max_decel"),
            coast_time=col("track_coast_time"),
            half_width=(width[:, :1] + width[:, 1:]) / 2.0 + col("corridor_margin"),
            horizon=col("prediction_horizon"),
        )
        self.tracks = Tracks.empty(n, m)
        period_steps = np.maximum(1, np.rint(values["sensor_period"] / dt)).astype(np.intp)
        self.period = (period_steps * dt).astype(np.float64)[:, None]
        self.latency = np.rint(values["sensor_latency"] / dt).astype(np.intp)
        self.depth = int(self.latency.max(initial=0)) + 1
        self.groups: list[tuple[int, slice | IntArray]] = []
        for k in np.unique(period_steps):
            rows = np.flatnonzero(period_steps == k)
            self.groups.append((int(k), slice(None) if rows.size == n else rows))
        self.uniform_latency = bool(np.all(self.latency == self.latency[0])) if n else True
        # ring buffer of the true relative state: (channel, depth, n, m)
        self.buffer = np.zeros((4, self.depth, n, m))
        self.half_length_sum = (setup.length[:, :1] + setup.length[:, 1:]) / 2.0
        self.half_width_sum = (width[:, :1] + width[:, 1:]) / 2.0
        self.target_half_width = width[:, 1:] / 2.0
        self.kpi = KpiAccumulator(n, self.half_length_sum, self.half_width_sum, setup.pet_target)
        self.alive = np.ones(n, dtype=bool)
        self.closing = np.empty((n, m))

    # ------------------------------------------------------------------ truth
    def _truth(self, slot: int) -> None:
        st = self.state
        gap, dy, dvx, dvy = (self.buffer[c, slot] for c in range(4))
        np.subtract(st.x[:, 1:], st.x[:, :1], out=gap)
        gap -= self.half_length_sum
        np.subtract(st.y[:, 1:], st.y[:, :1], out=dy)
        np.multiply(st.v, st.cos_psi, out=self.vx)
        np.subtract(self.vx[:, 1:], self.vx[:, :1], out=dvx)
        np.multiply(st.v, st.sin_psi, out=self.vx)
        np.subtract(self.vx[:, 1:], self.vx[:, :1], out=dvy)

    # ------------------------------------------------------------------ sensing
    def _sense(self, step: int, period_steps: int, index: slice | IntArray) -> None:
        latency = self.latency[index]
        if isinstance(index, slice) and self.uniform_latency:
            lag = int(latency[0]) if latency.size else 0
            row = (step - lag) % self.depth
            gap, dy, dvx, dvy = (self.buffer[c, row] for c in range(4))
            available = np.full(self.n, step >= lag)
        else:
            ids = np.arange(self.n)[index]
            rows = (step - latency) % self.depth
            gap, dy, dvx, dvy = (self.buffer[c, rows, ids] for c in range(4))
            available = step >= latency
        hidden = dy < self.setup.hidden_below[index]
        if self.m > 1:
            hidden |= _occluded(gap, dy, self.target_half_width[index])
        hidden |= ~available[:, None]
        measurement = measure(
            gap, dy, dvx, dvy, self.sensor.take(index), self.keys[index],
            step // period_steps, hidden, self.target_half_width[index],
        )
        tracks, a_cmd = decide(
            self.tracks.take(index), measurement, self.ads.take(index),
            self.state.v[index, 0], self.period[index],
        )
        self.tracks.put(index, tracks)
        self.a_cmd[index, 0] = a_cmd

    # ------------------------------------------------------------------ loop
    def run(self, steps: int, kpis: tuple[str, ...], record: bool) -> SimulationOutput:
        st, dt, n = self.state, self.dt, self.n
        steered = self.setup.steered
        steered_targets = slice(steered.start - 1, steered.stop - 1) if steered.stop else None
        traj: dict[str, FloatArray] | None = None
        if record:
            traj = {k: np.empty((n, steps + 1, self.setup.agents)) for k in ("x", "y", "v", "a")}
            self._record(traj, 0)
        self._truth(0)
        ego_v_before = np.empty(n)
        done = steps
        for step in range(steps):
            t = step * dt
            for period_steps, index in self.groups:
                if step % period_steps == 0:
                    self._sense(step, period_steps, index)
            self.scripts.advance(t)
            self.scripts.command(st.v[:, 1:], self.a_cmd[:, 1:])
            if steered_targets is not None:
                a_lat = lateral_step(
                    st, steered, self.scripts.lateral[:, steered_targets],
                    self.setup.lateral_speed, self.mu_g, self.h,
                )
                a_lat *= a_lat
                np.subtract(self.mu_g * self.mu_g, a_lat, out=a_lat)
                np.maximum(a_lat, 0.0, out=a_lat)
                np.sqrt(a_lat, out=a_lat)
                np.minimum(self.a_max[:, steered], a_lat, out=self.a_hi[:, steered])
                np.negative(a_lat, out=a_lat)
                np.maximum(self.a_min[:, steered], a_lat, out=self.a_lo[:, steered])
            ego_v_before[:] = st.v[:, 0]
            longitudinal_step(
                st, self.a_cmd, self.alpha, self.gamma, self.a_lo, self.a_hi, self.h, self.scratch,
                self.distance,
            )
            np.multiply(self.distance, st.cos_psi, out=self.scratch)
            st.x += self.scratch
            np.multiply(self.distance, st.sin_psi, out=self.scratch)
            st.y += self.scratch
            slot = (step + 1) % self.depth
            self._truth(slot)
            np.negative(self.buffer[2, slot], out=self.closing)
            new = self.kpi.update(
                t + dt, dt, self.buffer[0, slot], self.buffer[1, slot], self.closing,
                st.v[:, 0], ego_v_before,
            )
            if traj is not None:
                self._record(traj, step + 1)
            if new.any():
                self.alive &= ~new
                self.h[new] = 0.0
                self.alpha[new] = 0.0
                if not self.alive.any():
                    done = step + 1
                    if traj is not None:
                        for k in traj:
                            traj[k][:, step + 2:] = traj[k][:, step + 1: step + 2]
                    break
        if traj is not None:
            traj["t"] = np.arange(steps + 1, dtype=np.float64) * dt
        return SimulationOutput(
            kpis=self.kpi.result(kpis),
            vehicle_steps=n * self.setup.agents * done,
            trajectories=traj,
        )

    def _record(self, traj: dict[str, FloatArray], k: int) -> None:
        st = self.state
        traj["x"][:, k] = st.x
        traj["y"][:, k] = st.y
        traj["v"][:, k] = st.v
        traj["a"][:, k] = st.a


def _occluded(gap: FloatArray, dy: FloatArray, half_width: FloatArray) -> npt.NDArray[np.bool_]:
    """Targets hidden behind a nearer target (line of sight from the ego's front centre).

    Target ``j`` is hidden by ``k`` when ``0 < gap_k < gap_j`` and the bearing of ``j``'s
    centre, ``dy_j / gap_j``, lies within ``k``'s angular extent ``dy_k / gap_k +- w_k /
    (2 gap_k)``. All pairs of all scenarios are tested at once, in an
    ``(m, m, n)`` array whose diagonal (a target and itself) is excluded; ``gap``,
    ``dy`` and ``half_width`` are ``(n, m)`` and so is the result.
    """
    m = gap.shape[1]
    # Work on (target, scenario) copies so that NumPy's inner loops run over the
    # scenarios; pair[j, k] says whether target j is hidden by target k.
    g = np.ascontiguousarray(gap.T)
    safe = np.maximum(g, 1e-3)
    bearing = np.ascontiguousarray(dy.T)
    bearing /= safe
    extent = np.ascontiguousarray(half_width.T)
    extent /= safe
    g_k = g[None, :, :]
    pair = (g_k > 0.0) & (g_k < g[:, None, :])
    pair &= np.abs(bearing[:, None, :] - bearing[None, :, :]) < extent[None, :, :]
    pair &= ~np.eye(m, dtype=bool)[:, :, None]
    return np.ascontiguousarray(pair.any(axis=1).T)
