r"""A re-weightable importance sample around the failure region of a reliability result.

:func:`draw_importance_sample` simulates, once, points drawn from a known proposal
density :math:`q` centred at the design points of a
:class:`~safety_val.reliability.result.FailureProbabilityResult`. Because :math:`q` is
known, the resulting :class:`ImportanceSample` estimates :math:`p_f` under the nominal
input density *and*, by a likelihood ratio, under any other input density with the same
(or a smaller) support — without simulating again. :mod:`safety_val.robustness` and
:mod:`safety_val.regions` build on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import openturns as ot

from safety_val._random import SeedLike, as_generator, seed_openturns
from safety_val.errors import SimulationError, ValidationError
from safety_val.execution.base import Executor
from safety_val.reliability._mixture import DefensiveMixture, _log_std_normal
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.result import FailureProbabilityResult

__all__ = ["DEFENSIVE_WEIGHT", "ImportanceSample", "draw_importance_sample"]

DEFENSIVE_WEIGHT = 0.3
r"""Weight :math:`\lambda` of the standard normal in the proposal (w <= 1/lambda)."""

MAX_CENTRES = 5
"""At most this many failing samples become proposal centres when no design point is known."""

_Array = np.ndarray


@dataclass(frozen=True)
class ImportanceSample:
    r"""Points drawn from a known proposal :math:`q`, simulated once, re-weightable.

    Attributes
    ----------
    x
        ``(n, d)`` points in physical space.
    u
        ``(n, d)`` the same points in standard normal space (iso-probabilistic transform).
    g
        ``(n,)`` margins; failure when :math:`g \le 0`.
    log_weight
        ``(n,)`` :math:`\log f(x)/q(x) = \log\varphi_d(u) - \log q_U(u)` (the Jacobians of
        the transform cancel, so it is computed in standard space).
    names
        Parameter names, in column order.
    n_calls
        Limit-state calls spent drawing it (including the model's input probe).

    Notes
    -----
    For any input density :math:`f'` with support inside that of :math:`f`, the
    likelihood ratio :math:`r = f'/f` re-weights the sample:
    :math:`\hat p_f' = \frac1n \sum_i w_i r_i \mathbf 1_F(x_i)` with :math:`w = f/q`,
    unbiased, with variance estimated by the sample variance of :math:`w r \mathbf 1_F`
    over :math:`n` (Rubinstein & Kroese 2016). Its reliability is read from the
    effective sample size :math:`(\sum_i v_i)^2 / \sum_i v_i^2` of the weights
    :math:`v = w r` (Kong 1992; Owen 2013, §9.3).

    References
    ----------
    Rubinstein, R. Y. and Kroese, D. P. (2016). Simulation and the Monte Carlo Method,
    3rd ed. Wiley. https://doi.org/10.1002/9781118631980

    Owen, A. B. (2013). Monte Carlo theory, methods and examples, ch. 9.
    https://artowen.su.domains/mc/

    Examples
    --------
    >>> s = ImportanceSample(x=np.zeros((4, 1)), u=np.zeros((4, 1)),
    ...     g=np.array([-1.0, 1.0, 1.0, -1.0]), log_weight=np.log([0.5, 1.0, 1.0, 0.5]),
    ...     names=("x0",), n_calls=4)
    >>> s.pf()[0], int(s.failure().sum()), round(s.effective_sample_size(), 3)
    (0.25, 2, 3.6)
    """

    x: _Array
    u: _Array
    g: _Array
    log_weight: _Array
    names: tuple[str, ...]
    n_calls: int

    @property
    def n(self) -> int:
        """Number of points."""
        return len(self.g)

    def failure(self) -> _Array:
        r"""Boolean mask of the failing points, :math:`g \le 0`."""
        return np.asarray(self.g <= 0.0)

    def weights(self, log_ratio: _Array | None = None) -> _Array:
        """The importance weights :math:`w` (times the ratio :math:`r` when given)."""
        log_w = self.log_weight if log_ratio is None else self.log_weight + log_ratio
        return np.asarray(np.exp(log_w), dtype=float)

    def pf(self, log_ratio: _Array | None = None) -> tuple[float, float]:
        r"""Importance-sampling estimate of :math:`p_f` and its coefficient of variation.

        Parameters
        ----------
        log_ratio
            ``(n,)`` :math:`\log f'(x)/f(x)` to estimate :math:`p_f` under another input
            density :math:`f'`; ``None``: the nominal one.

        Returns
        -------
        tuple of float
            ``(pf, cov)``; ``cov`` is NaN when no failing point carries weight.
        """
        terms = self.weights(log_ratio) * self.failure()
        n = max(1, len(terms))
        pf = float(np.sum(terms) / n)
        if pf <= 0.0 or n < 2:
            return pf, math.nan
        std_error = float(np.std(terms, ddof=1) / math.sqrt(n))
        return pf, std_error / pf

    def effective_sample_size(self, log_ratio: _Array | None = None) -> float:
        r"""Kish's effective sample size :math:`(\sum v)^2/\sum v^2` of the (re)weights."""
        log_w = self.log_weight if log_ratio is None else self.log_weight + log_ratio
        if len(log_w) == 0 or not np.any(np.isfinite(log_w)):
            return 0.0
        v = np.exp(log_w - np.max(log_w))  # scale-free: avoid overflow
        return float(np.sum(v) ** 2 / np.sum(v * v))


def _centres(result: FailureProbabilityResult, model: LimitStateModel) -> tuple[_Array, _Array]:
    """Proposal centres in U (design points, else failing samples) and their weights."""
    points = [np.ravel(np.asarray(dp.u, dtype=float)) for dp in result.design_points]
    points = [p for p in points if p.size == model.dimension and np.all(np.isfinite(p))]
    if not points:
        samples = result.samples
        names = list(result.parameter_names or model.names)
        failing = (
            samples.loc[samples["g"] <= 0.0, names]
            if len(samples) and "g" in samples and set(names) <= set(samples.columns)
            else None
        )
        if failing is None or len(failing) == 0:
            raise ValidationError(
                "the result has no failure samples: no design point and no simulated point "
                "with g <= 0, so there is no failure region to re-weight around; use a larger "
                "budget (max_calls) or a rare-event method",
                field="result",
                value=f"{result.method}, pf={result.pf:g}, n_calls={result.n_calls}",
            )
        u = model.to_standard(failing.to_numpy(dtype=float))
        u = u[np.all(np.isfinite(u), axis=1)]
        order = np.argsort(np.linalg.norm(u, axis=1))
        for i in order:  # greedy: closest first, then other directions (other modes)
            direction = u[i] / max(float(np.linalg.norm(u[i])), 1e-12)
            cosines = [float(direction @ p) / max(float(np.linalg.norm(p)), 1e-12) for p in points]
            if all(c < 0.5 for c in cosines):
                points.append(u[i])
            if len(points) >= MAX_CENTRES:
                break
    centres = np.vstack(points)
    log_density = -0.5 * np.sum(centres**2, axis=1)  # weight modes by φ(β_k)
    weights = np.exp(log_density - log_density.max())
    return centres, weights / weights.sum()


def draw_importance_sample(
    result: FailureProbabilityResult,
    limit_state: Callable[[_Array], Any],
    distribution: ot.Distribution | None = None,
    *,
    n: int = 1000,
    seed: SeedLike = None,
    executor: Executor | None = None,
) -> ImportanceSample:
    r"""Simulate ``n`` points from a defensive mixture centred at the result's design points.

    Parameters
    ----------
    result
        A reliability result; its design points (or, without one, its failing samples
        nearest the origin in standard space) centre the proposal.
    limit_state
        Batch limit state ``(n, d) -> (n,)`` or a scenario evaluator (then
        ``distribution`` defaults to its scenario's).
    distribution
        The nominal joint input distribution.
    n
        Points to simulate (>= 2).
    seed
        ``int``, :class:`numpy.random.Generator` or ``None``.
    executor
        Where batches are evaluated.

    Returns
    -------
    ImportanceSample

    Raises
    ------
    ValidationError
        ``n < 2``; the result has no design point and no failing sample (use a larger
        budget).
    SimulationError
        A simulation of the sample failed (error/timeout): the re-weighted estimates of
        regions and robustness have no place for a missing margin.

    Notes
    -----
    The proposal in standard space is
    :math:`q_U = \lambda\varphi_d + (1-\lambda)\sum_k \pi_k\,\mathcal N(u^*_k, I)` with
    :math:`\lambda` = :data:`DEFENSIVE_WEIGHT` and :math:`\pi_k \propto \varphi(\beta_k)`;
    the defensive component bounds the weights by :math:`1/\lambda` (Hesterberg 1995,
    https://doi.org/10.1080/00401706.1995.10484303).

    Examples
    --------
    >>> from safety_val.reliability import estimate_failure_probability
    >>> dist = ot.Normal(2)
    >>> g = lambda x: 3.0 - (0.6 * x[:, 0] + 0.8 * x[:, 1])
    >>> form = estimate_failure_probability(g, dist, method="form", seed=1)
    >>> sample = draw_importance_sample(form, g, dist, n=2000, seed=2)
    >>> pf, cov = sample.pf()
    >>> bool(abs(pf - 1.35e-3) < 4 * cov * pf)
    True
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or int(n) < 2:
        raise ValidationError("must be an int >= 2", field="n", value=n, expected="an int >= 2")
    rng = as_generator(seed)
    seed_openturns(rng)
    model = LimitStateModel(limit_state, distribution, executor=executor)
    centres, weights = _centres(result, model)
    mixture = DefensiveMixture.centred_at(centres, weights, defensive=DEFENSIVE_WEIGHT)
    u = mixture.sample(int(n), rng, model.dimension)
    x = model.to_physical(u)
    with model.stage("importance"):
        g = model.evaluate(x)
    failed = int(np.count_nonzero(np.isnan(g)))
    if failed:  # regions and robustness re-weight g: a missing margin would bias them
        raise SimulationError(
            f"{failed} of {len(g)} simulations of the reference importance sample failed "
            "(error/timeout: no margin); regions and robustness re-weight this sample and "
            "cannot leave failed runs out: fix the simulator's failures (their messages are "
            "stored with the runs) and run again"
        )
    log_weight = _log_std_normal(u) - mixture.log_pdf(u)
    return ImportanceSample(
        x=x, u=u, g=g, log_weight=log_weight, names=model.names, n_calls=model.n_calls
    )
