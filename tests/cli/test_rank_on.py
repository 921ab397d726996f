"""``--rank-on``: what sensitivity ranks, from ``safety-val run`` (``sensitivity``: test_cli)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from safety_val import pipeline
from safety_val.cli import main
from tests.helpers import pipeline_scenario


class _Stop(Exception):
    """Raised by the stand-in sensitivity stage once it has seen its options."""


def test_run_passes_rank_on_to_its_sensitivity_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def sensitivity_stage(*args: Any, **options: Any) -> Any:
        seen.update(options)
        raise _Stop

    monkeypatch.setattr(pipeline, "sensitivity_stage", sensitivity_stage)
    scenario = pipeline_scenario(tmp_path)
    out = tmp_path / "run"
    code = main(["run", str(scenario), "--n-doe", "10", "--stages", "doe,sensitivity",
                 "--rank-on", "output", "--on-error", "raise", "--out", str(out), "-q"])
    assert code == 1  # the stand-in's stop is an "internal error"
    assert seen["rank_on"] == "output"
    config = json.loads((out / "pipeline.json").read_text())["config"]
    assert config["rank_on"] == "output" and config["on_error"] == "raise"


def test_default_settings_keep_the_configuration_hash_of_older_runs() -> None:
    config = pipeline.PipelineConfig()
    assert "rank_on" not in config.to_dict() and "on_error" not in config.to_dict()
    assert pipeline.PipelineConfig(rank_on="failure").to_dict()["rank_on"] == "failure"


def test_rank_on_and_on_error_are_checked_by_the_option_table() -> None:
    from safety_val.errors import ValidationError

    with pytest.raises(ValidationError, match="rank_on: must be one of 'auto', 'output'"):
        pipeline.PipelineConfig(rank_on="label")
    with pytest.raises(ValidationError, match="on_error: must be one of 'exclude', 'raise'"):
        pipeline.PipelineConfig(on_error="ignore")
