"""Logical scenarios: a simulator template plus parameters with distributions, inside an ODD.

A logical scenario file is YAML with a top-level ``scenario:`` mapping::

    scenario:
      name: cut_in
      odd: odd/motorway_l3.yaml            # relative to this file
      simulator: builtin                   # or {kind: command, argv: [...], ...}
      template: cut_in
      parameters:
        - name: ego_speed
          unit: m/s
          odd: dynamic_elements.subject_vehicle.speed
          distribution: {family: TruncatedNormal, mu: 27, sigma: 4, lower: 16.7, upper: 36.1}
      dependence:                          # optional Gaussian copula
        copula: normal
        correlation: spearman              # or gaussian
        parameters: [ego_speed, cut_in_speed]
        matrix: [[1.0, 0.6], [0.6, 1.0]]
      value_sets:                          # optional joint discrete sets (ValueSetDistribution)
        - name: case
          parameters: [{name: a, unit: m}, {name: b, unit: s}]
          rows: [[1, 2], [3, 4]]
      fixed: {aeb_ttc_full: 0.9}           # constant simulator inputs
      kpis: [collision, min_ttc]
      limit_state: {expression: "min(min_ttc, 10) - 1.0"}
      simulation: {dt: 0.01, duration: 20}

:func:`load_scenario` validates everything at load — each parameter's support must lie
inside its ODD attribute (an unbounded distribution must be truncated with
``bounds``), categorical values inside the allowed set, the correlation matrix
positive definite — and builds the OpenTURNS joint distribution.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import openturns as ot
import pandas as pd

from safety_val._yaml import read_yaml_mapping
from safety_val.distributions import DistributionSpec, build_marginal
from safety_val.limit_state import LimitState
from safety_val.odd import ODD
from safety_val.quantities import DerivedQuantity

if TYPE_CHECKING:
    from safety_val.backends.base import Simulator
    from safety_val.execution.base import Executor

__all__ = [
    "Dependence",
    "LogicalScenario",
    "Parameter",
    "ValueSet",
    "load_scenario",
    "stable_ids",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]

_ANNOUNCED_COMMANDS: set[tuple[str, ...]] = set()
"""(scenario file, *argv) of the external commands this process has named already."""


@dataclass(frozen=True)
class Parameter:
    """One random parameter of a logical scenario.

    Attributes
    ----------
    name
        Column name and simulator input name.
    unit
        Physical unit (``"-"`` for categorical parameters).
    distribution
        The validated family specification (``None`` for members of a value set).
    bounds
        Optional truncation ``(lower, upper)``.
    odd_attribute
        Dotted path of the ODD attribute the parameter maps to, if any.
    description
        Free text.
    """

    name: str
    unit: str
    distribution: DistributionSpec | None
    bounds: tuple[float, float] | None = None
    odd_attribute: str | None = None
    description: str = ""

    @cached_property
    def marginal(self) -> ot.Distribution:
        """The (possibly truncated) OpenTURNS marginal distribution."""
        if self.distribution is None:
            raise ValueError(f"parameter {self.name!r} belongs to a value set and has no marginal")
        return build_marginal(self.distribution, self.bounds)

    @property
    def categories(self) -> tuple[str, ...] | None:
        """Labels of a categorical parameter (its distribution is over codes 0..k-1)."""
        return None if self.distribution is None else self.distribution.categories


@dataclass(frozen=True)
class ValueSet:
    """Joint discrete values of several parameters (OpenSCENARIO ValueSetDistribution).

    Attributes
    ----------
    name
        Name of the set.
    parameters
        The parameters the set assigns (their ``distribution`` is ``None``).
    rows
        One tuple of values per alternative, in ``parameters`` order.
    weights
        Probability weights of the rows (``None``: equally likely).
    """

    name: str
    parameters: tuple[Parameter, ...]
    rows: tuple[tuple[float | str, ...], ...]
    weights: tuple[float, ...] | None = None

    @property
    def probabilities(self) -> _Array:
        """Normalised row probabilities."""
        w = np.ones(len(self.rows)) if self.weights is None else np.asarray(self.weights, float)
        return w / w.sum()


@dataclass(frozen=True)
class Dependence:
    """A Gaussian (normal) copula between some continuous parameters.

    Attributes
    ----------
    parameters
        Names of the dependent parameters.
    matrix
        The correlation matrix as given in the file.
    kind
        ``"spearman"`` (rank correlation, converted with ρ = 2 sin(π ρ_S / 6)) or
        ``"gaussian"`` (the copula's own correlation).
    """

    parameters: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    kind: Literal["spearman", "gaussian"] = "spearman"

    @property
    def gaussian_matrix(self) -> _Array:
        """Correlation matrix of the normal copula."""
        m = np.asarray(self.matrix, dtype=float)
        if self.kind == "spearman":
            m = 2.0 * np.sin(np.pi * m / 6.0)
            np.fill_diagonal(m, 1.0)
        return m


@dataclass(frozen=True)
class LogicalScenario:
    """A logical scenario: template, parameters with a joint distribution, KPIs, limit state.

    Use :func:`load_scenario` to build one from a file. Parameters are ordered as the
    columns of :attr:`distribution`: first the ordinary parameters in file order, then
    the members of each value set.
    """

    name: str
    odd: ODD
    parameters: tuple[Parameter, ...]
    template: str
    kpis: tuple[str, ...]
    criterion: LimitState
    simulator: Mapping[str, Any] = field(default_factory=lambda: {"kind": "builtin"})
    dependence: Dependence | None = None
    value_sets: tuple[ValueSet, ...] = ()
    fixed: Mapping[str, float | str] = field(default_factory=dict)
    simulation: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    references: tuple[str, ...] = ()
    quantities: tuple[DerivedQuantity, ...] = ()
    source: Path | None = field(default=None, compare=False)
    odd_reference: str | None = field(default=None, compare=False)
    source_sha256: str | None = field(default=None, compare=False)

    # -- structure ---------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in distribution order."""
        return tuple(p.name for p in self.parameters)

    @property
    def dimension(self) -> int:
        """Number of random parameters."""
        return len(self.parameters)

    @property
    def ordinary_parameters(self) -> tuple[Parameter, ...]:
        """The parameters with their own marginal distribution (not in a value set)."""
        return tuple(p for p in self.parameters if p.distribution is not None)

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name`` (``KeyError`` lists the valid names)."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(
            f"scenario {self.name!r} has no parameter {name!r}; has {', '.join(self.names)}"
        )

    @cached_property
    def distribution(self) -> ot.Distribution:
        """The OpenTURNS joint distribution of all parameters (columns in :attr:`names` order).

        Categorical parameters appear as discrete distributions over codes ``0..k-1``.
        """
        ordinary = self.ordinary_parameters
        blocks: list[ot.Distribution] = []
        if ordinary:
            marginals = [p.marginal for p in ordinary]
            if self.dependence is None:
                copula: ot.Distribution = ot.IndependentCopula(len(ordinary))
            else:
                copula = ot.NormalCopula(ot.CorrelationMatrix(self.copula_correlation().tolist()))
            joint = ot.JointDistribution(marginals, copula)
            joint.setDescription([p.name for p in ordinary])
            blocks.append(joint)
        for value_set in self.value_sets:
            points = [
                [_numeric_code(value_set, i, j) for j in range(len(value_set.parameters))]
                for i in range(len(value_set.rows))
            ]
            block = ot.FiniteDiscreteDistribution(
                ot.Sample(points), value_set.probabilities.tolist()
            )
            block.setDescription([p.name for p in value_set.parameters])
            blocks.append(block)
        result = blocks[0] if len(blocks) == 1 else ot.BlockIndependentDistribution(blocks)
        result.setDescription(list(self.names))
        return result

    def copula_correlation(self) -> _Array:
        """Gaussian-copula correlation matrix over the ordinary parameters (identity if none)."""
        ordinary = [p.name for p in self.ordinary_parameters]
        r = np.eye(len(ordinary))
        if self.dependence is not None:
            index = [ordinary.index(n) for n in self.dependence.parameters]
            r[np.ix_(index, index)] = self.dependence.gaussian_matrix
        return r

    # -- concrete scenarios --------------------------------------------------------------------

    def to_frame(self, values: Any, *, start_index: int = 0) -> pd.DataFrame:
        """Concrete scenarios from an ``(n, d)`` array of parameter values.

        Categorical columns may hold codes (mapped to their labels) or labels. The frame
        has ``sample_index``, ``scenario_id`` (see :func:`stable_ids`) and one column
        per parameter in :attr:`names` order.
        """
        if isinstance(values, pd.DataFrame):
            frame = values[list(self.names)].reset_index(drop=True).copy()
        else:
            array = np.asarray(values, dtype=object if _has_text(values) else float)
            if array.ndim == 1:
                array = (
                    array.reshape(1, -1) if len(array) == self.dimension else array.reshape(-1, 1)
                )
            if array.ndim != 2 or array.shape[1] != self.dimension:
                raise ValueError(
                    f"expected an (n, {self.dimension}) array for scenario {self.name!r}, "
                    f"got shape {array.shape}"
                )
            frame = pd.DataFrame(array, columns=list(self.names))
        for p in self.parameters:
            labels = p.categories
            if labels is not None:
                frame[p.name] = _codes_to_labels(frame[p.name], labels, p.name)
            elif _is_text_parameter(self, p.name):
                frame[p.name] = frame[p.name].astype("str")
            elif not pd.api.types.is_numeric_dtype(frame[p.name]):
                frame[p.name] = pd.to_numeric(frame[p.name]).astype(float)
        frame.insert(0, "scenario_id", stable_ids(self.name, frame[list(self.names)]))
        frame.insert(
            0, "sample_index", np.arange(start_index, start_index + len(frame), dtype=np.int64)
        )
        return frame

    def to_array(self, frame: pd.DataFrame) -> _Array:
        """The numeric ``(n, d)`` array of a frame of concrete scenarios (labels → codes)."""
        columns = []
        for p in self.parameters:
            labels = p.categories
            column = frame[p.name]
            if labels is not None:
                codes = pd.Categorical(column, categories=list(labels)).codes
                if (codes < 0).any():
                    raise ValueError(f"column {p.name!r} has values outside {labels}")
                columns.append(codes.astype(float))
            else:
                columns.append(pd.to_numeric(column).to_numpy(dtype=float))
        return np.column_stack(columns) if columns else np.empty((len(frame), 0))

    # -- limit state ---------------------------------------------------------------------------

    def margin(self, kpis: Mapping[str, Any] | pd.DataFrame) -> _Array:
        """The limit-state margin g of simulated runs from their KPIs (failure when g ≤ 0).

        Rows whose ``status`` is not ``ok`` get NaN: they are neither passes nor failures.
        """
        g = self.criterion.evaluate(kpis)
        if isinstance(kpis, pd.DataFrame) and "status" in kpis:
            g = np.where(kpis["status"].to_numpy() == "ok", g, np.nan)
        return g

    def make_simulator(self) -> Simulator:
        """The simulator backend this scenario names, configured with its fixed inputs."""
        from safety_val.backends.registry import make_simulator

        options = {k: v for k, v in self.simulator.items() if k != "kind"}
        kind = str(self.simulator.get("kind", "builtin"))
        if kind == "builtin":
            options = {
                "template": self.template,
                "fixed": dict(self.fixed),
                **{k: v for k, v in self.simulation.items() if k in ("dt", "duration")},
                **options,
            }
        else:
            options.setdefault("kpis", list(self.kpis))
        if kind == "command":
            self._announce_command(options.get("argv"))
        return make_simulator(kind, **options)

    def _announce_command(self, argv: Any) -> None:
        """Say, once per process, which external command this scenario file runs.

        A scenario file is code: ``simulator: {kind: command, argv: [...]}`` runs that
        program with the user's rights. The first time a file asks for it the command
        is named (a warning: one line on stderr in the CLI), so it never runs unseen.
        """
        import shlex
        import warnings

        words = tuple(str(a) for a in argv) if isinstance(argv, list | tuple) else (str(argv),)
        key = (str(self.source), *words)
        if key in _ANNOUNCED_COMMANDS:
            return
        _ANNOUNCED_COMMANDS.add(key)
        warnings.warn(
            f"{self.source or self.name}: runs the external command {shlex.join(words)} "
            "(a scenario file is code: run only the files you trust)",
            UserWarning,
            stacklevel=3,
        )

    def limit_state(
        self,
        batch: pd.DataFrame | Any,
        *,
        simulator: Simulator | None = None,
        executor: Executor | None = None,
    ) -> _Array:
        """Simulate a batch of concrete scenarios and return their margins g.

        Parameters
        ----------
        batch
            A frame from :meth:`to_frame` or an ``(n, d)`` array of parameter values.
        simulator
            Backend to use (default: :meth:`make_simulator`).
        executor
            Executor for the batches (default: serial).

        Returns
        -------
        numpy.ndarray
            ``n`` margins; NaN where the simulation failed (status ``error``/``timeout``).
        """
        from safety_val.execution.registry import make_executor
        from safety_val.runs.batches import run_batches

        frame = (
            batch
            if isinstance(batch, pd.DataFrame) and "scenario_id" in batch
            else self.to_frame(batch)
        )
        sim = simulator if simulator is not None else self.make_simulator()
        own_executor = executor is None
        runner_executor = make_executor("serial") if executor is None else executor
        try:
            results = run_batches(sim, frame, executor=runner_executor)
        finally:
            if own_executor:
                runner_executor.close()
        order = pd.Index(results["sample_index"]).get_indexer(frame["sample_index"])
        return self.margin(results.iloc[order].reset_index(drop=True))


# -- loading ----------------------------------------------------------------------------------


def load_scenario(path: str | Path, *, check_simulator: bool = True) -> LogicalScenario:
    """Load and validate a logical scenario file.

    Parameters
    ----------
    path
        A YAML file with a top-level ``scenario:`` mapping.
    check_simulator
        Also check the parameter and KPI names against the simulator template.

    Returns
    -------
    LogicalScenario

    Raises
    ------
    ValidationError
        One line naming the file, the field, the value and what was expected: malformed
        YAML, unknown distribution family, negative standard deviation, reversed bounds,
        a parameter outside its ODD attribute, a correlation matrix that is not positive
        definite, an unknown simulator, ...

    Examples
    --------
    >>> from pathlib import Path
    >>> scenario = load_scenario(Path(__file__).parent.parent / "scenarios/cut_in.yaml")
    >>> scenario.distribution.getDimension() == scenario.dimension
    True
    """
    from safety_val.formats.scenario_yaml import scenario_from_dict

    file, body = read_yaml_mapping(path, root="scenario")
    data = file.read_bytes()
    return scenario_from_dict(
        body,
        source=file,
        source_sha256=hashlib.sha256(data).hexdigest(),
        check_simulator=check_simulator,
    )


def stable_ids(scenario_name: str, values: pd.DataFrame) -> list[str]:
    """Stable ids of concrete scenarios: a hash of the scenario name and parameter values.

    The id is the first 16 hex digits of SHA-256 over ``name|p1=v1;p2=v2;...`` with
    floats written by :func:`repr` (shortest round-trip form), so the same concrete
    scenario has the same id on every machine.

    Examples
    --------
    >>> frame = pd.DataFrame({"v": [20.0, 20.0, 21.5]})
    >>> ids = stable_ids("demo", frame)
    >>> ids[0] == ids[1] != ids[2], len(ids[0])
    (True, 16)
    """
    columns = list(values.columns)
    rows = values.itertuples(index=False, name=None)
    prefix = f"{scenario_name}|"
    return [
        hashlib.sha256(
            (
                prefix + ";".join(f"{c}={_canonical(v)}" for c, v in zip(columns, row, strict=True))
            ).encode()
        ).hexdigest()[:16]
        for row in rows
    ]


# -- helpers ----------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        return value
    number = float(value)
    return repr(0.0 if number == 0 else number)


def _has_text(values: Any) -> bool:
    try:
        return np.asarray(values).dtype.kind in "OUS"
    except (TypeError, ValueError):
        return True


def _is_text_parameter(scenario: LogicalScenario, name: str) -> bool:
    for vs in scenario.value_sets:
        for j, p in enumerate(vs.parameters):
            if p.name == name:
                return any(isinstance(row[j], str) for row in vs.rows)
    return False


def _numeric_code(value_set: ValueSet, i: int, j: int) -> float:
    value = value_set.rows[i][j]
    if isinstance(value, str):
        labels = list(dict.fromkeys(row[j] for row in value_set.rows))
        return float(labels.index(value))
    return float(value)


def _codes_to_labels(column: pd.Series, labels: tuple[str, ...], name: str) -> pd.Series:
    if not pd.api.types.is_numeric_dtype(column):
        bad = ~column.isin(labels)
        if bad.any():
            raise ValueError(f"column {name!r} has value {column[bad].iloc[0]!r} outside {labels}")
        return column.astype("str")
    codes = pd.to_numeric(column).to_numpy(dtype=float)
    index = np.rint(codes).astype(int)
    if np.any(np.abs(codes - index) > 1e-9) or np.any((index < 0) | (index >= len(labels))):
        raise ValueError(f"column {name!r} has codes outside 0..{len(labels) - 1}")
    return pd.Series(np.asarray(labels, dtype=object)[index], index=column.index, dtype="str")
