"""Safety margins in σ units, their readings, and score-function sensitivities."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import openturns as ot
import pandas as pd

from safety_val.distributions import support
from safety_val.reliability.result import FailureProbabilityResult, reliability_index
from safety_val.robustness.reweighting import _Context

if TYPE_CHECKING:
    from safety_val.regions import CriticalRegions

__all__ = ["MARGIN_READINGS", "margin_reading"]

MARGIN_READINGS: tuple[tuple[float, str], ...] = (
    (6.0, "robust"),
    (4.5, "adequate"),
    (2.0, "weak"),
    (-math.inf, "critical"),
)
r"""Readings of a margin of :math:`\beta` standard deviations: the first threshold it reaches.

``robust`` :math:`\beta \ge 6` (pf below about :math:`10^{-9}`), ``adequate``
:math:`4.5 \le \beta < 6`, ``weak`` :math:`2 \le \beta < 4.5` (the usual "3σ" design),
``critical`` :math:`\beta < 2` (pf above about 2 %)."""


def margin_reading(beta: float) -> str:
    """The reading of a margin of ``beta`` σ (see :data:`MARGIN_READINGS`).

    Examples
    --------
    >>> [margin_reading(b) for b in (6.2, 5.0, 3.0, 1.0)]
    ['robust', 'adequate', 'weak', 'critical']
    """
    if not math.isfinite(beta):
        return "robust" if beta > 0 else "critical" if beta < 0 else "unknown"
    for threshold, reading in MARGIN_READINGS:
        if beta >= threshold:
            return reading
    return "critical"


def _margins(
    result: FailureProbabilityResult, sample_pf: float, modes: CriticalRegions | None = None
) -> pd.DataFrame:
    rows = []
    if modes is not None:
        # the failure modes of the critical-regions analysis (one per connected region)
        points = [
            (int(row["mode"]), float(row["beta"]), float(row["share"]))
            for row in modes.modes.to_dict("records")
        ]
    else:
        points = [(k, float(p.beta), math.nan) for k, p in enumerate(result.design_points)]
    for k, beta, share in points:
        rows.append(
            {
                "mode": f"mode {k}",
                "share": share,
                "beta": beta,
                "margin_sigma": beta,
                "reading": margin_reading(beta),
            }
        )
    overall = result.beta if math.isfinite(result.pf) else reliability_index(sample_pf)
    rows.append(
        {
            "mode": "overall",
            "share": 1.0,
            "beta": overall,
            "margin_sigma": overall,
            "reading": margin_reading(overall),
        }
    )
    return pd.DataFrame(rows, columns=["mode", "share", "beta", "margin_sigma", "reading"])


def _sensitivities(context: _Context, pf: float) -> pd.DataFrame:
    sample, inputs = context.sample, context.inputs
    fail = sample.failure()
    w = sample.weights() * fail
    rows = []
    for i in inputs.continuous():
        marginal = inputs.marginals[i]
        values = list(marginal.getParameter())
        descriptions = list(marginal.getParameterDescription())
        x = sample.x[fail]
        for j, (theta, label) in enumerate(zip(values, descriptions, strict=True)):
            if label in ("lowerBound", "upperBound"):
                continue  # truncation bounds move the support: no score
            # parameters that move the support (bounds, location of a Gamma) are skipped
            step = 1e-5 * max(1.0, abs(theta))
            try:
                perturbed = []
                for sign in (1.0, -1.0):
                    moved = ot.Distribution(marginal)
                    parameter = list(values)
                    parameter[j] = theta + sign * step
                    moved.setParameter(parameter)
                    if not np.allclose(support(moved), support(marginal), rtol=1e-12):
                        raise ValueError("a support parameter has no score")
                    perturbed.append(inputs.log_ratio(x, {i: moved}))
            except Exception:  # a parameter that cannot move has no score
                continue
            score = np.zeros(sample.n)
            score[fail] = (perturbed[0] - perturbed[1]) / (2.0 * step)
            terms = w * score
            dpf = float(np.mean(terms))
            error = float(np.std(terms, ddof=1) / math.sqrt(sample.n))
            rows.append(
                {
                    "parameter": inputs.names[i],
                    "distribution_parameter": label,
                    "value": float(theta),
                    "dpf": dpf,
                    "dpf_std_error": error,
                    "elasticity": float(theta) * dpf / pf if pf > 0 else math.nan,
                }
            )
    columns = ["parameter", "distribution_parameter", "value", "dpf", "dpf_std_error", "elasticity"]
    return pd.DataFrame(rows, columns=columns)
