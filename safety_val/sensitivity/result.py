"""The result of a sensitivity analysis: indices, ranking, selected subset, score curve, costs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.scenario import LogicalScenario

__all__ = ["SensitivityResult"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        out.append(
            {
                str(k): (
                    None
                    if isinstance(v, float) and not np.isfinite(v)
                    else v.item()
                    if isinstance(v, np.generic)
                    else v
                )
                for k, v in row.items()
            }
        )
    return out


def _figure() -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(7.0, 4.0), layout="constrained")


@dataclass(frozen=True)
class SensitivityResult:
    """Outcome of :func:`safety_val.sensitivity.analyze` (stage 1 and stage 2).

    Attributes
    ----------
    parameters
        The factors analysed, in input order (for a scenario: its ordinary parameters
        and the names of its value sets).
    indices
        Long table: ``parameter, method, index, value, ci_low, ci_high`` (CI bounds are
        NaN where the method gives none), ``noise_floor`` and ``above_noise`` (on each
        method's main index: whether it rises above the method's noise floor; ``None``
        on the other indices).
    ranking
        ``parameter, rank, mean_rank``, one importance column per method
        (``morris.mu_star``, ``sobol.ST``, ``delta.delta``, ``rbd_fast.S1``,
        ``pawn.median``) and ``above_noise`` (above the floor of at least one method),
        sorted by rank: the parameters above the noise floor first.
    selected
        The influential subset chosen by stage 2, in ranking order (all parameters when
        stage 2 was skipped or found no influential parameter: nothing is fixed on no
        evidence).
    score_curve
        Stage-2 forward selection: ``step, parameter, kept, score_mean, score_std, gain,
        threshold, target, scoring`` (empty when stage 2 was skipped).
    costs
        Simulator (model) calls: one entry per sampling scheme (``morris``, ``sobol``,
        ``given_data``), ``stage1``, ``stage2`` (always 0: stage 2 reuses the stage-1
        samples) and ``total``.
    methods
        The stage-1 methods run.
    output
        What stage 1 ranked: ``"g"``, a KPI name, ``"y"`` (a batch function's output or
        given data) or ``"failure"`` (the failure label ``1{g <= 0}``); the notes say why.
    notes
        Caveats: which output was ranked and why, each method's noise floor and the
        indices indistinguishable from it, independence assumed under dependence, dropped
        failed runs, methods that gave NaN for some input, stage 2 restricted to
        regression, ...
    samples
        The stage-1 samples by scheme: the factor columns plus ``y`` (and ``g`` for a
        scenario). Not part of :meth:`to_dict`.
    scenario
        The analysed logical scenario, if any (for :meth:`reduced_scenario`).
    noise_floor
        One row per method: ``method, index, floor, n_dummies, dummy_mean, basis`` — the
        value an input that does nothing gets from the estimator
        (:mod:`safety_val.sensitivity.noise`).
    """

    parameters: tuple[str, ...]
    indices: pd.DataFrame = field(repr=False)
    ranking: pd.DataFrame = field(repr=False)
    selected: tuple[str, ...]
    score_curve: pd.DataFrame = field(repr=False)
    costs: Mapping[str, int]
    methods: tuple[str, ...]
    output: str
    notes: tuple[str, ...] = ()
    samples: Mapping[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    scenario: LogicalScenario | None = field(default=None, repr=False, compare=False)
    noise_floor: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    # -- tables --------------------------------------------------------------------------------

    def to_frame(self) -> pd.DataFrame:
        """The long index table with each parameter's overall rank and selection flag."""
        ranks = self.ranking.set_index("parameter")["rank"]
        frame = self.indices.copy()
        frame["rank"] = frame["parameter"].map(ranks).astype("Int64")
        frame["selected"] = frame["parameter"].isin(self.selected)
        return frame

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary (NaN written as ``None``; samples left out)."""
        return {
            "parameters": list(self.parameters),
            "methods": list(self.methods),
            "output": self.output,
            "selected": list(self.selected),
            "indices": _records(self.indices),
            "ranking": _records(self.ranking),
            "score_curve": _records(self.score_curve),
            "costs": {k: int(v) for k, v in self.costs.items()},
            "noise_floor": _records(self.noise_floor),
            "notes": list(self.notes),
        }

    def reduced_scenario(self, *, nominal: Any = "median") -> LogicalScenario:
        """The logical scenario reduced to :attr:`selected` (see :func:`reduce_scenario`).

        Raises
        ------
        ValueError
            If the analysis was not of a logical scenario.
        """
        from safety_val.sensitivity.reduction import reduce_scenario

        if self.scenario is None:
            raise ValueError("this analysis was not of a logical scenario; use reduce_function")
        return reduce_scenario(self.scenario, self.selected, nominal=nominal)

    # -- plots ---------------------------------------------------------------------------------

    def plot_indices(self, method: str | None = None) -> Figure:
        """Bar chart of one method's indices with their confidence intervals.

        One group of bars per parameter (ranking order) and one bar per index of the
        method (e.g. ``S1`` and ``ST`` for Sobol'; ``mu_star`` for Morris).

        Parameters
        ----------
        method
            A method in :attr:`methods` (default: ``"sobol"`` if run, else the first).
        """
        method = method or ("sobol" if "sobol" in self.methods else self.methods[0])
        if method not in self.methods:
            raise ValueError(f"method {method!r} was not run; ran {', '.join(self.methods)}")
        table = self.indices[self.indices["method"] == method]
        if method == "morris":
            table = table[table["index"] == "mu_star"]
        elif method == "pawn":
            table = table[table["index"] == "median"]
        order = [p for p in self.ranking["parameter"] if p in set(table["parameter"])]
        names = list(dict.fromkeys(table["index"]))
        fig = _figure()
        ax = fig.add_subplot()
        width = 0.8 / max(len(names), 1)
        positions = np.arange(len(order))
        for j, name in enumerate(names):
            rows = table[table["index"] == name].set_index("parameter").loc[order]
            value = rows["value"].to_numpy(dtype=float)
            low = np.clip(value - rows["ci_low"].to_numpy(dtype=float), 0, None)
            high = np.clip(rows["ci_high"].to_numpy(dtype=float) - value, 0, None)
            has_ci = bool(np.isfinite(low).any())
            ax.bar(
                positions + (j - (len(names) - 1) / 2) * width,
                np.nan_to_num(value),
                width,
                yerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]) if has_ci else None,
                capsize=3,
                label=name,
            )
        floor = self._floor(method)
        if floor is not None and floor > 0:
            ax.axhline(floor, color="0.3", linestyle="--", linewidth=1.0,
                       label=f"noise floor ({floor:.3g})")
        ax.set_xticks(positions, order, rotation=30, ha="right")
        ax.set_ylabel("index")
        ax.set_title(f"{method} indices of {self.output}")
        if names:
            ax.legend()
        return fig

    def _floor(self, method: str) -> float | None:
        """The noise floor of ``method``'s main index, if measured."""
        if self.noise_floor.empty:
            return None
        rows = self.noise_floor[self.noise_floor["method"] == method]
        return None if rows.empty else float(rows["floor"].iloc[0])

    def plot_morris(self) -> Figure:
        """Morris μ*–σ plot: one point per parameter, labelled."""
        if "morris" not in self.methods:
            raise ValueError(f"morris was not run; ran {', '.join(self.methods)}")
        table = self.indices[self.indices["method"] == "morris"]
        mu_star = table[table["index"] == "mu_star"].set_index("parameter")["value"]
        sigma = table[table["index"] == "sigma"].set_index("parameter")["value"]
        fig = _figure()
        ax = fig.add_subplot()
        ax.scatter(mu_star.to_numpy(), sigma.loc[mu_star.index].to_numpy())
        for name, x, y in zip(mu_star.index, mu_star, sigma.loc[mu_star.index], strict=True):
            ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4))
        ax.set_xlabel("μ* (mean |elementary effect|)")
        ax.set_ylabel("σ (sd of elementary effects)")
        ax.set_title(f"Morris screening of {self.output}")
        return fig

    def plot_score_curve(self) -> Figure:
        """Stage-2 score curve: cross-validated score (± sd) per forward-selection step.

        One point per step and target; kept parameters filled, rejected ones hollow.
        """
        fig = _figure()
        ax = fig.add_subplot()
        for target, curve in self.score_curve.groupby("target", sort=False):
            kept = curve["kept"].to_numpy(dtype=bool)
            line = ax.errorbar(
                curve["step"],
                curve["score_mean"],
                yerr=curve["score_std"],
                capsize=3,
                label=f"{target} ({curve['scoring'].iloc[0]})",
                marker="",
                linestyle="-",
            )
            color = line[0].get_color()
            ax.scatter(curve["step"][kept], curve["score_mean"][kept], color=color, zorder=3)
            ax.scatter(
                curve["step"][~kept],
                curve["score_mean"][~kept],
                facecolors="none",
                edgecolors=color,
                zorder=3,
            )
        if not self.score_curve.empty:
            first = self.score_curve.drop_duplicates("step")
            ax.set_xticks(first["step"], first["parameter"], rotation=30, ha="right")
            ax.legend()
        ax.set_ylabel("cross-validated score")
        ax.set_title("stage 2: forward selection")
        return fig
