"""Reliability analysis: the failure probability of a limit state, with its interval.

:func:`estimate_failure_probability` is the entry point. Methods (``method=``):

==============  ==============================================================
``"mc"``        crude Monte Carlo (exact Clopper–Pearson interval)
``"form"``      first-order reliability method (approximation, design point)
``"sorm"``      second-order reliability method (approximation)
``"directional"`` directional sampling
``"subset"``    subset simulation
``"ce_is"``     cross-entropy importance sampling (standard space)
``"nais"``      non-parametric adaptive importance sampling
``"ak"``        active-learning surrogate
``"auto"``      chooses and chains methods (default)
==============  ==============================================================

Every method sends its points in batches through the executor; every result says
whether it converged and, if not, why. Failed simulations (a simulator's ``error`` and
``timeout`` rows: NaN margins) are recorded, counted (``n_errors``), excluded from the
estimate and bound its interval as if they had been failures, with a warning when they
are many or cluster where failures would be (:mod:`safety_val.reliability.failed_runs`);
``on_error="raise"`` stops at the first one instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import openturns as ot

from safety_val._random import SeedLike, as_generator, seed_openturns
from safety_val._validation import Constraint, Interval, OneOf
from safety_val._validation import check_options as check_option_table
from safety_val.execution.base import Executor
from safety_val.reliability.model import ON_ERROR, LimitStateModel
from safety_val.reliability.registry import METHODS, available_methods, check_options, get_method
from safety_val.reliability.result import (
    BudgetExhausted,
    DesignPoint,
    FailureProbabilityResult,
    make_result,
)
from safety_val.scenario import LogicalScenario

__all__ = [
    "DEFAULT_MAX_CALLS",
    "MAX_MAX_CALLS",
    "METHODS",
    "MIN_MAX_CALLS",
    "ON_ERROR",
    "BudgetExhausted",
    "DesignPoint",
    "FailureProbabilityResult",
    "LimitStateModel",
    "available_methods",
    "estimate_failure_probability",
    "get_method",
    "make_result",
]

DEFAULT_MAX_CALLS = 100_000
"""Budget used when ``max_calls=None``: no run is unbounded."""

MIN_MAX_CALLS = 10
"""Smallest budget (the input probe alone takes 2 calls)."""

MAX_MAX_CALLS = 10**9
"""Largest budget: a larger one is a typo, not a plan (and overflows OpenTURNS' counters)."""

_CONSTRAINTS: dict[str, list[Constraint]] = {
    "target_cov": [Interval(float, 0, 1, closed="neither")],
    "max_calls": [None, Interval(int, MIN_MAX_CALLS, MAX_MAX_CALLS)],
    "on_error": [OneOf(*ON_ERROR)],
}
"""The options of :func:`estimate_failure_probability` and what each accepts."""


def estimate_failure_probability(
    limit_state: Callable[[np.ndarray], Any] | LogicalScenario,
    distribution: ot.Distribution | None = None,
    *,
    method: str = "auto",
    target_cov: float = 0.1,
    max_calls: int | None = None,
    seed: SeedLike = None,
    executor: Executor | None = None,
    on_error: str = "exclude",
    **options: Any,
) -> FailureProbabilityResult:
    r"""Estimate :math:`p_f = P(g(X) \le 0)` with an interval, within a call budget.

    Parameters
    ----------
    limit_state
        Batch limit state: ``(n, d)`` array → ``n`` margins, failure when :math:`g \le 0`;
        or a :class:`~safety_val.scenario.LogicalScenario` (simulated with its own backend)
        or a :class:`~safety_val.runs.evaluator.ScenarioEvaluator` — the scenario's
        distribution is then used.
    distribution
        Joint input distribution (:class:`openturns.Distribution`); required for a plain
        function.
    method
        A name of :data:`METHODS` (``"auto"``, ``"mc"``, ``"form"``, ``"sorm"``,
        ``"directional"``, ``"subset"``, ``"ce_is"``, ``"nais"``, ``"ak"``).
    target_cov
        Stop when the estimator's coefficient of variation is at most this, in (0, 1).
    max_calls
        Limit-state call budget (including the 2-point input probe), an int in
        [:data:`MIN_MAX_CALLS`, :data:`MAX_MAX_CALLS`]; ``None`` means
        :data:`DEFAULT_MAX_CALLS`. A method that cannot reach ``target_cov`` within it
        returns ``converged=False`` with the reason.
    seed
        ``int``, :class:`numpy.random.Generator` or ``None``; OpenTURNS' generator is
        seeded from it, so a fixed seed gives the same estimate with any executor.
    executor
        Where batches are evaluated (serial, process, Ray); ``None``: in this process.
    on_error
        What a failed simulation (an ``error``/``timeout`` row: a NaN margin) does.
        ``"exclude"`` (default): it is recorded and counted (``result.n_errors``), left
        out of the estimate (counted as no failure; crude MC drops it), and the interval
        is widened to cover the case where every failed run hid a failure; more than 5 %
        failed runs, or failed runs clustered where failures would be (near the design
        point, among the lowest margins), give a :class:`RuntimeWarning` and
        ``converged=False``. ``"raise"``: the first one raises :class:`SimulationError`.
    **options
        Method-specific options (e.g. ``n_per_level`` for ``"subset"``).

    Returns
    -------
    FailureProbabilityResult
        ``pf``, ``cov``, ``ci``, ``n_calls``, ``beta``, ``converged``, ``message``,
        ``design_points``, ``history``, ``samples``.

    Raises
    ------
    ValidationError
        Invalid ``target_cov``, ``max_calls``, ``method`` (the message lists the valid
        names) or options; a distribution of the wrong dimension; a limit state
        returning the wrong shape.
    SimulationError
        The limit state returned infinite margins, NaN margins on every probe point, or
        a NaN margin under ``on_error="raise"``.

    Notes
    -----
    The reliability index is :math:`\beta = -\Phi^{-1}(p_f)`. Intervals are 95 %:
    Clopper–Pearson for crude Monte Carlo, log-normal from the coefficient of variation
    for the rare-event samplers; FORM and SORM are approximations without a sampling
    interval (``cov`` and ``ci`` are NaN; their error is a model error).

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> def g(x):
    ...     return 3.0 - x.sum(axis=1) / np.sqrt(2.0)
    >>> result = estimate_failure_probability(g, ot.Normal(2), method="form", seed=0)
    >>> round(result.beta, 6), result.converged
    (3.0, True)
    """
    check_option_table(_CONSTRAINTS, target_cov=target_cov, max_calls=max_calls,
                       on_error=on_error)
    target_cov = float(target_cov)
    budget = DEFAULT_MAX_CALLS if max_calls is None else int(max_calls)
    run = get_method(method)
    check_options(run, method, options)
    rng = as_generator(seed)
    seed_openturns(rng)  # for the model's input probe; each method seeds its own runs
    if isinstance(limit_state, LogicalScenario):
        # a scenario runs through its own backend; the executor parallelises its batches
        from safety_val.runs.evaluator import ScenarioEvaluator

        limit_state = ScenarioEvaluator(limit_state, executor=executor, purpose="reliability")
        executor = None
    model = LimitStateModel(
        limit_state, distribution, executor=executor, max_calls=budget, on_error=on_error
    )
    result: FailureProbabilityResult = run(
        model, target_cov=target_cov, max_calls=budget, rng=rng, **options
    )
    # the result carries what it is an estimate for, so that later analyses
    # (regions.analyze, robustness) need nothing else
    scenario = getattr(limit_state, "scenario", None)
    return dataclasses.replace(
        result,
        distribution=model.distribution,
        scenario=scenario if isinstance(scenario, LogicalScenario) else None,
    )
