"""The entry point: :func:`analyze` and :func:`follow_up_method`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import openturns as ot
import pandas as pd

from safety_val._random import SeedLike, as_generator
from safety_val._validation import Interval, check_options
from safety_val.errors import ValidationError
from safety_val.execution.base import Executor
from safety_val.reliability.importance import ImportanceSample, draw_importance_sample
from safety_val.reliability.result import FailureProbabilityResult, reliability_index
from safety_val.robustness.margins import _margins, _sensitivities
from safety_val.robustness.result import RobustnessResult
from safety_val.robustness.reweighting import _Context, _Inputs, _normalise_shifts
from safety_val.robustness.shifts import Shift, parse_ambiguity
from safety_val.robustness.worst_case import _worst_case

if TYPE_CHECKING:
    from safety_val.regions import CriticalRegions

__all__ = ["analyze", "follow_up_method"]

_Array = np.ndarray

_CONSTRAINTS = {
    "n_reference": [Interval(int, 10, None)],
    "min_ess": [Interval(float, 1, None, allow_inf=True)],
}


def follow_up_method(result: FailureProbabilityResult) -> str:
    """Method of new estimates near ``result``: ``"mc"`` if crude MC produced it, else ``"auto"``.

    When ``result`` came from crude Monte Carlo (chosen, or reached by ``"auto"`` after a
    surrogate gave up: ``"auto: ak → mc"``), :math:`p_f` is not rare and the limit state
    defeated the surrogate, so estimates under shifted distributions go straight to crude
    MC — unbiased at any budget — instead of paying again for the failed stages. Other
    methods need minimum budgets (subset, NAIS: levels of ``n_per_step`` points), so
    ``"auto"`` chooses for them.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> follow_up_method(R(method="auto: ak → mc", converged=True))
    'mc'
    >>> follow_up_method(R(method="subset", converged=True))
    'auto'
    >>> follow_up_method(R(method="auto: ak → mc → nais", converged=True))
    'auto'
    """
    last = result.method.removeprefix("auto:").split("→")[-1].strip()
    return "mc" if result.converged and last == "mc" else "auto"


def analyze(
    result: FailureProbabilityResult,
    *,
    limit_state: Callable[[_Array], Any] | None = None,
    distribution: ot.Distribution | None = None,
    shifts: Mapping[str, Any] | Sequence[Shift | str] | Shift | str | None = None,
    ambiguity: str | float | None = None,
    sample: ImportanceSample | None = None,
    n_reference: int = 1000,
    min_ess: float = 200.0,
    max_calls: int | None = None,
    seed: SeedLike = None,
    executor: Executor | None = None,
    modes: CriticalRegions | None = None,
    method: str = "auto",
) -> RobustnessResult:
    r"""Robustness of a failure probability to its input assumptions.

    Parameters
    ----------
    result
        The reliability result to analyse (its design points centre the importance
        sample; its failing samples do when it has none).
    limit_state
        Batch limit state or scenario evaluator. Needed to draw the importance sample
        (when ``sample`` is ``None``) and for new simulations when re-weighting is not
        reliable.
    distribution
        The nominal joint input distribution; default: the scenario's.
    shifts
        Shifts to evaluate: :class:`Shift` objects, strings such as ``"rain=+2sd"``,
        ``"gap=-1sd"``, ``"speed=x1.5"``, or a mapping ``{name: "+2sd" | δ | Shift}``.
        ``None``: each continuous parameter at −1σ, +1σ and spread ×1.5.
    ambiguity
        Worst case over the means: ``"1sd"`` or ``k`` (each mean within ±kσ) or
        ``"odd"`` (each mean anywhere inside its ODD range; needs a scenario evaluator).
        ``None``: no worst case.
    sample
        A previously drawn :class:`~safety_val.reliability.importance.ImportanceSample`
        (no simulation for it then).
    n_reference
        Size of the importance sample to draw.
    min_ess
        Below this effective sample size a re-weighted estimate is replaced by new
        simulations.
    max_calls
        Budget of each new simulation (``None``: the default budget).
    seed
        ``int``, :class:`numpy.random.Generator` or ``None``.
    executor
        Where batches are evaluated.
    modes
        The failure modes of :func:`safety_val.regions.analyze` on the same result: the
        margins are then given per mode (with its share of pf) rather than per design
        point of the reliability method (NAIS, for one, reports one per mixture
        component).
    method
        Reliability method of new simulations (default ``"auto"``; see
        :func:`follow_up_method` for re-using the one that converged on ``result``).

    Returns
    -------
    RobustnessResult

    Raises
    ------
    ValidationError
        No failure sample in ``result`` (use a larger budget); a shift that leaves no
        probability inside the support; a shift of a discrete or categorical parameter;
        an ambiguity set of zero width; ``"odd"`` without a scenario; a limit state is
        needed but missing.

    Notes
    -----
    *Likelihood ratio.* The sample :math:`x_i \sim q` carries weights
    :math:`w_i = f(x_i)/q(x_i)`. Under a shifted density :math:`f'` (same copula, one
    marginal replaced) the plain (not self-normalised) estimator
    :math:`\hat p_f' = \frac1n\sum_i w_i r_i \mathbf 1_F(x_i)`, :math:`r = f'/f`, is
    unbiased when the support of :math:`f'` lies in that of :math:`f`; its coefficient of
    variation is :math:`s_{wr1_F}/(\sqrt n\,\hat p_f')` and its interval log-normal.
    It is used when Kish's effective sample size :math:`(\sum v)^2/\sum v^2` of
    :math:`v = w r` is at least ``min_ess`` and at least :data:`MIN_FAILURES_ESS`
    failing points (in effective number) carry it (Owen 2013, §9.3); otherwise
    :math:`p_f'` is estimated anew (``how="new simulations"``).

    *Score function.* :math:`\partial p_f/\partial\theta = E_f[\mathbf 1_F\,
    \partial_\theta \log f(X;\theta)] \approx \frac1n\sum_i w_i \mathbf 1_F(x_i)\,
    \partial_\theta\log f(x_i;\theta)`, with the derivative by central finite
    differences of the log-density (Rubinstein & Kroese 2016, §7.2); the elasticity is
    :math:`(\theta/p_f)\,\partial p_f/\partial\theta`. No new simulation.

    *Margins.* A failure mode at distance :math:`\beta` from the origin in standard
    space has a margin of :math:`\beta` standard deviations; the readings of
    :data:`MARGIN_READINGS` follow the usual target reliability levels (Lemaire 2009).

    *Worst case.* :math:`\max_\delta \hat p_f'(\delta)` over mean shifts
    :math:`\delta\in[-k,k]^m` (σ units), by L-BFGS-B on the re-weighted estimate,
    started at the corner pointed at by the design point and at the origin.

    References
    ----------
    Rubinstein, R. Y. and Kroese, D. P. (2016). Simulation and the Monte Carlo Method,
    3rd ed. Wiley. https://doi.org/10.1002/9781118631980

    Lemaire, M. (2009). Structural Reliability. ISTE/Wiley.
    https://doi.org/10.1002/9780470611708

    Owen, A. B. (2013). Monte Carlo theory, methods and examples, ch. 9.
    https://artowen.su.domains/mc/

    Kong, A. (1992). A note on importance sampling using standardized weights.
    Technical report 348, Department of Statistics, University of Chicago.

    Examples
    --------
    >>> from safety_val.reliability import estimate_failure_probability
    >>> g = lambda x: 3.0 - (0.6 * x[:, 0] + 0.8 * x[:, 1])
    >>> form = estimate_failure_probability(g, ot.Normal(2), method="form", seed=1)
    >>> robust = analyze(form, limit_state=g, distribution=ot.Normal(2),
    ...                  shifts=["x0=+1sd"], n_reference=2000, seed=2)
    >>> robust.margins[["mode", "reading"]].iloc[0].tolist()
    ['mode 0', 'weak']
    >>> robust.shifts["how"].tolist()
    ['re-weighted']
    """
    check_options(_CONSTRAINTS, n_reference=n_reference, min_ess=min_ess)
    scenario = getattr(limit_state, "scenario", None)
    if distribution is None:
        if scenario is None:
            raise ValidationError(
                "the input distribution is needed to re-weight: pass distribution= or a "
                "scenario evaluator as limit_state",
                field="distribution",
                value=None,
            )
        distribution = scenario.distribution
    ambiguity_set = None if ambiguity is None else parse_ambiguity(ambiguity)
    rng = as_generator(seed)
    names: Sequence[str]
    if sample is None:
        if limit_state is None:
            raise ValidationError(
                "a limit state is needed to draw the importance sample (or pass sample=)",
                field="limit_state",
                value=None,
            )
        sample = draw_importance_sample(
            result, limit_state, distribution, n=n_reference, seed=rng, executor=executor
        )
        n_calls = sample.n_calls
    else:
        n_calls = 0
    names = sample.names or result.parameter_names
    inputs = _Inputs(distribution, names, scenario)
    if inputs.dimension != sample.x.shape[1]:
        raise ValidationError(
            "the distribution's dimension does not match the sample",
            field="distribution",
            value=inputs.dimension,
            expected=f"dimension {sample.x.shape[1]}",
        )
    shift_list = _normalise_shifts(shifts, inputs)
    context = _Context(
        sample, inputs, limit_state, float(min_ess), rng, executor, max_calls, method
    )
    pf, cov = sample.pf()
    if not np.any(sample.failure()):
        raise ValidationError(
            f"the importance sample of {sample.n} points has no failure: the result's "
            "failure region was not found again; use a larger budget (max_calls) for the "
            "result, or a larger n_reference",
            field="result",
            value=f"pf={result.pf:g}",
        )
    rows = []
    for shift in shift_list:
        i = inputs.index(shift.parameter)
        moved, inside = inputs.shifted_marginal(shift)
        estimate = context.estimate({i: moved}, inside, f"shift {shift.parameter} {shift.label}")
        rows.append(
            {
                "parameter": shift.parameter,
                "shift": shift.label,
                "kind": shift.kind,
                "amount": shift.amount,
                "beyond_odd": shift.beyond_odd,
                **{k: estimate[k] for k in ("pf", "cov", "ci_low", "ci_high")},
                "ratio_to_nominal": estimate["pf"] / pf,
                **{k: estimate[k] for k in ("ess", "how")},
            }
        )
    columns = [
        "parameter",
        "shift",
        "kind",
        "amount",
        "beyond_odd",
        "pf",
        "cov",
        "ci_low",
        "ci_high",
        "ratio_to_nominal",
        "ess",
        "how",
    ]
    shift_table = pd.DataFrame(rows, columns=columns)
    worst = None
    if ambiguity_set is not None:
        if result.design_points:
            direction = np.ravel(np.asarray(result.design_points[0].u, dtype=float))
        else:
            weights = sample.weights() * sample.failure()
            direction = weights @ sample.u / max(float(weights.sum()), 1e-300)
        worst = _worst_case(context, ambiguity_set, direction)
    if sample.effective_sample_size() < min_ess:
        context.notes.append(
            f"the nominal importance sample has an effective sample size of "
            f"{sample.effective_sample_size():.0f} < min_ess={min_ess:g}"
        )
    return RobustnessResult(
        beta=result.beta if math.isfinite(result.pf) else reliability_index(pf),
        pf=pf,
        cov=cov,
        margins=_margins(result, pf, modes),
        shifts=shift_table,
        sensitivities=_sensitivities(context, pf),
        worst_case=worst,
        sample=sample,
        n_calls=n_calls + context.n_calls,
        notes=tuple(context.notes),
    )
