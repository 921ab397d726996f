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


CUT_IN = Path(__file__).resolve().parents[2] / "scenarios" / "cut_in.yaml"


def exported_cut_in(tmp_path: Path, name: str, element: str) -> Path:
    """cut_in exported, then ``name``'s distribution replaced by ``element``."""
    import xml.etree.ElementTree as ET

    xosc = tmp_path / "cut_in.xosc"
    assert main(["scenario", "export-xosc", str(CUT_IN), "--out", str(xosc), "--runs", "5"]) == 0
    tree = ET.parse(xosc)  # our own output, trusted
    (single,) = [e for e in tree.iter("StochasticDistribution")
                 if e.get("parameterName") == name]
    for child in list(single):
        single.remove(child)
    single.append(ET.fromstring(element))
    tree.write(xosc)
    return xosc


def test_into_drops_a_copula_whose_parameter_became_discrete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safety_val.scenario import load_scenario

    xosc = exported_cut_in(
        tmp_path, "cut_in_speed",
        '<ProbabilityDistributionSet><Element value="10" weight="1"/>'
        '<Element value="20" weight="1"/></ProbabilityDistributionSet>')
    out = tmp_path / "merged.yaml"
    assert main(["scenario", "import-xosc", str(xosc), "--into", str(CUT_IN),
                 "--out", str(out)]) == 0
    assert load_scenario(out).dependence is None
    err = capsys.readouterr().err
    assert "dropped the base scenario's dependence" in err and "cut_in_speed" in err


def test_into_drops_a_copula_whose_distributions_were_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safety_val.scenario import load_scenario

    xosc = exported_cut_in(
        tmp_path, "ego_speed",
        '<NormalDistribution expectedValue="25" variance="4">'
        '<Range lowerLimit="17" upperLimit="36"/></NormalDistribution>')
    out = tmp_path / "merged.yaml"
    assert main(["scenario", "import-xosc", str(xosc), "--into", str(CUT_IN),
                 "--out", str(out)]) == 0
    assert load_scenario(out).dependence is None
    err = capsys.readouterr().err
    assert "dropped the base scenario's dependence" in err and "ego_speed" in err


def test_into_error_caused_by_the_xosc_names_the_xosc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xosc = exported_cut_in(
        tmp_path, "lighting",
        '<ProbabilityDistributionSet><Element value="day" weight="1"/>'
        '<Element value="blinding" weight="1"/></ProbabilityDistributionSet>')
    code = main(["scenario", "import-xosc", str(xosc), "--into", str(CUT_IN),
                 "--out", str(tmp_path / "merged.yaml")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {xosc}") and "'lighting'" in err


def test_import_keeps_runs_seed_and_scenario_file_for_export(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    xosc = exported_cut_in(
        tmp_path, "ego_speed",
        '<NormalDistribution expectedValue="27" variance="16">'
        '<Range lowerLimit="16.7" upperLimit="36.1"/></NormalDistribution>')
    tree = ET.parse(xosc)  # our own output, trusted
    stochastic = tree.find("ParameterValueDistribution/Stochastic")
    scenario = tree.find("ParameterValueDistribution/ScenarioFile")
    assert stochastic is not None and scenario is not None
    stochastic.set("numberOfTestRuns", "77")
    stochastic.set("randomSeed", "1.234")
    scenario.set("filepath", "esmini/cut_in_v2.xosc")
    tree.write(xosc)
    merged = tmp_path / "merged.yaml"
    assert main(["scenario", "import-xosc", str(xosc), "--into", str(CUT_IN),
                 "--out", str(merged)]) == 0
    again = tmp_path / "again.xosc"
    assert main(["scenario", "export-xosc", str(merged), "--out", str(again)]) == 0
    first, second = read_xosc(xosc), read_xosc(again)
    assert (second.number_of_test_runs, second.random_seed_text, second.scenario_file) == (
        77, "1.234", "esmini/cut_in_v2.xosc")
    assert second == first
    # options still override what was kept
    assert main(["scenario", "export-xosc", str(merged), "--out", str(again),
                 "--runs", "3", "--seed", "5", "--force"]) == 0
    assert (read_xosc(again).number_of_test_runs, read_xosc(again).random_seed) == (3, 5)


def test_block_import_keeps_the_settings(tmp_path: Path) -> None:
    import yaml

    xosc = exported_cut_in(
        tmp_path, "ego_speed", '<NormalDistribution expectedValue="27" variance="16"/>')
    out = tmp_path / "block.yaml"
    assert main(["scenario", "import-xosc", str(xosc), "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["openscenario"] == {
        "scenario_file": "cut_in.xosc", "number_of_test_runs": 5}


# -- --out: never an input, never an existing file without --force (issue 15 item 18)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_export_refuses_out_equal_to_the_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = write_scenario(tmp_path, scenario_body())
    before = scenario.read_bytes()
    for force in ([], ["--force"]):
        code = main(["scenario", "export-xosc", str(scenario), "--out", str(scenario), *force])
        assert code == 2
        assert one_error_line(capsys) == (
            f"error: {scenario}: --out is the input {scenario}; refusing to overwrite it "
            "(expected another output path)")
        assert scenario.read_bytes() == before


def test_import_refuses_out_equal_to_into_or_the_xosc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    xosc = tmp_path / "cut_in.xosc"
    assert main(["-q", "scenario", "export-xosc", str(CUT_IN), "--out", str(xosc)]) == 0
    capsys.readouterr()
    base = tmp_path / "base.yaml"
    base.write_bytes(CUT_IN.read_bytes())
    # the same file under another name (a relative path, a symbolic link) is still the input
    link = tmp_path / "link.yaml"
    link.symlink_to(base)
    before = base.read_bytes()
    monkeypatch.chdir(tmp_path)
    cases = [(str(base), str(base)), ("base.yaml", str(base)), (str(link), "base.yaml")]
    for out, into in cases:
        code = main(["scenario", "import-xosc", str(xosc), "--into", into, "--out", out,
                     "--force"])
        assert code == 2
        assert one_error_line(capsys).startswith(
            f"error: {out}: --out is the input {into}; refusing to overwrite it")
    assert main(["scenario", "import-xosc", str(xosc), "--out", str(xosc), "--force"]) == 2
    assert "--out is the input" in one_error_line(capsys)
    assert base.read_bytes() == before


@pytest.mark.parametrize("command", ["export-xosc", "import-xosc"])
def test_an_existing_out_needs_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    xosc = tmp_path / "cut_in.xosc"
    assert main(["-q", "scenario", "export-xosc", str(CUT_IN), "--out", str(xosc)]) == 0
    capsys.readouterr()
    source = CUT_IN if command == "export-xosc" else xosc
    out = tmp_path / ("again.xosc" if command == "export-xosc" else "again.yaml")
    out.write_text("mine\n")
    assert main(["scenario", command, str(source), "--out", str(out)]) == 2
    assert one_error_line(capsys) == (
        f"error: {out}: file exists; pass --force to overwrite it (expected a new path)")
    assert out.read_text() == "mine\n"
    assert main(["-q", "scenario", command, str(source), "--out", str(out), "--force"]) == 0
    assert out.read_text() != "mine\n"


def test_notes_and_warnings_are_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a long path must not wrap a warning over several lines (grep finds it whole)
    folder = tmp_path / ("a" * 90)
    folder.mkdir()
    xosc = folder / "cut_in.xosc"
    assert main(["-q", "scenario", "export-xosc", str(CUT_IN), "--out", str(xosc)]) == 0
    (warning,) = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("warning: OpenSCENARIO has no copula") and warning.endswith(
        str(xosc))
    assert main(["-q", "scenario", "import-xosc", str(xosc), "--into", str(CUT_IN),
                 "--out", str(folder / "merged.yaml")]) == 0
    notes = capsys.readouterr().err.strip().splitlines()
    assert notes and all(line.startswith("note: ") for line in notes)
