"""Event records replay: as OpenSCENARIO trajectories and in the built-in simulator."""

from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as DET
import numpy as np
import pytest

from safety_val.errors import ValidationError
from traffic_ai.random_testing.replay import (
    concrete_values,
    export_xosc,
    resimulate,
    write_opendrive,
)
from traffic_ai.random_testing.runner import InstanceResult


def test_exported_xosc_parses_and_follows_the_recorded_states(
    crash: InstanceResult, tmp_path: Path,
) -> None:
    event = crash.events.iloc[0]
    path = export_xosc(event.to_dict(), crash.states, tmp_path / "event.xosc")
    root = DET.parse(str(path)).getroot()
    assert root.tag == "OpenSCENARIO"
    names = {o.get("name") for o in root.iter("ScenarioObject")}
    assert names == {"Ego", "Other"}
    own = crash.states[crash.states["event_id"] == event["event_id"]]
    for trajectory in root.iter("Trajectory"):
        role = "ego" if trajectory.get("name", "").startswith("Ego") else "other"
        vertices = trajectory.findall(".//Vertex")
        assert len(vertices) == int((own["role"] == role).sum())
        times = np.array([float(v.get("time")) for v in vertices])
        # vertex times are the recorded times from the start of the record
        expected = own.loc[own["role"] == role, "t"].to_numpy() - own["t"].min()
        np.testing.assert_allclose(times, expected, atol=1e-4)
    assert own.loc[own["role"] == "ego", "t"].min() == pytest.approx(-5.0, abs=0.11)
    # the ego drives along +x (east) on A0B0: OpenSCENARIO heading 0
    first = next(root.iter("TeleportAction")).find(".//WorldPosition")
    assert float(first.get("h")) == pytest.approx(0.0, abs=1e-6)


def test_record_resimulates_in_the_builtin_lead_braking_template(crash: InstanceResult) -> None:
    event = crash.events.iloc[0]
    template, values = concrete_values(event.to_dict())
    assert template == "lead_braking"
    # the template starts when both vehicles are first recorded together
    own = crash.states[crash.states["event_id"] == event["event_id"]]
    t0 = own.loc[own["role"] == "other", "t"].min()
    at_t0 = own[own["t"] == t0].set_index("role")
    assert values["ego_speed"] == pytest.approx(at_t0.loc["ego", "speed"])
    assert values["lead_speed"] == pytest.approx(2.0, abs=0.05)
    front_gap = at_t0.loc["other", "x"] - at_t0.loc["other", "length"] - at_t0.loc["ego", "x"]
    assert values["initial_gap"] == pytest.approx(front_gap, abs=1e-6)
    out = resimulate(crash.events)
    assert out["status"].tolist() == ["ok"]
    # closing at ~30 m/s from 100 m, even the reference ADS's AEB cannot avoid the lead:
    # the concrete scenario reproduces the NG event in the continuous space
    assert float(out["min_ttc"].iloc[0]) < 1.5
    assert bool(out["collision"].iloc[0]) == (float(out["impact_speed"].iloc[0]) > 0.0)


def test_event_without_states_is_refused(crash: InstanceResult, tmp_path: Path) -> None:
    event = crash.events.iloc[0].to_dict() | {"event_id": "nope"}
    with pytest.raises(ValidationError, match="no recorded states"):
        export_xosc(event, crash.states, tmp_path / "x.xosc")


def test_export_writes_the_referenced_opendrive_road_network_once(
    crash: InstanceResult, road: tuple[Path, Path], tmp_path: Path,
) -> None:
    network, _ = road
    event = crash.events.iloc[0].to_dict()
    folder = tmp_path / "xosc"
    path = export_xosc(event, crash.states, folder / "a.xosc", network=network)
    logic = DET.parse(str(path)).getroot().find("RoadNetwork/LogicFile")
    roadfile = path.parent / logic.get("filepath")
    assert roadfile.is_file()
    xodr = DET.parse(str(roadfile)).getroot()
    assert xodr.tag == "OpenDRIVE"
    # the straight road is one 800 m SUMO edge each way: two OpenDRIVE roads outside
    # junctions, in the SUMO world coordinates the trajectories use
    roads = [r for r in xodr.findall("road") if r.get("junction") == "-1"]
    assert len(roads) == 2
    assert [float(r.get("length")) for r in roads] == pytest.approx([800.0, 800.0])
    starts = sorted(float(r.find("planView/geometry").get("x")) for r in roads)
    assert starts == pytest.approx([0.0, 800.0])
    # a second export into the same folder reuses the file and leaves no temporary files
    stamp = roadfile.stat().st_mtime_ns
    export_xosc(event, crash.states, folder / "b.xosc", network=network)
    assert roadfile.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in folder.iterdir()) == ["a.xosc", "b.xosc", "network.xodr"]


def test_opendrive_of_a_missing_network_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="network file not found"):
        write_opendrive(tmp_path / "none.net.xml", tmp_path / "network.xodr")
    assert not (tmp_path / "network.xodr").exists()


def test_netconvert_failure_is_reported_without_partial_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.net.xml"
    broken.write_text("<net><edge id='x'>")
    with pytest.raises(ValidationError, match="netconvert failed"):
        write_opendrive(broken, tmp_path / "network.xodr")
    assert list(tmp_path.iterdir()) == [broken]


def test_junction_events_resimulate_in_their_templates() -> None:
    import pandas as pd

    events = pd.DataFrame([
        {"event_id": "x-1", "template": "junction_crossing", "ego_speed_0": 9.0,
         "other_speed_0": 10.0, "ego_distance_0": 30.0, "other_distance_0": 33.0,
         "other_direction": "left", "right_of_way": "other", "other_behaviour": "proceeds",
         "other_decel": 0.2, "turning": "", "turn_radius": np.nan},
        {"event_id": "x-2", "template": "junction_left_turn", "ego_speed_0": 6.0,
         "other_speed_0": 11.0, "ego_distance_0": 22.0, "other_distance_0": 48.0,
         "other_direction": "", "right_of_way": "", "other_behaviour": "proceeds",
         "other_decel": 0.5, "turning": "ego", "turn_radius": 40.0},
    ])
    template, values = concrete_values(events.iloc[1].to_dict())
    assert template == "junction_left_turn"
    assert values["turn_radius"] == 30.0  # clipped to the template's range
    assert values["other_decel"] == 0.5
    out = resimulate(events, duration=8.0)
    assert out["template"].tolist() == ["junction_crossing", "junction_left_turn"]
    assert (out["status"] == "ok").all()
    # the yielding ADS gives way in both: no collision, the other passes first
    assert out["collision"].tolist() == [0.0, 0.0]
    assert (out["pet"] > 0.5).all()
