"""The macro traffic model: a stacking ensemble of GNN backbones and baselines.

Training (``TrafficModel.fit``) follows stacked generalisation (Wolpert 1992; Breiman 1996),
as scikit-learn's ``StackingRegressor`` does, with the Super Learner's choice among
pre-declared combiners by cross-validated risk (van der Laan et al. 2007):

    1. The training period is cut into ``folds`` contiguous blocks of forecast origins.
    2. For each block, every member is fitted on the origins of the other blocks whose
       windows do not overlap the block (a purge of ``history + horizon`` steps on each side,
       so no observation of the block leaks into training) and forecasts the block: these are
       the out-of-fold (OOF) forecasts. A backbone's fold model takes as many gradient steps
       as its refit on the whole period (its epochs scaled by the ratio of origins), so the
       OOF forecasts judge backbones about as strong as the ones that will be combined. The
       fold models are then discarded.
    3. Per horizon step and channel, candidate forecasts are compared out of fold: the
       equal-weight average of the backbones (no fitted weight), the convex combination of
       the members (non-negative weights summing to 1, the Super Learner form), stacked
       regression (non-negative weights plus an intercept) and every member alone. The
       fitted combiners are cross-fitted (fitted on the other blocks, scored on the block).
       Decision rule (fixed in advance, nothing is chosen on the test period): the backbone
       average is kept unless a candidate beats it both in pooled OOF MAE *and* on at least
       half of the day-long evaluation blocks; among such candidates the one with the
       lowest pooled OOF MAE is used. The average is the default because estimated
       combination weights add estimation error that equal weights do not (the "forecast
       combination puzzle", Smith & Wallis 2009); the count of blocks keeps one outlier
       day, whose errors dominate the pooled MAE, from deciding alone.
    4. Every member is refitted on all windows of the training period; at forecast time the
       chosen candidate (refitted on all OOF rows) combines the refitted members' forecasts.

References
----------
Wolpert (1992). Stacked generalization. Neural Networks 5(2), 241-259.
https://doi.org/10.1016/S0893-6080(05)80023-1

Breiman (1996). Stacked regressions. Machine Learning 24(1), 49-64.
https://doi.org/10.1007/BF00117832

van der Laan, Polley & Hubbard (2007). Super learner. Statistical Applications in Genetics
and Molecular Biology 6(1). https://doi.org/10.2202/1544-6115.1309

Smith & Wallis (2009). A simple explanation of the forecast combination puzzle. Oxford
Bulletin of Economics and Statistics 71(3), 331-355.
https://doi.org/10.1111/j.1468-0084.2008.00541.x
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import nnls

from traffic_ai.dataset import STEPS_PER_DAY, MacroDataset
from traffic_ai.training import (
    BackboneMember,
    Member,
    Prepared,
    ProgressCallback,
    Scaler,
    TrainConfig,
    make_member,
    prepare_dataset,
)

__all__ = [
    "BACKBONE_MEAN",
    "COMBINATION",
    "COMBINERS",
    "CONVEX",
    "StackingMetaLearner",
    "TrafficModel",
    "blocked_folds",
    "choose_candidate",
    "convex_weights",
]

#: ``selected_`` value where stacked regression (NNLS weights plus an intercept) is used.
COMBINATION = -1
#: ``selected_`` value where the convex combination (weights >= 0 summing to 1) is used.
CONVEX = -2
#: ``selected_`` value where the equal-weight average of the backbones is used.
BACKBONE_MEAN = -3
#: Name of each combiner by its ``selected_`` value (members alone use their index).
COMBINERS = {
    COMBINATION: "stacked regression",
    CONVEX: "convex combination",
    BACKBONE_MEAN: "backbone mean",
}
_FITTED = {"nnls": COMBINATION, "convex": CONVEX, "mean": BACKBONE_MEAN}


def blocked_folds(origins: np.ndarray, folds: int, gap: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split sorted forecast origins into contiguous blocks with purged training sets.

    Parameters
    ----------
    origins
        Sorted forecast origins of the training period.
    folds
        Number of blocks (at least 2).
    gap
        Origins closer than ``gap`` to a block are dropped from its training set
        (``history + horizon`` removes every window that shares an interval with the block).

    Returns
    -------
    list of (train, held_out) index arrays

    Examples
    --------
    >>> [(len(a), len(b)) for a, b in blocked_folds(np.arange(100), 2, 10)]
    [(40, 50), (40, 50)]
    """
    if folds < 2:
        raise ValueError(f"The 'folds' parameter must be an int >= 2. Got {folds} instead.")
    blocks = np.array_split(origins, folds)
    splits = []
    for block in blocks:
        lo, hi = block.min(), block.max()
        keep = (origins < lo - gap) | (origins > hi + gap)
        splits.append((origins[keep], block))
    return splits


def _mae(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(Q, C) mean absolute error of (S, Q, N, C) forecasts over the finite targets."""
    return np.asarray(np.nanmean(np.abs(predictions - targets), axis=(0, 2)))


def convex_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares weights ``w >= 0``, ``sum(w) = 1`` of the columns of ``x`` for ``y``.

    With the Gram matrix ``G = L L'`` the squared error is ``|L'w - L^-1 X'y|^2`` plus a
    constant; the active-set NNLS solves it with the sum constraint as a heavily weighted
    extra row, then the weights are renormalised.

    Examples
    --------
    >>> x = np.array([[1.0, 3.0], [2.0, 4.0], [0.0, 2.0]])
    >>> np.round(convex_weights(x, x @ [0.25, 0.75]), 6).tolist()
    [0.25, 0.75]
    """
    from scipy.linalg import cholesky, solve_triangular

    m = x.shape[1]
    if len(y) == 0:
        return np.full(m, 1.0 / m)
    gram, cross = x.T @ x / len(y), x.T @ y / len(y)
    scale = float(np.trace(gram)) / m
    if not scale > 0.0:  # every forecast is 0: any weights do
        return np.full(m, 1.0 / m)
    lower = cholesky(gram + 1e-10 * scale * np.eye(m), lower=True)
    penalty = 1e4 * np.sqrt(scale)
    design = np.vstack([lower.T, np.full(m, penalty)])
    rhs = np.append(solve_triangular(lower, cross, lower=True), penalty)
    weights, _ = nnls(design, rhs)
    return np.asarray(weights / weights.sum())


def choose_candidate(pooled: np.ndarray, per_block: np.ndarray, incumbent: int) -> int:
    """The decision rule of the guard: index of the candidate to use.

    The ``incumbent`` is kept unless another candidate has a lower pooled MAE *and* a lower
    MAE on at least half of the blocks; among those, the one with the lowest pooled MAE wins.

    Parameters
    ----------
    pooled
        (K,) out-of-fold MAE of each candidate on all rows.
    per_block
        (K, B) out-of-fold MAE of each candidate on each evaluation block.
    incumbent
        Index of the default candidate.

    Examples
    --------
    >>> per_block = np.array([[1.0, 1.0, 1.0], [0.9, 0.9, 5.0], [0.5, 2.0, 2.0]])
    >>> choose_candidate(per_block.mean(axis=1), per_block, 0)  # 1: pooled; 2: 1 block of 3
    0
    >>> per_block[1, 2] = 1.1
    >>> choose_candidate(per_block.mean(axis=1), per_block, 0)
    1
    """
    wins = (per_block < per_block[incumbent]).sum(axis=1)
    challengers = (pooled < pooled[incumbent]) & (wins >= per_block.shape[1] / 2)
    if not challengers.any():
        return incumbent
    return int(np.flatnonzero(challengers)[np.argmin(pooled[challengers])])


@dataclass
class StackingMetaLearner:
    """Per horizon step and channel: weights of the members plus an intercept.

    ``weights_`` has shape (Q, C, M) and ``intercept_`` (Q, C). :meth:`fit` fits one combiner
    everywhere; :meth:`fit_guarded` chooses per horizon step and channel among the combiners
    and the members alone by their out-of-fold MAE. ``selected_`` (Q, C) holds the choice: a
    key of :data:`COMBINERS` or the index of the member used alone; ``oof_mae_`` (M + 1, Q, C)
    the out-of-fold MAE of the members and, last, of the chosen candidate (set by
    :meth:`fit_guarded`).
    """

    weights_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    intercept_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    selected_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    oof_mae_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))

    def fit(
        self,
        member_predictions: np.ndarray,
        targets: np.ndarray,
        *,
        combiner: str = "nnls",
        backbones: int | None = None,
    ) -> StackingMetaLearner:
        """Fit on (M, S, Q, N, C) member forecasts and (S, Q, N, C) targets (NaN skipped).

        Parameters
        ----------
        member_predictions, targets
            Forecasts and targets, per horizon step and channel one least-squares problem.
        combiner
            ``nnls``: non-negative weights plus a free intercept (stacked regression; on the
            rows it is fitted on never worse in squared error than its best member);
            ``convex``: non-negative weights summing to 1, no intercept; ``mean``: weight
            ``1 / backbones`` on each of the first ``backbones`` members (nothing fitted).
        backbones
            Number of leading members that are backbones (``mean`` only; default all).
        """
        if combiner not in _FITTED:
            raise ValueError(f"unknown combiner {combiner!r}, expected one of {list(_FITTED)}")
        m, _, q, _, c = member_predictions.shape
        self.weights_ = np.zeros((q, c, m))
        self.intercept_ = np.zeros((q, c))
        self.selected_ = np.full((q, c), _FITTED[combiner])
        if combiner == "mean":
            self.weights_[..., : backbones or m] = 1.0 / (backbones or m)
            return self
        for h in range(q):
            for k in range(c):
                y = targets[:, h, :, k].ravel().astype(np.float64)
                x = member_predictions[:, :, h, :, k].reshape(m, -1).T.astype(np.float64)
                rows = np.isfinite(y) & np.isfinite(x).all(axis=1)
                if combiner == "convex":
                    self.weights_[h, k] = convex_weights(x[rows], y[rows])
                    continue
                design = np.column_stack([x[rows], np.ones(rows.sum()), -np.ones(rows.sum())])
                solution, _ = nnls(design, y[rows])
                self.weights_[h, k] = solution[:m]
                self.intercept_[h, k] = solution[m] - solution[m + 1]
        return self

    def fit_guarded(
        self,
        member_predictions: np.ndarray,
        targets: np.ndarray,
        blocks: list[np.ndarray],
        *,
        backbones: int | None = None,
        evaluation_blocks: list[np.ndarray] | None = None,
    ) -> StackingMetaLearner:
        """Choose, per horizon step and channel, a combiner or a single member out of fold.

        Candidates: the backbone mean, the convex combination, stacked regression (the two
        fitted ones cross-fitted: fitted on the other ``blocks``, scored on the block) and
        every member alone. The rule is :func:`choose_candidate` with the backbone mean as
        incumbent, judged on ``evaluation_blocks``. The chosen combiner is then refitted on
        all rows; a member chosen alone gets weight 1 and no intercept.

        Parameters
        ----------
        member_predictions
            (M, S, Q, N, C) out-of-fold forecasts, the backbones first.
        targets
            (S, Q, N, C) targets, NaN where missing.
        blocks
            Disjoint row indices (into S) of the time blocks (the folds), at least two.
        backbones
            Number of leading members that are backbones (default all).
        evaluation_blocks
            Disjoint row indices on which the candidates are compared block by block
            (default ``blocks``).

        Returns
        -------
        StackingMetaLearner
            ``self``; ``oof_mae_`` holds the (M + 1, Q, C) out-of-fold MAE of the members
            and, last, of the chosen candidate.
        """
        if len(blocks) < 2:
            raise ValueError(f"cross-fitting needs at least 2 blocks, got {len(blocks)}")
        evaluation_blocks = blocks if evaluation_blocks is None else evaluation_blocks
        m = member_predictions.shape[0]
        every = np.arange(targets.shape[0])
        combined = {}
        for combiner in _FITTED:
            cross = np.full(targets.shape, np.nan)
            for block in blocks:
                others = np.setdiff1d(every, block)
                inner = StackingMetaLearner().fit(
                    member_predictions[:, others],
                    targets[others],
                    combiner=combiner,
                    backbones=backbones,
                )
                cross[block] = inner.predict(member_predictions[:, block])
            combined[combiner] = cross
        # candidate order: the combiners as in _FITTED, then the members alone
        forecasts = [*combined.values(), *member_predictions]
        codes = [*_FITTED.values(), *range(m)]
        pooled = np.stack([_mae(f, targets) for f in forecasts])  # (K, Q, C)
        per_block = np.stack(
            [
                np.stack([_mae(f[b], targets[b]) for b in evaluation_blocks], axis=-1)
                for f in forecasts
            ]
        )  # (K, Q, C, B)
        incumbent = list(_FITTED).index("mean")
        q, c = targets.shape[1], targets.shape[3]
        chosen = np.zeros((q, c), dtype=int)
        for h in range(q):
            for k in range(c):
                chosen[h, k] = choose_candidate(pooled[:, h, k], per_block[:, h, k], incumbent)
        self.selected_ = np.asarray(codes)[chosen]
        self.weights_ = np.zeros((q, c, m))
        self.intercept_ = np.zeros((q, c))
        for combiner, code in _FITTED.items():
            where = self.selected_ == code
            if where.any():
                refit = StackingMetaLearner().fit(
                    member_predictions, targets, combiner=combiner, backbones=backbones
                )
                self.weights_[where] = refit.weights_[where]
                self.intercept_[where] = refit.intercept_[where]
        for h, k in zip(*np.nonzero(self.selected_ >= 0), strict=True):
            self.weights_[h, k, self.selected_[h, k]] = 1.0
        best = np.take_along_axis(pooled, chosen[None], axis=0)[0]
        self.oof_mae_ = np.concatenate([pooled[len(_FITTED) :], best[None]])
        return self

    def predict(self, member_predictions: np.ndarray) -> np.ndarray:
        """Combine (M, S, Q, N, C) forecasts into (S, Q, N, C)."""
        combined = np.einsum("msqnc,qcm->sqnc", member_predictions, self.weights_)
        return combined + self.intercept_[None, :, None, :]


@dataclass
class TrafficModel:
    """The trained macro model: members refitted on the training period, meta-learner, scaler.

    Attributes
    ----------
    config
        The training configuration.
    segments, channels, adjacency, signature
        The graph and channels the model was trained on.
    scaler
        Standardisation of the channels.
    members
        Member name → the member fitted on all windows of the training period.
    meta
        The stacking meta-learner (fitted on the out-of-fold forecasts).
    """

    config: TrainConfig
    segments: tuple[str, ...]
    channels: tuple[str, ...]
    adjacency: np.ndarray
    signature: str
    scaler: Scaler
    members: dict[str, Member] = field(default_factory=dict)
    meta: StackingMetaLearner = field(default_factory=StackingMetaLearner)
    training_seconds: float = 0.0

    @property
    def member_names(self) -> list[str]:
        """Names of the members in stacking order."""
        return [*self.config.backbones, *self.config.baselines]

    def new_member(
        self, name: str, *, progress: ProgressCallback | None = None, label: str | None = None
    ) -> Member:
        """An untrained member for this model's graph."""
        return make_member(
            name, self.adjacency, len(self.channels), self.config, progress=progress, label=label
        )

    @classmethod
    def fit(
        cls,
        dataset: MacroDataset,
        config: TrainConfig | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> TrafficModel:
        """Train the stacking ensemble on the training period of ``dataset``.

        Parameters
        ----------
        dataset
            The macro data; the last ``config.test_share`` of its time is not used.
        config
            Training options (default :class:`~traffic_ai.training.TrainConfig`).
        progress
            Called after every epoch of every backbone fit (name, epoch, epochs, loss,
            validation MAE on the held-out block in standardised units; NaN for the refit
            on the whole training period, which has no held-out block).

        Returns
        -------
        TrafficModel
        """
        import time

        config = config or TrainConfig()
        started = time.perf_counter()
        train_period, _ = dataset.split(config.test_share)
        scaler = Scaler.fit(dataset.values[train_period])
        model = cls(
            config,
            dataset.segments,
            dataset.channels,
            dataset.adjacency,
            dataset.signature,
            scaler,
        )
        prepared = prepare_dataset(dataset, scaler, config)
        origins = dataset.window_starts(train_period, config.history, config.horizon)
        stacked = model.stacked_names
        oof, blocks = model.out_of_fold(prepared, origins, stacked, progress=progress)
        backbones = sum(name in config.backbones for name in stacked)
        days = [
            part
            for block in blocks
            for part in np.array_split(block, max(round(len(block) / STEPS_PER_DAY), 1))
        ]
        model.meta.fit_guarded(
            oof,
            prepared.window_targets(origins),
            blocks,
            backbones=backbones or None,
            evaluation_blocks=days,
        )
        del oof
        for name in model.member_names:
            member = model.new_member(name, progress=progress, label=f"{name} refit")
            model.members[name] = member.fit(prepared, origins)
        model.training_seconds = time.perf_counter() - started
        return model

    def out_of_fold(
        self,
        prepared: Prepared,
        origins: np.ndarray,
        names: list[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Out-of-fold forecasts of the members ``names`` on blocked, purged folds.

        A backbone's fold model is trained for ``config.epochs`` scaled by the ratio of all
        training origins to the fold's, so it takes about as many gradient steps as the refit.

        Returns
        -------
        forecasts
            (M, S, Q, N, C) standardised forecasts, row ``i`` for ``origins[i]``.
        blocks
            Row indices of each held-out block.
        """
        config = self.config
        splits = blocked_folds(origins, config.folds, config.history + config.horizon)
        shape = (len(names), len(origins), config.horizon, len(self.segments), len(self.channels))
        oof = np.full(shape, np.nan, dtype=np.float32)
        position = {int(o): i for i, o in enumerate(origins)}
        blocks = []
        for fold, (train, held_out) in enumerate(splits):
            # as many gradient steps as the refit on all origins takes
            epochs = max(config.epochs, round(config.epochs * len(origins) / max(len(train), 1)))
            rows = np.array([position[int(o)] for o in held_out])
            blocks.append(rows)
            for m, name in enumerate(names):
                member = self.new_member(
                    name, progress=progress, label=f"{name} fold {fold + 1}/{config.folds}"
                )
                if isinstance(member, BackboneMember):  # reports validation MAE per epoch
                    member.fit(prepared, train, held_out, epochs=epochs)
                else:
                    member.fit(prepared, train)
                oof[m, rows] = member.predict(prepared, held_out)
        return oof, blocks

    @property
    def stacked_names(self) -> list[str]:
        """Names of the members the meta-learner combines, in its order.

        Those of ``config.stacked`` that the model has; all members if it has none of them.
        """
        names = [name for name in self.member_names if name in self.config.stacked]
        return names or self.member_names

    def member_forecasts(
        self, prepared: Prepared, origins: np.ndarray, names: list[str] | None = None
    ) -> np.ndarray:
        """(M, S, Q, N, C) standardised forecasts of the members ``names`` (default all)."""
        return np.stack(
            [
                self.members[name].predict(prepared, origins)
                for name in (self.member_names if names is None else names)
            ]
        )

    def predict_all(self, dataset: MacroDataset, origins: np.ndarray) -> dict[str, np.ndarray]:
        """Physical-unit forecasts (S, Q, N, C) of every member and of the ensemble."""
        prepared = prepare_dataset(dataset, self.scaler, self.config)
        forecasts = self.member_forecasts(prepared, origins)
        names = self.member_names
        out = {name: self.scaler.inverse(f) for name, f in zip(names, forecasts, strict=True)}
        stacked = [names.index(name) for name in self.stacked_names]
        out["stacking"] = self.scaler.inverse(self.meta.predict(forecasts[stacked]))
        return out

    def predict_prepared(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """Ensemble forecasts (S, Q, N, C) in standardised units."""
        return self.meta.predict(self.member_forecasts(prepared, origins, self.stacked_names))

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Every member's tensors, keyed by member name."""
        return {name: member.state() for name, member in self.members.items()}
