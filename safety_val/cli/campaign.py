"""CLI commands ``safety-val campaign run|compare`` and ``safety-val history`` (thin).

Exit codes of ``campaign run``: 0 when every job passed, 1 when a target is missed, a
pf got significantly worse than in the previous run, or a job failed (raised as a
:class:`~safety_val.errors.SafetyValError`, which ``safety_val.cli.main`` turns into 1);
2 for bad input.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from safety_val.cli import common as cli
from safety_val.errors import SafetyValError

__all__ = ["register"]

campaign_app = typer.Typer(
    help="Nightly campaigns: scenarios × analyses × budgets, with a history.",
    no_args_is_help=True,
)

HistoryOption = Annotated[
    Path | None,
    typer.Option(
        "--history", help="History folder (default: runs/campaigns/history, beside --out)."
    ),
]
DEFAULT_HISTORY = Path("runs") / "campaigns" / "history"


def register(app: typer.Typer) -> None:
    """Add the ``campaign`` sub-app and the ``history`` command to ``app``."""
    app.add_typer(campaign_app, name="campaign")
    app.command("history")(history)


@campaign_app.command("run")
def campaign_run(
    campaign_file: Annotated[Path, typer.Argument(help="Campaign YAML.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Campaign folder (default: runs/campaigns/NAME)."),
    ] = None,
    executor: cli.ExecutorOption = "serial",
    workers: cli.WorkersOption = None,
    ray_address: cli.RayAddressOption = None,
    history_path: HistoryOption = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of every job, overriding the campaign file.", min=0)
    ] = None,
) -> None:
    """Run a campaign resumably; exit 1 on a missed target or a significant regression."""
    from safety_val.campaign import load_campaign, run_campaign
    from safety_val.campaign.summary import is_true

    campaign = load_campaign(campaign_file)  # everything validated before anything runs
    if seed is not None:
        campaign = campaign.with_seed(seed)
    folder = out if out is not None else Path("runs") / "campaigns" / campaign.name
    jobs = campaign.jobs()
    cli.say(f"campaign [bold]{escape(campaign.name)}[/]: {len(jobs)} jobs → {escape(str(folder))}")

    with (
        cli.open_executor(executor, workers, ray_address) as pool,
        cli.progress_bar(f"campaign {campaign.name}") as tick,
    ):

        def progress(done: int, total: int, outcome: Any) -> None:
            tick(done, total)
            how = "re-used" if outcome.reused else f"{outcome.new_simulations} new simulations"
            text = (
                f"failed: {outcome.error}"
                if outcome.error
                else f"pf {outcome.pf:.3g} ({how}, {outcome.seconds:.1f} s)"
            )
            cli.stderr.print(f"  {outcome.key}: {text}", markup=False, highlight=False)

        run = run_campaign(
            campaign,
            folder,
            executor=pool,
            history=history_path if history_path is not None else folder.parent / "history",
            progress=progress,
        )
    for file, reason in run.unreadable_history:
        cli.stderr.print(
            f"warning: history file {file} is unreadable ({reason}); skipped",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    table = Table(title=f"campaign {campaign.name}, run {run.run_id}")
    for column in ("job", "pf [95 % CI]", "calls", "target", "verdict"):
        table.add_column(column)
    for column in ("vs run", "ratio", "z", "p", "worse"):
        table.add_column(column)
    for row in run.results.itertuples(index=False):
        table.add_row(
            escape(str(row.job))
            + (f"\n[dim]{escape(str(row.fixed))}[/]" if row.fixed_sha256 else ""),
            f"{_g(row.pf)} [{_g(row.ci_low)}, {_g(row.ci_high)}]",
            f"{row.n_calls}" + ("\n(re-used)" if row.reused else ""),
            _g(row.target),
            _verdict(str(row.verdict)),
            escape(str(row.previous_run_id)) if isinstance(row.previous_run_id, str) else "–",
            _g(row.ratio),
            _g(row.z),
            _g(row.p_value),
            "[red bold]YES[/]" if is_true(row.regression) else "no",
        )
    cli.stdout.print(table)
    compared = int(run.results["previous_run_id"].notna().sum())
    cli.stdout.print(
        f"regression test: {run.to_dict()['regression_test']['description']}.\n"
        f"α = {campaign.alpha:g} per run, {compared} job(s) compared at α/m = "
        f"{run.alpha_per_job:.3g} each (false-alarm rate ≤ {campaign.alpha:.0%} per run)",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    cli.stdout.print(
        f"report: {run.report_files[-1]} (+ summary.json)" if run.report_files else "",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if run.exit_code:
        cli.stdout.print("[red bold]FAILED[/]")
        for reason in run.reasons:
            cli.stdout.print(f"  {reason}", markup=False, highlight=False, soft_wrap=True)
        raise SafetyValError(
            f"campaign {campaign.name} failed: {len(run.reasons)} finding(s); "
            f"summary in {run.out / 'summary.html'}"
        )
    cli.stdout.print("[green bold]PASSED[/]")


@campaign_app.command("compare")
def campaign_compare(
    run_a: Annotated[str, typer.Argument(help="Earlier campaign run id (or a unique prefix).")],
    run_b: Annotated[str, typer.Argument(help="Later campaign run id (or a unique prefix).")],
    history_path: HistoryOption = None,
    alpha: Annotated[
        float, typer.Option(help="Family-wise false-alarm probability (Bonferroni over jobs).")
    ] = 0.01,
) -> None:
    """Compare two campaign runs job by job: pf ratio, z statistic, p-value, flag."""
    from safety_val.campaign.history import RunHistory
    from safety_val.campaign.regression import (
        TEST_DESCRIPTION,
        check_probability,
        compare_estimates,
    )

    check_probability(alpha, field="--alpha")
    store = RunHistory(history_path or DEFAULT_HISTORY)
    old, new = store.run(run_a), store.run(run_b)
    shared = [job for job in new["job"] if job in set(old["job"])]
    each = alpha / max(len(shared), 1)
    table = Table(title=f"{old['run_id'].iloc[0]} → {new['run_id'].iloc[0]}")
    for column in ("job", "pf A", "pf B", "ratio B/A", "z", "p", "flag"):
        table.add_column(column)
    flagged = 0
    for job in shared:
        a = old[old["job"] == job].iloc[-1]
        b = new[new["job"] == job].iloc[-1]
        test = compare_estimates(
            float(b["pf"]),
            float(b["cov"]),
            float(a["pf"]),
            float(a["cov"]),
            alpha=each,
            ci_new=(float(b["ci_low"]), float(b["ci_high"])),
            ci_old=(float(a["ci_low"]), float(a["ci_high"])),
        )
        flagged += test.flagged
        table.add_row(
            escape(str(job)),
            _g(float(a["pf"])),
            _g(float(b["pf"])),
            _g(test.ratio),
            _g(test.z),
            _g(test.p_value),
            "[red bold]worse[/]" if test.flagged else "",
        )
    cli.stdout.print(table)
    only = sorted(set(old["job"]) ^ set(new["job"]))
    if only:
        cli.stdout.print(f"in one run only: {', '.join(only)}", markup=False, highlight=False)
    cli.stdout.print(
        f"{TEST_DESCRIPTION}; α = {alpha:g}, {len(shared)} job(s) at {each:.3g} each: "
        f"{flagged} significantly worse",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def history(
    history_path: HistoryOption = None,
    scenario: Annotated[str | None, typer.Option(help="Only this scenario.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Only this campaign.")] = None,
) -> None:
    """Trends per scenario over the campaign runs in a history."""
    from safety_val.campaign.history import RunHistory, summarise_runs

    store = RunHistory(history_path or DEFAULT_HISTORY)
    table_data = store.load(campaign=campaign, scenario=scenario)
    for file, reason in table_data.unreadable:
        cli.stderr.print(
            f"warning: history file {file} is unreadable ({reason}); the other runs are shown",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    frame = table_data.frame
    if frame.empty:
        cli.say(f"no campaign runs in {escape(str(store.path))}")
        return
    runs = summarise_runs(frame)
    overview = Table(title=f"campaign runs in {store.path}")
    overview.add_column("run id", no_wrap=True)
    for column in ("campaign", "run time", "jobs", "targets missed", "regressions"):
        overview.add_column(column)
    for run in runs.itertuples(index=False):
        overview.add_row(
            escape(str(run.run_id)),
            escape(str(run.campaign)),
            escape(_seconds(run.run_time)),
            str(run.jobs),
            str(run.not_met),
            f"[red bold]{run.regressions!s}[/]" if run.regressions else "0",
        )
    cli.stdout.print(overview)
    for job, rows in frame.groupby("job", sort=True):
        table = Table(title=f"{job} ({rows['campaign'].iloc[0]})")
        for column in ("run time", "run id", "pf", "95 % interval", "verdict", "change"):
            table.add_column(column)
        previous: Any = None
        for row in rows.itertuples(index=False):
            table.add_row(
                escape(_seconds(row.run_time)),
                escape(str(row.run_id)),
                _g(row.pf),
                f"{_g(row.ci_low)} – {_g(row.ci_high)}",
                _verdict(str(row.verdict)),
                _change(row, previous),
            )
            previous = row
        cli.stdout.print(table)


def _change(row: Any, previous: Any) -> str:
    """The change from the previous run: ratio, the regression flag, changed inputs."""
    from safety_val.campaign.summary import is_true

    if previous is None:
        return "–"
    parts = []
    if previous.pf and not math.isnan(previous.pf) and not math.isnan(row.pf):
        parts.append(f"×{row.pf / previous.pf:.3g}")
    if is_true(row.regression):
        parts.append("[red bold]REGRESSION[/]")
    if row.fixed_sha256 != previous.fixed_sha256 or row.scenario_sha256 != previous.scenario_sha256:
        parts.append("[dim]inputs changed[/]")
    return " ".join(parts) or "–"


def _verdict(text: str) -> str:
    colour = {"met": "green", "not met": "red bold"}.get(text, "yellow")
    return f"[{colour}]{escape(text)}[/]"


def _seconds(run_time: Any) -> str:
    """An ISO 8601 run time shown to the second (the history stores microseconds)."""
    return re.sub(r"\.\d+(?=[+-]|Z|$)", "", str(run_time))


def _g(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(number) else f"{number:.3g}"
