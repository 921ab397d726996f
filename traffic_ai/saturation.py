r"""Is a simulated network saturated? Mean speed against free-flow speed, interval by interval.

For each 5-minute interval ``t`` of a macro table, the network's relative speed is the
mean over the vehicles in the network of their speed as a share of their segment's
free-flow speed (its speed limit), each segment weighted by the vehicles on it
(density x length):

.. math::

    r(t) = \frac{\sum_i k_i(t)\,\ell_i\,v_i(t) / v_{f,i}}{\sum_i k_i(t)\,\ell_i}

An interval is *congested* when :math:`r(t)` is below :data:`SPEED_FRACTION` (0.5, the
speed at which a triangular fundamental diagram's flow is already past capacity on a
signalised street) and a day is *saturated* when more than :data:`DAY_SHARE` of its
intervals are congested: "most of a day" below half the free-flow speed is gridlock,
not a rush hour. Intervals without any vehicle are not congested.

References
----------
Geroliminis, N., Daganzo, C. F. (2008). Existence of urban-scale macroscopic fundamental
diagrams: some experimental findings. Transportation Research Part B 42(9), 759-770.
doi:10.1016/j.trb.2008.02.002
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from safety_val._validation import Interval, check_options
from safety_val.errors import ValidationError
from traffic_ai.network import RoadGraph

__all__ = [
    "DAY_SHARE",
    "SPEED_FRACTION",
    "SaturationReport",
    "network_speed_ratio",
    "saturation_check",
]

#: An interval is congested when the network's relative speed is below this.
SPEED_FRACTION = 0.5
#: A day is saturated when more than this share of its intervals are congested.
DAY_SHARE = 0.5

_CONSTRAINTS = {
    "speed_fraction": [Interval(float, 0, 1, closed="neither")],
    "day_share": [Interval(float, 0, 1, closed="left")],
}


def network_speed_ratio(table: pd.DataFrame, graph: RoadGraph) -> pd.Series:
    """The network's relative speed ``r(t)`` per interval (see the module notes).

    Parameters
    ----------
    table
        Macro table with ``segment``, ``time``, ``speed`` [m/s] and ``density`` [veh/km].
    graph
        The road graph (segment lengths and speed limits).

    Returns
    -------
    pandas.Series
        Indexed by ``time``; ``NaN`` where no vehicle was in the network.

    Raises
    ------
    ValidationError
        Missing columns, or segments the graph does not have.

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.DiGraph()
    >>> g.add_node("a", length=1000.0, speed=10.0)
    >>> g.add_node("b", length=500.0, speed=20.0)
    >>> graph = RoadGraph(g, ("a", "b"))
    >>> table = pd.DataFrame({"segment": ["a", "b"], "time": pd.Timestamp("2024-01-01"),
    ...                       "speed": [5.0, 20.0], "density": [10.0, 20.0]})
    >>> float(network_speed_ratio(table, graph).iloc[0])  # (10 x 0.5 + 10 x 1) / 20
    0.75
    """
    missing = [c for c in ("segment", "time", "speed", "density") if c not in table.columns]
    if missing:
        raise ValidationError("missing columns", field="table", value=missing,
                              expected="segment, time, speed, density")
    nodes = graph.graph.nodes
    unknown = sorted(set(table["segment"].astype(str)) - set(graph.segments))
    if unknown:
        raise ValidationError("segments not in the road graph", field="segment",
                              value=unknown[:5], expected=f"edges of {graph.net_file}")
    segment = table["segment"].astype(str)
    length_km = segment.map({s: float(nodes[s]["length"]) / 1000.0 for s in graph.segments})
    free_flow = segment.map({s: float(nodes[s]["speed"]) for s in graph.segments})
    vehicles = table["density"].to_numpy(dtype=float) * length_km.to_numpy(dtype=float)
    vehicles = np.where(np.isfinite(vehicles), vehicles, 0.0)
    relative = np.clip(np.nan_to_num(table["speed"].to_numpy(dtype=float)
                                     / free_flow.to_numpy(dtype=float), nan=1.0), 0.0, None)
    frame = pd.DataFrame({"time": pd.to_datetime(table["time"]), "w": vehicles,
                          "wr": vehicles * relative})
    sums = frame.groupby("time", sort=True)[["w", "wr"]].sum()
    ratio = (sums["wr"] / sums["w"]).where(sums["w"] > 0.0)
    ratio.name = "speed_ratio"
    return ratio


@dataclass(frozen=True)
class SaturationReport:
    """Congested intervals per day and whether any day is saturated.

    Attributes
    ----------
    speed_fraction, day_share
        The criterion (see the module notes).
    days
        One entry per calendar day: ``date``, ``intervals``, ``congested`` (intervals below
        the speed fraction), ``share`` (congested / intervals), ``mean_ratio`` (mean
        relative speed of the intervals with vehicles) and ``saturated``.
    """

    speed_fraction: float = SPEED_FRACTION
    day_share: float = DAY_SHARE
    days: list[dict[str, Any]] = field(default_factory=list)

    @property
    def saturated_days(self) -> list[str]:
        """Dates of the saturated days."""
        return [d["date"] for d in self.days if d["saturated"]]

    @property
    def saturated(self) -> bool:
        """At least one day is saturated."""
        return bool(self.saturated_days)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for JSON)."""
        return {"speed_fraction": self.speed_fraction, "day_share": self.day_share,
                "saturated": self.saturated, "saturated_days": self.saturated_days,
                "days": [dict(d) for d in self.days]}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SaturationReport:
        """The report of :meth:`to_dict`."""
        return cls(float(values["speed_fraction"]), float(values["day_share"]),
                   [dict(d) for d in values["days"]])

    def describe(self) -> str:
        """One line for the CLI."""
        worst = max(self.days, key=lambda d: d["share"], default=None)
        if worst is None:
            return "no intervals"
        verdict = (f"SATURATED on {len(self.saturated_days)} of {len(self.days)} days"
                   if self.saturated else "not saturated")
        return (f"network {verdict}: mean speed below {self.speed_fraction:g} x free flow in "
                f"up to {100 * worst['share']:.0f} % of a day's intervals "
                f"({worst['date']}; a day is saturated above {100 * self.day_share:.0f} %)")


def saturation_check(table: pd.DataFrame, graph: RoadGraph, *,
                     speed_fraction: float = SPEED_FRACTION,
                     day_share: float = DAY_SHARE) -> SaturationReport:
    """Congested intervals per calendar day of a macro table, and the saturated days.

    Parameters
    ----------
    table, graph
        See :func:`network_speed_ratio`.
    speed_fraction
        An interval is congested when its relative speed is below this, in (0, 1).
    day_share
        A day is saturated when more than this share of its intervals are congested.

    Returns
    -------
    SaturationReport
    """
    check_options(_CONSTRAINTS, speed_fraction=speed_fraction, day_share=day_share)
    ratio = network_speed_ratio(table, graph)
    dates = pd.DatetimeIndex(ratio.index).normalize()
    days = []
    for date in dates.unique():
        part = ratio[dates == date]
        congested = int((part < speed_fraction).sum())
        share = congested / len(part)
        with_vehicles = part.dropna()
        days.append({
            "date": str(date.date()), "intervals": len(part),
            "congested": congested, "share": share,
            "mean_ratio": float(with_vehicles.mean()) if len(with_vehicles) else float("nan"),
            "saturated": share > day_share,
        })
    return SaturationReport(float(speed_fraction), float(day_share), days)
