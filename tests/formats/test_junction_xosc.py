"""OpenSCENARIO export of concrete junction scenarios: the junction road and the storyboard."""

from __future__ import annotations

import math
from pathlib import Path

import defusedxml.ElementTree as DET
import numpy as np
import pytest

from safety_val.formats.concrete_xosc import write_concrete_scenario
from safety_val.scenario import load_scenario
from safety_val.sim import get_template
from tests.formats.xsd import schema_errors

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["junction_crossing", "junction_left_turn",
                                  "junction_pedestrian"])
def test_a_concrete_junction_scenario_exports_its_start_and_its_road(
        name: str, tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    values = {"ego_speed": 8.0, "ego_distance": 25.0}
    path = write_concrete_scenario(scenario, values, tmp_path / f"{name}.xosc")
    assert schema_errors(path) == []  # valid OpenSCENARIO 1.0
    root = DET.parse(str(path)).getroot()
    road = DET.parse(str(path.with_suffix(".xodr"))).getroot()
    assert root.find("RoadNetwork/LogicFile").get("filepath") == f"{name}.xodr"
    assert len(road.findall("junction")) == 1
    arms = [r for r in road.findall("road") if r.get("junction") == "-1"]
    assert len(arms) == 4
    # the ego's arm starts 200 m west of the junction's centre, in the template's frame
    start = next(r for r in arms if r.get("id") == "1").find("planView/geometry")
    assert (float(start.get("x")), float(start.get("y"))) == pytest.approx((-200.0, 0.0))
    # every entity starts where the template puts it, heading along its path
    template = get_template(name)
    inputs = {**scenario.fixed, **values}
    resolved, _ = template.resolve(inputs, 1)
    setup = template.build(resolved, 1)
    x, y, psi = setup.paths.pose(setup.s0)
    teleports = root.findall("Storyboard/Init/Actions/Private")
    assert [p.get("entityRef") for p in teleports] == ["Ego", "Other"]
    for j, private in enumerate(teleports):
        world = private.find(".//TeleportAction/Position/WorldPosition")
        assert float(world.get("x")) == pytest.approx(float(x[0, j]))
        assert float(world.get("y")) == pytest.approx(float(y[0, j]))
        assert float(world.get("h")) == pytest.approx(float(psi[0, j]) % (2 * math.pi))
        speed = private.find(".//AbsoluteTargetSpeed")
        assert float(speed.get("value")) == pytest.approx(float(setup.v0[0, j]))
    # both follow their path as a polyline from their start
    for entity in ("Ego", "Other"):
        action = root.find(f".//ManeuverGroup[@name='{entity}_maneuver_group']"
                           "//FollowTrajectoryAction")
        vertices = action.findall(".//Vertex/Position/WorldPosition")
        assert len(vertices) > 10
    other = 1
    first = root.find(".//ManeuverGroup[@name='Other_maneuver_group']//Vertex/Position/"
                      "WorldPosition")
    assert float(first.get("x")) == pytest.approx(float(x[0, other]))


def test_a_yielding_crossing_car_stops_at_its_script_time(tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / "junction_crossing.yaml")
    values = {"right_of_way": "ego", "other_behaviour": "yields", "other_speed": 10.0,
              "other_distance": 40.0, "other_decel": 3.0}
    path = write_concrete_scenario(scenario, values, tmp_path / "c.xosc")
    root = DET.parse(str(path)).getroot()
    event = root.find(".//Event[@name='Other_speed_1']")
    target = event.find(".//AbsoluteTargetSpeed")
    assert float(target.get("value")) == 0.0
    template = get_template("junction_crossing")
    resolved, _ = template.resolve({**scenario.fixed, **values}, 1)
    when = float(template.build(resolved, 1).script.start[0, 1])
    condition = event.find(".//SimulationTimeCondition")
    assert float(condition.get("value")) == pytest.approx(when)
    assert np.isfinite(when) and when > 0.0
