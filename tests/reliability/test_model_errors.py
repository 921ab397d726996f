"""Failed simulations (NaN margins) in reliability: counted and reported, not fatal for crude MC."""

import warnings

import numpy as np
import openturns as ot
import pytest

from safety_val.errors import SimulationError, ValidationError
from safety_val.reliability import estimate_failure_probability
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.sampling import run_monte_carlo


def crashes_on_a_third(x: np.ndarray) -> np.ndarray:
    """``g = 2 - x0`` (pf ≈ 0.0228), but the simulator crashes where ``x1 > 0.43``."""
    g = 2.0 - x[:, 0]
    g[x[:, 1] > 0.43] = np.nan
    return g


def test_crude_mc_counts_and_excludes_failed_simulations() -> None:
    ot.RandomGenerator.SetSeed(0)
    model = LimitStateModel(crashes_on_a_third, ot.Normal(2), max_calls=4000)
    with pytest.warns(RuntimeWarning, match="failed"):
        result = run_monte_carlo(model, target_cov=0.1, rng=1, block_size=400)
    n_errors = result.details["n_errors"]
    assert 0.25 < n_errors / (model.n_calls - 2) < 0.42
    assert result.details["n_samples"] + n_errors == model.n_calls - 2  # probe excluded
    assert f"{n_errors} of" in result.message and "excluded" in result.message
    assert not result.converged  # a third failed: their failures could be hidden
    assert result.ci[0] < 0.0228 < result.ci[1]
    # the interval runs from "they all passed" to "they all failed"; without them it is
    # the narrower Clopper-Pearson interval of the successful draws
    lo, hi = result.details["ci_excluding_errors"]
    assert result.ci[1] > hi and result.ci[0] <= lo
    assert result.ci[1] >= result.details["pf_if_errors_failed"] > result.pf
    assert model.n_errors >= n_errors


def test_estimate_with_a_crashing_simulator_does_not_stop() -> None:
    with pytest.warns(RuntimeWarning, match="failed"):
        result = estimate_failure_probability(
            crashes_on_a_third, ot.Normal(2), method="mc", seed=0, max_calls=2000
        )
    assert result.details["n_errors"] > 0 and np.isfinite(result.pf)


def test_a_few_failed_simulations_only_note_and_do_not_warn() -> None:
    def rarely(x: np.ndarray) -> np.ndarray:
        g = 2.0 - x[:, 0]
        g[x[:, 1] > 2.6] = np.nan  # ≈ 0.5 %
        return g

    ot.RandomGenerator.SetSeed(3)
    model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2), max_calls=20000)
    model.limit_state = rarely
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = run_monte_carlo(model, target_cov=0.1, rng=0, block_size=1000)
    assert result.details["n_errors"] > 0 and "excluded" in result.message


def test_every_simulation_failing_gives_up_after_one_batch() -> None:
    model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2), max_calls=5000)
    model.limit_state = lambda x: np.full(len(x), np.nan)
    with pytest.warns(RuntimeWarning):
        result = run_monte_carlo(model, rng=0, block_size=100)
    assert model.n_calls == 2 + 100
    assert np.isnan(result.pf) and not result.converged
    assert "every simulation failed" in result.message


def test_nan_is_recorded_by_default_fatal_on_request_and_inf_always() -> None:
    model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2))
    model.limit_state = crashes_on_a_third
    g = model.evaluate(np.array([[0.0, 1.0], [0.0, 0.0]]))
    assert np.isnan(g[0]) and g[1] == 2.0 and model.n_errors == 1
    strict = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2), on_error="raise")
    strict.limit_state = crashes_on_a_third
    with pytest.raises(SimulationError, match="on_error='raise' stops at the first one"):
        strict.evaluate(np.array([[0.0, 1.0]]))
    model.limit_state = lambda x: np.full(len(x), np.inf)
    with pytest.raises(SimulationError, match="infinite margin"):
        model.evaluate(np.array([[0.0, 1.0]]))
    with pytest.raises(SimulationError, match="all 2 points"):
        LimitStateModel(lambda x: np.full(len(x), np.nan), ot.Normal(2))
    with pytest.raises(ValidationError, match="on_error: must be one of 'exclude', 'raise'"):
        LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2), on_error="ignore")


def test_openturns_sees_a_stand_in_for_a_failed_run() -> None:
    ot.RandomGenerator.SetSeed(0)
    model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2))
    model.limit_state = crashes_on_a_third
    safe = np.asarray(model.as_openturns_function()([[0.0, 1.0], [3.0, 0.0]])).ravel()
    assert safe[0] == model.safe_margin > 2.0 and safe[1] == -1.0  # above every margin seen
    nearest = model.as_openturns_function("nearest")
    # the nearest successful run in standard space is (3, 0), whose margin is -1
    assert np.asarray(nearest([[2.9, 0.5]])).ravel().tolist() == [-1.0]
    assert np.isnan(model.recorded()[1][-1])  # the record keeps the NaN
