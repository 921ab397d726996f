"""The verdict against the acceptance target: decided by the interval, never by pf alone."""

from __future__ import annotations

import math

import pytest

from safety_val.errors import ValidationError
from safety_val.report.verdict import check_target, judge


@pytest.mark.parametrize(
    ("ci", "expected"),
    [
        ((1e-9, 1e-7), "met"),  # upper bound exactly on the target: demonstrated
        ((1e-9, 0.99e-7), "met"),
        ((1.01e-7, 5e-7), "not met"),
        ((1e-7, 5e-7), "not demonstrated"),  # lower bound on the target: not shown above it
        ((5e-8, 2e-7), "not demonstrated"),
        ((None, 2e-7), "not demonstrated"),
        ((5e-8, None), "not demonstrated"),
        ((5e-8, math.nan), "not demonstrated"),
        ((2e-7, math.inf), "not met"),
    ],
)
def test_verdict_compares_the_interval_with_the_target(
    ci: tuple[float | None, float | None], expected: str
) -> None:
    verdict = judge(3e-8, ci, 1e-7)
    assert verdict.status == expected
    assert verdict.target == 1e-7
    assert "target 1e-07" in verdict.explanation


def test_point_estimate_below_target_is_not_enough() -> None:
    # pf itself is under the target, but the interval reaches above it
    verdict = judge(5e-8, (1e-8, 3e-7), 1e-7)
    assert verdict.status == "not demonstrated"
    assert "more simulations" in verdict.explanation


def test_no_estimate_is_not_run() -> None:
    verdict = judge(None, None, 1e-4)
    assert verdict.status == "not run"
    assert verdict.to_dict() == {
        "status": "not run",
        "target": 1e-4,
        "pf": None,
        "ci": [None, None],
        "explanation": "no failure-probability estimate",
    }


@pytest.mark.parametrize("target", [0, 1, -1e-7, 1.5, math.nan, math.inf, "abc", None])
def test_target_outside_the_open_unit_interval_is_refused(target: object) -> None:
    with pytest.raises(ValidationError, match=r"strictly between 0 and 1") as info:
        check_target(target)
    assert info.value.field == "target"
    with pytest.raises(ValidationError):
        judge(1e-3, (1e-4, 1e-2), target)  # type: ignore[arg-type]


def test_target_accepts_numbers_and_numeric_text() -> None:
    assert check_target("1e-7") == 1e-7
    assert check_target(0.5) == 0.5
