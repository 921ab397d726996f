"""Tests of the re-weightable importance sample (safety_val.reliability.importance)."""

from __future__ import annotations

import numpy as np
import openturns as ot
import pytest
from scipy import stats

from safety_val.errors import ValidationError
from safety_val.reliability import estimate_failure_probability
from safety_val.reliability.importance import ImportanceSample, draw_importance_sample
from safety_val.reliability.result import FailureProbabilityResult

BETA = 3.0
A = np.array([0.6, 0.8])


def linear(x: np.ndarray) -> np.ndarray:
    """g = beta - a.x with ||a|| = 1: pf = Phi(-beta) under standard normal inputs."""
    return BETA - np.asarray(x) @ A


@pytest.fixture(scope="module")
def form_result() -> FailureProbabilityResult:
    return estimate_failure_probability(linear, ot.Normal(2), method="form", seed=1)


def test_nominal_pf_matches_analytic(form_result: FailureProbabilityResult) -> None:
    sample = draw_importance_sample(form_result, linear, ot.Normal(2), n=2000, seed=3)
    pf, cov = sample.pf()
    exact = float(stats.norm.cdf(-BETA))
    assert abs(pf - exact) < 4.0 * cov * pf
    assert sample.x.shape == (2000, 2) and sample.u.shape == (2000, 2)
    assert sample.n_calls == 2000 + 2  # the model's input probe counts
    assert sample.names == ("x0", "x1")
    # the defensive component bounds the weights by 1 / 0.3
    assert np.exp(sample.log_weight).max() <= 1.0 / 0.3 + 1e-9
    assert 0.0 < sample.effective_sample_size() <= sample.n


def test_likelihood_ratio_reweights_to_a_shifted_mean(
    form_result: FailureProbabilityResult,
) -> None:
    sample = draw_importance_sample(form_result, linear, ot.Normal(2), n=2000, seed=4)
    delta = 1.0
    shifted = ot.Normal([delta, 0.0], [1.0, 1.0], ot.CorrelationMatrix(2))
    log_ratio = (
        np.asarray(shifted.computeLogPDF(sample.x)).ravel()
        - np.asarray(ot.Normal(2).computeLogPDF(sample.x)).ravel()
    )
    pf, cov = sample.pf(log_ratio)
    exact = float(stats.norm.cdf(-(BETA - A[0] * delta)))
    assert abs(pf - exact) < 4.0 * cov * pf
    assert sample.effective_sample_size(log_ratio) < sample.n


def test_without_design_point_uses_failing_samples() -> None:
    mc = estimate_failure_probability(
        lambda x: 1.5 - x[:, 0], ot.Normal(1), method="mc", max_calls=2000, seed=5
    )
    stripped = FailureProbabilityResult(
        pf=mc.pf,
        cov=mc.cov,
        ci=mc.ci,
        n_calls=mc.n_calls,
        converged=False,
        method="mc",
        samples=mc.samples,
        parameter_names=mc.parameter_names,
    )
    sample = draw_importance_sample(stripped, lambda x: 1.5 - x[:, 0], ot.Normal(1), n=1000, seed=6)
    pf, cov = sample.pf()
    assert abs(pf - stats.norm.cdf(-1.5)) < 4.0 * cov * pf


def test_no_failure_asks_for_a_larger_budget() -> None:
    with pytest.warns(UserWarning):
        never = estimate_failure_probability(
            lambda x: 10.0 + 0.0 * x[:, 0], ot.Normal(1), method="mc", max_calls=100, seed=7
        )
    with pytest.raises(ValidationError, match="larger budget"), pytest.warns(UserWarning):
        draw_importance_sample(never, lambda x: 10.0 + 0.0 * x[:, 0], ot.Normal(1), n=10)


def test_bad_size(form_result: FailureProbabilityResult) -> None:
    with pytest.raises(ValidationError, match="n"):
        draw_importance_sample(form_result, linear, ot.Normal(2), n=1)


def test_effective_sample_size_of_equal_weights() -> None:
    sample = ImportanceSample(
        x=np.zeros((5, 1)),
        u=np.zeros((5, 1)),
        g=np.ones(5),
        log_weight=np.zeros(5),
        names=("x0",),
        n_calls=5,
    )
    assert sample.effective_sample_size() == pytest.approx(5.0)
    assert sample.pf() == (0.0, pytest.approx(np.nan, nan_ok=True))
