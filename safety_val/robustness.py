r"""Robustness of a failure probability to the assumptions on its inputs.

:func:`analyze` takes a :class:`~safety_val.reliability.result.FailureProbabilityResult`
and answers, mostly without new simulations:

- the reliability index and the safety margin in :math:`\sigma` units, per failure mode,
  with its reading (robust, adequate, weak, critical);
- :math:`p_f` when an input's distribution shifts (mean shift, spread inflation), also
  beyond the ODD where asked — by re-weighting one importance sample
  (:mod:`safety_val.reliability.importance`) where the effective sample size allows it,
  by new simulations where it does not (the table says which);
- the local sensitivity of :math:`p_f` to every distribution parameter (score function);
- the worst :math:`p_f` over an ambiguity set of input means, and the means attaining it;
- a table (:meth:`RobustnessResult.to_frame`) and a tornado plot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import openturns as ot
import pandas as pd
from scipy import optimize

from safety_val._random import SeedLike, as_generator, derive_seed
from safety_val.errors import ValidationError
from safety_val.execution.base import Executor
from safety_val.reliability.importance import ImportanceSample, draw_importance_sample
from safety_val.reliability.result import (
    FailureProbabilityResult,
    json_safe,
    lognormal_interval,
    reliability_index,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.regions import CriticalRegions

__all__ = [
    "MARGIN_READINGS",
    "RobustnessResult",
    "Shift",
    "WorstCase",
    "analyze",
    "follow_up_method",
    "margin_reading",
    "parse_ambiguity",
    "parse_shift",
]

_Array = np.ndarray

MARGIN_READINGS: tuple[tuple[float, str], ...] = (
    (6.0, "robust"),
    (4.5, "adequate"),
    (2.0, "weak"),
    (-math.inf, "critical"),
)
r"""Readings of a margin of :math:`\beta` standard deviations: the first threshold it reaches.

``robust`` :math:`\beta \ge 6` (pf below about :math:`10^{-9}`), ``adequate``
:math:`4.5 \le \beta < 6`, ``weak`` :math:`2 \le \beta < 4.5` (the usual "3σ" design),
``critical`` :math:`\beta < 2` (pf above about 2 %)."""

MIN_FAILURES_ESS = 10.0
"""Failing points (in effective number) that must carry a re-weighted estimate."""

_NEGLIGIBLE_MASS = 1e-12
_SHIFT_PATTERN = re.compile(
    r"^\s*(?P<name>[^=\s]+)\s*=\s*(?:(?P<mean>[+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(?:sd|sigma|σ)"
    r"|[x×*]\s*(?P<spread>\d+(?:\.\d*)?|\.\d+))\s*(?P<beyond>!|\s+beyond[_-]odd)?\s*$",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------- shifts
@dataclass(frozen=True)
class Shift:
    r"""A change of one input's marginal distribution.

    Attributes
    ----------
    parameter
        The input's name.
    mean
        Mean shift :math:`\delta` in units of the marginal's standard deviation
        :math:`\sigma`: the distribution moves by :math:`\delta\sigma`.
    spread
        Spread factor :math:`s > 0` about the mean: :math:`X' = \mu + s (X - \mu)`.
    beyond_odd
        For a marginal truncated at ODD bounds: ``False`` keeps the original bounds
        (the ODD still holds), ``True`` lets the bounds move with the shift ("rain heavier
        than the ODD assumed"). Then the shifted support leaves the simulated one and
        the estimate needs new simulations.

    Examples
    --------
    >>> Shift("rain_intensity", mean=2.0).label
    '+2sd'
    >>> Shift("ego_speed", spread=1.5).label
    'x1.5'
    """

    parameter: str
    mean: float = 0.0
    spread: float = 1.0
    beyond_odd: bool = False

    def __post_init__(self) -> None:
        for name in ("mean", "spread"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
                raise ValidationError(
                    "must be a number", field=f"shifts.{self.parameter}.{name}", value=value
                )
            if not math.isfinite(float(value)):
                raise ValidationError(
                    "must be finite", field=f"shifts.{self.parameter}.{name}", value=value
                )
        if not float(self.spread) > 0.0:
            raise ValidationError(
                "spread factor must be > 0",
                field=f"shifts.{self.parameter}.spread",
                value=self.spread,
                expected="a factor > 0 such as 1.5",
            )

    @property
    def kind(self) -> str:
        """``"mean"``, ``"spread"`` or ``"mean+spread"`` (``"none"`` for the identity)."""
        parts = [k for k, on in (("mean", self.mean != 0.0), ("spread", self.spread != 1.0)) if on]
        return "+".join(parts) or "none"

    @property
    def amount(self) -> float:
        """The mean shift in σ for a mean shift, the factor for a spread change."""
        return float(self.spread) if self.kind == "spread" else float(self.mean)

    @property
    def label(self) -> str:
        """Short text such as ``+2sd``, ``x1.5`` or ``-1sd x1.5`` (``!``: beyond the ODD)."""
        parts = []
        if self.mean != 0.0:
            parts.append(f"{self.mean:+g}sd")
        if self.spread != 1.0:
            parts.append(f"x{self.spread:g}")
        return " ".join(parts or ["none"]) + ("!" if self.beyond_odd else "")


def parse_shift(text: str, *, beyond_odd: bool = False) -> Shift:
    """Parse ``"name=+2sd"`` (mean shift in σ), ``"name=x1.5"`` (spread factor).

    A trailing ``!`` or ``beyond-odd`` lets the shift leave the ODD bounds.

    Raises
    ------
    ValidationError
        The text does not have one of these forms.

    Examples
    --------
    >>> parse_shift("rain_intensity=+2sd")
    Shift(parameter='rain_intensity', mean=2.0, spread=1.0, beyond_odd=False)
    >>> parse_shift("cut_in_gap=-1sd").mean, parse_shift("ego_speed=x1.5").spread
    (-1.0, 1.5)
    >>> parse_shift("rain_intensity=+3sd!").beyond_odd
    True
    """
    match = _SHIFT_PATTERN.match(str(text))
    if match is None:
        raise ValidationError(
            "cannot read the shift",
            field="shift",
            value=text,
            expected="'name=+2sd' (mean shift in standard deviations) or 'name=x1.5' (spread "
            "factor), optionally followed by '!' to go beyond the ODD",
        )
    name = match["name"]
    beyond = beyond_odd or match["beyond"] is not None
    if match["mean"] is not None:
        return Shift(name, mean=float(match["mean"]), beyond_odd=beyond)
    return Shift(name, spread=float(match["spread"]), beyond_odd=beyond)


def parse_ambiguity(ambiguity: str | float) -> float | str:
    """Read an ambiguity set: ``"1sd"`` / ``1.0`` (means within ±kσ) or ``"odd"``.

    Raises
    ------
    ValidationError
        Unreadable, or ``k <= 0`` (an ambiguity set of zero width).

    Examples
    --------
    >>> parse_ambiguity("1.5sd"), parse_ambiguity(2), parse_ambiguity("ODD")
    (1.5, 2.0, 'odd')
    """
    if isinstance(ambiguity, str):
        text = ambiguity.strip().lower()
        if text == "odd":
            return "odd"
        match = re.fullmatch(r"([+-]?\d+(?:\.\d*)?|[+-]?\.\d+)\s*(?:sd|sigma|σ)?", text)
        if match is None:
            raise ValidationError(
                "cannot read the ambiguity set",
                field="ambiguity",
                value=ambiguity,
                expected="'1sd' (each mean within ±1σ of nominal), a number k, or 'odd'",
            )
        k = float(match[1])
    elif isinstance(ambiguity, int | float | np.floating) and not isinstance(ambiguity, bool):
        k = float(ambiguity)
    else:
        raise ValidationError(
            "must be a string or a number",
            field="ambiguity",
            value=ambiguity,
            expected="'1sd', a number k > 0, or 'odd'",
        )
    if not (math.isfinite(k) and k > 0.0):
        raise ValidationError(
            "an ambiguity set of zero width: the means cannot move",
            field="ambiguity",
            value=ambiguity,
            expected="k > 0 (each mean within ±kσ of nominal) or 'odd'",
        )
    return k


def margin_reading(beta: float) -> str:
    """The reading of a margin of ``beta`` σ (see :data:`MARGIN_READINGS`).

    Examples
    --------
    >>> [margin_reading(b) for b in (6.2, 5.0, 3.0, 1.0)]
    ['robust', 'adequate', 'weak', 'critical']
    """
    if not math.isfinite(beta):
        return "robust" if beta > 0 else "critical" if beta < 0 else "unknown"
    for threshold, reading in MARGIN_READINGS:
        if beta >= threshold:
            return reading
    return "critical"


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class WorstCase:
    """The worst failure probability over an ambiguity set of input means.

    Attributes
    ----------
    ambiguity
        The set: ``"±1sd"`` or ``"odd"``.
    pf, cov, ci
        The worst :math:`p_f`, its coefficient of variation and 95 % interval.
    shifts
        Mean shift (σ units) per parameter that attains it.
    means
        The corresponding means, in physical units.
    ess
        Effective sample size of the re-weighting at the optimum (NaN after new
        simulations).
    how
        ``"re-weighted"`` or ``"new simulations"``.
    """

    ambiguity: str
    pf: float
    cov: float
    ci: tuple[float, float]
    shifts: Mapping[str, float]
    means: Mapping[str, float]
    ess: float
    how: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        out: dict[str, Any] = json_safe(
            {
                "ambiguity": self.ambiguity,
                "pf": self.pf,
                "cov": self.cov,
                "ci": list(self.ci),
                "beta": reliability_index(self.pf),
                "shifts": dict(self.shifts),
                "means": dict(self.means),
                "ess": self.ess,
                "how": self.how,
            }
        )
        return out


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
        mean shift.

        Raises
        ------
        ValidationError
            No shift with a positive :math:`p_f` to show (instead of an empty plot).
        """
        from matplotlib.figure import Figure

        rows = self._tornado_rows()
        if not rows or not (self.pf > 0.0):
            raise ValidationError(
                "nothing to plot: no shift has a positive failure probability"
                + ("" if self.pf > 0 else " and the nominal pf is 0; use a larger budget"),
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
                axes.barh(y, value - self.pf, left=self.pf, color=colour, height=0.6)
                axes.annotate(
                    shift,
                    (value, y),
                    xytext=(3 if value >= self.pf else -3, 0),
                    textcoords="offset points",
                    va="center",
                    ha="left" if value >= self.pf else "right",
                    fontsize=8,
                )
        axes.axvline(self.pf, color="black", linewidth=1.0)
        axes.set_xscale("log")
        axes.set_yticks(range(len(labels)), labels)
        axes.set_xlabel("failure probability")
        axes.set_title(title or f"pf under input shifts (nominal {self.pf:.3g})")
        figure.tight_layout()
        return figure

    def _tornado_rows(self) -> list[tuple[str, tuple[str | None, float], tuple[str | None, float]]]:
        table = self.shifts
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
            low_pair = (str(low["shift"]), float(low["pf"])) if low["pf"] < self.pf else (None, 0.0)
            high_pair = (
                (str(high["shift"]), float(high["pf"])) if high["pf"] >= self.pf else (None, 0.0)
            )
            effect = max(
                abs(math.log(float(high["pf"]) / self.pf)) if self.pf > 0 else 0.0,
                abs(math.log(float(low["pf"]) / self.pf)) if self.pf > 0 else 0.0,
            )
            rows.append((effect, str(name), low_pair, high_pair))
        rows.sort(key=lambda r: -r[0])
        return [(name, low, high) for _, name, low, high in rows]


# ---------------------------------------------------------------------------- internals
class _Inputs:
    """The nominal joint distribution, its marginals and what can be shifted."""

    def __init__(self, distribution: ot.Distribution, names: Sequence[str], scenario: Any) -> None:
        self.distribution = ot.Distribution(distribution)
        self.names = tuple(names)
        self.scenario = scenario
        self.dimension = int(self.distribution.getDimension())
        self.marginals = [self.distribution.getMarginal(i) for i in range(self.dimension)]
        self.independent = bool(self.distribution.hasIndependentCopula())
        self._cdf_cache: dict[int, tuple[_Array, _Array]] = {}

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise ValidationError(
                "unknown parameter",
                field="shifts",
                value=name,
                expected=f"one of {', '.join(self.names)}",
            ) from None

    def continuous(self) -> list[int]:
        return [i for i, m in enumerate(self.marginals) if m.isContinuous()]

    def check_continuous(self, i: int, what: str) -> None:
        if not self.marginals[i].isContinuous():
            raise ValidationError(
                f"parameter {self.names[i]!r} is discrete or categorical: a {what} has no "
                "meaning for it (shift only continuous parameters)",
                field="shifts",
                value=self.names[i],
            )

    def shifted_marginal(self, shift: Shift) -> tuple[ot.Distribution, bool]:
        """The shifted marginal and whether its support stays inside the nominal one."""
        i = self.index(shift.parameter)
        self.check_continuous(i, "distribution shift")
        marginal = self.marginals[i]
        implementation = marginal.getImplementation()
        truncated = implementation.getClassName() == "TruncatedDistribution"
        base = ot.Distribution(implementation.getDistribution()) if truncated else marginal
        sigma = float(marginal.getStandardDeviation()[0])
        mu = float(base.getMean()[0])
        moved = base
        if shift.spread != 1.0:
            moved = (moved - mu) * float(shift.spread) + mu
        if shift.mean != 0.0:
            moved = moved + float(shift.mean) * sigma
        moved = ot.Distribution(moved)
        lower, upper = _support(marginal)
        mass = _mass(moved, lower, upper)
        if not mass > _NEGLIGIBLE_MASS:
            raise ValidationError(
                f"the shift {shift.label} of {shift.parameter!r} moves its distribution "
                f"outside its support [{lower:g}, {upper:g}]: no probability is left inside",
                field=f"shifts.{shift.parameter}",
                value=shift.label,
                expected="a smaller shift",
            )
        bounded = math.isfinite(lower) or math.isfinite(upper)
        if truncated and shift.beyond_odd:  # the ODD bounds move with the shift
            new_lower = min(lower, mu + (lower - mu) * shift.spread + shift.mean * sigma)
            new_upper = max(upper, mu + (upper - mu) * shift.spread + shift.mean * sigma)
            moved = _truncate(moved, new_lower, new_upper)
        elif bounded and not shift.beyond_odd:  # the ODD (the support) still holds
            moved = _truncate(moved, lower, upper)
        new_lower, new_upper = _support(moved)
        tolerance = 1e-9 * max(1.0, abs(lower), abs(upper))
        inside = new_lower >= lower - tolerance and new_upper <= upper + tolerance
        moved.setDescription([shift.parameter])
        return moved, inside

    def log_ratio(self, x: _Array, changed: Mapping[int, ot.Distribution]) -> _Array:
        r""":math:`\log f'(x) - \log f(x)` when the marginals in ``changed`` are replaced.

        With Sklar's decomposition :math:`f(x) = c(F_1(x_1), \dots) \prod_j f_j(x_j)`, only
        the changed marginal densities and the copula term move; the unchanged marginals
        (discrete ones included) cancel.
        """
        total = np.zeros(len(x))
        if not changed:
            return total
        for i, marginal in changed.items():
            total += _log_pdf(marginal, x[:, i]) - _log_pdf(self.marginals[i], x[:, i])
        if not self.independent:
            copula = self.copula()
            nominal = self._copula_arguments(x)
            moved = nominal.copy()
            for i, marginal in changed.items():
                moved[:, i] = _cdf(marginal, x[:, i])
            total += _log_pdf(copula, moved) - _log_pdf(copula, nominal)
        return np.where(np.isnan(total), -np.inf, total)

    def copula(self) -> ot.Distribution:
        """The nominal copula (refused clearly when the joint has none)."""
        try:
            return ot.Distribution(self.distribution.getCopula())
        except Exception as exc:
            raise ValidationError(
                f"cannot separate the copula of the input distribution ({exc})",
                field="distribution",
            ) from exc

    def _copula_arguments(self, x: _Array) -> _Array:
        key = id(x)
        cached = self._cdf_cache.get(key)
        if cached is None or cached[0] is not x:
            values = np.column_stack([_cdf(m, x[:, j]) for j, m in enumerate(self.marginals)])
            cached = (x, values)
            self._cdf_cache[key] = cached
        return cached[1]

    def joint(self, marginals: Sequence[ot.Distribution]) -> ot.Distribution:
        try:
            joint = ot.JointDistribution(list(marginals), self.distribution.getCopula())
        except Exception as exc:  # value-set blocks have no copula of their own
            raise ValidationError(
                f"cannot rebuild the joint distribution with a shifted marginal ({exc})",
                field="distribution",
            ) from exc
        joint.setDescription(list(self.names))
        return ot.Distribution(joint)


def _support(marginal: ot.Distribution) -> tuple[float, float]:
    """The support ``(lower, upper)`` of a 1-d distribution, ±inf where unbounded."""
    interval = marginal.getRange()
    lower = float(interval.getLowerBound()[0]) if interval.getFiniteLowerBound()[0] else -math.inf
    upper = float(interval.getUpperBound()[0]) if interval.getFiniteUpperBound()[0] else math.inf
    return lower, upper


def _truncate(distribution: ot.Distribution, lower: float, upper: float) -> ot.Distribution:
    """``distribution`` truncated to ``[lower, upper]`` (an infinite side is left open)."""
    own_lower, own_upper = _support(distribution)
    interval = distribution.getRange()
    low = lower if math.isfinite(lower) else float(interval.getLowerBound()[0])
    high = upper if math.isfinite(upper) else float(interval.getUpperBound()[0])
    if low <= own_lower and high >= own_upper:
        return distribution
    bounds = ot.Interval([low], [high], [math.isfinite(lower)], [math.isfinite(upper)])
    return ot.Distribution(ot.TruncatedDistribution(distribution, bounds))


def _mass(distribution: ot.Distribution, lower: float, upper: float) -> float:
    high = 1.0 if math.isinf(upper) else float(distribution.computeCDF(upper))
    low = 0.0 if math.isinf(lower) else float(distribution.computeCDF(lower))
    return high - low


def _log_pdf(distribution: ot.Distribution, x: _Array) -> _Array:
    points = np.asarray(x, dtype=float)
    if points.ndim == 1:
        points = points.reshape(-1, 1)
    values = np.asarray(distribution.computeLogPDF(ot.Sample(points)), dtype=float).ravel()
    return np.where(values < -1e300, -np.inf, values)


def _cdf(distribution: ot.Distribution, x: _Array) -> _Array:
    values = np.asarray(distribution.computeCDF(ot.Sample(x.reshape(-1, 1))), dtype=float).ravel()
    return np.clip(values, 1e-15, 1.0 - 1e-15)


def _failure_ess(sample: ImportanceSample, log_ratio: _Array) -> float:
    fail = sample.failure()
    if not np.any(fail):
        return 0.0
    log_w = (sample.log_weight + log_ratio)[fail]
    if not np.any(np.isfinite(log_w)):
        return 0.0
    v = np.exp(log_w - np.max(log_w))
    return float(np.sum(v) ** 2 / np.sum(v * v))


def _normalise_shifts(shifts: Any, inputs: _Inputs) -> list[Shift]:
    if shifts is None:
        out = []
        for i in inputs.continuous():
            name = inputs.names[i]
            out += [Shift(name, mean=-1.0), Shift(name, mean=1.0), Shift(name, spread=1.5)]
        return out
    if isinstance(shifts, Shift | str):
        shifts = [shifts]
    items: list[Any]
    if isinstance(shifts, Mapping):
        items = []
        for name, spec in shifts.items():
            if isinstance(spec, Shift):
                items.append(spec)
            elif isinstance(spec, str):
                items.append(parse_shift(f"{name}={spec}"))
            else:
                items.append(Shift(str(name), mean=spec))
    else:
        items = list(shifts)
    out = []
    for item in items:
        shift = parse_shift(item) if isinstance(item, str) else item
        if not isinstance(shift, Shift):
            raise ValidationError(
                "cannot read the shift",
                field="shifts",
                value=item,
                expected="a Shift or 'name=+1sd'",
            )
        inputs.check_continuous(inputs.index(shift.parameter), "distribution shift")
        out.append(shift)
    return out


@dataclass
class _Context:
    sample: ImportanceSample
    inputs: _Inputs
    limit_state: Callable[[_Array], Any] | None
    min_ess: float
    rng: np.random.Generator
    executor: Executor | None
    max_calls: int | None
    method: str = "auto"
    n_calls: int = 0
    notes: list[str] = field(default_factory=list)

    def estimate(
        self, changed: Mapping[int, ot.Distribution], inside: bool, what: str
    ) -> dict[str, Any]:
        """Re-weighted estimate, or new simulations when re-weighting is unreliable."""
        log_ratio = self.inputs.log_ratio(self.sample.x, changed)
        pf, cov = self.sample.pf(log_ratio)
        ess = self.sample.effective_sample_size(log_ratio)
        fail_ess = _failure_ess(self.sample, log_ratio)
        reasons = []
        if not inside:
            reasons.append("the shifted support leaves the simulated one")
        if ess < self.min_ess:
            reasons.append(f"effective sample size {ess:.0f} < min_ess={self.min_ess:g}")
        if fail_ess < MIN_FAILURES_ESS:
            reasons.append(f"only {fail_ess:.1f} effective failing points carry the estimate")
        if not reasons:
            low, high = lognormal_interval(pf, cov)
            return {
                "pf": pf,
                "cov": cov,
                "ci_low": low,
                "ci_high": high,
                "ess": ess,
                "how": "re-weighted",
            }
        if self.limit_state is None:
            raise ValidationError(
                f"{what} cannot be re-weighted reliably ({'; '.join(reasons)}) and new "
                "simulations need the limit state: pass limit_state=, or a larger "
                "n_reference",
                field="limit_state",
                value=None,
            )
        from safety_val.reliability import estimate_failure_probability

        marginals = [changed.get(i, m) for i, m in enumerate(self.inputs.marginals)]
        joint = self.inputs.joint(marginals)
        result = estimate_failure_probability(
            self.limit_state,
            joint,
            method=self.method,
            seed=derive_seed(self.rng),
            executor=self.executor,
            max_calls=self.max_calls,
        )
        self.n_calls += result.n_calls
        self.notes.append(
            f"{what}: new simulations, {result.method} ({'; '.join(reasons)})"
        )
        return {
            "pf": result.pf,
            "cov": result.cov,
            "ci_low": result.ci[0],
            "ci_high": result.ci[1],
            "ess": math.nan,
            "how": "new simulations",
        }


def _margins(
    result: FailureProbabilityResult, sample_pf: float, modes: CriticalRegions | None = None
) -> pd.DataFrame:
    rows = []
    if modes is not None:
        # the failure modes of the critical-regions analysis (one per connected region)
        points = [
            (int(row["mode"]), float(row["beta"]), float(row["share"]))
            for row in modes.modes.to_dict("records")
        ]
    else:
        points = [(k, float(p.beta), math.nan) for k, p in enumerate(result.design_points)]
    for k, beta, share in points:
        rows.append(
            {
                "mode": f"mode {k}",
                "share": share,
                "beta": beta,
                "margin_sigma": beta,
                "reading": margin_reading(beta),
            }
        )
    overall = result.beta if math.isfinite(result.pf) else reliability_index(sample_pf)
    rows.append(
        {
            "mode": "overall",
            "share": 1.0,
            "beta": overall,
            "margin_sigma": overall,
            "reading": margin_reading(overall),
        }
    )
    return pd.DataFrame(rows, columns=["mode", "share", "beta", "margin_sigma", "reading"])


def _sensitivities(context: _Context, pf: float) -> pd.DataFrame:
    sample, inputs = context.sample, context.inputs
    fail = sample.failure()
    w = sample.weights() * fail
    rows = []
    for i in inputs.continuous():
        marginal = inputs.marginals[i]
        values = list(marginal.getParameter())
        descriptions = list(marginal.getParameterDescription())
        x = sample.x[fail]
        for j, (theta, label) in enumerate(zip(values, descriptions, strict=True)):
            if label in ("lowerBound", "upperBound"):
                continue  # truncation bounds move the support: no score
            # parameters that move the support (bounds, location of a Gamma) are skipped
            step = 1e-5 * max(1.0, abs(theta))
            try:
                perturbed = []
                for sign in (1.0, -1.0):
                    moved = ot.Distribution(marginal)
                    parameter = list(values)
                    parameter[j] = theta + sign * step
                    moved.setParameter(parameter)
                    if not np.allclose(_support(moved), _support(marginal), rtol=1e-12):
                        raise ValueError("a support parameter has no score")
                    perturbed.append(inputs.log_ratio(x, {i: moved}))
            except Exception:  # a parameter that cannot move has no score
                continue
            score = np.zeros(sample.n)
            score[fail] = (perturbed[0] - perturbed[1]) / (2.0 * step)
            terms = w * score
            dpf = float(np.mean(terms))
            error = float(np.std(terms, ddof=1) / math.sqrt(sample.n))
            rows.append(
                {
                    "parameter": inputs.names[i],
                    "distribution_parameter": label,
                    "value": float(theta),
                    "dpf": dpf,
                    "dpf_std_error": error,
                    "elasticity": float(theta) * dpf / pf if pf > 0 else math.nan,
                }
            )
    columns = ["parameter", "distribution_parameter", "value", "dpf", "dpf_std_error", "elasticity"]
    return pd.DataFrame(rows, columns=columns)


def _ambiguity_bounds(
    ambiguity: float | str, inputs: _Inputs, indices: list[int]
) -> list[tuple[float, float]]:
    if ambiguity != "odd":
        k = float(ambiguity)
        return [(-k, k) for _ in indices]
    scenario = inputs.scenario
    if scenario is None:
        raise ValidationError(
            "the 'odd' ambiguity set needs a scenario with an ODD; for a plain distribution "
            "use '1sd' (means within ±kσ)",
            field="ambiguity",
            value="odd",
        )
    bounds = []
    for i in indices:
        marginal = inputs.marginals[i]
        parameter = scenario.parameter(inputs.names[i])
        attribute_range = None
        if getattr(parameter, "odd_attribute", None) and getattr(scenario, "odd", None):
            attribute_range = scenario.odd.attribute(parameter.odd_attribute).range
        if attribute_range is None:
            bounds.append((0.0, 0.0))
            continue
        mean = float(marginal.getMean()[0])
        sigma = float(marginal.getStandardDeviation()[0])
        low, high = attribute_range
        bounds.append((min(0.0, (low - mean) / sigma), max(0.0, (high - mean) / sigma)))
    if all(high - low <= 0.0 for low, high in bounds):
        raise ValidationError(
            "an ambiguity set of zero width: no shiftable parameter has an ODD range",
            field="ambiguity",
            value="odd",
            expected="parameters mapped to ODD attributes with a numeric range, or '1sd'",
        )
    return bounds


def _worst_case(context: _Context, ambiguity: float | str, direction: _Array) -> WorstCase:
    inputs, sample = context.inputs, context.sample
    indices = inputs.continuous()
    bounds = _ambiguity_bounds(ambiguity, inputs, indices)
    fail = sample.failure()
    x_fail = sample.x[fail]
    log_w = sample.log_weight[fail]
    n = sample.n

    def changed(delta: _Array) -> dict[int, ot.Distribution]:
        out = {}
        for i, d in zip(indices, delta, strict=True):
            if abs(d) > 1e-12:
                out[i] = inputs.shifted_marginal(Shift(inputs.names[i], mean=float(d)))[0]
        return out

    def objective(delta: _Array) -> float:
        try:
            log_terms = log_w + inputs.log_ratio(x_fail, changed(delta))
        except ValidationError:
            return 1e3
        if not np.any(np.isfinite(log_terms)):
            return 1e3
        top = float(np.max(log_terms))
        return -(top + math.log(float(np.sum(np.exp(log_terms - top)))) - math.log(n))

    corner = [
        hi if direction[i] > 0 else lo if direction[i] < 0 else 0.0
        for i, (lo, hi) in zip(indices, bounds, strict=True)
    ]
    starts = [np.asarray(corner, dtype=float), np.zeros(len(indices))]
    best = (math.inf, starts[-1])
    for start in starts:
        solution = optimize.minimize(
            objective, start, method="L-BFGS-B", bounds=bounds, options={"eps": 1e-4}
        )
        candidate = (float(solution.fun), np.asarray(solution.x, dtype=float))
        if candidate[0] < best[0]:
            best = candidate
    delta = np.where(np.abs(best[1]) < 1e-9, 0.0, best[1])
    moved = changed(delta)
    label = "odd" if ambiguity == "odd" else f"±{float(ambiguity):g}sd"
    estimate = context.estimate(moved, True, f"the worst case over {label}")
    shifts = {inputs.names[i]: float(d) for i, d in zip(indices, delta, strict=True)}
    means = {
        inputs.names[i]: float(moved[i].getMean()[0])
        if i in moved
        else float(inputs.marginals[i].getMean()[0])
        for i in indices
    }
    return WorstCase(
        ambiguity=label,
        pf=float(estimate["pf"]),
        cov=float(estimate["cov"]),
        ci=(float(estimate["ci_low"]), float(estimate["ci_high"])),
        shifts=shifts,
        means=means,
        ess=float(estimate["ess"]),
        how=str(estimate["how"]),
    )


# ---------------------------------------------------------------------------- entry point
def follow_up_method(result: FailureProbabilityResult) -> str:
    """Method of new estimates near ``result``: ``"mc"`` if crude MC produced it, else ``"auto"``.

    When ``result`` came from crude Monte Carlo (chosen, or reached by ``"auto"`` after a
    surrogate gave up: ``"auto: ak → mc"``), :math:`p_f` is not rare and the limit state
    defeated the surrogate, so estimates under shifted distributions go straight to crude
    MC — unbiased at any budget — instead of paying again for the failed stages. Other
    methods need minimum budgets (subset, NAIS: levels of ``n_per_step`` points), so
    ``"auto"`` chooses for them.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> follow_up_method(R(method="auto: ak → mc", converged=True))
    'mc'
    >>> follow_up_method(R(method="subset", converged=True))
    'auto'
    >>> follow_up_method(R(method="auto: ak → mc → nais", converged=True))
    'auto'
    """
    last = result.method.removeprefix("auto:").split("→")[-1].strip()
    return "mc" if result.converged and last == "mc" else "auto"


def analyze(
    result: FailureProbabilityResult,
    *,
    limit_state: Callable[[_Array], Any] | None = None,
    distribution: ot.Distribution | None = None,
    shifts: Mapping[str, Any] | Sequence[Shift | str] | Shift | str | None = None,
    ambiguity: str | float | None = None,
    sample: ImportanceSample | None = None,
    n_reference: int = 1000,
    min_ess: float = 200.0,
    max_calls: int | None = None,
    seed: SeedLike = None,
    executor: Executor | None = None,
    modes: CriticalRegions | None = None,
    method: str = "auto",
) -> RobustnessResult:
    r"""Robustness of a failure probability to its input assumptions.

    Parameters
    ----------
    result
        The reliability result to analyse (its design points centre the importance
        sample; its failing samples do when it has none).
    limit_state
        Batch limit state or scenario evaluator. Needed to draw the importance sample
        (when ``sample`` is ``None``) and for new simulations when re-weighting is not
        reliable.
    distribution
        The nominal joint input distribution; default: the scenario's.
    shifts
        Shifts to evaluate: :class:`Shift` objects, strings such as ``"rain=+2sd"``,
        ``"gap=-1sd"``, ``"speed=x1.5"``, or a mapping ``{name: "+2sd" | δ | Shift}``.
        ``None``: each continuous parameter at −1σ, +1σ and spread ×1.5.
    ambiguity
        Worst case over the means: ``"1sd"`` or ``k`` (each mean within ±kσ) or
        ``"odd"`` (each mean anywhere inside its ODD range; needs a scenario evaluator).
        ``None``: no worst case.
    sample
        A previously drawn :class:`~safety_val.reliability.importance.ImportanceSample`
        (no simulation for it then).
    n_reference
        Size of the importance sample to draw.
    min_ess
        Below this effective sample size a re-weighted estimate is replaced by new
        simulations.
    max_calls
        Budget of each new simulation (``None``: the default budget).
    seed
        ``int``, :class:`numpy.random.Generator` or ``None``.
    executor
        Where batches are evaluated.
    modes
        The failure modes of :func:`safety_val.regions.analyze` on the same result: the
        margins are then given per mode (with its share of pf) rather than per design
        point of the reliability method (NAIS, for one, reports one per mixture
        component).
    method
        Reliability method of new simulations (default ``"auto"``; see
        :func:`follow_up_method` for re-using the one that converged on ``result``).

    Returns
    -------
    RobustnessResult

    Raises
    ------
    ValidationError
        No failure sample in ``result`` (use a larger budget); a shift that leaves no
        probability inside the support; a shift of a discrete or categorical parameter;
        an ambiguity set of zero width; ``"odd"`` without a scenario; a limit state is
        needed but missing.

    Notes
    -----
    *Likelihood ratio.* The sample :math:`x_i \sim q` carries weights
    :math:`w_i = f(x_i)/q(x_i)`. Under a shifted density :math:`f'` (same copula, one
    marginal replaced) the plain (not self-normalised) estimator
    :math:`\hat p_f' = \frac1n\sum_i w_i r_i \mathbf 1_F(x_i)`, :math:`r = f'/f`, is
    unbiased when the support of :math:`f'` lies in that of :math:`f`; its coefficient of
    variation is :math:`s_{wr1_F}/(\sqrt n\,\hat p_f')` and its interval log-normal.
    It is used when Kish's effective sample size :math:`(\sum v)^2/\sum v^2` of
    :math:`v = w r` is at least ``min_ess`` and at least :data:`MIN_FAILURES_ESS`
    failing points (in effective number) carry it (Owen 2013, §9.3); otherwise
    :math:`p_f'` is estimated anew (``how="new simulations"``).

    *Score function.* :math:`\partial p_f/\partial\theta = E_f[\mathbf 1_F\,
    \partial_\theta \log f(X;\theta)] \approx \frac1n\sum_i w_i \mathbf 1_F(x_i)\,
    \partial_\theta\log f(x_i;\theta)`, with the derivative by central finite
    differences of the log-density (Rubinstein & Kroese 2016, §7.2); the elasticity is
    :math:`(\theta/p_f)\,\partial p_f/\partial\theta`. No new simulation.

    *Margins.* A failure mode at distance :math:`\beta` from the origin in standard
    space has a margin of :math:`\beta` standard deviations; the readings of
    :data:`MARGIN_READINGS` follow the usual target reliability levels (Lemaire 2009).

    *Worst case.* :math:`\max_\delta \hat p_f'(\delta)` over mean shifts
    :math:`\delta\in[-k,k]^m` (σ units), by L-BFGS-B on the re-weighted estimate,
    started at the corner pointed at by the design point and at the origin.

    References
    ----------
    Rubinstein, R. Y. and Kroese, D. P. (2016). Simulation and the Monte Carlo Method,
    3rd ed. Wiley. https://doi.org/10.1002/9781118631980

    Lemaire, M. (2009). Structural Reliability. ISTE/Wiley.
    https://doi.org/10.1002/9780470611708

    Owen, A. B. (2013). Monte Carlo theory, methods and examples, ch. 9.
    https://artowen.su.domains/mc/

    Kong, A. (1992). A note on importance sampling using standardized weights.
    Technical report 348, Department of Statistics, University of Chicago.

    Examples
    --------
    >>> from safety_val.reliability import estimate_failure_probability
    >>> g = lambda x: 3.0 - (0.6 * x[:, 0] + 0.8 * x[:, 1])
    >>> form = estimate_failure_probability(g, ot.Normal(2), method="form", seed=1)
    >>> robust = analyze(form, limit_state=g, distribution=ot.Normal(2),
    ...                  shifts=["x0=+1sd"], n_reference=2000, seed=2)
    >>> robust.margins[["mode", "reading"]].iloc[0].tolist()
    ['mode 0', 'weak']
    >>> robust.shifts["how"].tolist()
    ['re-weighted']
    """
    if isinstance(n_reference, bool) or not isinstance(n_reference, int) or n_reference < 10:
        raise ValidationError("must be an int >= 10", field="n_reference", value=n_reference)
    if isinstance(min_ess, bool) or not isinstance(min_ess, int | float) or min_ess < 1:
        raise ValidationError("must be a number >= 1", field="min_ess", value=min_ess)
    scenario = getattr(limit_state, "scenario", None)
    if distribution is None:
        if scenario is None:
            raise ValidationError(
                "the input distribution is needed to re-weight: pass distribution= or a "
                "scenario evaluator as limit_state",
                field="distribution",
                value=None,
            )
        distribution = scenario.distribution
    ambiguity_set = None if ambiguity is None else parse_ambiguity(ambiguity)
    rng = as_generator(seed)
    names: Sequence[str]
    if sample is None:
        if limit_state is None:
            raise ValidationError(
                "a limit state is needed to draw the importance sample (or pass sample=)",
                field="limit_state",
                value=None,
            )
        sample = draw_importance_sample(
            result, limit_state, distribution, n=n_reference, seed=rng, executor=executor
        )
        n_calls = sample.n_calls
    else:
        n_calls = 0
    names = sample.names or result.parameter_names
    inputs = _Inputs(distribution, names, scenario)
    if inputs.dimension != sample.x.shape[1]:
        raise ValidationError(
            "the distribution's dimension does not match the sample",
            field="distribution",
            value=inputs.dimension,
            expected=f"dimension {sample.x.shape[1]}",
        )
    shift_list = _normalise_shifts(shifts, inputs)
    context = _Context(
        sample, inputs, limit_state, float(min_ess), rng, executor, max_calls, method
    )
    pf, cov = sample.pf()
    if not np.any(sample.failure()):
        raise ValidationError(
            f"the importance sample of {sample.n} points has no failure: the result's "
            "failure region was not found again; use a larger budget (max_calls) for the "
            "result, or a larger n_reference",
            field="result",
            value=f"pf={result.pf:g}",
        )
    rows = []
    for shift in shift_list:
        i = inputs.index(shift.parameter)
        moved, inside = inputs.shifted_marginal(shift)
        estimate = context.estimate({i: moved}, inside, f"shift {shift.parameter} {shift.label}")
        rows.append(
            {
                "parameter": shift.parameter,
                "shift": shift.label,
                "kind": shift.kind,
                "amount": shift.amount,
                "beyond_odd": shift.beyond_odd,
                **{k: estimate[k] for k in ("pf", "cov", "ci_low", "ci_high")},
                "ratio_to_nominal": estimate["pf"] / pf,
                **{k: estimate[k] for k in ("ess", "how")},
            }
        )
    columns = [
        "parameter",
        "shift",
        "kind",
        "amount",
        "beyond_odd",
        "pf",
        "cov",
        "ci_low",
        "ci_high",
        "ratio_to_nominal",
        "ess",
        "how",
    ]
    shift_table = pd.DataFrame(rows, columns=columns)
    worst = None
    if ambiguity_set is not None:
        if result.design_points:
            direction = np.ravel(np.asarray(result.design_points[0].u, dtype=float))
        else:
            weights = sample.weights() * sample.failure()
            direction = weights @ sample.u / max(float(weights.sum()), 1e-300)
        worst = _worst_case(context, ambiguity_set, direction)
    if sample.effective_sample_size() < min_ess:
        context.notes.append(
            f"the nominal importance sample has an effective sample size of "
            f"{sample.effective_sample_size():.0f} < min_ess={min_ess:g}"
        )
    return RobustnessResult(
        beta=result.beta if math.isfinite(result.pf) else reliability_index(pf),
        pf=pf,
        cov=cov,
        margins=_margins(result, pf, modes),
        shifts=shift_table,
        sensitivities=_sensitivities(context, pf),
        worst_case=worst,
        sample=sample,
        n_calls=n_calls + context.n_calls,
        notes=tuple(context.notes),
    )
