"""``safety-val run``: the whole pipeline of one scenario (see :mod:`safety_val.pipeline`)."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safety_val.cli.common import (
    ExecutorOption,
    OnErrorOption,
    RankOnOption,
    RayAddressOption,
    WorkersOption,
    open_executor,
    progress_bar,
    say,
    stdout,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to ``app``."""
    app.command("run")(run)


def run(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    budget: Annotated[
        int | None,
        typer.Option(help="Simulation budget of the reliability stage (default: the method's).",
                     min=10),
    ] = None,
    target: Annotated[
        float, typer.Option(help="Acceptance target: tolerable pf per exposure, in (0, 1).")
    ] = 1e-7,
    n_doe: Annotated[
        int, typer.Option("--n-doe", help="Design of experiments size.", min=10)
    ] = 1000,
    method: Annotated[str, typer.Option(help="Reliability method.")] = "auto",
    reduce: Annotated[
        str, typer.Option(help="Reduced scenario: auto (if the check agrees) | never | always.")
    ] = "auto",
    ambiguity: Annotated[
        str | None, typer.Option(help="Worst-case ambiguity set: '1sd', 'odd' or 'none'.")
    ] = "1sd",
    seed: Annotated[int, typer.Option(help="Seed of every stage.", min=0)] = 0,
    stages: Annotated[
        str | None,
        typer.Option(help="Comma-separated stages to run (default: all): doe, sensitivity, "
                     "reliability, regions, robustness, report."),
    ] = None,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default: runs/<scenario>-run-<time>)."),
    ] = None,
    on_error: OnErrorOption = "exclude",
    rank_on: RankOnOption = "auto",
) -> None:
    """Run DOE → sensitivity → reduction → reliability → regions → robustness → report.

    Every stage is stored in the run directory; running the same command with the same
    --out resumes after a kill (stages done are skipped, simulations done are re-used).
    """
    from safety_val._validation import Interval, OneOf, check_value
    from safety_val.pipeline import PipelineConfig, run_pipeline
    from safety_val.reliability import MAX_MAX_CALLS, MIN_MAX_CALLS, ON_ERROR
    from safety_val.scenario import load_scenario
    from safety_val.sensitivity.analyze import RANK_ON

    if budget is not None:
        check_value(budget, [Interval(int, MIN_MAX_CALLS, MAX_MAX_CALLS)], field="--budget")
    check_value(on_error, [OneOf(*ON_ERROR)], field="--on-error")
    check_value(rank_on, [OneOf(*RANK_ON)], field="--rank-on")

    config = PipelineConfig(
        budget=budget, target=target, seed=seed, n_doe=n_doe, method=method, reduce=reduce,
        ambiguity=None if (ambiguity or "").lower() in ("", "none") else ambiguity,
        on_error=on_error, rank_on=rank_on,
    )
    chosen = None if stages is None else [s.strip() for s in stages.split(",") if s.strip()]
    if out is None:
        name = load_scenario(scenario_file).name
        out = Path("runs") / f"{name}-run-{datetime.now():%Y%m%d-%H%M%S}"
    with (
        open_executor(executor, workers, ray_address) as pool,
        progress_bar(f"pipeline → {out}") as tick,
    ):
        result = run_pipeline(
            scenario_file, out, config=config, executor=pool, stages=chosen,
            progress=lambda stage, done, total: tick(done, total),
            say=lambda line: say(escape(line)),
        )
    table = Table(title=f"{escape(str(scenario_file))} → {escape(str(out))}")
    table.add_column("stage")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    for stage, record in result.stages.items():
        table.add_row(stage, record["status"], f"{record['seconds']:.1f}")
    stdout.print(table)
    if result.pf is not None and result.ci is not None:
        lo, hi = result.ci
        stdout.print(
            f"verdict: {result.verdict} (target pf ≤ {target:g} per exposure); pf = "
            f"{result.pf:.4g}, 95 % interval {lo:.3g} – {hi:.3g}, β = {result.beta:.2f}, "
            f"{result.n_calls} simulator calls ({result.method})",
            markup=False, highlight=False,
        )
        n_errors = _failed_runs(out)
        if n_errors:
            stdout.print(
                f"failed runs (error/timeout): {n_errors} of {result.n_calls}, excluded from "
                "the estimate; the interval's upper end assumes they could all have failed",
                markup=False, highlight=False,
            )
        from safety_val.reliability.result import crude_mc_calls

        needed = crude_mc_calls(result.pf, result.cov)
        if math.isfinite(needed):
            stdout.print(
                f"crude Monte Carlo would need about {needed:.3g} simulations for the same "
                f"CoV ({result.cov:.3g}): {needed / max(1, result.n_calls or 1):.3g} x more"
                + ("" if result.converged else "; the estimate did not converge"),
                markup=False, highlight=False,
            )
    for file in result.files:
        say(f"report: {escape(str(file))}")


def _failed_runs(run: Path) -> int:
    """Failed simulations (error/timeout) of the reliability stage's estimate."""
    from safety_val.reliability.persistence import load_result_report

    saved = load_result_report(run / "reliability")["result"]
    return int(saved.get("n_errors") or 0)
