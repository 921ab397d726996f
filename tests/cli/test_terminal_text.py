"""User text printed to a terminal carries no control sequences and no rich markup."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from safety_val.cli import main
from tests.helpers import MOTORWAY_ODD, SCENARIOS

HOSTILE = "cut-in\x1b]0;pwned\x07 \x1b[2J\x1b[31mred\x9b [bold]loud[/bold] \x07end"


def _hostile_scenario(folder: Path) -> Path:
    body: dict[str, Any] = yaml.safe_load((SCENARIOS / "cut_in.yaml").read_text())
    body["scenario"]["odd"] = str(MOTORWAY_ODD)
    body["scenario"]["description"] = HOSTILE
    path = folder / "hostile.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["scenario", "show"], ["scenario", "validate"]])
def test_control_sequences_in_a_scenario_never_reach_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    path = _hostile_scenario(tmp_path)
    assert main([*command, str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out
    assert "cut_in" in out
    if command[1] == "show":
        assert "cut-in red [bold]loud[/bold] end" in " ".join(out.split())


def test_scenario_list_shows_hostile_names_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hostile_scenario(tmp_path)
    assert main(["scenario", "list", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "cut_in" in out
