"""Model inputs and the members of the ensemble: baselines and trained GNN backbones.

Every member works on standardised values and speaks the same two calls,
``fit(prepared, origins)`` and ``predict(prepared, origins) -> (S, Q, N, C)``, where an
*origin* ``t`` is a forecast made at the start of interval ``t`` from the ``history``
intervals before it for the ``horizon`` intervals from ``t`` on. Members save their learned
state as a dict of tensors (``state()`` / ``load_state()``), never as pickles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from safety_val._validation import Interval, OneOf, check_options, check_value
from traffic_ai.dataset import STEPS_PER_DAY, STEPS_PER_WEEK, MacroDataset, time_features

__all__ = [
    "MEMBERS",
    "BackboneMember",
    "FoldAverage",
    "HistoricalAverage",
    "LastValue",
    "Member",
    "Prepared",
    "RidgeMoments",
    "RidgePerSegment",
    "Scaler",
    "TrainConfig",
    "masked_l1",
    "prepare",
]

#: Called after each epoch with (member name, epoch, epochs, training loss, validation MAE).
ProgressCallback = Callable[[str, int, int, float, float], None]


@dataclass(frozen=True)
class TrainConfig:
    """Configuration of training (stored with a saved model).

    Attributes
    ----------
    history, horizon
        Input and output lengths in 5-minute steps.
    backbones
        Names from :data:`traffic_ai.models.BACKBONES`.
    baselines
        Names from :data:`MEMBERS`. Backbones and baselines together are the members; every
        member is a candidate of the combiner (:mod:`traffic_ai.ensemble`).
    hidden
        Hidden size of the backbones.
    epochs
        Most epochs of a backbone fit. A fold fit stops early when the MAE on its
        validation origins has not improved for ``patience`` epochs and keeps its best
        weights; the refit on the whole training period runs as many epochs as the folds'
        best epochs on average.
    patience
        Epochs without a better validation MAE before a fold fit stops.
    batch_size, learning_rate, weight_decay
        Adam (decoupled weight decay, AdamW) on the masked MAE; the learning rate decays on
        a cosine from ``learning_rate`` to 0 over ``epochs`` (the same schedule in every
        fit, so that a refit stopped at epoch ``e`` followed the fold fits' trajectory).
    folds
        Blocked time folds that give the out-of-fold forecasts the combiner is chosen on.
    validation_share
        Share of a fold's training origins, the latest ones, held out for early stopping.
    origin_stride, epoch_windows
        An epoch visits a random ``1 / origin_stride`` of the training origins (a new draw
        each epoch), but at least ``epoch_windows`` of them (all when there are fewer): a
        short history still gets enough gradient steps, a long one does not cost more per
        epoch than it needs.
    oof_stride
        Out-of-fold forecasts are made at every ``oof_stride``-th origin (origins 5 minutes
        apart carry nearly the same information; 3 = every quarter hour).
    block_hours
        Length of the time blocks the combiner is cross-fitted and judged on.
    min_blocks
        Fewest blocks for a combination to be judged at all; with fewer (a short history)
        the best single member is used.
    significance
        Level of the one-sided Diebold-Mariano tests over the blocks: a candidate with a
        p-value below it against the best candidate is significantly worse; a combination
        replaces a member that stands out only if it is significantly better (see
        :mod:`traffic_ai.combiners`).
    null_value
        Observations equal to it are left out of the metrics and of the choice of the
        combiner (0: as METR-LA's missing speeds, and as :func:`~traffic_ai.evaluation.
        evaluate_model` reports); ``None`` keeps every finite value.
    test_share
        Share of the time at the end held out for evaluation.
    seed
        Seed of weights and batch order.
    device
        ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Raises
    ------
    ValidationError
        An option out of its range or an unknown member name.
    """

    history: int = 12
    horizon: int = 12
    backbones: tuple[str, ...] = ("stgcn", "dcrnn", "graph_wavenet", "agcrn")
    baselines: tuple[str, ...] = ("historical_average", "last_value", "ridge")
    hidden: int = 16
    epochs: int = 12
    patience: int = 3
    batch_size: int = 16
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    folds: int = 2
    validation_share: float = 0.15
    origin_stride: int = 4
    epoch_windows: int = 256
    oof_stride: int = 3
    block_hours: float = 6.0
    min_blocks: int = 8
    significance: float = 0.05
    null_value: float | None = 0.0
    test_share: float = 0.2
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        from traffic_ai.models import BACKBONES

        options = self.to_dict()
        backbones, baselines = options.pop("backbones"), options.pop("baselines")
        check_options(_CONFIG_CONSTRAINTS, **options)
        for name in backbones:
            check_value(name, [OneOf(*BACKBONES)], field="backbones")
        for name in baselines:
            check_value(name, [OneOf(*MEMBERS)], field="baselines")
        if not [*backbones, *baselines]:
            check_value([], [OneOf(*BACKBONES, *MEMBERS)], field="backbones")
        check_value(
            self.history,
            [Interval(int, 1 + 4 * 2 if "stgcn" in backbones else 1, None)],
            field="history",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        for key in ("backbones", "baselines"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    @property
    def members(self) -> tuple[str, ...]:
        """Every member: the backbones, then the baselines."""
        return (*self.backbones, *self.baselines)

    def torch_device(self) -> torch.device:
        """The device to train on."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


def _constraints() -> dict[str, list[Any]]:
    positive_int = [Interval(int, 1, None)]
    return {
        "history": positive_int,
        "horizon": positive_int,
        "hidden": [Interval(int, 2, None)],
        "epochs": positive_int,
        "patience": positive_int,
        "batch_size": positive_int,
        "learning_rate": [Interval(float, 0, None, closed="neither")],
        "weight_decay": [Interval(float, 0, None)],
        "folds": [Interval(int, 2, None)],
        "validation_share": [Interval(float, 0, 0.5, closed="left")],
        "origin_stride": positive_int,
        "epoch_windows": positive_int,
        "oof_stride": positive_int,
        "block_hours": [Interval(float, 0, None, closed="neither")],
        "min_blocks": [Interval(int, 2, None)],
        "significance": [Interval(float, 0, 1, closed="neither")],
        "null_value": [None, float],
        "test_share": [Interval(float, 0, 1, closed="neither")],
        "seed": [int],
        "device": [OneOf("auto", "cpu", "cuda")],
    }


_CONFIG_CONSTRAINTS = _constraints()


@dataclass(frozen=True)
class Scaler:
    """Per-channel standardisation ``z = (x - mean) / std``."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        """Fit on (T, N, C) values, ignoring NaN."""
        mean = np.nanmean(values, axis=(0, 1))
        std = np.nanstd(values, axis=(0, 1))
        return cls(np.nan_to_num(mean), np.where(np.nan_to_num(std) > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Standardise."""
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Back to physical units."""
        return values * self.std + self.mean


def time_of_week(times: pd.DatetimeIndex) -> np.ndarray:
    """Index of the 5-minute slot in the week (Monday 00:00 = 0)."""
    minutes = np.asarray(times.hour) * 60 + np.asarray(times.minute)
    return np.asarray(times.day_of_week) * STEPS_PER_DAY + minutes // 5


@dataclass
class Prepared:
    """Arrays the members read.

    Attributes
    ----------
    inputs
        (T, N, F) float32: standardised channels (missing → 0, the mean) and the calendar
        features of :func:`traffic_ai.dataset.time_features`.
    targets
        (T, N, C) float32 standardised channels, ``NaN`` where missing.
    slots
        (T,) time-of-week slot of each interval.
    history, horizon
        Window lengths.
    """

    inputs: np.ndarray
    targets: np.ndarray
    slots: np.ndarray
    history: int
    horizon: int
    _input_offsets: np.ndarray = field(init=False, repr=False)
    _target_offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._input_offsets = np.arange(-self.history, 0)
        self._target_offsets = np.arange(self.horizon)

    def window_inputs(self, origins: np.ndarray) -> np.ndarray:
        """(S, P, N, F) inputs of the forecasts made at ``origins``."""
        return self.inputs[origins[:, None] + self._input_offsets]

    def window_targets(self, origins: np.ndarray) -> np.ndarray:
        """(S, Q, N, C) standardised targets (``NaN`` where missing)."""
        return self.targets[origins[:, None] + self._target_offsets]

    def window_slots(self, origins: np.ndarray) -> np.ndarray:
        """(S, Q) time-of-week slots of the targets."""
        return self.slots[origins[:, None] + self._target_offsets]


def prepare(
    values: np.ndarray, times: pd.DatetimeIndex, scaler: Scaler, history: int, horizon: int
) -> Prepared:
    """Standardise (T, N, C) values and add calendar features."""
    scaled = scaler.transform(values).astype(np.float32)
    calendar = np.broadcast_to(
        time_features(times)[:, None, :], (len(times), values.shape[1], 3)
    ).astype(np.float32)
    inputs = np.concatenate([np.nan_to_num(scaled, nan=0.0), calendar], axis=-1)
    return Prepared(inputs, scaled, time_of_week(times), history, horizon)


def prepare_dataset(dataset: MacroDataset, scaler: Scaler, config: TrainConfig) -> Prepared:
    """:func:`prepare` for a :class:`~traffic_ai.dataset.MacroDataset`."""
    return prepare(dataset.values, dataset.times, scaler, config.history, config.horizon)


def masked_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the finite entries of ``target``."""
    mask = torch.isfinite(target)
    if not bool(mask.any()):
        return prediction.sum() * 0.0
    return (prediction[mask] - target[mask]).abs().mean()


class Member(Protocol):
    """What the ensemble needs from a member."""

    name: str

    def fit(self, prepared: Prepared, origins: np.ndarray) -> Member:
        """Learn from the windows at ``origins``."""
        ...

    def predict(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """(S, Q, N, C) standardised forecasts."""
        ...

    def state(self) -> dict[str, torch.Tensor]:
        """Learned state as tensors."""
        ...

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state`."""
        ...


class LastValue:
    """Persistence: every future step equals the last observed value."""

    name = "last_value"

    def __init__(self, n_channels: int):
        self.n_channels = n_channels

    def fit(self, prepared: Prepared, origins: np.ndarray) -> LastValue:
        """Nothing to learn."""
        return self

    def predict(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """Repeat the last input value (0, the mean, where it was missing)."""
        last = prepared.inputs[origins - 1, :, : self.n_channels]
        return np.repeat(last[:, None], prepared.horizon, axis=1)

    def state(self) -> dict[str, torch.Tensor]:
        """Nothing learned."""
        return {}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Nothing learned."""


class HistoricalAverage:
    """Historical average: the mean per time-of-week slot and segment.

    Slots never seen use the time-of-day mean of the same day type (weekday/weekend), then
    the segment mean.
    """

    name = "historical_average"

    def __init__(self, n_segments: int, n_channels: int):
        self.table_ = np.zeros((STEPS_PER_WEEK, n_segments, n_channels), dtype=np.float32)

    def fit(self, prepared: Prepared, origins: np.ndarray) -> HistoricalAverage:
        """Average the observed values of the intervals covered by the windows."""
        times = np.unique((origins[:, None] + np.arange(-prepared.history, 0)).ravel())
        values, slots = prepared.targets[times], prepared.slots[times]
        n, c = values.shape[1:]
        sums = np.zeros((STEPS_PER_WEEK, n, c))
        counts = np.zeros((STEPS_PER_WEEK, n, c))
        finite = np.isfinite(values)
        if len(times):  # per slot: sorted, then summed run by run (np.add.at is slow)
            order = np.argsort(slots, kind="stable")
            ordered = slots[order]
            starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
            seen = ordered[starts]
            sums[seen] = np.add.reduceat(np.where(finite, values, 0.0)[order], starts, axis=0)
            counts[seen] = np.add.reduceat(finite[order].astype(np.float64), starts, axis=0)
        overall = np.divide(
            sums.sum(0), counts.sum(0), out=np.zeros((n, c)), where=counts.sum(0) > 0
        )
        daily_sums = sums.reshape(7, STEPS_PER_DAY, n, c)
        daily_counts = counts.reshape(7, STEPS_PER_DAY, n, c)
        type_sums = np.concatenate([daily_sums[:5].sum(0), daily_sums[5:].sum(0)])  # weekday,
        type_counts = np.concatenate([daily_counts[:5].sum(0), daily_counts[5:].sum(0)])  # end
        day_of_week = np.arange(STEPS_PER_WEEK) // STEPS_PER_DAY
        minute = np.arange(STEPS_PER_WEEK) % STEPS_PER_DAY
        key = (day_of_week >= 5).astype(int) * STEPS_PER_DAY + minute
        fallback = np.where(type_counts > 0, type_sums / np.maximum(type_counts, 1), overall)
        table = np.where(counts > 0, sums / np.maximum(counts, 1), fallback[key])
        self.table_ = table.astype(np.float32)
        return self

    def predict(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """Look up the slots of the targets."""
        return self.table_[prepared.window_slots(origins)]

    def state(self) -> dict[str, torch.Tensor]:
        """The (slots, N, C) table."""
        return {"table": torch.as_tensor(self.table_)}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the table."""
        self.table_ = state["table"].numpy()


@dataclass(frozen=True)
class RidgeMoments:
    r"""Sufficient statistics of :class:`RidgePerSegment`'s N regressions.

    Over the complete rows of a set of windows, per segment: ``count`` :math:`n` (N,),
    ``x_sum`` :math:`X^\top 1` (N, F), ``y_sum`` :math:`Y^\top 1` (N, K), ``xx``
    :math:`X^\top X` (N, F, F) and ``xy`` :math:`X^\top Y` (N, F, K). They add over
    disjoint sets of windows, so a fit that leaves some windows out costs a subtraction.
    """

    count: np.ndarray
    x_sum: np.ndarray
    y_sum: np.ndarray
    xx: np.ndarray
    xy: np.ndarray

    def __sub__(self, other: RidgeMoments) -> RidgeMoments:
        """The statistics of this set without the windows of ``other`` (a subset of it)."""
        return RidgeMoments(
            self.count - other.count,
            self.x_sum - other.x_sum,
            self.y_sum - other.y_sum,
            self.xx - other.xx,
            self.xy - other.xy,
        )


class RidgePerSegment:
    """One scikit-learn ridge regression per segment.

    Features: the segment's own history and the calendar at the origin; targets: all
    horizons and channels.
    """

    name = "ridge"

    def __init__(self, n_segments: int, n_channels: int, alpha: float = 1.0):
        self.n_segments, self.n_channels, self.alpha = n_segments, n_channels, alpha
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None

    def _features(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """(S, N, P*C + 3) features."""
        x = prepared.window_inputs(origins)
        s, p, n, _ = x.shape
        own = x[..., : self.n_channels].transpose(0, 2, 1, 3).reshape(s, n, p * self.n_channels)
        return np.concatenate([own, x[:, -1, :, self.n_channels :]], axis=-1)

    def moments(self, prepared: Prepared, origins: np.ndarray) -> RidgeMoments:
        """Sufficient statistics of the N regressions over the windows at ``origins``.

        A segment's row of a window counts only when all its targets are observed.
        """
        features = self._features(prepared, origins).astype(np.float64)  # (S, N, F)
        targets = prepared.window_targets(origins)
        s, q, n, c = targets.shape
        targets = targets.transpose(0, 2, 1, 3).reshape(s, n, q * c).astype(np.float64)
        rows = np.isfinite(targets).all(axis=2)  # (S, N)
        # (N, S, F) and (N, S, K), contiguous: the batched products below then run in BLAS
        x = np.ascontiguousarray((features * rows[..., None]).transpose(1, 0, 2))
        y = np.ascontiguousarray(np.where(rows[..., None], targets, 0.0).transpose(1, 0, 2))
        xt = x.transpose(0, 2, 1)
        return RidgeMoments(
            rows.sum(axis=0).astype(np.float64), x.sum(axis=1), y.sum(axis=1), xt @ x, xt @ y
        )

    def fit(self, prepared: Prepared, origins: np.ndarray) -> RidgePerSegment:
        """Fit the N regressions (missing targets: rows dropped per segment).

        See :meth:`fit_moments`.
        """
        return self.fit_moments(self.moments(prepared, origins))

    def fit_moments(self, moments: RidgeMoments) -> RidgePerSegment:
        r"""Fit the N regressions from their sufficient statistics.

        Per segment, on its complete rows, the ridge problem with an unpenalised intercept
        (as scikit-learn's ``Ridge``): with the centred moments
        :math:`X_c^\top X_c = X^\top X - n \bar x \bar x^\top` and
        :math:`X_c^\top Y_c = X^\top Y - n \bar x \bar y^\top`,
        :math:`\beta = (X_c^\top X_c + \alpha I)^{-1} X_c^\top Y_c` and
        :math:`b = \bar y - \bar x^\top \beta`, solved for all segments at once. A segment
        with fewer than 2 complete rows forecasts 0 (the mean).
        """
        count = moments.count
        safe = np.maximum(count, 1)[:, None]
        x_mean, y_mean = moments.x_sum / safe, moments.y_sum / safe  # (N, F), (N, K)
        n_features = x_mean.shape[1]
        gram = moments.xx - count[:, None, None] * x_mean[:, :, None] * x_mean[:, None, :]
        cross = moments.xy - count[:, None, None] * x_mean[:, :, None] * y_mean[:, None, :]
        coef = np.linalg.solve(gram + self.alpha * np.eye(n_features), cross)  # (N, F, K)
        fitted = count >= 2
        self.coef_ = np.where(fitted[:, None, None], coef.transpose(0, 2, 1), 0.0).astype(
            np.float32
        )
        intercept = y_mean - np.einsum("nf,nfk->nk", x_mean, coef)
        self.intercept_ = np.where(fitted[:, None], intercept, 0.0).astype(np.float32)
        return self

    def predict(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """Apply the N linear maps."""
        if self.coef_ is None or self.intercept_ is None:
            raise RuntimeError("RidgePerSegment is not fitted")
        features = self._features(prepared, origins)
        out = np.einsum("snf,nkf->snk", features, self.coef_) + self.intercept_
        s = out.shape[0]
        return out.reshape(s, self.n_segments, prepared.horizon, self.n_channels).transpose(
            0, 2, 1, 3
        )

    def state(self) -> dict[str, torch.Tensor]:
        """Coefficients and intercepts."""
        if self.coef_ is None or self.intercept_ is None:
            return {}
        return {"coef": torch.as_tensor(self.coef_), "intercept": torch.as_tensor(self.intercept_)}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore the coefficients."""
        self.coef_, self.intercept_ = state["coef"].numpy(), state["intercept"].numpy()


class BackboneMember:
    """A GNN backbone trained with AdamW on the masked MAE of standardised values.

    Attributes
    ----------
    losses_
        Training loss of every epoch run.
    validation_mae_
        Validation MAE (standardised units) of every epoch run, when validation origins
        were given.
    best_epoch_
        The epoch whose weights were kept (the best on validation; the last without).
    seconds_
        Wall time of the last :meth:`fit`.
    """

    def __init__(
        self,
        name: str,
        adjacency: np.ndarray,
        n_channels: int,
        config: TrainConfig,
        *,
        progress: ProgressCallback | None = None,
        label: str | None = None,
    ):
        from traffic_ai.models import BACKBONES

        self.name, self.config, self.progress = name, config, progress
        self.label = label or name
        torch.manual_seed(config.seed)
        self.device = config.torch_device()
        self.model = BACKBONES[name](
            adjacency,
            n_channels + 3,
            n_channels,
            config.history,
            config.horizon,
            hidden=config.hidden,
        ).to(self.device)
        self.losses_: list[float] = []
        self.validation_mae_: list[float] = []
        self.best_epoch_ = 0
        self.seconds_ = 0.0

    def fit(
        self,
        prepared: Prepared,
        origins: np.ndarray,
        validation: np.ndarray | None = None,
        *,
        epochs: int | None = None,
    ) -> BackboneMember:
        """Train on shuffled mini-batches of the windows at ``origins``.

        Parameters
        ----------
        prepared
            Model inputs.
        origins
            Training forecast origins; an epoch visits a random share of them (see
            :class:`TrainConfig`, ``origin_stride`` and ``epoch_windows``).
        validation
            Origins whose MAE (at most 64 of them, evenly spaced) is measured after each epoch:
            training stops when it has not improved for ``config.patience`` epochs and the
            best epoch's weights are kept. Without, every epoch runs and the last is kept.
        epochs
            Epochs to run at most (default ``config.epochs``); the learning rate follows
            the cosine over ``config.epochs`` whatever this is.

        Returns
        -------
        BackboneMember
            ``self``.
        """
        config = self.config
        rng = np.random.default_rng(config.seed)
        optimiser = torch.optim.AdamW(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        stride = config.origin_stride
        epochs = config.epochs if epochs is None else epochs
        per_epoch = min(max(-(-len(origins) // stride), config.epoch_windows), len(origins))
        n_batches = max(-(-per_epoch // config.batch_size), 1)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimiser, max(config.epochs, epochs) * n_batches
        )
        checked = None if validation is None or not len(validation) else validation[::stride]
        if checked is not None and len(checked) > 64:  # enough to rank epochs, cheaply
            checked = checked[:: -(-len(checked) // 64)]
        best, best_state, waited = np.inf, None, 0
        self.losses_, self.validation_mae_ = [], []
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            self.model.train()
            visited = rng.choice(origins, per_epoch, replace=False)
            total, batches = 0.0, 0
            for batch in np.array_split(visited, n_batches):
                if not len(batch):
                    continue
                x = torch.as_tensor(prepared.window_inputs(batch), device=self.device)
                y = torch.as_tensor(prepared.window_targets(batch), device=self.device)
                optimiser.zero_grad()
                loss = masked_l1(self.model(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
                optimiser.step()
                schedule.step()
                total, batches = total + loss.item(), batches + 1
            self.losses_.append(total / max(batches, 1))
            val = float("nan")
            if checked is not None:
                target = prepared.window_targets(checked)
                val = float(np.nanmean(np.abs(self.predict(prepared, checked) - target)))
                self.validation_mae_.append(val)
            if self.progress is not None:
                self.progress(self.label, epoch, epochs, self.losses_[-1], val)
            if checked is None:
                self.best_epoch_ = epoch
                continue
            if val < best:
                best, waited, self.best_epoch_ = val, 0, epoch
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                waited += 1
                if waited >= config.patience:
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.seconds_ = time.perf_counter() - start
        return self

    @torch.no_grad()
    def predict(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """Forecast in batches of 128."""
        self.model.eval()
        out = [
            self.model(torch.as_tensor(prepared.window_inputs(chunk), device=self.device))
            .cpu()
            .numpy()
            for chunk in np.array_split(origins, max(-(-len(origins) // 128), 1))
        ]
        return np.concatenate(out)

    def state(self) -> dict[str, torch.Tensor]:
        """The module's state dict (on CPU)."""
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a state dict."""
        self.model.load_state_dict(state)


class FoldAverage:
    """The fold fits of a backbone, deployed together: the forecast is their mean.

    Each fold fit forecast its held-out block out of fold, so the out-of-fold forecasts
    that choose the combiner are forecasts of these very models; their mean is, by the
    convexity of the absolute error, never worse on average than one of them alone.
    """

    def __init__(self, name: str, fits: list[BackboneMember]):
        self.name, self.fits = name, fits

    def fit(self, prepared: Prepared, origins: np.ndarray) -> FoldAverage:
        """Refuse: the fold fits are trained by :class:`~traffic_ai.ensemble.TrafficModel`."""
        raise TypeError("a FoldAverage is assembled from fold fits, not fitted")

    def predict(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """(S, Q, N, C) mean of the fold fits' forecasts."""
        return np.mean([fit.predict(prepared, origins) for fit in self.fits], axis=0)

    def state(self) -> dict[str, torch.Tensor]:
        """The fold fits' state dicts, keys prefixed by ``fold<k>.``."""
        return {
            f"fold{k}.{key}": value
            for k, fit in enumerate(self.fits)
            for key, value in fit.state().items()
        }

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`state`."""
        for k, fit in enumerate(self.fits):
            prefix = f"fold{k}."
            fit.load_state(
                {key[len(prefix) :]: v for key, v in state.items() if key.startswith(prefix)}
            )


def make_member(
    name: str,
    adjacency: np.ndarray,
    n_channels: int,
    config: TrainConfig,
    *,
    progress: ProgressCallback | None = None,
    label: str | None = None,
) -> Member:
    """Build a member by name (a baseline of :data:`MEMBERS` or a backbone)."""
    from safety_val.errors import ValidationError
    from traffic_ai.models import BACKBONES

    n = adjacency.shape[0]
    if name in MEMBERS:
        return MEMBERS[name](n, n_channels)
    if name in BACKBONES:
        return BackboneMember(name, adjacency, n_channels, config, progress=progress, label=label)
    raise ValidationError(
        "unknown model",
        field="model",
        value=name,
        expected=" | ".join([*MEMBERS, *BACKBONES]),
    )


def _last_value(n: int, c: int) -> Member:
    return LastValue(c)


#: Baselines by name: (n_segments, n_channels) → member.
MEMBERS: dict[str, Callable[[int, int], Member]] = {
    "historical_average": HistoricalAverage,
    "last_value": _last_value,
    "ridge": RidgePerSegment,
}
