"""Junction templates: conflict geometry, kinematics, KPIs and the yielding urban ADS."""

from __future__ import annotations

import numpy as np
import pytest

from safety_val.sim import get_template, simulate
from safety_val.sim.junction_templates import RUN_IN, STOP_LINE_SETBACK, crossing_offsets
from safety_val.sim.paths import Paths, conflict_intervals
from safety_val.sim.urban_ads import (
    SIGNAL_NONE,
    UrbanAdsSettings,
    junction_command,
    time_to_travel,
)

DT = 0.01
LANE = 3.5
ZONE = 4.5 + 1.8  # a car's length plus the crossing car's width: its time in the area
#: The ego drives at constant speed and sees nothing: set speed = its speed, blind sensor.
BLIND = {"detection_probability": 0.0, "right_of_way": "ego", "lane_width": LANE}


def _blind(ego_speed: float, **inputs: object) -> dict[str, object]:
    return {**BLIND, "ego_speed": ego_speed, "acc_set_speed": ego_speed, **inputs}


def test_a_crossing_car_collides_exactly_when_the_occupancies_overlap() -> None:
    # ego 20 m from the conflict area at 10 m/s: in it during [2.0, 2.63] s; the other
    # car at 10 m/s enters at d / 10: overlap (collision) iff 1.37 < d < 26.3
    distances = np.array([13.0, 14.0, 25.0, 27.0, 40.0])
    out = simulate("junction_crossing", {**_blind(10.0, ego_distance=20.0),
                                        "other_speed": 10.0, "other_distance": distances,
                                        "other_behaviour": "proceeds"},
                   seeds=np.arange(5), dt=DT, duration=6.0)
    kpis = out.kpis
    assert kpis["collision"].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    hit = kpis["collision"] == 1.0
    # perpendicular paths: the relative speed is the hypotenuse of the two speeds
    assert kpis["impact_speed"][hit] == pytest.approx(np.hypot(10.0, 10.0))
    assert (kpis["pet"][hit] == 0.0).all() and (kpis["min_ttc"][hit] == 0.0).all()
    # no collision: PET from the constant-speed occupancies, within one step
    # d = 13: the other car leaves at 1.93 s, the ego enters at 2.0 s
    # d = 27, 40: the ego leaves at 2.63 s, the other enters at 2.7 s / 4.0 s
    expected = [2.0 - (13.0 + ZONE) / 10.0, 2.7 - 2.63, 4.0 - 2.63]
    assert kpis["pet"][~hit] == pytest.approx(expected, abs=1.5 * DT)
    # the crossing car had no right of way: its time in the conflict area is the
    # encroachment time, 0.63 s at 10 m/s
    assert kpis["encroachment_time"][~hit] == pytest.approx(ZONE / 10.0, abs=1.5 * DT)


def test_the_collision_happens_at_the_time_the_kinematics_give() -> None:
    # ego enters at 20 / 10 = 2.0 s, the other (d = 18 m, 12 m/s) at 1.5 s: contact
    # when the later one enters, t = 2.0 s; the scene freezes there
    out = simulate("junction_crossing", {**_blind(10.0, ego_distance=20.0),
                                        "other_speed": 12.0, "other_distance": 18.0,
                                        "other_behaviour": "proceeds"},
                   seeds=[1], dt=DT, duration=4.0, record=True)
    assert out.kpis["collision"][0] == 1.0
    x = out.trajectories["x"][0, :, 0]
    frozen = int(np.argmax(np.diff(x) == 0.0))  # first step without motion
    assert frozen * DT == pytest.approx(2.0, abs=1.5 * DT)


def test_ttc_of_a_constant_speed_collision_course_counts_down() -> None:
    # both enter at 3 s: the conflict-area TTC at the start is 3 s, 0 at the contact
    out = simulate("junction_crossing", {**_blind(10.0, ego_distance=30.0),
                                        "other_speed": 10.0, "other_distance": 30.0,
                                        "other_behaviour": "proceeds"},
                   seeds=[1], dt=DT, duration=1.0)
    assert out.kpis["min_ttc"][0] == pytest.approx(3.0 - 1.0, abs=1e-9)


def test_the_yielding_ads_gives_way_to_a_crossing_car_with_the_right_of_way() -> None:
    scene = {"ego_speed": 10.0, "ego_distance": 30.0, "other_speed": 10.0,
             "other_distance": 30.0, "lane_width": LANE, "other_behaviour": "proceeds",
             "speed_limit": 10.0}
    out = simulate("junction_crossing", {**scene, "right_of_way": ["other", "ego"]},
                   seeds=[1, 2], dt=DT, duration=6.0, record=True)
    kpis = out.kpis
    assert kpis["collision"].tolist() == [0.0, 0.0]
    # priority to the other: the ego slows down before its stop line and lets it pass
    # first (the two would have met at 3 s)
    tr = out.trajectories
    line = -LANE - STOP_LINE_SETBACK - 4.5 / 2.0  # centre with the front at the line
    other_in = int(np.argmax(tr["y"][0, :, 1] >= -LANE / 2 - 0.9 - 2.25))
    assert tr["x"][0, other_in, 0] < line
    assert tr["v"][0, :, 0].min() < 5.0
    assert kpis["pet"][0] >= 1.0
    # the ego has the right of way but the other does not yield: the ego brakes for it
    assert kpis["max_deceleration"][1] > 3.0


def test_the_yielding_ads_keeps_going_when_the_crossing_car_gives_way() -> None:
    scene = {"ego_speed": 10.0, "ego_distance": 30.0, "other_speed": 10.0,
             "other_distance": 40.0, "lane_width": LANE, "right_of_way": "ego",
             "other_behaviour": "yields", "other_decel": 3.0, "speed_limit": 10.0}
    out = simulate("junction_crossing", scene, seeds=[1], dt=DT, duration=8.0, record=True)
    assert out.kpis["collision"][0] == 0.0
    assert out.kpis["max_deceleration"][0] < 0.5  # no braking
    assert out.kpis["pet"][0] == np.inf  # the other stops before the conflict area
    assert out.trajectories["v"][0, :, 0].min() > 9.9


def test_the_ego_stops_at_red_and_drives_off_at_green() -> None:
    scene = {"ego_speed": 10.0, "ego_distance": 40.0, "other_distance": 200.0,
             "lane_width": LANE, "right_of_way": "ego_red"}
    out = simulate("junction_crossing", {**scene, "signal_change_time": [1000.0, 7.0]},
                   seeds=[1, 2], dt=DT, duration=11.0, record=True)
    x = out.trajectories["x"][:, :, 0]
    line = -LANE - STOP_LINE_SETBACK - 4.5 / 2.0
    assert x[0].max() <= line + 0.01  # red all along: it waits at the stop line
    assert x[1, -1] > 5.0  # green after 7 s: it crossed the junction
    assert out.kpis["red_light_violation"].tolist() == [0.0, 0.0]


def test_a_yellow_light_stops_the_ego_only_where_it_comfortably_can() -> None:
    # yellow at t = 0 s; 3.5 m/s^2 stop from 10 m/s needs 14.3 m: at 40 m it stops,
    # at 8 m it goes on and clears the line before the red (3 s later)
    scene = {"ego_speed": 10.0, "other_distance": 200.0, "lane_width": LANE,
             "right_of_way": "ego_green", "signal_change_time": 0.0}
    out = simulate("junction_crossing", {**scene, "ego_distance": [40.0, 8.0]},
                   seeds=[1, 2], dt=DT, duration=7.0, record=True)
    x = out.trajectories["x"][:, -1, 0]
    line = -LANE - STOP_LINE_SETBACK - 4.5 / 2.0
    assert x[0] <= line + 0.01 and x[1] > line
    assert out.kpis["red_light_violation"].tolist() == [0.0, 0.0]


def test_left_turn_yields_to_oncoming_traffic_and_a_blind_turn_collides() -> None:
    scene = {"ego_speed": 8.0, "ego_distance": 25.0, "other_speed": 11.0,
             "lane_width": LANE, "turning": "ego"}
    # oncoming car timed to meet the turning ego (at the ego's free-flow turn speed)
    out = simulate("junction_left_turn", {**scene, "other_distance": [44.0, 44.0],
                                          "detection_probability": [0.99, 0.0]},
                   seeds=[1, 2], dt=DT, duration=9.0)
    assert out.kpis["collision"].tolist() == [0.0, 1.0]
    assert out.kpis["pet"][0] > 1.0


def test_the_turning_ego_yields_to_a_pedestrian_on_the_crosswalk() -> None:
    scene = {"ego_speed": 8.0, "ego_distance": 20.0, "pedestrian_speed": 1.4,
             "pedestrian_distance": 5.0, "lane_width": LANE, "turn": "right"}
    out = simulate("junction_pedestrian", {**scene, "detection_probability": [0.99, 0.0]},
                   seeds=[1, 2], dt=DT, duration=9.0)
    assert out.kpis["collision"].tolist() == [0.0, 1.0]  # blind, it hits the pedestrian
    assert out.kpis["pet"][0] > 0.5  # the pedestrian crosses first
    assert out.kpis["encroachment_time"][0] > 0.0  # and then the ego


def test_vectorised_equals_row_by_row() -> None:
    rng = np.random.default_rng(4)
    for name, extra in (("junction_crossing", {"other_direction": ["left", "right"] * 4,
                                               "right_of_way": ["ego", "other", "ego_green",
                                                                "ego_red"] * 2,
                                               "other_behaviour": ["yields", "proceeds"] * 4,
                                               "corner_setback": rng.uniform(2, 40, 8),
                                               "signal_change_time": rng.uniform(0, 6, 8)}),
                        ("junction_left_turn", {"turning": ["ego", "other"] * 4,
                                                "turn_radius": rng.uniform(6, 20, 8),
                                                "other_behaviour": ["yields", "proceeds"] * 4}),
                        ("junction_pedestrian", {"turn": ["left", "right"] * 4,
                                                 "pedestrian_side": ["near"] * 4 + ["far"] * 4,
                                                 "turn_radius": rng.uniform(5, 15, 8)})):
        other = "pedestrian" if name == "junction_pedestrian" else "other"
        inputs = {"ego_speed": rng.uniform(4, 14, 8), "ego_distance": rng.uniform(10, 40, 8),
                  f"{other}_speed": rng.uniform(1, 12, 8) if other == "other"
                  else rng.uniform(0.8, 2.5, 8),
                  f"{other}_distance": rng.uniform(2, 40, 8) if other == "other"
                  else rng.uniform(0.5, 8, 8),
                  "sensor_latency": rng.uniform(0.0, 0.2, 8),
                  "sensor_period": rng.choice([0.02, 0.05, 0.1], 8), **extra}
        seeds = rng.integers(0, 2**63, 8, dtype=np.uint64)
        batch = simulate(name, inputs, seeds=seeds, dt=DT, duration=3.0)
        for i in (3, 6):
            row = {k: np.asarray(v)[i:i + 1] for k, v in inputs.items()}
            single = simulate(name, row, seeds=seeds[i:i + 1], dt=DT, duration=3.0)
            for kpi, values in batch.kpis.items():
                assert np.array_equal(values[i:i + 1], single.kpis[kpi]), (name, i, kpi)


def test_conflict_interval_of_a_turning_path_matches_a_dense_search() -> None:
    template = get_template("junction_left_turn")
    values, _ = template.resolve({"turn_radius": 12.0, "lane_width": LANE}, 1)
    setup = template.build(values, 1)
    paths, entry = setup.paths, setup.entry
    # the ego's body first overlaps the oncoming lane band |y - w/2| <= 0.9 m
    s = np.arange(entry[0, 0] - 1.0, entry[0, 0] + 1.0, 1e-4)
    _, y, psi = paths.column(0).pose(s.reshape(1, 1, -1))
    c, sn = np.cos(psi), np.sin(psi)
    corners_y = y[..., None] + np.stack([2.25 * sn + 0.9 * c, 2.25 * sn - 0.9 * c,
                                         -2.25 * sn - 0.9 * c, -2.25 * sn + 0.9 * c], -1)
    touching = (corners_y.max(axis=-1) >= LANE / 2 - 0.9).ravel()
    assert s[np.argmax(touching)] == pytest.approx(entry[0, 0], abs=2e-4)
    # and the crossing of the centre lines lies inside both intervals
    off_e, off_o = crossing_offsets("junction_left_turn", {"turn_radius": 12.0,
                                                           "lane_width": LANE})
    assert 0.0 < off_e[0] < setup.exit[0, 0] - entry[0, 0]
    assert 0.0 < off_o[0] < setup.exit[0, 1] - entry[0, 1]


def test_perpendicular_conflict_intervals_in_closed_form() -> None:
    p = Paths(np.array([[-RUN_IN, 1.75]]), np.array([[-1.75, -RUN_IN]]),
              np.array([[0.0, np.pi / 2]]), np.full((1, 2), np.inf), np.zeros((1, 2)),
              np.zeros((1, 2)))
    entry, exit_ = conflict_intervals(p, np.full((1, 2), 4.5), np.full((1, 2), 1.8),
                                      np.array([[0.0, 2 * RUN_IN]]))
    # the ego's centre reaches x = 1.75 - 0.9 - 2.25; the other's y = -1.75 - 0.9 - 2.25
    assert entry[0].tolist() == pytest.approx([RUN_IN + 1.75 - 3.15, RUN_IN - 1.75 - 3.15])
    assert (exit_ - entry)[0].tolist() == pytest.approx([6.3, 6.3])


def _settings(**overrides: float) -> UrbanAdsSettings:
    base = dict(set_speed=10.0, cruise_gain=0.4, max_accel=2.0, comfort_decel=3.5,
                max_decel=9.0, critical_gap=4.5, gap_margin=1.5, approach_speed=6.9,
                violation_decel=4.0, ttc_warning=3.0, ttc_partial=2.0, ttc_full=1.2,
                warning_decel=0.0, partial_decel=5.0)
    base.update(overrides)
    return UrbanAdsSettings(**{k: np.array([[v]]) for k, v in base.items()})


def _decide(foe_entry: float, *, speed: float = 0.0, must_yield: bool = True,
            foe_speed: float = 10.0) -> tuple[bool, float]:
    d = junction_command(
        _settings(), speed=np.array([speed]), stop_distance=np.array([0.6]),
        signal=np.array([SIGNAL_NONE]), minor=np.array([True]), entry=np.array([[2.0]]),
        exit_=np.array([[8.0]]), must_yield=np.array([[must_yield]]),
        valid=np.array([[True]]), foe_entry=np.array([[foe_entry]]),
        foe_exit=np.array([[foe_entry + 6.3]]), foe_speed=np.array([[foe_speed]]),
        stage=np.array([0.0]))
    return bool(d.yielding[0]), float(d.accel[0])


def test_gap_acceptance_at_the_critical_gap() -> None:
    # standing at the line, the ego needs sqrt(2 * 8 / 2) = 2.83 s to clear the area:
    # a priority car must be max(4.5, 2.83 + 1.5) = 4.5 s away
    t_clear = float(time_to_travel(8.0, 0.0, 2.0, 10.0))
    assert t_clear == pytest.approx(np.sqrt(8.0))
    assert _decide(44.9)[0] and not _decide(45.1)[0]
    # the same car without the right of way (it gives way at 4 m/s^2 or less): no yield
    assert not _decide(44.9, must_yield=False)[0]
    # ... unless it could not stop: 10^2 / (2 d) > 4 m/s^2 for d < 12.5 m
    assert _decide(12.0, must_yield=False)[0] and not _decide(13.0, must_yield=False)[0]
