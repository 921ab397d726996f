"""Designs of experiments over a logical scenario's joint distribution.

Every design is drawn in the unit hypercube ``[0, 1)^k`` — one coordinate per
ordinary parameter and one per value set — and mapped to physical values through
the scenario's joint distribution: a Gaussian copula (if any) correlates the
coordinates in normal space, then each marginal's quantile function gives the
physical value (categorical parameters give their labels). The dependence between
parameters is therefore respected by every design.

Methods (registry :data:`DESIGNS`):

``mc``
    Crude Monte Carlo.
``lhs``
    Latin hypercube sampling (OpenTURNS ``LHSExperiment``, random positions in cells).
``optimal_lhs``
    Space-filling LHS optimised by simulated annealing on the centred L2 discrepancy
    (OpenTURNS ``SimulatedAnnealingLHS`` with ``SpaceFillingC2``).
``sobol``
    Scrambled Sobol' quasi-Monte Carlo (Owen scrambling, :class:`scipy.stats.qmc.Sobol`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import openturns as ot
import pandas as pd
from scipy import stats
from scipy.spatial import cKDTree

from safety_val._random import SeedLike, as_generator, derive_seed, seed_openturns
from safety_val.errors import ValidationError
from safety_val.scenario import LogicalScenario

__all__ = [
    "DESIGNS",
    "Coverage",
    "Design",
    "concrete_scenarios",
    "design_coverage",
    "generate_design",
    "sample_unit_cube",
    "unit_to_physical",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: Above this size the optimised LHS uses fewer annealing steps (C2 updates cost O(n)).
_OPTIMAL_LHS_LARGE: Final = 2000


def _monte_carlo(n: int, k: int, rng: np.random.Generator) -> _Array:
    return rng.random((n, k))


def _lhs(n: int, k: int, rng: np.random.Generator) -> _Array:
    seed_openturns(rng)
    experiment = ot.LHSExperiment(ot.JointDistribution([ot.Uniform(0.0, 1.0)] * k), n)
    experiment.setAlwaysShuffle(True)
    experiment.setRandomShift(True)
    return np.asarray(experiment.generate(), dtype=float)


def _optimal_lhs(n: int, k: int, rng: np.random.Generator) -> _Array:
    seed_openturns(rng)
    experiment = ot.LHSExperiment(ot.JointDistribution([ot.Uniform(0.0, 1.0)] * k), n)
    experiment.setAlwaysShuffle(True)
    experiment.setRandomShift(False)
    steps = 10000 if n <= _OPTIMAL_LHS_LARGE else 2000
    profile = ot.GeometricProfile(10.0, 0.95, steps)
    algorithm = ot.SimulatedAnnealingLHS(experiment, ot.SpaceFillingC2(), profile)
    design = np.asarray(algorithm.generate(), dtype=float)
    # cell centres -> random position inside each cell keeps the LHS property
    jitter = (rng.random((n, k)) - 0.5) / n
    return np.clip(design + jitter, 0.0, np.nextafter(1.0, 0.0))


def _sobol(n: int, k: int, rng: np.random.Generator) -> _Array:
    sampler = stats.qmc.Sobol(d=k, scramble=True, seed=derive_seed(rng))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*balance properties.*")
        return np.asarray(sampler.random(n), dtype=float)


#: Design methods by name: ``(n, k, rng) -> (n, k)`` points in the unit cube.
DESIGNS: Final[Mapping[str, Callable[[int, int, np.random.Generator], _Array]]] = {
    "mc": _monte_carlo,
    "lhs": _lhs,
    "optimal_lhs": _optimal_lhs,
    "sobol": _sobol,
}


@dataclass(frozen=True)
class Coverage:
    """Space-filling quality of a design in the unit cube.

    Attributes
    ----------
    centred_l2_discrepancy
        Hickernell's centred L2 discrepancy (lower is more uniform).
    min_distance
        Smallest Euclidean distance between two design points.
    n, dimension
        Size of the design.
    """

    centred_l2_discrepancy: float
    min_distance: float
    n: int
    dimension: int

    def to_dict(self) -> dict[str, float | int]:
        """Plain dictionary (for the run manifest)."""
        return {
            "centred_l2_discrepancy": self.centred_l2_discrepancy,
            "min_distance": self.min_distance,
            "n": self.n,
            "dimension": self.dimension,
        }


@dataclass(frozen=True)
class Design:
    """A design of experiments: unit-cube points and the concrete scenarios they map to.

    Attributes
    ----------
    method
        Name of the design method.
    unit
        ``(n, k)`` points in the unit cube.
    frame
        Concrete scenarios (``sample_index``, ``scenario_id``, parameter columns).
    """

    method: str
    unit: _Array
    frame: pd.DataFrame

    def coverage(self) -> Coverage:
        """Coverage metrics of :attr:`unit` (see :func:`design_coverage`)."""
        return design_coverage(self.unit)


def sample_unit_cube(method: str, n: int, dimension: int, *, seed: SeedLike = None) -> _Array:
    """Draw ``n`` points of a design in ``[0, 1)^dimension``.

    Raises
    ------
    ValidationError
        On an unknown method (the message lists the valid ones) or ``n < 1``.

    Examples
    --------
    >>> u = sample_unit_cube("lhs", 8, 2, seed=1)
    >>> sorted(np.floor(u[:, 0] * 8).astype(int).tolist())  # one point per stratum
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    if method not in DESIGNS:
        raise ValidationError(
            f"unknown design '{method}'",
            field="design",
            value=method,
            expected=f"one of {', '.join(DESIGNS)}",
        )
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValidationError(
            "the design size must be a positive integer", field="n", value=n, expected="an int >= 1"
        )
    if dimension < 1:
        raise ValidationError(
            "the design needs at least one dimension", field="dimension", value=dimension
        )
    return DESIGNS[method](int(n), int(dimension), as_generator(seed))


def unit_to_physical(scenario: LogicalScenario, unit: _Array) -> pd.DataFrame:
    r"""Map unit-cube points to parameter values through the scenario's joint distribution.

    Parameters
    ----------
    scenario
        The logical scenario.
    unit
        ``(n, k)`` array with ``k = len(scenario.ordinary_parameters) + len(scenario.value_sets)``.

    Returns
    -------
    pandas.DataFrame
        One column per parameter in ``scenario.names`` order (labels for categorical ones).

    Notes
    -----
    With a normal copula of correlation :math:`R = LL^T`, the ordinary coordinates are
    mapped as :math:`z = \Phi^{-1}(u)`, :math:`u' = \Phi(Lz)`, then
    :math:`x_i = F_i^{-1}(u'_i)`. Without dependence :math:`u' = u`.
    """
    u = np.asarray(unit, dtype=float)
    ordinary = scenario.ordinary_parameters
    k = len(ordinary) + len(scenario.value_sets)
    if u.ndim != 2 or u.shape[1] != k:
        raise ValueError(f"expected an (n, {k}) unit-cube array, got shape {u.shape}")
    eps = np.finfo(float).eps
    u = np.clip(u, eps, 1.0 - eps)
    columns: dict[str, Any] = {}
    m = len(ordinary)
    if m:
        u_ord = u[:, :m]
        if scenario.dependence is not None:
            chol = np.linalg.cholesky(scenario.copula_correlation())
            u_ord = stats.norm.cdf(stats.norm.ppf(u_ord) @ chol.T)
            u_ord = np.clip(u_ord, eps, 1.0 - eps)
        for j, parameter in enumerate(ordinary):
            quantiles = parameter.marginal.computeQuantile(u_ord[:, j].tolist())
            values = np.asarray(quantiles, dtype=float).ravel()
            labels = parameter.categories
            if labels is not None:
                columns[parameter.name] = np.asarray(labels, dtype=object)[
                    np.rint(values).astype(int)
                ]
            else:
                columns[parameter.name] = values
    for i, value_set in enumerate(scenario.value_sets):
        cumulative = np.cumsum(value_set.probabilities)
        cumulative[-1] = 1.0
        rows = np.searchsorted(cumulative, u[:, m + i], side="right")
        for j, member in enumerate(value_set.parameters):
            table = [row[j] for row in value_set.rows]
            dtype = object if any(isinstance(v, str) for v in table) else float
            columns[member.name] = np.asarray(table, dtype=dtype)[rows]
    return pd.DataFrame({name: columns[name] for name in scenario.names})


def generate_design(
    scenario: LogicalScenario, n: int, *, method: str = "lhs", seed: SeedLike = None
) -> Design:
    """Draw a design of ``n`` concrete scenarios of ``scenario``.

    Parameters
    ----------
    scenario
        The logical scenario (its joint distribution, dependence included, is used).
    n
        Number of concrete scenarios.
    method
        One of :data:`DESIGNS` (``"mc"``, ``"lhs"``, ``"optimal_lhs"``, ``"sobol"``).
    seed
        Seed or generator; the same seed gives the same design.

    Returns
    -------
    Design
    """
    k = len(scenario.ordinary_parameters) + len(scenario.value_sets)
    unit = sample_unit_cube(method, n, k, seed=seed)
    frame = scenario.to_frame(unit_to_physical(scenario, unit))
    return Design(method=method, unit=unit, frame=frame)


def concrete_scenarios(
    scenario: LogicalScenario, n: int, *, method: str = "lhs", seed: SeedLike = None
) -> pd.DataFrame:
    """The concrete scenarios of a design as a frame (see :func:`generate_design`).

    Examples
    --------
    >>> from pathlib import Path
    >>> from safety_val.scenario import load_scenario
    >>> cut_in = load_scenario(Path(__file__).parent.parent / "scenarios/cut_in.yaml")
    >>> frame = concrete_scenarios(cut_in, 4, method="sobol", seed=7)
    >>> list(frame.columns[:2]), len(frame)
    (['sample_index', 'scenario_id'], 4)
    """
    return generate_design(scenario, n, method=method, seed=seed).frame


def design_coverage(unit: _Array, *, max_points_discrepancy: int = 20000) -> Coverage:
    """Centred L2 discrepancy and minimum pairwise distance of unit-cube points.

    The discrepancy costs O(n² k); above ``max_points_discrepancy`` points it is
    computed on the first ``max_points_discrepancy`` points.

    Examples
    --------
    >>> c = design_coverage(sample_unit_cube("sobol", 64, 2, seed=0))
    >>> mc = design_coverage(np.random.default_rng(0).random((64, 2)))
    >>> c.centred_l2_discrepancy < mc.centred_l2_discrepancy
    True
    """
    u = np.asarray(unit, dtype=float)
    n, k = u.shape
    subset = u[:max_points_discrepancy]
    discrepancy = float(stats.qmc.discrepancy(subset, method="CD", workers=-1)) if n > 1 else 0.0
    if n > 1:
        distances, _ = cKDTree(u).query(u, k=2)
        min_distance = float(distances[:, 1].min())
    else:
        min_distance = float("inf")
    return Coverage(discrepancy, min_distance, n, k)
