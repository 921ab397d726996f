"""The macro traffic model: a stacking ensemble of GNN backbones and baselines.

Training (``TrafficModel.fit``) follows stacked generalisation (Wolpert 1992; Breiman 1996),
as scikit-learn's ``StackingRegressor`` does:

    1. The training period is cut into ``folds`` contiguous blocks of forecast origins.
    2. For each block, every member is fitted on the origins of the other blocks whose
       windows do not overlap the block (a purge of ``history + horizon`` steps on each side,
       so no observation of the block leaks into training) and forecasts the block: these are
       the out-of-fold (OOF) forecasts. The fold models are then discarded.
    3. A meta-learner — per horizon step and channel, non-negative least squares on the
       members' OOF forecasts plus an intercept — learns how to combine them. Per horizon step
       and channel a safeguard compares the combination's cross-fitted OOF MAE (meta-learner
       fitted on the other blocks) with every member's OOF MAE and falls back to the best
       single member (weight 1, no intercept) where the combination does not beat it.
    4. Every member is refitted on all windows of the training period; at forecast time the
       meta-learner combines the refitted members' forecasts.

Nothing is chosen on the test period.

References
----------
Wolpert (1992). Stacked generalization. Neural Networks 5(2), 241-259.
https://doi.org/10.1016/S0893-6080(05)80023-1

Breiman (1996). Stacked regressions. Machine Learning 24(1), 49-64.
https://doi.org/10.1007/BF00117832
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import nnls

from traffic_ai.dataset import MacroDataset
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

__all__ = ["StackingMetaLearner", "TrafficModel", "blocked_folds"]

#: ``selected_`` value of a horizon step and channel that uses the stacked combination.
COMBINATION = -1


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


@dataclass
class StackingMetaLearner:
    """Per horizon step and channel: non-negative weights of the members plus an intercept.

    ``weights_`` has shape (Q, C, M) and ``intercept_`` (Q, C); fitted by NNLS on the squared
    error, so on the data it is fitted on it is never worse than its best member (weight 1
    on that member is a feasible solution). ``selected_`` (Q, C) is :data:`COMBINATION`
    where the combination is used and the index of the member used alone elsewhere, and
    ``oof_mae_`` (M + 1, Q, C) the out-of-fold MAE of the members and of the guarded
    ensemble (both set by :meth:`fit_guarded`).
    """

    weights_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    intercept_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    selected_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=int))
    oof_mae_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))

    def fit(self, member_predictions: np.ndarray, targets: np.ndarray) -> StackingMetaLearner:
        """Fit on (M, S, Q, N, C) member forecasts and (S, Q, N, C) targets (NaN skipped)."""
        m, _, q, _, c = member_predictions.shape
        self.weights_ = np.zeros((q, c, m))
        self.intercept_ = np.zeros((q, c))
        self.selected_ = np.full((q, c), COMBINATION)
        for h in range(q):
            for k in range(c):
                y = targets[:, h, :, k].ravel().astype(np.float64)
                x = member_predictions[:, :, h, :, k].reshape(m, -1).T.astype(np.float64)
                rows = np.isfinite(y) & np.isfinite(x).all(axis=1)
                design = np.column_stack([x[rows], np.ones(rows.sum()), -np.ones(rows.sum())])
                solution, _ = nnls(design, y[rows])
                self.weights_[h, k] = solution[:m]
                self.intercept_[h, k] = solution[m] - solution[m + 1]
        return self

    def fit_guarded(
        self, member_predictions: np.ndarray, targets: np.ndarray, blocks: list[np.ndarray]
    ) -> StackingMetaLearner:
        """Fit on all rows, then fall back to the best single member where it is better.

        For each block of rows the combination is fitted on the other blocks and forecasts
        the block (cross-fitting); where, for a horizon step and channel, this cross-fitted
        MAE is not below the smallest MAE of a single member on the same rows, that member
        is used alone (weight 1, no intercept).

        Parameters
        ----------
        member_predictions
            (M, S, Q, N, C) out-of-fold forecasts.
        targets
            (S, Q, N, C) targets, NaN where missing.
        blocks
            Disjoint row indices (into S) of the time blocks, at least two.

        Returns
        -------
        StackingMetaLearner
            ``self``; ``oof_mae_`` holds the (M + 1, Q, C) out-of-fold MAE of the members
            and, last, of the guarded ensemble.
        """
        if len(blocks) < 2:
            raise ValueError(f"cross-fitting needs at least 2 blocks, got {len(blocks)}")
        cross = np.full(targets.shape, np.nan)
        every = np.arange(targets.shape[0])
        for block in blocks:
            others = np.setdiff1d(every, block)
            inner = StackingMetaLearner().fit(member_predictions[:, others], targets[others])
            cross[block] = inner.predict(member_predictions[:, block])
        self.fit(member_predictions, targets)
        members = np.stack([_mae(p, targets) for p in member_predictions])
        combination = _mae(cross, targets)
        best = members.argmin(axis=0)
        fallback = np.take_along_axis(members, best[None], axis=0)[0] <= combination
        for h, k in zip(*np.nonzero(fallback), strict=True):
            self.weights_[h, k] = 0.0
            self.weights_[h, k, best[h, k]] = 1.0
            self.intercept_[h, k] = 0.0
            self.selected_[h, k] = best[h, k]
        self.oof_mae_ = np.concatenate(
            [members, np.where(fallback, members.min(axis=0), combination)[None]]
        )
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
        model.meta.fit_guarded(oof, prepared.window_targets(origins), blocks)
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
            rows = np.array([position[int(o)] for o in held_out])
            blocks.append(rows)
            for m, name in enumerate(names):
                member = self.new_member(
                    name, progress=progress, label=f"{name} fold {fold + 1}/{config.folds}"
                )
                if isinstance(member, BackboneMember):  # reports validation MAE per epoch
                    member.fit(prepared, train, held_out)
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
