import copy
from pathlib import Path

import numpy as np
import openturns as ot
import pandas as pd
import pytest
import yaml

from safety_val.errors import ValidationError
from safety_val.formats.scenario_yaml import scenario_from_dict, scenario_to_dict
from safety_val.scenario import load_scenario, stable_ids
from tests.helpers import SCENARIOS, scenario_body, write_scenario


def test_joint_distribution_and_categorical_codes(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path, scenario_body()))
    assert scenario.names == ("ego_speed", "lighting")
    dist = scenario.distribution
    assert dist.getDimension() == 2
    assert dist.getMarginal(0).getMean()[0] == pytest.approx(25.0)
    # Categorical over codes 0..k-1 with the given weights
    assert np.asarray(dist.getMarginal(1).getSupport()).ravel().tolist() == [0.0, 1.0]
    assert dist.getMarginal(1).computePDF([1.0]) == pytest.approx(0.2)
    frame = scenario.to_frame(np.array([[21.0, 1.0], [22.0, 0.0]]))
    assert frame["lighting"].tolist() == ["night", "day"]
    np.testing.assert_array_equal(scenario.to_array(frame), [[21.0, 1.0], [22.0, 0.0]])
    assert frame["sample_index"].tolist() == [0, 1]


def test_stable_ids_depend_on_name_and_values_only() -> None:
    frame = pd.DataFrame({"a": [1.0, 1.0, 2.0], "b": ["x", "x", "x"]})
    ids = stable_ids("s", frame)
    assert ids[0] == ids[1] != ids[2]
    assert stable_ids("s", frame.iloc[[2]]) == [ids[2]]
    assert stable_ids("other", frame)[0] != ids[0]
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)


def test_gaussian_copula_from_spearman(tmp_path: Path) -> None:
    body = scenario_body()
    body["parameters"].append(
        {
            "name": "lead_speed",
            "unit": "m/s",
            "odd": "dynamic_elements.traffic.agent_speed",
            "distribution": {"family": "Uniform", "lower": 10.0, "upper": 30.0},
        }
    )
    body["dependence"] = {
        "copula": "normal",
        "correlation": "spearman",
        "parameters": ["ego_speed", "lead_speed"],
        "matrix": [[1, 0.5], [0.5, 1]],
    }
    scenario = load_scenario(write_scenario(tmp_path, body))
    sample = np.asarray(scenario.distribution.getSample(1))
    assert sample.shape == (1, 3)
    # rho_gaussian = 2 sin(pi rho_s / 6)
    expected = 2 * np.sin(np.pi * 0.5 / 6)
    r = scenario.copula_correlation()
    assert r[0, 2] == pytest.approx(expected)  # ordinary order: ego_speed, lighting, lead_speed
    assert r[0, 1] == 0.0
    ot.RandomGenerator.SetSeed(3)
    big = np.asarray(scenario.distribution.getSample(20000))
    from scipy.stats import spearmanr

    rho = spearmanr(big[:, 0], big[:, 2]).statistic
    assert rho == pytest.approx(0.5, abs=4 / np.sqrt(20000))


def test_value_set_becomes_joint_discrete_block(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    body = scenario_body(
        value_sets=[
            {
                "name": "case",
                "parameters": [
                    {
                        "name": "lead_decel",
                        "unit": "m/s^2",
                        "odd": "dynamic_elements.traffic.agent_deceleration",
                    },
                    {"name": "headway", "unit": "m"},
                ],
                "rows": [[2.0, 12.0], [6.0, 40.0]],
                "weights": [1, 3],
            }
        ]
    )
    scenario = load_scenario(write_scenario(tmp_path, body), check_simulator=False)
    assert scenario.names == ("ego_speed", "lighting", "lead_decel", "headway")
    block = scenario.distribution
    assert block.getDimension() == 4
    assert block.getMarginal(2).computePDF([6.0]) == pytest.approx(0.75)
    # OpenTURNS' current class: no deprecation notice on stderr (it ignores --quiet)
    assert "deprecated" not in capfd.readouterr().err


def test_round_trip_to_dict(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, scenario_body(fixed={"aeb_ttc_full": 0.8}))
    scenario = load_scenario(path)
    again = scenario_from_dict(scenario_to_dict(scenario, relative_to=tmp_path), source=path)
    assert again.names == scenario.names
    assert [p.distribution for p in again.parameters] == [
        p.distribution for p in scenario.parameters
    ]
    assert again.fixed == {"aeb_ttc_full": 0.8}
    assert again.criterion.expression == scenario.criterion.expression


def _mutate(body: dict, path: str, value: object) -> dict:
    body = copy.deepcopy(body)
    target = body
    keys = path.split("/")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return body


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "fragments"),
    [
        (
            "parameters/0/distribution",
            {"family": "Normalish", "mu": 1, "sigma": 1},
            ["parameters[0]", "Normalish", "Normal"],
        ),
        (
            "parameters/0/distribution",
            {"family": "Normal", "mu": 25, "sigma": -2},
            ["parameters[0]", "sigma", "-2"],
        ),
        ("parameters/0/bounds", [30, 20], ["parameters[0](ego_speed).bounds", "reversed bounds"]),
        (
            "parameters/0/distribution",
            {"family": "Uniform", "lower": 20, "upper": 40},
            ["not inside ODD attribute dynamic_elements.subject_vehicle.speed", "[0, 36.1] m/s"],
        ),
        (
            "parameters/0/distribution",
            {"family": "Normal", "mu": 25, "sigma": 2},
            ["support [-inf, inf]", "add 'bounds' to truncate"],
        ),
        (
            "parameters/1/distribution",
            {"family": "Categorical", "categories": ["day", "dawn"]},
            ["outside the ODD's allowed set", "dawn"],
        ),
        ("parameters/0/unit", "km/h", ["parameters[0](ego_speed).unit", "km/h", "'m/s'"]),
        ("parameters/0/odd", "dynamic_elements.subject_vehicle.sped", ["did you mean"]),
        ("simulator", "carla2", ["unknown simulator 'carla2'", "builtin"]),
        ("limit_state", {"expression": "__import__('os')"}, ["function not allowed"]),
        ("kpis", ["collision", "collision"], ["scenario.kpis"]),
        ("odd", "nowhere.yaml", ["ODD file not found", "nowhere.yaml"]),
        ("parameters", [], ["at least one parameter"]),
        # the built-in simulator's ranges, refused at load, not after a run folder exists
        ("simulation", {"dt": 1e-6}, ["scenario.simulation.dt", "[0.001, 0.1]", "1e-06"]),
        ("simulation", {"duration": 1e7}, ["scenario.simulation.duration", "(0, 600]"]),
        ("simulation", {"dt": True}, ["scenario.simulation.dt", "True"]),
    ],
)
def test_bad_input_one_line_with_file_field_value(
    tmp_path: Path, path: str, value: object, fragments: list[str]
) -> None:
    file = write_scenario(tmp_path, _mutate(scenario_body(), path, value))
    with pytest.raises(ValidationError) as info:
        load_scenario(file)
    text = str(info.value)
    assert "\n" not in text
    assert str(file) in text
    for fragment in fragments:
        assert fragment in text


def test_correlation_not_positive_definite(tmp_path: Path) -> None:
    body = scenario_body()
    body["parameters"] += [
        {
            "name": "lead_speed",
            "unit": "m/s",
            "distribution": {"family": "Uniform", "lower": 0, "upper": 1},
        },
        {
            "name": "lead_decel",
            "unit": "m/s^2",
            "distribution": {"family": "Uniform", "lower": 1, "upper": 2},
        },
    ]
    body["dependence"] = {
        "parameters": ["ego_speed", "lead_speed", "lead_decel"],
        "correlation": "gaussian",
        "matrix": [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]],
    }
    file = write_scenario(tmp_path, body)
    with pytest.raises(
        ValidationError, match=r"not positive definite \(smallest eigenvalue -0\.\d+"
    ):
        load_scenario(file)


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("scenario:\n  name: x\n  parameters: [\n")
    with pytest.raises(ValidationError, match=r"broken.yaml: malformed YAML at line \d+"):
        load_scenario(file)


@pytest.mark.parametrize(
    "path",
    sorted([*SCENARIOS.glob("*.yaml"), *(SCENARIOS / "weak_aeb").glob("*.yaml")]),
    ids=lambda p: p.relative_to(SCENARIOS).with_suffix("").as_posix(),
)
def test_catalogue_scenarios_are_valid(path: Path) -> None:
    """The catalogue and its weak-AEB variants load, document their basis and are named."""
    scenario = load_scenario(path)
    assert scenario.dimension >= 3
    assert scenario.references, "catalogue scenarios document their basis"
    text = path.read_text()
    assert text.lstrip().startswith("#"), "catalogue files start with a documenting comment"
    assert yaml.safe_load(text)["scenario"]["name"] == path.stem
