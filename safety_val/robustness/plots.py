"""The tornado plot of a :class:`~safety_val.robustness.result.RobustnessResult`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from safety_val.errors import ValidationError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.robustness.result import RobustnessResult

__all__ = ["plot_tornado", "tornado_rows"]


def plot_tornado(result: RobustnessResult, *, title: str | None = None) -> Figure:
    """Tornado plot: :math:`p_f` under the − and + mean shift of each input.

    Bars start at the nominal :math:`p_f` (logarithmic axis); inputs are sorted by
    the larger of their two effects. Spread changes are drawn when an input has no
    mean shift.

    Raises
    ------
    ValidationError
        No shift with a positive :math:`p_f` to show (instead of an empty plot).
    """
    from matplotlib.figure import Figure

    rows = tornado_rows(result)
    if not rows or not (result.pf > 0.0):
        raise ValidationError(
            "nothing to plot: no shift has a positive failure probability"
            + ("" if result.pf > 0 else " and the nominal pf is 0; use a larger budget"),
            field="shifts",
        )
    figure = Figure(figsize=(7.0, 1.0 + 0.5 * len(rows)))
    axes = figure.add_subplot(1, 1, 1)
    labels = []
    for y, (name, low, high) in enumerate(reversed(rows)):
        labels.append(name)
        for (shift, value), colour in ((low, "tab:blue"), (high, "tab:red")):
            if shift is None or not value > 0.0:
                continue
            axes.barh(y, value - result.pf, left=result.pf, color=colour, height=0.6)
            axes.annotate(
                shift,
                (value, y),
                xytext=(3 if value >= result.pf else -3, 0),
                textcoords="offset points",
                va="center",
                ha="left" if value >= result.pf else "right",
                fontsize=8,
            )
    axes.axvline(result.pf, color="black", linewidth=1.0)
    axes.set_xscale("log")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("failure probability")
    axes.set_title(title or f"pf under input shifts (nominal {result.pf:.3g})")
    figure.tight_layout()
    return figure


def tornado_rows(
    result: RobustnessResult,
) -> list[tuple[str, tuple[str | None, float], tuple[str | None, float]]]:
    """Per parameter (largest effect first): its name, the (label, pf) below and above nominal."""
    table = result.shifts
    if table.empty:
        return []
    table = table[np.isfinite(table["pf"].to_numpy(dtype=float)) & (table["pf"] > 0)]
    rows = []
    for name, group in table.groupby("parameter", sort=False):
        chosen = group[group["kind"] == "mean"]
        if chosen.empty:
            chosen = group
        order = chosen.sort_values("pf")
        low, high = order.iloc[0], order.iloc[-1]
        low_pair = (str(low["shift"]), float(low["pf"])) if low["pf"] < result.pf else (None, 0.0)
        high_pair = (
            (str(high["shift"]), float(high["pf"])) if high["pf"] >= result.pf else (None, 0.0)
        )
        effect = max(
            abs(math.log(float(high["pf"]) / result.pf)) if result.pf > 0 else 0.0,
            abs(math.log(float(low["pf"]) / result.pf)) if result.pf > 0 else 0.0,
        )
        rows.append((effect, str(name), low_pair, high_pair))
    rows.sort(key=lambda r: -r[0])
    return [(name, low, high) for _, name, low, high in rows]
