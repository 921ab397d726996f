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

from traffic_ai.dataset import STEPS_PER_DAY, STEPS_PER_WEEK, MacroDataset, time_features

__all__ = [
    "MEMBERS",
    "BackboneMember",
    "HistoricalAverage",
    "LastValue",
    "Member",
    "Prepared",
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
        Names from :data:`MEMBERS` trained (on the same folds) and reported beside the
        backbones.
    stacked
        The members the meta-learner combines (the others are reported only): per-segment
        ridge is left out by default, its extrapolation is unstable under a change of regime
        (weekday → weekend) that the out-of-fold forecasts do not show.
    hidden
        Hidden size of the backbones.
    epochs, batch_size, learning_rate, weight_decay
        Adam optimisation of the masked MAE, learning rate on a cosine schedule to 0.
    folds
        Blocked time folds of the stacking ensemble.
    origin_stride
        Use every ``origin_stride``-th forecast origin for training the backbones.
    test_share
        Share of the time at the end held out for evaluation.
    seed
        Seed of weights and batch order.
    device
        ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
    """

    history: int = 12
    horizon: int = 12
    backbones: tuple[str, ...] = ("stgcn", "dcrnn", "graph_wavenet")
    baselines: tuple[str, ...] = ("historical_average", "last_value", "ridge")
    stacked: tuple[str, ...] = (
        "stgcn",
        "dcrnn",
        "graph_wavenet",
        "historical_average",
        "last_value",
    )
    hidden: int = 16
    epochs: int = 5
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-5
    folds: int = 2
    origin_stride: int = 4
    test_share: float = 0.2
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        for key in ("backbones", "baselines", "stacked"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)

    def torch_device(self) -> torch.device:
        """The device to train on."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


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
        np.add.at(sums, slots, np.where(finite, values, 0.0))
        np.add.at(counts, slots, finite)
        overall = np.divide(
            sums.sum(0), counts.sum(0), out=np.zeros((n, c)), where=counts.sum(0) > 0
        )
        day_of_week = np.arange(STEPS_PER_WEEK) // STEPS_PER_DAY
        minute = np.arange(STEPS_PER_WEEK) % STEPS_PER_DAY
        day_type = (day_of_week >= 5).astype(int)
        key = day_type * STEPS_PER_DAY + minute
        type_sums = np.zeros((2 * STEPS_PER_DAY, n, c))
        type_counts = np.zeros((2 * STEPS_PER_DAY, n, c))
        np.add.at(type_sums, key, sums)
        np.add.at(type_counts, key, counts)
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

    def fit(self, prepared: Prepared, origins: np.ndarray) -> RidgePerSegment:
        """Fit the N regressions (missing targets: rows dropped per segment)."""
        from sklearn.linear_model import Ridge

        features = self._features(prepared, origins)
        targets = prepared.window_targets(origins)
        s, q, n, c = targets.shape
        targets = targets.transpose(0, 2, 1, 3).reshape(s, n, q * c)
        coef = np.zeros((n, q * c, features.shape[-1]), dtype=np.float32)
        intercept = np.zeros((n, q * c), dtype=np.float32)
        for i in range(n):
            rows = np.isfinite(targets[:, i]).all(axis=1)
            if rows.sum() < 2:
                continue
            model = Ridge(alpha=self.alpha).fit(features[rows, i], targets[rows, i])
            coef[i], intercept[i] = model.coef_, model.intercept_
        self.coef_, self.intercept_ = coef, intercept
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
    """A GNN backbone trained with Adam on the masked MAE of standardised values."""

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
        self.seconds_ = 0.0

    def fit(
        self,
        prepared: Prepared,
        origins: np.ndarray,
        validation: np.ndarray | None = None,
        *,
        epochs: int | None = None,
    ) -> BackboneMember:
        """Train for ``epochs`` (default ``config.epochs``) on shuffled mini-batches."""
        config = self.config
        rng = np.random.default_rng(config.seed)
        optimiser = torch.optim.Adam(
            self.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
        )
        train = origins[:: max(config.origin_stride, 1)]
        epochs = config.epochs if epochs is None else epochs
        n_batches = max(len(train) // config.batch_size, 1)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, epochs * n_batches)
        start = time.perf_counter()
        for epoch in range(1, epochs + 1):
            self.model.train()
            total, batches = 0.0, 0
            for batch in np.array_split(rng.permutation(train), n_batches):
                x = torch.as_tensor(prepared.window_inputs(batch), device=self.device)
                y = torch.as_tensor(prepared.window_targets(batch), device=self.device)
                optimiser.zero_grad()
                loss = masked_l1(self.model(x), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
                optimiser.step()
                schedule.step()
                total, batches = total + loss.item(), batches + 1
            self.losses_.append(total / batches)
            if self.progress is not None:
                val = float("nan")
                if validation is not None and len(validation):
                    sample = validation[:: max(config.origin_stride, 1) * 2]
                    pred = self.predict(prepared, sample)
                    target = prepared.window_targets(sample)
                    val = float(np.nanmean(np.abs(pred - target)))
                self.progress(self.label, epoch, epochs, self.losses_[-1], val)
        self.seconds_ = time.perf_counter() - start
        return self

    @torch.no_grad()
    def predict(self, prepared: Prepared, origins: np.ndarray) -> np.ndarray:
        """Forecast in batches of 256."""
        self.model.eval()
        out = [
            self.model(torch.as_tensor(prepared.window_inputs(chunk), device=self.device))
            .cpu()
            .numpy()
            for chunk in np.array_split(origins, max(len(origins) // 256, 1))
        ]
        return np.concatenate(out)

    def state(self) -> dict[str, torch.Tensor]:
        """The module's state dict (on CPU)."""
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load a state dict."""
        self.model.load_state_dict(state)


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
