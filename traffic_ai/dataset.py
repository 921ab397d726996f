"""A macro table as a dense (time, segment, channel) array with its graph, gaps and windows.

Missing values are never filled silently: they stay ``NaN`` in :attr:`MacroDataset.values`,
are masked in the loss and the metrics, and are counted in :attr:`MacroDataset.gaps`. Model
inputs replace them by the channel mean (0 after standardisation) and say so in the report.
A simulated table's metadata (its demand, SUMO's warnings, the saturation check; see
:func:`traffic_ai.macro_data.read_macro_metadata`) travels along in
:attr:`MacroDataset.metadata`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from safety_val.errors import ValidationError
from traffic_ai.macro_data import CHANNELS, INTERVAL
from traffic_ai.network import RoadGraph

__all__ = ["GapReport", "MacroDataset", "time_features"]

STEPS_PER_DAY = 288
STEPS_PER_WEEK = 7 * STEPS_PER_DAY


@dataclass(frozen=True)
class GapReport:
    """What is missing in a dataset.

    Attributes
    ----------
    missing_segments
        Segments of the graph without any observation.
    missing_intervals
        Number of 5-minute intervals absent from the table for every segment.
    missing_values
        Number of missing (time, segment, channel) values, all causes together.
    total_values
        Number of (time, segment, channel) values.
    """

    missing_segments: tuple[str, ...] = ()
    missing_intervals: int = 0
    missing_values: int = 0
    total_values: int = 0

    @property
    def missing_share(self) -> float:
        """Share of missing values."""
        return self.missing_values / self.total_values if self.total_values else 0.0

    def describe(self) -> str:
        """One line for the CLI."""
        return (
            f"{self.missing_values} of {self.total_values} values missing "
            f"({100 * self.missing_share:.2f} %), {self.missing_intervals} missing intervals, "
            f"{len(self.missing_segments)} segments without data"
        )


def time_features(times: pd.DatetimeIndex) -> np.ndarray:
    """(T, 3) features of the calendar: sin and cos of the time of day, weekend flag."""
    seconds = np.asarray((times - times.normalize()).total_seconds(), dtype=float)
    angle = 2 * np.pi * seconds / 86400.0
    weekend = np.asarray(times.day_of_week >= 5, dtype=float)
    return np.stack([np.sin(angle), np.cos(angle), weekend], axis=1)


@dataclass
class MacroDataset:
    """Traffic per segment on a regular 5-minute grid.

    Attributes
    ----------
    values
        (T, N, C) float array, ``NaN`` where missing.
    times
        The T interval starts, regular 5-minute steps.
    segments
        The N segment ids (column order of ``values``).
    channels
        The C channels (a subset of ``flow, speed, density`` in that order).
    adjacency
        (N, N) weights, ``adjacency[i, j] > 0`` when ``i`` feeds ``j``.
    signature
        Identifies the graph (see :meth:`traffic_ai.network.RoadGraph.signature`).
    gaps
        What is missing.
    metadata
        The simulation's metadata of a simulated table (``frame.attrs["simulation"]`` as
        set by :func:`traffic_ai.macro_data.load_macro_data`), else empty.
    """

    values: np.ndarray
    times: pd.DatetimeIndex
    segments: tuple[str, ...]
    channels: tuple[str, ...]
    adjacency: np.ndarray
    signature: str
    gaps: GapReport = field(default_factory=GapReport)
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        graph: RoadGraph | None = None,
        adjacency: np.ndarray | None = None,
        signature: str | None = None,
        file: str | Path | None = None,
    ) -> MacroDataset:
        """Build a dataset from a long macro table and a road graph (or an adjacency).

        Parameters
        ----------
        frame
            Columns ``segment``, ``time`` and some of ``flow, speed, density``.
        graph
            The road graph; fixes the segment order and the adjacency.
        adjacency
            Without a graph: the (N, N) adjacency in the order of the sorted segment ids
            (unless the table's segments are given in that order already).
        signature
            Without a graph: the signature of the sensor graph.
        file
            Named in error messages.

        Raises
        ------
        ValidationError
            Segments that the graph does not have, an adjacency whose size does not match
            the data, times that are not on a 5-minute grid, no channel columns.
        """
        channels = tuple(c for c in CHANNELS if c in frame.columns)
        if not channels or not {"segment", "time"} <= set(frame.columns):
            raise ValidationError(
                "missing columns",
                file=file,
                value=list(frame.columns),
                expected="segment, time and at least one of flow, speed, density",
            )
        metadata = dict(frame.attrs.get("simulation") or {})
        frame = frame.assign(segment=frame["segment"].astype(str))
        present = list(dict.fromkeys(frame["segment"]))
        if graph is not None:
            segments = graph.segments
            unknown = sorted(set(present) - set(segments))
            if unknown:
                raise ValidationError(
                    "segments not in the road graph",
                    file=file,
                    field="segment",
                    value=unknown[:5],
                    expected=f"edges of {graph.net_file}",
                )
            weights = graph.adjacency()
            signature = graph.signature()
        else:
            if adjacency is None:
                raise ValidationError("a road graph or an adjacency is needed", field="adjacency")
            segments = tuple(present)
            weights = np.asarray(adjacency, dtype=float)
            if weights.shape != (len(segments), len(segments)):
                raise ValidationError(
                    "adjacency size does not match the data",
                    file=file,
                    field="adjacency",
                    value=weights.shape,
                    expected=f"({len(segments)}, {len(segments)}) for {len(segments)} segments",
                )
            if signature is None:
                digest = hashlib.sha256("\n".join(segments).encode())
                digest.update(np.round(weights, 6).tobytes())
                signature = digest.hexdigest()
        times_present = pd.DatetimeIndex(pd.to_datetime(frame["time"]).unique()).sort_values()
        if len(times_present) == 0:
            raise ValidationError("empty table", file=file)
        if bool(((times_present - times_present[0]) % INTERVAL != pd.Timedelta(0)).any()):
            raise ValidationError(
                "times are not on a 5-minute grid",
                file=file,
                field="time",
                expected="5-minute steps",
            )
        times = pd.date_range(times_present[0], times_present[-1], freq=INTERVAL)
        wide = frame.pivot_table(
            index="time", columns="segment", values=list(channels), aggfunc="mean", dropna=False
        )
        values = np.full((len(times), len(segments), len(channels)), np.nan)
        for k, channel in enumerate(channels):
            block = pd.DataFrame(wide[channel]).reindex(index=times, columns=list(segments))
            values[:, :, k] = block.to_numpy(dtype=float)
        missing_segments = tuple(s for s in segments if s not in set(present))
        gaps = GapReport(
            missing_segments=missing_segments,
            missing_intervals=len(times) - len(times_present),
            missing_values=int(np.isnan(values).sum()),
            total_values=int(values.size),
        )
        return cls(values, times, tuple(segments), channels, weights, str(signature), gaps,
                   metadata)

    @property
    def n_segments(self) -> int:
        """N."""
        return len(self.segments)

    @property
    def saturated(self) -> bool | None:
        """Whether the simulation saturated the network (``None`` when not recorded)."""
        saturation = self.metadata.get("saturation")
        return None if saturation is None else bool(saturation.get("saturated"))

    def split(self, test_share: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
        """Time indices of the training and test periods (test = the last ``test_share``)."""
        cut = round(len(self.times) * (1.0 - test_share))
        return np.arange(cut), np.arange(cut, len(self.times))

    def window_starts(self, period: np.ndarray, history: int, horizon: int) -> np.ndarray:
        """Forecast origins whose input and target windows lie inside ``period``.

        ``period`` is a contiguous range of time indices; origin ``t`` reads
        ``[t - history, t)`` and forecasts ``[t, t + horizon)``.
        """
        lo, hi = int(period.min()), int(period.max()) + 1
        return np.arange(lo + history, hi - horizon + 1)
