from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from safety_val.backends import CommandSimulator
from safety_val.errors import ValidationError

KPIS = ["min_ttc", "collision"]

SIMULATOR = textwrap.dedent(
    """
    import csv, json, os, subprocess, sys, time
    mode, fmt, src, dst = sys.argv[1:5]
    if fmt == "jsonl":
        rows = [json.loads(line) for line in open(src)]
    else:
        rows = [{**r, "speed": float(r["speed"])} for r in csv.DictReader(open(src))]
    if mode == "crash":
        print("loading map", file=sys.stderr)
        print("fatal: segfault in physics", file=sys.stderr)
        sys.exit(3)
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open(os.environ["PIDFILE"], "w").write(f"{os.getpid()} {child.pid}")
        time.sleep(60)
    out = [{"scenario_id": r["scenario_id"], "min_ttc": 40.0 / r["speed"],
            "collision": r["speed"] > 25} for r in rows]
    if mode == "missing":
        out = out[1:]
    if fmt == "jsonl":
        lines = [json.dumps(o) for o in out]
        if mode == "garbage":
            lines[1] = "{not json"
            lines[2] = json.dumps({**out[2], "min_ttc": "fast"})
            lines.append(json.dumps({**out[0], "scenario_id": "ffffffffffffffff"}))
        if mode == "nan":
            lines[0] = lines[0].replace(str(out[0]["min_ttc"]), "NaN")
        open(dst, "w").write("\\n".join(lines) + "\\n")
    else:
        with open(dst, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["scenario_id", "min_ttc", "collision"])
            w.writeheader()
            w.writerows(out)
    """
)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "fake_sim.py"
    path.write_text(SIMULATOR)
    return path


def batch(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_index": range(n),
            "scenario_id": [f"{i:016x}" for i in range(n)],
            "speed": [10.0 + 10 * i for i in range(n)],
            "weather": ["dry", "wet", "dry", "fog"][:n],
        },
        index=range(10, 10 + n),
    )


def make(script: Path, mode: str, fmt: str = "jsonl", **kwargs) -> CommandSimulator:
    argv = [sys.executable, str(script), mode, fmt, "{input}", "{output}"]
    return CommandSimulator(argv, kpis=KPIS, io_format=fmt, **kwargs)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_success(script: Path, fmt: str) -> None:
    out = make(script, "ok", fmt).run(batch())
    assert out.index.tolist() == [10, 11, 12, 13]
    assert (out["status"] == "ok").all()
    assert out["min_ttc"].tolist() == [4.0, 2.0, 40.0 / 30.0, 1.0]
    assert out["collision"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_crash_reports_exit_code_and_last_stderr_line(script: Path) -> None:
    out = make(script, "crash").run(batch())
    assert (out["status"] == "error").all() and out["min_ttc"].isna().all()
    assert out["message"].iloc[0] == (
        "external simulator exited with code 3; last stderr line: fatal: segfault in physics"
    )


@pytest.mark.timeout(20)
def test_hang_times_out_and_kills_the_process_group(script: Path, tmp_path: Path,
                                                     monkeypatch) -> None:
    pidfile = tmp_path / "pids"
    sim = make(script, "hang", timeout=2, env={"PIDFILE": str(pidfile)})
    start = time.monotonic()
    out = sim.run(batch())
    elapsed = time.monotonic() - start
    assert 2 <= elapsed < 6
    assert (out["status"] == "timeout").all()
    assert out["message"].iloc[0] == "external simulator exceeded 2 s"
    parent, child = (int(p) for p in pidfile.read_text().split())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in (parent, child)):
        time.sleep(0.05)
    assert not _alive(parent) and not _alive(child)


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return "State:\tZ" not in status


def test_garbage_output(script: Path) -> None:
    out = make(script, "garbage").run(batch())
    assert out["status"].tolist() == ["ok", "error", "error", "ok"]
    assert out.loc[11, "message"].startswith(
        "no result for this scenario in the output (output line 2 is not valid JSON: "
    )
    assert out.loc[12, "message"] == "output line 3: KPI 'min_ttc' is not a number: 'fast'"


def test_nan_kpi_is_an_error(script: Path) -> None:
    out = make(script, "nan").run(batch())
    assert out["status"].tolist() == ["error", "ok", "ok", "ok"]
    assert out.loc[10, "message"] == "KPI 'min_ttc' is NaN or not a number"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_missing_rows(script: Path, fmt: str) -> None:
    out = make(script, "missing", fmt).run(batch())
    assert out["status"].tolist() == ["error", "ok", "ok", "ok"]
    assert out.loc[10, "message"] == "no result for this scenario in the output"


def test_stdin_stdout_and_temp_files_cleaned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    code = (
        "import sys, json\n"
        "for line in sys.stdin:\n"
        "    r = json.loads(line)\n"
        "    print(json.dumps({'scenario_id': r['scenario_id'], 'min_ttc': 1, 'collision': 0}))\n"
    )
    out = CommandSimulator([sys.executable, "-c", code], kpis=KPIS).run(batch())
    assert (out["status"] == "ok").all()
    assert list(tmp_path.iterdir()) == []


def test_validation(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="command 'foo-sim-does-not-exist' not found on PATH"):
        CommandSimulator(["foo-sim-does-not-exist"], kpis=KPIS)
    with pytest.raises(ValidationError, match="not found or not executable"):
        CommandSimulator([str(tmp_path / "nope")], kpis=KPIS)
    with pytest.raises(ValidationError, match="argv"):
        CommandSimulator("python3 sim.py", kpis=KPIS)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="io_format"):
        CommandSimulator([sys.executable], kpis=KPIS, io_format="xml")
    with pytest.raises(ValidationError, match="timeout"):
        CommandSimulator([sys.executable], kpis=KPIS, timeout=0)


def test_picklable(script: Path) -> None:
    import pickle

    sim = make(script, "ok")
    clone = pickle.loads(pickle.dumps(sim))
    pd.testing.assert_frame_equal(clone.run(batch(2)), sim.run(batch(2)))
