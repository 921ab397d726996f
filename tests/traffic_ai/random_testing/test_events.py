"""NG event records: close-encounter captures, SSM-only events with states, templates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from traffic_ai.random_testing.egos import (
    VAR_ACCELERATION,
    VAR_ANGLE,
    VAR_LANE_ID,
    VAR_LENGTH,
    VAR_POSITION,
    VAR_SPEED,
)
from traffic_ai.random_testing.events import (
    EVENT_COLUMNS,
    EventDetector,
    Thresholds,
    close_encounters,
    merge_ssm,
    read_ssm,
    template_parameters,
)

DT = 0.1
LENGTH = 4.5


def _state(x: float, y: float, speed: float, angle: float, lane: str = "l",
           accel: float = 0.0) -> tuple[float, float, float, float, float, float, str]:
    """A SUMO-like state: front bumper of a car whose centre is at ``(x, y)``."""
    rad = np.radians(angle)
    return (x + 0.5 * LENGTH * np.sin(rad), y + 0.5 * LENGTH * np.cos(rad), speed, angle,
            accel, LENGTH, lane)


# -- close encounters --------------------------------------------------------------------------


def test_close_encounters_same_direction() -> None:
    ego = _state(0.0, 0.0, 10.0, 0.0)
    # bumper gap 15.5 m at 10 m/s closing: contact after 1.55 s, within the 2 s horizon
    near = {"e": ego, "f": _state(0.0, 20.0, 0.0, 0.0)}
    assert close_encounters(near, {"e": ("f",)}, horizon=2.0) == {("e", "f")}
    # 40 m ahead: after 2 s the centres are still 20 m apart
    far = {"e": ego, "f": _state(0.0, 40.0, 0.0, 0.0)}
    assert close_encounters(far, {"e": ("f",)}, horizon=2.0) == set()
    # overtaking a slower car in the next lane (3.2 m to the left) is no encounter
    beside = {"e": ego, "f": _state(-3.2, 10.0, 5.0, 0.0)}
    assert close_encounters(beside, {"e": ("f",)}, horizon=2.0) == set()
    # a follower at the same speed is not approaching
    steady = {"e": ego, "f": _state(0.0, 10.0, 10.0, 0.0)}
    assert close_encounters(steady, {"e": ("f",)}, horizon=2.0) == set()


def test_close_encounters_crossing_paths_depend_on_the_time_gap() -> None:
    # the ego reaches the crossing point (origin) in 1 s; the other at 10 m/s from the west
    ego = _state(0.0, -10.0, 10.0, 0.0)

    def crossing(lag: float) -> set[tuple[str, str]]:
        other = _state(-10.0 * (1.0 + lag), 0.0, 10.0, 90.0)
        return close_encounters({"e": ego, "o": other}, {"e": ("o",)}, horizon=2.0, pet=1.0)

    assert crossing(0.5) == {("e", "o")}  # passes the point half a second after the ego
    assert crossing(3.0) == set()  # three seconds later: no conflict
    # a car standing at the cross street's stop line beside the ego's path does not count
    waiting = _state(-6.0, 0.0, 0.0, 90.0)  # front bumper 3.75 m from the path
    assert close_encounters({"e": ego, "o": waiting}, {"e": ("o",)}, horizon=2.0) == set()


def test_close_encounters_opposing_paths_count_inside_junctions_only() -> None:
    # an oncoming car 5 m to the left, 15 m ahead, both at 8 m/s
    ego = _state(0.0, 0.0, 8.0, 0.0, "road_0")
    for lane, close in (("back_0", False), (":junction_3_0", True)):
        oncoming = _state(-5.0, 15.0, 8.0, 180.0, lane)
        pairs = close_encounters({"e": ego, "o": oncoming}, {"e": ("o",)}, horizon=2.0)
        assert pairs == ({("e", "o")} if close else set()), lane


# -- captures and SSM-only events --------------------------------------------------------------


def _vars(state: tuple[float, float, float, float, float, float, str]) -> dict[int, Any]:
    x, y, speed, angle, accel, length, lane = state
    return {VAR_POSITION: (x, y), VAR_SPEED: speed, VAR_ANGLE: angle, VAR_ACCELERATION: accel,
            VAR_LENGTH: length, VAR_LANE_ID: lane}


def _crossing_run(duration: float = 20.0, *, capture: bool = True) -> EventDetector:
    """The ego drives north through the origin at t = 10 s, ``foe`` east 0.5 s later."""
    detector = EventDetector("x", DT, Thresholds(capture_encounters=capture))
    for k in range(1, round(duration / DT) + 1):
        t = round(k * DT, 6)
        ego = _state(0.0, 10.0 * (t - 10.0), 10.0, 0.0, "north_0")
        foe = _state(10.0 * (t - 10.5), 0.0, 10.0, 90.0, "east_0")
        egos = {"ego": _vars(ego)}
        detector.record_step(t, egos, {"ego": {"ego": _vars(ego), "foe": _vars(foe)}})
        detector.observe_encounters(t)
        detector.flush(t)
    detector.flush(duration, final=True)
    return detector


def _ssm(**conflicts: tuple[str, str, float]) -> pd.DataFrame:
    rows = [{"ego": ego, "foe": foe, "begin": t - 2.0, "end": t + 2.0, "min_ttc": np.nan,
             "max_drac": np.nan, "min_pet": 0.5, "ttc_time": np.nan, "drac_time": np.nan,
             "pet_time": t, "x": 0.0, "y": 0.0} for ego, foe, t in conflicts.values()]
    return pd.DataFrame(rows)


def test_ssm_only_crossing_event_gets_states_from_the_capture() -> None:
    detector = _crossing_run()
    th = detector.thresholds
    events, _ = detector.records()
    assert events.empty  # a crossing conflict is invisible to the in-path measures
    # only the moments around the encounter are kept, not the whole 20 s run
    assert 0 < detector.capture_rows < 2 * 200
    ssm = _ssm(a=("ego", "foe", 10.5), b=("ego", "ghost", 10.5))
    merged, new_states = merge_ssm(events, ssm, th, "x", states_of=detector.captured_states)
    assert list(merged.columns) == list(EVENT_COLUMNS)
    event = merged.set_index("other_id").loc["foe"]
    assert event["event_type"] == "ssm_pet"
    assert event["time"] == pytest.approx(10.5)
    assert bool(event["has_states"])
    assert event["conflict_type"] == "crossing"
    # crossing paths map onto the junction template: at the start of the record (5 s
    # before the PET) the ego's centre is 45 m and the foe's 50 m from the crossing point,
    # less half a length and half a width (3.15 m) to the conflict area; the foe comes
    # from the ego's left and neither gives way, so it is taken to have the right of way
    assert event["template"] == "junction_crossing"
    assert event["ego_distance_0"] == pytest.approx(45.0 - 3.15)
    assert event["other_distance_0"] == pytest.approx(50.0 - 3.15)
    assert (event["ego_speed_0"], event["other_speed_0"]) == pytest.approx((10.0, 10.0))
    assert (event["other_direction"], event["right_of_way"], event["other_behaviour"]) == (
        "left", "other", "proceeds")
    assert event["edge"] == "north"
    assert event["ego_speed"] == pytest.approx(10.0)
    mine = new_states[new_states["event_id"] == event["event_id"]]
    for role in ("ego", "other"):
        t = mine.loc[mine["role"] == role, "t"]
        assert t.min() == pytest.approx(-th.pre, abs=1e-6)
        assert t.max() == pytest.approx(th.post, abs=1e-6)
        assert len(t) == round((th.pre + th.post) / DT) + 1
    # the recorded trajectory is the true one (float32 precision)
    foe_now = mine[(mine["role"] == "other") & (mine["t"].abs() < 1e-6)].iloc[0]
    assert foe_now["x"] == pytest.approx(2.25, abs=1e-3)  # centre at 0, bumper 2.25 m east
    # a foe that never came near the ego has no states
    assert not bool(merged.set_index("other_id").loc["ghost", "has_states"])


def test_without_captures_ssm_only_events_have_no_states() -> None:
    detector = _crossing_run(capture=False)
    assert detector.capture_rows == 0
    events, _ = detector.records()
    merged, new_states = merge_ssm(events, _ssm(a=("ego", "foe", 10.5)), detector.thresholds,
                                   "x", states_of=detector.captured_states)
    assert new_states.empty
    assert merged["event_type"].tolist() == ["ssm_pet"]
    assert not bool(merged.loc[0, "has_states"])


def test_ssm_conflict_of_a_detected_pair_adds_minima_in_either_role() -> None:
    events = pd.DataFrame([{c: np.nan for c in EVENT_COLUMNS}]).assign(
        event_id="x-e00001", ego_id="foe", other_id="ego", time=10.0, event_type="low_ttc",
        has_states=True)
    merged, new_states = merge_ssm(events, _ssm(a=("ego", "foe", 10.5)), Thresholds(), "x")
    assert len(merged) == 1 and new_states.empty
    assert merged.loc[0, "ssm_min_pet"] == 0.5


def test_read_ssm_reads_the_time_of_each_measure(tmp_path: Path) -> None:
    path = tmp_path / "ssm.xml"
    path.write_text(
        '<SSMLog>\n  <conflict begin="10.20" end="18.70" ego="e" foe="f">\n'
        '    <minTTC time="15.30" position="799.80,3.41" type="111" value="0.40" speed="1"/>\n'
        '    <maxDRAC time="14.70" position="802.07,4.80" type="12" value="6.25" speed="2"/>\n'
        '    <PET time="13.80" position="799.91,3.58" type="111" value="NA" speed="1.40"/>\n'
        '  </conflict>\n</SSMLog>\n')
    row = read_ssm(path).iloc[0]
    assert (row["min_ttc"], row["ttc_time"]) == (0.4, 15.3)
    assert (row["max_drac"], row["drac_time"]) == (6.25, 14.7)
    assert np.isnan(row["min_pet"]) and np.isnan(row["pet_time"])
    assert (row["x"], row["y"]) == (799.8, 3.41)


# -- templates ---------------------------------------------------------------------------------


def _pair(ego: Sequence[tuple[float, ...]], other: Sequence[tuple[float, ...]],
          times: np.ndarray) -> pd.DataFrame:
    rows = []
    for role, track in (("ego", ego), ("other", other)):
        for t, (x, y, speed, angle, accel) in zip(times, track, strict=True):
            bx, by, *_ = _state(x, y, speed, angle, accel=accel)
            rows.append({"event_id": "e", "vehicle_id": role, "role": role, "t": t, "x": bx,
                         "y": by, "speed": speed, "angle": angle, "acceleration": accel,
                         "length": LENGTH, "lane": "l"})
    return pd.DataFrame(rows)


TIMES = np.round(np.arange(-5.0, 3.0 + 1e-9, DT), 6)


def test_lead_braking_after_a_turn_starts_when_the_headings_align() -> None:
    # both drive east until t = -3 s (the lead already turned north), then both north;
    # from t = -1 s the lead brakes at 4 m/s^2
    ego, lead = [], []
    for t in TIMES:
        ego.append((0.0, 10.0 * t, 10.0, 90.0 if t < -3.0 else 0.0, 0.0))
        lead.append((0.0, 10.0 * t + 25.0, 10.0, 0.0 if t >= -3.5 else 90.0,
                     -4.0 if t >= -1.0 else 0.0))
    params = template_parameters(_pair(ego, lead, TIMES))
    assert params["conflict_type"] == "rear_end"
    assert params["template"] == "lead_braking"
    assert params["gap_0"] == pytest.approx(25.0 - LENGTH, abs=1e-6)
    assert params["other_decel"] == pytest.approx(4.0)
    assert params["brake_time"] == pytest.approx(2.0, abs=1e-6)  # from t = -3 s to -1 s
    # the aligned stretch lasts from -3 s to the end of the record (+3 s): 6 s
    short = template_parameters(_pair(ego, lead, TIMES), min_duration=6.5)
    assert short["template"] == "" and short["conflict_type"] == "rear_end"


def test_cut_in_lateral_speed_and_conflict_types() -> None:
    # the other starts 3.2 m to the left, 20 m ahead, and moves into the ego's lane at 1 m/s
    ego = [(0.0, 10.0 * t, 10.0, 0.0, 0.0) for t in TIMES]
    cut = [(-max(3.2 - (t + 5.0), 0.0), 10.0 * t + 20.0, 10.0, 0.0, 0.0) for t in TIMES]
    params = template_parameters(_pair(ego, cut, TIMES))
    assert (params["template"], params["conflict_type"]) == ("cut_in", "lane_change")
    assert params["lateral_speed"] == pytest.approx(1.0, abs=1e-6)
    assert params["dy_0"] == pytest.approx(3.2, abs=1e-6)
    crossing = [(10.0 * t, 5.0, 10.0, 90.0, 0.0) for t in TIMES]
    assert template_parameters(_pair(ego, crossing, TIMES))["conflict_type"] == "crossing"
    oncoming = [(1.0, 30.0 - 10.0 * t, 10.0, 180.0, 0.0) for t in TIMES]
    assert template_parameters(_pair(ego, oncoming, TIMES))["conflict_type"] == "opposing"
    behind = [(0.0, 10.0 * t - 15.0, 12.0, 0.0, 0.0) for t in TIMES]
    rear = template_parameters(_pair(ego, behind, TIMES))
    assert (rear["conflict_type"], rear["template"]) == ("rear", "")


# -- junction conflicts onto the junction templates ---------------------------------------------


def _record(x: np.ndarray, y: np.ndarray, psi: np.ndarray, speed: np.ndarray, role: str,
            t: np.ndarray, length: float = LENGTH) -> pd.DataFrame:
    """SUMO-like states (front bumper, compass angle) of centres moving along a path."""
    return pd.DataFrame({
        "event_id": "e", "vehicle_id": role, "role": role, "t": t,
        "x": x + 0.5 * length * np.cos(psi), "y": y + 0.5 * length * np.sin(psi),
        "speed": speed, "angle": (90.0 - np.degrees(psi)) % 360.0,
        "acceleration": np.gradient(speed, t), "length": length, "lane": "l"})


def test_a_left_turn_across_oncoming_traffic_maps_onto_the_left_turn_template() -> None:
    from safety_val.sim.junction_templates import crossing_offsets
    from safety_val.sim.paths import Paths

    # junction frame of the template: the ego turns left (radius 12 m) from the lane at
    # y = -1.75, the oncoming car drives straight west in the lane at y = +1.75
    t = np.round(np.arange(-5.0, 3.0 + 1e-9, DT), 6)
    ego_s = 8.0 * (t + 5.0)  # 8 m/s, centre at path coordinate 0 at the start
    arc = 30.0  # the arc starts 30 m along the ego's path
    ego_path = Paths(np.array([[-arc - (12.0 - 1.75)]]), np.array([[-1.75]]),
                     np.zeros((1, 1)), np.array([[arc]]), np.array([[1.0 / 12.0]]),
                     np.array([[np.pi / 2]]))
    ex, ey, epsi = (a.ravel() for a in ego_path.pose(ego_s.reshape(1, 1, -1)))
    ox = 60.0 - 10.0 * (t + 5.0)  # 10 m/s west
    states = pd.concat([
        _record(ex, ey, epsi, np.full(t.size, 8.0), "ego", t),
        _record(ox, np.full(t.size, 1.75), np.full(t.size, np.pi), np.full(t.size, 10.0),
                "other", t)])
    out = template_parameters(states)
    assert out["conflict_type"] == "crossing"  # mid-turn at the event: 45 degrees apart
    assert out["template"] == "junction_left_turn"
    assert out["turning"] == "ego" and out["other_behaviour"] == "proceeds"
    assert out["turn_radius"] == pytest.approx(12.0, abs=0.01)
    # closed form: the arc (centre (-10.25, 10.25)) meets y = 1.75 where
    # x + 10.25 = sqrt(12^2 - 8.5^2), after an arc of 12 asin(8.47 / 12)
    dx = np.sqrt(12.0**2 - 8.5**2)
    ego_to_point = arc + 12.0 * np.arcsin(dx / 12.0)
    other_to_point = 60.0 - (-10.25 + dx)
    off_e, off_o = crossing_offsets("junction_left_turn", {"turning": "ego",
                                                           "turn_radius": 12.0})
    assert out["ego_distance_0"] == pytest.approx(ego_to_point - off_e[0], abs=0.05)
    assert out["other_distance_0"] == pytest.approx(other_to_point - off_o[0], abs=0.05)
    assert (out["ego_speed_0"], out["other_speed_0"]) == pytest.approx((8.0, 10.0))


def test_a_crossing_car_that_stopped_gives_the_ego_the_right_of_way() -> None:
    t = np.round(np.arange(-5.0, 3.0 + 1e-9, DT), 6)
    ex = -40.0 + 10.0 * (t + 5.0)  # ego east through the origin
    # the other comes from the ego's right (north-bound) and stops 10 m before the point
    oy = np.minimum(-30.0 + 8.0 * (t + 5.0), -10.0)
    speed = np.where(oy < -10.0, 8.0, 0.0)
    states = pd.concat([
        _record(ex, np.zeros(t.size), np.zeros(t.size), np.full(t.size, 10.0), "ego", t),
        _record(np.zeros(t.size), oy, np.full(t.size, np.pi / 2), speed, "other", t)])
    out = template_parameters(states)
    assert out["template"] == "junction_crossing"
    assert (out["other_direction"], out["right_of_way"], out["other_behaviour"]) == (
        "right", "ego", "yields")
    # its recorded path ends short of the ego's: extended straight ahead to the crossing
    assert out["other_distance_0"] == pytest.approx(30.0 - 3.15)
    assert out["ego_distance_0"] == pytest.approx(40.0 - 3.15)


def test_same_direction_and_head_on_paths_are_no_junction_conflict() -> None:
    t = np.round(np.arange(-5.0, 3.0 + 1e-9, DT), 6)
    straight = np.zeros(t.size)
    ego = _record(-40.0 + 10.0 * (t + 5.0), straight - 1.75, straight, np.full(t.size, 10.0),
                  "ego", t)
    head_on = _record(40.0 - 10.0 * (t + 5.0), straight + 1.75, straight + np.pi,
                      np.full(t.size, 10.0), "other", t)
    from traffic_ai.random_testing.junction_events import junction_parameters

    assert junction_parameters(ego, head_on) is None  # opposing, nobody turns


def test_a_right_turn_past_a_car_waiting_on_the_road_turned_into_is_no_conflict() -> None:
    from safety_val.sim.paths import Paths

    # the ego turns right (radius 8 m) from the lane at y = -1.6 into the road along x
    # = +1.6 (south-bound); a car waits on the other lane of that road (x = +4.8,
    # north-bound) at its stop line: crossing headings, but paths 3.2 m apart
    t = np.round(np.arange(-5.0, 3.0 + 1e-9, DT), 6)
    ego_path = Paths(np.array([[-40.0]]), np.array([[-1.6]]), np.zeros((1, 1)),
                     np.array([[40.0 - 6.4]]), np.array([[-1.0 / 8.0]]),
                     np.array([[np.pi / 2]]))
    ex, ey, epsi = (a.ravel() for a in ego_path.pose((8.0 * (t + 5.0)).reshape(1, 1, -1)))
    waiting = _record(np.full(t.size, 4.8), np.full(t.size, -12.0),
                      np.full(t.size, np.pi / 2), np.zeros(t.size), "other", t)
    ego = _record(ex, ey, epsi, np.full(t.size, 8.0), "ego", t)
    out = template_parameters(pd.concat([ego, waiting]))
    assert (out["conflict_type"], out["template"]) == ("passing", "")
    # the same car driving on the ego's exit lane towards it would cross its path
    oncoming = _record(np.full(t.size, 1.6), -60.0 + 8.0 * (t + 5.0),
                       np.full(t.size, np.pi / 2), np.full(t.size, 8.0), "other", t)
    assert template_parameters(pd.concat([ego, oncoming]))["conflict_type"] != "passing"
    # SSM's junction model saw a conflict area: kept as a conflict
    located = template_parameters(pd.concat([ego, waiting]), conflict_position=(1.6, -5.0))
    assert located["conflict_type"] in ("crossing", "opposing")
