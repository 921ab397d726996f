r"""Foreign parameter names and units of OpenSCENARIO files, mapped onto a template's inputs.

Files written by others name their parameters in their own words and units: the ALKS
scenario variations distribute ``Ego_InitSpeed_Ru`` in km/h where the ``cut_in``
template reads ``ego_speed`` in m/s. A parameter map renames them on import and
converts their distributions::

    safety-val scenario import-xosc alks.xosc --into scenarios/cut_in.yaml \
        --map Ego_InitSpeed_Ru=ego_speed:km/h,Cut_In_Gap=cut_in_gap --out mine.yaml

Syntax: comma-separated ``FOREIGN=INPUT`` items, each optionally followed by
``:UNIT``, the unit of the file's values (:data:`UNITS` lists the known ones). The
values are converted to the input's unit where the scenario states it, else to the
SI unit of ``UNIT``'s quantity. The same map may stand in an ``openscenario:`` block
of a scenario file (``parameter_map: {Ego_InitSpeed_Ru: "ego_speed:km/h"}``);
``--into`` uses it when ``--map`` is not given, and an import writes the map it used
into the block it writes.

Notes
-----
A unit conversion is a scale :math:`x' = a x` (:math:`a > 0`), under which each
family stays in its family: location and scale parameters, bounds, edges, points and
steps are multiplied by :math:`a`; shape parameters are kept; a rate is divided by
:math:`a` (Gamma's ``lambda``); a log-normal's ``mu_log`` gains :math:`\log a`.
A count (Poisson), categories and text values have no unit and are refused a factor
other than 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from typing import TYPE_CHECKING, Any

from safety_val.errors import ValidationError

if TYPE_CHECKING:
    from safety_val.formats.xosc import ParameterDistributionSet

__all__ = [
    "UNITS",
    "ParameterMapping",
    "apply_parameter_map",
    "parameter_map_block",
    "parse_parameter_map",
    "scenario_units",
    "unapply_parameter_map",
]

#: Known units: ``unit -> (quantity, factor to the quantity's SI unit)``.
UNITS: Mapping[str, tuple[str, float]] = {
    "m/s": ("speed", 1.0),
    "km/h": ("speed", 1.0 / 3.6),
    "kmh": ("speed", 1.0 / 3.6),
    "kph": ("speed", 1.0 / 3.6),
    "mph": ("speed", 0.44704),
    "ft/s": ("speed", 0.3048),
    "kn": ("speed", 1852.0 / 3600.0),
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "cm": ("length", 0.01),
    "mm": ("length", 0.001),
    "ft": ("length", 0.3048),
    "mi": ("length", 1609.344),
    "s": ("time", 1.0),
    "ms": ("time", 0.001),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "m/s^2": ("acceleration", 1.0),
    "m/s2": ("acceleration", 1.0),
    "g": ("acceleration", 9.80665),
    "ft/s^2": ("acceleration", 0.3048),
    "rad": ("angle", 1.0),
    "deg": ("angle", math.pi / 180.0),
    "1": ("ratio", 1.0),
    "-": ("ratio", 1.0),
    "%": ("ratio", 0.01),
    "mm/h": ("rain intensity", 1.0),
    "in/h": ("rain intensity", 25.4),
}
_SI = {"speed": "m/s", "length": "m", "time": "s", "acceleration": "m/s^2", "angle": "rad",
       "ratio": "1", "rain intensity": "mm/h"}
_SYNTAX = "FOREIGN=INPUT or FOREIGN=INPUT:UNIT, comma-separated"


@dataclass(frozen=True)
class ParameterMapping:
    """One foreign parameter of a file mapped onto a template input.

    Attributes
    ----------
    foreign
        The name in the file (``Ego_InitSpeed_Ru``).
    input
        The template input it becomes (``ego_speed``).
    unit
        The unit of the file's values, ``None`` for a rename only.
    """

    foreign: str
    input: str
    unit: str | None = None

    def factor(self, target_unit: str | None, *, source: str = "--map") -> tuple[float, str]:
        """``(a, unit)``: the file's values times ``a`` are in ``unit``.

        ``unit`` is ``target_unit`` where it is given, else the SI unit of
        :attr:`unit`'s quantity.

        Examples
        --------
        >>> ParameterMapping("V", "ego_speed", "km/h").factor("m/s")
        (0.2777777777777778, 'm/s')
        >>> ParameterMapping("V", "ego_speed", "km/h").factor(None)
        (0.2777777777777778, 'm/s')
        >>> ParameterMapping("V", "ego_speed").factor("m/s")
        (1.0, 'm/s')
        """
        if self.unit is None:
            return 1.0, target_unit or ""
        if self.unit == target_unit:
            return 1.0, target_unit
        quantity, to_si = UNITS[self.unit]
        if target_unit is None:
            return to_si, _SI[quantity]
        known = UNITS.get(target_unit)
        if known is None or known[0] != quantity:
            what = "a unit safety-val does not know" if known is None else f"a {known[0]}"
            raise ValidationError(
                f"cannot convert {self.unit} ({quantity}) to {target_unit}: the unit of "
                f"{self.input!r} in the scenario, {what}",
                field=source,
                value=f"{self.foreign}={self.input}:{self.unit}",
                expected=f"a unit of {target_unit}'s quantity, or no unit",
            )
        return to_si / known[1], target_unit

    def text(self) -> str:
        """``INPUT`` or ``INPUT:UNIT``, as in a map (the value of a YAML block entry)."""
        return self.input if self.unit is None else f"{self.input}:{self.unit}"


def _mapping_item(foreign: str, target: str, source: str, item: str) -> ParameterMapping:
    def bad(message: str, expected: str = _SYNTAX) -> ValidationError:
        return ValidationError(message, field=source, value=item, expected=expected)

    foreign = foreign.strip()
    name, _, unit = target.partition(":")
    name, unit = name.strip(), unit.strip()
    if not foreign or not name:
        raise bad("a mapping needs a foreign name and an input")
    if not name.isidentifier():
        raise bad(f"input {name!r} is not a parameter name", "an identifier such as ego_speed")
    if ":" in target and unit not in UNITS:
        raise bad(f"unknown unit {unit!r}", "one of " + ", ".join(UNITS))
    return ParameterMapping(foreign, name, unit or None)


def parse_parameter_map(
    value: str | Mapping[str, Any] | None, *, source: str = "--map"
) -> tuple[ParameterMapping, ...]:
    """Parse ``--map`` text or an ``openscenario.parameter_map`` mapping.

    Parameters
    ----------
    value
        ``"Ego_InitSpeed_Ru=ego_speed:km/h,Gap=cut_in_gap"``, or the same as a mapping
        ``{"Ego_InitSpeed_Ru": "ego_speed:km/h", "Gap": "cut_in_gap"}``; ``None`` or
        empty for no map.
    source
        Where it came from, for error messages (``--map``, a file's field).

    Raises
    ------
    ValidationError
        For an item without ``=``, an empty name, an unknown unit, a foreign name
        given twice, or two foreign names mapped onto one input.

    Examples
    --------
    >>> parse_parameter_map("Ego_InitSpeed_Ru=ego_speed:km/h, Gap=cut_in_gap")
    (ParameterMapping(foreign='Ego_InitSpeed_Ru', input='ego_speed', unit='km/h'), \
ParameterMapping(foreign='Gap', input='cut_in_gap', unit=None))
    >>> parse_parameter_map("Speed=ego_speed:furlongs")
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: --map: unknown unit 'furlongs' (got \
'Speed=ego_speed:furlongs'; expected one of m/s, km/h, kmh, kph, mph, ft/s, kn, m, km, cm, \
mm, ft, mi, s, ms, min, h, m/s^2, m/s2, g, ft/s^2, rad, deg, 1, -, %, mm/h, in/h)
    """
    if value is None:
        return ()
    items: list[ParameterMapping] = []
    if isinstance(value, str):
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            foreign, equals, target = item.partition("=")
            if not equals:
                raise ValidationError(
                    "a mapping without '='", field=source, value=item, expected=_SYNTAX
                )
            items.append(_mapping_item(foreign, target, source, item))
    elif isinstance(value, Mapping):
        for foreign, target in value.items():
            item = f"{foreign}: {target}"
            if not isinstance(foreign, str) or not isinstance(target, str):
                raise ValidationError(
                    "a parameter map entry is not text", field=source, value=item,
                    expected="FOREIGN: INPUT or FOREIGN: INPUT:UNIT",
                )
            items.append(_mapping_item(foreign, target, source, item))
    else:
        raise ValidationError(
            "not a parameter map", field=source, value=value,
            expected="a mapping {FOREIGN: INPUT or INPUT:UNIT}",
        )
    for attribute, what in (("foreign", "foreign name"), ("input", "input")):
        seen: set[str] = set()
        for mapping in items:
            key = getattr(mapping, attribute)
            if key in seen:
                raise ValidationError(
                    f"{what} {key!r} mapped twice", field=source, value=key,
                    expected=f"each {what} once",
                )
            seen.add(key)
    return tuple(items)


def parameter_map_block(mappings: Sequence[ParameterMapping]) -> dict[str, str]:
    """The ``parameter_map:`` entries of an ``openscenario:`` block for ``mappings``.

    Examples
    --------
    >>> parameter_map_block(parse_parameter_map("V=ego_speed:km/h,G=gap"))
    {'V': 'ego_speed:km/h', 'G': 'gap'}
    """
    return {m.foreign: m.text() for m in mappings}


# --------------------------------------------------------------------------- scaling


def _times(value: Any, factor: float) -> float:
    """``value * factor`` to 15 significant digits (36 km/h is 10.0 m/s, not 10.000000000000002)."""
    return float(f"{float(value) * factor:.15g}")


def _scaled(values: Sequence[Any], factor: float) -> list[float]:
    return [_times(v, factor) for v in values]


_SCALE_KEYS: Mapping[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "TruncatedNormal": ("mu", "sigma", "lower", "upper"),
    "Uniform": ("lower", "upper"),
    "Triangular": ("lower", "mode", "upper"),
    "Beta": ("lower", "upper"),
    "Weibull": ("scale", "location"),
    "Gumbel": ("scale", "mode"),
    "Grid": ("lower", "upper", "step"),
}


def _scale_distribution(distribution: Mapping[str, Any], factor: float) -> dict[str, Any] | None:
    """The family dict of ``factor * X`` (a canonical dict), ``None`` if not expressible."""
    out = dict(distribution)
    family = str(out["family"])
    if family in _SCALE_KEYS:
        for key in _SCALE_KEYS[family]:
            out[key] = _times(out[key], factor)
    elif family == "LogNormal":
        out["mu_log"] = float(out["mu_log"]) + math.log(factor)
        out["gamma"] = _times(out.get("gamma", 0.0), factor)
    elif family == "Gamma":
        out["lambda"] = _times(out["lambda"], 1.0 / factor)
        out["gamma"] = _times(out.get("gamma", 0.0), factor)
    elif family == "Histogram":
        out["edges"] = _scaled(out["edges"], factor)
    elif family in ("UserDefined", "Set") and not any(isinstance(v, str) for v in out["values"]):
        out["values"] = _scaled(out["values"], factor)
    else:  # Poisson counts, categories, text
        return None
    return out


def apply_parameter_map(
    dist_set: ParameterDistributionSet,
    mappings: Sequence[ParameterMapping],
    *,
    units: Mapping[str, str] | None = None,
    file: str | PathLike[str] | None = None,
    source: str = "--map",
) -> tuple[ParameterDistributionSet, list[str]]:
    """Rename the file's foreign parameters to template inputs and convert their units.

    Parameters
    ----------
    dist_set
        What :func:`~safety_val.formats.xosc.read_xosc` read.
    mappings
        From :func:`parse_parameter_map`.
    units
        The unit of each input where the scenario states it (the ``--into``
        scenario's parameters, its template's inputs); values are converted to it.
    file
        The ``.xosc`` file, for error messages.
    source
        Where the map came from, for error messages.

    Returns
    -------
    tuple
        The mapped :class:`~safety_val.formats.xosc.ParameterDistributionSet` and one
        note per conversion.

    Raises
    ------
    ValidationError
        If a foreign name is not in the file, an input is already a parameter of the
        file, a unit does not convert to the input's, or a converted distribution
        has no unit (a count, categories, text values).

    Examples
    --------
    >>> from safety_val.formats.xosc import ParameterDistributionSet
    >>> alks = ParameterDistributionSet([{"name": "Ego_InitSpeed_Ru", "distribution": {
    ...     "family": "Uniform", "lower": 36.0, "upper": 108.0}}], number_of_test_runs=10)
    >>> mapped, notes = apply_parameter_map(alks, parse_parameter_map("Ego_InitSpeed_Ru="
    ...                                     "ego_speed:km/h"), units={"ego_speed": "m/s"})
    >>> mapped.parameters
    [{'name': 'ego_speed', 'distribution': {'family': 'Uniform', 'lower': 10.0, 'upper': 30.0}}]
    >>> notes
    ['Ego_InitSpeed_Ru (km/h) imported as ego_speed (m/s): values times 0.2778']
    """
    try:
        return _apply(dist_set, mappings, units or {}, source)
    except ValidationError as exc:
        raise (exc if file is None else exc.with_context(file=file)) from None


def _apply(
    dist_set: ParameterDistributionSet,
    mappings: Sequence[ParameterMapping],
    units: Mapping[str, str],
    where: str,
) -> tuple[ParameterDistributionSet, list[str]]:
    by_foreign = {m.foreign: m for m in mappings}
    names = [p["name"] for p in dist_set.parameters] + [
        q["name"] for vs in dist_set.value_sets for q in vs["parameters"]
    ]
    missing = [m.foreign for m in mappings if m.foreign not in names]
    if missing:
        raise ValidationError(
            f"the file has no parameter {missing[0]!r}", field=where, value=missing[0],
            expected="one of " + ", ".join(names),
        )
    renamed = {n: by_foreign[n].input if n in by_foreign else n for n in names}
    clash = [n for n in names if n not in by_foreign and n in {m.input for m in mappings}]
    if clash:
        raise ValidationError(
            f"input {clash[0]!r} is mapped onto, but the file distributes it already",
            field=where, value=clash[0], expected="an input the file does not name",
        )
    notes: list[str] = []
    factors: dict[str, float] = {}
    for mapping in mappings:
        factor, unit = mapping.factor(units.get(mapping.input), source=where)
        factors[mapping.foreign] = factor
        if factor != 1.0:
            notes.append(
                f"{mapping.foreign} ({mapping.unit}) imported as {mapping.input} ({unit}): "
                f"values times {factor:.4g}"
            )

    return _renamed(dist_set, {m.foreign: m for m in mappings}, renamed, factors, where), notes


def _renamed(
    dist_set: ParameterDistributionSet,
    by_name: Mapping[str, ParameterMapping],
    renamed: Mapping[str, str],
    factors: Mapping[str, float],
    where: str,
) -> ParameterDistributionSet:
    """``dist_set`` with parameters renamed and values scaled by ``factors`` (old names)."""

    def bad(name: str, family: str) -> ValidationError:
        mapping = by_name[name]
        return ValidationError(
            f"{name!r} ({family}) has no unit to convert", field=where,
            value=f"{mapping.foreign}={mapping.text()}",
            expected=f"{mapping.foreign}={mapping.input} (no unit)",
        )

    parameters = []
    for entry in dist_set.parameters:
        name, factor = entry["name"], factors.get(entry["name"], 1.0)
        new = {**entry, "name": renamed.get(name, name)}
        if factor != 1.0:
            scaled = _scale_distribution(entry["distribution"], factor)
            if scaled is None:
                raise bad(name, entry["distribution"]["family"])
            new["distribution"] = scaled
            if entry.get("bounds") is not None:
                new["bounds"] = _scaled(entry["bounds"], factor)
        parameters.append(new)
    value_sets = []
    for vs in dist_set.value_sets:
        members = [q["name"] for q in vs["parameters"]]
        rows = [list(row) for row in vs["rows"]]
        for j, name in enumerate(members):
            factor = factors.get(name, 1.0)
            if factor == 1.0:
                continue
            if any(isinstance(row[j], str) for row in rows):
                raise bad(name, "text values")
            for row in rows:
                row[j] = _times(row[j], factor)
        value_sets.append({**vs, "parameters": [{**q, "name": renamed.get(q["name"], q["name"])}
                                                for q in vs["parameters"]], "rows": rows})
    return replace(dist_set, parameters=parameters, value_sets=value_sets)


def unapply_parameter_map(
    dist_set: ParameterDistributionSet,
    mappings: Sequence[ParameterMapping],
    *,
    units: Mapping[str, str] | None = None,
    source: str = "openscenario.parameter_map",
) -> ParameterDistributionSet:
    """The inverse of :func:`apply_parameter_map`: inputs back to the file's names and units.

    An export of a scenario imported with a map writes the names its ``ScenarioFile``
    declares. An input the scenario does not distribute is left out of the map.

    Examples
    --------
    >>> from safety_val.formats.xosc import ParameterDistributionSet
    >>> ours = ParameterDistributionSet([{"name": "ego_speed", "distribution": {
    ...     "family": "Uniform", "lower": 10.0, "upper": 30.0}}], number_of_test_runs=10)
    >>> unapply_parameter_map(ours, parse_parameter_map("V=ego_speed:km/h"),
    ...                       units={"ego_speed": "m/s"}).parameters
    [{'name': 'V', 'distribution': {'family': 'Uniform', 'lower': 36.0, 'upper': 108.0}}]
    """
    units = units or {}
    names = {p["name"] for p in dist_set.parameters} | {
        q["name"] for vs in dist_set.value_sets for q in vs["parameters"]
    }
    used = [m for m in mappings if m.input in names]
    factors = {m.input: 1.0 / m.factor(units.get(m.input), source=source)[0] for m in used}
    renamed = {m.input: m.foreign for m in used}
    return _renamed(dist_set, {m.input: m for m in used}, renamed, factors, source)


def scenario_units(body: Mapping[str, Any]) -> dict[str, str]:
    """The unit of each input a scenario mapping knows: its parameters', its template's.

    Examples
    --------
    >>> scenario_units({"parameters": [{"name": "gap", "unit": "m"}]})
    {'gap': 'm'}
    """
    units: dict[str, str] = {}
    template = body.get("template")
    if isinstance(template, str) and body.get("simulator", "builtin") == "builtin":
        from safety_val.sim.templates import get_template

        try:
            info = get_template(template).parameters
        except (ValidationError, KeyError):
            info = {}
        units.update({name: p.unit for name, p in info.items() if p.unit})
    for group in [body.get("parameters") or []] + [
        vs.get("parameters") or [] for vs in body.get("value_sets") or [] if isinstance(vs, Mapping)
    ]:
        for p in group:
            if isinstance(p, Mapping) and isinstance(p.get("name"), str) and isinstance(
                p.get("unit"), str
            ):
                units[p["name"]] = p["unit"]
    return units
