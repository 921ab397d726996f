"""The macro traffic model: a stacking ensemble of GNN backbones and baselines.

Training (``TrafficModel.fit``)
    1. The training period is cut into ``folds`` contiguous blocks of forecast origins.
    2. For each block, every member is fitted on the origins of the other blocks whose
       windows do not overlap the block (a purge of ``history + horizon`` steps on each side,
       so no observation of the block leaks into training) and forecasts the block: these are
       the out-of-fold (OOF) forecasts.
    3. A meta-learner — per horizon step and channel, non-negative least squares on the
       members' OOF forecasts plus an intercept — learns how to combine them.
    4. At forecast time each member's forecast is the mean of its fold models, and the
       meta-learner combines them.

References
----------
Wolpert (1992). Stacked generalization. Neural Networks 5(2), 241-259.
https://doi.org/10.1016/S0893-6080(05)80023-1
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


@dataclass
class StackingMetaLearner:
    """Per horizon step and channel: non-negative weights of the members plus an intercept.

    ``weights_`` has shape (Q, C, M) and ``intercept_`` (Q, C); fitted by NNLS on the squared
    error, so on the data it is fitted on it is never worse than its best member (weight 1
    on that member is a feasible solution).
    """

    weights_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0)))
    intercept_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def fit(self, member_predictions: np.ndarray, targets: np.ndarray) -> StackingMetaLearner:
        """Fit on (M, S, Q, N, C) member forecasts and (S, Q, N, C) targets (NaN skipped)."""
        m, _, q, _, c = member_predictions.shape
        self.weights_ = np.zeros((q, c, m))
        self.intercept_ = np.zeros((q, c))
        for h in range(q):
            for k in range(c):
                y = targets[:, h, :, k].ravel()
                x = member_predictions[:, :, h, :, k].reshape(m, -1).T
                rows = np.isfinite(y) & np.isfinite(x).all(axis=1)
                design = np.column_stack([x[rows], np.ones(rows.sum()), -np.ones(rows.sum())])
                solution, _ = nnls(design, y[rows])
                self.weights_[h, k] = solution[:m]
                self.intercept_[h, k] = solution[m] - solution[m + 1]
        return self

    def predict(self, member_predictions: np.ndarray) -> np.ndarray:
        """Combine (M, S, Q, N, C) forecasts into (S, Q, N, C)."""
        combined = np.einsum("msqnc,qcm->sqnc", member_predictions, self.weights_)
        return combined + self.intercept_[None, :, None, :]


@dataclass
class TrafficModel:
    """The trained macro model: fold models of each member, meta-learner, scaler, graph.

    Attributes
    ----------
    config
        The training configuration.
    segments, channels, adjacency, signature
        The graph and channels the model was trained on.
    scaler
        Standardisation of the channels.
    members
        Member name → its fold models.
    meta
        The stacking meta-learner.
    """

    config: TrainConfig
    segments: tuple[str, ...]
    channels: tuple[str, ...]
    adjacency: np.ndarray
    signature: str
    scaler: Scaler
    members: dict[str, list[Member]] = field(default_factory=dict)
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
            Called after every epoch of every backbone fold (name, epoch, epochs, loss,
            validation MAE on the held-out block, standardised units).

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
        splits = blocked_folds(origins, config.folds, config.history + config.horizon)
        names = model.member_names
        oof = np.full(
            (
                len(names),
                len(origins),
                config.horizon,
                len(dataset.segments),
                len(dataset.channels),
            ),
            np.nan,
            dtype=np.float32,
        )
        position = {int(o): i for i, o in enumerate(origins)}
        for fold, (train, held_out) in enumerate(splits):
            rows = np.array([position[int(o)] for o in held_out])
            for m, name in enumerate(names):
                member = model.new_member(
                    name, progress=progress, label=f"{name} fold {fold + 1}/{config.folds}"
                )
                if isinstance(member, BackboneMember):  # reports validation MAE per epoch
                    member.fit(prepared, train, held_out)
                else:
                    member.fit(prepared, train)
                oof[m, rows] = member.predict(prepared, held_out)
                model.members.setdefault(name, []).append(member)
        stacked = [names.index(name) for name in model.stacked_names]
        model.meta.fit(oof[stacked], prepared.window_targets(origins))
        model.training_seconds = time.perf_counter() - started
        return model

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
        """(M, S, Q, N, C) standardised forecasts, each the mean over the member's folds."""
        return np.stack(
            [
                np.mean([m.predict(prepared, origins) for m in self.members[name]], axis=0)
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
        """Every fold model's tensors, keyed ``"<member>/<fold>"``."""
        return {
            f"{name}/{k}": member.state()
            for name, folds in self.members.items()
            for k, member in enumerate(folds)
        }
