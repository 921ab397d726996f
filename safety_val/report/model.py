"""The report model: everything a safety assessor reads, gathered from a run directory.

:func:`build_report` reads a run directory (see :mod:`safety_val.report.rundir` for
the two layouts) into a :class:`Report`, a tree of frozen dataclasses that the HTML,
Markdown and JSON renderers present in the same order: the verdict against the
acceptance target first, then the estimate (pf, interval, β, calls, method,
convergence), the scenario and its ODD, the design of experiments, the sensitivity
ranking, the critical regions, the robustness analysis and the provenance. A stage
that was not run is a section with ``status="not run"``, never an empty one.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from safety_val.errors import ValidationError
from safety_val.reliability.result import json_safe
from safety_val.report.rundir import (
    RunLayout,
    installed_version,
    iter_stores,
    locate,
    read_json,
    read_store_samples,
)
from safety_val.report.verdict import DEFAULT_TARGET, Verdict, check_target, judge

if TYPE_CHECKING:
    from safety_val.scenario import LogicalScenario

__all__ = [
    "REPORT_SCHEMA",
    "EstimateSection",
    "ParameterSummary",
    "ProvenanceSection",
    "RegionsSection",
    "Report",
    "RobustnessSection",
    "ScenarioSection",
    "SensitivitySection",
    "SimulationSection",
    "Stage",
    "build_report",
    "config_hash",
]

REPORT_SCHEMA: Final = "safety-val/report/1"
DONE: Final = "done"
NOT_RUN: Final = "not run"
RUNNING: Final = "running"
REPORT_STAGE: Final = "report"
THIS_REPORT: Final = "this report"
EXAMPLES_PER_MODE: Final = 3

Records = tuple[dict[str, Any], ...]


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a run configuration.

    Canonical JSON: keys sorted, no spaces (``separators=(",", ":")``), ASCII only,
    NaN refused.

    Examples
    --------
    >>> config_hash({"b": 1, "a": [1.5, "x"]}) == config_hash({"a": [1.5, "x"], "b": 1})
    True
    >>> len(config_hash({}))
    64
    """
    text = json.dumps(
        json_safe(dict(config)),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(text.encode("ascii")).hexdigest()


# -- sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: its status, duration and message."""

    name: str
    status: str
    seconds: float | None = None
    message: str = ""


@dataclass(frozen=True)
class EstimateSection:
    """The failure-probability estimate (``status="not run"`` when there is none).

    Attributes
    ----------
    pf, cov, ci, beta
        Estimate, coefficient of variation, 95 % interval and reliability index.
    n_calls
        Limit-state calls the method made; ``new_simulations`` of them were simulated
        in this run (the others were found in the run store).
    n_errors
        Of them, simulations that ended in error or timeout: excluded from ``pf``; the
        interval's upper end counts them as possible failures (``None``: a result written
        before they were counted).
    method, method_requested
        Method used and method asked for (``auto`` picks one).
    converged, message
        Whether the target coefficient of variation was reached, and why not.
    history
        Rows ``n_calls, pf, cov, ci_low, ci_high`` (the convergence plot).
    design_points
        Most probable failure points (physical ``x`` and standard ``u`` coordinates).
    """

    status: str
    message: str = ""
    pf: float | None = None
    cov: float | None = None
    ci: tuple[float | None, float | None] = (None, None)
    beta: float | None = None
    n_calls: int | None = None
    new_simulations: int | None = None
    n_errors: int | None = None
    method: str | None = None
    method_requested: str | None = None
    converged: bool | None = None
    target_cov: float | None = None
    max_calls: int | None = None
    seed: int | None = None
    history: Records = ()
    design_points: Records = ()


@dataclass(frozen=True)
class ParameterSummary:
    """One parameter of the logical scenario, with its unit, distribution and ODD attribute."""

    name: str
    unit: str
    distribution: str
    support: str
    odd_attribute: str
    description: str


@dataclass(frozen=True)
class ScenarioSection:
    """The logical scenario and its ODD, as read from the scenario file of the run."""

    status: str
    message: str = ""
    name: str = ""
    description: str = ""
    file: str = ""
    sha256: str = ""
    odd: str = ""
    template: str = ""
    simulator: str = ""
    parameters: tuple[ParameterSummary, ...] = ()
    dependence: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)
    kpis: tuple[str, ...] = ()
    limit_state: str = ""
    limit_state_description: str = ""
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimulationSection:
    """The design of experiments stage: counts and the crude failure fraction."""

    status: str
    message: str = ""
    design: str = ""
    n: int | None = None
    n_ok: int | None = None
    n_error: int | None = None
    n_timeout: int | None = None
    n_failures: int | None = None
    failure_fraction: float | None = None
    ci: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class SensitivitySection:
    """The parameter ranking and the selected (influential) parameters.

    ``output`` is what was ranked (``failure``: the failure label ``g <= 0``);
    ``noise_floor`` holds each method's floor, and the ranking's ``above_noise`` says
    which parameters rise above it.
    """

    status: str
    message: str = ""
    methods: tuple[str, ...] = ()
    output: str = ""
    ranking: Records = ()
    selected: tuple[str, ...] = ()
    costs: dict[str, int] = field(default_factory=dict)
    reduction_check: dict[str, Any] | None = None
    reduced_scenario: str = ""
    noise_floor: Records = ()
    notes: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegionsSection:
    """Failure modes with their rules, design points and example scenarios.

    ``pf`` is the total the modes' shares refer to and ``pf_basis`` says where it
    comes from (the reference importance sample or the reliability stage) and how it
    relates to the verdict's pf.
    """

    status: str
    message: str = ""
    pf: float | None = None
    pf_basis: str = ""
    units: dict[str, str] = field(default_factory=dict)
    modes: Records = ()
    rules: Records = ()
    examples: Records = ()
    xosc_files: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()


@dataclass(frozen=True)
class RobustnessSection:
    """Safety margins in σ, pf under distribution shifts and the worst case.

    ``pf`` is the nominal pf the margins, the shifts' ``ratio_to_nominal`` and the
    tornado plot refer to; ``pf_basis`` says where it comes from.
    """

    status: str
    message: str = ""
    pf: float | None = None
    pf_basis: str = ""
    beta: float | None = None
    margins: Records = ()
    shifts: Records = ()
    sensitivities: Records = ()
    worst_case: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProvenanceSection:
    """What produced the run: versions, seeds, configuration and scenario hashes."""

    safety_val_version: str
    report_safety_val_version: str
    versions: dict[str, str]
    seeds: dict[str, int]
    config: dict[str, Any]
    config_hash: str
    stored_config_hash: str | None
    scenario_file: str
    scenario_sha256: str
    created: str
    updated: str


@dataclass(frozen=True)
class Report:
    """A failure-probability report, read top-down: verdict first.

    Build one with :func:`build_report`; render it with
    :func:`safety_val.report.render_html`, :func:`~safety_val.report.render_markdown`
    or :func:`~safety_val.report.render_json`.
    """

    title: str
    generated_at: str
    run_dir: str
    layout: str
    verdict: Verdict
    estimate: EstimateSection
    scenario: ScenarioSection
    simulation: SimulationSection
    sensitivity: SensitivitySection
    regions: RegionsSection
    robustness: RobustnessSection
    provenance: ProvenanceSection
    stages: tuple[Stage, ...] = ()
    notes: tuple[str, ...] = ()
    schema: str = REPORT_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary (the JSON format; see ``report.schema.json``)."""
        result: dict[str, Any] = json_safe(_plain(self))
        return result


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, Verdict):
            return value.to_dict()
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- building ---------------------------------------------------------------------------------


def build_report(run_dir: str | Path, *, target: float | None = None) -> Report:
    """Read a run directory into a :class:`Report`.

    Parameters
    ----------
    run_dir
        A run directory of ``safety-val run`` (``pipeline.json``) or of
        ``safety-val estimate`` (``result.json``), with or without the robustness and
        critical-region analyses.
    target
        Acceptance target, a failure probability per exposure in (0, 1). Default: the
        pipeline's target, else :data:`~safety_val.report.verdict.DEFAULT_TARGET`.

    Returns
    -------
    Report

    Raises
    ------
    ValidationError
        ``target`` outside (0, 1); ``run_dir`` not a run directory; a file in it
        corrupt (the error names it) or written by a newer safety-val.
    """
    layout = locate(run_dir)
    if target is None:
        target = layout.pipeline.get("target", DEFAULT_TARGET)
        if target is None:
            target = DEFAULT_TARGET
    target_value = check_target(target)
    result_file = layout.reliability / "result.json"
    result_report = read_json(result_file, what="reliability result")
    estimate = _estimate(layout, result_report, result_file)
    verdict = judge(estimate.pf, None if estimate.status != DONE else estimate.ci, target_value)
    scenario_file = str(
        layout.pipeline.get("scenario_file") or (result_report or {}).get("scenario_file") or ""
    )
    scenario_sha = str(
        layout.pipeline.get("scenario_sha256") or (result_report or {}).get("scenario_sha256") or ""
    )
    scenario_name = str(
        layout.pipeline.get("scenario") or (result_report or {}).get("scenario") or "?"
    )
    scenario = _scenario(scenario_file, scenario_sha)
    stages = _stages(layout, result_report)
    provenance = _provenance(layout, result_report, scenario_file, scenario_sha)
    notes = []
    if scenario.status != DONE:
        notes.append(f"scenario summary unavailable: {scenario.message}")
    if provenance.stored_config_hash not in (None, provenance.config_hash):
        notes.append(
            "the configuration hash recorded in pipeline.json differs from the hash of the "
            "recorded configuration"
        )
    return Report(
        title=f"Failure probability of '{scenario_name}'",
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        run_dir=str(layout.root),
        layout=layout.kind,
        verdict=verdict,
        estimate=estimate,
        scenario=scenario,
        simulation=_simulation(layout),
        sensitivity=_sensitivity(layout),
        regions=_regions(layout, scenario, estimate),
        robustness=_robustness(layout, estimate),
        provenance=provenance,
        stages=stages,
        notes=tuple(notes),
    )


def _figures(layout: RunLayout, folder: Path, names: Sequence[str]) -> tuple[str, ...]:
    """The figures among ``names`` that exist in ``folder``, relative to the run directory."""
    return tuple(
        (folder / name).relative_to(layout.root).as_posix()
        for name in names
        if (folder / name).is_file()
    )


def _records(value: Any) -> Records:
    if not isinstance(value, list):
        return ()
    return tuple(dict(r) for r in value if isinstance(r, Mapping))


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _estimate(layout: RunLayout, report: Mapping[str, Any] | None, file: Path) -> EstimateSection:
    if report is None:
        status, message = _not_run(
            layout, ("reliability", "estimate"), "no reliability result in the run"
        )
        return EstimateSection(status=status, message=message)
    result = report.get("result")
    if not isinstance(result, Mapping):
        raise ValidationError(
            "corrupt reliability result: no 'result' object", file=file, field="result"
        )
    ci = result.get("ci") or [None, None]
    return EstimateSection(
        status=DONE,
        message=str(result.get("message") or ""),
        pf=_float(result.get("pf")),
        cov=_float(result.get("cov")),
        ci=(_float(ci[0]), _float(ci[1])),
        beta=_float(result.get("beta")),
        n_calls=_int(result.get("n_calls")),
        new_simulations=_int(report.get("new_simulations")),
        n_errors=_int(result.get("n_errors")),
        method=str(result.get("method") or ""),
        method_requested=str(report.get("method_requested") or ""),
        converged=bool(result.get("converged")),
        target_cov=_float(report.get("target_cov")),
        max_calls=_int(report.get("max_calls")),
        seed=_int(report.get("seed")),
        history=_records(result.get("history")),
        design_points=_records(result.get("design_points")),
    )


def parameter_summaries(scenario: LogicalScenario) -> list[ParameterSummary]:
    """Each parameter of ``scenario`` as text: distribution, support, ODD attribute.

    The one description of a scenario's parameters, shown by the report and by
    ``safety-val scenario show``.
    """
    from safety_val.distributions import support

    summaries = []
    for p in scenario.parameters:
        if p.distribution is None:
            distribution, bounds = "value set", ""
        else:
            spec = p.distribution.to_dict()
            family = spec.pop("family")
            distribution = f"{family}({', '.join(f'{k}={v}' for k, v in spec.items())})"
            if p.bounds:
                distribution += f" on [{p.bounds[0]:g}, {p.bounds[1]:g}]"
            lo, hi = support(p.marginal)
            bounds = ", ".join(p.categories) if p.categories else f"[{lo:g}, {hi:g}]"
        attribute = ""
        if p.odd_attribute:
            attribute = f"{p.odd_attribute} {scenario.odd.attribute(p.odd_attribute).describe()}"
        summaries.append(
            ParameterSummary(
                name=p.name,
                unit=p.unit,
                distribution=distribution,
                support=bounds,
                odd_attribute=attribute,
                description=str(getattr(p, "description", "") or ""),
            )
        )
    return summaries


def _scenario(file: str, sha256: str) -> ScenarioSection:
    from safety_val.scenario import load_scenario

    if not file:
        return ScenarioSection(status=NOT_RUN, message="the run does not name its scenario file")
    path = Path(file)
    if not path.is_file():
        return ScenarioSection(status="unavailable", message=f"scenario file {file} not found")
    try:
        scenario = load_scenario(path)
    except ValidationError as exc:
        return ScenarioSection(status="unavailable", message=f"invalid scenario file: {exc}")
    if sha256 and scenario.source_sha256 != sha256:
        return ScenarioSection(
            status="unavailable",
            message=f"scenario file {file} changed since the run (sha256 differs)",
            file=file,
        )
    parameters = parameter_summaries(scenario)
    dependence = ""
    if scenario.dependence is not None:
        dependence = (
            f"normal copula ({scenario.dependence.kind}) over "
            f"{', '.join(scenario.dependence.parameters)}: "
            f"{np.asarray(scenario.dependence.matrix).tolist()}"
        )
    return ScenarioSection(
        status=DONE,
        name=scenario.name,
        description=scenario.description,
        file=file,
        sha256=scenario.source_sha256 or "",
        odd=scenario.odd.name,
        template=scenario.template,
        simulator=str(scenario.simulator.get("kind", "builtin")),
        parameters=tuple(parameters),
        dependence=dependence,
        fixed=dict(scenario.fixed),
        kpis=tuple(scenario.kpis),
        limit_state=scenario.criterion.expression,
        limit_state_description=scenario.criterion.description,
        references=tuple(scenario.references),
    )


def _stage_entry(layout: RunLayout, name: str) -> Mapping[str, Any]:
    stages = layout.pipeline.get("stages")
    entry = stages.get(name) if isinstance(stages, Mapping) else None
    return entry if isinstance(entry, Mapping) else {}


def _not_run(layout: RunLayout, names: Sequence[str], default: str) -> tuple[str, str]:
    """Status and message of a stage whose output is missing."""
    for name in names:
        entry = _stage_entry(layout, name)
        if entry:
            status = str(entry.get("status") or NOT_RUN)
            status = NOT_RUN if status in ("pending", DONE) else status
            return status, str(entry.get("message") or default)
    return NOT_RUN, default


def _simulation(layout: RunLayout) -> SimulationSection:
    from safety_val.runs.simulate import summarise

    if layout.doe is None or not (layout.doe / "manifest.json").is_file():
        status, message = _not_run(layout, ("doe", "simulation"), "no design of experiments")
        return SimulationSection(status=status, message=message)
    samples = read_store_samples(layout.doe)
    manifest = read_json(layout.doe / "manifest.json") or {}
    if samples.empty or "g" not in samples:
        return SimulationSection(status=NOT_RUN, message="the design has no simulated scenario")
    summary = summarise(samples, ())
    return SimulationSection(
        status=DONE,
        design=str(manifest.get("design") or ""),
        n=int(manifest.get("n") or summary.n),
        n_ok=summary.n_ok,
        n_error=summary.n_error,
        n_timeout=summary.n_timeout,
        n_failures=summary.n_failures,
        failure_fraction=_float(summary.failure_fraction),
        ci=(_float(summary.ci[0]), _float(summary.ci[1])),
    )


def _sensitivity(layout: RunLayout) -> SensitivitySection:
    folder = layout.sensitivity
    content = (
        None
        if folder is None
        else read_json(folder / "sensitivity.json", what="sensitivity result")
    )
    if folder is None or content is None:
        status, message = _not_run(layout, ("sensitivity",), "no sensitivity analysis")
        return SensitivitySection(status=status, message=message)
    result = content.get("sensitivity") or {}
    figures = _figures(layout, folder, ("indices.png", "score_curve.png"))
    reduced = content.get("reduced_scenario")
    return SensitivitySection(
        status=DONE,
        methods=tuple(str(m) for m in result.get("methods") or ()),
        output=str(result.get("output") or "g"),
        ranking=_records(result.get("ranking")),
        selected=tuple(str(s) for s in result.get("selected") or ()),
        costs={str(k): int(v) for k, v in (result.get("costs") or {}).items()},
        reduction_check=content.get("reduction_check"),
        reduced_scenario="" if not reduced else Path(str(reduced)).name,
        noise_floor=_records(result.get("noise_floor")),
        notes=tuple(str(n) for n in result.get("notes") or ()),
        figures=figures,
    )


def _pf_basis(
    pf: float | None, n_sample: int | None, resampled: bool, estimate: EstimateSection, uses: str
) -> str:
    """Where a section's nominal pf comes from, and how it relates to the verdict's pf."""
    if pf is None:
        return ""
    verdict_pf = estimate.pf if estimate.status == DONE else None
    stage = "the reliability stage"
    if estimate.method:
        stage += f", method {estimate.method}"
    if estimate.n_calls is not None:
        stage += f", {estimate.n_calls:,} calls"
    if not resampled:
        return f"pf = {pf:.4g}, the reliability stage's estimate (the verdict's); {uses}."
    size = f"{n_sample:,}-point " if n_sample else ""
    text = f"pf re-estimated on the {size}reference importance sample: {pf:.4g}"
    if verdict_pf is not None:
        text += f" (the verdict's {verdict_pf:.4g} comes from {stage})"
    return (
        f"{text}. {uses[0].upper()}{uses[1:]}: this analysis needs the limit state on a "
        "weighted sample drawn around the design points, which the reliability stage's own "
        "calls are not, so it draws one and estimates pf again on it; the two estimates "
        "differ by their sampling errors."
    )


def _regions(
    layout: RunLayout, scenario: ScenarioSection, estimate: EstimateSection
) -> RegionsSection:
    folder = layout.reliability
    content = read_json(folder / "regions.json", what="critical-region result")
    if content is None:
        status, message = _not_run(
            layout, ("regions", "critical_regions"), "no critical-region analysis"
        )
        return RegionsSection(status=status, message=message)
    modes = _records(content.get("modes"))
    names = [str(n) for n in content.get("parameter_names") or ()]
    xosc = sorted(
        str(p.relative_to(layout.root)) for p in folder.rglob("*.xosc") if "report" not in p.parts
    )
    pf = _float(content.get("pf"))
    source = content.get("pf_source")
    if source is None:  # written before pf_source was recorded: a re-estimate if it differs
        resampled = (
            pf is not None
            and estimate.pf is not None
            and not math.isclose(pf, estimate.pf, rel_tol=1e-9)
        )
    else:
        resampled = source != "result"
    basis = _pf_basis(
        pf,
        _int(content.get("n_sample")),
        resampled,
        estimate,
        "the failure modes' shares and pf are fractions of this pf",
    )
    return RegionsSection(
        status=DONE,
        pf=pf,
        pf_basis=basis,
        units={str(k): str(v) for k, v in (content.get("units") or {}).items()},
        modes=modes,
        rules=_records(content.get("rules")),
        examples=_examples(layout, modes, names),
        xosc_files=tuple(xosc),
        notes=tuple(str(n) for n in content.get("notes") or ()),
        figures=_figures(layout, folder, ("slices.png",)),
    )


def _examples(layout: RunLayout, modes: Records, names: Sequence[str]) -> Records:
    """The stored failed scenarios nearest to each mode's design point (replayable by id).

    Distance: Euclidean over the numeric parameters, each scaled by its standard
    deviation among the stored failures.
    """
    frames = [read_store_samples(store) for store in iter_stores(layout.reliability)]
    frames = [f for f in frames if len(f) and "g" in f]
    if not frames or not modes:
        return ()
    samples = pd.concat(frames, ignore_index=True).drop_duplicates("scenario_id")
    failed = samples.loc[pd.to_numeric(samples["g"], errors="coerce") <= 0].reset_index(drop=True)
    numeric = [
        n
        for n in names
        if n in failed
        and pd.api.types.is_numeric_dtype(failed[n])
        and all(isinstance(m.get(n), int | float) for m in modes)
    ]
    if failed.empty or not numeric:
        return ()
    values = failed[numeric].to_numpy(dtype=float)
    scale = values.std(axis=0)
    scale[~(scale > 0)] = 1.0
    examples: list[dict[str, Any]] = []
    for mode in modes:
        centre = np.array([float(mode[n]) for n in numeric])
        distance = np.sqrt((((values - centre) / scale) ** 2).sum(axis=1))
        for rank, row in enumerate(np.argsort(distance, kind="stable")[:EXAMPLES_PER_MODE], 1):
            record = failed.iloc[int(row)]
            examples.append(
                {
                    "mode": mode.get("mode"),
                    "rank": rank,
                    "scenario_id": str(record["scenario_id"]),
                    "g": _float(record["g"]),
                    **{n: json_safe(record[n]) for n in names if n in failed},
                }
            )
    return tuple(examples)


def _robustness(layout: RunLayout, estimate: EstimateSection) -> RobustnessSection:
    folder = layout.reliability
    content = read_json(folder / "robustness.json", what="robustness result")
    if content is None:
        status, message = _not_run(layout, ("robustness",), "no robustness analysis")
        return RobustnessSection(status=status, message=message)
    worst = content.get("worst_case")
    sample = content.get("sample")
    pf = _float(content.get("pf"))
    basis = _pf_basis(
        pf,
        _int(sample.get("n")) if isinstance(sample, Mapping) else None,
        isinstance(sample, Mapping),
        estimate,
        "the safety margins, the shifts' ratio_to_nominal and the tornado plot's 'nominal' "
        "refer to this pf",
    )
    return RobustnessSection(
        status=DONE,
        pf=pf,
        pf_basis=basis,
        beta=_float(content.get("beta")),
        margins=_records(content.get("margins")),
        shifts=_records(content.get("shifts")),
        sensitivities=_records(content.get("sensitivities")),
        worst_case=dict(worst) if isinstance(worst, Mapping) else None,
        notes=tuple(str(n) for n in content.get("notes") or ()),
        figures=_figures(layout, folder, ("tornado.png",)),
    )


def _stages(layout: RunLayout, result_report: Mapping[str, Any] | None) -> tuple[Stage, ...]:
    stages = layout.pipeline.get("stages")
    if isinstance(stages, Mapping):
        return tuple(
            _own_stage(
                Stage(
                    name=str(name),
                    status=str(entry.get("status") or "pending"),
                    seconds=_float(entry.get("seconds")),
                    message=str(entry.get("message") or ""),
                )
            )
            for name, entry in stages.items()
            if isinstance(entry, Mapping)
        )
    folder = layout.reliability
    return (
        Stage("estimate", DONE if result_report is not None else NOT_RUN),
        Stage("robustness", DONE if (folder / "robustness.json").is_file() else NOT_RUN),
        Stage("regions", DONE if (folder / "regions.json").is_file() else NOT_RUN),
    )


def _own_stage(stage: Stage) -> Stage:
    """The pipeline's ``report`` stage as this report shows it.

    The pipeline writes the report while its ``report`` stage is recorded as
    ``running`` in ``pipeline.json``; the report being read is that stage's output,
    so the stage is shown complete (``done``, "this report") rather than running.
    (A ``running`` record left by an interrupted run means the same to a report
    built from it afterwards: this report is what the stage was writing.)
    """
    if stage.name != REPORT_STAGE or stage.status != RUNNING:
        return stage
    return Stage(name=stage.name, status=DONE, seconds=None, message=THIS_REPORT)


def _provenance(
    layout: RunLayout, result_report: Mapping[str, Any] | None, scenario_file: str, sha: str
) -> ProvenanceSection:
    manifest: Mapping[str, Any] = {}
    for store in (layout.reliability, layout.doe):
        if store is not None and (store / "manifest.json").is_file():
            manifest = read_json(store / "manifest.json") or {}
            break
    versions = {str(k): str(v) for k, v in (manifest.get("versions") or {}).items()}
    run_version = str(
        layout.pipeline.get("safety_val_version") or versions.get("safety_val") or "unknown"
    )
    report = dict(result_report or {})
    config_value = layout.pipeline.get("config")
    if isinstance(config_value, Mapping):
        config = dict(config_value)
    else:  # an estimate run: its configuration is what result.json records
        config = {
            k: report.get(k)
            for k in ("scenario_sha256", "method_requested", "seed", "target_cov", "max_calls")
        }
    seeds = {str(k): int(v) for k, v in _find_seeds(config).items()}
    if report.get("seed") is not None:
        seeds.setdefault("estimate", int(report["seed"]))
    stored = layout.pipeline.get("config_hash")
    return ProvenanceSection(
        safety_val_version=run_version,
        report_safety_val_version=installed_version(),
        versions=versions,
        seeds=seeds,
        config=config,
        config_hash=config_hash(config),
        stored_config_hash=None if stored is None else str(stored),
        scenario_file=scenario_file,
        scenario_sha256=sha,
        created=str(manifest.get("created") or ""),
        updated=str(manifest.get("updated") or ""),
    )


def _find_seeds(config: Mapping[str, Any], prefix: str = "") -> dict[str, int]:
    """Every integer ``seed`` in a nested configuration, keyed by its dotted path."""
    found: dict[str, int] = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(_find_seeds(value, f"{path}."))
        elif "seed" in str(key) and isinstance(value, int) and not isinstance(value, bool):
            found[path] = value
    return found
