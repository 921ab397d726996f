"""Run the suite: each requirement's check, timed, in its own scratch folder.

A check that raises does not stop the suite: its row gets the verdict ``"error"`` and
the exception's first line as the measured value (a qualification that cannot
demonstrate a requirement has not passed it).
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from safety_val.errors import ValidationError
from safety_val.qualify.provenance import provenance
from safety_val.qualify.requirement import CheckContext, Mode, Requirement, RequirementResult
from safety_val.qualify.suite import all_requirements, select_requirements

__all__ = ["QualificationReport", "run_qualification", "run_requirement"]

Progress = Callable[[int, int, str], None]
"""``progress(done, total, requirement_id)`` after each requirement."""


@dataclass(frozen=True)
class QualificationReport:
    """The outcome of one run of the suite.

    Attributes
    ----------
    mode
        ``"quick"`` or ``"full"``.
    selection
        The ``--select`` patterns of a partial run, ``None`` for the whole mode.
    results
        One :class:`RequirementResult` per requirement run, in suite order.
    not_run
        Ids of the full suite's requirements this run left out.
    started, finished
        ISO 8601 UTC timestamps.
    wall_s
        Wall-clock time of the whole run.
    provenance
        Versions, platform, CPU, commit (:func:`safety_val.qualify.provenance.provenance`).
    workers
        Worker processes the checks could use.
    """

    mode: Mode
    selection: tuple[str, ...] | None
    results: tuple[RequirementResult, ...]
    not_run: tuple[str, ...]
    started: str
    finished: str
    wall_s: float
    provenance: dict[str, Any] = field(default_factory=dict)
    workers: int = 1

    @property
    def passed(self) -> bool:
        """Whether every requirement run passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def counts(self) -> dict[str, int]:
        """Rows per verdict."""
        return {v: sum(r.verdict == v for r in self.results) for v in ("pass", "fail", "error")}

    @property
    def exit_code(self) -> int:
        """0 when every requirement passed, 1 otherwise."""
        return 0 if self.passed else 1

    @property
    def scope(self) -> str:
        """What this run covers, in words (stated in the report)."""
        total = len(self.results) + len(self.not_run)
        if self.selection:
            return (
                f"partial run: {len(self.results)} of {total} requirements selected with "
                f"{', '.join(self.selection)} ({self.mode} budgets); not a qualification"
            )
        if self.mode == "quick":
            return (
                f"quick subset: {len(self.results)} of {total} requirements with reduced "
                "budgets (stated in each row); the full suite runs them all"
            )
        return f"full suite: all {total} requirements"


def run_requirement(requirement: Requirement, context: CheckContext) -> RequirementResult:
    """Run one requirement's check; an exception becomes the verdict ``"error"``."""
    method, acceptance = requirement.describe(context.mode)
    budget = requirement.budget(context.mode)
    started = time.perf_counter()
    try:
        outcome = requirement.check(context, budget)
    except Exception as exc:  # the suite reports the failure of a check as its result
        first = (str(exc).strip().splitlines() or [""])[0]
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        place = f" (at {Path(where.filename).name}:{where.lineno})" if where else ""
        return RequirementResult(
            id=requirement.id,
            area=requirement.area,
            title=requirement.title,
            requirement=requirement.text,
            method=method,
            acceptance=acceptance,
            measured=f"the check could not run: {type(exc).__name__}: {first}{place}",
            verdict="error",
            seed=budget.get("seed"),
            duration_s=time.perf_counter() - started,
        )
    return RequirementResult(
        id=requirement.id,
        area=requirement.area,
        title=requirement.title,
        requirement=requirement.text,
        method=method,
        acceptance=acceptance,
        measured=outcome.measured,
        verdict="pass" if outcome.passed else "fail",
        seed=outcome.seed,
        duration_s=time.perf_counter() - started,
        values=outcome.values,
        details=outcome.details,
        notes=outcome.notes,
    )


def _check_workers(workers: Any) -> int:
    if workers is None:
        from safety_val.execution.process import available_cpus

        return max(1, int(available_cpus()))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(
            "must be a positive int", field="workers", value=workers, expected="an int >= 1"
        )
    return workers


def run_qualification(
    *,
    quick: bool = False,
    select: Sequence[str] | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> QualificationReport:
    """Run the qualification suite on the installed package.

    Parameters
    ----------
    quick
        Run the quick subset (smaller budgets; the report states which requirements).
    select
        Shell-style patterns on requirement ids: run only those (the report is marked
        as a partial run, not a qualification).
    workers
        Worker processes for the checks that parallelise simulations; default: the
        usable CPUs.
    progress
        Called as ``progress(done, total, requirement_id)`` after each requirement.

    Returns
    -------
    QualificationReport
        One row per requirement; ``exit_code`` 0 when all passed.

    Raises
    ------
    ValidationError
        A ``select`` pattern that matches nothing, or an invalid ``workers``.

    Examples
    --------
    >>> report = run_qualification(quick=True, select=["QR-SIM-LAG"])  # doctest: +SKIP
    >>> report.results[0].verdict  # doctest: +SKIP
    'pass'
    """
    mode: Mode = "quick" if quick else "full"
    n_workers = _check_workers(workers)
    chosen = select_requirements(mode, list(select) if select else None)
    chosen_ids = {r.id for r in chosen}
    not_run = tuple(r.id for r in all_requirements() if r.id not in chosen_ids)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    facts = provenance()
    try:
        facts["load_average_at_start"] = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        facts["load_average_at_start"] = None
    results: list[RequirementResult] = []
    with tempfile.TemporaryDirectory(prefix="safety-val-qualify-") as scratch:
        for index, requirement in enumerate(chosen):
            folder = Path(scratch) / requirement.id
            folder.mkdir()
            context = CheckContext(workdir=folder, mode=mode, workers=n_workers)
            results.append(run_requirement(requirement, context))
            if progress is not None:
                progress(index + 1, len(chosen), requirement.id)
    return QualificationReport(
        mode=mode,
        selection=tuple(select) if select else None,
        results=tuple(results),
        not_run=not_run,
        started=started_at.isoformat(timespec="seconds"),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
        wall_s=time.perf_counter() - started,
        provenance=facts,
        workers=n_workers,
    )
