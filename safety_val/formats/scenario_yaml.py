"""The logical-scenario YAML schema: validation at load and the mapping back to YAML.

:func:`scenario_from_dict` checks every field of the mapping under ``scenario:`` (see
:mod:`safety_val.scenario` for the format) and raises a one-line
:class:`~safety_val.errors.ValidationError` naming the file, the field, the value and
what was expected; :func:`scenario_to_dict` writes a scenario back.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from safety_val._validation import check_keys, check_options
from safety_val._yaml import require_mapping
from safety_val.distributions import DistributionSpec, parse_distribution, support
from safety_val.errors import ValidationError
from safety_val.limit_state import LimitState, parse_limit_state
from safety_val.odd import ODD, load_odd
from safety_val.quantities import DerivedQuantity, parse_quantities
from safety_val.scenario import Dependence, LogicalScenario, Parameter, ValueSet

__all__ = ["scenario_from_dict", "scenario_to_dict"]

_SCENARIO_KEYS: Final = {
    "name",
    "description",
    "odd",
    "simulator",
    "template",
    "references",
    "parameters",
    "dependence",
    "value_sets",
    "fixed",
    "quantities",
    "kpis",
    "limit_state",
    "simulation",
}
_PARAMETER_KEYS: Final = {"name", "unit", "odd", "distribution", "bounds", "description"}
_RESERVED_COLUMNS: Final = {"sample_index", "scenario_id", "status", "message", "g"}


def scenario_from_dict(
    data: Mapping[str, Any],
    *,
    source: Path | None = None,
    odd: ODD | None = None,
    source_sha256: str | None = None,
    check_simulator: bool = True,
) -> LogicalScenario:
    """Build a :class:`LogicalScenario` from the mapping under ``scenario:``.

    ``odd`` overrides the file named by the mapping's ``odd`` key (which is resolved
    relative to ``source``).
    """
    f = source
    check_keys(data, _SCENARIO_KEYS, file=f, where="scenario")
    name = _text(data, "name", f, "scenario.name")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ValidationError(
            "scenario name must be letters, digits, '_' or '-'",
            file=f,
            field="scenario.name",
            value=name,
        )
    odd_reference = None
    if odd is None:
        odd_reference = _text(data, "odd", f, "scenario.odd")
        odd_path = Path(odd_reference)
        if not odd_path.is_absolute():
            odd_path = (source.parent if source else Path.cwd()) / odd_path
        try:
            odd = load_odd(odd_path)
        except ValidationError as exc:
            if exc.file is None or "file not found" in exc.message:
                raise ValidationError(
                    "ODD file not found",
                    file=f,
                    field="scenario.odd",
                    value=odd_reference,
                    expected="a path relative to the scenario file",
                ) from None
            raise
    simulator = _simulator_spec(data.get("simulator", "builtin"), f)
    template = str(data.get("template", name))
    parameters = _parameters(data.get("parameters"), f, odd)
    value_sets = _value_sets(data.get("value_sets", []), f, odd)
    all_parameters = (*parameters, *(p for vs in value_sets for p in vs.parameters))
    names = [p.name for p in all_parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(
            "duplicate parameter name", file=f, field="scenario.parameters", value=duplicates[0]
        )
    dependence = _dependence(data.get("dependence"), f, parameters)
    fixed = _fixed(data.get("fixed", {}), f, names)
    quantities = _quantities(data.get("quantities"), f, names, fixed, template, simulator)
    kpis = _kpis(data.get("kpis"), f)
    criterion = _criterion(data.get("limit_state"), f, kpis)
    simulation = _simulation(data.get("simulation", {}), f)
    references = data.get("references", [])
    if isinstance(references, str) or not isinstance(references, list):
        raise ValidationError("must be a list of strings", file=f, field="scenario.references")
    scenario = LogicalScenario(
        name=name,
        odd=odd,
        parameters=tuple(all_parameters),
        template=template,
        kpis=kpis,
        criterion=criterion,
        simulator=simulator,
        dependence=dependence,
        value_sets=value_sets,
        fixed=fixed,
        quantities=quantities,
        simulation=simulation,
        description=str(data.get("description", "") or "").strip(),
        references=tuple(str(r) for r in references),
        source=source,
        odd_reference=odd_reference,
        source_sha256=source_sha256,
    )
    if check_simulator:
        _check_against_simulator(scenario, f)
    _ = scenario.distribution  # build once: OpenTURNS errors surface at load time
    return scenario


def scenario_to_dict(
    scenario: LogicalScenario, *, relative_to: Path | None = None
) -> dict[str, Any]:
    """The YAML mapping (under ``scenario:``) that :func:`scenario_from_dict` reads back.

    ``relative_to`` is the folder of the file the mapping will be written to; the ODD
    path is made relative to it.
    """
    odd_path: str
    if scenario.odd.source is not None:
        base = relative_to if relative_to is not None else Path.cwd()
        odd_path = os.path.relpath(scenario.odd.source.resolve(), base.resolve())
    else:
        odd_path = scenario.odd_reference or ""
    out: dict[str, Any] = {"name": scenario.name}
    if scenario.description:
        out["description"] = scenario.description
    out["odd"] = odd_path
    simulator = dict(scenario.simulator)
    out["simulator"] = simulator["kind"] if list(simulator) == ["kind"] else simulator
    out["template"] = scenario.template
    if scenario.references:
        out["references"] = list(scenario.references)
    out["parameters"] = [_parameter_to_dict(p) for p in scenario.ordinary_parameters]
    if scenario.value_sets:
        out["value_sets"] = [
            {
                "name": vs.name,
                "parameters": [_parameter_to_dict(p) for p in vs.parameters],
                "rows": [list(r) for r in vs.rows],
                **({"weights": list(vs.weights)} if vs.weights is not None else {}),
            }
            for vs in scenario.value_sets
        ]
    if scenario.dependence is not None:
        out["dependence"] = {
            "copula": "normal",
            "correlation": scenario.dependence.kind,
            "parameters": list(scenario.dependence.parameters),
            "matrix": [list(r) for r in scenario.dependence.matrix],
        }
    if scenario.fixed:
        out["fixed"] = dict(scenario.fixed)
    if scenario.quantities:
        out["quantities"] = [q.to_dict() for q in scenario.quantities]
    out["kpis"] = list(scenario.kpis)
    out["limit_state"] = {"expression": scenario.criterion.expression}
    if scenario.criterion.description:
        out["limit_state"]["description"] = scenario.criterion.description
    if scenario.simulation:
        out["simulation"] = dict(scenario.simulation)
    return out


def _text(data: Mapping[str, Any], key: str, f: Path | None, field_name: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "missing or empty", file=f, field=field_name, value=value, expected="a non-empty string"
        )
    return value.strip()


def _simulator_spec(value: Any, f: Path | None) -> dict[str, Any]:
    from safety_val.backends.registry import SIMULATORS

    spec: dict[str, Any]
    if isinstance(value, str):
        spec = {"kind": value}
    elif isinstance(value, Mapping) and isinstance(value.get("kind"), str):
        spec = dict(value)
    else:
        raise ValidationError(
            "invalid simulator",
            file=f,
            field="scenario.simulator",
            value=value,
            expected="a simulator name or {kind: ..., options}",
        )
    if spec["kind"] not in SIMULATORS:
        raise ValidationError(
            f"unknown simulator '{spec['kind']}'",
            file=f,
            field="scenario.simulator",
            value=spec["kind"],
            expected=f"one of {', '.join(sorted(SIMULATORS))}",
        )
    if spec["kind"] == "callable":
        raise ValidationError(
            "a Python callable cannot be named in a scenario file",
            file=f,
            field="scenario.simulator",
            value="callable",
            expected="builtin or command (pass a CallableSimulator through the Python API)",
        )
    return spec


def _parameters(value: Any, f: Path | None, odd: ODD) -> tuple[Parameter, ...]:
    if not isinstance(value, list) or not value:
        raise ValidationError(
            "a logical scenario needs at least one parameter",
            file=f,
            field="scenario.parameters",
            value=value,
            expected="a non-empty list",
        )
    return tuple(
        _parameter(item, f, f"scenario.parameters[{i}]", odd) for i, item in enumerate(value)
    )


def _parameter(
    item: Any, f: Path | None, field_name: str, odd: ODD, *, in_value_set: bool = False
) -> Parameter:
    item = require_mapping(item, file=f, field=field_name)
    check_keys(item, _PARAMETER_KEYS, file=f, where=field_name)
    name = _text(item, "name", f, f"{field_name}.name")
    if not name.isidentifier() or name in _RESERVED_COLUMNS:
        raise ValidationError(
            "invalid parameter name",
            file=f,
            field=f"{field_name}.name",
            value=name,
            expected=f"an identifier not in {sorted(_RESERVED_COLUMNS)}",
        )
    field_name = f"{field_name}({name})"
    unit = item.get("unit", "-")
    if not isinstance(unit, str) or not unit:
        raise ValidationError("invalid unit", file=f, field=f"{field_name}.unit", value=unit)
    spec: DistributionSpec | None = None
    if in_value_set:
        if "distribution" in item or "bounds" in item:
            raise ValidationError(
                "a value-set member takes its values from the set's rows",
                file=f,
                field=f"{field_name}.distribution",
                expected="no distribution or bounds here",
            )
    else:
        if "distribution" not in item:
            raise ValidationError(
                "missing distribution",
                file=f,
                field=f"{field_name}.distribution",
                expected="{family: ..., parameters}",
            )
        spec = parse_distribution(item["distribution"], file=f, field=f"{field_name}.distribution")
    bounds = _bounds(item.get("bounds"), f, f"{field_name}.bounds")
    parameter = Parameter(
        name=name,
        unit=unit,
        distribution=spec,
        bounds=bounds,
        odd_attribute=item.get("odd"),
        description=str(item.get("description", "") or "").strip(),
    )
    if spec is not None:
        try:
            _ = parameter.marginal
        except ValidationError as exc:
            raise exc.with_context(file=f) if exc.file is None else exc from None
    if parameter.odd_attribute is not None and spec is not None:
        _check_in_odd(parameter, odd, f, field_name)
    return parameter


def _bounds(value: Any, f: Path | None, field_name: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or any(math.isnan(v) for v in value)
    ):
        raise ValidationError(
            "bounds must be two numbers",
            file=f,
            field=field_name,
            value=value,
            expected="[lower, upper]",
        )
    lo, hi = float(value[0]), float(value[1])
    if lo >= hi:
        raise ValidationError(
            "reversed bounds", file=f, field=field_name, value=value, expected="lower < upper"
        )
    return lo, hi


def _odd_attribute(parameter: Parameter, odd: ODD, f: Path | None, field_name: str) -> Any:
    path = parameter.odd_attribute
    if not isinstance(path, str):
        raise ValidationError(
            "must be a dotted ODD attribute path", file=f, field=f"{field_name}.odd", value=path
        )
    try:
        attribute = odd.attribute(path)
    except ValidationError as exc:
        raise ValidationError(
            exc.message,
            file=f,
            field=f"{field_name}.odd",
            value=path,
            expected=f"an attribute of ODD '{odd.name}'",
        ) from None
    if attribute.unit != parameter.unit:
        raise ValidationError(
            "unit differs from the ODD attribute's unit",
            file=f,
            field=f"{field_name}.unit",
            value=parameter.unit,
            expected=f"'{attribute.unit}' as in {path}",
        )
    return attribute


def _check_in_odd(parameter: Parameter, odd: ODD, f: Path | None, field_name: str) -> None:
    attribute = _odd_attribute(parameter, odd, f, field_name)
    labels = parameter.categories
    if attribute.allowed is not None:
        spec = parameter.distribution
        values: Sequence[Any]
        if labels is not None:
            values = labels
        elif spec is not None and spec.is_discrete:
            values = [float(v[0]) for v in parameter.marginal.getSupport()]
        else:
            raise ValidationError(
                "a continuous distribution cannot map to an enumerated ODD attribute",
                file=f,
                field=f"{field_name}.distribution",
                value=spec.family if spec else None,
                expected=f"Categorical over {attribute.describe()}",
            )
        outside = [v for v in values if v not in attribute.allowed]
        if outside:
            raise ValidationError(
                "value outside the ODD's allowed set",
                file=f,
                field=f"{field_name}.distribution",
                value=outside[0],
                expected=f"one of {attribute.describe()} ({attribute.path})",
            )
        return
    if labels is not None:
        raise ValidationError(
            "a categorical parameter cannot map to a numeric ODD attribute",
            file=f,
            field=f"{field_name}.odd",
            value=attribute.path,
            expected="an enumerated attribute",
        )
    lo, hi = support(parameter.marginal)
    if not attribute.contains_interval(lo, hi):
        hint = (
            "; add 'bounds' to truncate it" if not (math.isfinite(lo) and math.isfinite(hi)) else ""
        )
        raise ValidationError(
            f"support [{lo:g}, {hi:g}] is not inside ODD attribute {attribute.path}{hint}",
            file=f,
            field=f"{field_name}.distribution",
            value=[lo, hi],
            expected=f"a support inside {attribute.describe()}",
        )


def _value_sets(value: Any, f: Path | None, odd: ODD) -> tuple[ValueSet, ...]:
    if not isinstance(value, list):
        raise ValidationError("must be a list", file=f, field="scenario.value_sets", value=value)
    sets = []
    for i, item in enumerate(value):
        field_name = f"scenario.value_sets[{i}]"
        item = require_mapping(item, file=f, field=field_name)
        name = _text(item, "name", f, f"{field_name}.name")
        raw_parameters = item.get("parameters")
        if not isinstance(raw_parameters, list) or not raw_parameters:
            raise ValidationError(
                "needs a non-empty parameter list",
                file=f,
                field=f"{field_name}.parameters",
                value=raw_parameters,
            )
        members = tuple(
            _parameter(p, f, f"{field_name}.parameters[{j}]", odd, in_value_set=True)
            for j, p in enumerate(raw_parameters)
        )
        rows = item.get("rows")
        if not isinstance(rows, list) or not rows:
            raise ValidationError(
                "needs a non-empty list of rows", file=f, field=f"{field_name}.rows", value=rows
            )
        clean_rows = []
        for r, row in enumerate(rows):
            if (
                not isinstance(row, list)
                or len(row) != len(members)
                or any(isinstance(v, bool) or not isinstance(v, int | float | str) for v in row)
            ):
                raise ValidationError(
                    "row must list one value per parameter",
                    file=f,
                    field=f"{field_name}.rows[{r}]",
                    value=row,
                    expected=f"{len(members)} numbers or labels",
                )
            clean_rows.append(tuple(v if isinstance(v, str) else float(v) for v in row))
        weights = item.get("weights")
        clean_weights = None
        if weights is not None:
            if (
                not isinstance(weights, list)
                or len(weights) != len(rows)
                or any(
                    isinstance(w, bool) or not isinstance(w, int | float) or w < 0 for w in weights
                )
                or sum(weights) <= 0
            ):
                raise ValidationError(
                    "weights must be one non-negative number per row, not all zero",
                    file=f,
                    field=f"{field_name}.weights",
                    value=weights,
                )
            clean_weights = tuple(float(w) for w in weights)
        for j, member in enumerate(members):
            if member.odd_attribute is None:
                continue
            attribute = _odd_attribute(member, odd, f, f"{field_name}.parameters[{j}]")
            for r, row in enumerate(clean_rows):
                if not attribute.contains_value(row[j]):
                    raise ValidationError(
                        "value outside its ODD attribute",
                        file=f,
                        field=f"{field_name}.rows[{r}]",
                        value=row[j],
                        expected=f"{attribute.describe()} ({attribute.path})",
                    )
        sets.append(ValueSet(name, members, tuple(clean_rows), clean_weights))
    return tuple(sets)


def _dependence(value: Any, f: Path | None, parameters: tuple[Parameter, ...]) -> Dependence | None:
    if value is None:
        return None
    field_name = "scenario.dependence"
    value = require_mapping(value, file=f, field=field_name)
    copula = value.get("copula", "normal")
    if copula not in ("normal", "gaussian"):
        raise ValidationError(
            "unsupported copula",
            file=f,
            field=f"{field_name}.copula",
            value=copula,
            expected="normal",
        )
    kind = value.get("correlation", "spearman")
    if kind not in ("spearman", "gaussian"):
        raise ValidationError(
            "unknown correlation kind",
            file=f,
            field=f"{field_name}.correlation",
            value=kind,
            expected="spearman or gaussian",
        )
    names = value.get("parameters")
    known = {p.name: p for p in parameters}
    if not isinstance(names, list) or len(names) < 2 or len(set(names)) != len(names):
        raise ValidationError(
            "needs two or more distinct parameter names",
            file=f,
            field=f"{field_name}.parameters",
            value=names,
        )
    for n in names:
        if n not in known:
            raise ValidationError(
                "unknown parameter",
                file=f,
                field=f"{field_name}.parameters",
                value=n,
                expected=f"one of {', '.join(known)}",
            )
        spec = known[n].distribution
        if spec is not None and spec.is_discrete:
            raise ValidationError(
                "the normal copula is only supported between continuous parameters",
                file=f,
                field=f"{field_name}.parameters",
                value=n,
            )
    matrix = value.get("matrix")
    try:
        m = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError):
        m = np.empty(0)
    k = len(names)
    if m.shape != (k, k) or not np.all(np.isfinite(m)):
        raise ValidationError(
            "correlation matrix has the wrong shape",
            file=f,
            field=f"{field_name}.matrix",
            value=matrix,
            expected=f"a {k}x{k} matrix of numbers",
        )
    if not np.allclose(m, m.T) or not np.allclose(np.diag(m), 1.0) or np.any(np.abs(m) > 1):
        raise ValidationError(
            "correlation matrix must be symmetric with unit diagonal and |ρ| ≤ 1",
            file=f,
            field=f"{field_name}.matrix",
            value=matrix,
        )
    dependence = Dependence(tuple(names), tuple(tuple(float(x) for x in row) for row in m), kind)
    eigen = float(np.linalg.eigvalsh(dependence.gaussian_matrix).min())
    if eigen <= 1e-10:
        raise ValidationError(
            f"correlation matrix is not positive definite (smallest eigenvalue {eigen:.3g})",
            file=f,
            field=f"{field_name}.matrix",
            value=matrix,
            expected="a positive definite matrix",
        )
    return dependence


def _fixed(value: Any, f: Path | None, names: list[str]) -> dict[str, float | str]:
    value = require_mapping(value, file=f, field="scenario.fixed")
    out: dict[str, float | str] = {}
    for key, item in value.items():
        if key in names:
            raise ValidationError(
                "a parameter cannot also be fixed",
                file=f,
                field=f"scenario.fixed.{key}",
                value=item,
            )
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise ValidationError(
                "fixed inputs must be numbers or labels",
                file=f,
                field=f"scenario.fixed.{key}",
                value=item,
            )
        out[str(key)] = item if isinstance(item, str) else float(item)
    return out


def _quantities(
    value: Any,
    f: Path | None,
    names: list[str],
    fixed: Mapping[str, Any],
    template: str,
    simulator: Mapping[str, Any],
) -> tuple[DerivedQuantity, ...]:
    from safety_val.sim.templates import TEMPLATES

    known: set[str] = {*names, *fixed}
    if str(simulator.get("kind", "builtin")) == "builtin" and template in TEMPLATES:
        known |= set(TEMPLATES[template].parameters)
    return parse_quantities(value, file=f, known=sorted(known))


def _kpis(value: Any, f: Path | None) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(k, str) and k.isidentifier() for k in value)
        or len(set(value)) != len(value)
    ):
        raise ValidationError(
            "kpis must be a non-empty list of distinct names",
            file=f,
            field="scenario.kpis",
            value=value,
        )
    return tuple(value)


def _criterion(value: Any, f: Path | None, kpis: tuple[str, ...]) -> LimitState:
    if isinstance(value, str):
        value = {"expression": value}
    value = require_mapping(value, file=f, field="scenario.limit_state")
    return parse_limit_state(
        value.get("expression"),
        known_kpis=kpis,
        description=str(value.get("description", "") or "").strip(),
        file=f,
        field="scenario.limit_state.expression",
    )


def _simulation(value: Any, f: Path | None) -> dict[str, float]:
    value = require_mapping(value, file=f, field="scenario.simulation")
    check_keys(value, ("dt", "duration"), file=f, where="scenario.simulation",
               what="simulation setting")
    from safety_val.sim import SETTINGS_CONSTRAINTS  # the built-in simulator's own ranges

    check_options(SETTINGS_CONSTRAINTS, file=f, prefix="scenario.simulation", **value)
    return {key: float(item) for key, item in value.items()}


def _parameter_to_dict(p: Parameter) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name, "unit": p.unit}
    if p.odd_attribute is not None:
        out["odd"] = p.odd_attribute
    if p.distribution is not None:
        out["distribution"] = p.distribution.to_dict()
    if p.bounds is not None:
        out["bounds"] = list(p.bounds)
    if p.description:
        out["description"] = p.description
    return out


def _check_against_simulator(scenario: LogicalScenario, f: Path | None) -> None:
    if scenario.simulator.get("kind") != "builtin":
        return
    from safety_val.sim import get_template

    try:
        template = get_template(scenario.template)
    except ValidationError as exc:
        raise ValidationError(
            exc.message, file=f, field="scenario.template", value=scenario.template
        ) from None
    accepted = set(template.parameters)
    for name in (*scenario.names, *scenario.fixed):
        if name not in accepted:
            raise ValidationError(
                f"template '{template.name}' has no input '{name}'",
                file=f,
                field="scenario.parameters" if name in scenario.names else f"scenario.fixed.{name}",
                value=name,
                expected=f"one of {', '.join(sorted(accepted))}",
            )
    for kpi in scenario.kpis:
        if kpi not in template.kpis:
            raise ValidationError(
                f"template '{template.name}' does not record KPI '{kpi}'",
                file=f,
                field="scenario.kpis",
                value=kpi,
                expected=f"KPIs among {', '.join(template.kpis)}",
            )
