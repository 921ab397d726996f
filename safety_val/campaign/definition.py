"""Campaign files: :func:`load_campaign` and the entries, jobs and campaigns it builds.

The format is described in :mod:`safety_val.campaign`. Everything is validated before
anything runs: every scenario file is loaded, every ``fixed`` override is checked against
the scenario's simulator template, unknown keys are refused by
:func:`safety_val._validation.check_keys`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from safety_val._validation import Constraint, Interval, OneOf, check_keys, check_value
from safety_val._yaml import read_yaml_mapping, require_mapping
from safety_val.campaign.regression import DEFAULT_ALPHA, check_probability
from safety_val.errors import ValidationError

if TYPE_CHECKING:
    from safety_val.pipeline import PipelineConfig
    from safety_val.scenario import LogicalScenario

__all__ = [
    "ANALYSES",
    "MAX_BUDGET",
    "MIN_BUDGET",
    "PIPELINE_SETTINGS",
    "Campaign",
    "CampaignEntry",
    "Job",
    "effective_scenario",
    "load_campaign",
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
MIN_BUDGET: Final = 10
MAX_BUDGET: Final = 10**9
"""Largest simulator-call budget of a job (a larger one is a typo, not a plan)."""


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
        analysis or method, a budget outside [10, 10⁹], a method option of the wrong type
        or range (e.g. ``block_size: -3``), an override the simulator does not know or of
        the wrong type (a label for a numeric input, a number for a categorical one).

    Examples
    --------
    >>> root = Path(__file__).parent.parent.parent
    >>> campaign = load_campaign(root / "scenarios/campaigns/nightly.yaml")
    >>> campaign.name, len(campaign.jobs()) >= 2
    ('nightly', True)
    """
    from safety_val.reliability import get_method

    file, body = read_yaml_mapping(path, root="campaign")
    check_keys(body, _CAMPAIGN_KEYS, file=file, where="campaign")
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
    check_keys(body, _ENTRY_KEYS, file=file, where=where)
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
    _check_fixed(scenario, fixed, file, f"{where}.fixed")
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
            expected=f"e.g. [2000] (each an int in [{MIN_BUDGET}, {MAX_BUDGET}])",
        )
    for j, budget in enumerate(budgets):
        for bound in (Interval(int, MIN_BUDGET, None), Interval(int, None, MAX_BUDGET)):
            check_value(budget, [bound], field=f"{where}.budgets[{j}]", file=file)
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
    _check_option_values(get_method(method), options, file, f"{where}.options")
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


def _option_constraints(function: Callable[..., Any], name: str) -> list[Constraint] | None:
    """What option ``name`` of a reliability method accepts, from its annotation.

    Counts (``int``) are ints >= 1, reals (``float``) finite numbers, flags ``bool`` and
    names ``str``; ``| None`` also accepts ``None``. ``None``: anything (no plain type).
    """
    try:
        parameter = inspect.signature(function).parameters[name]
    except (KeyError, TypeError, ValueError):
        return None
    annotation = parameter.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    parts = {part.strip() for part in str(text).split("|")}
    plain = parts - {"None"}
    by_type: dict[str, Constraint] = {
        "int": Interval(int, 1, None),
        "float": Interval(float, None, None),
        "bool": OneOf(True, False),
        "str": str,
    }
    if len(plain) != 1 or not plain <= set(by_type):
        return None
    constraints: list[Constraint] = [by_type[plain.pop()]]
    if "None" in parts:
        constraints.append(None)
    return constraints


def _check_option_values(
    function: Callable[..., Any], options: Mapping[str, Any], file: Path, where: str
) -> None:
    """Type- and range-check the options of a reliability method (names are checked already)."""
    for name, value in options.items():
        constraints = _option_constraints(function, str(name))
        if constraints is not None:
            check_value(value, constraints, field=f"{where}.{name}", file=file)


def _check_fixed(
    scenario: LogicalScenario, fixed: Mapping[str, Any], file: Path, where: str
) -> None:
    """Each override is a number, or a label of a categorical template input.

    With a built-in simulator the template says which inputs are categorical (a label
    from their categories) and the range of numeric ones; for any other simulator an
    override must be a number (a label cannot be checked before the run).
    """
    inputs = _template_inputs(scenario)
    for key, value in fixed.items():
        field_name = f"{where}.{key}"
        info = None if inputs is None else inputs.get(str(key))
        if info is not None and info.categorical:
            check_value(value, [OneOf(*info.categories)], field=field_name, file=file)
        elif info is not None:
            low = info.lower if math.isfinite(info.lower) else None
            high = info.upper if math.isfinite(info.upper) else None
            check_value(value, [Interval(float, low, high)], field=field_name, file=file)
        elif inputs is None:
            check_value(value, [Interval(float, None, None)], field=field_name, file=file)
        # a key the template does not know is refused by effective_scenario, naming its inputs


def _template_inputs(scenario: LogicalScenario) -> Mapping[str, Any] | None:
    """The built-in template's inputs (``ParameterInfo`` by name), or ``None``."""
    if str(scenario.simulator.get("kind", "builtin")) != "builtin":
        return None
    from safety_val.sim import get_template

    try:
        return dict(get_template(scenario.template).parameters)
    except ValidationError:
        return None


def _pipeline_settings(value: Any, file: Path, where: str) -> dict[str, Any]:
    """The entry's ``pipeline:`` mapping: known settings with plain values."""
    settings = dict(require_mapping(value, file=file, field=where))
    check_keys(settings, PIPELINE_SETTINGS, file=file, where=where)
    for key, setting in settings.items():
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


# -- field checks ---------------------------------------------------------------------------


def _target(value: Any, file: Path, where: str) -> float:
    from safety_val.report.verdict import check_target

    try:
        return check_target(value, field=where)
    except ValidationError as exc:
        raise exc.with_context(file=file) from None


def _seed(value: Any, file: Path, where: str) -> int:
    check_value(value, [Interval(int, 0, None)], field=where, file=file)
    return int(value)


def _cov(value: Any, file: Path, where: str) -> float:
    check_value(value, [Interval(float, 0, 1, closed="neither")], field=where, file=file)
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

