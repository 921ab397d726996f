r"""Method ``"ais"``: adaptive importance sampling on the failure indicator.

Built for limit states that a surrogate cannot model and a level-based sampler trips
over — what a simulator gives: noise (the outcome depends on random numbers seeded per
concrete scenario), plateaus (``min(min_ttc, 10)`` is flat wherever nobody closes in),
jumps (collisions, controller mode switches) and categorical or discrete inputs. It never
fits ``g``; it only ranks the evaluated points by ``g`` and counts failures, so none of
these properties biases it; every simulation steers the proposals, and those of the final
batches, drawn from proposals fixed before each batch, make the unbiased estimate.

The method is multilevel cross-entropy importance sampling (Rubinstein & Kroese 2004)
with Gaussian-mixture proposals in standard normal space (Kurtz & Song 2013; Geyer,
Papaioannou & Straub 2019) for the levels and a weighted kernel mixture of the failed
points (Au & Beck 1999) for the final batches, fitted with the balance-heuristic weights
of adaptive multiple importance sampling (Cornuet et al. 2012). Ties on a plateau are
handled by taking the points strictly below it, or, when there are none, by widening the
proposal until some appear.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp

from safety_val._validation import Interval, OneOf, check_options
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.result import (
    BudgetExhausted,
    FailureProbabilityResult,
    lognormal_interval,
    make_result,
)
from safety_val.reliability.sampling import sample_design_point

__all__ = ["DEFAULT_BUDGET", "run"]

_Array = np.ndarray[Any, np.dtype[np.float64]]
_LOG_2PI = float(np.log(2.0 * np.pi))

DEFAULT_BUDGET = 20_000
"""Calls the method may spend when neither ``max_calls`` nor the model sets a budget."""

_STOP_FRACTION = 0.8  # stop at 0.8 * target_cov: the stopping rule's own selection bias
_MIN_ELITE = 5  # fewest points strictly below a plateau to take them as the elite set
_MAX_SPREAD = 4.0  # widest standard deviation of an exploration proposal
_MIN_FINAL_BATCHES = 3  # refits of the final proposal before the estimate may converge
_MAX_SHARE = 0.1  # no single sample may carry more of the estimate to converge
_NOISE_CHECKS = 10  # twins of failed points behind noise_aware="auto"
_NOISE_FLIPS = 0.2  # share of those twins that must pass to call the limit state noisy
_NEIGHBOURS = 10  # neighbours behind the local failure share of the noise-aware proposal
_MAX_KERNELS = 300  # kernel centres of a final proposal
_RESAMPLE = 4000  # weighted resample on which mixtures of K >= 2 components are fitted


@dataclass(frozen=True)
class _Mixture:
    r"""A Gaussian mixture in standard space.

    :math:`\lambda \varphi + (1-\lambda)\sum_k \pi_k \mathcal N(m_k, C_k)`.
    """

    means: _Array  # (K, d)
    covariances: _Array  # (K, d, d)
    weights: _Array  # (K,), summing to one with kernel_weights
    defensive: float
    kernel_centres: _Array | None = None  # (M, d): kernels sharing kernel_covariance
    kernel_covariance: _Array | None = None  # (d, d)
    kernel_weights: _Array | None = None  # (M,)
    _chol: _Array = field(init=False, repr=False, compare=False)
    _kernel_chol: _Array | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chol = np.linalg.cholesky(self.covariances) if len(self.weights) else self.covariances
        object.__setattr__(self, "_chol", chol)
        kernel = (
            None if self.kernel_covariance is None
            else np.linalg.cholesky(self.kernel_covariance)
        )
        object.__setattr__(self, "_kernel_chol", kernel)

    @property
    def n_components(self) -> int:
        """Gaussian components plus kernels."""
        kernels = 0 if self.kernel_centres is None else len(self.kernel_centres)
        return len(self.weights) + kernels

    @classmethod
    def standard(cls, d: int, spread: float = 1.0) -> _Mixture:
        r""":math:`\mathcal N(0, s^2 I)` (the input distribution itself when ``s = 1``)."""
        if spread == 1.0:
            return cls(np.empty((0, d)), np.empty((0, d, d)), np.empty(0), 1.0)
        return cls(np.zeros((1, d)), (spread**2 * np.eye(d))[None], np.ones(1), 0.0)

    def widened(self, factor: float) -> _Mixture:
        """The same mixture with every covariance scaled by ``factor ** 2``."""
        if not len(self.weights):
            return _Mixture.standard(self.means.shape[1], factor)
        return _Mixture(self.means, self.covariances * factor**2, self.weights, self.defensive)

    @property
    def spread(self) -> float:
        """Largest component standard deviation (1 for the input distribution)."""
        if not len(self.weights):
            return 1.0
        return float(np.sqrt(max(np.linalg.eigvalsh(c).max() for c in self.covariances)))

    def sample(self, n: int, rng: np.random.Generator) -> _Array:
        d = self.means.shape[1]
        k = len(self.weights)
        kernel_weights = np.empty(0) if self.kernel_weights is None else self.kernel_weights
        p = np.concatenate([[self.defensive], (1.0 - self.defensive) * self.weights,
                            (1.0 - self.defensive) * kernel_weights])
        component = rng.choice(len(p), size=n, p=p / p.sum())
        z = rng.standard_normal((n, d))
        out = z.copy()
        for j in range(k):
            mask = component == j + 1
            out[mask] = self.means[j] + z[mask] @ self._chol[j].T
        if self.kernel_centres is not None and self._kernel_chol is not None:
            mask = component > k
            centres = self.kernel_centres[component[mask] - k - 1]
            out[mask] = centres + z[mask] @ self._kernel_chol.T
        return out

    def log_pdf(self, u: _Array) -> _Array:
        d = u.shape[1]
        terms = []
        if self.defensive > 0:
            terms.append(math.log(self.defensive) + _log_phi(u))
        for j, weight in enumerate(self.weights):
            if weight <= 0 or self.defensive >= 1.0:
                continue
            z = np.linalg.solve(self._chol[j], (u - self.means[j]).T).T
            log_det = 2.0 * float(np.sum(np.log(np.diag(self._chol[j]))))
            terms.append(
                math.log((1.0 - self.defensive) * weight)
                - 0.5 * (d * _LOG_2PI + log_det + np.sum(z * z, axis=1))
            )
        if (
            self.kernel_centres is not None and self._kernel_chol is not None
            and self.kernel_weights is not None and self.defensive < 1.0
        ):
            chol = self._kernel_chol
            log_det = 2.0 * float(np.sum(np.log(np.diag(chol))))
            zu = np.linalg.solve(chol, u.T).T
            zc = np.linalg.solve(chol, self.kernel_centres.T).T
            squared = (
                np.sum(zu * zu, axis=1)[:, None] + np.sum(zc * zc, axis=1)[None, :]
                - 2.0 * zu @ zc.T
            )
            log_weights = np.log((1.0 - self.defensive) * self.kernel_weights)
            terms.append(np.asarray(logsumexp(
                log_weights[None, :] - 0.5 * (d * _LOG_2PI + log_det + np.maximum(squared, 0.0)),
                axis=1,
            ), dtype=float))
        return np.asarray(logsumexp(np.vstack(terms), axis=0), dtype=float)


def _log_phi(u: _Array) -> _Array:
    return np.asarray(-0.5 * (u.shape[1] * _LOG_2PI + np.sum(u * u, axis=1)), dtype=float)


@dataclass
class _Record:
    """Every sample so far with the proposal it came from and its own importance weight."""

    d: int
    proposals: list[tuple[_Mixture, int]] = field(default_factory=list)
    u: list[_Array] = field(default_factory=list)
    g: list[_Array] = field(default_factory=list)
    own: list[_Array] = field(default_factory=list)  # phi / q_b of the sample's own batch
    final: list[bool] = field(default_factory=list)

    def add(self, proposal: _Mixture, u: _Array, g: _Array, *, final: bool) -> None:
        self.proposals.append((proposal, len(u)))
        self.u.append(u)
        self.g.append(g)
        self.own.append(np.exp(_log_phi(u) - proposal.log_pdf(u)))
        self.final.append(final)

    @property
    def n(self) -> int:
        return int(sum(n for _, n in self.proposals))

    def arrays(self) -> tuple[_Array, _Array]:
        return np.concatenate(self.u), np.concatenate(self.g)

    def weights(self, u: _Array) -> _Array:
        r"""Balance-heuristic weights :math:`\varphi(u) / \sum_k (n_k/N) q_k(u)` (for fitting)."""
        total = self.n
        logs = np.vstack([math.log(n / total) + q.log_pdf(u) for q, n in self.proposals])
        return np.asarray(np.exp(_log_phi(u) - logsumexp(logs, axis=0)), dtype=float)


@dataclass(frozen=True)
class _Estimate:
    pf: float
    cov: float
    n_failures: int
    upper_if_errors_fail: float  # the estimate if every errored run had failed
    largest_share: float  # largest single term's share of the sum


def _estimate(record: _Record) -> _Estimate:
    """Importance-sampling estimate from the final batches (every batch if there are none).

    Each batch is weighted by its own proposal, which was chosen before the batch was
    drawn, so each batch's estimate is unbiased and so is their average.
    """
    use = [i for i, final in enumerate(record.final) if final] or list(range(len(record.final)))
    g = np.concatenate([record.g[i] for i in use])
    w = np.concatenate([record.own[i] for i in use])
    failed = np.nan_to_num(g, nan=np.inf) <= 0.0
    terms = w * failed
    n = len(terms)
    pf = float(terms.mean())
    cov = float(terms.std(ddof=1) / math.sqrt(n) / pf) if pf > 0 and n > 1 else math.inf
    worst = float((w * (failed | np.isnan(g))).mean())
    share = float(terms.max() / terms.sum()) if pf > 0 else 1.0
    n_failures = int(sum(int(np.sum(np.nan_to_num(x, nan=np.inf) <= 0)) for x in record.g))
    return _Estimate(pf, cov, n_failures, worst, share)


def _fit(
    u: _Array,
    w: _Array,
    *,
    max_components: int,
    defensive: float,
    rng: np.random.Generator,
    floor: float,
    cap: float,
    shrink: bool,
) -> _Mixture:
    r"""A Gaussian mixture fitted to weighted points (components by BIC, eigenvalues clipped).

    ``shrink``: each covariance is shrunk towards the identity by the effective sample
    size, :math:`C = \frac{n_e}{n_e + d} \hat C + \frac{d}{n_e + d} I`, so that a fit
    on a few dozen effective points is not narrower than the data support.
    """
    d = u.shape[1]
    p = w / w.sum()
    ess = 1.0 / float(np.sum(p * p))
    diagonal = d > 10
    params_per_component = 2 * d if diagonal else d + d * (d + 1) / 2
    k_max = int(max(1, min(max_components, ess // (5.0 * params_per_component))))
    mean = p @ u
    centred = u - mean
    cov = (centred * p[:, None]).T @ centred
    if diagonal:
        cov = np.diag(np.diag(cov))
    means, covariances, weights = mean[None], cov[None], np.ones(1)
    if k_max > 1:
        from sklearn.mixture import GaussianMixture

        pick = rng.choice(len(u), size=_RESAMPLE, p=p)
        x = u[pick] + 1e-3 * rng.standard_normal((_RESAMPLE, d))
        seed = int(rng.integers(2**31 - 1))
        best, best_bic = None, math.inf
        for k in range(1, k_max + 1):
            model = GaussianMixture(
                k, covariance_type="diag" if diagonal else "full", reg_covar=1e-4,
                random_state=seed, max_iter=200,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model.fit(x)
            bic = float(model.bic(x))
            if bic < best_bic:
                best, best_bic = model, bic
        if best is not None and best.n_components > 1:
            means = np.asarray(best.means_, dtype=float)
            raw = np.asarray(best.covariances_, dtype=float)
            covariances = np.array([np.diag(c) for c in raw]) if diagonal else raw
            weights = np.asarray(best.weights_, dtype=float)
    clipped = []
    for c, share in zip(covariances, weights, strict=True):
        if shrink:
            n_k = ess * float(share)
            c = (n_k * c + d * np.eye(d)) / (n_k + d)
        values, vectors = np.linalg.eigh(0.5 * (c + c.T))
        values = np.clip(values, floor**2, cap**2)
        clipped.append((vectors * values) @ vectors.T)
    return _Mixture(means, np.array(clipped), weights / weights.sum(), defensive)


def run(
    model: LimitStateModel,
    *,
    target_cov: float = 0.1,
    max_calls: int | None = None,
    rng: np.random.Generator | None = None,
    n_per_level: int | None = None,
    n_per_batch: int | None = None,
    rho: float = 0.1,
    max_components: int = 3,
    defensive: float = 0.05,
    min_failures: int = 30,
    max_levels: int = 25,
    widening: float = 1.5,
    floor: float = 0.15,
    level_spread: float = 1.0,
    tempering: float = 1.0,
    wide_share: float = 0.3,
    wide_factor: float = 1.5,
    noise_aware: bool | str = "auto",
    initial: tuple[_Array, _Array] | None = None,
) -> FailureProbabilityResult:
    r"""Estimate :math:`p_f` by adaptive Gaussian-mixture importance sampling on :math:`1[g \le 0]`.

    Parameters
    ----------
    model
        The limit state, its distribution, the executor and the call counter.
    target_cov
        Stop when the estimate's coefficient of variation is at most
        ``0.8 * target_cov`` (the margin pays for the stopping rule's selection bias).
    max_calls
        Stop before :attr:`LimitStateModel.n_calls` would exceed this (``None``: the
        model's budget, else :data:`DEFAULT_BUDGET`).
    rng
        Random generator.
    n_per_level
        Points per adaptation level, one batch; default :math:`\max(200, 10 d)`
        (at most 1,000), at least :math:`4\,n_\mathrm{workers}`.
    n_per_batch
        Points per batch once the failure domain is reached; default ``n_per_level``.
    rho
        Quantile of ``g`` that defines the next intermediate level, in (0, 0.5].
    max_components
        Most Gaussian components of a level's proposal (chosen by BIC, limited by the
        effective sample size of the elite points; see Notes).
    defensive
        Weight of the input distribution itself in the proposals once the failure domain
        is reached (bounds the importance weights).
    min_failures
        Failed points required, besides the CoV, before the estimate may converge.
    max_levels
        Most adaptation levels before giving up.
    widening
        Factor on the proposal's standard deviation when a level makes no progress (every
        point on a plateau, or the level did not fall).
    floor
        Smallest standard deviation of a final proposal's component along any direction.
    level_spread
        Smallest standard deviation of an intermediate level's proposal (1: the proposal
        moves with the elite points instead of shrinking onto them).
    wide_share, wide_factor
        Share of the final proposal given to one wide Gaussian: the weighted mean and
        covariance of the failed points, standard deviations times ``wide_factor``. It
        keeps sampling around the part of the failure domain found so far, so that a part
        the levels missed is found and enters the next refit (the proposal is refitted
        after every batch) instead of hiding behind a few large weights.
    noise_aware
        Fit the final proposal to :math:`\varphi\sqrt{\hat p}` (see
        :meth:`_Run._noise_aware_targets`) rather than to the failed points alone;
        ``"auto"``: when at least 20 % of the twins (1e-4 away, 10 calls) of failed
        points pass (see :meth:`_Run._check_noise`).
    initial
        ``(u, g)`` of points already evaluated, drawn from the input distribution and
        given in standard space (e.g. a crude Monte Carlo screen's): the first level, so
        that no call is spent twice. They only steer the adaptation.
    tempering
        Exponent on the importance weights of the failed points to which the final
        proposal is fitted: 1 targets :math:`\varphi\,1[g \le 0]` itself, smaller values a
        wider proposal, safer when few failures carry the weight.

    Returns
    -------
    FailureProbabilityResult
        ``details``: ``levels`` (the intermediate thresholds), ``n_levels``,
        ``components`` (of the final proposal), ``widenings``, ``n_errors``,
        ``failures``.

    Raises
    ------
    ValidationError
        An option out of range.

    Notes
    -----
    *Levels.* Level 0 draws :math:`n` points from :math:`q_0 = \varphi` (or takes
    ``initial``). The elite set is the :math:`m = \rho n` lowest margins of every point so
    far, and :math:`\gamma_k` the largest of them, so the level never rises. The next
    proposal is a Gaussian fitted to the elite points without importance weights, its
    standard deviations at least ``level_spread`` (1): it moves by about 1.75 standard
    deviations a level instead of shrinking onto the narrow tail of
    :math:`\varphi\,1[g \le \gamma_k]`, which is what makes plain cross-entropy levels
    crawl. (A mixture of up to ``max_components`` by BIC is fitted only when the elite
    set's effective size is at least 5 times a component's parameters, which the
    default 20 elite points never reach.) When margins tie at :math:`\gamma_k` (a plateau)
    and fewer than :math:`m` lie strictly below it, those below are the elite set; when
    fewer than 5 do, or the level has not fallen for 3 levels, the proposal is widened
    (standard deviations times ``widening``, at most 4): on a plateau there is no
    gradient to follow, only more ground to cover. The levels end when :math:`m` points
    have failed.

    *Final stage.* Batches are drawn from :math:`h_b`, refitted before every batch from
    all points so far: kernels :math:`\mathcal N(u_i, h^2 \hat C)` at (up to 300 of) the
    failed points weighted by their balance-heuristic weights
    :math:`\varphi(u_i) / \sum_k \frac{n_k}{N} q_k(u_i)`, one wide Gaussian (share
    ``wide_share``) and :math:`\varphi` itself (share ``defensive``, which bounds the
    weights by :math:`1/\lambda`). When the noise check finds failed points whose twins
    pass, the kernels sit at every point with :math:`\hat p > 0`, weighted by
    :math:`w_i \sqrt{\hat p_i}`: the best density for an estimator that chooses only
    :math:`x` is :math:`\varphi\sqrt p`, wider than :math:`\varphi\,p`.

    *Estimate.* Only the final batches enter it, each with its own proposal's weights,

    .. math::

        \hat p_f = \frac1N \sum_{b} \sum_{i \in b} \frac{\varphi(u_i)}{h_b(u_i)}
        \,1[g(u_i) \le 0],

    unbiased because :math:`h_b` was chosen before batch :math:`b` was drawn (reweighting
    every sample by the mixture of all proposals, as adaptive multiple importance
    sampling does, was biased low by 8 % on a linear :math:`\beta = 5.2` case).
    :math:`\hat\delta = \hat s_t / (\sqrt N\,\hat p_f)` gives the log-normal 95 %
    interval. It converges when :math:`\hat\delta \le 0.8` ``target_cov``, at least
    ``min_failures`` points failed, 3 final batches were drawn and no single sample
    carries more than 10 % of :math:`\hat p_f`. With a noisy limit state
    :math:`p_f = E[P(\text{fail} \mid X)]` and the estimator is unbiased for it; the
    noise only sets how many calls any such estimator needs.

    *Errors.* A NaN margin (an errored simulation) counts as no failure in
    :math:`\hat p_f`; the interval's upper end is raised to that of the estimate in which
    every errored run failed, and the count is in ``message``.

    References
    ----------
    Rubinstein, R. Y. and Kroese, D. P. (2004). *The Cross-Entropy Method*. Springer.
    https://doi.org/10.1007/978-1-4757-4321-0

    Kurtz, N. and Song, J. (2013). Cross-entropy-based adaptive importance sampling
    using Gaussian mixture. Structural Safety 42, 35–44.
    https://doi.org/10.1016/j.strusafe.2013.01.006

    Geyer, S., Papaioannou, I. and Straub, D. (2019). Cross entropy-based importance
    sampling using Gaussian densities revisited. Structural Safety 76, 15–27.
    https://doi.org/10.1016/j.strusafe.2018.07.001

    Au, S.-K. and Beck, J. L. (1999). A new adaptive importance sampling scheme for
    reliability calculations. Structural Safety 21(2), 135–158.
    https://doi.org/10.1016/S0167-4730(99)00014-4

    Cornuet, J.-M., Marin, J.-M., Mira, A. and Robert, C. P. (2012). Adaptive multiple
    importance sampling. Scandinavian Journal of Statistics 39(4), 798–812.
    https://doi.org/10.1111/j.1467-9469.2011.00756.x

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> from safety_val.reliability import estimate_failure_probability
    >>> def g(x):  # pf = Phi(-4.5) = 3.4e-6, flat at 1 where x1 < 3.5
    ...     return np.minimum(4.5 - x[:, 0], 1.0) + 0.0 * x[:, 1]
    >>> result = estimate_failure_probability(g, ot.Normal(2), method="ais", seed=1)
    >>> result.converged, bool(result.ci[0] <= 3.398e-6 <= result.ci[1])
    (True, True)
    """
    check_options(
        {
            "rho": [Interval(float, 0.0, 0.5, closed="right")],
            "defensive": [Interval(float, 0.0, 1.0, closed="left")],
            "widening": [Interval(float, 1.0, 10.0, closed="neither")],
            "floor": [Interval(float, 0.0, 1.0, closed="right")],
            "level_spread": [Interval(float, 0.0, 4.0, closed="right")],
            "tempering": [Interval(float, 0.0, 1.0)],
            "wide_share": [Interval(float, 0.0, 1.0, closed="left")],
            "wide_factor": [Interval(float, 1.0, 4.0)],
            "noise_aware": [bool, OneOf("auto")],
            "max_components": [Interval(int, 1, 10)],
            "min_failures": [Interval(int, 1, None)],
            "max_levels": [Interval(int, 1, None)],
            "n_per_level": [None, Interval(int, 2, None)],
            "n_per_batch": [None, Interval(int, 2, None)],
        },
        rho=rho, defensive=defensive, widening=widening, floor=floor,
        max_components=max_components, min_failures=min_failures, max_levels=max_levels,
        n_per_level=n_per_level, n_per_batch=n_per_batch, level_spread=level_spread,
        tempering=tempering, wide_share=wide_share, wide_factor=wide_factor,
        noise_aware=noise_aware,
    )
    return _Run(
        model, target_cov=target_cov, max_calls=max_calls,
        rng=np.random.default_rng() if rng is None else rng, n_per_level=n_per_level,
        n_per_batch=n_per_batch, rho=rho, max_components=max_components,
        defensive=defensive, min_failures=min_failures, max_levels=max_levels,
        widening=widening, floor=floor, level_spread=level_spread, tempering=tempering,
        wide_share=wide_share, wide_factor=wide_factor, noise_aware=noise_aware,
    ).run(initial)


class _Stop(Exception):
    """The budget does not allow the next batch."""


class _Run:
    """One run of the method: the options, the record and the notes."""

    target_cov: float
    max_calls: int | None
    rng: np.random.Generator
    n_per_level: int | None
    n_per_batch: int | None
    rho: float
    max_components: int
    defensive: float
    min_failures: int
    max_levels: int
    widening: float
    floor: float
    level_spread: float
    tempering: float
    wide_share: float
    wide_factor: float
    noise_aware: bool | str

    def __init__(self, model: LimitStateModel, **options: Any) -> None:
        self.model = model
        self.__dict__.update(options)
        d = int(model.dimension)
        workers = 1 if model.executor is None else max(1, int(model.executor.n_workers))
        self.n_level = int(self.n_per_level or max(4 * workers, min(1000, max(200, 10 * d))))
        self.n_batch = int(self.n_per_batch or self.n_level)
        self.record = _Record(d)
        self.start_calls = model.n_calls
        self.start_errors = model.n_errors
        self.notes: list[str] = []
        self.levels: list[float] = []
        self.widenings = 0
        self.history: list[dict[str, float]] = []
        self.proposal = _Mixture.standard(d)
        self.noisy = False
        self.flipped = math.nan
        limits = [m for m in (self.max_calls, model.max_calls) if m is not None]
        self.budget = min(limits) if limits else self.start_calls + DEFAULT_BUDGET

    # -------------------------------------------------------------------- evaluation
    def _draw(self, n: int, stage: str, *, final: bool = False) -> tuple[_Array, _Array]:
        left = self.budget - self.model.n_calls
        if left < min(n, 2):
            raise _Stop
        n = min(n, left)
        u = self.proposal.sample(n, self.rng)
        with self.model.stage(stage), self.model.tolerate_errors():
            g = self.model.evaluate(self.model.to_physical(u))
        self.record.add(self.proposal, u, g, final=final)
        return u, g

    # -------------------------------------------------------------------- stages
    def run(self, initial: tuple[_Array, _Array] | None = None) -> FailureProbabilityResult:
        reached = False
        if initial is not None and len(initial[0]):
            u0, g0 = (np.asarray(a, dtype=float) for a in initial)
            self.record.add(self.proposal, u0.reshape(len(g0), -1), g0.ravel(), final=False)
        try:
            reached = self._levels(skip_first=initial is not None and len(initial[0]) > 0)
            if reached:
                return self._final()
        except (_Stop, BudgetExhausted):
            self.notes.append(
                "budget exhausted "
                + ("while sampling the failure domain" if reached else
                   f"before the failure domain was reached (level {self._level_text()})")
            )
        return self._result(converged=False)

    def _level_text(self) -> str:
        return f"{self.levels[-1]:.4g}" if self.levels else "none"

    def _levels(self, *, skip_first: bool = False) -> bool:
        """Move the proposal level by level until enough points fail.

        The elite set is the ``rho * n_per_level`` lowest margins of the whole record
        (so the level never rises), fitted without importance weights and with a unit
        spread floor: the proposal moves by about 1.75 standard deviations per level
        instead of collapsing onto the conditional density's narrow tail.
        """
        m = max(_MIN_ELITE, round(self.rho * self.n_level))
        stalled = 0
        for level in range(self.max_levels):
            if not (skip_first and level == 0):
                self._draw(self.n_level, "ais-level")
            u_all, g_all = self.record.arrays()
            ok = np.isfinite(g_all)
            if not ok.any():
                self.notes.append("every simulation of a level failed to run")
                return False
            u_ok, g_ok = u_all[ok], g_all[ok]
            if int(np.sum(g_ok <= 0.0)) >= m:
                self.levels.append(0.0)
                return True
            order = np.argsort(g_ok, kind="stable")
            gamma = float(g_ok[order[m - 1]])
            below = g_ok < gamma
            if int(np.sum(g_ok == gamma)) > 1 and int(below.sum()) < m:  # a plateau
                if int(below.sum()) < _MIN_ELITE:
                    if not self._widen():
                        self.notes.append(
                            f"{int(np.sum(g_ok == gamma))} points share g = {gamma:.4g} (a "
                            "plateau) and the widest proposal found too few below it"
                        )
                        return False
                    continue
                elite = below
                gamma = float(g_ok[below].max())
            else:
                elite = np.zeros(len(g_ok), dtype=bool)
                elite[order[:m]] = True
            if self.levels and gamma >= self.levels[-1]:
                stalled += 1
                if stalled >= 3 and not self._widen():
                    self.notes.append(f"the level stalled at g = {gamma:.4g}")
                    return False
            else:
                stalled = 0
            self.levels.append(gamma)
            self.proposal = self._fit(
                u_ok[elite], np.ones(int(elite.sum())), 0.0, floor=self.level_spread,
                shrink=False,
            )
        self.notes.append(f"the failure domain was not reached in {self.max_levels} levels")
        return False

    def _widen(self) -> bool:
        if self.proposal.spread * self.widening > _MAX_SPREAD + 1e-9:
            if self.proposal.spread >= _MAX_SPREAD - 1e-9:
                return False
            factor = _MAX_SPREAD / self.proposal.spread
        else:
            factor = self.widening
        self.widenings += 1
        self.proposal = self.proposal.widened(factor)
        return True

    def _fit(
        self, u: _Array, w: _Array, defensive: float, *, floor: float, shrink: bool
    ) -> _Mixture:
        return _fit(
            u, w, max_components=self.max_components, defensive=defensive, rng=self.rng,
            floor=floor, cap=_MAX_SPREAD, shrink=shrink,
        )

    def _noise_aware_targets(self, u: _Array, g: _Array) -> tuple[_Array, _Array]:
        r"""Points and weights whose density approximates :math:`\varphi\sqrt{\hat p}`.

        With a noisy simulator the failure indicator is random given :math:`x`, with
        :math:`p(x) = P(\text{fail} \mid x)`; the importance density with the smallest
        variance among those that choose only :math:`x` is :math:`\varphi\sqrt p`, wider
        than :math:`\varphi\,p` (what the failed points alone estimate). :math:`\hat p` is
        the share of failures among each point's ``k`` nearest neighbours in standard
        space; points with :math:`\hat p > 0` get weight :math:`w_i \sqrt{\hat p_i}`. On a
        deterministic limit state :math:`\hat p` is 1 inside and 0 far outside, and this
        is the failed points' density again.
        """
        from sklearn.neighbors import NearestNeighbors

        ok = np.isfinite(g)
        u, failed = u[ok], g[ok] <= 0.0
        k = min(_NEIGHBOURS, len(u))
        neighbours = NearestNeighbors(n_neighbors=k).fit(u).kneighbors(u, return_distance=False)
        p_hat = failed[neighbours].mean(axis=1)
        keep = p_hat > 0.0
        weights = self.record.weights(u[keep]) * np.sqrt(p_hat[keep])
        return u[keep], weights ** self.tempering

    def _final_proposal(self, u: _Array, w: _Array) -> _Mixture:
        r"""Weighted kernel density of the failed points plus one wide Gaussian.

        Kernels :math:`\mathcal N(u_i, h^2 \hat C)` at (at most 300 of) the failed points,
        weighted by their importance weights, :math:`\hat C` their weighted covariance
        shrunk towards :math:`I`, :math:`h` Silverman's factor for the effective sample
        size: a proposal that follows a curved or scattered failure domain, which one
        Gaussian cannot. The wide Gaussian (share ``wide_share``) keeps sampling around it.
        """
        d = u.shape[1]
        p = w / w.sum()
        ess = 1.0 / float(np.sum(p * p))
        wide = _fit(u, w, max_components=1, defensive=0.0, rng=self.rng, floor=self.floor,
                    cap=_MAX_SPREAD, shrink=True)
        covariance = wide.covariances[0]
        if len(u) > _MAX_KERNELS:
            keep = self.rng.choice(len(u), size=_MAX_KERNELS, replace=False, p=p)
            u, p = u[keep], p[keep] / p[keep].sum()
        h = (4.0 / (d + 2.0)) ** (1.0 / (d + 4.0)) * ess ** (-1.0 / (d + 4.0))
        values, vectors = np.linalg.eigh(h * h * covariance)
        kernel = (vectors * np.maximum(values, self.floor**2)) @ vectors.T
        return _Mixture(
            wide.means, wide.covariances * self.wide_factor**2, np.array([self.wide_share]),
            self.defensive, kernel_centres=u, kernel_covariance=kernel,
            kernel_weights=(1.0 - self.wide_share) * p,
        )

    def _check_noise(self) -> None:
        """Evaluate twins 1e-4 away of up to 10 failed points, to see whether they fail too.

        A deterministic limit state's twins fail (barring the rare one on the boundary);
        a simulator whose outcome depends on random numbers seeded per concrete scenario
        lets many of them pass. The twins only decide :attr:`noise_aware` (``"auto"``);
        they are counted and recorded but enter neither the fit nor the estimate.
        """
        u_all, g_all = self.record.arrays()
        failed = np.flatnonzero(np.nan_to_num(g_all, nan=np.inf) <= 0.0)
        pick = self.rng.choice(failed, size=min(_NOISE_CHECKS, len(failed)), replace=False)
        direction = self.rng.standard_normal((len(pick), u_all.shape[1]))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        if self.budget - self.model.n_calls < len(pick):
            raise _Stop
        with self.model.stage("ais-noise-check"), self.model.tolerate_errors():
            g = self.model.evaluate(self.model.to_physical(u_all[pick] + 1e-4 * direction))
        self.flipped = float(np.mean(np.nan_to_num(g, nan=-np.inf) > 0.0))
        self.noisy = self.flipped >= _NOISE_FLIPS
        self.notes.append(
            f"{self.flipped:.0%} of {len(pick)} twins of failed points did not fail: "
            + ("noise, proposal fitted to phi sqrt(p)" if self.noisy
               else "no noise seen, proposal fitted to the failed points")
        )

    def _final(self) -> FailureProbabilityResult:
        batches = 0
        if self.noise_aware == "auto":
            self._check_noise()
        else:
            self.noisy = bool(self.noise_aware)
        while True:
            u_all, g_all = self.record.arrays()
            failed = np.nan_to_num(g_all, nan=np.inf) <= 0.0
            if self.noisy:
                centres, weights = self._noise_aware_targets(u_all, g_all)
            else:
                centres = u_all[failed]
                weights = self.record.weights(centres) ** self.tempering
            self.proposal = self._final_proposal(centres, weights)
            self._draw(self.n_batch, "ais", final=True)
            estimate = _estimate(self.record)
            self._history(estimate)
            batches += 1
            if (
                batches >= _MIN_FINAL_BATCHES
                and estimate.n_failures >= self.min_failures
                and estimate.cov <= _STOP_FRACTION * self.target_cov
                and estimate.largest_share <= _MAX_SHARE
            ):
                return self._result(converged=True)

    # -------------------------------------------------------------------- result
    def _history(self, estimate: _Estimate) -> None:
        low, high = (
            lognormal_interval(estimate.pf, estimate.cov)
            if estimate.pf > 0 and math.isfinite(estimate.cov) else (0.0, math.nan)
        )
        self.history.append({"n_calls": self.model.n_calls, "pf": estimate.pf,
                             "cov": estimate.cov, "ci_low": low, "ci_high": high})

    def _result(self, *, converged: bool) -> FailureProbabilityResult:
        model = self.model
        n_errors = model.n_errors - self.start_errors
        details: dict[str, Any] = {
            "levels": list(self.levels), "n_levels": len(self.levels),
            "widenings": self.widenings, "n_errors": n_errors, "noisy": self.noisy,
            "twins_passed": self.flipped,
            "components": self.proposal.n_components, "n_per_level": self.n_level,
        }
        if not self.record.proposals:
            return make_result(model, method="ais", pf=math.nan, cov=math.nan,
                               ci=(math.nan, math.nan), converged=False,
                               message="; ".join(self.notes) or "no sample drawn",
                               details=details)
        estimate = _estimate(self.record)
        details["failures"] = estimate.n_failures
        pf, cov = estimate.pf, estimate.cov
        ci = lognormal_interval(pf, cov) if pf > 0 and math.isfinite(cov) else (math.nan, math.nan)
        if n_errors:
            share = n_errors / max(1, self.record.n)
            self.notes.append(
                f"{n_errors} simulations ({share:.1%}) returned no margin (error/timeout); "
                "they count as no failure and the interval's upper end assumes they all failed"
            )
            worst = estimate.upper_if_errors_fail
            if math.isfinite(ci[1]):
                ci = (ci[0], max(ci[1], worst * ci[1] / pf))
            if share > 0.05:
                converged = False
        if pf > 0 and not converged and not self.notes:
            self.notes.append(
                f"coefficient of variation {cov:.3g} > {_STOP_FRACTION:g} x target "
                f"{self.target_cov:g}, or fewer than {self.min_failures} failures"
            )
        n_phi = self.record.proposals[0][1]
        return make_result(
            model, method="ais", pf=pf, cov=cov if math.isfinite(cov) else math.nan, ci=ci,
            converged=converged, message="; ".join(self.notes), history=self.history,
            design_points=sample_design_point(model, self.start_calls), details=details,
            n_trials=n_phi,
        )
