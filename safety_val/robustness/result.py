"""What :func:`~safety_val.robustness.analyze` returns: :class:`RobustnessResult`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from safety_val.reliability.importance import ImportanceSample
from safety_val.reliability.result import json_safe, lognormal_interval
from safety_val.robustness.worst_case import WorstCase

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RobustnessResult"]


@dataclass(frozen=True)
class RobustnessResult:
    r"""What :func:`analyze` found.

    Attributes
    ----------
    beta
        Overall reliability index :math:`-\Phi^{-1}(p_f)` of the analysed result.
    pf, cov
        Nominal :math:`p_f` of the importance sample, the baseline of every ratio.
    margins
        Columns ``mode, beta, margin_sigma, reading``: one row per failure mode (design
        point) and one ``overall`` row.
    shifts
        Columns ``parameter, shift, kind, amount, beyond_odd, pf, cov, ci_low, ci_high,
        ratio_to_nominal, ess, how``.
    sensitivities
        Columns ``parameter, distribution_parameter, value, dpf, dpf_std_error,
        elasticity``.
    worst_case
        The worst case over the ambiguity set, or ``None`` when none was asked.
    sample
        The importance sample everything was re-weighted from.
    n_calls
        Limit-state calls spent by the analysis (sample and new simulations).
    notes
        Caveats, in words.
    """

    beta: float
    pf: float
    cov: float
    margins: pd.DataFrame
    shifts: pd.DataFrame
    sensitivities: pd.DataFrame
    worst_case: WorstCase | None
    sample: ImportanceSample = field(repr=False)
    n_calls: int = 0
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The table: the nominal row, one row per shift, and the worst case."""
        nominal = pd.DataFrame(
            [
                {
                    "parameter": "(nominal)",
                    "shift": "none",
                    "kind": "nominal",
                    "pf": self.pf,
                    "cov": self.cov,
                    "ci_low": lognormal_interval(self.pf, self.cov)[0],
                    "ci_high": lognormal_interval(self.pf, self.cov)[1],
                    "ratio_to_nominal": 1.0,
                    "ess": self.sample.effective_sample_size(),
                    "how": "re-weighted",
                }
            ]
        )
        parts = [nominal, self.shifts]
        if self.worst_case is not None:
            wc = self.worst_case
            parts.append(
                pd.DataFrame(
                    [
                        {
                            "parameter": "(worst case)",
                            "shift": ", ".join(f"{k}={v:+.2f}sd" for k, v in wc.shifts.items()),
                            "kind": f"ambiguity {wc.ambiguity}",
                            "pf": wc.pf,
                            "cov": wc.cov,
                            "ci_low": wc.ci[0],
                            "ci_high": wc.ci[1],
                            "ratio_to_nominal": wc.pf / self.pf if self.pf > 0 else math.nan,
                            "ess": wc.ess,
                            "how": wc.how,
                        }
                    ]
                )
            )
        return pd.concat([p for p in parts if len(p)], ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN and ±inf as ``None``), without the sample."""
        out: dict[str, Any] = json_safe(
            {
                "beta": self.beta,
                "pf": self.pf,
                "cov": self.cov,
                "n_calls": self.n_calls,
                "margins": self.margins,
                "shifts": self.shifts,
                "sensitivities": self.sensitivities,
                "worst_case": None if self.worst_case is None else self.worst_case.to_dict(),
                "sample": {
                    "n": self.sample.n,
                    "n_failures": int(self.sample.failure().sum()),
                    "ess": self.sample.effective_sample_size(),
                },
                "notes": list(self.notes),
            }
        )
        return out

    def plot_tornado(self, *, title: str | None = None) -> Figure:
        """Tornado plot: :math:`p_f` under the − and + mean shift of each input.

        Bars start at the nominal :math:`p_f` (logarithmic axis); inputs are sorted by
        the larger of their two effects. Spread changes are drawn when an input has no
        mean shift. See :func:`safety_val.robustness.plots.plot_tornado`.

        Raises
        ------
        ValidationError
            No shift with a positive :math:`p_f` to show (instead of an empty plot).
        """
        from safety_val.robustness.plots import plot_tornado

        return plot_tornado(self, title=title)

    def _tornado_rows(self) -> list[tuple[str, tuple[str | None, float], tuple[str | None, float]]]:
        from safety_val.robustness.plots import tornado_rows

        return tornado_rows(self)
