"""Figures of the report that are drawn from its data (the others come from the run)."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["convergence_figure", "figure_png"]


def convergence_figure(history: Sequence[Mapping[str, Any]], *, target: float | None) -> Figure:
    """Failure probability and 95 % interval against the simulator calls (log scale).

    Parameters
    ----------
    history
        Rows with ``n_calls``, ``pf``, ``ci_low``, ``ci_high`` (the result's history).
    target
        Acceptance target drawn as a horizontal line, if given.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    def number(row: Mapping[str, Any], key: str) -> float:
        value = row.get(key)
        return math.nan if value is None else float(value)

    calls = [number(r, "n_calls") for r in history]
    pf = [number(r, "pf") for r in history]
    low = [number(r, "ci_low") for r in history]
    high = [number(r, "ci_high") for r in history]
    figure = Figure(figsize=(7.0, 3.4), layout="constrained")
    axes = figure.add_subplot()
    positive = [v for v in (*pf, *low, *high) if v > 0 and math.isfinite(v)]
    floor = min(positive) / 10 if positive else 1e-12
    axes.fill_between(
        calls,
        [max(v, floor) if math.isfinite(v) else floor for v in low],
        [max(v, floor) if math.isfinite(v) else floor for v in high],
        color="#9ecae1",
        alpha=0.6,
        label="95 % interval",
    )
    # pf = 0 (no failure seen yet) has no place on a log scale: those points are left out
    shown = [v if v > 0 else math.nan for v in pf]
    axes.plot(calls, shown, color="#08519c", marker=".", label="pf")
    if target is not None:
        axes.axhline(target, color="#a50f15", linestyle="--", label=f"target {target:.3g}")
    axes.set_yscale("log")
    axes.set_xlabel("simulator calls")
    axes.set_ylabel("failure probability")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return figure


def figure_png(figure: Figure, *, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()
