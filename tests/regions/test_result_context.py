"""A reliability result carries its distribution (and scenario), so analyses need only it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openturns as ot

from safety_val import load_scenario
from safety_val.regions import analyze
from safety_val.reliability import estimate_failure_probability
from safety_val.reliability.persistence import load_result, save_result
from tests.helpers import scenario_body, write_scenario


def _two_sided(x: np.ndarray) -> np.ndarray:
    return np.minimum(2.5 - x[:, 0], 2.5 + x[:, 0])


def test_analyze_needs_only_the_result_of_a_function_and_distribution() -> None:
    result = estimate_failure_probability(
        _two_sided, ot.Normal(2), method="mc", max_calls=4000, seed=1
    )
    assert result.distribution is not None
    assert int(result.distribution.getDimension()) == 2
    assert result.scenario is None  # a plain function has none
    regions = analyze(result, seed=0)
    assert regions.n_modes == 2
    assert regions.parameter_names == ("x0", "x1")
    # the same as with the distribution passed explicitly
    explicit = analyze(result, distribution=ot.Normal(2), seed=0)
    assert regions.modes.equals(explicit.modes)
    assert list(regions.rules["rule"]) == list(explicit.rules["rule"])


def test_result_of_a_scenario_carries_it(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, scenario_body()))
    result = estimate_failure_probability(scenario, method="mc", max_calls=60, seed=0)
    assert result.scenario is scenario
    assert result.distribution is not None
    assert int(result.distribution.getDimension()) == len(scenario.names)


def test_serialisation_is_unchanged_by_the_carried_distribution(tmp_path: Path) -> None:
    result = estimate_failure_probability(
        _two_sided, ot.Normal(2), method="mc", max_calls=500, seed=2
    )
    content = result.to_dict()
    assert "distribution" not in content and "scenario" not in content
    json.dumps(content, allow_nan=False)
    save_result(result, tmp_path / "run")
    loaded = load_result(tmp_path / "run")
    assert loaded.distribution is None and loaded.scenario is None
    assert (loaded.pf, loaded.n_calls, loaded.method) == (result.pf, result.n_calls, "mc")
    assert loaded.to_dict()["parameter_names"] == content["parameter_names"]
    assert "distribution" not in repr(result)
