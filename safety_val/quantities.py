"""Derived physical quantities of a concrete scenario, for rules a person can read.

A failure region is often oblique in the raw parameters but simple in a quantity an
engineer already thinks in: the gap left when the cutting-in vehicle crosses the lane
marking, the time gap at that moment, the closing speed. Such a quantity is an
expression over the simulator inputs (the scenario's parameters, its fixed inputs and
the template's defaults), written in the safe expression language of the limit state
(:mod:`safety_val.limit_state`: arithmetic, comparisons, ``min``, ``max``, ``abs``,
``sqrt``, ``log``, ``exp``, ``clip``, ``where``; ``eval`` is never called).

The built-in templates declare the quantities of their geometry
(:attr:`safety_val.sim.template.Template.quantities`); a scenario file may add its own
or replace one by name::

    quantities:
      - name: headway_at_start
        expression: "cut_in_gap / ego_speed"
        unit: s
        description: time headway when the lane change starts

:func:`safety_val.regions.analyze` offers them to its rule trees next to the raw
parameters.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from safety_val._validation import check_keys
from safety_val.errors import ValidationError
from safety_val.limit_state import LimitState, parse_limit_state

if TYPE_CHECKING:
    from safety_val.scenario import LogicalScenario

__all__ = [
    "DerivedQuantity",
    "parse_quantities",
    "quantity_values",
    "scenario_quantities",
]

FloatArray = npt.NDArray[np.float64]

_QUANTITY_KEYS = ("name", "expression", "unit", "description")


@dataclass(frozen=True)
class DerivedQuantity:
    """A physical quantity computed from a concrete scenario's simulator inputs.

    Attributes
    ----------
    name
        Identifier used in rules (``gap_at_lane_entry``).
    expression
        Safe arithmetic over input names (see the module docstring).
    unit
        Unit of the result, as in the ODD (``m``, ``s``, ``m/s``).
    description
        One line for reports.

    Examples
    --------
    >>> q = DerivedQuantity("closing_speed", "ego_speed - cut_in_speed", "m/s")
    >>> q.inputs
    ('cut_in_speed', 'ego_speed')
    >>> q.evaluate({"ego_speed": [30.0, 20.0], "cut_in_speed": [25.0, 22.0]}).tolist()
    [5.0, -2.0]
    """

    name: str
    expression: str
    unit: str
    description: str = ""
    _parsed: LimitState = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValidationError(
                "a quantity name must be an identifier",
                field="quantities.name",
                value=self.name,
                expected="letters, digits and underscores",
            )
        parsed = parse_limit_state(self.expression, field=f"quantities.{self.name}.expression")
        object.__setattr__(self, "_parsed", parsed)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The simulator inputs the expression reads (sorted)."""
        return tuple(sorted(self._parsed.kpis))

    def evaluate(self, values: Mapping[str, Any]) -> FloatArray:
        """The quantity for a batch: ``values`` maps every input to an array (or a scalar).

        Scalars are broadcast to the batch; division by zero gives ``±inf`` (a time to an
        event that never comes), which rule trees treat as a large value.
        """
        n = max((np.size(values[name]) for name in self.inputs), default=1)
        batch = {
            name: np.broadcast_to(np.asarray(values[name], dtype=float), (n,))
            for name in self.inputs
        }
        return np.asarray(self._parsed.evaluate(batch), dtype=float)

    def to_dict(self) -> dict[str, str]:
        """The scenario-file form (``name``, ``expression``, ``unit``, ``description``)."""
        out = {"name": self.name, "expression": self.expression, "unit": self.unit}
        if self.description:
            out["description"] = self.description
        return out


def parse_quantities(
    value: Any, *, file: str | Path | None = None, known: Sequence[str] | None = None
) -> tuple[DerivedQuantity, ...]:
    """Read the ``quantities`` list of a scenario file.

    Parameters
    ----------
    value
        A list of mappings with ``name``, ``expression``, ``unit`` and optional
        ``description``.
    file
        The scenario file, for error messages.
    known
        The simulator inputs an expression may read; other names are refused.

    Raises
    ------
    ValidationError
        A malformed entry, a duplicate name or an expression reading an unknown input.
    """
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValidationError(
            "must be a list", file=file, field="scenario.quantities", value=type(value).__name__,
            expected="a list of {name, expression, unit, description}",
        )
    out: list[DerivedQuantity] = []
    for i, item in enumerate(value):
        where = f"scenario.quantities[{i}]"
        if not isinstance(item, Mapping):
            raise ValidationError("must be a mapping", file=file, field=where, value=item)
        check_keys(item, _QUANTITY_KEYS, file=file, where=where)
        for key in ("name", "expression", "unit"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise ValidationError(
                    "missing or empty", file=file, field=f"{where}.{key}", value=item.get(key),
                    expected="a non-empty string",
                )
        try:
            quantity = DerivedQuantity(
                item["name"].strip(), item["expression"], item["unit"].strip(),
                str(item.get("description", "")).strip(),
            )
        except ValidationError as exc:
            part = "name" if exc.field == "quantities.name" else "expression"
            raise ValidationError(
                exc.message, file=file, field=f"{where}.{part}", value=exc.value,
                expected=exc.expected,
            ) from None
        if known is not None:
            unknown = [name for name in quantity.inputs if name not in known]
            if unknown:
                raise ValidationError(
                    "the expression reads an unknown simulator input", file=file,
                    field=f"{where}.expression", value=unknown[0],
                    expected="a parameter, a fixed input or a template input",
                )
        if any(q.name == quantity.name for q in out):
            raise ValidationError(
                "duplicate quantity name", file=file, field=f"{where}.name", value=quantity.name
            )
        out.append(quantity)
    return tuple(out)


def scenario_quantities(scenario: LogicalScenario) -> tuple[DerivedQuantity, ...]:
    """The template's quantities, then the scenario file's (a file entry replaces by name).

    Quantities that read a parameter or input the scenario cannot provide are left out.
    """
    from safety_val.sim.templates import TEMPLATES

    template = TEMPLATES.get(scenario.template) if _is_builtin(scenario) else None
    merged: dict[str, DerivedQuantity] = dict(template.quantities) if template else {}
    for quantity in scenario.quantities:
        merged[quantity.name] = quantity
    available = set(scenario.names) | set(scenario.fixed)
    if template is not None:
        available |= set(template.parameters)
    return tuple(q for q in merged.values() if set(q.inputs) <= available)


def quantity_values(
    scenario: LogicalScenario,
    x: npt.ArrayLike,
    names: Sequence[str] | None = None,
    *,
    only: Sequence[str] | None = None,
) -> dict[str, FloatArray]:
    """Every quantity of :func:`scenario_quantities` for a batch of concrete scenarios.

    Parameters
    ----------
    scenario
        The logical scenario (its fixed inputs and its template's defaults fill the inputs
        that are not parameters).
    x
        Parameter values, shape ``(n, d)``, columns in ``names`` order.
    names
        Column names of ``x`` (default: ``scenario.names``).
    only
        Compute only these quantities (default: all).

    Returns
    -------
    dict
        Quantity name to an array of ``n`` values. A quantity that reads a categorical
        input is left out (categories have no arithmetic).
    """
    from safety_val.sim.templates import TEMPLATES

    columns = tuple(names or scenario.names)
    data = np.asarray(x, dtype=float).reshape(-1, len(columns))
    values: dict[str, Any] = {}
    template = TEMPLATES.get(scenario.template) if _is_builtin(scenario) else None
    if template is not None:
        for name, info in template.parameters.items():
            if not info.categorical:
                values[name] = float(info.default)
    for name, item in scenario.fixed.items():
        if isinstance(item, str):
            values.pop(name, None)
        else:
            values[name] = float(item)
    for j, name in enumerate(columns):
        if scenario.parameter(name).categories is None:
            values[name] = data[:, j]
        else:
            values.pop(name, None)
    out: dict[str, FloatArray] = {}
    for quantity in scenario_quantities(scenario):
        if only is not None and quantity.name not in only:
            continue
        if all(name in values for name in quantity.inputs):
            result = quantity.evaluate(values)
            out[quantity.name] = np.broadcast_to(result, (len(data),)).astype(float)
    return out


def _is_builtin(scenario: LogicalScenario) -> bool:
    return str(scenario.simulator.get("kind", "builtin")) == "builtin"
