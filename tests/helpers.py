"""Shared test helpers: write small scenario files next to the shipped ODDs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
MOTORWAY_ODD = SCENARIOS / "odd" / "motorway_l3.yaml"
URBAN_ODD = SCENARIOS / "odd" / "urban.yaml"
WEAK_AEB = SCENARIOS / "weak_aeb"
"""Weak-AEB variants of the catalogue (pf of per cent): for tests that need failures in a small
budget (the realistic catalogue in SCENARIOS has pf 1e-7 to 1e-4)."""


def scenario_body(**overrides: Any) -> dict[str, Any]:
    """A small valid lead-braking scenario mapping (builtin simulator)."""
    body: dict[str, Any] = {
        "name": "tiny",
        "odd": str(MOTORWAY_ODD),
        "simulator": "builtin",
        "template": "lead_braking",
        "parameters": [
            {
                "name": "ego_speed",
                "unit": "m/s",
                "odd": "dynamic_elements.subject_vehicle.speed",
                "distribution": {"family": "Uniform", "lower": 20.0, "upper": 30.0},
            },
            {
                "name": "lighting",
                "unit": "-",
                "odd": "environmental_conditions.illumination.lighting",
                "distribution": {
                    "family": "Categorical",
                    "categories": ["day", "night"],
                    "weights": [0.8, 0.2],
                },
            },
        ],
        "kpis": ["collision", "min_ttc"],
        "limit_state": {"expression": "min(min_ttc, 10) - 1.0"},
    }
    body.update(overrides)
    return body


def write_scenario(tmp_path: Path, body: dict[str, Any], name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"scenario": body}, sort_keys=False))
    return path


def pipeline_scenario(folder: Path) -> Path:
    """A small lead-braking scenario (three parameters) for whole-pipeline runs."""
    body = scenario_body()
    body["parameters"].append(
        {
            "name": "initial_gap",
            "unit": "m",
            "odd": "dynamic_elements.traffic.relative_distance",
            "distribution": {"family": "Uniform", "lower": 8.0, "upper": 60.0},
        }
    )
    body["fixed"] = {"lead_decel": 8.0}
    return write_scenario(folder, body)


def _pipeline_config() -> Any:
    from safety_val.pipeline import PipelineConfig

    return PipelineConfig(
        budget=600, target=1e-3, n_doe=120, n_holdout=60, n_reference=150, ambiguity=None,
        per_mode=1, method="subset", robustness_calls=200,
    )


PIPELINE_CONFIG = _pipeline_config()

