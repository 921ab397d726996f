"""Registry of the distribution families a logical scenario may use.

A parameter of a logical-scenario YAML file carries
``distribution: {family: ..., <params>}`` and an optional ``bounds: [lo, hi]``.
:func:`parse_distribution` validates such a block against the family registry
:data:`FAMILIES` and returns a :class:`DistributionSpec`; :func:`build_marginal`
turns it into an OpenTURNS marginal, truncated to ``bounds`` when given.

Families and their parameters (names as they appear in scenario files):

=================  ===============================================  ========
family             parameters (``name=default`` if optional)        discrete
=================  ===============================================  ========
Normal             mu, sigma                                        no
TruncatedNormal    mu, sigma, lower, upper                          no
LogNormal          mu_log, sigma_log, gamma=0                       no
Uniform            lower, upper                                     no
Triangular         lower, mode, upper                               no
Beta               alpha, beta, lower, upper                        no
Gamma              k, lambda, gamma=0                               no
Weibull            scale, shape, location=0                         no
Gumbel             scale, mode                                      no
Histogram          edges (n+1 increasing), weights (n)              no
UserDefined        values, weights=equal (alias ``Discrete``)       yes
Categorical        categories (unique strings), weights=equal       yes
Poisson            lambda                                           yes
Grid               lower, upper, step (DistributionRange)           yes
Set                values, numbers or strings (DistributionSet)     yes
=================  ===============================================  ========

``Grid`` and ``Set`` are the deterministic sweeps of OpenSCENARIO; for
probability purposes they are discrete-uniform over their points.
``Categorical`` (and a ``Set`` of strings) is represented in OpenTURNS by a
finite discrete distribution over the codes ``0 .. k-1``; the labels are in
:attr:`DistributionSpec.categories`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from types import MappingProxyType
from typing import Any

import openturns as ot

from safety_val._validation import check_keys
from safety_val.errors import ValidationError

__all__ = [
    "FAMILIES",
    "DistributionSpec",
    "Family",
    "FamilyParameter",
    "build_marginal",
    "get_family",
    "parse_distribution",
    "support",
]

FileLike = str | PathLike[str] | None

#: Largest number of points a ``Grid`` may expand to.
MAX_GRID_POINTS = 1_000_000

_REQUIRED: Any = object()


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class _Where:
    """Location of a distribution block, for error messages."""

    file: FileLike
    field: str

    def at(self, name: str) -> _Where:
        return _Where(self.file, f"{self.field}.{name}" if self.field else name)

    def item(self, index: int) -> _Where:
        return _Where(self.file, f"{self.field}[{index}]")

    def error(self, message: str, value: Any = ..., expected: str | None = None) -> ValidationError:
        return ValidationError(
            message, file=self.file, field=self.field, value=value, expected=expected
        )


def _number(value: Any, where: _Where) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error("non-numeric value", value, "a number")
    number = float(value)
    if not math.isfinite(number):
        raise where.error("value is not finite", value, "a finite number")
    return number


def _positive(value: Any, where: _Where, what: str = "value") -> float:
    number = _number(value, where)
    if number <= 0.0:
        raise where.error(f"negative or zero {what}", value, "a number > 0")
    return number


def _sequence(value: Any, where: _Where, min_len: int = 1) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise where.error("not a list", value, f"a list of at least {min_len} item(s)")
    if len(value) < min_len:
        raise where.error("list too short", value, f"a list of at least {min_len} item(s)")
    return list(value)


def _numbers(value: Any, where: _Where, min_len: int = 1) -> tuple[float, ...]:
    items = _sequence(value, where, min_len)
    return tuple(_number(item, where.item(i)) for i, item in enumerate(items))


def _weights(value: Any, where: _Where, length: int) -> tuple[float, ...]:
    weights = _numbers(value, where)
    if len(weights) != length:
        raise where.error(
            f"weights length mismatch ({len(weights)} weights for {length} items)",
            value,
            f"{length} weights",
        )
    for i, weight in enumerate(weights):
        if weight < 0.0:
            raise where.item(i).error("negative weight", weight, "a number >= 0")
    if sum(weights) <= 0.0:
        raise where.error("all weights are zero", value, "weights with a positive sum")
    return weights


def _ordered(lower: float, upper: float, where: _Where, lower_name: str = "lower") -> None:
    if lower >= upper:
        raise where.error(
            "reversed bounds", [lower, upper], f"{lower_name} < upper"
        )


def _unique(items: Sequence[Any], where: _Where, what: str) -> None:
    seen: set[Any] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise where.item(i).error(f"duplicate {what}", item, f"unique {what}s")
        seen.add(item)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class FamilyParameter:
    """One named parameter of a distribution family.

    Parameters
    ----------
    name
        The name used in scenario files, e.g. ``"sigma"``.
    doc
        What the parameter means, with its unit if it has one.
    default
        The default value; absent for required parameters.
    """

    name: str
    doc: str
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        """Whether the parameter must be given."""
        return self.default is _REQUIRED


Validator = Callable[[dict[str, Any], _Where], dict[str, Any]]
Builder = Callable[[Mapping[str, Any]], ot.Distribution]


@dataclass(frozen=True)
class Family:
    """A distribution family: its parameters, validator and OpenTURNS builder.

    Parameters
    ----------
    name
        Canonical name, e.g. ``"TruncatedNormal"``.
    parameters
        The named parameters, required ones first.
    validate
        Takes the raw parameters (defaults already filled in) and a location,
        returns the validated parameters (floats, tuples for lists) or raises
        :class:`~safety_val.errors.ValidationError`.
    build
        Builds the OpenTURNS marginal from validated parameters.
    discrete
        Whether the distribution is discrete.
    doc
        One-line description.
    aliases
        Other accepted names (case-insensitive).
    """

    name: str
    parameters: tuple[FamilyParameter, ...]
    validate: Validator = field(repr=False)
    build: Builder = field(repr=False)
    discrete: bool
    doc: str
    aliases: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the required parameters."""
        return tuple(p.name for p in self.parameters if p.required)

    @property
    def optional(self) -> Mapping[str, Any]:
        """Names of the optional parameters and their defaults."""
        return {p.name: p.default for p in self.parameters if not p.required}


def _finite_discrete(values: Sequence[float], weights: Sequence[float]) -> ot.Distribution:
    points = ot.Sample([[v] for v in values])
    factory = getattr(ot, "FiniteDiscreteDistribution", None) or ot.UserDefined
    return factory(points, list(weights))


def grid_points(lower: float, upper: float, step: float) -> tuple[float, ...]:
    """Points of an OpenSCENARIO ``DistributionRange``: ``lower + i*step <= upper``.

    A step that does not divide the range exactly is accepted: the last point is
    the largest ``lower + i*step`` not above ``upper`` (within a relative
    tolerance of 1e-9 of a step).

    Examples
    --------
    >>> grid_points(0.0, 1.0, 0.25)
    (0.0, 0.25, 0.5, 0.75, 1.0)
    >>> grid_points(0.0, 1.0, 0.3)
    (0.0, 0.3, 0.6, 0.8999999999999999)
    """
    count = math.floor((upper - lower) / step + 1e-9) + 1
    return tuple(lower + i * step for i in range(count))


def _v_normal(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    return {
        "mu": _number(p["mu"], w.at("mu")),
        "sigma": _positive(p["sigma"], w.at("sigma"), "standard deviation"),
    }


def _v_truncated_normal(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    out = _v_normal(p, w)
    lower, upper = _number(p["lower"], w.at("lower")), _number(p["upper"], w.at("upper"))
    _ordered(lower, upper, w.at("lower"))
    out.update(lower=lower, upper=upper)
    if ot.Normal(out["mu"], out["sigma"]).computeProbability(ot.Interval(lower, upper)) <= 0.0:
        raise w.error(
            "no probability mass between lower and upper", [lower, upper],
            "bounds within ~37 standard deviations of mu",
        )
    return out


def _v_lognormal(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    return {
        "mu_log": _number(p["mu_log"], w.at("mu_log")),
        "sigma_log": _positive(p["sigma_log"], w.at("sigma_log"), "standard deviation"),
        "gamma": _number(p["gamma"], w.at("gamma")),
    }


def _v_uniform(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    lower, upper = _number(p["lower"], w.at("lower")), _number(p["upper"], w.at("upper"))
    _ordered(lower, upper, w.at("lower"))
    return {"lower": lower, "upper": upper}


def _v_triangular(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    out = _v_uniform(p, w)
    mode = _number(p["mode"], w.at("mode"))
    if not out["lower"] <= mode <= out["upper"]:
        raise w.at("mode").error(
            "mode outside [lower, upper]", mode, f"a number in [{out['lower']}, {out['upper']}]"
        )
    return {"lower": out["lower"], "mode": mode, "upper": out["upper"]}


def _v_beta(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    return {
        "alpha": _positive(p["alpha"], w.at("alpha"), "shape"),
        "beta": _positive(p["beta"], w.at("beta"), "shape"),
        **_v_uniform(p, w),
    }


def _v_gamma(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    return {
        "k": _positive(p["k"], w.at("k"), "shape"),
        "lambda": _positive(p["lambda"], w.at("lambda"), "rate"),
        "gamma": _number(p["gamma"], w.at("gamma")),
    }


def _v_weibull(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    return {
        "scale": _positive(p["scale"], w.at("scale"), "scale"),
        "shape": _positive(p["shape"], w.at("shape"), "shape"),
        "location": _number(p["location"], w.at("location")),
    }


def _v_gumbel(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    return {
        "scale": _positive(p["scale"], w.at("scale"), "scale"),
        "mode": _number(p["mode"], w.at("mode")),
    }


def _v_histogram(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    edges = _numbers(p["edges"], w.at("edges"), min_len=2)
    for i in range(1, len(edges)):
        if edges[i] <= edges[i - 1]:
            raise w.at("edges").item(i).error(
                "edges not increasing", edges[i], f"a number > {edges[i - 1]}"
            )
    weights = _weights(p["weights"], w.at("weights"), len(edges) - 1)
    return {"edges": edges, "weights": weights}


def _v_user_defined(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    values = _numbers(p["values"], w.at("values"))
    _unique(values, w.at("values"), "value")
    weights = (1.0,) * len(values) if p["weights"] is None else p["weights"]
    return {"values": values, "weights": _weights(weights, w.at("weights"), len(values))}


def _v_categorical(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    where = w.at("categories")
    categories = _sequence(p["categories"], where)
    for i, category in enumerate(categories):
        if not isinstance(category, str) or not category:
            raise where.item(i).error("not a category label", category, "a non-empty string")
    _unique(categories, where, "category")
    weights = (1.0,) * len(categories) if p["weights"] is None else p["weights"]
    return {
        "categories": tuple(categories),
        "weights": _weights(weights, w.at("weights"), len(categories)),
    }


def _v_poisson(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    return {"lambda": _positive(p["lambda"], w.at("lambda"), "rate")}


def _v_grid(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    out = _v_uniform(p, w)
    step = _positive(p["step"], w.at("step"), "step")
    if (out["upper"] - out["lower"]) / step + 1 > MAX_GRID_POINTS:
        raise w.at("step").error(
            "step too small", step, f"at most {MAX_GRID_POINTS} grid points"
        )
    out["step"] = step
    return out


def _v_set(p: dict[str, Any], w: _Where) -> dict[str, Any]:
    where = w.at("values")
    values = _sequence(p["values"], where)
    if all(isinstance(v, str) for v in values):
        for i, value in enumerate(values):
            if not value:
                raise where.item(i).error("empty label", value, "a non-empty string")
        items: tuple[Any, ...] = tuple(values)
    elif any(isinstance(v, str) for v in values):
        raise where.error("mixed numbers and strings", values, "all numbers or all strings")
    else:
        items = _numbers(values, where)
    _unique(items, where, "value")
    return {"values": items}


def _b_histogram(p: Mapping[str, Any]) -> ot.Distribution:
    edges, weights = p["edges"], p["weights"]
    widths = [edges[i + 1] - edges[i] for i in range(len(weights))]
    return ot.Histogram(edges[0], widths, [wt / wd for wt, wd in zip(weights, widths, strict=True)])


def _b_set(p: Mapping[str, Any]) -> ot.Distribution:
    values = p["values"]
    points = range(len(values)) if isinstance(values[0], str) else values
    return _finite_discrete([float(v) for v in points], [1.0] * len(values))


def _param(name: str, doc: str, default: Any = _REQUIRED) -> FamilyParameter:
    return FamilyParameter(name, doc, default)


_FAMILY_LIST: tuple[Family, ...] = (
    Family(
        "Normal",
        (_param("mu", "mean"), _param("sigma", "standard deviation > 0")),
        _v_normal,
        lambda p: ot.Normal(p["mu"], p["sigma"]),
        False,
        "Gaussian N(mu, sigma^2).",
    ),
    Family(
        "TruncatedNormal",
        (
            _param("mu", "mean of the parent normal"),
            _param("sigma", "standard deviation of the parent normal > 0"),
            _param("lower", "lower truncation bound"),
            _param("upper", "upper truncation bound > lower"),
        ),
        _v_truncated_normal,
        lambda p: ot.TruncatedNormal(p["mu"], p["sigma"], p["lower"], p["upper"]),
        False,
        "Normal(mu, sigma) restricted to [lower, upper].",
    ),
    Family(
        "LogNormal",
        (
            _param("mu_log", "mean of log(X - gamma)"),
            _param("sigma_log", "standard deviation of log(X - gamma) > 0"),
            _param("gamma", "location (shift)", 0.0),
        ),
        _v_lognormal,
        lambda p: ot.LogNormal(p["mu_log"], p["sigma_log"], p["gamma"]),
        False,
        "X = gamma + exp(N(mu_log, sigma_log^2)).",
    ),
    Family(
        "Uniform",
        (_param("lower", "lower bound"), _param("upper", "upper bound > lower")),
        _v_uniform,
        lambda p: ot.Uniform(p["lower"], p["upper"]),
        False,
        "Uniform on [lower, upper].",
    ),
    Family(
        "Triangular",
        (_param("lower", "lower bound"), _param("mode", "mode in [lower, upper]"),
         _param("upper", "upper bound > lower")),
        _v_triangular,
        lambda p: ot.Triangular(p["lower"], p["mode"], p["upper"]),
        False,
        "Triangular on [lower, upper] with the given mode.",
    ),
    Family(
        "Beta",
        (_param("alpha", "first shape > 0"), _param("beta", "second shape > 0"),
         _param("lower", "lower bound"), _param("upper", "upper bound > lower")),
        _v_beta,
        lambda p: ot.Beta(p["alpha"], p["beta"], p["lower"], p["upper"]),
        False,
        "Beta(alpha, beta) scaled to [lower, upper].",
    ),
    Family(
        "Gamma",
        (_param("k", "shape > 0"), _param("lambda", "rate > 0"),
         _param("gamma", "location (shift)", 0.0)),
        _v_gamma,
        lambda p: ot.Gamma(p["k"], p["lambda"], p["gamma"]),
        False,
        "Gamma with shape k and rate lambda, shifted by gamma.",
    ),
    Family(
        "Weibull",
        (_param("scale", "scale > 0"), _param("shape", "shape > 0"),
         _param("location", "location (shift)", 0.0)),
        _v_weibull,
        lambda p: ot.WeibullMin(p["scale"], p["shape"], p["location"]),
        False,
        "Weibull (minimum) with scale, shape and location (OpenTURNS WeibullMin).",
    ),
    Family(
        "Gumbel",
        (_param("scale", "scale > 0"), _param("mode", "mode (location)")),
        _v_gumbel,
        lambda p: ot.Gumbel(p["scale"], p["mode"]),
        False,
        "Gumbel (maximum) with scale and mode.",
    ),
    Family(
        "Histogram",
        (_param("edges", "n+1 increasing bin edges"),
         _param("weights", "n bin probabilities (>= 0, positive sum)")),
        _v_histogram,
        _b_histogram,
        False,
        "Piecewise-uniform density; weights are the bin probabilities.",
    ),
    Family(
        "UserDefined",
        (_param("values", "distinct support points"),
         _param("weights", "one weight per value (>= 0); equal if omitted", None)),
        _v_user_defined,
        lambda p: _finite_discrete(p["values"], p["weights"]),
        True,
        "Finite discrete distribution on numeric values.",
        aliases=("Discrete",),
    ),
    Family(
        "Categorical",
        (_param("categories", "unique string labels"),
         _param("weights", "one weight per category (>= 0); equal if omitted", None)),
        _v_categorical,
        lambda p: _finite_discrete(range(len(p["categories"])), p["weights"]),
        True,
        "Labels drawn with the given weights; OpenTURNS sees codes 0..k-1.",
    ),
    Family(
        "Poisson",
        (_param("lambda", "mean number of events > 0"),),
        _v_poisson,
        lambda p: ot.Poisson(p["lambda"]),
        True,
        "Poisson counts with mean lambda.",
    ),
    Family(
        "Grid",
        (_param("lower", "first point"), _param("upper", "last point bound > lower"),
         _param("step", "step width > 0")),
        _v_grid,
        lambda p: _finite_discrete(
            grid_points(p["lower"], p["upper"], p["step"]),
            [1.0] * len(grid_points(p["lower"], p["upper"], p["step"])),
        ),
        True,
        "OpenSCENARIO DistributionRange: the points lower + i*step, equally likely.",
    ),
    Family(
        "Set",
        (_param("values", "distinct numbers, or distinct strings"),),
        _v_set,
        _b_set,
        True,
        "OpenSCENARIO DistributionSet: the listed values, equally likely.",
    ),
)

#: The family registry, keyed by canonical name.
FAMILIES: Mapping[str, Family] = MappingProxyType({f.name: f for f in _FAMILY_LIST})

_LOOKUP: Mapping[str, Family] = MappingProxyType(
    {name.lower(): f for f in _FAMILY_LIST for name in (f.name, *f.aliases)}
)


def get_family(name: str, *, file: FileLike = None, field: str = "distribution.family") -> Family:
    """Look a family up by name (case-insensitive, aliases accepted).

    Parameters
    ----------
    name
        The family name, e.g. ``"truncatednormal"`` or ``"Discrete"``.
    file, field
        Where the name came from, for the error message.

    Returns
    -------
    Family
        The registered family.

    Raises
    ------
    ValidationError
        If no family has that name; the message lists the valid families.

    Examples
    --------
    >>> get_family("discrete").name
    'UserDefined'
    """
    if isinstance(name, str):
        family = _LOOKUP.get(name.strip().lower())
        if family is not None:
            return family
    raise ValidationError(
        "unknown distribution family", file=file, field=field, value=name,
        expected="one of " + ", ".join(FAMILIES),
    )


# --------------------------------------------------------------------------- spec


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


def _thaw(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _validated(family: Family, raw: Mapping[str, Any], where: _Where) -> dict[str, Any]:
    check_keys(raw, [p.name for p in family.parameters], file=where.file, where=where.field,
               what=f"parameter for {family.name}")
    filled: dict[str, Any] = {}
    for parameter in family.parameters:
        if parameter.name in raw:
            filled[parameter.name] = raw[parameter.name]
        elif parameter.required:
            raise where.at(parameter.name).error(
                f"missing parameter of {family.name}",
                expected="required parameters " + ", ".join(family.required),
            )
        else:
            filled[parameter.name] = parameter.default
    validated = family.validate(filled, where)
    return {p.name: _freeze(validated[p.name]) for p in family.parameters}


@dataclass(frozen=True)
class DistributionSpec:
    """A validated distribution block of a scenario parameter.

    Parameters
    ----------
    family
        Family name (canonicalised, so ``"normal"`` becomes ``"Normal"``).
    params
        The family's named parameters. They are validated on construction;
        lists are stored as tuples, numbers as floats, defaults filled in.

    Raises
    ------
    ValidationError
        If the family is unknown or a parameter is invalid.

    Examples
    --------
    >>> spec = DistributionSpec("normal", {"mu": 30, "sigma": 2})
    >>> spec.family, dict(spec.params)
    ('Normal', {'mu': 30.0, 'sigma': 2.0})
    >>> spec.build().getMean()[0]
    30.0
    >>> spec.to_dict()
    {'family': 'Normal', 'mu': 30.0, 'sigma': 2.0}
    """

    family: str
    params: Mapping[str, Any]

    def __post_init__(self) -> None:
        family = get_family(self.family)
        params = _validated(family, dict(self.params), _Where(None, "distribution"))
        object.__setattr__(self, "family", family.name)
        object.__setattr__(self, "params", MappingProxyType(params))

    def __hash__(self) -> int:
        return hash((self.family, tuple(self.params.items())))

    @property
    def family_info(self) -> Family:
        """The registry entry of this spec's family."""
        return FAMILIES[self.family]

    def build(self) -> ot.Distribution:
        """Build the (untruncated) OpenTURNS marginal.

        Returns
        -------
        openturns.Distribution
            The one-dimensional distribution.

        Examples
        --------
        >>> DistributionSpec("Uniform", {"lower": 1, "upper": 3}).build().getMean()[0]
        2.0
        """
        return self.family_info.build(self.params)

    @property
    def categories(self) -> tuple[str, ...] | None:
        """Labels of a Categorical (or a Set of strings), else ``None``.

        The OpenTURNS distribution is then over the codes ``0 .. k-1`` in this
        order.

        Examples
        --------
        >>> DistributionSpec("Categorical", {"categories": ["car", "truck"]}).categories
        ('car', 'truck')
        >>> DistributionSpec("Set", {"values": [1, 2]}).categories is None
        True
        """
        if self.family == "Categorical":
            return tuple(self.params["categories"])
        if self.family == "Set" and isinstance(self.params["values"][0], str):
            return tuple(self.params["values"])
        return None

    @property
    def is_discrete(self) -> bool:
        """Whether the family is discrete (UserDefined, Categorical, Poisson, Grid, Set)."""
        return self.family_info.discrete

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"family": ..., **params}`` with lists, ready for YAML.

        ``parse_distribution(spec.to_dict()) == spec`` always holds.

        Examples
        --------
        >>> spec = parse_distribution({"family": "Histogram", "edges": [0, 1, 3],
        ...                            "weights": [1, 1]})
        >>> spec.to_dict()
        {'family': 'Histogram', 'edges': [0.0, 1.0, 3.0], 'weights': [1.0, 1.0]}
        >>> parse_distribution(spec.to_dict()) == spec
        True
        """
        return {"family": self.family, **{k: _thaw(v) for k, v in self.params.items()}}


def parse_distribution(
    data: object, *, file: FileLike = None, field: str = "distribution"
) -> DistributionSpec:
    """Validate a ``distribution:`` block of a scenario file.

    Parameters
    ----------
    data
        The block, e.g. ``{"family": "TruncatedNormal", "mu": 0, "sigma": 1,
        "lower": -2, "upper": 2}``. The family name is case-insensitive.
    file
        The file the block came from (for error messages).
    field
        The dotted path of the block in that file, e.g.
        ``"parameters[2].distribution"``.

    Returns
    -------
    DistributionSpec
        The validated specification.

    Raises
    ------
    ValidationError
        For an unknown family (the message lists the valid ones), a missing or
        unknown parameter, a non-numeric or non-finite value, a non-positive
        standard deviation / scale / shape / rate / step, reversed bounds, a
        mode outside ``[lower, upper]``, negative or all-zero weights, a
        weights-length mismatch, non-increasing histogram edges, duplicate
        values or categories.

    Examples
    --------
    >>> parse_distribution({"family": "weibull", "scale": 2.0, "shape": 1.5})
    DistributionSpec(family='Weibull', params=mappingproxy({'scale': 2.0, 'shape': 1.5, \
'location': 0.0}))
    >>> parse_distribution({"family": "Normal", "mu": 0, "sigma": -1},
    ...                    file="cut_in.yaml", field="parameters[0].distribution")
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: cut_in.yaml: parameters[0].distribution.sigma: \
negative or zero standard deviation (got -1; expected a number > 0)
    """
    where = _Where(file, field)
    if not isinstance(data, Mapping):
        raise where.error("not a mapping", data, "a mapping with a 'family' key")
    if "family" not in data:
        raise where.at("family").error(
            "missing distribution family", expected="one of " + ", ".join(FAMILIES)
        )
    family = get_family(data["family"], file=file, field=where.at("family").field)
    raw = {k: v for k, v in data.items() if k != "family"}
    params = _validated(family, raw, where)
    return DistributionSpec(family.name, params)


# --------------------------------------------------------------------------- marginals


def support(dist: ot.Distribution) -> tuple[float, float]:
    """Return the support ``(lower, upper)`` of a 1-d distribution.

    Unbounded sides are ``-inf`` / ``inf`` (OpenTURNS stores a numerical
    range there, flagged as not finite).

    Parameters
    ----------
    dist
        A one-dimensional OpenTURNS distribution.

    Returns
    -------
    tuple of float
        The lower and upper end of the support.

    Examples
    --------
    >>> import openturns as ot
    >>> support(ot.Normal())
    (-inf, inf)
    >>> support(ot.TruncatedDistribution(ot.Normal(), 0.0, ot.TruncatedDistribution.LOWER))
    (0.0, inf)
    >>> support(ot.Uniform(-1.0, 2.0))
    (-1.0, 2.0)
    >>> support(ot.Poisson(2.0))
    (0.0, inf)
    """
    interval = dist.getRange()
    lower_value = interval.getLowerBound()[0]
    finite_lower = bool(interval.getFiniteLowerBound()[0]) or (
        # OpenTURNS flags e.g. the Poisson lower end 0 as infinite; no mass below it.
        dist.isDiscrete() and dist.computeCDF(lower_value - 0.5) == 0.0
    )
    lower = lower_value if finite_lower else -math.inf
    upper = interval.getUpperBound()[0] if interval.getFiniteUpperBound()[0] else math.inf
    return float(lower), float(upper)


def build_marginal(
    spec: DistributionSpec,
    bounds: tuple[float, float] | Sequence[float] | None = None,
    *,
    file: FileLike = None,
    field: str = "bounds",
) -> ot.Distribution:
    r"""Build the OpenTURNS marginal of ``spec``, truncated to ``bounds``.

    Parameters
    ----------
    spec
        The distribution specification.
    bounds
        ``(lo, hi)`` truncation interval (e.g. from the ODD), or ``None``. Bounds
        may reach beyond the support (that side is then not truncated) but must
        overlap it with positive probability.
    file, field
        Where the bounds came from, for error messages.

    Returns
    -------
    openturns.Distribution
        The marginal; an ``ot.TruncatedDistribution`` if a bound cuts the support.

    Raises
    ------
    ValidationError
        If the bounds are not two finite numbers, are reversed, lie outside the
        support or hold zero probability, or if the family is categorical
        (its codes have no order to truncate).

    Notes
    -----
    Truncation conditions the distribution on the interval:
    :math:`f_T(x) = f(x) \mathbf{1}_{[lo, hi]}(x) / P(lo \le X \le hi)`.

    Examples
    --------
    >>> spec = parse_distribution({"family": "Normal", "mu": 0, "sigma": 1})
    >>> marginal = build_marginal(spec, (0.0, 5.0))
    >>> support(marginal)
    (0.0, 5.0)
    >>> round(marginal.getMean()[0], 4)   # half-normal mean sqrt(2/pi), cut at 5
    0.7979
    """
    dist = spec.build()
    if bounds is None:
        return dist
    where = _Where(file, field)
    items = _sequence(bounds, where, min_len=2)
    if len(items) != 2:
        raise where.error("bounds must have two items", bounds, "[lower, upper]")
    lo, hi = _number(items[0], where.item(0)), _number(items[1], where.item(1))
    if lo >= hi:
        raise where.error("reversed bounds", [lo, hi], "lower < upper")
    if spec.categories is not None:
        raise where.error(
            f"bounds are not allowed for categorical {spec.family}", [lo, hi], "no bounds"
        )
    s_lo, s_hi = support(dist)
    if hi < s_lo or lo > s_hi:
        raise where.error(
            "bounds outside the support of the distribution", [lo, hi],
            f"an interval overlapping [{s_lo}, {s_hi}]",
        )
    if dist.computeProbability(ot.Interval(lo, hi)) <= 0.0:
        raise where.error(
            "bounds hold zero probability mass", [lo, hi],
            "an interval with positive probability",
        )
    cut_lo, cut_hi = lo > s_lo, hi < s_hi
    if cut_lo and cut_hi:
        return ot.TruncatedDistribution(dist, lo, hi)
    if cut_lo:
        return ot.TruncatedDistribution(dist, lo, ot.TruncatedDistribution.LOWER)
    if cut_hi:
        return ot.TruncatedDistribution(dist, hi, ot.TruncatedDistribution.UPPER)
    return dist
