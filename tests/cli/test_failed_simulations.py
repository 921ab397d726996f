"""``estimate`` with an external simulator that crashes on some rows, as a new user meets it.

The simulator is a real external command (a small Python script run by the command
backend once per batch) that reports ``status: error`` for the rows where ``x1 < -1``.
The estimate must not stop: it counts the failed runs, shows them in the table, the
result file and the report, and ``--on-error`` is validated and honoured.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from safety_val.cli import main
from tests.helpers import MOTORWAY_ODD

SIMULATOR = textwrap.dedent(
    """
    import json, sys
    rows = [json.loads(line) for line in open(sys.argv[1])]
    with open(sys.argv[2], "w") as out:
        for r in rows:
            x0, x1 = float(r["x0"]), float(r["x1"])
            if x1 < -1.0:
                record = {"scenario_id": r["scenario_id"], "status": "error",
                          "message": "segmentation fault in the physics engine"}
            else:
                record = {"scenario_id": r["scenario_id"], "margin": 2.0 - (x0 + x1) / 2 ** 0.5}
            out.write(json.dumps(record) + "\\n")
    """
)


@pytest.fixture
def external(tmp_path: Path) -> Path:
    script = tmp_path / "crashing_sim.py"
    script.write_text(SIMULATOR, encoding="utf-8")
    normal = {"family": "Normal", "mu": 0.0, "sigma": 1.0}
    body = {
        "scenario": {
            "name": "external",
            "odd": str(MOTORWAY_ODD),
            "simulator": {"kind": "command",
                          "argv": [sys.executable, str(script), "{input}", "{output}"]},
            "parameters": [
                {"name": "x0", "unit": "-", "distribution": normal},
                {"name": "x1", "unit": "-", "distribution": normal},
            ],
            "kpis": ["margin"],
            "limit_state": {"expression": "margin"},
        }
    }
    path = tmp_path / "external.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    return path


def test_estimate_goes_on_past_crashes_and_shows_them(
    external: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(["estimate", str(external), "--method", "nais", "--max-calls", "1500",
                 "--target-cov", "0.2", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    saved = json.loads((out / "result.json").read_text())
    n_errors = saved["result"]["n_errors"]
    assert n_errors > 0 and saved["on_error"] == "exclude"
    assert f"failed runs (error/timeout) │ {n_errors} of " in printed.out
    assert "interval without them" in printed.out
    assert "excluded from the estimate" in " ".join(printed.out.split())  # wrapped
    # the report shows them too
    assert main(["report", str(out), "--format", "md", "-q"]) == 0
    markdown = (out / "report" / "report.md").read_text()
    assert "failed simulations (error/timeout" in markdown and f"| {n_errors} |" in markdown


def test_on_error_is_validated_before_anything_is_written(
    external: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["estimate", str(external), "--on-error", "skip", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.strip().splitlines() == [
        "error: --on-error: must be one of 'exclude', 'raise' (got 'skip'; expected one of "
        "'exclude', 'raise')"
    ]
    assert not out.exists()
    for option in ("--on-error", "--rank-on"):
        assert main(["run", str(external), option, "skip", "--out", str(out)]) == 2
        assert f"error: {option}: must be one of" in capsys.readouterr().err
        assert not out.exists()


def test_on_error_raise_stops_at_the_first_crash(
    external: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["estimate", str(external), "--method", "nais", "--max-calls", "1500",
                 "--on-error", "raise", "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err
    assert code != 0
    assert "on_error='raise' stops at the first one" in error
