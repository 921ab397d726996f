"""Likelihood-ratio re-weighting of an importance sample under shifted input marginals.

:class:`_Inputs` holds the nominal joint distribution and shifts its marginals;
:class:`_Context` turns a set of changed marginals into a re-weighted estimate of
:math:`p_f`, or into new simulations when the effective sample size is too small.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openturns as ot

from safety_val._random import derive_seed
from safety_val.distributions import support
from safety_val.errors import ValidationError
from safety_val.execution.base import Executor
from safety_val.reliability.importance import ImportanceSample
from safety_val.reliability.result import lognormal_interval
from safety_val.robustness.shifts import Shift, parse_shift

__all__ = ["MIN_FAILURES_ESS"]

_Array = np.ndarray

MIN_FAILURES_ESS = 10.0
"""Failing points (in effective number) that must carry a re-weighted estimate."""

_NEGLIGIBLE_MASS = 1e-12


class _Inputs:
    """The nominal joint distribution, its marginals and what can be shifted."""

    def __init__(self, distribution: ot.Distribution, names: Sequence[str], scenario: Any) -> None:
        self.distribution = ot.Distribution(distribution)
        self.names = tuple(names)
        self.scenario = scenario
        self.dimension = int(self.distribution.getDimension())
        self.marginals = [self.distribution.getMarginal(i) for i in range(self.dimension)]
        self.independent = bool(self.distribution.hasIndependentCopula())
        self._cdf_cache: dict[int, tuple[_Array, _Array]] = {}

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValidationError(
                "unknown parameter",
                field="shifts",
                value=name,
                expected=f"one of {', '.join(self.names)}",
            ) from None

    def continuous(self) -> list[int]:
        return [i for i, m in enumerate(self.marginals) if m.isContinuous()]

    def check_continuous(self, i: int, what: str) -> None:
        if not self.marginals[i].isContinuous():
            raise ValidationError(
                f"parameter {self.names[i]!r} is discrete or categorical: a {what} has no "
                "meaning for it (shift only continuous parameters)",
                field="shifts",
                value=self.names[i],
            )

    def shifted_marginal(self, shift: Shift) -> tuple[ot.Distribution, bool]:
        """The shifted marginal and whether its support stays inside the nominal one."""
        i = self.index(shift.parameter)
        self.check_continuous(i, "distribution shift")
        marginal = self.marginals[i]
        implementation = marginal.getImplementation()
        truncated = implementation.getClassName() == "TruncatedDistribution"
        base = ot.Distribution(implementation.getDistribution()) if truncated else marginal
        sigma = float(marginal.getStandardDeviation()[0])
        mu = float(base.getMean()[0])
        moved = base
        if shift.spread != 1.0:
            moved = (moved - mu) * float(shift.spread) + mu
        if shift.mean != 0.0:
            moved = moved + float(shift.mean) * sigma
        moved = ot.Distribution(moved)
        lower, upper = support(marginal)
        mass = _mass(moved, lower, upper)
        if not mass > _NEGLIGIBLE_MASS:
            raise ValidationError(
                f"the shift {shift.label} of {shift.parameter!r} moves its distribution "
                f"outside its support [{lower:g}, {upper:g}]: no probability is left inside",
                field=f"shifts.{shift.parameter}",
                value=shift.label,
                expected="a smaller shift",
            )
        bounded = math.isfinite(lower) or math.isfinite(upper)
        if truncated and shift.beyond_odd:  # the ODD bounds move with the shift
            new_lower = min(lower, mu + (lower - mu) * shift.spread + shift.mean * sigma)
            new_upper = max(upper, mu + (upper - mu) * shift.spread + shift.mean * sigma)
            moved = _truncate(moved, new_lower, new_upper)
        elif bounded and not shift.beyond_odd:  # the ODD (the support) still holds
            moved = _truncate(moved, lower, upper)
        new_lower, new_upper = support(moved)
        tolerance = 1e-9 * max(1.0, abs(lower), abs(upper))
        inside = new_lower >= lower - tolerance and new_upper <= upper + tolerance
        moved.setDescription([shift.parameter])
        return moved, inside

    def log_ratio(self, x: _Array, changed: Mapping[int, ot.Distribution]) -> _Array:
        r""":math:`\log f'(x) - \log f(x)` when the marginals in ``changed`` are replaced.

        With Sklar's decomposition :math:`f(x) = c(F_1(x_1), \dots) \prod_j f_j(x_j)`, only
        the changed marginal densities and the copula term move; the unchanged marginals
        (discrete ones included) cancel.
        """
        total = np.zeros(len(x))
        if not changed:
            return total
        for i, marginal in changed.items():
            total += _log_pdf(marginal, x[:, i]) - _log_pdf(self.marginals[i], x[:, i])
        if not self.independent:
            copula = self.copula()
            nominal = self._copula_arguments(x)
            moved = nominal.copy()
            for i, marginal in changed.items():
                moved[:, i] = _cdf(marginal, x[:, i])
            total += _log_pdf(copula, moved) - _log_pdf(copula, nominal)
        return np.where(np.isnan(total), -np.inf, total)

    def copula(self) -> ot.Distribution:
        """The nominal copula (refused clearly when the joint has none)."""
        try:
            return ot.Distribution(self.distribution.getCopula())
        except Exception as exc:
            raise ValidationError(
                f"cannot separate the copula of the input distribution ({exc})",
                field="distribution",
            ) from exc

    def _copula_arguments(self, x: _Array) -> _Array:
        key = id(x)
        cached = self._cdf_cache.get(key)
        if cached is None or cached[0] is not x:
            values = np.column_stack([_cdf(m, x[:, j]) for j, m in enumerate(self.marginals)])
            cached = (x, values)
            self._cdf_cache[key] = cached
        return cached[1]

    def joint(self, marginals: Sequence[ot.Distribution]) -> ot.Distribution:
        try:
            joint = ot.JointDistribution(list(marginals), self.distribution.getCopula())
        except Exception as exc:  # value-set blocks have no copula of their own
            raise ValidationError(
                f"cannot rebuild the joint distribution with a shifted marginal ({exc})",
                field="distribution",
            ) from exc
        joint.setDescription(list(self.names))
        return ot.Distribution(joint)


def _truncate(distribution: ot.Distribution, lower: float, upper: float) -> ot.Distribution:
    """``distribution`` truncated to ``[lower, upper]`` (an infinite side is left open)."""
    own_lower, own_upper = support(distribution)
    interval = distribution.getRange()
    low = lower if math.isfinite(lower) else float(interval.getLowerBound()[0])
    high = upper if math.isfinite(upper) else float(interval.getUpperBound()[0])
    if low <= own_lower and high >= own_upper:
        return distribution
    bounds = ot.Interval([low], [high], [math.isfinite(lower)], [math.isfinite(upper)])
    return ot.Distribution(ot.TruncatedDistribution(distribution, bounds))


def _mass(distribution: ot.Distribution, lower: float, upper: float) -> float:
    high = 1.0 if math.isinf(upper) else float(distribution.computeCDF(upper))
    low = 0.0 if math.isinf(lower) else float(distribution.computeCDF(lower))
    return high - low


def _log_pdf(distribution: ot.Distribution, x: _Array) -> _Array:
    points = np.asarray(x, dtype=float)
    if points.ndim == 1:
        points = points.reshape(-1, 1)
    values = np.asarray(distribution.computeLogPDF(ot.Sample(points)), dtype=float).ravel()
    return np.where(values < -1e300, -np.inf, values)


def _cdf(distribution: ot.Distribution, x: _Array) -> _Array:
    values = np.asarray(distribution.computeCDF(ot.Sample(x.reshape(-1, 1))), dtype=float).ravel()
    return np.clip(values, 1e-15, 1.0 - 1e-15)


def _failure_ess(sample: ImportanceSample, log_ratio: _Array) -> float:
    fail = sample.failure()
    if not np.any(fail):
        return 0.0
    log_w = (sample.log_weight + log_ratio)[fail]
    if not np.any(np.isfinite(log_w)):
        return 0.0
    v = np.exp(log_w - np.max(log_w))
    return float(np.sum(v) ** 2 / np.sum(v * v))


def _normalise_shifts(shifts: Any, inputs: _Inputs) -> list[Shift]:
    if shifts is None:
        out = []
        for i in inputs.continuous():
            name = inputs.names[i]
            out += [Shift(name, mean=-1.0), Shift(name, mean=1.0), Shift(name, spread=1.5)]
        return out
    if isinstance(shifts, Shift | str):
        shifts = [shifts]
    items: list[Any]
    if isinstance(shifts, Mapping):
        items = []
        for name, spec in shifts.items():
            if isinstance(spec, Shift):
                items.append(spec)
            elif isinstance(spec, str):
                items.append(parse_shift(f"{name}={spec}"))
            else:
                items.append(Shift(str(name), mean=spec))
    else:
        items = list(shifts)
    out = []
    for item in items:
        shift = parse_shift(item) if isinstance(item, str) else item
        if not isinstance(shift, Shift):
            raise ValidationError(
                "cannot read the shift",
                field="shifts",
                value=item,
                expected="a Shift or 'name=+1sd'",
            )
        inputs.check_continuous(inputs.index(shift.parameter), "distribution shift")
        out.append(shift)
    return out


@dataclass
class _Context:
    sample: ImportanceSample
    inputs: _Inputs
    limit_state: Callable[[_Array], Any] | None
    min_ess: float
    rng: np.random.Generator
    executor: Executor | None
    max_calls: int | None
    method: str = "auto"
    n_calls: int = 0
    notes: list[str] = field(default_factory=list)

    def estimate(
        self, changed: Mapping[int, ot.Distribution], inside: bool, what: str
    ) -> dict[str, Any]:
        """Re-weighted estimate, or new simulations when re-weighting is unreliable."""
        log_ratio = self.inputs.log_ratio(self.sample.x, changed)
        pf, cov = self.sample.pf(log_ratio)
        ess = self.sample.effective_sample_size(log_ratio)
        fail_ess = _failure_ess(self.sample, log_ratio)
        reasons = []
        if not inside:
            reasons.append("the shifted support leaves the simulated one")
        if ess < self.min_ess:
            reasons.append(f"effective sample size {ess:.0f} < min_ess={self.min_ess:g}")
        if fail_ess < MIN_FAILURES_ESS:
            reasons.append(f"only {fail_ess:.1f} effective failing points carry the estimate")
        if not reasons:
            low, high = lognormal_interval(pf, cov)
            return {
                "pf": pf,
                "cov": cov,
                "ci_low": low,
                "ci_high": high,
                "ess": ess,
                "how": "re-weighted",
            }
        if self.limit_state is None:
            raise ValidationError(
                f"{what} cannot be re-weighted reliably ({'; '.join(reasons)}) and new "
                "simulations need the limit state: pass limit_state=, or a larger "
                "n_reference",
                field="limit_state",
                value=None,
            )
        from safety_val.reliability import estimate_failure_probability

        marginals = [changed.get(i, m) for i, m in enumerate(self.inputs.marginals)]
        joint = self.inputs.joint(marginals)
        result = estimate_failure_probability(
            self.limit_state,
            joint,
            method=self.method,
            seed=derive_seed(self.rng),
            executor=self.executor,
            max_calls=self.max_calls,
        )
        self.n_calls += result.n_calls
        self.notes.append(f"{what}: new simulations, {result.method} ({'; '.join(reasons)})")
        return {
            "pf": result.pf,
            "cov": result.cov,
            "ci_low": result.ci[0],
            "ci_high": result.ci[1],
            "ess": math.nan,
            "how": "new simulations",
        }
