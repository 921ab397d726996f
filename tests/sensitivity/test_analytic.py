"""Validation against analytic answers: Ishigami, Sobol' G, the 20-input sparse function."""

from __future__ import annotations

import numpy as np
import pandas as pd

from safety_val.sensitivity import (
    G_FUNCTION_A,
    SPARSE_INFLUENTIAL,
    analyze,
    analyze_given_data,
    ishigami,
    ishigami_distribution,
    ishigami_indices,
    sobol_g,
    sobol_g_distribution,
    sobol_g_indices,
    sparse_distribution,
    sparse_function,
)

#: Saltelli base samples: N (k + 2) model calls.
N_ISHIGAMI = 8192  # k = 3 -> 40960 calls
N_G = 4096  # k = 8 -> 40960 calls


def _sobol_table(result) -> pd.DataFrame:
    table = result.indices[result.indices["method"] == "sobol"]
    return table.pivot(index="parameter", columns="index", values=["value", "ci_low", "ci_high"])


def _check_against(table: pd.DataFrame, truth: pd.DataFrame) -> None:
    for index in ("S1", "ST"):
        estimate = table[("value", index)].loc[truth.index]
        half_width = (table[("ci_high", index)] - table[("ci_low", index)]).loc[truth.index] / 2
        error = (estimate - truth[index]).abs()
        # the bound, and the estimator's own bootstrap interval (x2 for 95 % -> ~4 sd)
        assert (error < 0.05).all(), (index, error.to_dict())
        assert (error <= 2 * half_width + 0.01).all(), (index, error.to_dict())


def test_ishigami_sobol_within_005():
    result = analyze(
        ishigami,
        ishigami_distribution(),
        n=N_ISHIGAMI * 5,
        methods=("sobol",),
        seed=11,
        selection=False,
    )
    assert result.costs["sobol"] == N_ISHIGAMI * 5
    _check_against(_sobol_table(result), ishigami_indices())


def test_ishigami_given_data_ranking():
    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.uniform(-np.pi, np.pi, (1000, 3)), columns=["x1", "x2", "x3"])
    result = analyze_given_data(
        x, ishigami(x.to_numpy()), methods=("delta", "rbd_fast"), seed=3, selection=False
    )
    for method, index_name in (("delta", "delta"), ("rbd_fast", "S1")):
        table = result.indices
        rows = table[(table["method"] == method) & (table["index"] == index_name)]
        order = rows.sort_values("value", ascending=False)["parameter"].tolist()
        # first-order / moment-independent importance of Ishigami: x2 > x1 > x3
        assert order == ["x2", "x1", "x3"], (method, order)


def test_sobol_g_within_005_and_morris_ranking():
    result = analyze(
        sobol_g,
        sobol_g_distribution(),
        n=N_G * 10,
        methods=("sobol",),
        seed=5,
        selection=False,
    )
    _check_against(_sobol_table(result), sobol_g_indices(G_FUNCTION_A))
    morris = analyze(
        sobol_g, sobol_g_distribution(), n=9 * 40, methods=("morris",), seed=5, selection=False
    )
    assert set(morris.ranking["parameter"].iloc[:4]) == {"x1", "x2", "x3", "x4"}
    assert morris.costs["morris"] == 9 * 40


def test_stage2_selects_exactly_the_three_influential_inputs():
    result = analyze(
        sparse_function,
        sparse_distribution(),
        n=21 * 8,
        methods=("morris",),
        seed=2,
        max_selection_samples=150,
    )
    assert set(result.selected) == set(SPARSE_INFLUENTIAL)
    curve = result.score_curve
    assert len(curve) == 21 and curve["kept"].sum() == 4  # step 0 + the three inputs
    assert curve["score_mean"].max() > 0.95
    assert result.costs["stage2"] == 0
