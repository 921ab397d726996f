"""Every reliability method handles simulations that end in error or timeout as ``simulate`` does.

The simulator is external-command-like: a Python callable backend that returns a
``status`` of ``error`` (with a message) on some rows, run through the scenario evaluator
as any external simulator is (directional sampling and FORM/SORM, which send one point
per call, get the same function as a plain batch limit state, to keep the test fast).
The margin is ``g = 2 - (x0 + x1) / sqrt(2)`` (pf = Phi(-2) = 0.02275, design point
(1.414, 1.414)). Two fault patterns:

- *away*: the simulator crashes where ``x1 < -1`` (16 % of the inputs), far from failure;
- *failure region*: it crashes where ``g < 0.3`` and ``x0 > x1``, so it hides half of the
  failures and every run near the design point on that side.

Each method must run to the end (no exception), count the failed runs, leave them out of
its estimate, and give an interval whose upper end covers the true pf even when the
errors hide failures, with a warning and ``converged=False`` when they cluster there.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import openturns as ot
import pandas as pd
import pytest
import yaml
from scipy import stats

from safety_val import load_scenario
from safety_val.backends import CallableSimulator
from safety_val.errors import SimulationError
from safety_val.reliability import estimate_failure_probability
from safety_val.runs.evaluator import ScenarioEvaluator
from tests.helpers import MOTORWAY_ODD

PF = float(stats.norm.sf(2.0))


def _margin(batch: pd.DataFrame) -> np.ndarray:
    return 2.0 - (batch["x0"].to_numpy() + batch["x1"].to_numpy()) / math.sqrt(2.0)


def crashes_away(batch: pd.DataFrame) -> pd.DataFrame:
    """Crashes (status error) where x1 < -1: far from the failure region."""
    crashed = batch["x1"].to_numpy() < -1.0
    return _frame(_margin(batch), crashed, "segmentation fault in the physics engine")


def crashes_in_failure_region(batch: pd.DataFrame) -> pd.DataFrame:
    """Crashes where g < 0.3 on the x0 > x1 side: half of the failures are hidden."""
    g = _margin(batch)
    crashed = (g < 0.3) & (batch["x0"].to_numpy() > batch["x1"].to_numpy())
    return _frame(g, crashed, "solver diverged at contact")


def _frame(g: np.ndarray, crashed: np.ndarray, why: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "margin": np.where(crashed, np.nan, g),
            "status": np.where(crashed, "error", "ok"),
            "message": np.where(crashed, why, ""),
        }
    )


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("failed_runs")
    body = {
        "scenario": {
            "name": "external",
            "odd": str(MOTORWAY_ODD),
            "simulator": {"kind": "command", "argv": [sys.executable, "{input}", "{output}"]},
            "parameters": [
                {"name": "x0", "unit": "-", "distribution": {"family": "Normal", "mu": 0.0,
                                                             "sigma": 1.0}},
                {"name": "x1", "unit": "-", "distribution": {"family": "Normal", "mu": 0.0,
                                                             "sigma": 1.0}},
            ],
            "kpis": ["margin"],
            "limit_state": {"expression": "margin"},
        }
    }
    path = folder / "external.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def _evaluator(scenario_file: Path, function: Callable[[pd.DataFrame], pd.DataFrame]) -> Any:
    scenario = load_scenario(scenario_file)
    return ScenarioEvaluator(scenario, simulator=CallableSimulator(function, kpis=["margin"]))


def _batch_function(
    function: Callable[[pd.DataFrame], pd.DataFrame],
) -> Callable[[np.ndarray], np.ndarray]:
    def limit_state(x: np.ndarray) -> np.ndarray:
        out = function(pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1]}))
        return np.where(out["status"] == "ok", out["margin"], np.nan)

    return limit_state


#: Options that keep every method within a few thousand calls on this problem.
OPTIONS: dict[str, dict[str, Any]] = {
    "mc": {"target_cov": 0.25, "max_calls": 2500},
    "subset": {"target_cov": 0.25, "max_calls": 3000, "n_per_step": 300},
    "nais": {"target_cov": 0.2, "max_calls": 3000, "n_per_step": 300},
    "ce_is": {"target_cov": 0.2, "max_calls": 3000, "n_per_step": 300},
    "ak": {"target_cov": 0.15, "max_calls": 600},
    "directional": {"target_cov": 0.3, "max_calls": 1200},
}
SAMPLERS = tuple(OPTIONS)


def _estimate(
    scenario_file: Path,
    function: Callable[[pd.DataFrame], pd.DataFrame],
    method: str,
    **options: Any,
) -> tuple[Any, list[str]]:
    if method in ("directional", "form", "sorm"):
        limit_state: Any = _batch_function(function)
        distribution = ot.Normal(2)
    else:
        limit_state, distribution = _evaluator(scenario_file, function), None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = estimate_failure_probability(
            limit_state, distribution, method=method, seed=1, **options
        )
    return result, [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize("method", SAMPLERS)
def test_crashes_away_from_failure_are_excluded_and_counted(
    scenario_file: Path, method: str
) -> None:
    result, warned = _estimate(scenario_file, crashes_away, method, **OPTIONS[method])
    stored = result.samples
    n_nan = int(stored["g"].isna().sum())
    assert result.n_errors == n_nan > 0
    assert result.to_dict()["n_errors"] == n_nan
    details = result.details
    assert details["failed_runs"]["n_errors"] >= 1 and not details["failed_runs"]["clustered"]
    assert "failed (error/timeout: no margin) and are excluded" in result.message
    assert math.isfinite(result.pf) and result.pf > 0
    # the interval covers the truth, and its upper end is at least the worst case's
    assert result.ci[0] <= PF <= result.ci[1]
    assert result.ci[1] >= details["ci_excluding_errors"][1]
    assert details["pf_if_errors_failed"] >= result.pf
    if details["error_share"] > 0.05:  # many failed runs: warned, never "converged"
        assert any("more than 5%" in text for text in warned) and not result.converged


@pytest.mark.parametrize("method", SAMPLERS)
def test_crashes_that_hide_failures_widen_the_interval_and_warn(
    scenario_file: Path, method: str
) -> None:
    result, warned = _estimate(scenario_file, crashes_in_failure_region, method,
                               **OPTIONS[method])
    assert result.n_errors > 0
    # the estimate misses the hidden failures, the interval's upper end does not
    assert result.ci[1] >= PF, (result.pf, result.ci, result.message)
    assert warned and not result.converged
    if method == "ak":
        # 3 failed runs of 42 prove no clustering; their share (> 5 %) warns
        assert result.details["failed_runs"]["n_critical_errors"] >= 1
        assert any("more than 5%" in text for text in warned)
    else:
        assert result.details["failed_runs"]["clustered"]
        assert any("cluster where failures would be" in text for text in warned)
        assert "may hide failures" in result.message


def test_form_and_sorm_go_on_past_failed_runs_off_the_design_point(scenario_file: Path) -> None:
    def crashes_on_the_way(batch: pd.DataFrame) -> pd.DataFrame:
        s = (batch["x0"].to_numpy() + batch["x1"].to_numpy()) / math.sqrt(2.0)
        return _frame(2.0 - s, (s > 0.6) & (s < 1.2), "timeout in the co-simulation")

    for method in ("form", "sorm"):
        result, warned = _estimate(scenario_file, crashes_on_the_way, method)
        assert result.n_errors >= 1, method
        assert result.converged and not warned, (method, result.message)
        assert result.beta == pytest.approx(2.0, abs=1e-3)
        assert "nearest successful run" in result.message


def test_form_with_failed_runs_at_its_design_point_does_not_converge(
    scenario_file: Path,
) -> None:
    def crashes_at_the_design_point(batch: pd.DataFrame) -> pd.DataFrame:
        distance = np.hypot(batch["x0"].to_numpy() - 2**0.5, batch["x1"].to_numpy() - 2**0.5)
        return _frame(_margin(batch), distance < 0.2, "solver diverged at contact")

    for method in ("form", "sorm"):
        result, warned = _estimate(scenario_file, crashes_at_the_design_point, method)
        assert result.n_errors >= 1
        assert not result.converged
        assert any("cluster where failures would be" in text for text in warned), method
        assert "failed (error/timeout: no margin)" in result.message
        assert math.isnan(result.ci[0])  # an approximation has no interval to widen


def test_on_error_raise_stops_at_the_first_failed_run(scenario_file: Path) -> None:
    evaluator = _evaluator(scenario_file, crashes_away)
    with pytest.raises(SimulationError, match="on_error='raise' stops at the first one"):
        estimate_failure_probability(evaluator, method="nais", seed=1, on_error="raise",
                                     max_calls=2000)


def test_on_error_is_checked_by_the_option_table(scenario_file: Path) -> None:
    from safety_val.errors import ValidationError

    with pytest.raises(ValidationError, match="on_error: must be one of 'exclude', 'raise'"):
        estimate_failure_probability(_evaluator(scenario_file, crashes_away), on_error="skip")


def test_the_reference_sample_names_its_failed_runs_and_what_to_do() -> None:
    from safety_val.reliability.importance import draw_importance_sample

    limit_state = _batch_function(crashes_in_failure_region)
    result = estimate_failure_probability(
        _batch_function(lambda b: _frame(_margin(b), np.zeros(len(b), bool), "")),
        ot.Normal(2), method="form", seed=0,
    )
    with pytest.raises(SimulationError, match=r"simulations of the reference importance "
                       r"sample failed \(error/timeout: no margin\); regions and robustness"):
        draw_importance_sample(result, limit_state, ot.Normal(2), n=200, seed=1)
