"""The benchmark problems: definitions, reference probabilities, picklability.

Problems with pf >= 1e-4 are checked by crude Monte Carlo with a fixed seed against
a tolerance of 4 binomial standard errors. The rare ones (pf < 1e-4) are checked on
known points, against the closed form where there is one, and by importance sampling
around the design point with a tolerance of 4 estimated standard errors.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from scipy import stats

from safety_val.errors import ValidationError
from safety_val.reliability.problems import (
    PROBLEMS,
    LinearLimitState,
    ReliabilityProblem,
    get_problem,
    linear_problem,
)

REQUIRED = (
    "four_branch",
    "linear_beta5",
    "linear_d100",
    "RP22",
    "RP24",
    "RP25",
    "RP28",
    "RP31",
    "RP33",
    "RP35",
    "RP38",
    "RP53",
    "RP57",
    "RP75",
    "RP89",
    "RP91",
)

# Crude Monte Carlo sample size per problem (pf >= 1e-4); the high-dimensional linear
# problem uses fewer points (it also has an exact answer, tested separately).
MC_SAMPLES = {name: 2_000_000 for name in REQUIRED} | {"linear_d100": 400_000}
MC_CHUNK = 100_000  # points per batch for the d=100 problem (80 MB)

# Rare problems: importance sampling N(center, scale^2 I) in standard space.
IS_PROPOSALS: dict[str, tuple[list[float], float]] = {
    "RP25": ([2.3, 2.8], 1.0),
    "RP28": ([-3.5, -3.5], 1.5),
    "linear_beta5": ([5.0 / math.sqrt(10.0)] * 10, 1.0),
}
IS_SAMPLES = 200_000

# One point known to be safe and one known to fail, per problem.
KNOWN_POINTS: dict[str, tuple[list[float], list[float]]] = {
    "four_branch": ([0.0, 0.0], [4.0, 4.0]),
    "linear_beta5": ([0.0] * 10, [2.0] * 10),
    "linear_d100": ([0.0] * 100, [0.5] * 100),
    "RP22": ([0.0, 0.0], [3.0, 3.0]),
    "RP24": ([10.0, 10.0], [16.0, 4.0]),
    "RP25": ([0.0, 0.0], [2.5, 2.9]),
    "RP28": ([78064.0, 0.0104], [10000.0, 0.001]),
    "RP31": ([0.0, 0.0], [0.0, 3.0]),
    "RP33": ([0.0, 0.0, 0.0], [0.0, 0.0, 3.5]),
    "RP35": ([0.0, 0.0], [0.0, 4.0]),
    "RP38": (
        [350.0, 50.8, 3.81, 173.0, 9.38, 33.1, 0.036],
        [350.0, 80.0, 3.81, 173.0, 9.38, 33.1, 0.036],
    ),
    "RP53": ([1.5, 2.5], [1.5, 8.0]),
    "RP57": ([0.0, 0.0], [-3.0, -3.0]),
    "RP75": ([0.0, 0.0], [2.0, 2.0]),
    "RP89": ([0.0, 0.0], [0.0, 9.0]),
    "RP91": ([0.07433, 0.1, 13.0, 4751.0, -684.0], [0.05, 0.1, 13.0, 4751.0, -684.0]),
}


def _marginal_moments(problem: ReliabilityProblem) -> tuple[np.ndarray, np.ndarray]:
    distribution = problem.distribution
    means = np.array([distribution.getMarginal(i).getMean()[0] for i in range(problem.dimension)])
    stds = np.array(
        [distribution.getMarginal(i).getStandardDeviation()[0] for i in range(problem.dimension)]
    )
    return means, stds


def test_registry_holds_the_required_problems() -> None:
    assert set(REQUIRED) <= set(PROBLEMS)
    for name, problem in PROBLEMS.items():
        assert problem.name == name
        assert problem.reference
        assert 0.0 < problem.reference_pf < 1.0


def test_every_problem_has_a_statistical_check() -> None:
    """A new problem must get either a Monte Carlo or an importance-sampling check."""
    for name, problem in PROBLEMS.items():
        if problem.reference_pf >= 1e-4:
            assert name in MC_SAMPLES, name
        else:
            assert name in IS_PROPOSALS, name
        assert name in KNOWN_POINTS, name


def test_get_problem_unknown_lists_the_names() -> None:
    with pytest.raises(ValidationError, match="four_branch") as info:
        get_problem("RP999")
    assert "RP57" in str(info.value)
    assert get_problem("rp57") is PROBLEMS["RP57"]


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_distribution_matches_dimension(name: str) -> None:
    problem = PROBLEMS[name]
    first, second = problem.distribution, problem.distribution
    assert first.getDimension() == problem.dimension
    assert first is not second  # a fresh object on every access


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_limit_state_and_factory_are_picklable(name: str) -> None:
    problem = PROBLEMS[name]
    limit_state = pickle.loads(pickle.dumps(problem.limit_state))
    factory = pickle.loads(pickle.dumps(problem.distribution_factory))
    points = problem.sample(50, seed=1)
    np.testing.assert_array_equal(limit_state(points), problem.limit_state(points))
    assert factory().getDimension() == problem.dimension
    pickle.dumps(problem)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_limit_state_is_vectorised_and_known_points(name: str) -> None:
    problem = PROBLEMS[name]
    points = problem.sample(1000, seed=2)
    margins = problem.limit_state(points)
    assert margins.shape == (1000,)
    assert np.all(np.isfinite(margins))
    row_by_row = np.concatenate([problem.limit_state(points[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(row_by_row, margins[:5])
    safe, failing = KNOWN_POINTS[name]
    assert problem.limit_state(np.array([safe]))[0] > 0.0
    assert problem.limit_state(np.array([failing]))[0] <= 0.0


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_limit_state_rejects_wrong_shape(name: str) -> None:
    problem = PROBLEMS[name]
    with pytest.raises(ValidationError, match="shape"):
        problem.limit_state(np.zeros((3, problem.dimension + 1)))


def test_sample_is_reproducible() -> None:
    problem = PROBLEMS["RP91"]
    np.testing.assert_array_equal(problem.sample(10, seed=5), problem.sample(10, seed=5))
    with pytest.raises(ValidationError):
        problem.sample(0)


@pytest.mark.parametrize("name", [name for name in REQUIRED if PROBLEMS[name].reference_pf >= 1e-4])
def test_crude_monte_carlo_matches_reference(name: str) -> None:
    problem = PROBLEMS[name]
    n = MC_SAMPLES[name]
    chunk = MC_CHUNK if problem.dimension > 10 else n
    failures = 0
    for start in range(0, n, chunk):
        points = problem.sample(chunk, seed=20_240 + start)
        failures += int(np.count_nonzero(problem.limit_state(points) <= 0.0))
    estimate = failures / n
    pf = problem.reference_pf
    tolerance = 4.0 * math.sqrt(pf * (1.0 - pf) / n)
    assert abs(estimate - pf) <= tolerance, (name, estimate, pf, tolerance)


@pytest.mark.parametrize("name", sorted(IS_PROPOSALS))
def test_rare_problems_by_importance_sampling(name: str) -> None:
    problem = PROBLEMS[name]
    center, scale = IS_PROPOSALS[name]
    means, stds = _marginal_moments(problem)
    rng = np.random.default_rng(7)
    u = np.asarray(center) + scale * rng.standard_normal((IS_SAMPLES, problem.dimension))
    log_weights = stats.norm.logpdf(u).sum(axis=1) - stats.norm.logpdf(
        u, loc=center, scale=scale
    ).sum(axis=1)
    failed = problem.limit_state(means + stds * u) <= 0.0
    weights = np.where(failed, np.exp(log_weights), 0.0)
    estimate = weights.mean()
    standard_error = weights.std(ddof=1) / math.sqrt(IS_SAMPLES)
    assert standard_error < 0.1 * estimate
    assert abs(estimate - problem.reference_pf) <= 4.0 * standard_error


@pytest.mark.parametrize(("dimension", "beta"), [(10, 5.0), (100, 3.5), (3, 2.0)])
def test_linear_problem_closed_form(dimension: int, beta: float) -> None:
    problem = linear_problem(dimension, beta)
    assert problem.reference_pf == pytest.approx(stats.norm.cdf(-beta), rel=1e-12)
    assert problem.reference_beta == pytest.approx(beta, rel=1e-9)
    design_point = np.full((1, dimension), beta / math.sqrt(dimension))
    assert problem.limit_state(design_point)[0] == pytest.approx(0.0, abs=1e-12)
    assert problem.limit_state(np.zeros((1, dimension)))[0] == pytest.approx(beta)
    assert isinstance(problem.limit_state, LinearLimitState)


def test_registered_linear_problems_are_exact() -> None:
    assert PROBLEMS["linear_beta5"].dimension == 10
    assert PROBLEMS["linear_beta5"].reference_pf == pytest.approx(2.866515718791933e-7, rel=1e-9)
    assert PROBLEMS["linear_d100"].dimension == 100
    assert PROBLEMS["linear_d100"].reference_pf == pytest.approx(stats.norm.sf(3.5), rel=1e-12)


def test_four_branch_reference_by_quadrature() -> None:
    """pf = 2 Q(3.5) + int_{|v|<3.5} phi(v) 2 Q(3 + 0.2 v^2) dv (rotated coordinates)."""
    v = np.linspace(-3.5, 3.5, 20_001)
    integrand = stats.norm.pdf(v) * 2.0 * stats.norm.sf(3.0 + 0.2 * v**2)
    pf = 2.0 * stats.norm.sf(3.5) + np.trapezoid(integrand, v)
    assert PROBLEMS["four_branch"].reference_pf == pytest.approx(pf, rel=1e-6)
    assert PROBLEMS["four_branch"].reference_pf == pytest.approx(2.2228e-3, rel=1e-4)


@pytest.mark.parametrize(
    ("field", "value"), [("dimension", 0), ("reference_pf", 0.0), ("reference_pf", 1.5)]
)
def test_problem_validates_its_fields(field: str, value: float) -> None:
    arguments = {
        "name": "bad",
        "dimension": 2,
        "limit_state": PROBLEMS["RP22"].limit_state,
        "distribution_factory": PROBLEMS["RP22"].distribution_factory,
        "reference_pf": 0.01,
        "reference": "none",
    } | {field: value}
    with pytest.raises(ValidationError, match=field):
        ReliabilityProblem(**arguments)  # type: ignore[arg-type]
