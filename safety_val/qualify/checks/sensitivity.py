r"""Sensitivity indices against the analytic values of the Ishigami and Sobol' G functions.

The models are SALib's own implementations (``SALib.test_functions``), not the copies in
:mod:`safety_val.sensitivity.functions`, so the check does not test the package against
itself; the analytic indices are the closed forms below (Ishigami) and SALib's
(``Sobol_G.sensitivity_index``, ``total_sensitivity_index``).

Ishigami (Ishigami & Homma 1990), :math:`f = \sin x_1 + a \sin^2 x_2 + b x_3^4 \sin x_1`,
:math:`x_i \sim U(-\pi, \pi)`, :math:`a = 7`, :math:`b = 0.1`: with
:math:`V_1 = \tfrac12 (1 + b\pi^4/5)^2`, :math:`V_2 = a^2/8`,
:math:`V_{13} = 8 b^2 \pi^8 / 225`, :math:`V = V_1 + V_2 + V_{13}`,

.. math::

    S_1 = V_1/V,\; S_2 = V_2/V,\; S_3 = 0,\;
    S_{T1} = (V_1 + V_{13})/V,\; S_{T2} = S_2,\; S_{T3} = V_{13}/V.

References
----------
Ishigami, T. and Homma, T. (1990), doi:10.1109/ISUMA.1990.151285; Saltelli, A. and
Sobol', I. M. (1995), doi:10.1016/0951-8320(95)00099-2; Saltelli, A. et al. (2010),
doi:10.1016/j.cpc.2009.09.018.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from safety_val.qualify.requirement import CheckContext, Outcome, Requirement

__all__ = ["G_COEFFICIENTS", "ishigami_analytic", "requirements"]

G_COEFFICIENTS = (0.0, 1.0, 4.5, 9.0, 99.0, 99.0, 99.0, 99.0)
"""Sobol' G coefficients: four influential inputs of decreasing importance, four inert."""

SOBOL_TOLERANCE = 0.05
"""Largest accepted absolute error of a first- or total-order Sobol' index."""


def ishigami_analytic(a: float = 7.0, b: float = 0.1) -> pd.DataFrame:
    """The analytic ``S1`` and ``ST`` of the Ishigami function (rows ``x1, x2, x3``).

    Examples
    --------
    >>> ishigami_analytic().round(4)["ST"].tolist()
    [0.5576, 0.4424, 0.2437]
    """
    v1 = 0.5 * (1.0 + b * math.pi**4 / 5.0) ** 2
    v2 = a * a / 8.0
    v13 = 8.0 * b * b * math.pi**8 / 225.0
    v = v1 + v2 + v13
    return pd.DataFrame(
        {"S1": [v1 / v, v2 / v, 0.0], "ST": [(v1 + v13) / v, v2 / v, v13 / v]},
        index=["x1", "x2", "x3"],
    )


def _g_analytic() -> pd.DataFrame:
    from SALib.test_functions import Sobol_G

    a = np.asarray(G_COEFFICIENTS)
    return pd.DataFrame(
        {"S1": Sobol_G.sensitivity_index(a), "ST": Sobol_G.total_sensitivity_index(a)},
        index=[f"x{i + 1}" for i in range(len(a))],
    )


def _ishigami(x: np.ndarray) -> np.ndarray:
    from SALib.test_functions import Ishigami

    return np.asarray(Ishigami.evaluate(np.asarray(x, dtype=float)), dtype=float)


def _sobol_g(x: np.ndarray) -> np.ndarray:
    from SALib.test_functions import Sobol_G

    return np.asarray(
        Sobol_G.evaluate(np.asarray(x, dtype=float), np.asarray(G_COEFFICIENTS)), dtype=float
    )


def _uniforms(names: list[str], lower: float, upper: float) -> Any:
    import openturns as ot

    joint = ot.JointDistribution([ot.Uniform(lower, upper)] * len(names))
    joint.setDescription(names)
    return joint


_FUNCTIONS = {
    "ishigami": (_ishigami, ["x1", "x2", "x3"], -math.pi, math.pi, ishigami_analytic),
    "sobol_g": (_sobol_g, [f"x{i + 1}" for i in range(8)], 0.0, 1.0, _g_analytic),
}


def _analyze(function: str, n: int, methods: tuple[str, ...], seed: int) -> Any:
    from safety_val.sensitivity import analyze

    model, names, lower, upper, _ = _FUNCTIONS[function]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyze(
            model,
            _uniforms(names, lower, upper),
            n=n,
            methods=methods,
            seed=seed,
            selection=False,
        )


def check_sobol(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Sobol' S1 and ST (Saltelli design) against the analytic indices."""
    function, seed = str(budget["function"]), int(budget["seed"])
    k = len(_FUNCTIONS[function][1])
    calls = int(budget["base"]) * (k + 2)
    result = _analyze(function, calls, ("sobol",), seed)
    truth = _FUNCTIONS[function][4]()
    table = result.indices[result.indices["method"] == "sobol"]
    details = []
    for row in table.itertuples(index=False):
        if row.index not in ("S1", "ST") or row.parameter not in truth.index:
            continue
        exact = float(truth.loc[row.parameter, row.index])
        error = abs(float(row.value) - exact)
        half = (float(row.ci_high) - float(row.ci_low)) / 2.0
        ok = error <= SOBOL_TOLERANCE and error <= 2.0 * half + 0.01
        details.append(
            {
                "parameter": row.parameter,
                "index": row.index,
                "estimate": float(row.value),
                "exact": exact,
                "error": error,
                "ci_half_width": half,
                "passed": bool(ok),
            }
        )
    worst = max(details, key=lambda d: d["error"])
    n_ok = sum(d["passed"] for d in details)
    return Outcome(
        passed=n_ok == len(details) and len(details) == 2 * len(truth),
        measured=(
            f"{n_ok}/{len(details)} indices within tolerance; largest error {worst['error']:.3f} "
            f"({worst['index']} of {worst['parameter']}: {worst['estimate']:.3f} vs "
            f"{worst['exact']:.3f}); {result.costs['sobol']} model calls"
        ),
        seed=seed,
        values={
            "max_error": worst["error"],
            "n_indices": len(details),
            "n_passed": n_ok,
            "model_calls": int(result.costs["sobol"]),
        },
        details=details,
    )


def check_ranking(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Screening methods rank the inputs in the analytic order."""
    function, seed = str(budget["function"]), int(budget["seed"])
    methods = tuple(budget["methods"])
    result = _analyze(function, int(budget["n"]), methods, seed)
    expected = list(budget["expected"])
    details = []
    for method in methods:
        index = {"morris": "mu_star", "delta": "delta", "rbd_fast": "S1"}[method]
        rows = result.indices[
            (result.indices["method"] == method) & (result.indices["index"] == index)
        ]
        order = rows.sort_values("value", ascending=False)["parameter"].tolist()
        top = order[: len(expected)]
        ok = top == expected if budget["ordered"] else set(top) == set(expected)
        details.append({"method": method, "index": index, "order": order, "passed": bool(ok)})
    return Outcome(
        passed=all(d["passed"] for d in details),
        measured="; ".join(
            f"{d['method']} ({d['index']}): {' > '.join(d['order'][: len(expected) + 1])}"
            for d in details
        ),
        seed=seed,
        values={"orders": {d["method"]: d["order"] for d in details}},
        details=details,
    )


def requirements() -> list[Requirement]:
    """The sensitivity requirements, in report order."""
    return [
        Requirement(
            id="QR-SENS-SOBOL-ishigami",
            area="sensitivity",
            title="Sobol' indices of Ishigami",
            text=(
                "Sobol' first- and total-order indices shall match the analytic values of the "
                "Ishigami function, an interacting, non-monotonic model."
            ),
            method=(
                "safety_val.sensitivity.analyze(methods=('sobol',)) on SALib's Ishigami "
                "(a = 7, b = 0.1, x ~ U(−π, π)³), Saltelli base sample {base} "
                "({calls} calls), seed {seed}."
            ),
            acceptance=(
                f"for S1 and ST of each input: |error| ≤ {SOBOL_TOLERANCE} and |error| ≤ 2 × the "
                "half-width of its 95 % bootstrap interval + 0.01."
            ),
            check=check_sobol,
            budgets={
                "quick": {"function": "ishigami", "base": 2048, "calls": 2048 * 5, "seed": 11},
                "full": {"function": "ishigami", "base": 8192, "calls": 8192 * 5, "seed": 11},
            },
        ),
        Requirement(
            id="QR-SENS-SOBOL-sobol_g",
            area="sensitivity",
            title="Sobol' indices of Sobol' G",
            text=(
                "Sobol' first- and total-order indices shall match the analytic values of the "
                "Sobol' G function (eight inputs, four inert)."
            ),
            method=(
                "safety_val.sensitivity.analyze(methods=('sobol',)) on SALib's Sobol_G with "
                "a = (0, 1, 4.5, 9, 99, 99, 99, 99), x ~ U(0, 1)⁸, Saltelli base sample {base} "
                "({calls} calls), seed {seed}; analytic indices from SALib."
            ),
            acceptance=(
                f"for S1 and ST of each input: |error| ≤ {SOBOL_TOLERANCE} and |error| ≤ 2 × the "
                "half-width of its 95 % bootstrap interval + 0.01."
            ),
            check=check_sobol,
            budgets={
                "quick": {"function": "sobol_g", "base": 1024, "calls": 1024 * 10, "seed": 5},
                "full": {"function": "sobol_g", "base": 4096, "calls": 4096 * 10, "seed": 5},
            },
        ),
        Requirement(
            id="QR-SENS-MORRIS-sobol_g",
            area="sensitivity",
            title="Morris screening of Sobol' G",
            text=(
                "Morris screening shall rank the influential inputs of Sobol' G above the "
                "inert ones."
            ),
            method=(
                "safety_val.sensitivity.analyze(methods=('morris',)) on SALib's Sobol_G, {n} "
                "calls ({trajectories} trajectories), seed {seed}."
            ),
            acceptance=(
                "the four largest μ* are those of x1–x4 (analytic ST ≥ 0.01; x5–x8 ≤ 1.1e-4)."
            ),
            check=check_ranking,
            budgets={
                mode: {
                    "function": "sobol_g",
                    "methods": ("morris",),
                    "n": 9 * 40,
                    "trajectories": 40,
                    "expected": ("x1", "x2", "x3", "x4"),
                    "ordered": False,
                    "seed": 5,
                }
                for mode in ("quick", "full")
            },
        ),
        Requirement(
            id="QR-SENS-GIVEN-ishigami",
            area="sensitivity",
            title="given-data indices rank Ishigami",
            text=(
                "The given-data methods (moment-independent delta, RBD-FAST) shall rank the "
                "Ishigami inputs in the analytic order of their first-order effects."
            ),  # the quick suite runs RBD-FAST only: delta's bootstrap costs about a minute
            method=(
                "safety_val.sensitivity.analyze(methods={method_list}) on SALib's Ishigami, "
                "{n} LHS points, seed {seed}."
            ),
            acceptance="order x2 > x1 > x3 for each method (analytic S1: 0.442, 0.314, 0).",
            check=check_ranking,
            budgets={
                mode: {
                    "function": "ishigami",
                    "methods": methods,
                    "method_list": repr(methods),
                    "n": 1000,
                    "expected": ("x2", "x1", "x3"),
                    "ordered": True,
                    "seed": 3,
                }
                for mode, methods in (("quick", ("rbd_fast",)), ("full", ("delta", "rbd_fast")))
            },
        ),
    ]
