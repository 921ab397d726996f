"""The user's environment is bad input too: one line naming the path and the cause, exit 2."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from safety_val.cli import main
from tests.helpers import SCENARIOS

CUT_IN = str(SCENARIOS / "cut_in.yaml")


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and "internal error" not in err
    assert err.startswith("error: ")
    return err


@pytest.mark.parametrize(
    ("out", "cause"),
    [("/proc/x.csv", "No such file or directory"), ("/dev/null/x.csv", "Not a directory")],
)
def test_an_unwritable_out_exits_2_naming_it(
    out: str, cause: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "doe", CUT_IN, "--n", "5", "--out", out]) == 2
    err = _one_error_line(capsys)
    assert err == f"error: {out}: cannot write the file: {cause}"


def test_a_full_disk_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    # a run directory cannot be made under a device either
    assert main(["-q", "simulate", CUT_IN, "--n", "5", "--out", "/dev/full/run"]) == 2
    assert "/dev/full/run" in _one_error_line(capsys)


def test_a_device_node_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe.xosc"
    os.mkfifo(fifo)
    assert main(["-q", "scenario", "export-xosc", CUT_IN, "--out", str(fifo)]) == 2
    assert "not a regular file" in _one_error_line(capsys)
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the pipe, not a regular file


def test_a_read_only_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        # root ignores permissions: make the parent unusable another way
        target = tmp_path / "file-not-folder"
        target.write_text("x")
        out = target / "design.csv"
    else:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        out = folder / "design.csv"
    assert main(["-q", "doe", CUT_IN, "--n", "5", "--out", str(out)]) == 2
    assert str(out) in _one_error_line(capsys)


def test_deeply_nested_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("scenario: " + "[" * 100_000 + "]" * 100_000)
    assert main(["scenario", "validate", str(deep)]) == 2
    assert "nested too deeply" in _one_error_line(capsys)
