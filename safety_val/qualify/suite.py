"""The versioned table of requirements: one place that lists them, in report order.

:data:`SUITE_VERSION` changes whenever a requirement, its method, its acceptance
criterion or a budget changes, so that two reports with the same suite version checked
the same things. Identifiers are never reused for another meaning.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from safety_val.errors import ValidationError
from safety_val.qualify.requirement import Mode, Requirement

__all__ = ["SUITE_NAME", "SUITE_VERSION", "all_requirements", "select_requirements"]

SUITE_NAME = "safety-val tool qualification suite"
SUITE_VERSION = "1.1.0"
"""Version of the suite (requirements, methods, acceptance criteria, budgets)."""


def all_requirements() -> list[Requirement]:
    """Every requirement of the full suite, in report order.

    Raises
    ------
    ValidationError
        Two requirements with the same id (a bug of the suite).

    Examples
    --------
    >>> ids = [r.id for r in all_requirements()]
    >>> ids[0], "QR-EXE-EQUIV" in ids, len(ids) == len(set(ids))
    ('QR-SIM-STOP', True, True)
    """
    from safety_val.qualify.checks import (
        bad_input,
        determinism,
        execution,
        physics,
        reliability,
        resume,
        sensitivity,
        simulated,
    )

    rows: list[Requirement] = []
    for module in (
        physics,
        reliability,
        sensitivity,
        simulated,
        execution,
        resume,
        determinism,
        bad_input,
    ):
        rows.extend(module.requirements())
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise ValidationError("duplicate requirement id", field="id", value=row.id)
        seen.add(row.id)
    return rows


def select_requirements(mode: Mode, patterns: Sequence[str] | None = None) -> list[Requirement]:
    """The requirements of ``mode``, optionally only those matching ``patterns``.

    Parameters
    ----------
    mode
        ``"quick"`` (the stated subset) or ``"full"``.
    patterns
        Shell-style patterns on the id (``"QR-SIM-*"``); ``None``: all of the mode.

    Raises
    ------
    ValidationError
        A pattern that matches no requirement of the mode.

    Examples
    --------
    >>> [r.id for r in select_requirements("quick", ["QR-SIM-L*"])]
    ['QR-SIM-LAG']
    """
    rows = [r for r in all_requirements() if r.runs_in(mode)]
    if not patterns:
        return rows
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(r.id, pattern) for r in rows):
            raise ValidationError(
                f"matches no requirement of the {mode} suite",
                field="--select",
                value=pattern,
                expected="a pattern such as QR-SIM-* (ids are listed in the report)",
            )
    return [r for r in rows if any(fnmatch.fnmatchcase(r.id, p) for p in patterns)]
