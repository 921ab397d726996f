r"""How the ensemble combines its members: candidates, cross-fitting and the selection rule.

Per horizon step and channel the combiner is one of these candidates:

- every **member alone** (backbones and baselines);
- the **backbone mean**: equal weights on the backbones (nothing fitted);
- the **convex combination**: weights :math:`w \ge 0`, :math:`\sum w = 1`, no intercept (the
  Super Learner's form, van der Laan et al. 2007);
- **stacked regression**: weights :math:`w \ge 0` and a free intercept (Breiman 1996).

The out-of-fold forecasts are cut into contiguous time blocks (``block_hours`` long). A
fitted combiner is *cross-fitted*: for each block it is fitted on the other blocks except
the two next to it (their forecast windows share intervals with the block's) and forecasts
the block, so every candidate's error on a block is out of sample. The combiners are fitted
by weighted least squares from per-block moment matrices, so leaving a block out costs a
subtraction; each block's rows weigh the inverse square of its members' median MAE, so one
block where every member is far off (a jam) does not set the weights of all the others.

Selection rule (fixed in advance), a model confidence set (Hansen, Lunde & Nason 2011)
built with one-sided Diebold-Mariano tests at level ``significance`` on the per-block MAE:

1. With fewer than ``min_blocks`` blocks the evidence is too thin to judge anything: the
   member with the lowest pooled out-of-fold MAE (the *best member*) is used.
2. The *set* holds the candidates not significantly worse than the candidate with the
   lowest pooled MAE.
3. If at most one member is in the set (the best member stands out, or every member is
   significantly worse than a combination), the best member is used unless a combiner has
   a lower pooled MAE *and* is significantly better than it (the combiner with the lowest
   pooled MAE among those).
4. If several members are in the set, the blocks cannot tell them apart and choosing one
   of them would be choosing noise: the combiner in the set with the lowest pooled MAE is
   used (the best member if no combiner is in the set).

So the chosen candidate is never significantly worse out of fold than the best member,
and where one member is known to be best it is used alone. Where the evidence cannot
rank the members a combination is used, because picking the winner of a noisy ranking
loses to combining (the forecast combination puzzle, Smith & Wallis 2009): on the
benchmark's data one jam in the training period made persistence the best density
member out of fold, by a margin no test could call significant, and the test period's
best member was a backbone. The blocks play the part of the loss-differential series of
the Diebold-Mariano test; their means are nearly independent when a block is much longer
than the horizon, and the variance allows for correlation between nearby blocks
(Newey-West) with the Harvey-Leybourne-Newbold small-sample correction and Student-t
reference (:func:`diebold_mariano`).

References
----------
Breiman (1996). Stacked regressions. Machine Learning 24(1), 49-64.
https://doi.org/10.1007/BF00117832

van der Laan, Polley & Hubbard (2007). Super learner. Statistical Applications in Genetics
and Molecular Biology 6(1). https://doi.org/10.2202/1544-6115.1309

Diebold & Mariano (1995). Comparing predictive accuracy. Journal of Business & Economic
Statistics 13(3), 253-263. https://doi.org/10.1080/07350015.1995.10524599

Harvey, Leybourne & Newbold (1997). Testing the equality of prediction mean squared errors.
International Journal of Forecasting 13(2), 281-291.
https://doi.org/10.1016/S0169-2070(96)00719-4

Hansen, Lunde & Nason (2011). The model confidence set. Econometrica 79(2), 453-497.
https://doi.org/10.3982/ECTA5771

Smith & Wallis (2009). A simple explanation of the forecast combination puzzle. Oxford
Bulletin of Economics and Statistics 71(3), 331-355.
https://doi.org/10.1111/j.1468-0084.2008.00541.x
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import nnls

__all__ = [
    "BACKBONE_MEAN",
    "COMBINATION",
    "COMBINERS",
    "CONVEX",
    "CombinerSelection",
    "Moments",
    "block_weights",
    "choose_candidate",
    "convex_weights",
    "diebold_mariano",
    "stacked_weights",
]

#: ``selected_`` value where the equal-weight average of the backbones is used.
BACKBONE_MEAN = -1
#: ``selected_`` value where the convex combination (weights >= 0 summing to 1) is used.
CONVEX = -2
#: ``selected_`` value where stacked regression (weights >= 0 plus an intercept) is used.
COMBINATION = -3
#: Name of each combiner by its ``selected_`` value (members alone use their index).
COMBINERS: dict[int, str] = {
    BACKBONE_MEAN: "backbone mean",
    CONVEX: "convex combination",
    COMBINATION: "stacked regression",
}


@dataclass
class Moments:
    r"""Sufficient statistics of least-squares combination, per block, step and channel.

    For the rows of block ``b`` (forecasts ``X`` (rows, M), observations ``y``):
    ``count`` :math:`n`, ``x_sum`` :math:`X^\top 1`, ``y_sum`` :math:`y^\top 1`,
    ``gram`` :math:`X^\top X` and ``cross`` :math:`X^\top y`.

    Shapes: ``count``, ``y_sum`` (B, Q, C); ``x_sum``, ``cross`` (B, Q, C, M); ``gram``
    (B, Q, C, M, M).
    """

    count: np.ndarray
    x_sum: np.ndarray
    y_sum: np.ndarray
    gram: np.ndarray
    cross: np.ndarray

    @classmethod
    def of_blocks(
        cls, member_predictions: np.ndarray, targets: np.ndarray, blocks: list[np.ndarray]
    ) -> Moments:
        """Moments of (M, S, Q, N, C) forecasts against (S, Q, N, C) targets (NaN skipped)."""
        parts = [cls._of_rows(member_predictions[:, rows], targets[rows]) for rows in blocks]
        return cls(*(np.stack(values) for values in zip(*parts, strict=True)))

    @staticmethod
    def _of_rows(
        x: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        observed = np.isfinite(y) & np.isfinite(x).all(axis=0)
        x = np.where(observed, x, 0.0).astype(np.float64)
        y = np.where(observed, y, 0.0).astype(np.float64)
        return (
            observed.sum(axis=(0, 2)).astype(np.float64),
            np.einsum("msqnc->qcm", x),
            y.sum(axis=(0, 2)),
            np.einsum("msqnc,psqnc->qcmp", x, x),
            np.einsum("msqnc,sqnc->qcm", x, y),
        )

    def total(self, blocks: np.ndarray | slice = slice(None)) -> Moments:
        """The moments of the union of ``blocks`` (default all), with a leading axis of 1."""
        return Moments(
            *(
                np.asarray(values[blocks]).sum(axis=0, keepdims=True)
                for values in (self.count, self.x_sum, self.y_sum, self.gram, self.cross)
            )
        )

    def weighted(self, weights: np.ndarray) -> Moments:
        """The moments with block ``b``'s rows weighted by ``weights[b]`` ((B, Q, C))."""
        return Moments(
            self.count * weights,
            self.x_sum * weights[..., None],
            self.y_sum * weights,
            self.gram * weights[..., None, None],
            self.cross * weights[..., None],
        )


def _cholesky_factor(gram: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a slightly regularised Gram matrix; None if it is all zero."""
    m = gram.shape[0]
    scale = float(np.trace(gram)) / m
    if not scale > 0.0:
        return None
    return np.asarray(cholesky(gram + 1e-9 * scale * np.eye(m), lower=True))


def convex_weights(gram: np.ndarray, cross: np.ndarray) -> np.ndarray:
    """Least-squares weights ``w >= 0``, ``sum(w) = 1`` from the moments ``X'X``, ``X'y``.

    With ``X'X = L L'`` the squared error is ``|L'w - L^-1 X'y|^2`` plus a constant; the
    active-set NNLS solves it with the sum constraint as a heavily weighted extra row, then
    the weights are renormalised.

    Examples
    --------
    >>> x = np.array([[1.0, 3.0], [2.0, 4.0], [0.0, 2.0]])
    >>> y = x @ [0.25, 0.75]
    >>> np.round(convex_weights(x.T @ x, x.T @ y), 6).tolist()
    [0.25, 0.75]
    """
    m = gram.shape[0]
    lower = _cholesky_factor(gram)
    if lower is None:  # every forecast is 0 (or no rows): any weights do
        return np.full(m, 1.0 / m)
    penalty = 1e4 * np.sqrt(float(np.trace(gram)) / m)
    design = np.vstack([lower.T, np.full(m, penalty)])
    rhs = np.append(solve_triangular(lower, cross, lower=True), penalty)
    weights, _ = nnls(design, rhs)
    total = weights.sum()
    return np.asarray(weights / total) if total > 0 else np.full(m, 1.0 / m)


def stacked_weights(
    count: float, x_sum: np.ndarray, y_sum: float, gram: np.ndarray, cross: np.ndarray
) -> tuple[np.ndarray, float]:
    r"""Stacked regression: weights ``w >= 0`` and a free intercept, by least squares.

    The intercept's optimum is :math:`\bar y - \bar x^\top w`; substituting it leaves
    non-negative least squares on the centred moments.

    Returns
    -------
    weights, intercept

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [2.0, 1.0], [4.0, 1.0], [0.0, 3.0]])
    >>> y = 2.0 * x[:, 0] + 1.0
    >>> w, b = stacked_weights(4, x.sum(0), y.sum(), x.T @ x, x.T @ y)
    >>> np.round(w, 6).tolist(), round(b, 6)
    ([2.0, 0.0], 1.0)
    """
    m = len(x_sum)
    if count < 1:
        return np.zeros(m), 0.0
    x_mean, y_mean = x_sum / count, y_sum / count
    centred_gram = gram - count * np.outer(x_mean, x_mean)
    centred_cross = cross - count * x_mean * y_mean
    lower = _cholesky_factor(centred_gram)
    if lower is None:  # constant forecasts: the mean of the observations
        return np.zeros(m), float(y_mean)
    weights, _ = nnls(lower.T, solve_triangular(lower, centred_cross, lower=True))
    return weights, float(y_mean - x_mean @ weights)


def diebold_mariano(differences: np.ndarray) -> float:
    r"""One-sided p-value of "mean difference >= 0" from a series of loss differences.

    The statistic is :math:`\bar d / \sqrt{\hat V / B}` with the Newey-West long-run
    variance :math:`\hat V = \hat\gamma_0 + 2 \sum_{l=1}^{L} (1 - l/(L+1))\,
    \hat\gamma_l` (Bartlett weights, bandwidth :math:`L = \lfloor 4 (B/100)^{2/9}
    \rfloor`), multiplied by the Harvey-Leybourne-Newbold factor
    :math:`\sqrt{(B + 1 - 2h + h(h - 1)/B)/B}` with :math:`h = L + 1`, and referred to
    Student's t with :math:`B - 1` degrees of freedom. A small p-value says the challenger's
    loss is lower. For independent blocks the test keeps its level (4-5 % rejections at
    5 % for 8-45 blocks, simulated); for block losses with a lag-one autocorrelation of 0.3
    it rejects about 7 % of the time.

    Parameters
    ----------
    differences
        (B,) loss of the challenger minus loss of the incumbent, per block, in time order.

    Returns
    -------
    float
        The p-value; 1 for fewer than 3 values or a mean difference >= 0 without spread,
        0 for a negative mean difference without spread.

    References
    ----------
    Newey & West (1994). Automatic lag selection in covariance matrix estimation. Review of
    Economic Studies 61(4), 631-653. https://doi.org/10.2307/2297912

    Examples
    --------
    >>> diebold_mariano(np.array([-1.0, -1.2, -0.8, -1.1, -0.9, -1.0])) < 1e-4
    True
    >>> diebold_mariano(np.array([0.1, -0.1, 0.1, -0.1])) > 0.4
    True
    """
    d = np.asarray(differences, dtype=float)
    b = len(d)
    if b < 3:
        return 1.0
    mean = float(d.mean())
    centred = d - mean
    gamma0 = float(centred @ centred) / b
    if not gamma0 > 1e-15 * max(mean * mean, 1e-300):
        return 0.0 if mean < 0 else 1.0
    lags = int(np.floor(4.0 * (b / 100.0) ** (2.0 / 9.0)))
    variance = gamma0
    for lag in range(1, lags + 1):
        weight = 1.0 - lag / (lags + 1.0)
        variance += 2.0 * weight * float(centred[lag:] @ centred[:-lag]) / b
    if not variance > 0:
        variance = gamma0
    h = lags + 1
    correction = np.sqrt(max((b + 1 - 2 * h + h * (h - 1) / b) / b, 1e-12))
    statistic = correction * mean / np.sqrt(variance / b)
    return float(stats.t.cdf(statistic, df=b - 1))


def choose_candidate(
    pooled: np.ndarray,
    per_block: np.ndarray,
    members: int,
    *,
    significance: float = 0.05,
    min_blocks: int = 8,
) -> tuple[int, np.ndarray, np.ndarray, int]:
    """The selection rule: index of the candidate to use, and the evidence.

    Parameters
    ----------
    pooled
        (K,) pooled out-of-fold MAE of each candidate; NaN for a candidate that does not
        exist (a backbone mean without backbones).
    per_block
        (K, B) out-of-fold MAE of each candidate on each block (NaN: no observation).
    members
        The first ``members`` candidates are members alone, the others combiners.
    significance, min_blocks
        See the module docstring.

    Returns
    -------
    chosen
        Index of the candidate to use.
    p_better
        (K,) one-sided Diebold-Mariano p-value of "candidate k is no better than the best
        member" (small: k is better); NaN for the best member itself.
    p_worse
        (K,) p-value of "the candidate with the lowest pooled MAE is no better than k"
        (small: k is significantly worse, out of the set); NaN for that candidate.
    blocks
        Number of blocks with observations for every candidate. Both p-value arrays are
        NaN when it is below ``min_blocks``.

    Examples
    --------
    >>> per_block = np.array([[1.0] * 8, [1.1] * 8, [0.9, 0.95] * 4])
    >>> chosen, p_better, p_worse, b = choose_candidate(per_block.mean(1), per_block, 2)
    >>> chosen, b, bool(p_better[2] < 0.05)
    (2, 8, True)
    >>> choose_candidate(per_block.mean(1), per_block, 2, min_blocks=9)[0]  # thin evidence
    0
    """
    k = len(pooled)
    p_better = np.full(k, np.nan)
    p_worse = np.full(k, np.nan)
    existing = np.isfinite(pooled)
    if not existing[:members].any():
        return 0, p_better, p_worse, 0
    incumbent = int(np.nanargmin(np.where(existing[:members], pooled[:members], np.inf)))
    complete = np.isfinite(per_block[existing]).all(axis=0)
    n_blocks = int(complete.sum())
    if n_blocks < min_blocks:
        return incumbent, p_better, p_worse, n_blocks
    best = int(np.nanargmin(np.where(existing, pooled, np.inf)))
    for candidate in np.flatnonzero(existing):
        if candidate != incumbent:
            p_better[candidate] = diebold_mariano(
                per_block[candidate, complete] - per_block[incumbent, complete]
            )
        if candidate != best:
            p_worse[candidate] = diebold_mariano(
                per_block[best, complete] - per_block[candidate, complete]
            )
    in_set = existing & (np.nan_to_num(p_worse, nan=1.0) >= significance)
    combiners = np.arange(k) >= members
    if in_set[:members].sum() >= 2:  # the members cannot be told apart: combine
        pool = in_set & combiners
        if not pool.any():
            return incumbent, p_better, p_worse, n_blocks
        return int(np.flatnonzero(pool)[np.argmin(pooled[pool])]), p_better, p_worse, n_blocks
    challengers = (
        combiners
        & existing
        & (pooled < pooled[incumbent])
        & (np.nan_to_num(p_better, nan=1.0) < significance)
    )
    if not challengers.any():
        return incumbent, p_better, p_worse, n_blocks
    chosen = int(np.flatnonzero(challengers)[np.argmin(pooled[challengers])])
    return chosen, p_better, p_worse, n_blocks


def _mae_sums(forecast: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Q, C) sums of absolute errors over the finite targets, and their counts."""
    error = np.abs(forecast - targets)
    observed = np.isfinite(error)
    return np.where(observed, error, 0.0).sum(axis=(0, 2)), observed.sum(axis=(0, 2))


def block_weights(member_sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(B, Q, C) weights of the blocks' rows in the combiners' least squares.

    Each block is weighted by the inverse square of its members' median MAE (normalised
    to mean 1 over the blocks with observations): weighted least squares for blocks whose
    error scale differs, so that one block where every member is far off (a jam) does
    not set the weights of every other block.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.nanmedian(member_sums / counts, axis=0)
        weights = 1.0 / scale**2
    weights = np.where(np.isfinite(weights) & (counts > 0), weights, 0.0)
    mean = weights.sum(axis=0) / np.maximum((weights > 0).sum(axis=0), 1)
    return np.where(mean > 0, weights / np.where(mean > 0, mean, 1.0), 0.0)


def _change(mae: float, reference: float) -> str:
    """``mae`` relative to ``reference`` in per cent (absolute when ``reference`` is 0)."""
    if reference > 0:
        return f"{100.0 * (mae / reference - 1.0):+.1f} %"
    return f"{mae:.4f} against 0"


@dataclass
class CombinerSelection:
    """Per horizon step and channel: the chosen candidate, its weights and the evidence.

    Attributes
    ----------
    weights_
        (Q, C, M) weights of the members.
    intercept_
        (Q, C) intercepts (stacked regression only; 0 otherwise).
    selected_
        (Q, C) the choice: a key of :data:`COMBINERS` or the index of a member used alone.
    candidate_mae_
        (M + 3, Q, C) pooled out-of-fold MAE of the members alone, then of the backbone
        mean, the convex combination and stacked regression (cross-fitted); NaN for a
        candidate that does not exist.
    p_values_
        (M + 3, Q, C) one-sided Diebold-Mariano p-value of "no better than the best member"
        for each candidate (NaN for the best member itself and where the evidence is thin).
    p_worse_
        (M + 3, Q, C) p-value of "the candidate with the lowest pooled MAE is no better"
        for each candidate: those at or above ``significance`` form the set of the rule.
    blocks_
        (Q, C) number of blocks the candidates were compared on.
    significance, min_blocks
        The rule's constants (see the module docstring).
    block_weighting
        Weight each block's rows by the inverse square of its members' median MAE in the
        combiners' least squares (see the module docstring).
    """

    significance: float = 0.05
    min_blocks: int = 8
    block_weighting: bool = True
    weights_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    intercept_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    selected_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    candidate_mae_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    p_values_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    p_worse_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    blocks_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))

    @staticmethod
    def combiner_weights(
        moments: Moments, backbones: int
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Weights (B', Q, C, M) and intercepts (B', Q, C) of each combiner per moment set.

        ``moments`` holds B' sets (e.g. one per left-out block); the backbone mean exists
        only with ``backbones > 0`` (the first ``backbones`` members).
        """
        sets, q, c, m = moments.x_sum.shape
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if backbones > 0:
            mean = np.zeros((sets, q, c, m))
            mean[..., :backbones] = 1.0 / backbones
            out[BACKBONE_MEAN] = (mean, np.zeros((sets, q, c)))
        convex = np.zeros((sets, q, c, m))
        stacked = np.zeros((sets, q, c, m))
        intercept = np.zeros((sets, q, c))
        for index in np.ndindex(sets, q, c):
            convex[index] = convex_weights(moments.gram[index], moments.cross[index])
            stacked[index], intercept[index] = stacked_weights(
                float(moments.count[index]),
                moments.x_sum[index],
                float(moments.y_sum[index]),
                moments.gram[index],
                moments.cross[index],
            )
        out[CONVEX] = (convex, np.zeros((sets, q, c)))
        out[COMBINATION] = (stacked, intercept)
        return out

    def fit(
        self,
        member_predictions: np.ndarray,
        targets: np.ndarray,
        blocks: list[np.ndarray],
        *,
        backbones: int = 0,
    ) -> CombinerSelection:
        """Choose, per horizon step and channel, a member alone or a combiner out of fold.

        Parameters
        ----------
        member_predictions
            (M, S, Q, N, C) out-of-fold forecasts, the backbones first.
        targets
            (S, Q, N, C) observations, NaN where missing or left out of the metric.
        blocks
            Row indices (into S) of the contiguous time blocks, in time order.
        backbones
            Number of leading members that are backbones.

        Returns
        -------
        CombinerSelection
            ``self``.
        """
        m, _, q, _, c = member_predictions.shape
        n_blocks = len(blocks)
        moments = Moments.of_blocks(member_predictions, targets, blocks)
        candidates = [*range(m), *COMBINERS]
        sums = np.full((len(candidates), n_blocks, q, c), np.nan)
        counts = np.zeros((n_blocks, q, c))
        for b, rows in enumerate(blocks):
            for i in range(m):
                sums[i, b], counts[b] = _mae_sums(member_predictions[i, rows], targets[rows])
        if self.block_weighting:
            moments = moments.weighted(block_weights(sums[:m], counts))
        if n_blocks >= 4:  # cross-fitting: each block forecast by a fit without it and its
            # neighbours (whose forecast windows overlap the block's)
            every = np.arange(n_blocks)
            left_out = Moments(
                *(
                    np.stack(
                        [
                            np.asarray(values)[np.abs(every - b) > 1].sum(axis=0)
                            for b in range(n_blocks)
                        ]
                    )
                    for values in (
                        moments.count,
                        moments.x_sum,
                        moments.y_sum,
                        moments.gram,
                        moments.cross,
                    )
                )
            )
            for code, (weights, intercept) in self.combiner_weights(left_out, backbones).items():
                row = candidates.index(code)
                for b, rows in enumerate(blocks):
                    forecast = (
                        np.einsum("msqnc,qcm->sqnc", member_predictions[:, rows], weights[b])
                        + intercept[b][None, :, None, :]
                    )
                    sums[row, b] = _mae_sums(forecast, targets[rows])[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_block = sums / counts  # (K, B, Q, C)
            pooled = sums.sum(axis=1) / counts.sum(axis=0)
        pooled = np.where(np.isfinite(sums).all(axis=1), pooled, np.nan)
        chosen = np.zeros((q, c), dtype=int)
        self.p_values_ = np.full((len(candidates), q, c), np.nan)
        self.p_worse_ = np.full((len(candidates), q, c), np.nan)
        self.blocks_ = np.zeros((q, c), dtype=int)
        for h, k in np.ndindex(q, c):
            (
                chosen[h, k],
                self.p_values_[:, h, k],
                self.p_worse_[:, h, k],
                self.blocks_[h, k],
            ) = choose_candidate(
                pooled[:, h, k],
                per_block[:, :, h, k],
                m,
                significance=self.significance,
                min_blocks=self.min_blocks,
            )
        self.candidate_mae_ = pooled
        self.selected_ = np.asarray(candidates)[chosen]
        self.weights_ = np.zeros((q, c, m))
        self.intercept_ = np.zeros((q, c))
        if (self.selected_ < 0).any():
            refit = self.combiner_weights(moments.total(), backbones)
            for code, (weights, intercept) in refit.items():
                where = self.selected_ == code
                self.weights_[where] = weights[0][where]
                self.intercept_[where] = intercept[0][where]
        for h, k in zip(*np.nonzero(self.selected_ >= 0), strict=True):
            self.weights_[h, k, self.selected_[h, k]] = 1.0
        return self

    def predict(self, member_predictions: np.ndarray) -> np.ndarray:
        """Combine (M, S, Q, N, C) forecasts into (S, Q, N, C)."""
        combined = np.einsum("msqnc,qcm->sqnc", member_predictions, self.weights_)
        return combined + self.intercept_[None, :, None, :]

    def candidate_row(self, code: int) -> int:
        """Row of :attr:`candidate_mae_` of a ``selected_`` value."""
        m = self.weights_.shape[-1]
        return code if code >= 0 else m + list(COMBINERS).index(code)

    @property
    def chosen_mae_(self) -> np.ndarray:
        """(Q, C) pooled out-of-fold MAE of the chosen candidates."""
        rows = np.vectorize(self.candidate_row, otypes=[int])(self.selected_)
        return np.take_along_axis(self.candidate_mae_, rows[None], axis=0)[0]

    def explain(self, step: int, channel: int, names: list[str]) -> str:
        """Which candidate step ``step`` (0-based) of channel ``channel`` uses, and why.

        ``names`` are the member names in order. The MAE are out of fold, in the units the
        selection was fitted in (standardised by the model).
        """
        m = len(names)
        labels = [*(f"{name} alone" for name in names), *COMBINERS.values()]
        mae = self.candidate_mae_[:, step, channel]
        best = int(np.nanargmin(np.where(np.isfinite(mae[:m]), mae[:m], np.inf)))
        row = self.candidate_row(int(self.selected_[step, channel]))
        blocks = int(self.blocks_[step, channel])
        if blocks < self.min_blocks:
            return (
                f"{labels[best]}: thin evidence, {blocks} blocks < {self.min_blocks}; "
                f"best member out of fold (MAE {mae[best]:.4f})"
            )
        # a model saved before the set was recorded is explained as chosen then
        worse = self.p_worse_[:, step, channel] if self.p_worse_.size else np.zeros(len(mae))
        in_set = [
            i for i in range(m) if np.isfinite(mae[i]) and not worse[i] < self.significance
        ]
        tied = [names[i] for i in in_set if i != best]
        if len(in_set) >= 2:
            within = (
                f"{len(tied)} other member{'s' if len(tied) != 1 else ''} "
                f"({', '.join(tied) or 'none'}) within noise of the best candidate "
                f"(p >= {self.significance:g})"
            )
            if row == best:
                return (
                    f"{labels[best]}: best member out of fold (MAE {mae[best]:.4f}), "
                    f"{within}, and every combiner significantly worse, over {blocks} blocks"
                )
            return (
                f"{labels[row]}: {_change(mae[row], mae[best])} MAE against {labels[best]} "
                f"out of fold, the best member, with {within}: the combiner with the lowest "
                f"MAE not significantly worse than the best candidate, over {blocks} blocks"
            )
        if row == best:
            combined = np.arange(m, len(labels))
            finite = combined[np.isfinite(mae[combined])]
            if not len(finite):
                return f"{labels[best]}: best member out of fold (MAE {mae[best]:.4f})"
            rival = int(finite[np.argmin(mae[finite])])
            return (
                f"{labels[best]}: best member out of fold (MAE {mae[best]:.4f}); best "
                f"combiner {labels[rival]} {_change(mae[rival], mae[best])}, p = "
                f"{self.p_values_[rival, step, channel]:.3g} over {blocks} blocks"
            )
        return (
            f"{labels[row]}: {_change(mae[row], mae[best])} MAE against {labels[best]} out of "
            f"fold, p = {self.p_values_[row, step, channel]:.3g} over {blocks} blocks"
        )
