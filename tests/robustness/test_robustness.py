"""Tests of safety_val.robustness against a linear limit state with known answers."""

from __future__ import annotations

import json

import numpy as np
import openturns as ot
import pytest
from scipy import stats

from safety_val.errors import ValidationError
from safety_val.reliability import estimate_failure_probability
from safety_val.reliability.result import FailureProbabilityResult
from safety_val.robustness import (
    RobustnessResult,
    Shift,
    analyze,
    margin_reading,
    parse_ambiguity,
    parse_shift,
)

BETA = 3.0
A = np.array([0.6, 0.8])  # ||a|| = 1
Z = 4.0  # tolerance in standard errors


def linear(x: np.ndarray) -> np.ndarray:
    """g = beta - a.x: pf = Phi(-beta) under independent standard normal inputs."""
    return BETA - np.asarray(x) @ A


@pytest.fixture(scope="module")
def form_result() -> FailureProbabilityResult:
    return estimate_failure_probability(linear, ot.Normal(2), method="form", seed=1)


@pytest.fixture(scope="module")
def robust(form_result: FailureProbabilityResult) -> RobustnessResult:
    return analyze(
        form_result,
        limit_state=linear,
        distribution=ot.Normal(2),
        shifts=["x0=+1sd", "x0=-1sd", "x0=x1.5", "x1=+1sd"],
        ambiguity="1sd",
        n_reference=2000,
        seed=3,
    )


def _within(estimate: float, cov: float, exact: float) -> bool:
    return abs(estimate - exact) <= Z * cov * estimate


def test_margin_equals_analytic_beta(robust: RobustnessResult) -> None:
    mode = robust.margins.iloc[0]
    assert mode["beta"] == pytest.approx(BETA, abs=1e-6)
    assert mode["margin_sigma"] == pytest.approx(BETA, abs=1e-6)
    assert mode["reading"] == "weak"
    assert robust.margins.iloc[-1]["mode"] == "overall"
    assert robust.beta == pytest.approx(BETA, abs=1e-6)
    assert _within(robust.pf, robust.cov, float(stats.norm.cdf(-BETA)))


@pytest.mark.parametrize(("shift", "delta"), [("+1sd", 1.0), ("-1sd", -1.0)])
def test_reweighted_mean_shift_matches_analytic(
    robust: RobustnessResult, shift: str, delta: float
) -> None:
    row = robust.shifts.set_index(["parameter", "shift"]).loc[("x0", shift)]
    exact = float(stats.norm.cdf(-(BETA - A[0] * delta)))
    assert row["how"] == "re-weighted"
    assert row["ci_low"] <= exact <= row["ci_high"]
    assert _within(row["pf"], row["cov"], exact)
    assert row["ess"] >= 200


def test_reweighted_spread_inflation_matches_analytic(robust: RobustnessResult) -> None:
    row = robust.shifts.set_index(["parameter", "shift"]).loc[("x0", "x1.5")]
    exact = float(stats.norm.cdf(-BETA / np.sqrt(1.0 + A[0] ** 2 * (1.5**2 - 1.0))))
    assert _within(row["pf"], row["cov"], exact)


def test_score_function_sensitivity_matches_analytic(robust: RobustnessResult) -> None:
    table = robust.sensitivities.set_index(["parameter", "distribution_parameter"])
    for i, name in enumerate(("x0", "x1")):
        row = table.loc[(name, "mu_0")]
        exact = float(stats.norm.pdf(BETA) * A[i])  # d pf / d mu_i
        assert abs(row["dpf"] - exact) <= Z * row["dpf_std_error"]
        sigma_row = table.loc[(name, "sigma_0")]
        exact_sigma = float(stats.norm.pdf(BETA) * BETA * A[i] ** 2)  # d pf / d sigma_i
        assert abs(sigma_row["dpf"] - exact_sigma) <= Z * sigma_row["dpf_std_error"]
        assert sigma_row["elasticity"] == pytest.approx(sigma_row["dpf"] / robust.pf)


def test_worst_case_over_one_sigma(robust: RobustnessResult) -> None:
    worst = robust.worst_case
    assert worst is not None
    assert worst.shifts == pytest.approx({"x0": 1.0, "x1": 1.0}, abs=1e-3)
    exact = float(stats.norm.cdf(-(BETA - np.abs(A).sum())))
    assert worst.ci[0] <= exact <= worst.ci[1]
    assert worst.how == "re-weighted"


def test_table_dict_and_tornado(robust: RobustnessResult) -> None:
    frame = robust.to_frame()
    assert frame["parameter"].iloc[0] == "(nominal)"
    assert frame["parameter"].iloc[-1] == "(worst case)"
    json.dumps(robust.to_dict())
    figure = robust.plot_tornado()
    assert len(figure.axes) == 1
    assert len(figure.axes[0].patches) >= 3


def test_default_shifts_and_reuse_of_the_sample(
    form_result: FailureProbabilityResult, robust: RobustnessResult
) -> None:
    again = analyze(form_result, distribution=ot.Normal(2), sample=robust.sample, min_ess=50)
    assert again.n_calls == 0
    assert set(again.shifts["shift"]) == {"-1sd", "+1sd", "x1.5"}
    assert len(again.shifts) == 6


def test_unreliable_reweighting_runs_new_simulations(form_result: FailureProbabilityResult) -> None:
    result = analyze(
        form_result,
        limit_state=linear,
        distribution=ot.Normal(2),
        shifts=[Shift("x1", mean=-3.0)],
        n_reference=500,
        min_ess=10_000,  # impossible: forces new simulations
        max_calls=20_000,
        seed=4,
    )
    row = result.shifts.iloc[0]
    assert row["how"] == "new simulations"
    exact = float(stats.norm.cdf(-(BETA + 3.0 * A[1])))
    assert row["ci_low"] <= exact <= row["ci_high"]
    assert result.notes and "new simulations" in result.notes[0]
    assert result.n_calls > 500


def test_new_simulations_use_the_method_asked_for(form_result: FailureProbabilityResult) -> None:
    """The pipeline re-uses the method that converged at nominal (follow_up_method)."""
    result = analyze(
        form_result,
        limit_state=linear,
        distribution=ot.Normal(2),
        shifts=[Shift("x1", mean=-3.0)],
        n_reference=500,
        min_ess=10_000,
        max_calls=20_000,
        seed=4,
        # NAIS: its interval covers pf = 3.3e-8 here (10 of seeds 0-9); subset's covered it
        # in only 5 of seeds 0-19, so with subset this test proved the seed, not the routing
        method="nais",
    )
    row = result.shifts.iloc[0]
    exact = float(stats.norm.cdf(-(BETA + 3.0 * A[1])))
    assert row["how"] == "new simulations" and row["ci_low"] <= exact <= row["ci_high"]
    assert "new simulations, nais (" in result.notes[0]


def test_unreliable_without_limit_state_is_refused(robust: RobustnessResult) -> None:
    with pytest.raises(ValidationError, match="limit_state"):
        analyze(
            _result(),
            distribution=ot.Normal(2),
            sample=robust.sample,
            shifts=["x0=+1sd"],
            min_ess=10_000,
        )


def _result() -> FailureProbabilityResult:
    return FailureProbabilityResult(
        pf=1e-3, cov=0.1, ci=(8e-4, 1.2e-3), n_calls=10, converged=True, method="test"
    )


# ---------------------------------------------------------------------------- bad input
def test_no_failure_samples_asks_for_a_larger_budget() -> None:
    def never(x: np.ndarray) -> np.ndarray:
        return 10.0 + 0.0 * np.asarray(x)[:, 0]

    with pytest.warns(UserWarning):
        result = estimate_failure_probability(never, ot.Normal(1), method="mc", max_calls=100)
    with pytest.raises(ValidationError, match="larger budget"), pytest.warns(UserWarning):
        analyze(result, limit_state=never, distribution=ot.Normal(1), n_reference=20)


def test_shift_outside_the_support() -> None:
    uniform = ot.TruncatedDistribution(ot.Uniform(0.0, 10.0), ot.Interval(2.0, 8.0))
    distribution = ot.JointDistribution([ot.Distribution(uniform), ot.Normal()])

    def g(x: np.ndarray) -> np.ndarray:
        return 7.5 - np.asarray(x)[:, 0] - 0.1 * np.asarray(x)[:, 1]

    result = estimate_failure_probability(g, distribution, method="mc", max_calls=500, seed=5)
    with pytest.raises(ValidationError, match=r"x0.*\+10sd.*outside its support"):
        analyze(
            result,
            limit_state=g,
            distribution=distribution,
            shifts=["x0=+10sd"],
            n_reference=200,
            seed=6,
        )
    # beyond the ODD the bounds widen: support leaves the simulated one -> new simulations
    moved = analyze(
        result,
        limit_state=g,
        distribution=distribution,
        shifts=[Shift("x0", mean=0.5, beyond_odd=True)],
        n_reference=200,
        max_calls=2000,
        seed=7,
    )
    assert moved.shifts.iloc[0]["how"] == "new simulations"


def test_zero_width_ambiguity(form_result: FailureProbabilityResult) -> None:
    with pytest.raises(ValidationError, match="zero width"):
        analyze(form_result, limit_state=linear, distribution=ot.Normal(2), ambiguity="0sd")
    with pytest.raises(ValidationError, match="zero width"):
        parse_ambiguity(-1.0)
    with pytest.raises(ValidationError, match="scenario"):
        analyze(
            form_result,
            limit_state=linear,
            distribution=ot.Normal(2),
            ambiguity="odd",
            n_reference=50,
            seed=1,
        )


def test_discrete_parameter_shift_is_refused(robust: RobustnessResult) -> None:
    distribution = ot.JointDistribution([ot.Normal(), ot.Poisson(2.0)])
    with pytest.raises(ValidationError, match="discrete or categorical"):
        analyze(_result(), distribution=distribution, sample=robust.sample, shifts=["x1=+1sd"])


def test_parsers() -> None:
    assert parse_shift("rain_intensity=+2sd") == Shift("rain_intensity", mean=2.0)
    assert parse_shift("cut_in_gap=-1sd").mean == -1.0
    assert parse_shift("ego_speed=x1.5").spread == 1.5
    assert parse_shift("rain=+3sd beyond-odd").beyond_odd
    with pytest.raises(ValidationError, match="cannot read"):
        parse_shift("rain=heavier")
    with pytest.raises(ValidationError, match="spread"):
        Shift("x", spread=0.0)
    assert [margin_reading(b) for b in (6.0, 4.5, 2.0, 1.9)] == [
        "robust",
        "adequate",
        "weak",
        "critical",
    ]


def test_margins_per_failure_mode_of_the_critical_regions() -> None:
    """With the regions' modes, margins are one per connected failure region with shares.

    g = min(3 - x0, 3 + x0): two symmetric half-planes at distance 3, each half of pf.
    """
    from safety_val import regions

    def two_sided(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return np.minimum(3.0 - x[:, 0], 3.0 + x[:, 0])

    result = estimate_failure_probability(
        two_sided, ot.Normal(2), method="mc", max_calls=40_000, seed=4
    )
    modes = regions.analyze(result, distribution=ot.Normal(2), seed=0)
    robust = analyze(
        result, limit_state=two_sided, distribution=ot.Normal(2), modes=modes,
        shifts=["x1=+1sd"], n_reference=500, seed=5,
    )
    per_mode = robust.margins[robust.margins["mode"] != "overall"]
    assert len(per_mode) == 2
    assert per_mode["share"].sum() == pytest.approx(1.0)
    assert per_mode["share"].to_numpy() == pytest.approx([0.5, 0.5], abs=0.1)
    # a design point is the failing sample nearest the origin: just beyond |x0| = 3
    assert ((per_mode["beta"] >= 3.0) & (per_mode["beta"] < 3.3)).all()
    overall = robust.margins.iloc[-1]
    assert overall["beta"] == pytest.approx(-stats.norm.ppf(2 * stats.norm.cdf(-3.0)), abs=0.1)
