"""Closed-form checks of the vehicle dynamics and KPIs of the built-in simulator."""

from __future__ import annotations

import numpy as np
import pytest

from safety_val.sim import simulate
from safety_val.sim.templates import SCRIPT_CAR_LAG
from safety_val.sim.vehicle import (
    GRAVITY,
    VehicleState,
    lag_coefficient,
    longitudinal_step,
    mean_lag_coefficient,
    stopping_distance,
)

# ADS settings that make the ego a passive constant-speed vehicle
PASSIVE_EGO = {
    "aeb_ttc_warning": 0.0,
    "aeb_ttc_partial": 0.0,
    "aeb_ttc_full": 0.0,
    "acc_max_decel": 0.0,
    "acc_max_accel": 0.0,
}


def _brake(v0: float, decel: float, tau: float, dt: float, steps: int):
    """Integrate one vehicle under a constant braking command; return (x, a history)."""
    z = np.zeros((1, 1))
    state = VehicleState.create(z, z, z, np.full((1, 1), v0))
    a_cmd = np.full((1, 1), -decel)
    alpha = lag_coefficient(np.full((1, 1), tau), dt)
    gamma = mean_lag_coefficient(np.full((1, 1), tau), dt)
    lo, hi = np.full((1, 1), -20.0), np.full((1, 1), 5.0)
    scratch, dist = np.empty((1, 1)), np.empty((1, 1))
    x = 0.0
    accel = []
    for _ in range(steps):
        longitudinal_step(state, a_cmd, alpha, gamma, lo, hi, dt, scratch, dist)
        x += float(dist[0, 0])
        accel.append(float(state.a[0, 0]))
    return x, np.array(accel), float(state.v[0, 0])


@pytest.mark.parametrize("tau", [0.0, 0.3])
@pytest.mark.parametrize("dt", [0.001, 0.01])
def test_stopping_distance_matches_closed_form(tau: float, dt: float) -> None:
    v0, decel = 25.0, 8.0
    x, _, v_end = _brake(v0, decel, tau, dt, int(6.0 / dt))
    assert v_end == 0.0
    expected = float(stopping_distance(v0, decel, tau))
    assert x == pytest.approx(expected, abs=decel * dt**2 + 1e-6)
    if tau == 0.0:
        assert x == pytest.approx(v0**2 / (2 * decel), abs=decel * dt**2)


def test_actuator_lag_step_response() -> None:
    tau, dt, decel = 0.25, 0.01, 5.0
    _, accel, _ = _brake(30.0, decel, tau, dt, 100)
    t = dt * np.arange(1, 101)
    np.testing.assert_allclose(accel, -decel * (1.0 - np.exp(-t / tau)), rtol=1e-12, atol=1e-12)


def test_scripted_lead_stopping_distance_in_template() -> None:
    v, decel, t_brake, dt = 20.0, 6.0, 1.0, 0.01
    out = simulate(
        "lead_braking",
        {"ego_speed": 5.0, "lead_speed": v, "initial_gap": 200.0, "lead_decel": decel,
         "lead_brake_time": t_brake},
        seeds=[3], dt=dt, duration=8.0, record=True,
    )
    traj = out.trajectories
    assert traj is not None
    k = round(t_brake / dt)
    travelled = traj["x"][0, -1, 1] - traj["x"][0, k, 1]
    expected = float(stopping_distance(v, decel, SCRIPT_CAR_LAG))
    assert travelled == pytest.approx(expected, abs=0.05)
    assert traj["v"][0, -1, 1] == 0.0


def test_ttc_of_constant_speed_approach_is_gap_over_closing_speed() -> None:
    gap0, v_ego, v_lead, dt = 60.0, 25.0, 15.0, 0.01
    out = simulate(
        "lead_braking",
        {"ego_speed": v_ego, "lead_speed": v_lead, "initial_gap": gap0,
         "lead_brake_time": 100.0, "actuator_lag": 2.0, **PASSIVE_EGO},
        seeds=[1], dt=dt, duration=dt,
    )
    gap1 = gap0 - (v_ego - v_lead) * dt
    assert out.kpis["min_ttc"][0] == pytest.approx(gap1 / (v_ego - v_lead), rel=1e-6)
    assert out.kpis["min_gap"][0] == pytest.approx(gap1, rel=1e-6)
    assert out.kpis["min_time_headway"][0] == pytest.approx(gap1 / v_ego, rel=1e-6)


def test_ttc_is_infinite_when_never_closing() -> None:
    out = simulate(
        "lead_braking",
        {"ego_speed": 20.0, "lead_speed": 25.0, "lead_brake_time": 100.0, **PASSIVE_EGO},
        seeds=[1], duration=3.0,
    )
    assert np.isinf(out.kpis["min_ttc"][0])


@pytest.mark.parametrize("mu", [0.3, 0.6])
def test_friction_caps_deceleration(mu: float) -> None:
    out = simulate(
        "lead_braking",
        {"ego_speed": 25.0, "lead_speed": 25.0, "initial_gap": 25.0, "lead_decel": 9.0,
         "friction_coefficient": mu},
        seeds=np.arange(4), duration=10.0,
    )
    max_dec = out.kpis["max_deceleration"]
    assert np.all(max_dec <= mu * GRAVITY + 1e-9)
    assert np.all(max_dec >= 0.98 * mu * GRAVITY)


def test_lane_change_ends_at_target_offset() -> None:
    lane = 3.5
    out = simulate(
        "cut_in",
        {"cut_in_gap": 200.0, "ego_speed": 20.0, "cut_in_speed": 25.0, "lane_width": lane,
         "cut_in_lateral_speed": 1.0},
        seeds=[5], duration=10.0, record=True,
    )
    traj = out.trajectories
    assert traj is not None
    y = traj["y"][0, :, 1]
    assert y[0] == lane
    assert abs(y[-1]) < 0.02
    lateral_speed = np.diff(y) / 0.01
    assert lateral_speed.min() >= -1.0 - 1e-6  # the lateral speed limit is respected
    assert np.all(traj["y"][0, :, 0] == 0.0)  # the ego keeps its lane


def test_forced_collision_and_impact_speed() -> None:
    out = simulate(
        "lead_braking",
        {"ego_speed": 20.0, "lead_speed": 0.0, "initial_gap": 30.0, **PASSIVE_EGO},
        seeds=[9], duration=5.0,
    )
    k = out.kpis
    assert k["collision"][0] == 1.0
    assert k["impact_speed"][0] == pytest.approx(20.0, abs=1e-9)
    assert k["min_gap"][0] == 0.0
    assert k["min_ttc"][0] == 0.0
    assert k["min_time_headway"][0] == 0.0
    # the scenario froze at contact: the passive ego closes the 30 m gap at 20 m/s in 1.5 s
    # (150 steps of 10 ms; rounding may detect the contact one step later), far less than
    # the 5 s (500 steps) of the duration. Two agents: vehicle_steps = 2 x steps.
    agents, contact, full = 2, round(30.0 / 20.0 / 0.01), round(5.0 / 0.01)
    assert out.vehicle_steps % agents == 0
    steps = out.vehicle_steps // agents
    assert contact <= steps <= contact + 1, steps
    assert steps < full / 3, steps


def test_kpis_never_nan_for_valid_inputs() -> None:
    from safety_val.sim import TEMPLATES

    for name in TEMPLATES:
        out = simulate(name, {}, seeds=np.arange(8), duration=6.0)
        for kpi, values in out.kpis.items():
            assert not np.isnan(values).any(), (name, kpi)


def test_pedestrian_pet_matches_trajectories() -> None:
    dt = 0.01
    out = simulate(
        "pedestrian_crossing",
        {"ego_speed": 10.0, "acc_set_speed": 16.0, "acc_max_accel": 2.0,
         "aeb_ttc_warning": 0.0, "aeb_ttc_partial": 0.0, "aeb_ttc_full": 0.0,
         "acc_max_decel": 0.0, "pedestrian_speed": 1.0, "impact_position": 0.2,
         "pedestrian_lateral_offset": 3.0},
        seeds=[2], dt=dt, duration=8.0, record=True,
    )
    traj = out.trajectories
    assert traj is not None
    assert out.kpis["collision"][0] == 0.0
    t = traj["t"]
    gap = traj["x"][0, :, 1] - traj["x"][0, :, 0] - (4.5 + 0.3) / 2
    ego_in = (gap <= 0) & (gap > -(4.5 + 0.3))
    ped_in = np.abs(traj["y"][0, :, 1]) < (1.8 + 0.5) / 2
    assert ego_in.any() and ped_in.any()
    ego_exit = t[ego_in][-1]
    ped_enter = t[ped_in][0] - dt
    assert ego_exit <= ped_enter  # the ego passed first
    assert out.kpis["pet"][0] == pytest.approx(ped_enter - ego_exit, abs=1e-9)
    assert out.kpis["pet"][0] > 0.0


def test_pet_zero_on_collision_and_infinite_without_conflict() -> None:
    hit = simulate("pedestrian_crossing", {**PASSIVE_EGO}, seeds=[1], duration=10.0)
    assert hit.kpis["collision"][0] == 1.0
    assert hit.kpis["pet"][0] == 0.0
    never = simulate("pedestrian_crossing", {"pedestrian_start_time": 50.0}, seeds=[1],
                     duration=5.0)
    assert np.isinf(never.kpis["pet"][0])
