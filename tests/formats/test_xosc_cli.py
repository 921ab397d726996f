"""``safety-val scenario export-xosc`` / ``import-xosc`` with what other tools write."""

from __future__ import annotations

from pathlib import Path

import pytest

from safety_val.cli import main
from safety_val.formats import read_xosc
from tests.helpers import scenario_body, write_scenario


def deterministic_scenario(tmp_path: Path) -> Path:
    body = scenario_body()
    body["parameters"] = [
        {**body["parameters"][0],
         "distribution": {"family": "Grid", "lower": 20.0, "upper": 30.0, "step": 5.0}},
        {**body["parameters"][1],
         "distribution": {"family": "Set", "values": ["day", "night"]}},
    ]
    return write_scenario(tmp_path, body)


def test_deterministic_scenario_exports_without_runs(tmp_path: Path) -> None:
    out = tmp_path / "grid.xosc"
    assert main(["scenario", "export-xosc", str(deterministic_scenario(tmp_path)),
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert "<Deterministic>" in text and "numberOfTestRuns" not in text
    assert read_xosc(out).number_of_test_runs is None


def test_runs_for_a_deterministic_scenario_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "grid.xosc"
    code = main(["scenario", "export-xosc", str(deterministic_scenario(tmp_path)),
                 "--out", str(out), "--runs", "10"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "--runs" in err and "deterministic" in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_stochastic_export_defaults_to_1000_runs(tmp_path: Path) -> None:
    out = tmp_path / "s.xosc"
    assert main(["scenario", "export-xosc", str(write_scenario(tmp_path, scenario_body())),
                 "--out", str(out)]) == 0
    assert read_xosc(out).number_of_test_runs == 1000
