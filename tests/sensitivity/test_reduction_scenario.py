"""Reduction of logical scenarios and a short analysis of the cut-in scenario."""

from __future__ import annotations

import numpy as np
import pytest

from safety_val import load_scenario
from safety_val.sensitivity import (
    check_reduction,
    ishigami,
    ishigami_distribution,
    reduce_function,
    reduce_scenario,
    write_scenario,
)
from tests.helpers import WEAK_AEB, scenario_body
from tests.helpers import write_scenario as write_body


@pytest.fixture
def small_scenario(tmp_path):
    body = scenario_body(
        parameters=[
            *scenario_body()["parameters"],
            {
                "name": "lead_speed",
                "unit": "m/s",
                "odd": "dynamic_elements.traffic.agent_speed",
                "distribution": {"family": "Uniform", "lower": 10.0, "upper": 20.0},
            },
        ],
        dependence={
            "copula": "normal",
            "correlation": "spearman",
            "parameters": ["ego_speed", "lead_speed"],
            "matrix": [[1.0, 0.5], [0.5, 1.0]],
        },
    )
    return load_scenario(write_body(tmp_path, body))


def test_reduce_scenario_fixes_medians_and_reloads(small_scenario, tmp_path):
    reduced = reduce_scenario(small_scenario, ["ego_speed"])
    assert reduced.names == ("ego_speed",)
    assert reduced.fixed["lead_speed"] == pytest.approx(15.0)
    assert reduced.fixed["lighting"] == "day"  # mode of the categorical
    assert reduced.dependence is None  # fewer than two dependent parameters remain
    (tmp_path / "sub").mkdir()
    path = write_scenario(reduced, tmp_path / "sub" / "reduced.yaml")
    again = load_scenario(path)
    assert again.names == reduced.names and dict(again.fixed) == dict(reduced.fixed)


def test_reduce_scenario_keeps_restricted_dependence_and_random(small_scenario):
    reduced = reduce_scenario(small_scenario, ["ego_speed", "lead_speed"], nominal="mean")
    assert reduced.dependence is not None and reduced.dependence.parameters == (
        "ego_speed",
        "lead_speed",
    )
    kept = reduce_scenario(small_scenario, ["ego_speed"], nominal="random")
    assert kept.names == small_scenario.names and "left random" in kept.description
    custom = reduce_scenario(small_scenario, ["ego_speed"], nominal={"lead_speed": 12.0})
    assert custom.fixed["lead_speed"] == 12.0


def test_reduce_scenario_bad_input(small_scenario):
    from safety_val.errors import ValidationError

    with pytest.raises(ValidationError, match="has no parameter 'nope'"):
        reduce_scenario(small_scenario, ["nope"])
    with pytest.raises(ValidationError, match="one of median, mean, random"):
        reduce_scenario(small_scenario, ["ego_speed"], nominal="mode")
    with pytest.raises(ValidationError, match="no influential parameter"):
        reduce_scenario(small_scenario, [])


def test_reduce_function_and_check():
    reduced, dist = reduce_function(ishigami, ishigami_distribution(), ["x1", "x2"])
    assert reduced(np.zeros((1, 2))).shape == (1,)
    assert dist.getDimension() == 2 and list(dist.getDescription()) == ["x1", "x2"]
    check = check_reduction(
        lambda x: ishigami(x) - 2.0, ["x1", "x2"], ishigami_distribution(), n_holdout=400, seed=1
    )
    assert check.n_calls == 800 and 0.8 < check.agreement < 1.0
    assert check.false_pass + check.false_fail == round((1 - check.agreement) * 400)
    assert -1 <= check.kappa <= 1


def test_cut_in_short_run(evaluator_module):
    from safety_val.sensitivity import analyze

    # the weak-AEB variant: 120 runs of the realistic cut-in would barely leave the g = 9 plateau
    cut_in = load_scenario(WEAK_AEB / "cut_in.yaml")
    with pytest.warns(UserWarning, match="independent"):
        result = analyze(
            cut_in, n=120, methods=("morris", "pawn"), seed=3, max_selection_samples=150
        )
    # Morris trajectories share points: the evaluator's cache makes some calls free
    assert 0 < result.costs["morris"] <= 120 and result.costs["given_data"] <= 120
    assert result.costs["total"] <= 300
    assert result.output == "g" and set(result.parameters) == set(cut_in.names)
    assert list(result.ranking["rank"]) == list(range(1, 8))
    assert result.selected and set(result.selected) <= set(cut_in.names)
    assert not result.score_curve.empty
    reduced = result.reduced_scenario()
    assert reduced.names == tuple(n for n in cut_in.names if n in result.selected)
    assert set(reduced.fixed) >= set(cut_in.names) - set(result.selected)
    print("selected:", result.selected, "notes:", result.notes)
    print(result.ranking.to_string())
