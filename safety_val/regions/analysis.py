"""The orchestration of :func:`analyze`: points, modes, shares, design points, rules."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import openturns as ot
import pandas as pd
from scipy import stats

from safety_val._random import SeedLike, as_generator
from safety_val._validation import Constraint, Interval, check_options
from safety_val.errors import ValidationError
from safety_val.regions.modes import _cluster_directions, _to_standard
from safety_val.regions.result import CriticalRegions, ImportanceSampleLike
from safety_val.regions.rules import _mode_rules, _quantity, _quantity_features
from safety_val.reliability.result import (
    CONFIDENCE_LEVEL,
    DesignPoint,
    FailureProbabilityResult,
)

if TYPE_CHECKING:
    from safety_val.scenario import LogicalScenario

__all__ = ["analyze"]

_CONSTRAINTS: dict[str, list[Constraint]] = {
    "max_modes": [Interval(int, 1, None)],
    "max_depth": [Interval(int, 1, None)],
    "cluster_angle": [Interval(float, 0, 180, closed="neither")],
    "holdout": [Interval(float, 0, 1, closed="neither")],
    "min_precision": [Interval(float, 0, 1, closed="right")],
}
"""The options of :func:`analyze` and the values they accept."""


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
        Default: the result's own (:attr:`FailureProbabilityResult.scenario`) when no
        ``distribution`` is given either.
    sample
        An importance sample around the design points (``x``, ``g``, ``log_weight``);
        its weights make the modes' shares of pf unbiased. Its points join the result's.
    distribution
        The joint input distribution, when no ``scenario`` is given. Default: the
        result's own (:attr:`FailureProbabilityResult.distribution`, set by
        :func:`~safety_val.reliability.estimate_failure_probability`).
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
    >>> regions = analyze(result, seed=0)  # the result carries its distribution
    >>> regions.n_modes, round(float(regions.modes["share"].sum()), 6)
    (2, 1.0)
    >>> sorted(regions.rules.groupby("mode")["rule"].first())
    ['x0 <= -3', 'x0 > 3.01']
    """
    check_options(
        _CONSTRAINTS,
        max_modes=max_modes,
        max_depth=max_depth,
        cluster_angle=cluster_angle,
        holdout=holdout,
        min_precision=min_precision,
    )
    rng = as_generator(seed)
    if distribution is None and scenario is None:
        # what the result was estimated for (set by estimate_failure_probability)
        scenario = result.scenario
        distribution = None if scenario is not None else result.distribution
    if distribution is None:
        if scenario is None:
            raise ValidationError(
                "a distribution is required when no scenario is given and the result "
                "does not carry its own (a result read back from a run directory)",
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
        pf_source="importance sample" if weighted else "result",
        n_sample=int(in_sample.sum()) if weighted else None,
    )


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
