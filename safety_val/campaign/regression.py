r"""Acceptance verdicts and the regression test of nightly campaigns.

Two questions are asked of every campaign job:

1. **Is the acceptance target met?** The verdict of
   :func:`safety_val.report.verdict.judge`: ``"met"`` when the 95 % interval's upper
   bound is at or below the target, ``"not met"`` when its lower bound is above it,
   ``"not demonstrated"`` when it straddles the target.
2. **Did pf get significantly worse than in the previous run of the same job?**
   A one-sided z-test on :math:`\ln p_f` (see :func:`compare_estimates`).

Notes
-----
The regression test uses the delta method: for an estimator with coefficient of
variation :math:`\delta`, :math:`\operatorname{sd}(\ln \hat p_f) \approx \delta`. With two
independent estimates

.. math::

    z = \frac{\ln \hat p_{new} - \ln \hat p_{old}}{\sqrt{\delta_{new}^2 + \delta_{old}^2}},

and the job is flagged when :math:`z > z_{1-\alpha}` (one-sided: only a *worse* pf is
a regression). Under the null hypothesis (same pf) the false-alarm probability of one
job is :math:`\alpha`; a campaign of :math:`m` jobs tests each at :math:`\alpha/m`
(Bonferroni), so a nightly run raises a false alarm with probability at most
:math:`\alpha` (default 0.01: about one false alarm in a hundred nights).
Estimates that share their random numbers (same seed, unchanged system) are positively
correlated; the test then over-states the variance of the difference and is conservative.
The power to detect a doubled pf is :math:`\Phi(\ln 2 / \sqrt{2}\,\delta - z_{1-\alpha})`:
about 0.99 for :math:`\delta = 0.1` and 0.55 for :math:`\delta = 0.2` at
:math:`\alpha = 0.01`.

When an estimate is zero or has no finite CoV (FORM/SORM, no failure seen), the log
test is undefined; the job is then flagged only when the new interval lies entirely
above the old one (:math:`p_{L,new} > p_{U,old}`), a conservative interval test.

References
----------
Casella, G., Berger, R. L. (2002). *Statistical Inference*, 2nd ed., §5.5.4 (delta method).
Dunn, O. J. (1961). Multiple comparisons among means. *JASA* 56(293), 52-64.
https://doi.org/10.1080/01621459.1961.10482090
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats

from safety_val.errors import ValidationError

__all__ = [
    "DEFAULT_ALPHA",
    "TEST_DESCRIPTION",
    "RegressionTest",
    "check_probability",
    "compare_estimates",
]

DEFAULT_ALPHA = 0.01
"""Family-wise false-alarm probability of one nightly campaign run."""

TEST_DESCRIPTION = (
    "one-sided z-test on ln pf, z = (ln pf_new - ln pf_old) / sqrt(cov_new^2 + cov_old^2) "
    "(delta method: sd(ln pf) ~ CoV); flagged when z > z_(1 - alpha/m), Bonferroni over "
    "the m compared jobs, so a nightly run raises a false alarm with probability <= alpha"
)


def check_probability(value: Any, *, field: str, file: str | None = None) -> float:
    """Validate a probability in the open interval (0, 1) and return it as a float.

    Examples
    --------
    >>> check_probability(1e-7, field="target")
    1e-07
    >>> check_probability(1.5, field="target")
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: target: must be a probability in (0, 1) (got 1.5; ...
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(float(value))
        or not 0.0 < float(value) < 1.0
    ):
        raise ValidationError(
            "must be a probability in (0, 1)",
            file=file,
            field=field,
            value=value,
            expected="a number strictly between 0 and 1, e.g. 1.0e-7",
        )
    return float(value)


@dataclass(frozen=True)
class RegressionTest:
    r"""The outcome of comparing a new pf estimate with the previous one of the same job.

    Attributes
    ----------
    ratio
        ``pf_new / pf_old`` (inf when the old pf is 0 and the new one is not; NaN for 0/0).
    z
        The z statistic on ln pf (NaN when the interval test was used).
    p_value
        One-sided p-value :math:`1 - \Phi(z)` (NaN when the interval test was used).
    alpha
        The level the job was tested at (the family-wise α divided by the number of jobs).
    flagged
        Whether the new pf is significantly worse.
    test
        ``"z-test on ln pf"`` or ``"interval test"``.
    """

    ratio: float
    z: float
    p_value: float
    alpha: float
    flagged: bool
    test: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN and inf become ``None``)."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def compare_estimates(
    pf_new: float,
    cov_new: float,
    pf_old: float,
    cov_old: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    ci_new: tuple[float, float] | None = None,
    ci_old: tuple[float, float] | None = None,
) -> RegressionTest:
    r"""Test whether ``pf_new`` is significantly larger than ``pf_old`` (one-sided).

    Parameters
    ----------
    pf_new, cov_new
        The new estimate and its coefficient of variation.
    pf_old, cov_old
        The previous estimate of the same job and its coefficient of variation.
    alpha
        Level of this one test, in (0, 1) (a campaign passes α/m for m jobs).
    ci_new, ci_old
        95 % intervals, used by the interval test when the log test is undefined.

    Returns
    -------
    RegressionTest

    Notes
    -----
    :math:`z = (\ln \hat p_{new} - \ln \hat p_{old}) / \sqrt{\delta_{new}^2 +
    \delta_{old}^2}`, flagged when :math:`z > \Phi^{-1}(1 - \alpha)`; see the module
    docstring for the false-alarm rate and the power.

    Examples
    --------
    >>> same = compare_estimates(0.01, 0.1, 0.01, 0.1)
    >>> same.z, same.flagged
    (0.0, False)
    >>> doubled = compare_estimates(0.02, 0.1, 0.01, 0.1)
    >>> round(doubled.z, 3), round(doubled.p_value, 5), doubled.flagged
    (4.901, 0.0, True)
    """
    alpha = check_probability(alpha, field="alpha")
    ratio = _ratio(pf_new, pf_old)
    finite = all(math.isfinite(v) for v in (pf_new, pf_old, cov_new, cov_old))
    if finite and pf_new > 0 and pf_old > 0 and (cov_new > 0 or cov_old > 0):
        z = (math.log(pf_new) - math.log(pf_old)) / math.hypot(cov_new, cov_old)
        p_value = float(stats.norm.sf(z))
        return RegressionTest(ratio, z, p_value, alpha, bool(p_value < alpha), "z-test on ln pf")
    if finite and pf_new == pf_old and cov_new == 0 and cov_old == 0:
        return RegressionTest(ratio, 0.0, 0.5, alpha, False, "z-test on ln pf")
    flagged = (
        ci_new is not None
        and ci_old is not None
        and math.isfinite(ci_new[0])
        and math.isfinite(ci_old[1])
        and ci_new[0] > ci_old[1]
    )
    return RegressionTest(ratio, math.nan, math.nan, alpha, bool(flagged), "interval test")


def _ratio(new: float, old: float) -> float:
    if not (math.isfinite(new) and math.isfinite(old)):
        return math.nan
    if old > 0:
        return new / old
    return math.nan if new == 0 else math.inf
