"""Campaign files, nightly runs, the history and the regression gate (CLI and library)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from safety_val.campaign import load_campaign, run_campaign
from safety_val.campaign.history import RunHistory
from safety_val.cli import main
from safety_val.errors import ValidationError
from safety_val.reliability.persistence import load_result_report
from tests.helpers import pipeline_scenario

MakeCampaign = Callable[..., Path]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- validation, before anything runs ----------------------------------------------------------


def test_missing_scenario_file_is_one_line_and_nothing_runs(
    tmp_path: Path, campaign_file: MakeCampaign, capsys: pytest.CaptureFixture[str]
) -> None:
    file = campaign_file(entry_file="../nowhere/cut_in.yaml")
    out = tmp_path / "out"
    code, _, err = _run(["campaign", "run", str(file), "--out", str(out)], capsys)
    assert code == 2
    line = err.strip()
    assert "\n" not in line
    assert str(file) in line and "campaign.scenarios[0].file" in line
    assert "'../nowhere/cut_in.yaml'" in line and "expected a scenario file" in line
    assert not out.exists() and not (tmp_path / "history").exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"target": 1.5}, "campaign.target", "strictly between 0 and 1"),
        ({"target": 0.0}, "campaign.target", "strictly between 0 and 1"),
        ({"entry_target": -1e-3}, "campaign.scenarios[0].target", "strictly between 0 and 1"),
        ({"schedule": "daily"}, "campaign.schedule", "unknown key"),
        ({"entry_budget": [10]}, "campaign.scenarios[0].budget", "unknown key"),
        ({"entry_budgets": [5]}, "campaign.scenarios[0].budgets[0]", "int >= 10"),
        ({"entry_analyses": ["fuzz"]}, "campaign.scenarios[0].analyses[0]", "unknown analysis"),
        (
            {"entry_fixed": {"warp_drive": 1.0}},
            "campaign.scenarios[0].fixed.warp_drive",
            "no input",
        ),
        ({"entry_options": {"n_per_level": 5}}, "campaign.scenarios[0].options", "invalid options"),
        ({"method": "magic"}, "campaign.method", "unknown reliability method"),
        ({"entry_pipeline": {"warp": 1}}, "campaign.scenarios[0].pipeline.warp", "unknown key"),
        ({"entry_pipeline": {"n_doe": 0}}, "campaign.scenarios[0].pipeline.n_doe", "invalid value"),
        (
            {"entry_analyses": ["pipeline"], "entry_pipeline": {"design": "halton"}},
            "campaign.scenarios[0].pipeline.design",
            "unknown design",
        ),
        (
            {"entry_analyses": ["pipeline"], "entry_pipeline": {"ambiguity": "0sd"}},
            "campaign.scenarios[0].pipeline.ambiguity",
            "zero width",
        ),
        ({"alpha": 2}, "campaign.alpha", "probability in (0, 1)"),
    ],
)
def test_bad_campaign_files_are_refused(
    campaign_file: MakeCampaign, overrides: dict[str, object], field: str, message: str
) -> None:
    file = campaign_file(**overrides)
    with pytest.raises(ValidationError) as caught:
        load_campaign(file)
    assert caught.value.field == field and message in caught.value.message
    assert caught.value.file == str(file)


def test_pipeline_analysis_is_a_job(campaign_file: MakeCampaign) -> None:
    campaign = load_campaign(
        campaign_file(entry_analyses=["estimate", "pipeline"], entry_pipeline={"n_doe": 50})
    )
    estimate, pipeline = campaign.jobs()
    assert [estimate.analysis, pipeline.analysis] == ["estimate", "pipeline"]
    # pipeline settings are part of the pipeline job's identity only
    assert "pipeline" not in estimate.identity()
    assert pipeline.identity()["pipeline"] == {"n_doe": 50}
    config = pipeline.entry.pipeline_config(pipeline.budget)
    assert (config.n_doe, config.budget, config.target, config.method) == (50, 300, 0.5, "mc")


def test_pipeline_job_runs_the_whole_pipeline_and_is_re_used(
    tmp_path: Path, campaign_file: MakeCampaign, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 'pipeline' job runs every stage into its run directory; its pf is the reliability
    stage's; an unchanged re-run re-uses it without a simulation."""
    small = {"n_doe": 120, "n_holdout": 60, "n_reference": 150, "ambiguity": None,
             "per_mode": 1, "robustness_calls": 200}
    pipeline_scenario(tmp_path)  # three inputs: the robustness stage stays small
    file = campaign_file(
        entry_file="scenario.yaml",
        entry_analyses=["pipeline"],
        entry_pipeline=small,
        entry_target=0.99,
    )
    out, history = tmp_path / "out", tmp_path / "history"
    args = ["campaign", "run", str(file), "--out", str(out), "--history", str(history)]
    code, text, _ = _run(args, capsys)
    assert code == 0 and "PASSED" in text
    (folder,) = (out / "jobs").iterdir()
    stages = json.loads((folder / "pipeline.json").read_text())["stages"]
    assert all(stages[name]["status"] == "done" for name in
               ("doe", "sensitivity", "reliability", "regions", "robustness", "report"))
    stored = load_result_report(folder / "reliability")["result"]
    rows = RunHistory(history).load().frame
    assert rows["pf"].iloc[0] == stored["pf"] and rows["n_calls"].iloc[0] == stored["n_calls"]
    assert stored["method"] == "mc" and 0 < stored["n_calls"] <= 300

    code, text, err = _run(args, capsys)
    assert code == 0 and "re-used" in err
    rerun = RunHistory(history).load().frame.iloc[-1]
    assert rerun["reused"] and rerun["new_simulations"] == 0 and rerun["pf"] == stored["pf"]


def test_shipped_campaigns_are_valid() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios" / "campaigns"
    nightly = load_campaign(root / "nightly.yaml")
    weak = load_campaign(root / "nightly_weak_aeb.yaml")
    assert [j.key for j in nightly.jobs()] == [j.key for j in weak.jobs()]
    assert all(j.entry.fixed == {"aeb_ttc_full": 0.6} for j in weak.jobs())
    # same job keys, different systems under test: different run directories
    assert {j.folder_name for j in nightly.jobs()}.isdisjoint(j.folder_name for j in weak.jobs())


# -- the nightly gate: done-when evidence ---------------------------------------------------------


def test_nightly_flags_weaker_aeb_and_passes_unchanged_rerun(
    tmp_path: Path, campaign_file: MakeCampaign, capsys: pytest.CaptureFixture[str]
) -> None:
    """Baseline, unchanged re-run (re-uses the finished job: exit 0), then the same campaign
    with the AEB's full-braking stage at TTC 0.6 s instead of 1.2 s: exit 1, flagged."""
    description = "<b>nightly</b> & co"
    base = campaign_file(description=description)
    weak = campaign_file("weak.yaml", description=description, entry_fixed={"aeb_ttc_full": 0.6})
    out, history = tmp_path / "out", tmp_path / "history"
    args = ["--out", str(out), "--history", str(history)]

    code, text, _ = _run(["campaign", "run", str(base), *args], capsys)
    assert code == 0 and "PASSED" in text and "0 job(s) compared" in text

    code, text, err = _run(["campaign", "run", str(base), *args], capsys)
    assert code == 0 and "PASSED" in text and "re-used" in err
    assert "one-sided z-test on ln pf" in text and "false-alarm rate ≤ 1% per run" in text

    code, text, err = _run(["campaign", "run", str(weak), *args], capsys)
    assert code == 1 and "FAILED" in text and "significantly worse" in text
    assert "campaign nightly failed" in err

    rows = RunHistory(history).load().frame
    assert len(rows) == 3 and rows["run_id"].nunique() == 3
    # a re-used run finishes within the second it starts: run times carry microseconds, so the
    # history keeps the order of the runs (this failed about half the time at 1 s resolution)
    assert rows["run_time"].is_unique and rows["run_time"].is_monotonic_increasing
    first, rerun, weaker = (rows.iloc[i] for i in range(3))
    assert rerun["previous_run_id"] == first["run_id"]
    assert rerun["reused"] and rerun["pf"] == first["pf"] and rerun["z"] == 0.0
    assert rerun["new_simulations"] == 0 and not rerun["regression"]
    assert weaker["regression"] and weaker["z"] > 2.326 and weaker["p_value"] < 0.01
    assert weaker["pf"] > 2 * first["pf"] and weaker["previous_run_id"] == rerun["run_id"]
    assert json.loads(weaker["fixed"]) == {"aeb_ttc_full": 0.6} and weaker["fixed_sha256"]

    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["exit_code"] == 1
    assert summary["regression_test"]["jobs_compared"] == 1
    assert summary["jobs"][0]["regression"] is True
    page = (out / "summary.html").read_text()
    assert "&lt;b&gt;nightly&lt;/b&gt; &amp; co" in page and "<b>nightly</b>" not in page
    assert len(list((out / "reports").glob("*.json"))) == 3


def test_missed_target_fails_the_run(
    tmp_path: Path, campaign_file: MakeCampaign, capsys: pytest.CaptureFixture[str]
) -> None:
    file = campaign_file(target=1e-4)
    code, text, _ = _run(["campaign", "run", str(file), "--out", str(tmp_path / "o"), "-q"], capsys)
    assert code == 1 and "target missed" in text
    row = RunHistory(tmp_path / "history").load().frame.iloc[0]
    assert row["verdict"] == "not met" and row["ci_low"] > 1e-4


# -- resuming and the history ----------------------------------------------------------------


def test_interrupted_job_resumes_from_its_stored_simulations(
    tmp_path: Path, campaign_file: MakeCampaign
) -> None:
    """A job whose result was never written (killed after simulating) re-runs without
    simulating again and gives the same pf; every sample is stored exactly once."""
    campaign = load_campaign(campaign_file())
    first = run_campaign(campaign, tmp_path / "out", run_id="r1")
    job_dir = Path(str(first.results.iloc[0]["run_dir"]))
    for name in ("campaign_job.json", "result.json", "result_samples.parquet"):
        (job_dir / name).unlink()
    again = run_campaign(campaign, tmp_path / "out", run_id="r2")
    row1, row2 = first.results.iloc[0], again.results.iloc[0]
    assert row2["pf"] == row1["pf"] and row2["n_calls"] == row1["n_calls"]
    assert not row2["reused"] and row2["new_simulations"] == 0
    samples = pd.read_parquet(job_dir / "samples")
    assert samples["scenario_id"].is_unique and samples["sample_index"].is_unique
    assert len(samples) == row1["new_simulations"] == row1["n_calls"]
    assert load_result_report(job_dir)["result"]["pf"] == row1["pf"]
    assert again.exit_code == 0


def test_history_catalogue_corrupt_file_and_compare(
    tmp_path: Path, campaign_file: MakeCampaign, capsys: pytest.CaptureFixture[str]
) -> None:
    base = load_campaign(campaign_file(entry_budgets=[100], entry_options={"block_size": 40}))
    history = tmp_path / "history"
    for run_id, seed in (("run-a", 0), ("run-b", 1), ("run-c", 2)):
        run_campaign(base.with_seed(seed), tmp_path / "out", history=history, run_id=run_id)
    store = RunHistory(history)
    with duckdb.connect(str(store.catalogue), read_only=True) as connection:
        count = connection.execute("SELECT count(*) FROM results").fetchone()
    assert count == (3,)

    # the catalogue is derived: deleted, it is rebuilt from the Parquet files
    store.catalogue.unlink()
    assert store.load().frame["run_id"].tolist() == ["run-a", "run-b", "run-c"]

    code, text, _ = _run(
        ["campaign", "compare", "run-a", "run-b", "--history", str(history)], capsys
    )
    assert code == 0 and "run-a → run-b" in text and "0 significantly worse" in text

    damaged = store.runs_folder / "run-b.parquet"
    damaged.write_bytes(b"PAR1 this is not a parquet file")
    code, text, err = _run(["history", "--history", str(history)], capsys)
    assert code == 0 and str(damaged.resolve()) in err and "unreadable" in err
    assert "run-a" in text and "run-c" in text and "run-b" not in text
    assert (store.runs_folder / "run-a.parquet").read_bytes()[:4] == b"PAR1"  # untouched

    code, _, err = _run(
        ["campaign", "compare", "run-a", "run-b", "--history", str(history)], capsys
    )
    assert code == 2 and str(damaged) in err and "unreadable history file" in err

    # a nightly run with a damaged history still runs, compares with the last readable run
    fourth = run_campaign(base.with_seed(3), tmp_path / "out", history=history, run_id="run-d")
    assert fourth.results.iloc[0]["previous_run_id"] == "run-c"
    assert [f for f, _ in fourth.unreadable_history] == [str(damaged.resolve())]


@pytest.mark.ray
def test_ray_runs_jobs_as_tasks_with_the_same_results(
    ray_cluster: object, tmp_path: Path, campaign_file: MakeCampaign
) -> None:
    from safety_val.execution.registry import make_executor

    file = campaign_file(entry_budgets=[200, 300])
    campaign = load_campaign(file)
    serial = run_campaign(campaign, tmp_path / "serial", run_id="s")
    with make_executor("ray", n_workers=2) as pool:
        on_ray = run_campaign(campaign, tmp_path / "ray", executor=pool, run_id="r")
    columns = ["job", "pf", "ci_low", "ci_high", "n_calls", "new_simulations"]
    pd.testing.assert_frame_equal(serial.results[columns], on_ray.results[columns])
    shutil.rmtree(tmp_path / "ray")
