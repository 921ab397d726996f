"""The robustness package reads supports with :func:`safety_val.distributions.support`."""

from __future__ import annotations

import math

import openturns as ot

from safety_val import distributions
from safety_val.robustness import margins, reweighting


def test_robustness_uses_the_shared_support() -> None:
    # robustness once had its own copy, without the fix for discrete lower bounds
    assert reweighting.support is distributions.support
    assert margins.support is distributions.support


def test_discrete_lower_bound_above_zero() -> None:
    # OpenTURNS flags the lower end of a shifted Poisson as infinite; there is no mass below 2
    shifted_poisson = ot.Distribution(ot.Poisson(2.0) + 2.0)
    assert reweighting.support(shifted_poisson) == (2.0, math.inf)
    finite = ot.Distribution(ot.UserDefined([[2.0], [3.0], [5.0]]))
    assert reweighting.support(finite) == (2.0, 5.0)
