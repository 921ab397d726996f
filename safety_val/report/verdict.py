"""The verdict of a failure-probability estimate against an acceptance target.

A target is a tolerable failure probability per exposure (one concrete scenario
drawn from the logical scenario's distribution), e.g. ``1e-7``. The verdict
compares the target with the estimate's 95 % interval, never with the point
estimate alone:

- **met** — the interval's upper bound is at or below the target: the data show,
  at the 95 % level, that pf ≤ target;
- **not met** — the interval's lower bound is above the target: pf > target;
- **not demonstrated** — the interval straddles the target (or an end is unknown):
  more simulations (or a more efficient method) are needed to decide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from safety_val.errors import ValidationError

__all__ = [
    "DEFAULT_TARGET",
    "MET",
    "NOT_DEMONSTRATED",
    "NOT_MET",
    "NOT_RUN",
    "Verdict",
    "check_target",
    "judge",
]

DEFAULT_TARGET: Final = 1e-7
"""Acceptance target used when none is given (a mature system, per exposure)."""

MET: Final = "met"
NOT_MET: Final = "not met"
NOT_DEMONSTRATED: Final = "not demonstrated"
NOT_RUN: Final = "not run"

VerdictStatus = Literal["met", "not met", "not demonstrated", "not run"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing a failure probability with its acceptance target.

    Attributes
    ----------
    status
        ``"met"``, ``"not met"``, ``"not demonstrated"`` or ``"not run"`` (no estimate).
    target
        The tolerable failure probability per exposure.
    pf
        The point estimate (``None`` when not run or unknown).
    ci
        The 95 % interval ``(low, high)`` (ends ``None`` when unknown).
    explanation
        One sentence saying why, in plain words.
    """

    status: VerdictStatus
    target: float
    pf: float | None
    ci: tuple[float | None, float | None]
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary."""
        return {
            "status": self.status,
            "target": self.target,
            "pf": self.pf,
            "ci": list(self.ci),
            "explanation": self.explanation,
        }


def check_target(target: Any, *, field: str = "target") -> float:
    """Return ``target`` as a float, or raise if it is not a probability in (0, 1).

    Raises
    ------
    ValidationError
        ``target`` is not a number strictly between 0 and 1.

    Examples
    --------
    >>> check_target("1e-7")
    1e-07
    >>> check_target(1.5)
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: target: acceptance target must be a probability \
strictly between 0 and 1 (got 1.5; expected 0 < target < 1, e.g. 1e-7)
    """
    try:
        value = float(target)
    except (TypeError, ValueError):
        value = math.nan
    if not (0.0 < value < 1.0):
        raise ValidationError(
            "acceptance target must be a probability strictly between 0 and 1",
            field=field,
            value=target,
            expected="0 < target < 1, e.g. 1e-7",
        )
    return value


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def judge(pf: float | None, ci: tuple[Any, Any] | None, target: float) -> Verdict:
    """Compare an estimate's 95 % interval with the acceptance ``target``.

    Parameters
    ----------
    pf
        Point estimate (``None`` when no estimate was run).
    ci
        Its 95 % interval ``(low, high)``; ``None`` when no estimate was run.
    target
        Tolerable failure probability per exposure, in (0, 1).

    Returns
    -------
    Verdict

    Raises
    ------
    ValidationError
        ``target`` is outside (0, 1).

    Examples
    --------
    >>> judge(2e-8, (1e-8, 5e-8), 1e-7).status
    'met'
    >>> judge(3e-6, (2e-6, 4e-6), 1e-7).status
    'not met'
    >>> judge(1e-7, (5e-8, 2e-7), 1e-7).status
    'not demonstrated'
    >>> judge(None, None, 1e-7).status
    'not run'
    """
    target = check_target(target)
    if ci is None:
        return Verdict(NOT_RUN, target, None, (None, None), "no failure-probability estimate")
    low, high = _finite(ci[0]), _finite(ci[1])
    point = _finite(pf)
    bounds = f"95 % interval [{_fmt(low)}, {_fmt(high)}]"
    if high is not None and high <= target:
        status: VerdictStatus = MET
        text = f"the {bounds} lies at or below the target {target:.3g}"
    elif low is not None and low > target:
        status = NOT_MET
        text = f"the {bounds} lies above the target {target:.3g}"
    else:
        status = NOT_DEMONSTRATED
        text = (
            f"the {bounds} contains the target {target:.3g}: more simulations are needed to decide"
        )
    return Verdict(status, target, point, (low, high), text)


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g}"
