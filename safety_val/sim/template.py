"""The :class:`Template` type: a scenario script with typed inputs and KPIs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from safety_val.errors import ValidationError
from safety_val.quantities import DerivedQuantity
from safety_val.sim.parameters import ParameterInfo
from safety_val.sim.setup import ScenarioSetup

if TYPE_CHECKING:
    from safety_val.sim.junction import JunctionSetup

__all__ = ["Template"]

FloatArray = npt.NDArray[np.float64]
Builder = Callable[[Mapping[str, FloatArray], int], "ScenarioSetup | JunctionSetup"]


@dataclass(frozen=True, eq=False)
class Template:
    """A scenario script of the built-in simulator.

    Attributes
    ----------
    name
        Registry name (``"cut_in"``, ...).
    description
        One paragraph on what happens in the scenario.
    n_agents
        Number of agents, ego included.
    parameters
        Every accepted input: the template's own parameters followed by the common
        ADS, sensor, environment and vehicle inputs.
    kpis
        KPI names the template reports.
    duration
        Default simulated time (s).
    build
        Function ``(values, n) -> ScenarioSetup`` (a straight-road scene) or
        ``-> JunctionSetup`` (a junction scene, :mod:`safety_val.sim.junction`) from
        resolved inputs.
    quantities
        Physical quantities of the scenario's geometry derived from the inputs (gaps and
        times at the key moments), offered to the readable rules of critical regions.
    """

    name: str
    description: str
    n_agents: int
    parameters: Mapping[str, ParameterInfo]
    kpis: tuple[str, ...]
    duration: float
    build: Builder
    quantities: Mapping[str, DerivedQuantity] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def __reduce__(self) -> tuple[Any, ...]:
        from safety_val.sim.templates import get_template

        return (get_template, (self.name,))

    @property
    def scenario_parameters(self) -> tuple[str, ...]:
        """Names of the template's own (scenario) parameters, without the common inputs."""
        from safety_val.sim.parameters import COMMON_PARAMETERS, URBAN_ADS_PARAMETERS

        return tuple(p for p in self.parameters
                     if p not in COMMON_PARAMETERS and p not in URBAN_ADS_PARAMETERS)

    def check_names(self, names: Iterable[str]) -> None:
        """Raise :class:`ValidationError` if a name is not an input of this template."""
        unknown = [name for name in names if name not in self.parameters]
        if unknown:
            raise ValidationError(
                f"unknown input(s) {', '.join(map(repr, unknown))} for template {self.name!r}",
                field="inputs",
                expected="one of " + ", ".join(self.parameters),
            )

    def resolve(
        self, inputs: Mapping[str, Any], n: int
    ) -> tuple[dict[str, FloatArray], npt.NDArray[np.object_]]:
        """Broadcast inputs to ``(n,)`` float arrays, filling defaults; find invalid rows.

        Categorical inputs become their integer codes. Returns the values and, per
        row, an empty string or a message naming the first invalid input (its value
        is replaced by the default so that the row can still be stepped harmlessly).

        Raises
        ------
        ValidationError
            On an unknown input name, an input that cannot be broadcast to ``(n,)``
            or a numeric input that is not a number.
        """
        self.check_names(inputs)
        problems = np.full(n, "", dtype=object)
        values: dict[str, FloatArray] = {}
        for name, info in self.parameters.items():
            raw = inputs.get(name, info.default)
            try:
                arr = np.broadcast_to(np.asarray(raw), (n,))
            except ValueError as exc:
                raise ValidationError(
                    "input has the wrong shape", field=f"inputs.{name}",
                    value=np.shape(raw), expected=f"a scalar or an array of length {n}",
                ) from exc
            if info.categorical:
                codes = np.full(n, float(info.code(str(info.default))))
                labels = arr.astype(str)
                for code, label in enumerate(info.categories):
                    codes[labels == label] = code
                bad = ~np.isin(labels, info.categories)
                if bad.any():
                    first = labels[bad][0]
                    msg = f"{name} = {first!r} is not one of {list(info.categories)}"
                    problems[bad & (problems == "")] = msg
                values[name] = codes
                continue
            try:
                numbers = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ValidationError(
                    "input is not numeric", field=f"inputs.{name}", value=raw, expected="numbers"
                ) from exc
            bad = ~((numbers >= info.lower) & (numbers <= info.upper))
            if bad.any():
                rows = np.flatnonzero(bad & (problems == ""))
                for row in rows:
                    problems[row] = (
                        f"{name} = {float(numbers[row])!r} {info.unit} outside the valid range "
                        f"[{info.lower}, {info.upper}]"
                    )
                numbers = np.where(bad, float(info.default), numbers)
            values[name] = np.ascontiguousarray(numbers)
        return values, problems
