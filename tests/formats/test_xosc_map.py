"""Foreign parameter names and units on import: ``--map`` and ``openscenario.parameter_map``.

Issue 15 item 7: the ALKS scenario variations and the ASAM examples distribute
parameters under their own names (``Ego_InitSpeed_Ru``, in km/h).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import openturns as ot
import pytest
import yaml

from safety_val.cli import main
from safety_val.distributions import build_marginal, parse_distribution
from safety_val.errors import ValidationError
from safety_val.formats import ParameterDistributionSet, read_xosc
from safety_val.formats.parameter_map import (
    ParameterMapping,
    apply_parameter_map,
    parse_parameter_map,
    unapply_parameter_map,
)
from tests.formats.test_xosc import STOCHASTIC_ENTRIES
from tests.helpers import SCENARIOS

CUT_IN = SCENARIOS / "cut_in.yaml"

ALKS = """<?xml version="1.0" encoding="utf-8"?>
<OpenSCENARIO>
  <FileHeader revMajor="1" revMinor="2" date="2024-01-01T00:00:00" description="" author="x"/>
  <ParameterValueDistribution>
    <ScenarioFile filepath="ALKS_Scenario_4.2_1_FullyBlockingTarget_TEMPLATE.xosc"/>
    <Stochastic numberOfTestRuns="20" randomSeed="7">
      <StochasticDistribution parameterName="Ego_InitSpeed_Ru">
        <UniformDistribution><Range lowerLimit="72" upperLimit="108"/></UniformDistribution>
      </StochasticDistribution>
      <StochasticDistribution parameterName="CutIn_Gap">
        <NormalDistribution expectedValue="30" variance="16">
          <Range lowerLimit="10" upperLimit="60"/>
        </NormalDistribution>
      </StochasticDistribution>
      <StochasticDistribution parameterName="Weather">
        <ProbabilityDistributionSet>
          <Element value="day" weight="3"/><Element value="night" weight="1"/>
        </ProbabilityDistributionSet>
      </StochasticDistribution>
    </Stochastic>
  </ParameterValueDistribution>
</OpenSCENARIO>
"""
MAP = "Ego_InitSpeed_Ru=ego_speed:km/h, CutIn_Gap=cut_in_gap, Weather=lighting"


@pytest.fixture
def alks(tmp_path: Path) -> Path:
    path = tmp_path / "alks.xosc"
    path.write_text(ALKS)
    return path


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_parse_map_text_and_block() -> None:
    assert parse_parameter_map(MAP) == (
        ParameterMapping("Ego_InitSpeed_Ru", "ego_speed", "km/h"),
        ParameterMapping("CutIn_Gap", "cut_in_gap", None),
        ParameterMapping("Weather", "lighting", None),
    )
    assert parse_parameter_map({"Ego_InitSpeed_Ru": "ego_speed:km/h"}) == (
        ParameterMapping("Ego_InitSpeed_Ru", "ego_speed", "km/h"),)
    assert parse_parameter_map(None) == parse_parameter_map("") == ()


@pytest.mark.parametrize(("text", "message"), [
    ("Ego_InitSpeed_Ru", "--map: a mapping without '=' (got 'Ego_InitSpeed_Ru'; expected "
                         "FOREIGN=INPUT or FOREIGN=INPUT:UNIT, comma-separated)"),
    ("=ego_speed", "--map: a mapping needs a foreign name and an input (got '=ego_speed'; "
                   "expected FOREIGN=INPUT or FOREIGN=INPUT:UNIT, comma-separated)"),
    ("V=ego speed", "--map: input 'ego speed' is not a parameter name (got 'V=ego speed'; "
                    "expected an identifier such as ego_speed)"),
    ("V=a,V=b", "--map: foreign name 'V' mapped twice (got 'V'; expected each foreign name "
                "once)"),
    ("V=a,W=a", "--map: input 'a' mapped twice (got 'a'; expected each input once)"),
])
def test_bad_map_text_is_one_line(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_parameter_map(text)
    assert str(info.value) == message


SCALABLE = [e for e in STOCHASTIC_ENTRIES
            if e["distribution"]["family"] not in ("Categorical", "Poisson")
            and not (e["distribution"]["family"] == "Set"
                     and isinstance(e["distribution"]["values"][0], str))]


@pytest.mark.parametrize("entry", SCALABLE, ids=[e["name"] for e in SCALABLE])
def test_conversion_is_the_distribution_of_the_scaled_variable(entry: dict[str, Any]) -> None:
    # X in km/h, Y = X / 3.6 in m/s: P(Y <= y) must be P(X <= 3.6 y) for every y
    mapped, notes = apply_parameter_map(
        ParameterDistributionSet([entry], number_of_test_runs=5),
        parse_parameter_map(f"{entry['name']}=speed:km/h"), units={"speed": "m/s"})
    (converted,) = mapped.parameters
    assert converted["name"] == "speed" and len(notes) == 1
    x = build_marginal(parse_distribution(entry["distribution"]), entry.get("bounds"))
    y = build_marginal(parse_distribution(converted["distribution"]), converted.get("bounds"))
    points = np.ravel(x.getSample(200)) if x.isDiscrete() else np.linspace(
        x.computeQuantile(0.001)[0], x.computeQuantile(0.999)[0], 101)
    fx = np.ravel(x.computeCDF(ot.Sample(points[:, None])))
    fy = np.ravel(y.computeCDF(ot.Sample((points / 3.6)[:, None])))
    np.testing.assert_allclose(fy, fx, atol=1e-9)


def test_import_maps_names_and_units_and_export_writes_them_back(
    tmp_path: Path, alks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from safety_val.scenario import load_scenario

    merged = tmp_path / "alks.yaml"
    assert main(["scenario", "import-xosc", str(alks), "--into", str(CUT_IN), "--map", MAP,
                 "--out", str(merged)]) == 0
    err = capsys.readouterr().err
    assert "note: Ego_InitSpeed_Ru (km/h) imported as ego_speed (m/s): values times 0.2778" in err
    scenario = load_scenario(merged)  # valid against the cut_in template and its ODD
    by_name = {p.name: p for p in scenario.parameters}
    assert by_name["ego_speed"].distribution.to_dict() == {
        "family": "Uniform", "lower": 20.0, "upper": 30.0}
    assert by_name["cut_in_gap"].distribution.family == "TruncatedNormal"
    assert by_name["lighting"].distribution.categories == ("day", "night")
    block = yaml.safe_load(merged.read_text())["openscenario"]
    assert block["parameter_map"] == {"Ego_InitSpeed_Ru": "ego_speed:km/h",
                                      "CutIn_Gap": "cut_in_gap", "Weather": "lighting"}
    # the export names what the ScenarioFile declares, in its units: the file again
    again = tmp_path / "again.xosc"
    assert main(["scenario", "export-xosc", str(merged), "--out", str(again)]) == 0
    assert read_xosc(again) == read_xosc(alks)


def test_into_uses_the_parameter_map_of_the_base_scenario(tmp_path: Path, alks: Path) -> None:
    base = tmp_path / "alks_base.yaml"
    document = yaml.safe_load(CUT_IN.read_text())
    document["scenario"]["odd"] = str(CUT_IN.parent / document["scenario"]["odd"])
    document["openscenario"] = {"parameter_map": {"Ego_InitSpeed_Ru": "ego_speed:km/h",
                                                  "CutIn_Gap": "cut_in_gap",
                                                  "Weather": "lighting"}}
    base.write_text(yaml.safe_dump(document, sort_keys=False))
    out = tmp_path / "out.yaml"
    assert main(["-q", "scenario", "import-xosc", str(alks), "--into", str(base),
                 "--out", str(out)]) == 0
    parameters = yaml.safe_load(out.read_text())["scenario"]["parameters"]
    assert [p["name"] for p in parameters] == ["ego_speed", "cut_in_gap", "lighting"]
    assert parameters[0]["distribution"]["upper"] == 30.0


def test_block_import_converts_to_si(tmp_path: Path, alks: Path) -> None:
    out = tmp_path / "block.yaml"
    assert main(["-q", "scenario", "import-xosc", str(alks), "--map",
                 "Ego_InitSpeed_Ru=ego_speed:kmh", "--out", str(out)]) == 0
    document = yaml.safe_load(out.read_text())
    assert document["parameters"][0] == {
        "name": "ego_speed", "distribution": {"family": "Uniform", "lower": 20.0, "upper": 30.0}}
    assert document["openscenario"]["parameter_map"] == {"Ego_InitSpeed_Ru": "ego_speed:kmh"}


@pytest.mark.parametrize(("mapping", "message"), [
    ("Ego_InitSpeed=ego_speed:km/h",
     "--map: the file has no parameter 'Ego_InitSpeed' (got 'Ego_InitSpeed'; expected one of "
     "Ego_InitSpeed_Ru, CutIn_Gap, Weather)"),
    ("Ego_InitSpeed_Ru=ego_speed:km",
     "--map: cannot convert km (length) to m/s: the unit of 'ego_speed' in the scenario, a "
     "speed (got 'Ego_InitSpeed_Ru=ego_speed:km'; expected a unit of m/s's quantity, or no "
     "unit)"),
    ("Weather=lighting:%",
     "--map: 'Weather' (Categorical) has no unit to convert (got 'Weather=lighting:%'; "
     "expected Weather=lighting (no unit))"),
    ("Ego_InitSpeed_Ru=CutIn_Gap",
     "--map: input 'CutIn_Gap' is mapped onto, but the file distributes it already (got "
     "'CutIn_Gap'; expected an input the file does not name)"),
])
def test_bad_mapping_is_a_one_line_error_naming_the_file(
    tmp_path: Path, alks: Path, capsys: pytest.CaptureFixture[str], mapping: str, message: str
) -> None:
    out = tmp_path / "out.yaml"
    code = main(["scenario", "import-xosc", str(alks), "--into", str(CUT_IN), "--map", mapping,
                 "--out", str(out)])
    assert code == 2
    assert one_error_line(capsys) == f"error: {alks}: {message}"
    assert not out.exists()


def test_unknown_unit_is_a_one_line_error(
    tmp_path: Path, alks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["scenario", "import-xosc", str(alks), "--map", "Ego_InitSpeed_Ru=v:furlong",
                 "--out", str(tmp_path / "out.yaml")])
    assert code == 2
    line = one_error_line(capsys)
    assert line.startswith("error: --map: unknown unit 'furlong' (got 'Ego_InitSpeed_Ru=v:"
                           "furlong'; expected one of m/s, km/h,")


def test_a_bad_parameter_map_block_names_the_scenario_file(
    tmp_path: Path, alks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "base.yaml"
    document = yaml.safe_load(CUT_IN.read_text())
    document["openscenario"] = {"parameter_map": {"Ego_InitSpeed_Ru": "ego_speed:parsec"}}
    base.write_text(yaml.safe_dump(document, sort_keys=False))
    code = main(["scenario", "import-xosc", str(alks), "--into", str(base),
                 "--out", str(tmp_path / "out.yaml")])
    assert code == 2
    assert one_error_line(capsys).startswith(
        f"error: {base}: openscenario.parameter_map: unknown unit 'parsec'")


def test_value_sets_are_mapped_and_converted() -> None:
    dist_set = ParameterDistributionSet(value_sets=[{
        "name": "value_set_1", "parameters": [{"name": "Ego_InitSpeed_Ru"}, {"name": "Road"}],
        "rows": [[36.0, "a.xodr"], [72.0, "b.xodr"]], "weights": None}])
    mapped, _ = apply_parameter_map(dist_set, parse_parameter_map(
        "Ego_InitSpeed_Ru=ego_speed:km/h,Road=road"), units={"ego_speed": "m/s"})
    assert mapped.value_sets[0]["parameters"] == [{"name": "ego_speed"}, {"name": "road"}]
    assert mapped.value_sets[0]["rows"] == [[10.0, "a.xodr"], [20.0, "b.xodr"]]
    back = unapply_parameter_map(mapped, parse_parameter_map(
        "Ego_InitSpeed_Ru=ego_speed:km/h,Road=road"), units={"ego_speed": "m/s"})
    assert back == dist_set
    with pytest.raises(ValidationError, match="'Road' \\(text values\\) has no unit"):
        apply_parameter_map(dist_set, parse_parameter_map("Road=road:km"))


def test_units_convert_between_non_si_units() -> None:
    mapping = ParameterMapping("V", "speed", "mph")
    factor, unit = mapping.factor("km/h")
    assert unit == "km/h" and math.isclose(factor, 1.609344)
