"""The regression test of nightly campaigns: analytic values, false-alarm rate and power."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from safety_val.campaign.regression import check_probability, compare_estimates
from safety_val.errors import ValidationError


def test_identical_estimates_give_z_zero() -> None:
    test = compare_estimates(0.01, 0.1, 0.01, 0.1)
    assert test.z == 0.0 and test.p_value == 0.5 and not test.flagged and test.ratio == 1.0


def test_doubled_pf_matches_the_delta_method_formula() -> None:
    test = compare_estimates(0.02, 0.1, 0.01, 0.1, alpha=0.01)
    expected = math.log(2.0) / math.hypot(0.1, 0.1)
    assert test.z == pytest.approx(expected, rel=1e-12)
    assert test.p_value == pytest.approx(stats.norm.sf(expected), rel=1e-9)
    assert test.flagged and test.ratio == pytest.approx(2.0)


def test_a_better_pf_is_never_a_regression() -> None:
    test = compare_estimates(0.001, 0.05, 0.01, 0.05)
    assert test.z < -10 and not test.flagged


def test_zero_estimates_fall_back_to_the_interval_test() -> None:
    no_overlap = compare_estimates(0.05, 0.2, 0.0, math.nan, ci_new=(0.03, 0.08), ci_old=(0, 0.01))
    overlap = compare_estimates(0.02, 0.3, 0.0, math.nan, ci_new=(0.005, 0.05), ci_old=(0, 0.01))
    assert no_overlap.test == overlap.test == "interval test"
    assert no_overlap.flagged and not overlap.flagged
    assert math.isinf(no_overlap.ratio) and math.isnan(no_overlap.z)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, "0.01", True, math.nan])
def test_alpha_outside_the_open_unit_interval_is_refused(alpha: object) -> None:
    with pytest.raises(ValidationError, match="probability in \\(0, 1\\)"):
        check_probability(alpha, field="alpha")


def _monte_carlo_estimates(
    rng: np.random.Generator, pf: float, n: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``size`` crude Monte Carlo estimates of ``pf`` with ``n`` draws, and their CoVs."""
    estimate = rng.binomial(n, pf, size) / n
    return estimate, np.sqrt((1.0 - estimate) / (n * estimate))


def _flag_rate(pf_old: float, pf_new: float, n: int, pairs: int, alpha: float) -> float:
    rng = np.random.default_rng(20261121)
    old, cov_old = _monte_carlo_estimates(rng, pf_old, n, pairs)
    new, cov_new = _monte_carlo_estimates(rng, pf_new, n, pairs)
    flags = [
        compare_estimates(a, ca, b, cb, alpha=alpha).flagged
        for a, ca, b, cb in zip(new, cov_new, old, cov_old, strict=True)
    ]
    return float(np.mean(flags))


def test_false_alarm_rate_is_alpha_under_the_null() -> None:
    """Same pf in both runs (2 % with 4000 draws: ~80 failures each): flagged with
    probability alpha, to within 3.5 binomial standard deviations of the simulation."""
    alpha, pairs = 0.01, 10_000
    rate = _flag_rate(0.02, 0.02, 4000, pairs, alpha)
    tolerance = 3.5 * math.sqrt(alpha * (1 - alpha) / pairs)
    assert abs(rate - alpha) <= tolerance, (rate, tolerance)


def test_power_on_a_doubled_pf_matches_the_documented_formula() -> None:
    """pf 2 % -> 4 % with 1000 draws each: power Phi(ln 2 / sd - z_(1-alpha)) ~ 0.59 with
    sd = sqrt(cov_old^2 + cov_new^2) at the true pfs; the simulation's binomial sd is 0.005,
    the delta method's own error allows 0.03 in all."""
    alpha, pairs, n = 0.01, 10_000, 1000
    rate = _flag_rate(0.02, 0.04, n, pairs, alpha)
    sd = math.hypot(math.sqrt(0.98 / (n * 0.02)), math.sqrt(0.96 / (n * 0.04)))
    predicted = stats.norm.cdf(math.log(2.0) / sd - stats.norm.isf(alpha))
    assert 0.5 < predicted < 0.7
    assert abs(rate - predicted) <= 0.03, (rate, predicted)
    assert _flag_rate(0.02, 0.04, 8000, 2000, alpha) > 0.99  # CoV ~ 0.08: doubling is caught
