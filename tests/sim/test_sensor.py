"""Statistical checks of the sensor model (detection probability, noise, weather)."""

from __future__ import annotations

import numpy as np
import pytest

from safety_val.sim import rng
from safety_val.sim.sensor import (
    SensorSettings,
    base_probability,
    detection_probability,
    effective_range,
    measure,
)

N = 20_000


def _settings(*, rain: float = 0.0, fog: float = 10_000.0, light: float = 1.0) -> SensorSettings:
    col = lambda v: np.full((N, 1), float(v))  # noqa: E731
    return SensorSettings(
        effective_range=col(effective_range(150.0, fog, 1.0)),
        tan_half_fov=col(np.tan(np.radians(30.0))),
        base_probability=col(base_probability(0.99, rain, 0.02, light)),
        noise_distance=col(0.1),
        noise_distance_rel=col(0.01),
        noise_lateral=col(0.1),
        noise_speed=col(0.1),
    )


def _detection_rate(settings: SensorSettings, distance: float = 60.0) -> tuple[float, float]:
    gap = np.full((N, 1), distance)
    zeros = np.zeros((N, 1))
    keys = rng.scenario_keys(np.arange(N))
    m = measure(gap, zeros, zeros, zeros, settings, keys, cycle=3)
    p = float(detection_probability(distance, effective_range=settings.effective_range[0, 0],
                                    base_probability=settings.base_probability[0, 0]))
    return float(m.detected.mean()), p


def _tolerance(p: float) -> float:
    return 4.0 * np.sqrt(max(p * (1 - p), 1e-4) / N)


@pytest.mark.parametrize(
    "conditions", [{}, {"rain": 16.0}, {"fog": 100.0}, {"light": 0.75}],
)
def test_detection_frequency_matches_model(conditions: dict[str, float]) -> None:
    rate, p = _detection_rate(_settings(**conditions))
    assert rate == pytest.approx(p, abs=_tolerance(p))


def test_rain_fog_and_darkness_lower_detection() -> None:
    clear, p_clear = _detection_rate(_settings())
    for conditions in ({"rain": 16.0}, {"fog": 90.0}, {"light": 0.75}):
        degraded, p = _detection_rate(_settings(**conditions))
        assert p < p_clear
        # the drop is significant against the binomial noise of both estimates
        assert clear - degraded > _tolerance(p_clear) + _tolerance(p)
    beyond, _ = _detection_rate(_settings(fog=50.0), distance=60.0)
    assert beyond == 0.0  # fog shortens the range below the target distance


def test_measurement_noise_has_modelled_std() -> None:
    distance = 50.0
    gap = np.full((N, 1), distance)
    zeros = np.zeros((N, 1))
    m = measure(gap, zeros, zeros, zeros, _settings(), rng.scenario_keys(np.arange(N)), cycle=1)
    sigma = 0.1 + 0.01 * distance
    err = m.gap[:, 0] - distance
    assert abs(err.mean()) < 4 * sigma / np.sqrt(N)
    assert err.std() == pytest.approx(sigma, rel=4 / np.sqrt(2 * N))
    assert abs(np.corrcoef(err, m.dvx[:, 0])[0, 1]) < 4 / np.sqrt(N)


def test_out_of_field_of_view_is_never_detected() -> None:
    gap = np.full((N, 1), 10.0)
    dy = np.full((N, 1), 8.0)  # bearing 38.7 deg > 30 deg
    zeros = np.zeros((N, 1))
    m = measure(gap, dy, zeros, zeros, _settings(), rng.scenario_keys(np.arange(N)), cycle=0)
    assert not m.detected.any()


def test_a_car_whose_side_is_in_the_field_of_view_is_seen() -> None:
    """Cut-in at close range: centre 2.95 m to the side at 5 m, just outside the 30 deg half
    cone (5 tan 30 = 2.89 m), but its near side (0.9 m closer) inside it."""
    gap = np.full((N, 1), 5.0)
    dy = np.full((N, 1), 2.95)
    zeros = np.zeros((N, 1))
    keys = rng.scenario_keys(np.arange(N))
    centre_only = measure(gap, dy, zeros, zeros, _settings(), keys, cycle=0)
    with_width = measure(gap, dy, zeros, zeros, _settings(), keys, cycle=0, half_width=0.9)
    assert not centre_only.detected.any()
    assert with_width.detected.mean() > 0.9
    # a car whose near side is also beyond the cone edge stays unseen
    far = measure(gap, np.full((N, 1), 3.0 + 0.9), zeros, zeros, _settings(), keys, cycle=0,
                  half_width=0.9)
    assert not far.detected.any()


def test_uniforms_are_uniform_and_streams_independent() -> None:
    keys = rng.scenario_keys(np.arange(N))
    u = rng.uniform(keys, 0, 0)
    v = rng.uniform(keys, 0, 1)
    w = rng.uniform(keys, 1, 0)
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    chi2 = float(((counts - N / 10) ** 2 / (N / 10)).sum())
    assert chi2 < 27.9  # 99.9 % quantile of chi2(9)
    assert abs(np.corrcoef(u, v)[0, 1]) < 4 / np.sqrt(N)
    assert abs(np.corrcoef(u, w)[0, 1]) < 4 / np.sqrt(N)
