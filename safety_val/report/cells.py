"""Table cells of the report: numbers to 4 significant digits with their units.

The HTML and Markdown renderers share these helpers so that both show the same
text: a mapping or a list is never printed as its Python ``repr`` (every number in
it is formatted), a parameter's value carries its unit, and a record with one value
per parameter (the worst case's shifts and means) becomes one row per parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "format_number",
    "parameter_units",
    "with_unit",
    "worst_case_parameters",
    "worst_case_summary",
]

DIGITS = 4
"""Significant digits of every number in the report's tables."""


def format_number(value: Any, digits: int = DIGITS) -> str:
    """A number to ``digits`` significant digits; ``None``/NaN as a dash; text unchanged.

    A mapping is shown as ``key = value`` pairs and a list as ``[a, b]``, each number
    formatted, never as a Python ``repr``.

    Examples
    --------
    >>> format_number(0.0312345), format_number(None), format_number(12), format_number("x")
    ('0.03123', '—', '12', 'x')
    >>> format_number([0.18412505879242422, 0.26907094452150765])
    '[0.1841, 0.2691]'
    >>> format_number({"ego_speed": 30.113704373112853, "rain": None})
    'ego_speed = 30.11, rain = —'
    """
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.{digits}g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} = {format_number(v, digits)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_number(v, digits) for v in value) + "]"
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar
        try:
            return format_number(value.item(), digits)
        except (TypeError, ValueError):
            pass
    return str(value)


def with_unit(value: Any, unit: str | None, digits: int = DIGITS) -> str:
    """A value with its unit: ``30.11 m/s`` (a dash for a missing value, no unit).

    Examples
    --------
    >>> with_unit(30.113704373112853, "m/s"), with_unit(None, "m"), with_unit(2.0, "")
    ('30.11 m/s', '—', '2')
    """
    text = format_number(value, digits)
    if value is None or text == "—" or not unit or unit == "-":
        return text
    return f"{text} {unit}"


def parameter_units(content: Mapping[str, Any]) -> dict[str, str]:
    """Unit of each parameter, from the report content (regions, else scenario)."""
    units: dict[str, str] = {}
    scenario = content.get("scenario") or {}
    for parameter in scenario.get("parameters") or []:
        if isinstance(parameter, Mapping) and parameter.get("unit"):
            units[str(parameter["name"])] = str(parameter["unit"])
    regions = content.get("regions") or {}
    for name, unit in (regions.get("units") or {}).items():
        if unit:
            units[str(name)] = str(unit)
    return units


def _signed(shift: Any) -> str:
    """A mean shift in standard deviations, signed: ``+1 σ``, ``-0.5 σ``."""
    if isinstance(shift, int | float) and not isinstance(shift, bool) and math.isfinite(shift):
        return f"{shift:+.{DIGITS}g} σ"
    return format_number(shift)


def worst_case_summary(worst: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The worst case's scalar quantities as ``(quantity, value)`` rows."""
    ci = worst.get("ci")
    low, high = (ci[0], ci[1]) if isinstance(ci, Sequence) and len(ci) == 2 else (None, None)
    rows = [
        ("ambiguity set", format_number(worst.get("ambiguity"))),
        ("worst pf", format_number(worst.get("pf"))),
        ("95 % interval", f"[{format_number(low)}, {format_number(high)}]"),
        ("β (σ)", format_number(worst.get("beta"))),
        ("coefficient of variation", format_number(worst.get("cov"), 3)),
        ("effective sample size", format_number(worst.get("ess"), 3)),
        ("how", format_number(worst.get("how"))),
    ]
    known = {"ambiguity", "pf", "ci", "beta", "cov", "ess", "how", "shifts", "means"}
    rows += [(str(k), format_number(v)) for k, v in worst.items() if k not in known]
    return rows


def worst_case_parameters(
    worst: Mapping[str, Any], units: Mapping[str, str]
) -> list[dict[str, str]]:
    """One row per parameter: the mean shift (σ) and the worst-case mean with its unit."""
    shifts = worst.get("shifts")
    means = worst.get("means")
    shifts = shifts if isinstance(shifts, Mapping) else {}
    means = means if isinstance(means, Mapping) else {}
    names = list(dict.fromkeys([*shifts, *means]))
    return [
        {
            "parameter": str(name),
            "mean shift": _signed(shifts.get(name)),
            "worst-case mean": with_unit(means.get(name), units.get(str(name))),
        }
        for name in names
    ]
