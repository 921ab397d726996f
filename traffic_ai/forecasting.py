"""Forecast the traffic of a whole network with a trained macro model.

Contract (stable, used by :mod:`traffic_ai.random_testing`)
-----------------------------------------------------------
:func:`forecast` ``(model_dir, network, start, hours, *, history=None) -> pandas.DataFrame``
returns the long table of :mod:`traffic_ai.macro_data`: columns ``segment`` (SUMO edge id),
``time`` (5-minute steps from ``start``), then the model's channels (``flow`` [veh/h],
``speed`` [m/s], ``density`` [veh/km] for models trained on simulated data), one row per
segment and interval. A model applied to a network it was not trained on raises
:class:`~safety_val.errors.ValidationError`.

The forecast rolls forward: each step forecasts the next ``horizon`` intervals from the last
``history`` ones and feeds them back. Without observed ``history`` the first window is the
historical average of its time of week.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from safety_val.errors import ValidationError
from traffic_ai.ensemble import TrafficModel
from traffic_ai.macro_data import INTERVAL
from traffic_ai.network import RoadGraph, load_road_graph
from traffic_ai.persistence import check_graph, load_model
from traffic_ai.training import HistoricalAverage, prepare, time_of_week

__all__ = ["forecast", "forecast_model"]


def forecast(
    model_dir: str | Path | TrafficModel,
    network: str | Path | RoadGraph,
    start: str | pd.Timestamp,
    hours: float,
    *,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Forecast ``hours`` of traffic on every segment of ``network`` from ``start``.

    Parameters
    ----------
    model_dir
        A folder written by :func:`traffic_ai.persistence.save_model` (or a loaded model).
    network
        The ``.net.xml`` (or road graph) to forecast; must be the one the model was trained on.
    start
        First forecast interval (floored to 5 minutes).
    hours
        Length of the forecast (> 0).
    history
        Optional observations before ``start`` (macro table layout); missing ones are taken
        from the historical average.

    Returns
    -------
    pandas.DataFrame
        ``segment, time, <channels>``; values clipped at 0.

    Raises
    ------
    ValidationError
        Another network, ``hours <= 0``, an unreadable model folder.
    """
    model = model_dir if isinstance(model_dir, TrafficModel) else load_model(model_dir)
    graph = network if isinstance(network, RoadGraph) else load_road_graph(network)
    check_graph(model, graph)
    return forecast_model(model, start, hours, history=history)


def forecast_model(
    model: TrafficModel,
    start: str | pd.Timestamp,
    hours: float,
    *,
    history: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """:func:`forecast` without the graph check (the caller has done it)."""
    if hours <= 0:
        raise ValidationError("nothing to forecast", field="hours", value=hours, expected="> 0")
    p, q = model.config.history, model.config.horizon
    first = pd.Timestamp(start).floor(INTERVAL)
    steps = int(np.ceil(hours * 12))
    times = pd.date_range(first - p * INTERVAL, periods=p + steps + q, freq=INTERVAL)
    n, c = len(model.segments), len(model.channels)
    values = np.full((len(times), n, c), np.nan)
    if history is not None:
        wide = history.assign(segment=history["segment"].astype(str)).pivot_table(
            index="time", columns="segment", values=list(model.channels), aggfunc="mean"
        )
        for k, channel in enumerate(model.channels):
            if channel in wide:
                block = pd.DataFrame(wide[channel]).reindex(
                    index=times[:p], columns=list(model.segments)
                )
                values[:p, :, k] = block.to_numpy(dtype=float)
    average = _historical_average(model)
    if average is not None:
        fallback = model.scaler.inverse(average[time_of_week(times[:p])])
        values[:p] = np.where(np.isfinite(values[:p]), values[:p], fallback)
    for origin in range(p, p + steps, q):
        prepared = prepare(values, times, model.scaler, p, q)
        scaled = model.predict_prepared(prepared, np.array([origin]))[0]
        values[origin : origin + q] = model.scaler.inverse(scaled)
    out = np.clip(values[p : p + steps], 0.0, None)
    table = pd.DataFrame(
        {
            "segment": np.tile(np.array(model.segments, dtype=object), steps),
            "time": np.repeat(times[p : p + steps].to_numpy(), n),
        }
    )
    for k, channel in enumerate(model.channels):
        table[channel] = out[:, :, k].reshape(-1)
    return table


def _historical_average(model: TrafficModel) -> np.ndarray | None:
    """The (slots, N, C) standardised historical average of the model, if it has one."""
    member = model.members.get("historical_average")
    return member.table_ if isinstance(member, HistoricalAverage) else None
