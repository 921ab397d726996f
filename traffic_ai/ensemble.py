"""The macro traffic model: GNN backbones and baselines, combined only on evidence.

Training (:meth:`TrafficModel.fit`) follows stacked generalisation (Wolpert 1992; Breiman
1996) with the Super Learner's choice among pre-declared candidates by cross-validated risk
(van der Laan et al. 2007):

1. Out-of-fold (OOF) forecasts of every member, every ``oof_stride``-th origin, each from
   fits trained as the member is deployed. The training period is cut into ``folds``
   contiguous blocks; for each, a backbone is fitted on the origins of the other blocks
   whose windows do not overlap it (a purge of ``history + horizon`` steps on each side)
   and forecasts the block; its fold fit holds out its latest ``validation_share`` of
   origins (purged too) and stops early on their MAE, keeping its best weights. A
   baseline, cheap to fit, forecasts each ``block_hours`` block from a fit on all the
   others (purged), so it is judged on nearly the data of its final refit (a history of
   a single block falls back to the ``folds`` blocks).
2. Per horizon step and channel, :class:`~traffic_ai.combiners.CombinerSelection` chooses
   among every member alone (backbones and baselines, ridge included) and three combiners,
   cross-fitted on ``block_hours``-long time blocks of the OOF forecasts: a member that
   stands out (no other member within noise of the best candidate, one-sided
   Diebold-Mariano tests at ``significance``) is kept unless a combiner is significantly
   better; where several members cannot be told apart, the combiner with the lowest OOF
   MAE not significantly worse than the best candidate is used; with fewer than
   ``min_blocks`` blocks the best member is used.
   The observations scored are those the metrics score (``null_value`` left out).
3. A backbone is deployed as its fold fits together (:class:`~traffic_ai.training.
   FoldAverage`, the mean of their forecasts): the out-of-fold forecasts that chose the
   combiner are forecasts of the deployed models, and no refit doubles the training time.
   The baselines, cheap to fit, are refitted on all windows of the training period. At
   forecast time the chosen candidate combines them.

References
----------
Wolpert (1992). Stacked generalization. Neural Networks 5(2), 241-259.
https://doi.org/10.1016/S0893-6080(05)80023-1

Breiman (1996). Stacked regressions. Machine Learning 24(1), 49-64.
https://doi.org/10.1007/BF00117832

van der Laan, Polley & Hubbard (2007). Super learner. Statistical Applications in Genetics
and Molecular Biology 6(1). https://doi.org/10.2202/1544-6115.1309

Prechelt (1998). Early stopping - but when? In Neural Networks: Tricks of the Trade,
LNCS 1524, 55-69. https://doi.org/10.1007/3-540-49430-8_3
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from traffic_ai.combiners import COMBINERS, CombinerSelection
from traffic_ai.dataset import MacroDataset
from traffic_ai.training import (
    BackboneMember,
    FoldAverage,
    Member,
    Prepared,
    ProgressCallback,
    RidgePerSegment,
    Scaler,
    TrainConfig,
    make_member,
    prepare_dataset,
)

if TYPE_CHECKING:
    from safety_val.execution.base import Executor

__all__ = ["TrafficModel", "blocked_folds", "time_blocks"]


#: CPU time of a backbone's epoch relative to STGCN's (6 x 6 grid, 120 segments, one thread:
#: 1.6, 3.8, 3.2 and 5.8 s per 256 windows), to start the costliest fold fits first.
RELATIVE_COST = {"stgcn": 1.0, "dcrnn": 2.4, "graph_wavenet": 2.0, "agcrn": 3.6}


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
    list of (train, held_out) origin arrays

    Raises
    ------
    ValueError
        ``folds < 2``.

    Examples
    --------
    >>> [(len(a), len(b)) for a, b in blocked_folds(np.arange(100), 2, 10)]
    [(40, 50), (40, 50)]
    """
    if folds < 2:
        raise ValueError(f"The 'folds' parameter must be an int >= 2. Got {folds} instead.")
    splits = []
    for block in np.array_split(origins, folds):
        lo, hi = block.min(), block.max()
        keep = (origins < lo - gap) | (origins > hi + gap)
        splits.append((origins[keep], block))
    return splits


def time_blocks(origins: np.ndarray, steps: int) -> list[np.ndarray]:
    """Row indices of ``origins`` grouped into consecutive time blocks of ``steps`` intervals.

    A last block shorter than half of ``steps`` joins the one before it.

    Examples
    --------
    >>> [b.tolist() for b in time_blocks(np.array([0, 3, 6, 9, 12, 15, 18]), 6)]
    [[0, 1], [2, 3], [4, 5, 6]]
    """
    if not len(origins):
        return []
    labels = (origins - origins[0]) // max(steps, 1)
    edges = np.flatnonzero(np.diff(labels)) + 1
    blocks = np.split(np.arange(len(origins)), edges)
    if len(blocks) > 1 and origins[blocks[-1][-1]] - origins[blocks[-1][0]] < steps / 2 - 1:
        blocks = [*blocks[:-2], np.concatenate(blocks[-2:])]
    return blocks


def _validation_split(
    origins: np.ndarray, share: float, gap: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The latest ``share`` of contiguous runs of origins for validation, purged by ``gap``."""
    if share <= 0 or len(origins) < 4:
        return origins, None
    cut = origins[round(len(origins) * (1.0 - share))]
    validation = origins[origins >= cut]
    train = origins[origins < cut - gap]
    if not len(train) or not len(validation):
        return origins, None
    return train, validation


def _baseline_splits(
    origins: np.ndarray, scored: np.ndarray, config: TrainConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training origins, rows of ``scored``) of the baselines' out-of-fold fits.

    Each ``block_hours`` block of the scored origins is forecast from the origins farther
    than ``history + horizon`` from it. A history too short for two blocks, each with
    training origins left, falls back to the backbones' ``folds`` blocked folds.
    """
    gap = config.history + config.horizon
    splits = []
    for block in time_blocks(scored, round(config.block_hours * 12)):
        lo, hi = scored[block].min(), scored[block].max()
        splits.append((origins[(origins < lo - gap) | (origins > hi + gap)], block))
    if len(splits) >= 2 and all(len(train) for train, _ in splits):
        return splits
    position = {int(o): i for i, o in enumerate(scored)}
    return [
        (train, np.array([position[int(o)] for o in held if int(o) in position], dtype=int))
        for train, held in blocked_folds(origins, config.folds, gap)
    ]


@dataclass(frozen=True)
class FitTask:
    """One member fitted on one fold: everything a worker process needs (picklable)."""

    name: str
    fold: int
    config: TrainConfig
    adjacency: np.ndarray
    n_channels: int
    prepared: Prepared
    train: np.ndarray
    validation: np.ndarray | None
    forecast: np.ndarray
    threads: int | None = None


@dataclass
class FitResult:
    """What :func:`fit_member` sends back: out-of-fold forecasts, weights and a log."""

    forecasts: np.ndarray
    state: dict[str, torch.Tensor]
    seconds: float
    cpu_seconds: float
    best_epoch: int | None = None
    epochs_run: int | None = None
    loss: float = float("nan")
    validation_mae: float = float("nan")


def fit_member(task: FitTask, progress: ProgressCallback | None = None) -> FitResult:
    """Fit ``task.name`` on ``task.train`` and forecast ``task.forecast`` (out of fold).

    A backbone is trained on the fold's origins before its validation block and stops
    early on the validation MAE; a baseline is fitted on every training origin of the fold.
    ``task.threads`` sets torch's threads (1 in worker processes: the fits run in parallel
    and small tensors gain nothing from intra-op threads).
    """
    if task.threads is not None:
        torch.set_num_threads(task.threads)
    begun, cpu = time.perf_counter(), time.process_time()
    config = task.config
    if task.name in config.backbones:
        label = f"{task.name} fold {task.fold + 1}/{config.folds}"
        backbone = BackboneMember(
            task.name, task.adjacency, task.n_channels, config, progress=progress, label=label
        )
        backbone.fit(task.prepared, task.train, task.validation)
        forecasts = backbone.predict(task.prepared, task.forecast)
        validation = backbone.validation_mae_
        return FitResult(
            forecasts,
            backbone.state(),
            time.perf_counter() - begun,
            time.process_time() - cpu,
            backbone.best_epoch_,
            len(backbone.losses_),
            backbone.losses_[-1] if backbone.losses_ else float("nan"),
            min(validation) if validation else float("nan"),
        )
    member = make_member(task.name, task.adjacency, task.n_channels, config)
    member.fit(task.prepared, task.train)
    forecasts = member.predict(task.prepared, task.forecast)
    return FitResult(forecasts, {}, time.perf_counter() - begun, time.process_time() - cpu)


@dataclass
class TrafficModel:
    """The trained macro model: members refitted on the training period, combiner, scaler.

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
        The combiner chosen out of fold (:class:`~traffic_ai.combiners.CombinerSelection`).
    training_seconds
        Wall time of :meth:`fit`.
    training_log
        Member name → how it was trained: ``best_epochs`` and ``epochs_run`` of each fold
        fit (backbones), ``seconds`` and ``cpu_seconds`` of all its fits together (CPU time
        of the process that ran each fit, a worker's included).
    worker_cpu_seconds
        CPU seconds spent by executor workers in :meth:`fit` (not saved): with the CPU time
        of the calling process, what the training cost.
    """

    config: TrainConfig
    segments: tuple[str, ...]
    channels: tuple[str, ...]
    adjacency: np.ndarray
    signature: str
    scaler: Scaler
    members: dict[str, Member] = field(default_factory=dict)
    meta: CombinerSelection = field(default_factory=CombinerSelection)
    training_seconds: float = 0.0
    training_log: dict[str, dict[str, Any]] = field(default_factory=dict)
    worker_cpu_seconds: float = 0.0

    @property
    def member_names(self) -> list[str]:
        """Names of the members in the combiner's order (backbones first)."""
        return list(self.config.members)

    def new_member(
        self, name: str, *, progress: ProgressCallback | None = None, label: str | None = None
    ) -> Member:
        """An untrained member for this model's graph, as it is deployed.

        A backbone is a :class:`~traffic_ai.training.FoldAverage` of ``config.folds`` fits.
        """
        if name in self.config.backbones:
            return FoldAverage(
                name, [self._fold_fit(name, progress, label) for _ in range(self.config.folds)]
            )
        return make_member(name, self.adjacency, len(self.channels), self.config)

    def _fold_fit(
        self, name: str, progress: ProgressCallback | None, label: str | None
    ) -> BackboneMember:
        return BackboneMember(
            name, self.adjacency, len(self.channels), self.config, progress=progress, label=label
        )

    @classmethod
    def fit(
        cls,
        dataset: MacroDataset,
        config: TrainConfig | None = None,
        *,
        progress: ProgressCallback | None = None,
        executor: Executor | None = None,
    ) -> TrafficModel:
        """Train the ensemble on the training period of ``dataset``.

        Parameters
        ----------
        dataset
            The macro data; the last ``config.test_share`` of its time is not used.
        config
            Training options (default :class:`~traffic_ai.training.TrainConfig`).
        progress
            Called after every epoch of every backbone fit (label, epoch, epochs, loss,
            validation MAE in standardised units); with an ``executor``, once per fit.
        executor
            Runs the fold fits of the members in parallel (anything with ``map``, e.g.
            ``safety_val.execution.make_executor("process", n_workers=2)``); ``None``: one
            after another here. The result does not depend on it.

        Returns
        -------
        TrafficModel

        Raises
        ------
        ValidationError
            A training period too short for one forecast window per fold.
        """
        from safety_val.errors import ValidationError

        config = config or TrainConfig()
        started = time.perf_counter()
        train_period, _ = dataset.split(config.test_share)
        origins = dataset.window_starts(train_period, config.history, config.horizon)
        gap = config.history + config.horizon
        if len(origins) < config.folds * (2 * gap + 1):
            raise ValidationError(
                "training period too short",
                field="data",
                value=f"{len(origins)} forecast origins",
                expected=f"at least {config.folds * (2 * gap + 1)} ({config.folds} folds of "
                f"{2 * gap + 1})",
            )
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
        oof, rows, fold_fits = model.out_of_fold(
            prepared, origins, progress=progress, executor=executor
        )
        scored = origins[rows]
        targets = prepared.window_targets(scored).astype(np.float64)
        if config.null_value is not None:
            physical = dataset.values[scored[:, None] + np.arange(config.horizon)]
            targets[physical == config.null_value] = np.nan
        model.meta = CombinerSelection(
            significance=config.significance, min_blocks=config.min_blocks
        ).fit(
            oof,
            targets,
            time_blocks(scored, round(config.block_hours * 12)),
            backbones=len(config.backbones),
        )
        del oof
        for name in model.member_names:
            if name in fold_fits:
                model.members[name] = FoldAverage(name, fold_fits[name])
                continue
            begun, cpu = time.perf_counter(), time.process_time()
            model.members[name] = model.new_member(name).fit(prepared, origins)
            model.training_log[name]["seconds"] += time.perf_counter() - begun
            model.training_log[name]["cpu_seconds"] += time.process_time() - cpu
        model.training_seconds = time.perf_counter() - started
        return model

    def out_of_fold(
        self,
        prepared: Prepared,
        origins: np.ndarray,
        *,
        progress: ProgressCallback | None = None,
        executor: Executor | None = None,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, list[BackboneMember]]]:
        """Out-of-fold forecasts of every member, each from fits trained as it is deployed.

        A backbone is deployed as its ``config.folds`` fold fits, so its out-of-fold
        forecasts are theirs (blocked, purged folds). A baseline is deployed refitted on the
        whole training period; its out-of-fold forecasts come from fits on all but one
        ``block_hours`` block (and the origins within ``history + horizon`` of it), so they
        judge it on nearly as much data as the refit has: a 2-fold fit of the historical
        average, on half of a short history, would understate it.

        Parameters
        ----------
        prepared, origins
            Model inputs and the training period's forecast origins.
        progress
            Per-epoch callback when the fits run here; with an ``executor``, called once per
            fold fit as it comes back (its best epoch, epochs run, last loss, best
            validation MAE).
        executor
            Runs the (fold, member) fits, e.g. a process pool (each worker with one torch
            thread); ``None`` runs them one after another in this process.

        Returns
        -------
        forecasts
            (M, S, Q, N, C) float32 standardised forecasts of the members in
            :attr:`member_names` order, one row per scored origin.
        rows
            (S,) indices into ``origins`` of the scored origins (every ``oof_stride``-th).
        fold_fits
            Backbone name → its fold fits, in fold order (fold ``k``'s fit forecast block
            ``k``).
        """
        config = self.config
        rows = np.arange(0, len(origins), config.oof_stride)
        position = {int(o): i for i, o in enumerate(origins[rows])}
        names = self.member_names
        gap = config.history + config.horizon
        shape = (len(names), len(rows), config.horizon, len(self.segments), len(self.channels))
        oof = np.full(shape, np.nan, dtype=np.float32)
        for name in names:
            if name not in config.backbones:
                begun, cpu = time.perf_counter(), time.process_time()
                oof[names.index(name)] = self._baseline_out_of_fold(name, prepared, origins, rows)
                log = self.training_log.setdefault(name, {"seconds": 0.0, "cpu_seconds": 0.0})
                log["seconds"] += time.perf_counter() - begun
                log["cpu_seconds"] += time.process_time() - cpu
        tasks, where = [], []
        for fold, (train, held_out) in enumerate(blocked_folds(origins, config.folds, gap)):
            forecast = np.array([o for o in held_out if int(o) in position], dtype=int)
            fit_origins, validation = _validation_split(train, config.validation_share, gap)
            for name in config.backbones:
                tasks.append(
                    FitTask(
                        name,
                        fold,
                        config,
                        self.adjacency,
                        len(self.channels),
                        prepared,
                        fit_origins,
                        validation,
                        forecast,
                        threads=None if executor is None else 1,
                    )
                )
                where.append(np.array([position[int(o)] for o in forecast], dtype=int))
        # the costliest fits first (longest-processing-time order): the workers finish
        # together instead of one waiting on the last large fit; folds stay in order
        order = sorted(range(len(tasks)), key=lambda i: -RELATIVE_COST.get(tasks[i].name, 0))
        tasks, where = [tasks[i] for i in order], [where[i] for i in order]
        results: Iterator[FitResult]
        if executor is None:
            results = (fit_member(task, progress) for task in tasks)
        else:
            results = executor.map(fit_member, tasks)
        fold_fits: dict[str, list[BackboneMember]] = {}
        for task, rows_of_task, result in zip(tasks, where, results, strict=True):
            m = names.index(task.name)
            if len(rows_of_task):
                oof[m, rows_of_task] = result.forecasts
            log = self.training_log.setdefault(task.name, {"seconds": 0.0, "cpu_seconds": 0.0})
            log["seconds"] += result.seconds
            log["cpu_seconds"] += result.cpu_seconds
            if executor is not None:
                self.worker_cpu_seconds += result.cpu_seconds
            best, run = result.best_epoch or 0, result.epochs_run or 0
            backbone = self._fold_fit(task.name, progress, None)
            backbone.load_state(result.state)
            backbone.best_epoch_ = best
            fold_fits.setdefault(task.name, []).append(backbone)
            log.setdefault("best_epochs", []).append(best)
            log.setdefault("epochs_run", []).append(run)
            if executor is not None and progress is not None:
                progress(
                    f"{task.name} fold {task.fold + 1}/{config.folds} (best epoch)",
                    best,
                    run,
                    result.loss,
                    result.validation_mae,
                )
        return oof, rows, fold_fits

    def _baseline_out_of_fold(
        self, name: str, prepared: Prepared, origins: np.ndarray, rows: np.ndarray
    ) -> np.ndarray:
        """(S, Q, N, C) out-of-fold forecasts of a baseline at ``origins[rows]``.

        One fit per split of :func:`_baseline_splits`; the ridge regressions are fitted
        from their sufficient statistics over all origins less those of the origins a
        split leaves out (:class:`~traffic_ai.training.RidgeMoments`), so that a split
        costs what its left-out windows cost.
        """
        config = self.config
        scored = origins[rows]
        shape = (len(rows), config.horizon, len(self.segments), len(self.channels))
        out = np.full(shape, np.nan, dtype=np.float32)
        member = self.new_member(name)
        ridge = member if isinstance(member, RidgePerSegment) else None
        total = None if ridge is None else ridge.moments(prepared, origins)
        for train, block in _baseline_splits(origins, scored, config):
            if ridge is not None and total is not None:
                left_out = np.setdiff1d(origins, train, assume_unique=True)
                ridge.fit_moments(total - ridge.moments(prepared, left_out))
            else:
                member.fit(prepared, train)
            out[block] = member.predict(prepared, scored[block])
        return out

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
        out["stacking"] = self.scaler.inverse(self.meta.predict(forecasts))
        return out

    def predict_prepared(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """Ensemble forecasts (S, Q, N, C) in standardised units.

        Members whose weight is zero at every step and channel are not run.
        """
        used = np.flatnonzero(np.abs(self.meta.weights_).sum(axis=(0, 1)) > 0)
        names = self.member_names
        forecasts = np.zeros(
            (len(names), len(origins), self.config.horizon, len(self.segments), len(self.channels)),
            dtype=np.float32,
        )
        for m in used:
            forecasts[m] = self.members[names[m]].predict(prepared, origins)
        return self.meta.predict(forecasts)

    def combiner_table(self) -> list[dict[str, Any]]:
        """Per channel and reported horizon: the combiner used and why (for the CLI).

        Returns
        -------
        list of dict
            ``channel``, ``horizon``, ``combiner`` and ``reason``, the MAE in it out of fold
            and in standardised units.
        """
        from traffic_ai.metrics import HORIZON_STEPS

        names = self.member_names
        rows = []
        for k, channel in enumerate(self.channels):
            for label, step in HORIZON_STEPS.items():
                if step > self.config.horizon:
                    continue
                code = int(self.meta.selected_[step - 1, k])
                rows.append(
                    {
                        "channel": channel,
                        "horizon": label,
                        "combiner": COMBINERS[code] if code < 0 else f"{names[code]} alone",
                        "reason": self.meta.explain(step - 1, k, names).split(": ", 1)[1],
                    }
                )
        return rows

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        """Every member's tensors, keyed by member name."""
        return {name: member.state() for name, member in self.members.items()}
