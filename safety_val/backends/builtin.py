"""Adapter of the built-in vectorised simulator (:mod:`safety_val.sim`) to ``Simulator``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
import pandas as pd

from safety_val._validation import check_options
from safety_val.backends.base import STATUS_ERROR, STATUS_OK, failed_rows, normalise_output
from safety_val.errors import ValidationError
from safety_val.sim import SETTINGS_CONSTRAINTS, get_template, simulate
from safety_val.sim.rng import seed_from_id
from safety_val.sim.template import Template

__all__ = ["BuiltinSimulator"]

#: Batch columns that are not simulator inputs.
BOOKKEEPING_COLUMNS: Final = ("scenario_id", "sample_index")


class BuiltinSimulator:
    """Run concrete scenarios of one built-in template.

    Parameters
    ----------
    template
        Name in :data:`safety_val.sim.TEMPLATES`.
    fixed
        Constant inputs (e.g. ADS or sensor settings) applied to every row; batch
        columns override them, they override the template defaults.
    dt
        Fixed step in ``[0.001, 0.1]`` s.
    duration
        Simulated time (s); the template's default when ``None``.

    Attributes
    ----------
    name
        ``"builtin"``.
    kpis
        The template's KPI names.

    Raises
    ------
    ValidationError
        Unknown template, unknown fixed input, ``dt`` or ``duration`` out of range.

    Notes
    -----
    The seed of a row is its ``scenario_id`` read as a 64-bit hexadecimal number
    (hashed when it is not one), so a concrete scenario always gives the same KPIs,
    whatever batch it is simulated in. Rows with invalid inputs (NaN, out of range,
    unknown label) come back with status ``error`` and a message; the others are
    simulated together in one vectorised call.

    Examples
    --------
    >>> sim = BuiltinSimulator("lead_braking", fixed={"lead_decel": 3.0}, duration=6.0)
    >>> batch = pd.DataFrame({"scenario_id": ["00000000000000a1", "00000000000000a2"],
    ...                       "ego_speed": [20.0, -1.0]})
    >>> out = sim.run(batch)
    >>> out["status"].tolist()
    ['ok', 'error']
    """

    name: str = "builtin"

    def __init__(
        self,
        template: str,
        *,
        fixed: Mapping[str, float | str] | None = None,
        dt: float = 0.01,
        duration: float | None = None,
    ) -> None:
        spec = get_template(template)
        self.template = spec.name
        self.fixed = dict(fixed or {})
        self.dt = float(dt)
        self.duration = spec.duration if duration is None else float(duration)
        check_options(SETTINGS_CONSTRAINTS, dt=self.dt, duration=self.duration)
        try:
            spec.check_names(self.fixed)
        except ValidationError as exc:
            raise exc.with_context(field_prefix="fixed") from None
        self.kpis: tuple[str, ...] = spec.kpis

    def __repr__(self) -> str:
        return (
            f"BuiltinSimulator({self.template!r}, fixed={self.fixed!r}, dt={self.dt}, "
            f"duration={self.duration})"
        )

    @property
    def spec(self) -> Template:
        """The :class:`~safety_val.sim.template.Template` simulated."""
        return get_template(self.template)

    def input_names(self) -> tuple[str, ...]:
        """Every input a batch column may name."""
        return tuple(self.spec.parameters)

    def template_info(self) -> dict[str, Any]:
        """Name, description, KPIs and inputs (default, unit, range, labels) of the template."""
        spec = self.spec
        return {
            "name": spec.name,
            "description": spec.description,
            "agents": spec.n_agents,
            "kpis": list(spec.kpis),
            "duration": spec.duration,
            "inputs": {
                name: {
                    "default": self.fixed.get(name, info.default),
                    "unit": info.unit,
                    "description": info.description,
                    "range": None if info.categorical else [info.lower, info.upper],
                    "categories": list(info.categories) or None,
                    "scenario_parameter": name in spec.scenario_parameters,
                }
                for name, info in spec.parameters.items()
            },
        }

    def check_inputs(self, names: Iterable[str]) -> None:
        """Raise :class:`ValidationError` for a column that is neither an input nor bookkeeping.

        Examples
        --------
        >>> BuiltinSimulator("cut_in").check_inputs(["scenario_id", "ego_speed"])
        >>> BuiltinSimulator("cut_in").check_inputs(["speed"])
        Traceback (most recent call last):
        ...
        safety_val.errors.ValidationError: inputs: unknown input(s) 'speed' ...
        """
        self.spec.check_names(n for n in map(str, names) if n not in BOOKKEEPING_COLUMNS)

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Simulate every row; return KPIs, ``status`` and ``message`` with ``batch``'s index.

        Raises
        ------
        ValidationError
            A column that is not an input of the template, or no ``scenario_id`` column.
        """
        self.check_inputs(batch.columns)
        if "scenario_id" not in batch.columns:
            raise ValidationError("the batch has no 'scenario_id' column", field="batch",
                                  expected="a column of concrete scenario ids")
        if len(batch) == 0:
            return normalise_output(batch, failed_rows(batch, self.kpis, STATUS_OK, ""),
                                    self.kpis, backend=self.name)
        spec = self.spec
        n = len(batch)
        inputs: dict[str, Any] = dict(self.fixed)
        for column in batch.columns:
            if column in BOOKKEEPING_COLUMNS:
                continue
            series = batch[column]
            if spec.parameters[column].categorical:
                inputs[column] = series.astype(str).to_numpy()
            else:
                inputs[column] = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
        seeds = np.fromiter(
            (seed_from_id(s) for s in batch["scenario_id"]), dtype=np.uint64, count=n
        )
        _, problems = spec.resolve(inputs, n)
        valid = problems == ""
        kpi_values = {kpi: np.full(n, np.nan) for kpi in self.kpis}
        status = np.full(n, STATUS_ERROR, dtype=object)
        message = np.array([f"invalid input: {p}" if p else "" for p in problems], dtype=object)
        if valid.any():
            rows = np.flatnonzero(valid)
            subset = {
                k: (np.asarray(v)[rows] if np.ndim(v) else v) for k, v in inputs.items()
            }
            try:
                out = simulate(spec, subset, seeds=seeds[rows], dt=self.dt,
                               duration=self.duration)
            except Exception as exc:  # a crash must not lose the batch: mark the rows
                message[rows] = f"simulation failed: {type(exc).__name__}: {exc}"
            else:
                for kpi, values in out.kpis.items():
                    kpi_values[kpi][rows] = values
                status[rows] = STATUS_OK
        result = pd.DataFrame({**kpi_values, "status": status, "message": message},
                              index=batch.index)
        return normalise_output(batch, result, self.kpis, backend=self.name)
