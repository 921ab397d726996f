"""A scenario file that runs an external command names it, once, before it runs."""

from __future__ import annotations

import shlex
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from safety_val import load_scenario
from tests.helpers import MOTORWAY_ODD, SCENARIOS


def _command_scenario(folder: Path, argv: list[str]) -> Path:
    body: dict[str, Any] = yaml.safe_load((SCENARIOS / "cut_in.yaml").read_text())
    body["scenario"]["odd"] = str(MOTORWAY_ODD)
    body["scenario"]["simulator"] = {"kind": "command", "argv": argv}
    path = folder / "external.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def test_the_external_command_is_named_once_per_file(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; sys.exit(3)", "{input}", "{output}"]
    scenario = load_scenario(_command_scenario(tmp_path, argv))
    with pytest.warns(UserWarning, match="runs the external command") as caught:
        scenario.make_simulator()
    (notice,) = [str(w.message) for w in caught if "external command" in str(w.message)]
    assert notice.startswith(f"{tmp_path / 'external.yaml'}: runs the external command ")
    assert shlex.join(argv) in notice and "scenario file is code" in notice
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second time: no notice
        scenario.make_simulator()


def test_the_builtin_simulator_gives_no_notice() -> None:
    scenario = load_scenario(SCENARIOS / "cut_in.yaml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scenario.make_simulator()
