"""The whole pipeline: stages stored, resumable after a failure, refusals of bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from safety_val import pipeline
from safety_val.cli import main
from safety_val.errors import ValidationError
from safety_val.pipeline import STAGES, PipelineConfig, run_pipeline
from safety_val.report.verdict import judge
from tests.helpers import PIPELINE_CONFIG as CONFIG
from tests.helpers import pipeline_scenario as _scenario


def _reliability_rows(run: Path) -> pd.DataFrame:
    parts = sorted((run / "reliability" / "samples").glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


@pytest.fixture(scope="module")
def finished(pipeline_run: tuple[Path, Any]) -> tuple[Path, Any]:
    return pipeline_run


def test_every_stage_is_done_and_stored(finished: tuple[Path, Any]) -> None:
    tmp, result = finished
    run = tmp / "run"
    state = json.loads((run / "pipeline.json").read_text())
    assert [state["stages"][s]["status"] for s in STAGES] == ["done"] * len(STAGES)
    assert state["config"] == CONFIG.to_dict() and len(state["config_hash"]) == 64
    for file in ("doe/manifest.json", "sensitivity/sensitivity.json",
                 "reliability/result.json", "reliability/regions.json",
                 "reliability/robustness.json", "report/report.html", "report/report.json"):
        assert (run / file).is_file(), file
    assert list((run / "reliability" / "xosc").glob("*.xosc"))
    # the verdict is the judgement of the stored interval against the target
    assert result.pf is not None and result.ci is not None
    assert result.verdict == judge(result.pf, result.ci, CONFIG.target).status
    report = json.loads((run / "report" / "report.json").read_text())
    assert json.dumps(report).count(result.verdict) >= 1


def test_a_finished_run_is_not_run_again(finished: tuple[Path, Any]) -> None:
    tmp, first = finished
    rows = len(_reliability_rows(tmp / "run"))
    again = run_pipeline(tmp / "scenario.yaml", tmp / "run", config=CONFIG)
    assert again.pf == first.pf and again.ci == first.ci
    assert len(_reliability_rows(tmp / "run")) == rows  # no new simulation


def test_a_failed_stage_resumes_without_losing_or_repeating_simulations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = _scenario(tmp_path)

    def crash(context: pipeline.StageContext) -> str:
        assert context.reliability is not None and context.sample is None  # typed hand-over
        raise RuntimeError("killed")

    monkeypatch.setitem(pipeline._STAGE_FUNCTIONS, "regions", crash)  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="killed"):
        run_pipeline(scenario, tmp_path / "run", config=CONFIG)
    state = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    assert state["stages"]["reliability"]["status"] == "done"
    assert state["stages"]["regions"]["status"] == "failed"
    assert "killed" in state["stages"]["regions"]["message"]
    rows = _reliability_rows(tmp_path / "run")
    monkeypatch.undo()
    result = run_pipeline(scenario, tmp_path / "run", config=CONFIG)
    after = _reliability_rows(tmp_path / "run")
    assert len(after) == len(rows)  # reliability was not repeated
    assert after["scenario_id"].is_unique
    assert result.stages["report"]["status"] == "done"


def test_another_configuration_in_the_same_directory_is_refused(
    finished: tuple[Path, Any],
) -> None:
    tmp, _ = finished
    other = PipelineConfig(**{**CONFIG.to_dict(), "seed": 1})
    with pytest.raises(ValidationError, match="another configuration"):
        run_pipeline(tmp / "scenario.yaml", tmp / "run", config=other)


def test_a_stage_without_its_input_stage_says_which_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"regions stage needs .* reliability stage") as err:
        run_pipeline(_scenario(tmp_path), tmp_path / "run", config=CONFIG, stages=["regions"])
    assert err.value.field == "stages.reliability"
    state = json.loads((tmp_path / "run" / "pipeline.json").read_text())
    assert state["stages"]["regions"]["status"] == "failed"
    assert "needs the failure-probability estimate" in state["stages"]["regions"]["message"]
    assert not (tmp_path / "run" / "reliability").exists()  # nothing was simulated


@pytest.mark.parametrize("target", [0.0, 1.0, -1e-3, 2.0])
def test_a_target_outside_zero_one_is_refused(target: float) -> None:
    with pytest.raises(ValidationError, match=r"target.*\(0, 1\)"):
        PipelineConfig(target=target)


def test_cli_run_bad_input_exits_2_before_writing(tmp_path: Path, capsys: Any) -> None:
    code = main(["run", str(_scenario(tmp_path)), "--target", "1.5", "--out",
                 str(tmp_path / "run")])
    assert code == 2
    assert "target" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    code = main(["run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "run")])
    assert code == 2
