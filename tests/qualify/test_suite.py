"""The suite's machinery: the table, verdicts, exit codes, the seal, the acceptance statistics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from safety_val.cli import main
from safety_val.errors import ValidationError
from safety_val.qualify import (
    CheckContext,
    Outcome,
    Requirement,
    all_requirements,
    build_document,
    run_requirement,
    select_requirements,
    verify_document,
)
from safety_val.qualify.checks._stats import coverage_minimum, log_z
from safety_val.qualify.checks.physics import lag_stopping_distance
from safety_val.qualify.checks.reliability import check_budget, check_pf
from safety_val.qualify.runner import QualificationReport

AREAS = {
    "simulator physics", "reliability (analytic)", "sensitivity", "simulated reference",
    "execution", "resume", "determinism", "bad input",
}


def _requirement(check: Any, **budget: Any) -> Requirement:
    return Requirement(
        id="QR-TEST-ONE", area="test", title="t", text="The tool shall pass.",
        method="m with {n}", acceptance="a", check=check,
        budgets={"quick": {"n": 1, **budget}, "full": {"n": 2, **budget}},
    )


def _context(tmp_path: Path, mode: str = "quick") -> CheckContext:
    return CheckContext(workdir=tmp_path, mode=mode, workers=1)  # type: ignore[arg-type]


def test_the_quick_suite_is_a_stated_subset_that_touches_every_area() -> None:
    full, quick = select_requirements("full"), select_requirements("quick")
    assert {r.id for r in quick} < {r.id for r in full}
    assert {r.area for r in quick} == {r.area for r in full} == AREAS
    methods = ("mc", "form", "sorm", "directional", "subset", "ce_is", "nais", "ak", "ais", "auto")
    for method in methods:  # every reliability method: pf and budget in quick, all in full
        ids = {r.id for r in quick}
        assert f"QR-REL-PF-{method}" in ids and f"QR-REL-BUDGET-{method}" in ids
    assert {f"QR-REL-COV-{m}" for m in methods if m not in ("form", "sorm")} <= {
        r.id for r in full
    }
    # budgets are stated in the row: the quick method text names the quick budget
    coverage = {r.id: r for r in full}["QR-REL-COV-mc"]
    assert "10 estimates" in coverage.describe("quick")[0]
    assert "20 estimates" in coverage.describe("full")[0]
    assert "at least 7 of 10" in coverage.describe("quick")[1]


def test_a_budget_must_fill_every_field_and_name_full() -> None:
    with pytest.raises(ValidationError, match="names a field the budget lacks"):
        Requirement(id="QR-X", area="a", title="t", text="x", method="{missing}",
                    acceptance="a", check=lambda c, b: Outcome(True, "ok"),
                    budgets={"full": {}})
    with pytest.raises(ValidationError, match="budgets must name 'full'"):
        Requirement(id="QR-X", area="a", title="t", text="x", method="m", acceptance="a",
                    check=lambda c, b: Outcome(True, "ok"), budgets={"quick": {}})


def test_a_failing_check_fails_and_a_raising_check_is_an_error(tmp_path: Path) -> None:
    failed = run_requirement(
        _requirement(lambda c, b: Outcome(False, f"measured {b['n']}", seed=3)), _context(tmp_path)
    )
    assert (failed.verdict, failed.measured, failed.seed, failed.method) == (
        "fail", "measured 1", 3, "m with 1"
    )

    def broken(context: CheckContext, budget: Any) -> Outcome:
        raise ZeroDivisionError("no runs")

    error = run_requirement(_requirement(broken, seed=8), _context(tmp_path, "full"))
    assert error.verdict == "error" and error.seed == 8 and error.method == "m with 2"
    assert error.measured.startswith("the check could not run: ZeroDivisionError: no runs (at ")
    report = QualificationReport(mode="quick", selection=None, results=(failed, error),
                                 not_run=(), started="s", finished="f", wall_s=1.0)
    assert report.exit_code == 1 and report.counts == {"pass": 0, "fail": 1, "error": 1}


def test_the_cli_exits_1_with_one_line_when_a_requirement_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import safety_val.qualify.runner as runner
    import safety_val.qualify.suite as suite

    failing = _requirement(lambda c, b: Outcome(False, "pf 3e-3 vs 1e-3; z = 4.2"))
    monkeypatch.setattr(suite, "all_requirements", lambda: [failing])
    monkeypatch.setattr(runner, "all_requirements", lambda: [failing])
    assert main(["qualify", "--quick", "--out", str(tmp_path), "--quiet"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert error[0].startswith("error: qualification failed: 1 of 1 requirements did not pass")
    assert "QR-TEST-ONE" in error[0]
    document = json.loads((tmp_path / "qualification.json").read_text(encoding="utf-8"))
    assert document["summary"]["verdict"] == "failed" and document["summary"]["exit_code"] == 1
    assert document["scope"].startswith("quick subset: 1 of 1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the folder for the report is missing"),
        (["--quick", "--select", "QR-NOTHING*", "--out", "{tmp}/q"], "matches no requirement"),
        (["--out", "{tmp}/file.txt"], "exists and is not a folder"),
        (["--verify", "{tmp}/file.txt"], "not a JSON document"),
        (["--verify", "{tmp}/missing.json"], "file not found"),
        (["--verify", "{tmp}/q.json", "--quick"], "--verify checks an existing report"),
        (["--quick", "--workers", "0", "--out", "{tmp}/q"], "--workers"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    (tmp_path / "file.txt").write_text("not json", encoding="utf-8")
    argv = ["qualify", *(a.replace("{tmp}", str(tmp_path)) for a in args)]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and message in error[-1], error
    assert not (tmp_path / "q").exists()


def test_the_seal_covers_everything_but_itself() -> None:
    report = QualificationReport(mode="full", selection=None, results=(), not_run=("QR-A",),
                                 started="s", finished="f", wall_s=2.0,
                                 provenance={"packages": {"safety-val": "0"}})
    document = build_document(report, command="safety-val qualify --out x")
    assert verify_document(document)[0]
    assert document["summary"]["verdict"] == "failed"  # nothing run is not a pass
    for path in (("run", "wall_s"), ("integrity", "canonical_form"), ("not_run",)):
        altered = json.loads(json.dumps(document))
        target = altered
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = [] if path[-1] == "not_run" else 99
        assert not verify_document(altered)[0], path


def test_coverage_minimum_is_the_binomial_test_at_one_percent() -> None:
    for n in (10, 20, 40, 100):
        k = coverage_minimum(n)
        assert stats.binom.cdf(k - 1, n, 0.95) <= 0.01 < stats.binom.cdf(k, n, 0.95)


def test_log_z_is_the_distance_in_combined_log_normal_sigmas() -> None:
    sigma = math.sqrt(math.log1p(0.1**2) + math.log1p(0.05**2))
    assert log_z(1e-3 * math.exp(3 * sigma), 1e-3, 0.1, 0.05) == pytest.approx(3.0)
    assert log_z(2e-3, 2e-3, 0.0) == 0.0 and math.isinf(log_z(2e-3, 1e-3, 0.0))


def test_lag_stopping_distance_limits() -> None:
    v0, d, tau = 25.0, 8.0, 0.3
    # long after the lag has settled the vehicle lags behind a perfect brake by v0 tau - d tau²/2
    assert lag_stopping_distance(v0, d, tau) == pytest.approx(
        v0**2 / (2 * d) + v0 * tau - d * tau**2 / 2, rel=1e-6
    )
    assert lag_stopping_distance(v0, d, 1e-9) == pytest.approx(v0**2 / (2 * d), rel=1e-8)


def test_the_reliability_checks_can_fail(tmp_path: Path) -> None:
    context = _context(tmp_path)
    # FORM converges with a generous budget: the budget requirement must then fail
    budget = check_budget(context, {"method": "form", "max_calls": 5000, "seed": 0})
    assert not budget.passed and "converged is False" in budget.measured
    # one Gaussian proposal misses a region of RP57 (outside its domain): the estimate is off
    pf = check_pf(context, {"method": "ce_is", "problems": ("RP57",), "seed": 1})
    assert not pf.passed and pf.details[0]["z"] > 3.0


def test_ids_are_unique_and_stable() -> None:
    ids = [r.id for r in all_requirements()]
    assert len(ids) == len(set(ids))
    assert all(i.startswith("QR-") for i in ids)
