r"""Critical regions: the failure modes of a reliability result, as rules and pictures.

:func:`analyze` takes a :class:`~safety_val.reliability.result.FailureProbabilityResult`
(and, better, an importance sample drawn around its design points) and answers the
questions an engineer asks after "what is pf?":

- **Which separate ways of failing are there?** Failure samples are clustered by their
  *direction* in standard normal space; each cluster is a failure mode with its own design
  point, reliability index :math:`\beta` and share of pf (with an interval).
- **How do I recognise them?** A shallow decision tree per mode, in physical units, read
  out as rules such as ``ego_speed > 27.1 m/s and cut_in_gap <= 11.5 m and lighting in
  {night, twilight}``, with precision and recall on held-out samples.
- **What does the boundary look like?** :meth:`CriticalRegions.plot_slices` draws the
  :math:`g = 0` contour of a surrogate over the most important parameter pairs.
- **Which concrete scenarios should I look at?** :meth:`CriticalRegions.critical_scenarios`.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import openturns as ot
import pandas as pd
from scipy import stats

from safety_val._random import SeedLike, as_generator, derive_seed
from safety_val.errors import ValidationError
from safety_val.reliability.result import (
    CONFIDENCE_LEVEL,
    DesignPoint,
    FailureProbabilityResult,
    json_safe,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.scenario import LogicalScenario

__all__ = ["CriticalRegions", "ImportanceSampleLike", "analyze"]

_Array = np.ndarray[Any, np.dtype[np.float64]]

_MAX_RULES = 3
"""At most this many rules ("or" alternatives) per mode."""

_MIN_RECALL_GAIN = 0.05
"""A further rule must cover at least this fraction of the mode's failures not yet covered."""

_U_CLIP = 8.0
"""Standard-normal coordinates are clipped to ±this (OpenTURNS maps CDF 1 to about 8.1)."""

_DERIVED_TOP = 4
"""Derived features combine only the mode's this many most important continuous parameters."""

_MAX_DERIVED = 10
"""At most this many derived features (differences, time gaps) per mode."""

_TIME_CAP = 1e3
"""Time gaps (s) are capped here; a gap that is not closing (difference <= 0) gets this value."""

_BIG = 1e9
"""Stand-in for an infinite derived quantity (a time to an event that never comes)."""

_SURE_Z = 1.645
"""A leaf is precise enough when the one-sided 95 % Wilson bound of its precision is."""

_PEEL_ALPHA = 0.05
"""Share of a box's points removed per PRIM peeling step."""

_PEELED_LEAVES = 5
"""Leaves short of the precision target that are peeled towards it."""

_SELECT_SHARE = 1.0 / 3.0
"""Share of the training points that judges the candidate rules (the rest grows them)."""

_RATIOS = {"m": "m/s"}
"""Length unit -> speed unit whose differences give a time gap ``length / (a - b)`` in s."""


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


# ---------------------------------------------------------------------------------------------
# result object
# ---------------------------------------------------------------------------------------------


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
        self, top: int = 3, *, resolution: int = 60, max_points: int = 400, seed: SeedLike = 0
    ) -> Figure:
        r"""2-D slices of the limit-state boundary over the most important parameter pairs.

        A Gaussian-process surrogate of :math:`g` is fitted on the evaluated samples (all
        parameters, standardised); each panel shows its :math:`g = 0` contour over a pair
        with the other parameters held at the design point of the mode with the largest
        share, the safe samples in grey and the failures coloured by mode.

        Parameters
        ----------
        top
            Number of pairs (panels), ranked as :meth:`top_pairs`.
        resolution
            Grid points per axis.
        max_points
            Samples the surrogate is fitted on (all failures and the safe points with the
            smallest margins first, then a random subset).
        seed
            Seed of the subset and of the surrogate's optimiser.

        Returns
        -------
        matplotlib.figure.Figure
            A figure not registered with :mod:`matplotlib.pyplot`.

        Notes
        -----
        The surrogate is a slice of a fit, not of the simulator: away from the samples the
        contour is an extrapolation. Samples are projected onto the pair, so marked points
        need not lie on the slice.
        """
        from matplotlib.figure import Figure
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

        names = list(self.parameter_names)
        pairs = self.top_pairs(top) if len(names) > 1 else []
        if not pairs:
            raise ValidationError(
                "needs at least two parameters and top >= 1",
                field="top",
                value=top,
                expected="an int >= 1 with a result of dimension >= 2",
            )
        rng = as_generator(seed)
        x = self.points[names].to_numpy(dtype=float)
        g = self.points["g"].to_numpy(dtype=float)
        chosen = _surrogate_subset(g, max_points, rng)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0.0] = 1.0
        kernel = ConstantKernel(1.0) * RBF(np.ones(len(names)), (1e-2, 1e2)) + WhiteKernel(
            1e-2, (1e-6, 1e0)
        )
        gp = GaussianProcessRegressor(
            kernel, normalize_y=True, random_state=derive_seed(rng), n_restarts_optimizer=0
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit((x[chosen] - mean) / scale, g[chosen])
        anchor = np.asarray(self.design_points[0].x, dtype=float)
        figure = Figure(figsize=(4.5 * len(pairs), 4.2), layout="constrained")
        axes = np.atleast_1d(figure.subplots(1, len(pairs), squeeze=False)[0])
        failure = self.points["failure"].to_numpy(dtype=bool)
        mode = self.points["mode"].to_numpy(dtype=np.int64)
        for ax, (a, b) in zip(axes, pairs, strict=True):
            i, j = names.index(a), names.index(b)
            ga = np.linspace(x[:, i].min(), x[:, i].max(), resolution)
            gb = np.linspace(x[:, j].min(), x[:, j].max(), resolution)
            aa, bb = np.meshgrid(ga, gb)
            grid = np.tile(anchor, (aa.size, 1))
            grid[:, i], grid[:, j] = aa.ravel(), bb.ravel()
            surface = gp.predict((grid - mean) / scale).reshape(aa.shape)
            if surface.min() < 0.0:  # shade the predicted failure region, if the slice has one
                ax.contourf(aa, bb, surface, levels=[surface.min() - 1.0, 0.0], colors=["#f4cccc"])
            else:
                ax.set_title(f"{ax.get_title()} (no g <= 0 on this slice)", fontsize=8)
            if surface.min() < 0.0 < surface.max():
                ax.contour(aa, bb, surface, levels=[0.0], colors="crimson", linewidths=1.5)
            ax.scatter(x[~failure, i], x[~failure, j], s=4, c="0.75", label="safe")
            for m in sorted(set(mode[failure].tolist())):
                sel = mode == m
                ax.scatter(x[sel, i], x[sel, j], s=10, label=f"mode {m}")
            ax.plot(anchor[i], anchor[j], marker="*", ms=12, color="k", ls="")
            ax.set_xlabel(_axis_label(a, self.units))
            ax.set_ylabel(_axis_label(b, self.units))
            ax.set_title(f"g = 0 slice: {a} × {b}")
        axes[0].legend(loc="best", fontsize="small")
        return figure


# ---------------------------------------------------------------------------------------------
# analysis
# ---------------------------------------------------------------------------------------------


def analyze(
    result: FailureProbabilityResult,
    *,
    scenario: LogicalScenario | None = None,
    sample: ImportanceSampleLike | None = None,
    distribution: ot.Distribution | None = None,
    max_modes: int = 8,
    max_depth: int = 4,
    cluster_angle: float = 30.0,
    holdout: float = 0.3,
    min_precision: float = 0.9,
    seed: SeedLike = None,
) -> CriticalRegions:
    r"""Find the failure modes of a result, their shares of pf and readable rules for them.

    Parameters
    ----------
    result
        A reliability result whose ``samples`` (parameter columns, ``g``) contain failures.
    scenario
        The logical scenario: gives the distribution, the units and the category labels.
    sample
        An importance sample around the design points (``x``, ``g``, ``log_weight``);
        its weights make the modes' shares of pf unbiased. Its points join the result's.
    distribution
        The joint input distribution, when no ``scenario`` is given.
    max_modes
        At most this many modes (clusters are merged down to it).
    max_depth
        Depth of the decision trees, i.e. at most this many conditions per rule.
    cluster_angle
        Mixture components whose mean directions are within this angle (degrees) are
        merged into one mode.
    holdout
        Fraction of the points held out to report the rules' precision and recall.
    min_precision
        Rules are tree leaves for the mode: the one with most recall among those with at
        least this precision on the training points (or, if none has, the best by
        precision × recall), then up to two more of this precision that each cover at
        least 5 % of the mode's failures not yet covered.
    seed
        Seed of the train/hold-out split and the trees.

    Returns
    -------
    CriticalRegions
        Modes, rules, design points, notes; :meth:`~CriticalRegions.plot_slices` and
        :meth:`~CriticalRegions.critical_scenarios`.

    Raises
    ------
    ValidationError
        No failure samples (with the advice to increase the budget), no distribution, or
        an invalid option.

    Notes
    -----
    Failing points are mapped to standard normal space by the distribution's
    iso-probabilistic transformation :math:`u = T(x)` (discrete marginals at the middle
    of their probability step) and clustered with a Gaussian mixture whose number of
    components (1 to ``max_modes``) minimises the BIC (Schwarz, 1978); components whose
    mean *directions* :math:`\bar u/\lVert \bar u \rVert` lie within ``cluster_angle``
    are merged, since they describe the same failure direction.
    A mode's design point is its failing point of smallest
    :math:`\lVert u \rVert`, and :math:`\beta` that norm.

    With an importance sample of size :math:`n`, weights :math:`w_i = f(x_i)/q(x_i)`,
    the mode's probability is :math:`\hat p_k = \frac1n\sum_i w_i 1_{F_k}(x_i)` with
    variance :math:`\widehat{\mathrm{Var}}(w 1_{F_k})/n`; the :math:`\hat p_k` add up to
    the sample's pf exactly. Without one, shares are failure counts among the result's
    samples (unbiased only for crude Monte Carlo) and :math:`\hat p_k = s_k \hat p_f`.

    Rules come from a CART tree (Breiman et al., 1984) with balanced class weights that
    separates the mode's failures from all other points in physical units; each leaf
    predicting the mode is a conjunction of thresholds, merged per parameter.

    References
    ----------
    Breiman, L., Friedman, J., Olshen, R. and Stone, C. (1984). Classification and
    Regression Trees. Wadsworth. https://doi.org/10.1201/9781315139470

    Schwarz, G. (1978). Estimating the dimension of a model. The Annals of Statistics
    6(2), 461–464. https://doi.org/10.1214/aos/1176344136

    Der Kiureghian, A. and Dakessian, T. (1998). Multiple design points in first and
    second-order reliability. Structural Safety 20(1), 37–49.
    https://doi.org/10.1016/S0167-4730(97)00026-X

    Examples
    --------
    >>> import numpy as np, openturns as ot
    >>> from safety_val.reliability import estimate_failure_probability
    >>> def g(x):
    ...     return np.minimum(3.0 - x[:, 0], 3.0 + x[:, 0])
    >>> result = estimate_failure_probability(g, ot.Normal(2), method="mc",
    ...                                       max_calls=20_000, seed=1)
    >>> regions = analyze(result, distribution=ot.Normal(2), seed=0)
    >>> regions.n_modes, round(float(regions.modes["share"].sum()), 6)
    (2, 1.0)
    >>> sorted(regions.rules.groupby("mode")["rule"].first())
    ['x0 <= -3', 'x0 > 3.01']
    """
    _check_options(max_modes, max_depth, cluster_angle, holdout, min_precision)
    rng = as_generator(seed)
    if distribution is None:
        if scenario is None:
            raise ValidationError(
                "a distribution is required when no scenario is given",
                field="distribution",
                value=None,
                expected="an openturns.Distribution or scenario=",
            )
        distribution = scenario.distribution
    distribution = ot.Distribution(distribution)
    names = _parameter_names(result, scenario, distribution)
    units = {n: (scenario.parameter(n).unit if scenario is not None else "") for n in names}
    quantities = {n: _quantity(scenario, n) for n in names}
    categories: dict[str, tuple[str, ...]] = {}
    if scenario is not None:
        for n in names:
            labels = scenario.parameter(n).categories
            if labels is not None:
                categories[n] = tuple(labels)
    notes: list[str] = []

    # -- the points --------------------------------------------------------------------------
    samples = result.samples
    missing = [c for c in (*names, "g") if c not in samples.columns]
    if missing and sample is None:
        raise ValidationError(
            "the result carries no evaluated samples with these columns",
            field="result.samples",
            value=missing,
            expected=f"columns {', '.join((*names, 'g'))}",
        )
    x_parts = [] if missing else [samples[list(names)].to_numpy(dtype=float)]
    g_parts = [] if missing else [samples["g"].to_numpy(dtype=float)]
    weight_parts = [np.full(len(g_parts[0]), np.nan)] if g_parts else []
    if sample is not None:
        sx = np.asarray(sample.x, dtype=float).reshape(len(np.asarray(sample.g)), -1)
        if sx.shape[1] != len(names):
            raise ValidationError(
                "the importance sample's dimension does not match the result's",
                field="sample",
                value=f"dimension {sx.shape[1]}",
                expected=f"dimension {len(names)}",
            )
        x_parts.append(sx)
        g_parts.append(np.asarray(sample.g, dtype=float).ravel())
        weight_parts.append(np.exp(np.asarray(sample.log_weight, dtype=float).ravel()))
    x = np.concatenate(x_parts)
    g = np.concatenate(g_parts)
    weight = np.concatenate(weight_parts)
    failure = g <= 0.0
    if not failure.any():
        raise ValidationError(
            f"the result has no failure samples: none of its {len(g)} evaluated points has "
            "g <= 0, so there are no failure modes to describe; increase max_calls (the "
            "budget) or use a rare-event method (method='subset' or 'nais')",
            field="result",
            value=f"pf={result.pf:.3g}, n_calls={result.n_calls}",
            expected="a result with at least one failure sample",
        )
    u = _to_standard(distribution, x)
    norm = np.linalg.norm(u, axis=1)

    # -- modes ---------------------------------------------------------------------------------
    continuous = [
        n not in categories and not distribution.getMarginal(j).isDiscrete()
        for j, n in enumerate(names)
    ]
    # Discrete parameters (labels, value sets) sit at the middle of their probability step
    # in standard space: their levels would split one physical mechanism into a mode per
    # level. Modes are therefore clusters in the continuous coordinates; discrete ones
    # still enter the rules.
    clustered = np.flatnonzero(continuous) if any(continuous) else np.arange(len(names))
    if len(clustered) < len(names):
        notes.append(
            "failure modes are clusters in the continuous parameters; discrete ones ("
            + ", ".join(n for j, n in enumerate(names) if j not in clustered)
            + ") appear in the rules"
        )
    cluster = _cluster_directions(
        u[failure][:, clustered], max_modes, cluster_angle, notes, rng
    )
    mode = np.full(len(g), -1, dtype=np.int64)
    mode[failure] = cluster
    n_modes = int(cluster.max()) + 1

    # order modes by share (largest first), then relabel 0..k-1
    weighted = sample is not None
    in_sample = ~np.isnan(weight)
    if weighted:
        n_sample = int(in_sample.sum())
        contributions = np.where(failure & in_sample, weight, 0.0)
        mass = np.array([contributions[mode == k].sum() for k in range(n_modes)])
    else:
        mass = np.array([(mode == k).sum() for k in range(n_modes)], dtype=float)
    order = np.argsort(-mass, kind="stable")
    remap = np.empty(n_modes, dtype=np.int64)
    remap[order] = np.arange(n_modes)
    mode[failure] = remap[mode[failure]]
    mass = mass[order]

    # -- shares, per-mode pf -------------------------------------------------------------------
    z = float(stats.norm.ppf(0.5 + CONFIDENCE_LEVEL / 2.0))
    if weighted:
        total_mass = float(mass.sum())
        pf_total = total_mass / n_sample
        terms = np.where(failure & in_sample, weight, 0.0)[in_sample]
        se_total = float(np.std(terms, ddof=1) / math.sqrt(n_sample)) if n_sample > 1 else 0.0
        ci_total = (max(0.0, pf_total - z * se_total), pf_total + z * se_total)
        shares = mass / total_mass if total_mass > 0 else np.full(n_modes, np.nan)
        mode_in_sample = mode[in_sample]
        pf_modes, ci_modes = [], []
        for k in range(n_modes):
            t = np.where(mode_in_sample == k, terms, 0.0)
            p = float(t.mean())
            se = float(np.std(t, ddof=1) / math.sqrt(n_sample)) if n_sample > 1 else 0.0
            pf_modes.append(p)
            ci_modes.append((max(0.0, p - z * se), p + z * se))
        if total_mass == 0.0:
            notes.append(
                "the importance sample has no failures: shares are undefined; draw a larger sample"
            )
    else:
        pf_total, ci_total = float(result.pf), (float(result.ci[0]), float(result.ci[1]))
        n_fail = float(mass.sum())
        shares = mass / n_fail
        rel_pf = result.cov if math.isfinite(result.cov) else 0.0
        pf_modes, ci_modes = [], []
        for s in shares:
            p = float(s * pf_total)
            # delta method: Var(s p)/(s p)^2 ≈ cov_p^2 + (1 - s)/(s n_F)
            rel = math.sqrt(rel_pf**2 + (1.0 - s) / (s * n_fail)) if s > 0 else math.inf
            pf_modes.append(p)
            ci_modes.append((max(0.0, p * (1.0 - z * rel)), p * (1.0 + z * rel)))
        if result.method == "mc":
            notes.append("shares are failure counts of crude Monte Carlo samples (unbiased)")
        else:
            notes.append(
                "shares are unweighted failure counts among the result's samples, which "
                f"method {result.method!r} did not draw from the input distribution: they "
                "are indicative only; pass an importance sample (sample=) for unbiased shares"
            )

    # -- design points -------------------------------------------------------------------------
    design_points: list[DesignPoint] = []
    dp_distance = np.full(len(g), np.nan)
    rows: list[dict[str, Any]] = []
    for k in range(n_modes):
        members = np.flatnonzero(mode == k)
        best = members[np.argmin(norm[members])]
        dp_distance[members] = np.linalg.norm(u[members] - u[best], axis=1)
        design_points.append(
            DesignPoint(x=x[best].copy(), u=u[best].copy(), beta=float(norm[best]))
        )
        row: dict[str, Any] = {
            "mode": k,
            "share": float(shares[k]),
            "pf": pf_modes[k],
            "ci_low": ci_modes[k][0],
            "ci_high": ci_modes[k][1],
            "beta": float(norm[best]),
            "n_failures": int(members.size),
        }
        row.update({n: float(v) for n, v in zip(names, x[best], strict=True)})
        rows.append(row)
    modes = pd.DataFrame(rows)

    # -- rules ---------------------------------------------------------------------------------
    rules, importance = _mode_rules(
        x,
        u,
        mode,
        n_modes,
        names,
        units,
        quantities,
        categories,
        continuous,
        max_depth,
        holdout,
        min_precision,
        rng,
        _quantity_features(scenario, names),
    )

    points = pd.DataFrame(x, columns=list(names))
    points["g"] = g
    points["failure"] = failure
    points["mode"] = mode
    points["beta"] = norm
    points["weight"] = weight
    points["_dp_distance"] = dp_distance
    return CriticalRegions(
        modes=modes,
        rules=rules,
        design_points=tuple(design_points),
        notes=tuple(notes),
        pf=float(pf_total),
        ci=(float(ci_total[0]), float(ci_total[1])),
        parameter_names=tuple(names),
        units=units,
        categories=categories,
        points=points,
        importance=importance,
        scenario=scenario,
    )


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _check_options(
    max_modes: Any, max_depth: Any, cluster_angle: Any, holdout: Any, min_precision: Any
) -> None:
    for name, value in (("max_modes", max_modes), ("max_depth", max_depth)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValidationError("must be an int >= 1", field=name, value=value)
    checks = (
        ("cluster_angle", cluster_angle, 0.0, 180.0, "a number of degrees in (0, 180)"),
        ("holdout", holdout, 0.0, 1.0, "a fraction in (0, 1)"),
        ("min_precision", min_precision, 0.0, 1.0, "a fraction in (0, 1]"),
    )
    for name, value, low, high, expected in checks:
        ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
        if not ok or not (low < float(value) < high or (name == "min_precision" and value == 1)):
            raise ValidationError("out of range", field=name, value=value, expected=expected)


def _parameter_names(
    result: FailureProbabilityResult,
    scenario: LogicalScenario | None,
    distribution: ot.Distribution,
) -> tuple[str, ...]:
    if scenario is not None:
        names = tuple(scenario.names)
    elif result.parameter_names:
        names = tuple(result.parameter_names)
    else:
        names = tuple(f"x{i}" for i in range(int(distribution.getDimension())))
    if len(names) != int(distribution.getDimension()):
        raise ValidationError(
            "the distribution's dimension does not match the result's parameters",
            field="distribution",
            value=f"dimension {int(distribution.getDimension())}",
            expected=f"dimension {len(names)} ({', '.join(names)})",
        )
    return names


def _to_standard(distribution: ot.Distribution, x: _Array) -> _Array:
    """Iso-probabilistic transform; discrete marginals at the middle of their step."""
    u = np.array(
        distribution.getIsoProbabilisticTransformation()(ot.Sample(x)), dtype=float, copy=True
    ).reshape(x.shape)
    for j in range(x.shape[1]):
        marginal = distribution.getMarginal(j)
        if marginal.isDiscrete():
            upper = np.asarray(marginal.computeCDF(ot.Sample(x[:, [j]])), dtype=float).ravel()
            probability = np.asarray(marginal.computePDF(ot.Sample(x[:, [j]])), dtype=float).ravel()
            u[:, j] = stats.norm.ppf(np.clip(upper - probability / 2.0, 1e-15, 1.0 - 1e-15))
    u = np.clip(np.nan_to_num(u, nan=0.0, posinf=_U_CLIP, neginf=-_U_CLIP), -_U_CLIP, _U_CLIP)
    return u


def _cluster_directions(
    u: _Array,
    max_modes: int,
    cluster_angle: float,
    notes: list[str],
    rng: np.random.Generator,
    max_points: int = 1000,
) -> np.ndarray:
    """Cluster labels (0..k-1) of failing points in standard space (GMM, BIC, angle merge)."""
    from sklearn.mixture import GaussianMixture

    n, d = u.shape
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    # the points nearest the origin define the modes; the rest are assigned to them
    fit = np.argsort(np.linalg.norm(u, axis=1))[:max_points] if n > max_points else np.arange(n)
    seed = derive_seed(rng)
    best: GaussianMixture | None = None
    best_bic = math.inf
    for k in range(1, max_modes + 1):
        n_parameters = k * (d + d * (d + 1) / 2) + k - 1
        if n_parameters >= len(fit):
            break
        mixture = GaussianMixture(k, covariance_type="full", n_init=1, random_state=seed)
        mixture.fit(u[fit])
        bic = float(mixture.bic(u[fit]))
        if bic < best_bic:
            best, best_bic = mixture, bic
        elif best is not None and k > best.n_components + 1:
            break  # the BIC rose twice in a row
    if best is None:
        return np.zeros(n, dtype=np.int64)
    labels = np.asarray(best.predict(u), dtype=np.int64)
    # merge components whose mean directions are within cluster_angle of each other
    present = np.unique(labels)
    means = np.stack([u[labels == c].mean(axis=0) for c in present])
    directions = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    cosine = np.clip(directions @ directions.T, -1.0, 1.0)
    parent = list(range(len(present)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    limit = math.cos(math.radians(cluster_angle))
    for i, j in itertools.combinations(range(len(present)), 2):
        if cosine[i, j] >= limit:
            parent[root(j)] = root(i)
    groups = np.array([root(i) for i in range(len(present))])
    if len(np.unique(groups)) < len(present):
        notes.append(
            f"{len(present) - len(np.unique(groups))} mixture component(s) within "
            f"{cluster_angle:g} degrees of another were merged"
        )
    # a curved failure domain is cut into several components by the mixture: components
    # that touch (closest failures no farther apart than twice the typical spacing of the
    # failures) are one connected region, hence one mode
    before = len(np.unique(groups))
    for i, j in _touching(u, labels, present):
        if root(i) != root(j):
            parent[root(j)] = root(i)
    groups = np.array([root(i) for i in range(len(present))])
    if len(np.unique(groups)) < before:
        notes.append(
            f"{before - len(np.unique(groups))} mixture component(s) touching another were "
            "merged (one connected failure region)"
        )
    merged = groups[np.searchsorted(present, labels)]
    # clusters too small to describe join the one whose mean direction is nearest
    counts = pd.Series(merged).value_counts()
    min_size = max(3, math.ceil(0.01 * n))
    big = counts.index[counts >= min_size].to_numpy()
    if big.size == 0:
        big = counts.index[:1].to_numpy()
    unit = u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)
    centroids = np.stack([unit[merged == c].mean(axis=0) for c in big])
    small = ~np.isin(merged, big)
    if small.any():
        notes.append(
            f"{int(small.sum())} failure(s) in clusters of fewer than {min_size} were joined "
            "to the nearest mode"
        )
        merged[small] = big[np.argmax(unit[small] @ centroids.T, axis=1)]
    return np.asarray(np.searchsorted(np.sort(big), merged), dtype=np.int64)


def _touching(
    u: _Array, labels: np.ndarray, present: np.ndarray, factor: float = 2.0
) -> list[tuple[int, int]]:
    """Pairs of components (indices into ``present``) whose closest points touch.

    Two components touch when the distance between their closest members is at most
    ``factor`` times the median nearest-neighbour distance of all the points.
    """
    from scipy.spatial import cKDTree

    if len(present) < 2 or len(u) < 3:
        return []
    spacing = float(np.median(cKDTree(u).query(u, k=2)[0][:, 1]))
    trees = {i: cKDTree(u[labels == c]) for i, c in enumerate(present)}
    pairs = []
    for i, j in itertools.combinations(range(len(present)), 2):
        distance, _ = trees[j].query(u[labels == present[i]], k=1)
        if float(np.min(distance)) <= factor * spacing:
            pairs.append((i, j))
    return pairs


def _surrogate_subset(g: _Array, max_points: int, rng: np.random.Generator) -> np.ndarray:
    if len(g) <= max_points:
        return np.arange(len(g))
    near = np.argsort(np.abs(g), kind="stable")[: max_points // 2]
    rest = np.setdiff1d(np.arange(len(g)), near)
    extra = rng.choice(rest, size=max_points - near.size, replace=False)
    return np.sort(np.concatenate([near, extra]))


def _axis_label(name: str, units: Mapping[str, str]) -> str:
    unit = units.get(name, "")
    return f"{name} [{unit}]" if unit and unit != "-" else name


def _format_number(value: float) -> str:
    text = f"{value:.3g}"
    return text if "e" not in text else f"{value:.3e}"


def _condition_text(
    name: str,
    low: float,
    high: float,
    unit: str,
    labels: tuple[str, ...] | None,
) -> str:
    """Text of ``low < name <= high`` (either bound may be infinite)."""
    if labels is not None:
        codes = [c for c in range(len(labels)) if low < c <= high]
        chosen = [labels[c] for c in codes]
        if len(chosen) == 1:
            return f"{name} == {chosen[0]}"
        return f"{name} in {{{', '.join(chosen)}}}"
    suffix = f" {unit}" if unit and unit != "-" else ""
    if math.isfinite(low) and math.isfinite(high):
        return f"{_format_number(low)} < {name} <= {_format_number(high)}{suffix}"
    if math.isfinite(low):
        return f"{name} > {_format_number(low)}{suffix}"
    return f"{name} <= {_format_number(high)}{suffix}"


def _leaf_boxes(tree: Any, d: int) -> dict[int, tuple[_Array, _Array]]:
    """For every leaf: lower and upper bounds per feature (``low < x <= high``)."""
    structure = tree.tree_
    boxes: dict[int, tuple[_Array, _Array]] = {}
    stack = [(0, np.full(d, -np.inf), np.full(d, np.inf))]
    while stack:
        node, low, high = stack.pop()
        left, right = structure.children_left[node], structure.children_right[node]
        if left == right:
            boxes[int(node)] = (low, high)
            continue
        f, t = int(structure.feature[node]), float(structure.threshold[node])
        high_left = high.copy()
        high_left[f] = min(high[f], t)
        low_right = low.copy()
        low_right[f] = max(low[f], t)
        stack.append((int(left), low, high_left))
        stack.append((int(right), low_right, high))
    return boxes


def _in_box(x: _Array, low: _Array, high: _Array) -> np.ndarray:
    return np.asarray(np.all((x > low) & (x <= high), axis=1))


def _precision_recall(covered: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    hits = int((covered & positive).sum())
    precision = hits / int(covered.sum()) if covered.any() else math.nan
    recall = hits / int(positive.sum()) if positive.any() else math.nan
    return precision, recall


@dataclass(frozen=True)
class _Feature:
    """A feature of the rule trees: a parameter, a difference, a time gap or a quantity.

    ``kind`` is ``"raw"`` (parameter ``a``), ``"difference"`` (``x[a] - x[b]``, unit of
    ``a``), ``"time"`` (``x[gap] / (x[a] - x[b])`` in s where the difference is > 0,
    :data:`_TIME_CAP` elsewhere and above) or ``"quantity"`` (a derived physical quantity
    of the scenario, :mod:`safety_val.quantities`, computed by ``compute`` from the
    parameters ``inputs``).
    """

    kind: str
    name: str
    unit: str
    a: int
    b: int = -1
    gap: int = -1
    inputs: tuple[int, ...] = ()
    compute: Callable[[_Array], _Array] | None = field(default=None, compare=False)

    @property
    def parameters(self) -> tuple[int, ...]:
        if self.kind == "quantity":
            return self.inputs
        return tuple(i for i in (self.a, self.b, self.gap) if i >= 0)

    def values(self, x: _Array) -> _Array:
        if self.compute is not None:
            return np.nan_to_num(self.compute(x), nan=0.0, posinf=_BIG, neginf=-_BIG)
        if self.kind == "raw":
            return np.asarray(x[:, self.a], dtype=float)
        difference = x[:, self.a] - x[:, self.b]
        if self.kind == "difference":
            return np.asarray(difference, dtype=float)
        closing = difference > 0.0
        time = np.full(len(x), _TIME_CAP)
        time[closing] = x[closing, self.gap] / difference[closing]
        return np.asarray(np.clip(time, -_TIME_CAP, _TIME_CAP), dtype=float)


def _quantity(scenario: LogicalScenario | None, name: str) -> str:
    """The quantity a parameter measures: its ODD attribute's name without ``agent_``."""
    if scenario is None:
        return ""
    attribute = scenario.parameter(name).odd_attribute
    if not attribute:
        return ""
    leaf = attribute.rsplit(".", 1)[-1]
    return leaf.removeprefix("agent_")


def _derived_features(
    x: _Array,
    u: _Array,
    positive: np.ndarray,
    names: Sequence[str],
    units: Mapping[str, str],
    continuous: Sequence[bool],
    quantities: Mapping[str, str] | None = None,
) -> list[_Feature]:
    """Differences and time gaps of the mode's most important same-quantity parameters.

    Two parameters are differenced only if they measure the same quantity: the same unit
    and, when both map to ODD attributes, the same attribute name (``speed`` of the
    subject vehicle and ``agent_speed`` of traffic are both speeds; a lateral speed is
    not a longitudinal one).

    Parameters are ranked by the absolute components of the mean direction (standard
    space) of the mode's failures; of the :data:`_DERIVED_TOP` first continuous ones with a
    unit, every same-unit pair gives a difference, oriented so that it is positive on most
    of the mode's failures, and every length over a speed difference a time gap.
    """
    direction = np.abs(u[positive].mean(axis=0)) if positive.any() else np.zeros(len(names))
    eligible = [
        j
        for j in np.argsort(-direction, kind="stable")
        if continuous[j] and units.get(names[j], "") not in ("", "-")
    ][:_DERIVED_TOP]
    features: list[_Feature] = []
    differences: list[_Feature] = []
    for i, j in itertools.combinations(eligible, 2):
        unit = units[names[i]]
        if units[names[j]] != unit:
            continue
        kinds = quantities or {}
        if kinds.get(names[i]) and kinds.get(names[j]) and kinds[names[i]] != kinds[names[j]]:
            continue
        a, b = (i, j) if np.median(x[positive, i] - x[positive, j]) >= 0.0 else (j, i)
        feature = _Feature("difference", f"{names[a]} - {names[b]}", unit, int(a), int(b))
        differences.append(feature)
        features.append(feature)
    for gap in eligible:
        speed = _RATIOS.get(units[names[gap]])
        for diff in differences:
            if speed is not None and diff.unit == speed:
                name = f"{names[gap]} / ({diff.name})"
                features.append(_Feature("time", name, "s", diff.a, diff.b, int(gap)))
    # time gaps first: they are the ones that straighten an oblique boundary
    features.sort(key=lambda f: f.kind != "time")
    return features[:_MAX_DERIVED]


def _quantity_features(
    scenario: LogicalScenario | None, names: Sequence[str]
) -> list[_Feature]:
    """The scenario's derived physical quantities that read at least one parameter."""
    if scenario is None:
        return []
    from safety_val.quantities import quantity_values, scenario_quantities

    index = {name: j for j, name in enumerate(names)}
    probe = quantity_values(scenario, np.zeros((1, len(names))), names)
    features = []
    for quantity in scenario_quantities(scenario):
        inputs = tuple(index[n] for n in quantity.inputs if n in index)
        if quantity.name not in probe or not inputs:
            continue

        def compute(x: _Array, name: str = quantity.name) -> _Array:
            return quantity_values(scenario, x, names, only=(name,))[name]

        features.append(
            _Feature("quantity", quantity.name, quantity.unit, -1, inputs=inputs, compute=compute)
        )
    return features


def _feature_condition(
    feature: _Feature,
    low: float,
    high: float,
    names: Sequence[str],
    categories: Mapping[str, tuple[str, ...]],
) -> str:
    """Text of ``low < feature <= high``; time gaps spell out "not closing"."""
    if feature.kind != "time":
        labels = categories.get(feature.name) if feature.kind == "raw" else None
        return _condition_text(feature.name, low, high, feature.unit, labels)
    a, b = names[feature.a], names[feature.b]
    not_closing = f"{a} <= {b}"
    if math.isfinite(high) and high < _TIME_CAP:
        lower = _format_number(low) if math.isfinite(low) and low > 0.0 else "0"
        return f"{lower} < {feature.name} <= {_format_number(high)} s"
    if math.isfinite(low) and low < _TIME_CAP:
        return f"({feature.name} > {_format_number(low)} s or {not_closing})"
    return f"({feature.name} >= {_format_number(_TIME_CAP)} s or {not_closing})"


def _judge(
    xf: _Array, positive: np.ndarray, min_precision: float, low: _Array, high: _Array
) -> tuple[float, float, float, _Array, _Array, bool]:
    """A candidate box judged on ``xf``: (precision bound, precision, recall, box, sure)."""
    covered = _in_box(xf, low, high)
    precision, recall = _precision_recall(covered, positive)
    hits = int((covered & positive).sum())
    bound = _wilson_lower(hits, int(covered.sum()), z=_SURE_Z)
    return bound, precision, recall, low, high, bound >= min_precision


def _split(
    index: np.ndarray, positive: np.ndarray, share: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``index`` into (grow, judge) parts, stratified by ``positive`` when possible.

    With too few points of either class to split, both parts are the whole index.
    """
    from sklearn.model_selection import train_test_split

    labels = positive[index]
    if min(int(labels.sum()), int((~labels).sum())) < 6:
        return index, index
    grow, judge = train_test_split(
        index, test_size=share, random_state=derive_seed(rng), stratify=labels
    )
    return np.asarray(grow), np.asarray(judge)


def _peel(
    xf: _Array,
    positive: np.ndarray,
    low: _Array,
    high: _Array,
    min_precision: float,
    max_conditions: int,
    alpha: float = _PEEL_ALPHA,
) -> tuple[_Array, _Array]:
    """Shrink a box by PRIM peeling until its precision is surely ``min_precision``.

    Each step removes the ``alpha`` share of the covered points at one end of one
    feature (a new feature only while the box has fewer than ``max_conditions``
    conditions), choosing the peel that raises the precision most; it stops when the
    one-sided 95 % Wilson bound of the precision reaches ``min_precision``, when no peel
    helps, or when fewer than 10 failures remain (Friedman and Fisher, 1999).
    """
    low, high = low.copy(), high.copy()
    while True:
        bounded = [j for j in range(xf.shape[1]) if np.isfinite(low[j]) or np.isfinite(high[j])]
        # a new condition only while the rule stays short
        features = bounded if len(bounded) >= max_conditions else range(xf.shape[1])
        covered = _in_box(xf, low, high)
        n, hits = int(covered.sum()), int((covered & positive).sum())
        if n == 0 or hits < 10 or _wilson_lower(hits, n, z=_SURE_Z) >= min_precision:
            return low, high
        current = hits / n
        best: tuple[float, int, int, float] | None = None
        for j in features:
            values = xf[covered, j]
            for side, cut in ((0, float(np.quantile(values, alpha))),
                              (1, float(np.quantile(values, 1.0 - alpha)))):
                keep = covered & ((xf[:, j] > cut) if side == 0 else (xf[:, j] <= cut))
                kept = int(keep.sum())
                if 0 < kept < n:
                    precision = int((keep & positive).sum()) / kept
                    if best is None or precision > best[0]:
                        best = (precision, j, side, cut)
        if best is None or best[0] <= current:
            return low, high
        _, j, side, cut = best
        if side == 0:
            low[j] = cut
        else:
            high[j] = cut


def _wilson_lower(hits: int, n: int, z: float = 1.0) -> float:
    """Wilson score lower bound of a proportion (z = 1: a one-sided 84 % bound)."""
    if n == 0:
        return 0.0
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def _mode_rules(
    x: _Array,
    u: _Array,
    mode: np.ndarray,
    n_modes: int,
    names: Sequence[str],
    units: Mapping[str, str],
    quantities: Mapping[str, str],
    categories: Mapping[str, tuple[str, ...]],
    continuous: Sequence[bool],
    max_depth: int,
    holdout: float,
    min_precision: float,
    rng: np.random.Generator,
    physical: Sequence[_Feature] = (),
) -> tuple[pd.DataFrame, pd.Series]:
    """Rules per mode from shallow trees on the parameters and derived physical features.

    A leaf qualifies when the lower Wilson bound of its training precision reaches
    ``min_precision`` (a small pure leaf does not); qualified leaves are taken by recall,
    then the rest by precision x recall. Held-out precision and recall are reported only.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier

    d = len(names)
    rows: list[dict[str, Any]] = []
    importance = np.zeros(d)
    index = np.arange(len(x))
    raw = [_Feature("raw", n, units.get(n, ""), j) for j, n in enumerate(names)]
    for k in range(n_modes):
        positive = mode == k
        n_pos = int(positive.sum())
        stratify = positive if n_pos >= 4 and (~positive).sum() >= 4 else None
        if stratify is not None:
            train, test = train_test_split(
                index, test_size=holdout, random_state=derive_seed(rng), stratify=stratify
            )
        else:
            train, test = index, index[:0]
        features = [
            *raw,
            *physical,
            *_derived_features(
                x[train], u[train], positive[train], names, units, continuous, quantities
            ),
        ]
        xf = np.column_stack([f.values(x) for f in features])
        # leaves are grown on one part of the training points and judged on the other, so
        # that picking the best of many leaves does not flatter their precision
        fit, select = _split(train, positive, _SELECT_SHARE, rng)
        n_fit_pos = int(positive[fit].sum())
        n_select_pos = int(positive[select].sum())
        ratio = max(1.0, (len(fit) - n_fit_pos) / max(n_fit_pos, 1))

        judge = functools.partial(_judge, xf[select], positive[select], min_precision)
        candidates = []
        # trees from precision-leaning (failures down-weighted) to recall-leaning (balanced)
        for class_weight in (
            {False: 1.0, True: 0.25}, None, {False: 1.0, True: math.sqrt(ratio)}, "balanced"
        ):
            tree = DecisionTreeClassifier(
                max_depth=max_depth,
                class_weight=class_weight,
                min_samples_leaf=max(3, min(10, n_fit_pos // 10)),
                random_state=derive_seed(rng),
            )
            tree.fit(xf[fit], positive[fit])
            for low, high in _leaf_boxes(tree, len(features)).values():
                covered = _in_box(xf[fit], low, high)
                precision, _ = _precision_recall(covered, positive[fit])
                if covered.any() and precision > positive[fit].mean():
                    candidates.append(judge(low, high))
        for f, value in zip(features, tree.feature_importances_, strict=True):
            for j in f.parameters:
                importance[j] += value * n_pos / len(f.parameters)
        # leaves not yet precise enough are peeled (PRIM) towards min_precision
        unsure = sorted((c for c in candidates if not c[5]), key=lambda c: -c[0])
        for _, _, _, low, high, _ in unsure[:_PEELED_LEAVES]:
            candidates.append(judge(*_peel(xf[fit], positive[fit], low, high, min_precision,
                                           max_depth)))
        candidates = [c for c in candidates if math.isfinite(c[1])]
        # precise leaves first (by recall), then the rest by their precision's lower bound
        candidates.sort(key=lambda c: (not c[5], -c[2] if c[5] else -c[0]))
        chosen: list[tuple[float, float, float, _Array, _Array, bool]] = []
        union = np.zeros(len(select), dtype=bool)
        for candidate in candidates:
            box = _in_box(xf[select], candidate[3], candidate[4])
            gain = int((box & ~union & positive[select]).sum()) / max(n_select_pos, 1)
            if not chosen or (candidate[5] and gain >= _MIN_RECALL_GAIN):
                chosen.append(candidate)
                union |= box
            if len(chosen) >= _MAX_RULES:
                break
        for _, precision_train, recall_train, low, high, _ in chosen:
            score = precision_train * recall_train
            conditions = [
                _feature_condition(f, low[j], high[j], names, categories)
                for j, f in enumerate(features)
                if math.isfinite(low[j]) or math.isfinite(high[j])
            ]
            covered_all = _in_box(xf, low, high)
            precision, recall = _precision_recall(covered_all, positive)
            precision_test, recall_test = _precision_recall(covered_all[test], positive[test])
            rows.append(
                {
                    "mode": k,
                    "rule": " and ".join(conditions) if conditions else "always",
                    "precision": precision,
                    "recall": recall,
                    "precision_holdout": precision_test,
                    "recall_holdout": recall_test,
                    "n_covered": int(covered_all.sum()),
                    "score": float(score),
                }
            )
    frame = pd.DataFrame(
        rows,
        columns=[
            "mode",
            "rule",
            "precision",
            "recall",
            "precision_holdout",
            "recall_holdout",
            "n_covered",
            "score",
        ],
    )
    total = importance.sum()
    series = pd.Series(importance / total if total > 0 else importance, index=list(names))
    return frame, series
