"""Two ``safety-val run`` into one ``--out``: the second is refused at the door (issue 15 item 15).

It used to read and rewrite ``pipeline.json`` while the first was running and fail only
later, at the first store the first process held, naming a sub-folder.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from safety_val.cli import main
from tests.helpers import pipeline_scenario


@contextmanager
def another_writer(run: Path) -> Iterator[int]:
    """A second process holding the run directory's writer lock as safety-val takes it
    (``flock`` on ``RUN/.lock``, its pid inside), as a running pipeline does."""
    code = textwrap.dedent(
        f"""
        import fcntl, os, sys
        fd = os.open({str(run / ".lock")!r}, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, f"{{os.getpid()}}\\n".encode(), 0)
        print("locked", flush=True)
        sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "locked"
        yield process.pid
    finally:
        process.communicate("", timeout=60)


def test_a_second_run_is_refused_before_it_touches_the_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = pipeline_scenario(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    # whatever the state holds: the lock comes before reading it (a state of another
    # schema would otherwise give another error)
    state = b'{"schema": "being written by the other process"}'
    (out / "pipeline.json").write_bytes(state)
    with another_writer(out) as pid:
        code = main(["run", str(scenario), "--n-doe", "10", "--out", str(out), "-q"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {out.resolve()}: another process (pid {pid}) is writing into this run "
        "directory; wait for it to finish or choose another --out"
    ]
    assert (out / "pipeline.json").read_bytes() == state  # not rewritten


def test_a_new_run_directory_held_by_another_process_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = pipeline_scenario(tmp_path)
    out = tmp_path / "run"
    out.mkdir()
    with another_writer(out):
        assert main(["run", str(scenario), "--out", str(out), "-q"]) == 2
    assert "another process" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # no pipeline.json written
