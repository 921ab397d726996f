"""``safety-val sensitivity|estimate|robustness|regions``: the analyses of one scenario."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safety_val.cli.common import (
    ExecutorOption,
    OnErrorOption,
    RankOnOption,
    RayAddressOption,
    ReferenceSizeOption,
    ScenarioFileOption,
    WorkersOption,
    frame_table,
    open_executor,
    progress_bar,
    say,
    stdout,
)
from safety_val.errors import ValidationError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``sensitivity``, ``estimate``, ``robustness`` and ``regions`` commands."""
    app.command("sensitivity")(sensitivity)
    app.command("estimate")(estimate)
    app.command("robustness")(robustness)
    app.command("regions")(regions)


# -- sensitivity --------------------------------------------------------------------------------


def sensitivity(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    n: Annotated[int, typer.Option("--n", help="Simulations per sampling scheme.", min=1)] = 1024,
    methods: Annotated[
        str, typer.Option(help="Comma-separated: morris, sobol, delta, rbd_fast, pawn.")
    ] = "morris,sobol,delta",
    output: Annotated[
        str | None, typer.Option(help="A KPI to analyse instead of the margin g.")
    ] = None,
    nominal: Annotated[
        str, typer.Option(help="Value of the fixed parameters: median | mean | random.")
    ] = "median",
    holdout: Annotated[
        int, typer.Option(help="Held-out scenarios to check the reduction (0: skip).", min=0)
    ] = 500,
    samples: Annotated[
        Path | None,
        typer.Option(help="A 'simulate' run directory: analyse its samples (no new simulations)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder (default: runs/<scenario>-sensitivity-<time>)."
        ),
    ] = None,
    rank_on: RankOnOption = "auto",
) -> None:
    """Rank the parameters, select the influential ones and write the reduced scenario.

    Simulations are stored in OUT/evaluations: re-running with the same --out and seed
    reuses them. With --samples, the given-data methods (delta, rbd_fast, pawn) analyse
    an existing simulated design instead. --rank-on auto ranks the failure label only when
    it has enough failures, else the continuous margin g (or --output).
    """
    import matplotlib

    matplotlib.use("Agg")
    from safety_val._validation import OneOf, check_value
    from safety_val.pipeline import sensitivity_stage
    from safety_val.scenario import load_scenario
    from safety_val.sensitivity import METHODS
    from safety_val.sensitivity.analyze import RANK_ON

    check_value(rank_on, [OneOf(*RANK_ON)], field="--rank-on")
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:  # refused before anything is simulated or written
        raise ValidationError(
            f"unknown sensitivity method {unknown[0]!r}" if unknown else "no method given",
            field="--methods",
            value=methods,
            expected=f"names among {', '.join(METHODS)}",
        )
    s = load_scenario(scenario_file)
    if out is None:
        out = Path("runs") / f"{s.name}-sensitivity-{datetime.now():%Y%m%d-%H%M%S}"
    with (
        open_executor(executor, workers, ray_address) as pool,
        progress_bar(f"sensitivity of {s.name}") as tick,
    ):
        outcome = sensitivity_stage(
            s,
            out,
            samples=samples,
            n=n,
            methods=chosen,
            output=output,
            nominal=nominal,
            holdout=holdout,
            seed=seed,
            executor=pool,
            progress=lambda done: tick(done, None),
            scenario_file=scenario_file,
            rank_on=rank_on,
        )
    result, check = outcome.analysis, outcome.check
    table = Table(title=f"{s.name}: parameter ranking of {result.output} → {out}")
    marked = "above_noise" in result.ranking.columns
    for column in ("rank", "parameter", "selected", *(["vs noise floor"] if marked else [])):
        table.add_column(column)
    for record in result.ranking.to_dict("records"):
        cells = [
            str(record["rank"]),
            str(record["parameter"]),
            "yes" if record["parameter"] in result.selected else "",
        ]
        if marked:
            cells.append("above" if record["above_noise"] else "≈ noise")
        table.add_row(*cells)
    stdout.print(table)
    costs = ", ".join(f"{k} {v}" for k, v in result.costs.items())
    stdout.print(f"simulator calls: {costs}", markup=False)
    if check is not None:
        stdout.print(
            f"reduction check on {check.n_holdout} held-out scenarios: agreement "
            f"{check.agreement:.3f}, false passes {check.false_pass}, false fails "
            f"{check.false_fail}, kappa {check.kappa:.3f} ({check.n_calls} simulations)",
            markup=False,
        )
    for note in result.notes:
        stdout.print(f"note: {note}", markup=False, highlight=False)
    stdout.print(f"reduced scenario: {outcome.reduced_file}", markup=False)


# -- estimate -----------------------------------------------------------------------------------


def estimate(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    method: Annotated[
        str, typer.Option(help="auto | ak | nais | subset | ce_is | mc | ...")
    ] = "auto",
    target_cov: Annotated[float, typer.Option(help="Target coefficient of variation.")] = 0.1,
    max_calls: Annotated[
        int | None, typer.Option(help="Simulation budget (default: the method's).", min=10)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed repeats the same run.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Concrete scenarios per task.", min=1)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default: runs/<scenario>-pf-<time>)."),
    ] = None,
    on_error: OnErrorOption = "exclude",
) -> None:
    """Estimate the failure probability of a logical scenario (every simulation is stored).

    Re-running with the same --out, method and seed resumes: scenarios already simulated
    are read from the run directory instead of being simulated again. Simulations that
    end in error or timeout are counted and left out of the estimate; the interval's
    upper end assumes they could all have been failures (--on-error raise stops instead).
    """
    from safety_val._validation import Interval, OneOf, check_value
    from safety_val.pipeline import estimate_stage
    from safety_val.reliability import MAX_MAX_CALLS, MIN_MAX_CALLS, ON_ERROR, get_method
    from safety_val.scenario import load_scenario

    # refused before anything is written
    get_method(method)
    check_value(on_error, [OneOf(*ON_ERROR)], field="--on-error")
    if max_calls is not None:
        check_value(max_calls, [Interval(int, MIN_MAX_CALLS, MAX_MAX_CALLS)], field="--max-calls")
    check_value(target_cov, [Interval(float, 0, 1, closed="neither")], field="--target-cov")
    s = load_scenario(scenario_file)
    if out is None:
        out = Path("runs") / f"{s.name}-pf-{datetime.now():%Y%m%d-%H%M%S}"
    with (
        open_executor(executor, workers, ray_address) as pool,
        progress_bar(f"estimating pf of {s.name}") as tick,
    ):
        result, new_simulations = estimate_stage(
            s,
            scenario_file,
            out,
            method=method,
            target_cov=target_cov,
            max_calls=max_calls,
            seed=seed,
            executor=pool,
            batch_size=batch_size,
            progress=lambda done: tick(done, max_calls),
            options={"on_error": on_error},
            on_error=on_error,
        )
    lo, hi = result.ci
    table = Table(title=f"{s.name}: P(g ≤ 0) by {result.method} → {out}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("pf", f"{result.pf:.4g}")
    table.add_row("95 % interval", f"{lo:.3g} – {hi:.3g}")
    table.add_row("β (sigma)", f"{result.beta:.3f}")
    table.add_row("CoV", f"{result.cov:.3g}")
    reused = result.n_calls - new_simulations
    table.add_row(
        "simulator calls",
        f"{result.n_calls}" + (f" ({reused} read back from the run folder)" if reused > 0 else ""),
    )
    if result.n_errors:
        table.add_row("failed runs (error/timeout)", failed_runs_text(result))
        excluded = result.details.get("ci_excluding_errors")
        if isinstance(excluded, list | tuple) and len(excluded) == 2:
            table.add_row("interval without them", f"{excluded[0]:.3g} – {excluded[1]:.3g}")
    needed = result.crude_mc_calls
    if math.isfinite(needed):
        table.add_row("crude MC for the same CoV", f"{needed:.3g} simulations")
    table.add_row("converged", "yes" if result.converged else "[red]no[/]")
    stdout.print(table)
    if result.message:
        stdout.print(result.message, markup=False, highlight=False)


def failed_runs_text(result: Any) -> str:
    """``"12 of 3000 (0.4%), excluded from pf"``: the failed simulations of ``result``."""
    share = result.n_errors / max(1, result.n_calls)
    return f"{result.n_errors} of {result.n_calls} ({share:.1%}), excluded from pf"


# -- robustness and critical regions -----------------------------------------------------------


def _reliability_run(run: Path, scenario_file: Path | None) -> tuple[Any, Any]:
    """The saved result of an ``estimate`` run and its scenario (checked to be the same file)."""
    from safety_val.reliability.persistence import load_result, load_result_report
    from safety_val.scenario import load_scenario

    report = load_result_report(run)
    file = scenario_file or Path(str(report.get("scenario_file") or ""))
    if not str(file):
        raise ValidationError(
            "the run does not name its scenario file",
            file=run / "result.json",
            field="scenario_file",
            expected="pass --scenario",
        )
    scenario = load_scenario(file)
    if report.get("scenario_sha256") != scenario.source_sha256:
        raise ValidationError(
            "the run directory was made from another scenario (or the file changed since)",
            file=run / "result.json",
            field="scenario_sha256",
            value=report.get("scenario"),
            expected=f"a run of {file} as it is now",
        )
    return load_result(run), scenario


def _reference_sample(
    result: Any, scenario: Any, run: Path, pool: Any, n: int, seed: int, tick: Any
) -> Any:
    """The importance sample shared by robustness and regions (stored in RUN/reference)."""
    from safety_val.pipeline import reference_sample

    return reference_sample(
        result, scenario, run, n=n, seed=seed, executor=pool, progress=lambda d: tick(d, None)
    )


def robustness(
    run: Annotated[Path, typer.Argument(help="A run directory written by 'safety-val estimate'.")],
    shift: Annotated[
        list[str] | None,
        typer.Option(
            help="What-if shift, e.g. rain_intensity=+2sd, cut_in_gap=-1sd, ego_speed=x1.5."
        ),
    ] = None,
    ambiguity: Annotated[
        str | None, typer.Option(help="Worst case with each mean within ±k sd ('1sd') or 'odd'.")
    ] = None,
    n_reference: ReferenceSizeOption = 1000,
    max_calls: Annotated[
        int,
        typer.Option(help="Budget of each new estimate where re-weighting is unreliable.", min=10),
    ] = 2000,
    scenario_file: ScenarioFileOption = None,
    seed: Annotated[int, typer.Option(help="Seed.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Safety margins in sigma, pf under distribution shifts, sensitivities and the worst case."""
    import matplotlib

    matplotlib.use("Agg")
    from safety_val import regions as regions_analysis
    from safety_val import robustness as robustness_analysis
    from safety_val.pipeline import robustness_stage

    shifts = [robustness_analysis.parse_shift(text) for text in shift or []] or None
    result, scenario = _reliability_run(run, scenario_file)
    with (
        open_executor(executor, workers, ray_address) as pool,
        progress_bar(f"robustness of {scenario.name}") as tick,
    ):
        evaluator, sample = _reference_sample(result, scenario, run, pool, n_reference, seed, tick)
        # margins per failure mode of the critical regions (one per connected region)
        modes = regions_analysis.analyze(result, scenario=scenario, sample=sample, seed=seed)
        analysis = robustness_stage(
            result,
            run,
            evaluator=evaluator,
            sample=sample,
            shifts=shifts,
            ambiguity=ambiguity,
            max_calls=max_calls,
            seed=seed,
            modes=modes,
        )
    stdout.print(
        frame_table(analysis.margins, f"{scenario.name}: safety margin (β = {analysis.beta:.2f} σ)")
    )
    columns = ["parameter", "shift", "pf", "ci_low", "ci_high", "ratio_to_nominal", "ess", "how"]
    stdout.print(frame_table(analysis.shifts[columns], "pf under distribution shifts"))
    worst = analysis.worst_case
    if worst is not None:
        stdout.print(
            f"worst case: {json.dumps(worst if isinstance(worst, dict) else worst.to_dict())}",
            markup=False,
            highlight=False,
        )
    for note in analysis.notes:
        stdout.print(f"note: {note}", markup=False, highlight=False)
    say(f"wrote {escape(str(run / 'robustness.json'))} and tornado.png")


def regions(
    run: Annotated[Path, typer.Argument(help="A run directory written by 'safety-val estimate'.")],
    export_xosc: Annotated[
        Path | None,
        typer.Option(help="Write the most critical scenarios of each mode as .xosc here "
                     "(a new or empty folder)."),
    ] = None,
    per_mode: Annotated[int, typer.Option(help="Critical scenarios exported per mode.", min=1)] = 3,
    n_reference: ReferenceSizeOption = 1000,
    scenario_file: ScenarioFileOption = None,
    seed: Annotated[int, typer.Option(help="Seed.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Export into a folder that holds files: replace the "
                     "files of an earlier export."),
    ] = False,
) -> None:
    """Failure modes with their pf share, design point and readable rules; replayable .xosc."""
    import matplotlib

    matplotlib.use("Agg")
    from safety_val.pipeline import regions_stage
    from safety_val.regions.export import check_export_folder

    if export_xosc is not None:  # refused before anything is simulated or written
        check_export_folder(export_xosc, force=force)
    result, scenario = _reliability_run(run, scenario_file)
    with (
        open_executor(executor, workers, ray_address) as pool,
        progress_bar(f"critical regions of {scenario.name}") as tick,
    ):
        _, sample = _reference_sample(result, scenario, run, pool, n_reference, seed, tick)
        found, written = regions_stage(
            result, scenario, run, sample=sample, seed=seed, export_xosc=export_xosc,
            per_mode=per_mode, force=force,
        )
    summary = found.modes[["mode", "share", "pf", "ci_low", "ci_high", "beta", "n_failures"]]
    stdout.print(frame_table(summary, f"{scenario.name}: failure modes"))
    for row in found.rules.itertuples(index=False):
        stdout.print(
            f"mode {row.mode}: {row.rule}   (precision {row.precision:.2f}, recall "
            f"{row.recall:.2f}; held out: {row.precision_holdout:.2f}, {row.recall_holdout:.2f})",
            markup=False,
            highlight=False,
        )
    for note in found.notes:
        stdout.print(f"note: {note}", markup=False, highlight=False)
    if export_xosc is not None:
        say(
            f"wrote {len(written)} OpenSCENARIO files (+ .xodr roads) to {escape(str(export_xosc))}"
        )


