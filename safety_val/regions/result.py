"""The result of :func:`~safety_val.regions.analyze`: failure modes, rules, critical scenarios."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from safety_val._random import SeedLike
from safety_val.errors import ValidationError
from safety_val.reliability.result import DesignPoint, json_safe

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.scenario import LogicalScenario

__all__ = ["CriticalRegions", "ImportanceSampleLike"]


class ImportanceSampleLike(Protocol):
    r"""What :func:`analyze` needs of an importance sample (see ``reliability.importance``).

    ``x`` are points drawn from a proposal :math:`q`, ``g`` their margins and
    ``log_weight`` :math:`\\log f(x)/q(x)`, so that :math:`\\sum_i w_i 1_F(x_i) / n` is an
    unbiased estimate of pf.
    """

    @property
    def x(self) -> np.ndarray: ...  # noqa: D102

    @property
    def g(self) -> np.ndarray: ...  # noqa: D102

    @property
    def log_weight(self) -> np.ndarray: ...  # noqa: D102

    @property
    def names(self) -> tuple[str, ...]: ...  # noqa: D102


@dataclass(frozen=True)
class CriticalRegions:
    r"""The failure modes of a reliability result, their rules and their critical scenarios.

    Attributes
    ----------
    modes
        One row per mode: ``mode, share, pf, ci_low, ci_high, beta, n_failures`` and the
        design point's physical coordinates (one column per parameter).
    rules
        One row per rule (a conjunction of thresholds; a mode may need several, read as
        "or"): ``mode, rule, precision, recall, precision_holdout, recall_holdout,
        n_covered``. Precision is the fraction of the samples satisfying the rule that
        fail in that mode; recall the fraction of the mode's failures it covers.
    design_points
        One :class:`~safety_val.reliability.result.DesignPoint` per mode.
    notes
        Caveats (unweighted shares, clipped clusters, ...).
    pf, ci
        The total failure probability the shares refer to, and its interval.
    pf_source, n_sample
        Where :attr:`pf` comes from: ``"importance sample"`` (re-estimated on the
        ``n_sample`` weighted points of the sample given to :func:`analyze`, e.g. the
        pipeline's reference sample) or ``"result"`` (the reliability result's pf,
        shared out by failure counts; ``n_sample`` is ``None``).
    parameter_names
        Parameter names, in column order.
    units
        Unit per parameter (``""`` when unknown).
    categories
        Labels of categorical parameters (codes ``0..k-1``).
    points
        Every analysed point: parameter columns, ``g``, ``failure``, ``mode`` (``-1``
        when safe), ``beta`` (:math:`\lVert u \rVert`) and ``weight`` (NaN when unknown).
    """

    modes: pd.DataFrame
    rules: pd.DataFrame
    design_points: tuple[DesignPoint, ...]
    notes: tuple[str, ...]
    pf: float
    ci: tuple[float, float]
    parameter_names: tuple[str, ...]
    units: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    points: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    importance: pd.Series = field(default_factory=lambda: pd.Series(dtype=float), repr=False)
    scenario: LogicalScenario | None = field(default=None, repr=False, compare=False)
    pf_source: str = "result"
    n_sample: int | None = None

    @property
    def n_modes(self) -> int:
        """Number of failure modes found."""
        return len(self.modes)

    def to_frame(self) -> pd.DataFrame:
        """The modes with their best rule: one row per mode."""
        best = (
            self.rules.sort_values(["mode", "score"], ascending=[True, False])
            .groupby("mode", as_index=False)
            .first()[["mode", "rule", "precision", "recall", "precision_holdout"]]
            if len(self.rules)
            else pd.DataFrame(columns=["mode", "rule", "precision", "recall", "precision_holdout"])
        )
        return self.modes.merge(best, on="mode", how="left")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN and ±inf as ``None``), without the points."""
        out = {
            "pf": self.pf,
            "ci": list(self.ci),
            "pf_source": self.pf_source,
            "n_sample": self.n_sample,
            "parameter_names": list(self.parameter_names),
            "units": dict(self.units),
            "modes": self.modes,
            "rules": self.rules,
            "design_points": [dp.to_dict(list(self.parameter_names)) for dp in self.design_points],
            "importance": self.importance,
            "notes": list(self.notes),
        }
        result: dict[str, Any] = json_safe(out)
        return result

    def critical_scenarios(self, mode: int | None = None, k: int = 5) -> pd.DataFrame:
        """The ``k`` most critical evaluated samples of a mode (of every mode if ``None``).

        Most critical: lowest ``g``, ties broken by the distance to the mode's design point
        in standard space. With a scenario, rows are concrete scenarios
        (:meth:`~safety_val.scenario.LogicalScenario.to_frame`: ``scenario_id``, labels
        for categorical parameters) followed by ``mode``, ``g`` and ``beta``.

        Raises
        ------
        ValidationError
            ``mode`` is not one of :attr:`modes` or ``k < 1``.
        """
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValidationError("must be an int >= 1", field="k", value=k, expected="an int >= 1")
        valid = [int(m) for m in self.modes["mode"]]
        if mode is not None and int(mode) not in valid:
            raise ValidationError(
                "is not a failure mode of this analysis",
                field="mode",
                value=mode,
                expected=f"one of {valid}",
            )
        frames = []
        for m in valid if mode is None else [int(mode)]:
            rows = self.points[self.points["mode"] == m].sort_values(["g", "_dp_distance"])
            frames.append(rows.head(int(k)))
        chosen = pd.concat(frames, ignore_index=True)
        names = list(self.parameter_names)
        if self.scenario is not None:
            frame = self.scenario.to_frame(chosen[names].to_numpy(dtype=float))
        else:
            frame = chosen[names].reset_index(drop=True).copy()
        frame["mode"] = chosen["mode"].to_numpy(dtype=np.int64)
        frame["g"] = chosen["g"].to_numpy(dtype=float)
        frame["beta"] = chosen["beta"].to_numpy(dtype=float)
        return frame

    def top_pairs(self, top: int = 3) -> list[tuple[str, str]]:
        """The ``top`` parameter pairs ranked by the rules' feature importance."""
        ranked = list(self.importance.sort_values(ascending=False).index)
        ranked += [n for n in self.parameter_names if n not in ranked]
        pairs = list(itertools.combinations(ranked, 2))
        return [(str(a), str(b)) for a, b in pairs[: max(0, int(top))]]

    def plot_slices(
        self, top: int = 3, *, resolution: int = 60, max_points: int = 1000, seed: SeedLike = 0
    ) -> Figure:
        r"""The failure region of the analysed points over the most important parameter pairs.

        Each panel projects the evaluated points onto a pair (safe in grey, failures
        coloured by mode, the design point of the largest mode as a star) and shades
        where the data put the failures: the region in which the failed points are
        denser than the safe ones (a class-balanced Gaussian-kernel classifier on the
        projected points, :func:`~safety_val.regions.slices.fit_boundary`), outlined in
        red and drawn only near observed points, and only on a pair that separates the
        failures (leave-one-out balanced accuracy >= 0.7). The panel's title gives the
        leave-one-out fractions of failures and of safe points inside it.

        Parameters
        ----------
        top
            Number of pairs (panels), ranked as :meth:`top_pairs`.
        resolution
            Grid points per axis.
        max_points
            Points each panel's classifier uses (all failures up to half of them, then
            safe points at random).
        seed
            Seed of that subset.

        Returns
        -------
        matplotlib.figure.Figure
            A figure not registered with :mod:`matplotlib.pyplot`.

        Raises
        ------
        ValidationError
            Fewer than two parameters, or an option out of range.

        Notes
        -----
        The other parameters vary as sampled, so the region is where the plotted
        failures are, not the limit state :math:`g = 0` on a section through one point
        (a surrogate's section need not contain the projected failures at all). With a
        weighted (importance) sample the points are not weighted: the region describes
        the points shown.
        """
        from safety_val.regions.slices import plot_slices

        return plot_slices(self, top, resolution=resolution, max_points=max_points, seed=seed)
