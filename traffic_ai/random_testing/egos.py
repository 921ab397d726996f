"""The egos under test: their sensor view from SUMO and the policies that drive them.

Every simulation step each ego gets an :class:`EgoView` built from its SUMO context
subscription (all vehicles within the sensor range) and a policy returns its
commanded acceleration. Two kinds of policy:

- an :class:`EgoPolicy`, any callable ``Observation -> float`` (m/s²) called once per
  ego and step; an exception is caught and recorded for that ego only;
- a :class:`BatchEgoPolicy` with ``act_batch(view) -> ndarray`` deciding for all egos
  at once, such as :class:`UrbanReferenceAds`, the yielding urban reference ADS (the
  default: right of way, gap acceptance, stop at red, AEB last), or
  :class:`ReferenceAds`, the built-in simulator's motorway ACC + staged TTC AEB
  (:func:`safety_val.sim.ads.decide`) with its default parameters.

A policy with ``needs_junctions = True`` also gets, per ego, its junction context
(:func:`add_junction_context`: the distance to its stop line, the state of its next
link and SUMO's junction foes that its sensors see) in :attr:`EgoView.junction`.

Geometry (SUMO): a vehicle's position is the centre of its front bumper and its
angle is the heading in degrees clockwise from north. With ``h`` the ego's unit
heading and ``n`` its left normal, a target's centre offset ``r`` from the ego's
centre gives ``x = r . h`` and ``dy = r . n``; the bumper gap is
``x - (L_ego + L_target) / 2``; the relative velocity is ``(v_t h_t - v_e h_e)``
projected on ``h`` and ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from safety_val.errors import ValidationError

__all__ = [
    "BatchEgoPolicy",
    "EgoPolicy",
    "EgoView",
    "Observation",
    "POLICIES",
    "JunctionView",
    "ReferenceAds",
    "UrbanReferenceAds",
    "add_junction_context",
    "build_view",
    "resolve_policy",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# libsumo variable ids (stable TraCI constants; see traci.constants)
VAR_SPEED = 0x40
VAR_POSITION = 0x42
VAR_ANGLE = 0x43
VAR_LENGTH = 0x44
VAR_WIDTH = 0x4D
VAR_ACCELERATION = 0x72
VAR_ROAD_ID = 0x50
VAR_LANE_ID = 0x51
VAR_LANEPOSITION = 0x56
VAR_DISTANCE = 0x84
VAR_ALLOWED_SPEED = 0xB7
#: Key of the next traffic lights in an ego's results; libsumo cannot subscribe to it
#: (the subscription returns an opaque object), so the runner adds
#: ``vehicle.getNextTLS`` under this key.
VAR_NEXT_TLS = 0x70
#: Variables subscribed for every vehicle in an ego's sensor range.
TARGET_VARIABLES = (VAR_POSITION, VAR_SPEED, VAR_ANGLE, VAR_LENGTH, VAR_ACCELERATION, VAR_LANE_ID)
#: Variables subscribed for every ego.
EGO_VARIABLES = (
    VAR_POSITION, VAR_SPEED, VAR_ANGLE, VAR_LENGTH, VAR_ACCELERATION, VAR_LANE_ID,
    VAR_ROAD_ID, VAR_LANEPOSITION, VAR_DISTANCE, VAR_ALLOWED_SPEED,
)
#: Id prefix of the virtual target at the stop line of a red or yellow traffic light.
STOP_LINE = "stopline:"
#: Key of an ego's junction context in its results (not a TraCI variable): added by
#: :func:`add_junction_context` for policies with ``needs_junctions``.
VAR_JUNCTION = 0x10000
#: Link states of an approach that gives way (SUMO: green without priority, minor road,
#: stop sign, right before left, all-way stop).
MINOR_LINK_STATES = frozenset("gms=w")
#: Junction foes kept per ego (the nearest conflict areas first).
JUNCTION_FOES = 4

CAR_WIDTH = 1.8


@dataclass(frozen=True)
class Observation:
    """What one ego's ADS sees in one step (targets sorted by gap, nearest first).

    Attributes
    ----------
    time
        Simulation time (s).
    ego_id
        SUMO id of the ego.
    speed, acceleration
        Ego odometry (m/s, m/s²).
    allowed_speed
        Speed limit of the ego's lane for the ego (m/s).
    target_ids
        SUMO ids of the detected targets.
    gap, dy, dvx, dvy
        Bumper gap, lateral offset, relative longitudinal and lateral speed of each
        target (m, m, m/s, m/s), shape ``(targets,)``.
    """

    time: float
    ego_id: str
    speed: float
    acceleration: float
    allowed_speed: float
    target_ids: tuple[str, ...]
    gap: FloatArray
    dy: FloatArray
    dvx: FloatArray
    dvy: FloatArray


@dataclass(frozen=True)
class EgoView:
    """The sensor view of all egos in one step, arrays of shape ``(n, k)`` or ``(n,)``.

    ``detected[i, j]`` says whether slot ``j`` of ego ``i`` holds a target; empty
    slots have ``gap = inf``. ``heading_difference`` is the absolute angle between the
    target's heading and the ego's (degrees, 0-180).
    """

    time: float
    ego_ids: tuple[str, ...]
    speed: FloatArray
    acceleration: FloatArray
    allowed_speed: FloatArray
    target_ids: tuple[tuple[str, ...], ...]
    detected: BoolArray
    gap: FloatArray
    dy: FloatArray
    dvx: FloatArray
    dvy: FloatArray
    target_speed: FloatArray
    target_acceleration: FloatArray
    heading_difference: FloatArray
    junction: JunctionView | None = None

    def observation(self, i: int) -> Observation:
        """The observation of ego ``i``."""
        m = self.detected[i]
        return Observation(
            self.time, self.ego_ids[i], float(self.speed[i]), float(self.acceleration[i]),
            float(self.allowed_speed[i]), self.target_ids[i], self.gap[i][m].copy(),
            self.dy[i][m].copy(), self.dvx[i][m].copy(), self.dvy[i][m].copy(),
        )


@dataclass(frozen=True)
class JunctionView:
    """What the egos know of the junction ahead, ``(n,)`` or ``(n, F)`` arrays.

    Built by :func:`build_view` from :func:`add_junction_context`. Distances are what
    a road user travels until its front reaches (``entry``) and its rear leaves
    (``exit``) the conflict area.

    Attributes
    ----------
    stop_distance
        Distance (m) from the ego's front to the end of its lane, where it enters the
        junction; ``-1`` inside a junction.
    minor
        Whether the ego's next link gives way (:data:`MINOR_LINK_STATES`).
    foe_ids
        SUMO ids of each ego's foes (slot order).
    valid
        Whether a slot holds a foe.
    entry, exit
        The ego's distances to each foe's conflict area (m).
    must_yield
        Whether the ego gives way to the foe (link states, right before left, a foe
        inside the junction).
    foe_entry, foe_exit, foe_speed, foe_accel
        The foe's distances to the conflict area (m), its speed (m/s) and its
        acceleration (m/s²).
    """

    stop_distance: FloatArray
    minor: BoolArray
    foe_ids: tuple[tuple[str, ...], ...]
    valid: BoolArray
    entry: FloatArray
    exit: FloatArray
    must_yield: BoolArray
    foe_entry: FloatArray
    foe_exit: FloatArray
    foe_speed: FloatArray
    foe_accel: FloatArray


_MAP: dict[str, Any] = {}


def add_junction_context(egos: Mapping[str, dict[int, Any]],
                         contexts: Mapping[str, Mapping[str, Mapping[int, Any]]]) -> None:
    """Add each ego's junction context to its results under :data:`VAR_JUNCTION`.

    Parameters
    ----------
    egos
        Subscription results of the egos (modified in place).
    contexts
        Context subscription results: only foes an ego's sensors see are considered.

    Notes
    -----
    The context comes from :class:`~traffic_ai.random_testing.junction_map.JunctionMap`
    (the network's junction geometry and link states, cached; one per loaded
    network): ``(stop distance, link state, foes)`` with foes ``(id, ego entry, foe
    entry, ego exit, foe exit, ego gives way, foe speed, foe acceleration)``. Per
    step it costs one ``vehicle.getNextLinks`` and one ``vehicle.getLanePosition``
    per vehicle heading into an ego's junction.
    """
    import libsumo

    from traffic_ai.random_testing.junction_map import JunctionMap

    if not egos:
        return
    network = (tuple(map(tuple, libsumo.simulation.getNetBoundary())),
               libsumo.lane.getIDCount())
    if _MAP.get("network") != network:
        _MAP.update(network=network, map=JunctionMap())
    junctions: JunctionMap = _MAP["map"]
    junctions.keep(egos)
    time = float(libsumo.simulation.getTime())
    for ego, values in egos.items():
        if not str(values.get(VAR_LANE_ID, "")):  # teleporting
            continue
        values[VAR_JUNCTION] = junctions.context(time, ego, values, contexts.get(ego, {}),
                                                 libsumo.vehicle.getLanePosition)


def _junction_view(ids: tuple[str, ...], egos: Mapping[str, Mapping[int, Any]],
                   slots: int) -> JunctionView:
    n = len(ids)
    shape = (n, slots)
    entry, exit_ = np.full(shape, np.inf), np.full(shape, np.inf)
    foe_entry, foe_exit = np.full(shape, np.inf), np.full(shape, np.inf)
    foe_speed, foe_accel = np.zeros(shape), np.zeros(shape)
    valid, must_yield = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
    stop = np.full(n, -np.inf)
    minor = np.zeros(n, dtype=bool)
    foe_ids: list[tuple[str, ...]] = []
    for i, ego in enumerate(ids):
        context = egos[ego].get(VAR_JUNCTION)
        if context is None:
            foe_ids.append(())
            continue
        stop[i], state, foes = context
        minor[i] = state in MINOR_LINK_STATES if state else False
        chosen = sorted(foes, key=lambda f: f[1])[:slots]
        foe_ids.append(tuple(f[0] for f in chosen))
        for j, (_, ego_in, foe_in, ego_out, foe_out, respond, speed, accel) in \
                enumerate(chosen):
            valid[i, j] = True
            entry[i, j], exit_[i, j] = ego_in, ego_out
            foe_entry[i, j], foe_exit[i, j] = foe_in, foe_out
            must_yield[i, j], foe_speed[i, j], foe_accel[i, j] = respond, speed, accel
    return JunctionView(stop, minor, tuple(foe_ids), valid, entry, exit_, must_yield,
                        foe_entry, foe_exit, foe_speed, foe_accel)


@runtime_checkable
class EgoPolicy(Protocol):
    """The ADS under test for one ego: observation in, acceleration command (m/s²) out."""

    def __call__(self, observation: Observation) -> float:
        """Commanded acceleration of the ego for the next step."""
        ...


@runtime_checkable
class BatchEgoPolicy(Protocol):
    """An ADS that decides for all egos of an instance at once."""

    def act_batch(self, view: EgoView, dt: float) -> FloatArray:
        """Commanded accelerations, shape ``(n,)``; ``dt`` is the step length (s)."""
        ...

    def forget(self, ego_id: str) -> None:
        """Drop the internal state of an ego that left the simulation."""
        ...


def _unit(angle_deg: FloatArray) -> tuple[FloatArray, FloatArray]:
    rad = np.radians(angle_deg)
    return np.sin(rad), np.cos(rad)


def build_view(
    time: float,
    egos: Mapping[str, Mapping[int, Any]],
    contexts: Mapping[str, Mapping[str, Mapping[int, Any]]],
    *,
    targets: int = 6,
    sensor_range: float = 100.0,
    tan_half_fov: float = float(np.tan(np.radians(30.0))),
) -> EgoView:
    """Turn SUMO subscription results into the egos' sensor view.

    Parameters
    ----------
    time
        Simulation time (s).
    egos
        Subscription results of each ego (:data:`EGO_VARIABLES`).
    contexts
        Context subscription results of each ego (:data:`TARGET_VARIABLES` of every
        vehicle in range, possibly the ego itself).
    targets
        Number of target slots (the nearest detected targets are kept).
    sensor_range, tan_half_fov
        Detection range (m) and field of view: a target is detected when its centre
        is ahead (``x > 0``), ``x <= range`` and ``|dy| <= x tan(fov / 2) + 2 m``.

    Notes
    -----
    The map supplies traffic lights: a red or yellow light within range is a standing
    virtual target at its stop line (id ``stopline:<tls>``, in the last slot), so
    the ACC stops for it as for a stopped vehicle. Egos whose results carry a
    junction context (:func:`add_junction_context`) get :attr:`EgoView.junction`.

    Returns
    -------
    EgoView
    """
    ids = tuple(egos)
    n = len(ids)
    shape = (n, targets)
    gap = np.full(shape, np.inf)
    dy, dvx, dvy = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    tv, ta, hd = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    detected = np.zeros(shape, dtype=bool)
    target_ids: list[tuple[str, ...]] = []
    speed = np.array([egos[e][VAR_SPEED] for e in ids], dtype=np.float64)
    accel = np.array([egos[e][VAR_ACCELERATION] for e in ids], dtype=np.float64)
    allowed = np.array([egos[e][VAR_ALLOWED_SPEED] for e in ids], dtype=np.float64)
    for i, ego in enumerate(ids):
        own = egos[ego]
        others = [(vid, r) for vid, r in contexts.get(ego, {}).items() if vid != ego]
        stop = _stop_line(own, sensor_range)
        if not others:
            target_ids.append(())
            if stop is not None:
                _put_stop_line(i, 0, stop, speed, detected, gap, dvx, hd, target_ids)
            continue
        hx, hy = _unit(np.array([own[VAR_ANGLE]]))
        ex, ey = own[VAR_POSITION]
        le = own[VAR_LENGTH]
        cx, cy = ex - 0.5 * le * hx[0], ey - 0.5 * le * hy[0]
        pos = np.array([r[VAR_POSITION] for _, r in others], dtype=np.float64)
        ang = np.array([r[VAR_ANGLE] for _, r in others], dtype=np.float64)
        length = np.array([r[VAR_LENGTH] for _, r in others], dtype=np.float64)
        v = np.array([r[VAR_SPEED] for _, r in others], dtype=np.float64)
        a = np.array([r[VAR_ACCELERATION] for _, r in others], dtype=np.float64)
        thx, thy = _unit(ang)
        rx = pos[:, 0] - 0.5 * length * thx - cx
        ry = pos[:, 1] - 0.5 * length * thy - cy
        x = rx * hx[0] + ry * hy[0]
        lat = -rx * hy[0] + ry * hx[0]
        seen = (x > 0.0) & (x <= sensor_range) & (np.abs(lat) <= x * tan_half_fov + 2.0)
        order = [j for j in np.argsort(x) if seen[j]][:targets - (stop is not None)]
        k = len(order)
        target_ids.append(tuple(others[j][0] for j in order))
        if stop is not None:
            _put_stop_line(i, k, stop, speed, detected, gap, dvx, hd, target_ids)
        if k == 0:
            continue
        sel = np.asarray(order)
        detected[i, :k] = True
        gap[i, :k] = x[sel] - 0.5 * (le + length[sel])
        dy[i, :k] = lat[sel]
        vx, vy = v[sel] * thx[sel], v[sel] * thy[sel]
        dvx[i, :k] = vx * hx[0] + vy * hy[0] - speed[i]
        dvy[i, :k] = -vx * hy[0] + vy * hx[0]
        tv[i, :k] = v[sel]
        ta[i, :k] = a[sel]
        hd[i, :k] = np.abs((ang[sel] - own[VAR_ANGLE] + 180.0) % 360.0 - 180.0)
    junction = (_junction_view(ids, egos, JUNCTION_FOES)
                if any(VAR_JUNCTION in egos[e] for e in ids) else None)
    return EgoView(time, ids, speed, accel, allowed, tuple(target_ids), detected, gap, dy, dvx,
                   dvy, tv, ta, hd, junction)


def _stop_line(own: Mapping[int, Any], sensor_range: float,
               comfortable_decel: float = 3.5) -> tuple[str, float] | None:
    """The next traffic light to stop at: ``(id, distance to the stop line)`` or ``None``.

    Red always; yellow when the ego can stop at ``comfortable_decel`` (m/s²).
    """
    speed = float(own[VAR_SPEED])
    for tls, _index, distance, state in own.get(VAR_NEXT_TLS, ()) or ():
        if distance > sensor_range:
            break
        if state in "rRu" or (state in "yY"
                              and speed**2 < 2.0 * comfortable_decel * max(distance, 0.1)):
            return tls, float(distance)
        return None
    return None


def _put_stop_line(i: int, k: int, stop: tuple[str, float], speed: FloatArray,
                   detected: BoolArray, gap: FloatArray, dvx: FloatArray, hd: FloatArray,
                   target_ids: list[tuple[str, ...]]) -> None:
    """Slot ``k`` of ego ``i`` holds a standing virtual target at the stop line.

    Its heading difference is set to 180 degrees so that it never counts as a vehicle
    for the NG events and KPIs.
    """
    detected[i, k] = True
    hd[i, k] = 180.0
    gap[i, k] = max(stop[1] - 1.0, 0.0)
    dvx[i, k] = -speed[i]
    target_ids[i] = (*target_ids[i], STOP_LINE + stop[0])


class ReferenceAds:
    """The built-in reference ADS (ACC + staged TTC AEB) driving many egos in SUMO.

    Parameters
    ----------
    overrides
        ADS inputs of :data:`safety_val.sim.parameters.ADS_PARAMETERS` to change,
        e.g. ``{"acc_time_gap": 2.0}``; the others keep their defaults.
    set_speed_factor
        ACC set speed as a share of the lane's speed limit when ``acc_set_speed`` is 0.

    Notes
    -----
    Each step runs :func:`safety_val.sim.ads.decide` on all egos at once with the
    SUMO sensor view as the measurement (every target in view is detected; SUMO has
    no sensor noise). Targets are re-associated each step by gap order, so tracks do
    not coast; the latched AEB stage is kept per ego.
    """

    def __init__(self, overrides: Mapping[str, float] | None = None, *,
                 set_speed_factor: float = 1.0) -> None:
        from safety_val.sim.parameters import ADS_PARAMETERS

        values = {name: float(info.default) for name, info in ADS_PARAMETERS.items()}
        for name, value in (overrides or {}).items():
            if name not in values:
                raise ValidationError("unknown ADS input", field="ads", value=name,
                                      expected="one of " + ", ".join(sorted(values)))
            values[name] = float(value)
        self.values = values
        self.set_speed_factor = set_speed_factor
        self._stage: dict[str, float] = {}

    def _settings(self, view: EgoView) -> Any:
        from safety_val.sim.ads import AdsSettings

        n, k = view.gap.shape
        v = self.values

        def col(value: float) -> FloatArray:
            return np.full((n, 1), value)

        set_speed = (np.full(n, v["acc_set_speed"]) if v["acc_set_speed"] > 0
                     else self.set_speed_factor * view.allowed_speed)
        return AdsSettings(
            set_speed=set_speed[:, None], time_gap=col(v["acc_time_gap"]),
            standstill_gap=col(v["acc_standstill_gap"]), gap_gain=col(v["acc_gap_gain"]),
            speed_gain=col(v["acc_speed_gain"]), cruise_gain=col(v["acc_cruise_gain"]),
            acc_max_accel=col(v["acc_max_accel"]), acc_max_decel=col(v["acc_max_decel"]),
            ttc_warning=col(v["aeb_ttc_warning"]), ttc_partial=col(v["aeb_ttc_partial"]),
            ttc_full=col(v["aeb_ttc_full"]), warning_decel=col(v["aeb_warning_decel"]),
            partial_decel=col(v["aeb_partial_decel"]), max_decel=col(v["max_decel"]),
            coast_time=col(0.0), half_width=np.full((n, k), CAR_WIDTH + v["corridor_margin"]),
            horizon=col(v["prediction_horizon"]),
        )

    def act_batch(self, view: EgoView, dt: float) -> FloatArray:
        """Accelerations of all egos from one ADS cycle (see the class notes)."""
        from safety_val.sim.ads import Tracks, decide
        from safety_val.sim.sensor import Measurement

        n, k = view.gap.shape
        if n == 0:
            return np.zeros(0)
        tracks = Tracks.empty(n, k)
        tracks.stage[:] = [self._stage.get(e, 0.0) for e in view.ego_ids]
        measurement = Measurement(view.detected, np.where(view.detected, view.gap, 1e9),
                                  view.dy, view.dvx, view.dvy)
        tracks, a_cmd = decide(tracks, measurement, self._settings(view), view.speed,
                               np.full((n, 1), dt))
        self._stage.update(zip(view.ego_ids, tracks.stage.tolist(), strict=True))
        return np.asarray(a_cmd, dtype=np.float64)

    def __call__(self, observation: Observation) -> float:
        """Acceleration command of one ego (the same logic as :meth:`act_batch`)."""
        k = max(len(observation.gap), 1)
        pad = k - len(observation.gap)

        def row(values: FloatArray, fill: float) -> FloatArray:
            return np.concatenate([values, np.full(pad, fill)])[None, :]

        view = EgoView(
            observation.time, (observation.ego_id,), np.array([observation.speed]),
            np.array([observation.acceleration]), np.array([observation.allowed_speed]),
            (observation.target_ids,), row(np.ones(len(observation.gap)), 0.0).astype(bool),
            row(observation.gap, np.inf), row(observation.dy, 0.0), row(observation.dvx, 0.0),
            row(observation.dvy, 0.0), np.zeros((1, k)), np.zeros((1, k)), np.zeros((1, k)),
        )
        return float(self.act_batch(view, 0.1)[0])

    def forget(self, ego_id: str) -> None:
        """Drop the latched AEB stage of an ego that left."""
        self._stage.pop(ego_id, None)


class UrbanReferenceAds(ReferenceAds):
    """The yielding urban reference ADS driving many egos in SUMO.

    Parameters
    ----------
    overrides
        Inputs of :data:`~safety_val.sim.parameters.ADS_PARAMETERS` and
        :data:`~safety_val.sim.parameters.URBAN_ADS_PARAMETERS` to change, e.g.
        ``{"critical_gap": 5.5}``; the others keep their defaults.
    set_speed_factor
        Cruising speed as a share of the lane's speed limit when ``acc_set_speed`` is 0.

    Notes
    -----
    Two layers, the lower command wins:

    - car following and the in-path AEB of :class:`ReferenceAds` on the targets
      heading within 45 degrees of the ego (and the stop lines of red and yellow
      lights); crossing and oncoming traffic is left to
    - the junction layer, :func:`safety_val.sim.urban_ads.junction_command` on
      :attr:`EgoView.junction`: SUMO's right of way (who must respond to whom at each
      conflict area), gap acceptance with ``critical_gap`` and ``gap_margin``, the
      approach speed on a link that gives way, a foe that does not yield, and an AEB
      on the conflict-area TTC. Without a junction context it drives like
      :class:`ReferenceAds`.

    ``needs_junctions`` tells the runner to add the junction context
    (:func:`add_junction_context`) to the egos' results.
    """

    needs_junctions = True

    def __init__(self, overrides: Mapping[str, float] | None = None, *,
                 set_speed_factor: float = 1.0) -> None:
        from safety_val.sim.parameters import URBAN_ADS_PARAMETERS

        urban = {k: float(v) for k, v in (overrides or {}).items() if k in URBAN_ADS_PARAMETERS}
        rest = {k: v for k, v in (overrides or {}).items() if k not in URBAN_ADS_PARAMETERS}
        try:
            super().__init__(rest, set_speed_factor=set_speed_factor)
        except ValidationError:
            raise ValidationError("unknown ADS input", field="ads",
                                  value=next(iter(k for k in rest if k not in self._known())),
                                  expected="one of " + ", ".join(sorted(self._known()))) from None
        self.values.update({k: float(i.default) for k, i in URBAN_ADS_PARAMETERS.items()})
        self.values.update(urban)
        self._junction_stage: dict[str, float] = {}

    @staticmethod
    def _known() -> set[str]:
        from safety_val.sim.parameters import ADS_PARAMETERS, URBAN_ADS_PARAMETERS

        return set(ADS_PARAMETERS) | set(URBAN_ADS_PARAMETERS)

    def _urban_settings(self, view: EgoView) -> Any:
        from safety_val.sim.urban_ads import UrbanAdsSettings

        n = len(view.ego_ids)
        v = self.values

        def col(value: float) -> FloatArray:
            return np.full((n, 1), value)

        set_speed = (np.full(n, v["acc_set_speed"]) if v["acc_set_speed"] > 0
                     else self.set_speed_factor * view.allowed_speed)
        return UrbanAdsSettings(
            set_speed=set_speed[:, None], cruise_gain=col(v["acc_cruise_gain"]),
            max_accel=col(v["acc_max_accel"]), comfort_decel=col(v["acc_max_decel"]),
            max_decel=col(v["max_decel"]), critical_gap=col(v["critical_gap"]),
            gap_margin=col(v["gap_margin"]), approach_speed=col(v["approach_speed"]),
            violation_decel=col(v["violation_decel"]), ttc_warning=col(v["aeb_ttc_warning"]),
            ttc_partial=col(v["aeb_ttc_partial"]), ttc_full=col(v["aeb_ttc_full"]),
            warning_decel=col(v["aeb_warning_decel"]), partial_decel=col(v["aeb_partial_decel"]),
        )

    def act_batch(self, view: EgoView, dt: float) -> FloatArray:
        """Accelerations of all egos: the lower of the following and junction layers."""
        from dataclasses import replace

        from safety_val.sim.urban_ads import SIGNAL_NONE, junction_command

        n = len(view.ego_ids)
        if n == 0:
            return np.zeros(0)
        along = view.detected & (view.heading_difference <= 45.0)
        for i, ids in enumerate(view.target_ids):
            for j, target in enumerate(ids):
                if target.startswith(STOP_LINE):
                    along[i, j] = True
        a_follow = super().act_batch(replace(view, detected=along), dt)
        junction = view.junction
        if junction is None:
            return a_follow
        stage = np.array([self._junction_stage.get(e, 0.0) for e in view.ego_ids])
        decision = junction_command(
            self._urban_settings(view), speed=view.speed,
            stop_distance=junction.stop_distance, signal=np.full(n, SIGNAL_NONE),
            minor=junction.minor, entry=junction.entry, exit_=junction.exit,
            must_yield=junction.must_yield, valid=junction.valid,
            foe_entry=junction.foe_entry, foe_exit=junction.foe_exit,
            foe_speed=junction.foe_speed, stage=stage, foe_accel=junction.foe_accel,
        )
        self._junction_stage.update(zip(view.ego_ids, decision.stage.tolist(), strict=True))
        return np.asarray(np.minimum(a_follow, decision.accel), dtype=np.float64)

    def forget(self, ego_id: str) -> None:
        """Drop the latched AEB stages of an ego that left."""
        super().forget(ego_id)
        self._junction_stage.pop(ego_id, None)


#: Policies by name (:func:`resolve_policy`); ``reference`` is the default of random testing.
POLICIES: Mapping[str, Callable[[], EgoPolicy | BatchEgoPolicy]] = {
    "reference": UrbanReferenceAds,
    "urban": UrbanReferenceAds,
    "motorway": ReferenceAds,
}

PolicyLike = EgoPolicy | BatchEgoPolicy | Callable[[Observation], float]


def resolve_policy(policy: PolicyLike | str | None) -> EgoPolicy | BatchEgoPolicy:
    """The policy object from a name, an import path or a policy.

    ``None``, ``"reference"`` or ``"urban"`` give :class:`UrbanReferenceAds` (the
    yielding urban reference ADS), ``"motorway"`` :class:`ReferenceAds` (the motorway
    ACC + AEB of the built-in simulator's straight-road templates). A string
    ``"module:attribute"`` names a policy class or factory to import (called without
    arguments).

    Raises
    ------
    ValidationError
        For a string that is neither a name nor importable, or an object that is not
        callable.

    Examples
    --------
    >>> type(resolve_policy(None)).__name__, type(resolve_policy("motorway")).__name__
    ('UrbanReferenceAds', 'ReferenceAds')
    """
    if policy is None:
        policy = "reference"
    if isinstance(policy, str) and policy in POLICIES:
        return POLICIES[policy]()
    if isinstance(policy, str):
        import importlib

        module, _, attribute = policy.partition(":")
        try:
            factory = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError, ValueError):
            raise ValidationError("cannot import the ego policy", field="policy", value=policy,
                                  expected="one of " + ", ".join(map(repr, POLICIES))
                                  + " or 'module:attribute'") from None
        policy = factory()
    if isinstance(policy, BatchEgoPolicy) or callable(policy):
        return policy  # type: ignore[return-value]
    raise ValidationError("the ego policy must be callable", field="policy",
                          value=type(policy).__name__,
                          expected="a callable Observation -> acceleration")


def policy_commands(policy: EgoPolicy | BatchEgoPolicy, view: EgoView, dt: float,
                    active: Sequence[bool]) -> tuple[FloatArray, dict[int, str]]:
    """Ask the policy for every active ego's acceleration; collect per-ego errors.

    Returns
    -------
    (ndarray, dict)
        Commands (``nan`` for inactive or failed egos) and ``{ego index: error}``.
    """
    n = len(view.ego_ids)
    commands = np.full(n, np.nan)
    errors: dict[int, str] = {}
    if isinstance(policy, BatchEgoPolicy):
        try:
            batch = np.asarray(policy.act_batch(view, dt), dtype=np.float64)
            if batch.shape != (n,):
                raise ValueError(f"act_batch returned shape {batch.shape}, expected {(n,)}")
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            return commands, {i: message for i in range(n) if active[i]}
        commands[np.asarray(active, dtype=bool)] = batch[np.asarray(active, dtype=bool)]
    else:
        for i in range(n):
            if not active[i]:
                continue
            try:
                value = float(policy(view.observation(i)))
                if not np.isfinite(value):
                    raise ValueError(f"non-finite acceleration {value}")
                commands[i] = value
            except Exception as exc:
                errors[i] = f"{type(exc).__name__}: {exc}"
    bad = ~np.isfinite(commands) & np.asarray(active, dtype=bool)
    for i in np.flatnonzero(bad).tolist():
        errors.setdefault(i, "non-finite acceleration")
    return commands, errors
