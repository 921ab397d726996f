"""Small real run directories for the report and replay tests (built once per session)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from safety_val.cli import main
from tests.helpers import MOTORWAY_ODD, WEAK_AEB

HOSTILE_DESCRIPTION = 'The lead <script>alert("x")</script> brakes & "stops" <b>hard</b>'
"""A scenario description with markup that every renderer must show as text."""


def write_hostile_scenario(folder: Path) -> Path:
    """The weak-AEB lead-braking scenario with a markup-laden description, simulated coarser.

    The weak-AEB variant (pf of per cent) gives the regions and robustness analyses failures
    in 400 crude runs.

    ``dt = 0.02 s`` over 10 s keeps the tests fast; the ODD path is made absolute.
    """
    body: dict[str, Any] = yaml.safe_load((WEAK_AEB / "lead_braking.yaml").read_text())
    scenario = body["scenario"]
    scenario["odd"] = str(MOTORWAY_ODD)
    scenario["description"] = HOSTILE_DESCRIPTION
    scenario["simulation"] = {"dt": 0.02, "duration": 10.0}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lead_braking_hostile.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def run_cli(*args: str) -> None:
    """Run a CLI command in-process quietly; fail loudly on a non-zero exit code."""
    code = main([*args, "-q"])
    if code != 0:
        raise RuntimeError(f"safety-val {' '.join(args)} exited with {code}")


def make_estimate_run(scenario: Path, out: Path, *, analyses: bool = True) -> Path:
    """An ``estimate`` run (crude MC, 400 calls), optionally with regions and robustness."""
    run_cli(
        "estimate",
        str(scenario),
        "--method",
        "mc",
        "--max-calls",
        "400",
        "--seed",
        "1",
        "--out",
        str(out),
    )
    if analyses:
        run_cli(
            "regions",
            str(out),
            "--n-reference",
            "100",
            "--per-mode",
            "1",
            "--export-xosc",
            str(out / "xosc"),
        )
        run_cli(
            "robustness",
            str(out),
            "--n-reference",
            "100",
            "--shift",
            "lead_decel=+1sd",
            "--max-calls",
            "100",
        )
    return out


def make_pipeline_run(scenario: Path, estimate_run: Path, out: Path) -> Path:
    """A ``safety-val run`` layout assembled from real stages (what pipeline.py writes)."""
    from safety_val.report import config_hash
    from safety_val.runs.store import file_sha256

    out.mkdir(parents=True)
    run_cli(
        "simulate",
        str(scenario),
        "--n",
        "64",
        "--design",
        "lhs",
        "--seed",
        "2",
        "--out",
        str(out / "doe"),
    )
    run_cli(
        "sensitivity",
        str(scenario),
        "--n",
        "128",
        "--methods",
        "delta",
        "--holdout",
        "0",
        "--seed",
        "3",
        "--out",
        str(out / "sensitivity"),
    )
    shutil.copytree(estimate_run, out / "reliability")
    config = {
        "budget": 1000,
        "doe": {"n": 64, "seed": 2},
        "sensitivity": {"seed": 3},
        "reliability": {"method": "mc", "seed": 1},
    }
    stages = {
        name: {"status": "done", "seconds": 1.5, "message": ""}
        for name in (
            "doe",
            "simulation",
            "sensitivity",
            "reduction",
            "reliability",
            "robustness",
            "regions",
        )
    }
    stages["report"] = {"status": "pending", "seconds": 0.0, "message": ""}
    pipeline = {
        "schema": "safety-val/pipeline/1",
        "safety_val_version": "0.0.1",
        "scenario": "lead_braking",
        "scenario_file": str(scenario.resolve()),
        "scenario_sha256": file_sha256(scenario),
        "config": config,
        "config_hash": config_hash(config),
        "target": 0.2,
        "stages": stages,
    }
    (out / "pipeline.json").write_text(json.dumps(pipeline, indent=2), encoding="utf-8")
    return out
