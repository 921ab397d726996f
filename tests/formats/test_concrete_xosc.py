from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import defusedxml.ElementTree as SafeET
import pytest

from safety_val.doe import concrete_scenarios
from safety_val.errors import ValidationError
from safety_val.formats.concrete_xosc import EGO_LANE, LEFT_LANE, write_concrete_scenario
from safety_val.scenario import LogicalScenario, load_scenario
from safety_val.sim import get_template

ROOT = Path(__file__).resolve().parents[2]
ENTITIES = {"cut_in": 2, "cut_out": 3, "lead_braking": 2, "stop_and_go": 2,
            "pedestrian_crossing": 2}


def _load(name: str) -> LogicalScenario:
    return load_scenario(ROOT / "scenarios" / f"{name}.yaml")


def _row(scenario: LogicalScenario, seed: int = 11) -> dict[str, Any]:
    frame = concrete_scenarios(scenario, 1, seed=seed)
    return {str(k): v for k, v in frame.iloc[0].to_dict().items()}


def _export(
    tmp_path: Path, name: str, row: dict[str, Any] | None = None
) -> tuple[LogicalScenario, dict[str, Any], ET.Element, ET.Element]:
    scenario = _load(name)
    row = _row(scenario) if row is None else row
    path = write_concrete_scenario(scenario, row, tmp_path / f"{name}.xosc", description="t")
    assert path == tmp_path / f"{name}.xosc"
    xosc_root = SafeET.parse(path).getroot()
    logic = xosc_root.find("RoadNetwork/LogicFile")
    assert logic is not None
    road_path = path.parent / logic.attrib["filepath"]
    assert road_path == path.with_suffix(".xodr")
    return scenario, row, xosc_root, SafeET.parse(road_path).getroot()


def _declared(root: ET.Element) -> dict[str, str]:
    return {p.attrib["name"]: p.attrib["value"]
            for p in root.iterfind("ParameterDeclarations/ParameterDeclaration")}


def _value(scenario: LogicalScenario, row: dict[str, Any], name: str) -> float:
    if name in row:
        return float(row[name])
    if name in scenario.fixed:
        return float(scenario.fixed[name])
    return float(get_template(scenario.template).parameters[name].default)


def _event(root: ET.Element, name: str) -> ET.Element:
    event = root.find(f".//Event[@name='{name}']")
    assert event is not None, name
    return event


def _start_time(event: ET.Element) -> float:
    cond = event.find("StartTrigger//SimulationTimeCondition")
    assert cond is not None
    return float(cond.attrib["value"])


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_every_template_exports_valid_files(tmp_path: Path, name: str) -> None:
    scenario, row, root, road = _export(tmp_path, name)
    assert root.tag == "OpenSCENARIO"
    header = root.find("FileHeader")
    assert header is not None and str(row["scenario_id"]) in header.attrib["description"]
    assert len(root.findall("Entities/ScenarioObject")) == ENTITIES[name]
    assert {p.attrib["entityRef"] for p in root.iterfind("Storyboard/Init/Actions/Private")} == {
        o.attrib["name"] for o in root.iterfind("Entities/ScenarioObject")}
    declared = _declared(root)
    template = get_template(scenario.template)
    assert set(declared) == set(template.parameters)
    for param in scenario.names:
        value = row[param]
        if isinstance(value, str):
            assert declared[param] == value
        else:
            assert float(declared[param]) == pytest.approx(float(value), rel=1e-12)
    stop = root.find("Storyboard/StopTrigger//SimulationTimeCondition")
    assert stop is not None
    duration = scenario.simulation.get("duration", template.duration)
    assert float(stop.attrib["value"]) == pytest.approx(duration)
    # the road: >= 2 driving lanes of the scenario's width, long enough
    lane_width = _value(scenario, row, "lane_width")
    driving = [lane for lane in road.iterfind(".//right/lane")
               if lane.attrib["type"] == "driving"]
    assert len(driving) >= 2
    for lane in driving:
        width = lane.find("width")
        assert width is not None and float(width.attrib["a"]) == pytest.approx(lane_width)
    road_elem = road.find("road")
    assert road_elem is not None
    ego_speed = _value(scenario, row, "ego_speed")
    assert float(road_elem.attrib["length"]) > 20.0 + ego_speed * duration
    # every position sits on the road (LanePosition) or in world coordinates
    ego = root.find("Storyboard/Init/Actions/Private[@entityRef='Ego']//LanePosition")
    assert ego is not None and int(ego.attrib["laneId"]) == EGO_LANE


def test_cut_in_events(tmp_path: Path) -> None:
    scenario, row, root, _ = _export(tmp_path, "cut_in")
    lane_width = _value(scenario, row, "lane_width")
    event = _event(root, "CutIn_lane_change_0")
    dyn = event.find(".//LaneChangeActionDynamics")
    target = event.find(".//AbsoluteTargetLane")
    assert dyn is not None and target is not None
    assert dyn.attrib["dynamicsDimension"] == "time"
    assert float(dyn.attrib["value"]) == pytest.approx(
        lane_width / float(row["cut_in_lateral_speed"]))
    assert int(target.attrib["value"]) == EGO_LANE
    t0 = _value(scenario, row, "cut_in_start_time")
    assert _start_time(event) == pytest.approx(t0)
    # bumper gap at the start of the lane change equals cut_in_gap
    positions = {p.attrib["entityRef"]: p.find(".//LanePosition")
                 for p in root.iterfind("Storyboard/Init/Actions/Private")}
    ego, cut = positions["Ego"], positions["CutIn"]
    assert ego is not None and cut is not None
    assert int(cut.attrib["laneId"]) == LEFT_LANE
    v_ego, v_cut = float(row["ego_speed"]), float(row["cut_in_speed"])
    gap = (float(cut.attrib["s"]) + v_cut * t0) - (float(ego.attrib["s"]) + v_ego * t0) - 4.5
    assert gap == pytest.approx(float(row["cut_in_gap"]))


def test_cut_in_speed_drop_adds_braking(tmp_path: Path) -> None:
    scenario = _load("cut_in")
    row = {**_row(scenario), "cut_in_speed_drop": 5.0, "cut_in_decel": 4.0}
    _, _, root, _ = _export(tmp_path, "cut_in", row)
    event = _event(root, "CutIn_speed_0")
    dyn = event.find(".//SpeedActionDynamics")
    speed = event.find(".//AbsoluteTargetSpeed")
    assert dyn is not None and speed is not None
    assert float(dyn.attrib["value"]) == 4.0
    assert float(speed.attrib["value"]) == pytest.approx(float(row["cut_in_speed"]) - 5.0)
    lane_width = _value(scenario, row, "lane_width")
    assert _start_time(event) == pytest.approx(
        _value(scenario, row, "cut_in_start_time") + lane_width / row["cut_in_lateral_speed"])


def test_cut_out_events(tmp_path: Path) -> None:
    scenario, row, root, _ = _export(tmp_path, "cut_out")
    event = _event(root, "Lead_lane_change_0")
    target = event.find(".//AbsoluteTargetLane")
    dyn = event.find(".//LaneChangeActionDynamics")
    assert target is not None and dyn is not None
    assert int(target.attrib["value"]) == LEFT_LANE
    assert float(dyn.attrib["value"]) == pytest.approx(
        _value(scenario, row, "lane_width") / _value(scenario, row, "cut_out_lateral_speed"))
    assert _start_time(event) == pytest.approx(_value(scenario, row, "cut_out_start_time"))


def test_lead_braking_events(tmp_path: Path) -> None:
    scenario, row, root, _ = _export(tmp_path, "lead_braking")
    event = _event(root, "Lead_speed_0")
    dyn = event.find(".//SpeedActionDynamics")
    speed = event.find(".//AbsoluteTargetSpeed")
    assert dyn is not None and speed is not None
    assert dyn.attrib["dynamicsDimension"] == "rate"
    assert float(dyn.attrib["value"]) == pytest.approx(_value(scenario, row, "lead_decel"))
    assert float(speed.attrib["value"]) == pytest.approx(
        min(_value(scenario, row, "lead_final_speed"), _value(scenario, row, "lead_speed")))
    assert _start_time(event) == pytest.approx(_value(scenario, row, "lead_brake_time"))


def test_stop_and_go_phases(tmp_path: Path) -> None:
    scenario, row, root, _ = _export(tmp_path, "stop_and_go")
    events = [_event(root, f"Lead_speed_{i}") for i in range(4)]
    times = [_start_time(e) for e in events]
    assert times == sorted(times)
    assert times[0] == pytest.approx(_value(scenario, row, "lead_brake_time"))
    rates = [float(e.find(".//SpeedActionDynamics").attrib["value"])  # type: ignore[union-attr]
             for e in events]
    d, a = _value(scenario, row, "lead_decel"), _value(scenario, row, "lead_accel")
    assert rates == pytest.approx([d, a, d, a])


@pytest.mark.parametrize("occlusion", ["none", "parked_car"])
def test_pedestrian_crossing(tmp_path: Path, occlusion: str) -> None:
    scenario = _load("pedestrian_crossing")
    row = {**_row(scenario), "occlusion": occlusion}
    _, _, root, road = _export(tmp_path, "pedestrian_crossing", row)
    objects = {o.attrib["name"] for o in root.iterfind("Entities/ScenarioObject")}
    assert ("ParkedCar" in objects) == (occlusion == "parked_car")
    assert root.find("Entities/ScenarioObject/Pedestrian") is not None
    event = _event(root, "Pedestrian_speed_0")
    speed = event.find(".//AbsoluteTargetSpeed")
    assert speed is not None
    assert float(speed.attrib["value"]) == pytest.approx(
        _value(scenario, row, "pedestrian_speed"))
    assert _start_time(event) == pytest.approx(_value(scenario, row, "pedestrian_start_time"))
    vertices = event.findall(".//Polyline/Vertex/Position/WorldPosition")
    assert len(vertices) == 2
    assert float(vertices[1].attrib["y"]) > float(vertices[0].attrib["y"])
    start = root.find("Storyboard/Init/Actions/Private[@entityRef='Pedestrian']//WorldPosition")
    assert start is not None and float(start.attrib["h"]) == pytest.approx(math.pi / 2)
    assert {lane.attrib["type"] for lane in road.iterfind(".//right/lane")} >= {
        "driving", "sidewalk"}


def test_fixed_inputs_and_defaults_fill_missing_values(tmp_path: Path) -> None:
    scenario = _load("lead_braking")
    path = write_concrete_scenario(scenario, {}, tmp_path / "defaults.xosc")
    declared = _declared(SafeET.parse(path).getroot())
    for name, value in scenario.fixed.items():
        assert declared[name] == str(value) or float(declared[name]) == float(value)
    assert float(declared["lane_width"]) == pytest.approx(
        _value(scenario, {}, "lane_width"))


def test_rejects_invalid_values(tmp_path: Path) -> None:
    scenario = _load("lead_braking")
    with pytest.raises(ValidationError, match="lead_decel"):
        write_concrete_scenario(scenario, {"lead_decel": -1.0}, tmp_path / "bad.xosc")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_every_template_validates_against_the_openscenario_schema(
    tmp_path: Path, name: str
) -> None:
    """What esmini and CARLA's ScenarioRunner read: the official ASAM XSD of the version written.

    The schemas ship with scenariogeneration; our files (not a user's) are parsed with lxml.
    """
    import sysconfig

    etree = pytest.importorskip("lxml.etree")
    schemas = Path(sysconfig.get_paths()["purelib"]) / "schemas"
    if not schemas.is_dir():
        pytest.skip("scenariogeneration's schemas are not installed")
    _export(tmp_path, name)
    document = etree.parse(str(tmp_path / f"{name}.xosc"))
    minor = document.find("FileHeader").get("revMinor")
    schema = etree.XMLSchema(etree.parse(str(schemas / f"OpenSCENARIO_1_{minor}.xsd")))
    assert schema.validate(document), [str(e) for e in schema.error_log][:3]
