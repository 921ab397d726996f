"""``safety-val report``: thin CLI over build_report and the renderers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safety_val.cli import main


def test_report_writes_every_format_by_default(
    run_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(run_copy)]) == 0
    printed = capsys.readouterr().out
    assert "NOT MET: the 95 % interval" in printed  # default target 1e-7
    folder = run_copy / "report"
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.json", "report.md"]
    for name in ("report.html", "report.json", "report.md"):
        assert f"wrote {folder / name}" in printed
    content = json.loads((folder / "report.json").read_text())
    assert content["verdict"]["status"] == "not met"
    assert content["verdict"]["target"] == 1e-7


def test_report_target_format_and_out(
    estimate_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "met.json"
    code = main(
        ["report", str(estimate_run), "--target", "0.5", "--format", "json", "--out", str(out)]
    )
    assert code == 0
    assert "MET:" in capsys.readouterr().out
    assert json.loads(out.read_text())["verdict"]["status"] == "met"
    code = main(
        ["report", str(estimate_run), "-f", "html", "-f", "md", "--out", str(tmp_path / "both")]
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "both").iterdir()) == ["report.html", "report.md"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "1.5"], "strictly between 0 and 1"),
        (["--target", "0"], "strictly between 0 and 1"),
        (["--format", "pdf"], "unknown report format"),
    ],
)
def test_report_bad_input_exit_2(
    estimate_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    assert main(["report", str(estimate_run), *args, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error
    assert not any(tmp_path.iterdir())  # nothing written


def test_report_of_a_non_run_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
