"""Every export is valid against the XSD of the OpenSCENARIO version it declares (issue 15 item 4).

The catalogue is globbed when the test runs, so a scenario added to ``scenarios/`` is
checked without touching this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from safety_val.cli import main
from safety_val.formats import ParameterDistributionSet, write_xosc
from tests.formats.test_xosc import STOCHASTIC_ENTRIES, canonical
from tests.formats.xsd import declared_minor, schema_errors
from tests.helpers import SCENARIOS

CATALOGUE = sorted(SCENARIOS.glob("*.yaml"))


def test_the_catalogue_is_not_empty() -> None:
    assert CATALOGUE, f"no scenarios/*.yaml under {SCENARIOS}"


@pytest.mark.parametrize("scenario", CATALOGUE, ids=[p.stem for p in CATALOGUE])
def test_catalogue_export_is_valid_for_its_declared_version(
    tmp_path: Path, scenario: Path
) -> None:
    out = tmp_path / f"{scenario.stem}.xosc"
    assert main(["scenario", "export-xosc", str(scenario), "--out", str(out)]) == 0
    assert schema_errors(out) == [], f"{scenario.name} fails OpenSCENARIO 1.{declared_minor(out)}"


def test_every_family_export_is_valid_for_its_declared_version(tmp_path: Path) -> None:
    target = tmp_path / "all.xosc"
    write_xosc(ParameterDistributionSet(STOCHASTIC_ENTRIES, number_of_test_runs=10,
                                        random_seed=3), target)
    assert schema_errors(target) == []


def test_deterministic_export_is_valid_for_its_declared_version(tmp_path: Path) -> None:
    target = tmp_path / "sweep.xosc"
    write_xosc(ParameterDistributionSet(
        parameters=[canonical("gap", {"family": "Grid", "lower": 10, "upper": 50, "step": 5}),
                    canonical("weather", {"family": "Set", "values": ["dry", "wet"]})],
        value_sets=[{"name": "value_set_1", "parameters": [{"name": "v"}, {"name": "road"}],
                     "rows": [[20.0, "A1.xodr"], [25.5, "A2.xodr"]], "weights": None}],
        scenario_file="lead_brake.xosc"), target)
    assert declared_minor(target) == 2
    assert schema_errors(target) == []


def test_a_lognormal_export_needs_and_declares_1_3(tmp_path: Path) -> None:
    # the version matters: the same file fails the 1.2 schema (issue 15 item 4)
    target = tmp_path / "lognormal.xosc"
    lognormal = canonical("v", {"family": "LogNormal", "mu_log": 0.0, "sigma_log": 0.5})
    write_xosc(ParameterDistributionSet([lognormal], number_of_test_runs=3), target)
    assert declared_minor(target) == 3
    assert schema_errors(target) == []
    assert any("LogNormalDistribution" in e for e in schema_errors(target, minor=2))
