r"""The sensitivity API: stage 1 (SALib, model-free ranking) then stage 2 (surrogate selection).

:func:`analyze` samples and evaluates a model — a batch function with an OpenTURNS
distribution, or a logical scenario simulated through
:class:`safety_val.runs.evaluator.ScenarioEvaluator` — and :func:`analyze_given_data` does
the same on an existing sample (e.g. a simulated DOE) without any new model call.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, get_args

import numpy as np
import openturns as ot
import pandas as pd

from safety_val._random import SeedLike, as_generator, seed_openturns
from safety_val._validation import Constraint, Interval, OneOf, check_options
from safety_val.errors import ValidationError
from safety_val.sensitivity._common import (
    INDEX_COLUMNS,
    check_finite_output,
    check_not_constant,
    check_sizes,
    child_seed,
)
from safety_val.sensitivity.given_data import (
    DELTA_MIN_SAMPLES,
    PAWN_MIN_SAMPLES,
    RBD_FAST_MIN_SAMPLES,
    delta_indices,
    pawn_indices,
    rbd_fast_indices,
)
from safety_val.sensitivity.morris import morris_indices, morris_minimum_calls, sample_morris
from safety_val.sensitivity.noise import (
    NOISE_COLUMNS,
    NoiseKind,
    above_any,
    dummy_floor,
    mark_indices,
    noise_notes,
    zero_floor,
)
from safety_val.sensitivity.result import SensitivityResult
from safety_val.sensitivity.selection import MIN_CLASS_MEMBERS, forward_selection
from safety_val.sensitivity.sobol import sample_saltelli, sobol_indices, sobol_minimum_calls

if TYPE_CHECKING:
    from safety_val.execution.base import Executor
    from safety_val.runs.evaluator import ScenarioEvaluator
    from safety_val.scenario import LogicalScenario

__all__ = [
    "METHODS",
    "MIN_RANKED_FAILURES",
    "RANK_ON",
    "MethodSpec",
    "analyze",
    "analyze_given_data",
    "rank_parameters",
]

_Array = np.ndarray[Any, np.dtype[np.float64]]
Scheme = Literal["morris", "sobol", "given_data"]

#: Above this share of failed simulations the analysis stops instead of dropping rows.
MAX_FAILED_FRACTION: Final = 0.05
#: Fewest failures (and passes) in every stage-1 sample for ``rank_on="auto"`` to rank the
#: failure label; with fewer, the label's indices sit at their noise floor and the margin
#: (or the KPI) is ranked instead.
MIN_RANKED_FAILURES: Final = 30
#: What stage 1 ranks (see :func:`analyze`).
RankOn = Literal["auto", "output", "failure"]
#: The values of :data:`RankOn` (the CLI's ``--rank-on`` choices).
RANK_ON: Final[tuple[str, ...]] = get_args(RankOn)
#: Name of the failure label ``1{g <= 0}`` as a ranked output.
FAILURE_LABEL: Final = "failure"

_CONSTANT: Final[dict[str, list[Constraint]]] = {"constant": [OneOf("raise", "keep")]}

_CONSTRAINTS: Final[dict[str, list[Constraint]]] = {
    "rank_on": [OneOf(*RANK_ON)],
    "n_dummies": [Interval(int, 1, None)],
    "min_failures": [Interval(int, 1, None)],
}
"""The noise-floor and ranked-output options of :func:`analyze` and :func:`analyze_given_data`."""


@dataclass(frozen=True)
class MethodSpec:
    """A stage-1 method of the registry :data:`METHODS`.

    Attributes
    ----------
    name
        Registry key.
    scheme
        The sample it needs: its own design (``"morris"``, ``"sobol"``) or any sample
        (``"given_data"``, shared by the given-data methods).
    main_index
        The index used for the ranking.
    assumes_independence
        Whether the design and estimator assume independent inputs.
    minimum_calls
        Fewest model calls (or sample rows) for ``k`` inputs.
    estimate
        ``estimate(names, x, y, seed=...)`` → the long index table and any notes, from the
        method's sample (``x`` in the unit cube for Morris, unused by Sobol').
    noise
        How its noise floor is found (:mod:`safety_val.sensitivity.noise`): ``"dummy"``
        (dummy inputs through ``estimate``; given-data methods) or ``"zero"`` (a design in
        which an unused input has index 0 exactly: Morris, Sobol').
    """

    name: str
    scheme: Scheme
    main_index: str
    assumes_independence: bool
    minimum_calls: Callable[[int], int]
    estimate: Callable[..., tuple[pd.DataFrame, list[str]]]
    noise: NoiseKind = "dummy"


def _without_notes(
    indices: Callable[..., pd.DataFrame],
) -> Callable[..., tuple[pd.DataFrame, list[str]]]:
    def estimate(
        names: Sequence[str], x: _Array, y: _Array, *, seed: int
    ) -> tuple[pd.DataFrame, list[str]]:
        return indices(names, x, y, seed=seed), []

    return estimate


def _sobol_estimate(
    names: Sequence[str], x: _Array, y: _Array, *, seed: int
) -> tuple[pd.DataFrame, list[str]]:
    return sobol_indices(names, y, seed=seed), []  # the Saltelli order carries the design


#: The stage-1 methods by name.
METHODS: Final[Mapping[str, MethodSpec]] = {
    "morris": MethodSpec(
        "morris", "morris", "mu_star", True, morris_minimum_calls, _without_notes(morris_indices),
        "zero",
    ),
    "sobol": MethodSpec(
        "sobol", "sobol", "ST", True, sobol_minimum_calls, _sobol_estimate, "zero"
    ),
    "rbd_fast": MethodSpec(
        "rbd_fast", "given_data", "S1", False, lambda k: RBD_FAST_MIN_SAMPLES,
        _without_notes(rbd_fast_indices),
    ),
    "delta": MethodSpec(
        "delta", "given_data", "delta", False, lambda k: DELTA_MIN_SAMPLES, delta_indices
    ),
    "pawn": MethodSpec(
        "pawn", "given_data", "median", False, lambda k: PAWN_MIN_SAMPLES,
        _without_notes(pawn_indices),
    ),
}

_GIVEN_DATA: Final = tuple(name for name, spec in METHODS.items() if spec.scheme == "given_data")


def _check_methods(
    methods: Iterable[str], *, allowed: Sequence[str] | None = None
) -> tuple[str, ...]:
    valid = tuple(METHODS) if allowed is None else tuple(allowed)
    if isinstance(methods, str):
        methods = (methods,)
    chosen = tuple(dict.fromkeys(methods))
    if not chosen:
        raise ValidationError(
            "no sensitivity method given", field="methods", expected=f"some of {', '.join(valid)}"
        )
    for name in chosen:
        if name not in valid:
            raise ValidationError(
                f"unknown sensitivity method {name!r}",
                field="methods",
                value=name,
                expected=f"one of {', '.join(valid)}",
            )
    return chosen


# -- models -----------------------------------------------------------------------------------


class _FunctionModel:
    """A batch function with an OpenTURNS joint distribution."""

    def __init__(
        self, function: Callable[[Any], Any], distribution: ot.Distribution, executor: Any
    ) -> None:
        self.function = function
        self.distribution = distribution
        self.executor = executor
        k = int(distribution.getDimension())
        description = [str(s) for s in distribution.getDescription()]
        if len(set(description)) != k or any(not s for s in description):
            description = [f"x{i + 1}" for i in range(k)]
        self.names = tuple(description)
        self.dependent = not bool(distribution.hasIndependentCopula())
        self.n_calls = 0
        self.scenario: LogicalScenario | None = None

    def from_unit_independent(self, u: _Array) -> tuple[_Array, _Array]:
        eps = np.finfo(float).eps
        u = np.clip(u, eps, 1 - eps)
        columns = [
            np.asarray(self.distribution.getMarginal(j).computeQuantile(u[:, j].tolist()))
            .ravel()
            .astype(float)
            for j in range(len(self.names))
        ]
        x = np.column_stack(columns)
        return x, x

    def draw(self, n: int, rng: np.random.Generator) -> tuple[_Array, _Array]:
        if not self.dependent:
            from safety_val.doe import sample_unit_cube

            return self.from_unit_independent(sample_unit_cube("lhs", n, len(self.names), seed=rng))
        seed_openturns(rng)
        x = np.asarray(self.distribution.getSample(n), dtype=float)
        return x, x

    def evaluate(self, points: _Array) -> tuple[_Array, _Array | None]:
        if self.executor is None:
            values = np.asarray(self.function(points), dtype=float)
        else:
            blocks = np.array_split(points, max(1, min(len(points), 4 * self.executor.n_workers)))
            values = np.concatenate(
                [
                    np.asarray(v, dtype=float).ravel()
                    for v in self.executor.map(self.function, blocks)
                ]
            )
        values = values.ravel()
        if values.shape != (len(points),):
            raise ValidationError(
                "the model returned the wrong number of outputs",
                field="model",
                value=f"shape {values.shape}",
                expected=f"one output per row ({len(points)},)",
            )
        self.n_calls += len(points)
        return values, None


class _ScenarioModel:
    """A logical scenario simulated through :class:`safety_val.runs.evaluator.ScenarioEvaluator`."""

    def __init__(
        self,
        scenario: LogicalScenario,
        output: str | None,
        executor: Any,
        evaluator: ScenarioEvaluator | None = None,
    ) -> None:
        from safety_val.runs.evaluator import ScenarioEvaluator

        if output is not None and output not in scenario.kpis:
            raise ValidationError(
                f"scenario {scenario.name!r} has no KPI {output!r}",
                field="output",
                value=output,
                expected=f"None (the margin g) or one of {', '.join(scenario.kpis)}",
            )
        self.scenario = scenario
        self.output = output
        self.evaluator = evaluator or ScenarioEvaluator(
            scenario, executor=executor, purpose="sensitivity"
        )
        self.names = tuple(
            [p.name for p in scenario.ordinary_parameters] + [vs.name for vs in scenario.value_sets]
        )
        self.dependent = scenario.dependence is not None
        self._independent = dataclasses.replace(scenario, dependence=None)

    @property
    def n_calls(self) -> int:
        return int(self.evaluator.n_calls)

    def _factors(self, unit: _Array, points: _Array) -> _Array:
        m = len(self.scenario.ordinary_parameters)
        columns = [points[:, j] for j in range(m)]
        for i, value_set in enumerate(self.scenario.value_sets):
            cumulative = np.cumsum(value_set.probabilities)
            cumulative[-1] = 1.0
            columns.append(np.searchsorted(cumulative, unit[:, m + i], side="right").astype(float))
        return np.column_stack(columns)

    def from_unit_independent(self, u: _Array) -> tuple[_Array, _Array]:
        from safety_val.doe import unit_to_physical

        points = self.scenario.to_array(unit_to_physical(self._independent, u))
        return self._factors(u, points), points

    def draw(self, n: int, rng: np.random.Generator) -> tuple[_Array, _Array]:
        from safety_val.doe import generate_design

        design = generate_design(self.scenario, n, method="lhs", seed=rng)
        points = self.scenario.to_array(design.frame)
        return self._factors(design.unit, points), points

    def evaluate(self, points: _Array) -> tuple[_Array, _Array | None]:
        frame = self.evaluator.evaluate(points)
        g = pd.to_numeric(frame["g"], errors="coerce").to_numpy(dtype=float)
        if self.output is None:
            return g, g
        y = pd.to_numeric(frame[self.output], errors="coerce").to_numpy(dtype=float)
        return np.where(np.isfinite(g), y, np.nan), g


# -- stage 1 ----------------------------------------------------------------------------------


def _blocks_ok(ok: _Array, block: int) -> _Array:
    """Keep whole blocks (Morris trajectories, Saltelli groups) whose rows are all finite."""
    whole = ok.reshape(-1, block).all(axis=1)
    return np.repeat(whole, block)


def _stage1(
    names: Sequence[str],
    methods: Sequence[str],
    samples: Mapping[str, tuple[_Array, _Array, _Array | None]],
    seeds: Mapping[str, int],
    *,
    n_dummies: int,
    noise_rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The index table (marked against each method's noise floor), the floors and notes."""
    tables: list[pd.DataFrame] = []
    floors: list[dict[str, Any]] = []
    notes: list[str] = []
    for name in methods:
        spec = METHODS[name]
        x, y, _ = samples[spec.scheme]
        table, method_notes = spec.estimate(names, x, y, seed=seeds[name])
        tables.append(table)
        notes.extend(method_notes)
        if spec.noise == "zero":
            floors.append(zero_floor(name, spec.main_index))
        else:
            floors.append(
                dummy_floor(
                    name,
                    spec.main_index,
                    spec.estimate,
                    y,
                    n_dummies=n_dummies,
                    rng=np.random.default_rng(child_seed(noise_rng)),
                    seed=seeds[name],
                )
            )
    indices = pd.concat(tables, ignore_index=True)[list(INDEX_COLUMNS)]
    undefined = indices[~np.isfinite(indices["value"].to_numpy(dtype=float))]
    for (method, index), group in undefined.groupby(["method", "index"], sort=False):
        notes.append(
            f"{method} {index} is undefined (NaN) for {', '.join(map(str, group['parameter']))}"
        )
    floor_table = pd.DataFrame(floors, columns=list(NOISE_COLUMNS))
    marked = mark_indices(indices, floor_table)
    notes.extend(noise_notes(marked, floor_table, names))
    return marked, floor_table, notes


def _ranked_output(
    rank_on: str,
    output: str,
    samples: Mapping[str, tuple[_Array, _Array, _Array | None]],
    *,
    output_is_margin: bool,
    min_failures: int,
) -> tuple[str, dict[str, tuple[_Array, _Array, _Array | None]], list[str], bool]:
    """Choose what stage 1 ranks: the output, the margin g or the failure label ``1{g <= 0}``.

    ``samples`` map a scheme to ``(x, y, g)``, ``g`` the margin (``None`` when there is
    none). Returns the ranked output's name, the samples with ``y`` replaced by what is
    ranked, notes saying which output was ranked and why, and whether to warn (an asked-for
    label that could not be ranked).

    ``"auto"`` ranks the output, unless it is *nearly constant* — fewer than
    ``min_failures`` rows off its most common value: a label such as a collision flag
    with a handful of events, or a margin saturated at a cap — and a margin that varies
    is known: then the margin. ``"failure"`` ranks the label when every sample has
    ``min_failures`` failures and passes, else the margin (with a warning). ``"output"``
    ranks the output as given.
    """
    margins = [g for _, _, g in samples.values()]
    has_margin = all(g is not None for g in margins)
    if rank_on == "failure" and not has_margin:
        raise ValidationError(
            "the failure label needs a margin g",
            field="rank_on",
            value=rank_on,
            expected="'auto' or 'output' for a model whose output is not a margin "
            "(for a batch function: classify=True; for given data: margin=...)",
        )
    margin_name = output if output_is_margin else "g"
    counts = ""
    n_fail = n_pass = 0
    if has_margin:
        tallies = [
            (int((g <= 0).sum()), int((g > 0).sum()), len(g)) for g in margins if g is not None
        ]
        n_fail, n_pass = min(t[0] for t in tallies), min(t[1] for t in tallies)
        counts = (
            f"{n_fail} failures and {n_pass} passes among {tallies[0][2]} rows"
            if len(tallies) == 1
            else f"at least {n_fail} failures and {n_pass} passes in each stage-1 sample"
        )
    as_margin: dict[str, tuple[_Array, _Array, _Array | None]] = {
        scheme: (x, g, g) for scheme, (x, _, g) in samples.items() if g is not None
    }
    rare, plateau = _plateau(samples)
    margin_rare = has_margin and _plateau(as_margin)[0] < min_failures
    if rank_on == "failure":
        if min(n_fail, n_pass) >= min_failures:
            labelled: dict[str, tuple[_Array, _Array, _Array | None]] = {
                scheme: (x, np.asarray(y <= 0, dtype=float), y)
                for scheme, (x, y, _) in as_margin.items()
            }
            note = (
                f"ranked the failure label 1{{{margin_name} <= 0}} (rank_on='failure'; "
                f"{counts}, >= {min_failures} of each)"
            )
            return FAILURE_LABEL, labelled, [note], False
        note = (
            f"ranked the margin {margin_name}, not the failure label 1{{{margin_name} <= 0}}: "
            f"{counts}; the label needs >= {min_failures} of each class to rise above its "
            "noise floor (rank_on='failure')"
        )
        return margin_name, as_margin, [note], True
    if (
        rank_on == "auto"
        and rare < min_failures
        and has_margin
        and not output_is_margin
        and not margin_rare
    ):
        note = (
            f"ranked the margin {margin_name}, a continuous output, not the output "
            f"{output}: {output} {plateau} (< {min_failures}: its indices would sit at "
            "their noise floor; rank_on='auto')"
        )
        return margin_name, as_margin, [note], False
    what = "the margin" if output_is_margin else "the output"
    note = f"ranked {what} {output} (rank_on={rank_on!r}"
    if has_margin:
        enough = min(n_fail, n_pass) >= min_failures
        note += (
            f"; the failure label has {counts}"
            + ("" if enough else f", too few to rank it (>= {min_failures} of each needed)")
        )
    notes = [note + ")"]
    if rare < min_failures:
        also = (
            f" (the margin g too: it {_plateau(as_margin)[1]})"
            if margin_rare and not output_is_margin
            else ""
        )
        notes.append(
            f"{what} {output} {plateau} (< {min_failures}){also}: its indices are expected at "
            "their noise floor and the ranking carries next to no information; rank an "
            "output that varies over the sample (a KPI: output=..., --output on the command "
            "line)"
        )
    return output, dict(samples), notes, False


def _plateau(samples: Mapping[str, tuple[_Array, _Array, _Array | None]]) -> tuple[int, str]:
    """Rows off the output's most common value (fewest over the samples), and a description.

    For a two-valued output these are its rarer events; for a margin saturated at a cap
    (``min(min_ttc, 10) - 1`` on a DOE that hardly leaves the plateau) the rows off it.
    """
    fewest, text = None, ""
    for _, y, _ in samples.values():
        values, counts = np.unique(y, return_counts=True)
        common = int(counts.argmax())
        off = int(len(y) - counts[common])
        if fewest is None or off < fewest:
            fewest = off
            text = (
                f"takes its most common value ({float(values[common]):.4g}) in all but {off} "
                f"of {len(y)} rows"
            )
    return (0 if fewest is None else fewest), text


def _is_label(samples: Mapping[str, tuple[_Array, _Array, _Array | None]]) -> bool:
    """Whether every sample's output takes at most two values."""
    return all(np.unique(y).size <= 2 for _, y, _ in samples.values())


# -- ranking ----------------------------------------------------------------------------------


def rank_parameters(indices: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    r"""Combine the stage-1 methods into one ranking by mean rank.

    Parameters
    ----------
    indices
        The long index table.
    names
        All parameters.

    Returns
    -------
    pandas.DataFrame
        ``parameter, rank, mean_rank``, one ``<method>.<main index>`` column per method
        and, when ``indices`` are marked against the noise floor (an ``above_noise``
        column, :func:`~safety_val.sensitivity.noise.mark_indices`), ``above_noise``:
        whether the parameter's index is above the floor of at least one method. Sorted
        by rank.

    Notes
    -----
    Each method ranks the parameters by its main measure (Morris :math:`\mu^*`,
    Sobol' :math:`S_T`, delta :math:`\delta`, RBD-FAST :math:`S_1`, PAWN median KS),
    NaN last; the overall order is the mean of these ranks, ties broken by the mean of
    the measures normalised by each method's maximum. With an ``above_noise`` mark, the
    parameters above the noise floor rank before those indistinguishable from it (whose
    order among themselves is noise).

    Examples
    --------
    >>> table = pd.DataFrame({"parameter": ["a", "b"], "method": "sobol", "index": "ST",
    ...                       "value": [0.2, 0.7], "ci_low": np.nan, "ci_high": np.nan})
    >>> rank_parameters(table, ["a", "b"])["parameter"].tolist()
    ['b', 'a']
    """
    ranking = pd.DataFrame({"parameter": list(names)})
    rank_columns, value_columns, normalised = [], [], []
    for method in dict.fromkeys(indices["method"]):
        main = METHODS[method].main_index
        rows = indices[(indices["method"] == method) & (indices["index"] == main)]
        values = rows.set_index("parameter")["value"].reindex(list(names)).astype(float)
        column = f"{method}.{main}"
        ranking[column] = values.to_numpy()
        value_columns.append(column)
        ranking[f"_rank_{method}"] = (-values.fillna(-np.inf)).rank(method="average").to_numpy()
        rank_columns.append(f"_rank_{method}")
        peak = np.nanmax(np.abs(values.to_numpy())) if values.notna().any() else 0.0
        normalised.append(values.fillna(0).to_numpy() / peak if peak > 0 else np.zeros(len(names)))
    ranking["mean_rank"] = ranking[rank_columns].mean(axis=1)
    ranking["_tie"] = -np.mean(normalised, axis=0) if normalised else 0.0
    keys = ["mean_rank", "_tie"]
    marked = "above_noise" in indices.columns
    if marked:
        flags = above_any(indices, names)
        ranking["above_noise"] = [flags.get(str(p), False) for p in ranking["parameter"]]
        ranking["_noise"] = ~ranking["above_noise"].astype(bool)
        keys.insert(0, "_noise")
    ranking = ranking.sort_values(keys, kind="stable").reset_index(drop=True)
    ranking.insert(1, "rank", np.arange(1, len(ranking) + 1))
    ranking = ranking.drop(columns=[*rank_columns, "_tie", *(["_noise"] if marked else [])])
    return ranking[
        ["parameter", "rank", "mean_rank", *value_columns, *(["above_noise"] if marked else [])]
    ]


# -- stage 2 ----------------------------------------------------------------------------------


def _stage2(
    frames: Sequence[pd.DataFrame],
    order: Sequence[str],
    *,
    classify: bool | None,
    is_margin: bool,
    max_samples: int,
    surrogate: str,
    scoring: str | None,
    min_gain: float,
    rng: np.random.Generator,
) -> tuple[tuple[str, ...], pd.DataFrame, list[str]]:
    notes: list[str] = []
    pool = pd.concat(frames, ignore_index=True).drop_duplicates(subset=list(order))
    if len(pool) > max_samples:
        pool = pool.iloc[np.sort(rng.choice(len(pool), max_samples, replace=False))]
        notes.append(f"stage 2 used a random subset of {max_samples} of the stage-1 rows")
    x = pool[list(order)]
    regression = forward_selection(
        x, pool["y"], order, surrogate=surrogate, min_gain=min_gain, seed=child_seed(rng)
    )
    curves = [regression.score_curve]
    selected = set(regression.selected)
    if classify is not False and is_margin:
        label_source = pool["g"] if "g" in pool else pool["y"]
        failures = (label_source.to_numpy(dtype=float) <= 0).astype(int)
        n_fail = int(failures.sum())
        n_pass = len(failures) - n_fail
        if min(n_fail, n_pass) >= MIN_CLASS_MEMBERS:
            classification = forward_selection(
                x,
                failures,
                order,
                target="classification",
                scoring=scoring,
                surrogate=surrogate,
                min_gain=min_gain,
                seed=child_seed(rng),
            )
            curves.append(classification.score_curve)
            selected |= set(classification.selected)
        else:
            notes.append(
                f"stage 2 ran the regression only: {n_fail} failures and {n_pass} passes among "
                f"{len(failures)} rows (the failure classification needs >= "
                f"{MIN_CLASS_MEMBERS} of each)"
            )
    ordered = tuple(name for name in order if name in selected)
    if not ordered:
        ordered = tuple(order)
        notes.append(
            "stage 2 found no parameter that raises the cross-validated score: every "
            "parameter is kept (finding nothing is no ground to fix any)"
        )
    return ordered, pd.concat(curves, ignore_index=True), notes


# -- public API -------------------------------------------------------------------------------


def _check_budget(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValidationError(
            "the sample budget must be a positive integer",
            field="n",
            value=n,
            expected="an int >= 1",
        )
    return int(n)


def _check_minimum(methods: Sequence[str], k: int, n: int) -> None:
    for name in methods:
        minimum = METHODS[name].minimum_calls(k)
        if n < minimum:
            raise ValidationError(
                f"too few samples for {name} with {k} inputs",
                field="n",
                value=n,
                expected=f"n >= {minimum}",
            )


def analyze(
    model: Callable[[Any], Any] | LogicalScenario | ScenarioEvaluator,
    distribution: ot.Distribution | None = None,
    *,
    n: int = 1024,
    methods: Sequence[str] = ("morris", "sobol", "delta"),
    output: str | None = None,
    seed: SeedLike = None,
    executor: Executor | None = None,
    selection: bool = True,
    classify: bool | None = None,
    surrogate: str = "auto",
    scoring: str | None = None,
    min_gain: float = 0.01,
    max_selection_samples: int = 500,
    rank_on: RankOn = "auto",
    min_failures: int = MIN_RANKED_FAILURES,
    n_dummies: int = 10,
) -> SensitivityResult:
    r"""Two-stage factor screening: SALib indices, then surrogate-based forward selection.

    Parameters
    ----------
    model
        A batch function ``f((n, d) array) -> (n,) array`` or a loaded
        :class:`~safety_val.scenario.LogicalScenario`.
    distribution
        The OpenTURNS joint input distribution (required for a batch function; a
        scenario brings its own).
    n
        Model-call budget *per sampling scheme*: Morris uses ``n // (k + 1)``
        trajectories, Sobol' the largest power-of-two base sample ``N`` with
        ``N (k + 2) <= n``, and the given-data methods (``delta``, ``rbd_fast``,
        ``pawn``) share one LHS sample of ``n`` points from the joint distribution
        (dependence included). The calls actually made are in ``result.costs``.
    methods
        Stage-1 methods, names of :data:`METHODS`.
    output
        For a scenario: ``None`` (the limit-state margin g) or a KPI name. For a batch
        function: must be ``None`` (the output is what it returns).
    seed
        Seed or generator; the same seed gives the same result.
    executor
        Where the model runs: passed to the scenario evaluator; for a batch function
        the sample is split in blocks sent through ``executor.map``.
    selection
        Run stage 2 (otherwise ``selected`` holds every parameter in ranking order).
    classify
        Also select for the failure label ``g <= 0``: ``None`` = for a scenario when both
        classes have enough members; ``True`` treats a batch function's output as a
        margin g; ``False`` never.
    surrogate, scoring, min_gain
        Stage-2 options (see :func:`~safety_val.sensitivity.selection.forward_selection`).
    max_selection_samples
        Stage 2 uses at most this many of the pooled stage-1 rows (random subset).
    rank_on
        What stage 1 ranks. ``"auto"``: the output (g by default, a continuous margin),
        unless it is a two-valued label (e.g. a ``collision`` KPI) whose rarer value occurs
        fewer than ``min_failures`` times: then the margin g of a scenario. ``"failure"``:
        the failure label ``1{g <= 0}`` (g being a scenario's margin, or a batch function's
        output with ``classify=True``) when every stage-1 sample has at least
        ``min_failures`` failures and as many passes, else g, with a warning.
        ``"output"``: the output as given. ``result.output`` names what was ranked
        (``"failure"`` for the label) and ``result.notes`` say why.
    min_failures
        Fewest members of each class for a two-valued output or the failure label to be
        ranked (below, its indices sit at their noise floor).
    n_dummies
        Independent uniform dummy inputs that measure the noise floor of the given-data
        methods (:mod:`safety_val.sensitivity.noise`); no model call.

    Returns
    -------
    SensitivityResult
        ``noise_floor`` holds each method's floor; ``indices`` and ``ranking`` say which
        indices rise above it (``above_noise``), and the parameters above it rank first.

    Raises
    ------
    ValidationError
        Unknown method (the valid ones listed); ``n`` below a method's minimum (the
        minimum given); a batch function without a distribution; an unknown KPI;
        a constant output ("sensitivity indices are undefined"); NaN/inf outputs of a
        batch function (the offending rows named); more than 5 % failed simulations;
        ``rank_on``, ``min_failures`` or ``n_dummies`` out of range, or
        ``rank_on="failure"`` without a margin.

    Warns
    -----
    UserWarning
        When Morris or Sobol' run on dependent inputs (they are sampled independently;
        the note is also in ``result.notes``), when failed simulations are dropped, and
        when ``rank_on="failure"`` falls back to g for lack of failures.

    Notes
    -----
    Stage 1 samples Morris and Saltelli designs in the unit cube and maps them through
    each marginal's quantile function (independently, the copula ignored).
    Failed simulations drop their whole Morris trajectory / Saltelli block. Stage 2
    reuses every stage-1 row (no extra call): a surrogate is fitted to the output (R²)
    and, for a margin, to the failure label (ROC AUC by default); a parameter enters
    when it raises the cross-validated score by more than the standard error of the
    paired fold differences. ``selected`` is the union of both selections.

    Every index is compared with its method's noise floor: the largest index of
    ``n_dummies`` dummy inputs for the given-data methods, 0 for Morris and Sobol' (whose
    designs give an unused input exactly 0); an index counts as above it when the lower
    end of its interval (the index itself where there is none) exceeds the floor. A rare
    failure label (a handful of failures in a DOE) leaves every index at the floor, hence
    the ranking of the continuous margin g in that case.

    References
    ----------
    Morris (1991) doi:10.1080/00401706.1991.10484804; Saltelli et al. (2010)
    doi:10.1016/j.cpc.2009.09.018; Borgonovo (2007) doi:10.1016/j.ress.2006.04.015;
    Plischke (2010) doi:10.1016/j.ress.2009.11.005; Pianosi & Wagener (2015)
    doi:10.1016/j.envsoft.2015.01.004.

    Examples
    --------
    >>> from safety_val.sensitivity.functions import ishigami, ishigami_distribution
    >>> result = analyze(ishigami, ishigami_distribution(), n=600, methods=("morris",),
    ...                  seed=1, selection=False)
    >>> result.ranking["parameter"].iloc[-1], result.costs["total"]
    ('x3', 600)
    """
    chosen = _check_methods(methods)
    budget = _check_budget(n)
    check_options(_CONSTRAINTS, rank_on=rank_on, n_dummies=n_dummies, min_failures=min_failures)
    from safety_val.runs.evaluator import ScenarioEvaluator
    from safety_val.scenario import LogicalScenario

    adapter: _FunctionModel | _ScenarioModel
    if isinstance(model, ScenarioEvaluator):  # its cache and run store are reused
        adapter = _ScenarioModel(model.scenario, output, executor, evaluator=model)
        output_name = "g" if output is None else output
        is_margin = classify is not False
    elif isinstance(model, LogicalScenario):
        adapter = _ScenarioModel(model, output, executor)
        output_name = "g" if output is None else output
        is_margin = classify is not False  # the failure label always comes from g
    elif callable(model):
        if distribution is None:
            raise ValidationError(
                "a batch function needs its input distribution",
                field="distribution",
                value=None,
                expected="an openturns joint distribution",
            )
        if output is not None:
            raise ValidationError(
                "output names a KPI of a scenario; a batch function's output is what it returns",
                field="output",
                value=output,
                expected="None",
            )
        adapter = _FunctionModel(model, distribution, executor)
        output_name = "y"
        is_margin = bool(classify)
    else:
        raise ValidationError(
            "the model must be a batch function or a LogicalScenario",
            field="model",
            value=type(model).__name__,
        )
    names = adapter.names
    k = len(names)
    _check_minimum(chosen, k, budget)
    rng = as_generator(seed)
    seeds = {name: child_seed(rng) for name in METHODS}
    sample_seeds = {scheme: child_seed(rng) for scheme in ("morris", "sobol", "given_data")}
    selection_rng = np.random.default_rng(child_seed(rng))
    noise_rng = np.random.default_rng(child_seed(rng))

    notes: list[str] = []
    independent_methods = [m for m in chosen if METHODS[m].assumes_independence]
    if adapter.dependent and independent_methods:
        message = (
            f"{' and '.join(independent_methods)} assume independent inputs but the inputs are "
            "dependent (copula): they were sampled independently, so their indices ignore the "
            "dependence; the given-data methods (delta, rbd_fast, pawn) respect it"
        )
        warnings.warn(message, UserWarning, stacklevel=2)
        notes.append(message)

    schemes = list(dict.fromkeys(METHODS[m].scheme for m in chosen))
    raw: dict[str, tuple[_Array, _Array, _Array, _Array | None]] = {}
    costs: dict[str, int] = {}
    for scheme in schemes:
        before = adapter.n_calls
        if scheme == "morris":
            unit = sample_morris(k, budget, seed=sample_seeds[scheme])
            factors, points = adapter.from_unit_independent(unit)
            x_analysis = unit
        elif scheme == "sobol":
            unit = sample_saltelli(k, budget, seed=sample_seeds[scheme])
            factors, points = adapter.from_unit_independent(unit)
            x_analysis = unit
        else:
            factors, points = adapter.draw(budget, np.random.default_rng(sample_seeds[scheme]))
            x_analysis = factors
        y, g = adapter.evaluate(points)
        costs[scheme] = adapter.n_calls - before
        raw[scheme] = (x_analysis, factors, y, g)

    # failed runs / non-finite outputs
    samples: dict[str, tuple[_Array, _Array, _Array | None]] = {}
    frames: dict[str, pd.DataFrame] = {}
    total = sum(len(v[2]) for v in raw.values())
    failed = sum(int((~np.isfinite(v[2])).sum()) for v in raw.values())
    if isinstance(adapter, _FunctionModel):
        for name, (_, _, y, _) in raw.items():
            check_finite_output(y, field=f"model output ({name} sample)")
    elif failed:
        if failed > MAX_FAILED_FRACTION * total:
            raise ValidationError(
                f"{failed} of {total} simulations failed (NaN {output_name})",
                field="model",
                value=f"{failed / total:.1%} failed",
                expected=f"at most {MAX_FAILED_FRACTION:.0%} failed runs; check the simulator",
            )
        message = f"{failed} of {total} simulations failed and were dropped from the analysis"
        warnings.warn(message, UserWarning, stacklevel=2)
        notes.append(message)
    for name, (x_analysis, factors, y, g) in raw.items():
        ok = np.isfinite(y)
        if name == "morris":
            ok = _blocks_ok(ok, k + 1)
        elif name == "sobol":
            ok = _blocks_ok(ok, k + 2)
        y_ok = y[ok]
        check_not_constant(y_ok, field=output_name)
        samples[name] = (x_analysis[ok], y_ok, None if g is None else g[ok])
        frame = pd.DataFrame(factors[ok], columns=list(names))
        frame["y"] = y_ok
        if g is not None:
            frame["g"] = g[ok]
        frames[name] = frame
    for name in chosen:
        spec = METHODS[name]
        remaining = len(samples[spec.scheme][1])
        if spec.scheme == "given_data" and remaining < spec.minimum_calls(k):
            raise ValidationError(
                f"too few valid samples for {name} after dropping failed runs",
                field="n",
                value=remaining,
                expected=f">= {spec.minimum_calls(k)}",
            )

    analysis_samples = {
        s: (v[0], v[1], v[2] if v[2] is not None else (v[1] if is_margin else None))
        for s, v in samples.items()
    }
    ranked, analysis_samples, rank_notes, warn = _ranked_output(
        rank_on,
        output_name,
        analysis_samples,
        output_is_margin=output_name == "g" or (output_name == "y" and is_margin),
        min_failures=min_failures,
    )
    _note_ranked(notes, rank_notes, warn, methods=chosen, samples=analysis_samples)
    if ranked != output_name:
        for _, y_ranked, _ in analysis_samples.values():
            check_not_constant(y_ranked, field=ranked)
    indices, noise_floor, stage1_notes = _stage1(
        names, chosen, analysis_samples, seeds, n_dummies=n_dummies, noise_rng=noise_rng
    )
    notes.extend(stage1_notes)
    ranking = rank_parameters(indices, names)
    order = list(ranking["parameter"])
    costs["stage1"] = sum(costs[s] for s in schemes)
    if selection:
        selected, curve, stage2_notes = _stage2(
            list(frames.values()),
            order,
            classify=classify,
            is_margin=is_margin,
            max_samples=max_selection_samples,
            surrogate=surrogate,
            scoring=scoring,
            min_gain=min_gain,
            rng=selection_rng,
        )
        notes.extend(stage2_notes)
    else:
        selected, curve = tuple(order), _empty_curve()
    costs["stage2"] = 0
    costs["total"] = costs["stage1"]
    return SensitivityResult(
        parameters=tuple(names),
        indices=indices,
        ranking=ranking,
        selected=selected,
        score_curve=curve,
        costs=costs,
        methods=chosen,
        output=ranked,
        notes=tuple(notes),
        samples=frames,
        scenario=adapter.scenario,
        noise_floor=noise_floor,
    )


def _note_ranked(
    notes: list[str],
    rank_notes: Sequence[str],
    warn: bool,
    *,
    methods: Sequence[str],
    samples: Mapping[str, tuple[_Array, _Array, _Array | None]],
) -> None:
    """Record which output was ranked; warn when an asked-for failure label was too rare."""
    notes.extend(rank_notes)
    if warn:
        for note in rank_notes:
            warnings.warn(note, UserWarning, stacklevel=3)
    given = {METHODS[m].scheme for m in methods} & {"given_data"}
    if "delta" in methods and given and _is_label({s: samples[s] for s in given}):
        notes.append(
            "delta's kernel densities are unreliable on a two-valued output (an influential "
            "input can score below the dummy inputs): prefer PAWN's ranking of a label"
        )


def _constant_result(
    names: Sequence[str], methods: Sequence[str], output: str, values: _Array, outputs: _Array
) -> SensitivityResult:
    """A result that ranks nothing and keeps every parameter: the output never changed."""
    note = (
        f"the output {output} is constant ({float(outputs[0]):.6g}) over the {len(outputs)} "
        "rows: no sensitivity index is defined, no parameter can be ranked and every "
        "parameter is kept; rank an output that varies (a KPI)"
    )
    ranking = pd.DataFrame(
        {
            "parameter": list(names),
            "rank": np.arange(1, len(names) + 1),
            "mean_rank": np.nan,
            "above_noise": False,
        }
    )
    indices = pd.DataFrame(columns=[*INDEX_COLUMNS, "noise_floor", "above_noise"])
    frame = pd.DataFrame(values, columns=list(names))
    frame["y"] = outputs
    return SensitivityResult(
        parameters=tuple(names),
        indices=indices,
        ranking=ranking,
        selected=tuple(names),
        score_curve=_empty_curve(),
        costs={"given_data": 0, "stage1": 0, "stage2": 0, "total": 0},
        methods=tuple(methods),
        output=output,
        notes=(note,),
        samples={"given_data": frame},
        noise_floor=pd.DataFrame(columns=list(NOISE_COLUMNS)),
    )


def _empty_curve() -> pd.DataFrame:
    return pd.DataFrame(
        columns=[
            "step",
            "parameter",
            "kept",
            "score_mean",
            "score_std",
            "gain",
            "threshold",
            "target",
            "scoring",
        ]
    )


def analyze_given_data(
    x: pd.DataFrame,
    y: Any,
    *,
    methods: Sequence[str] = ("delta", "rbd_fast", "pawn"),
    seed: SeedLike = None,
    selection: bool = True,
    classify: bool = False,
    surrogate: str = "auto",
    scoring: str | None = None,
    min_gain: float = 0.01,
    max_selection_samples: int = 500,
    margin: Any = None,
    output: str | None = None,
    rank_on: RankOn = "auto",
    min_failures: int = MIN_RANKED_FAILURES,
    n_dummies: int = 10,
    constant: Literal["raise", "keep"] = "raise",
) -> SensitivityResult:
    r"""Stage 1 (given-data methods) and stage 2 on an existing sample — no model call.

    Parameters
    ----------
    x
        The sample, one column per parameter (e.g. a simulated DOE, dependent inputs
        allowed). Text columns are turned into category codes (sorted labels).
    y
        One output per row of ``x``.
    methods
        Given-data methods: some of ``"delta"``, ``"rbd_fast"``, ``"pawn"``.
    seed
        Seed or generator.
    selection, classify, surrogate, scoring, min_gain, max_selection_samples
        As in :func:`analyze` (``classify=True`` treats ``y`` as a margin g and also
        selects for the failure label ``y <= 0``).
    margin
        The limit-state margin g of each row (``y`` itself when ``y`` is g; ``classify=True``
        implies ``y``). It gives the failure label of ``rank_on``.
    output
        The name of ``y`` in the notes and ``result.output`` (e.g. a KPI); default ``"g"``
        when ``y`` is the margin, else ``"y"``.
    constant
        A constant ``y`` (a DOE that never leaves a margin's plateau): ``"raise"`` a
        ValidationError, or ``"keep"`` every parameter with a result that ranks nothing
        and says why (what a pipeline needs to go on).
    rank_on, min_failures, n_dummies
        As in :func:`analyze`: which output stage 1 ranks (with ``"auto"``, ``y``, or the
        ``margin`` when ``y`` is a label with fewer than ``min_failures`` rare events;
        ``"failure"``: the label ``margin <= 0`` when it has ``min_failures`` of each
        class) and how many dummy inputs measure the noise floor.

    Returns
    -------
    SensitivityResult
        ``costs`` are all 0; ``output`` is ``"y"`` (``"g"`` when ``y`` is the margin), or
        ``"failure"`` when the label was ranked (``"g"`` also when ``y`` is a rare
        two-valued label and a margin was given).

    Raises
    ------
    ValidationError
        Unknown or non-given-data method, mismatched sizes (both named), NaN/inf outputs
        or margins (rows named), constant output, too few rows for a method (the minimum
        given), options out of range, ``rank_on="failure"`` without a margin.

    Notes
    -----
    See :func:`~safety_val.sensitivity.given_data.delta_indices`,
    :func:`~safety_val.sensitivity.given_data.rbd_fast_indices` and
    :func:`~safety_val.sensitivity.given_data.pawn_indices` for the estimators.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = pd.DataFrame(rng.random((300, 3)), columns=["a", "b", "c"])
    >>> result = analyze_given_data(x, 5 * x["a"] + x["b"] ** 2, methods=("rbd_fast",),
    ...                             seed=0, selection=False)
    >>> result.ranking["parameter"].tolist()
    ['a', 'b', 'c']
    """
    chosen = _check_methods(methods, allowed=_GIVEN_DATA)
    check_options(_CONSTRAINTS, rank_on=rank_on, n_dummies=n_dummies, min_failures=min_failures)
    if not isinstance(x, pd.DataFrame):
        raise ValidationError(
            "the sample must be a DataFrame",
            field="X",
            value=type(x).__name__,
            expected="a pandas DataFrame with one column per parameter",
        )
    outputs = np.asarray(y, dtype=float).ravel()
    check_sizes(x, outputs)
    check_finite_output(outputs)
    check_options(_CONSTANT, constant=constant)
    if constant == "raise":
        check_not_constant(outputs)
    margins: _Array | None = None
    if margin is not None:
        margins = np.asarray(margin, dtype=float).ravel()
        check_sizes(x, margins)
        check_finite_output(margins, field="margin")
    elif classify:
        margins = outputs
    names = tuple(str(c) for c in x.columns)
    data = x.copy()
    for column in data.columns:
        if not pd.api.types.is_numeric_dtype(data[column]):
            data[column] = pd.Categorical(data[column].astype(str)).codes.astype(float)
    values = data.to_numpy(dtype=float)
    check_finite_output(values.sum(axis=1), field="X")
    y_is_margin = margins is not None and np.array_equal(margins, outputs)
    output_name = output or ("g" if y_is_margin else "y")
    if outputs.size and np.ptp(outputs) <= 1e-12 * max(1.0, float(np.abs(outputs).max())):
        return _constant_result(names, chosen, output_name, values, outputs)
    for name in chosen:
        minimum = METHODS[name].minimum_calls(len(names))
        if len(outputs) < minimum:
            raise ValidationError(
                f"too few samples for {name}",
                field="X",
                value=f"{len(outputs)} rows",
                expected=f"n >= {minimum}",
            )
    rng = as_generator(seed)
    seeds = {name: child_seed(rng) for name in METHODS}
    selection_rng = np.random.default_rng(child_seed(rng))
    noise_rng = np.random.default_rng(child_seed(rng))
    notes: list[str] = []
    ranked, analysis_samples, rank_notes, warn = _ranked_output(
        rank_on,
        output_name,
        {"given_data": (values, outputs, margins)},
        output_is_margin=y_is_margin,
        min_failures=min_failures,
    )
    _note_ranked(notes, rank_notes, warn, methods=chosen, samples=analysis_samples)
    if ranked != output_name:
        check_not_constant(analysis_samples["given_data"][1], field=ranked)
    indices, noise_floor, stage1_notes = _stage1(
        names, chosen, analysis_samples, seeds, n_dummies=n_dummies, noise_rng=noise_rng
    )
    notes.extend(stage1_notes)
    ranking = rank_parameters(indices, names)
    order = list(ranking["parameter"])
    frame = pd.DataFrame(values, columns=list(names))
    frame["y"] = outputs
    if margins is not None:
        frame["g"] = margins
    if selection:
        selected, curve, stage2_notes = _stage2(
            [frame],
            order,
            classify=classify,
            is_margin=classify,
            max_samples=max_selection_samples,
            surrogate=surrogate,
            scoring=scoring,
            min_gain=min_gain,
            rng=selection_rng,
        )
        notes.extend(stage2_notes)
    else:
        selected, curve = tuple(order), _empty_curve()
    return SensitivityResult(
        parameters=names,
        indices=indices,
        ranking=ranking,
        selected=selected,
        score_curve=curve,
        costs={"given_data": 0, "stage1": 0, "stage2": 0, "total": 0},
        methods=chosen,
        output=ranked,
        notes=tuple(notes),
        samples={"given_data": frame},
        noise_floor=noise_floor,
    )
