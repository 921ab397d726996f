"""Reduction: fix the non-influential parameters at nominal values and check the effect.

:func:`reduce_scenario` builds a reduced :class:`~safety_val.scenario.LogicalScenario`
(through the YAML schema, so it validates and can be written to a file);
:func:`reduce_function` does the same for a batch function and its distribution;
:func:`check_reduction` measures on a held-out sample how often the reduced model
classifies failures like the full one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import openturns as ot

from safety_val._random import SeedLike, as_generator
from safety_val.errors import ValidationError
from safety_val.sensitivity._common import child_seed

if TYPE_CHECKING:
    from safety_val.execution.base import Executor
    from safety_val.runs.evaluator import ScenarioEvaluator
    from safety_val.scenario import LogicalScenario, Parameter

__all__ = [
    "NOMINALS",
    "ReducedFunction",
    "ReductionCheck",
    "check_reduction",
    "nominal_values",
    "reduce_function",
    "reduce_scenario",
    "write_scenario",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]

#: Named nominal-value rules (a mapping of parameter -> value is also accepted).
NOMINALS = ("median", "mean", "random")


def _check_nominal(nominal: Any) -> None:
    if isinstance(nominal, str) and nominal not in NOMINALS:
        raise ValidationError(
            "unknown nominal value rule",
            field="nominal",
            value=nominal,
            expected=f"one of {', '.join(NOMINALS)} or a mapping parameter -> value",
        )
    if not isinstance(nominal, str | Mapping):
        raise ValidationError(
            "invalid nominal values",
            field="nominal",
            value=nominal,
            expected=f"one of {', '.join(NOMINALS)} or a mapping parameter -> value",
        )


def _marginal_nominal(marginal: ot.Distribution, rule: str) -> float:
    if rule == "mean":
        return float(marginal.getMean()[0])
    return float(marginal.computeQuantile(0.5)[0])


def _parameter_nominal(parameter: Parameter, rule: str) -> float | str:
    labels = parameter.categories
    if labels is not None:
        probabilities = np.asarray(parameter.marginal.getProbabilities(), dtype=float)
        support = np.asarray(parameter.marginal.getSupport(), dtype=float).ravel()
        return labels[round(support[int(np.argmax(probabilities))])]
    return _marginal_nominal(parameter.marginal, rule)


def nominal_values(
    scenario: LogicalScenario, names: Sequence[str], nominal: Any = "median"
) -> dict[str, float | str]:
    """Nominal values of some parameters of a scenario (labels for categorical ones).

    Parameters
    ----------
    scenario
        The logical scenario.
    names
        Parameters (value-set members allowed).
    nominal
        ``"median"`` (of the marginal), ``"mean"``, or a mapping parameter -> value
        (parameters it lacks fall back to the median). Categorical parameters take
        their most probable label; value-set members the most probable row.

    Returns
    -------
    dict
        Parameter name -> value.
    """
    _check_nominal(nominal)
    given = dict(nominal) if isinstance(nominal, Mapping) else {}
    rule = nominal if isinstance(nominal, str) and nominal != "random" else "median"
    out: dict[str, float | str] = {}
    for name in names:
        if name in given:
            value = given[name]
            out[name] = value if isinstance(value, str) else float(value)
            continue
        parameter = scenario.parameter(name)
        if parameter.distribution is not None:
            out[name] = _parameter_nominal(parameter, rule)
            continue
        for value_set in scenario.value_sets:
            members = [p.name for p in value_set.parameters]
            if name in members:
                row = value_set.rows[int(np.argmax(value_set.probabilities))]
                value = row[members.index(name)]
                out[name] = value if isinstance(value, str) else float(value)
    return out


def _expand(scenario: LogicalScenario, selected: Sequence[str]) -> set[str]:
    """Selected parameter names; a value set counts as selected if its name or a member is."""
    known = set(scenario.names) | {vs.name for vs in scenario.value_sets}
    unknown = [s for s in selected if s not in known]
    if unknown:
        raise ValidationError(
            f"scenario {scenario.name!r} has no parameter {unknown[0]!r}",
            field="selected",
            value=unknown[0],
            expected=f"names among {', '.join(sorted(known))}",
        )
    keep = {s for s in selected if s in scenario.names}
    for value_set in scenario.value_sets:
        members = {p.name for p in value_set.parameters}
        if value_set.name in selected or members & keep:
            keep |= members
    return keep


def reduce_scenario(
    scenario: LogicalScenario, selected: Sequence[str], *, nominal: Any = "median"
) -> LogicalScenario:
    """A reduced logical scenario: non-influential parameters fixed at nominal values.

    Parameters
    ----------
    scenario
        The full logical scenario.
    selected
        The influential parameters (e.g. ``SensitivityResult.selected``); value-set names
        or members keep the whole value set.
    nominal
        ``"median"`` (default), ``"mean"``, a mapping parameter -> value, or
        ``"random"``: keep every parameter random (no reduction; the scenario's
        description records which ones were found non-influential).

    Returns
    -------
    LogicalScenario
        Built with :func:`~safety_val.formats.scenario_yaml.scenario_from_dict`, so it is
        validated like a loaded file. The removed parameters are in ``fixed``; the
        dependence is restricted to the remaining parameters (dropped if fewer than two
        remain). Write it with :func:`write_scenario`.

    Raises
    ------
    ValidationError
        A name of ``selected`` that is not a parameter, an unknown nominal rule, or
        nothing selected.

    Examples
    --------
    >>> from pathlib import Path
    >>> from safety_val.scenario import load_scenario
    >>> cut_in = load_scenario(Path(__file__).parents[2] / "scenarios/weak_aeb/cut_in.yaml")
    >>> reduced = reduce_scenario(cut_in, ["ego_speed", "cut_in_gap"])
    >>> reduced.names, reduced.dependence is None, reduced.fixed["lighting"]
    (('ego_speed', 'cut_in_gap'), True, 'day')
    """
    from safety_val.formats.scenario_yaml import scenario_to_dict

    _check_nominal(nominal)
    keep = _expand(scenario, selected)
    if not keep:
        raise ValidationError(
            "no influential parameter selected: a scenario needs at least one parameter",
            field="selected",
            value=list(selected),
            expected="at least one parameter name",
        )
    dropped = [name for name in scenario.names if name not in keep]
    body = scenario_to_dict(scenario)
    influential = ", ".join(n for n in scenario.names if n in keep)
    note = f"Reduced by sensitivity analysis: influential {influential}"
    if nominal == "random" or not dropped:
        if dropped:
            note += f"; non-influential (left random): {', '.join(dropped)}"
        body["description"] = f"{scenario.description}\n{note}".strip()
        return _rebuild(scenario, body)
    values = nominal_values(scenario, dropped, nominal)
    body["parameters"] = [p for p in body["parameters"] if p["name"] in keep]
    if "value_sets" in body:
        body["value_sets"] = [
            vs for vs in body["value_sets"] if vs["parameters"][0]["name"] in keep
        ]
        if not body["value_sets"]:
            del body["value_sets"]
    if scenario.dependence is not None:
        remaining = [n for n in scenario.dependence.parameters if n in keep]
        if len(remaining) < 2:
            del body["dependence"]
        else:
            index = [scenario.dependence.parameters.index(n) for n in remaining]
            matrix = np.asarray(scenario.dependence.matrix, dtype=float)[np.ix_(index, index)]
            body["dependence"]["parameters"] = remaining
            body["dependence"]["matrix"] = [[float(v) for v in row] for row in matrix]
    body["fixed"] = {**dict(scenario.fixed), **values}
    note += "; fixed: " + ", ".join(f"{k}={v}" for k, v in values.items())
    body["description"] = f"{scenario.description}\n{note}".strip()
    return _rebuild(scenario, body)


def _rebuild(scenario: LogicalScenario, body: dict[str, Any]) -> LogicalScenario:
    from safety_val.formats.scenario_yaml import scenario_from_dict

    body = {k: v for k, v in body.items() if k != "odd"}
    body["odd"] = str(scenario.odd.source) if scenario.odd.source else scenario.odd_reference
    return scenario_from_dict(body, odd=scenario.odd, source=scenario.source)


def write_scenario(scenario: LogicalScenario, path: str | Path) -> Path:
    """Write a logical scenario as YAML (atomically), its ODD path relative to the file.

    Returns
    -------
    pathlib.Path
        The written file, loadable with :func:`safety_val.load_scenario`.
    """
    import yaml

    from safety_val._io import atomic_write_text
    from safety_val.formats.scenario_yaml import scenario_to_dict

    target = Path(path)
    body = scenario_to_dict(scenario, relative_to=target.parent)
    return atomic_write_text(target, yaml.safe_dump({"scenario": body}, sort_keys=False))


@dataclass(frozen=True)
class ReducedFunction:
    """A batch function of the kept columns that fills the others with nominal values.

    Attributes
    ----------
    function
        The full batch function ``(n, d) -> (n,)``.
    kept
        Column indices (in the full input) of the kept parameters, in order.
    nominal
        Full-length vector; the entries of non-kept columns are used.
    """

    function: Callable[[Any], Any]
    kept: tuple[int, ...]
    nominal: tuple[float, ...]

    def expand(self, x: Any) -> _Array:
        """The full ``(n, d)`` input of a reduced ``(n, len(kept))`` input."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.kept):
            raise ValueError(f"expected an (n, {len(self.kept)}) array, got shape {x.shape}")
        full = np.tile(np.asarray(self.nominal, dtype=float), (len(x), 1))
        full[:, list(self.kept)] = x
        return full

    def __call__(self, x: Any) -> _Array:
        """Evaluate the full function at the expanded input."""
        return np.asarray(self.function(self.expand(x)), dtype=float)


def reduce_function(
    function: Callable[[Any], Any],
    distribution: ot.Distribution,
    selected: Sequence[str],
    *,
    nominal: Any = "median",
) -> tuple[ReducedFunction, ot.Distribution]:
    """Reduce a batch function: fix the non-selected inputs at nominal values.

    Parameters
    ----------
    function
        Batch function ``(n, d) -> (n,)``.
    distribution
        Its joint input distribution (names from its description, else ``x1..xd``).
    selected
        Names of the kept inputs.
    nominal
        ``"median"``, ``"mean"`` or a mapping name -> value.

    Returns
    -------
    tuple
        The reduced batch function (picklable) and the joint distribution of the kept
        marginals (``ot.JointDistribution``, independent copula; the dependence among the
        kept inputs is not carried over).

    Examples
    --------
    >>> from safety_val.sensitivity.functions import ishigami, ishigami_distribution
    >>> reduced, dist = reduce_function(ishigami, ishigami_distribution(), ["x1", "x2"])
    >>> dist.getDimension(), reduced(np.zeros((1, 2))).round(6).tolist()
    (2, [0.0])
    """
    _check_nominal(nominal)
    if nominal == "random":
        raise ValidationError(
            "'random' keeps every input: nothing to reduce",
            field="nominal",
            value=nominal,
            expected="median, mean or a mapping",
        )
    k = int(distribution.getDimension())
    names = [str(s) for s in distribution.getDescription()]
    if len(set(names)) != k or any(not s for s in names):
        names = [f"x{i + 1}" for i in range(k)]
    unknown = [s for s in selected if s not in names]
    if unknown or not selected:
        raise ValidationError(
            "invalid selection",
            field="selected",
            value=unknown[0] if unknown else list(selected),
            expected=f"some of {', '.join(names)}",
        )
    given = dict(nominal) if isinstance(nominal, Mapping) else {}
    rule = nominal if isinstance(nominal, str) else "median"
    values = [
        float(given[name])
        if name in given
        else _marginal_nominal(distribution.getMarginal(j), rule)
        for j, name in enumerate(names)
    ]
    kept = tuple(j for j, name in enumerate(names) if name in set(selected))
    reduced = ot.JointDistribution([distribution.getMarginal(j) for j in kept])
    reduced.setDescription([names[j] for j in kept])
    return ReducedFunction(function, kept, tuple(values)), reduced


@dataclass(frozen=True)
class ReductionCheck:
    """Agreement of failure classifications between the full and the reduced model.

    Attributes
    ----------
    n_holdout
        Held-out points compared (failed simulations excluded).
    agreement
        Fraction of points classified identically (fail ``g <= 0`` / pass).
    false_pass
        Failures of the full model that the reduced one passes.
    false_fail
        Passes of the full model that the reduced one fails.
    kappa
        Cohen's kappa of the two classifications (NaN when both see one class only).
    n_fail_full, n_fail_reduced
        Failures seen by each.
    fixed
        The nominal values used (codes for categorical parameters).
    n_calls
        Model calls spent (``2 n_holdout`` unless cached).
    """

    n_holdout: int
    agreement: float
    false_pass: int
    false_fail: int
    kappa: float
    n_fail_full: int
    n_fail_reduced: int
    fixed: Mapping[str, float]
    n_calls: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (NaN kappa as ``None``)."""
        out = dataclasses.asdict(self)
        out["fixed"] = dict(self.fixed)
        out["kappa"] = None if not np.isfinite(self.kappa) else self.kappa
        return out


def _kappa(a: _Array, b: _Array) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(np.unique(np.concatenate([a, b]))) < 2:
        return float("nan")
    return float(cohen_kappa_score(a, b))


def check_reduction(
    model: Callable[[Any], Any] | LogicalScenario | ScenarioEvaluator,
    selected: Sequence[str],
    distribution: ot.Distribution | None = None,
    *,
    nominal: Any = "median",
    n_holdout: int = 1000,
    seed: SeedLike = None,
    executor: Executor | None = None,
) -> ReductionCheck:
    r"""Compare failure classifications of the full and the reduced model on held-out points.

    Parameters
    ----------
    model
        The full limit state: a batch function returning margins g (with
        ``distribution``) or a logical scenario (its margin g).
    selected
        The influential parameters; the others are set to their nominal values.
    distribution
        Joint distribution of a batch function's inputs.
    nominal
        ``"median"``, ``"mean"`` or a mapping (see :func:`reduce_scenario`).
    n_holdout
        Held-out points drawn from the full distribution (dependence included).
    seed
        Seed or generator.
    executor
        Where the model runs.

    Returns
    -------
    ReductionCheck

    Notes
    -----
    For each held-out :math:`x`, :math:`g(x)` is compared with :math:`g(\tilde x)` where
    :math:`\tilde x` equals :math:`x` on the selected parameters and the nominal values
    elsewhere. Cohen's :math:`\kappa = (p_o - p_e)/(1 - p_e)` corrects the observed
    agreement :math:`p_o` for the agreement :math:`p_e` expected by chance — with rare
    failures, :math:`p_o` alone is close to 1 for any reduction.

    References
    ----------
    Cohen, J. (1960). A coefficient of agreement for nominal scales. Educ. Psychol. Meas.
    20(1), 37-46. doi:10.1177/001316446002000104

    Examples
    --------
    >>> from safety_val.sensitivity.functions import ishigami, ishigami_distribution
    >>> check = check_reduction(lambda x: ishigami(x) - 1, ["x1", "x2", "x3"],
    ...                         ishigami_distribution(), n_holdout=200, seed=0)
    >>> check.agreement, check.false_pass
    (1.0, 0)
    """
    from safety_val.scenario import LogicalScenario

    rng = as_generator(seed)
    if isinstance(n_holdout, bool) or not isinstance(n_holdout, int) or n_holdout < 1:
        raise ValidationError(
            "the held-out size must be a positive integer",
            field="n_holdout",
            value=n_holdout,
            expected="an int >= 1",
        )
    from safety_val.runs.evaluator import ScenarioEvaluator

    if isinstance(model, LogicalScenario | ScenarioEvaluator):
        from safety_val.doe import generate_design

        scenario = model.scenario if isinstance(model, ScenarioEvaluator) else model
        keep = _expand(scenario, selected)
        dropped = [name for name in scenario.names if name not in keep]
        values = nominal_values(scenario, dropped, nominal)
        codes: dict[str, float] = {}
        for name, value in values.items():
            parameter = scenario.parameter(name)
            if parameter.categories is not None:
                codes[name] = float(parameter.categories.index(str(value)))
            elif isinstance(value, str):
                raise ValidationError("text value-set members cannot be compared", field=name)
            else:
                codes[name] = float(value)
        design = generate_design(scenario, n_holdout, method="lhs", seed=child_seed(rng))
        full = scenario.to_array(design.frame)
        reduced_points = full.copy()
        for name, code in codes.items():
            reduced_points[:, scenario.names.index(name)] = code
        evaluator = (
            model
            if isinstance(model, ScenarioEvaluator)
            else ScenarioEvaluator(scenario, executor=executor, purpose="reduction_check")
        )
        calls_before = evaluator.n_calls
        g_full = np.asarray(evaluator(full), dtype=float)
        g_reduced = np.asarray(evaluator(reduced_points), dtype=float)
        n_calls = int(evaluator.n_calls - calls_before)
    else:
        if distribution is None:
            raise ValidationError(
                "a batch function needs its input distribution",
                field="distribution",
                value=None,
                expected="an openturns joint distribution",
            )
        from safety_val.sensitivity.analyze import _FunctionModel

        reduced, _ = reduce_function(model, distribution, selected, nominal=nominal)
        adapter = _FunctionModel(model, distribution, executor)
        full, _ = adapter.draw(n_holdout, np.random.default_rng(child_seed(rng)))
        g_full, _ = adapter.evaluate(full)
        g_reduced, _ = adapter.evaluate(reduced.expand(full[:, list(reduced.kept)]))
        n_calls = adapter.n_calls
        codes = {
            adapter.names[j]: reduced.nominal[j]
            for j in range(len(adapter.names))
            if j not in reduced.kept
        }
    ok = np.isfinite(g_full) & np.isfinite(g_reduced)
    fail_full = g_full[ok] <= 0
    fail_reduced = g_reduced[ok] <= 0
    return ReductionCheck(
        n_holdout=int(ok.sum()),
        agreement=float(np.mean(fail_full == fail_reduced)) if ok.any() else float("nan"),
        false_pass=int(np.sum(fail_full & ~fail_reduced)),
        false_fail=int(np.sum(~fail_full & fail_reduced)),
        kappa=_kappa(fail_full.astype(int), fail_reduced.astype(int)),
        n_fail_full=int(fail_full.sum()),
        n_fail_reduced=int(fail_reduced.sum()),
        fixed=codes,
        n_calls=n_calls,
    )
