"""The whole continuous-space pipeline of one logical scenario, stage by stage, resumable.

``safety-val run SCENARIO`` (and :func:`run_pipeline`) runs

1. ``doe`` — a design of experiments simulated into ``RUN/doe`` (a run store);
2. ``sensitivity`` — given-data ranking (delta, PAWN) and model-based selection on the
   DOE, the reduced scenario and a check of the reduction on held-out scenarios
   (``RUN/sensitivity``);
3. ``reliability`` — the failure probability, on the reduced scenario when the check
   shows the reduction does not change failure classifications, else on the full one
   (``RUN/reliability``, the layout of ``safety-val estimate``);
4. ``regions`` — failure modes, readable rules, limit-state slices and the most critical
   concrete scenarios as OpenSCENARIO (``RUN/reliability/regions.json``, ``xosc/``);
5. ``robustness`` — margins per mode, pf under shifts, sensitivities, the worst case
   (``RUN/reliability/robustness.json``);
6. ``report`` — HTML, Markdown and JSON (``RUN/report``).

``RUN/pipeline.json`` records the configuration (and its hash), the acceptance target
and every stage's status and duration; it is rewritten atomically after each stage.
Re-running on the same directory skips the stages that are done and resumes the
interrupted one: every simulation is stored as it finishes, so a killed run loses at most
the batches in flight. A directory made from another scenario file or another
configuration is refused.

The stage functions (:func:`estimate_stage`, :func:`regions_stage`,
:func:`robustness_stage`, :func:`sensitivity_stage`) are also what the single-step
commands ``safety-val estimate | regions | robustness | sensitivity`` call.

Inside :func:`run_pipeline` the stages hand their products to each other in a typed
:class:`StageContext`; a stage done in an earlier run has its products read back from the
run directory, and a stage that needs a product no earlier stage made says which.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from safety_val._io import atomic_write_bytes, atomic_write_text
from safety_val.errors import ValidationError
from safety_val.report.rundir import PIPELINE_FILE, PIPELINE_SCHEMA
from safety_val.runs.store import LOCK, lock_writer, release_writer

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from safety_val.execution.base import Executor
    from safety_val.regions import CriticalRegions
    from safety_val.reliability.importance import ImportanceSample
    from safety_val.reliability.result import FailureProbabilityResult
    from safety_val.robustness import RobustnessResult
    from safety_val.runs.evaluator import ScenarioEvaluator
    from safety_val.runs.store import RunStore
    from safety_val.scenario import LogicalScenario
    from safety_val.sensitivity.reduction import ReductionCheck
    from safety_val.sensitivity.result import SensitivityResult

__all__ = [
    "STAGES",
    "PipelineConfig",
    "PipelineResult",
    "SensitivityOutcome",
    "StageContext",
    "estimate_stage",
    "reference_sample",
    "regions_stage",
    "robustness_stage",
    "run_pipeline",
    "sensitivity_outputs",
    "sensitivity_stage",
]

STAGES: Final = ("doe", "sensitivity", "reliability", "regions", "robustness", "report")
"""The stages in the order they run."""

Progress = Callable[[str, int, int | None], None]
"""``progress(stage, done, total)``: simulations done in the current stage."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class PipelineConfig:
    """What a pipeline run does; its hash identifies the run directory's configuration.

    Attributes
    ----------
    budget
        Simulation budget of the reliability stage (``None``: the method's default).
    target
        Acceptance target: tolerable pf per exposure, in (0, 1).
    seed
        Seed of every stage.
    n_doe
        Size of the design of experiments.
    design
        DOE method (``lhs``, ``optimal_lhs``, ``sobol``, ``mc``).
    method
        Reliability method (``auto`` chooses).
    target_cov
        Target coefficient of variation of the pf estimate.
    reduce
        ``"auto"``: use the reduced scenario when the reduction check agrees on at least
        99 % of held-out scenarios (Cohen's kappa ≥ 0.9); ``"never"``; ``"always"``.
    n_holdout
        Held-out scenarios of the reduction check.
    n_reference
        Size of the reference importance sample of regions and robustness.
    ambiguity
        Ambiguity set of the worst case (``"1sd"``, ``"odd"`` or ``None``).
    robustness_calls
        Budget of each new estimate of the robustness stage (a shift the reference sample
        cannot re-weight reliably, the worst case).
    per_mode
        Critical scenarios exported per failure mode.
    on_error
        Failed simulations of the reliability stage: ``"exclude"`` or ``"raise"`` (see
        :func:`~safety_val.reliability.estimate_failure_probability`).
    rank_on
        What the sensitivity stage ranks: ``"auto"``, ``"output"`` or ``"failure"`` (see
        :func:`~safety_val.sensitivity.analyze_given_data`).
    """

    budget: int | None = None
    target: float = 1e-7
    seed: int = 0
    n_doe: int = 1000
    design: str = "lhs"
    method: str = "auto"
    target_cov: float = 0.1
    reduce: str = "auto"
    n_holdout: int = 300
    n_reference: int = 1000
    ambiguity: str | None = "1sd"
    robustness_calls: int = 1000
    per_mode: int = 3
    on_error: str = "exclude"
    rank_on: str = "auto"

    def __post_init__(self) -> None:
        from safety_val._validation import OneOf, check_options
        from safety_val.reliability.model import ON_ERROR
        from safety_val.sensitivity.analyze import RANK_ON

        check_options({"on_error": [OneOf(*ON_ERROR)], "rank_on": [OneOf(*RANK_ON)]},
                      on_error=self.on_error, rank_on=self.rank_on)
        if not (isinstance(self.target, int | float) and 0.0 < self.target < 1.0):
            raise ValidationError(
                "the acceptance target must be a probability",
                field="target",
                value=self.target,
                expected="a number in (0, 1), e.g. 1e-7",
            )
        if self.reduce not in ("auto", "never", "always"):
            raise ValidationError(
                "unknown reduction policy",
                field="reduce",
                value=self.reduce,
                expected="auto, never or always",
            )
        for name in ("n_doe", "n_reference", "per_mode", "robustness_calls"):
            if int(getattr(self, name)) < 1:
                raise ValidationError(
                    "must be positive", field=name, value=getattr(self, name), expected=">= 1"
                )
        from safety_val.doe import DESIGNS
        from safety_val.robustness import parse_ambiguity

        if self.design not in DESIGNS:
            raise ValidationError(
                "unknown design of experiments",
                field="design",
                value=self.design,
                expected=f"one of {', '.join(DESIGNS)}",
            )
        if self.ambiguity is not None:
            parse_ambiguity(self.ambiguity)
        if self.budget is not None and self.budget < 10:
            raise ValidationError(
                "budget too small", field="budget", value=self.budget, expected=">= 10"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (what the hash is taken of)."""
        return {
            "budget": self.budget,
            "target": self.target,
            "seed": self.seed,
            "n_doe": self.n_doe,
            "design": self.design,
            "method": self.method,
            "target_cov": self.target_cov,
            "reduce": self.reduce,
            "n_holdout": self.n_holdout,
            "n_reference": self.n_reference,
            "ambiguity": self.ambiguity,
            "per_mode": self.per_mode,
            # at their defaults, the later settings stay out of the hash: run directories
            # written before they existed still resume
            **({} if self.on_error == "exclude" else {"on_error": self.on_error}),
            **({} if self.rank_on == "auto" else {"rank_on": self.rank_on}),
        }


@dataclass
class PipelineResult:
    """Outcome of :func:`run_pipeline`.

    Attributes
    ----------
    run_dir
        The run directory.
    stages
        ``{stage: {"status", "seconds", "message"}}``.
    pf, cov, ci, beta, n_calls, method, converged
        The reliability estimate (``None`` before that stage is done).
    verdict
        ``"met"``, ``"not met"``, ``"not demonstrated"`` (or ``"not run"``).
    reliability_scenario
        The scenario file the reliability stage used (reduced or full).
    files
        Report files written.
    """

    run_dir: Path
    stages: dict[str, dict[str, Any]]
    pf: float | None = None
    ci: tuple[float, float] | None = None
    beta: float | None = None
    n_calls: int | None = None
    method: str | None = None
    cov: float | None = None
    converged: bool | None = None
    verdict: str = "not run"
    reliability_scenario: Path | None = None
    files: list[Path] = field(default_factory=list)


# -- the single stages (also used by the one-step commands) --------------------------------------


def estimate_stage(
    scenario: LogicalScenario,
    scenario_file: Path,
    out: Path,
    *,
    method: str = "auto",
    target_cov: float = 0.1,
    max_calls: int | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    batch_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    options: Mapping[str, Any] | None = None,
    **report: Any,
) -> tuple[FailureProbabilityResult, int]:
    """Estimate pf with every simulation stored in ``out``; save ``out/result.json``.

    ``options`` go to the reliability method; ``report`` fields are saved beside the
    result. Returns the result and the number of new simulations (a resumed run re-uses
    the stored ones).
    """
    from safety_val.reliability import estimate_failure_probability, get_method
    from safety_val.reliability.persistence import save_result
    from safety_val.runs.evaluator import ScenarioEvaluator

    get_method(method)  # an unknown method is refused before anything is written
    evaluator = ScenarioEvaluator(
        scenario,
        executor=executor,
        store=out,
        purpose="reliability",
        batch_size=batch_size,
        progress=progress,
    )
    result = estimate_failure_probability(
        evaluator,
        method=method,
        target_cov=target_cov,
        max_calls=max_calls,
        seed=seed,
        **dict(options or {}),
    )
    save_result(
        result,
        out,
        scenario=scenario.name,
        scenario_file=str(Path(scenario_file).resolve()),
        scenario_sha256=scenario.source_sha256,
        seed=seed,
        method_requested=method,
        target_cov=target_cov,
        max_calls=max_calls,
        new_simulations=evaluator.n_calls,
        **report,
    )
    return result, evaluator.n_calls


def reference_sample(
    result: FailureProbabilityResult,
    scenario: LogicalScenario,
    run: Path,
    *,
    n: int,
    seed: int,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ScenarioEvaluator, ImportanceSample]:
    """The importance sample shared by regions and robustness (stored in RUN/reference)."""
    from safety_val.reliability.importance import draw_importance_sample
    from safety_val.runs.evaluator import ScenarioEvaluator

    evaluator = ScenarioEvaluator(
        scenario,
        executor=executor,
        store=run / "reference",
        purpose="reference-sample",
        progress=progress,
    )
    return evaluator, draw_importance_sample(result, evaluator, n=n, seed=seed)


def regions_stage(
    result: FailureProbabilityResult,
    scenario: LogicalScenario,
    run: Path,
    *,
    sample: ImportanceSample,
    seed: int = 0,
    export_xosc: Path | None = None,
    per_mode: int = 3,
    force: bool = False,
) -> tuple[CriticalRegions, list[Path]]:
    """Critical regions written to ``run/regions.json`` + ``slices.png`` (+ .xosc files).

    The export folder is refused when it holds files, unless ``force`` (see
    :func:`safety_val.regions.export.export_critical_scenarios`).
    """
    from safety_val import regions as regions_analysis
    from safety_val.regions.export import check_export_folder, export_critical_scenarios

    if export_xosc is not None:
        check_export_folder(export_xosc, force=force)  # before any work

    found = regions_analysis.analyze(result, scenario=scenario, sample=sample, seed=seed)
    atomic_write_text(
        run / "regions.json", json.dumps(found.to_dict(), indent=2, allow_nan=False) + "\n"
    )
    save_png(found.plot_slices(), run / "slices.png")
    written: list[Path] = []
    if export_xosc is not None:
        written = export_critical_scenarios(
            found, scenario, export_xosc, per_mode=per_mode, force=force, source=run
        )
    return found, written


def robustness_stage(
    result: FailureProbabilityResult,
    run: Path,
    *,
    evaluator: ScenarioEvaluator,
    sample: ImportanceSample,
    shifts: Sequence[Any] | None = None,
    ambiguity: str | None = None,
    max_calls: int | None = 2000,
    seed: int = 0,
    modes: CriticalRegions | None = None,
) -> RobustnessResult:
    """Robustness written to ``run/robustness.json`` + ``tornado.png``."""
    from safety_val import robustness as robustness_analysis

    analysis = robustness_analysis.analyze(
        result,
        limit_state=evaluator,
        shifts=shifts or None,
        ambiguity=ambiguity,
        sample=sample,
        max_calls=max_calls,
        seed=seed,
        modes=modes,
        method=robustness_analysis.follow_up_method(result),
    )
    atomic_write_text(
        run / "robustness.json", json.dumps(analysis.to_dict(), indent=2, allow_nan=False) + "\n"
    )
    save_png(analysis.plot_tornado(), run / "tornado.png")
    return analysis


def sensitivity_outputs(
    out: Path,
    scenario: LogicalScenario,
    result: SensitivityResult,
    reduced: LogicalScenario,
    *,
    check: ReductionCheck | None,
    seed: int,
    simulations: int,
) -> Path:
    """Write what a sensitivity analysis produced; return the reduced scenario's file.

    ``out/sensitivity.json`` (indices, ranking, selection, the reduction check),
    ``indices.csv``, ``<name>_reduced.yaml`` and the plots ``indices.png``,
    ``score_curve.png`` (and ``morris.png`` with Morris).
    """
    from safety_val.sensitivity.reduction import write_scenario

    reduced_file = write_scenario(reduced, out / f"{scenario.name}_reduced.yaml")
    atomic_write_bytes(out / "indices.csv", result.to_frame().to_csv(index=False).encode())
    report = {
        "scenario": scenario.name,
        "seed": seed,
        "sensitivity": result.to_dict(),
        "reduction_check": None if check is None else check.to_dict(),
        "reduced_scenario": str(reduced_file),
        "simulations": simulations,
    }
    atomic_write_text(
        out / "sensitivity.json", json.dumps(report, indent=2, allow_nan=False) + "\n"
    )
    figures = {"indices.png": result.plot_indices(), "score_curve.png": result.plot_score_curve()}
    if "morris" in result.methods:
        figures["morris.png"] = result.plot_morris()
    for name, figure in figures.items():
        save_png(figure, out / name)
    return reduced_file


@dataclass(frozen=True)
class SensitivityOutcome:
    """What :func:`sensitivity_stage` produced (and wrote into its folder).

    Attributes
    ----------
    analysis
        The indices, ranking and selection.
    reduced
        The scenario reduced to the selected parameters (the others at their nominal).
    reduced_file
        Where ``reduced`` was written (``<name>_reduced.yaml``).
    check
        The reduction check on held-out scenarios (``None``: not run — every parameter
        was selected, no hold-out was asked for, or random nominal values).
    simulations
        New simulations of this call (those found in the store are not counted).
    """

    analysis: SensitivityResult
    reduced: LogicalScenario
    reduced_file: Path
    check: ReductionCheck | None
    simulations: int


def sensitivity_stage(
    scenario: LogicalScenario,
    out: Path,
    *,
    samples: str | Path | None = None,
    n: int = 1024,
    methods: Sequence[str] = ("morris", "sobol", "delta"),
    output: str | None = None,
    nominal: str = "median",
    holdout: int = 500,
    seed: int = 0,
    executor: Executor | None = None,
    progress: Callable[[int], None] | None = None,
    scenario_file: str | Path | None = None,
    rank_on: str = "auto",
) -> SensitivityOutcome:
    """Rank the parameters, select the influential ones, check and write the reduction.

    New simulations are stored in ``out/evaluations`` (a re-run with the same ``out``
    and seed re-uses them). With ``samples`` (a ``simulate`` run directory of the same
    scenario) the given-data methods analyse its stored samples instead of simulating a
    design. The reduction check runs ``holdout`` held-out scenarios when the selection
    drops a parameter (and ``nominal`` is not ``"random"``). ``rank_on`` says what stage 1
    ranks (see :func:`~safety_val.sensitivity.analyze`). Everything is written by
    :func:`sensitivity_outputs`.

    Raises
    ------
    ValidationError
        ``samples`` were simulated from another scenario file (``scenario_file``, when
        given, names the expected one in the message).
    """
    import pandas as pd

    from safety_val.runs.evaluator import ScenarioEvaluator
    from safety_val.sensitivity import (
        analyze,
        analyze_given_data,
        check_reduction,
        reduce_scenario,
    )

    evaluator = ScenarioEvaluator(
        scenario,
        executor=executor,
        store=out / "evaluations",
        purpose="sensitivity",
        progress=progress,
    )
    if samples is not None:
        from safety_val.runs.store import RunStore

        run = RunStore.open(samples)
        if run.manifest.get("scenario_sha256") != scenario.source_sha256:
            raise ValidationError(
                "the samples were simulated from another scenario file",
                file=run.path / "manifest.json",
                field="scenario_sha256",
                value=run.manifest.get("scenario"),
                expected=f"a run of {scenario_file or scenario.name}",
            )
        stored = run.read_samples()
        ok = stored["status"] == "ok"
        x = pd.DataFrame(scenario.to_array(stored.loc[ok]), columns=list(scenario.names))
        y = stored.loc[ok, output or "g"].to_numpy(dtype=float)
        margin = stored.loc[ok, "g"].to_numpy(dtype=float)  # the failure label of rank_on
        analysis = analyze_given_data(
            x, y, methods=tuple(methods), seed=seed, margin=margin, output=output or "g",
            constant="keep",  # a DOE that never leaves g's plateau ranks nothing, keeps all
            rank_on=rank_on,  # type: ignore[arg-type]  # checked by the option table
        )
    else:
        analysis = analyze(evaluator, n=n, methods=tuple(methods), output=output, seed=seed,
                           rank_on=rank_on)  # type: ignore[arg-type]
    check = None
    if holdout and nominal != "random" and len(analysis.selected) < len(analysis.parameters):
        check = check_reduction(
            evaluator, analysis.selected, nominal=nominal, n_holdout=holdout, seed=seed
        )
    if samples is None:
        reduced = analysis.reduced_scenario(nominal=nominal)
    else:
        reduced = reduce_scenario(scenario, analysis.selected, nominal=nominal)
    reduced_file = sensitivity_outputs(
        out, scenario, analysis, reduced, check=check, seed=seed, simulations=evaluator.n_calls
    )
    return SensitivityOutcome(
        analysis=analysis,
        reduced=reduced,
        reduced_file=reduced_file,
        check=check,
        simulations=evaluator.n_calls,
    )


def save_png(figure: Figure, path: Path) -> None:
    """Write a matplotlib figure as PNG, atomically, and close it."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    plt.close(figure)


# -- the pipeline ---------------------------------------------------------------------------------


def run_pipeline(
    scenario_file: str | Path,
    out: str | Path,
    *,
    config: PipelineConfig | None = None,
    budget: int | None = None,
    target: float | None = None,
    seed: int | None = None,
    executor: Executor | None = None,
    stages: Sequence[str] | None = None,
    progress: Progress | None = None,
    say: Callable[[str], None] | None = None,
) -> PipelineResult:
    """Run (or resume) the whole pipeline of one scenario into the run directory ``out``.

    Parameters
    ----------
    scenario_file
        The logical scenario.
    out
        Run directory; created, or resumed when it holds a ``pipeline.json`` of the same
        scenario file and configuration.
    config
        What to do (default :class:`PipelineConfig`).
    budget, target, seed
        Shortcuts that replace these fields of ``config``.
    executor
        Where simulations run (default serial).
    stages
        Run only up to these stages (default: all of :data:`STAGES`); stages already done
        are skipped in any case.
    progress
        ``progress(stage, done, total)`` as simulations finish.
    say
        Receives one line per stage as it ends.

    Returns
    -------
    PipelineResult

    Raises
    ------
    ValidationError
        Bad configuration, an unknown stage, or a run directory of another scenario,
        configuration or newer safety-val.
    """
    import matplotlib

    matplotlib.use("Agg")
    import dataclasses

    from safety_val import __version__
    from safety_val.scenario import load_scenario

    config = config or PipelineConfig()
    overrides: dict[str, Any] = {"budget": budget, "target": target, "seed": seed}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    wanted = tuple(stages or STAGES)
    unknown = [s for s in wanted if s not in STAGES]
    if unknown:
        raise ValidationError(
            "unknown pipeline stage",
            field="stages",
            value=unknown[0],
            expected=", ".join(STAGES),
        )
    scenario_file = Path(scenario_file)
    scenario = load_scenario(scenario_file)
    run = Path(out)
    try:  # one writer per run directory: a second process is refused before it reads
        state = _open_state(run, scenario, scenario_file, config, __version__)
        return _run_stages(run, state, scenario, scenario_file, config, executor, wanted,
                           progress, say)
    finally:
        release_writer(run)


def _run_stages(
    run: Path,
    state: dict[str, Any],
    scenario: LogicalScenario,
    scenario_file: Path,
    config: PipelineConfig,
    executor: Executor | None,
    wanted: Sequence[str],
    progress: Progress | None,
    say: Callable[[str], None] | None,
) -> PipelineResult:
    """Run the stages of :func:`run_pipeline` not done yet, holding the run's lock."""
    result = PipelineResult(run_dir=run, stages=state["stages"])
    tell = say or (lambda text: None)

    def tick(stage: str) -> Callable[[int], None]:
        return lambda done: progress(stage, done, None) if progress else None

    context = StageContext(
        run=run,
        scenario=scenario,
        scenario_file=scenario_file,
        config=config,
        state=state,
        executor=executor,
    )
    for stage in STAGES:
        record = state["stages"][stage]
        context.stage = stage
        if record["status"] == "done":
            if stage in _RESTORE:
                _RESTORE[stage](context)
            continue
        if stage not in wanted:
            continue
        record.update(status="running", message="")
        _write_state(run, state)
        started = time.perf_counter()
        context.tick = tick(stage)
        try:
            message = _STAGE_FUNCTIONS[stage](context)
        except BaseException as exc:
            record.update(
                status="failed",
                seconds=round(time.perf_counter() - started, 3),
                message=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            )
            _write_state(run, state)
            raise
        record.update(
            status="done" if message != "skipped" else "skipped",
            seconds=round(time.perf_counter() - started, 3),
            message="" if message == "skipped" else message,
        )
        _write_state(run, state)
        tell(f"{stage}: {message}")
    _fill_result(result, run, state)
    return result


def _open_state(
    run: Path,
    scenario: LogicalScenario,
    scenario_file: Path,
    config: PipelineConfig,
    version: str,
) -> dict[str, Any]:
    from safety_val.report.model import config_hash
    from safety_val.report.rundir import check_not_newer

    file = run / PIPELINE_FILE
    digest = config_hash(config.to_dict())
    if file.exists():
        lock_writer(run)
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError(
                "unreadable pipeline state",
                file=file,
                value=str(exc)[:80],
                expected="a pipeline.json written by safety-val",
            ) from None
        if state.get("schema") != PIPELINE_SCHEMA:
            check_not_newer(state.get("safety_val_version"), file=file, field="safety_val_version")
            raise ValidationError(
                "unknown pipeline schema",
                file=file,
                field="schema",
                value=state.get("schema"),
                expected=PIPELINE_SCHEMA,
            )
        check_not_newer(state.get("safety_val_version"), file=file, field="safety_val_version")
        if state.get("scenario_sha256") != scenario.source_sha256:
            raise ValidationError(
                "the run directory was made from another scenario (or the file changed since)",
                file=file,
                field="scenario_sha256",
                value=state.get("scenario"),
                expected=f"a run of {scenario_file} as it is now",
            )
        if state.get("config_hash") != digest:
            raise ValidationError(
                "the run directory was made with another configuration",
                file=file,
                field="config",
                value=state.get("config"),
                expected=f"{config.to_dict()} (or a new --out)",
            )
        for record in state["stages"].values():
            if record["status"] in ("running", "failed"):
                record["status"] = "pending"  # resumed: its stored simulations are re-used
        return dict(state)
    if run.exists() and any(entry.name != LOCK for entry in run.iterdir()):
        raise ValidationError(
            "the run directory exists and is not a pipeline run",
            file=run,
            expected="a new or empty directory, or one written by 'safety-val run'",
        )
    run.mkdir(parents=True, exist_ok=True)
    lock_writer(run)
    if file.exists():  # another process created the run in the meantime
        return _open_state(run, scenario, scenario_file, config, version)
    state = {
        "schema": PIPELINE_SCHEMA,
        "safety_val_version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "scenario_file": str(scenario_file.resolve()),
        "scenario_sha256": scenario.source_sha256,
        "config": config.to_dict(),
        "config_hash": digest,
        "target": config.target,
        "stages": {stage: {"status": "pending", "seconds": 0.0, "message": ""} for stage in STAGES},
    }
    _write_state(run, state)
    return state


def _write_state(run: Path, state: Mapping[str, Any]) -> None:
    atomic_write_text(run / PIPELINE_FILE, json.dumps(state, indent=2, allow_nan=False) + "\n")


def _fill_result(result: PipelineResult, run: Path, state: Mapping[str, Any]) -> None:
    from safety_val.report.verdict import judge

    file = run / "reliability" / "result.json"
    if not file.exists():
        return
    from safety_val.reliability.persistence import load_result_report

    saved = load_result_report(run / "reliability")
    report = saved["result"]
    pf = report.get("pf")
    ci = report.get("ci")
    result.pf = None if pf is None else float(pf)
    result.ci = None if ci is None else (float(ci[0]), float(ci[1]))
    result.beta = None if report.get("beta") is None else float(report["beta"])
    result.n_calls = None if report.get("n_calls") is None else int(report["n_calls"])
    result.method = report.get("method")
    result.cov = None if report.get("cov") is None else float(report["cov"])
    result.converged = None if report.get("converged") is None else bool(report["converged"])
    result.reliability_scenario = Path(str(saved.get("scenario_file", "")))
    result.verdict = judge(result.pf, result.ci, float(state["target"])).status
    result.files = sorted((run / "report").glob("report.*")) if (run / "report").exists() else []


# -- the stage context ---------------------------------------------------------------------------


def _no_progress(done: int) -> None:
    """The default ``tick``: progress goes nowhere."""


@dataclass
class StageContext:
    """What the stages of :func:`run_pipeline` hand to each other.

    The first fields are the run's inputs, set before any stage runs. Each later field is
    the product of one stage: ``None`` until that stage has run in this process or — when
    it was done in an earlier run — has been read back from the run directory. A stage
    takes an input product with :meth:`require`, which raises a clear error when it is
    missing.

    Attributes
    ----------
    run
        The run directory.
    scenario
        The full logical scenario.
    scenario_file
        Its file.
    config
        The configuration of the run.
    state
        The content of ``RUN/pipeline.json`` (stage statuses), rewritten after each stage.
    executor
        Where simulations run (``None``: serially).
    tick
        ``tick(done)``: simulations done in the current stage.
    stage
        The stage running now (named in the errors of :meth:`require`).
    doe
        *doe*: the run store of the design of experiments (``RUN/doe``).
    sensitivity
        *sensitivity*: the analysis, the reduced scenario and the reduction check; only
        when the stage ran in this process (a resumed run has :attr:`reduced_file` and
        :attr:`reduction_check` instead).
    reduced_file
        *sensitivity*: the file of the reduced scenario (``None``: no sensitivity stage).
    reduction_check
        *sensitivity*: the reduction check as saved in ``sensitivity.json`` (``None``: not
        run, nothing to reduce).
    reliability
        *reliability*: the failure-probability estimate as stored in ``RUN/reliability``
        (read back, so that a fresh and a resumed run describe the same result).
    reliability_scenario
        *reliability*: the scenario it was estimated on (the reduced or the full one).
    evaluator
        *regions* or *robustness*, whichever runs first: the evaluator of the reference
        sample (stored in ``RUN/reliability/reference``).
    sample
        The same stage: the reference importance sample shared by regions and robustness.
    regions
        *regions*: the critical regions (failure modes); robustness computes them again
        when regions was done in an earlier run.
    robustness
        *robustness*: margins, pf under shifts and the worst case.
    """

    run: Path
    scenario: LogicalScenario
    scenario_file: Path
    config: PipelineConfig
    state: dict[str, Any]
    executor: Executor | None = None
    tick: Callable[[int], None] = _no_progress
    stage: str = ""
    doe: RunStore | None = None
    sensitivity: SensitivityOutcome | None = None
    reduced_file: Path | None = None
    reduction_check: Mapping[str, Any] | None = None
    reliability: FailureProbabilityResult | None = None
    reliability_scenario: LogicalScenario | None = None
    evaluator: ScenarioEvaluator | None = None
    sample: ImportanceSample | None = None
    regions: CriticalRegions | None = None
    robustness: RobustnessResult | None = None

    @property
    def reliability_dir(self) -> Path:
        """``RUN/reliability``: the estimate and what regions and robustness write."""
        return self.run / "reliability"

    def require(self, value: _T | None, what: str, producer: str) -> _T:
        """``value``, the product ``what`` of the stage ``producer``, or a clear error.

        Raises
        ------
        ValidationError
            ``value`` is ``None``: ``producer`` neither ran in this process nor was done
            in an earlier run of this directory.
        """
        if value is None:
            raise ValidationError(
                f"the {self.stage or 'current'} stage needs {what}, which the {producer} "
                "stage has not produced",
                file=self.run / PIPELINE_FILE,
                field=f"stages.{producer}",
                value=self.state.get("stages", {}).get(producer, {}).get("status"),
                expected=f"the {producer} stage done first (include it in the stages to run)",
            )
        return value


# -- stage bodies ------------------------------------------------------------------------------
# Each takes the context, returns a one-line message (or "skipped"), leaves its outputs in the
# run directory and its products in the context. A stage done in an earlier run has its
# products read back by its entry of _RESTORE instead.


def _doe(context: StageContext) -> str:
    from safety_val.runs.simulate import simulate
    from safety_val.runs.store import RunStore

    config, run = context.config, context.run
    tick = context.tick
    simulated = simulate(
        context.scenario,
        n=config.n_doe,
        out=run / "doe",
        design=config.design,
        seed=config.seed,
        executor=context.executor,
        resume=(run / "doe" / "manifest.json").exists(),
        progress=lambda done, total: tick(done),
    )
    context.doe = RunStore.open(simulated.path)
    summary = simulated.summary
    return (
        f"{summary.n} concrete scenarios ({config.design}), {summary.n_failures} failures, "
        f"{summary.n_error} errors"
    )


def _restore_doe(context: StageContext) -> None:
    from safety_val.runs.store import RunStore

    context.doe = RunStore.open(context.run / "doe")


def _sensitivity(context: StageContext) -> str:
    config = context.config
    doe = context.require(context.doe, "the design of experiments", "doe")
    outcome = sensitivity_stage(
        context.scenario,
        context.run / "sensitivity",
        samples=doe.path,
        methods=("delta", "pawn"),
        nominal="median",
        holdout=config.n_holdout,
        seed=config.seed,
        executor=context.executor,
        progress=context.tick,
        scenario_file=context.scenario_file,
        rank_on=config.rank_on,
    )
    context.sensitivity = outcome
    context.reduced_file = outcome.reduced_file
    check = outcome.check
    context.reduction_check = None if check is None else check.to_dict()
    kept = ", ".join(outcome.analysis.selected)
    if check is None:
        return f"selected {kept} (all parameters influential: no reduction)"
    return (
        f"selected {kept}; reduction check agreement {check.agreement:.3f}, "
        f"kappa {check.kappa:.3f} on {check.n_holdout} held-out scenarios"
    )


def _restore_sensitivity(context: StageContext) -> None:
    file = context.run / "sensitivity" / "sensitivity.json"
    report = json.loads(file.read_text(encoding="utf-8"))
    context.reduced_file = Path(report["reduced_scenario"])
    context.reduction_check = report.get("reduction_check")


def _reliability_file(context: StageContext) -> tuple[Path, str]:
    """The scenario file reliability uses, and why.

    Without a sensitivity stage (or with ``reduce="never"``) the full scenario.
    """
    config, scenario_file = context.config, context.scenario_file
    reduced, check = context.reduced_file, context.reduction_check
    if config.reduce == "never" or reduced is None:
        return scenario_file, "full scenario"
    if check is None:
        return scenario_file, "full scenario (nothing to reduce)"
    good = check["agreement"] >= 0.99 and check["kappa"] >= 0.9
    if config.reduce == "always" or good:
        return reduced, f"reduced scenario ({reduced.name})"
    return scenario_file, (
        f"full scenario (the reduction changed {1 - check['agreement']:.1%} of held-out "
        "classifications)"
    )


def _reliability(context: StageContext) -> str:
    from safety_val.report.verdict import judge
    from safety_val.scenario import load_scenario

    config = context.config
    file, why = _reliability_file(context)
    used = context.scenario if file == context.scenario_file else load_scenario(file)
    result, _new = estimate_stage(
        used,
        file,
        context.reliability_dir,
        method=config.method,
        target_cov=config.target_cov,
        max_calls=config.budget,
        seed=config.seed,
        executor=context.executor,
        progress=context.tick,
        options={"on_error": config.on_error},
    )
    _restore_reliability(context)  # later stages describe the stored result
    lo, hi = result.ci
    verdict = judge(result.pf, (lo, hi), config.target).status
    return (
        f"pf {result.pf:.3g} [{lo:.3g}, {hi:.3g}], β {result.beta:.2f}, {result.n_calls} calls "
        f"({result.method}) on the {why}; target {config.target:g}: {verdict}"
    )


def _restore_reliability(context: StageContext) -> None:
    from safety_val.reliability.persistence import load_result, load_result_report
    from safety_val.scenario import load_scenario

    report = load_result_report(context.reliability_dir)
    context.reliability = load_result(context.reliability_dir)
    context.reliability_scenario = load_scenario(Path(report["scenario_file"]))


def _reference(
    context: StageContext,
) -> tuple[FailureProbabilityResult, LogicalScenario, ScenarioEvaluator, ImportanceSample] | None:
    """The reliability result, its scenario, the reference evaluator and sample.

    The sample is drawn once into the context (read back from the store after a resume).
    ``None`` when the result has no failure to describe.
    """
    result = context.require(context.reliability, "the failure-probability estimate", "reliability")
    scenario = context.require(
        context.reliability_scenario, "the scenario of the estimate", "reliability"
    )
    if not (result.samples is not None and (result.samples["g"] <= 0).any()):
        return None
    if context.sample is None or context.evaluator is None:
        context.evaluator, context.sample = reference_sample(
            result,
            scenario,
            context.reliability_dir,
            n=context.config.n_reference,
            seed=context.config.seed,
            executor=context.executor,
            progress=context.tick,
        )
    return result, scenario, context.evaluator, context.sample


def _regions(context: StageContext) -> str:
    inputs = _reference(context)
    if inputs is None:
        return "skipped"
    result, scenario, _evaluator, sample = inputs
    folder = context.reliability_dir
    found, written = regions_stage(
        result,
        scenario,
        folder,
        sample=sample,
        seed=context.config.seed,
        export_xosc=folder / "xosc",
        per_mode=context.config.per_mode,
        force=True,  # the run's own folder: a resumed stage rewrites its export
    )
    context.regions = found
    return f"{found.n_modes} failure mode(s); {len(written)} OpenSCENARIO files"


def _robustness(context: StageContext) -> str:
    inputs = _reference(context)
    if inputs is None:
        return "skipped"
    result, scenario, evaluator, sample = inputs
    config = context.config
    if context.regions is None:  # resumed after the regions stage: the modes again
        from safety_val import regions as regions_analysis

        context.regions = regions_analysis.analyze(
            result, scenario=scenario, sample=sample, seed=config.seed
        )
    analysis = robustness_stage(
        result,
        context.reliability_dir,
        evaluator=evaluator,
        sample=sample,
        ambiguity=config.ambiguity,
        seed=config.seed,
        modes=context.regions,
        max_calls=config.robustness_calls,
    )
    context.robustness = analysis
    return f"margin {analysis.beta:.2f} σ; {len(analysis.shifts)} shifts evaluated"


def _report(context: StageContext) -> str:
    from safety_val.report import write_report
    from safety_val.report.model import build_report

    files = write_report(build_report(context.run, target=context.config.target))
    return "wrote " + ", ".join(p.name for p in files)


_STAGE_FUNCTIONS: Final[Mapping[str, Callable[[StageContext], str]]] = {
    "doe": _doe,
    "sensitivity": _sensitivity,
    "reliability": _reliability,
    "regions": _regions,
    "robustness": _robustness,
    "report": _report,
}

_RESTORE: Final[Mapping[str, Callable[[StageContext], None]]] = {
    "doe": _restore_doe,
    "sensitivity": _restore_sensitivity,
    "reliability": _restore_reliability,
}
"""How the products of a stage done in an earlier run are read back into the context."""
