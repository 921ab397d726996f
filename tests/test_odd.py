from pathlib import Path

import pytest
import yaml

from safety_val.errors import ValidationError
from safety_val.odd import CATEGORIES, load_odd
from tests.helpers import MOTORWAY_ODD, URBAN_ODD


@pytest.mark.parametrize("path", [MOTORWAY_ODD, URBAN_ODD])
def test_shipped_odds_load_with_all_iso34503_categories(path: Path) -> None:
    odd = load_odd(path)
    assert {a.category for a in odd} == set(CATEGORIES)
    assert all(a.unit for a in odd)
    assert all((a.range is None) != (a.allowed is None) for a in odd)


def test_motorway_speed_range_is_alks_130_kmh() -> None:
    odd = load_odd(MOTORWAY_ODD)
    attribute = odd.attribute("dynamic_elements.subject_vehicle.speed")
    assert attribute.range == (0.0, 36.1)
    assert attribute.unit == "m/s"
    assert attribute.contains_interval(10.0, 36.1)
    assert not attribute.contains_interval(10.0, 40.0)
    lighting = odd.attribute("environmental_conditions.illumination.lighting")
    assert lighting.contains_value("night") and not lighting.contains_value("dawn")


def _write(tmp_path: Path, body: object) -> Path:
    path = tmp_path / "odd.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def _minimal(**attribute: object) -> dict:
    return {
        "odd": {
            "name": "x",
            "scenery": {"road": {"lanes": {"unit": "1", "range": [1, 3]}}},
            "environmental_conditions": {"rain": attribute or {"unit": "mm/h", "range": [0, 5]}},
            "dynamic_elements": {"speed": {"unit": "m/s", "range": [0, 30]}},
        }
    }


@pytest.mark.parametrize(
    ("attribute", "message", "field"),
    [
        (
            {"unit": "mm/h", "range": [5, 0]},
            "reversed or empty range",
            "environmental_conditions.rain.range",
        ),
        ({"range": [0, 5]}, "attribute has no unit", "environmental_conditions.rain.unit"),
        (
            {"unit": "mm/h", "range": [0, 5], "allowed": [1]},
            "exactly one of",
            "environmental_conditions.rain",
        ),
        ({"unit": "-", "allowed": []}, "non-empty list", "environmental_conditions.rain.allowed"),
        (
            {"unit": "mm/h", "range": [0, "x"]},
            "two finite numbers",
            "environmental_conditions.rain.range",
        ),
        (
            {"unit": "mm/h", "range": [0, 5], "colour": 1},
            "unknown key",
            "environmental_conditions.rain.colour",
        ),
    ],
)
def test_bad_attributes_name_file_and_field(
    tmp_path: Path, attribute: dict, message: str, field: str
) -> None:
    path = _write(tmp_path, _minimal(**attribute))
    with pytest.raises(ValidationError) as info:
        load_odd(path)
    text = str(info.value)
    assert str(path) in text and f"odd.{field}" in text and message in text
    assert "\n" not in text


def test_missing_category_and_malformed_yaml(tmp_path: Path) -> None:
    body = _minimal()
    del body["odd"]["dynamic_elements"]
    with pytest.raises(ValidationError, match="missing ISO 34503 category 'dynamic_elements'"):
        load_odd(_write(tmp_path, body))
    bad = tmp_path / "bad.yaml"
    bad.write_text("odd:\n  name: [unclosed\n")
    with pytest.raises(ValidationError, match=r"bad.yaml: malformed YAML at line \d+"):
        load_odd(bad)
    with pytest.raises(ValidationError, match="file not found"):
        load_odd(tmp_path / "missing.yaml")


def test_unknown_attribute_suggests_close_match() -> None:
    odd = load_odd(MOTORWAY_ODD)
    with pytest.raises(
        ValidationError, match=r"did you mean dynamic_elements\.subject_vehicle\.speed"
    ):
        odd.attribute("dynamic_elements.subject_vehicle.sped")
