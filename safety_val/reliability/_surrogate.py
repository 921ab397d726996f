"""Private: the Gaussian-process surrogate of the active-learning method (method ``"ak"``).

A thin, typed wrapper around :class:`sklearn.gaussian_process.GaussianProcessRegressor`
that works in standard normal space, predicts in chunks, warm-starts its hyperparameters
from one fit to the next and reports its leave-one-out accuracy.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import linalg, stats
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

__all__ = ["GaussianProcessSurrogate", "misclassification_probability"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

_CHUNK = 8192


class GaussianProcessSurrogate:
    r"""Kriging model of a limit state in standard normal space.

    Parameters
    ----------
    dimension
        Number of inputs.
    n_restarts
        Optimizer restarts of the hyperparameter search at the first fit (and every
        ``restart_every`` fits after it); the other fits warm-start from the last one.
    restart_every
        See ``n_restarts``.
    reoptimise_growth
        Hyperparameters are re-optimised only when the training set has grown by this
        factor since the last optimisation (and at restarts); in between, the model is
        refitted with the last hyperparameters (one Cholesky factorisation).
    random_state
        Seed of the optimizer restarts.

    Notes
    -----
    The covariance is

    .. math::

        k(u, u') = \sigma_1^2 \bigl(\sigma_0^2 + u^\top u'\bigr)
        + \sigma_2^2\, \mathrm{Matern}_{5/2}\bigl(u, u'; \ell_1, \dots, \ell_d\bigr)
        + \tau^2 \delta_{uu'},

    a Bayesian linear trend (the :class:`~sklearn.gaussian_process.kernels.DotProduct`
    term, whose weights are integrated out, so the trend's own uncertainty is in the
    predictive variance) plus an anisotropic Matérn-5/2 field and a small nugget.
    The linear part lets the model extrapolate a near-linear margin to the design point
    at :math:`\beta \approx 5` from a handful of runs; the Matérn part (twice
    differentiable paths) captures the curvature. Outputs are standardised.
    """

    def __init__(
        self,
        dimension: int,
        *,
        n_restarts: int = 2,
        restart_every: int = 4,
        reoptimise_growth: float = 1.1,
        random_state: int = 0,
    ) -> None:
        self.dimension = int(dimension)
        self.n_restarts = int(n_restarts)
        self.restart_every = int(restart_every)
        self.reoptimise_growth = float(reoptimise_growth)
        self.random_state = int(random_state)
        self.n_fits_ = 0
        self.n_optimisations_ = 0
        self.n_at_optimisation_ = 0
        self.gp_: Any = None
        self.x_: _Array = np.empty((0, self.dimension))
        self.y_: _Array = np.empty(0)

    def _initial_kernel(self) -> Any:
        from sklearn.gaussian_process.kernels import (
            ConstantKernel,
            DotProduct,
            Matern,
            WhiteKernel,
        )

        d = self.dimension
        return (
            ConstantKernel(0.1, (1e-5, 1e2)) * DotProduct(1.0, sigma_0_bounds="fixed")
            + ConstantKernel(1.0, (1e-3, 1e3))
            * Matern(length_scale=np.full(d, 2.0), length_scale_bounds=(5e-2, 1e3), nu=2.5)
            + WhiteKernel(1e-6, (1e-10, 1e-2))
        )

    def fit(self, u: _Array, g: _Array) -> GaussianProcessSurrogate:
        """Fit on the points ``u`` (standard space, ``(n, d)``) and margins ``g``."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        u = np.asarray(u, dtype=float).reshape(-1, self.dimension)
        g = np.asarray(g, dtype=float).ravel()
        finite = np.isfinite(g)
        u, g = u[finite], g[finite]
        optimise = (
            self.gp_ is None
            or len(g) >= self.reoptimise_growth * self.n_at_optimisation_
        )
        restart = self.gp_ is None or (
            optimise and self.n_optimisations_ % max(1, self.restart_every) == 0
        )
        kernel = self._initial_kernel() if self.gp_ is None else self.gp_.kernel_
        gp = GaussianProcessRegressor(
            kernel=kernel,
            alpha=1e-10,
            normalize_y=True,
            optimizer="fmin_l_bfgs_b" if optimise else None,
            n_restarts_optimizer=self.n_restarts if restart else 0,
            random_state=self.random_state + self.n_fits_,
        )
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                gp.fit(u, g)
            except (np.linalg.LinAlgError, ValueError):
                gp = GaussianProcessRegressor(
                    kernel=self._initial_kernel(),
                    alpha=1e-6,
                    normalize_y=True,
                    n_restarts_optimizer=self.n_restarts,
                    random_state=self.random_state + self.n_fits_,
                )
                gp.fit(u, g)
                optimise = True
        if optimise:
            self.n_optimisations_ += 1
            self.n_at_optimisation_ = len(g)
        self.gp_ = gp
        self.x_, self.y_ = u, g
        self.n_fits_ += 1
        self._unpack()
        return self

    def _unpack(self) -> None:
        """Read the fitted hyperparameters for :meth:`mean_and_gradient`."""
        params = self.gp_.kernel_.get_params()
        self._c_linear = float(params["k1__k1__k1__constant_value"])
        self._sigma0 = float(params["k1__k1__k2__sigma_0"])
        self._c_matern = float(params["k1__k2__k1__constant_value"])
        self._length = np.broadcast_to(
            np.asarray(params["k1__k2__k2__length_scale"], dtype=float), (self.dimension,)
        ).copy()
        self._alpha = np.asarray(self.gp_.alpha_, dtype=float).ravel()
        self._y_mean = float(np.ravel(self.gp_._y_train_mean)[0])
        self._y_std = float(np.ravel(self.gp_._y_train_std)[0])
        self._x_scaled = self.x_ / self._length

    def mean_and_gradient(self, u: _Array) -> tuple[_Array, _Array]:
        r"""Posterior mean and its gradient at ``u`` (``(n, d)``), in closed form.

        Notes
        -----
        With :math:`r = \lVert (u - x_i)/\ell \rVert` and
        :math:`m(r) = (1 + \sqrt5 r + \tfrac53 r^2) e^{-\sqrt5 r}`,
        :math:`\nabla_u m = -\tfrac53 (1 + \sqrt5 r) e^{-\sqrt5 r} (u - x_i)/\ell^2`.
        """
        u = np.atleast_2d(np.asarray(u, dtype=float))
        diff = u[:, None, :] / self._length - self._x_scaled[None, :, :]  # (n, m, d)
        r = np.sqrt(np.sum(diff * diff, axis=2))
        decay = np.exp(-math.sqrt(5.0) * r)
        matern = (1.0 + math.sqrt(5.0) * r + 5.0 / 3.0 * r * r) * decay
        k = self._c_linear * (self._sigma0**2 + u @ self.x_.T) + self._c_matern * matern
        mean = self._y_mean + self._y_std * (k @ self._alpha)
        dm = -5.0 / 3.0 * (1.0 + math.sqrt(5.0) * r) * decay * self._c_matern  # (n, m)
        grad_matern = np.einsum("nm,nmd->nd", dm * self._alpha[None, :], diff) / self._length
        grad = self._y_std * (self._c_linear * (self._alpha @ self.x_)[None, :] + grad_matern)
        return mean, grad

    def predict(self, u: _Array) -> tuple[_Array, _Array]:
        """Posterior mean and standard deviation at ``u`` (``(n, d)``), in chunks."""
        u = np.asarray(u, dtype=float).reshape(-1, self.dimension)
        mean = np.empty(len(u))
        std = np.empty(len(u))
        with threadpool_limits(limits=1):
            for start in range(0, len(u), _CHUNK):
                stop = start + _CHUNK
                m, s = self.gp_.predict(u[start:stop], return_std=True)
                mean[start:stop] = m
                std[start:stop] = s
        return mean, np.maximum(std, 1e-12 * (1.0 + np.abs(mean)))

    def predict_mean(self, u: _Array) -> _Array:
        """Posterior mean only (cheap: no triangular solve)."""
        u = np.asarray(u, dtype=float).reshape(-1, self.dimension)
        out = np.empty(len(u))
        with threadpool_limits(limits=1):
            for start in range(0, len(u), _CHUNK):
                out[start : start + _CHUNK] = self.gp_.predict(u[start : start + _CHUNK])
        return out

    def loo_q2(self) -> float:
        r"""Leave-one-out predictivity :math:`Q^2 = 1 - \sum e_i^2 / \sum (y_i - \bar y)^2`.

        Uses the closed form :math:`e_i = [K^{-1} y]_i / [K^{-1}]_{ii}` (Dubrule 1983), with
        the fitted hyperparameters kept fixed.
        """
        gp = self.gp_
        if gp is None or len(self.y_) < 3:
            return float("nan")
        with threadpool_limits(limits=1):
            inverse = linalg.cho_solve((gp.L_, True), np.eye(len(self.y_)))
        alpha = np.asarray(gp.alpha_).ravel()
        errors = alpha / np.diag(inverse)
        y_normalised = (self.y_ - gp._y_train_mean) / gp._y_train_std
        total = float(np.sum((y_normalised - y_normalised.mean()) ** 2))
        return float(1.0 - np.sum(errors**2) / total) if total > 0 else float("nan")

    def describe(self) -> str:
        """The fitted kernel, as text."""
        return "" if self.gp_ is None else str(self.gp_.kernel_)


def misclassification_probability(mean: _Array, std: _Array) -> _Array:
    r"""Probability :math:`\Phi(-|\mu|/\sigma)` that the sign of the surrogate is wrong."""
    return np.asarray(stats.norm.cdf(-np.abs(mean) / std), dtype=float)
