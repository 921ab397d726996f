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
  looks common (it could converge within 5,000 draws), and otherwise its draws become
  the first level of adaptive importance sampling on the failure indicator
  (``"ais"``), which never fits :math:`g`.
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
- :math:`d >` ``ak_max_dimension``: a Gaussian process is hopeless, but many such
  problems have one dominant design point. A design-point search in standard space
  (HL-RF with forward-difference gradients, each gradient one batch of :math:`d + 1`
  runs) is followed by importance sampling around it; if the search fails, the budget
  goes to ``fallback``.

The result's ``method`` says what was chained (``"auto: ak"``, ``"auto: mc"``, ``"auto: mc
→ ais"``, ``"auto: ak → mc → ais"``, ``"auto: form → is"``), its ``message`` why and what
the diagnosis saw; ``n_calls`` counts every call of every stage. When no stage converges,
the estimate is the best-supported one (smallest finite CoV) and its interval the envelope
of every stage's interval, so that it covers wherever one of them does.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from safety_val.errors import ValidationError
from safety_val.reliability import active_learning
from safety_val.reliability._mixture import DefensiveMixture
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.registry import METHODS, get_method
from safety_val.reliability.result import (
    BudgetExhausted,
    DesignPoint,
    FailureProbabilityResult,
    lognormal_interval,
    make_result,
)

__all__ = ["Diagnosis", "diagnose", "run"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

_MIN_FALLBACK_CALLS = 200
_MC_SCREEN_PILOT = 1000  # most draws of the crude MC screen before it may give up
_MC_SCREEN_CALLS = 20_000  # crude MC continues while it may converge within this many draws
_ROUGH_SCREEN_PILOT = 200  # the screen before "ais": its draws are ais' first level
_ROUGH_SCREEN_CALLS = 5_000  # ... and it goes on only if pf is common (about >= 2e-2)
_IS_STOP_FRACTION = 0.8  # stop IS at 0.8 * target_cov: the stopping rule's own bias


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
    is_batch: int | None = None,
    form_max_iterations: int = 20,
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
    is_batch
        Importance-sampling batch size in high dimension; default
        :math:`\max(100, 4\,n_\mathrm{workers})`.
    form_max_iterations
        Maximum number of HL-RF iterations in high dimension.

    Returns
    -------
    FailureProbabilityResult
        ``method`` names the chain, ``message`` explains it; ``details["chain"]`` lists the
        stages with their estimates.

    Raises
    ------
    ValidationError
        Unknown ``fallback`` or an option out of range.

    Notes
    -----
    High dimension. HL-RF (Hasofer & Lind 1974; Rackwitz & Fiessler 1978) iterates

    .. math::

        u_{k+1} = \frac{\nabla G(u_k)^\top u_k - G(u_k)}{\lVert \nabla G(u_k) \rVert^2}
                  \nabla G(u_k),

    with :math:`G = g \circ T^{-1}` and the gradient by forward differences (step
    :math:`10^{-3}`, :math:`d + 1` runs per iteration, sent as one batch), with step
    halving when the margin does not decrease. The estimate is importance sampling with
    :math:`h = 0.05\,\varphi + 0.95\,\mathcal N(u^*, I)`,
    :math:`\hat p_f = \frac1N \sum_i 1[G(u_i) \le 0]\, \varphi(u_i)/h(u_i)`, grown in batches
    until its coefficient of variation :math:`\hat\delta = \hat s / (\sqrt N \hat p_f)`
    reaches :math:`0.8\,` ``target_cov``: :math:`\hat p_f` and :math:`\hat\delta` are
    correlated (a run that has seen too few large weights underestimates both), so
    stopping the first time :math:`\hat\delta \le` ``target_cov`` would select the
    runs whose CoV is understated and whose interval misses low; the margin pays for
    that selection (the reported CoV is :math:`\hat\delta`, with its log-normal 95 %
    interval). It is unbiased whatever the shape of the failure domain
    (the defensive component bounds the weights by 20); only its efficiency depends on
    the design point being the dominant one.

    References
    ----------
    Rackwitz, R. and Fiessler, B. (1978). Structural reliability under combined random
    load sequences. Computers & Structures 9(5), 489–494.
    https://doi.org/10.1016/0045-7949(78)90046-9

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
    ('auto: form → is', True)
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
    for name, value in (("ak_max_dimension", ak_max_dimension),
                        ("form_max_iterations", form_max_iterations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValidationError("must be an int >= 1", field=name, value=value,
                                  expected="an int >= 1")
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
    first = _form_importance_sampling(
        model, target_cov=target_cov, max_calls=max_calls, rng=rng, is_batch=is_batch,
        max_iterations=form_max_iterations,
    )
    why = (
        f"d={d} > {ak_max_dimension}: no surrogate; design-point search + importance "
        "sampling around it"
    )
    return _maybe_fallback(model, first, "form → is", why, target_cov, max_calls, rng,
                           fallback)


def _rough(
    model: LimitStateModel,
    diagnosis: Diagnosis,
    target_cov: float,
    max_calls: int | None,
    rng: np.random.Generator,
    fallback: str,
) -> FailureProbabilityResult:
    """No surrogate: a short crude Monte Carlo screen, then ``"ais"`` from its draws."""
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
    x, g = model.recorded()
    x, g = x[start:], g[start:]
    first = adaptive_is.run(
        model, target_cov=target_cov, max_calls=max_calls, rng=rng,
        initial=(model.to_standard(x), g),
    )
    why += (
        f"; crude Monte Carlo screen: {screen.message}; adaptive importance sampling on the "
        "failure indicator from the screen's draws"
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


class _Stop(Exception):
    """The budget does not allow the next batch."""


def _form_importance_sampling(
    model: LimitStateModel,
    *,
    target_cov: float,
    max_calls: int | None,
    rng: np.random.Generator,
    is_batch: int | None,
    max_iterations: int,
    step: float = 1e-3,
) -> FailureProbabilityResult:
    """HL-RF design point with batched finite differences, then importance sampling."""
    d = int(model.dimension)
    workers = 1 if model.executor is None else max(1, int(model.executor.n_workers))
    batch = int(is_batch) if is_batch else max(100, 4 * workers)
    history: list[dict[str, float]] = []
    notes: list[str] = []

    def evaluate(u: _Array, stage: str) -> _Array:
        remaining = _remaining(model, max_calls)
        if remaining is not None and remaining < len(u):
            raise _Stop
        with model.stage(stage):
            return model.evaluate(model.to_physical(u))

    def value_and_gradient(u: _Array) -> tuple[float, _Array]:
        points = np.vstack([u[None, :], u[None, :] + step * np.eye(d)])
        g = evaluate(points, "auto-form")
        return float(g[0]), (g[1:] - g[0]) / step

    u = np.zeros(d)
    design: _Array | None = None
    try:
        g, grad = value_and_gradient(u)
        g0 = abs(g) if g != 0 else 1.0
        if g <= 0:
            notes.append("the mean point fails: pf is not small")
        for _ in range(max_iterations):
            norm2 = float(grad @ grad)
            if norm2 == 0 or not np.isfinite(norm2):
                notes.append("zero gradient: the design-point search cannot proceed")
                break
            target = (float(grad @ u) - g) / norm2 * grad
            length = 1.0
            new_g, new_grad = value_and_gradient(u + length * (target - u))
            while abs(new_g) > abs(g) + 0.1 * g0 and length > 0.1:
                length *= 0.5
                new_g, new_grad = value_and_gradient(u + length * (target - u))
            moved = float(np.linalg.norm(length * (target - u)))
            u, g, grad = u + length * (target - u), new_g, new_grad
            if moved <= 1e-3 * (1.0 + float(np.linalg.norm(u))) and abs(g) <= 1e-2 * g0:
                design = u
                break
        else:
            notes.append(f"HL-RF did not converge in {max_iterations} iterations")
            if abs(g) <= 0.05 * g0:
                design = u  # close enough to centre an importance density
    except _Stop:
        notes.append("budget exhausted during the design-point search")
    if design is None:
        return make_result(
            model, method="form → is", pf=math.nan, cov=math.nan, ci=(math.nan, math.nan),
            converged=False, message="; ".join(notes) or "no design point",
        )
    beta = float(np.linalg.norm(design))
    mixture = (
        DefensiveMixture.centred_at(design[None, :], np.ones(1), defensive=0.05)
        if beta > 1e-9
        else DefensiveMixture.centred_at(np.empty((0, d)), np.empty(0), defensive=1.0)
    )
    values: list[_Array] = []
    pf, cov = math.nan, math.inf
    converged = False
    try:
        while True:
            remaining = _remaining(model, max_calls)
            size = batch if remaining is None else min(batch, remaining)
            if size < 1:
                raise _Stop
            u_is = mixture.sample(size, rng, d)
            g_is = evaluate(u_is, "auto-is")
            values.append(mixture.weights_of(u_is) * (g_is <= 0))
            terms = np.concatenate(values)
            pf = float(terms.mean())
            cov = float(terms.std(ddof=1) / math.sqrt(len(terms)) / pf) if pf > 0 else math.inf
            low, high = lognormal_interval(pf, cov) if pf > 0 else (0.0, math.nan)
            history.append({"n_calls": model.n_calls, "pf": pf, "cov": cov, "ci_low": low,
                            "ci_high": high})
            if pf > 0 and cov <= _IS_STOP_FRACTION * target_cov and len(terms) >= 2 * batch:
                converged = True
                break
    except (_Stop, BudgetExhausted):
        notes.append("budget exhausted during importance sampling")
    n_is = int(sum(len(v) for v in values))
    ci = lognormal_interval(pf, cov) if pf > 0 and math.isfinite(cov) else (math.nan, math.nan)
    x = model.to_physical(design[None, :])[0]
    importance = (
        pd.Series((design / beta) ** 2, index=list(model.names)) if beta > 0 else None
    )
    return make_result(
        model, method="form → is", pf=pf if n_is else math.nan,
        cov=cov if math.isfinite(cov) else math.nan, ci=ci, converged=converged,
        message="; ".join(notes), history=history,
        design_points=(DesignPoint(x=x, u=design, beta=beta, importance=importance),),
        details={"beta_form": beta, "pf_form": float(stats.norm.sf(beta)),
                 "n_importance_samples": n_is},
        n_trials=n_is,
    )
