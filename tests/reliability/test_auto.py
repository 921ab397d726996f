"""Tests of method "auto" (the default): choice and chaining of methods."""

from __future__ import annotations

import math

import numpy as np
import openturns as ot
import pytest
from scipy import stats

from safety_val.errors import ValidationError
from safety_val.reliability import estimate_failure_probability


class Linear:
    """g = beta - sum(x) / sqrt(d): pf = Phi(-beta)."""

    def __init__(self, beta: float, dimension: int) -> None:
        self.beta = beta
        self.dimension = dimension

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.beta - x.sum(axis=1) / math.sqrt(self.dimension)


def test_low_dimension_uses_the_surrogate() -> None:
    exact = float(stats.norm.sf(4.0))
    result = estimate_failure_probability(Linear(4.0, 3), ot.Normal(3), seed=0)
    assert result.method == "auto: ak"
    assert result.converged, result.message
    assert result.ci[0] <= exact <= result.ci[1]
    assert result.n_calls <= 150
    assert "d=3" in result.message
    assert result.details["chain"][0]["method"] == "ak"


def test_high_dimension_uses_adaptive_importance_sampling() -> None:
    exact = float(stats.norm.sf(3.5))
    result = estimate_failure_probability(Linear(3.5, 40), ot.Normal(40), seed=1)
    assert result.method == "auto: ais"
    assert result.converged, result.message
    assert result.ci[0] <= exact <= result.ci[1]
    assert result.n_calls <= 5000
    assert set(result.samples["stage"]) == {"probe", "ais-level", "ais-noise-check", "ais"}


def test_no_failure_region_chains_to_fallback_and_never_reports_silent_zero() -> None:
    result = estimate_failure_probability(
        lambda x: 12.0 - x[:, 0], ot.Normal(2), seed=2, max_calls=600, fallback="mc"
    )
    assert not result.converged
    assert result.method == "auto: ak → mc"
    assert "no failure region" in result.message
    assert [stage["method"] for stage in result.details["chain"]] == ["ak", "mc"]
    assert result.ci[1] > 0.0
    assert result.n_calls == len(result.samples) == result.details["chain"][-1]["n_calls"]


def test_tiny_budget_does_not_converge() -> None:
    result = estimate_failure_probability(Linear(4.0, 2), ot.Normal(2), seed=3, max_calls=12)
    assert not result.converged
    assert result.message
    assert result.n_calls <= 12


def test_fallback_must_be_surrogate_free() -> None:
    with pytest.raises(ValidationError, match="fallback"):
        estimate_failure_probability(Linear(3.0, 2), ot.Normal(2), seed=0, fallback="ak")


def test_high_dimension_importance_sampling_stops_with_a_margin() -> None:
    """ais stops at 0.9 * target_cov (the stopping rule understates the CoV)."""
    result = estimate_failure_probability(
        Linear(3.5, 40), ot.Normal(40), seed=2, target_cov=0.1
    )
    assert result.converged, result.message
    assert result.cov <= 0.09


def _islands(x: np.ndarray, *, rare: bool) -> np.ndarray:
    """Failure where sin(6 x0) > 0.9 and (sin(6 x1) > 0.9, or x1 > 3 if ``rare``): a binary,
    discontinuous limit state no Gaussian process models, with an exact pf."""
    second = x[:, 1] > 3.0 if rare else np.sin(6.0 * x[:, 1]) > 0.9
    return np.where((np.sin(6.0 * x[:, 0]) > 0.9) & second, -1.0, 1.0)


def _island_probability() -> float:
    """P(sin(6 X) > 0.9) for a standard normal X: a sum over the intervals where it holds."""
    a, k = math.asin(0.9), np.arange(-40, 41)
    low, high = (a + 2 * np.pi * k) / 6.0, (np.pi - a + 2 * np.pi * k) / 6.0
    return float(np.sum(stats.norm.cdf(high) - stats.norm.cdf(low)))


def test_binary_limit_state_on_a_common_event_goes_to_crude_monte_carlo() -> None:
    """pf about 0.02 on a binary limit state: the diagnosis sees the plateau (no
    surrogate) and the crude MC screen, which pf this common makes the cheapest unbiased
    estimator, converges in about (1 - pf) / (pf 0.1^2) draws."""
    exact = _island_probability() ** 2
    result = estimate_failure_probability(
        lambda x: _islands(x, rare=False), ot.Normal(2), seed=2, max_calls=30_000
    )
    assert result.method == "auto: mc" and result.converged, result.message
    assert "plateau" in result.message and "pf is not rare" in result.message
    assert [stage["method"] for stage in result.details["chain"]] == ["mc"]
    assert result.ci[0] <= exact <= result.ci[1]
    needed = (1 - exact) / (exact * 0.1**2)
    assert result.n_calls <= 1.5 * needed + 1000
    assert result.n_calls == len(result.samples)


def test_crude_monte_carlo_screen_gives_up_on_a_rare_event() -> None:
    """pf about 2e-4: the screen stops after its pilot of 200 draws (0 failures: even at the
    upper bound crude MC would need more than 5,000) and ais starts from those draws."""
    exact = _island_probability() * float(stats.norm.sf(3.0))
    result = estimate_failure_probability(
        lambda x: _islands(x, rare=True), ot.Normal(2), seed=1, max_calls=30_000
    )
    chain = result.details["chain"]
    assert result.method == "auto: mc → ais"
    assert [stage["method"] for stage in chain] == ["mc", "ais"]
    assert chain[0]["n_calls"] == 2 + 16 + 200  # probe, diagnosis, screen
    assert "gave up after 200 calls (0 failures)" in chain[0]["message"]
    assert result.converged, result.message
    assert result.ci[0] <= exact <= result.ci[1]
    assert result.n_calls == len(result.samples) == chain[-1]["n_calls"]
