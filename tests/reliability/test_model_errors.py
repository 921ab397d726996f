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
    lo, hi = result.details["ci_worst_case"]
    assert hi > result.ci[1] and lo <= result.ci[0]
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


def test_nan_stays_fatal_by_default_and_inf_always() -> None:
    model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2))
    model.limit_state = crashes_on_a_third
    with pytest.raises(SimulationError, match="error/timeout"):
        model.evaluate(np.array([[0.0, 1.0]]))
    model.limit_state = lambda x: np.full(len(x), np.inf)
    with model.tolerate_errors(), pytest.raises(SimulationError, match="non-finite"):
        model.evaluate(np.array([[0.0, 1.0]]))
    with pytest.raises(SimulationError, match="all 2 points"):
        LimitStateModel(lambda x: np.full(len(x), np.nan), ot.Normal(2))
    with pytest.raises(ValidationError, match="on_nonfinite"):
        LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2), on_nonfinite="ignore")
