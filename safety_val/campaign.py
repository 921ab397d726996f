"""Campaigns: scenarios × analyses × budgets × targets, run nightly, resumably, with a history.

A campaign file is YAML with a top-level ``campaign:`` mapping::

    campaign:
      name: nightly
      seed: 0                       # seed of every job (a scenario entry may override it)
      target: 1.0e-3                # default acceptance target: pf per exposure, in (0, 1)
      method: auto                  # default reliability method
      target_cov: 0.1               # default stopping CoV
      alpha: 0.01                   # family-wise false-alarm rate of the regression test
      scenarios:
        - file: ../scenarios/cut_in.yaml     # relative to the campaign file
          name: cut_in_weak_aeb              # optional job name (default: the scenario's)
          analyses: [estimate]               # estimate (pf) | pipeline (whole pipeline)
          budgets: [2000]                    # simulator-call budgets
          target: 5.0e-2
          fixed: {aeb_ttc_full: 0.6}         # overrides of the system under test
          options: {block_size: 100}         # options of the reliability method
          pipeline: {n_doe: 500, ambiguity: odd}   # settings of 'pipeline' jobs

:func:`load_campaign` validates everything before anything runs: every scenario file
is loaded (a missing one is one line naming the campaign file, the field and the
value), every ``fixed`` override is checked against the scenario's simulator template.

:func:`run_campaign` runs each *job* (scenario entry × analysis × budget) in its own run
directory under the campaign's folder, so a killed campaign resumes where it stopped and
a re-run re-uses the finished jobs. With a Ray executor the jobs themselves run as Ray
tasks (each sending its simulation batches to the same cluster as nested tasks); otherwise
they run one after another with the executor parallelising their batches. Each job's
result is compared with the previous run of the same job in the history
(:mod:`safety_val.regression`), appended to the history (:mod:`safety_val.history`) and
written to a summary report (JSON + HTML). :attr:`CampaignRun.exit_code` is 1 when a
target is missed (verdict "not met"), a pf got significantly worse, or a job failed.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd
import yaml

from safety_val._io import atomic_write_text
from safety_val._yaml import read_yaml_mapping, require_mapping
from safety_val.errors import ValidationError
from safety_val.history import RunHistory, normalise
from safety_val.regression import (
    DEFAULT_ALPHA,
    TEST_DESCRIPTION,
    check_probability,
    compare_estimates,
)

if TYPE_CHECKING:
    from safety_val.execution.base import Executor
    from safety_val.pipeline import PipelineConfig
    from safety_val.scenario import LogicalScenario

__all__ = [
    "ANALYSES",
    "Campaign",
    "CampaignEntry",
    "CampaignRun",
    "Job",
    "JobOutcome",
    "load_campaign",
    "run_campaign",
    "run_job",
]

ANALYSES: Final = ("estimate", "pipeline")
"""Analyses a campaign job can run: the reliability estimate, or the whole pipeline."""

_CAMPAIGN_KEYS: Final = {
    "name",
    "description",
    "seed",
    "target",
    "method",
    "target_cov",
    "alpha",
    "scenarios",
}
_ENTRY_KEYS: Final = {
    "file",
    "name",
    "analyses",
    "budgets",
    "target",
    "method",
    "target_cov",
    "seed",
    "fixed",
    "options",
    "pipeline",
}
#: Settings of :class:`safety_val.pipeline.PipelineConfig` an entry's ``pipeline:`` may set
#: (budget, target, seed, method and target CoV come from the entry itself).
PIPELINE_SETTINGS: Final = (
    "n_doe",
    "design",
    "reduce",
    "n_holdout",
    "n_reference",
    "ambiguity",
    "robustness_calls",
    "per_mode",
)
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_JOB_FILE: Final = "campaign_job.json"
MIN_BUDGET: Final = 10


# -- definitions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignEntry:
    """One scenario of a campaign, with its analyses, budgets, target and overrides.

    Attributes
    ----------
    name
        Job name prefix (default: the scenario's name); unique within the campaign.
    file
        The scenario file (absolute).
    scenario_name
        The logical scenario's name.
    scenario_sha256
        SHA-256 of the scenario file.
    analyses
        Names from :data:`ANALYSES`.
    budgets
        Simulator-call budgets (one job per analysis and budget).
    target
        Acceptance target: pf per exposure.
    method, target_cov, seed
        Reliability method, stopping CoV and seed of its jobs.
    fixed
        Overrides of the scenario's fixed simulator inputs (the system under test).
    options
        Keyword options of the reliability method of ``"estimate"`` jobs (e.g.
        ``block_size`` for ``"mc"``).
    pipeline
        Settings of ``"pipeline"`` jobs (names from :data:`PIPELINE_SETTINGS`).
    """

    name: str
    file: Path
    scenario_name: str
    scenario_sha256: str
    analyses: tuple[str, ...]
    budgets: tuple[int, ...]
    target: float
    method: str
    target_cov: float
    seed: int
    fixed: Mapping[str, float | str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    pipeline: Mapping[str, Any] = field(default_factory=dict)

    def pipeline_config(self, budget: int) -> PipelineConfig:
        """The configuration of this entry's ``"pipeline"`` job with ``budget``."""
        from safety_val.pipeline import PipelineConfig

        return PipelineConfig(
            budget=budget,
            target=self.target,
            seed=self.seed,
            method=self.method,
            target_cov=self.target_cov,
            **self.pipeline,
        )


@dataclass(frozen=True)
class Job:
    """One unit of work: a scenario entry with one analysis and one budget.

    Attributes
    ----------
    key
        ``"<entry name>/<analysis>/<budget>"``: identifies the job across campaign runs
        (the regression test compares runs of the same key).
    entry
        The campaign entry.
    analysis
        ``"estimate"`` or ``"pipeline"``.
    budget
        Simulator-call budget.
    """

    key: str
    entry: CampaignEntry
    analysis: str
    budget: int

    def identity(self) -> dict[str, Any]:
        """Everything that determines the job's result (its run directory is re-used iff equal)."""
        identity = {
            "job": self.key,
            "scenario": self.entry.scenario_name,
            "scenario_sha256": self.entry.scenario_sha256,
            "fixed": dict(sorted(self.entry.fixed.items())),
            "analysis": self.analysis,
            "budget": self.budget,
            "method": self.entry.method,
            "target_cov": self.entry.target_cov,
            "seed": self.entry.seed,
            "options": dict(sorted(self.entry.options.items())),
        }
        if self.analysis == "pipeline":
            identity["pipeline"] = dict(sorted(self.entry.pipeline.items()))
        return identity

    @property
    def folder_name(self) -> str:
        """Name of the job's run directory: readable prefix plus a hash of :meth:`identity`."""
        digest = _sha256_json(self.identity())[:10]
        return f"{self.entry.name}-{self.analysis}-{self.budget}-{digest}"


@dataclass(frozen=True)
class Campaign:
    """A validated campaign file (see the module docstring for the format).

    Attributes
    ----------
    name, description
        Identify the campaign; the history keys runs by ``name``.
    entries
        The scenario entries.
    alpha
        Family-wise false-alarm probability of the regression test.
    source, source_sha256
        The campaign file and its SHA-256.
    """

    name: str
    entries: tuple[CampaignEntry, ...]
    alpha: float = DEFAULT_ALPHA
    description: str = ""
    source: Path | None = None
    source_sha256: str = ""

    def jobs(self) -> list[Job]:
        """Every job, entry by entry, analysis by analysis, budget by budget."""
        return [
            Job(f"{e.name}/{analysis}/{budget}", e, analysis, budget)
            for e in self.entries
            for analysis in e.analyses
            for budget in e.budgets
        ]

    def with_seed(self, seed: int) -> Campaign:
        """A copy whose every entry uses ``seed`` (e.g. an independent re-run)."""
        entries = tuple(dataclasses.replace(e, seed=seed) for e in self.entries)
        return dataclasses.replace(self, entries=entries)


def load_campaign(path: str | Path) -> Campaign:
    """Load and validate a campaign file, including every scenario it names.

    Parameters
    ----------
    path
        A YAML file with a top-level ``campaign:`` mapping.

    Returns
    -------
    Campaign

    Raises
    ------
    ValidationError
        One line naming the file, the field, the value and what was expected: an unknown
        key, a missing or invalid scenario file, a target outside (0, 1), an unknown
        analysis or method, a budget below 10, an override the simulator does not know.

    Examples
    --------
    >>> root = Path(__file__).parent.parent
    >>> campaign = load_campaign(root / "scenarios/campaigns/nightly.yaml")
    >>> campaign.name, len(campaign.jobs()) >= 2
    ('nightly', True)
    """
    from safety_val.reliability import get_method

    file, body = read_yaml_mapping(path, root="campaign")
    _check_keys(body, _CAMPAIGN_KEYS, file, "campaign")
    name = body.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            "campaign name must be letters, digits, '_' or '-'",
            file=file,
            field="campaign.name",
            value=name,
            expected="e.g. nightly",
        )
    defaults = {
        "seed": _seed(body.get("seed", 0), file, "campaign.seed"),
        "target": (
            None if body.get("target") is None else _target(body["target"], file, "campaign.target")
        ),
        "method": _method(body.get("method", "auto"), file, "campaign.method", get_method),
        "target_cov": _cov(body.get("target_cov", 0.1), file, "campaign.target_cov"),
    }
    alpha = check_probability(
        body.get("alpha", DEFAULT_ALPHA), field="campaign.alpha", file=str(file)
    )
    items = body.get("scenarios")
    if not isinstance(items, list) or not items:
        raise ValidationError(
            "must be a non-empty list of scenario entries",
            file=file,
            field="campaign.scenarios",
            value=items,
            expected="entries with file, analyses and budgets",
        )
    entries = tuple(
        _entry(item, file, f"campaign.scenarios[{i}]", defaults, get_method)
        for i, item in enumerate(items)
    )
    names = [e.name for e in entries]
    for i, entry_name in enumerate(names):
        if entry_name in names[:i]:
            raise ValidationError(
                "two entries have the same job name",
                file=file,
                field=f"campaign.scenarios[{i}].name",
                value=entry_name,
                expected="a distinct 'name:' for entries of the same scenario",
            )
    return Campaign(
        name=name,
        entries=entries,
        alpha=alpha,
        description=str(body.get("description", "") or "").strip(),
        source=file.resolve(),
        source_sha256=hashlib.sha256(file.read_bytes()).hexdigest(),
    )


def _entry(
    item: Any,
    file: Path,
    where: str,
    defaults: Mapping[str, Any],
    get_method: Callable[[str], Any],
) -> CampaignEntry:
    from safety_val.reliability import check_options
    from safety_val.scenario import load_scenario

    body = require_mapping(item, file=file, field=where)
    _check_keys(body, _ENTRY_KEYS, file, where)
    reference = body.get("file")
    if not isinstance(reference, str) or not reference:
        raise ValidationError(
            "missing scenario file", file=file, field=f"{where}.file", value=reference
        )
    scenario_file = Path(reference)
    if not scenario_file.is_absolute():
        scenario_file = file.parent / scenario_file
    if not scenario_file.is_file():
        raise ValidationError(
            "scenario file not found",
            file=file,
            field=f"{where}.file",
            value=reference,
            expected="a scenario file, relative to the campaign file",
        )
    scenario = load_scenario(scenario_file)
    fixed = dict(require_mapping(body.get("fixed", {}), file=file, field=f"{where}.fixed"))
    if fixed:
        try:
            effective_scenario(scenario, fixed)
        except ValidationError as exc:
            key = (exc.field or "").rsplit(".", 1)[-1]
            raise ValidationError(
                exc.message,
                file=file,
                field=f"{where}.fixed" + (f".{key}" if key in fixed else ""),
                value=exc.value,
                expected=exc.expected,
            ) from None
    analyses = body.get("analyses", ["estimate"])
    if not isinstance(analyses, list) or not analyses:
        raise ValidationError(
            "must be a non-empty list", file=file, field=f"{where}.analyses", value=analyses
        )
    for j, analysis in enumerate(analyses):
        if analysis not in ANALYSES:
            raise ValidationError(
                "unknown analysis",
                file=file,
                field=f"{where}.analyses[{j}]",
                value=analysis,
                expected=f"one of {', '.join(ANALYSES)}",
            )
    budgets = body.get("budgets")
    if not isinstance(budgets, list) or not budgets:
        raise ValidationError(
            "must be a non-empty list of simulator-call budgets",
            file=file,
            field=f"{where}.budgets",
            value=budgets,
            expected=f"e.g. [2000] (each an int >= {MIN_BUDGET})",
        )
    for j, budget in enumerate(budgets):
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_BUDGET:
            raise ValidationError(
                "budget must be an int >= 10",
                file=file,
                field=f"{where}.budgets[{j}]",
                value=budget,
                expected=f"an int >= {MIN_BUDGET}",
            )
    target = body.get("target", defaults["target"])
    if target is None:
        raise ValidationError(
            "no acceptance target",
            file=file,
            field=f"{where}.target",
            expected="a target here or in campaign.target, e.g. 1.0e-7",
        )
    name = body.get("name", scenario.name)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            "job name must be letters, digits, '_' or '-'",
            file=file,
            field=f"{where}.name",
            value=name,
        )
    method = _method(body.get("method", defaults["method"]), file, f"{where}.method", get_method)
    options = dict(require_mapping(body.get("options", {}), file=file, field=f"{where}.options"))
    try:
        check_options(get_method(method), method, options)
    except ValidationError as exc:
        raise ValidationError(
            exc.message, file=file, field=f"{where}.options", value=exc.value, expected=exc.expected
        ) from None
    pipeline = _pipeline_settings(body.get("pipeline", {}), file, f"{where}.pipeline")
    entry = CampaignEntry(
        name=name,
        file=scenario_file.resolve(),
        scenario_name=scenario.name,
        scenario_sha256=str(scenario.source_sha256),
        analyses=tuple(dict.fromkeys(analyses)),
        budgets=tuple(dict.fromkeys(int(b) for b in budgets)),
        target=_target(target, file, f"{where}.target"),
        method=method,
        target_cov=_cov(
            body.get("target_cov", defaults["target_cov"]), file, f"{where}.target_cov"
        ),
        seed=_seed(body.get("seed", defaults["seed"]), file, f"{where}.seed"),
        fixed={str(k): v for k, v in fixed.items()},
        options={str(k): v for k, v in options.items()},
        pipeline=pipeline,
    )
    if "pipeline" in entry.analyses:
        try:
            entry.pipeline_config(entry.budgets[0])
        except ValidationError as exc:
            raise ValidationError(
                exc.message,
                file=file,
                field=f"{where}.pipeline.{exc.field}" if exc.field in pipeline else where,
                value=exc.value,
                expected=exc.expected,
            ) from None
    return entry


def _pipeline_settings(value: Any, file: Path, where: str) -> dict[str, Any]:
    """The entry's ``pipeline:`` mapping: known settings with plain values."""
    settings = dict(require_mapping(value, file=file, field=where))
    for key, setting in settings.items():
        if key not in PIPELINE_SETTINGS:
            raise ValidationError(
                "unknown key",
                file=file,
                field=f"{where}.{key}",
                expected=f"one of {', '.join(PIPELINE_SETTINGS)}",
            )
        names = ("design", "reduce", "ambiguity")
        wanted: tuple[type, ...] = (str, type(None)) if key in names else (int,)
        if isinstance(setting, bool) or not isinstance(setting, wanted) or (
            isinstance(setting, int) and setting < 1
        ):
            raise ValidationError(
                "invalid value",
                file=file,
                field=f"{where}.{key}",
                value=setting,
                expected="a name" if str in wanted else "an int >= 1",
            )
    return {str(k): v for k, v in sorted(settings.items())}


def effective_scenario(scenario: LogicalScenario, fixed: Mapping[str, Any]) -> LogicalScenario:
    """The scenario with ``fixed`` merged into its fixed inputs, validated.

    The scenario is rebuilt through :func:`~safety_val.formats.scenario_yaml.scenario_from_dict`,
    so an override the simulator template does not know is refused like in a scenario file.
    """
    from safety_val.formats.scenario_yaml import scenario_from_dict, scenario_to_dict

    base = scenario.source.parent if scenario.source is not None else Path.cwd()
    body = scenario_to_dict(scenario, relative_to=base)
    body["fixed"] = {**dict(scenario.fixed), **dict(fixed)}
    return scenario_from_dict(body, source=scenario.source)


# -- running ----------------------------------------------------------------------------------


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


def _run_job_on_cluster(task: tuple[Job, Path, int]) -> JobOutcome:
    """Body of a job that runs as a Ray task: its batches go to the same cluster."""
    from safety_val.execution.registry import make_executor

    job, folder, n_workers = task
    with make_executor("ray", n_workers=n_workers) as pool:  # attaches to the running Ray
        return _run_job_safely(job, folder, pool)


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
        One row per job, columns :data:`safety_val.history.HISTORY_COLUMNS`.
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
            if _true(row.regression):
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
        Serial (default), process or Ray. With Ray the jobs run as Ray tasks, each
        sending its batches to the cluster; otherwise jobs run one after another.
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
    The regression test is described in :mod:`safety_val.regression`: a one-sided z-test
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

    if executor is not None and executor.name == "ray" and len(jobs) > 1:
        tasks = [(job, f, executor.n_workers) for job, f in zip(jobs, folders, strict=True)]
        for _, outcome in executor.imap_unordered(_run_job_on_cluster, tasks):
            finished(outcome)
    else:
        for job, job_folder in zip(jobs, folders, strict=True):
            finished(_run_job_safely(job, job_folder, executor))

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


# -- reports ----------------------------------------------------------------------------------


def write_summary(run: CampaignRun) -> tuple[Path, ...]:
    """Write the summary as JSON and HTML: ``reports/<run_id>.*`` and ``summary.*``."""
    summary = run.to_dict()
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    html = render_summary_html(summary)
    reports = run.out / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in (
        (reports / f"{run.run_id}.json", text),
        (reports / f"{run.run_id}.html", html),
        (run.out / "summary.json", text),
        (run.out / "summary.html", html),
    ):
        written.append(atomic_write_text(name, content))
    return tuple(written)


_JOB_COLUMNS: Final = (
    ("job", "job"),
    ("fixed", "fixed overrides"),
    ("pf", "pf"),
    ("ci", "95 % interval"),
    ("cov", "CoV"),
    ("beta", "β"),
    ("n_calls", "calls"),
    ("method", "method"),
    ("target", "target"),
    ("verdict", "verdict"),
    ("previous_run_id", "previous run"),
    ("ratio", "pf ratio"),
    ("z", "z"),
    ("p_value", "p-value"),
    ("regression", "regression"),
    ("reused", "re-used"),
)


def _job_cell(job: Mapping[str, Any], key: str) -> Any:
    """One cell of the jobs table of the HTML summary."""
    if key == "ci":
        return f"{_format_number(job.get('ci_low'))} – {_format_number(job.get('ci_high'))}"
    if key == "fixed" and job.get("fixed") in (None, "", "{}"):
        return None
    return job.get(key)


def render_summary_html(summary: Mapping[str, Any]) -> str:
    """The campaign summary (:meth:`CampaignRun.to_dict`) as one self-contained HTML page.

    Rendered by :func:`safety_val.report.render_campaign_html`, which escapes everything.
    """
    from safety_val.report import render_campaign_html

    test = summary["regression_test"]
    tables = [
        {
            "title": "Jobs",
            "columns": [title for _, title in _JOB_COLUMNS],
            "rows": [
                [_format_number(_job_cell(job, key)) for key, _ in _JOB_COLUMNS]
                for job in summary["jobs"]
            ],
        }
    ]
    if summary["errors"]:
        tables.append(
            {
                "title": "Failed jobs",
                "columns": ["job", "reason"],
                "rows": [[k, v] for k, v in summary["errors"].items()],
            }
        )
    if summary["unreadable_history"]:
        tables.append(
            {
                "title": "Unreadable history files (skipped)",
                "columns": ["file", "reason"],
                "rows": [[u["file"], u["reason"]] for u in summary["unreadable_history"]],
            }
        )
    page = {
        "title": f"Campaign {summary['campaign']}, run {summary['run_id']}",
        "status": summary["status"],
        "subtitle": summary.get("description") or "",
        "generated_at": summary["run_time"],
        "facts": {
            "campaign file": summary.get("campaign_file") or "",
            "exit code": summary["exit_code"],
            "regression test": test["description"],
            "α (per run)": test["alpha"],
            "jobs compared": test["jobs_compared"],
            "α per job": _format_number(test["alpha_per_job"]),
            "history": summary["history"],
        },
        "tables": tables,
        "notes": list(summary["reasons"]),
    }
    return str(render_campaign_html(page))


# -- helpers ----------------------------------------------------------------------------------


def _check_keys(body: Mapping[str, Any], allowed: set[str], file: Path, where: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(
            "unknown key",
            file=file,
            field=f"{where}.{unknown[0]}",
            expected=f"one of {', '.join(sorted(allowed))}",
        )


def _target(value: Any, file: Path, where: str) -> float:
    from safety_val.report.verdict import check_target

    try:
        return check_target(value, field=where)
    except ValidationError as exc:
        raise exc.with_context(file=file) from None


def _seed(value: Any, file: Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            "seed must be an int >= 0", file=file, field=where, value=value, expected="an int >= 0"
        )
    return int(value)


def _cov(value: Any, file: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValidationError(
            "must be a coefficient of variation in (0, 1)",
            file=file,
            field=where,
            value=value,
            expected="e.g. 0.1",
        )
    return float(value)


def _method(value: Any, file: Path, where: str, get_method: Callable[[str], Any]) -> str:
    try:
        get_method(value)
    except ValidationError as exc:
        raise ValidationError(
            exc.message, file=file, field=where, value=value, expected=exc.expected
        ) from None
    return str(value)


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _json_number(value.item())
    return value


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _true(value: Any) -> bool:
    """Whether a nullable boolean cell is true (``pd.NA`` and ``None`` are not)."""
    return value is not None and value is not pd.NA and bool(value)


def _float_or_nan(value: Any) -> Any:
    return math.nan if value is None else value


def _format_number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


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
