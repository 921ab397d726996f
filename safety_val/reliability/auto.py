r"""Method ``"auto"`` (the default): choose and chain methods from what is known and learned.

The choice depends on what a cheap diagnosis sees, the dimension, the budget and what
the first method learns:

- *Diagnosis* (:math:`d \le` ``ak_max_dimension``, ``2 * n_twins`` calls): ``n_twins``
  points drawn from the input distribution and, for each, a *twin* moved by
  :math:`10^{-3}` in standard space. A smooth limit state changes by about
  :math:`10^{-3} \lVert\nabla G\rVert` between twins; a simulator whose outcome depends
  on random numbers seeded per concrete scenario changes by its noise. The diagnosis
  reports *noise* when the median twin difference exceeds 2 % of the margins' spread,
  a *plateau* when at least 3 and 20 % of the margins share one value (clipping, "nobody
  closed in"), *discrete inputs* when a marginal is discrete or categorical, and runs
  that returned no margin (error/timeout). Any of them rules out a Gaussian-process
  surrogate: a crude Monte Carlo screen of 200 draws goes on only while :math:`p_f`
  looks common (it could converge within 5,000 draws), and otherwise adaptive
  importance sampling on the failure indicator (``"ais"``), which never fits :math:`g`,
  takes the budget, starting from the screen's draws.
- Otherwise, :math:`d \le` ``ak_max_dimension`` (20): the active-learning surrogate
  (``"ak"``), whose error includes the surrogate's. If it does not converge (a limit
  state the Gaussian process cannot model, no failure region found, budget) and enough
  budget is left, the remaining calls go to a surrogate-free sampler and the better-
  supported of the estimates is returned. That sampler starts with a crude Monte Carlo
  screen: when :math:`p_f` is not rare (say :math:`10^{-2}`, a few thousand calls at CoV
  0.1) crude MC is the cheapest unbiased estimator and is immune to discontinuous or
  multi-modal limit states; it gives up after a pilot of ``min(1000, budget / 10)``
  draws as soon as even the upper 95 % bound of :math:`p_f` says it needs more than
  20,000 draws (or the budget), and the rest goes to the rare-event sampler ``fallback``
  (``"ais"`` by default).
- :math:`d >` ``ak_max_dimension``: a Gaussian process is hopeless, and a design point
  with importance sampling around it misses the curvature of a failure surface spread
  over many coordinates: ``"ais"`` with its many-dimension proposals (a soft-thresholded
  mean, a spiked covariance; :func:`~safety_val.reliability._student.structured_fit`).

If the first stage does not converge and enough budget is left, the rest goes to a
surrogate-free ``fallback`` (crude MC after ``"ais"``). The result's ``method`` says what
was chained (``"auto: ak"``, ``"auto: mc"``, ``"auto: mc → ais"``, ``"auto: ais"``,
``"auto: ais → mc"``, ``"auto: ak → mc → ais"``), its ``message`` why and what
the diagnosis saw; ``n_calls`` counts every call of every stage. When no stage converges,
the estimate is the best-supported one (smallest finite CoV) and its interval the envelope
of every stage's interval, so that it covers wherever one of them does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from safety_val.errors import ValidationError
from safety_val.reliability import active_learning
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.registry import METHODS, get_method
from safety_val.reliability.result import (
    DesignPoint,
    FailureProbabilityResult,
)

__all__ = ["Diagnosis", "diagnose", "run"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

_MIN_FALLBACK_CALLS = 200
_ROUGH_SCREEN_PILOT = 200  # the screen before "ais": its draws are ais' first level
_ROUGH_SCREEN_CALLS = 5_000  # ... and it goes on only if pf is common (about >= 2e-2)
_MC_SCREEN_PILOT = 1000  # most draws of the crude MC screen before it may give up
_MC_SCREEN_CALLS = 20_000  # crude MC continues while it may converge within this many draws


def run(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: np.random.Generator | None = None,
    ak_max_dimension: int = 20,
    fallback: str = "ais",
    n_twins: int = 8,
    batch_size: int | None = None,
) -> FailureProbabilityResult:
    r"""Estimate :math:`p_f` by choosing and chaining methods.

    Parameters
    ----------
    model
        The limit state, its distribution, the executor and the call counter.
    target_cov
        Target coefficient of variation of the final estimate.
    max_calls
        Stop before :attr:`LimitStateModel.n_calls` would exceed this (``None``: the
        model's own budget).
    rng
        Random generator.
    ak_max_dimension
        Largest dimension handled by the surrogate method ``"ak"``.
    fallback
        Surrogate-free method (a name of :data:`~safety_val.reliability.registry.METHODS`)
        that receives the remaining budget when the first stage does not converge.
    n_twins
        Pairs of the diagnosis (0: no diagnosis, the limit state is taken as smooth); at
        most an eighth of the budget, and none below 3 pairs.
    batch_size
        Passed to ``"ak"`` (points per learning round).

    Returns
    -------
    FailureProbabilityResult
        ``method`` names the chain, ``message`` explains it; ``details["chain"]`` lists the
        stages with their estimates.

    Raises
    ------
    ValidationError
        Unknown ``fallback`` or an option out of range.

    References
    ----------
    Echard, B., Gayton, N., Lemaire, M. and Relun, N. (2013). A combined importance
    sampling and Kriging reliability method for small failure probabilities.
    Reliability Engineering & System Safety 111, 232–240.
    https://doi.org/10.1016/j.ress.2012.10.008

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> from safety_val.reliability import estimate_failure_probability
    >>> def g(x):
    ...     return 3.5 - x.sum(axis=1) / np.sqrt(x.shape[1])
    >>> result = estimate_failure_probability(g, ot.Normal(30), seed=0)  # method="auto"
    >>> result.method, result.converged
    ('auto: ais', True)
    >>> bool(result.ci[0] <= 2.326e-4 <= result.ci[1])
    True
    """
    if fallback not in METHODS or fallback in ("auto", "ak"):
        raise ValidationError(
            "must be a surrogate-free method",
            field="fallback",
            value=fallback,
            expected=f"one of {', '.join(sorted(set(METHODS) - {'auto', 'ak'}))}",
        )
    if (isinstance(ak_max_dimension, bool) or not isinstance(ak_max_dimension, int)
            or ak_max_dimension < 1):
        raise ValidationError("must be an int >= 1", field="ak_max_dimension",
                              value=ak_max_dimension, expected="an int >= 1")
    if isinstance(n_twins, bool) or not isinstance(n_twins, int) or n_twins < 0:
        raise ValidationError("must be an int >= 0", field="n_twins", value=n_twins,
                              expected="an int >= 0")
    rng = np.random.default_rng() if rng is None else rng
    d = int(model.dimension)
    if d <= ak_max_dimension:
        remaining = _remaining(model, max_calls)
        pairs = n_twins if remaining is None else min(n_twins, remaining // 8)
        diagnosis = diagnose(model, rng, pairs) if pairs >= 3 else None
        if diagnosis is not None and diagnosis.rules_out_surrogate:
            return _rough(model, diagnosis, target_cov, max_calls, rng, fallback)
        first = active_learning.run(
            model, target_cov=target_cov, max_calls=max_calls, rng=rng, batch_size=batch_size
        )
        why = f"d={d} <= {ak_max_dimension}: active-learning surrogate"
        if diagnosis is not None:
            why += f" (the diagnosis saw {diagnosis.describe()})"
        return _maybe_fallback(model, first, "ak", why, target_cov, max_calls, rng, fallback,
                               diagnosis)
    from safety_val.reliability import adaptive_is

    first = adaptive_is.run(model, target_cov=target_cov, max_calls=max_calls, rng=rng)
    why = (
        f"d={d} > {ak_max_dimension}: no surrogate; adaptive importance sampling with "
        "sparse-mean, spiked-covariance proposals"
    )
    return _maybe_fallback(model, first, "ais", why, target_cov, max_calls, rng,
                           "mc" if fallback == "ais" else fallback)


def _rough(
    model: LimitStateModel,
    diagnosis: Diagnosis,
    target_cov: float,
    max_calls: int | None,
    rng: np.random.Generator,
    fallback: str,
) -> FailureProbabilityResult:
    """No surrogate: a short crude Monte Carlo screen, then ``"ais"``.

    The screen's draws are the first level of ``"ais"``, unless a discrete input has a
    rare level: then ``"ais"`` starts from its category-balanced density (a draw from the
    input distribution would hardly ever visit the rare level).
    """
    from safety_val.reliability import adaptive_is
    from safety_val.reliability.sampling import run_monte_carlo

    d = int(model.dimension)
    why = f"d={d}; the diagnosis saw {diagnosis.describe()}: no surrogate"
    extra = {"diagnosis": diagnosis.as_dict()}
    start = model.n_calls
    screen = run_monte_carlo(
        model, target_cov=target_cov, max_calls=max_calls, rng=rng,
        futility_after=_ROUGH_SCREEN_PILOT, futility_calls=_ROUGH_SCREEN_CALLS,
        block_size=max(_ROUGH_SCREEN_PILOT // 4, model.openturns_block_size()),
    )
    chain = [_summary("mc", screen)]
    if screen.converged:
        return _relabel(model, screen, "auto: mc", why,
                        "pf is not rare: the crude Monte Carlo screen reached the target CoV",
                        chain, extra=extra)
    balanced = adaptive_is.balances_rare_levels(model)
    x, g = model.recorded()
    x, g = x[start:], g[start:]
    first = adaptive_is.run(
        model, target_cov=target_cov, max_calls=max_calls, rng=rng,
        initial=None if balanced else (model.to_standard(x), g),
    )
    why += (
        f"; crude Monte Carlo screen: {screen.message}; adaptive importance sampling on the "
        + ("failure indicator from a category-balanced start (a discrete input has a level "
           "rarer than 5 %)" if balanced else "failure indicator from the screen's draws")
    )
    return _maybe_fallback(model, first, "mc → ais", why, target_cov, max_calls, rng,
                           "mc" if fallback == "ais" else fallback, diagnosis, chain=chain,
                           earlier=[screen])


def _remaining(model: LimitStateModel, max_calls: int | None) -> int | None:
    limits = [m for m in (max_calls, model.max_calls) if m is not None]
    return None if not limits else max(0, min(limits) - model.n_calls)


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What a few twin evaluations say about a limit state (see the module docstring).

    Attributes
    ----------
    roughness
        Median :math:`|g(u) - g(u + 10^{-3} v)|` over twins not on a plateau, divided by the
        margins' spread (interquartile range, else standard deviation); NaN when every
        twin pair lies on a plateau.
    plateau_share
        Share of the diagnosis' margins equal to the most frequent value.
    plateau_value
        That value.
    discrete
        Names of the discrete or categorical inputs.
    n_calls
        Calls the diagnosis spent.
    n_errors
        Of those, simulations that returned no margin (error/timeout).
    """

    roughness: float
    plateau_share: float
    plateau_value: float
    discrete: tuple[str, ...]
    n_calls: int
    n_errors: int = 0

    @property
    def noisy(self) -> bool:
        """Twins differ by more than 2 % of the spread: noise, or jumps everywhere."""
        return bool(np.isfinite(self.roughness) and self.roughness > _ROUGH)

    @property
    def plateau(self) -> bool:
        """At least 3 margins and 20 % of them share one value."""
        return self.plateau_share >= _PLATEAU_SHARE and self.plateau_count >= 3

    @property
    def plateau_count(self) -> int:
        """Number of margins equal to the most frequent value."""
        return round(self.plateau_share * self.n_calls)

    @property
    def rules_out_surrogate(self) -> bool:
        """Noise, a plateau, discrete inputs or failed runs rule out a Gaussian process.

        It would be misled by the first three, and stopped by the last (it needs a
        margin at every point).
        """
        return self.noisy or self.plateau or bool(self.discrete) or self.n_errors > 0

    def describe(self) -> str:
        """One phrase for the result's message."""
        parts = []
        if np.isfinite(self.roughness):
            parts.append(
                ("noise" if self.noisy else "no noise")
                + f" (twins 1e-3 apart differ by {self.roughness:.1%} of the spread)"
            )
        if self.plateau:
            parts.append(
                f"a plateau ({self.plateau_share:.0%} of {self.n_calls} margins equal "
                f"{self.plateau_value:.4g})"
            )
        if self.discrete:
            parts.append(f"discrete inputs ({', '.join(self.discrete)})")
        if self.n_errors:
            parts.append(f"{self.n_errors} of {self.n_calls} runs without a margin "
                         "(error/timeout)")
        return ", ".join(parts) or "a smooth limit state"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary for ``details["diagnosis"]``."""
        return {
            "roughness": self.roughness, "plateau_share": self.plateau_share,
            "plateau_value": self.plateau_value, "discrete": list(self.discrete),
            "n_calls": self.n_calls, "noisy": self.noisy, "plateau": self.plateau,
            "n_errors": self.n_errors,
        }


_ROUGH = 0.02
_PLATEAU_SHARE = 0.2
_TWIN_STEP = 1e-3


def diagnose(model: LimitStateModel, rng: np.random.Generator, n_twins: int = 8) -> Diagnosis:
    """Evaluate ``n_twins`` points and their twins (one batch) and read noise and plateaus.

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> model = LimitStateModel(lambda x: np.minimum(3.0 - x[:, 0], 1.0), ot.Normal(2))
    >>> found = diagnose(model, np.random.default_rng(0))
    >>> found.plateau, found.noisy, model.n_calls
    (True, False, 18)
    """
    d = int(model.dimension)
    u = rng.standard_normal((n_twins, d))
    direction = rng.standard_normal((n_twins, d))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    points = np.vstack([u, u + _TWIN_STEP * direction])
    with model.stage("auto-diagnosis"), model.tolerate_errors():
        g = model.evaluate(model.to_physical(points))
    first, second = g[:n_twins], g[n_twins:]
    finite = g[np.isfinite(g)]
    if len(finite):
        values, counts = np.unique(finite, return_counts=True)
        top = int(np.argmax(counts))
        share, value = float(counts[top] / len(g)), float(values[top])
    else:
        share, value = 0.0, math.nan
    moving = np.isfinite(first) & np.isfinite(second) & ~((first == value) & (second == value))
    spread = 0.0
    if len(finite) >= 4:
        q1, q3 = np.quantile(finite, [0.25, 0.75])
        spread = float(q3 - q1) or float(np.std(finite))
    roughness = (
        float(np.median(np.abs(first[moving] - second[moving]))) / spread
        if moving.any() and spread > 0 else math.nan
    )
    marginals = (model.distribution.getMarginal(j) for j in range(d))
    discrete = tuple(name for name, m in zip(model.names, marginals, strict=True)
                     if m.isDiscrete())
    return Diagnosis(roughness, share, value, discrete, len(points),
                     int(np.count_nonzero(np.isnan(g))))


def _maybe_fallback(
    model: LimitStateModel,
    first: FailureProbabilityResult,
    name: str,
    why: str,
    target_cov: float,
    max_calls: int | None,
    rng: np.random.Generator,
    fallback: str,
    diagnosis: Diagnosis | None = None,
    chain: list[dict[str, Any]] | None = None,
    earlier: list[FailureProbabilityResult] | None = None,
) -> FailureProbabilityResult:
    chain = [*(chain or []), _summary(name.split(" → ")[-1], first)]
    tried = [*(earlier or []), first]
    extra = {"diagnosis": diagnosis.as_dict()} if diagnosis is not None else {}
    if first.converged:
        return _relabel(model, first, f"auto: {name}", why, first.message, chain, extra=extra)
    remaining = _remaining(model, max_calls)
    if remaining is not None and remaining < _MIN_FALLBACK_CALLS:
        return _unsupported(
            model, tried, f"auto: {name}", why,
            f"{name} did not converge ({first.message}); {remaining} calls left, too few "
            f"for a fallback to {fallback}",
            chain, extra,
        )
    reason = f"{name} did not converge ({first.message})"
    path = name
    pilot = min(_MC_SCREEN_PILOT, (remaining if remaining is not None else 10**6) // 10)
    if fallback != "mc" and pilot >= _MIN_FALLBACK_CALLS // 2:
        from safety_val.reliability.sampling import run_monte_carlo

        screen = run_monte_carlo(
            model, target_cov=target_cov, max_calls=max_calls, rng=rng, futility_after=pilot,
            futility_calls=_MC_SCREEN_CALLS,
        )
        chain.append(_summary("mc", screen))
        path += " → mc"
        tried.append(screen)
        if screen.converged:
            return _relabel(
                model, screen, f"auto: {path}", why,
                reason + "; the crude Monte Carlo screen reached the target CoV",
                chain, design_points=first.design_points or screen.design_points, extra=extra,
            )
        reason += f"; crude Monte Carlo screen: {screen.message}"
        remaining = _remaining(model, max_calls)
        if remaining is not None and remaining < _MIN_FALLBACK_CALLS:
            return _unsupported(
                model, tried, f"auto: {path}", why,
                reason + f"; {remaining} calls left, too few for {fallback}", chain, extra,
            )
    reason += f"; remaining budget to {fallback}"
    path += f" → {fallback}"
    second = get_method(fallback)(
        model, target_cov=target_cov, max_calls=max_calls, rng=rng
    )
    chain.append(_summary(fallback, second))
    tried.append(second)
    if second.converged:
        message = reason + (f"; {fallback}: {second.message}" if second.message else "")
        return _relabel(model, second, f"auto: {path}", why, message, chain,
                        design_points=first.design_points or second.design_points, extra=extra)
    return _unsupported(
        model, tried, f"auto: {path}", why,
        reason + f"; {fallback} did not converge either ({second.message})", chain, extra,
    )


def _unsupported(
    model: LimitStateModel,
    tried: list[FailureProbabilityResult],
    method: str,
    why: str,
    reason: str,
    chain: list[dict[str, Any]],
    extra: dict[str, Any],
) -> FailureProbabilityResult:
    """No stage converged: the best-supported estimate with the envelope of the intervals."""
    best = min(tried, key=_support)
    lows = [r.ci[0] for r in tried if math.isfinite(r.ci[0])]
    highs = [r.ci[1] for r in tried if math.isfinite(r.ci[1])]
    ci = (min(lows), max(highs)) if lows and highs else best.ci
    kept = "crude Monte Carlo" if best.method == "mc" else best.method
    message = (
        f"{reason}; not converged: reporting the {kept} estimate, the best supported, with "
        "the envelope of every stage's 95 % interval"
        if len(tried) > 1 else reason
    )
    design = next((r.design_points for r in tried if r.design_points), ())
    relabelled = _relabel(model, best, method, why, message, chain, design_points=design,
                          extra=extra)
    return dataclasses.replace(relabelled, ci=ci, converged=False)


def _support(result: FailureProbabilityResult) -> float:
    """Smaller is better supported: a finite positive estimate's CoV, else infinity."""
    ok = result.pf > 0 and math.isfinite(result.pf) and math.isfinite(result.cov)
    return result.cov if ok else math.inf


def _summary(name: str, result: FailureProbabilityResult) -> dict[str, Any]:
    return {
        "method": name, "pf": result.pf, "cov": result.cov, "converged": result.converged,
        "n_calls": result.n_calls, "message": result.message,
    }


def _relabel(
    model: LimitStateModel,
    result: FailureProbabilityResult,
    method: str,
    why: str,
    message: str,
    chain: list[dict[str, Any]],
    design_points: tuple[DesignPoint, ...] | None = None,
    extra: dict[str, Any] | None = None,
) -> FailureProbabilityResult:
    """The chain's result: every call counted (``model.n_calls``), every stage listed."""
    details = dict(result.details)
    details["chain"] = chain
    details["choice"] = why
    details.update(extra or {})
    return dataclasses.replace(
        result,
        method=method,
        message="; ".join(part for part in (why, message) if part),
        details=details,
        n_calls=model.n_calls,
        samples=model.samples(),
        design_points=result.design_points if design_points is None else design_points,
    )
