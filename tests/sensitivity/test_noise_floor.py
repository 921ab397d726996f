"""The estimators' noise floor, the indices indistinguishable from it, and what is ranked.

Issue 15 item 14: on a DOE with a handful of failures every index sat at its noise floor
and the ranking was shown as if it meant something.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val.cli import main
from safety_val.errors import ValidationError
from safety_val.sensitivity import (
    SPARSE_INFLUENTIAL,
    analyze,
    analyze_given_data,
    ishigami_distribution,
    sparse_distribution,
    sparse_function,
)
from tests.helpers import scenario_body, write_scenario

N_DUMMIES = 10


def _dose(x: pd.DataFrame, threshold: float) -> pd.Series:
    """A margin like ``min(min_ttc, 10) - 1``: saturated at a cap, failing at a small gap."""
    return np.minimum(12 * x["gap"] + 4 * x["speed"] + 2 * x["lateral"], 9.0) - threshold


@pytest.fixture(scope="module")
def doe() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((1000, 5)), columns=["gap", "speed", "lateral", "rain", "fog"])


def test_the_sparse_function_inactive_inputs_sit_at_the_dummy_floor() -> None:
    x = pd.DataFrame(
        np.asarray(sparse_distribution().getSample(600)), columns=[f"x{i + 1}" for i in range(20)]
    )
    result = analyze_given_data(
        x, sparse_function(x.to_numpy()), methods=("pawn", "rbd_fast"), seed=2, selection=False
    )
    floors = result.noise_floor.set_index("method")
    assert set(floors.index) == {"pawn", "rbd_fast"}
    assert (floors["floor"] > 0).all() and (floors["n_dummies"] == N_DUMMIES).all()
    assert (floors["floor"] >= floors["dummy_mean"]).all()
    ranking = result.ranking.set_index("parameter")
    # the three inputs that matter rise above the floor and rank first
    assert ranking.loc[list(SPARSE_INFLUENTIAL), "above_noise"].all()
    assert set(result.ranking["parameter"].iloc[:3]) == set(SPARSE_INFLUENTIAL)
    # an inactive input beats the largest of m dummies with probability 1 / (m + 1):
    # 17 of them, mean 1.5 false marks, sd 1.2; more than 5 would be a broken floor
    inactive = ranking.drop(index=list(SPARSE_INFLUENTIAL))
    assert inactive["above_noise"].sum() <= 5
    # every parameter above the floor ranks before every one at the floor
    flags = result.ranking["above_noise"].to_numpy(dtype=bool)
    assert not (np.diff(flags.astype(int)) > 0).any()
    # the long table marks the main index only
    main = result.indices["index"].isin(["median", "S1"])
    assert result.indices.loc[main, "above_noise"].map(type).eq(bool).all()
    assert result.indices.loc[~main, "above_noise"].isna().all()
    assert any(n.startswith("noise floor of pawn median") for n in result.notes)
    content = json.loads(json.dumps(result.to_dict()))
    assert {r["method"] for r in content["noise_floor"]} == {"pawn", "rbd_fast"}
    assert all("above_noise" in r for r in content["ranking"])


def test_design_methods_have_a_zero_floor() -> None:
    def ignores_x3(x: np.ndarray) -> np.ndarray:
        return 3.0 * x[:, 0] + np.sin(x[:, 1])

    result = analyze(
        ignores_x3, ishigami_distribution(), n=480, methods=("morris", "sobol"), seed=1,
        selection=False,
    )
    assert result.noise_floor["floor"].tolist() == [0.0, 0.0]
    ranking = result.ranking.set_index("parameter")["above_noise"]
    assert ranking.to_dict() == {"x1": True, "x2": True, "x3": False}
    assert result.ranking["parameter"].iloc[-1] == "x3"


def test_a_rare_failure_label_sits_at_the_floor_and_the_margin_is_ranked(
    doe: pd.DataFrame,
) -> None:
    g = _dose(doe, 2.0)
    label = (g <= 0).astype(float)
    assert 5 <= label.sum() < 30  # the main job's case: a handful of failures
    # the label itself: nothing is distinguishable from the noise floor
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        on_label = analyze_given_data(doe, label, methods=("pawn",), seed=1, selection=False)
    assert on_label.output == "y"
    assert not on_label.ranking["above_noise"].any()
    assert any(f"in all but {int(label.sum())} of 1000 rows" in n for n in on_label.notes)
    assert any("carries no information" in n for n in on_label.notes)
    # given the margin, the same call ranks g: the decisive gap is found above the floor
    result = analyze_given_data(
        doe, label, margin=g, methods=("pawn",), seed=1, selection=False
    )
    assert result.output == "g"
    assert result.ranking["parameter"].iloc[0] == "gap"
    assert result.ranking.set_index("parameter").loc["gap", "above_noise"]
    # rain and fog do nothing: each beats the largest of 10 dummies with probability 1/11
    assert result.ranking.set_index("parameter").loc[["rain", "fog"], "above_noise"].sum() <= 1
    assert any(n.startswith("ranked the margin g, a continuous output") for n in result.notes)


def test_rank_on_failure_ranks_the_label_only_with_enough_failures(doe: pd.DataFrame) -> None:
    rare = _dose(doe, 2.0)
    with pytest.warns(UserWarning, match="not the failure label"):
        result = analyze_given_data(
            doe, rare, margin=rare, methods=("pawn",), seed=1, selection=False,
            rank_on="failure",
        )
    assert result.output == "g"
    common = _dose(doe, 4.0)
    assert (common <= 0).sum() >= 30
    result = analyze_given_data(
        doe, common, margin=common, methods=("pawn",), seed=1, selection=False,
        rank_on="failure",
    )
    assert result.output == "failure"
    assert any(n.startswith("ranked the failure label") for n in result.notes)
    assert result.ranking.set_index("parameter").loc["gap", "above_noise"]
    with pytest.raises(ValidationError, match="rank_on"):
        analyze_given_data(doe, common, methods=("pawn",), rank_on="failure")
    with pytest.raises(ValidationError, match="rank_on"):
        analyze_given_data(doe, common, methods=("pawn",), rank_on="label")
    with pytest.raises(ValidationError, match="n_dummies"):
        analyze_given_data(doe, common, methods=("pawn",), n_dummies=0)


def test_zero_failures_rank_the_margin_and_say_so(doe: pd.DataFrame) -> None:
    g = _dose(doe, -0.5)
    assert (g <= 0).sum() == 0
    result = analyze_given_data(doe, g, margin=g, methods=("delta", "pawn"), seed=1,
                                selection=False)
    assert result.output == "g"
    note = next(n for n in result.notes if n.startswith("ranked the margin g"))
    assert "0 failures" in note and "too few" in note
    assert result.ranking["parameter"].iloc[0] == "gap"
    assert result.ranking.set_index("parameter").loc["gap", "above_noise"]
    assert set(result.noise_floor["method"]) == {"delta", "pawn"}


def test_a_saturated_margin_carries_next_to_no_information(
    doe: pd.DataFrame,
) -> None:
    # like min(min_ttc, 10) - 1 on the realistic catalogue: 99 % of the DOE on the plateau
    g = np.minimum(400.0 * doe["gap"], 9.0) - 0.5
    off = int((g < 8.5).sum())
    assert 0 < off < 30
    result = analyze_given_data(
        doe, g, margin=g, methods=("pawn",), seed=1, selection=False
    )
    assert result.output == "g"
    assert any(f"in all but {off} of 1000 rows" in n and "next to no information" in n
               for n in result.notes)
    # a KPI that varies is ranked as asked, the saturated margin beside it notwithstanding
    kpi = 30.0 * doe["gap"] + 20.0 * doe["speed"]
    on_kpi = analyze_given_data(
        doe, kpi, margin=g, output="min_gap", methods=("pawn",), seed=1, selection=False
    )
    assert on_kpi.output == "min_gap"
    assert on_kpi.ranking.set_index("parameter").loc[["gap", "speed"], "above_noise"].all()


def test_stage_2_that_finds_nothing_keeps_every_parameter(doe: pd.DataFrame) -> None:
    noise = np.random.default_rng(5).normal(size=len(doe))
    result = analyze_given_data(  # no score gain can reach 1: stage 2 finds nothing
        doe, noise, methods=("pawn",), seed=1, max_selection_samples=120, min_gain=1.0
    )
    assert result.selected == tuple(result.ranking["parameter"])  # nothing is fixed on noise
    assert any("every parameter is kept" in n for n in result.notes)


def test_a_constant_output_keeps_every_parameter_when_asked(doe: pd.DataFrame) -> None:
    flat = np.full(len(doe), 9.0)
    with pytest.raises(ValidationError, match="constant"):
        analyze_given_data(doe, flat, margin=flat, methods=("pawn",))
    result = analyze_given_data(doe, flat, margin=flat, methods=("pawn",), constant="keep")
    assert result.output == "g" and result.selected == tuple(doe.columns)
    assert not result.ranking["above_noise"].any() and result.indices.empty
    assert "is constant (9)" in result.notes[0]
    json.dumps(result.to_dict())
    assert result.plot_indices() is not None


def _never_failing(tmp_path: Path, expression: str = "min(min_ttc, 10) + 1.0") -> Path:
    body = scenario_body(limit_state={"expression": expression})
    body["parameters"].append(
        {
            "name": "initial_gap",
            "unit": "m",
            "odd": "dynamic_elements.traffic.relative_distance",
            "distribution": {"family": "Uniform", "lower": 8.0, "upper": 60.0},
        }
    )
    body["fixed"] = {"lead_decel": 8.0}
    return write_scenario(tmp_path, body)


def test_pipeline_stage_and_cli_on_a_doe_without_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from safety_val.pipeline import sensitivity_stage
    from safety_val.scenario import load_scenario

    file = _never_failing(tmp_path)
    run = tmp_path / "doe"
    assert main(["simulate", str(file), "--n", "150", "--out", str(run), "-q"]) == 0
    scenario = load_scenario(file)
    outcome = sensitivity_stage(
        scenario, tmp_path / "stage", samples=run, methods=("delta", "pawn"), holdout=0, seed=0
    )
    analysis = outcome.analysis
    assert analysis.output == "g"
    assert any(n.startswith("ranked the margin g") and "0 failures" in n for n in analysis.notes)
    saved = json.loads((tmp_path / "stage" / "sensitivity.json").read_text())
    assert saved["sensitivity"]["noise_floor"]
    assert "above_noise" in saved["sensitivity"]["ranking"][0]
    capsys.readouterr()
    args = ["sensitivity", str(file), "--samples", str(run), "--methods", "delta,pawn",
            "--holdout", "0", "--out", str(tmp_path / "cli")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "vs noise floor" in printed
    marks = {"above" if flag else "≈ noise" for flag in analysis.ranking["above_noise"]}
    assert all(mark in printed for mark in marks)
    assert "note: ranked the margin g" in printed
    assert "noise floor of delta delta" in printed
    # a DOE whose margin never leaves one value: the stage goes on and reduces nothing
    (tmp_path / "flat").mkdir()
    flat = _never_failing(tmp_path / "flat", "min(min_ttc, 0.0) + 1.0")
    flat_run = tmp_path / "flat_doe"
    assert main(["simulate", str(flat), "--n", "120", "--out", str(flat_run), "-q"]) == 0
    outcome = sensitivity_stage(
        load_scenario(flat), tmp_path / "flat_stage", samples=flat_run,
        methods=("delta", "pawn"), holdout=50, seed=0,
    )
    assert outcome.analysis.selected == outcome.analysis.parameters
    assert outcome.check is None and outcome.simulations == 0
    assert set(outcome.reduced.names) == set(load_scenario(flat).names)
    assert "is constant" in outcome.analysis.notes[0]
    assert (tmp_path / "flat_stage" / "indices.png").stat().st_size > 0


def test_report_shows_the_noise_floor(tmp_path: Path) -> None:
    from safety_val.report.model import _sensitivity
    from safety_val.report.rundir import RunLayout

    rng = np.random.default_rng(3)
    x = pd.DataFrame(rng.random((300, 3)), columns=["a", "b", "c"])
    result = analyze_given_data(x, 4 * x["a"] + x["b"], methods=("pawn",), seed=0,
                                selection=False)
    folder = tmp_path / "sensitivity"
    folder.mkdir()
    (folder / "sensitivity.json").write_text(json.dumps({"sensitivity": result.to_dict()}))
    layout = RunLayout(root=tmp_path, kind="pipeline", pipeline={}, reliability=tmp_path,
                       sensitivity=folder, doe=None)
    section = _sensitivity(layout)
    assert [r["method"] for r in section.noise_floor] == ["pawn"]
    marks = {r["parameter"]: r["above_noise"] for r in section.ranking}
    assert marks == dict(zip(result.ranking["parameter"], result.ranking["above_noise"],
                             strict=True))
    assert marks["a"] and not marks["c"]


def test_delta_on_an_output_two_rows_off_its_plateau_is_undefined_not_a_crash() -> None:
    # the realistic cut-in on 256 runs: SALib's delta stopped with "Singular matrix"
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.random((256, 3)), columns=["a", "b", "c"])
    y = np.full(256, 9.0)
    y[np.argsort(x["a"].to_numpy())[:2]] = [4.0, 6.0]
    result = analyze_given_data(x, y, methods=("delta", "pawn"), seed=0, selection=False)
    delta = result.indices[result.indices["method"] == "delta"]
    assert delta["value"].isna().all() and not delta["above_noise"].any()
    assert any(n.startswith("delta: undefined for every input") for n in result.notes)
    assert any("noise floor of delta delta: undefined" in n for n in result.notes)
    assert any("in all but 2 of 256 rows" in n for n in result.notes)
    json.dumps(result.to_dict(), allow_nan=False)
