"""Fixtures of the campaign tests: a fast lead-braking scenario and campaign files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from safety_val import load_scenario
from safety_val.formats.scenario_yaml import scenario_to_dict
from tests.helpers import WEAK_AEB


def write_fast_scenario(folder: Path) -> Path:
    """The weak-AEB lead_braking.yaml (pf of per cent) with a coarse time step (dt 0.05 s,
    12 s): ~4x faster to simulate."""
    scenario = load_scenario(WEAK_AEB / "lead_braking.yaml")
    body = scenario_to_dict(scenario, relative_to=folder)
    body["simulation"] = {"dt": 0.05, "duration": 12.0}
    file = folder / "fast_lead_braking.yaml"
    file.write_text(yaml.safe_dump({"scenario": body}, sort_keys=False), encoding="utf-8")
    return file


def write_campaign(folder: Path, name: str = "campaign.yaml", **overrides: Any) -> Path:
    """A one-job MC campaign on the fast scenario; ``overrides`` replace campaign keys or,
    with the ``entry_`` prefix, keys of the scenario entry."""
    entry: dict[str, Any] = {
        "file": "fast_lead_braking.yaml",
        "analyses": ["estimate"],
        "budgets": [300],
        "options": {"block_size": 100},
    }
    campaign: dict[str, Any] = {
        "name": "nightly",
        "seed": 0,
        "target": 0.5,
        "method": "mc",
        "scenarios": [entry],
    }
    for key, value in overrides.items():
        if key.startswith("entry_"):
            entry[key.removeprefix("entry_")] = value
        else:
            campaign[key] = value
    file = folder / name
    file.write_text(yaml.safe_dump({"campaign": campaign}, sort_keys=False), encoding="utf-8")
    return file


@pytest.fixture
def fast_scenario(tmp_path: Path) -> Path:
    return write_fast_scenario(tmp_path)


@pytest.fixture
def campaign_file(tmp_path: Path, fast_scenario: Path) -> Callable[..., Path]:
    def make(name: str = "campaign.yaml", **overrides: Any) -> Path:
        return write_campaign(tmp_path, name, **overrides)

    return make
