"""Shared fixtures: a local Ray instance for the tests marked ``ray``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """Start Ray once per session (2 CPUs, no dashboard); shut it down at the end."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        yield ray
        return
    # Ray workers must import safety_val and the test modules from the source tree.
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": python_path}},
    )
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One finished small pipeline run, shared by the pipeline, report and notebook tests."""
    from safety_val.pipeline import run_pipeline
    from tests.helpers import PIPELINE_CONFIG, pipeline_scenario

    folder = tmp_path_factory.mktemp("pipeline")
    return folder, run_pipeline(pipeline_scenario(folder), folder / "run", config=PIPELINE_CONFIG)
