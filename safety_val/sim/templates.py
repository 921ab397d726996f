"""The catalogue of built-in scenario templates and their registry.

Road frame: ``x`` along the road, ``y`` to the left, the ego (agent 0) starts at
``x = 0`` in the centre of its lane (``y = 0``); the left neighbour lane is at
``y = lane_width``. Cars are 4.5 m x 1.8 m, a pedestrian 0.3 m (along the road) x
0.5 m. Scripted agents follow :class:`~safety_val.sim.setup.Phases`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from safety_val.errors import ValidationError
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
from safety_val.sim.junction_templates import JUNCTION_TEMPLATES
from safety_val.sim.kpi import ALL_KPIS
from safety_val.sim.parameters import COMMON_PARAMETERS, ParameterInfo
from safety_val.sim.setup import Phases, ScenarioSetup
from safety_val.sim.template import Template

__all__ = ["TEMPLATES", "get_template", "stop_and_go_schedule"]

FloatArray = npt.NDArray[np.float64]

_VEHICLE_KPIS = tuple(k for k in ALL_KPIS if k != "pet")
_CAR, _PED = "car", "pedestrian"


def _p(default: float, unit: str, description: str, lower: float, upper: float) -> ParameterInfo:
    return ParameterInfo(float(default), unit, description, lower, upper)


def _frame(
    values: Mapping[str, FloatArray], n: int, kinds: tuple[str, ...]
) -> dict[str, FloatArray]:
    """Geometry, lags and acceleration bounds of the agents (ego first)."""
    shape = (n, len(kinds))
    out = {k: np.empty(shape) for k in ("length", "width", "lag", "accel_min", "accel_max")}
    for j, kind in enumerate(kinds):
        car = kind == _CAR
        out["length"][:, j] = CAR_LENGTH if car else PEDESTRIAN_LENGTH
        out["width"][:, j] = CAR_WIDTH if car else PEDESTRIAN_WIDTH
        out["lag"][:, j] = SCRIPT_CAR_LAG if car else PEDESTRIAN_LAG
        lo, hi = SCRIPT_CAR_ACCEL if car else PEDESTRIAN_ACCEL
        out["accel_min"][:, j] = lo
        out["accel_max"][:, j] = hi
    out["lag"][:, 0] = values["actuator_lag"]
    out["accel_min"][:, 0] = -EGO_BRAKE_LIMIT
    out["accel_max"][:, 0] = values["ego_max_accel"]
    return out


def _set_speed(values: Mapping[str, FloatArray]) -> FloatArray:
    return np.where(values["acc_set_speed"] > 0.0, values["acc_set_speed"], values["ego_speed"])


def _stack(*columns: npt.ArrayLike, n: int) -> FloatArray:
    return np.stack([np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)) for c in columns], 1)


# --------------------------------------------------------------------------- cut-in


def _build_cut_in(values: Mapping[str, FloatArray], n: int) -> ScenarioSetup:
    v_ego, v_cut = values["ego_speed"], values["cut_in_speed"]
    lane = values["lane_width"]
    t0 = values["cut_in_start_time"]
    # place the cutting vehicle so that the gap equals cut_in_gap when the lane change starts
    gap0 = values["cut_in_gap"] - (v_cut - v_ego) * t0
    frame = _frame(values, n, (_CAR, _CAR))
    t_brake = t0 + lane / np.maximum(values["cut_in_lateral_speed"], 0.1)
    v_after = np.maximum(v_cut - values["cut_in_speed_drop"], 0.0)
    script = Phases.build(
        n,
        [
            (0.0, v_cut, 3.0, lane),
            (t0, v_cut, 3.0, 0.0),
            (t_brake, v_after, values["cut_in_decel"], 0.0),
        ],
    )
    return ScenarioSetup(
        x=_stack(0.0, CAR_LENGTH + gap0, n=n),
        y=_stack(0.0, lane, n=n),
        psi=np.zeros((n, 2)),
        v=_stack(v_ego, v_cut, n=n),
        length=frame["length"],
        width=frame["width"],
        lag=frame["lag"],
        accel_min=frame["accel_min"],
        accel_max=frame["accel_max"],
        steered=slice(1, 2),
        lateral_speed=values["cut_in_lateral_speed"][:, None].copy(),
        scripts=(script,),
        set_speed=_set_speed(values),
        hidden_below=np.full((n, 1), -np.inf),
    )


_CUT_IN = {
    "ego_speed": _p(27.8, "m/s", "initial ego speed (ACC set speed by default)", 0.0, 70.0),
    "cut_in_speed": _p(25.0, "m/s", "speed of the cutting-in vehicle", 0.0, 70.0),
    "cut_in_gap": _p(20.0, "m", "bumper gap ego -> cutting-in vehicle when its lane change starts",
                     -50.0, 300.0),
    "cut_in_lateral_speed": _p(1.0, "m/s", "lateral speed of the lane change", 0.1, 5.0),
    "cut_in_start_time": _p(1.0, "s", "time at which the lane change starts", 0.0, 1000.0),
    "cut_in_decel": _p(3.0, "m/s^2", "deceleration of the cut-in vehicle after its lane change",
                       0.0, 10.0),
    "cut_in_speed_drop": _p(0.0, "m/s", "speed the cut-in vehicle sheds after its lane change",
                            0.0, 70.0),
}


# --------------------------------------------------------------------------- cut-out


def _build_cut_out(values: Mapping[str, FloatArray], n: int) -> ScenarioSetup:
    v = values["ego_speed"]
    v_obs = np.minimum(values["obstacle_speed"], v)
    lane = values["lane_width"]
    t0 = values["cut_out_start_time"]
    x_lead = CAR_LENGTH + values["lead_time_headway"] * v
    x_obs = x_lead + v * t0 + CAR_LENGTH + values["cut_out_distance"] - v_obs * t0
    frame = _frame(values, n, (_CAR, _CAR, _CAR))
    lead = Phases.build(n, [(0.0, v, 3.0, 0.0), (t0, v, 3.0, lane)])
    obstacle = Phases.build(n, [(0.0, v_obs, 3.0, 0.0)])
    return ScenarioSetup(
        x=_stack(0.0, x_lead, x_obs, n=n),
        y=np.zeros((n, 3)),
        psi=np.zeros((n, 3)),
        v=_stack(v, v, v_obs, n=n),
        length=frame["length"],
        width=frame["width"],
        lag=frame["lag"],
        accel_min=frame["accel_min"],
        accel_max=frame["accel_max"],
        steered=slice(1, 2),
        lateral_speed=values["cut_out_lateral_speed"][:, None].copy(),
        scripts=(lead, obstacle),
        set_speed=_set_speed(values),
        hidden_below=np.full((n, 2), -np.inf),
    )


_CUT_OUT = {
    "ego_speed": _p(27.8, "m/s", "initial speed of ego and lead vehicle", 0.0, 70.0),
    "lead_time_headway": _p(1.5, "s", "initial time headway ego -> lead vehicle", 0.1, 10.0),
    "cut_out_distance": _p(60.0, "m", "bumper gap lead -> obstacle when the lead starts to cut out",
                           0.0, 500.0),
    "cut_out_lateral_speed": _p(1.5, "m/s", "lateral speed of the lead's lane change", 0.1, 5.0),
    "cut_out_start_time": _p(2.0, "s", "when the lead starts its lane change", 0.0, 1000.0),
    "obstacle_speed": _p(0.0, "m/s", "speed of the revealed vehicle (0: stopped)", 0.0, 70.0),
}


# --------------------------------------------------------------------------- lead braking


def _build_lead_braking(values: Mapping[str, FloatArray], n: int) -> ScenarioSetup:
    v_ego, v_lead = values["ego_speed"], values["lead_speed"]
    frame = _frame(values, n, (_CAR, _CAR))
    script = Phases.build(
        n,
        [
            (0.0, v_lead, 3.0, 0.0),
            (values["lead_brake_time"], np.minimum(values["lead_final_speed"], v_lead),
             values["lead_decel"], 0.0),
        ],
    )
    return ScenarioSetup(
        x=_stack(0.0, CAR_LENGTH + values["initial_gap"], n=n),
        y=np.zeros((n, 2)),
        psi=np.zeros((n, 2)),
        v=_stack(v_ego, v_lead, n=n),
        length=frame["length"],
        width=frame["width"],
        lag=frame["lag"],
        accel_min=frame["accel_min"],
        accel_max=frame["accel_max"],
        steered=slice(0, 0),
        lateral_speed=np.zeros((n, 0)),
        scripts=(script,),
        set_speed=_set_speed(values),
        hidden_below=np.full((n, 1), -np.inf),
    )


_LEAD_BRAKING = {
    "ego_speed": _p(27.8, "m/s", "initial ego speed", 0.0, 70.0),
    "lead_speed": _p(27.8, "m/s", "initial speed of the lead vehicle", 0.0, 70.0),
    "initial_gap": _p(40.0, "m", "initial bumper gap ego -> lead", 0.0, 500.0),
    "lead_decel": _p(6.0, "m/s^2", "deceleration of the lead vehicle", 0.1, 10.0),
    "lead_brake_time": _p(2.0, "s", "time at which the lead starts braking", 0.0, 1000.0),
    "lead_final_speed": _p(0.0, "m/s", "speed at which the lead stops braking (0: standstill)",
                           0.0, 70.0),
}


# --------------------------------------------------------------------------- stop and go


def stop_and_go_schedule(values: Mapping[str, Any]) -> tuple[Any, Any, Any, Any, Any]:
    """Lowest speed and start times of the lead's four stop-and-go phases.

    Works on scalars (one concrete scenario, e.g. for OpenSCENARIO export) and on arrays
    (a batch): brake to ``v_min`` at ``t1``, accelerate back at ``t2``, brake again at
    ``t3``, accelerate at ``t4``; each hold/cruise phase lasts its given duration.

    Returns
    -------
    tuple
        ``(v_min, t1, t2, t3, t4)``.
    """
    v = values["ego_speed"]
    v_min = np.minimum(values["lead_min_speed"], v)
    d, a = values["lead_decel"], values["lead_accel"]
    hold, cruise = values["stop_duration"], values["cruise_duration"]
    t1 = values["lead_brake_time"]
    t2 = t1 + (v - v_min) / d + hold
    t3 = t2 + (v - v_min) / a + cruise
    t4 = t3 + (v - v_min) / d + hold
    return v_min, t1, t2, t3, t4


def _build_stop_and_go(values: Mapping[str, FloatArray], n: int) -> ScenarioSetup:
    v = values["ego_speed"]
    d, a = values["lead_decel"], values["lead_accel"]
    v_min, t1, t2, t3, t4 = stop_and_go_schedule(values)
    frame = _frame(values, n, (_CAR, _CAR))
    script = Phases.build(
        n,
        [(0.0, v, a, 0.0), (t1, v_min, d, 0.0), (t2, v, a, 0.0), (t3, v_min, d, 0.0),
         (t4, v, a, 0.0)],
    )
    return ScenarioSetup(
        x=_stack(0.0, CAR_LENGTH + values["initial_time_headway"] * v, n=n),
        y=np.zeros((n, 2)),
        psi=np.zeros((n, 2)),
        v=_stack(v, v, n=n),
        length=frame["length"],
        width=frame["width"],
        lag=frame["lag"],
        accel_min=frame["accel_min"],
        accel_max=frame["accel_max"],
        steered=slice(0, 0),
        lateral_speed=np.zeros((n, 0)),
        scripts=(script,),
        set_speed=_set_speed(values),
        hidden_below=np.full((n, 1), -np.inf),
    )


_STOP_AND_GO = {
    "ego_speed": _p(16.7, "m/s", "initial speed of ego and lead vehicle", 0.1, 70.0),
    "initial_time_headway": _p(1.5, "s", "initial time headway ego -> lead", 0.1, 10.0),
    "lead_decel": _p(3.0, "m/s^2", "deceleration of the lead in each stop", 0.1, 10.0),
    "lead_accel": _p(1.5, "m/s^2", "acceleration of the lead when traffic moves again", 0.1, 5.0),
    "lead_min_speed": _p(0.0, "m/s", "lowest speed of the lead (0: full stop)", 0.0, 70.0),
    "stop_duration": _p(3.0, "s", "time the lead stays at its lowest speed", 0.0, 60.0),
    "cruise_duration": _p(3.0, "s", "time the lead cruises between the two stops", 0.0, 60.0),
    "lead_brake_time": _p(2.0, "s", "time at which the first stop starts", 0.0, 1000.0),
}


# --------------------------------------------------------------------------- pedestrian


def _build_pedestrian(values: Mapping[str, FloatArray], n: int) -> ScenarioSetup:
    v_ego, v_ped = values["ego_speed"], values["pedestrian_speed"]
    offset = values["pedestrian_lateral_offset"]
    t0 = values["pedestrian_start_time"]
    # lateral position of the pedestrian's centre at the nominal impact point
    y_impact = -CAR_WIDTH / 2 + values["impact_position"] * CAR_WIDTH
    walk = offset + y_impact
    accel = PEDESTRIAN_ACCEL[1]
    t_impact = t0 + walk / v_ped + v_ped / (2.0 * accel) + PEDESTRIAN_LAG
    x_ped = CAR_LENGTH / 2 + v_ego * t_impact + PEDESTRIAN_LENGTH / 2
    frame = _frame(values, n, (_CAR, _PED))
    script = Phases.build(n, [(0.0, 0.0, accel, 0.0), (t0, v_ped, accel, 0.0)])
    occluded = values["occlusion"] == 1.0
    edge = -(values["lane_width"] / 2 + 0.3)
    return ScenarioSetup(
        x=_stack(0.0, x_ped, n=n),
        y=_stack(0.0, -offset, n=n),
        psi=_stack(0.0, np.pi / 2, n=n),
        v=_stack(v_ego, 0.0, n=n),
        length=frame["length"],
        width=frame["width"],
        lag=frame["lag"],
        accel_min=frame["accel_min"],
        accel_max=frame["accel_max"],
        steered=slice(0, 0),
        lateral_speed=np.zeros((n, 0)),
        scripts=(script,),
        set_speed=_set_speed(values),
        hidden_below=np.where(occluded, edge, -np.inf)[:, None],
        pet_target=0,
    )


_PEDESTRIAN = {
    "ego_speed": _p(11.1, "m/s", "initial ego speed", 0.0, 70.0),
    "pedestrian_speed": _p(1.39, "m/s", "walking speed of the pedestrian", 0.1, 5.0),
    "pedestrian_lateral_offset": _p(
        4.0, "m", "initial distance of the pedestrian from the centre line of the ego's path "
        "(coming from the right)", 0.0, 20.0),
    "impact_position": _p(
        0.5, "1", "share of the ego's width, from its right side, where the pedestrian would be "
        "hit without braking (Euro NCAP 25/50/75 %)", 0.0, 1.0),
    "pedestrian_start_time": _p(1.0, "s", "when the pedestrian starts walking", 0.0, 1000.0),
    "occlusion": ParameterInfo(
        "none", "-", "a parked car hides the pedestrian until it steps into the road",
        categories=("none", "parked_car")),
}


def _quantities(*quantities: DerivedQuantity) -> Mapping[str, DerivedQuantity]:
    return MappingProxyType({q.name: q for q in quantities})


# The cutting-in car starts centred in the left lane and moves at `cut_in_lateral_speed`:
# its right side crosses the lane marking after (lane_width - CAR_WIDTH) / 2 of lateral
# travel and touches the ego's (centred) left side after lane_width - CAR_WIDTH.
_CUT_IN_QUANTITIES = _quantities(
    DerivedQuantity(
        "closing_speed", "ego_speed - cut_in_speed", "m/s",
        "ego speed minus the cutting-in vehicle's speed (> 0: the ego closes in)",
    ),
    DerivedQuantity(
        "lane_entry_time", f"(lane_width - {CAR_WIDTH}) / 2 / cut_in_lateral_speed", "s",
        "time from the start of the lane change until the cutting-in vehicle crosses the "
        "lane marking",
    ),
    DerivedQuantity(
        "gap_at_lane_entry",
        f"cut_in_gap - (ego_speed - cut_in_speed) * (lane_width - {CAR_WIDTH}) / 2"
        " / cut_in_lateral_speed",
        "m",
        "bumper gap when the cutting-in vehicle crosses the lane marking (< 0: the ego's "
        "front is already past its rear)",
    ),
    DerivedQuantity(
        "gap_at_side_contact",
        f"cut_in_gap - (ego_speed - cut_in_speed) * (lane_width - {CAR_WIDTH})"
        " / cut_in_lateral_speed",
        "m",
        "bumper gap when the two vehicles would be side by side laterally (< 0: overlap)",
    ),
    DerivedQuantity(
        "headway_at_lane_entry",
        f"(cut_in_gap - (ego_speed - cut_in_speed) * (lane_width - {CAR_WIDTH}) / 2"
        " / cut_in_lateral_speed) / ego_speed",
        "s",
        "time headway of the ego behind the cutting-in vehicle when it crosses the marking",
    ),
)


_LEAD_BRAKING_QUANTITIES = _quantities(
    DerivedQuantity(
        "initial_headway", "initial_gap / ego_speed", "s",
        "time headway of the ego behind the lead vehicle at the start",
    ),
    DerivedQuantity(
        "closing_speed", "ego_speed - lead_speed", "m/s",
        "ego speed minus the lead vehicle's speed at the start",
    ),
)


def _template(
    name: str, description: str, n_agents: int, own: dict[str, ParameterInfo],
    kpis: tuple[str, ...], duration: float, build: object,
    quantities: Mapping[str, DerivedQuantity] | None = None,
) -> Template:
    return Template(
        name=name,
        description=description,
        n_agents=n_agents,
        parameters=MappingProxyType({**own, **COMMON_PARAMETERS}),
        kpis=kpis,
        duration=duration,
        build=build,  # type: ignore[arg-type]
        quantities=quantities or MappingProxyType({}),
    )


TEMPLATES: Mapping[str, Template] = MappingProxyType(
    {
        "cut_in": _template(
            "cut_in",
            "A vehicle in the left lane changes into the ego's lane in front of it (kinematic "
            "bicycle lane change), then optionally brakes; the ego drives with ACC and AEB.",
            2, _CUT_IN, _VEHICLE_KPIS, 20.0, _build_cut_in, _CUT_IN_QUANTITIES,
        ),
        "cut_out": _template(
            "cut_out",
            "The ego follows a lead vehicle that changes to the left lane, revealing a stopped "
            "(or slow) vehicle ahead in the ego's lane.",
            3, _CUT_OUT, _VEHICLE_KPIS, 20.0, _build_cut_out,
        ),
        "lead_braking": _template(
            "lead_braking",
            "The ego follows a lead vehicle that brakes at constant deceleration, to a stop or "
            "to a lower speed.",
            2, _LEAD_BRAKING, _VEHICLE_KPIS, 20.0, _build_lead_braking, _LEAD_BRAKING_QUANTITIES,
        ),
        "stop_and_go": _template(
            "stop_and_go",
            "Congested motorway traffic: the lead vehicle stops (or slows down), waits, drives "
            "off, cruises and stops again; the ego follows with ACC.",
            2, _STOP_AND_GO, _VEHICLE_KPIS, 40.0, _build_stop_and_go,
        ),
        "pedestrian_crossing": _template(
            "pedestrian_crossing",
            "A pedestrian crosses the road from the right in front of the ego, timed so that "
            "the ego would hit it at `impact_position` without braking; optionally hidden by a "
            "parked car.",
            2, _PEDESTRIAN, (*_VEHICLE_KPIS[:5], "pet"), 15.0, _build_pedestrian,
        ),
        **JUNCTION_TEMPLATES,
    }
)


def get_template(name: str) -> Template:
    """The registered template called ``name``.

    Raises
    ------
    ValidationError
        If no template has that name; the message lists the valid names.

    Examples
    --------
    >>> get_template("cut_in").n_agents
    2
    """
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ValidationError(
            "unknown simulator template", field="template", value=name,
            expected="one of " + ", ".join(TEMPLATES),
        ) from None
