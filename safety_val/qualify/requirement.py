"""What a qualification requirement is, what its check returns, and the row it becomes.

A :class:`Requirement` is one line of the validation plan: an identifier, the requirement
a safety case relies on, how it is checked (``method``), when it passes (``acceptance``)
and the budget of each mode. Its ``check`` is a plain function
``check(context, budget) -> Outcome``; the runner turns the outcome into a
:class:`RequirementResult`, the row of the report.

``method`` and ``acceptance`` may contain ``{name}`` fields filled from the mode's budget,
so that the row states exactly what ran (e.g. ``{n_runs}`` crude Monte Carlo runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from safety_val.errors import ValidationError

__all__ = [
    "MODES",
    "VERDICTS",
    "CheckContext",
    "Mode",
    "Outcome",
    "Requirement",
    "RequirementResult",
    "Seed",
    "Verdict",
]

Mode = Literal["quick", "full"]
MODES: tuple[Mode, ...] = ("quick", "full")
"""The suite's modes: ``quick`` is a stated subset with smaller budgets."""

Verdict = Literal["pass", "fail", "error"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "error")
"""``error``: the check itself could not run to its end (counted as not passed)."""

Seed = int | list[int] | None
"""The seed(s) of a check: one, several (e.g. coverage over seeds), or none (deterministic)."""


@dataclass
class CheckContext:
    """What a check may use besides its budget.

    Attributes
    ----------
    workdir
        A private scratch folder for this check (deleted after the run).
    mode
        ``"quick"`` or ``"full"``.
    workers
        Worker processes for the checks that parallelise simulations.
    """

    workdir: Path
    mode: Mode
    workers: int


@dataclass(frozen=True)
class Outcome:
    """What a check measured and whether it met its acceptance criterion.

    Attributes
    ----------
    passed
        Whether the acceptance criterion holds.
    measured
        The measured value in words and numbers (one line, shown in the table).
    seed
        The seed(s) actually used.
    values
        The measured numbers by name (JSON scalars or lists; NaN becomes ``null``).
    details
        Sub-results, one mapping per case (e.g. per seed, per malformed file).
    notes
        Observations that do not decide the verdict (e.g. a source hash that differs
        from the reference's while the statistical check still passes).
    """

    passed: bool
    measured: str
    seed: Seed = None
    values: Mapping[str, Any] = field(default_factory=dict)
    details: Sequence[Mapping[str, Any]] = ()
    notes: Sequence[str] = ()


Check = Callable[[CheckContext, Mapping[str, Any]], Outcome]


@dataclass(frozen=True)
class Requirement:
    """One requirement of the validation suite.

    Parameters
    ----------
    id
        Stable identifier, e.g. ``"QR-REL-PF-nais"``; never reused for another meaning.
    area
        Group in the report (``"reliability"``, ``"simulated reference"``, ...).
    title
        A few words for the terminal table.
    text
        The requirement, as a safety case would quote it ("... shall ...").
    method
        How it is checked; ``{name}`` fields are filled from the mode's budget.
    acceptance
        The acceptance criterion, fixed before the check runs; ``{name}`` fields as in
        ``method``.
    check
        ``check(context, budget) -> Outcome``.
    budgets
        Per mode, the keyword budget of the check; a requirement without a ``"quick"``
        entry runs only in the full suite.

    Raises
    ------
    ValidationError
        An empty id, a mode name that is not ``quick`` or ``full``, no ``full`` budget,
        or a ``{field}`` of ``method``/``acceptance`` missing from a budget.
    """

    id: str
    area: str
    title: str
    text: str
    method: str
    acceptance: str
    check: Check = field(repr=False, compare=False)
    budgets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or any(c.isspace() for c in self.id):
            raise ValidationError("must be a non-empty word", field="id", value=self.id)
        unknown = sorted(set(self.budgets) - set(MODES))
        if unknown or "full" not in self.budgets:
            raise ValidationError(
                "budgets must name 'full' and optionally 'quick'",
                field=f"{self.id}.budgets",
                value=sorted(self.budgets),
                expected="keys among quick, full (full required)",
            )
        for mode in MODES:
            if mode in self.budgets:
                self.describe(mode)  # every {field} must be filled by every budget

    def runs_in(self, mode: Mode) -> bool:
        """Whether the requirement is part of ``mode``."""
        return mode in self.budgets

    def budget(self, mode: Mode) -> Mapping[str, Any]:
        """The budget of ``mode`` (the full one for a full-only requirement)."""
        return self.budgets[mode] if mode in self.budgets else self.budgets["full"]

    def describe(self, mode: Mode) -> tuple[str, str]:
        """``(method, acceptance)`` with the budget of ``mode`` filled in."""
        budget = self.budget(mode)
        try:
            return self.method.format(**budget), self.acceptance.format(**budget)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValidationError(
                f"method or acceptance names a field the budget lacks ({exc})",
                field=f"{self.id}.budgets.{mode}",
                value=sorted(budget),
            ) from None


@dataclass(frozen=True)
class RequirementResult:
    """One row of the qualification report.

    Attributes
    ----------
    id, area, title, requirement, method, acceptance
        From the :class:`Requirement`, with the budget filled in.
    measured
        The measured value (one line).
    verdict
        ``"pass"``, ``"fail"`` or ``"error"`` (the check raised; ``measured`` says what).
    seed
        The seed(s) used; ``None`` for a deterministic check.
    duration_s
        Wall-clock time of the check.
    values, details, notes
        As in :class:`Outcome`.
    """

    id: str
    area: str
    title: str
    requirement: str
    method: str
    acceptance: str
    measured: str
    verdict: Verdict
    seed: Seed
    duration_s: float
    values: Mapping[str, Any] = field(default_factory=dict)
    details: Sequence[Mapping[str, Any]] = ()
    notes: Sequence[str] = ()

    @property
    def passed(self) -> bool:
        """Whether the verdict is ``"pass"``."""
        return self.verdict == "pass"

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (NaN and infinities become ``None``)."""
        return {
            "id": self.id,
            "area": self.area,
            "title": self.title,
            "requirement": self.requirement,
            "method": self.method,
            "acceptance": self.acceptance,
            "measured": self.measured,
            "verdict": self.verdict,
            "seed": self.seed,
            "duration_s": round(self.duration_s, 3),
            "values": json_ready(dict(self.values)),
            "details": [json_ready(dict(d)) for d in self.details],
            "notes": [str(n) for n in self.notes],
        }


def json_ready(value: Any) -> Any:
    """``value`` with NumPy scalars as Python numbers, tuples as lists, non-finite as ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> json_ready({"pf": np.float64(0.5), "ci": (float("nan"), 1), "ok": np.bool_(True)})
    {'pf': 0.5, 'ci': [None, 1], 'ok': True}
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, bool | str) or value is None:
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # NumPy scalar
        return json_ready(item())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):
        return json_ready(value.tolist())
    return str(value)
