"""Fit parameter distributions of a logical scenario to observed data.

For each column of a table (e.g. speeds, gaps and decelerations extracted from
naturalistic driving or from NG events), candidate families are fitted with
OpenTURNS factories, ranked by the Bayesian information criterion and checked
with a goodness-of-fit test. The result converts directly into the
``parameters:`` (and ``dependence:``) block of a scenario file.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import openturns as ot
import pandas as pd
import yaml

from safety_val._random import SeedLike, as_generator, seed_openturns
from safety_val.distributions import FAMILIES, parse_distribution
from safety_val.errors import ValidationError

__all__ = ["CONTINUOUS_CANDIDATES", "DISCRETE_CANDIDATES", "FitResult", "fit_parameters"]

#: Families tried for continuous columns when ``families`` is not given.
CONTINUOUS_CANDIDATES = (
    "Normal", "LogNormal", "Uniform", "Triangular", "Beta", "Gamma", "Weibull", "Gumbel",
)
#: Families tried for integer columns with few distinct values.
DISCRETE_CANDIDATES = ("Poisson", "UserDefined")
#: An integer-valued column with at most this many distinct values is treated as discrete.
MAX_DISCRETE_VALUES = 20
#: Fewest rows accepted per column.
MIN_ROWS = 10
#: Resampling size cap of the Lilliefors test (p-value resolution about 1/sqrt of it).
LILLIEFORS_SAMPLING_SIZE = 200

FileLike = str | PathLike[str] | None


@dataclass(frozen=True)
class _Fitter:
    """How to fit one family: an OpenTURNS factory and our parameter names, in OT order."""

    factory: Callable[[], ot.DistributionFactory]
    names: tuple[str, ...]
    refine: bool = True  # polish the factory estimate by maximum likelihood


_FITTERS: Mapping[str, _Fitter] = {
    "Normal": _Fitter(ot.NormalFactory, ("mu", "sigma")),
    "LogNormal": _Fitter(ot.LogNormalFactory, ("mu_log", "sigma_log", "gamma")),
    "Uniform": _Fitter(ot.UniformFactory, ("lower", "upper"), refine=False),
    "Triangular": _Fitter(ot.TriangularFactory, ("lower", "mode", "upper"), refine=False),
    "Beta": _Fitter(ot.BetaFactory, ("alpha", "beta", "lower", "upper")),
    "Gamma": _Fitter(ot.GammaFactory, ("k", "lambda", "gamma")),
    "Weibull": _Fitter(ot.WeibullMinFactory, ("scale", "shape", "location")),
    "Gumbel": _Fitter(ot.GumbelFactory, ("scale", "mode")),
    "Poisson": _Fitter(ot.PoissonFactory, ("lambda",), refine=False),
}
_FITTABLE = (*_FITTERS, "UserDefined", "Categorical")


@dataclass(frozen=True)
class FitResult:
    """Distributions fitted to data, ready to paste into a scenario file.

    Attributes
    ----------
    table
        One row per (column, family tried): ``column``, ``family``, ``params``
        (dict in our parameter names), ``bic``, ``gof_test``, ``p_value``,
        ``accepted`` (not rejected at ``alpha``), ``chosen``.
    parameters
        The chosen parameter-block entries ``{"name", "unit", "distribution"}``.
    dependence
        ``{"copula": "normal", "correlation": "spearman", "parameters": [...],
        "matrix": [[...]]}`` if a copula was fitted, else ``None``.
    """

    table: pd.DataFrame
    parameters: list[dict[str, Any]]
    dependence: dict[str, Any] | None = None

    def to_frame(self) -> pd.DataFrame:
        """Return the comparison table (a copy)."""
        return self.table.copy()

    def to_yaml(self) -> str:
        """Return a YAML ``parameters:`` (and ``dependence:``) block for a scenario file.

        Examples
        --------
        >>> result = FitResult(pd.DataFrame(), [{"name": "v", "unit": "m/s",
        ...     "distribution": {"family": "Normal", "mu": 30.0, "sigma": 2.0}}])
        >>> print(result.to_yaml(), end="")
        parameters:
        - name: v
          unit: m/s
          distribution: {family: Normal, mu: 30.0, sigma: 2.0}
        """
        document: dict[str, Any] = {"parameters": self.parameters}
        if self.dependence is not None:
            document["dependence"] = self.dependence
        text: str = yaml.safe_dump(
            document, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True
        )
        return text


@contextmanager
def _lilliefors_budget(size: int) -> Iterator[None]:
    key = "FittingTest-LillieforsMaximumSamplingSize"
    old = ot.ResourceMap.GetAsUnsignedInteger(key)
    ot.ResourceMap.SetAsUnsignedInteger(key, size)
    try:
        yield
    finally:
        ot.ResourceMap.SetAsUnsignedInteger(key, old)


def _column_values(data: pd.DataFrame, column: str, file: FileLike) -> tuple[str, Any]:
    """Classify a column as ``("numeric", float array)`` or ``("categorical", labels)``."""
    if column not in data.columns:
        raise ValidationError("missing column", file=file, field=column, value=column,
                              expected="one of " + ", ".join(map(str, data.columns)))
    series = data[column]
    if len(series) < MIN_ROWS:
        raise ValidationError("too few rows to fit a distribution", file=file, field=column,
                              value=len(series), expected=f"at least {MIN_ROWS} rows")
    if series.isna().any():
        raise ValidationError("missing values", file=file, field=column,
                              value=int(series.isna().sum()), expected="no NaN/None (drop them)")
    if pd.api.types.is_bool_dtype(series):
        return "categorical", [str(v).lower() for v in series]
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValidationError("non-finite values", file=file, field=column,
                                  value=values[~np.isfinite(values)][0], expected="finite numbers")
        return "numeric", values
    if all(isinstance(v, str) for v in series):
        return "categorical", list(series)
    bad = next(v for v in series if not isinstance(v, str))
    raise ValidationError("non-numeric value in a text column", file=file, field=column,
                          value=bad, expected="all numbers or all strings")


def _empirical(labels: Sequence[Any]) -> tuple[list[Any], list[float]]:
    counts = pd.Series(list(labels)).value_counts().sort_index()
    total = float(counts.sum())
    return list(counts.index), [float(c) / total for c in counts.to_numpy()]


def _row(column: str, family: str, params: dict[str, Any], bic: float, test: str,
         p_value: float, alpha: float) -> dict[str, Any]:
    accepted = bool(math.isfinite(p_value) and p_value >= alpha)
    return {"column": column, "family": family, "params": params, "bic": bic,
            "gof_test": test, "p_value": p_value, "accepted": accepted, "chosen": False}


def _fit_continuous(values: np.ndarray, column: str, families: Sequence[str], alpha: float,
                    gof: str, file: FileLike) -> list[dict[str, Any]]:
    sample = ot.Sample(values.reshape(-1, 1))
    rows = []
    for family in families:
        fitter = _FITTERS[family]
        try:
            with _quiet_openturns():
                start = fitter.factory().build(sample)
                dist = _maximum_likelihood(start, sample, fitter.refine)
            params = dict(zip(fitter.names, (float(x) for x in dist.getParameter()), strict=True))
            params = {k: v for k, v in parse_distribution(
                {"family": family, **params}, file=file, field=f"{column}.{family}",
            ).to_dict().items() if k != "family"}
            k = dist.getParameterDimension()
            bic = float(ot.FittingTest.BIC(sample, dist, k))
            if family == "Poisson":
                test = "chi-squared"
                p_value = float(ot.FittingTest.ChiSquared(sample, dist, alpha, k).getPValue())
            elif gof == "lilliefors":
                test = "lilliefors"
                p_value = float(ot.FittingTest.Lilliefors(sample, fitter.factory(), alpha)[1]
                                .getPValue())
            else:
                test = "kolmogorov"
                p_value = float(ot.FittingTest.Kolmogorov(sample, dist, alpha).getPValue())
        except (RuntimeError, TypeError, ValueError) as exc:  # the factory or test failed
            rows.append({**_row(column, family, {}, math.inf, "failed", math.nan, alpha),
                         "message": str(exc).splitlines()[0][:200]})
            continue
        rows.append({**_row(column, family, params, bic, test, p_value, alpha), "message": ""})
    return rows


@contextlib.contextmanager
def _quiet_openturns() -> Iterator[None]:
    """Silence OpenTURNS' log while fitting.

    Its optimisers print e.g. "TNC algorithm failed" to stderr; a family that fails is a
    row of the BIC table, not console noise.
    """
    flags = ot.Log.Flags()
    ot.Log.Show(ot.Log.NONE)
    try:
        yield
    finally:
        ot.Log.Show(flags)


def _maximum_likelihood(start: ot.Distribution, sample: ot.Sample, refine: bool) -> ot.Distribution:
    """Polish a factory estimate (some are moment-based) by maximum likelihood.

    A failed polish keeps the factory estimate.
    """
    if not refine:
        return start
    try:
        polished = ot.MaximumLikelihoodFactory(start).build(sample)
    except (RuntimeError, TypeError, ValueError):
        return start
    if _log_likelihood(polished, sample) > _log_likelihood(start, sample):
        return polished
    return start


def _log_likelihood(dist: ot.Distribution, sample: ot.Sample) -> float:
    total = float(np.sum(np.asarray(dist.computeLogPDF(sample))))
    return total if math.isfinite(total) else -math.inf


def _fit_user_defined(values: np.ndarray, column: str, alpha: float) -> dict[str, Any]:
    support, weights = _empirical(values.tolist())
    dist = parse_distribution({"family": "UserDefined", "values": support, "weights": weights})
    sample = ot.Sample(values.reshape(-1, 1))
    bic = float(ot.FittingTest.BIC(sample, dist.build(), len(support) - 1))
    params = {k: v for k, v in dist.to_dict().items() if k != "family"}
    # The empirical distribution reproduces the data exactly: nothing to test.
    return {**_row(column, "UserDefined", params, bic, "none (empirical)", 1.0, alpha),
            "message": ""}


def _resolve_families(families: Sequence[str] | None, file: FileLike) -> list[str] | None:
    if families is None:
        return None
    resolved = []
    for name in families:
        canonical = next((f for f in FAMILIES if f.lower() == str(name).lower()), "")
        if canonical == "UserDefined" or canonical in _FITTERS:
            resolved.append(canonical)
            continue
        raise ValidationError("family cannot be fitted", file=file, field="families",
                              value=name, expected="one of " + ", ".join(_FITTABLE[:-1]))
    return resolved


def fit_parameters(
    data: pd.DataFrame,
    columns: Sequence[str],
    *,
    families: Sequence[str] | None = None,
    copula: bool = False,
    alpha: float = 0.05,
    units: Mapping[str, str] | None = None,
    gof: str = "kolmogorov",
    seed: SeedLike = None,
    file: FileLike = None,
) -> FitResult:
    r"""Fit a distribution family to each column and choose the best by BIC.

    Parameters
    ----------
    data
        Observations, one row per observation.
    columns
        The columns to fit; each becomes a scenario parameter of that name.
    families
        Candidate families for numeric columns (default: Normal, LogNormal,
        Uniform, Triangular, Beta, Gamma, Weibull, Gumbel; for integer columns with
        at most 20 distinct values: Poisson, UserDefined). Text columns always get
        a Categorical with the empirical weights.
    copula
        Also estimate a normal copula from the Spearman rank correlation of the
        numeric columns.
    alpha
        Level of the goodness-of-fit test; a family is rejected if ``p < alpha``.
    units
        Unit of each column, copied into the parameter entries.
    gof
        ``"kolmogorov"`` (default) or ``"lilliefors"``; discrete families always use
        the chi-squared test.
    seed
        Seed of the Lilliefors resampling (see :mod:`safety_val._random`).
    file
        Where the data came from, for error messages.

    Returns
    -------
    FitResult
        The comparison table, the chosen parameter entries and the dependence.

    Raises
    ------
    ValidationError
        For a missing column, fewer than 10 rows, missing or non-finite values,
        mixed text and numbers, an unknown or non-fittable family, an unknown
        ``gof``, or a Spearman matrix that is not positive definite.

    Warns
    -----
    UserWarning
        If every family is rejected for a column (the lowest BIC is then chosen
        with ``accepted=False``).

    Notes
    -----
    Parameters are fitted by the OpenTURNS factories, then polished by
    maximum likelihood (``ot.MaximumLikelihoodFactory`` started from the
    factory estimate; kept only if the likelihood improves) except for
    Uniform, Triangular and Poisson; families are ranked by
    :math:`\mathrm{BIC} = -2\log L + k\log n` (OpenTURNS divides it by
    :math:`n`), and the chosen family is the lowest BIC among those not
    rejected. The Kolmogorov–Smirnov test uses parameters estimated on the
    same sample, which makes its p-values too large: a rejection is reliable, an
    acceptance is weak evidence. ``gof="lilliefors"`` corrects this by
    resampling (capped at 200 resamples, so slower and resolved to ~0.02).

    A normal copula is parameterised by the Spearman matrix :math:`\rho_S`; its
    Pearson correlation is :math:`R = 2\sin(\pi\rho_S/6)`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> data = pd.DataFrame({"speed": rng.normal(30.0, 2.0, 500),
    ...                      "road": rng.choice(["dry", "wet"], 500, p=[0.8, 0.2])})
    >>> result = fit_parameters(data, ["speed", "road"], families=["Normal", "Uniform"],
    ...                         units={"speed": "m/s"})
    >>> [p["distribution"]["family"] for p in result.parameters]
    ['Normal', 'Categorical']
    >>> round(result.parameters[0]["distribution"]["mu"])
    30
    """
    if not 0.0 < alpha < 1.0:
        raise ValidationError("invalid test level", file=file, field="alpha", value=alpha,
                              expected="0 < alpha < 1")
    if gof not in ("kolmogorov", "lilliefors"):
        raise ValidationError("unknown goodness-of-fit test", file=file, field="gof", value=gof,
                              expected="one of kolmogorov, lilliefors")
    if not columns:
        raise ValidationError("no columns to fit", file=file, field="columns", value=columns,
                              expected="at least one column name")
    candidates = _resolve_families(families, file)
    units = dict(units or {})
    seed_openturns(as_generator(seed))
    rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    numeric: dict[str, np.ndarray] = {}
    with _lilliefors_budget(LILLIEFORS_SAMPLING_SIZE):
        for column in columns:
            kind, values = _column_values(data, column, file)
            if kind == "categorical":
                labels, weights = _empirical(values)
                spec = parse_distribution({"family": "Categorical",
                                           "categories": [str(x) for x in labels],
                                           "weights": weights})
                params = {k: v for k, v in spec.to_dict().items() if k != "family"}
                col_rows = [{**_row(column, "Categorical", params, math.nan, "none (empirical)",
                                    1.0, alpha), "message": ""}]
            else:
                numeric[column] = values
                col_rows = _fit_numeric(values, column, candidates, alpha, gof, file)
            best = _choose(col_rows, column)
            best["chosen"] = True
            rows.extend(col_rows)
            entries.append({"name": column, "unit": units.get(column, "-" if kind == "categorical"
                                                               else None),
                            "distribution": {"family": best["family"], **best["params"]}})
    dependence = _spearman_dependence(numeric, file) if copula else None
    table = pd.DataFrame(rows, columns=["column", "family", "params", "bic", "gof_test",
                                        "p_value", "accepted", "chosen", "message"])
    return FitResult(table=table, parameters=entries, dependence=dependence)


def _fit_numeric(values: np.ndarray, column: str, candidates: list[str] | None, alpha: float,
                 gof: str, file: FileLike) -> list[dict[str, Any]]:
    integer = bool(np.all(values == np.round(values)))
    distinct = len(np.unique(values))
    if candidates is None:
        if integer and distinct <= MAX_DISCRETE_VALUES:
            candidates = [f for f in DISCRETE_CANDIDATES if f != "Poisson" or values.min() >= 0]
        else:
            candidates = list(CONTINUOUS_CANDIDATES)
    rows = _fit_continuous(values, column, [f for f in candidates if f != "UserDefined"],
                           alpha, gof, file)
    if "UserDefined" in candidates:
        rows.append(_fit_user_defined(values, column, alpha))
    return rows


def _choose(rows: list[dict[str, Any]], column: str) -> dict[str, Any]:
    fitted = [r for r in rows if r["params"]]
    if not fitted:
        raise ValidationError("no candidate family could be fitted", field=column,
                              value=[r["family"] for r in rows],
                              expected="data a candidate family can describe")
    accepted = [r for r in fitted if r["accepted"]]
    if accepted:
        return min(accepted, key=lambda r: (r["bic"] if math.isfinite(r["bic"]) else math.inf))
    best = min(fitted, key=lambda r: r["bic"])
    warnings.warn(
        f"{column}: every candidate family was rejected by the goodness-of-fit test; "
        f"choosing {best['family']} (lowest BIC) anyway",
        UserWarning,
        stacklevel=3,
    )
    return best


def _spearman_dependence(numeric: Mapping[str, np.ndarray], file: FileLike) -> dict[str, Any]:
    names = list(numeric)
    if len(names) < 2:
        raise ValidationError("a copula needs at least two numeric columns", file=file,
                              field="columns", value=names, expected="two or more numeric columns")
    frame = pd.DataFrame(numeric)
    matrix = frame.corr(method="spearman").to_numpy()
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise ValidationError(
            "Spearman correlation matrix is not positive definite", file=file, field="columns",
            value=names, expected="columns that are not perfectly (rank-)correlated",
        ) from None
    return {
        "copula": "normal",
        "correlation": "spearman",
        "parameters": names,
        "matrix": [[float(x) for x in row] for row in matrix],
    }
