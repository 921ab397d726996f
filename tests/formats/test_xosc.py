from __future__ import annotations

import math
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from safety_val.distributions import parse_distribution
from safety_val.errors import ValidationError
from safety_val.formats import ParameterDistributionSet, read_xosc, write_xosc


def canonical(name: str, block: dict, bounds: list[float] | None = None) -> dict:
    entry = {"name": name, "distribution": parse_distribution(block).to_dict()}
    if bounds is not None:
        entry["bounds"] = [float(b) for b in bounds]
    return entry


STOCHASTIC_ENTRIES = [
    canonical("normal", {"family": "Normal", "mu": 30.1, "sigma": 0.7}),
    canonical("normal_bounded", {"family": "Normal", "mu": 30.0, "sigma": 2.0}, [25, 35]),
    canonical("truncnormal", {"family": "TruncatedNormal", "mu": 1.0, "sigma": 0.3,
                              "lower": 0.2, "upper": 1.9}),
    canonical("lognormal", {"family": "LogNormal", "mu_log": 0.3, "sigma_log": 0.25}),
    canonical("lognormal_bounded", {"family": "LogNormal", "mu_log": 1.1, "sigma_log": 0.1},
              [1.0, 5.0]),
    canonical("lognormal_shifted", {"family": "LogNormal", "mu_log": 0.3, "sigma_log": 0.25,
                                    "gamma": -1.0}),
    canonical("uniform", {"family": "Uniform", "lower": -1.5, "upper": 2.25}),
    canonical("uniform_bounded", {"family": "Uniform", "lower": 0, "upper": 10}, [1, 2]),
    canonical("triangular", {"family": "Triangular", "lower": 0, "mode": 0.3, "upper": 1}),
    canonical("beta", {"family": "Beta", "alpha": 2, "beta": 5, "lower": 0, "upper": 8}),
    canonical("gamma", {"family": "Gamma", "k": 2.5, "lambda": 0.1}),
    canonical("weibull", {"family": "Weibull", "scale": 3.0, "shape": 1.7, "location": 0.1}),
    canonical("gumbel", {"family": "Gumbel", "scale": 0.4, "mode": 1.3}, [0, 4]),
    canonical("histogram", {"family": "Histogram", "edges": [0, 0.5, 2, 3],
                            "weights": [0.2, 0.0, 0.8]}),
    canonical("discrete", {"family": "UserDefined", "values": [1, 2.5, 4],
                           "weights": [0.1, 0.3, 0.6]}),
    canonical("category", {"family": "Categorical", "categories": ["car", "truck"],
                           "weights": [3, 1]}),
    canonical("numeric_labels", {"family": "Categorical", "categories": ["1", "2"]}),
    canonical("poisson", {"family": "Poisson", "lambda": 2.2}, [0, 6]),
    canonical("grid_in_stochastic", {"family": "Grid", "lower": 0, "upper": 1, "step": 0.1}),
    canonical("set_in_stochastic", {"family": "Set", "values": ["a", "b"]}),
]


def _tags(path: Path) -> dict[str, tuple[str, str | None]]:
    root = ET.parse(path).getroot()  # our own output, trusted
    out = {}
    for elem in root.iter():
        name = elem.get("parameterName")
        if name is not None:
            child = next(iter(elem))
            out[name] = (child.tag, child.get("type"))
    return out


def test_blocks_to_xosc_to_blocks_stochastic_is_exact(tmp_path: Path) -> None:
    original = ParameterDistributionSet(
        parameters=STOCHASTIC_ENTRIES, scenario_file="cut_in.xosc",
        number_of_test_runs=1000, random_seed=42,
    )
    target = tmp_path / "dist.xosc"
    write_xosc(original, target, author="tester", description="all families")
    assert read_xosc(target) == original

    tags = _tags(target)
    assert tags["normal"] == ("NormalDistribution", None)
    assert tags["truncnormal"] == ("NormalDistribution", None)
    assert tags["lognormal_bounded"][0] in ("LogNormalDistribution", "UserDefinedDistribution")
    assert tags["uniform"] == ("UniformDistribution", None)
    assert tags["histogram"] == ("Histogram", None)
    assert tags["discrete"] == ("ProbabilityDistributionSet", None)
    assert tags["category"] == ("ProbabilityDistributionSet", None)
    assert tags["poisson"] == ("PoissonDistribution", None)
    # no standard element reads back exactly: exported as our user-defined type
    assert tags["normal_bounded"] == ("UserDefinedDistribution", "safety-val:Normal")
    assert tags["triangular"] == ("UserDefinedDistribution", "safety-val:Triangular")
    assert tags["lognormal_shifted"] == ("UserDefinedDistribution", "safety-val:LogNormal")
    assert tags["numeric_labels"] == ("UserDefinedDistribution", "safety-val:Categorical")
    assert tags["grid_in_stochastic"] == ("UserDefinedDistribution", "safety-val:Grid")


def test_blocks_to_xosc_to_blocks_deterministic_is_exact(tmp_path: Path) -> None:
    original = ParameterDistributionSet(
        parameters=[
            canonical("gap", {"family": "Grid", "lower": 10, "upper": 50, "step": 5}),
            canonical("gap_odd", {"family": "Grid", "lower": 0, "upper": 1, "step": 0.3}),
            canonical("weather", {"family": "Set", "values": ["dry", "wet", "snow"]}),
            canonical("lanes", {"family": "Set", "values": [2, 3, 4]}),
            canonical("lanes_bounded", {"family": "Set", "values": [2, 3, 4]}, [2, 3]),
        ],
        value_sets=[
            {"name": "value_set_1", "parameters": [{"name": "v_ego"}, {"name": "road"}],
             "rows": [[20.0, "A1.xodr"], [25.5, "A2.xodr"]], "weights": None},
            {"name": "value_set_2", "parameters": [{"name": "a"}], "rows": [[1.0], [2.0]],
             "weights": None},
        ],
        scenario_file="lead_brake.xosc",
    )
    target = tmp_path / "sweep.xosc"
    write_xosc(original, target)
    assert read_xosc(target) == original
    tags = _tags(target)
    assert tags["gap"] == ("DistributionRange", None)
    assert tags["weather"] == ("DistributionSet", None)
    assert tags["lanes_bounded"] == ("UserDefinedDistribution", "safety-val:Set")


XOSC_STOCHASTIC = """<?xml version="1.0" encoding="UTF-8"?>
<OpenSCENARIO>
  <FileHeader revMajor="1" revMinor="2" date="2024-05-01T10:00:00" description="d" author="a"/>
  <ParameterValueDistribution>
    <ScenarioFile filepath="cut_in.xosc"/>
    <Stochastic numberOfTestRuns="200" randomSeed="3">
      <StochasticDistribution parameterName="n">
        <NormalDistribution expectedValue="30" variance="0.1"/>
      </StochasticDistribution>
      <StochasticDistribution parameterName="tn">
        <NormalDistribution expectedValue="1.5" variance="0.3">
          <Range lowerLimit="0" upperLimit="2.5"/>
        </NormalDistribution>
      </StochasticDistribution>
      <StochasticDistribution parameterName="ln">
        <LogNormalDistribution expectedValue="2.0" variance="0.7">
          <Range lowerLimit="0.5" upperLimit="6"/>
        </LogNormalDistribution>
      </StochasticDistribution>
      <StochasticDistribution parameterName="u">
        <UniformDistribution><Range lowerLimit="-1" upperLimit="1"/></UniformDistribution>
      </StochasticDistribution>
      <StochasticDistribution parameterName="p">
        <PoissonDistribution expectedValue="4">
          <Range lowerLimit="1" upperLimit="9"/>
        </PoissonDistribution>
      </StochasticDistribution>
      <StochasticDistribution parameterName="h">
        <Histogram>
          <Bin weight="0.3"><Range lowerLimit="0" upperLimit="1"/></Bin>
          <Bin weight="0.5"><Range lowerLimit="2" upperLimit="4"/></Bin>
          <Bin weight="0.2"><Range lowerLimit="1" upperLimit="2"/></Bin>
        </Histogram>
      </StochasticDistribution>
      <StochasticDistribution parameterName="pds_num">
        <ProbabilityDistributionSet>
          <Element value="1.5" weight="2"/><Element value="3" weight="1"/>
        </ProbabilityDistributionSet>
      </StochasticDistribution>
      <StochasticDistribution parameterName="pds_cat">
        <ProbabilityDistributionSet>
          <Element value="car" weight="0.7"/><Element value="truck" weight="0.3"/>
        </ProbabilityDistributionSet>
      </StochasticDistribution>
      <StochasticDistribution parameterName="ud">
        <UserDefinedDistribution type="safety-val:Gumbel">
          {"family": "Gumbel", "scale": 0.5, "mode": 2.0, "bounds": [1.0, 5.0]}
        </UserDefinedDistribution>
      </StochasticDistribution>
    </Stochastic>
  </ParameterValueDistribution>
</OpenSCENARIO>
"""

XOSC_DETERMINISTIC = """<OpenSCENARIO>
  <FileHeader revMajor="1" revMinor="2" date="2024-05-01T10:00:00" description="d" author="a"/>
  <ParameterValueDistribution>
    <ScenarioFile filepath="s.xosc"/>
    <Deterministic>
      <DeterministicMultiParameterDistribution>
        <ValueSetDistribution>
          <ParameterValueSet>
            <ParameterAssignment parameterRef="speed" value="20"/>
            <ParameterAssignment parameterRef="road" value="r1.xodr"/>
          </ParameterValueSet>
          <ParameterValueSet>
            <ParameterAssignment parameterRef="road" value="r2.xodr"/>
            <ParameterAssignment parameterRef="speed" value="30.5"/>
          </ParameterValueSet>
        </ValueSetDistribution>
      </DeterministicMultiParameterDistribution>
      <DeterministicSingleParameterDistribution parameterName="gap">
        <DistributionRange stepWidth="0.5">
          <Range lowerLimit="1" upperLimit="3"/>
        </DistributionRange>
      </DeterministicSingleParameterDistribution>
      <DeterministicSingleParameterDistribution parameterName="lanes">
        <DistributionSet><Element value="2"/><Element value="3"/></DistributionSet>
      </DeterministicSingleParameterDistribution>
      <DeterministicSingleParameterDistribution parameterName="light">
        <DistributionSet><Element value="day"/><Element value="night"/></DistributionSet>
      </DeterministicSingleParameterDistribution>
      <DeterministicSingleParameterDistribution parameterName="ud">
        <UserDefinedDistribution type="safety-val:Grid">
          {"family": "Grid", "lower": 0, "upper": 1, "step": 0.25}
        </UserDefinedDistribution>
      </DeterministicSingleParameterDistribution>
    </Deterministic>
  </ParameterValueDistribution>
</OpenSCENARIO>
"""


def test_read_every_stochastic_element(tmp_path: Path) -> None:
    source = tmp_path / "in.xosc"
    source.write_text(XOSC_STOCHASTIC)
    result = read_xosc(source)
    by_name = {p["name"]: p for p in result.parameters}
    assert result.number_of_test_runs == 200
    assert result.random_seed == 3
    assert result.scenario_file == "cut_in.xosc"
    assert by_name["n"]["distribution"] == {"family": "Normal", "mu": 30.0,
                                            "sigma": math.sqrt(0.1)}
    assert by_name["tn"]["distribution"]["family"] == "TruncatedNormal"
    assert by_name["tn"]["distribution"]["upper"] == 2.5
    assert by_name["ln"]["bounds"] == [0.5, 6.0]
    assert by_name["u"]["distribution"] == {"family": "Uniform", "lower": -1.0, "upper": 1.0}
    assert by_name["p"] == {"name": "p", "distribution": {"family": "Poisson", "lambda": 4.0},
                            "bounds": [1.0, 9.0]}
    # bins are sorted by their range
    assert by_name["h"]["distribution"] == {"family": "Histogram", "edges": [0.0, 1.0, 2.0, 4.0],
                                            "weights": [0.3, 0.2, 0.5]}
    assert by_name["pds_num"]["distribution"] == {"family": "UserDefined", "values": [1.5, 3.0],
                                                  "weights": [2.0, 1.0]}
    assert by_name["pds_cat"]["distribution"]["categories"] == ["car", "truck"]
    assert by_name["ud"] == {"name": "ud", "distribution": {"family": "Gumbel", "scale": 0.5,
                                                            "mode": 2.0},
                             "bounds": [1.0, 5.0]}


def test_lognormal_moments_are_those_of_the_lognormal_variable(tmp_path: Path) -> None:
    source = tmp_path / "in.xosc"
    source.write_text(XOSC_STOCHASTIC)
    entry = next(p for p in read_xosc(source).parameters if p["name"] == "ln")
    dist = parse_distribution(entry["distribution"]).build()
    assert dist.getMean()[0] == pytest.approx(2.0, rel=1e-12)
    assert dist.getCovariance()[0, 0] == pytest.approx(0.7, rel=1e-12)


@pytest.mark.parametrize("text", [XOSC_STOCHASTIC, XOSC_DETERMINISTIC])
def test_xosc_to_blocks_to_xosc_to_blocks_is_exact(tmp_path: Path, text: str) -> None:
    source = tmp_path / "in.xosc"
    source.write_text(text)
    first = read_xosc(source)
    write_xosc(first, tmp_path / "out.xosc")
    second = read_xosc(tmp_path / "out.xosc")
    assert second == first
    write_xosc(second, tmp_path / "out2.xosc")
    assert read_xosc(tmp_path / "out2.xosc") == first


def test_read_deterministic_value_sets(tmp_path: Path) -> None:
    source = tmp_path / "in.xosc"
    source.write_text(XOSC_DETERMINISTIC)
    result = read_xosc(source)
    assert result.value_sets == [{
        "name": "value_set_1", "parameters": [{"name": "speed"}, {"name": "road"}],
        "rows": [[20.0, "r1.xodr"], [30.5, "r2.xodr"]], "weights": None,
    }]
    by_name = {p["name"]: p["distribution"] for p in result.parameters}
    assert by_name["gap"] == {"family": "Grid", "lower": 1.0, "upper": 3.0, "step": 0.5}
    assert by_name["lanes"] == {"family": "Set", "values": [2.0, 3.0]}
    assert by_name["light"] == {"family": "Set", "values": ["day", "night"]}
    assert by_name["ud"]["family"] == "Grid"
    assert result.number_of_test_runs is None


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<OpenSCENARIO><ParameterValueDistribution><ScenarioFile filepath="&lol9;"/>
</ParameterValueDistribution></OpenSCENARIO>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<OpenSCENARIO><ParameterValueDistribution><ScenarioFile filepath="&xxe;"/>
<Deterministic><DeterministicSingleParameterDistribution parameterName="x">
<DistributionSet><Element value="&xxe;"/></DistributionSet>
</DeterministicSingleParameterDistribution></Deterministic>
</ParameterValueDistribution></OpenSCENARIO>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "xxe"])
def test_dtd_and_entities_are_refused_not_expanded(tmp_path: Path, text: str) -> None:
    source = tmp_path / "evil.xosc"
    source.write_text(text)
    start = time.perf_counter()
    with pytest.raises(ValidationError) as info:
        read_xosc(source)
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert "DTDs/entities are not allowed" in message
    assert str(source) in message
    # refused before any expansion: fast, and neither lol^9 nor a password line leaks out
    assert elapsed < 1.0
    assert "lollol" not in message
    assert "root:" not in message
    assert len(message) < 300


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("<OpenSCENARIO><ParameterValueDistribution>", ["malformed XML"]),
        ("<Scenario/>", ["wrong root", "Scenario"]),
        ("<OpenSCENARIO><FileHeader/></OpenSCENARIO>", ["not a ParameterValueDistribution"]),
        (
            XOSC_STOCHASTIC.replace('expectedValue="30" variance="0.1"',
                                    'expectedValue="fast" variance="0.1"'),
            ["StochasticDistribution[1][@parameterName='n']/NormalDistribution/@expectedValue",
             "non-numeric", "'fast'"],
        ),
        (
            XOSC_STOCHASTIC.replace('variance="0.1"', 'variance="-4"'),
            ["NormalDistribution/@variance", "negative or zero variance", "'-4'"],
        ),
        (
            XOSC_STOCHASTIC.replace('variance="0.1"', ""),
            ["NormalDistribution", "missing required attribute 'variance'"],
        ),
        (
            XOSC_STOCHASTIC.replace('variance="0.1"', 'variance="nan"'),
            ["NormalDistribution/@variance", "not finite"],
        ),
        (
            XOSC_STOCHASTIC.replace('numberOfTestRuns="200"', 'numberOfTestRuns="2.5"'),
            ["Stochastic/@numberOfTestRuns", "'2.5'"],
        ),
        (
            XOSC_STOCHASTIC.replace('lowerLimit="-1" upperLimit="1"',
                                    'lowerLimit="1" upperLimit="-1"'),
            ["UniformDistribution/Range", "reversed bounds"],
        ),
        (
            XOSC_STOCHASTIC.replace('type="safety-val:Gumbel"', 'type="vendor:Magic"'),
            ["UserDefinedDistribution/@type", "'vendor:Magic'"],
        ),
        (
            XOSC_STOCHASTIC.replace('"scale": 0.5', '"scale": -0.5'),
            ["UserDefinedDistribution.scale", "-0.5"],
        ),
        (
            XOSC_DETERMINISTIC.replace('stepWidth="0.5"', 'stepWidth="0"'),
            ["DistributionRange.step", "0.0"],
        ),
        (
            XOSC_DETERMINISTIC.replace('parameterRef="road" value="r2.xodr"',
                                       'parameterRef="rood" value="r2.xodr"'),
            ["ParameterValueSet[2]", "different parameters"],
        ),
    ],
)
def test_bad_files_name_file_path_and_value(tmp_path: Path, text: str,
                                            fragments: list[str]) -> None:
    source = tmp_path / "bad.xosc"
    source.write_text(text)
    with pytest.raises(ValidationError) as info:
        read_xosc(source)
    message = str(info.value)
    assert message.startswith(str(source))
    for fragment in fragments:
        assert fragment in message


def test_missing_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        read_xosc(tmp_path / "nope.xosc")


def test_write_refuses_what_openscenario_cannot_express(tmp_path: Path) -> None:
    normal = canonical("v", {"family": "Normal", "mu": 0, "sigma": 1})
    value_set = {"name": "vs", "parameters": [{"name": "a"}], "rows": [[1.0]], "weights": None}
    with pytest.raises(ValidationError, match="cannot be mixed"):
        write_xosc(ParameterDistributionSet([normal], [value_set]), tmp_path / "x.xosc")
    with pytest.raises(ValidationError, match="number of test runs"):
        write_xosc(ParameterDistributionSet([normal]), tmp_path / "x.xosc")
    with pytest.raises(ValidationError, match="no weights"):
        write_xosc(ParameterDistributionSet([], [{**value_set, "weights": [1.0]}]),
                   tmp_path / "x.xosc")
    with pytest.raises(ValidationError, match="distributed twice"):
        write_xosc(ParameterDistributionSet([normal, normal], number_of_test_runs=3),
                   tmp_path / "x.xosc")
    with pytest.raises(ValidationError, match=r"parameters\[0\].distribution.sigma"):
        write_xosc(ParameterDistributionSet(
            [{"name": "v", "distribution": {"family": "Normal", "mu": 0, "sigma": -1}}],
            number_of_test_runs=3), tmp_path / "x.xosc")
    assert not (tmp_path / "x.xosc").exists()


def test_write_is_atomic_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "d.xosc"
    target.write_text("old")
    dist_set = ParameterDistributionSet(
        [canonical("v", {"family": "Uniform", "lower": 0, "upper": 1})], number_of_test_runs=5
    )
    write_xosc(dist_set, target)
    assert [p.name for p in tmp_path.iterdir()] == ["d.xosc"]
    assert read_xosc(target) == dist_set
    header = ET.parse(target).getroot().find("FileHeader")
    assert header is not None
    assert (header.get("revMajor"), header.get("revMinor"), header.get("author")) == (
        "1", "2", "safety-val")
