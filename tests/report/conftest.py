"""Session fixtures: one real estimate run (with regions and robustness) and a pipeline run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.report.runs import make_estimate_run, make_pipeline_run, write_hostile_scenario


@pytest.fixture(scope="session")
def hostile_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lead-braking scenario with ``<script>`` in its description."""
    return write_hostile_scenario(tmp_path_factory.mktemp("scenario"))


@pytest.fixture(scope="session")
def estimate_run(hostile_scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``estimate`` run with critical regions and robustness (read-only for tests)."""
    return make_estimate_run(hostile_scenario, tmp_path_factory.mktemp("estimate") / "run")


@pytest.fixture(scope="session")
def pipeline_run(
    hostile_scenario: Path, estimate_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A whole-pipeline run directory (doe, sensitivity, reliability, pipeline.json)."""
    return make_pipeline_run(
        hostile_scenario, estimate_run, tmp_path_factory.mktemp("pipeline") / "run"
    )


@pytest.fixture
def run_copy(estimate_run: Path, tmp_path: Path) -> Path:
    """A private copy of the estimate run, for tests that damage or strip it."""
    return Path(shutil.copytree(estimate_run, tmp_path / "run"))
