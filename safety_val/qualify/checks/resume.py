"""Resume after a kill: an interrupted ``safety-val simulate`` continues to the same result.

The check starts ``safety-val simulate`` in a child process, kills it with ``SIGKILL``
(no clean-up can run) once a few batches are stored, resumes it with ``--resume`` in a
second child process, and compares the run store with an uninterrupted run of the same
design: every concrete scenario once, the same bytes in every column, and no stored
scenario simulated again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from safety_val.qualify.checks._cli import cli_command, run_commands
from safety_val.qualify.checks._digest import frame_digest
from safety_val.qualify.checks.simulated import case_path
from safety_val.qualify.requirement import CheckContext, Outcome, Requirement

__all__ = ["requirements"]

_CASE = "lead_braking_highway"


def _stored_parts(run: Path) -> int:
    folder = run / "samples"
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.glob("part-*.parquet") if p.is_file())


def _samples(run: Path) -> Any:
    from safety_val.runs.store import RunStore

    store = RunStore.open(run)
    try:
        return store.read_samples()
    finally:
        store.release()


def _kill_after(arguments: list[str], run: Path, parts: int, timeout: float) -> tuple[int, int]:
    """Start the command, SIGKILL it once ``parts`` batches are stored; (exit code, parts)."""
    process = subprocess.Popen(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.perf_counter()
    try:
        while process.poll() is None and _stored_parts(run) < parts:
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"no {parts} batches stored after {timeout:.0f} s")
            time.sleep(0.02)
        if process.poll() is not None:
            raise RuntimeError(
                "the simulation finished before it could be interrupted; the budget is too small "
                "for this machine"
            )
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return int(process.returncode), _stored_parts(run)


def check_resume(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Kill, resume, compare with an uninterrupted run."""
    import warnings

    from safety_val.runs.simulate import simulate
    from safety_val.scenario import load_scenario

    n, batch, seed = int(budget["n_runs"]), int(budget["batch_size"]), int(budget["seed"])
    scenario_file = case_path(_CASE)
    killed_run = context.workdir / "killed"
    options = [
        "--n",
        str(n),
        "--design",
        "mc",
        "--seed",
        str(seed),
        "--batch-size",
        str(batch),
        "--executor",
        "serial",
        "--out",
        str(killed_run),
    ]
    command = cli_command("--quiet", "simulate", scenario_file, *options)
    code, stored = _kill_after(command, killed_run, int(budget["kill_after"]), timeout=300.0)
    stored_rows = len(_samples(killed_run))
    (resumed,) = run_commands([[*command, "--resume"]], parallel=1, timeout=600.0)
    manifest = json.loads((killed_run / "manifest.json").read_text(encoding="utf-8"))
    samples = _samples(killed_run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = simulate(
            load_scenario(scenario_file),
            n=n,
            out=context.workdir / "uninterrupted",
            design="mc",
            seed=seed,
            batch_size=batch,
        ).samples
    indices = samples["sample_index"].tolist()
    resimulated = manifest.get("timings", {}).get("simulated_rows_last_call")
    checks = {
        "killed by SIGKILL": code == -signal.SIGKILL,
        "resume exits 0": resumed.returncode == 0,
        "every scenario exactly once": indices == list(range(n)),
        "identical to the uninterrupted run": frame_digest(samples) == frame_digest(reference),
        "no stored scenario simulated again": resimulated == n - stored_rows,
        "manifest complete and marked resumed": manifest.get("status") == "complete"
        and manifest.get("resumed") is True,
    }
    failed = [name for name, ok in checks.items() if not ok]
    return Outcome(
        passed=not failed,
        measured=(
            f"killed (exit {code}) with {stored_rows} of {n} scenarios stored in {stored} "
            f"batches; --resume simulated {resimulated} more (exit {resumed.returncode}); "
            f"{len(samples)} rows, "
            + (f"failed: {', '.join(failed)}" if failed else "identical to the uninterrupted run")
        ),
        seed=seed,
        values={
            "n_runs": n,
            "stored_before_kill": stored_rows,
            "simulated_on_resume": resimulated,
            "samples_sha256": frame_digest(samples),
            "uninterrupted_sha256": frame_digest(reference),
            "checks": {name: bool(ok) for name, ok in checks.items()},
            "resume_stderr": resumed.stderr.strip()[-500:],
        },
    )


def requirements() -> list[Requirement]:
    """The resume requirement."""
    return [
        Requirement(
            id="QR-RUN-RESUME",
            area="resume",
            title="resume after a kill",
            text=(
                "A simulation run killed at any point shall resume to exactly the result of an "
                "uninterrupted run, without losing, duplicating or re-running a stored scenario."
            ),
            method=(
                "safety-val simulate of a Monte Carlo design of {n_runs} scenarios of "
                "lead_braking_highway (seed {seed}, batches of {batch_size}) in a child process, "
                "SIGKILL once {kill_after} batches are stored, then safety-val simulate --resume "
                "in another; compared with an uninterrupted safety_val.simulate of the same "
                "design."
            ),
            acceptance=(
                "resume exits 0; sample indices 0…n−1 each once; SHA-256 of the samples equals "
                "the uninterrupted run's; the resumed call simulated exactly the scenarios not "
                "stored; manifest complete and marked resumed."
            ),
            check=check_resume,
            budgets={
                "quick": {"n_runs": 6000, "batch_size": 1000, "kill_after": 2, "seed": 21},
                "full": {"n_runs": 30000, "batch_size": 2000, "kill_after": 5, "seed": 21},
            },
        )
    ]
