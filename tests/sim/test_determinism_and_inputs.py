"""Determinism, batch independence and input validation of the built-in simulator."""

from __future__ import annotations

import numpy as np
import pytest

from safety_val.errors import ValidationError
from safety_val.sim import TEMPLATES, get_template, seed_from_id, simulate


def _cut_in_batch(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "ego_speed": rng.uniform(16.7, 36.1, n),
        "cut_in_speed": rng.uniform(10.0, 36.1, n),
        "cut_in_gap": rng.uniform(2.0, 40.0, n),
        "cut_in_lateral_speed": rng.uniform(0.5, 3.0, n),
        "rain_intensity": rng.uniform(0.0, 16.0, n),
        "sensor_period": rng.choice([0.02, 0.05, 0.1], n),
        "sensor_latency": rng.choice([0.0, 0.1, 0.2], n),
        "lighting": rng.choice(["day", "night"], n),
    }


def test_same_seed_same_kpis() -> None:
    inputs = _cut_in_batch(20)
    seeds = np.arange(20, dtype=np.uint64) + 11
    a = simulate("cut_in", inputs, seeds=seeds, duration=8.0)
    b = simulate("cut_in", inputs, seeds=seeds, duration=8.0)
    for kpi in a.kpis:
        np.testing.assert_array_equal(a.kpis[kpi], b.kpis[kpi])


def test_kpis_independent_of_batch_size_and_order() -> None:
    n = 100
    inputs = _cut_in_batch(n)
    seeds = np.array([seed_from_id(f"{i:016x}") for i in range(n)], dtype=np.uint64)
    full = simulate("cut_in", inputs, seeds=seeds, duration=8.0)
    order = np.random.default_rng(1).permutation(n)
    shuffled = simulate(
        "cut_in", {k: v[order] for k, v in inputs.items()}, seeds=seeds[order], duration=8.0
    )
    for kpi in full.kpis:
        np.testing.assert_array_equal(shuffled.kpis[kpi], full.kpis[kpi][order])
    for i in (0, 37, 99):
        alone = simulate(
            "cut_in", {k: v[i : i + 1] for k, v in inputs.items()}, seeds=seeds[i : i + 1],
            duration=8.0,
        )
        for kpi in full.kpis:
            assert alone.kpis[kpi][0] == full.kpis[kpi][i], (i, kpi)


def test_noise_depends_on_seed() -> None:
    inputs = {"cut_in_gap": 10.0, "sensor_noise_distance": 1.0}
    out = simulate("cut_in", inputs, seeds=np.arange(10), duration=6.0)
    assert len(np.unique(out.kpis["max_deceleration"])) > 1


@pytest.mark.parametrize("dt", [0.0005, 0.2, -0.01])
def test_dt_out_of_range(dt: float) -> None:
    with pytest.raises(ValidationError, match="dt"):
        simulate("cut_in", {}, seeds=[1], dt=dt, duration=0.5)


@pytest.mark.parametrize("dt", [0.001, 0.1])
def test_dt_bounds_accepted(dt: float) -> None:
    out = simulate("cut_in", {}, seeds=[1], dt=dt, duration=0.5)
    assert out.vehicle_steps == 2 * round(0.5 / dt)


def test_unknown_input_is_named() -> None:
    with pytest.raises(ValidationError, match="'ego_sped'") as info:
        simulate("cut_in", {"ego_sped": 20.0}, seeds=[1])
    assert "ego_speed" in str(info.value)  # the valid names are listed


def test_unknown_template_lists_names() -> None:
    with pytest.raises(ValidationError, match="cut_in"):
        get_template("cutin")


def test_invalid_values_raise() -> None:
    with pytest.raises(ValidationError, match="ego_speed"):
        simulate("cut_in", {"ego_speed": [20.0, -1.0]}, seeds=[1, 2])
    with pytest.raises(ValidationError, match="lighting"):
        simulate("cut_in", {"lighting": "dusk"}, seeds=[1])
    with pytest.raises(ValidationError, match="length"):
        simulate("cut_in", {"ego_speed": [20.0, 21.0, 22.0]}, seeds=[1, 2])


def test_every_template_has_metadata() -> None:
    for name, template in TEMPLATES.items():
        assert template.name == name
        assert template.duration > 0
        assert set(template.scenario_parameters) <= set(template.parameters)
        for info in template.parameters.values():
            assert info.unit and info.description
        assert template.kpis[:2] == ("collision", "impact_speed")
    assert "pet" in TEMPLATES["pedestrian_crossing"].kpis


def test_record_shapes() -> None:
    out = simulate("cut_out", {}, seeds=[1, 2], duration=1.0, record=True)
    assert out.trajectories is not None
    assert out.trajectories["x"].shape == (2, 101, 3)
    assert out.trajectories["t"].shape == (101,)
