"""``regions --export-xosc DIR`` treats its folder as an output: never replaced silently."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from safety_val import load_scenario
from safety_val.cli import main
from safety_val.errors import ValidationError
from safety_val.regions.export import (
    INDEX_FILE,
    check_export_folder,
    export_critical_scenarios,
)
from tests.helpers import SCENARIOS


class _Regions:
    """The two things an export reads from critical regions: the modes, their scenarios."""

    def __init__(self, modes: list[int]) -> None:
        self.modes = pd.DataFrame({"mode": modes})

    def critical_scenarios(self, mode: int, k: int) -> pd.DataFrame:
        rows = [{"lead_decel": 6.0 + mode + 0.1 * r, "g": -1.0 + 0.1 * r} for r in range(k)]
        return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def lead_braking() -> object:
    return load_scenario(SCENARIOS / "lead_braking.yaml")


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_export_writes_files_and_an_index(lead_braking: object, tmp_path: Path) -> None:
    folder = tmp_path / "xosc"
    written = export_critical_scenarios(_Regions([0, 1]), lead_braking, folder, per_mode=2)
    names = [p.name for p in written]
    assert names == [f"lead_braking_mode{m}_{r}.xosc" for m in (0, 1) for r in (1, 2)]
    index = json.loads((folder / INDEX_FILE).read_text())
    assert index["files"] == sorted([*names, *(n.replace(".xosc", ".xodr") for n in names)])
    assert sorted(p.name for p in folder.iterdir()) == sorted([*index["files"], INDEX_FILE])


def test_a_second_export_needs_force_and_then_replaces_only_its_own_files(
    lead_braking: object, tmp_path: Path
) -> None:
    folder = tmp_path / "xosc"
    export_critical_scenarios(_Regions([0, 1]), lead_braking, folder, per_mode=2)
    before = _contents(folder)
    with pytest.raises(ValidationError, match=r"not empty \(9 entries: export\.json, "
                       r"lead_braking_mode0_1\.xodr, lead_braking_mode0_1\.xosc, \.\.\.\); "
                       "pass --force"):
        export_critical_scenarios(_Regions([0]), lead_braking, folder, per_mode=1)
    assert _contents(folder) == before  # nothing replaced
    (folder / "my_notes.txt").write_text("mine")
    written = export_critical_scenarios(_Regions([0]), lead_braking, folder, per_mode=1,
                                        force=True)
    # the earlier export's mode-1 and rank-2 files are gone; the user's file stays
    assert sorted(p.name for p in folder.iterdir()) == [
        INDEX_FILE, "lead_braking_mode0_1.xodr", "lead_braking_mode0_1.xosc", "my_notes.txt",
    ]
    assert [p.name for p in written] == ["lead_braking_mode0_1.xosc"]


def test_non_regular_targets_are_refused_before_anything_is_written(
    lead_braking: object, tmp_path: Path
) -> None:
    folder = tmp_path / "xosc"
    folder.mkdir()
    os.mkfifo(folder / "lead_braking_mode0_2.xodr")
    with pytest.raises(ValidationError, match=r"lead_braking_mode0_2\.xodr: not a regular file"):
        export_critical_scenarios(_Regions([0]), lead_braking, folder, per_mode=2, force=True)
    assert sorted(p.name for p in folder.iterdir()) == ["lead_braking_mode0_2.xodr"]
    (folder / "lead_braking_mode0_2.xodr").unlink()
    (folder / "lead_braking_mode0_1.xosc").symlink_to(tmp_path / "elsewhere.xosc")
    with pytest.raises(ValidationError, match=r"lead_braking_mode0_1\.xosc: not a regular file"):
        export_critical_scenarios(_Regions([0]), lead_braking, folder, per_mode=1, force=True)
    assert not (tmp_path / "elsewhere.xosc").exists()


def test_a_file_or_a_link_is_not_an_export_folder(tmp_path: Path) -> None:
    file = tmp_path / "report.txt"
    file.write_text("keep me")
    with pytest.raises(ValidationError, match="not a folder"):
        check_export_folder(file, force=True)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "target", target_is_directory=True)
    with pytest.raises(ValidationError, match="not a folder"):
        check_export_folder(link, force=True)
    assert file.read_text() == "keep me"


def test_cli_refuses_a_non_empty_export_folder_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "xosc"
    folder.mkdir()
    (folder / "cut_in_mode0_1.xosc").write_text("<OpenSCENARIO/>")
    # refused before the run folder is even read
    code = main(["regions", str(tmp_path / "run"), "--export-xosc", str(folder)])
    error = capsys.readouterr().err
    assert code == 2
    assert error.strip().splitlines() == [
        f"error: {folder}: the folder is not empty (1 entry: cut_in_mode0_1.xosc); pass "
        "--force to replace the files of an earlier export (expected an empty or new folder)"
    ]
    assert (folder / "cut_in_mode0_1.xosc").read_text() == "<OpenSCENARIO/>"
    file = tmp_path / "file.xosc"
    file.write_text("x")
    assert main(["regions", str(tmp_path / "run"), "--export-xosc", str(file), "--force"]) == 2
    assert "not a folder" in capsys.readouterr().err and file.read_text() == "x"
