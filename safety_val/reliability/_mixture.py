"""Private: defensive Gaussian-mixture importance densities in standard normal space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

__all__ = ["DefensiveMixture"]

_Array = np.ndarray[Any, np.dtype[np.float64]]
_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class DefensiveMixture:
    r"""A defensive Gaussian mixture density in standard normal space.

    :math:`h = \lambda\,\varphi_d + (1 - \lambda) \sum_k \pi_k\,\mathcal N(m_k, C_k)`.

    Attributes
    ----------
    means
        ``(K, d)`` component means (the design points of the failure modes).
    covariances
        ``(K, d, d)`` component covariances.
    weights
        ``(K,)`` component weights, summing to one.
    defensive
        :math:`\lambda`, the weight of the standard normal :math:`\varphi_d` itself.

    Notes
    -----
    The defensive component (Hesterberg 1995, doi:10.1080/00401706.1995.10484303) bounds
    the importance weights: :math:`w = \varphi_d / h \le 1/\lambda`, so a failure region
    that no component covers still has a finite-variance contribution.
    """

    means: _Array
    covariances: _Array
    weights: _Array
    defensive: float

    @classmethod
    def centred_at(
        cls, points: _Array, weights: _Array, *, defensive: float, scale: float = 1.0
    ) -> DefensiveMixture:
        r"""Components :math:`\mathcal N(u^*_k, s^2 I)` at the given design points."""
        points = np.atleast_2d(np.asarray(points, dtype=float))
        k, d = points.shape
        weights = np.asarray(weights, dtype=float)
        weights = weights / weights.sum() if k else weights
        covariances = np.repeat((scale**2 * np.eye(d))[None], k, axis=0)
        return cls(points, covariances, weights, float(defensive if k else 1.0))

    @property
    def dimension(self) -> int:
        """Number of coordinates."""
        return int(self.means.shape[1])

    def sample(self, n: int, rng: np.random.Generator, dimension: int) -> _Array:
        """``n`` independent draws, ``(n, d)``."""
        k = len(self.weights)
        probabilities = np.concatenate([[self.defensive], (1.0 - self.defensive) * self.weights])
        component = rng.choice(k + 1, size=n, p=probabilities / probabilities.sum())
        z = rng.standard_normal((n, dimension))
        out = z.copy()
        for j in range(k):
            mask = component == j + 1
            if np.any(mask):
                chol = np.linalg.cholesky(self.covariances[j])
                out[mask] = self.means[j] + z[mask] @ chol.T
        return out

    def log_pdf(self, u: _Array) -> _Array:
        """Log-density of the mixture at ``u`` (``(n, d)``)."""
        u = np.atleast_2d(u)
        d = u.shape[1]
        terms = [np.log(self.defensive) + _log_std_normal(u)] if self.defensive > 0 else []
        for j, weight in enumerate(self.weights):
            if weight <= 0 or self.defensive >= 1.0:
                continue
            chol = np.linalg.cholesky(self.covariances[j])
            z = np.linalg.solve(chol, (u - self.means[j]).T).T
            log_det = 2.0 * np.sum(np.log(np.diag(chol)))
            terms.append(
                np.log((1.0 - self.defensive) * weight)
                - 0.5 * (d * _LOG_2PI + log_det + np.sum(z * z, axis=1))
            )
        return np.asarray(logsumexp(np.vstack(terms), axis=0), dtype=float)

    def weights_of(self, u: _Array) -> _Array:
        r"""Importance weights :math:`w = \varphi_d(u) / h(u)`."""
        return np.asarray(np.exp(_log_std_normal(np.atleast_2d(u)) - self.log_pdf(u)), dtype=float)


def _log_std_normal(u: _Array) -> _Array:
    d = u.shape[1]
    return np.asarray(-0.5 * (d * _LOG_2PI + np.sum(u * u, axis=1)), dtype=float)
