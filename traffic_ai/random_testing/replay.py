"""Replay NG event records: as OpenSCENARIO trajectories, or in the built-in simulator.

:func:`export_xosc` writes one event as an ASAM OpenSCENARIO 1.x file (built with
:mod:`scenariogeneration`): the ego and the other vehicle start where they were at the
beginning of the record and follow their recorded trajectories
(``FollowTrajectoryAction`` with a timed ``Polyline`` in world coordinates of the SUMO
network). The road network is referenced as an OpenDRIVE file beside the scenarios
(``network.xodr``), which :func:`write_opendrive` converts from the SUMO network with
SUMO's ``netconvert --opendrive-output`` (same world coordinates). Positions are the centres of the
vehicles (SUMO reports the front bumper), headings are converted from SUMO's compass
angle (degrees clockwise from north) to OpenSCENARIO's (radians counter-clockwise
from ``x``).

:func:`resimulate` maps events onto their built-in template
(:func:`concrete_values`) and runs them in the built-in simulator with the reference
ADS, so an event found in traffic becomes a concrete scenario of the continuous space.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scenariogeneration import xosc

from safety_val._io import atomic_write_text
from safety_val.errors import ValidationError

__all__ = ["ROADFILE", "concrete_values", "export_xosc", "resimulate", "write_opendrive"]

#: Name of the OpenDRIVE road network written beside the exported scenarios.
ROADFILE = "network.xodr"
CAR_HEIGHT = 1.5
CAR_WIDTH = 1.8


def _vehicle(name: str, length: float) -> xosc.Vehicle:
    box = xosc.BoundingBox(CAR_WIDTH, length, CAR_HEIGHT, 0.0, 0.0, CAR_HEIGHT / 2)
    front = xosc.Axle(0.5, 0.65, 1.55, 0.3 * length, 0.325)
    rear = xosc.Axle(0.0, 0.65, 1.55, -0.3 * length, 0.325)
    return xosc.Vehicle(name, xosc.VehicleCategory.car, box, front, rear, 70.0, 10.0, 15.0)


def _centre(row: Any) -> xosc.WorldPosition:
    angle = math.radians(float(row.angle))
    x = float(row.x) - 0.5 * float(row.length) * math.sin(angle)
    y = float(row.y) - 0.5 * float(row.length) * math.cos(angle)
    heading = math.radians(90.0 - float(row.angle)) % (2.0 * math.pi)
    return xosc.WorldPosition(x, y, 0.0, heading, 0.0, 0.0)


def _trigger(name: str, time: float, point: str = "start") -> xosc.ValueTrigger:
    return xosc.ValueTrigger(name, 0.0, xosc.ConditionEdge.rising,
                             xosc.SimulationTimeCondition(time, xosc.Rule.greaterThan),
                             triggeringpoint=point)


def write_opendrive(network: str | Path, out: str | Path) -> Path:
    """Convert a SUMO network to OpenDRIVE with ``netconvert --opendrive-output``.

    Parameters
    ----------
    network
        The SUMO network (``.net.xml``).
    out
        The ``.xodr`` file to write; written to a temporary file in the same folder and
        renamed, so concurrent writers and readers never see a partial file.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ValidationError
        When the network is missing or netconvert rejects it.
    """
    from traffic_ai.network import sumo_binary

    network, target = Path(network), Path(out)
    if not network.is_file():
        raise ValidationError("network file not found", file=network, field="network")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp.xodr",
                                    dir=target.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        proc = subprocess.run([
            sumo_binary("netconvert"), "--sumo-net-file", str(network),
            "--opendrive-output", str(tmp), "--no-warnings",
        ], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or tmp.stat().st_size == 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            errors = [line for line in lines if line.startswith("Error")] or lines
            raise ValidationError(
                "netconvert failed: " + (errors[0] if errors else f"exit {proc.returncode}"),
                file=network, field="network")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def export_xosc(event: Mapping[Any, Any], states: pd.DataFrame, path: str | Path, *,
                roadfile: str = ROADFILE, network: str | Path | None = None) -> Path:
    """Write one event record as a replayable OpenSCENARIO file.

    Parameters
    ----------
    event
        One row of the events table (``event_id``, ``event_type``, ...).
    states
        The event's states (``STATE_COLUMNS``).
    path
        The ``.xosc`` file to write.
    roadfile
        OpenDRIVE file of the network, referenced from the scenario (relative paths are
        relative to the folder of ``path``).
    network
        The SUMO network of the event: when given and ``roadfile`` does not exist yet,
        it is written with :func:`write_opendrive` (once per folder).

    Returns
    -------
    Path

    Raises
    ------
    ValidationError
        When the event has no recorded states (SSM-only events), or the network cannot be
        converted.
    """
    out = Path(path)
    own = states[states["event_id"] == event["event_id"]].sort_values("t")
    if own.empty:
        raise ValidationError("the event has no recorded states to replay", field="event_id",
                              value=event["event_id"])
    t0 = float(own["t"].min())
    entities = xosc.Entities()
    init = xosc.Init()
    act = xosc.Act("replay", _trigger("replay_start", 0.0))
    names = {"ego": "Ego", "other": "Other"}
    for role, track in own.groupby("role", sort=True):
        name = names.get(str(role), str(role))
        first = next(track.itertuples(index=False))
        entities.add_scenario_object(name, _vehicle(name, float(first.length)))
        init.add_init_action(name, xosc.TeleportAction(_centre(first)))
        init.add_init_action(name, xosc.AbsoluteSpeedAction(
            float(first.speed), xosc.TransitionDynamics(xosc.DynamicsShapes.step,
                                                        xosc.DynamicsDimension.time, 0.0)))
        times = [round(float(t) - t0, 4) for t in track["t"]]
        positions = [_centre(row) for row in track.itertuples(index=False)]
        trajectory = xosc.Trajectory(f"{name}_recorded", False)
        trajectory.add_shape(xosc.Polyline(times, positions))
        event_ = xosc.Event(f"{name}_follow", xosc.Priority.parallel)
        event_.add_action(f"{name}_follow", xosc.FollowTrajectoryAction(
            trajectory, xosc.FollowingMode.position, xosc.ReferenceContext.absolute, 1.0, 0.0))
        event_.add_trigger(_trigger(f"{name}_follow_start", 0.0))
        maneuver = xosc.Maneuver(f"{name}_maneuver")
        maneuver.add_event(event_)
        group = xosc.ManeuverGroup(f"{name}_group")
        group.add_actor(name)
        group.add_maneuver(maneuver)
        act.add_maneuver_group(group)
    story = xosc.Story("replay_story")
    story.add_act(act)
    duration = float(own["t"].max()) - t0
    storyboard = xosc.StoryBoard(init, _trigger("end_of_replay", duration, "stop"))
    storyboard.add_story(story)
    parameters = xosc.ParameterDeclarations()
    scenario = xosc.Scenario(
        f"{event['event_id']}: {event['event_type']} (SUMO random test)", "safety-val",
        parameters, entities, storyboard, xosc.RoadNetwork(roadfile=roadfile), xosc.Catalog(),
        osc_minor_version=0,
    )
    element = scenario.get_element()
    ET.indent(element, space="  ")
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")
    out.parent.mkdir(parents=True, exist_ok=True)
    road = out.parent / roadfile
    if network is not None and not road.is_file():
        write_opendrive(network, road)
    atomic_write_text(out, text + "\n")
    return out


def concrete_values(event: Mapping[Any, Any]) -> tuple[str, dict[str, Any]]:
    """The built-in template and concrete inputs of an event (empty template if none).

    ``lead_braking``: ego and lead speeds and bumper gap at the start of the record,
    the lead's largest deceleration (at least 0.1 m/s²) and when it began braking.
    ``cut_in``: ego and cutting-in speeds and gap at the start of the record, the
    largest lateral closing speed; the lane change starts at once.
    ``junction_crossing`` / ``junction_left_turn``: speeds and distances to the
    conflict area at the start of the record, the situation's labels (side, right of
    way, who turns, whether the other gives way), the turn radius and the other's
    largest deceleration (see :mod:`~traffic_ai.random_testing.junction_events`).

    Examples
    --------
    >>> concrete_values({"template": "junction_left_turn", "ego_speed_0": 6.0,
    ...                  "other_speed_0": 11.0, "ego_distance_0": 22.0,
    ...                  "other_distance_0": 48.0, "turning": "ego", "turn_radius": 11.0,
    ...                  "other_behaviour": "proceeds", "other_decel": 0.5})[1]["turn_radius"]
    11.0
    """
    template = str(event.get("template", "") or "")

    def num(key: str, default: float) -> float:
        value = float(event.get(key, np.nan))
        return default if not np.isfinite(value) else value

    common = {"ego_speed": max(num("ego_speed_0", 0.0), 0.0), "lane_width": 3.2}
    if template == "lead_braking":
        return template, {**common, "lead_speed": max(num("other_speed_0", 0.0), 0.0),
                          "initial_gap": max(num("gap_0", 0.0), 0.0),
                          "lead_decel": float(np.clip(num("other_decel", 0.1), 0.1, 10.0)),
                          "lead_brake_time": max(num("brake_time", 0.0), 0.0)}
    if template == "cut_in":
        return template, {**common, "cut_in_speed": max(num("other_speed_0", 0.0), 0.0),
                          "cut_in_gap": float(np.clip(num("gap_0", 0.0), -50.0, 300.0)),
                          "cut_in_lateral_speed": float(np.clip(num("lateral_speed", 1.0),
                                                                0.1, 5.0)),
                          "cut_in_start_time": 0.0}
    if template in ("junction_crossing", "junction_left_turn"):
        values: dict[str, Any] = {
            **common, "other_speed": max(num("other_speed_0", 0.0), 0.0),
            "ego_distance": float(np.clip(num("ego_distance_0", 0.0), 0.0, 200.0)),
            "other_distance": float(np.clip(num("other_distance_0", 0.0), 0.0, 200.0)),
            "other_decel": float(np.clip(num("other_decel", 3.0), 0.5, 10.0)),
            "other_behaviour": str(event.get("other_behaviour") or "yields"),
        }
        if template == "junction_crossing":
            values.update(other_direction=str(event.get("other_direction") or "right"),
                          right_of_way=str(event.get("right_of_way") or "other"))
        else:
            values.update(turning=str(event.get("turning") or "ego"),
                          turn_radius=float(np.clip(num("turn_radius", 10.0), 5.0, 30.0)))
        return template, values
    return "", {}


def resimulate(events: pd.DataFrame, *, duration: float = 10.0, dt: float = 0.01) -> pd.DataFrame:
    """Run the events that map onto a template in the built-in simulator.

    Returns
    -------
    DataFrame
        One row per mapped event: ``event_id``, ``template``, the concrete inputs and
        the simulator's KPIs and ``status``.
    """
    from safety_val.backends.builtin import BuiltinSimulator

    mapped: dict[str, list[dict[str, Any]]] = {}
    for record in events.to_dict("records"):
        row = {str(k): v for k, v in record.items()}
        template, values = concrete_values(row)
        if template:
            mapped.setdefault(template, []).append({"event_id": row["event_id"], **values})
    frames = []
    for template, rows in mapped.items():
        batch = pd.DataFrame(rows)
        simulator = BuiltinSimulator(template, dt=dt, duration=duration)
        out = simulator.run(batch.drop(columns=["event_id"]).assign(
            scenario_id=batch["event_id"]))
        out = out.drop(columns=["scenario_id"], errors="ignore")
        frames.append(pd.concat([batch[["event_id"]].assign(template=template),
                                 out.reset_index(drop=True)], axis=1))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["event_id", "template"])
