r"""Private: defensive Student-t mixtures in standard normal space, fitted by weighted EM.

The importance densities of :mod:`~safety_val.reliability.adaptive_is`:

.. math::

    h(u) = \lambda\,\varphi_d(u) + (1 - \lambda) \sum_{k=1}^K \pi_k\,
    t_\nu(u;\, m_k, S_k),

with :math:`\varphi_d` the standard normal density (the *defensive* component, which
bounds the importance weights by :math:`1/\lambda`) and :math:`t_\nu` the multivariate
Student-t density with :math:`\nu` degrees of freedom (:math:`\nu = \infty`: Gaussian).
A t component's polynomial tails keep the weights :math:`\varphi / h` of points far from
its centre moderate where a Gaussian's would explode: a proposal fitted to a few dozen
effective failures rarely matches the failure domain's shape, and a heavy-tailed one
degrades gracefully (Cappé et al. 2008; Oh & Berger 1993).

:func:`fit_mixture` fits the components to weighted points by an EM algorithm on the
weights themselves (no resampling), chooses :math:`K` by BIC with the effective sample
size as the number of observations, shrinks each covariance towards the identity by its
effective size, and inflates it.

References
----------
Oh, M.-S. and Berger, J. O. (1993). Integration of multimodal functions by Monte Carlo
importance sampling. JASA 88(422), 450–456. https://doi.org/10.1080/01621459.1993.10476295

Cappé, O., Douc, R., Guillin, A., Marin, J.-M. and Robert, C. P. (2008). Adaptive
importance sampling in general mixture classes. Statistics and Computing 18(4), 447–459.
https://doi.org/10.1007/s11222-008-9059-x
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import gammaln, logsumexp

__all__ = [
    "CategoryBalanced",
    "StudentMixture",
    "effective_sample_size",
    "fit_mixture",
    "log_phi",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]
_LOG_2PI = float(np.log(2.0 * np.pi))


def log_phi(u: _Array) -> _Array:
    """Log-density of the standard normal distribution in ``u.shape[1]`` dimensions."""
    return np.asarray(-0.5 * (u.shape[1] * _LOG_2PI + np.sum(u * u, axis=1)), dtype=float)


def effective_sample_size(weights: _Array) -> float:
    r"""Kish's effective sample size :math:`(\sum w)^2 / \sum w^2` (0 for no weight)."""
    total = float(np.sum(weights))
    squares = float(np.sum(np.square(weights)))
    return total * total / squares if squares > 0 else 0.0


@dataclass(frozen=True)
class StudentMixture:
    r"""A defensive mixture of multivariate Student-t (or Gaussian) densities.

    Attributes
    ----------
    means
        ``(K, d)`` component centres.
    scales
        ``(K, d, d)`` scale matrices (the covariance is :math:`\nu/(\nu-2)` times the scale).
    weights
        ``(K,)`` component weights, summing to one (empty when :math:`\lambda = 1`).
    defensive
        :math:`\lambda`, the weight of :math:`\varphi_d` itself.
    dof
        Degrees of freedom :math:`\nu` of every component (``inf``: Gaussian).

    Examples
    --------
    >>> mixture = StudentMixture.standard(3)
    >>> u = mixture.sample(5, np.random.default_rng(0))
    >>> bool(np.allclose(mixture.log_pdf(u), log_phi(u)))
    True
    """

    means: _Array
    scales: _Array
    weights: _Array
    defensive: float
    dof: float = math.inf
    _chol: _Array = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chol = np.linalg.cholesky(self.scales) if len(self.weights) else self.scales
        object.__setattr__(self, "_chol", chol)

    @classmethod
    def standard(cls, d: int, spread: float = 1.0) -> StudentMixture:
        r""":math:`\mathcal N(0, s^2 I)` (the input distribution itself when ``s = 1``)."""
        if spread == 1.0:
            return cls(np.empty((0, d)), np.empty((0, d, d)), np.empty(0), 1.0)
        return cls(np.zeros((1, d)), (spread**2 * np.eye(d))[None], np.ones(1), 0.0)

    @property
    def dimension(self) -> int:
        """Number of coordinates."""
        return int(self.means.shape[1])

    @property
    def n_components(self) -> int:
        """Number of t (or Gaussian) components, the defensive one not counted."""
        return len(self.weights)

    @property
    def spread(self) -> float:
        r"""Largest component standard deviation along any direction (1 for :math:`\varphi`)."""
        if not len(self.weights):
            return 1.0
        factor = self.dof / (self.dof - 2.0) if math.isfinite(self.dof) else 1.0
        return float(np.sqrt(factor * max(np.linalg.eigvalsh(s).max() for s in self.scales)))

    def widened(self, factor: float) -> StudentMixture:
        """The same mixture with every scale matrix multiplied by ``factor ** 2``."""
        if not len(self.weights):
            return StudentMixture.standard(self.dimension, factor)
        return StudentMixture(self.means, self.scales * factor**2, self.weights, self.defensive,
                              self.dof)

    def sample(self, n: int, rng: np.random.Generator) -> _Array:
        """``n`` independent draws, ``(n, d)``."""
        d, k = self.dimension, len(self.weights)
        p = np.concatenate([[self.defensive], (1.0 - self.defensive) * self.weights])
        component = rng.choice(k + 1, size=n, p=p / p.sum())
        z = rng.standard_normal((n, d))
        out = z.copy()
        for j in range(k):
            mask = component == j + 1
            if not mask.any():
                continue
            y = z[mask] @ self._chol[j].T
            if math.isfinite(self.dof):
                y /= np.sqrt(rng.chisquare(self.dof, int(mask.sum())) / self.dof)[:, None]
            out[mask] = self.means[j] + y
        return out

    def component_log_pdf(self, u: _Array, j: int) -> _Array:
        """Log-density of component ``j`` (without its weight) at ``u``."""
        d = u.shape[1]
        z = solve_triangular(self._chol[j], (u - self.means[j]).T, lower=True).T
        q = np.sum(z * z, axis=1)
        log_det = 2.0 * float(np.sum(np.log(np.diag(self._chol[j]))))
        if not math.isfinite(self.dof):
            return np.asarray(-0.5 * (d * _LOG_2PI + log_det + q), dtype=float)
        nu = self.dof
        const = gammaln(0.5 * (nu + d)) - gammaln(0.5 * nu) - 0.5 * d * math.log(nu * math.pi)
        return np.asarray(const - 0.5 * log_det - 0.5 * (nu + d) * np.log1p(q / nu),
                          dtype=float)

    def log_pdf(self, u: _Array) -> _Array:
        """Log-density of the mixture at ``u`` (``(n, d)``)."""
        terms = []
        if self.defensive > 0:
            terms.append(math.log(self.defensive) + log_phi(u))
        if self.defensive < 1.0:
            for j, weight in enumerate(self.weights):
                if weight > 0:
                    terms.append(math.log((1.0 - self.defensive) * weight)
                                 + self.component_log_pdf(u, j))
        return np.asarray(logsumexp(np.vstack(terms), axis=0), dtype=float)


def _weighted_em(
    u: _Array, p: _Array, k: int, rng: np.random.Generator, *, max_iter: int = 200,
    reg: float = 1e-3,
) -> tuple[_Array, _Array, _Array, float]:
    r"""Gaussian mixture of ``k`` components fitted to points with probability weights ``p``.

    k-means++ seeding on the weighted points, then EM on the weighted log-likelihood
    :math:`\sum_i p_i \log \sum_k \pi_k \mathcal N(u_i; m_k, C_k)`; a component whose
    weight falls below 2 % is dropped. Returns means, covariances, weights and the final
    weighted mean log-likelihood.
    """
    n, d = u.shape
    centres = [u[rng.choice(n, p=p)]]
    for _ in range(1, k):
        distance = np.min([np.sum((u - c) ** 2, axis=1) for c in centres], axis=0)
        score = p * distance
        if score.sum() <= 0:
            break
        centres.append(u[rng.choice(n, p=score / score.sum())])
    mean = p @ u
    base = ((u - mean) * p[:, None]).T @ (u - mean) + reg * np.eye(d)
    means = np.array(centres)
    covariances = np.repeat(base[None], len(centres), axis=0)
    weights = np.full(len(centres), 1.0 / len(centres))
    previous = -math.inf
    objective = -math.inf
    for _ in range(max_iter):
        mixture = StudentMixture(means, covariances, weights, 0.0)
        log_parts = np.vstack([math.log(w) + mixture.component_log_pdf(u, j)
                               for j, w in enumerate(weights)])
        log_total = logsumexp(log_parts, axis=0)
        objective = float(p @ log_total)
        responsibility = np.exp(log_parts - log_total) * p
        mass = responsibility.sum(axis=1)
        keep = mass > 0.02
        if not keep.all():
            means, covariances, weights = means[keep], covariances[keep], weights[keep]
            weights = weights / weights.sum()
            continue
        weights = mass / mass.sum()
        means = (responsibility @ u) / mass[:, None]
        for j in range(len(weights)):
            centred = u - means[j]
            covariances[j] = (
                (centred * responsibility[j][:, None]).T @ centred / mass[j] + reg * np.eye(d)
            )
        if abs(objective - previous) <= 1e-7 * (1.0 + abs(objective)):
            break
        previous = objective
    return means, covariances, weights, objective


def shrunk_mean(u: _Array, p: _Array, ess: float) -> _Array:
    r"""The weighted mean, soft-thresholded coordinate by coordinate at the SURE threshold.

    Each coordinate's mean :math:`\hat m_j` has the standard error
    :math:`s_j = \hat\sigma_j / \sqrt{n_e}`; the standardised means
    :math:`z_j = \hat m_j / s_j` are soft-thresholded at the :math:`t` that minimises
    Stein's unbiased risk estimate
    :math:`\mathrm{SURE}(t) = d - 2\,\#\{j: |z_j| \le t\} + \sum_j \min(z_j^2, t^2)`
    over :math:`t \in [0, \sqrt{2 \ln d}]` (SureShrink, Donoho & Johnstone 1995). In
    many dimensions the mean of a few dozen effective points carries noise of squared
    norm :math:`d / n_e` in every coordinate, which a proposal pays for as a factor
    :math:`e^{d/n_e}` on its variance; the threshold removes it where the shift is sparse
    (a few influential inputs) and keeps a dense shift (a direction spread over all
    coordinates) nearly intact.

    References
    ----------
    Donoho, D. L. and Johnstone, I. M. (1995). Adapting to unknown smoothness via wavelet
    shrinkage. JASA 90(432), 1200–1224. https://doi.org/10.1080/01621459.1995.10476626
    """
    d = u.shape[1]
    mean = p @ u
    spread = np.sqrt(np.maximum(p @ (u - mean) ** 2, 1e-12))
    z = mean / (spread / math.sqrt(max(ess, 1.0)))
    candidates = np.concatenate([[0.0], np.sort(np.abs(z))])
    candidates = candidates[candidates <= math.sqrt(2.0 * math.log(max(d, 2)))]
    squared = z * z
    risks = [d - 2.0 * float(np.sum(np.abs(z) <= t)) + float(np.sum(np.minimum(squared, t * t)))
             for t in candidates]
    t = float(candidates[int(np.argmin(risks))])
    return np.asarray(np.sign(mean) * np.maximum(np.abs(z) - t, 0.0) * spread
                      / math.sqrt(max(ess, 1.0)), dtype=float)


def spiked_covariance(
    covariance: _Array,
    ess: float,
    *,
    largest: float = 2.25,
    smallest: float = 0.25,
    floor: float = 0.0,
) -> _Array:
    r"""A covariance with a flat bulk and a few *spikes*.

    :math:`\sigma^2 I + \sum_k (\lambda_k - \sigma^2) v_k v_k^\top`.

    The eigenvalues of a sample covariance of :math:`n_e` points in :math:`d` dimensions
    spread over the Marchenko–Pastur bulk :math:`\sigma^2 (1 \pm \sqrt{d/n_e})^2` even
    when the truth is :math:`\sigma^2 I`. The bulk level :math:`\sigma^2` is the mean
    eigenvalue (the trace over :math:`d`: one statistic of all coordinates, accurate even
    from few effective points, unlike each coordinate's variance), and only eigenvalues
    outside the bulk (spikes, Johnstone 2001) keep their own value (at most ``largest``)
    and direction, clipped to [``smallest``, ``largest``]: a Gaussian fitted to the
    failures beyond a plane is narrower than their exponential tail, whose far points
    would otherwise carry huge weights. A proposal whose :math:`d` variances each had a
    relative error :math:`\epsilon` would pay a factor of about
    :math:`(1 + \epsilon^2/2)^d` on its variance, and one whose bulk is narrower than
    the target's pays far more than one as much wider (per coordinate,
    :math:`s/\sqrt{2 - 1/s^2}` for a proposal :math:`\mathcal N(0, s^2)` of a
    :math:`\mathcal N(0, 1)` target: 1.107 at :math:`s^2 = 0.7`, 1.014 at 1.2). The bulk
    level is at least ``floor``: from a few dozen effective points the weighted estimate
    of it can come out 20–30 % low (a factor of :math:`10^4` in 100 dimensions), while a
    unit bulk where the truth is 0.81 (a curved limit state in 200 dimensions) costs a
    factor of about 35; the caller chooses between the two by their predicted variance.

    References
    ----------
    Johnstone, I. M. (2001). On the distribution of the largest eigenvalue in principal
    components analysis. Annals of Statistics 29(2), 295–327.
    https://doi.org/10.1214/aos/1009210544
    """
    d = covariance.shape[0]
    values, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
    bulk = max(float(np.mean(values)), 1e-6)
    gamma = d / max(ess, 1.0)
    upper = bulk * (1.0 + math.sqrt(gamma)) ** 2
    lower = bulk * (1.0 - math.sqrt(gamma)) ** 2 if gamma < 1.0 else -math.inf
    spikes = (values > upper) | (values < lower)
    if spikes.any() and not spikes.all():
        bulk = max(float(np.mean(values[~spikes])), 1e-6)
    bulk = max(bulk, floor)
    kept = vectors[:, spikes]
    spike_values = np.clip(values[spikes], smallest, largest)
    return np.asarray(bulk * np.eye(d) + (kept * (spike_values - bulk)) @ kept.T, dtype=float)


def structured_fit(
    u: _Array, p: _Array, ess: float, *, bulk_floor: float = 0.0
) -> tuple[_Array, _Array]:
    r"""Mean and covariance for many dimensions: a sparse shift, an active block, a bulk.

    The mean is :func:`shrunk_mean`. The coordinates it moves (the *active* ones, when
    there are at most :math:`\max(1, n_e/10)` of them: a sparse shift) get their own
    weighted covariance, shrunk towards :math:`I` by :math:`n_e`; the other coordinates
    (all of them for a dense shift) get :func:`spiked_covariance` (its bulk level at
    least ``bulk_floor``); the two blocks are uncorrelated.
    """
    d = u.shape[1]
    mean = shrunk_mean(u, p, ess)
    centred = u - p @ u
    active = np.flatnonzero(mean != 0.0)
    if not 0 < len(active) <= max(1.0, ess / 10.0) or len(active) == d:
        return mean, spiked_covariance((centred * p[:, None]).T @ centred, ess,
                                       floor=bulk_floor)
    rest = np.setdiff1d(np.arange(d), active)
    covariance = np.zeros((d, d))
    block = (centred[:, active] * p[:, None]).T @ centred[:, active]
    k = len(active)
    covariance[np.ix_(active, active)] = (ess * block + k * np.eye(k)) / (ess + k)
    other = (centred[:, rest] * p[:, None]).T @ centred[:, rest]
    covariance[np.ix_(rest, rest)] = spiked_covariance(other, ess, floor=bulk_floor)
    return mean, covariance


def fit_mixture(
    u: _Array,
    weights: _Array,
    *,
    rng: np.random.Generator,
    max_components: int = 1,
    dof: float = math.inf,
    defensive: float = 0.0,
    inflation: float = 1.0,
    floor: float = 0.0,
    cap: float = math.inf,
    shrink: bool = True,
    structured: bool = False,
    bulk_floor: float = 0.0,
) -> StudentMixture:
    r"""A defensive t mixture fitted to weighted points in standard space.

    Parameters
    ----------
    u
        ``(n, d)`` points.
    weights
        ``(n,)`` non-negative weights (not all zero).
    rng
        Random generator (EM seeding).
    max_components
        Most components; :math:`K` is chosen by BIC with the effective sample size
        :math:`n_e` as the number of observations, among the :math:`K` for which
        :math:`n_e` is at least 5 times the parameters.
    dof
        Degrees of freedom of the components (``inf``: Gaussian).
    defensive
        Weight of :math:`\varphi` itself.
    inflation
        Factor on every component's standard deviations.
    floor, cap
        Smallest and largest standard deviation of a component along any direction.
    shrink
        Shrink each covariance towards :math:`I` by its effective size :math:`n_k`:
        :math:`C = (n_k \hat C + d I) / (n_k + d)`.
    structured
        For many dimensions: one component whose mean is :func:`shrunk_mean` and whose
        covariance is :func:`structured_fit`'s, Gaussian (``shrink``, ``inflation`` and
        ``dof`` are then not applied: in many dimensions a multivariate t's radius, and an
        inflated variance, would miss the failure domain's shell).
    bulk_floor
        Smallest bulk variance of the structured covariance (:func:`spiked_covariance`).

    Returns
    -------
    StudentMixture
        Each component's *covariance* is the fitted one (the scale matrix is
        :math:`(\nu - 2)/\nu` times it).
    """
    d = u.shape[1]
    p = np.asarray(weights, dtype=float)
    p = p / p.sum()
    ess = effective_sample_size(p)
    per_component = d + d * (d + 1) / 2.0 + 1.0
    best: tuple[float, _Array, _Array, _Array] | None = None
    if structured:
        mean, covariance = structured_fit(u, p, ess, bulk_floor=bulk_floor)
        best = (0.0, mean[None], covariance[None], np.ones(1))
        shrink, inflation, dof = False, 1.0, math.inf
    for k in range(1, (0 if structured else max(1, max_components)) + 1):
        if k > 1 and ess < 5.0 * per_component * k:
            break
        if k == 1:
            mean = p @ u
            covariance = ((u - mean) * p[:, None]).T @ (u - mean)
            means, covariances, shares = mean[None], covariance[None], np.ones(1)
            log_likelihood = float(p @ StudentMixture(
                means, covariances + 1e-9 * np.eye(d)[None], shares, 0.0
            ).log_pdf(u))
        else:
            means, covariances, shares, log_likelihood = _weighted_em(u, p, k, rng)
        bic = -2.0 * ess * log_likelihood + (per_component * len(shares) - 1.0) * math.log(
            max(ess, 2.0)
        )
        if best is None or bic < best[0]:
            best = (bic, means, covariances, shares)
    assert best is not None  # k = 1 always runs
    _, means, covariances, shares = best
    scales = []
    factor = (dof - 2.0) / dof if math.isfinite(dof) else 1.0
    for covariance, share in zip(covariances, shares, strict=True):
        if shrink:
            n_k = ess * float(share)
            covariance = (n_k * covariance + d * np.eye(d)) / (n_k + d)
        values, vectors = np.linalg.eigh(0.5 * (covariance + covariance.T))
        values = np.clip(values * inflation**2, floor**2, cap**2)
        scales.append(factor * (vectors * values) @ vectors.T)
    return StudentMixture(np.asarray(means, dtype=float), np.array(scales),
                          np.asarray(shares, dtype=float) / float(np.sum(shares)), defensive,
                          dof)


@dataclass(frozen=True)
class CategoryBalanced:
    r"""An exploration density that shows every level of the discrete inputs.

    Continuous coordinates (in standard space) are :math:`\mathcal N(0, s^2)`; the
    coordinate :math:`u_j` of a discrete input whose :math:`L` levels occupy the intervals
    :math:`I_1, \dots, I_L` (probabilities :math:`P_1, \dots, P_L`) has the density

    .. math::

        q_j(u) = \varphi(u) \Bigl(\alpha + \frac{1 - \alpha}{L\,P_{c(u)}}\Bigr),

    half of it (:math:`\alpha = 1/2`) the input's own law and half a uniform choice of the
    level followed by :math:`\varphi` truncated to its interval. A level of probability
    :math:`5 \cdot 10^{-5}` is then drawn about :math:`1/(2L)` of the time instead of never,
    and the importance weight of every point is known exactly.

    Attributes
    ----------
    dimension
        Number of coordinates.
    edges
        ``{j: (L - 1,) interval boundaries}`` of the balanced coordinates.
    probabilities
        ``{j: (L,) level probabilities}``.
    alpha
        Share of the input's own law in a balanced coordinate.
    scale
        Standard deviation :math:`s` of the continuous coordinates.
    """

    dimension: int
    edges: dict[int, _Array]
    probabilities: dict[int, _Array]
    alpha: float = 0.5
    scale: float = 1.0

    @property
    def n_components(self) -> int:
        """One (it is not a mixture of fitted components)."""
        return 1

    @property
    def spread(self) -> float:
        """Standard deviation of the continuous coordinates."""
        return self.scale

    def widened(self, factor: float) -> CategoryBalanced:
        """The continuous coordinates' standard deviation times ``factor``."""
        return CategoryBalanced(self.dimension, self.edges, self.probabilities, self.alpha,
                                self.scale * factor)

    def sample(self, n: int, rng: np.random.Generator) -> _Array:
        """``n`` independent draws, ``(n, d)``."""
        from scipy import stats

        u = self.scale * rng.standard_normal((n, self.dimension))
        for j, probabilities in self.probabilities.items():
            own = rng.random(n) < self.alpha
            level = rng.integers(0, len(probabilities), size=n)
            lower = np.concatenate([[0.0], np.cumsum(probabilities)[:-1]])[level]
            cdf = np.clip(lower + rng.random(n) * probabilities[level], 1e-300, 1.0 - 1e-16)
            u[:, j] = np.where(own, rng.standard_normal(n), stats.norm.ppf(cdf))
        return u

    def log_pdf(self, u: _Array) -> _Array:
        """Log-density at ``u`` (``(n, d)``)."""
        balanced = list(self.edges)
        continuous = [j for j in range(self.dimension) if j not in self.edges]
        out = np.zeros(len(u))
        if continuous:
            z = u[:, continuous] / self.scale
            out += log_phi(z) - len(continuous) * math.log(self.scale)
        for j in balanced:
            level = np.searchsorted(self.edges[j], u[:, j], side="left")
            share = self.alpha + (1.0 - self.alpha) / (
                len(self.probabilities[j]) * self.probabilities[j][level]
            )
            out += log_phi(u[:, [j]]) + np.log(share)
        return out
