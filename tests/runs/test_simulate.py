"""The simulate() pipeline: identical Parquet on every executor, and the run summary."""

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from safety_val import load_scenario, simulate
from safety_val.backends.callable import CallableSimulator
from safety_val.errors import ValidationError
from safety_val.execution.registry import make_executor
from tests.helpers import SCENARIOS

CUT_IN = SCENARIOS / "cut_in.yaml"


def _samples(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path / "samples").sort_values("sample_index").reset_index(drop=True)


@pytest.mark.ray
def test_serial_process_and_ray_write_identical_parquet(tmp_path: Path, ray_cluster: Any) -> None:
    scenario = load_scenario(CUT_IN)
    runs = {}
    for kind, batch_size in (("serial", 300), ("process", 37), ("ray", 64)):
        options = {} if kind == "serial" else {"n_workers": 2}
        with make_executor(kind, **options) as executor:
            run = simulate(
                scenario,
                n=300,
                out=tmp_path / kind,
                seed=9,
                design="mc",
                executor=executor,
                batch_size=batch_size,
            )
        assert run.manifest["executor"] == kind
        runs[kind] = _samples(tmp_path / kind)
    assert len(runs["serial"]) == 300
    assert runs["serial"]["status"].eq("ok").all()
    pd.testing.assert_frame_equal(runs["serial"], runs["process"])
    pd.testing.assert_frame_equal(runs["serial"], runs["ray"])


def test_g_column_and_summary_match_the_kpis(tmp_path: Path) -> None:
    scenario = load_scenario(CUT_IN)
    run = simulate(scenario, n=200, out=tmp_path / "run", seed=1, design="lhs")
    samples = run.samples
    expected_g = np.minimum(samples["min_ttc"], 10.0) - 1.0
    np.testing.assert_allclose(samples["g"], expected_g)
    assert run.summary.n_failures == int((samples["g"] <= 0).sum())
    lo, hi = run.summary.ci
    assert lo <= run.summary.failure_fraction <= hi
    assert run.manifest["coverage"]["n"] == 200
    # the design stored in the run is the design simulated
    design = pd.read_parquet(tmp_path / "run" / "design.parquet")
    pd.testing.assert_frame_equal(design, samples[design.columns.tolist()], check_dtype=False)


def test_failed_simulations_are_kept_and_not_counted_as_passes(tmp_path: Path) -> None:
    scenario = load_scenario(CUT_IN)

    def flaky(batch: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({"min_ttc": 5.0 - batch["cut_in_gap"] / 20}, index=batch.index)
        for kpi in scenario.kpis:
            if kpi not in out:
                out[kpi] = 0.0
        out.loc[batch["cut_in_gap"] > 40, "min_ttc"] = np.nan  # a KPI that comes back NaN
        return out

    sim = CallableSimulator(flaky, kpis=scenario.kpis)
    run = simulate(scenario, n=100, out=tmp_path / "run", seed=2, simulator=sim, batch_size=10)
    samples = run.samples
    bad = samples["cut_in_gap"] > 40
    assert bad.any() and len(samples) == 100
    assert (samples.loc[bad, "status"] == "error").all()
    assert samples.loc[bad, "message"].str.contains("min_ttc").all()
    assert samples.loc[bad, "g"].isna().all()
    assert run.summary.n_error == int(bad.sum())
    assert run.summary.n_ok == 100 - int(bad.sum())


def test_all_rows_failing_gives_no_estimate_not_a_crash(tmp_path: Path) -> None:
    scenario = load_scenario(CUT_IN)

    def broken(batch: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("licence server unreachable")

    run = simulate(
        scenario,
        n=12,
        out=tmp_path / "run",
        seed=2,
        batch_size=4,
        simulator=CallableSimulator(broken, kpis=scenario.kpis),
    )
    assert run.summary.n_error == 12 and run.summary.n_ok == 0
    assert run.manifest["summary"]["failure_fraction"] is None
    assert run.samples["message"].str.contains("licence server unreachable").all()


def test_resume_refuses_a_different_seed(tmp_path: Path) -> None:
    scenario = load_scenario(CUT_IN)
    simulate(scenario, n=20, out=tmp_path / "run", seed=1)
    with pytest.raises(ValidationError, match="seed"):
        simulate(scenario, n=20, out=tmp_path / "run", seed=2, resume=True)
    again = simulate(scenario, n=20, out=tmp_path / "run", seed=1, resume=True)
    assert len(again.samples) == 20


def test_scenario_limit_state_simulates_a_batch() -> None:
    scenario = load_scenario(CUT_IN)
    from safety_val.doe import concrete_scenarios

    frame = concrete_scenarios(scenario, 50, method="sobol", seed=4)
    g = scenario.limit_state(frame)
    g_from_array = scenario.limit_state(scenario.to_array(frame))
    assert g.shape == (50,)
    np.testing.assert_array_equal(g, g_from_array)
    assert np.all(g <= 9.0) and np.all(g >= -1.0)


def test_a_run_killed_before_its_manifest_resumes(tmp_path: Path) -> None:
    scenario = load_scenario(CUT_IN)
    (tmp_path / "run" / "samples").mkdir(parents=True)  # what a kill before the manifest leaves
    run = simulate(scenario, n=20, out=tmp_path / "run", seed=1, resume=True)
    assert run.summary.n == 20 and run.manifest["status"] == "complete"
    reference = simulate(scenario, n=20, out=tmp_path / "fresh", seed=1)
    pd.testing.assert_frame_equal(
        run.samples.drop(columns="duration_s", errors="ignore"),
        reference.samples.drop(columns="duration_s", errors="ignore"),
    )


def _critical_rows_crash(scenario: Any) -> CallableSimulator:
    """A simulator that crashes exactly on the critical (small-gap) rows."""

    def crashes_when_critical(batch: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({"min_ttc": 5.0 + batch["cut_in_gap"] / 20}, index=batch.index)
        for kpi in scenario.kpis:
            if kpi not in out:
                out[kpi] = 0.0
        out.loc[batch["cut_in_gap"] < 40, "min_ttc"] = np.nan  # the crash hides the failure
        return out

    return CallableSimulator(crashes_when_critical, kpis=scenario.kpis)


def test_errored_rows_widen_the_interval_and_warn(tmp_path: Path) -> None:
    scenario = load_scenario(CUT_IN)
    sim = _critical_rows_crash(scenario)
    with pytest.warns(RuntimeWarning, match="error or timeout"):
        run = simulate(scenario, n=100, out=tmp_path / "run", seed=2, simulator=sim,
                       batch_size=10)
    summary = run.summary
    n_bad = summary.n_error + summary.n_timeout
    assert n_bad > 5 and summary.n_failures == 0
    assert summary.error_share == pytest.approx(n_bad / 100)
    lo, hi = summary.ci_worst_case  # type: ignore[misc]
    # every errored row counted as possibly failed: the upper end covers (k + n_bad) / n
    assert hi >= (summary.n_failures + n_bad) / (summary.n_ok + n_bad)
    assert hi > summary.ci[1] and lo <= summary.ci[0]
    assert summary.warnings and "error or timeout" in summary.warnings[0]
    stored = run.manifest["summary"]
    assert stored["error_share"] == pytest.approx(summary.error_share)
    assert stored["ci95_worst_case"] == list(summary.ci_worst_case)  # type: ignore[arg-type]
    assert stored["warnings"] == list(summary.warnings)


def test_a_clean_run_has_no_error_share_and_no_warning(tmp_path: Path) -> None:
    import warnings

    scenario = load_scenario(CUT_IN)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run = simulate(scenario, n=30, out=tmp_path / "run", seed=1)
    assert run.summary.error_share == 0.0
    assert run.summary.ci_worst_case == run.summary.ci and run.summary.warnings == ()


def test_cli_prints_the_error_share_and_the_worst_case_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from safety_val.cli.application import main
    from safety_val.scenario import LogicalScenario

    scenario = load_scenario(CUT_IN)
    monkeypatch.setattr(LogicalScenario, "make_simulator",
                        lambda self, *a, **k: _critical_rows_crash(scenario))
    code = main(["simulate", str(CUT_IN), "--n", "100", "--seed", "2", "--batch-size", "10",
                 "--out", str(tmp_path / "run")])
    assert code == 0
    captured = capsys.readouterr()
    assert "error share" in captured.out and "if they hid failures" in captured.out
    assert "error or timeout" in captured.err
