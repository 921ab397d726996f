"""Determinism: the same seed gives the same bits, run after run and batch after batch.

``QR-DET-RUNS``
    Two fresh interpreters (different ``PYTHONHASHSEED``) run the same seeded work —
    a simulation into a run store, three reliability estimates, Sobol' indices
    (:mod:`safety_val.qualify._replica`) — and print SHA-256 digests; they must be equal.
``QR-DET-BATCH``
    A concrete scenario's outcome does not depend on the batch it is simulated in: the
    same scenarios simulated as one batch, in reverse order, and one by one give the
    same KPIs, bit for bit (the simulator's randomness is keyed by each scenario's seed).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np

from safety_val.qualify.checks._cli import run_commands
from safety_val.qualify.checks._digest import frame_digest
from safety_val.qualify.checks.simulated import case_path
from safety_val.qualify.requirement import CheckContext, Outcome, Requirement

__all__ = ["requirements"]


def check_runs(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Two replicas in fresh interpreters; compare their digests."""
    commands = []
    for replica in (1, 2):
        folder = context.workdir / f"replica{replica}"
        folder.mkdir(parents=True, exist_ok=True)
        commands.append(
            [sys.executable, "-m", "safety_val.qualify._replica", context.mode, str(folder)]
        )
    first, second = run_commands(
        commands,
        parallel=min(2, context.workers),
        timeout=1200.0,
        envs=[{"PYTHONHASHSEED": "1"}, {"PYTHONHASHSEED": "2"}],
    )
    for result in (first, second):
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"a replica failed (exit {result.returncode}): {tail[0]}")
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    details = [
        {
            "work": key,
            "replica_1": a.get(key),
            "replica_2": b.get(key),
            "equal": a.get(key) == b.get(key),
        }
        for key in sorted(a.keys() | b.keys())
    ]
    return Outcome(
        passed=not differing and bool(a),
        measured=(
            f"{len(details) - len(differing)}/{len(details)} digests equal across two processes"
            + (f"; differing: {', '.join(differing)}" if differing else "")
        ),
        seed=17,
        values={"n_digests": len(details), "n_equal": len(details) - len(differing)},
        details=details,
    )


def check_batch(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """The same scenarios as one batch, reversed, and one by one."""
    from safety_val.doe import generate_design
    from safety_val.scenario import load_scenario

    scenario = load_scenario(case_path("cut_in_motorway"))
    design = generate_design(scenario, int(budget["n"]), method="mc", seed=int(budget["seed"]))
    frame = design.frame
    simulator = scenario.make_simulator()
    kpis = [k for k in scenario.kpis]
    whole = simulator.run(frame)[kpis].reset_index(drop=True)
    reverse = simulator.run(frame.iloc[::-1].reset_index(drop=True))[kpis].iloc[::-1]
    reverse = reverse.reset_index(drop=True)
    singles_index = np.linspace(0, len(frame) - 1, int(budget["singles"])).astype(int)
    single_rows = [
        simulator.run(frame.iloc[[i]].reset_index(drop=True))[kpis] for i in singles_index
    ]
    import pandas as pd

    singles = pd.concat(single_rows, ignore_index=True)
    same_reverse = frame_digest(whole) == frame_digest(reverse)
    same_single = frame_digest(whole.iloc[singles_index].reset_index(drop=True)) == frame_digest(
        singles
    )
    return Outcome(
        passed=same_reverse and same_single,
        measured=(
            f"{len(frame)} scenarios of cut_in_motorway: reversed batch "
            + ("identical" if same_reverse else "DIFFERENT")
            + f"; {len(singles_index)} simulated alone "
            + ("identical" if same_single else "DIFFERENT")
            + f" (KPIs {', '.join(kpis)})"
        ),
        seed=int(budget["seed"]),
        values={"reverse_identical": same_reverse, "singles_identical": same_single},
    )


def requirements() -> list[Requirement]:
    """The determinism requirements."""
    return [
        Requirement(
            id="QR-DET-RUNS",
            area="determinism",
            title="same seed, same bits across runs",
            text=("Two runs of the same seeded analysis shall give the same result, bit for bit."),
            method=(
                "two fresh Python processes (PYTHONHASHSEED 1 and 2) each run: "
                "safety_val.simulate of an LHS design of lead_braking_highway ({n_sim} "
                "scenarios), estimates by nais (four_branch), subset and ais (RP22), Sobol' "
                "indices of Ishigami{extra}; seed 17; SHA-256 of every result."
            ),
            acceptance="every digest of the first process equals the second's.",
            check=check_runs,
            budgets={
                "quick": {"n_sim": 2000, "extra": ""},
                "full": {
                    "n_sim": 20000,
                    "extra": ", and an ais estimate on lead_braking_highway",
                },
            },
        ),
        Requirement(
            id="QR-DET-BATCH",
            area="determinism",
            title="outcome independent of the batch",
            text=(
                "A concrete scenario's simulated outcome shall not depend on the other "
                "scenarios of its batch or on their order."
            ),
            method=(
                "{n} Monte Carlo scenarios of cut_in_motorway (seed {seed}) simulated as one "
                "batch, as one batch in reverse order, and {singles} of them one at a time, "
                "through the scenario's simulator backend."
            ),
            acceptance="the KPIs of every scenario are identical, bit for bit, in all three.",
            check=check_batch,
            budgets={mode: {"n": 400, "singles": 5, "seed": 4} for mode in ("quick", "full")},
        ),
    ]
