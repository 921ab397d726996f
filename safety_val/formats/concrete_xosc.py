"""Export one concrete scenario as a replayable ASAM OpenSCENARIO 1.0 file and its road.

:func:`write_concrete_scenario` turns a concrete scenario of a built-in template
(one row of a design or of a run's samples) into an ``.xosc`` storyboard and the
OpenDRIVE ``.xodr`` road it drives on, for replay in esmini, CARLA ScenarioRunner or
any other OpenSCENARIO 1.x player. The files are built with
:mod:`scenariogeneration` and written atomically.

Mapping of the built-in road frame (``x`` along the road, ``y`` to the left, ego
centre at ``x = y = 0``) to the exported files:

- The road is one straight OpenDRIVE road (id ``0``) along the world ``x`` axis with
  two right-hand driving lanes of width ``lane_width``: lane ``-2`` is the ego's
  lane, lane ``-1`` its left neighbour (``y = lane_width``). The pedestrian template
  adds a 2.4 m parking lane (``-3``) and a 2 m sidewalk (``-4``) on the right.
- A built-in ``x`` becomes ``s = S_START + x`` on the road, with ``S_START`` chosen
  so that every actor starts on the road (at least 20 m from its start).
- Entity reference points are the centre of the bounding box (``BoundingBox``
  centre ``x = y = 0``), as ``x`` is the centre of each agent in the built-in
  simulator; cars are 4.5 m x 1.8 m x 1.5 m, the pedestrian 0.3 m x 0.5 m x 1.8 m.

Every resolved input of the template (the concrete values, then the scenario's
``fixed`` inputs, then the template defaults) is declared in the
``ParameterDeclarations`` for traceability; the actions carry literal values, so the
file replays without parameter expressions.

Notes
-----
The ego (``Ego``) is given its initial speed only and no controller: with the
default controller of esmini it keeps that speed (no ACC, no AEB). A replay harness
attaches the ADS under test to ``Ego`` as an external controller (esmini
``--disable_controllers`` / a ``ControllerAction``, CARLA ``ego_vehicle``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scenariogeneration import xodr, xosc

from safety_val._io import atomic_write_text
from safety_val.errors import ValidationError
from safety_val.scenario import LogicalScenario, stable_ids
from safety_val.sim.template import Template
from safety_val.sim.templates import (
    CAR_LENGTH,
    CAR_WIDTH,
    PEDESTRIAN_ACCEL,
    PEDESTRIAN_LAG,
    PEDESTRIAN_LENGTH,
    PEDESTRIAN_WIDTH,
    get_template,
    stop_and_go_schedule,
)

__all__ = ["EGO", "EGO_LANE", "LEFT_LANE", "ROAD_ID", "write_concrete_scenario"]

#: Name of the ego entity.
EGO = "Ego"
#: OpenDRIVE road id of the exported road.
ROAD_ID = 0
#: Lane ids (right-hand traffic, driving direction along ``s``).
EGO_LANE, LEFT_LANE = -2, -1
#: Speed change rate of scripted cars outside braking phases (m/s², as the templates).
SCRIPT_RATE = 3.0
OSC_MINOR_VERSION = 0
PARKING_WIDTH, SIDEWALK_WIDTH = 2.4, 2.0
CAR_HEIGHT, PEDESTRIAN_HEIGHT = 1.5, 1.8
_MIN_START, _ROAD_MARGIN = 20.0, 50.0


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Actor:
    """An entity and where it starts, in the built-in road frame."""

    name: str
    kind: str  # "car" or "pedestrian"
    x: float
    y: float
    heading: float
    speed: float


@dataclass(frozen=True)
class _SpeedEvent:
    time: float
    speed: float
    rate: float


@dataclass(frozen=True)
class _LaneChange:
    time: float
    lane: int
    duration: float


@dataclass
class _Plan:
    """What happens in a concrete scenario, independent of the XML classes."""

    actors: list[_Actor]
    speed_events: dict[str, list[_SpeedEvent]]
    lane_changes: dict[str, list[_LaneChange]]
    crossing: tuple[str, float, float] | None = None  # (actor, start time, end y)
    roadside: bool = False


def _cut_in(v: Mapping[str, float]) -> _Plan:
    v_ego, v_cut, lane = v["ego_speed"], v["cut_in_speed"], v["lane_width"]
    t0 = v["cut_in_start_time"]
    gap0 = v["cut_in_gap"] - (v_cut - v_ego) * t0
    duration = lane / max(v["cut_in_lateral_speed"], 0.1)
    v_after = max(v_cut - v["cut_in_speed_drop"], 0.0)
    speeds = []
    if v_after < v_cut and v["cut_in_decel"] > 0.0:
        speeds.append(_SpeedEvent(t0 + duration, v_after, v["cut_in_decel"]))
    return _Plan(
        actors=[_Actor(EGO, "car", 0.0, 0.0, 0.0, v_ego),
                _Actor("CutIn", "car", CAR_LENGTH + gap0, lane, 0.0, v_cut)],
        speed_events={"CutIn": speeds},
        lane_changes={"CutIn": [_LaneChange(t0, EGO_LANE, duration)]},
    )


def _cut_out(v: Mapping[str, float]) -> _Plan:
    speed, lane, t0 = v["ego_speed"], v["lane_width"], v["cut_out_start_time"]
    v_obs = min(v["obstacle_speed"], speed)
    x_lead = CAR_LENGTH + v["lead_time_headway"] * speed
    x_obs = x_lead + speed * t0 + CAR_LENGTH + v["cut_out_distance"] - v_obs * t0
    duration = lane / max(v["cut_out_lateral_speed"], 0.1)
    return _Plan(
        actors=[_Actor(EGO, "car", 0.0, 0.0, 0.0, speed),
                _Actor("Lead", "car", x_lead, 0.0, 0.0, speed),
                _Actor("Obstacle", "car", x_obs, 0.0, 0.0, v_obs)],
        speed_events={},
        lane_changes={"Lead": [_LaneChange(t0, LEFT_LANE, duration)]},
    )


def _lead_braking(v: Mapping[str, float]) -> _Plan:
    v_lead = v["lead_speed"]
    final = min(v["lead_final_speed"], v_lead)
    return _Plan(
        actors=[_Actor(EGO, "car", 0.0, 0.0, 0.0, v["ego_speed"]),
                _Actor("Lead", "car", CAR_LENGTH + v["initial_gap"], 0.0, 0.0, v_lead)],
        speed_events={"Lead": [_SpeedEvent(v["lead_brake_time"], final, v["lead_decel"])]},
        lane_changes={},
    )


def _stop_and_go(v: Mapping[str, float]) -> _Plan:
    speed = v["ego_speed"]
    d, a = v["lead_decel"], v["lead_accel"]
    v_min, t1, t2, t3, t4 = (float(t) for t in stop_and_go_schedule(v))
    phases = [_SpeedEvent(t1, v_min, d), _SpeedEvent(t2, speed, a),
              _SpeedEvent(t3, v_min, d), _SpeedEvent(t4, speed, a)]
    return _Plan(
        actors=[_Actor(EGO, "car", 0.0, 0.0, 0.0, speed),
                _Actor("Lead", "car", CAR_LENGTH + v["initial_time_headway"] * speed, 0.0,
                       0.0, speed)],
        speed_events={"Lead": phases},
        lane_changes={},
    )


def _pedestrian(v: Mapping[str, float]) -> _Plan:
    v_ego, v_ped = v["ego_speed"], v["pedestrian_speed"]
    offset, t0, lane = v["pedestrian_lateral_offset"], v["pedestrian_start_time"], v["lane_width"]
    y_impact = -CAR_WIDTH / 2 + v["impact_position"] * CAR_WIDTH
    accel = PEDESTRIAN_ACCEL[1]
    t_impact = t0 + (offset + y_impact) / v_ped + v_ped / (2.0 * accel) + PEDESTRIAN_LAG
    x_ped = CAR_LENGTH / 2 + v_ego * t_impact + PEDESTRIAN_LENGTH / 2
    actors = [_Actor(EGO, "car", 0.0, 0.0, 0.0, v_ego),
              _Actor("Pedestrian", "pedestrian", x_ped, -offset, math.pi / 2, 0.0)]
    if v["occlusion"] == 1.0:  # "parked_car": on the parking lane, just before the path
        actors.append(_Actor("ParkedCar", "car", x_ped - PEDESTRIAN_LENGTH / 2 - CAR_LENGTH / 2
                             - 0.5, -(lane / 2 + PARKING_WIDTH / 2), 0.0, 0.0))
    far_side = 1.5 * lane + 1.0  # beyond the left edge of the left lane
    return _Plan(
        actors=actors,
        speed_events={"Pedestrian": [_SpeedEvent(t0, v_ped, accel)]},
        lane_changes={},
        crossing=("Pedestrian", t0, far_side),
        roadside=True,
    )


_PLANS = {
    "cut_in": _cut_in,
    "cut_out": _cut_out,
    "lead_braking": _lead_braking,
    "stop_and_go": _stop_and_go,
    "pedestrian_crossing": _pedestrian,
}


# --------------------------------------------------------------------------- inputs


def _resolve(
    scenario: LogicalScenario, values: Mapping[str, Any], template: Template
) -> tuple[dict[str, float], dict[str, float | str]]:
    """Numeric values (categorical codes) and declared values (labels) of every input."""
    inputs: dict[str, Any] = dict(scenario.fixed)
    inputs.update({k: v for k, v in values.items() if k in template.parameters})
    resolved, problems = template.resolve(inputs, 1)
    if problems[0]:
        raise ValidationError(
            f"invalid concrete scenario: {problems[0]}", field="values",
            expected="inputs inside the template's valid ranges",
        )
    numbers = {name: float(arr[0]) for name, arr in resolved.items()}
    declared: dict[str, float | str] = {}
    for name, info in template.parameters.items():
        declared[name] = (info.categories[int(numbers[name])] if info.categorical
                          else numbers[name])
    return numbers, declared


def _scenario_id(scenario: LogicalScenario, values: Mapping[str, Any]) -> str:
    if values.get("scenario_id") is not None:
        return str(values["scenario_id"])
    if all(name in values for name in scenario.names):
        row = pd.DataFrame([{name: values[name] for name in scenario.names}])
        return stable_ids(scenario.name, row)[0]
    return "unknown"


# --------------------------------------------------------------------------- road


def _road(lane_width: float, length: float, roadside: bool) -> xodr.OpenDrive:
    planview = xodr.PlanView(0.0, 0.0, 0.0)
    planview.add_geometry(xodr.Line(length))
    center = xodr.Lane(a=0.0)
    center.add_roadmark(xodr.std_roadmark_solid())
    section = xodr.LaneSection(0.0, center)
    for lane_id in (LEFT_LANE, EGO_LANE):
        lane = xodr.Lane(lane_type=xodr.LaneType.driving, a=lane_width)
        outer = lane_id == EGO_LANE and not roadside
        lane.add_roadmark(xodr.std_roadmark_solid() if outer else xodr.std_roadmark_broken())
        section.add_right_lane(lane)
    if roadside:
        parking = xodr.Lane(lane_type=xodr.LaneType.parking, a=PARKING_WIDTH)
        parking.add_roadmark(xodr.std_roadmark_solid())
        section.add_right_lane(parking)
        section.add_right_lane(xodr.Lane(lane_type=xodr.LaneType.sidewalk, a=SIDEWALK_WIDTH))
    lanes = xodr.Lanes()
    lanes.add_lanesection(section)
    road = xodr.Road(ROAD_ID, planview, lanes)
    network = xodr.OpenDrive("safety_val_straight_road")
    network.add_road(road)
    network.adjust_roads_and_lanes()
    return network


# --------------------------------------------------------------------------- storyboard


def _vehicle(name: str) -> xosc.Vehicle:
    box = xosc.BoundingBox(CAR_WIDTH, CAR_LENGTH, CAR_HEIGHT, 0.0, 0.0, CAR_HEIGHT / 2)
    front = xosc.Axle(0.5, 0.65, 1.55, 1.4, 0.325)
    rear = xosc.Axle(0.0, 0.65, 1.55, -1.4, 0.325)
    return xosc.Vehicle(name, xosc.VehicleCategory.car, box, front, rear, 70.0, 10.0, 15.0)


def _pedestrian_entity(name: str) -> xosc.Pedestrian:
    box = xosc.BoundingBox(PEDESTRIAN_WIDTH, PEDESTRIAN_LENGTH, PEDESTRIAN_HEIGHT, 0.0, 0.0,
                           PEDESTRIAN_HEIGHT / 2)
    return xosc.Pedestrian(name, 75.0, xosc.PedestrianCategory.pedestrian, box,
                           model="pedestrian")


def _time_trigger(name: str, time: float, point: str = "start") -> xosc.ValueTrigger:
    return xosc.ValueTrigger(
        name, 0.0, xosc.ConditionEdge.rising,
        xosc.SimulationTimeCondition(time, xosc.Rule.greaterThan), triggeringpoint=point,
    )


def _speed_action(speed: float, rate: float) -> xosc.AbsoluteSpeedAction:
    return xosc.AbsoluteSpeedAction(
        speed, xosc.TransitionDynamics(xosc.DynamicsShapes.linear,
                                       xosc.DynamicsDimension.rate, rate))


def _world(s_start: float, lane_width: float, x: float, y: float, h: float) -> xosc.WorldPosition:
    # the ego lane's centre (-2) lies 1.5 lane widths right of the reference line
    return xosc.WorldPosition(s_start + x, y - 1.5 * lane_width, 0.0, h, 0.0, 0.0)


def _position(actor: _Actor, s_start: float, lane_width: float) -> xosc._PositionType:
    if actor.kind == "car" and actor.y in (0.0, lane_width):
        lane = EGO_LANE if actor.y == 0.0 else LEFT_LANE
        return xosc.LanePosition(s_start + actor.x, 0.0, lane, ROAD_ID)
    return _world(s_start, lane_width, actor.x, actor.y, actor.heading)


def _fmt(value: float | str) -> str:
    return value if isinstance(value, str) else repr(float(value))


def _build(
    plan: _Plan, declared: Mapping[str, float | str], numbers: Mapping[str, float],
    *, name: str, description: str, roadfile: str, s_start: float, duration: float,
) -> xosc.Scenario:
    lane_width = numbers["lane_width"]
    parameters = xosc.ParameterDeclarations()
    for key, value in declared.items():
        kind = xosc.ParameterType.string if isinstance(value, str) else xosc.ParameterType.double
        parameters.add_parameter(xosc.Parameter(key, kind, _fmt(value)))

    entities = xosc.Entities()
    init = xosc.Init()
    for actor in plan.actors:
        entity = _vehicle(actor.name) if actor.kind == "car" else _pedestrian_entity(actor.name)
        entities.add_scenario_object(actor.name, entity)
        init.add_init_action(actor.name, xosc.TeleportAction(_position(actor, s_start,
                                                                        lane_width)))
        init.add_init_action(actor.name, xosc.AbsoluteSpeedAction(
            actor.speed, xosc.TransitionDynamics(xosc.DynamicsShapes.step,
                                                 xosc.DynamicsDimension.time, 0.0)))

    act = xosc.Act("concrete_scenario", _time_trigger("act_start", 0.0))
    for actor in plan.actors:
        maneuver = xosc.Maneuver(f"{actor.name}_maneuver")
        for i, change in enumerate(plan.lane_changes.get(actor.name, [])):
            event = xosc.Event(f"{actor.name}_lane_change_{i}", xosc.Priority.parallel)
            event.add_action(f"{actor.name}_lane_change_{i}", xosc.AbsoluteLaneChangeAction(
                change.lane, xosc.TransitionDynamics(xosc.DynamicsShapes.linear,
                                                     xosc.DynamicsDimension.time,
                                                     change.duration)))
            event.add_trigger(_time_trigger(f"{actor.name}_lane_change_{i}_start", change.time))
            maneuver.add_event(event)
        for i, phase in enumerate(plan.speed_events.get(actor.name, [])):
            event = xosc.Event(f"{actor.name}_speed_{i}", xosc.Priority.parallel)
            event.add_action(f"{actor.name}_speed_{i}", _speed_action(phase.speed, phase.rate))
            if plan.crossing is not None and plan.crossing[0] == actor.name and i == 0:
                start = next(a for a in plan.actors if a.name == actor.name)
                end_y = plan.crossing[2]
                walk = end_y - start.y
                trajectory = xosc.Trajectory(f"{actor.name}_crossing", False)
                trajectory.add_shape(xosc.Polyline(
                    [0.0, walk / max(phase.speed, 0.1)],
                    [_world(s_start, lane_width, start.x, start.y, start.heading),
                     _world(s_start, lane_width, start.x, end_y, start.heading)]))
                # no time reference: the walk follows the speed action, not the vertex times
                event.add_action(f"{actor.name}_crossing", xosc.FollowTrajectoryAction(
                    trajectory, xosc.FollowingMode.position))
            event.add_trigger(_time_trigger(f"{actor.name}_speed_{i}_start", phase.time))
            maneuver.add_event(event)
        if maneuver.events:
            group = xosc.ManeuverGroup(f"{actor.name}_maneuver_group")
            group.add_actor(actor.name)
            group.add_maneuver(maneuver)
            act.add_maneuver_group(group)
    story = xosc.Story("concrete_scenario_story")
    story.add_act(act)
    storyboard = xosc.StoryBoard(init, _time_trigger("end_of_scenario", duration, "stop"))
    storyboard.add_story(story)
    header = f"{name}: {description}" if description else name
    return xosc.Scenario(header, "safety-val", parameters, entities, storyboard,
                         xosc.RoadNetwork(roadfile=roadfile), xosc.Catalog(),
                         osc_minor_version=OSC_MINOR_VERSION)


def _serialise(element: ET.Element) -> str:
    ET.indent(element, space="  ")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element,
                                                                    encoding="unicode") + "\n"


# --------------------------------------------------------------------------- public


def write_concrete_scenario(
    scenario: LogicalScenario, values: Mapping[str, Any], path: str | Path, *,
    description: str = "",
) -> Path:
    """Write one concrete scenario as an OpenSCENARIO 1.0 file plus its OpenDRIVE road.

    Parameters
    ----------
    scenario
        The logical scenario; its ``template`` must be a built-in template
        (``cut_in``, ``cut_out``, ``lead_braking``, ``stop_and_go``,
        ``pedestrian_crossing``).
    values
        The concrete scenario: input name -> value, e.g. one row of
        :func:`safety_val.doe.concrete_scenarios` or of a run's samples. Inputs not
        given take ``scenario.fixed``, then the template defaults; keys that are not
        template inputs (``scenario_id``, ``sample_index``, KPIs, margins) are
        ignored, except that ``scenario_id`` names the scenario in the file header.
    path
        The ``.xosc`` file to write. The road is written next to it as
        ``path.with_suffix(".xodr")`` and referenced by its file name.
    description
        Free text appended to the scenario id in the ``FileHeader`` description.

    Returns
    -------
    Path
        The written ``.xosc`` path.

    Raises
    ------
    ValidationError
        If the template is not a built-in template or a value is invalid (unknown
        category, outside the input's valid range).

    Notes
    -----
    Storyboard per template (``t`` = ``SimulationTime``, every event a single
    action triggered when ``t`` exceeds its start time):

    - ``cut_in``: ``CutIn`` starts in lane ``-1`` at ``x = 4.5 + cut_in_gap -
      (cut_in_speed - ego_speed) cut_in_start_time`` and changes to the ego lane at
      ``cut_in_start_time`` (linear, over ``lane_width / cut_in_lateral_speed`` s);
      if ``cut_in_speed_drop > 0`` it then slows to ``cut_in_speed -
      cut_in_speed_drop`` at rate ``cut_in_decel``.
    - ``cut_out``: ``Lead`` at time headway in the ego lane changes to lane ``-1``
      at ``cut_out_start_time``; ``Obstacle`` drives at ``min(obstacle_speed,
      ego_speed)`` so that the gap is ``cut_out_distance`` when the cut-out starts.
    - ``lead_braking``: ``Lead`` at ``initial_gap`` slows to ``lead_final_speed``
      at rate ``lead_decel`` from ``lead_brake_time``.
    - ``stop_and_go``: ``Lead`` runs the four speed changes of the template
      (stop, drive off, stop, drive off) at their computed start times.
    - ``pedestrian_crossing``: ``Pedestrian`` stands at ``y = -offset`` facing
      across the road and, at ``pedestrian_start_time``, speeds up to
      ``pedestrian_speed`` (5 m/s²) along a straight two-vertex trajectory to the
      far side of the road; with ``occlusion = parked_car`` a stopped
      ``ParkedCar`` stands on the parking lane just before the crossing path.

    The ego only gets its initial speed (see the module notes); the storyboard stops
    at the scenario's duration (``simulation.duration`` or the template's).

    Examples
    --------
    >>> import tempfile
    >>> from safety_val.scenario import load_scenario
    >>> root = Path(__file__).parent.parent.parent
    >>> lead = load_scenario(root / "scenarios/lead_braking.yaml")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     out = write_concrete_scenario(lead, {"lead_decel": 7.5}, Path(folder) / "lb.xosc")
    ...     print(out.name, sorted(p.name for p in out.parent.iterdir()))
    lb.xosc ['lb.xodr', 'lb.xosc']
    """
    from safety_val.formats.junction_xosc import JUNCTION_TEMPLATES_XOSC, write_junction_scenario

    template = get_template(scenario.template)
    if template.name not in _PLANS and template.name not in JUNCTION_TEMPLATES_XOSC:
        raise ValidationError(
            "no OpenSCENARIO export for this template", field="template", value=template.name,
            expected="one of " + ", ".join((*_PLANS, *JUNCTION_TEMPLATES_XOSC)),
        )
    numbers, declared = _resolve(scenario, values, template)
    duration = float(scenario.simulation.get("duration", template.duration))
    if template.name in JUNCTION_TEMPLATES_XOSC:  # a junction scene: see junction_xosc
        return write_junction_scenario(
            template, declared, numbers, Path(path), duration=duration, description=description,
            name=f"{scenario.name} concrete scenario {_scenario_id(scenario, values)}")
    plan = _PLANS[template.name](numbers)

    xs = [a.x for a in plan.actors]
    s_start = _MIN_START + max(0.0, -min(xs))
    top_speed = max([a.speed for a in plan.actors]
                    + [numbers["ego_speed"], numbers["acc_set_speed"]])
    length = s_start + max(xs) + top_speed * duration + _ROAD_MARGIN
    length = float(np.ceil(length / 10.0) * 10.0)

    path = Path(path)
    road_path = path.with_suffix(".xodr")
    sid = _scenario_id(scenario, values)
    xml = _build(plan, declared, numbers,
                 name=f"{scenario.name} concrete scenario {sid}", description=description,
                 roadfile=road_path.name, s_start=s_start, duration=duration)
    road = _road(numbers["lane_width"], length, plan.roadside)
    # road first: a reader that finds the .xosc always finds its road
    atomic_write_text(road_path, _serialise(road.get_element()))
    atomic_write_text(path, _serialise(xml.get_element()))
    return path
