"""analyze / analyze_given_data: dependence warning, bad input, result structure, plots."""

from __future__ import annotations

import json

import numpy as np
import openturns as ot
import pandas as pd
import pytest
from matplotlib.figure import Figure

from safety_val.errors import ValidationError
from safety_val.sensitivity import (
    METHODS,
    analyze,
    analyze_given_data,
    ishigami,
    ishigami_distribution,
)


def _linear(x):
    return 3 * x[:, 0] + x[:, 1] + 0.1 * x[:, 2]


def _dependent():
    marginals = [ot.Uniform(0.0, 1.0)] * 3
    r = ot.CorrelationMatrix(3)
    r[0, 1] = 0.7
    joint = ot.JointDistribution(marginals, ot.NormalCopula(r))
    joint.setDescription(["a", "b", "c"])
    return joint


def test_dependence_warns_and_is_noted():
    with pytest.warns(UserWarning, match="assume independent inputs"):
        result = analyze(
            _linear, _dependent(), n=200, methods=("morris", "pawn"), seed=1, selection=False
        )
    assert any("independent" in note for note in result.notes)
    assert set(result.indices["method"]) == {"morris", "pawn"}


def test_unknown_method_lists_valid_ones():
    with pytest.raises(ValidationError, match="unknown sensitivity method 'sobolx'") as err:
        analyze(_linear, _dependent(), n=200, methods=("sobolx",))
    for name in METHODS:
        assert name in str(err.value)


def test_constant_output_is_a_clear_error():
    with pytest.raises(ValidationError, match=r"output is constant \(value 2\): sensitivity"):
        analyze(
            lambda x: np.full(len(x), 2.0),
            ishigami_distribution(),
            n=200,
            methods=("morris",),
            seed=0,
        )


def test_nan_outputs_name_the_rows():
    def broken(x):
        y = ishigami(x)
        y[[3, 7]] = np.nan
        y[9] = np.inf
        return y

    with pytest.raises(
        ValidationError, match=r"3 of 200 outputs are NaN or infinite \(rows 3, 7, 9"
    ):
        analyze(broken, ishigami_distribution(), n=200, methods=("morris",), seed=0)


@pytest.mark.parametrize(
    ("method", "n", "minimum"),
    [
        ("sobol", 50, "n >= 80"),
        ("morris", 10, "n >= 16"),
        ("rbd_fast", 100, "n >= 220"),
        ("delta", 50, "n >= 100"),
        ("pawn", 50, "n >= 100"),
    ],
)
def test_too_few_samples_states_the_minimum(method, n, minimum):
    with pytest.raises(ValidationError, match=f"too few samples for {method}") as err:
        analyze(ishigami, ishigami_distribution(), n=n, methods=(method,), seed=0)
    assert minimum in str(err.value)


def test_mismatched_sizes_name_both():
    x = pd.DataFrame(np.zeros((120, 2)), columns=["a", "b"])
    with pytest.raises(ValidationError, match=r"119 outputs.*120 rows"):
        analyze_given_data(x, np.arange(119.0))


def test_given_data_rejects_design_methods_and_nan():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((150, 2)), columns=["a", "b"])
    with pytest.raises(ValidationError, match="one of rbd_fast, delta, pawn"):
        analyze_given_data(x, x["a"], methods=("sobol",))
    y = x["a"].to_numpy().copy()
    y[5] = np.nan
    with pytest.raises(ValidationError, match="rows 5"):
        analyze_given_data(x, y)


def test_batch_function_needs_distribution_and_no_kpi():
    with pytest.raises(ValidationError, match="needs its input distribution"):
        analyze(ishigami, n=200)
    with pytest.raises(ValidationError, match="output"):
        analyze(ishigami, ishigami_distribution(), n=200, output="min_ttc")


def test_executor_map_is_used():
    from safety_val.execution.serial import SerialExecutor

    class Counting(SerialExecutor):
        calls = 0

        def map(self, fn, batches):
            for batch in batches:
                Counting.calls += 1
                yield fn(batch)

    result = analyze(
        ishigami,
        ishigami_distribution(),
        n=200,
        methods=("pawn",),
        seed=0,
        executor=Counting(),
        selection=False,
    )
    assert Counting.calls >= 2 and result.costs["given_data"] == 200


def test_result_structure_and_plots():
    result = analyze(
        ishigami,
        ishigami_distribution(),
        n=480,
        methods=("morris", "sobol", "pawn"),
        seed=4,
        max_selection_samples=120,
    )
    assert list(result.indices.columns) == [
        "parameter",
        "method",
        "index",
        "value",
        "ci_low",
        "ci_high",
        "noise_floor",
        "above_noise",
    ]
    assert list(result.ranking.columns[:3]) == ["parameter", "rank", "mean_rank"]
    assert {"morris.mu_star", "sobol.ST", "pawn.median"} <= set(result.ranking.columns)
    assert (
        result.costs["total"]
        == result.costs["stage1"]
        == sum(result.costs[s] for s in ("morris", "sobol", "given_data"))
    )
    assert set(result.selected) <= {"x1", "x2", "x3"} and result.selected
    json.dumps(result.to_dict())
    frame = result.to_frame()
    assert {"rank", "selected"} <= set(frame.columns)

    bars = result.plot_indices("sobol")
    assert isinstance(bars, Figure)
    assert len(bars.axes[0].patches) == 3 * 2  # 3 parameters x (S1, ST)
    scatter = result.plot_morris()
    assert len(scatter.axes[0].collections[0].get_offsets()) == 3
    curve = result.plot_score_curve()
    points = sum(
        len(c.get_offsets())
        for c in curve.axes[0].collections
        if hasattr(c, "get_offsets")
        and c.get_offsets().ndim == 2
        and type(c).__name__ == "PathCollection"
    )
    assert points == len(result.score_curve)
