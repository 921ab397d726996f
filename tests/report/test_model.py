"""build_report: the report model read from real run directories of both layouts."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from safety_val.errors import ValidationError
from safety_val.report import build_report, config_hash
from safety_val.report.verdict import judge
from safety_val.scenario import load_scenario
from tests.report.runs import HOSTILE_DESCRIPTION


def _stored_samples(run: Path) -> pd.DataFrame:
    parts = sorted(run.glob("**/samples/part-*.parquet"))
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)


def test_estimate_run_report_carries_the_stored_result(estimate_run: Path) -> None:
    stored = json.loads((estimate_run / "result.json").read_text())
    report = build_report(estimate_run, target=1e-7)
    e = report.estimate
    assert report.layout == "estimate"
    assert (e.status, e.pf, e.n_calls, e.method) == (
        "done",
        stored["result"]["pf"],
        stored["result"]["n_calls"],
        "mc",
    )
    assert list(e.ci) == stored["result"]["ci"]
    assert e.beta == pytest.approx(stored["result"]["beta"])
    assert len(e.history) == len(stored["result"]["history"]) >= 2
    # the verdict is the interval against the target
    assert report.verdict == judge(e.pf, e.ci, 1e-7)
    assert report.verdict.status == "not met"  # pf is about 3 % in this scenario
    assert build_report(estimate_run, target=0.5).verdict.status == "met"


def test_scenario_summary_is_read_from_the_scenario_file(
    estimate_run: Path, hostile_scenario: Path
) -> None:
    report = build_report(estimate_run)
    scenario = load_scenario(hostile_scenario)
    s = report.scenario
    assert s.status == "done"
    assert s.description == HOSTILE_DESCRIPTION  # kept verbatim; escaping is the renderer's job
    assert [p.name for p in s.parameters] == list(scenario.names)
    assert [p.unit for p in s.parameters] == [p.unit for p in scenario.parameters]
    assert s.parameters[0].distribution.startswith("TruncatedNormal(")
    assert "dynamic_elements.subject_vehicle.speed" in s.parameters[0].odd_attribute
    assert s.limit_state == "min(min_ttc, 10) - 0.5"
    assert s.sha256 == hashlib.sha256(hostile_scenario.read_bytes()).hexdigest()


def test_provenance_hashes_the_canonical_configuration(estimate_run: Path) -> None:
    stored = json.loads((estimate_run / "result.json").read_text())
    p = build_report(estimate_run).provenance
    config = {
        k: stored[k]
        for k in ("scenario_sha256", "method_requested", "seed", "target_cov", "max_calls")
    }
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    assert p.config == config
    assert p.config_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert p.seeds == {"seed": 1, "estimate": 1}
    assert p.scenario_sha256 == stored["scenario_sha256"]
    assert {"numpy", "openturns", "safety_val"} <= set(p.versions)


def test_regions_and_robustness_sections_match_their_files(estimate_run: Path) -> None:
    report = build_report(estimate_run)
    regions = json.loads((estimate_run / "regions.json").read_text())
    robustness = json.loads((estimate_run / "robustness.json").read_text())
    assert [m["mode"] for m in report.regions.modes] == [m["mode"] for m in regions["modes"]]
    assert [r["rule"] for r in report.regions.rules] == [r["rule"] for r in regions["rules"]]
    assert report.regions.figures == ("slices.png",)
    assert len(report.regions.xosc_files) == len(regions["modes"])
    assert report.robustness.beta == robustness["beta"]
    assert [s["shift"] for s in report.robustness.shifts] == ["+1sd"]
    assert report.robustness.figures == ("tornado.png",)


def test_example_scenarios_are_stored_failures_nearest_each_design_point(
    estimate_run: Path,
) -> None:
    report = build_report(estimate_run)
    samples = _stored_samples(estimate_run).set_index("scenario_id")
    examples = report.regions.examples
    modes = {m["mode"]: m for m in report.regions.modes}
    assert {e["mode"] for e in examples} == set(modes)
    names = ["ego_speed", "lead_speed", "initial_gap", "lead_decel"]
    failed = samples.loc[samples["g"] <= 0, names]
    scale = failed.to_numpy().std(axis=0)
    for example in examples:
        stored = samples.loc[example["scenario_id"]]
        assert example["g"] == stored["g"] <= 0
        assert [example[n] for n in names] == [stored[n] for n in names]
    for mode, mode_row in modes.items():
        centre = [mode_row[n] for n in names]
        distance = (((failed - centre) / scale) ** 2).sum(axis=1)
        nearest = distance.sort_values(kind="stable").index[:3].tolist()
        assert [e["scenario_id"] for e in examples if e["mode"] == mode] == nearest


def test_missing_stages_are_not_run(run_copy: Path) -> None:
    for name in ("regions.json", "robustness.json", "slices.png", "tornado.png"):
        (run_copy / name).unlink()
    report = build_report(run_copy)
    for section in (report.sensitivity, report.regions, report.robustness, report.simulation):
        assert section.status == "not run"
    assert report.regions.figures == () and report.robustness.figures == ()
    assert [(s.name, s.status) for s in report.stages] == [
        ("estimate", "done"),
        ("robustness", "not run"),
        ("regions", "not run"),
    ]


def test_pipeline_run_report(pipeline_run: Path) -> None:
    report = build_report(pipeline_run)
    pipeline = json.loads((pipeline_run / "pipeline.json").read_text())
    assert report.layout == "pipeline"
    assert report.verdict.target == 0.2  # the pipeline's target when none is given
    assert build_report(pipeline_run, target=1e-3).verdict.target == 1e-3
    assert [s.name for s in report.stages] == list(pipeline["stages"])
    assert report.stages[-1].status == "pending"
    # design of experiments: counts from the Parquet samples of doe/
    doe = _stored_samples(pipeline_run / "doe")
    assert report.simulation.n == 64 == len(doe)
    assert report.simulation.n_failures == int((doe["g"] <= 0).sum())
    # sensitivity: the ranking of sensitivity.json
    sensitivity = json.loads((pipeline_run / "sensitivity" / "sensitivity.json").read_text())
    ranking = sensitivity["sensitivity"]["ranking"]
    assert [r["parameter"] for r in report.sensitivity.ranking] == [r["parameter"] for r in ranking]
    assert report.sensitivity.selected == tuple(sensitivity["sensitivity"]["selected"])
    assert report.sensitivity.figures == (
        "sensitivity/indices.png",
        "sensitivity/score_curve.png",
    )
    assert report.regions.figures == ("reliability/slices.png",)
    p = report.provenance
    assert p.config == pipeline["config"]
    assert p.config_hash == p.stored_config_hash == config_hash(pipeline["config"])
    assert p.seeds == {"doe.seed": 2, "sensitivity.seed": 3, "reliability.seed": 1, "estimate": 1}
    assert report.notes == ()


def test_pipeline_config_hash_mismatch_is_noted(pipeline_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(pipeline_run, tmp_path / "run"))
    record = json.loads((run / "pipeline.json").read_text())
    record["config"]["budget"] = 2000
    (run / "pipeline.json").write_text(json.dumps(record))
    assert any("configuration hash" in note for note in build_report(run).notes)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("safety_val_version", "999.0", "newer than the installed"),
        ("schema", "safety-val/pipeline/2", "newer than the supported"),
        ("schema", "something-else", "unknown pipeline schema"),
    ],
)
def test_pipeline_from_a_newer_version_is_refused(
    pipeline_run: Path, tmp_path: Path, field: str, value: str, message: str
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    record = json.loads((pipeline_run / "pipeline.json").read_text())
    record[field] = value
    (run / "pipeline.json").write_text(json.dumps(record))
    with pytest.raises(ValidationError, match=message) as info:
        build_report(run)
    assert info.value.file == str(run / "pipeline.json")


def test_store_from_a_newer_version_is_refused(run_copy: Path) -> None:
    manifest = json.loads((run_copy / "manifest.json").read_text())
    manifest["versions"]["safety_val"] = "42.0.0"
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError, match=r"safety-val 42\.0\.0, newer than"):
        build_report(run_copy)
    manifest["versions"]["safety_val"] = "0.0.1"
    manifest["schema_version"] = 7
    (run_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError, match="schema 7 is newer") as info:
        build_report(run_copy)
    assert info.value.file == str(run_copy / "manifest.json")


def test_corrupt_json_is_named(run_copy: Path) -> None:
    text = (run_copy / "regions.json").read_text()
    (run_copy / "regions.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValidationError, match="corrupt critical-region result") as info:
        build_report(run_copy)
    assert info.value.file == str(run_copy / "regions.json")


def test_corrupt_parquet_is_named(run_copy: Path) -> None:
    part = sorted((run_copy / "samples").glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(ValidationError, match="corrupt Parquet file") as info:
        build_report(run_copy)
    assert info.value.file == str(part)
    assert part.exists()  # read-only: the damaged file is not moved away


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"neither pipeline\.json nor result\.json"):
        build_report(tmp_path)
    with pytest.raises(ValidationError, match="run directory not found"):
        build_report(tmp_path / "missing")


def test_target_outside_unit_interval_is_refused(estimate_run: Path) -> None:
    with pytest.raises(ValidationError, match="strictly between 0 and 1"):
        build_report(estimate_run, target=1.0)


def test_changed_scenario_file_is_not_summarised(estimate_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(estimate_run, tmp_path / "run"))
    stored = json.loads((run / "result.json").read_text())
    changed = tmp_path / "changed.yaml"
    changed.write_text(Path(stored["scenario_file"]).read_text() + "\n# edited\n")
    stored["scenario_file"] = str(changed)
    (run / "result.json").write_text(json.dumps(stored))
    report = build_report(run)
    assert report.scenario.status == "unavailable"
    assert "changed since the run" in report.scenario.message
    assert report.scenario.parameters == ()
    assert any("scenario summary unavailable" in n for n in report.notes)


def test_pipeline_with_a_failed_reliability_stage(pipeline_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(pipeline_run, tmp_path / "run"))
    shutil.rmtree(run / "reliability")
    record = json.loads((run / "pipeline.json").read_text())
    record["stages"]["reliability"] = {
        "status": "failed",
        "seconds": 3.0,
        "message": "budget exhausted <before> any failure",
    }
    for name in ("robustness", "regions"):
        record["stages"][name]["status"] = "pending"
    (run / "pipeline.json").write_text(json.dumps(record))
    report = build_report(run)
    assert report.verdict.status == "not run"
    assert (report.estimate.status, report.estimate.message) == (
        "failed",
        "budget exhausted <before> any failure",
    )
    assert report.regions.status == report.robustness.status == "not run"
    assert report.simulation.status == report.sensitivity.status == "done"
    from safety_val.report import render_html

    page = render_html(report)
    assert "failed: budget exhausted &lt;before&gt; any failure" in page
    assert "no estimate (not run)" in page
