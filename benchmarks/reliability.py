"""Reliability benchmark: problems with known pf x methods x seeds, side by side.

Two kinds of problems:

* **analytic** — :mod:`safety_val.reliability.problems`: the published problems and the
  simulator-like analytic problems of issue 13 (noisy, plateaued, discontinuous, mixed
  categorical inputs, curved in d = 50-200), each with an exact reference;
* **simulated** — :mod:`simulated_cases`: logical scenarios of the built-in simulator
  (``benchmarks/cases/*.yaml``) whose reference pf was computed by stratified Monte Carlo
  (:mod:`simulated_references`, stored in ``benchmarks/data/simulated_references.json``
  with the simulator's source hash; a reference whose hashes do not match the current
  sources is refused).

Suites (``--suite``): ``analytic`` (every analytic problem), ``simulated``, ``rare`` (issue
13: the simulated cases and the simulator-like analytic problems) and ``all``.

For each problem x method x seed it calls
:func:`safety_val.reliability.estimate_failure_probability` and compares the estimate
with the reference. It prints one line per problem and method::

    problem d ref_pf method runs err med_rel max_rel med_calls max_calls coverage converged

where ``med_rel`` / ``max_rel`` are the median / maximum of |pf - ref| / ref over seeds,
``med_calls`` the median number of limit-state calls, ``coverage`` the fraction of seeds
whose reported 95 % interval contains the reference and ``converged`` the fraction of
runs that said they converged; then one line per target of issue 13 (``--target-method``,
default ``auto``):

* simulated cases (pf 1e-3 to 1e-7): median relative error <= 15 %, max <= 40 %, median
  <= 2,000 calls (per case), 95 % interval covers the reference in >= 90 % of the runs;
* the simulator-like analytic problems (noisy, plateaued, jumping, categorical; d < 20):
  the same targets as the simulated cases;
* high-dimensional analytic problems (d >= 20; the curved ones have d = 50-200): median
  relative error <= 15 % with <= 5,000 calls (median);
* the published analytic problems (d < 20): median relative error <= 10 %, max <= 30 %,
  median <= 300 calls, coverage >= 90 %.

A run that raises is recorded as an error row (relative error inf, not covered) and the
benchmark goes on. A method that is not registered, or whose module cannot be loaded,
is skipped with a note. The OpenTURNS baselines (``subset``, ``nais``, ``ce_is``) get
``--samples-per-level`` points per level through the method's per-level option and
``--baseline-max-calls`` calls; crude ``mc`` gets ``--mc-max-calls``.

``--jobs N`` runs the (problem, method, seed) tasks in N worker processes (each evaluates
its limit state in its own process, serially); without it ``--executor`` parallelises
inside each run. This is not part of the test suite: it takes minutes to hours.

Cost: a simulated run costs what its simulator calls cost (about 0.5 s per batch plus
~2,800 scenarios per second per core on an idle machine); with the default budgets the
OpenTURNS baselines and crude MC spend up to 20,000 calls each, so ``--suite rare`` with
10 seeds is about 7e6 simulator runs: 25-45 min on 2 idle cores with ``--jobs 2``
(a smoke run, 2 problems x mc,nais,auto x 2 seeds, took 138 s on a shared machine). Lower
``--baseline-max-calls`` / ``--mc-max-calls`` to shorten it.

Usage::

    # the full issue-13 run: simulated + simulator-like analytic problems, 10 seeds
    python benchmarks/reliability.py --suite rare --jobs 2 --out runs/reliability_rare.csv
    # everything, published problems included
    python benchmarks/reliability.py --suite all --jobs 2 --out runs/reliability_all.csv
    # a quick look
    python benchmarks/reliability.py --problems cut_in_motorway,noisy_linear_1e-4 \
        --methods mc,nais,auto --seeds 2 --jobs 2
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# One thread per process: the 2-core machine is shared and the executors parallelise.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings above)
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a source tree
    sys.path.insert(0, str(ROOT))
# Process and Ray workers import safety_val (and the problems' limit states) too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
)

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the simulated cases live beside this script
    sys.path.insert(0, str(HERE))
os.environ["PYTHONPATH"] = os.pathsep.join((str(HERE), os.environ["PYTHONPATH"]))

from simulated_cases import SIMULATED_CASES, SimulatedCase  # noqa: E402
from simulated_references import check_reference, load_references  # noqa: E402

from safety_val.errors import ValidationError  # noqa: E402
from safety_val.reliability.problems import PROBLEMS, ReliabilityProblem  # noqa: E402

DEFAULT_METHODS = ("auto", "ais", "nais", "subset", "ce_is", "mc")
BASELINES = frozenset({"subset", "nais", "ce_is"})
"""OpenTURNS-based samplers run at a fixed number of samples per level."""
PER_LEVEL_OPTION_NAMES = ("n_per_step", "n_per_level", "samples_per_level", "n_samples_per_level")
"""Candidate names of the samples-per-level option, in order of preference."""
DEFAULT_MAX_CALLS = 20_000
DEFAULT_MC_MAX_CALLS = 20_000
SIMULATOR_BATCH = 100_000
"""Scenarios per simulator batch of a simulated case (one batch per limit-state call)."""
SUITES = ("analytic", "simulated", "rare", "all")

TARGET_METHOD = "auto"
HIGH_DIMENSION_MIN = 20
SIMULATOR_LIKE = frozenset(
    {
        "noisy_linear_1e-4",
        "noisy_linear_1e-6",
        "noisy_linear_hard",
        "plateau_linear",
        "step_collision",
        "categorical_rare",
        "paraboloid_d50",
        "paraboloid_d100",
        "paraboloid_d200",
    }
)
"""The analytic problems of issue 13 (suite ``rare``)."""

ROW_COLUMNS = (
    "problem",
    "group",
    "dimension",
    "reference_pf",
    "method",
    "seed",
    "pf",
    "cov",
    "ci_low",
    "ci_high",
    "n_calls",
    "converged",
    "relative_error",
    "covered",
    "wall_s",
    "result_method",
    "message",
    "error",
)


@dataclass(frozen=True)
class RunRow:
    """One problem x method x seed run (a CSV row)."""

    problem: str
    group: str
    dimension: int
    reference_pf: float
    method: str
    seed: int
    pf: float
    cov: float
    ci_low: float
    ci_high: float
    n_calls: float
    converged: bool
    relative_error: float
    covered: bool
    wall_s: float
    result_method: str
    message: str
    error: str


@dataclass(frozen=True)
class BenchmarkProblem:
    """A problem of the benchmark: an analytic problem or a simulated case, and its group.

    ``group`` is ``"simulated"``, ``"simulator-like"`` (the noisy, plateaued, jumping and
    categorical analytic problems of issue 13, d < 20), ``"high-dimensional"`` (analytic,
    d >= 20) or ``"analytic"`` (the published problems); the targets are evaluated per
    group.
    """

    name: str
    group: str
    dimension: int
    reference_pf: float
    analytic: ReliabilityProblem | None = None
    simulated: SimulatedCase | None = None

    def model_inputs(self) -> tuple[Any, Any]:
        """A fresh ``(limit_state, distribution)`` pair for one run.

        A simulated case is evaluated through the product's own
        :class:`~safety_val.runs.evaluator.ScenarioEvaluator` (a new one per run, so no
        cache is shared between runs), one simulator batch per call: the vectorised
        simulator costs about 0.5 s per batch whatever its size up to ~1,000 scenarios,
        and the evaluator's calibration would split small calls further.
        """
        if self.analytic is not None:
            return self.analytic.limit_state, self.analytic.distribution
        if self.simulated is None:
            raise ValueError(f"problem {self.name!r} has neither an analytic nor a simulated part")
        from safety_val.runs.evaluator import ScenarioEvaluator

        scenario = self.simulated.scenario
        evaluator = ScenarioEvaluator(scenario, purpose="benchmark", batch_size=SIMULATOR_BATCH)
        return evaluator, scenario.distribution


def analytic_problem(problem: ReliabilityProblem) -> BenchmarkProblem:
    """Wrap a registered analytic problem."""
    if problem.dimension >= HIGH_DIMENSION_MIN:
        group = "high-dimensional"
    elif problem.name in SIMULATOR_LIKE:
        group = "simulator-like"
    else:
        group = "analytic"
    return BenchmarkProblem(
        problem.name, group, problem.dimension, problem.reference_pf, analytic=problem
    )


def simulated_problem(
    case: SimulatedCase, references: dict[str, dict[str, Any]]
) -> BenchmarkProblem:
    """Wrap a simulated case with its stored reference; refuse a missing or stale one."""
    record = references.get(case.name)
    problem = check_reference(case, record)
    if problem is not None or record is None:
        raise ValidationError(
            problem or "no reference", field="simulated reference", value=case.name
        )
    return BenchmarkProblem(
        case.name, "simulated", case.scenario.dimension, float(record["pf"]), simulated=case
    )


def select_problems(suite: str, names: Sequence[str] | None) -> tuple[BenchmarkProblem, ...]:
    """The problems of ``suite``, or the named ones (analytic or simulated)."""
    if names:
        selected: list[str] = list(names)
    elif suite == "analytic":
        selected = list(PROBLEMS)
    elif suite == "simulated":
        selected = list(SIMULATED_CASES)
    elif suite == "rare":
        selected = [*SIMULATED_CASES, *(n for n in PROBLEMS if n in SIMULATOR_LIKE)]
    else:
        selected = [*SIMULATED_CASES, *PROBLEMS]
    folded = {key.casefold(): key for key in (*PROBLEMS, *SIMULATED_CASES)}
    unknown = [name for name in selected if name.casefold() not in folded]
    if unknown:
        raise ValidationError(
            "unknown problem", field="--problems", value=",".join(unknown),
            expected="one of " + ", ".join((*SIMULATED_CASES, *PROBLEMS)),
        )
    references = load_references() if any(
        folded[n.casefold()] in SIMULATED_CASES for n in selected
    ) else {}
    problems = []
    for name in selected:
        key = folded[name.casefold()]
        if key in SIMULATED_CASES:
            problems.append(simulated_problem(SIMULATED_CASES[key], references))
        else:
            problems.append(analytic_problem(PROBLEMS[key]))
    return tuple(problems)


@dataclass(frozen=True)
class BenchmarkConfig:
    """Parsed command line."""

    problems: tuple[BenchmarkProblem, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    samples_per_level: int
    executor: str
    max_calls: int | None
    baseline_max_calls: int
    target_cov: float
    out: Path | None
    quiet: bool
    debug: bool
    target_method: str = "auto"
    mc_max_calls: int = DEFAULT_MC_MAX_CALLS
    jobs: int = 1
    suite: str = "all"

    def budget(self, method: str) -> int | None:
        """The call budget of ``method``."""
        if method in BASELINES:
            return self.baseline_max_calls
        if method == "mc":
            return self.mc_max_calls
        return self.max_calls


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------


def method_options(method: str, run: Callable[..., Any], samples_per_level: int) -> dict[str, Any]:
    """The method-specific options: samples per level for the OpenTURNS baselines."""
    if method not in BASELINES:
        return {}
    accepted = inspect.signature(run).parameters
    for name in PER_LEVEL_OPTION_NAMES:
        if name in accepted:
            return {name: samples_per_level}
    return {}


def resolve_methods(
    methods: Sequence[str],
) -> tuple[list[tuple[str, Callable[..., Any]]], list[str]]:
    """Look the methods up in the registry; return those that load and notes on the others."""
    from safety_val.reliability import get_method

    usable: list[tuple[str, Callable[..., Any]]] = []
    notes: list[str] = []
    for method in methods:
        try:
            usable.append((method, get_method(method)))
        except ValidationError as exc:
            notes.append(f"skipped method {method!r}: {exc}")
    for method, run in usable:
        if method in BASELINES and not method_options(method, run, 1):
            notes.append(
                f"method {method!r} has no samples-per-level option "
                f"(looked for {', '.join(PER_LEVEL_OPTION_NAMES)}); its default is used"
            )
    return usable, notes


def run_one(
    problem: BenchmarkProblem,
    method: str,
    seed: int,
    *,
    options: dict[str, Any],
    max_calls: int | None,
    target_cov: float,
    executor: Any,
    debug: bool,
) -> RunRow:
    """One estimate; an exception becomes an error row."""
    from safety_val.reliability import estimate_failure_probability

    reference = problem.reference_pf
    start = time.perf_counter()
    try:
        limit_state, distribution = problem.model_inputs()
        result = estimate_failure_probability(
            limit_state,
            distribution,
            method=method,
            seed=seed,
            max_calls=max_calls,
            target_cov=target_cov,
            executor=executor,
            **options,
        )
    except Exception as exc:  # one failing run must not stop the benchmark
        if debug:
            traceback.print_exc()
        return RunRow(
            problem=problem.name,
            group=problem.group,
            dimension=problem.dimension,
            reference_pf=reference,
            method=method,
            seed=seed,
            pf=math.nan,
            cov=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            n_calls=math.nan,
            converged=False,
            relative_error=math.inf,
            covered=False,
            wall_s=time.perf_counter() - start,
            result_method="",
            message="",
            error=f"{type(exc).__name__}: {exc}".replace("\n", " ")[:500],
        )
    wall = time.perf_counter() - start
    pf = float(result.pf)
    ci_low, ci_high = (float(result.ci[0]), float(result.ci[1]))
    relative_error = abs(pf - reference) / reference if math.isfinite(pf) else math.inf
    covered = bool(ci_low <= reference <= ci_high)  # False when the interval is NaN
    return RunRow(
        problem=problem.name,
        group=problem.group,
        dimension=problem.dimension,
        reference_pf=reference,
        method=method,
        seed=seed,
        pf=pf,
        cov=float(result.cov),
        ci_low=ci_low,
        ci_high=ci_high,
        n_calls=float(result.n_calls),
        converged=bool(result.converged),
        relative_error=relative_error,
        covered=covered,
        wall_s=wall,
        result_method=str(result.method),
        message=str(result.message).replace("\n", " ")[:500],
        error="",
    )


def _run_task(
    task: tuple[BenchmarkProblem, str, int, dict[str, Any], int | None, float, bool],
) -> RunRow:
    """Worker of ``--jobs``: one run, its limit state evaluated in this process."""
    problem, method, seed, options, budget, target_cov, debug = task
    return run_one(
        problem, method, seed, options=options, max_calls=budget, target_cov=target_cov,
        executor=None, debug=debug,
    )


def run_benchmark(config: BenchmarkConfig) -> tuple[pd.DataFrame, list[str]]:
    """Run every problem x method x seed; return the rows (in plan order) and the notes."""
    methods, notes = resolve_methods(config.methods)
    plan = [
        (problem, method, run, seed)
        for problem in config.problems
        for method, run in methods
        for seed in config.seeds
    ]
    started = time.perf_counter()

    def report(index: int, row: RunRow) -> None:
        if config.quiet:
            return
        elapsed = time.perf_counter() - started
        eta = elapsed / index * (len(plan) - index)
        status = row.error[:60] if row.error else f"pf={row.pf:.3e} calls={row.n_calls:.0f}"
        print(
            f"[{index}/{len(plan)} {elapsed:6.0f}s ETA {eta:6.0f}s] "
            f"{row.problem} {row.method} seed={row.seed}: {status}",
            file=sys.stderr,
            flush=True,
        )

    rows: list[RunRow | None] = [None] * len(plan)
    if config.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        tasks = [
            (problem, method, seed, method_options(method, run, config.samples_per_level),
             config.budget(method), config.target_cov, config.debug)
            for problem, method, run, seed in plan
        ]
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=config.jobs, mp_context=context) as pool:
            futures = {pool.submit(_run_task, task): i for i, task in enumerate(tasks)}
            for done, future in enumerate(as_completed(futures), start=1):
                row = future.result()
                rows[futures[future]] = row
                report(done, row)
    else:
        from safety_val.execution import make_executor

        with make_executor(config.executor) as executor:
            for index, (problem, method, run, seed) in enumerate(plan, start=1):
                row = run_one(
                    problem,
                    method,
                    seed,
                    options=method_options(method, run, config.samples_per_level),
                    max_calls=config.budget(method),
                    target_cov=config.target_cov,
                    executor=executor,
                    debug=config.debug,
                )
                rows[index - 1] = row
                report(index, row)
    frame = pd.DataFrame(
        [asdict(row) for row in rows if row is not None], columns=list(ROW_COLUMNS)
    )
    return frame, notes


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryLine:
    """The seeds of one problem x method, summarised."""

    problem: str
    group: str
    dimension: int
    reference_pf: float
    method: str
    runs: int
    errors: int
    median_relative_error: float
    max_relative_error: float
    median_calls: float
    max_calls: float
    coverage: float
    converged: float


def summarise(rows: pd.DataFrame) -> list[SummaryLine]:
    """One line per problem x method, in the order run."""
    lines = []
    for (problem, method), group in rows.groupby(["problem", "method"], sort=False):
        calls = group["n_calls"].dropna().to_numpy(dtype=float)
        errors = group["relative_error"].to_numpy(dtype=float)
        lines.append(
            SummaryLine(
                problem=str(problem),
                group=str(group["group"].iloc[0]),
                dimension=int(group["dimension"].iloc[0]),
                reference_pf=float(group["reference_pf"].iloc[0]),
                method=str(method),
                runs=len(group),
                errors=int((group["error"] != "").sum()),
                median_relative_error=float(np.median(errors)),
                max_relative_error=float(np.max(errors)),
                median_calls=float(np.median(calls)) if calls.size else math.nan,
                max_calls=float(np.max(calls)) if calls.size else math.nan,
                coverage=float(group["covered"].to_numpy(dtype=bool).mean()),
                converged=float(group["converged"].to_numpy(dtype=bool).mean()),
            )
        )
    return lines


def render_table(summary: Sequence[SummaryLine]) -> str:
    """The summary as a fixed-width text table."""
    header = (
        f"{'problem':<26}{'d':>4} {'ref_pf':>10} {'method':<8}{'runs':>5}{'err':>4}"
        f"{'med_rel':>9}{'max_rel':>9}{'med_calls':>10}{'max_calls':>10}"
        f"{'coverage':>9}{'converged':>10}"
    )
    lines = [header, "-" * len(header)]
    for line in summary:
        lines.append(
            f"{line.problem:<26}{line.dimension:>4} {line.reference_pf:>10.3e} "
            f"{line.method:<8}{line.runs:>5}{line.errors:>4}"
            f"{_percent(line.median_relative_error):>9}{_percent(line.max_relative_error):>9}"
            f"{_number(line.median_calls):>10}{_number(line.max_calls):>10}"
            f"{line.coverage:>9.0%}{line.converged:>10.0%}"
        )
    return "\n".join(lines)


def _percent(value: float) -> str:
    return "inf" if not math.isfinite(value) else f"{value:.1%}"


def _number(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.0f}"


@dataclass(frozen=True)
class Target:
    """One target of issue 13 on one group of problems."""

    group: str
    label: str
    metric: str
    limit: float
    percent: bool = True


TARGETS = (
    Target("simulated", "median relative error <= 15 %", "median_relative_error", 0.15),
    Target("simulated", "max relative error <= 40 %", "max_relative_error", 0.40),
    Target("simulated", "median calls <= 2,000", "median_calls", 2_000, percent=False),
    Target("simulator-like", "median relative error <= 15 %", "median_relative_error", 0.15),
    Target("simulator-like", "max relative error <= 40 %", "max_relative_error", 0.40),
    Target("simulator-like", "median calls <= 2,000", "median_calls", 2_000, percent=False),
    Target("high-dimensional", "median relative error <= 15 %", "median_relative_error", 0.15),
    Target("high-dimensional", "median calls <= 5,000", "median_calls", 5_000, percent=False),
    Target("analytic", "median relative error <= 10 %", "median_relative_error", 0.10),
    Target("analytic", "max relative error <= 30 %", "max_relative_error", 0.30),
    Target("analytic", "median calls <= 300", "median_calls", 300, percent=False),
)
"""Per-problem targets (every problem of the group must meet them)."""
COVERAGE_TARGETS = {"simulated": 0.90, "simulator-like": 0.90, "analytic": 0.90}
"""Per-group targets on the share of runs whose 95 % interval covers the reference."""
GROUP_LABELS = {
    "simulated": "simulated cases (pf 1e-3 to 1e-7)",
    "simulator-like": "simulator-like analytic (noise, plateaus, jumps, categories)",
    "high-dimensional": f"high-dimensional analytic (d >= {HIGH_DIMENSION_MIN})",
    "analytic": f"analytic (d < {HIGH_DIMENSION_MIN})",
}


def evaluate_targets(
    summary: Sequence[SummaryLine], rows: pd.DataFrame, method: str = TARGET_METHOD
) -> list[str]:
    """One line per target of issue 13 for ``method``: met / not met, with the gap."""
    chosen = [line for line in summary if line.method == method]
    if not chosen:
        return [f"targets: not evaluated (method {method!r} was not run)"]
    lines = []
    for target in TARGETS:
        subset = [line for line in chosen if line.group == target.group]
        show = _percent if target.percent else _number
        lines.append(
            _target_line(
                f"{GROUP_LABELS[target.group]}: {target.label}",
                subset,
                _metric(target.metric),
                target.limit,
                show,
            )
        )
    for group, limit in COVERAGE_TARGETS.items():
        selected = rows[(rows["method"] == method) & (rows["group"] == group)]
        label = (
            f"target {GROUP_LABELS[group]}: 95 % interval contains the reference in "
            f">= {limit:.0%} of runs"
        )
        if selected.empty:
            lines.append(f"{label}: not evaluated (no such problem run)")
            continue
        covered = selected["covered"].to_numpy(dtype=bool)
        coverage = float(covered.mean())
        met = coverage >= limit
        gap = "" if met else f" (gap {limit - coverage:.1%})"
        lines.append(
            f"{label}: {'met' if met else 'NOT MET'}: {coverage:.1%} of {covered.size} runs{gap}"
        )
    return lines


def _metric(name: str) -> Callable[[SummaryLine], float]:
    """The summary line's attribute ``name`` as a float."""

    def value(line: SummaryLine) -> float:
        return float(getattr(line, name))

    return value


def _target_line(
    label: str,
    subset: Sequence[SummaryLine],
    metric: Callable[[SummaryLine], float],
    limit: float,
    show: Callable[[float], str],
) -> str:
    if not subset:
        return f"target {label}: not evaluated (no such problem run)"

    def value(line: SummaryLine) -> float:
        number = metric(line)
        return math.inf if math.isnan(number) else number

    failing = [line for line in subset if value(line) > limit]
    worst = max(subset, key=value)
    if not failing:
        return (
            f"target {label}: met on {len(subset)} problems "
            f"(worst {worst.problem}: {show(value(worst))})"
        )
    detail = ", ".join(f"{line.problem} {show(value(line))}" for line in failing)
    gap = show(value(worst) - limit)
    return (
        f"target {label}: NOT MET on {len(failing)}/{len(subset)} problems "
        f"({detail}; worst gap {gap})"
    )


def write_csv_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            frame.to_csv(stream, index=False)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def parse_arguments(argv: Sequence[str] | None = None) -> BenchmarkConfig:
    """Parse the command line; a bad value raises :class:`ValidationError`."""
    parser = argparse.ArgumentParser(
        description=(
            "Reliability benchmark on problems with known pf. Simulated cases: "
            f"{', '.join(SIMULATED_CASES)}. Analytic problems: {', '.join(PROBLEMS)}."
        )
    )
    parser.add_argument(
        "--suite", choices=SUITES, default="all",
        help="analytic, simulated, rare (issue 13: simulated + simulator-like analytic) or all",
    )
    parser.add_argument(
        "--problems", default="", help="comma-separated names (overrides --suite)"
    )
    parser.add_argument(
        "--methods", default=",".join(DEFAULT_METHODS), help="comma-separated method names"
    )
    parser.add_argument("--seeds", type=_positive_int, default=10, help="seeds per problem")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first..first+n-1")
    parser.add_argument(
        "--samples-per-level",
        type=_positive_int,
        default=1000,
        help="samples per level/step of the OpenTURNS baselines (subset, nais, ce_is)",
    )
    parser.add_argument(
        "--jobs", type=_positive_int, default=1,
        help="worker processes over (problem, method, seed); each run then evaluates serially",
    )
    parser.add_argument(
        "--executor", default="serial", help="serial, process or ray (only with --jobs 1)"
    )
    parser.add_argument(
        "--max-calls",
        type=_positive_int,
        default=None,
        help="call budget of auto/ais/ak and other non-baseline methods (default: the library's)",
    )
    parser.add_argument(
        "--baseline-max-calls",
        type=_positive_int,
        default=DEFAULT_MAX_CALLS,
        help=f"call budget of the baselines (default {DEFAULT_MAX_CALLS})",
    )
    parser.add_argument(
        "--mc-max-calls",
        type=_positive_int,
        default=DEFAULT_MC_MAX_CALLS,
        help=f"call budget of crude Monte Carlo (default {DEFAULT_MC_MAX_CALLS})",
    )
    parser.add_argument("--target-cov", type=float, default=0.1, help="target CoV of the methods")
    parser.add_argument(
        "--target-method",
        default=TARGET_METHOD,
        help=f"method whose results are checked against the targets (default {TARGET_METHOD})",
    )
    parser.add_argument("--out", type=Path, default=None, help="CSV of the per-run rows")
    parser.add_argument("--quiet", action="store_true", help="no per-run progress lines")
    parser.add_argument("--debug", action="store_true", help="tracebacks for errors")
    args = parser.parse_args(argv)

    methods = tuple(_names(args.methods))
    if not methods:
        raise ValidationError("no method given", field="--methods", value=args.methods)
    if args.first_seed < 0:
        raise ValidationError(
            "must be >= 0", field="--first-seed", value=args.first_seed, expected="an int >= 0"
        )
    if args.jobs > 1 and args.executor != "serial":
        raise ValidationError(
            "--jobs > 1 runs each limit state serially in its worker",
            field="--executor", value=args.executor, expected="serial with --jobs > 1",
        )
    problems = select_problems(args.suite, _names(args.problems))
    if not problems:
        raise ValidationError("no problem selected", field="--problems", value=args.problems)
    return BenchmarkConfig(
        problems=problems,
        methods=methods,
        seeds=tuple(range(args.first_seed, args.first_seed + args.seeds)),
        samples_per_level=args.samples_per_level,
        executor=args.executor,
        max_calls=args.max_calls,
        baseline_max_calls=args.baseline_max_calls,
        target_cov=args.target_cov,
        out=args.out,
        quiet=args.quiet,
        debug=args.debug,
        target_method=args.target_method,
        mc_max_calls=args.mc_max_calls,
        jobs=args.jobs,
        suite=args.suite,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit code 2 for bad input."""
    try:
        config = parse_arguments(argv)
        rows, notes = run_benchmark(config)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"note: {note}")
    if rows.empty:
        print("no run: none of the requested methods is available")
        return 0
    summary = summarise(rows)
    print(
        f"seeds {config.seeds[0]}..{config.seeds[-1]}, target_cov {config.target_cov}, "
        f"baselines at {config.samples_per_level} samples per level "
        f"(budget {config.baseline_max_calls} calls), mc budget {config.mc_max_calls}, "
        f"executor {config.executor}, jobs {config.jobs}"
    )
    print(render_table(summary))
    print()
    print(f"targets for method {config.target_method!r}:")
    for line in evaluate_targets(summary, rows, config.target_method):
        print(line)
    errors = rows[rows["error"] != ""]
    if not errors.empty:
        print(f"\n{len(errors)} run(s) raised; first: {errors['error'].iloc[0]}")
    if config.out is not None:
        write_csv_atomically(rows, config.out)
        print(f"wrote {len(rows)} rows to {config.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
