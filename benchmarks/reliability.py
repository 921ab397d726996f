"""Reliability benchmark: published problems with known pf, several methods, many seeds.

For each problem x method x seed it calls
:func:`safety_val.reliability.estimate_failure_probability` and compares the estimate
with the problem's reference pf (:mod:`safety_val.reliability.problems`). It prints one
line per problem and method::

    problem d ref_pf method runs err med_rel max_rel med_calls coverage converged

where ``med_rel`` / ``max_rel`` are the median / maximum of |pf - ref| / ref over seeds,
``med_calls`` the median number of limit-state calls, ``coverage`` the fraction of seeds
whose reported 95 % interval contains the reference and ``converged`` the fraction of
runs that said they converged; then one line per target of the issue (method "auto"):

* d <= 10, pf >= 1e-7: median relative error <= 10 %, max <= 30 %, median <= 500 calls;
* 20 <= d <= 100: median relative error <= 15 % with <= 5,000 calls (median);
* honesty: the 95 % interval contains the reference in >= 90 % of all runs.

A run that raises is recorded as an error row (relative error inf, not covered) and the
benchmark goes on. A method that is not registered, or whose module cannot be loaded,
is skipped with a note. The OpenTURNS baselines (``subset``, ``nais``, ``ce_is``) get
``--samples-per-level`` points per level through the method's per-level option
(``n_per_step`` today; the script looks the name up in the method's signature).

This is not part of the test suite: it takes minutes to hours.

Usage::

    python benchmarks/reliability.py                                   # everything
    python benchmarks/reliability.py --problems four_branch,RP57 --methods nais --seeds 5
    python benchmarks/reliability.py --methods auto --out runs/reliability.csv
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

from safety_val.errors import ValidationError  # noqa: E402
from safety_val.reliability.problems import PROBLEMS, ReliabilityProblem, get_problem  # noqa: E402

DEFAULT_METHODS = ("auto", "ak", "nais", "subset", "ce_is")
BASELINES = frozenset({"subset", "nais", "ce_is"})
"""OpenTURNS-based samplers run at a fixed number of samples per level."""
PER_LEVEL_OPTION_NAMES = ("n_per_step", "n_per_level", "samples_per_level", "n_samples_per_level")
"""Candidate names of the samples-per-level option, in order of preference."""
DEFAULT_MAX_CALLS = 20_000

TARGET_METHOD = "auto"
LOW_DIMENSION_MAX = 10
LOW_DIMENSION_MIN_PF = 1e-7
HIGH_DIMENSION_RANGE = (20, 100)
TARGET_LOW_MEDIAN_ERROR = 0.10
TARGET_LOW_MAX_ERROR = 0.30
TARGET_LOW_MEDIAN_CALLS = 500
TARGET_HIGH_MEDIAN_ERROR = 0.15
TARGET_HIGH_MEDIAN_CALLS = 5_000
TARGET_COVERAGE = 0.90

ROW_COLUMNS = (
    "problem",
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
class BenchmarkConfig:
    """Parsed command line."""

    problems: tuple[ReliabilityProblem, ...]
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
    problem: ReliabilityProblem,
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
        result = estimate_failure_probability(
            problem.limit_state,
            problem.distribution,
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


def run_benchmark(config: BenchmarkConfig) -> tuple[pd.DataFrame, list[str]]:
    """Run every problem x method x seed; return the rows and the notes."""
    from safety_val.execution import make_executor

    methods, notes = resolve_methods(config.methods)
    plan = [
        (problem, method, run, seed)
        for problem in config.problems
        for method, run in methods
        for seed in config.seeds
    ]
    rows: list[RunRow] = []
    started = time.perf_counter()
    with make_executor(config.executor) as executor:
        for index, (problem, method, run, seed) in enumerate(plan, start=1):
            budget = config.baseline_max_calls if method in BASELINES else config.max_calls
            row = run_one(
                problem,
                method,
                seed,
                options=method_options(method, run, config.samples_per_level),
                max_calls=budget,
                target_cov=config.target_cov,
                executor=executor,
                debug=config.debug,
            )
            rows.append(row)
            if not config.quiet:
                elapsed = time.perf_counter() - started
                eta = elapsed / index * (len(plan) - index)
                status = row.error[:60] if row.error else f"pf={row.pf:.3e} calls={row.n_calls:.0f}"
                print(
                    f"[{index}/{len(plan)} {elapsed:6.0f}s ETA {eta:6.0f}s] "
                    f"{problem.name} {method} seed={seed}: {status}",
                    file=sys.stderr,
                    flush=True,
                )
    frame = pd.DataFrame([asdict(row) for row in rows], columns=list(ROW_COLUMNS))
    return frame, notes


# --------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryLine:
    """The seeds of one problem x method, summarised."""

    problem: str
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
        f"{'problem':<13}{'d':>4} {'ref_pf':>10} {'method':<8}{'runs':>5}{'err':>4}"
        f"{'med_rel':>9}{'max_rel':>9}{'med_calls':>10}{'max_calls':>10}"
        f"{'coverage':>9}{'converged':>10}"
    )
    lines = [header, "-" * len(header)]
    for line in summary:
        lines.append(
            f"{line.problem:<13}{line.dimension:>4} {line.reference_pf:>10.3e} "
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


def evaluate_targets(
    summary: Sequence[SummaryLine], rows: pd.DataFrame, method: str = TARGET_METHOD
) -> list[str]:
    """One line per target of the issue for ``method`` (``"auto"``): met / not met, with the gap."""
    auto = [line for line in summary if line.method == method]
    if not auto:
        return [f"targets: not evaluated (method {method!r} was not run)"]
    low = [
        line
        for line in auto
        if line.dimension <= LOW_DIMENSION_MAX and line.reference_pf >= LOW_DIMENSION_MIN_PF
    ]
    lo, hi = HIGH_DIMENSION_RANGE
    high = [line for line in auto if lo <= line.dimension <= hi]
    low_label = f"d <= {LOW_DIMENSION_MAX}, pf >= {LOW_DIMENSION_MIN_PF:g}"
    high_label = f"{lo} <= d <= {hi}"

    def median_error(line: SummaryLine) -> float:
        return line.median_relative_error

    def max_error(line: SummaryLine) -> float:
        return line.max_relative_error

    def median_calls(line: SummaryLine) -> float:
        return line.median_calls

    lines = [
        _target_line(
            f"{low_label}: median relative error <= {TARGET_LOW_MEDIAN_ERROR:.0%}",
            low,
            median_error,
            TARGET_LOW_MEDIAN_ERROR,
            _percent,
        ),
        _target_line(
            f"{low_label}: max relative error <= {TARGET_LOW_MAX_ERROR:.0%}",
            low,
            max_error,
            TARGET_LOW_MAX_ERROR,
            _percent,
        ),
        _target_line(
            f"{low_label}: median calls <= {TARGET_LOW_MEDIAN_CALLS}",
            low,
            median_calls,
            TARGET_LOW_MEDIAN_CALLS,
            _number,
        ),
        _target_line(
            f"{high_label}: median relative error <= {TARGET_HIGH_MEDIAN_ERROR:.0%}",
            high,
            median_error,
            TARGET_HIGH_MEDIAN_ERROR,
            _percent,
        ),
        _target_line(
            f"{high_label}: median calls <= {TARGET_HIGH_MEDIAN_CALLS}",
            high,
            median_calls,
            TARGET_HIGH_MEDIAN_CALLS,
            _number,
        ),
    ]
    covered = rows.loc[rows["method"] == method, "covered"].to_numpy(dtype=bool)
    coverage = float(covered.mean())
    met = coverage >= TARGET_COVERAGE
    gap = "" if met else f" (gap {TARGET_COVERAGE - coverage:.1%})"
    lines.append(
        f"target 95 % interval contains the reference in >= {TARGET_COVERAGE:.0%} of runs: "
        f"{'met' if met else 'NOT MET'}: {coverage:.1%} of {covered.size} runs{gap}"
    )
    return lines


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
            "Reliability benchmark on published problems with known pf "
            f"(available: {', '.join(PROBLEMS)})."
        )
    )
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated names")
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
    parser.add_argument("--executor", default="serial", help="serial, process or ray")
    parser.add_argument(
        "--max-calls",
        type=_positive_int,
        default=None,
        help="call budget of auto/ak and other non-baseline methods (default: the library's)",
    )
    parser.add_argument(
        "--baseline-max-calls",
        type=_positive_int,
        default=DEFAULT_MAX_CALLS,
        help=f"call budget of the baselines (default {DEFAULT_MAX_CALLS})",
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

    problems = tuple(get_problem(name) for name in _names(args.problems))
    methods = tuple(_names(args.methods))
    if not problems:
        raise ValidationError("no problem given", field="--problems", value=args.problems)
    if not methods:
        raise ValidationError("no method given", field="--methods", value=args.methods)
    if args.first_seed < 0:
        raise ValidationError(
            "must be >= 0", field="--first-seed", value=args.first_seed, expected="an int >= 0"
        )
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
        f"(budget {config.baseline_max_calls} calls), executor {config.executor}"
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
