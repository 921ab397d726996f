from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from safety_val.doe import (
    DESIGNS,
    design_coverage,
    generate_design,
    sample_unit_cube,
    unit_to_physical,
)
from safety_val.errors import ValidationError
from safety_val.scenario import load_scenario
from tests.helpers import scenario_body, write_scenario


@pytest.fixture
def scenario(tmp_path: Path):
    body = scenario_body()
    body["parameters"].append(
        {
            "name": "lead_speed",
            "unit": "m/s",
            "odd": "dynamic_elements.traffic.agent_speed",
            "distribution": {
                "family": "TruncatedNormal",
                "mu": 20.0,
                "sigma": 3.0,
                "lower": 10.0,
                "upper": 30.0,
            },
        }
    )
    body["dependence"] = {
        "parameters": ["ego_speed", "lead_speed"],
        "correlation": "spearman",
        "matrix": [[1, 0.7], [0.7, 1]],
    }
    return load_scenario(write_scenario(tmp_path, body))


@pytest.mark.parametrize("method", list(DESIGNS))
def test_every_design_is_reproducible_and_in_the_unit_cube(method: str) -> None:
    a = sample_unit_cube(method, 64, 3, seed=5)
    b = sample_unit_cube(method, 64, 3, seed=5)
    c = sample_unit_cube(method, 64, 3, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (64, 3) and a.min() >= 0 and a.max() < 1


@pytest.mark.parametrize("method", ["lhs", "optimal_lhs"])
def test_lhs_has_one_point_per_stratum(method: str) -> None:
    u = sample_unit_cube(method, 50, 4, seed=1)
    for j in range(4):
        assert sorted(np.floor(u[:, j] * 50).astype(int)) == list(range(50))


def test_optimal_lhs_and_sobol_beat_monte_carlo_on_discrepancy() -> None:
    mc = design_coverage(sample_unit_cube("mc", 128, 3, seed=2)).centred_l2_discrepancy
    assert (
        design_coverage(sample_unit_cube("optimal_lhs", 128, 3, seed=2)).centred_l2_discrepancy < mc
    )
    assert design_coverage(sample_unit_cube("sobol", 128, 3, seed=2)).centred_l2_discrepancy < mc


def test_coverage_min_distance_matches_brute_force() -> None:
    u = sample_unit_cube("mc", 40, 2, seed=3)
    brute = min(np.linalg.norm(u[i] - u[j]) for i in range(40) for j in range(i))
    assert design_coverage(u).min_distance == pytest.approx(brute)


def test_design_respects_marginals_and_dependence(scenario) -> None:
    design = generate_design(scenario, 4000, method="lhs", seed=11)
    frame = design.frame
    assert list(frame.columns) == [
        "sample_index",
        "scenario_id",
        "ego_speed",
        "lighting",
        "lead_speed",
    ]
    assert frame["ego_speed"].between(20, 30).all()
    assert frame["lead_speed"].between(10, 30).all()
    # marginal: KS against the truncated normal
    p = stats.kstest(frame["ego_speed"], stats.uniform(20, 10).cdf).pvalue
    assert p > 1e-3
    night = (frame["lighting"] == "night").mean()
    assert night == pytest.approx(0.2, abs=4 * np.sqrt(0.2 * 0.8 / 4000))
    rho = stats.spearmanr(frame["ego_speed"], frame["lead_speed"]).statistic
    assert rho == pytest.approx(0.7, abs=0.05)
    assert frame["scenario_id"].is_unique


def test_unit_to_physical_is_the_quantile_map(scenario) -> None:
    u = np.array([[0.5, 0.1, 0.5], [0.25, 0.9, 0.5]])
    frame = unit_to_physical(scenario, u)
    # with the copula the medians stay the medians
    assert frame["ego_speed"].iloc[0] == pytest.approx(25.0)
    assert frame["lead_speed"].iloc[0] == pytest.approx(20.0)
    assert frame["lighting"].tolist() == ["day", "night"]


def test_bad_design_requests() -> None:
    with pytest.raises(ValidationError, match=r"unknown design 'lhd'.*mc, lhs, optimal_lhs, sobol"):
        sample_unit_cube("lhd", 10, 2)
    with pytest.raises(ValidationError, match="positive integer"):
        sample_unit_cube("lhs", 0, 2)
