"""The shared core: result, intervals, model, registry and input validation."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import openturns as ot
import pytest
from scipy import stats

from safety_val.errors import SimulationError, ValidationError
from safety_val.execution import SerialExecutor
from safety_val.reliability import (
    BudgetExhausted,
    FailureProbabilityResult,
    LimitStateModel,
    available_methods,
    estimate_failure_probability,
    get_method,
    make_result,
)
from safety_val.reliability.result import (
    clopper_pearson_interval,
    history_frame,
    lognormal_interval,
    zero_failure_upper_bound,
)


def linear(x: np.ndarray) -> np.ndarray:
    return 3.0 - x.sum(axis=1) / np.sqrt(x.shape[1])


class CountingSerial(SerialExecutor):
    """A serial executor that remembers the block sizes it was given."""

    def __init__(self, n_workers: int = 2) -> None:
        super().__init__()
        self.n_workers = n_workers
        self.sizes: list[int] = []

    def imap_unordered(self, fn, batches):  # type: ignore[no-untyped-def]
        for position, batch in enumerate(batches):
            self.sizes.append(len(batch))
            yield position, fn(batch)


# ---------------------------------------------------------------- result and intervals
def test_beta_and_json_safe_dict() -> None:
    result = FailureProbabilityResult(
        pf=float(stats.norm.cdf(-3.0)),
        cov=math.nan,
        ci=(math.nan, math.nan),
        n_calls=12,
        converged=True,
        method="form",
        parameter_names=("a", "b"),
    )
    assert result.beta == pytest.approx(3.0, abs=1e-12)
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["cov"] is None and payload["ci"] == [None, None]
    frame = result.to_frame()
    assert list(frame.columns) == [
        "pf",
        "cov",
        "ci_low",
        "ci_high",
        "beta",
        "n_calls",
        "n_errors",
        "converged",
        "method",
    ]
    assert payload["n_errors"] == 0 and frame["n_errors"].iloc[0] == 0


def test_zero_estimate_cannot_be_converged() -> None:
    with pytest.raises(ValueError, match="cannot be reported as converged"):
        FailureProbabilityResult(
            pf=0.0, cov=math.nan, ci=(0.0, 0.0), n_calls=10, converged=True, method="mc"
        )
    assert (
        FailureProbabilityResult(
            pf=0.0, cov=math.nan, ci=(0.0, 0.003), n_calls=1000, converged=False, method="mc"
        ).beta
        == math.inf
    )


def test_make_result_turns_zero_into_upper_bound() -> None:
    model = LimitStateModel(linear, ot.Normal(2))
    result = make_result(
        model, method="mc", pf=0.0, cov=0.0, ci=(0.0, 0.0), converged=True, n_trials=1000
    )
    assert not result.converged
    assert result.ci == (0.0, pytest.approx(zero_failure_upper_bound(1000)))
    assert "below about" in result.message
    assert result.to_dict()["beta"] is None  # inf is not JSON


def test_intervals() -> None:
    low, high = clopper_pearson_interval(5, 1000)
    assert stats.binom.sf(4, 1000, low) == pytest.approx(0.025, rel=1e-6)
    assert stats.binom.cdf(5, 1000, high) == pytest.approx(0.025, rel=1e-6)
    assert zero_failure_upper_bound(1000) == pytest.approx(3.0 / 1000, rel=0.01)
    low, high = lognormal_interval(1e-5, 0.5)
    assert 0 < low < 1e-5 < high
    assert math.isnan(lognormal_interval(0.0, 0.1)[0])


def test_history_frame_columns() -> None:
    frame = history_frame()
    assert list(frame.columns) == ["n_calls", "pf", "cov", "ci_low", "ci_high"]
    assert frame["n_calls"].dtype == np.int64


# ---------------------------------------------------------------- model
def test_model_counts_records_and_labels() -> None:
    model = LimitStateModel(linear, ot.Normal(2))
    assert model.n_calls == 2
    with model.stage("a"):
        model.evaluate(np.zeros((3, 2)))
    model.evaluate(np.ones((1, 2)))
    samples = model.samples()
    assert list(samples.columns) == ["x0", "x1", "g", "stage"]
    assert samples["stage"].tolist() == ["probe"] * 2 + ["a"] * 3 + ["unlabelled"]
    np.testing.assert_allclose(samples["g"].iloc[2:5], 3.0)
    x, g = model.recorded("a")
    assert x.shape == (3, 2) and g.shape == (3,)


def test_model_names_from_distribution_description() -> None:
    distribution = ot.Normal(2)
    distribution.setDescription(["speed", "gap"])
    model = LimitStateModel(linear, distribution)
    assert model.names == ("speed", "gap")


def test_model_splits_blocks_for_the_executor() -> None:
    executor = CountingSerial(n_workers=2)
    model = LimitStateModel(linear, ot.Normal(2), executor=executor)
    executor.sizes.clear()
    model.evaluate(np.zeros((80, 2)))
    assert executor.sizes == [10] * 8  # ceil(80 / (4 * 2))
    model.block_size = 30
    executor.sizes.clear()
    model.evaluate(np.zeros((80, 2)))
    assert executor.sizes == [30, 30, 20]


def test_model_budget() -> None:
    model = LimitStateModel(linear, ot.Normal(2), max_calls=10)
    model.evaluate(np.zeros((8, 2)))
    with pytest.raises(BudgetExhausted, match="max_calls=10"):
        model.evaluate(np.zeros((1, 2)))
    assert model.n_calls == 10 and model.remaining_calls == 0


def test_openturns_function_routes_through_evaluate() -> None:
    executor = CountingSerial(n_workers=1)
    model = LimitStateModel(linear, ot.Normal(2), executor=executor)
    function = model.as_openturns_function()
    out = function(ot.Sample(np.zeros((8, 2))))
    assert np.asarray(out).shape == (8, 1)
    assert model.n_calls == 10 and executor.sizes[-2:] == [2, 2]


def test_standard_space_round_trip() -> None:
    distribution = ot.JointDistribution([ot.Normal(10.0, 2.0), ot.Uniform(0.0, 1.0)])
    model = LimitStateModel(lambda x: x[:, 0] - 5.0, distribution)
    x = np.array([[10.0, 0.5], [14.0, 0.975]])
    u = model.to_standard(x)
    np.testing.assert_allclose(u, [[0.0, 0.0], [2.0, stats.norm.ppf(0.975)]], atol=1e-9)
    np.testing.assert_allclose(model.to_physical(u), x, atol=1e-9)


def test_scenario_evaluator_supplies_distribution_and_names() -> None:
    distribution = ot.Normal(2)
    scenario = SimpleNamespace(distribution=distribution, names=("v_ego", "gap"))

    class Evaluator:
        def __init__(self) -> None:
            self.scenario = scenario
            self.n_calls = 0

        def __call__(self, x: np.ndarray) -> np.ndarray:
            return linear(x)

    model = LimitStateModel(Evaluator())
    assert model.names == ("v_ego", "gap")
    with pytest.raises(ValidationError, match="dimension"):
        LimitStateModel(Evaluator(), ot.Normal(3))


# ---------------------------------------------------------------- bad input
def test_nan_output_is_an_error_naming_rows() -> None:
    def nan_sometimes(x: np.ndarray) -> np.ndarray:
        g = linear(x)
        g[x[:, 0] > 0.0] = np.nan
        return g

    model = LimitStateModel(lambda x: linear(x), ot.Normal(2), on_error="raise")
    model.limit_state = nan_sometimes
    with pytest.raises(SimulationError, match=r"2 NaN margin\(s\).*row 0"):
        model.evaluate(np.array([[1.0, 0.0], [2.0, 0.0], [-1.0, 0.0]]))
    with pytest.raises(SimulationError, match="infinite margin"):
        estimate_failure_probability(
            lambda x: np.full(len(x), np.inf), ot.Normal(2), method="mc", seed=0
        )


def test_wrong_output_shape() -> None:
    with pytest.raises(ValidationError, match=r"returned shape \(2, 2\) for 2 points"):
        estimate_failure_probability(lambda x: x, ot.Normal(2), method="mc", seed=0)
    with pytest.raises(ValidationError, match="returned shape"):
        LimitStateModel(lambda x: linear(x)[:1], ot.Normal(2))


def test_dimension_mismatch() -> None:
    with pytest.raises(ValidationError, match="dimension"):
        estimate_failure_probability(lambda x: 3.0 - x[:, 2], ot.Normal(2), method="form")
    with pytest.raises(ValidationError, match="dimension"):
        LimitStateModel(ot.SymbolicFunction(["a", "b", "c"], ["a"]), ot.Normal(2))


def test_distribution_must_be_openturns() -> None:
    with pytest.raises(ValidationError, match="OpenTURNS distribution"):
        LimitStateModel(linear, stats.norm())
    with pytest.raises(ValidationError, match="distribution is required"):
        LimitStateModel(linear)


def test_constant_output_warns_and_is_not_a_silent_zero() -> None:
    with pytest.warns(UserWarning, match="same value"):
        result = estimate_failure_probability(
            lambda x: np.ones(len(x)), ot.Normal(2), method="mc", max_calls=2000, seed=0
        )
    assert not result.converged
    assert result.pf == 0.0 and result.ci[1] > 0.0 and "below about" in result.message


@pytest.mark.parametrize("target_cov", [0.0, -0.1, 1.0, "0.1", True])
def test_bad_target_cov(target_cov: object) -> None:
    with pytest.raises(ValidationError, match="target_cov"):
        estimate_failure_probability(linear, ot.Normal(2), method="form", target_cov=target_cov)  # type: ignore[arg-type]


@pytest.mark.parametrize("max_calls", [0, 5, 2.5, True, 10**9 + 1, 10**23])
def test_bad_max_calls(max_calls: object) -> None:
    # 10**23 once reached OpenTURNS and overflowed its counter (an "internal error")
    with pytest.raises(ValidationError, match=r"max_calls: must be None or an int in "
                       r"\[10, 1000000000\]"):
        estimate_failure_probability(linear, ot.Normal(2), method="mc", max_calls=max_calls)  # type: ignore[arg-type]


def test_unknown_method_lists_valid_names() -> None:
    with pytest.raises(ValidationError, match="unknown reliability method 'importance'") as info:
        estimate_failure_probability(linear, ot.Normal(2), method="importance")
    for name in ("mc", "form", "sorm", "directional", "subset", "ce_is", "nais"):
        assert name in str(info.value)
    assert set(available_methods()) >= {"mc", "form", "subset", "nais", "ak", "auto"}


def test_unknown_option() -> None:
    with pytest.raises(ValidationError, match="n_per_step"):
        estimate_failure_probability(linear, ot.Normal(2), method="form", n_per_step=10)


def test_registry_resolves_all_core_methods() -> None:
    for name in ("mc", "form", "sorm", "directional", "subset", "ce_is", "nais"):
        assert callable(get_method(name))


def test_discrete_marginal_maps_to_its_quantile_over_the_whole_standard_line() -> None:
    """OpenTURNS maps u > ~2.35 of a {0: 0.95, 1: 0.05} marginal back to 0; we must not."""
    category = ot.UserDefined([[0.0], [1.0]], [0.95, 0.05])
    distribution = ot.JointDistribution([ot.Normal(), category, ot.Poisson(2.0)])
    model = LimitStateModel(lambda x: 3.0 - x[:, 0], distribution)
    u = np.linspace(-4.0, 6.0, 201)
    points = np.column_stack([np.zeros_like(u), u, u])
    x = model.to_physical(points)
    np.testing.assert_array_equal(x[:, 1], (u > stats.norm.ppf(0.95)).astype(float))
    poisson = np.array([ot.Poisson(2.0).computeQuantile(p)[0] for p in stats.norm.cdf(u)])
    np.testing.assert_array_equal(x[:, 2], poisson)
    # the OpenTURNS function (used by NAIS' standard-space event) is the same map
    np.testing.assert_array_equal(
        np.asarray(model.inverse_transformation(ot.Sample(points)), dtype=float), x
    )
    # and recorded values go to the conditional median of their interval, and back
    back = model.to_standard(np.array([[0.0, 1.0, 3.0]]))
    np.testing.assert_allclose(back[0, 1], stats.norm.ppf(0.975), atol=1e-9)
    np.testing.assert_array_equal(model.to_physical(back), [[0.0, 1.0, 3.0]])


def test_discrete_marginal_under_a_normal_copula_keeps_its_probabilities() -> None:
    """Under a normal copula the top value (15 %) keeps its share in standard space."""
    category = ot.UserDefined([[0.0], [1.0], [2.0]], [0.75, 0.1, 0.15])
    correlation = ot.CorrelationMatrix(2)
    correlation[0, 1] = 0.3
    distribution = ot.JointDistribution([ot.Normal(), category], ot.NormalCopula(correlation))
    model = LimitStateModel(lambda x: 3.0 - x[:, 0], distribution)
    n = 40_000
    x = model.to_physical(np.random.default_rng(0).standard_normal((n, 2)))
    share = float(np.mean(x[:, 1] == 2.0))
    assert abs(share - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)  # OpenTURNS' map: 0.139
    recorded = np.asarray(distribution.getSample(200), dtype=float)
    np.testing.assert_allclose(model.to_physical(model.to_standard(recorded)), recorded,
                               atol=1e-9)
