"""The worst failure probability over an ambiguity set of input means."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import openturns as ot
from scipy import optimize

from safety_val.errors import ValidationError
from safety_val.reliability.result import json_safe, reliability_index
from safety_val.robustness.reweighting import _Context, _Inputs
from safety_val.robustness.shifts import Shift

__all__ = ["WorstCase"]

_Array = np.ndarray


@dataclass(frozen=True)
class WorstCase:
    """The worst failure probability over an ambiguity set of input means.

    Attributes
    ----------
    ambiguity
        The set: ``"±1sd"`` or ``"odd"``.
    pf, cov, ci
        The worst :math:`p_f`, its coefficient of variation and 95 % interval.
    shifts
        Mean shift (σ units) per parameter that attains it.
    means
        The corresponding means, in physical units.
    ess
        Effective sample size of the re-weighting at the optimum (NaN after new
        simulations).
    how
        ``"re-weighted"`` or ``"new simulations"``.
    """

    ambiguity: str
    pf: float
    cov: float
    ci: tuple[float, float]
    shifts: Mapping[str, float]
    means: Mapping[str, float]
    ess: float
    how: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        out: dict[str, Any] = json_safe(
            {
                "ambiguity": self.ambiguity,
                "pf": self.pf,
                "cov": self.cov,
                "ci": list(self.ci),
                "beta": reliability_index(self.pf),
                "shifts": dict(self.shifts),
                "means": dict(self.means),
                "ess": self.ess,
                "how": self.how,
            }
        )
        return out


def _ambiguity_bounds(
    ambiguity: float | str, inputs: _Inputs, indices: list[int]
) -> list[tuple[float, float]]:
    if ambiguity != "odd":
        k = float(ambiguity)
        return [(-k, k) for _ in indices]
    scenario = inputs.scenario
    if scenario is None:
        raise ValidationError(
            "the 'odd' ambiguity set needs a scenario with an ODD; for a plain distribution "
            "use '1sd' (means within ±kσ)",
            field="ambiguity",
            value="odd",
        )
    bounds = []
    for i in indices:
        marginal = inputs.marginals[i]
        parameter = scenario.parameter(inputs.names[i])
        attribute_range = None
        if getattr(parameter, "odd_attribute", None) and getattr(scenario, "odd", None):
            attribute_range = scenario.odd.attribute(parameter.odd_attribute).range
        if attribute_range is None:
            bounds.append((0.0, 0.0))
            continue
        mean = float(marginal.getMean()[0])
        sigma = float(marginal.getStandardDeviation()[0])
        low, high = attribute_range
        bounds.append((min(0.0, (low - mean) / sigma), max(0.0, (high - mean) / sigma)))
    if all(high - low <= 0.0 for low, high in bounds):
        raise ValidationError(
            "an ambiguity set of zero width: no shiftable parameter has an ODD range",
            field="ambiguity",
            value="odd",
            expected="parameters mapped to ODD attributes with a numeric range, or '1sd'",
        )
    return bounds


def _worst_case(context: _Context, ambiguity: float | str, direction: _Array) -> WorstCase:
    inputs, sample = context.inputs, context.sample
    indices = inputs.continuous()
    bounds = _ambiguity_bounds(ambiguity, inputs, indices)
    fail = sample.failure()
    x_fail = sample.x[fail]
    log_w = sample.log_weight[fail]
    n = sample.n

    def changed(delta: _Array) -> dict[int, ot.Distribution]:
        out = {}
        for i, d in zip(indices, delta, strict=True):
            if abs(d) > 1e-12:
                out[i] = inputs.shifted_marginal(Shift(inputs.names[i], mean=float(d)))[0]
        return out

    def objective(delta: _Array) -> float:
        try:
            log_terms = log_w + inputs.log_ratio(x_fail, changed(delta))
        except ValidationError:
            return 1e3
        if not np.any(np.isfinite(log_terms)):
            return 1e3
        top = float(np.max(log_terms))
        return -(top + math.log(float(np.sum(np.exp(log_terms - top)))) - math.log(n))

    corner = [
        hi if direction[i] > 0 else lo if direction[i] < 0 else 0.0
        for i, (lo, hi) in zip(indices, bounds, strict=True)
    ]
    starts = [np.asarray(corner, dtype=float), np.zeros(len(indices))]
    best = (math.inf, starts[-1])
    for start in starts:
        solution = optimize.minimize(
            objective, start, method="L-BFGS-B", bounds=bounds, options={"eps": 1e-4}
        )
        candidate = (float(solution.fun), np.asarray(solution.x, dtype=float))
        if candidate[0] < best[0]:
            best = candidate
    delta = np.where(np.abs(best[1]) < 1e-9, 0.0, best[1])
    moved = changed(delta)
    label = "odd" if ambiguity == "odd" else f"±{float(ambiguity):g}sd"
    estimate = context.estimate(moved, True, f"the worst case over {label}")
    shifts = {inputs.names[i]: float(d) for i, d in zip(indices, delta, strict=True)}
    means = {
        inputs.names[i]: float(moved[i].getMean()[0])
        if i in moved
        else float(inputs.marginals[i].getMean()[0])
        for i in indices
    }
    return WorstCase(
        ambiguity=label,
        pf=float(estimate["pf"]),
        cov=float(estimate["cov"]),
        ci=(float(estimate["ci_low"]), float(estimate["ci_high"])),
        shifts=shifts,
        means=means,
        ess=float(estimate["ess"]),
        how=str(estimate["how"]),
    )
