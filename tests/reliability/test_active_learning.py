"""Tests of method "ak" (active-learning Kriging + importance sampling, honest error)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import openturns as ot
import pytest
from scipy import stats

from safety_val.errors import ValidationError
from safety_val.execution import SerialExecutor, make_executor
from safety_val.reliability import estimate_failure_probability

SQRT2 = math.sqrt(2.0)
FOUR_BRANCH_PF = 2.2227950661944e-3


def four_branch(x: np.ndarray) -> np.ndarray:
    """Four-branch series system (Waarts 2000), x ~ N(0, I2)."""
    x1, x2 = x[:, 0], x[:, 1]
    return np.minimum.reduce(
        [
            3.0 + 0.1 * (x1 - x2) ** 2 - (x1 + x2) / SQRT2,
            3.0 + 0.1 * (x1 - x2) ** 2 + (x1 + x2) / SQRT2,
            (x1 - x2) + 7.0 / SQRT2,
            (x2 - x1) + 7.0 / SQRT2,
        ]
    )


class Linear:
    """g = beta - sum(x) / sqrt(d): pf = Phi(-beta) exactly (picklable)."""

    def __init__(self, beta: float, dimension: int) -> None:
        self.beta = beta
        self.dimension = dimension

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.beta - x.sum(axis=1) / math.sqrt(self.dimension)


class CountingLimitState:
    """Records the size of every batch it is called with."""

    def __init__(self, limit_state: Callable[[np.ndarray], np.ndarray]) -> None:
        self.limit_state = limit_state
        self.sizes: list[int] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.sizes.append(len(x))
        return self.limit_state(x)


@pytest.mark.parametrize(("beta", "dimension", "seed"), [(3.0, 2, 0), (3.0, 4, 1), (5.0, 3, 2)])
def test_linear_limit_state_within_interval_with_few_calls(
    beta: float, dimension: int, seed: int
) -> None:
    exact = float(stats.norm.sf(beta))
    result = estimate_failure_probability(
        Linear(beta, dimension), ot.Normal(dimension), method="ak", seed=seed
    )
    assert result.converged, result.message
    assert result.ci[0] <= exact <= result.ci[1]
    assert abs(result.pf - exact) / exact < 0.15
    assert result.n_calls <= 150
    assert result.method == "ak"
    assert set(result.samples["stage"]) >= {"ak-initial", "ak-correction"}
    assert len(result.design_points) == 1
    assert result.design_points[0].beta == pytest.approx(beta, rel=0.05)


def test_four_branch_finds_its_modes_with_a_small_budget() -> None:
    result = estimate_failure_probability(
        four_branch, ot.Normal(2), method="ak", seed=3, max_calls=300
    )
    assert result.converged, result.message
    assert abs(result.pf - FOUR_BRANCH_PF) / FOUR_BRANCH_PF < 0.10
    assert result.ci[0] <= FOUR_BRANCH_PF <= result.ci[1]
    assert result.n_calls <= 300
    assert result.details["n_modes"] >= 2
    assert len(result.design_points) >= 2
    directions = {tuple(np.sign(np.round(dp.u, 1))) for dp in result.design_points}
    assert len(directions) >= 2  # distinct modes, not one point found twice
    details = result.details
    low, high = details["pf_bounds"]
    assert low <= details["pf_surrogate"] <= high
    assert 0.0 <= details["surrogate_error_share"] <= 1.0


def test_batch_enrichment_sends_k_points_per_round() -> None:
    counting = CountingLimitState(four_branch)
    result = estimate_failure_probability(
        counting, ot.Normal(2), method="ak", seed=4, batch_size=5, n_initial=12
    )
    stages = result.samples["stage"]
    assert (stages == "ak-initial").sum() == 12
    enrichment = int((stages == "ak-enrichment").sum())
    assert enrichment % 5 == 0 and enrichment >= 5
    # probe (2), one initial batch (12), then batches of exactly 5: never point by point
    assert counting.sizes[:2] == [2, 12]
    assert set(counting.sizes[2:]) == {5}
    assert result.details["batch_size"] == 5


def test_tiny_budget_does_not_converge_and_says_why() -> None:
    result = estimate_failure_probability(
        four_branch, ot.Normal(2), method="ak", seed=0, max_calls=12
    )
    assert not result.converged
    assert result.n_calls <= 12
    assert "max_calls" in result.message or "budget" in result.message
    assert result.pf != 0.0 or result.ci[1] > 0.0  # never a silent zero


def test_honest_interval_over_seeds() -> None:
    exact = float(stats.norm.sf(3.0))
    covered = 0
    for seed in range(10):
        result = estimate_failure_probability(
            Linear(3.0, 2), ot.Normal(2), method="ak", seed=100 + seed, n_check=8
        )
        covered += result.ci[0] <= exact <= result.ci[1]
    assert covered >= 8


def test_same_seed_same_result_with_serial_executor() -> None:
    a = estimate_failure_probability(Linear(3.0, 2), ot.Normal(2), method="ak", seed=7)
    b = estimate_failure_probability(
        Linear(3.0, 2), ot.Normal(2), method="ak", seed=7, executor=SerialExecutor()
    )
    assert a.pf == b.pf and a.n_calls == b.n_calls


@pytest.mark.ray
def test_executor_equivalence_serial_and_ray(ray_cluster: object) -> None:
    kwargs = {"method": "ak", "seed": 11, "batch_size": 4}
    serial = estimate_failure_probability(
        Linear(3.0, 2), ot.Normal(2), executor=SerialExecutor(), **kwargs
    )
    with make_executor("ray") as executor:
        parallel = estimate_failure_probability(
            Linear(3.0, 2), ot.Normal(2), executor=executor, **kwargs
        )
    assert parallel.pf == serial.pf
    assert parallel.n_calls == serial.n_calls
    assert parallel.ci == serial.ci
    np.testing.assert_array_equal(parallel.samples["g"], serial.samples["g"])


def test_invalid_option_is_named() -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        estimate_failure_probability(
            Linear(3.0, 2), ot.Normal(2), method="ak", seed=0, batch_size=0
        )


def test_check_variance_is_floored_when_no_check_disagrees() -> None:
    """All-zero check terms must not claim a zero surrogate error."""
    from safety_val.reliability.active_learning import _check_sd

    terms = [0.0] * 20
    exposure = [3e-3] * 20  # each check's term had it been wrong, pf ~ 1e-3
    sd = _check_sd(terms, exposure)
    assert sd == pytest.approx(math.sqrt(0.5 / 21 * 9e-6 / 20))
    assert sd > 0
    # more checks earn more precision; a large sample variance is kept as it is
    assert _check_sd([0.0] * 40, [3e-3] * 40) < sd
    noisy = [1e-3, -1e-3] * 10
    assert _check_sd(noisy, exposure) == pytest.approx(np.std(noisy, ddof=1) / math.sqrt(20))


def test_rescan_finds_a_second_failure_region() -> None:
    """RP33: two planes at beta = 3; a run that finds one must not report it converged."""

    def rp33(x: np.ndarray) -> np.ndarray:
        return np.minimum(3.0 * math.sqrt(3.0) - x.sum(axis=1), 3.0 - x[:, 2])

    reference = 2.5756e-3
    for seed in (3, 8):  # seeds whose initial design saw only one region
        result = estimate_failure_probability(rp33, ot.Normal(3), method="ak", seed=seed)
        assert result.details["n_modes"] >= 2
        assert result.ci[0] <= reference <= result.ci[1]
        assert abs(result.pf / reference - 1) < 0.3


def _rare_category_problem() -> tuple[Callable[[np.ndarray], np.ndarray], ot.Distribution, float]:
    """Failure region reached mostly at the rare value (5 %) of a categorical input.

    ``x0 ~ N(0, 1)``, ``x1 ~ U(-1, 1)`` (inert), ``c`` in {0, 1} with weights 0.95 / 0.05:
    ``g = 2.5 - x0`` when ``c = 0``, ``0.5 - x0`` when ``c = 1``, so
    ``pf = 0.95 Phi(-2.5) + 0.05 Phi(-0.5)``, 72 % of it at ``c = 1``.
    """

    def g(x: np.ndarray) -> np.ndarray:
        return np.where(x[:, 2] > 0.5, 0.5 - x[:, 0], 2.5 - x[:, 0])

    category = ot.UserDefined([[0.0], [1.0]], [0.95, 0.05])
    distribution = ot.JointDistribution([ot.Normal(), ot.Uniform(-1.0, 1.0), category])
    exact = 0.95 * float(stats.norm.sf(2.5)) + 0.05 * float(stats.norm.sf(0.5))
    return g, distribution, exact


def test_failure_region_at_a_rare_category_is_not_missed() -> None:
    """A surrogate learned in standard space must not miss the rare category's region.

    Seed 2 used to stop after one round with pf = 6.2e-3 (the c = 0 mode only, CI
    5.6e-3 - 6.8e-3 against the exact 2.13e-2): no run had combined c = 1 with x0 > 0.5.
    """
    g, distribution, exact = _rare_category_problem()
    result = estimate_failure_probability(g, distribution, method="auto", seed=2)
    assert result.ci[0] <= exact <= result.ci[1]
    assert abs(result.pf / exact - 1) < 3 * result.cov
    x = result.samples
    assert bool(np.any((x.iloc[:, 2] == 1.0) & (x["g"] <= 0)))  # a c = 1 failure was run


def test_discrete_inputs_map_inside_their_interval_and_the_surrogate_snaps_to_it() -> None:
    """Recorded discrete values land at their conditional median; the surrogate sees it."""
    from safety_val.reliability.active_learning import _LevelSurrogate
    from safety_val.reliability.model import LimitStateModel

    g, distribution, _ = _rare_category_problem()
    model = LimitStateModel(g, distribution)
    u = model.to_standard(np.array([[0.3, 0.0, 0.0], [0.3, 0.0, 1.0]]))
    medians = stats.norm.ppf([0.475, 0.975])  # (F(c-) + F(c)) / 2
    np.testing.assert_allclose(u[:, 2], medians, atol=1e-9)
    np.testing.assert_allclose(model.to_physical(u)[:, 2], [0.0, 1.0])
    boundaries, levels = model.discrete_levels()[2]
    np.testing.assert_allclose(boundaries, [stats.norm.ppf(0.95)], atol=1e-9)
    np.testing.assert_allclose(levels, medians, atol=1e-9)
    snapped = _LevelSurrogate(None, model.discrete_levels()).snap(  # type: ignore[arg-type]
        np.array([[0.0, 0.0, -3.0], [0.0, 0.0, 1.6], [0.0, 0.0, 1.7], [1.0, 2.0, 6.0]])
    )
    np.testing.assert_allclose(snapped[:, 2], medians[[0, 0, 1, 1]], atol=1e-9)
    np.testing.assert_allclose(snapped[:, :2], [[0, 0], [0, 0], [0, 0], [1, 2]])
