"""Replaying a concrete scenario of a run: same KPIs as stored, trajectories, plots, CLI."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val.cli import main
from safety_val.errors import ValidationError
from safety_val.report.replay import replay
from safety_val.scenario import load_scenario
from tests.report.runs import run_cli, write_hostile_scenario


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hostile_scenario(tmp_path_factory.mktemp("replay-scenario"))


@pytest.fixture(scope="module")
def simulate_run(scenario_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 lead-braking scenarios (LHS, seed 0): a few fail, a few collide."""
    out = tmp_path_factory.mktemp("replay") / "run"
    run_cli("simulate", str(scenario_file), "--n", "200", "--seed", "0", "--out", str(out))
    return out


@pytest.fixture(scope="module")
def samples(simulate_run: Path) -> pd.DataFrame:
    return pd.read_parquet(simulate_run / "samples")


def _collided(samples: pd.DataFrame) -> pd.Series:
    rows = samples.loc[samples["collision"] > 0]
    assert len(rows), "the fixed-seed design must contain a collision"
    return rows.iloc[0]


def test_replay_reproduces_the_stored_kpis_exactly(
    simulate_run: Path, samples: pd.DataFrame
) -> None:
    for _, row in samples.iloc[[0, 1]].iterrows():
        result = replay(simulate_run, row["scenario_id"])
        assert result.matches
        for kpi in ("collision", "impact_speed", "min_ttc", "min_gap", "max_deceleration", "g"):
            assert result.kpis[kpi] == row[kpi]  # deterministic per scenario id: bit-equal
        assert result.parameters == {
            name: float(row[name])
            for name in ("ego_speed", "lead_speed", "initial_gap", "lead_decel")
        }
        assert "re-simulated KPIs equal the stored ones" in result.summary()


def test_trajectories_have_every_agent_and_step(simulate_run: Path, samples: pd.DataFrame) -> None:
    row = samples.iloc[0]
    result = replay(simulate_run, row["scenario_id"])
    frame = result.trajectories
    steps = round(10.0 / 0.02) + 1
    assert len(frame) == 2 * steps
    assert list(frame["agent"].unique()) == ["ego", "agent 1"]
    ego = frame.loc[frame["agent"] == "ego"]
    lead = frame.loc[frame["agent"] == "agent 1"]
    assert ego["t"].iloc[-1] == pytest.approx(10.0)
    assert ego["v"].iloc[0] == pytest.approx(row["ego_speed"])
    assert lead["v"].iloc[0] == pytest.approx(row["lead_speed"])
    # initial bumper gap as parameterised
    assert lead["gap"].iloc[0] == pytest.approx(row["initial_gap"])
    assert ego["ttc"].isna().all()


def test_reconstructed_ttc_agrees_with_the_min_ttc_kpi(
    simulate_run: Path, samples: pd.DataFrame
) -> None:
    # on a straight road the TTC rebuilt from the trajectories is the simulator's own
    finite = samples.loc[np.isfinite(samples["min_ttc"]) & (samples["collision"] == 0)]
    for scenario_id in finite["scenario_id"].iloc[:3]:
        result = replay(simulate_run, scenario_id)
        assert result.ttc.min() == pytest.approx(result.kpis["min_ttc"], rel=1e-9)


def test_collision_is_visible_in_the_replay(simulate_run: Path, samples: pd.DataFrame) -> None:
    row = _collided(samples)
    result = replay(simulate_run, row["scenario_id"])
    assert result.failed and result.kpis["collision"] == 1.0
    assert result.ttc.min() == 0.0
    first_contact = float(result.ttc[result.ttc == 0.0].index.min())
    assert 0.0 < first_contact < 10.0
    assert result._collision_time() == first_contact
    figure = result.plot()
    assert len(figure.axes) == 4
    assert "collision at t" in figure.texts[0].get_text()
    # the time panels end shortly after the contact (the scenario is frozen there)
    assert figure.axes[1].get_xlim()[1] == pytest.approx(min(10.0, first_contact + 2.0))


def test_a_changed_kpi_is_reported_as_a_difference(
    simulate_run: Path, samples: pd.DataFrame
) -> None:
    result = replay(simulate_run, samples.iloc[0]["scenario_id"])
    stored = dict(result.stored_kpis, min_gap=result.stored_kpis["min_gap"] + 0.1)
    changed = dataclasses.replace(result, stored_kpis=stored)
    assert not changed.matches
    table = changed.kpi_table().set_index("kpi")["equal"]
    assert not table["min_gap"] and table.drop("min_gap").all()
    assert "DIFFER" in changed.summary()


def test_unknown_scenario_id_says_where_ids_are(simulate_run: Path, samples: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match="scenario id 'nope' not found") as info:
        replay(simulate_run, "nope")
    message = str(info.value)
    assert "scenario_id" in message and "samples" in message
    assert samples["scenario_id"].iloc[0] in message  # an example id to copy


def test_changed_scenario_file_is_refused(
    simulate_run: Path, scenario_file: Path, samples: pd.DataFrame, tmp_path: Path
) -> None:
    edited = tmp_path / "edited.yaml"
    edited.write_text(scenario_file.read_text() + "\n# edited\n")
    with pytest.raises(ValidationError, match="changed since the run"):
        replay(simulate_run, samples.iloc[0]["scenario_id"], scenario_file=edited)


def test_corrupt_part_file_is_named(simulate_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(simulate_run, tmp_path / "run"))
    part = sorted((run / "samples").glob("part-*.parquet"))[0]
    part.write_bytes(b"PAR1 not really")
    with pytest.raises(ValidationError, match="corrupt Parquet file") as info:
        replay(run, "anything")
    assert info.value.file == str(part)


def test_run_from_a_newer_version_is_refused(simulate_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(simulate_run, tmp_path / "run"))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["versions"]["safety_val"] = "99.0"
    (run / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValidationError, match="newer than the installed"):
        replay(run, "anything")


def test_cli_replay_writes_png_and_html(
    simulate_run: Path, samples: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = _collided(samples)
    scenario_id = str(row["scenario_id"])
    assert main(["replay", str(simulate_run), scenario_id, "--out", str(tmp_path / "r.png")]) == 0
    printed = capsys.readouterr().out
    assert "re-simulated KPIs equal the stored ones" in printed and "FAILURE" in printed
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["replay", str(simulate_run), scenario_id, "--format", "html"]) == 0
    page = (simulate_run / "replay" / f"{scenario_id}.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "<script" not in page
    scenario = load_scenario(
        Path(json.loads((simulate_run / "manifest.json").read_text())["scenario_file"])
    )
    for name in scenario.names:
        assert f"<td>{name}</td>" in page
    assert "min_ttc" in page and "The re-simulated KPIs equal the stored ones" in page
    shutil.rmtree(simulate_run / "replay")


def test_cli_replay_bad_input_exit_2(
    simulate_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(simulate_run), "nope"]) == 2
    assert "not found in the run" in capsys.readouterr().err
    assert main(["replay", str(simulate_run), "x", "--format", "gif"]) == 2
    assert "unknown replay format" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing"), "x"]) == 2
