from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from safety_val import load_scenario
from safety_val.errors import ValidationError
from safety_val.formats.scenario_yaml import scenario_from_dict, scenario_to_dict
from safety_val.quantities import DerivedQuantity, parse_quantities
from tests.helpers import scenario_body, write_scenario


def test_a_quantity_evaluates_its_expression_on_a_batch() -> None:
    q = DerivedQuantity("ttc", "gap / (v1 - v2)", "s")
    assert q.inputs == ("gap", "v1", "v2")
    out = q.evaluate({"gap": np.array([10.0, 10.0]), "v1": 30.0, "v2": np.array([20.0, 30.0])})
    assert out[0] == pytest.approx(1.0)
    assert np.isinf(out[1])  # never closing: an infinite time, not an error


def test_scenario_file_quantities_round_trip(tmp_path: Path) -> None:
    entry = {"name": "gap_time", "expression": "initial_gap / ego_speed", "unit": "s",
             "description": "headway at the start"}
    file = write_scenario(tmp_path, scenario_body(quantities=[entry]))
    scenario = load_scenario(file)
    assert scenario.quantities[0].to_dict() == entry
    again = scenario_from_dict(scenario_to_dict(scenario, relative_to=tmp_path), source=file)
    assert again.quantities == scenario.quantities


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "q", "expression": "no_such_input * 2", "unit": "m"}, "unknown simulator input"),
        ({"name": "q", "expression": "__import__('os')", "unit": "m"}, "not allowed"),
        ({"name": "q", "expression": "ego_speed", "unit": ""}, "quantities\\[0\\]\\.unit"),
        ({"name": "q", "expression": "ego_speed", "unit": "m/s", "colour": 1}, "unknown key"),
        ({"name": "not an id", "expression": "ego_speed", "unit": "m/s"}, "identifier"),
    ],
)
def test_bad_quantities_are_refused_with_the_field(
    tmp_path: Path, entry: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        load_scenario(write_scenario(tmp_path, scenario_body(quantities=[entry])))
    assert "scenario.yaml" in str(info.value)


def test_duplicate_quantity_names_are_refused() -> None:
    entry = {"name": "q", "expression": "a", "unit": "m"}
    with pytest.raises(ValidationError, match="duplicate quantity name"):
        parse_quantities([entry, entry], known=["a"])
