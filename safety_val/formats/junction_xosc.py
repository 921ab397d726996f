"""OpenSCENARIO export of one concrete scenario of a junction template.

:func:`write_junction_scenario` is what
:func:`safety_val.formats.concrete_xosc.write_concrete_scenario` does for the
junction templates (``junction_crossing``, ``junction_left_turn``,
``junction_pedestrian``): an ASAM OpenSCENARIO 1.0 storyboard and the OpenDRIVE
junction it drives on, built with :mod:`scenariogeneration` and written atomically.

Mapping of the built-in junction frame (:mod:`safety_val.sim.junction_templates`:
junction centre at the origin, the ego's road along ``x``, the crossing road along
``y``, right-hand traffic, one lane of ``lane_width`` each way) to the files:

- The road network is a four-arm junction (``CommonJunctionCreator``) whose arms
  reach from the junction box (half size ``H``: the lane width, or what the turn's
  radius needs) to 200 m from the centre; OpenDRIVE world coordinates are the
  built-in frame's, so positions and headings carry over unchanged.
- Every road user starts at its initial pose (centre of its bounding box) with its
  initial speed and follows its path (straight, arc, straight) as a
  ``FollowTrajectoryAction`` polyline in world coordinates, sampled every metre;
  the other road user's speed script becomes ``AbsoluteSpeedAction`` events at the
  script's times (its stop at a stop line, its slowing for a turn). The ego gets no
  speed events: its speed is the ADS under test's (see
  :mod:`~safety_val.formats.concrete_xosc`); its trajectory fixes only its path.
- Right of way, signal timing and sight obstruction are declared as parameters
  (every resolved input is), not modelled as signals or objects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from scenariogeneration import xodr, xosc

from safety_val._io import atomic_write_text
from safety_val.errors import ValidationError
from safety_val.sim.dimensions import (
    CAR_LENGTH,
    CAR_WIDTH,
    PEDESTRIAN_LENGTH,
    PEDESTRIAN_WIDTH,
)
from safety_val.sim.junction import JunctionSetup
from safety_val.sim.junction_templates import RUN_IN
from safety_val.sim.template import Template

__all__ = ["JUNCTION_TEMPLATES_XOSC", "write_junction_scenario"]

#: Templates this module exports.
JUNCTION_TEMPLATES_XOSC = ("junction_crossing", "junction_left_turn", "junction_pedestrian")
EGO, OTHER = "Ego", "Other"
CAR_HEIGHT, PEDESTRIAN_HEIGHT = 1.5, 1.8
_SAMPLE = 1.0
_OSC_MINOR = 0


def _box_half_size(setup: JunctionSetup, lane_width: float) -> float:
    """Half size of the junction box: the lane width, or what the arcs need."""
    k = np.abs(setup.paths.curvature[0])
    radius = float(np.max(np.where(k > 0.0, 1.0 / np.where(k > 0.0, k, 1.0), 0.0)))
    return max(lane_width, radius + lane_width / 2.0)


def _network(lane_width: float, half: float) -> xodr.OpenDrive:
    junction = xodr.CommonJunctionCreator(id=100, name="junction")
    network = xodr.OpenDrive("safety_val_junction")
    length = RUN_IN - half
    for road_id, (x, y, heading) in enumerate(
            ((-half, 0.0, 0.0), (half, 0.0, math.pi), (0.0, -half, math.pi / 2),
             (0.0, half, -math.pi / 2)), start=1):
        road = xodr.create_road(xodr.Line(length), road_id, left_lanes=1, right_lanes=1,
                                lane_width=lane_width)
        if road_id == 1:  # anchor the network in the junction frame: the ego's arm
            road.planview.set_start_point(-RUN_IN, 0.0, 0.0)
        network.add_road(road)
        junction.add_incoming_road_cartesian_geometry(road, x, y, heading, "successor")
    for one in range(1, 5):
        for two in range(one + 1, 5):
            junction.add_connection(one, two)
    network.add_junction_creator(junction)
    network.adjust_roads_and_lanes()
    return network


def _entity(kind: str, name: str) -> xosc.Vehicle | xosc.Pedestrian:
    if kind == "car":
        box = xosc.BoundingBox(CAR_WIDTH, CAR_LENGTH, CAR_HEIGHT, 0.0, 0.0, CAR_HEIGHT / 2)
        front = xosc.Axle(0.5, 0.65, 1.55, 1.4, 0.325)
        rear = xosc.Axle(0.0, 0.65, 1.55, -1.4, 0.325)
        return xosc.Vehicle(name, xosc.VehicleCategory.car, box, front, rear, 70.0, 10.0, 15.0)
    box = xosc.BoundingBox(PEDESTRIAN_WIDTH, PEDESTRIAN_LENGTH, PEDESTRIAN_HEIGHT, 0.0, 0.0,
                           PEDESTRIAN_HEIGHT / 2)
    return xosc.Pedestrian(name, 75.0, xosc.PedestrianCategory.pedestrian, box,
                           model="pedestrian")


def _trigger(name: str, time: float, point: str = "start") -> xosc.ValueTrigger:
    return xosc.ValueTrigger(name, 0.0, xosc.ConditionEdge.rising,
                             xosc.SimulationTimeCondition(time, xosc.Rule.greaterThan),
                             triggeringpoint=point)


def write_junction_scenario(
    template: Template, declared: Mapping[str, float | str], numbers: Mapping[str, float],
    path: Path, *, name: str, description: str, duration: float,
) -> Path:
    """Write one concrete scenario of a junction template and its road.

    Parameters
    ----------
    template
        The junction template.
    declared
        Every resolved input (labels for categorical ones), declared as parameters.
    numbers
        The resolved inputs as numbers (categorical codes).
    path
        The ``.xosc`` file; the road is written beside it with the suffix ``.xodr``.
    name, description
        File header.
    duration
        Storyboard stop time (s).

    Returns
    -------
    Path
        ``path``.
    """
    setup = template.build({k: np.array([v]) for k, v in numbers.items()}, 1)
    if not isinstance(setup, JunctionSetup):
        raise ValidationError("not a junction template", field="template", value=template.name,
                              expected="one of " + ", ".join(JUNCTION_TEMPLATES_XOSC))
    lane_width = float(numbers["lane_width"])
    road_path = path.with_suffix(".xodr")
    network = _network(lane_width, _box_half_size(setup, lane_width))

    parameters = xosc.ParameterDeclarations()
    for key, value in declared.items():
        kind = xosc.ParameterType.string if isinstance(value, str) else xosc.ParameterType.double
        parameters.add_parameter(xosc.Parameter(key, kind, value if isinstance(value, str)
                                                else repr(float(value))))
    entities = xosc.Entities()
    init = xosc.Init()
    act = xosc.Act("concrete_scenario", _trigger("act_start", 0.0))
    for j, actor in enumerate((EGO, OTHER)):
        entities.add_scenario_object(actor, _entity(setup.kinds[j], actor))
        times, points = _points(setup, j, duration)
        start = points[0]
        init.add_init_action(actor, xosc.TeleportAction(start))
        init.add_init_action(actor, xosc.AbsoluteSpeedAction(
            float(setup.v0[0, j]), xosc.TransitionDynamics(xosc.DynamicsShapes.step,
                                                           xosc.DynamicsDimension.time, 0.0)))
        maneuver = xosc.Maneuver(f"{actor}_maneuver")
        follow = xosc.Event(f"{actor}_path", xosc.Priority.parallel)
        trajectory = xosc.Trajectory(f"{actor}_path", False)
        # vertex times at the initial speed (the XSD requires them); without a time
        # reference the road user follows the path at its own speed, not these times
        trajectory.add_shape(xosc.Polyline(times, points))
        follow.add_action(f"{actor}_path", xosc.FollowTrajectoryAction(
            trajectory, xosc.FollowingMode.position))
        follow.add_trigger(_trigger(f"{actor}_path_start", 0.0))
        maneuver.add_event(follow)
        if j == 1:
            script = setup.script
            for p in range(1, script.start.shape[1]):
                when = float(script.start[0, p])
                if not math.isfinite(when):
                    continue
                event = xosc.Event(f"{actor}_speed_{p}", xosc.Priority.parallel)
                event.add_action(f"{actor}_speed_{p}", xosc.AbsoluteSpeedAction(
                    float(script.speed[0, p]), xosc.TransitionDynamics(
                        xosc.DynamicsShapes.linear, xosc.DynamicsDimension.rate,
                        max(float(script.accel[0, p]), 0.1))))
                event.add_trigger(_trigger(f"{actor}_speed_{p}_start", when))
                maneuver.add_event(event)
        group = xosc.ManeuverGroup(f"{actor}_maneuver_group")
        group.add_actor(actor)
        group.add_maneuver(maneuver)
        act.add_maneuver_group(group)
    story = xosc.Story("concrete_scenario_story")
    story.add_act(act)
    storyboard = xosc.StoryBoard(init, _trigger("end_of_scenario", duration, "stop"))
    storyboard.add_story(story)
    header = f"{name}: {description}" if description else name
    scenario = xosc.Scenario(header, "safety-val", parameters, entities, storyboard,
                             xosc.RoadNetwork(roadfile=road_path.name), xosc.Catalog(),
                             osc_minor_version=_OSC_MINOR)
    from safety_val.formats.concrete_xosc import _serialise

    atomic_write_text(road_path, _serialise(network.get_element()))
    atomic_write_text(path, _serialise(scenario.get_element()))
    return path


def _points(setup: JunctionSetup, j: int, duration: float,
            ) -> tuple[list[float], list[xosc.WorldPosition]]:
    """Nominal times and world positions every metre along road user ``j``'s path.

    The times are those of the path at the larger of the initial speed and
    1 m/s (the OpenSCENARIO schema requires a time per vertex).
    """
    s0, v0 = float(setup.s0[0, j]), float(setup.v0[0, j])
    top = max(v0, float(setup.set_speed[0]) if j == 0 else v0, 1.0)
    along = np.arange(0.0, top * duration + 10.0 + _SAMPLE, _SAMPLE)
    column = setup.paths.column(j)
    x, y, psi = column.pose((s0 + along).reshape(1, 1, -1))
    times = [round(float(d) / max(v0, 1.0), 6) for d in along]
    return times, [xosc.WorldPosition(float(a), float(b), 0.0, float(h) % (2.0 * math.pi),
                                      0.0, 0.0)
                   for a, b, h in zip(x.ravel(), y.ravel(), psi.ravel(), strict=True)]
