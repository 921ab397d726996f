r"""Sampling methods on OpenTURNS' implementations: MC, directional, subset, CE-IS, NAIS.

Each method builds the failure event :math:`\{g(X) \le 0\}` on the model's
:class:`openturns.Function` (whose blocks go through the executor), runs OpenTURNS'
algorithm, and turns its result into a
:class:`~safety_val.reliability.result.FailureProbabilityResult`:

- ``converged`` is ``True`` only when the estimator's coefficient of variation reached
  ``target_cov`` within the budget; otherwise the message says what was reached and
  roughly what it would take;
- the 95 % interval is Clopper–Pearson for crude Monte Carlo and log-normal (from the
  coefficient of variation) for the other samplers;
- a zero estimate is never final (see :func:`~safety_val.reliability.result.make_result`).

The adaptive methods (subset, CE-IS, NAIS) run *independent repetitions* of OpenTURNS'
algorithm until the pooled coefficient of variation
:math:`\delta = \sqrt{\sum_r \mathrm{Var}(\hat p_r)} / \sum_r \hat p_r` reaches the target
or the next repetition would not fit in the budget. Each step of one repetition is one
batch of ``n_per_step`` points, split by the model into blocks for the executor.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import openturns as ot
import pandas as pd

from safety_val._random import SeedLike, as_generator, seed_openturns
from safety_val._validation import Interval, check_options
from safety_val.errors import ValidationError
from safety_val.reliability.failed_runs import account_for_failed_runs
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.result import (
    BudgetExhausted,
    DesignPoint,
    FailureProbabilityResult,
    clopper_pearson_interval,
    lognormal_interval,
    make_result,
    zero_failure_upper_bound,
)

__all__ = [
    "run_cross_entropy",
    "run_directional",
    "run_monte_carlo",
    "run_nais",
    "run_subset",
    "sample_design_point",
]

_FALLBACK_BUDGET = 100_000


def _remaining(model: LimitStateModel, max_calls: int | None) -> int:
    """Calls this method may still spend (the model's budget, else ``max_calls``)."""
    remaining = model.remaining_calls
    if remaining is None:
        remaining = (_FALLBACK_BUDGET if max_calls is None else max_calls) - model.n_calls
    return max(0, int(remaining))


def _row(n_calls: int, pf: float, cov: float, ci: tuple[float, float]) -> dict[str, float]:
    return {"n_calls": n_calls, "pf": pf, "cov": cov, "ci_low": ci[0], "ci_high": ci[1]}


def sample_design_point(model: LimitStateModel, start: int = 0) -> tuple[DesignPoint, ...]:
    r"""The most probable failing sample seen since call ``start`` (min :math:`\lVert u\rVert`).

    Returns an empty tuple when no failing point was evaluated. The importance factors are
    the squared direction cosines :math:`u_i^2 / \lVert u \rVert^2`.
    """
    x, g = model.recorded()
    x, g = x[start:], g[start:]
    failing = x[g <= 0.0]
    if len(failing) == 0:
        return ()
    u = model.to_standard(failing)
    norms = np.linalg.norm(u, axis=1)
    best = int(np.argmin(norms))
    beta = float(norms[best])
    importance = (
        pd.Series(u[best] ** 2 / beta**2, index=list(model.names), name="importance")
        if beta > 0
        else None
    )
    point = DesignPoint(x=failing[best].copy(), u=u[best].copy(), beta=beta, importance=importance)
    return (point,)


def _not_reached(cov: float, target_cov: float, n_calls: int, budget_note: str) -> str:
    if math.isfinite(cov):
        return (
            f"coefficient of variation {cov:.3g} > target {target_cov:g} "
            f"after {n_calls} calls{budget_note}"
        )
    return f"no estimate of the coefficient of variation after {n_calls} calls{budget_note}"


# ---------------------------------------------------------------------- crude Monte Carlo
def run_monte_carlo(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: SeedLike = None,
    block_size: int | None = None,
    futility_after: int | None = None,
    futility_calls: int | None = None,
) -> FailureProbabilityResult:
    r"""Crude Monte Carlo until ``target_cov`` or the budget.

    Parameters
    ----------
    model
        The limit-state model.
    target_cov
        Stop when :math:`\hat\delta \le` ``target_cov``.
    max_calls
        Budget (the model's, if it has one, takes precedence).
    rng
        Seed (``int``, :class:`numpy.random.Generator` or ``None`` for fresh entropy);
        OpenTURNS' generator is seeded from it just before the algorithm runs, so a fixed
        seed gives the same estimate whatever OpenTURNS' global state.
    block_size
        Points per OpenTURNS block (one batch through the executor); default
        ``min(1000, budget / 20)`` but at least 4 per worker.
    futility_after
        Give up once this many draws show that crude MC cannot reach ``target_cov`` within
        the budget: even at the upper 95 % Clopper–Pearson bound :math:`p^+` of
        :math:`p_f` it needs :math:`(1 - p^+)/(p^+ \delta^2)` draws, more than
        ``futility_calls`` (default: the budget). ``None`` (default): never give up.
    futility_calls
        See ``futility_after``.

    Returns
    -------
    FailureProbabilityResult
        ``ci`` is the exact Clopper–Pearson interval of the failure count. Failed
        simulations (NaN margins: a simulator's ``error``/``timeout`` rows) are excluded
        from the estimate (:math:`k/N` over the :math:`N` successful draws) and counted in
        ``details["n_errors"]`` and the message; ``ci`` then runs from the lower bound had
        they all passed to the upper bound had they all failed
        (``details["ci_excluding_errors"]``: without them). Above
        :data:`~safety_val.reliability.failed_runs.ERROR_SHARE_WARNING` of the draws, or
        clustered where failures would be, they raise a :class:`RuntimeWarning` and the
        result is not ``converged`` (see :mod:`safety_val.reliability.failed_runs`).

    Notes
    -----
    :math:`\hat p_f = k/N` with :math:`k` failures in :math:`N` draws; its coefficient of
    variation is :math:`\sqrt{(1 - \hat p_f)/(N \hat p_f)}`, so reaching :math:`\delta`
    takes about :math:`N \approx 1/(p_f \delta^2)` calls — 10⁴ at :math:`p_f = 10^{-2}`,
    :math:`\delta = 0.1`. Without failures only the upper bound
    :math:`1 - 0.05^{1/N} \approx 3/N` is reported, with ``converged=False``.

    References
    ----------
    Rubinstein, R. Y. and Kroese, D. P. (2016). Simulation and the Monte Carlo Method,
    3rd ed. Wiley. https://doi.org/10.1002/9781118631980

    Examples
    --------
    >>> import openturns as ot
    >>> model = LimitStateModel(lambda x: 1.0 - x[:, 0], ot.Normal(1), max_calls=5000)
    >>> result = run_monte_carlo(model, target_cov=0.1, rng=0)
    >>> result.converged, bool(result.ci[0] < 0.1587 < result.ci[1])
    (True, True)
    """
    count = [None, Interval(int, 1, None)]
    check_options(
        {"block_size": count, "futility_after": count, "futility_calls": count},
        block_size=block_size,
        futility_after=futility_after,
        futility_calls=futility_calls,
    )
    remaining = _remaining(model, max_calls)
    if block_size is None:
        block = max(model.openturns_block_size(), min(1000, remaining // 20))
    else:
        block = int(block_size)
    block = max(1, min(block, remaining))
    outer = remaining // block if remaining else 0
    start = model.n_calls
    if outer < 1:
        return make_result(
            model,
            method="mc",
            pf=math.nan,
            cov=math.nan,
            ci=(0.0, 1.0),
            converged=False,
            message=f"no budget left for crude Monte Carlo ({remaining} calls)",
        )
    algorithm = ot.ProbabilitySimulationAlgorithm(model.event(), ot.MonteCarloExperiment())
    algorithm.setBlockSize(block)
    algorithm.setMaximumOuterSampling(outer)
    algorithm.setMaximumCoefficientOfVariation(target_cov)
    calls: list[int] = []
    gave_up: list[str] = []
    affordable = remaining if futility_calls is None else min(remaining, int(futility_calls))

    def record() -> bool:
        calls.append(model.n_calls)
        drawn = model.n_calls - start - model.count_errors(start)
        if drawn == 0:
            gave_up.append(
                f"gave up after {model.n_calls - start} calls: every simulation failed "
                "(NaN margin); check the simulator's error messages"
            )
            return True
        if futility_after is None or drawn < futility_after:
            return False
        k = int(np.count_nonzero(model.recorded()[1][start:] <= 0.0))
        upper = clopper_pearson_interval(k, drawn)[1]
        needed = math.ceil((1.0 - upper) / (upper * target_cov**2))
        if needed <= affordable:
            return False
        gave_up.append(
            f"gave up after {drawn} calls ({k} failures): even at the upper 95 % bound "
            f"pf = {upper:.3g} crude MC needs about {needed} calls, more than {affordable}"
        )
        return True

    algorithm.setStopCallback(record)
    exhausted: BudgetExhausted | None = None
    seed_openturns(as_generator(rng))
    try:
        with model.stage("mc"), model.openturns_errors():
            algorithm.run()
    except BudgetExhausted as exc:  # only if someone else shares the model's budget
        exhausted = exc
    _, g = model.recorded()
    drawn = g[start:]
    valid = ~np.isnan(drawn)  # failed simulations: neither passes nor failures
    n_errors = int(np.count_nonzero(~valid))
    failures = np.cumsum(drawn[valid] <= 0.0)
    valid_before = np.cumsum(valid)
    n = len(failures)
    history = []
    for n_calls in calls:
        m = int(valid_before[n_calls - start - 1]) if n_calls > start else 0
        k = int(failures[m - 1]) if m > 0 else 0
        p = k / m if m else math.nan
        c = math.sqrt((1.0 - p) / (m * p)) if k > 0 else math.nan
        history.append(_row(n_calls, p, c, clopper_pearson_interval(k, m)))
    k = int(failures[-1]) if n else 0
    pf = k / n if n else math.nan
    cov = math.sqrt((1.0 - pf) / (n * pf)) if k > 0 else math.nan
    converged = k > 0 and cov <= target_cov and exhausted is None
    message = ""
    if not converged and k > 0:
        needed = math.ceil((1.0 - pf) / (pf * target_cov**2))
        message = (
            _not_reached(cov, target_cov, n, f" within the budget of {remaining} calls")
            + f"; crude MC would need about {needed} calls"
        )
    elif not converged and n > 0:  # no failure: the upper bound says how far off the budget is
        upper = zero_failure_upper_bound(n)
        needed = math.ceil((1.0 - upper) / (upper * target_cov**2))
        message = (
            f"no failure in {n} calls: pf is below {upper:.3g}, so crude MC would need more "
            f"than {needed} calls to reach a coefficient of variation of {target_cov:g}"
        )
    if exhausted is not None:
        message = f"{exhausted}; {message}" if message else str(exhausted)
    if gave_up and not converged:
        message = gave_up[0]
    details: dict[str, Any] = {"n_samples": n, "n_failures": k, "block_size": block}
    design_points = sample_design_point(model, start)
    ci = clopper_pearson_interval(k, n)
    if n_errors:
        # excluded from the denominator: the truth lies between "they all passed"
        # (k / (n + e)) and "they all failed" ((k + e) / (n + e))
        low = clopper_pearson_interval(k, n + n_errors)[0]
        ci = (min(ci[0], low), ci[1])
    ci, converged, note, extra = account_for_failed_runs(
        model,
        start=start,
        pf=pf,
        ci=ci,
        converged=converged,
        pf_worst=(k + n_errors) / (n + n_errors),
        ci_worst_high=clopper_pearson_interval(k + n_errors, n + n_errors)[1],
        design_points=design_points,
    )
    details.update(extra)
    if note:
        details["ci_excluding_errors"] = clopper_pearson_interval(k, n)
        message = f"{message}; {note}" if message else note
    return make_result(
        model,
        method="mc",
        pf=pf,
        cov=cov,
        ci=ci,
        converged=converged,
        message=message,
        history=history,
        design_points=design_points,
        details=details,
        n_trials=n,
    )


# ---------------------------------------------------------------------- directional sampling
def run_directional(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: SeedLike = None,
    directions_per_block: int | None = None,
    maximum_distance: float = 8.0,
    step_size: float = 1.0,
) -> FailureProbabilityResult:
    r"""Directional sampling in standard normal space (OpenTURNS' ``DirectionalSampling``).

    Parameters
    ----------
    model, target_cov, max_calls, rng
        As in :func:`run_monte_carlo`.
    directions_per_block
        Directions per OpenTURNS block; default 4 per worker.
    maximum_distance, step_size
        Root search along each ray (``SafeAndSlow`` strategy): the ray is scanned up to
        radius ``maximum_distance`` with steps of ``step_size`` and every sign change is
        refined by Brent's method. Failure beyond ``maximum_distance`` (β > 8) is missed.

    Notes
    -----
    For a uniformly random direction :math:`a` and the roots :math:`r_j(a)` of
    :math:`G(r a) = 0`,
    :math:`p_f = E_a[\,P(R a \in F)\,]` with :math:`R^2 \sim \chi^2_d`, estimated by the
    mean over directions; the interval is log-normal from the estimated CoV.

    OpenTURNS evaluates the points of a ray one by one (the root search is sequential),
    so this method sends single points to the executor: it is *not* parallel; prefer
    ``"subset"`` or ``"nais"`` with a parallel executor.

    References
    ----------
    Bjerager, P. (1988). Probability integration by directional simulation. Journal of
    Engineering Mechanics 114(8), 1285–1302.
    https://doi.org/10.1061/(ASCE)0733-9399(1988)114:8(1285)

    Examples
    --------
    >>> import openturns as ot
    >>> model = LimitStateModel(lambda x: 2.0 - x[:, 0], ot.Normal(2), max_calls=5000)
    >>> result = run_directional(model, target_cov=0.2, rng=0)
    >>> result.converged, bool(result.ci[0] < 0.02275 < result.ci[1])
    (True, True)
    """
    remaining = _remaining(model, max_calls)
    block = directions_per_block or model.openturns_block_size()
    start = model.n_calls
    root = ot.RootStrategy(ot.SafeAndSlow(ot.Brent(), maximum_distance, step_size))
    directions = ot.SamplingStrategy(ot.RandomDirection())
    algorithm = ot.DirectionalSampling(model.event(), root, directions)
    algorithm.setBlockSize(int(block))
    algorithm.setMaximumOuterSampling(max(1, remaining))
    algorithm.setMaximumCoefficientOfVariation(target_cov)
    states: list[tuple[int, float, float]] = []

    def record() -> bool:
        # Never raise in an OpenTURNS callback: it cannot propagate.
        try:
            result = algorithm.getResult()
            pf = float(result.getProbabilityEstimate())
            variance = float(result.getVarianceEstimate())
            cov = math.sqrt(variance) / pf if pf > 0 else math.nan
            states.append((model.n_calls, pf, cov))
            per_block = (model.n_calls - start) / len(states)
            return bool(model.n_calls + 1.5 * per_block > start + remaining)
        except Exception:
            return False

    algorithm.setStopCallback(record)
    exhausted: BudgetExhausted | None = None
    seed_openturns(as_generator(rng))
    try:
        with model.stage("directional"), model.openturns_errors():
            algorithm.run()
    except BudgetExhausted as exc:
        exhausted = exc
    history = [_row(n, p, c, lognormal_interval(p, c)) for n, p, c in states]
    if states:
        _, pf, cov = states[-1]
    else:
        pf, cov = math.nan, math.nan
    converged = exhausted is None and math.isfinite(cov) and cov <= target_cov and pf > 0
    message = ""
    if not converged:
        budget_note = f" (budget {remaining} calls)"
        message = _not_reached(cov, target_cov, model.n_calls - start, budget_note)
        if exhausted is not None:
            message = f"{exhausted}; {message}"
    n_lines = len(states) * int(block)
    design_points = sample_design_point(model, start)
    ci = lognormal_interval(pf, cov)
    details: dict[str, Any] = {"n_directions": n_lines, "directions_per_block": int(block)}
    if model.count_errors(start):
        worst = (pf if math.isfinite(pf) else 0.0) + _directional_error_mass(
            model, start, n_lines, step_size
        )
        ci, converged, note, extra = account_for_failed_runs(
            model, start=start, pf=pf, ci=ci, converged=converged, pf_worst=min(1.0, worst),
            design_points=design_points,
        )
        details.update(extra)
        message = f"{message}; {note}" if message else note
    return make_result(
        model,
        method="directional",
        pf=pf,
        cov=cov,
        ci=ci,
        converged=converged,
        message=message,
        history=history,
        design_points=design_points,
        details=details,
    )


def _directional_error_mass(
    model: LimitStateModel, start: int, n_lines: int, step_size: float
) -> float:
    r"""What failed runs could add to a directional estimate, had they been failures.

    OpenTURNS' estimate is :math:`\frac{1}{2M}\sum_k P(R\,a_k \in F)` over the
    :math:`2M` half-rays :math:`a_k` of :math:`M` random lines (a direction and its
    opposite), :math:`R^2 \sim \chi^2_d`. A failed run at radius :math:`r` on a half-ray
    leaves unknown everything beyond the last scanned point before it, so that half-ray
    can add at most :math:`P(\chi^2_d \ge (r - \Delta)^2)`, :math:`\Delta` the scan step.
    """
    if n_lines <= 0:
        return 1.0
    from scipy import stats

    x, g = model.recorded()
    failed = np.isnan(g[start:])
    if not failed.any():
        return 0.0
    u = model.to_standard(x[start:][failed])
    radius = np.linalg.norm(u, axis=1)
    keep = np.isfinite(radius) & (radius > 1e-12)
    if not keep.all():  # a failed run at the origin: every half-ray is unknown
        return 1.0
    directions = np.round(u / radius[:, None], 6)
    _, ray = np.unique(directions, axis=0, return_inverse=True)
    closest = np.full(int(ray.max()) + 1, np.inf)
    np.minimum.at(closest, np.ravel(ray), radius)
    reach = np.maximum(0.0, closest - float(step_size))
    mass = stats.chi2.sf(reach**2, model.dimension)
    return float(np.sum(mass) / (2.0 * n_lines))


# ---------------------------------------------------------------------- adaptive samplers
@dataclass
class _Repetition:
    pf: float
    variance: float
    n_calls: int
    details: dict[str, Any]
    pf_worst: float  # the same estimator had every failed run been a failure
    variance_worst: float


WorstCase = Callable[[Any, list[np.ndarray], float, float], tuple[float, float]]
"""``(algorithm, margins per batch, pf, variance) -> (pf, variance)`` had every failed run
(NaN margin) of a repetition been a failure."""


def _subset_worst_case(
    algorithm: Any, batches: list[np.ndarray], pf: float, variance: float
) -> tuple[float, float]:
    r"""Subset simulation had its failed runs been failures.

    The estimate is :math:`\prod_j p_j` over the levels. A failed run of level
    :math:`j` (a Markov-chain candidate or a first-level draw: the chain kept its previous
    state, or the draw counted as safe) displaced at most one of the level's
    :math:`N_j` samples, so :math:`p_j \le p_j + e_j / N_j` for :math:`e_j` failed runs.
    When the batches do not match the levels, every level gets all of them. The variance
    keeps the estimate's relative size.
    """
    cumulative = [float(p) for p in algorithm.getProbabilityEstimatePerStep()]
    conditional = [
        cumulative[0],
        *(b / a if a > 0 else 0.0 for a, b in itertools.pairwise(cumulative)),
    ]
    errors = [int(np.count_nonzero(np.isnan(g))) for g in batches]
    sizes = [len(g) for g in batches]
    if len(batches) != len(conditional):
        total, size = sum(errors), max(1, min(sizes) if sizes else 1)
        errors, sizes = [total] * len(conditional), [size] * len(conditional)
    worst = 1.0
    for p, e, n in zip(conditional, errors, sizes, strict=True):
        worst *= min(1.0, p + e / max(1, n))
    relative = variance / pf**2 if pf > 0 else 1.0
    return worst, relative * worst**2


def _importance_worst_case(
    algorithm: Any, batches: list[np.ndarray], pf: float, variance: float
) -> tuple[float, float]:
    r"""Importance sampling (CE-IS, NAIS) had its failed runs been failures.

    The estimate is :math:`\frac1N \sum_i w_i 1[g_i \le 0]` over the final sample,
    :math:`w_i = \varphi(u_i)/h(u_i)` (``h`` the auxiliary density OpenTURNS returns).
    Failed runs of that sample join the indicator; failed runs of earlier steps only
    steered the auxiliary density (the estimate stays unbiased for whatever the final
    sample can reach).
    """
    result = algorithm.getResult()
    final = batches[-1] if batches else np.empty(0)
    failed = np.isnan(final)
    if not failed.any():
        return pf, variance
    u = np.asarray(result.getAuxiliaryInputSample(), dtype=float)
    y = np.asarray(result.getAuxiliaryOutputSample(), dtype=float).ravel()
    if len(u) != len(final):
        return 1.0, 0.0
    density = np.asarray(result.getAuxiliaryDistribution().computePDF(u), dtype=float).ravel()
    nominal = np.asarray(ot.Normal(u.shape[1]).computePDF(u), dtype=float).ravel()
    weights = np.divide(nominal, density, out=np.zeros_like(nominal), where=density > 0)
    terms = weights * ((y <= 0.0) | failed)
    n = len(terms)
    return float(terms.mean()), float(terms.var(ddof=1) / n) if n > 1 else math.inf


def _default_n_per_step(remaining: int, n_per_step: int | None, default: int) -> int:
    if n_per_step is not None:
        if isinstance(n_per_step, bool) or not isinstance(n_per_step, int) or n_per_step < 10:
            raise ValidationError(
                "must be an int >= 10",
                field="n_per_step",
                value=n_per_step,
                expected="an int >= 10",
            )
        return n_per_step
    # Small budgets: smaller steps, so that a repetition (several steps) still fits.
    n = min(default, max(100, remaining // 5))
    return max(10, n - n % 10)


def _run_repetitions(
    model: LimitStateModel,
    *,
    method: str,
    make_algorithm: Callable[[ot.ThresholdEvent, int], Any],
    describe: Callable[[Any], dict[str, Any]],
    worst_case: WorstCase,
    n_per_step: int,
    target_cov: float,
    max_calls: int | None,
    max_repetitions: int,
    rng: SeedLike,
    standard_space: bool = False,
) -> FailureProbabilityResult:
    """Repeat an adaptive OpenTURNS algorithm until the pooled CoV reaches the target.

    With ``standard_space`` (or discrete marginals) the algorithm sees the event in
    standard normal space. OpenTURNS' generator is seeded from ``rng`` before each
    repetition.
    """
    generator = as_generator(rng)
    remaining = _remaining(model, max_calls)
    start = model.n_calls
    # OpenTURNS' own iso-probabilistic transformation maps the upper tail of a discrete
    # marginal to its first value (see LimitStateModel.to_physical): an algorithm that
    # works in standard space internally must then see the model's standard-space event
    standard_space = standard_space or model.has_discrete_marginals
    event = model.standard_event() if standard_space else model.event()
    repetitions: list[_Repetition] = []
    history: list[dict[str, float]] = []
    stop_reason = ""
    exhausted: BudgetExhausted | None = None
    pf, cov = math.nan, math.nan
    while len(repetitions) < max_repetitions:
        spent = model.n_calls - start
        if repetitions:
            predicted = max(r.n_calls for r in repetitions)
            if spent + predicted > remaining:
                stop_reason = (
                    f"the next repetition (about {predicted} calls) does not fit in the "
                    f"{remaining - spent} calls left"
                )
                break
        elif remaining < 2 * n_per_step:
            stop_reason = (
                f"a budget of {remaining} calls is too small for {method} "
                f"({n_per_step} points per step)"
            )
            break
        algorithm = make_algorithm(event, n_per_step)
        before = model.n_calls
        first_batch = model.n_batches
        seed_openturns(generator)
        try:
            with model.stage(method), model.openturns_errors():
                algorithm.run()
        except BudgetExhausted as exc:
            exhausted = exc
            break
        result = algorithm.getResult()
        p = float(result.getProbabilityEstimate())
        c = float(result.getCoefficientOfVariation()) if p > 0 else math.nan
        variance = (c * p) ** 2 if math.isfinite(c) else 0.0
        batches = model.batch_margins(first_batch)
        worst, variance_worst = p, variance
        if any(np.isnan(g).any() for g in batches):
            worst, variance_worst = worst_case(algorithm, batches, p, variance)
        repetitions.append(_Repetition(
            p, variance, model.n_calls - before, describe(algorithm), worst, variance_worst
        ))
        m = len(repetitions)
        pf = sum(r.pf for r in repetitions) / m
        cov = math.sqrt(sum(r.variance for r in repetitions)) / (m * pf) if pf > 0 else math.nan
        history.append(_row(model.n_calls, pf, cov, lognormal_interval(pf, cov)))
        if math.isfinite(cov) and 0.0 < cov <= target_cov:
            break
    else:
        stop_reason = f"max_repetitions={max_repetitions} reached"
    converged = (
        bool(repetitions) and exhausted is None and math.isfinite(cov) and 0 < cov <= target_cov
    )
    notes: list[str] = []
    ci = lognormal_interval(pf, cov)
    n_trials: int | None = None
    pf_worst, cov_worst, worst_high = math.nan, math.nan, None
    if not repetitions:
        # No repetition finished: only the first step (plain sampling of the input
        # distribution) is usable, as crude Monte Carlo.
        _, g = model.recorded()
        first = g[start : start + n_per_step]
        k, n = int(np.sum(first <= 0.0)), len(first)
        e = int(np.count_nonzero(np.isnan(first)))
        ci = clopper_pearson_interval(k, n) if n else (0.0, 1.0)
        pf = math.nan if n == 0 else k / n
        if n:
            pf_worst, worst_high = (k + e) / n, clopper_pearson_interval(k + e, n)[1]
        n_trials = n
        notes.append(
            f"{method} did not complete one run; pf and ci are crude Monte Carlo from its first "
            f"step ({k} failures in {n} points)"
        )
    else:
        m = len(repetitions)
        pf_worst = sum(r.pf_worst for r in repetitions) / m
        variance_worst = sum(r.variance_worst for r in repetitions) / m**2
        cov_worst = math.sqrt(variance_worst) / pf_worst if pf_worst > 0 else math.nan
        if not converged:
            notes.append(_not_reached(cov, target_cov, model.n_calls - start, ""))
    if exhausted is not None:
        notes.insert(0, str(exhausted))
    if stop_reason:
        notes.append(stop_reason)
    design_points = sample_design_point(model, start)
    details: dict[str, Any] = {
        "n_per_step": n_per_step,
        "repetitions": [
            {
                "pf": r.pf,
                "cov": math.sqrt(r.variance) / r.pf if r.pf > 0 else None,
                "n_calls": r.n_calls,
                **r.details,
            }
            for r in repetitions
        ],
    }
    if model.count_errors(start):
        ci, converged, note, extra = account_for_failed_runs(
            model, start=start, pf=pf, ci=ci, converged=converged, pf_worst=pf_worst,
            cov_worst=cov_worst, ci_worst_high=worst_high, design_points=design_points,
        )
        details.update(extra)
        notes.append(note)
    return make_result(
        model,
        method=method,
        pf=pf,
        cov=cov if repetitions else math.nan,
        ci=ci,
        converged=converged,
        message="; ".join(notes),
        history=history,
        design_points=design_points,
        details=details,
        n_trials=n_trials,
    )


def _configure(algorithm: Any, n_per_step: int) -> Any:
    # One OpenTURNS block per step: the model splits it for the executor.
    algorithm.setBlockSize(int(n_per_step))
    algorithm.setMaximumOuterSampling(1)
    return algorithm


def run_subset(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: SeedLike = None,
    n_per_step: int | None = None,
    conditional_probability: float = 0.1,
    proposal_range: float = 2.0,
    max_repetitions: int = 50,
) -> FailureProbabilityResult:
    r"""Subset simulation (OpenTURNS' ``SubsetSampling``), repeated to reach ``target_cov``.

    Parameters
    ----------
    model, target_cov, max_calls, rng
        As in :func:`run_monte_carlo`.
    n_per_step
        Samples per level; default 1000, less for small budgets (at least 100).
    conditional_probability
        :math:`p_0`, the fraction of samples kept as seeds of the next level.
    proposal_range
        Width of the uniform proposal of the modified Metropolis algorithm.
    max_repetitions
        Upper bound on independent repetitions.

    Notes
    -----
    With intermediate thresholds :math:`\gamma_1 > \dots > \gamma_m = 0` chosen as
    :math:`p_0`-quantiles of :math:`g`,
    :math:`p_f = P(g \le \gamma_1)\prod_{j=2}^{m} P(g \le \gamma_j \mid g \le \gamma_{j-1})`,
    each conditional level sampled by Markov chains started from the previous level's
    failing samples. The estimator is slightly biased and its CoV (OpenTURNS' estimate,
    accounting for chain correlation) grows with the number of levels
    :math:`\approx \ln p_f / \ln p_0`. Its domain of use is pf down to about 1e-3
    (``safety-val qualify``): at :math:`p_f = 2.9 \times 10^{-7}` in ten dimensions
    it was 2.5 times too high, 5.1 of its own standard errors away; use ``"nais"``,
    ``"ais"`` or ``"auto"`` for rarer events.

    References
    ----------
    Au, S.-K. and Beck, J. L. (2001). Estimation of small failure probabilities in high
    dimensions by subset simulation. Probabilistic Engineering Mechanics 16(4), 263–277.
    https://doi.org/10.1016/S0266-8920(01)00019-4

    Examples
    --------
    >>> import openturns as ot
    >>> model = LimitStateModel(lambda x: 3.0 - x[:, 0], ot.Normal(2), max_calls=20000)
    >>> result = run_subset(model, target_cov=0.2, n_per_step=500, rng=4)
    >>> bool(result.ci[0] < 1.35e-3 < result.ci[1])
    True
    """
    n = _default_n_per_step(_remaining(model, max_calls), n_per_step, 1000)

    def make(event: ot.ThresholdEvent, size: int) -> Any:
        algorithm = ot.SubsetSampling(event, float(proposal_range), float(conditional_probability))
        return _configure(algorithm, size)

    def describe(algorithm: Any) -> dict[str, Any]:
        return {
            "levels": int(algorithm.getStepsNumber()),
            "thresholds": [float(t) for t in algorithm.getThresholdPerStep()],
            "probabilities": [float(p) for p in algorithm.getProbabilityEstimatePerStep()],
        }

    return _run_repetitions(
        model,
        method="subset",
        make_algorithm=make,
        describe=describe,
        worst_case=_subset_worst_case,
        n_per_step=n,
        target_cov=target_cov,
        max_calls=max_calls,
        max_repetitions=max_repetitions,
        rng=rng,
    )


def run_cross_entropy(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: SeedLike = None,
    n_per_step: int | None = None,
    quantile_level: float = 0.25,
    max_repetitions: int = 50,
) -> FailureProbabilityResult:
    r"""Cross-entropy importance sampling in standard space, repeated to reach ``target_cov``.

    Parameters
    ----------
    model, target_cov, max_calls, rng
        As in :func:`run_monte_carlo`.
    n_per_step
        Samples per adaptation step; default 1000, less for small budgets.
    quantile_level
        :math:`\rho`: each step moves the threshold to the :math:`\rho`-quantile of ``g``.
    max_repetitions
        Upper bound on independent repetitions.

    Notes
    -----
    The auxiliary density is a normal :math:`\mathcal N(\mu, I)` in standard space whose
    mean minimises the Kullback–Leibler divergence to the optimal density
    :math:`\mathbf 1_{G(u) \le \gamma_t}\varphi(u)/P(G \le \gamma_t)` at the current
    threshold :math:`\gamma_t`; once :math:`\gamma_t \le 0`, the final importance sample
    gives :math:`\hat p_f = \frac1N\sum \mathbf 1_{G(u_i)\le0}\,\varphi(u_i)/h(u_i)`.
    A single Gaussian captures a single failure mode; with several, use ``"nais"``.

    OpenTURNS also adapts the standard deviations. In directions that do not influence
    ``g`` they can shrink, which makes the importance weights heavy-tailed: the estimate
    is then typically low and its CoV underestimated (seen with
    :math:`g = 3 - u_1` in 2-D: about 17 % low, interval coverage about 50 %). Cross-check
    ``"ce_is"`` with ``"nais"`` or ``"subset"`` when the limit state ignores inputs.

    References
    ----------
    Rubinstein, R. Y. (1999). The cross-entropy method for combinatorial and continuous
    optimization. Methodology and Computing in Applied Probability 1(2), 127–190.
    https://doi.org/10.1023/A:1010091220143

    Papaioannou, I., Geyer, S. and Straub, D. (2019). Improved cross entropy-based
    importance sampling with a flexible mixture model. Reliability Engineering & System
    Safety 191, 106564. https://doi.org/10.1016/j.ress.2019.106564

    Examples
    --------
    >>> import openturns as ot
    >>> g = lambda x: 3.0 - x.sum(axis=1) / 2**0.5
    >>> model = LimitStateModel(g, ot.Normal(2), max_calls=20000)
    >>> result = run_cross_entropy(model, n_per_step=500, rng=1)
    >>> bool(result.ci[0] < 1.35e-3 < result.ci[1])
    True
    """
    n = _default_n_per_step(_remaining(model, max_calls), n_per_step, 1000)

    def make(event: ot.ThresholdEvent, size: int) -> Any:
        algorithm = ot.StandardSpaceCrossEntropyImportanceSampling(event, float(quantile_level))
        return _configure(algorithm, size)

    def describe(algorithm: Any) -> dict[str, Any]:
        return {
            "steps": int(algorithm.getStepsNumber()),
            "thresholds": [float(t) for t in algorithm.getThresholdPerStep()],
        }

    return _run_repetitions(
        model,
        method="ce_is",
        make_algorithm=make,
        describe=describe,
        worst_case=_importance_worst_case,
        n_per_step=n,
        target_cov=target_cov,
        max_calls=max_calls,
        max_repetitions=max_repetitions,
        rng=rng,
    )


def run_nais(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: SeedLike = None,
    n_per_step: int | None = None,
    quantile_level: float = 0.25,
    max_repetitions: int = 50,
) -> FailureProbabilityResult:
    r"""Non-parametric adaptive importance sampling (OpenTURNS' ``NAIS``), repeated.

    Parameters
    ----------
    model, target_cov, max_calls, rng
        As in :func:`run_monte_carlo`.
    n_per_step
        Samples per adaptation step; default 1000, less for small budgets.
    quantile_level
        :math:`\rho`: each step moves the threshold to the :math:`\rho`-quantile of ``g``.
    max_repetitions
        Upper bound on independent repetitions.

    Notes
    -----
    The auxiliary density is a weighted Gaussian kernel density of the samples that
    fall below the current threshold :math:`\gamma_t`, weighted by
    :math:`\varphi(u)/h_{t-1}(u)`; it adapts to several failure modes. Once
    :math:`\gamma_t \le 0`, the last sample gives the importance-sampling estimate
    :math:`\hat p_f = \frac1N\sum \mathbf 1_{G(u_i)\le0}\,\varphi(u_i)/h(u_i)`.

    References
    ----------
    Morio, J. (2011). Non-parametric adaptive importance sampling for the probability
    estimation of a launcher impact position. Reliability Engineering & System Safety
    96(1), 178–183. https://doi.org/10.1016/j.ress.2010.08.006

    Examples
    --------
    >>> import openturns as ot
    >>> model = LimitStateModel(lambda x: 3.0 - x[:, 0], ot.Normal(2), max_calls=20000)
    >>> result = run_nais(model, n_per_step=500, rng=0)
    >>> bool(result.ci[0] < 1.35e-3 < result.ci[1])
    True
    """
    n = _default_n_per_step(_remaining(model, max_calls), n_per_step, 1000)

    def make(event: ot.ThresholdEvent, size: int) -> Any:
        algorithm = ot.NAIS(event, float(quantile_level))
        return _configure(algorithm, size)

    def describe(algorithm: Any) -> dict[str, Any]:
        return {
            "steps": int(algorithm.getStepsNumber()),
            "thresholds": [float(t) for t in algorithm.getThresholdPerStep()],
        }

    return _run_repetitions(
        model,
        method="nais",
        make_algorithm=make,
        describe=describe,
        worst_case=_importance_worst_case,
        n_per_step=n,
        target_cov=target_cov,
        max_calls=max_calls,
        max_repetitions=max_repetitions,
        rng=rng,
        standard_space=True,  # OpenTURNS' NAIS accepts only unbounded input distributions
    )
