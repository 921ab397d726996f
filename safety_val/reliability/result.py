"""The result of a failure-probability estimate, its intervals and the budget exception.

Every method of :mod:`safety_val.reliability` returns a :class:`FailureProbabilityResult`:
the estimate ``pf`` always travels with its coefficient of variation, a 95 % interval,
the number of limit-state calls, whether it converged and why not.

A zero estimate (no failure seen) is never reported as final: :func:`make_result` turns it
into ``converged=False`` with the upper bound that the budget can certify
(:func:`zero_failure_upper_bound`), and :class:`FailureProbabilityResult` refuses to be
built with ``pf == 0`` and ``converged=True``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from safety_val.errors import SafetyValError

if TYPE_CHECKING:
    import openturns as ot

    from safety_val.reliability.model import LimitStateModel
    from safety_val.scenario import LogicalScenario

__all__ = [
    "CONFIDENCE_LEVEL",
    "HISTORY_COLUMNS",
    "BudgetExhausted",
    "DesignPoint",
    "FailureProbabilityResult",
    "clopper_pearson_interval",
    "history_frame",
    "json_safe",
    "lognormal_interval",
    "make_result",
    "normal_interval",
    "reliability_index",
    "zero_failure_upper_bound",
]

CONFIDENCE_LEVEL = 0.95
"""Level of every interval reported by :mod:`safety_val.reliability`."""

HISTORY_COLUMNS = ("n_calls", "pf", "cov", "ci_low", "ci_high")
"""Columns of :attr:`FailureProbabilityResult.history`."""


class BudgetExhausted(SafetyValError):
    """The limit state was asked for more calls than ``max_calls`` allows.

    Raised by :meth:`~safety_val.reliability.model.LimitStateModel.evaluate` *before*
    evaluating the batch that would exceed the budget; methods catch it and return a
    result with ``converged=False``.

    Parameters
    ----------
    n_calls
        Calls made so far.
    requested
        Size of the batch that was refused.
    max_calls
        The budget.
    """

    def __init__(self, n_calls: int, requested: int, max_calls: int) -> None:
        self.n_calls = n_calls
        self.requested = requested
        self.max_calls = max_calls
        super().__init__(
            f"budget of max_calls={max_calls} limit-state calls exhausted: {n_calls} made, "
            f"a batch of {requested} more was refused"
        )


def reliability_index(pf: float) -> float:
    r"""The reliability index :math:`\beta = -\Phi^{-1}(p_f)`.

    ``+inf`` for ``pf == 0``, ``-inf`` for ``pf == 1``, NaN for NaN.

    Examples
    --------
    >>> round(reliability_index(0.0013498980316301), 6)
    3.0
    >>> reliability_index(0.0)
    inf
    """
    if not math.isfinite(pf):
        return math.nan
    return float(stats.norm.isf(pf))  # isf is accurate far in the tail


def crude_mc_calls(pf: float | None, cov: float | None) -> float:
    r"""Draws crude Monte Carlo needs for coefficient of variation ``cov`` at ``pf``.

    :math:`N = (1 - p_f) / (p_f\,\delta^2)`; NaN when either is missing, not positive
    or not finite.

    Examples
    --------
    >>> f"{crude_mc_calls(1e-6, 0.1):.4g}"
    '1e+08'
    """
    if pf is None or cov is None:
        return math.nan
    pf, cov = float(pf), float(cov)
    if not (0.0 < pf < 1.0 and math.isfinite(cov) and cov > 0.0):
        return math.nan
    return (1.0 - pf) / (pf * cov * cov)


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2.0))


def normal_interval(pf: float, cov: float, level: float = CONFIDENCE_LEVEL) -> tuple[float, float]:
    r"""Normal-approximation interval :math:`p_f (1 \pm z\,\delta)`, clipped to [0, 1].

    Examples
    --------
    >>> tuple(round(b, 5) for b in normal_interval(0.01, 0.1))
    (0.00804, 0.01196)
    """
    if not (math.isfinite(pf) and math.isfinite(cov)):
        return (math.nan, math.nan)
    half = _z(level) * cov * pf
    return (max(0.0, pf - half), min(1.0, pf + half))


def lognormal_interval(
    pf: float, cov: float, level: float = CONFIDENCE_LEVEL
) -> tuple[float, float]:
    r"""Log-normal interval for a positive estimator with coefficient of variation ``cov``.

    Notes
    -----
    With :math:`\sigma^2 = \ln(1 + \delta^2)`, the interval is
    :math:`[p_f e^{-z\sigma}, p_f e^{z\sigma}]`, clipped to [0, 1]. It stays positive
    and is skewed like the distribution of rare-event estimators (subset simulation,
    importance sampling), whose normal interval often reaches below zero.

    Examples
    --------
    >>> low, high = lognormal_interval(1e-4, 0.1)
    >>> bool(0.82e-4 < low < 1e-4 < high < 1.22e-4)
    True
    """
    if not (math.isfinite(pf) and math.isfinite(cov)) or pf <= 0.0:
        return (math.nan, math.nan)
    sigma = math.sqrt(math.log1p(cov * cov))
    factor = math.exp(_z(level) * sigma)
    return (max(0.0, pf / factor), min(1.0, pf * factor))


def clopper_pearson_interval(
    n_failures: int, n: int, level: float = CONFIDENCE_LEVEL
) -> tuple[float, float]:
    r"""Exact (Clopper–Pearson) two-sided interval for a binomial proportion.

    Notes
    -----
    With :math:`k` failures in :math:`N` independent trials and :math:`\alpha = 1 -`
    ``level``, the bounds are the :math:`\alpha/2` quantile of
    :math:`\mathrm{Beta}(k, N - k + 1)` and the :math:`1 - \alpha/2` quantile of
    :math:`\mathrm{Beta}(k + 1, N - k)`; the lower bound is 0 for :math:`k = 0`
    and the upper bound 1 for :math:`k = N`. Its coverage is at least ``level``.

    References
    ----------
    Clopper, C. J. and Pearson, E. S. (1934). The use of confidence or fiducial limits
    illustrated in the case of the binomial. Biometrika 26(4), 404–413.
    https://doi.org/10.1093/biomet/26.4.404

    Examples
    --------
    >>> low, high = clopper_pearson_interval(0, 1000)
    >>> low, round(high, 5)
    (0.0, 0.00368)
    """
    if n <= 0:
        return (0.0, 1.0)
    alpha = 1.0 - level
    low = (
        0.0 if n_failures == 0 else float(stats.beta.ppf(alpha / 2, n_failures, n - n_failures + 1))
    )
    high = (
        1.0 if n_failures >= n else float(stats.beta.isf(alpha / 2, n_failures + 1, n - n_failures))
    )
    return (low, high)


def zero_failure_upper_bound(n: int, level: float = CONFIDENCE_LEVEL) -> float:
    r"""One-sided upper bound on pf when no failure was seen in ``n`` trials.

    Notes
    -----
    :math:`1 - (1 - \text{level})^{1/N} \approx -\ln(0.05)/N \approx 3/N` at 95 %
    (the "rule of three").

    Examples
    --------
    >>> round(zero_failure_upper_bound(1000) * 1000, 3)
    2.991
    """
    if n <= 0:
        return 1.0
    return float(-math.expm1(math.log1p(-level) / n))


@dataclass(frozen=True)
class DesignPoint:
    r"""A most probable failure point (one failure mode).

    Attributes
    ----------
    x
        The point in physical space (parameter units).
    u
        The same point in standard normal space.
    beta
        Its distance to the origin, :math:`\lVert u \rVert`.
    importance
        Importance factors (FORM: squared direction cosines :math:`\alpha_i^2`) indexed
        by parameter name, or ``None`` when not computed.
    """

    x: np.ndarray
    u: np.ndarray
    beta: float
    importance: pd.Series | None = None

    def to_dict(self, names: Sequence[str] | None = None) -> dict[str, Any]:
        """JSON-safe dictionary (coordinates keyed by parameter name when ``names`` given)."""
        x = [float(v) for v in np.ravel(self.x)]
        u = [float(v) for v in np.ravel(self.u)]
        out: dict[str, Any] = {
            "x": dict(zip(names, x, strict=True)) if names else x,
            "u": dict(zip(names, u, strict=True)) if names else u,
            "beta": self.beta,
            "importance": None
            if self.importance is None
            else {str(k): float(v) for k, v in self.importance.items()},
        }
        result: dict[str, Any] = json_safe(out)
        return result


def history_frame(rows: Iterable[Mapping[str, float]] | None = None) -> pd.DataFrame:
    """A history table with the standard columns (``n_calls`` int, the others float).

    Examples
    --------
    >>> history_frame([{"n_calls": 100, "pf": 0.1, "cov": 0.3, "ci_low": 0.05, "ci_high": 0.2}])
       n_calls   pf  cov  ci_low  ci_high
    0      100  0.1  0.3    0.05      0.2
    """
    frame = pd.DataFrame(list(rows or []), columns=list(HISTORY_COLUMNS))
    frame["n_calls"] = frame["n_calls"].astype("int64")
    for column in HISTORY_COLUMNS[1:]:
        frame[column] = frame[column].astype("float64")
    return frame


def json_safe(value: Any) -> Any:
    """Convert numbers, arrays and containers to JSON types; NaN and ±inf become ``None``.

    Examples
    --------
    >>> json_safe({"a": np.float64("nan"), "b": (1, np.int64(2)), "c": np.array([0.5])})
    {'a': None, 'b': [1, 2], 'c': [0.5]}
    """
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [json_safe(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


@dataclass(frozen=True)
class FailureProbabilityResult:
    r"""A failure-probability estimate with its uncertainty and its evidence.

    Attributes
    ----------
    pf
        Estimate of :math:`P(g(X) \le 0)`; NaN when the method produced none.
    cov
        Coefficient of variation of the estimator (NaN for approximations: FORM, SORM).
    ci
        95 % interval ``(low, high)``; NaN bounds when the method has none.
    n_calls
        Limit-state evaluations spent (all stages, including the input probe).
    n_errors
        Of them, failed simulations (``error``/``timeout``: NaN margins in ``samples``),
        excluded from the estimate (a property, see
        :mod:`safety_val.reliability.failed_runs`).
    converged
        ``True`` only when the method reached its stopping criterion (``target_cov`` for
        samplers, solver convergence for FORM/SORM) within the budget.
    method
        Name of the method (``"subset"``, ``"auto: form → nais"``, ...).
    message
        Why it did not converge, what was chained, caveats; ``""`` if none.
    design_points
        One :class:`DesignPoint` per failure mode found.
    history
        Estimate against calls: columns ``n_calls, pf, cov, ci_low, ci_high``.
    samples
        Every evaluated point: one column per parameter, ``"g"``, and ``"stage"``.
    details
        Method-specific information (levels, thresholds, surrogate error, ...).
    parameter_names
        Names of the inputs, in column order.
    distribution
        The joint input distribution the estimate refers to (set by
        :func:`~safety_val.reliability.estimate_failure_probability`; ``None`` for a
        result read back from a run directory). Not serialised.
    scenario
        The logical scenario, when the limit state was one (or a scenario evaluator);
        ``None`` otherwise. Not serialised.

    Raises
    ------
    ValueError
        When built with ``pf == 0`` or a NaN ``pf`` and ``converged=True``: a zero
        estimate is never final.

    Examples
    --------
    >>> result = FailureProbabilityResult(
    ...     pf=1e-3, cov=0.1, ci=(8e-4, 1.2e-3), n_calls=1000, converged=True, method="mc")
    >>> round(result.beta, 4)
    3.0902
    >>> result.to_frame()[["pf", "converged"]]
          pf  converged
    0  0.001       True
    """

    pf: float
    cov: float
    ci: tuple[float, float]
    n_calls: int
    converged: bool
    method: str
    message: str = ""
    design_points: tuple[DesignPoint, ...] = ()
    history: pd.DataFrame = field(default_factory=history_frame, repr=False)
    samples: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    details: Mapping[str, Any] = field(default_factory=dict, repr=False)
    parameter_names: tuple[str, ...] = ()
    distribution: ot.Distribution | None = field(default=None, repr=False, compare=False)
    scenario: LogicalScenario | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.converged and not (math.isfinite(self.pf) and self.pf > 0.0):
            raise ValueError(
                f"a failure probability of {self.pf} cannot be reported as converged: "
                "no failure seen means only an upper bound is known"
            )

    @property
    def beta(self) -> float:
        r"""Reliability index :math:`-\Phi^{-1}(p_f)` (``+inf`` when ``pf == 0``)."""
        return reliability_index(self.pf)

    @property
    def n_errors(self) -> int:
        """Failed simulations among the calls (NaN margins in :attr:`samples`)."""
        if "g" not in self.samples.columns:
            return int(self.details.get("n_errors", 0) or 0)
        return int(np.count_nonzero(np.isnan(self.samples["g"].to_numpy(dtype=float))))

    @property
    def crude_mc_calls(self) -> float:
        """Crude Monte Carlo draws that would give the same CoV (see :func:`crude_mc_calls`)."""
        return crude_mc_calls(self.pf, self.cov)

    def to_frame(self) -> pd.DataFrame:
        """One row: ``pf, cov, ci_low, ci_high, beta, n_calls, n_errors, converged, method``."""
        return pd.DataFrame(
            [
                {
                    "pf": self.pf,
                    "cov": self.cov,
                    "ci_low": self.ci[0],
                    "ci_high": self.ci[1],
                    "beta": self.beta,
                    "n_calls": self.n_calls,
                    "n_errors": self.n_errors,
                    "converged": self.converged,
                    "method": self.method,
                }
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN and ±inf as ``None``), without the samples."""
        names = self.parameter_names or None
        out = {
            "pf": self.pf,
            "cov": self.cov,
            "ci": list(self.ci),
            "beta": self.beta,
            "n_calls": self.n_calls,
            "n_errors": self.n_errors,
            "converged": self.converged,
            "method": self.method,
            "message": self.message,
            "parameter_names": list(self.parameter_names),
            "design_points": [
                dp.to_dict(names if names and len(names) == np.size(dp.x) else None)
                for dp in self.design_points
            ],
            "history": self.history,
            "details": self.details,
        }
        result: dict[str, Any] = json_safe(out)
        return result


def make_result(
    model: LimitStateModel,
    *,
    method: str,
    pf: float,
    cov: float,
    ci: tuple[float, float],
    converged: bool,
    message: str = "",
    history: pd.DataFrame | Iterable[Mapping[str, float]] | None = None,
    design_points: Sequence[DesignPoint] = (),
    details: Mapping[str, Any] | None = None,
    n_trials: int | None = None,
) -> FailureProbabilityResult:
    """Assemble a result from a method's numbers and the model's record.

    The honesty rules live here, so that every method applies them the same way:

    - ``pf == 0`` (no failure seen) → ``converged=False``, ``ci = (0, upper)`` with the
      one-sided 95 % bound for ``n_trials`` (default: the calls spent) and a message; when
      failed runs widened ``ci`` (``details["pf_if_errors_failed"]`` is set, see
      :mod:`~safety_val.reliability.failed_runs`), its upper end is kept if larger;
    - a NaN ``pf`` → ``converged=False``;
    - ``converged=False`` without a message gets a generic one.

    Parameters
    ----------
    model
        The model that counted the calls and recorded the samples.
    method, pf, cov, ci, converged, message, history, design_points, details
        As in :class:`FailureProbabilityResult`.
    n_trials
        Number of independent trials behind a zero estimate, for its upper bound.
    """
    notes = [message] if message else []
    pf = float(pf)
    cov = float(cov)
    ci = (float(ci[0]), float(ci[1]))
    worst = (details or {}).get("pf_if_errors_failed")
    if pf == 0.0:
        n = model.n_calls if n_trials is None else n_trials
        upper = zero_failure_upper_bound(n)
        # failed runs that could have been failures keep the interval they widened
        ci = (0.0, max(upper, ci[1]) if worst is not None and math.isfinite(ci[1]) else upper)
        cov = math.nan
        converged = False
        notes.append(
            f"no failure observed in {n} trials: pf is not 0, it is below about {ci[1]:.3g} "
            "(95 % upper bound); increase max_calls or use a rare-event method"
        )
    elif not math.isfinite(pf):
        converged = False
        if not notes:
            notes.append("the method produced no estimate")
    if not converged and not notes:
        notes.append("did not converge")
    frame = history if isinstance(history, pd.DataFrame) else history_frame(history)
    return FailureProbabilityResult(
        pf=pf,
        cov=cov,
        ci=ci,
        n_calls=model.n_calls,
        converged=bool(converged),
        method=method,
        message="; ".join(notes),
        design_points=tuple(design_points),
        history=frame,
        samples=model.samples(),
        details=dict(details or {}),
        parameter_names=model.names,
        distribution=model.distribution,
    )
