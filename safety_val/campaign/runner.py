"""Running a campaign: each job in its own resumable run directory, then the regression test.

:func:`run_campaign` runs the jobs through
:func:`safety_val.execution.base.map_with_executor`: an executor that can nest (Ray) runs
the jobs themselves as tasks, each sending its batches to the same cluster; any other
runs them one after another, parallelising their batches. Each job's result is compared
with the previous run of the same job (:mod:`safety_val.campaign.regression`), appended
to the history (:mod:`safety_val.campaign.history`) and summarised
(:mod:`safety_val.campaign.summary`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import yaml

from safety_val._io import atomic_write_text
from safety_val.campaign.definition import Campaign, Job, _sha256_json, effective_scenario
from safety_val.campaign.history import RunHistory, normalise
from safety_val.campaign.regression import TEST_DESCRIPTION, compare_estimates
from safety_val.campaign.summary import _json_number, is_true, write_summary
from safety_val.errors import ValidationError
from safety_val.execution.base import map_with_executor

if TYPE_CHECKING:
    from safety_val.execution.base import Executor
    from safety_val.scenario import LogicalScenario

__all__ = ["CampaignRun", "JobOutcome", "run_campaign", "run_job"]

_JOB_FILE: Final = "campaign_job.json"


@dataclass(frozen=True)
class JobOutcome:
    """What one job produced (or why it failed).

    Attributes
    ----------
    key
        The job key.
    run_dir
        The job's run directory.
    pf, cov, ci_low, ci_high, beta
        The estimate (NaN when the job failed).
    n_calls
        Limit-state calls of the estimate.
    new_simulations
        Simulations this run actually ran (0 for a re-used job).
    method, converged
        The method that produced the estimate, and whether it converged.
    scenario_file
        The scenario file the job ran (the derived one when ``fixed`` overrides exist).
    reused
        Whether a finished run directory was re-used.
    seconds
        Wall time of the job in this campaign run.
    error
        One-line reason when the job failed, else ``""``.
    """

    key: str
    run_dir: str
    pf: float = math.nan
    cov: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    beta: float = math.nan
    n_calls: int = 0
    new_simulations: int = 0
    method: str = ""
    converged: bool = False
    scenario_file: str = ""
    reused: bool = False
    seconds: float = 0.0
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (NaN becomes ``None``)."""
        return {k: _json_number(v) for k, v in dataclasses.asdict(self).items()}


def run_job(job: Job, folder: str | Path, *, executor: Executor | None = None) -> JobOutcome:
    """Run one job in ``folder`` (resumable); a finished folder of the same job is re-used.

    Parameters
    ----------
    job
        The job.
    folder
        Its run directory (a ``safety-val estimate`` run directory for ``"estimate"``).
    executor
        Where simulation batches run (default: serial).

    Returns
    -------
    JobOutcome
    """
    from safety_val.scenario import load_scenario

    start = time.perf_counter()
    root = Path(folder)
    marker = root / _JOB_FILE
    identity = job.identity()
    if marker.is_file():
        try:
            saved = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        if isinstance(saved, dict) and saved.get("identity") == identity:
            fields = {k: _float_or_nan(v) for k, v in saved["outcome"].items()}
            outcome = JobOutcome(**fields)
            return dataclasses.replace(
                outcome, reused=True, new_simulations=0, seconds=time.perf_counter() - start
            )
    scenario_file = job.entry.file
    if job.entry.fixed:
        scenario_file = _write_effective_scenario(job, root.parent / f"{root.name}.scenario.yaml")
    scenario = load_scenario(scenario_file)
    if job.analysis == "estimate":
        outcome = _run_estimate(job, scenario, scenario_file, root, executor)
    else:
        outcome = _run_pipeline(job, scenario_file, root, executor)
    outcome = dataclasses.replace(outcome, seconds=time.perf_counter() - start)
    saved = {"identity": identity, "outcome": outcome.to_dict()}
    atomic_write_text(marker, json.dumps(saved, indent=2, allow_nan=False) + "\n")
    return outcome


def _run_estimate(
    job: Job,
    scenario: LogicalScenario,
    scenario_file: Path,
    root: Path,
    executor: Executor | None,
) -> JobOutcome:
    from safety_val.pipeline import estimate_stage

    result, new_simulations = estimate_stage(
        scenario,
        scenario_file,
        root,
        method=job.entry.method,
        target_cov=job.entry.target_cov,
        max_calls=job.budget,
        seed=job.entry.seed,
        executor=executor,
        options=job.entry.options,
        campaign_job=job.identity(),
    )
    return JobOutcome(
        key=job.key,
        run_dir=str(root),
        pf=float(result.pf),
        cov=float(result.cov),
        ci_low=float(result.ci[0]),
        ci_high=float(result.ci[1]),
        beta=float(result.beta),
        n_calls=int(result.n_calls),
        new_simulations=int(new_simulations),
        method=result.method,
        converged=bool(result.converged),
        scenario_file=str(scenario_file),
    )


def _run_pipeline(
    job: Job, scenario_file: Path, root: Path, executor: Executor | None
) -> JobOutcome:
    """The whole pipeline (``safety_val.pipeline.run_pipeline``); its pf from its result.json."""
    from safety_val.pipeline import run_pipeline
    from safety_val.reliability.persistence import RESULT_FILE, load_result_report

    run_pipeline(
        scenario_file, root, config=job.entry.pipeline_config(job.budget), executor=executor
    )
    preferred = root / "reliability" / RESULT_FILE  # where run_pipeline saves its estimate
    found = (
        [preferred]
        if preferred.is_file()
        else sorted(root.rglob(RESULT_FILE), key=lambda p: len(p.parts))
    )
    if not found:
        raise ValidationError(
            "the pipeline wrote no reliability result", file=root, expected=RESULT_FILE
        )
    report = load_result_report(found[0].parent)
    result = report["result"]
    ci = result.get("ci") or [None, None]
    return JobOutcome(
        key=job.key,
        run_dir=str(root),
        pf=_float_or_nan(result.get("pf")),
        cov=_float_or_nan(result.get("cov")),
        ci_low=_float_or_nan(ci[0]),
        ci_high=_float_or_nan(ci[1]),
        beta=_float_or_nan(result.get("beta")),
        n_calls=int(result.get("n_calls") or 0),
        new_simulations=int(report.get("new_simulations") or result.get("n_calls") or 0),
        method=str(result.get("method") or ""),
        converged=bool(result.get("converged")),
        scenario_file=str(scenario_file),
    )


def _write_effective_scenario(job: Job, target: Path) -> Path:
    """Write the scenario with the job's overrides to ``target`` (if changed); return it."""
    from safety_val.formats.scenario_yaml import scenario_to_dict
    from safety_val.scenario import load_scenario

    target.parent.mkdir(parents=True, exist_ok=True)
    rebuilt = effective_scenario(load_scenario(job.entry.file), job.entry.fixed)
    body = scenario_to_dict(rebuilt, relative_to=target.parent)
    text = (
        f"# {job.entry.file.name} with the overrides of campaign job {job.entry.name}: "
        f"{json.dumps(dict(job.entry.fixed), sort_keys=True)}\n"
        + yaml.safe_dump({"scenario": body}, sort_keys=False, allow_unicode=True)
    )
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        atomic_write_text(target, text)
    return target


def _run_job_safely(job: Job, folder: Path, executor: Executor | None) -> JobOutcome:
    """:func:`run_job`, with a failure turned into an outcome that names it."""
    start = time.perf_counter()
    try:
        return run_job(job, folder, executor=executor)
    except Exception as exc:  # one failed job must not lose the others' results
        text = str(exc).strip()
        first = text.splitlines()[0] if text else ""
        return JobOutcome(
            key=job.key,
            run_dir=str(folder),
            seconds=time.perf_counter() - start,
            error=f"{type(exc).__name__}: {first}",
        )


def _run_job_task(task: tuple[Job, Path], executor: Executor | None) -> JobOutcome:
    """One job as a task of :func:`~safety_val.execution.base.map_with_executor`."""
    job, folder = task
    return _run_job_safely(job, folder, executor)


@dataclass(frozen=True)
class CampaignRun:
    """The outcome of one campaign run.

    Attributes
    ----------
    campaign
        The campaign.
    run_id, run_time
        Identify the run in the history (``run_time`` is UTC, ISO 8601).
    out
        The campaign folder (job run directories, derived scenarios, reports).
    results
        One row per job, columns :data:`safety_val.campaign.history.HISTORY_COLUMNS`.
    errors
        ``job key → reason`` of jobs that failed.
    history
        The history folder.
    unreadable_history
        ``(file, reason)`` of history files that could not be read (skipped).
    report_files
        The summary reports written (JSON, HTML).
    """

    campaign: Campaign
    run_id: str
    run_time: str
    out: Path
    results: pd.DataFrame
    errors: Mapping[str, str]
    history: Path
    unreadable_history: tuple[tuple[str, str], ...] = ()
    report_files: tuple[Path, ...] = ()

    @property
    def reasons(self) -> list[str]:
        """Why the run fails (empty when it passes)."""
        out = [f"{key}: job failed: {reason}" for key, reason in self.errors.items()]
        for row in self.results.itertuples(index=False):
            if row.verdict == "not met":
                out.append(
                    f"{row.job}: target missed: pf 95 % interval [{row.ci_low:.3g}, "
                    f"{row.ci_high:.3g}] above the target {row.target:.3g}"
                )
            if is_true(row.regression):
                out.append(
                    f"{row.job}: pf got significantly worse than in run {row.previous_run_id}: "
                    f"ratio {row.ratio:.3g}, z = {row.z:.2f}, p = {row.p_value:.2g} < "
                    f"{row.alpha:.2g}"
                    if math.isfinite(_as_float(row.z))
                    else f"{row.job}: pf interval now lies above that of run {row.previous_run_id}"
                )
        return out

    @property
    def exit_code(self) -> int:
        """0 when every target is met or undecided and nothing regressed, else 1."""
        return 1 if self.reasons else 0

    @property
    def alpha_per_job(self) -> float:
        """The level each compared job was tested at (α / number of compared jobs)."""
        compared = int(self.results["previous_run_id"].notna().sum())
        return self.campaign.alpha / max(compared, 1)

    def to_dict(self) -> dict[str, Any]:
        """The campaign summary (the JSON report)."""
        compared = int(self.results["previous_run_id"].notna().sum())
        return {
            "schema": "safety-val/campaign-summary/1",
            "campaign": self.campaign.name,
            "description": self.campaign.description,
            "campaign_file": str(self.campaign.source) if self.campaign.source else None,
            "run_id": self.run_id,
            "run_time": self.run_time,
            "status": "passed" if self.exit_code == 0 else "failed",
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            "regression_test": {
                "description": TEST_DESCRIPTION,
                "alpha": self.campaign.alpha,
                "jobs_compared": compared,
                "alpha_per_job": self.alpha_per_job,
            },
            "jobs": [
                {k: _json_number(v) for k, v in row.items()}
                for row in self.results.astype(object)
                .where(self.results.notna(), None)
                .to_dict("records")
            ],
            "errors": dict(self.errors),
            "history": str(self.history),
            "unreadable_history": [{"file": f, "reason": r} for f, r in self.unreadable_history],
        }


def run_campaign(
    campaign: Campaign,
    out: str | Path | None = None,
    *,
    executor: Executor | None = None,
    history: str | Path | None = None,
    run_id: str | None = None,
    progress: Callable[[int, int, JobOutcome], None] | None = None,
) -> CampaignRun:
    """Run every job of ``campaign``, test for regressions, append to the history, report.

    Parameters
    ----------
    campaign
        From :func:`load_campaign`.
    out
        The campaign folder (default ``runs/campaigns/<name>``): ``jobs/<job>/`` run
        directories (``jobs/<job>.scenario.yaml``: the scenario with the job's ``fixed``
        overrides), ``reports/<run_id>.*`` and ``summary.json`` / ``summary.html`` of the
        latest run.
    executor
        Serial (default), process or Ray. With an executor that nests (Ray) the jobs run
        as its tasks, each sending its batches to the same cluster; otherwise jobs run one
        after another.
    history
        The history folder (default: ``history`` beside ``out``).
    run_id
        Id of this run in the history (default: UTC time plus a random suffix).
    progress
        Called with ``(jobs done, jobs in all, outcome)`` after every job.

    Returns
    -------
    CampaignRun
        With :attr:`CampaignRun.exit_code` 1 when a target is missed, a pf regressed
        significantly, or a job failed.

    Notes
    -----
    The regression test is described in :mod:`safety_val.campaign.regression`: a one-sided z-test
    on ln pf against the previous run of the same job (same campaign name and job key),
    at α/m for the m compared jobs (Bonferroni), so a run raises a false alarm with
    probability at most α.
    """
    folder = Path(out) if out is not None else Path("runs") / "campaigns" / campaign.name
    history_path = Path(history) if history is not None else folder.parent / "history"
    now = datetime.now(UTC)
    run_id = run_id or f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    # microseconds: a re-used run finishes within the second it starts, and the history orders
    # runs by run_time (the next run must never sort before it)
    run_time = now.isoformat(timespec="microseconds")
    jobs = campaign.jobs()
    folders = [(folder / "jobs" / job.folder_name).resolve() for job in jobs]
    outcomes: dict[str, JobOutcome] = {}

    def finished(outcome: JobOutcome) -> None:
        outcomes[outcome.key] = outcome
        if progress is not None:
            progress(len(outcomes), len(jobs), outcome)

    # an executor that nests (Ray) runs the jobs as tasks, each with an executor on the same
    # cluster; any other runs them one after another with the executor itself
    tasks = list(zip(jobs, folders, strict=True))
    for _, outcome in map_with_executor(executor, _run_job_task, tasks):
        finished(outcome)

    store = RunHistory(history_path)
    table = store.load(campaign=campaign.name)
    previous = table.frame[table.frame["run_id"] != run_id]
    rows = [
        _history_row(campaign, job, outcomes[job.key], run_id, run_time, previous)
        for job in jobs
        if not outcomes[job.key].error
    ]
    results = normalise(pd.DataFrame(rows, columns=list(rows[0]) if rows else None))
    compared = results["previous_run_id"].notna()
    if compared.any():
        results = _test_regressions(results, previous, campaign.alpha / int(compared.sum()))
    if not results.empty:
        store.append(results)
    run = CampaignRun(
        campaign=campaign,
        run_id=run_id,
        run_time=run_time,
        out=folder,
        results=results,
        errors={k: o.error for k, o in outcomes.items() if o.error},
        history=history_path,
        unreadable_history=table.unreadable,
    )
    return dataclasses.replace(run, report_files=write_summary(run))


def _history_row(
    campaign: Campaign,
    job: Job,
    outcome: JobOutcome,
    run_id: str,
    run_time: str,
    previous: pd.DataFrame,
) -> dict[str, Any]:
    from safety_val.report.verdict import judge

    earlier = previous[previous["job"] == job.key]
    fixed = dict(sorted(job.entry.fixed.items()))
    return {
        "campaign": campaign.name,
        "run_id": run_id,
        "run_time": run_time,
        "job": job.key,
        "scenario": job.entry.scenario_name,
        "scenario_file": str(job.entry.file),
        "scenario_sha256": job.entry.scenario_sha256,
        "fixed": json.dumps(fixed, sort_keys=True),
        "fixed_sha256": _sha256_json(fixed) if fixed else "",
        "analysis": job.analysis,
        "budget": job.budget,
        "method": outcome.method,
        "seed": job.entry.seed,
        "pf": outcome.pf,
        "ci_low": outcome.ci_low,
        "ci_high": outcome.ci_high,
        "cov": outcome.cov,
        "beta": outcome.beta,
        "n_calls": outcome.n_calls,
        "new_simulations": outcome.new_simulations,
        "converged": outcome.converged,
        "target": job.entry.target,
        "verdict": judge(outcome.pf, (outcome.ci_low, outcome.ci_high), job.entry.target).status,
        "previous_run_id": None if earlier.empty else str(earlier.iloc[-1]["run_id"]),
        "ratio": math.nan,
        "z": math.nan,
        "p_value": math.nan,
        "alpha": math.nan,
        "regression": False,
        "reused": outcome.reused,
        "run_dir": outcome.run_dir,
        "safety_val_version": _version(),
        "git_commit": _git_commit(),
        "config_sha256": campaign.source_sha256,
        "seconds": outcome.seconds,
    }


def _test_regressions(results: pd.DataFrame, previous: pd.DataFrame, alpha: float) -> pd.DataFrame:
    out = results.copy()
    for i, row in out.iterrows():
        if pd.isna(row["previous_run_id"]):
            continue
        old = previous[
            (previous["job"] == row["job"]) & (previous["run_id"] == row["previous_run_id"])
        ]
        old_row = old.iloc[-1]
        test = compare_estimates(
            float(row["pf"]),
            float(row["cov"]),
            float(old_row["pf"]),
            float(old_row["cov"]),
            alpha=alpha,
            ci_new=(float(row["ci_low"]), float(row["ci_high"])),
            ci_old=(float(old_row["ci_low"]), float(old_row["ci_high"])),
        )
        out.loc[i, ["ratio", "z", "p_value", "alpha"]] = [test.ratio, test.z, test.p_value, alpha]
        out.loc[i, "regression"] = test.flagged
    return out


# -- helpers ----------------------------------------------------------------------------------


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _float_or_nan(value: Any) -> Any:
    return math.nan if value is None else value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("safety-val")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


@functools.lru_cache(maxsize=1)
def _git_commit() -> str:
    """The commit of the source tree safety-val runs from (best effort, read-only)."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return found.stdout.strip() if found.returncode == 0 else ""
