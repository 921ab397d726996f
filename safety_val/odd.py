"""Operational Design Domain (ODD): the conditions an automated driving system is designed for.

The YAML format follows the top-level attribute taxonomy of ISO 34503:2023 —
``scenery``, ``environmental_conditions`` and ``dynamic_elements``. Inside each
category, groups may nest to any depth; a *leaf* attribute is a mapping with a
``unit`` and either a numeric ``range: [min, max]`` or an ``allowed`` set::

    odd:
      name: motorway_l3
      scenery:
        drivable_area:
          lane_width: {unit: m, range: [3.25, 3.75]}
      environmental_conditions:
        illumination:
          lighting: {unit: "-", allowed: [day, twilight, night]}
      dynamic_elements:
        subject_vehicle:
          speed: {unit: m/s, range: [0, 36.1]}

Attributes are addressed by their dotted path, e.g.
``dynamic_elements.subject_vehicle.speed``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from safety_val._validation import check_keys
from safety_val._yaml import read_yaml_mapping, require_mapping
from safety_val.errors import ValidationError

__all__ = ["CATEGORIES", "ODD", "OddAttribute", "load_odd", "odd_from_dict"]

#: The top-level attribute categories of ISO 34503.
CATEGORIES: Final = ("scenery", "environmental_conditions", "dynamic_elements")
_META_KEYS: Final = {"name", "description", "references", "taxonomy"}
_LEAF_KEYS: Final = {"unit", "range", "allowed", "description"}


@dataclass(frozen=True)
class OddAttribute:
    """One ODD attribute: a unit and either a numeric range or an allowed set.

    Attributes
    ----------
    path
        Dotted path, e.g. ``"environmental_conditions.weather.rain_intensity"``.
    unit
        Unit of the attribute (``"-"`` for a category without unit).
    range
        ``(min, max)`` for a numeric attribute, else ``None``.
    allowed
        Allowed values for an enumerated attribute, else ``None``.
    description
        Free text.
    """

    path: str
    unit: str
    range: tuple[float, float] | None = None
    allowed: tuple[str | float, ...] | None = None
    description: str = ""

    @property
    def category(self) -> str:
        """The ISO 34503 top-level category (first path component)."""
        return self.path.split(".", 1)[0]

    @property
    def is_numeric(self) -> bool:
        """Whether the attribute is a numeric range."""
        return self.range is not None

    def contains_interval(self, lower: float, upper: float, *, tol: float = 1e-9) -> bool:
        """Whether ``[lower, upper]`` lies inside the attribute's range (or allowed numbers)."""
        if self.range is not None:
            lo, hi = self.range
            scale = max(1.0, abs(lo), abs(hi))
            return lower >= lo - tol * scale and upper <= hi + tol * scale
        return False

    def contains_value(self, value: str | float) -> bool:
        """Whether a single value is inside the attribute.

        Examples
        --------
        >>> OddAttribute("a.b", "m", range=(0.0, 2.0)).contains_value(1.5)
        True
        >>> OddAttribute("a.c", "-", allowed=("day", "night")).contains_value("dusk")
        False
        """
        if self.range is not None:
            return isinstance(value, int | float) and self.contains_interval(value, value)
        return self.allowed is not None and value in self.allowed

    def describe(self) -> str:
        """Short text: ``[0, 36.1] m/s`` or ``{day, night}``."""
        if self.range is not None:
            return f"[{self.range[0]:g}, {self.range[1]:g}] {self.unit}"
        return "{" + ", ".join(str(v) for v in self.allowed or ()) + "}"


@dataclass(frozen=True)
class ODD:
    """An Operational Design Domain.

    Attributes
    ----------
    name
        Identifier of the ODD.
    attributes
        Leaf attributes by dotted path.
    description
        Free text.
    references
        Standards and regulations the ODD is based on.
    source
        The file it was loaded from, if any.
    """

    name: str
    attributes: Mapping[str, OddAttribute]
    description: str = ""
    references: tuple[str, ...] = ()
    source: Path | None = field(default=None, compare=False)

    def __iter__(self) -> Iterator[OddAttribute]:
        return iter(self.attributes.values())

    def __len__(self) -> int:
        return len(self.attributes)

    def attribute(self, path: str) -> OddAttribute:
        """Return the attribute at ``path``.

        Raises
        ------
        ValidationError
            If the ODD has no such attribute; the message lists close matches.
        """
        try:
            return self.attributes[path]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(path, list(self.attributes), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValidationError(
                f"ODD '{self.name}' has no attribute '{path}'{hint}",
                file=self.source,
                expected="a dotted path such as " + next(iter(self.attributes), "scenery.x"),
            ) from None


def load_odd(path: str | Path) -> ODD:
    """Load and validate an ODD YAML file.

    Parameters
    ----------
    path
        A YAML file with a top-level ``odd:`` mapping.

    Returns
    -------
    ODD

    Raises
    ------
    ValidationError
        On malformed YAML, a missing category, an attribute without unit, a reversed
        range, an empty allowed set, or unknown keys — naming the file and field.

    Examples
    --------
    >>> from pathlib import Path
    >>> odd = load_odd(Path(__file__).parent.parent / "scenarios/odd/motorway_l3.yaml")
    >>> odd.attribute("dynamic_elements.subject_vehicle.speed").describe()
    '[0, 36.1] m/s'
    """
    file, body = read_yaml_mapping(path, root="odd")
    return odd_from_dict(body, source=file)


def odd_from_dict(data: Mapping[str, Any], *, source: Path | None = None) -> ODD:
    """Build an :class:`ODD` from the mapping under ``odd:`` (see :func:`load_odd`)."""
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(
            "missing or empty name", file=source, field="odd.name", value=name, expected="a string"
        )
    check_keys(data, (*CATEGORIES, *_META_KEYS), file=source, where="odd", what="top-level key")
    attributes: dict[str, OddAttribute] = {}
    for category in CATEGORIES:
        if category not in data:
            raise ValidationError(
                f"missing ISO 34503 category '{category}'",
                file=source,
                field=f"odd.{category}",
                expected="a mapping of attribute groups",
            )
        _collect(data[category], category, attributes, source)
    references = data.get("references", ())
    if isinstance(references, str) or not isinstance(references, list | tuple):
        raise ValidationError(
            "must be a list of strings", file=source, field="odd.references", value=references
        )
    return ODD(
        name=name,
        attributes=attributes,
        description=str(data.get("description", "") or "").strip(),
        references=tuple(str(r) for r in references),
        source=source,
    )


def _collect(node: Any, path: str, out: dict[str, OddAttribute], source: Path | None) -> None:
    node = require_mapping(node, file=source, field=f"odd.{path}")
    if "unit" in node or "range" in node or "allowed" in node:
        out[path] = _leaf(node, path, source)
        return
    if not node:
        raise ValidationError(
            "empty attribute group", file=source, field=f"odd.{path}", expected="attributes"
        )
    for key, child in node.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValidationError(
                "attribute names must be identifiers",
                file=source,
                field=f"odd.{path}",
                value=key,
                expected="letters, digits and underscores",
            )
        _collect(child, f"{path}.{key}", out, source)


def _leaf(node: Mapping[str, Any], path: str, source: Path | None) -> OddAttribute:
    field_name = f"odd.{path}"
    check_keys(node, _LEAF_KEYS, file=source, where=field_name, what="key in attribute")
    unit = node.get("unit")
    if not isinstance(unit, str) or not unit:
        raise ValidationError(
            "attribute has no unit",
            file=source,
            field=f"{field_name}.unit",
            value=unit,
            expected='a unit string ("-" for none)',
        )
    has_range, has_allowed = "range" in node, "allowed" in node
    if has_range == has_allowed:
        raise ValidationError(
            "attribute needs exactly one of 'range' or 'allowed'",
            file=source,
            field=field_name,
            expected="range: [min, max] or allowed: [v1, v2, ...]",
        )
    description = str(node.get("description", "") or "")
    if has_range:
        rng = node["range"]
        if (
            not isinstance(rng, list | tuple)
            or len(rng) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in rng)
            or not all(math.isfinite(v) for v in rng)
        ):
            raise ValidationError(
                "range must be two finite numbers",
                file=source,
                field=f"{field_name}.range",
                value=rng,
                expected="[min, max]",
            )
        lo, hi = float(rng[0]), float(rng[1])
        if lo >= hi:
            raise ValidationError(
                "reversed or empty range",
                file=source,
                field=f"{field_name}.range",
                value=rng,
                expected="min < max",
            )
        return OddAttribute(path, unit, range=(lo, hi), description=description)
    allowed = node["allowed"]
    if not isinstance(allowed, list | tuple) or not allowed:
        raise ValidationError(
            "allowed must be a non-empty list",
            file=source,
            field=f"{field_name}.allowed",
            value=allowed,
            expected="[v1, v2, ...]",
        )
    if len(set(allowed)) != len(allowed):
        raise ValidationError(
            "allowed values must be unique",
            file=source,
            field=f"{field_name}.allowed",
            value=allowed,
        )
    values = tuple(
        v if isinstance(v, int | float) and not isinstance(v, bool) else str(v) for v in allowed
    )
    return OddAttribute(path, unit, allowed=values, description=description)
