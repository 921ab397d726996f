"""OpenSCENARIO files as other tools write them (scenariogeneration, esmini)."""

from __future__ import annotations

from pathlib import Path

import pytest

from safety_val.errors import ValidationError
from safety_val.formats import read_xosc, write_xosc
from safety_val.formats.xosc import seed_from_text


def stochastic(seed: str) -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<OpenSCENARIO>
  <FileHeader revMajor="1" revMinor="2" date="2024-01-01T00:00:00" description="" author="sg"/>
  <ParameterValueDistribution>
    <ScenarioFile filepath="cut_in.xosc"/>
    <Stochastic numberOfTestRuns="10" randomSeed="{seed}">
      <StochasticDistribution parameterName="speed">
        <NormalDistribution expectedValue="30" variance="4"/>
      </StochasticDistribution>
    </Stochastic>
  </ParameterValueDistribution>
</OpenSCENARIO>
"""


def test_decimal_random_seed_is_accepted_recorded_and_written_back(tmp_path: Path) -> None:
    # scenariogeneration's own example writes randomSeed="1.234" (xsd:double)
    source = tmp_path / "sg.xosc"
    source.write_text(stochastic("1.234"))
    result = read_xosc(source)
    assert result.random_seed == seed_from_text("1.234")
    assert 0 <= result.random_seed < 2**31
    assert result.random_seed_text == "1.234"
    assert any("1.234" in note and str(result.random_seed) in note for note in result.notes)
    write_xosc(result, tmp_path / "again.xosc")
    assert 'randomSeed="1.234"' in (tmp_path / "again.xosc").read_text()
    assert read_xosc(tmp_path / "again.xosc") == result


@pytest.mark.parametrize(("text", "seed"), [("7", 7), ("7.0", 7), ("4.2e1", 42)])
def test_integer_valued_double_seed_is_that_integer(tmp_path: Path, text: str, seed: int) -> None:
    source = tmp_path / "s.xosc"
    source.write_text(stochastic(text))
    result = read_xosc(source)
    assert result.random_seed == seed
    assert result.random_seed_text == (None if text == str(seed) else text)
    assert bool(result.notes) == (text != str(seed))


def test_seed_hash_is_stable_and_non_numbers_are_refused(tmp_path: Path) -> None:
    assert seed_from_text("1.234") == seed_from_text("1.234")
    assert seed_from_text("-3") != -3 and 0 <= seed_from_text("-3") < 2**31
    source = tmp_path / "bad.xosc"
    source.write_text(stochastic("abc"))
    with pytest.raises(ValidationError, match="randomSeed") as info:
        read_xosc(source)
    assert "bad.xosc" in str(info.value)


PARTIAL_SETS = """<?xml version="1.0" encoding="utf-8"?>
<OpenSCENARIO>
  <FileHeader revMajor="1" revMinor="2" date="2024-01-01T00:00:00" description="" author="x"/>
  <ParameterValueDistribution>
    <ScenarioFile filepath="{scenario}"/>
    <Deterministic>
      <DeterministicMultiParameterDistribution>
        <ValueSetDistribution>
          <ParameterValueSet>
            <ParameterAssignment parameterRef="speed" value="20"/>
            <ParameterAssignment parameterRef="gap" value="5"/>
          </ParameterValueSet>
          <ParameterValueSet>
            <ParameterAssignment parameterRef="speed" value="30"/>
            <ParameterAssignment parameterRef="road" value="r2.xodr"/>
          </ParameterValueSet>
        </ValueSetDistribution>
      </DeterministicMultiParameterDistribution>
    </Deterministic>
  </ParameterValueDistribution>
</OpenSCENARIO>
"""

SCENARIO_DECLARATIONS = """<?xml version="1.0" encoding="utf-8"?>
<OpenSCENARIO>
  <FileHeader revMajor="1" revMinor="2" date="2024-01-01T00:00:00" description="" author="x"/>
  <ParameterDeclarations>
    <ParameterDeclaration name="gap" parameterType="double" value="12.5"/>
    <ParameterDeclaration name="road" parameterType="string" value="r1.xodr"/>
  </ParameterDeclarations>
</OpenSCENARIO>
"""


def test_value_sets_assigning_different_parameters_use_the_scenario_defaults(
    tmp_path: Path,
) -> None:
    (tmp_path / "scenario.xosc").write_text(SCENARIO_DECLARATIONS)
    source = tmp_path / "sets.xosc"
    source.write_text(PARTIAL_SETS.format(scenario="scenario.xosc"))
    result = read_xosc(source)
    assert result.value_sets == [{
        "name": "value_set_1",
        "parameters": [{"name": "speed"}, {"name": "gap"}, {"name": "road"}],
        "rows": [[20.0, 5.0, "r1.xodr"], [30.0, 12.5, "r2.xodr"]],
        "weights": None,
    }]
    assert any("'road'" in n and "ParameterDeclaration" in n for n in result.notes)
    # the ScenarioFile (esmini's semantics) comes before given defaults
    assert read_xosc(source, defaults={"gap": 99.0}).value_sets == result.value_sets


def test_value_set_default_from_given_defaults_and_error_without_one(tmp_path: Path) -> None:
    source = tmp_path / "sets.xosc"
    source.write_text(PARTIAL_SETS.format(scenario="missing.xosc"))
    rows = read_xosc(source, defaults={"gap": 7, "road": "r0.xodr"}).value_sets[0]["rows"]
    assert rows == [[20.0, 5.0, "r0.xodr"], [30.0, 7.0, "r2.xodr"]]
    with pytest.raises(ValidationError) as info:
        read_xosc(source, defaults={"gap": 7})
    message = str(info.value)
    assert "sets.xosc" in message and "ParameterValueSet[1]" in message and "'road'" in message
    assert "\n" not in message


def test_written_version_is_the_lowest_the_content_satisfies(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    from safety_val.formats import ParameterDistributionSet

    def minor(dist: dict) -> str | None:
        target = tmp_path / "v.xosc"
        write_xosc(ParameterDistributionSet([{"name": "v", "distribution": dist}],
                                            number_of_test_runs=3), target)
        root = ET.parse(target).getroot()  # our own output, trusted
        assert (root.find(".//LogNormalDistribution") is not None) == (
            dist["family"] == "LogNormal")
        header = root.find("FileHeader")
        assert header is not None
        return header.get("revMinor")

    # mu_log 0, sigma_log 0.5: the moments round trip exactly, so the 1.3 element is used
    assert minor({"family": "LogNormal", "mu_log": 0.0, "sigma_log": 0.5, "gamma": 0.0}) == "3"
    assert minor({"family": "Normal", "mu": 0.0, "sigma": 1.0}) == "2"


def test_reading_notes_an_understated_version(tmp_path: Path) -> None:
    source = tmp_path / "old.xosc"
    source.write_text(stochastic("7").replace(
        '<NormalDistribution expectedValue="30" variance="4"/>',
        '<LogNormalDistribution expectedValue="30" variance="4"/>'))
    notes = read_xosc(source).notes
    assert any("1.2" in n and "1.3" in n and "LogNormalDistribution" in n for n in notes)
