"""Junction templates: crossing paths, a left turn across oncoming traffic, a pedestrian.

Junction frame (right-hand traffic): the junction's centre is the origin; the ego's
road runs along ``x`` (the ego drives east in the lane at ``y = -w/2``, oncoming
traffic west at ``y = +w/2``), the crossing road along ``y`` (northbound lane at
``x = +w/2``, southbound at ``x = -w/2``), one lane of width ``w = lane_width`` each
way. Stop lines lie 1 m before the edge of the road crossed. Every road user
follows its lane's centre line (:class:`~safety_val.sim.paths.Paths`); distances
to the conflict area are what a road user travels until its body first touches
the area that the other road user's body sweeps (:func:`~safety_val.sim.paths.
conflict_intervals`), the quantity SUMO's junction model and SSM device report.

The ego is driven by the yielding urban reference ADS
(:func:`~safety_val.sim.urban_ads.junction_command`) with a 180 degree sensor field
of view by default (a surround sensor set); the other road user follows a script.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from safety_val.quantities import DerivedQuantity
from safety_val.sim.dimensions import (
    CAR_LENGTH,
    CAR_WIDTH,
    EGO_BRAKE_LIMIT,
    PEDESTRIAN_ACCEL,
    PEDESTRIAN_LAG,
    PEDESTRIAN_LENGTH,
    PEDESTRIAN_WIDTH,
    SCRIPT_CAR_ACCEL,
    SCRIPT_CAR_LAG,
)
from safety_val.sim.junction import JUNCTION_KPIS, JunctionSetup
from safety_val.sim.parameters import COMMON_PARAMETERS, URBAN_ADS_PARAMETERS, ParameterInfo
from safety_val.sim.paths import Paths, conflict_intervals
from safety_val.sim.setup import Phases
from safety_val.sim.template import Template
from safety_val.sim.urban_ads import SIGNAL_GREEN, SIGNAL_NONE, SIGNAL_RED
from safety_val.sim.vehicle import stopping_distance

__all__ = [
    "JUNCTION_TEMPLATES",
    "OTHER_TURN_LATERAL_ACCEL",
    "RUN_IN",
    "STOP_LINE_SETBACK",
    "crossing_offsets",
    "junction_layout",
]

FloatArray = npt.NDArray[np.float64]

#: Every path starts this far (m) from the junction's centre.
RUN_IN = 200.0
#: Distance (m) of a stop line before the edge of the road it crosses.
STOP_LINE_SETBACK = 1.0
#: Lateral acceleration (m/s²) at which a scripted car takes its turn.
OTHER_TURN_LATERAL_ACCEL = 3.0
#: Deceleration (m/s²) with which a scripted turning car slows to its turn speed.
OTHER_TURN_DECEL = 2.0
_BIG = 1e4
_EMPTY_BOX = (1.0, 1.0, -1.0, -1.0)

#: The common inputs with the junction templates' own defaults (a surround sensor set).
_JUNCTION_COMMON: Mapping[str, ParameterInfo] = MappingProxyType({
    **COMMON_PARAMETERS,
    "sensor_fov": ParameterInfo(180.0, "deg", "horizontal field of view (full angle)", 1.0,
                                360.0),
})


def _p(default: float, unit: str, description: str, lower: float, upper: float) -> ParameterInfo:
    return ParameterInfo(float(default), unit, description, lower, upper)


def _cat(default: str, description: str, *labels: str) -> ParameterInfo:
    return ParameterInfo(default, "-", description, categories=labels)


def _col(*columns: npt.ArrayLike, n: int) -> FloatArray:
    return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in columns], 1)


def _bodies(values: Mapping[str, FloatArray], n: int, other: str) -> dict[str, FloatArray]:
    car = other == "car"
    return {
        "length": _col(CAR_LENGTH, CAR_LENGTH if car else PEDESTRIAN_LENGTH, n=n),
        "width": _col(CAR_WIDTH, CAR_WIDTH if car else PEDESTRIAN_WIDTH, n=n),
        "lag": _col(values["actuator_lag"], SCRIPT_CAR_LAG if car else PEDESTRIAN_LAG, n=n),
        "accel_min": _col(-EGO_BRAKE_LIMIT, (SCRIPT_CAR_ACCEL if car else PEDESTRIAN_ACCEL)[0],
                          n=n),
        "accel_max": _col(values["ego_max_accel"],
                          (SCRIPT_CAR_ACCEL if car else PEDESTRIAN_ACCEL)[1], n=n),
    }


def _set_speed(values: Mapping[str, FloatArray]) -> FloatArray:
    return np.where(values["acc_set_speed"] > 0.0, values["acc_set_speed"], values["speed_limit"])


def _straight(x0: npt.ArrayLike, y0: npt.ArrayLike, psi0: npt.ArrayLike,
              n: int) -> tuple[FloatArray, ...]:
    z = np.zeros(n)
    return (np.broadcast_to(np.asarray(x0, dtype=np.float64), (n,)).copy(),
            np.broadcast_to(np.asarray(y0, dtype=np.float64), (n,)).copy(),
            np.broadcast_to(np.asarray(psi0, dtype=np.float64), (n,)).copy(),
            np.full(n, np.inf), z, z.copy())


def _paths(*agents: tuple[FloatArray, ...]) -> Paths:
    return Paths(*(np.stack([a[i] for a in agents], axis=1) for i in range(6)))


def _swap(paths: Paths, swap: npt.NDArray[np.bool_]) -> Paths:
    """Exchange the two columns where ``swap``."""
    def pick(a: FloatArray) -> FloatArray:
        return np.where(swap[:, None], a[:, ::-1], a)
    return Paths(*(pick(getattr(paths, f)) for f in
                   ("x0", "y0", "psi0", "arc_start", "curvature", "arc_angle")))


def junction_layout(paths: Paths, length: FloatArray, width: FloatArray,
                    window: FloatArray, straight_first: npt.NDArray[np.bool_],
                    ) -> tuple[FloatArray, FloatArray]:
    """Conflict intervals of ego and other where either may be the straight one.

    :func:`~safety_val.sim.paths.conflict_intervals` needs road user 1 straight; where
    ``straight_first`` (the ego is straight and the other turns) the columns are
    exchanged around the call. ``window`` is on the turning (or, with two straight
    paths, the ego's) path.
    """
    swapped = _swap(paths, straight_first)
    flip = straight_first[:, None]
    entry, exit_ = conflict_intervals(swapped, np.where(flip, length[:, ::-1], length),
                                      np.where(flip, width[:, ::-1], width), window)
    return np.where(flip, entry[:, ::-1], entry), np.where(flip, exit_[:, ::-1], exit_)


#: Strongest deceleration (m/s²) a scripted car uses to stop at its stop line.
YIELD_DECEL_LIMIT = 8.0


def _stop_phases(n: int, speed: FloatArray, to_line: FloatArray, decel: FloatArray,
                 stops: npt.NDArray[np.bool_]) -> Phases:
    """Keep ``speed``; where ``stops``, brake to stand at the stop line.

    The car brakes at ``decel``, or harder (up to :data:`YIELD_DECEL_LIMIT`) when it
    is already too close for ``decel``: a driver who gives way brakes as needed; only
    beyond the limit does it overshoot the line.
    """
    room = np.maximum(to_line - speed * SCRIPT_CAR_LAG, 0.5)
    decel = np.clip(np.maximum(decel, speed**2 / (2.0 * room)), 0.1, YIELD_DECEL_LIMIT)
    need = stopping_distance(speed, decel, SCRIPT_CAR_LAG)
    start = np.maximum((to_line - need) / np.maximum(speed, 0.1), 0.0)
    return Phases.build(n, [(0.0, speed, 3.0, 0.0),
                            (np.where(stops, start, np.inf), np.where(stops, 0.0, speed),
                             decel, 0.0)])


def _setup(values: Mapping[str, FloatArray], n: int, *, paths: Paths, bodies: dict[str, FloatArray],
           entry: FloatArray, exit_: FloatArray, ego_distance: FloatArray,
           other_distance: FloatArray, other_speed: FloatArray, script: Phases,
           stop_line: FloatArray, must_yield: npt.NDArray[np.bool_],
           minor: npt.NDArray[np.bool_], signal: FloatArray | None = None,
           occluder: FloatArray | None = None, kinds: tuple[str, str] = ("car", "car"),
           ) -> JunctionSetup:
    return JunctionSetup(
        paths=paths,
        s0=np.stack([entry[:, 0] - ego_distance, entry[:, 1] - other_distance], axis=1),
        v0=_col(values["ego_speed"], other_speed, n=n),
        length=bodies["length"], width=bodies["width"], lag=bodies["lag"],
        accel_min=bodies["accel_min"], accel_max=bodies["accel_max"],
        script=script,
        set_speed=_set_speed(values),
        entry=entry, exit=exit_, stop_line=stop_line,
        ego_must_yield=must_yield, ego_minor=minor,
        signal=(np.full(n, SIGNAL_NONE, dtype=np.intp) if signal is None
                else signal.astype(np.intp)),
        signal_change=(values["signal_change_time"] if "signal_change_time" in values
                       else np.full(n, np.inf)),
        occluder=np.tile(_EMPTY_BOX, (n, 1)) if occluder is None else occluder,
        yielder=np.where(must_yield, 0, 1).astype(np.intp),
        turn_lateral_accel=values["turn_lateral_accel"],
        kinds=kinds,
    )


# --------------------------------------------------------------------------- crossing


def _build_crossing(values: Mapping[str, FloatArray], n: int) -> JunctionSetup:
    lw = values["lane_width"]
    from_right = values["other_direction"] == 1.0
    rule = values["right_of_way"]  # ego, other, ego_green, ego_red
    bodies = _bodies(values, n, "car")
    ego = _straight(-RUN_IN, -lw / 2.0, 0.0, n)
    other = _straight(np.where(from_right, lw / 2.0, -lw / 2.0),
                      np.where(from_right, -RUN_IN, RUN_IN),
                      np.where(from_right, np.pi / 2.0, -np.pi / 2.0), n)
    paths = _paths(ego, other)
    window = _col(RUN_IN - 2.0 * lw - 6.0, RUN_IN + 2.0 * lw + 6.0, n=n)
    entry, exit_ = junction_layout(paths, bodies["length"], bodies["width"], window,
                                   np.zeros(n, dtype=bool))
    line = RUN_IN - lw - STOP_LINE_SETBACK - CAR_LENGTH / 2.0
    stop_line = _col(line, line, n=n)
    other_priority = (rule == 1.0) | (rule == 3.0)
    yields = ~other_priority & (values["other_behaviour"] == 0.0)
    v_o = values["other_speed"]
    s0_other = entry[:, 1] - values["other_distance"]
    script = _stop_phases(n, v_o, line - s0_other, values["other_decel"], yields)
    setback = values["corner_setback"]
    edge = lw + setback
    occluder = np.where(from_right[:, None],
                        _col(-_BIG, -_BIG, -edge, -edge, n=n),
                        _col(-_BIG, edge, -edge, _BIG, n=n))
    signal = np.select([rule == 2.0, rule == 3.0], [SIGNAL_GREEN, SIGNAL_RED], SIGNAL_NONE)
    return _setup(values, n, paths=paths, bodies=bodies, entry=entry, exit_=exit_,
                  ego_distance=values["ego_distance"], other_distance=values["other_distance"],
                  other_speed=v_o, script=script, stop_line=stop_line,
                  must_yield=other_priority, minor=rule == 1.0, signal=signal,
                  occluder=occluder)


_SPEED_LIMIT = _p(13.9, "m/s", "speed limit: the ADS's set speed unless acc_set_speed > 0",
                  2.0, 25.0)

_CROSSING = {
    "ego_speed": _p(11.1, "m/s", "initial ego speed", 0.0, 25.0),
    "ego_distance": _p(30.0, "m", "distance the ego travels until its body touches the "
                       "conflict area (at the start)", 0.0, 200.0),
    "other_speed": _p(11.1, "m/s", "initial speed of the crossing car", 0.0, 25.0),
    "other_distance": _p(30.0, "m", "distance the crossing car travels until its body touches "
                         "the conflict area (at the start)", 0.0, 200.0),
    "other_direction": _cat("right", "side from which the crossing car comes", "left", "right"),
    "right_of_way": _cat(
        "ego", "who has the right of way: the ego on the major road (ego), the crossing car "
        "(other: the ego has a yield sign or the car comes from the right at a right-before-left "
        "junction), or a signal: green (ego_green) or red (ego_red) for the ego",
        "ego", "other", "ego_green", "ego_red"),
    "other_behaviour": _cat(
        "yields", "whether the crossing car, when it has no right of way, stops at its stop line "
        "(yields) or drives on (proceeds: a violation)", "yields", "proceeds"),
    "other_decel": _p(3.0, "m/s^2", "deceleration with which the crossing car stops at its stop "
                      "line when it yields (harder, up to 8 m/s^2, when it must)", 0.5, 10.0),
    "signal_change_time": _p(
        1000.0, "s", "when the ego's signal changes: green turns yellow (then red after 3 s) with "
        "ego_green, red turns green with ego_red", 0.0, 1000.0),
    "corner_setback": _p(
        100.0, "m", "distance of the sight obstruction on the corner between the two approaches "
        "(buildings, parked cars, hedges) from the road edges; 100: open view", 0.0, 100.0),
    "speed_limit": _SPEED_LIMIT,
}


# --------------------------------------------------------------------------- left turn


def _build_left_turn(values: Mapping[str, FloatArray], n: int) -> JunctionSetup:
    lw = values["lane_width"]
    radius = values["turn_radius"]
    ego_turns = values["turning"] == 0.0
    bodies = _bodies(values, n, "car")
    half = np.maximum(lw, radius - lw / 2.0)  # the junction reaches as far as the turn needs
    arc_s = RUN_IN - (radius - lw / 2.0)
    turn = (arc_s, 1.0 / radius, np.full(n, np.pi / 2.0))
    ego = (*_straight(-RUN_IN, -lw / 2.0, 0.0, n)[:3],
           *(np.where(ego_turns, t, s) for t, s in zip(turn, (np.inf, 0.0, 0.0), strict=True)))
    other = (*_straight(RUN_IN, lw / 2.0, np.pi, n)[:3],
             *(np.where(ego_turns, s, t) for t, s in zip(turn, (np.inf, 0.0, 0.0), strict=True)))
    paths = _paths(ego, other)
    arc_len = radius * np.pi / 2.0
    window = _col(arc_s - 8.0, arc_s + arc_len + 8.0, n=n)
    entry, exit_ = junction_layout(paths, bodies["length"], bodies["width"], window, ~ego_turns)
    line = RUN_IN - half - STOP_LINE_SETBACK - CAR_LENGTH / 2.0
    stop_line = _col(line, line, n=n)
    v_o = values["other_speed"]
    s0_other = entry[:, 1] - values["other_distance"]
    yields = ~ego_turns & (values["other_behaviour"] == 0.0)
    v_turn = np.minimum(v_o, np.sqrt(OTHER_TURN_LATERAL_ACCEL * radius))
    slow = (arc_s - CAR_LENGTH / 2.0 - s0_other
            - (v_o**2 - v_turn**2) / (2.0 * OTHER_TURN_DECEL)) / np.maximum(v_o, 0.1)
    stop = _stop_phases(n, v_o, line - s0_other, values["other_decel"], yields)
    turning_other = ~ego_turns & ~yields & (v_turn < v_o)
    script = Phases(
        start=np.where(turning_other[:, None], _col(0.0, np.maximum(slow, 0.0), n=n),
                       stop.start),
        speed=np.where(turning_other[:, None], _col(v_o, v_turn, n=n), stop.speed),
        accel=np.where(turning_other[:, None], _col(3.0, OTHER_TURN_DECEL, n=n), stop.accel),
        lateral=np.zeros((n, 2)),
    )
    return _setup(values, n, paths=paths, bodies=bodies, entry=entry, exit_=exit_,
                  ego_distance=values["ego_distance"], other_distance=values["other_distance"],
                  other_speed=v_o, script=script, stop_line=stop_line,
                  must_yield=ego_turns, minor=ego_turns)


_LEFT_TURN = {
    "ego_speed": _p(8.3, "m/s", "initial ego speed", 0.0, 25.0),
    "ego_distance": _p(30.0, "m", "distance the ego travels until its body touches the "
                       "conflict area (at the start)", 0.0, 200.0),
    "other_speed": _p(11.1, "m/s", "initial speed of the oncoming car", 0.0, 25.0),
    "other_distance": _p(40.0, "m", "distance the oncoming car travels until its body touches "
                         "the conflict area (at the start)", 0.0, 200.0),
    "turning": _cat("ego", "who turns left across the other's path (the straight-going car has "
                    "the right of way)", "ego", "other"),
    "turn_radius": _p(10.0, "m", "radius of the left turn's centre line", 5.0, 30.0),
    "other_behaviour": _cat(
        "yields", "whether the oncoming car, when it turns, stops at its stop line for the ego "
        "(yields) or turns in front of it (proceeds: a violation)", "yields", "proceeds"),
    "other_decel": _p(3.0, "m/s^2", "deceleration with which the oncoming car stops when it "
                      "yields (harder, up to 8 m/s^2, when it must)", 0.5, 10.0),
    "speed_limit": _SPEED_LIMIT,
}


# --------------------------------------------------------------------------- pedestrian


def _build_pedestrian(values: Mapping[str, FloatArray], n: int) -> JunctionSetup:
    lw = values["lane_width"]
    radius = values["turn_radius"]
    right = values["turn"] == 0.0
    near = values["pedestrian_side"] == 0.0
    bodies = _bodies(values, n, "pedestrian")
    sign = np.where(right, -1.0, 1.0)
    arc_s = RUN_IN + sign * lw / 2.0 - radius
    ego = (*_straight(-RUN_IN, -lw / 2.0, 0.0, n)[:3], arc_s, sign / radius,
           np.full(n, np.pi / 2.0))
    # the crosswalk's centre line crosses the exit lane `crosswalk_distance` after the turn
    y_walk = -lw / 2.0 + sign * (radius + values["crosswalk_distance"])
    east = np.where(right, near, ~near)  # walking east: starts on the west side
    start = 50.0
    ped = _straight(np.where(east, -start, start), y_walk, np.where(east, 0.0, np.pi), n)
    paths = _paths(ego, ped)
    arc_len = radius * np.pi / 2.0
    window = _col(arc_s - 6.0, arc_s + arc_len + values["crosswalk_distance"] + 8.0, n=n)
    entry, exit_ = junction_layout(paths, bodies["length"], bodies["width"], window,
                                   np.zeros(n, dtype=bool))
    v_p = values["pedestrian_speed"]
    script = Phases.build(n, [(0.0, v_p, PEDESTRIAN_ACCEL[1], 0.0)])
    return _setup(values, n, paths=paths, bodies=bodies, entry=entry, exit_=exit_,
                  ego_distance=values["ego_distance"],
                  other_distance=values["pedestrian_distance"], other_speed=v_p, script=script,
                  stop_line=np.full((n, 2), -np.inf), must_yield=np.ones(n, dtype=bool),
                  minor=np.zeros(n, dtype=bool), kinds=("car", "pedestrian"))


_PEDESTRIAN = {
    "ego_speed": _p(8.3, "m/s", "initial ego speed", 0.0, 25.0),
    "ego_distance": _p(25.0, "m", "distance the ego travels until its body touches the "
                       "pedestrian's path on the crosswalk (at the start)", 0.0, 200.0),
    "pedestrian_speed": _p(1.4, "m/s", "walking speed of the pedestrian", 0.1, 5.0),
    "pedestrian_distance": _p(3.0, "m", "distance the pedestrian walks until it touches the "
                              "ego's swept path (at the start)", 0.0, 30.0),
    "turn": _cat("right", "direction of the ego's turn into the road the pedestrian crosses",
                 "right", "left"),
    "pedestrian_side": _cat(
        "near", "side from which the pedestrian crosses, seen from the turning ego (Euro NCAP "
        "CPTA near side / far side)", "near", "far"),
    "turn_radius": _p(8.0, "m", "radius of the turn's centre line", 4.0, 30.0),
    "crosswalk_distance": _p(2.0, "m", "distance of the crosswalk's centre line past the end "
                             "of the ego's turn", 0.0, 20.0),
    "speed_limit": _SPEED_LIMIT,
}


def _quantities(*quantities: DerivedQuantity) -> Mapping[str, DerivedQuantity]:
    return MappingProxyType({q.name: q for q in quantities})


def _arrival(other: str, other_distance: str) -> Mapping[str, DerivedQuantity]:
    ego_time = "ego_distance / max(ego_speed, 0.1)"
    other_time = f"{other_distance} / max({other}, 0.1)"
    return _quantities(
        DerivedQuantity("ego_arrival_time", ego_time, "s",
                        "time until the ego reaches the conflict area at its initial speed"),
        DerivedQuantity("other_arrival_time", other_time, "s",
                        "time until the other road user reaches the conflict area at its "
                        "initial speed"),
        DerivedQuantity("arrival_time_gap", f"{other_time} - {ego_time}", "s",
                        "other's arrival minus the ego's at initial speeds (about 0: "
                        "collision course; > 0: the ego first)"),
    )


def _template(name: str, description: str, own: dict[str, ParameterInfo],
              kpis: tuple[str, ...], build: object,
              quantities: Mapping[str, DerivedQuantity]) -> Template:
    return Template(
        name=name, description=description, n_agents=2,
        parameters=MappingProxyType({**own, **URBAN_ADS_PARAMETERS, **_JUNCTION_COMMON}),
        kpis=kpis, duration=20.0, build=build,  # type: ignore[arg-type]
        quantities=quantities,
    )


JUNCTION_TEMPLATES: Mapping[str, Template] = MappingProxyType({
    "junction_crossing": _template(
        "junction_crossing",
        "Crossing-path conflict: the ego drives straight through a junction while a car on "
        "the crossing road, from the left or the right, crosses its path at right angle; "
        "priority road, yield sign or signal; the crossing car yields or violates; a corner "
        "may hide it. The ego is driven by the yielding urban ADS.",
        _CROSSING, (*JUNCTION_KPIS, "red_light_violation"), _build_crossing,
        _arrival("other_speed", "other_distance"),
    ),
    "junction_left_turn": _template(
        "junction_left_turn",
        "Unprotected left turn across oncoming traffic (LTAP/OD): the ego turns left across "
        "an oncoming car that has the right of way, or the oncoming car turns left across "
        "the ego's path (yielding or not). The ego is driven by the yielding urban ADS.",
        _LEFT_TURN, JUNCTION_KPIS, _build_left_turn,
        _arrival("other_speed", "other_distance"),
    ),
    "junction_pedestrian": _template(
        "junction_pedestrian",
        "The ego turns right or left at a junction while a pedestrian walks across the "
        "crosswalk of the road it turns into (Euro NCAP CPTA, near or far side); the "
        "pedestrian has the right of way. The ego is driven by the yielding urban ADS.",
        _PEDESTRIAN, JUNCTION_KPIS, _build_pedestrian,
        _arrival("pedestrian_speed", "pedestrian_distance"),
    ),
})


def crossing_offsets(template: str, inputs: Mapping[str, object], n: int = 1,
                     ) -> tuple[FloatArray, FloatArray]:
    """How far before the crossing of the two centre lines each body enters the conflict area.

    Parameters
    ----------
    template
        A junction template name.
    inputs
        Its inputs (scalars or arrays of length ``n``; the geometry ones matter:
        ``lane_width``, ``turn_radius``, ``turning``, ``turn``...).
    n
        Number of scenes.

    Returns
    -------
    (ndarray, ndarray)
        ``(n,)`` distances (m) for the ego and for the other road user: the
        difference between the path coordinate where the two centre lines cross and
        the road user's conflict-area entry. A distance to the conflict area measured
        in traffic to the crossing point of the two paths maps onto the template's
        ``ego_distance`` / ``other_distance`` by subtracting these.

    Examples
    --------
    Perpendicular crossing of two 4.5 m x 1.8 m cars: half a length plus half a width.

    >>> [round(float(v[0]), 6) for v in crossing_offsets("junction_crossing", {})]
    [3.15, 3.15]
    """
    spec = JUNCTION_TEMPLATES[template]
    values, problems = spec.resolve(inputs, n)
    bad = np.flatnonzero(problems != "")
    if bad.size:
        from safety_val.errors import ValidationError

        raise ValidationError(f"invalid input: {problems[bad[0]]}", field="inputs")
    setup = spec.build(values, n)
    if not isinstance(setup, JunctionSetup):  # pragma: no cover - junction templates only
        raise TypeError(f"{template} is not a junction template")
    paths = setup.paths
    # the straight path of the pair: the other one, unless only the ego is straight
    straight = (paths.curvature[:, 1] != 0.0)  # the other turns: the ego is straight
    j_straight = np.where(straight, 0, 1)
    j_turn = 1 - j_straight
    rows = np.arange(n)
    ox, oy = paths.x0[rows, j_straight], paths.y0[rows, j_straight]
    psi = paths.psi0[rows, j_straight]
    hx, hy = np.cos(psi), np.sin(psi)
    lo = setup.entry[rows, j_turn] - 10.0
    s = lo[:, None] + 0.01 * np.arange(int(40.0 / 0.01) + 1)[None, :]
    x, y, _ = Paths(*(getattr(paths, f)[rows, j_turn][:, None] for f in
                      ("x0", "y0", "psi0", "arc_start", "curvature", "arc_angle"))).pose(s)
    side = -(x - ox[:, None]) * hy[:, None] + (y - oy[:, None]) * hx[:, None]
    change = np.argmax(np.sign(side[:, 1:]) != np.sign(side[:, :1]), axis=1) + 1
    a, b = side[rows, change - 1], side[rows, change]
    frac = a / np.where(a == b, 1.0, a - b)
    s_turn = s[rows, change - 1] + frac * (s[rows, change] - s[rows, change - 1])
    px = x[rows, change - 1] + frac * (x[rows, change] - x[rows, change - 1])
    py = y[rows, change - 1] + frac * (y[rows, change] - y[rows, change - 1])
    s_straight = (px - ox) * hx + (py - oy) * hy
    cross = np.empty((n, 2))
    cross[rows, j_turn] = s_turn
    cross[rows, j_straight] = s_straight
    offsets = cross - setup.entry
    return offsets[:, 0], offsets[:, 1]
