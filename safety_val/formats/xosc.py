"""ASAM OpenSCENARIO 1.x ``ParameterValueDistribution`` import and export.

The functions work on the YAML-level parameter block of a logical scenario
(plain dicts), so they need nothing from the scenario loader::

    parameters:  [{"name": "speed", "distribution": {"family": "Normal", ...},
                   "bounds": [lo, hi]}, ...]
    value_sets:  [{"name": "value_set_1", "parameters": [{"name": "a"}, {"name": "b"}],
                   "rows": [[1.0, "x"], [2.0, "y"]], "weights": None}, ...]

Mapping between OpenSCENARIO elements and distribution families
(``Range`` is the ``lowerLimit``/``upperLimit`` child element):

==================================================  ============================================
OpenSCENARIO element                                family (+ ``bounds``)
==================================================  ============================================
NormalDistribution (expectedValue, variance)        Normal{mu, sigma = sqrt(variance)}
NormalDistribution + Range                          TruncatedNormal{mu, sigma, lower, upper}
LogNormalDistribution (expectedValue, variance)     LogNormal{mu_log, sigma_log}, Range -> bounds
UniformDistribution + Range                         Uniform{lower, upper}
PoissonDistribution (expectedValue)                 Poisson{lambda}, Range -> bounds
Histogram / Bin (weight) + Range                    Histogram{edges, weights}
ProbabilityDistributionSet / Element                UserDefined (numbers) or Categorical
DistributionRange (stepWidth) + Range               Grid{lower, upper, step}
DistributionSet / Element (value)                   Set{values}
ValueSetDistribution / ParameterValueSet            a value set (rows of ParameterAssignment)
UserDefinedDistribution type="safety-val:<Family>"  any family, exact JSON content
==================================================  ============================================

Round trips are exact: every entry is first written with the standard element;
if reading that element back would not give the very same family, parameters
and bounds (e.g. a Normal with ODD bounds, a Triangular, a LogNormal whose
``sqrt``/``exp`` round trip is not bit-exact), the entry is written as
``<UserDefinedDistribution type="safety-val:<Family>">`` with JSON content.

Other tools do not read those ``safety-val:`` elements (scenariogeneration gives
up on them). ``write_xosc(..., portable=True)`` (``export-xosc --portable``) writes
standard elements only: an exact reformulation where one exists (a Normal cut to
its bounds is a NormalDistribution with a Range, a ``Grid`` of a stochastic file a
ProbabilityDistributionSet), else a Histogram within a max CDF error of 1e-3 (see
:mod:`safety_val.formats.portable`), and says in an XML comment, per parameter, what
it wrote and the measured max CDF error (Kolmogorov distance).

Security: files are read only with :mod:`defusedxml` with DTDs, entity
declarations and external references forbidden, so "billion laughs" and
external-entity (XXE) files are refused before anything is expanded.
"""

from __future__ import annotations

import hashlib
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET

from safety_val._io import atomic_write_bytes
from safety_val.distributions import parse_distribution
from safety_val.errors import ValidationError
from safety_val.formats.parameter_map import ParameterMapping, parse_parameter_map
from safety_val.formats.portable import max_cdf_error, portable_stand_in

__all__ = [
    "merge_into_scenario",
    "openscenario_block",
    "openscenario_parameter_map",
    "openscenario_settings",
    "USER_DEFINED_PREFIX",
    "ParameterDistributionSet",
    "is_deterministic",
    "read_xosc",
    "seed_from_text",
    "write_xosc",
]

#: ``type`` prefix of the UserDefinedDistribution elements safety-val writes.
USER_DEFINED_PREFIX = "safety-val:"

_DETERMINISTIC_FAMILIES = frozenset({"Grid", "Set"})
_ROOT = "OpenSCENARIO"
_PVD = f"{_ROOT}/ParameterValueDistribution"


@dataclass(frozen=True)
class ParameterDistributionSet:
    """The content of an OpenSCENARIO ``ParameterValueDistribution`` file.

    Parameters
    ----------
    parameters
        Single-parameter distributions, each
        ``{"name": str, "distribution": {family dict}, "bounds": [lo, hi]}``
        (``bounds`` optional; other keys are ignored on export).
    value_sets
        Deterministic multi-parameter distributions, each
        ``{"name": str, "parameters": [{"name": a}, ...], "rows": [[...], ...],
        "weights": None}``. OpenSCENARIO has no name and no weights for them: names
        read back as ``value_set_<i>``, weights must be ``None``.
    scenario_file
        ``<ScenarioFile filepath=...>``, the scenario the distribution applies to.
    number_of_test_runs
        ``numberOfTestRuns`` of a ``Stochastic`` distribution (required there).
    random_seed
        ``randomSeed`` of a ``Stochastic`` distribution, optional, as the integer
        seed used (see :func:`seed_from_text`).
    random_seed_text
        ``randomSeed`` as written in the file when that is not the integer's own
        text (the schema types it as a double, e.g. ``1.234``); written back as is.
    notes
        What reading did that the file did not say (a seed mapped to an integer, a
        default filled in); not part of equality.

    Examples
    --------
    >>> ParameterDistributionSet(
    ...     parameters=[{"name": "speed", "distribution": {"family": "Normal", "mu": 30.0,
    ...                                                     "sigma": 2.0}}],
    ...     number_of_test_runs=100,
    ... ).scenario_file is None
    True
    """

    parameters: list[dict[str, Any]] = field(default_factory=list)
    value_sets: list[dict[str, Any]] = field(default_factory=list)
    scenario_file: str | None = None
    number_of_test_runs: int | None = None
    random_seed: int | None = None
    random_seed_text: str | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)


# --------------------------------------------------------------------------- run settings

_SETTING_KEYS = ("scenario_file", "number_of_test_runs", "random_seed", "random_seed_text")
_MAP_KEY = "parameter_map"


def openscenario_block(dist_set: ParameterDistributionSet) -> dict[str, Any]:
    """The ``openscenario:`` YAML block keeping what a file says beyond distributions.

    ``ScenarioFile``, ``numberOfTestRuns`` and ``randomSeed`` (also as written),
    only those the file has; :func:`openscenario_settings` reads it back.

    Examples
    --------
    >>> openscenario_block(ParameterDistributionSet(scenario_file="a.xosc",
    ...                                             number_of_test_runs=5))
    {'scenario_file': 'a.xosc', 'number_of_test_runs': 5}
    """
    values = [getattr(dist_set, key) for key in _SETTING_KEYS]
    return {k: v for k, v in zip(_SETTING_KEYS, values, strict=True) if v is not None}


def openscenario_settings(block: Any, file: str | Path | None = None) -> dict[str, Any]:
    """Validate an ``openscenario:`` block: keyword arguments of :class:`ParameterDistributionSet`.

    Examples
    --------
    >>> openscenario_settings({"number_of_test_runs": 5, "random_seed": 7})
    {'number_of_test_runs': 5, 'random_seed': 7}
    """

    def bad(key: str | None, value: Any, expected: str) -> ValidationError:
        where = "openscenario" if key is None else f"openscenario.{key}"
        return ValidationError(
            "invalid OpenSCENARIO setting", file=file, field=where, value=value, expected=expected
        )

    if not isinstance(block, Mapping):
        raise bad(None, block, "a mapping of " + ", ".join(_SETTING_KEYS))
    out: dict[str, Any] = {}
    for key, value in block.items():
        if key == _MAP_KEY:  # not a setting of the file: see openscenario_parameter_map
            continue
        if key not in _SETTING_KEYS:
            raise bad(str(key), value, "one of " + ", ".join((*_SETTING_KEYS, _MAP_KEY)))
        if value is None:
            continue
        if key in ("scenario_file", "random_seed_text"):
            if not isinstance(value, str):
                raise bad(key, value, "a string")
        else:
            minimum = 0 if key == "random_seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise bad(key, value, f"an integer >= {minimum}")
        out[key] = value
    text = out.get("random_seed_text")
    if text is not None:
        try:
            derived = seed_from_text(text)
        except ValueError:
            raise bad("random_seed_text", text, "a number") from None
        if out.setdefault("random_seed", derived) != derived:
            raise bad("random_seed", out["random_seed"], f"{derived}, the seed of {text!r}")
    return out


def openscenario_parameter_map(
    block: Any, file: str | Path | None = None
) -> tuple[ParameterMapping, ...]:
    """The ``parameter_map`` of an ``openscenario:`` block; empty if it has none.

    The map of foreign parameter names and units an import used (see
    :mod:`safety_val.formats.parameter_map`); an export writes those names back.

    Examples
    --------
    >>> openscenario_parameter_map({"parameter_map": {"V": "ego_speed:km/h"}})
    (ParameterMapping(foreign='V', input='ego_speed', unit='km/h'),)
    """
    if not isinstance(block, Mapping) or block.get(_MAP_KEY) is None:
        return ()
    source = f"openscenario.{_MAP_KEY}"
    try:
        return parse_parameter_map(block[_MAP_KEY], source=source)
    except ValidationError as exc:
        raise exc.with_context(file=file) from None


# --------------------------------------------------------------------------- helpers


def is_deterministic(
    parameters: Sequence[Mapping[str, Any]], value_sets: Sequence[Any] = ()
) -> bool:
    """Whether :func:`write_xosc` writes these as a ``Deterministic`` distribution.

    That is so when it is given no number of test runs or seed and there are value
    sets, or every parameter is a ``Grid`` or ``Set``.

    Examples
    --------
    >>> grid = {"family": "Grid", "lower": 0, "upper": 1, "step": 0.5}
    >>> is_deterministic([{"name": "a", "distribution": grid}])
    True
    >>> is_deterministic([{"name": "a", "distribution": {"family": "Normal"}}])
    False
    """
    if value_sets:
        return True
    return all(
        isinstance(p, Mapping)
        and isinstance(p.get("distribution"), Mapping)
        and str(p["distribution"].get("family", "")).lower() in {"grid", "set"}
        for p in parameters
    )


def seed_from_text(text: str) -> int:
    """The integer seed for a ``randomSeed`` written as an xsd:double.

    A non-negative integer value below 2**63 is that integer; anything else (a
    fraction, a negative number, ``INF``/``NaN``) is a stable hash of the number's
    shortest decimal text (of the text itself if not finite) into ``[0, 2**31)``.

    Examples
    --------
    >>> seed_from_text("42"), seed_from_text("7.0"), seed_from_text("4.2e1")
    (42, 7, 42)
    >>> seed_from_text("1.234") == seed_from_text("1.2340") != seed_from_text("1.235")
    True
    """
    stripped = text.strip()
    number = float(stripped)
    if math.isfinite(number) and number >= 0 and number == int(number) and number < 2.0**63:
        return int(number)
    key = repr(number) if math.isfinite(number) else stripped.upper()
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 2**31


def _fmt(value: float) -> str:
    """Shortest text that reads back as exactly ``value``."""
    return repr(float(value))


def _parse_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class _Ctx:
    """File and element path used in error messages."""

    file: str
    path: str

    def child(self, tag: str, index: int | None = None, name: str | None = None) -> _Ctx:
        step = tag + ("" if index is None else f"[{index}]")
        if name is not None:
            step += f"[@parameterName={name!r}]"
        return _Ctx(self.file, f"{self.path}/{step}")

    def error(
        self, message: str, value: Any = ..., expected: str | None = None, attr: str | None = None
    ) -> ValidationError:
        where = self.path if attr is None else f"{self.path}/@{attr}"
        return ValidationError(message, file=self.file, field=where, value=value, expected=expected)


def _attr(elem: ET.Element, name: str, ctx: _Ctx) -> str:
    value = elem.get(name)
    if value is None:
        raise ctx.error(f"missing required attribute '{name}'", expected=f"a {name} attribute")
    return value


def _float_attr(elem: ET.Element, name: str, ctx: _Ctx) -> float:
    text = _attr(elem, name, ctx)
    try:
        number = float(text)
    except ValueError:
        raise ctx.error("non-numeric value", text, "a number", attr=name) from None
    if not math.isfinite(number):
        raise ctx.error("value is not finite", text, "a finite number", attr=name)
    return number


def _int_attr(elem: ET.Element, name: str, ctx: _Ctx, minimum: int) -> int:
    number = _float_attr(elem, name, ctx)
    if number != int(number) or number < minimum:
        raise ctx.error(
            "not an integer in range", elem.get(name), f"an integer >= {minimum}", attr=name
        )
    return int(number)


def _range(elem: ET.Element, ctx: _Ctx, required: bool) -> tuple[float, float] | None:
    found = elem.find("Range")
    if found is None:
        if required:
            raise ctx.error("missing Range element", expected="a <Range> child")
        return None
    sub = ctx.child("Range")
    lower, upper = _float_attr(found, "lowerLimit", sub), _float_attr(found, "upperLimit", sub)
    if lower >= upper:
        raise sub.error("reversed bounds", [lower, upper], "lowerLimit < upperLimit")
    return lower, upper


def _spec(block: dict[str, Any], ctx: _Ctx) -> dict[str, Any]:
    """Validate a family dict read from ``ctx`` and return its canonical dict."""
    return parse_distribution(block, file=ctx.file, field=ctx.path).to_dict()


def _entry(distribution: dict[str, Any], bounds: tuple[float, float] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"distribution": distribution}
    if bounds is not None:
        out["bounds"] = [bounds[0], bounds[1]]
    return out


# --------------------------------------------------------------------------- decoding


def _d_normal(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    mu = _float_attr(elem, "expectedValue", ctx)
    variance = _float_attr(elem, "variance", ctx)
    if variance <= 0.0:
        raise ctx.error(
            "negative or zero variance", elem.get("variance"), "a number > 0", attr="variance"
        )
    sigma = math.sqrt(variance)
    limits = _range(elem, ctx, required=False)
    if limits is None:
        return _entry(_spec({"family": "Normal", "mu": mu, "sigma": sigma}, ctx), None)
    block = {
        "family": "TruncatedNormal",
        "mu": mu,
        "sigma": sigma,
        "lower": limits[0],
        "upper": limits[1],
    }
    return _entry(_spec(block, ctx), None)


def _lognormal_from_moments(mean: float, variance: float) -> tuple[float, float]:
    """``(mu_log, sigma_log)`` of the log-normal X with E[X] = mean, Var[X] = variance."""
    sigma2 = math.log1p(variance / (mean * mean))
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


def _lognormal_to_moments(mu_log: float, sigma_log: float) -> tuple[float, float]:
    sigma2 = sigma_log * sigma_log
    mean = math.exp(mu_log + 0.5 * sigma2)
    return mean, math.expm1(sigma2) * mean * mean


def _d_lognormal(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    mean = _float_attr(elem, "expectedValue", ctx)
    variance = _float_attr(elem, "variance", ctx)
    if mean <= 0.0:
        raise ctx.error(
            "log-normal expected value must be positive",
            elem.get("expectedValue"),
            "a number > 0",
            attr="expectedValue",
        )
    if variance <= 0.0:
        raise ctx.error(
            "negative or zero variance", elem.get("variance"), "a number > 0", attr="variance"
        )
    mu_log, sigma_log = _lognormal_from_moments(mean, variance)
    block = {"family": "LogNormal", "mu_log": mu_log, "sigma_log": sigma_log, "gamma": 0.0}
    return _entry(_spec(block, ctx), _range(elem, ctx, required=False))


def _d_uniform(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    limits = _range(elem, ctx, required=True)
    if limits is None:  # pragma: no cover - required=True raises instead
        raise ctx.error("missing Range element")
    return _entry(_spec({"family": "Uniform", "lower": limits[0], "upper": limits[1]}, ctx), None)


def _d_poisson(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    rate = _float_attr(elem, "expectedValue", ctx)
    return _entry(
        _spec({"family": "Poisson", "lambda": rate}, ctx), _range(elem, ctx, required=False)
    )


def _d_histogram(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    bins: list[tuple[float, float, float]] = []
    for i, bin_elem in enumerate(elem.findall("Bin"), start=1):
        sub = ctx.child("Bin", i)
        weight = _float_attr(bin_elem, "weight", sub)
        if weight < 0.0:
            raise sub.error(
                "negative weight", bin_elem.get("weight"), "a number >= 0", attr="weight"
            )
        limits = _range(bin_elem, sub, required=True)
        if limits is None:  # pragma: no cover - required=True raises instead
            raise sub.error("missing Range element")
        bins.append((limits[0], limits[1], weight))
    if not bins:
        raise ctx.error("histogram without bins", expected="at least one <Bin>")
    bins.sort()
    edges, weights = [bins[0][0]], []
    for i, (lower, upper, weight) in enumerate(bins):
        if lower < edges[-1]:
            raise ctx.child("Bin", i + 1).error(
                "overlapping histogram bins", [lower, upper], f"lowerLimit >= {edges[-1]}"
            )
        if lower > edges[-1]:  # a gap is a bin of zero weight
            edges.append(lower)
            weights.append(0.0)
        edges.append(upper)
        weights.append(weight)
    return _entry(_spec({"family": "Histogram", "edges": edges, "weights": weights}, ctx), None)


def _elements(elem: ET.Element, ctx: _Ctx, weighted: bool) -> tuple[list[str], list[float]]:
    values: list[str] = []
    weights: list[float] = []
    for i, item in enumerate(elem.findall("Element"), start=1):
        sub = ctx.child("Element", i)
        values.append(_attr(item, "value", sub))
        if weighted:
            weights.append(_float_attr(item, "weight", sub))
    if not values:
        raise ctx.error("no Element children", expected="at least one <Element>")
    return values, weights


def _d_probability_set(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    values, weights = _elements(elem, ctx, weighted=True)
    numbers = [_parse_number(v) for v in values]
    if all(n is not None for n in numbers):
        block = {"family": "UserDefined", "values": numbers, "weights": weights}
    else:
        block = {"family": "Categorical", "categories": values, "weights": weights}
    return _entry(_spec(block, ctx), None)


def _d_distribution_set(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    values, _ = _elements(elem, ctx, weighted=False)
    numbers = [_parse_number(v) for v in values]
    items: list[Any] = list(numbers) if all(n is not None for n in numbers) else values
    return _entry(_spec({"family": "Set", "values": items}, ctx), None)


def _d_distribution_range(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    step = _float_attr(elem, "stepWidth", ctx)
    limits = _range(elem, ctx, required=True)
    if limits is None:  # pragma: no cover - required=True raises instead
        raise ctx.error("missing Range element")
    block = {"family": "Grid", "lower": limits[0], "upper": limits[1], "step": step}
    return _entry(_spec(block, ctx), None)


def _d_user_defined(elem: ET.Element, ctx: _Ctx) -> dict[str, Any]:
    kind = _attr(elem, "type", ctx)
    if not kind.startswith(USER_DEFINED_PREFIX):
        raise ctx.error(
            "unsupported UserDefinedDistribution type",
            kind,
            f"'{USER_DEFINED_PREFIX}<Family>' with JSON content",
            attr="type",
        )
    text = (elem.text or "").strip()
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ctx.error(f"content is not JSON ({exc.msg})", text[:60], "a JSON object") from None
    if not isinstance(content, dict):
        raise ctx.error("content is not a JSON object", text[:60], "a JSON object")
    family = kind[len(USER_DEFINED_PREFIX) :]
    if str(content.get("family", "")).lower() != family.lower():
        raise ctx.error(
            "type and content disagree on the family", content.get("family"), f"family {family!r}"
        )
    bounds_raw = content.pop("bounds", None)
    distribution = _spec(content, ctx)
    bounds: tuple[float, float] | None = None
    if bounds_raw is not None:
        if (
            not isinstance(bounds_raw, list)
            or len(bounds_raw) != 2
            or not all(_is_number(b) for b in bounds_raw)
            or bounds_raw[0] >= bounds_raw[1]
        ):
            raise ctx.error("invalid bounds", bounds_raw, "[lower, upper] with lower < upper")
        bounds = (float(bounds_raw[0]), float(bounds_raw[1]))
    return _entry(distribution, bounds)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_Decoder = Callable[[ET.Element, _Ctx], dict[str, Any]]

_STOCHASTIC: Mapping[str, _Decoder] = {
    "NormalDistribution": _d_normal,
    "LogNormalDistribution": _d_lognormal,
    "UniformDistribution": _d_uniform,
    "PoissonDistribution": _d_poisson,
    "Histogram": _d_histogram,
    "ProbabilityDistributionSet": _d_probability_set,
    "UserDefinedDistribution": _d_user_defined,
}
_DETERMINISTIC: Mapping[str, _Decoder] = {
    "DistributionSet": _d_distribution_set,
    "DistributionRange": _d_distribution_range,
    "UserDefinedDistribution": _d_user_defined,
}


def _decode_single(elem: ET.Element, ctx: _Ctx, decoders: Mapping[str, _Decoder]) -> dict:
    children = list(elem)
    if len(children) != 1 or children[0].tag not in decoders:
        raise ctx.error(
            "expected exactly one distribution element",
            [child.tag for child in children],
            "one of " + ", ".join(decoders),
        )
    child = children[0]
    return decoders[child.tag](child, ctx.child(child.tag))


# --------------------------------------------------------------------------- reading


def _load(path: Path) -> ET.Element:
    file = str(path)
    try:
        tree = SafeET.parse(file, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (
        defusedxml.DTDForbidden,
        defusedxml.EntitiesForbidden,
        defusedxml.ExternalReferenceForbidden,
    ) as exc:
        raise ValidationError(
            f"DTDs/entities are not allowed in OpenSCENARIO files ({type(exc).__name__})",
            file=file,
            field=None,
            expected="plain XML without <!DOCTYPE> or <!ENTITY>",
        ) from None
    except ET.ParseError as exc:
        raise ValidationError(f"malformed XML: {exc}", file=file) from None
    except OSError as exc:
        raise ValidationError(f"cannot read file: {exc.strerror}", file=file) from None
    root: ET.Element = tree.getroot()
    return root


def read_xosc(
    path: str | Path, *, defaults: Mapping[str, Any] | None = None
) -> ParameterDistributionSet:
    r"""Read an OpenSCENARIO 1.x ``ParameterValueDistribution`` file.

    Parameters
    ----------
    path
        The ``.xosc`` file.
    defaults
        Values for parameters that a ``ParameterValueSet`` does not assign, used
        when the ``ScenarioFile`` declares no default for them (e.g. the ``fixed``
        values of the scenario the file is imported into).

    Returns
    -------
    ParameterDistributionSet
        Its parameters (YAML-level dicts), value sets, scenario file, number of
        test runs and random seed.

    Raises
    ------
    ValidationError
        If the file cannot be read, is not well-formed XML, contains a DTD or
        entity declarations (refused, never expanded), has the wrong root, lacks
        required elements or attributes, or holds invalid values (non-numeric,
        non-finite, negative variance, reversed ranges, ...). The message names
        the file, the element path and the value.

    Notes
    -----
    The ``ParameterValueSet`` elements of one value set may assign different
    parameters (as the schema and esmini allow): the value set's parameters are
    all those any of them assigns, and one that a set does not assign keeps its
    default, as in esmini: the ``ParameterDeclaration`` value of the
    ``ScenarioFile`` (relative to ``path``), else ``defaults``; where neither knows
    one, a :class:`ValidationError` names the file, the set and the parameter.

    ``LogNormalDistribution`` carries the expected value :math:`m` and variance
    :math:`v` of the log-normal variable :math:`X` itself (OpenSCENARIO 1.2/1.3
    model documentation), converted exactly to the parameters of
    :math:`\log X`: :math:`\sigma_{\log}^2 = \log(1 + v/m^2)`,
    :math:`\mu_{\log} = \log m - \sigma_{\log}^2 / 2`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "d.xosc").write_text('''<OpenSCENARIO>
    ...   <FileHeader revMajor="1" revMinor="2" date="2024-01-01T00:00:00"
    ...               description="" author="me"/>
    ...   <ParameterValueDistribution>
    ...     <ScenarioFile filepath="cut_in.xosc"/>
    ...     <Stochastic numberOfTestRuns="50" randomSeed="7">
    ...       <StochasticDistribution parameterName="speed">
    ...         <NormalDistribution expectedValue="30" variance="4"/>
    ...       </StochasticDistribution>
    ...     </Stochastic>
    ...   </ParameterValueDistribution>
    ... </OpenSCENARIO>''')
    >>> result = read_xosc(folder / "d.xosc")
    >>> result.parameters
    [{'name': 'speed', 'distribution': {'family': 'Normal', 'mu': 30.0, 'sigma': 2.0}}]
    >>> result.number_of_test_runs, result.random_seed, result.scenario_file
    (50, 7, 'cut_in.xosc')
    """
    path = Path(path)
    root = _load(path)
    file = str(path)
    if root.tag != _ROOT:
        raise ValidationError(
            "wrong root element", file=file, field=root.tag, value=root.tag, expected=f"<{_ROOT}>"
        )
    pvd = root.find("ParameterValueDistribution")
    ctx = _Ctx(file, _PVD)
    if pvd is None:
        raise ValidationError(
            "not a ParameterValueDistribution file",
            file=file,
            field=_ROOT,
            value=[child.tag for child in root],
            expected="a <ParameterValueDistribution> child",
        )
    scenario_file: str | None = None
    scenario = pvd.find("ScenarioFile")
    if scenario is not None:
        scenario_file = _attr(scenario, "filepath", ctx.child("ScenarioFile")) or None

    stochastic, deterministic = pvd.find("Stochastic"), pvd.find("Deterministic")
    notes: list[str] = []
    fallback = _Defaults(path, scenario_file, defaults or {})
    if (stochastic is None) == (deterministic is None):
        raise ctx.error(
            "expected exactly one of <Stochastic> or <Deterministic>",
            [child.tag for child in pvd],
            "one distribution definition",
        )
    parameters: list[dict[str, Any]] = []
    value_sets: list[dict[str, Any]] = []
    runs: int | None = None
    seed: int | None = None
    seed_text: str | None = None
    if stochastic is not None:
        sctx = ctx.child("Stochastic")
        runs = _int_attr(stochastic, "numberOfTestRuns", sctx, minimum=1)
        written = stochastic.get("randomSeed")
        if written is not None:
            try:
                seed = seed_from_text(written)
            except ValueError:
                raise sctx.error(
                    "non-numeric value", written, "a number (xsd:double)", attr="randomSeed"
                ) from None
            if written != str(seed):
                seed_text = written
                notes.append(
                    f"{file}: randomSeed {written!r} is not an integer as written; "
                    f"used the integer seed {seed} derived from it"
                )
        for i, elem in enumerate(stochastic.findall("StochasticDistribution"), start=1):
            name = _attr(elem, "parameterName", sctx.child("StochasticDistribution", i))
            ectx = sctx.child("StochasticDistribution", i, name)
            parameters.append({"name": name, **_decode_single(elem, ectx, _STOCHASTIC)})
    elif deterministic is not None:
        dctx = ctx.child("Deterministic")
        for i, elem in enumerate(
            deterministic.findall("DeterministicSingleParameterDistribution"), start=1
        ):
            tag = "DeterministicSingleParameterDistribution"
            name = _attr(elem, "parameterName", dctx.child(tag, i))
            ectx = dctx.child(tag, i, name)
            parameters.append({"name": name, **_decode_single(elem, ectx, _DETERMINISTIC)})
        for i, elem in enumerate(
            deterministic.findall("DeterministicMultiParameterDistribution"), start=1
        ):
            mctx = dctx.child("DeterministicMultiParameterDistribution", i)
            value_sets.append(_read_value_set(elem, mctx, f"value_set_{i}", fallback, notes))
    _check_unique_names(parameters, value_sets, file)
    header = root.find("FileHeader")
    declared = "" if header is None or header.get("revMajor") != "1" else header.get("revMinor")
    needed = _lowest_minor(pvd)
    if declared and declared.isdigit() and int(declared) < needed:
        newer = sorted({e.tag for e in pvd.iter() if _SINCE_MINOR.get(e.tag, 2) > 2})
        notes.append(
            f"{file}: declares OpenSCENARIO 1.{declared} but uses {', '.join(newer)} "
            f"(OpenSCENARIO 1.{needed}); read as 1.{needed}"
        )
    return ParameterDistributionSet(
        parameters, value_sets, scenario_file, runs, seed, seed_text, tuple(notes)
    )


class _Defaults:
    """Defaults of parameters a ``ParameterValueSet`` leaves out (see :func:`read_xosc`)."""

    def __init__(self, path: Path, scenario_file: str | None, given: Mapping[str, Any]) -> None:
        self.path, self.scenario_file, self.given = path, scenario_file, given
        self._declared: dict[str, str] | None = None
        self._why = ""

    def declared(self) -> dict[str, str]:
        """The ``ParameterDeclaration`` values of the ``ScenarioFile``, if it can be read."""
        if self._declared is None:
            self._declared = {}
            if not self.scenario_file:
                self._why = "the file names no ScenarioFile"
                return self._declared
            target = Path(self.scenario_file)
            if not target.is_absolute():
                target = self.path.parent / target
            try:
                root = _load(target)
            except ValidationError as exc:
                self._why = f"ScenarioFile {self.scenario_file!r} unreadable ({exc.message})"
                return self._declared
            for decl in root.iter("ParameterDeclaration"):
                name, value = decl.get("name"), decl.get("value")
                if name is not None and value is not None:
                    self._declared.setdefault(name, value)
        return self._declared

    def lookup(self, name: str) -> tuple[str, str] | None:
        """``(value text, where it came from)`` or ``None``."""
        declared = self.declared()
        if name in declared:
            return declared[name], f"the ParameterDeclaration in {self.scenario_file}"
        if name in self.given:
            value = self.given[name]
            text = value if isinstance(value, str) else _fmt(value)
            return text, "the scenario it is imported into"
        return None

    def unknown(self, name: str) -> str:
        where = self._why or f"ScenarioFile {self.scenario_file!r} does not declare it"
        return f"an assignment, or a default for {name!r} ({where}; none given otherwise)"


def _read_value_set(
    elem: ET.Element, ctx: _Ctx, name: str, fallback: _Defaults, notes: list[str]
) -> dict[str, Any]:
    vsd = elem.find("ValueSetDistribution")
    if vsd is None:
        raise ctx.error(
            "missing ValueSetDistribution element", expected="a <ValueSetDistribution> child"
        )
    vctx = ctx.child("ValueSetDistribution")
    names: list[str] = []
    first_assigned: dict[str, str] = {}
    assigned: list[tuple[_Ctx, dict[str, str]]] = []
    for i, pvs in enumerate(vsd.findall("ParameterValueSet"), start=1):
        pctx = vctx.child("ParameterValueSet", i)
        row: dict[str, str] = {}
        for j, assignment in enumerate(pvs.findall("ParameterAssignment"), start=1):
            actx = pctx.child("ParameterAssignment", j)
            ref = _attr(assignment, "parameterRef", actx)
            if ref in row:
                raise actx.error(
                    "parameter assigned twice",
                    ref,
                    "one assignment per parameter",
                    attr="parameterRef",
                )
            row[ref] = _attr(assignment, "value", actx)
        if not row:
            raise pctx.error("empty ParameterValueSet", expected="ParameterAssignment children")
        for n in row:
            first_assigned.setdefault(n, pctx.path.rsplit("/", 1)[-1])
        names.extend(n for n in row if n not in names)
        assigned.append((pctx, row))
    if not assigned:
        raise vctx.error("no ParameterValueSet", expected="at least one <ParameterValueSet>")
    raw_rows: list[list[str]] = []
    for pctx, row in assigned:
        for missing in (n for n in names if n not in row):
            found = fallback.lookup(missing)
            if found is None:
                raise pctx.error(
                    f"value sets assign different parameters: {missing!r} (assigned in "
                    f"{first_assigned[missing]}) is not assigned here and has no default",
                    missing,
                    fallback.unknown(missing),
                )
            row[missing] = found[0]
            notes.append(
                f"{ctx.file}: {pctx.path} does not assign {missing!r}; "
                f"used its default {found[0]!r} from {found[1]}"
            )
        raw_rows.append([row[n] for n in names])
    columns = list(zip(*raw_rows, strict=True))
    converted: list[list[Any]] = []
    for column in columns:
        numbers = [_parse_number(v) for v in column]
        converted.append(list(numbers) if all(n is not None for n in numbers) else list(column))
    rows = [list(row) for row in zip(*converted, strict=True)]
    return {"name": name, "parameters": [{"name": n} for n in names], "rows": rows, "weights": None}


def _check_unique_names(
    parameters: Sequence[Mapping[str, Any]], value_sets: Sequence[Mapping[str, Any]], file: str
) -> None:
    seen: set[str] = set()
    names = [p["name"] for p in parameters] + [
        q["name"] for vs in value_sets for q in vs["parameters"]
    ]
    for name in names:
        if name in seen:
            raise ValidationError(
                "parameter distributed twice",
                file=file,
                field="parameterName",
                value=name,
                expected="each parameter in one distribution",
            )
        seen.add(name)


# --------------------------------------------------------------------------- writing

#: Elements a ``ParameterValueDistribution`` may hold only from OpenSCENARIO 1.<minor>.
_SINCE_MINOR: Mapping[str, int] = {"LogNormalDistribution": 3}


def _lowest_minor(elem: ET.Element) -> int:
    """The lowest OpenSCENARIO 1.x minor version whose schema ``elem``'s content satisfies."""
    return max([2, *(_SINCE_MINOR.get(e.tag, 2) for e in elem.iter())])


def _range_elem(parent: ET.Element, lower: float, upper: float) -> None:
    ET.SubElement(parent, "Range", lowerLimit=_fmt(lower), upperLimit=_fmt(upper))


def _standard_element(
    dist: Mapping[str, Any], bounds: tuple[float, float] | None, deterministic: bool
) -> ET.Element | None:
    """The standard OpenSCENARIO element for an entry, or ``None`` if there is none."""
    family = dist["family"]
    if (family in _DETERMINISTIC_FAMILIES) != deterministic:
        return None
    elem: ET.Element | None = None
    if family in ("Normal", "TruncatedNormal") and bounds is None:
        elem = ET.Element(
            "NormalDistribution", expectedValue=_fmt(dist["mu"]), variance=_fmt(dist["sigma"] ** 2)
        )
        if family == "TruncatedNormal":
            _range_elem(elem, dist["lower"], dist["upper"])
        return elem
    if family == "LogNormal" and dist["gamma"] == 0.0:
        mean, variance = _lognormal_to_moments(dist["mu_log"], dist["sigma_log"])
        elem = ET.Element(
            "LogNormalDistribution", expectedValue=_fmt(mean), variance=_fmt(variance)
        )
    elif family == "Poisson":
        elem = ET.Element("PoissonDistribution", expectedValue=_fmt(dist["lambda"]))
    if elem is not None:
        if bounds is not None:
            _range_elem(elem, *bounds)
        return elem
    if bounds is not None:
        return None
    if family == "Uniform":
        elem = ET.Element("UniformDistribution")
        _range_elem(elem, dist["lower"], dist["upper"])
    elif family == "Histogram":
        elem = ET.Element("Histogram")
        edges = dist["edges"]
        for i, weight in enumerate(dist["weights"]):
            _range_elem(ET.SubElement(elem, "Bin", weight=_fmt(weight)), edges[i], edges[i + 1])
    elif family in ("UserDefined", "Categorical"):
        elem = ET.Element("ProbabilityDistributionSet")
        labels = dist["values"] if family == "UserDefined" else dist["categories"]
        for label, weight in zip(labels, dist["weights"], strict=True):
            text = _fmt(label) if family == "UserDefined" else label
            ET.SubElement(elem, "Element", value=text, weight=_fmt(weight))
    elif family == "Grid":
        elem = ET.Element("DistributionRange", stepWidth=_fmt(dist["step"]))
        _range_elem(elem, dist["lower"], dist["upper"])
    elif family == "Set":
        elem = ET.Element("DistributionSet")
        for value in dist["values"]:
            ET.SubElement(elem, "Element", value=value if isinstance(value, str) else _fmt(value))
    return elem


def _user_defined_element(
    dist: Mapping[str, Any], bounds: tuple[float, float] | None
) -> ET.Element:
    content = dict(dist)
    if bounds is not None:
        content["bounds"] = [bounds[0], bounds[1]]
    elem = ET.Element("UserDefinedDistribution", type=USER_DEFINED_PREFIX + dist["family"])
    elem.text = json.dumps(content, allow_nan=False)
    return elem


def _encode(
    entry: Mapping[str, Any], deterministic: bool, ctx: _Ctx, *, portable: bool = False
) -> tuple[ET.Element, str | None]:
    """Encode one parameter entry: the element, and what a portable stand-in lost.

    The standard element is used only if it reads back exactly; otherwise the
    ``safety-val:`` UserDefinedDistribution, or with ``portable`` the standard
    element that reads back closest (see :mod:`safety_val.formats.portable`),
    with one line saying what it changed and its measured max CDF error.
    """
    dist = parse_distribution(
        entry.get("distribution"), file=ctx.file, field=f"{ctx.path}.distribution"
    ).to_dict()
    bounds = _bounds(entry.get("bounds"), ctx)
    wanted = _entry(dist, bounds)
    decoders = _DETERMINISTIC if deterministic else _STOCHASTIC
    elem = _standard_element(dist, bounds, deterministic)
    read_back: dict[str, Any] | None = None
    if elem is not None:
        try:
            read_back = decoders[elem.tag](elem, _Ctx("<export>", elem.tag))
        except ValidationError:
            elem = None
        else:
            if read_back == wanted:
                return elem, None
    if not portable:
        return _user_defined_element(dist, bounds), None
    method = "the standard element (its parameters rounded)"
    if elem is None or read_back is None:
        stand_in = portable_stand_in(dist, bounds, deterministic=deterministic)
        if stand_in is not None:
            elem = _standard_element(stand_in.distribution, stand_in.bounds, deterministic)
            method = stand_in.method
    if elem is not None:
        try:
            read_back = decoders[elem.tag](elem, _Ctx("<export>", elem.tag))
        except ValidationError:
            elem = None
    if elem is None or read_back is None:
        return _user_defined_element(dist, bounds), (
            f"{entry['name']}: {_described(dist, bounds)} has no standard representation; "
            f"written as a {USER_DEFINED_PREFIX}{dist['family']} UserDefinedDistribution"
        )
    got = read_back["distribution"]
    if dist["family"] == "Categorical" and got["family"] == "UserDefined":
        # numeric labels ("1", "2") read back as numbers: compare label by label
        method = "a ProbabilityDistributionSet whose labels read back as numbers"
        error = _label_cdf_error(dist, got)
    else:
        error = max_cdf_error((dist, bounds), (got, _bounds(read_back.get("bounds"), ctx)))
    what = "exact: the same distribution" if error < 1e-12 else f"max CDF error {_up(error)}"
    return elem, f"{entry['name']}: {_described(dist, bounds)} written as {method} ({what})"


def _up(error: float) -> str:
    """``error`` rounded up to two significant digits, so that the text is a bound."""
    exponent = math.floor(math.log10(error)) - 1
    return f"{math.ceil(error / 10.0**exponent * (1.0 - 1e-12)) * 10.0**exponent:.2g}"


def _label_cdf_error(categorical: Mapping[str, Any], numeric: Mapping[str, Any]) -> float:
    """Max CDF error of a Categorical and the UserDefined its labels read back as, by label."""
    by_value = dict(zip(numeric["values"], numeric["weights"], strict=True))
    total_c, total_n = sum(categorical["weights"]), sum(numeric["weights"])
    cdf_c = cdf_n = error = 0.0
    for label, weight in zip(categorical["categories"], categorical["weights"], strict=True):
        cdf_c += weight / total_c
        cdf_n += by_value.get(float(label), 0.0) / total_n
        error = max(error, abs(cdf_c - cdf_n))
    return error


def _comment_text(text: str) -> str:
    """``text`` as the content of an XML comment (no ``--``, spaces around)."""
    while "--" in text:
        text = text.replace("--", "- -")
    return f" {text.rstrip('-')} "


def _append(parent: ET.Element, elem: ET.Element, lost: str | None, log: list[str]) -> None:
    """Append ``elem`` to ``parent``, after a comment saying what it lost, if anything."""
    if lost is not None:
        parent.append(ET.Comment(_comment_text(lost)))
        log.append(lost)
    parent.append(elem)


def _described(dist: Mapping[str, Any], bounds: tuple[float, float] | None) -> str:
    """``Gamma(k=1.0, lambda=0.5, gamma=0.0) on [0.0, 16.0]``, shortened for a comment."""
    args = ", ".join(
        f"{k}={v!r}" if not isinstance(v, list) else f"{k}=[{len(v)} items]"
        for k, v in dist.items()
        if k != "family"
    )
    text = f"{dist['family']}({args})"
    return text if bounds is None else f"{text} on [{bounds[0]!r}, {bounds[1]!r}]"


def _bounds(raw: Any, ctx: _Ctx) -> tuple[float, float] | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, list | tuple)
        or len(raw) != 2
        or not all(_is_number(b) for b in raw)
        or raw[0] >= raw[1]
    ):
        raise ValidationError(
            "invalid bounds",
            file=ctx.file,
            field=f"{ctx.path}.bounds",
            value=raw,
            expected="[lower, upper] with lower < upper",
        )
    return float(raw[0]), float(raw[1])


def _value_set_element(value_set: Mapping[str, Any], ctx: _Ctx) -> ET.Element:
    def bad(what: str, value: Any, expected: str) -> ValidationError:
        return ValidationError(what, file=ctx.file, field=ctx.path, value=value, expected=expected)

    if value_set.get("weights") is not None:
        raise bad("OpenSCENARIO value sets have no weights", value_set.get("weights"), "null")
    params = value_set.get("parameters")
    if not isinstance(params, list) or not params:
        raise bad("value set without parameters", params, "a list of {'name': ...}")
    names = [p.get("name") if isinstance(p, Mapping) else None for p in params]
    if not all(isinstance(n, str) and n for n in names):
        raise bad("value set parameter without a name", params, "{'name': str} items")
    rows = value_set.get("rows")
    if not isinstance(rows, list) or not rows:
        raise bad("value set without rows", rows, "a non-empty list of rows")
    elem = ET.Element("DeterministicMultiParameterDistribution")
    vsd = ET.SubElement(elem, "ValueSetDistribution")
    for i, row in enumerate(rows):
        if not isinstance(row, list | tuple) or len(row) != len(names):
            raise ValidationError(
                "row length differs from the parameters",
                file=ctx.file,
                field=f"{ctx.path}.rows[{i}]",
                value=row,
                expected=f"{len(names)} values",
            )
        pvs = ET.SubElement(vsd, "ParameterValueSet")
        for j, (name, value) in enumerate(zip(names, row, strict=True)):
            if isinstance(value, str):
                text = value
            elif _is_number(value):
                text = _fmt(value)
            else:
                raise ValidationError(
                    "value set entry is not a number or string",
                    file=ctx.file,
                    field=f"{ctx.path}.rows[{i}][{j}]",
                    value=value,
                    expected="a finite number or a string",
                )
            ET.SubElement(pvs, "ParameterAssignment", parameterRef=str(name), value=text)
    return elem


def write_xosc(
    dist_set: ParameterDistributionSet,
    path: str | Path,
    *,
    author: str = "safety-val",
    description: str = "",
    portable: bool = False,
    notes: list[str] | None = None,
) -> None:
    """Write an OpenSCENARIO 1.2 ``ParameterValueDistribution`` file atomically.

    The ``FileHeader`` declares the lowest version whose schema the content
    satisfies: 1.2, or 1.3 where a ``LogNormalDistribution`` is written (1.3 added
    it).

    A ``Deterministic`` distribution is written when there are value sets or
    every parameter is a ``Grid`` / ``Set`` and no number of test runs or seed
    is given; otherwise a ``Stochastic`` one (``Grid`` / ``Set`` parameters then
    go into ``UserDefinedDistribution`` elements).

    Parameters
    ----------
    dist_set
        What to write.
    path
        Destination; written to a temporary file in the same folder, then
        renamed over ``path``.
    author, description
        ``FileHeader`` attributes.
    portable
        Write only standard elements that other tools read (scenariogeneration,
        esmini): where a distribution has no exact one (a Gamma, a Normal cut to
        bounds, a ``Grid`` in a stochastic file), a stand-in of
        :mod:`safety_val.formats.portable` (an exact reformulation, or a Histogram
        within a max CDF error of 1e-3) instead of the ``safety-val:``
        UserDefinedDistribution. An XML comment before each such element, and one
        after the ``FileHeader``, say which parameters lost fidelity and by how much
        (the measured Kolmogorov distance).
    notes
        Where given, one line per parameter a portable export changed is appended.

    Raises
    ------
    ValidationError
        If a distribution or bounds are invalid, a parameter name repeats, value
        sets are mixed with stochastic distributions (OpenSCENARIO cannot express
        that), a stochastic file lacks ``number_of_test_runs``, or a
        deterministic one is given a number of test runs or a seed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "sweep.xosc"
    >>> sweep = ParameterDistributionSet(
    ...     parameters=[{"name": "gap", "distribution": {"family": "Grid", "lower": 10.0,
    ...                                                   "upper": 30.0, "step": 10.0}}],
    ...     scenario_file="cut_in.xosc")
    >>> write_xosc(sweep, target)
    >>> read_xosc(target) == sweep
    True

    A Gamma has no OpenSCENARIO element; a portable export approximates it:

    >>> rain = ParameterDistributionSet(
    ...     parameters=[{"name": "rain", "distribution": {"family": "Gamma", "k": 1.0,
    ...                                                    "lambda": 0.5}, "bounds": [0, 16]}],
    ...     number_of_test_runs=100)
    >>> lost = []
    >>> write_xosc(rain, target, portable=True, notes=lost)
    >>> read_xosc(target).parameters[0]["distribution"]["family"]
    'Histogram'
    >>> print(lost[0])  # doctest: +ELLIPSIS
    rain: Gamma(k=1.0, lambda=0.5, gamma=0.0) on [0.0, 16.0] written as a Histogram of ... bins \
(max CDF error ...)
    """
    path = Path(path)
    file = str(path)
    entries = list(dist_set.parameters)
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise ValidationError(
                "parameter entry without a name",
                file=file,
                field=f"parameters[{i}]",
                value=entry,
                expected="{'name': str, 'distribution': {...}}",
            )
    families = [
        str(
            parse_distribution(
                e.get("distribution"), file=file, field=f"parameters[{i}].distribution"
            ).family
        )
        for i, e in enumerate(entries)
    ]
    _check_unique_names(
        entries,
        [
            {"parameters": [p for p in vs.get("parameters", []) if isinstance(p, Mapping)]}
            for vs in dist_set.value_sets
        ],
        file,
    )
    stochastic_families = [f for f in families if f not in _DETERMINISTIC_FAMILIES]
    has_run_settings = (
        dist_set.number_of_test_runs is not None
        or dist_set.random_seed is not None
        or dist_set.random_seed_text is not None
    )
    deterministic = bool(dist_set.value_sets) or (not stochastic_families and not has_run_settings)
    if not entries and not dist_set.value_sets:
        raise ValidationError(
            "nothing to write",
            file=file,
            field="parameters",
            value=[],
            expected="at least one parameter or value set",
        )

    lost: list[str] = []
    root = ET.Element(_ROOT)
    ET.SubElement(
        root,
        "FileHeader",
        revMajor="1",
        revMinor="2",
        date=datetime.now(UTC).replace(microsecond=0).isoformat(),
        description=description,
        author=author,
    )
    pvd = ET.SubElement(root, "ParameterValueDistribution")
    ET.SubElement(pvd, "ScenarioFile", filepath=dist_set.scenario_file or "")
    if deterministic:
        if stochastic_families:
            raise ValidationError(
                "value sets cannot be mixed with stochastic distributions in OpenSCENARIO",
                file=file,
                field="parameters",
                value=stochastic_families,
                expected="only Grid/Set parameters next to value sets",
            )
        if has_run_settings:
            raise ValidationError(
                "a deterministic distribution has no number of test runs or seed",
                file=file,
                field="number_of_test_runs",
                value=[dist_set.number_of_test_runs, dist_set.random_seed],
                expected="None",
            )
        body = ET.SubElement(pvd, "Deterministic")
        for i, vs in enumerate(dist_set.value_sets):
            body.append(_value_set_element(vs, _Ctx(file, f"value_sets[{i}]")))
        for i, entry in enumerate(entries):
            single = ET.SubElement(
                body, "DeterministicSingleParameterDistribution", parameterName=entry["name"]
            )
            _append(single, *_encode(entry, True, _Ctx(file, f"parameters[{i}]"),
                                     portable=portable), lost)
    else:
        runs = dist_set.number_of_test_runs
        if not (isinstance(runs, int) and not isinstance(runs, bool) and runs >= 1):
            raise ValidationError(
                "a stochastic distribution needs the number of test runs",
                file=file,
                field="number_of_test_runs",
                value=runs,
                expected="an integer >= 1",
            )
        attrs = {"numberOfTestRuns": str(runs)}
        seed = dist_set.random_seed
        if seed is not None:
            if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
                raise ValidationError(
                    "invalid random seed",
                    file=file,
                    field="random_seed",
                    value=seed,
                    expected="an integer >= 0",
                )
            attrs["randomSeed"] = str(seed)
        if dist_set.random_seed_text is not None:
            text = dist_set.random_seed_text
            try:
                derived: int | None = seed_from_text(text)
            except (ValueError, AttributeError):
                derived = None
            if derived is None or (seed is not None and derived != seed):
                raise ValidationError(
                    "random seed text does not give the random seed",
                    file=file,
                    field="random_seed_text",
                    value=text,
                    expected=f"a number whose seed is {seed}",
                )
            attrs["randomSeed"] = text
        body = ET.SubElement(pvd, "Stochastic", attrs)
        for i, entry in enumerate(entries):
            single = ET.SubElement(body, "StochasticDistribution", parameterName=entry["name"])
            _append(single, *_encode(entry, False, _Ctx(file, f"parameters[{i}]"),
                                     portable=portable), lost)
    header = root.find("FileHeader")
    if header is not None:
        header.set("revMinor", str(_lowest_minor(body)))
    if lost:
        summary = ET.Comment(_comment_text(
            f"safety-val portable export: {len(lost)} parameter(s) written with a standard "
            "stand-in, the comment before each says how and with what max CDF error (the "
            "Kolmogorov distance sup|F - G| between the scenario's distribution F and the "
            "file's G): " + ", ".join(line.split(":", 1)[0] for line in lost)
        ))
        root.insert(1, summary)
        if notes is not None:
            notes.extend(lost)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")


def merge_into_scenario(
    scenario_body: Mapping[str, Any],
    dist_set: ParameterDistributionSet,
    *,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Replace a scenario mapping's distributions by those of an imported file.

    OpenSCENARIO carries distributions only, so what it lacks is kept from the base
    scenario (the mapping under ``scenario:``): each imported parameter keeps the
    ``unit``, ``odd`` attribute and ``description`` of the base parameter of the same
    name, and the base's ``dependence`` is kept when all its parameters are still
    ordinary (non value-set) parameters. A base ``fixed`` value of a parameter the
    file distributes is removed (pass it to :func:`read_xosc` as a default first).
    What was changed beyond the file's content is appended to ``notes``.

    Examples
    --------
    >>> uniform = {"family": "Uniform", "lower": 0, "upper": 1}
    >>> base = {"name": "s", "parameters": [{"name": "v", "unit": "m/s", "distribution": uniform}]}
    >>> new = ParameterDistributionSet([{"name": "v", "distribution": {"family": "Normal",
    ...     "mu": 1.0, "sigma": 2.0}}], [], None, 10, None)
    >>> merged = merge_into_scenario(base, new)["parameters"][0]
    >>> merged["unit"], merged["distribution"]["family"]
    ('m/s', 'Normal')
    """
    known = {
        p["name"]: p
        for p in scenario_body.get("parameters", [])
        if isinstance(p, Mapping) and "name" in p
    }
    for value_set in scenario_body.get("value_sets", []) or []:
        for member in value_set.get("parameters", []):
            if isinstance(member, Mapping) and "name" in member:
                known.setdefault(member["name"], member)

    def described(entry: Mapping[str, Any]) -> dict[str, Any]:
        base = known.get(entry["name"], {})
        kept = {k: base[k] for k in ("unit", "odd", "description") if k in base}
        return {"name": entry["name"], **kept, **{k: v for k, v in entry.items() if k != "name"}}

    merged = {k: v for k, v in scenario_body.items() if k not in ("parameters", "value_sets")}
    merged["parameters"] = [described(p) for p in dist_set.parameters]
    if dist_set.value_sets:
        merged["value_sets"] = [
            {**vs, "parameters": [described(m) for m in vs["parameters"]]}
            for vs in dist_set.value_sets
        ]
    imported = {p["name"] for p in dist_set.parameters} | {
        m["name"] for vs in dist_set.value_sets for m in vs["parameters"]
    }
    fixed = scenario_body.get("fixed")
    if isinstance(fixed, Mapping) and imported & set(fixed):
        merged["fixed"] = {k: v for k, v in fixed.items() if k not in imported}
        if not merged["fixed"]:
            del merged["fixed"]
        if notes is not None:
            notes.append(
                "the imported file distributes "
                + ", ".join(sorted(imported & set(fixed)))
                + ", fixed in the base scenario: no longer fixed"
            )
    dependence = scenario_body.get("dependence")
    if isinstance(dependence, Mapping):
        reason = _dependence_gone(dependence, known, dist_set)
        coupled = ", ".join(str(n) for n in dependence.get("parameters", []) or [])
        if reason is not None:
            merged.pop("dependence", None)
        if notes is not None:
            notes.append(
                f"dropped the base scenario's dependence between {coupled}: {reason}"
                if reason is not None
                else f"kept the base scenario's dependence between {coupled}: the imported "
                "file gives them the same distributions and bounds (OpenSCENARIO has no copula)"
            )
    return merged


def _canonical_entry(entry: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """``(distribution dict, bounds)`` of a YAML parameter entry, ``None`` if invalid."""
    try:
        dist = parse_distribution(entry.get("distribution")).to_dict()
        bounds = _bounds(entry.get("bounds"), _Ctx("<base>", "bounds"))
    except (ValidationError, TypeError, ValueError):
        return None
    return dist, bounds


def _dependence_gone(
    dependence: Mapping[str, Any],
    base: Mapping[str, Mapping[str, Any]],
    dist_set: ParameterDistributionSet,
) -> str | None:
    """Why the base scenario's copula no longer applies to the import, or ``None``."""
    names = dependence.get("parameters", [])
    if not isinstance(names, list):
        return None  # invalid: left for the scenario validation to report
    imported = {p["name"]: p for p in dist_set.parameters}
    absent = [n for n in names if n not in imported]
    if absent:
        return (
            "the imported file does not distribute "
            + ", ".join(map(str, absent))
            + " as single parameters"
        )
    replaced = [
        n
        for n in names
        if n not in base
        or _canonical_entry(base[n]) is None
        or _canonical_entry(base[n]) != _canonical_entry(imported[n])
    ]
    if replaced:
        return (
            "the imported file replaced the distributions of "
            + ", ".join(map(str, replaced))
            + " and OpenSCENARIO states no dependence"
        )
    return None
