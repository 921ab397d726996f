r"""Standard OpenSCENARIO stand-ins for distributions that have no exact element.

:func:`safety_val.formats.xosc.write_xosc` writes a family that OpenSCENARIO cannot
state exactly (a Gamma, a Weibull, a Normal cut to ODD bounds, a ``Grid`` in a
stochastic file, ...) as a ``safety-val:`` ``UserDefinedDistribution``, which only
safety-val reads. With ``portable=True`` it writes, instead, what this module
proposes, in this order of preference:

==========================================  =============================================
distribution (+ ``bounds``)                  portable stand-in
==========================================  =============================================
Normal / TruncatedNormal + bounds            TruncatedNormal on the intersection (exact)
Uniform + bounds                             Uniform on the intersection (exact)
Histogram + bounds                           the histogram cut to the bounds (exact)
UserDefined / Set of numbers (+ bounds)      UserDefined of the points kept (exact)
Grid (+ bounds), stochastic                  UserDefined, equal weights (exact)
Set of strings, stochastic                   Categorical, equal weights (exact)
Grid / Set + bounds, deterministic           Set of the points kept (exact)
any other continuous family (+ bounds)       Histogram approximation (max CDF error below
                                             :data:`PORTABLE_CDF_TOLERANCE`)
==========================================  =============================================

The fidelity lost is measured, not assumed: :func:`max_cdf_error` is the
Kolmogorov distance :math:`\sup_x |F(x) - G(x)|` between the distribution as the
scenario states it (truncated to its bounds) and the one a reader of the file gets.

Notes
-----
The histogram's edges are the union of ``n`` equal-probability and ``n``
equal-width points of the (bounded) support, its weights the exact probabilities
:math:`F(e_{i+1}) - F(e_i)`, so the two CDFs agree at every edge and differ only by
the linear interpolation of :math:`F` inside a bin (an :math:`O(h^2 f')` error in
the bulk, at most one bin's probability in a tail). ``n`` doubles from 8 until the
measured error is below the tolerance (at most 1024). An unbounded side is cut at
the quantile :math:`\varepsilon/2`, :math:`\varepsilon` = tolerance / 10; the
mass cut off is part of the measured error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import openturns as ot

from safety_val.distributions import build_marginal, grid_points, parse_distribution, support

__all__ = ["PORTABLE_CDF_TOLERANCE", "PortableStandIn", "max_cdf_error", "portable_stand_in"]

#: Largest Kolmogorov distance a histogram approximation aims at.
PORTABLE_CDF_TOLERANCE = 1e-3

_MAX_BINS = 1024
_GRID_POINTS = 4001
_PROBES_PER_BIN = 16

Bounds = tuple[float, float] | None
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PortableStandIn:
    """A distribution OpenSCENARIO states with a standard element, for one that it cannot.

    Attributes
    ----------
    distribution
        Family dict of the stand-in.
    bounds
        Its bounds (``None`` where the stand-in needs none).
    method
        How it was made, for the file's comment (``"a Histogram of 32 bins"``).
    """

    distribution: dict[str, Any]
    bounds: Bounds
    method: str


def _marginal(distribution: Mapping[str, Any], bounds: Bounds) -> ot.Distribution:
    return build_marginal(parse_distribution(distribution), bounds)


def _cdf(marginal: ot.Distribution, points: FloatArray) -> FloatArray:
    return np.asarray(marginal.computeCDF(ot.Sample(points[:, None])), dtype=float).ravel()


def _atoms(marginal: ot.Distribution) -> FloatArray:
    return np.asarray(marginal.getSupport(), dtype=float).ravel()


def max_cdf_error(
    first: tuple[Mapping[str, Any], Bounds], second: tuple[Mapping[str, Any], Bounds]
) -> float:
    r"""The Kolmogorov distance :math:`\sup_x |F(x) - G(x)|` of two (family dict, bounds).

    Exact for two discrete distributions (the supremum of two step functions is
    reached at an atom); for continuous ones it is the maximum over the union of
    both supports' grids (4001 equally spaced points and 200 quantiles each), and
    a histogram's edges and 16 points inside each bin.

    Examples
    --------
    >>> normal = {"family": "Normal", "mu": 0.0, "sigma": 1.0}
    >>> truncated = {"family": "TruncatedNormal", "mu": 0.0, "sigma": 1.0,
    ...              "lower": -1.0, "upper": 1.0}
    >>> max_cdf_error((normal, (-1.0, 1.0)), (truncated, None))
    0.0
    >>> round(max_cdf_error((normal, None), (truncated, None)), 4)  # F(-1) of N(0, 1)
    0.1587
    """
    f, g = _marginal(*first), _marginal(*second)
    if f.isDiscrete() and g.isDiscrete():
        points = np.union1d(_atoms(f), _atoms(g))
    else:
        parts = [_probe_points(f, first[0]), _probe_points(g, second[0])]
        points = np.unique(np.concatenate(parts))
    return float(np.max(np.abs(_cdf(f, points) - _cdf(g, points))))


def _probe_points(marginal: ot.Distribution, distribution: Mapping[str, Any]) -> FloatArray:
    if marginal.isDiscrete():
        return _atoms(marginal)
    levels = np.linspace(0.0, 1.0, _GRID_POINTS)[1:-1]
    quantiles = np.asarray(
        [marginal.computeQuantile(float(p))[0] for p in levels[:: (_GRID_POINTS - 1) // 200]],
        dtype=float,
    )
    lo, hi = _finite_range(marginal, PORTABLE_CDF_TOLERANCE / 10.0)
    parts = [quantiles, np.linspace(lo, hi, _GRID_POINTS)]
    edges = distribution.get("edges")
    if edges is not None:  # the interpolation error peaks inside a bin: probe each one
        e = np.asarray(edges, dtype=float)
        inside = np.linspace(0.0, 1.0, _PROBES_PER_BIN + 2)
        parts += [e, (e[:-1, None] + np.diff(e)[:, None] * inside[None, :]).ravel()]
    return np.concatenate(parts)


def _finite_range(marginal: ot.Distribution, epsilon: float) -> tuple[float, float]:
    lo, hi = support(marginal)
    if not math.isfinite(lo):
        lo = float(marginal.computeQuantile(epsilon / 2.0)[0])
    if not math.isfinite(hi):
        hi = float(marginal.computeQuantile(1.0 - epsilon / 2.0)[0])
    return lo, hi


def _histogram(
    distribution: Mapping[str, Any], bounds: Bounds, tolerance: float
) -> PortableStandIn:
    marginal = _marginal(distribution, bounds)
    lo, hi = _finite_range(marginal, tolerance / 10.0)
    fine = np.linspace(lo, hi, 20 * _MAX_BINS + 1)
    fine_cdf = np.maximum.accumulate(_cdf(marginal, fine))
    candidates: list[tuple[float, PortableStandIn]] = []
    n = 8
    while n <= _MAX_BINS:
        levels = np.linspace(fine_cdf[0], fine_cdf[-1], n + 1)
        by_probability = np.interp(levels, fine_cdf, fine)
        edges = np.unique(np.concatenate([by_probability, np.linspace(lo, hi, n + 1)]))
        weights = np.maximum(np.diff(_cdf(marginal, edges)), 0.0)
        histogram = {
            "family": "Histogram",
            "edges": [float(e) for e in edges],
            "weights": [float(w) for w in weights],
        }
        error = max_cdf_error((distribution, bounds), (histogram, None))
        candidates.append(
            (error, PortableStandIn(histogram, None, f"a Histogram of {len(weights)} bins"))
        )
        if error <= tolerance:
            break
        n *= 2
    return min(candidates, key=lambda c: c[0])[1]


def _intersect(lower: float, upper: float, bounds: Bounds) -> tuple[float, float]:
    if bounds is None:
        return lower, upper
    return max(lower, bounds[0]), min(upper, bounds[1])


def _kept(values: Sequence[float], bounds: Bounds) -> list[float]:
    if bounds is None:
        return [float(v) for v in values]
    return [float(v) for v in values if bounds[0] <= v <= bounds[1]]


def portable_stand_in(
    distribution: Mapping[str, Any],
    bounds: Bounds,
    *,
    deterministic: bool,
    tolerance: float = PORTABLE_CDF_TOLERANCE,
) -> PortableStandIn | None:
    """A standard-element stand-in for ``distribution`` (see the module docstring).

    Parameters
    ----------
    distribution
        A canonical family dict (:meth:`DistributionSpec.to_dict`).
    bounds
        Its truncation bounds, or ``None``.
    deterministic
        Whether it goes into a ``Deterministic`` distribution (``Grid``/``Set`` only).
    tolerance
        Kolmogorov distance a histogram approximation aims at.

    Returns
    -------
    PortableStandIn or None
        ``None`` where there is none (a categorical family, or a stochastic family
        asked for a deterministic file).

    Examples
    --------
    >>> gamma = {"family": "Gamma", "k": 1.0, "lambda": 0.5, "gamma": 0.0}
    >>> stand_in = portable_stand_in(gamma, (0.0, 16.0), deterministic=False)
    >>> stand_in.distribution["family"], stand_in.method.startswith("a Histogram of")
    ('Histogram', True)
    >>> max_cdf_error((gamma, (0.0, 16.0)), (stand_in.distribution, None)) <= 1e-3
    True
    """
    family = str(distribution["family"])
    if deterministic:
        if family == "Grid":
            values: list[Any] = _kept(
                grid_points(distribution["lower"], distribution["upper"], distribution["step"]),
                bounds,
            )
        elif family == "Set" and not isinstance(distribution["values"][0], str):
            values = _kept(distribution["values"], bounds)
        else:
            return None
        if not values:
            return None
        return PortableStandIn({"family": "Set", "values": values}, None, "a DistributionSet")
    if family in ("Normal", "TruncatedNormal") and bounds is not None:
        lower, upper = (
            (-math.inf, math.inf)
            if family == "Normal"
            else (distribution["lower"], distribution["upper"])
        )
        lower, upper = _intersect(lower, upper, bounds)
        return PortableStandIn(
            {"family": "TruncatedNormal", "mu": distribution["mu"],
             "sigma": distribution["sigma"], "lower": lower, "upper": upper},
            None,
            "a NormalDistribution with a Range",
        )
    if family == "Uniform" and bounds is not None:
        lower, upper = _intersect(distribution["lower"], distribution["upper"], bounds)
        return PortableStandIn(
            {"family": "Uniform", "lower": lower, "upper": upper}, None, "a UniformDistribution"
        )
    if family == "Histogram" and bounds is not None:
        return _cut_histogram(distribution, bounds)
    if family in ("UserDefined", "Grid") or (
        family == "Set" and not isinstance(distribution["values"][0], str)
    ):
        if family == "UserDefined":
            pairs = [
                (float(v), float(w))
                for v, w in zip(distribution["values"], distribution["weights"], strict=True)
                if bounds is None or bounds[0] <= v <= bounds[1]
            ]
        else:
            points = (
                grid_points(distribution["lower"], distribution["upper"], distribution["step"])
                if family == "Grid"
                else distribution["values"]
            )
            pairs = [(v, 1.0) for v in _kept(points, bounds)]
        if not pairs or sum(w for _, w in pairs) <= 0.0:
            return None
        return PortableStandIn(
            {"family": "UserDefined", "values": [v for v, _ in pairs],
             "weights": [w for _, w in pairs]},
            None,
            "a ProbabilityDistributionSet",
        )
    if family == "Set":  # of strings: a categorical sweep
        categories = list(distribution["values"])
        return PortableStandIn(
            {"family": "Categorical", "categories": categories,
             "weights": [1.0] * len(categories)},
            None,
            "a ProbabilityDistributionSet",
        )
    if family in ("Categorical", "Poisson"):
        return None
    return _histogram(distribution, bounds, tolerance)


def _cut_histogram(distribution: Mapping[str, Any], bounds: tuple[float, float]) -> PortableStandIn:
    """The histogram truncated to ``bounds``: the same piecewise-uniform density, cut."""
    edges, weights = distribution["edges"], distribution["weights"]
    lo, hi = max(bounds[0], edges[0]), min(bounds[1], edges[-1])
    new_edges, new_weights = [lo], []
    for i, weight in enumerate(weights):
        a, b = edges[i], edges[i + 1]
        left, right = max(a, lo), min(b, hi)
        if right <= left:
            continue
        if left > new_edges[-1]:
            new_edges.append(left)
            new_weights.append(0.0)
        new_edges.append(right)
        new_weights.append(weight * (right - left) / (b - a))
    return PortableStandIn(
        {"family": "Histogram", "edges": new_edges, "weights": new_weights},
        None,
        "a Histogram cut to the bounds",
    )
