r"""Failed simulations in reliability: counted, excluded, bounded and checked for clustering.

A simulator's ``error`` and ``timeout`` rows give no margin (NaN). Every method of
:mod:`safety_val.reliability` handles them the same way, as ``simulate`` does:

- they are recorded (as NaN in :attr:`FailureProbabilityResult.samples`) and counted
  (:attr:`FailureProbabilityResult.n_errors`, ``details["n_errors"]``, the message);
- they are excluded from the estimate: a failed run counts as no failure;
- the interval is widened to the *worst case*, the estimate had every failed run been a
  failure (each method computes that estimate from its own estimator: see
  :func:`account_for_failed_runs`), so that it still covers;
- a :class:`RuntimeWarning` is raised, and the result is not ``converged``, when more than
  :data:`ERROR_SHARE_WARNING` of the runs failed or when the failed runs *cluster where
  failures would be* (:func:`diagnose`).

A run is only retried when the executor retries it (a worker lost: ``max_retries``);
an ``error`` row a simulator returned is an answer, not retried, as in ``simulate``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from safety_val.reliability.result import DesignPoint, lognormal_interval

if TYPE_CHECKING:
    from safety_val.reliability.model import LimitStateModel

__all__ = [
    "CLUSTER_P_VALUE",
    "CLUSTER_RATIO",
    "CRITICAL_QUANTILE",
    "ERROR_SHARE_WARNING",
    "FailedRuns",
    "account_for_failed_runs",
    "diagnose",
]

ERROR_SHARE_WARNING = 0.05
"""Share of failed runs above which a method warns and does not report ``converged``."""

CRITICAL_QUANTILE = 0.1
r"""The *critical zone* holds the failing runs and the :data:`CRITICAL_QUANTILE` share of
the runs with the lowest margins above them (see :func:`diagnose`)."""

CLUSTER_P_VALUE = 0.01
"""Significance of Fisher's exact test that failed runs are over-represented in the zone."""

CLUSTER_RATIO = 1.5
"""Least ratio of the failed share in the critical zone to the share outside it."""

_NEIGHBOURS = 5


@dataclass(frozen=True)
class FailedRuns:
    r"""Where the failed runs of a method lie, compared with its successful runs.

    Attributes
    ----------
    n_errors
        Failed runs (NaN margin) of the method.
    n_runs
        Runs of the method.
    n_critical_errors
        Failed runs in the critical zone (see :func:`diagnose`).
    n_critical_runs
        Runs, failed or not, in the critical zone.
    n_at_design_point
        Failed runs within the radius of a design point.
    p_value
        One-sided Fisher exact test of "failed runs are no more frequent in the critical
        zone than outside it" (1 without failed runs).
    clustered
        The failed runs sit where failures would be (see :func:`diagnose`), so the
        estimate may miss failures they hid.
    """

    n_errors: int
    n_runs: int
    n_critical_errors: int = 0
    n_critical_runs: int = 0
    n_at_design_point: int = 0
    p_value: float = 1.0
    clustered: bool = False

    @property
    def share(self) -> float:
        """Failed share of the method's runs."""
        return self.n_errors / self.n_runs if self.n_runs else 0.0

    @property
    def critical_share(self) -> float:
        """Failed share of the runs in the critical zone."""
        return self.n_critical_errors / self.n_critical_runs if self.n_critical_runs else 0.0

    @property
    def other_share(self) -> float:
        """Failed share of the runs outside the critical zone."""
        others = self.n_runs - self.n_critical_runs
        return (self.n_errors - self.n_critical_errors) / others if others else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "n_errors": self.n_errors,
            "n_runs": self.n_runs,
            "error_share": self.share,
            "n_critical_errors": self.n_critical_errors,
            "n_critical_runs": self.n_critical_runs,
            "n_at_design_point": self.n_at_design_point,
            "p_value": self.p_value,
            "clustered": self.clustered,
        }


def diagnose(
    model: LimitStateModel,
    *,
    start: int = 0,
    design_points: Sequence[DesignPoint] = (),
    radius: float | None = None,
    min_clustered: int = 3,
    design_point_search: bool = False,
) -> FailedRuns:
    r"""Count the failed runs since call ``start`` and see if they sit where failures would be.

    Parameters
    ----------
    model
        The model whose record is examined.
    start
        First call of the method (earlier runs serve only as neighbours).
    design_points
        Design points found; runs within ``radius`` of one (standard space) are in the
        critical zone.
    radius
        Default :math:`0.1 (1 + \beta)` for each design point.
    min_clustered
        Fewest failed runs in the critical zone for ``clustered``.
    design_point_search
        For FORM and SORM: one failed run at a design point is enough (the search saw a
        stand-in margin where it converged).

    Returns
    -------
    FailedRuns

    Notes
    -----
    A failed run has no margin; its place is judged by its neighbours: its margin is
    taken as the median margin of its :data:`_NEIGHBOURS` nearest successful runs
    (standard normal space, all of the record). The *critical zone* holds the runs whose
    (own or neighbours') margin is at most :math:`t`, the quantile of the successful
    margins at level :math:`\min(1, \hat F + 0.1)`, :math:`\hat F` their failing share
    (so: the failures and the 10 % lowest margins above them), and the runs within
    ``radius`` of a design point. With :math:`e_c` failed runs among the :math:`n_c`
    runs of the zone and :math:`e_o` among the :math:`n_o` others, they *cluster* when
    :math:`e_c \ge` ``min_clustered``, :math:`e_c / n_c \ge 1.5\, e_o / n_o` and
    Fisher's one-sided exact test rejects equal shares at the 1 % level (a few failed
    runs prove nothing either way; the share rule of :func:`account_for_failed_runs`
    still applies to them).

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> from safety_val.reliability.model import LimitStateModel
    >>> def g(x):  # the simulator fails on most runs near the failure region
    ...     margin = 2.0 - x[:, 0]
    ...     return np.where((margin < 0.5) & (x[:, 1] > -1.0), np.nan, margin)
    >>> ot.RandomGenerator.SetSeed(0)
    >>> model = LimitStateModel(g, ot.Normal(2))
    >>> _ = model.evaluate(np.asarray(ot.Normal(2).getSample(2000)))
    >>> found = diagnose(model)
    >>> found.clustered, found.n_critical_errors == found.n_errors, found.other_share
    (True, True, 0.0)
    """
    x, g = model.recorded()
    failed = np.isnan(g)
    mine = np.zeros(len(g), dtype=bool)
    mine[start:] = True
    n_runs = int(np.count_nonzero(mine))
    n_errors = int(np.count_nonzero(failed & mine))
    if n_errors == 0:
        return FailedRuns(n_errors=0, n_runs=n_runs)
    ok = ~failed
    if not ok.any():
        return FailedRuns(n_errors=n_errors, n_runs=n_runs)
    u = model.to_standard(x)
    usable = np.all(np.isfinite(u), axis=1)
    failing = float(np.mean(g[ok] <= 0.0))
    threshold = max(0.0, float(np.quantile(g[ok], min(1.0, failing + CRITICAL_QUANTILE))))
    critical = ok & (g <= threshold)
    from scipy import stats
    from scipy.spatial import cKDTree

    neighbours = ok & usable
    if neighbours.any():
        k = min(_NEIGHBOURS, int(np.count_nonzero(neighbours)))
        tree = cKDTree(u[neighbours])
        targets = np.flatnonzero(failed & usable)
        _, index = tree.query(u[targets], k=k)
        index = np.asarray(index).reshape(len(targets), k)
        imputed = np.median(g[neighbours][index], axis=1)
        critical[targets] = imputed <= threshold
    near = np.zeros(len(g), dtype=bool)
    for point in design_points:
        centre = np.asarray(point.u, dtype=float).ravel()
        if centre.shape != (u.shape[1],) or not np.all(np.isfinite(centre)):
            continue
        reach = 0.1 * (1.0 + float(point.beta)) if radius is None else float(radius)
        distance = np.linalg.norm(np.where(usable[:, None], u, np.inf) - centre, axis=1)
        near |= usable & (distance <= reach)
    critical |= near
    n_critical_runs = int(np.count_nonzero(critical & mine))
    n_critical_errors = int(np.count_nonzero(critical & failed & mine))
    n_at_design_point = int(np.count_nonzero(near & failed & mine))
    table = [
        [n_critical_errors, n_critical_runs - n_critical_errors],
        [n_errors - n_critical_errors, n_runs - n_critical_runs - (n_errors - n_critical_errors)],
    ]
    p_value = float(stats.fisher_exact(table, alternative="greater")[1])
    found = FailedRuns(
        n_errors=n_errors,
        n_runs=n_runs,
        n_critical_errors=n_critical_errors,
        n_critical_runs=n_critical_runs,
        n_at_design_point=n_at_design_point,
        p_value=p_value,
    )
    clustered = (
        n_critical_errors >= min_clustered
        and found.critical_share >= CLUSTER_RATIO * found.other_share
        and p_value < CLUSTER_P_VALUE
    ) or (design_point_search and n_at_design_point > 0)
    return dataclasses.replace(found, clustered=bool(clustered))


def account_for_failed_runs(
    model: LimitStateModel,
    *,
    start: int,
    pf: float,
    ci: tuple[float, float],
    converged: bool,
    pf_worst: float,
    cov_worst: float | None = None,
    ci_worst_high: float | None = None,
    design_points: Sequence[DesignPoint] = (),
    has_interval: bool = True,
) -> tuple[tuple[float, float], bool, str, dict[str, Any]]:
    r"""Apply the rules for failed runs to a method's result.

    Parameters
    ----------
    model
        The model (its record holds the failed runs as NaN).
    start
        First call of the method.
    pf, ci, converged
        The method's estimate (failed runs counted as no failure), its interval and
        whether it converged.
    pf_worst
        The same estimator with every failed run counted as a failure (NaN for an
        approximation that has none).
    cov_worst, ci_worst_high
        The upper end of the worst case's interval is ``ci_worst_high`` when given, else
        the log-normal upper end for ``cov_worst``, else ``ci[1]`` scaled by
        ``pf_worst / pf`` (the same relative spread), else ``pf_worst``.
    design_points
        For :func:`diagnose`.
    has_interval
        ``False`` for an approximation (FORM, SORM): its interval stays NaN, the share
        of failed runs does not matter, one failed run at the design point does.

    Returns
    -------
    tuple
        ``(ci, converged, note, details)``: the widened interval (lower end unchanged,
        upper end the worst case's), ``converged`` (``False`` when more than
        :data:`ERROR_SHARE_WARNING` of the runs failed or they cluster), the note for
        the message (``""`` without failed runs) and ``details`` entries (``n_errors``,
        ``error_share``, ``pf_if_errors_failed``, ``ci_excluding_errors``,
        ``failed_runs``).

    Warns
    -----
    RuntimeWarning
        Too many failed runs, or failed runs that cluster where failures would be.
    """
    found = diagnose(
        model, start=start, design_points=design_points, design_point_search=not has_interval
    )
    details: dict[str, Any] = {"n_errors": found.n_errors}
    if found.n_errors == 0:
        return ci, converged, "", details
    low, high = ci
    if ci_worst_high is not None and math.isfinite(ci_worst_high):
        worst_high = float(ci_worst_high)
    elif cov_worst is not None and math.isfinite(cov_worst) and pf_worst > 0:
        worst_high = lognormal_interval(pf_worst, cov_worst)[1]
    elif pf > 0 and math.isfinite(pf) and math.isfinite(high):
        worst_high = min(1.0, high * pf_worst / pf)
    else:
        worst_high = pf_worst
    details.update(
        error_share=found.share,
        pf_if_errors_failed=pf_worst,
        ci_excluding_errors=ci,
        failed_runs=found.to_dict(),
    )
    note = (
        f"{found.n_errors} of {found.n_runs} runs ({found.share:.1%}) failed (error/timeout: "
        "no margin) and are excluded from the estimate"
    )
    if has_interval and math.isfinite(worst_high):
        low = low if math.isfinite(low) else 0.0
        high = max(high if math.isfinite(high) else 0.0, worst_high)
        note += (
            f"; had they all failed, pf would be {pf_worst:.3g}: the interval's upper end "
            f"({high:.3g}) assumes so"
        )
    elif not has_interval:
        note += (
            "; the design-point search saw the margin of the nearest successful run in "
            "their place"
        )
    cautions = []
    if has_interval and found.share > ERROR_SHARE_WARNING:
        cautions.append(f"more than {ERROR_SHARE_WARNING:.0%} of the runs failed")
    if found.clustered and not has_interval and found.n_at_design_point:
        cautions.append(
            f"they cluster where failures would be: {found.n_at_design_point} of them near "
            "the design point, where the search saw a stand-in margin, so the design point "
            "may be wrong"
        )
    elif found.clustered:
        cautions.append(
            f"they cluster where failures would be: {found.n_critical_errors} of the "
            f"{found.n_critical_runs} runs at the lowest margins or near the design point "
            f"failed ({found.critical_share:.0%}, against {found.other_share:.1%} elsewhere), "
            "so they may hide failures"
        )
    if cautions:
        caution = "; ".join(cautions)
        warnings.warn(f"{note}; {caution}", RuntimeWarning, stacklevel=3)
        note += f"; {caution}"
        if converged:
            converged = False
            note += "; not converged: failed runs could hide failures"
    return (low, high), converged, note, details
