r"""Acceptance statistics shared by the checks, fixed before any check runs.

Two tests decide most statistical requirements:

* :func:`log_z` — the distance between an estimate and a reference in units of their
  combined log-normal spread. A rare-event estimator is close to log-normal, so with
  coefficients of variation :math:`\delta` and :math:`\delta_r`

  .. math::

      z = \frac{|\ln \hat p - \ln p_r|}{\sqrt{\ln(1 + \delta^2) + \ln(1 + \delta_r^2)}},

  and an honest estimator exceeds :math:`z = 3` with probability about 0.3 %.

* :func:`coverage_minimum` — the fewest of ``n`` nominal 95 % intervals that must contain
  the reference: the one-sided binomial test of "coverage ≥ 95 %" at level
  :math:`\alpha = 0.01` rejects when the count is at most :math:`c`, the largest integer
  with :math:`P[\mathrm{Bin}(n, 0.95) \le c] \le \alpha`; the minimum is :math:`c + 1`.
"""

from __future__ import annotations

import math

from scipy import stats

__all__ = ["COVERAGE_ALPHA", "NOMINAL_COVERAGE", "Z_LIMIT", "coverage_minimum", "log_z"]

Z_LIMIT = 3.0
"""Largest accepted :func:`log_z` (two-sided false-alarm rate about 0.27 %)."""

NOMINAL_COVERAGE = 0.95
"""Level of the intervals :mod:`safety_val.reliability` reports."""

COVERAGE_ALPHA = 0.01
"""False-alarm rate of the coverage test (:func:`coverage_minimum`)."""


def log_z(estimate: float, reference: float, cov: float, cov_reference: float = 0.0) -> float:
    r"""Distance of ``estimate`` from ``reference`` in combined log-normal standard deviations.

    Parameters
    ----------
    estimate, reference
        Positive probabilities.
    cov, cov_reference
        Their coefficients of variation (0 for an exact reference).

    Returns
    -------
    float
        :math:`z` (see the module notes); ``inf`` when the estimate is not positive or
        no spread is known, ``0`` when both are equal.

    Examples
    --------
    >>> round(log_z(1.1e-3, 1e-3, 0.1), 3)
    0.955
    >>> log_z(0.0, 1e-3, 0.1)
    inf
    """
    if not (estimate > 0.0 and reference > 0.0):
        return math.inf
    distance = abs(math.log(estimate / reference))
    spread = math.log1p(cov * cov) + math.log1p(cov_reference * cov_reference)
    if not math.isfinite(spread) or spread <= 0.0:
        return 0.0 if distance == 0.0 else math.inf
    return distance / math.sqrt(spread)


def coverage_minimum(n: int, level: float = NOMINAL_COVERAGE, alpha: float = COVERAGE_ALPHA) -> int:
    """Fewest of ``n`` intervals that must contain the reference for nominal ``level``.

    Examples
    --------
    >>> coverage_minimum(10), coverage_minimum(20), coverage_minimum(40)
    (7, 16, 34)
    """
    count = -1
    for c in range(n + 1):
        if stats.binom.cdf(c, n, level) <= alpha:
            count = c
        else:
            break
    return count + 1
