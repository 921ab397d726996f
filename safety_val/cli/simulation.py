"""``safety-val doe`` and ``safety-val simulate``: designs of experiments and their runs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safety_val.cli.common import (
    STATE,
    ExecutorOption,
    ForceOption,
    RayAddressOption,
    WorkersOption,
    check_out,
    open_executor,
    progress_bar,
    say,
    stdout,
)
from safety_val.errors import ValidationError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``doe`` and ``simulate`` commands to ``app``."""
    app.command("doe")(doe)
    app.command("simulate")(simulate)


# -- doe ----------------------------------------------------------------------------------------


def doe(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    n: Annotated[int, typer.Option("--n", help="Number of concrete scenarios.", min=1)] = 1000,
    design: Annotated[str, typer.Option(help="mc | lhs | optimal_lhs | sobol")] = "lhs",
    seed: Annotated[int, typer.Option(help="Seed of the design.", min=0)] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=".parquet or .csv to write.")
    ] = None,
    force: ForceOption = False,
) -> None:
    """Draw a design of experiments and report its coverage."""
    from safety_val._io import atomic_write_bytes
    from safety_val.doe import generate_design
    from safety_val.scenario import load_scenario

    if out is not None:
        check_out(out, inputs=[scenario_file], force=force)
    s = load_scenario(scenario_file)
    plan = generate_design(s, n, method=design, seed=seed)
    coverage = plan.coverage()
    say(
        f"{design} design of {n} concrete scenarios of '{s.name}', {coverage.dimension} dimensions"
    )
    stdout.print(f"centred L2 discrepancy: {coverage.centred_l2_discrepancy:.4g}")
    stdout.print(f"minimum pairwise distance (unit cube): {coverage.min_distance:.4g}")
    if out is not None:
        if out.suffix == ".csv":
            atomic_write_bytes(out, plan.frame.to_csv(index=False).encode())
        elif out.suffix == ".parquet":
            atomic_write_bytes(out, plan.frame.to_parquet(index=False))
        else:
            raise ValidationError(
                "unknown output format",
                field="--out",
                value=str(out),
                expected="a .parquet or .csv file",
            )
        say(f"wrote {escape(str(out))}")


# -- simulate -----------------------------------------------------------------------------------


def simulate(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    n: Annotated[int, typer.Option("--n", help="Number of concrete scenarios.", min=1)] = 10000,
    design: Annotated[str, typer.Option(help="mc | lhs | optimal_lhs | sobol")] = "lhs",
    seed: Annotated[int, typer.Option(help="Seed of the design.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Concrete scenarios per task (default: calibrated so a task runs ≥ 50 ms).", min=1
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default: runs/<scenario>-<time>)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
) -> None:
    """Simulate a design of experiments of a logical scenario into a run directory."""
    from safety_val.runs.simulate import simulate as run_simulation
    from safety_val.scenario import load_scenario

    s = load_scenario(scenario_file)
    if out is None:
        if resume:
            raise ValidationError(
                "--resume needs the run directory",
                field="--out",
                expected="the --out of the interrupted run",
            )
        out = Path("runs") / f"{s.name}-{datetime.now():%Y%m%d-%H%M%S}"
    with (
        open_executor(executor, workers, ray_address) as pool,
        progress_bar(f"simulating {s.name}") as tick,
    ):
        run = run_simulation(
            s,
            n=n,
            out=out,
            design=design,
            seed=seed,
            executor=pool,
            batch_size=batch_size,
            resume=resume,
            progress=tick,
        )
    summary = run.summary
    table = Table(title=f"{s.name}: {summary.n} concrete scenarios → {run.path}")
    table.add_column("KPI")
    for column in ("min", "mean", "max"):
        table.add_column(column, justify="right")
    for row in summary.kpis.itertuples(index=False):
        table.add_row(str(row.kpi), f"{row.min:.4g}", f"{row.mean:.4g}", f"{row.max:.4g}")
    stdout.print(table)
    lo, hi = summary.ci
    stdout.print(
        f"ok {summary.n_ok}  error {summary.n_error}  timeout {summary.n_timeout}   "
        f"failures (g ≤ 0): {summary.n_failures} = {summary.failure_fraction:.4g} "
        f"(95 % CI {lo:.3g} – {hi:.3g})"
    )
    n_bad = summary.n_error + summary.n_timeout
    if n_bad:
        wlo, whi = summary.ci if summary.ci_worst_case is None else summary.ci_worst_case
        stdout.print(
            f"error share {summary.error_share:.1%} ({n_bad} of {summary.n} rows gave no "
            f"verdict); if they hid failures: 95 % CI {wlo:.3g} – {whi:.3g}"
        )
    if not STATE["quiet"]:
        stdout.print(json.dumps({"run": str(run.path), **summary.to_dict()}))


