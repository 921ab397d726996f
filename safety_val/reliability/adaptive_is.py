r"""Method ``"ais"``: adaptive importance sampling on the failure indicator.

Built for limit states that a surrogate cannot model and a level-based sampler trips
over — what a simulator gives: noise (the outcome depends on random numbers seeded per
concrete scenario), plateaus (``min(min_ttc, 10)`` is flat wherever nobody closes in),
jumps (collisions, controller mode switches) and categorical or discrete inputs. It never
fits ``g``; it only ranks the evaluated points by ``g`` and counts failures, so none of
these properties biases it; every simulation steers the proposals, and those of the final
batches, drawn from proposals fixed before each batch, make the unbiased estimate.

The method is multilevel cross-entropy importance sampling (Rubinstein & Kroese 2004)
with Gaussian proposals in standard normal space (Geyer, Papaioannou & Straub 2019) for
the levels, and, for the final batches, defensive Student-t mixtures (Cappé et al. 2008)
fitted to the failed points with the balance-heuristic weights of adaptive multiple
importance sampling (Cornuet et al. 2012). The final batches' estimates are combined with
weights from each batch's relative variance predicted by the *other* batches' samples, so
that the first, poorer proposals do not dilute the later ones and no batch's own luck
decides its weight. Ties on a plateau are handled by taking the
points strictly below it, or, when there are none, by widening the proposal until some
appear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import logsumexp

from safety_val._validation import Interval, OneOf, check_options
from safety_val.reliability._student import (
    CategoryBalanced,
    StudentMixture,
    fit_mixture,
    log_phi,
)
from safety_val.reliability.model import LimitStateModel
from safety_val.reliability.result import (
    BudgetExhausted,
    FailureProbabilityResult,
    lognormal_interval,
    make_result,
)
from safety_val.reliability.sampling import sample_design_point

__all__ = ["DEFAULT_BUDGET", "balances_rare_levels", "run"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

DEFAULT_BUDGET = 20_000
"""Calls the method may spend when neither ``max_calls`` nor the model sets a budget."""

_MIN_ELITE = 5  # fewest points strictly below a plateau to take them as the elite set
_MAX_SPREAD = 4.0  # widest standard deviation of an exploration proposal
_MIN_FINAL_BATCHES = 2  # final batches before the estimate may converge
_MAX_SHARE = 0.1  # no single sample may carry more of the estimate to converge
_NOISE_CHECKS = 10  # twins of failed points (the noise check)
_NOISE_FLIPS = 0.2  # share of those twins that must pass to call the limit state noisy
_NEIGHBOURS = 10  # neighbours behind the local failure share of the noise-aware proposal
_STRUCTURED_DIMENSION = 20  # above it, proposals have a shrunk mean and a spiked covariance
_RARE_LEVEL = 0.05  # a discrete input with a level rarer than this is explored balanced
_MAX_BALANCED_LEVELS = 10  # most levels of a discrete input explored balanced

_Proposal = StudentMixture | CategoryBalanced


def balances_rare_levels(model: LimitStateModel) -> bool:
    """Whether the first level explores a rare discrete level balanced (see below)."""
    return isinstance(_start_proposal(model), CategoryBalanced)


def _start_proposal(model: LimitStateModel) -> _Proposal:
    r"""The density of the first level: :math:`\varphi`, with rare discrete levels balanced.

    A discrete input with at most 10 levels, one of them rarer than 5 %, whose standard
    coordinate is its own normal score (independent, or uncorrelated under a normal
    copula) is explored with :class:`~safety_val.reliability._student.CategoryBalanced`;
    otherwise the first level is the input distribution itself.
    """
    from scipy import stats

    distribution = model.distribution
    d = int(model.dimension)
    cholesky = None
    if not distribution.hasIndependentCopula():
        copula = distribution.getCopula()
        if copula.getImplementation().getClassName() != "NormalCopula":
            return StudentMixture.standard(d)
        cholesky = np.linalg.cholesky(np.asarray(copula.getShapeMatrix(), dtype=float))
    edges: dict[int, _Array] = {}
    probabilities: dict[int, _Array] = {}
    for j in range(d):
        marginal = distribution.getMarginal(j)
        if not marginal.isDiscrete():
            continue
        if cholesky is not None and not np.allclose(cholesky[j], np.eye(d)[j]):
            continue
        support = np.sort(np.asarray(marginal.getSupport(), dtype=float).ravel())
        if not 1 < len(support) <= _MAX_BALANCED_LEVELS:
            continue
        mass = np.asarray(marginal.computePDF(support[:, None].tolist()), dtype=float).ravel()
        if not math.isclose(float(mass.sum()), 1.0, abs_tol=1e-9) or mass.min() >= _RARE_LEVEL:
            continue
        edges[j] = np.asarray(stats.norm.ppf(np.minimum(np.cumsum(mass)[:-1], 1.0)), dtype=float)
        probabilities[j] = mass / mass.sum()
    if not edges:
        return StudentMixture.standard(d)
    return CategoryBalanced(d, edges, probabilities)


@dataclass
class _Record:
    r"""Every sample so far with the proposal it came from and its own importance weight.

    ``predicted`` holds, for each final batch, the relative variance
    :math:`E_h[(\varphi/h)^2 1_F]/p_f^2 - 1` of its proposal predicted from the samples
    drawn before it (NaN for the level batches). ``log_q`` caches the log-density of every
    proposal at every sample (``(B, N)``), extended as batches arrive, so that the
    balance-heuristic weights cost :math:`O(BN)` over a run rather than per batch.
    """

    d: int
    proposals: list[tuple[_Proposal, int]] = field(default_factory=list)
    u: list[_Array] = field(default_factory=list)
    g: list[_Array] = field(default_factory=list)
    own: list[_Array] = field(default_factory=list)  # phi / q_b of the sample's own batch
    final: list[bool] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)
    log_q: _Array = field(default_factory=lambda: np.empty((0, 0)))

    def add(self, proposal: _Proposal, u: _Array, g: _Array, *, final: bool,
            predicted: float = math.nan) -> None:
        old = np.concatenate(self.u) if self.u else np.empty((0, self.d))
        columns = np.array([q.log_pdf(u) for q, _ in self.proposals]).reshape(-1, len(u))
        row = proposal.log_pdf(np.vstack([old, u]))
        self.log_q = np.vstack([np.hstack([self.log_q.reshape(len(self.proposals), len(old)),
                                           columns]), row[None, :]])
        self.proposals.append((proposal, len(u)))
        self.u.append(u)
        self.g.append(g)
        self.own.append(np.exp(log_phi(u) - row[len(old):]))
        self.final.append(final)
        self.predicted.append(predicted)

    @property
    def n(self) -> int:
        return int(sum(n for _, n in self.proposals))

    def arrays(self) -> tuple[_Array, _Array]:
        return np.concatenate(self.u), np.concatenate(self.g)

    def failed(self) -> _Array:
        """Boolean mask of the failed samples (a NaN margin is no failure)."""
        return np.asarray(np.nan_to_num(np.concatenate(self.g), nan=np.inf) <= 0.0)

    def weights(self, index: np.ndarray[Any, Any]) -> _Array:
        r"""Balance-heuristic weights :math:`\varphi(u) / \sum_k (n_k/N) q_k(u)` of samples.

        ``index``: a boolean mask or integer positions of recorded samples.
        """
        u = np.concatenate(self.u)[index]
        sizes = np.array([n for _, n in self.proposals], dtype=float)
        logs = self.log_q[:, index] + np.log(sizes / sizes.sum())[:, None]
        return np.asarray(np.exp(log_phi(u) - logsumexp(logs, axis=0)), dtype=float)

    def predicted_relative_variance(self, proposal: _Proposal) -> float:
        r"""Relative variance per sample of ``proposal``, from the samples so far.

        :math:`\rho(h) = E_\varphi[1_F\,\varphi/h] / p_f^2 - 1`, both expectations estimated
        from every sample so far with its balance-heuristic weight :math:`\omega_i`:
        :math:`\hat\rho + 1 = N \sum_i \omega_i f_i \varphi(u_i)/h(u_i) / (\sum_i \omega_i
        f_i)^2`. Infinite when no sample failed.
        """
        failed = self.failed()
        if not failed.any():
            return math.inf
        u = np.concatenate(self.u)[failed]
        omega = self.weights(failed)
        ratio = np.exp(log_phi(u) - proposal.log_pdf(u))
        total = float(omega.sum())
        return max(0.0, self.n * float(omega @ ratio) / (total * total) - 1.0)

    def held_out_relative_variances(self, batches: list[int]) -> _Array:
        r"""Each batch's relative variance :math:`\hat\rho_b` estimated without its own samples.

        As :meth:`predicted_relative_variance`, from the samples of every other batch
        weighted by the balance heuristic over the other batches' proposals: the later
        batches, which often found parts of the failure domain an early proposal missed,
        tell how poor that proposal was, and batch :math:`b`'s own outcome does not enter
        its weight. Infinite where the other batches hold no failure.
        """
        failed = self.failed()
        owner = np.repeat(np.arange(len(self.proposals)), [n for _, n in self.proposals])
        out = np.full(len(batches), math.inf)
        if not failed.any():
            return out
        owner = owner[failed]
        log_target = log_phi(np.concatenate(self.u)[failed])
        sizes = np.array([n for _, n in self.proposals], dtype=float)
        n_total = float(sizes.sum())
        log_q = self.log_q[:, failed]
        weighted = log_q + np.log(sizes / n_total)[:, None]  # log (n_k / N) q_k
        log_all = logsumexp(weighted, axis=0)
        for position, b in enumerate(batches):
            cols = np.flatnonzero(owner != b)
            n_others = n_total - float(sizes[b])
            if not len(cols) or n_others <= 0:
                continue
            # the other batches' mixture is the whole mixture less batch b's term: O(F) per
            # batch instead of O(B F); where b's term is nearly all of it, summed exactly
            with np.errstate(invalid="ignore", over="ignore"):
                share = np.nan_to_num(np.exp(weighted[b, cols] - log_all[cols]), nan=0.0)
            log_rest = log_all[cols] + np.log1p(-np.minimum(share, 1.0 - 1e-12))
            exact = share > 1.0 - 1e-6
            if exact.any():
                keep = np.arange(len(sizes)) != b
                log_rest[exact] = logsumexp(weighted[keep][:, cols[exact]], axis=0)
            log_mixture = log_rest + math.log(n_total / n_others)
            omega = np.exp(log_target[cols] - log_mixture)
            ratio = np.exp(log_target[cols] - log_q[b, cols])
            total = float(omega.sum())
            if total > 0:
                out[position] = max(0.0, n_others * float(omega @ ratio) / (total * total) - 1.0)
        return out


@dataclass(frozen=True)
class _Estimate:
    pf: float
    cov: float
    n_failures: int
    upper_if_errors_fail: float  # the estimate if every errored run had failed
    largest_share: float  # largest single term's share of the sum
    effective_size: float  # sum of the batches' weights: 1 / predicted relative variance


def _estimate(record: _Record) -> _Estimate:
    r"""Importance-sampling estimate from the final batches (every batch if there are none).

    Batch :math:`b` (:math:`n_b` points from :math:`h_b`) gives the unbiased
    :math:`\hat p_b = \frac1{n_b}\sum_{i \in b} \frac{\varphi(u_i)}{h_b(u_i)} f_i`; the batches
    are combined as :math:`\hat p_f = \sum_b a_b \hat p_b / \sum_b a_b` with
    :math:`a_b = n_b / (1 + \hat\rho_b)`, :math:`\hat\rho_b` the relative variance of
    :math:`h_b` estimated from the other batches' samples
    (:meth:`_Record.held_out_relative_variances`: inverse-variance weights that do not
    depend on the batch's own outcome), and
    :math:`\widehat{\mathrm{Var}} = \sum_b a_b^2 s_b^2 / n_b / (\sum_b a_b)^2` with
    :math:`s_b^2` the batch's own sample variance.
    """
    use = [i for i, final in enumerate(record.final) if final] or list(range(len(record.final)))
    sizes = np.array([len(record.g[i]) for i in use], dtype=float)
    predicted = record.held_out_relative_variances(use)
    a = np.where(np.isfinite(predicted), sizes / (1.0 + np.nan_to_num(predicted)), sizes)
    if not np.isfinite(predicted).any():
        a = sizes
    total_a = float(a.sum())
    pf = 0.0
    worst = 0.0
    variance = 0.0
    largest = 0.0
    for a_b, i in zip(a, use, strict=True):
        g, w = record.g[i], record.own[i]
        failed = np.nan_to_num(g, nan=np.inf) <= 0.0
        terms = w * failed
        n_b = len(terms)
        pf += a_b * float(terms.mean()) / total_a
        worst += a_b * float((w * (failed | np.isnan(g))).mean()) / total_a
        if n_b > 1:
            variance += (a_b / total_a) ** 2 * float(terms.var(ddof=1)) / n_b
        largest = max(largest, a_b / n_b * float(terms.max(initial=0.0)) / total_a)
    cov = math.sqrt(variance) / pf if pf > 0 and variance > 0 else math.inf
    if pf > 0 and variance == 0 and len(use) == 1 and len(record.g[use[0]]) == 1:
        cov = math.inf
    share = largest / pf if pf > 0 else 1.0
    n_failures = int(sum(int(np.sum(np.nan_to_num(x, nan=np.inf) <= 0)) for x in record.g))
    effective = float(np.sum(sizes / (1.0 + np.nan_to_num(predicted, nan=math.inf))))
    return _Estimate(pf, cov, n_failures, worst, share, effective)


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
    dof: float = 7.0,
    inflation: float = 1.2,
    stop_fraction: float = 0.9,
    noise_aware: bool | str = False,
    initial: tuple[_Array, _Array] | None = None,
) -> FailureProbabilityResult:
    r"""Estimate :math:`p_f` by adaptive Gaussian-mixture importance sampling on :math:`1[g \le 0]`.

    Parameters
    ----------
    model
        The limit state, its distribution, the executor and the call counter.
    target_cov
        Target coefficient of variation of the estimate (see ``stop_fraction``).
    max_calls
        Stop before :attr:`LimitStateModel.n_calls` would exceed this (``None``: the
        model's budget, else :data:`DEFAULT_BUDGET`).
    rng
        Random generator.
    n_per_level
        Points per adaptation level, one batch; default :math:`\max(200, 10 d)`, or
        :math:`\max(200, 2 d)` above 20 dimensions (at most 1,000), at least
        :math:`4\,n_\mathrm{workers}`.
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
    dof
        Degrees of freedom of the final proposal's Student-t components (heavy tails keep
        the weights of the failures a fitted proposal underrates moderate).
    inflation
        Factor on the final proposal's standard deviations (see Notes).
    stop_fraction
        The estimate converges when its coefficient of variation is at most
        ``stop_fraction * target_cov`` (the margin pays for the stopping rule's
        selection bias).
    noise_aware
        Fit the final proposal to :math:`\varphi\sqrt{\hat p}` (see
        :meth:`_Run._noise_aware_targets`) rather than to the failed points alone;
        ``"auto"``: when at least 20 % of the twins (1e-4 away, 10 calls) of failed
        points pass. Unless ``True``, the twins are evaluated and what they showed is
        said in ``message``. Off by default: on the built-in simulator's noisy cases the
        failed points' density needed fewer calls (the noise there bounds an
        :math:`x`-only estimator's relative variance per call near 2, far below what the
        proposal's fit costs).
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

    *Final stage.* Batches are drawn from :math:`h_b`, refitted before every batch
    (:func:`~safety_val.reliability._student.fit_mixture`) to all failed points so far,
    weighted by their balance-heuristic weights
    :math:`\varphi(u_i) / \sum_k \frac{n_k}{N} q_k(u_i)`: a mixture of up to
    ``max_components`` Student-t components (``dof``; the number by BIC, each needing an
    effective sample size of 5 times its parameters), covariances shrunk towards
    :math:`I` by the effective size and standard deviations times ``inflation``, plus
    :math:`\varphi` itself (share ``defensive``, which bounds the weights by
    :math:`1/\lambda`). Above 20 dimensions a single Gaussian with a soft-thresholded mean
    and a spiked covariance (:func:`~safety_val.reliability._student.structured_fit`)
    replaces it: a full covariance of a few dozen effective points would cost a factor
    :math:`e^{d/n_e}` in variance. A discrete input with a level rarer than 5 % starts
    from a density that gives each level an equal share (exact, so the weights stay
    exact), so that a rare category that matters is found by the levels.

    *Estimate.* Only the final batches enter it, each with its own proposal's weights
    (:math:`h_b` was chosen before batch :math:`b` was drawn, so each batch's estimate
    :math:`\hat p_b` is unbiased; reweighting every sample by the mixture of all
    proposals, as adaptive multiple importance sampling does, was biased low by 8 % on a
    linear :math:`\beta = 5.2` case). They are combined with weights
    :math:`a_b = n_b / (1 + \hat\rho_b)`, where :math:`\hat\rho_b` is batch :math:`b`'s
    relative variance predicted from the *other* batches' samples (so a batch that drew
    a lucky large weight does not choose its own weight):

    .. math::

        \hat p_f = \sum_b \frac{a_b}{A}\,\hat p_b, \qquad
        \widehat{\mathrm{Var}} = \sum_b \Big(\frac{a_b}{A}\Big)^2
        \frac{\hat s_b^2}{n_b},

    and :math:`\hat\delta = \sqrt{\widehat{\mathrm{Var}}} / \hat p_f` gives the
    log-normal 95 % interval. It converges when :math:`\hat\delta \le` ``stop_fraction``
    :math:`\times` ``target_cov``, at least ``min_failures`` points failed, 2 final
    batches were drawn, the effective sample size is at least :math:`1/\delta^2` and no
    single sample carries more than 10 % of :math:`\hat p_f`. With a noisy limit state
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

    Cappé, O., Douc, R., Guillin, A., Marin, J.-M. and Robert, C. P. (2008). Adaptive
    importance sampling in general mixture classes. Statistics and Computing 18(4),
    447–459. https://doi.org/10.1007/s11222-008-9059-x

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
            "dof": [Interval(float, 2.0, None, closed="neither")],
            "inflation": [Interval(float, 1.0, 4.0)],
            "stop_fraction": [Interval(float, 0.0, 1.0, closed="right")],
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
        tempering=tempering, dof=dof, inflation=inflation, stop_fraction=stop_fraction,
        noise_aware=noise_aware,
    )
    return _Run(
        model, target_cov=target_cov, max_calls=max_calls,
        rng=np.random.default_rng() if rng is None else rng, n_per_level=n_per_level,
        n_per_batch=n_per_batch, rho=rho, max_components=max_components,
        defensive=defensive, min_failures=min_failures, max_levels=max_levels,
        widening=widening, floor=floor, level_spread=level_spread, tempering=tempering,
        dof=dof, inflation=inflation, stop_fraction=stop_fraction, noise_aware=noise_aware,
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
    dof: float
    inflation: float
    stop_fraction: float
    noise_aware: bool | str

    def __init__(self, model: LimitStateModel, **options: Any) -> None:
        self.model = model
        self.__dict__.update(options)
        d = int(model.dimension)
        workers = 1 if model.executor is None else max(1, int(model.executor.n_workers))
        self.structured = d > _STRUCTURED_DIMENSION
        default = max(200, 2 * d) if self.structured else max(200, 10 * d)
        self.n_level = int(self.n_per_level or max(4 * workers, min(1000, default)))
        self.n_batch = int(self.n_per_batch or self.n_level)
        self.record = _Record(d)
        self.start_calls = model.n_calls
        self.start_errors = model.n_errors
        self.notes: list[str] = []
        self.levels: list[float] = []
        self.widenings = 0
        self.history: list[dict[str, float]] = []
        self.proposal: _Proposal = _start_proposal(model)
        self.noisy = False
        self.flipped = math.nan
        limits = [m for m in (self.max_calls, model.max_calls) if m is not None]
        self.budget = min(limits) if limits else self.start_calls + DEFAULT_BUDGET

    # -------------------------------------------------------------------- evaluation
    def _draw(
        self, n: int, stage: str, *, final: bool = False, predicted: float = math.nan
    ) -> tuple[_Array, _Array]:
        left = self.budget - self.model.n_calls
        if left < min(n, 2):
            raise _Stop
        n = min(n, left)
        u = self.proposal.sample(n, self.rng)
        with self.model.stage(stage), self.model.tolerate_errors():
            g = self.model.evaluate(self.model.to_physical(u))
        self.record.add(self.proposal, u, g, final=final, predicted=predicted)
        return u, g

    # -------------------------------------------------------------------- stages
    def run(self, initial: tuple[_Array, _Array] | None = None) -> FailureProbabilityResult:
        reached = False
        if initial is not None and len(initial[0]):
            u0, g0 = (np.asarray(a, dtype=float) for a in initial)
            self.record.add(StudentMixture.standard(self.record.d), u0.reshape(len(g0), -1),
                            g0.ravel(), final=False)
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
    ) -> StudentMixture:
        """A Gaussian (mixture) for the next level, standard deviations at least ``floor``."""
        return fit_mixture(
            u, w, rng=self.rng, max_components=self.max_components, defensive=defensive,
            floor=floor, cap=_MAX_SPREAD, shrink=shrink, structured=self.structured,
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

        ok = np.flatnonzero(np.isfinite(g))
        u, failed = u[ok], g[ok] <= 0.0
        k = min(_NEIGHBOURS, len(u))
        neighbours = NearestNeighbors(n_neighbors=k).fit(u).kneighbors(u, return_distance=False)
        p_hat = failed[neighbours].mean(axis=1)
        keep = p_hat > 0.0
        weights = self.record.weights(ok[keep]) * np.sqrt(p_hat[keep])
        return u[keep], weights ** self.tempering

    def _final_proposal(self, u: _Array, w: _Array) -> StudentMixture:
        r"""A defensive Student-t mixture fitted to the weighted failed points.

        Components by BIC (at most ``max_components``, each needing an effective sample
        size of 5 times its parameters), each covariance shrunk towards :math:`I` by its
        effective size and its standard deviations times ``inflation`` (at least
        ``floor``), with ``dof`` degrees of freedom: a proposal fitted to a few dozen
        effective failures is never quite the failure domain's shape, and heavy tails
        keep the weights of the failures it underrates moderate. Above 20 dimensions,
        two structured Gaussians, one with the estimated bulk variance and one with a
        bulk of at least 1, and the one with the smaller relative variance predicted from
        the samples so far (:meth:`_Record.predicted_relative_variance`).
        """
        def fit(bulk_floor: float) -> StudentMixture:
            return fit_mixture(
                u, w, rng=self.rng, max_components=self.max_components, dof=self.dof,
                defensive=self.defensive, inflation=self.inflation, floor=self.floor,
                cap=_MAX_SPREAD, shrink=True, structured=self.structured,
                bulk_floor=bulk_floor,
            )

        if not self.structured:
            return fit(0.0)
        estimated, unit = fit(0.0), fit(1.0)
        if np.array_equal(estimated.scales, unit.scales):  # the estimated bulk is >= 1
            return estimated
        predicted = [self.record.predicted_relative_variance(q) for q in (estimated, unit)]
        return (estimated, unit)[int(np.argmin(predicted))]

    def _check_noise(self) -> None:
        """Evaluate twins 1e-4 away of up to 10 failed points, to see whether they fail too.

        A deterministic limit state's twins fail (barring the rare one on the boundary);
        a simulator whose outcome depends on random numbers seeded per concrete scenario
        lets many of them pass. The twins are reported in ``message`` and decide
        :attr:`noise_aware` when it is ``"auto"``; they are counted but enter neither the
        fit nor the estimate.
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
        seen = self.flipped >= _NOISE_FLIPS
        self.noisy = seen if self.noise_aware == "auto" else bool(self.noise_aware)
        self.notes.append(
            f"{self.flipped:.0%} of {len(pick)} twins of failed points did not fail: "
            + ("noise (pf is the mean of P(fail | x))" if seen else "no noise seen")
            + (", proposal fitted to phi sqrt(p)" if self.noisy
               else ", proposal fitted to the failed points")
        )

    def _final(self) -> FailureProbabilityResult:
        batches = 0
        if self.noise_aware is True:
            self.noisy = True
        else:
            self._check_noise()
        while True:
            u_all, g_all = self.record.arrays()
            failed = np.nan_to_num(g_all, nan=np.inf) <= 0.0
            if self.noisy:
                centres, weights = self._noise_aware_targets(u_all, g_all)
            else:
                centres = u_all[failed]
                weights = self.record.weights(failed) ** self.tempering
            self.proposal = self._final_proposal(centres, weights)
            predicted = self.record.predicted_relative_variance(self.proposal)
            self._draw(self.n_batch, "ais", final=True, predicted=predicted)
            estimate = _estimate(self.record)
            self._history(estimate)
            batches += 1
            if (
                batches >= _MIN_FINAL_BATCHES
                and estimate.n_failures >= self.min_failures
                and estimate.cov <= self.stop_fraction * self.target_cov
                and estimate.effective_size * self.target_cov**2 >= 1.0
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
            "batches": [
                {"n": n, "final": final, "failures": int(np.sum(np.nan_to_num(g, nan=np.inf) <= 0)),
                 "predicted_relative_variance": predicted}
                for (_, n), final, g, predicted in zip(
                    self.record.proposals, self.record.final, self.record.g,
                    self.record.predicted, strict=True)
            ],
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
                f"coefficient of variation {cov:.3g} > {self.stop_fraction:g} x target "
                f"{self.target_cov:g}, or fewer than {self.min_failures} failures"
            )
        n_phi = self.record.proposals[0][1]
        return make_result(
            model, method="ais", pf=pf, cov=cov if math.isfinite(cov) else math.nan, ci=ci,
            converged=converged, message="; ".join(self.notes), history=self.history,
            design_points=sample_design_point(model, self.start_calls), details=details,
            n_trials=n_phi,
        )
