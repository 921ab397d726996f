"""Executor equivalence: serial, process pool and Ray give the same results, bit for bit.

The same seeded work runs on each executor (``make_executor``): a Monte Carlo design of
the packaged ``lead_braking_highway`` case simulated into a run store, and a reliability
estimate whose limit state is evaluated in the workers. The stored samples and the
estimate are compared by SHA-256 digest (:mod:`._digest`), which is bit for bit.

Ray is started locally with ``num_cpus=2`` and no dashboard, and shut down afterwards.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

from safety_val.qualify.checks._digest import frame_digest, values_digest
from safety_val.qualify.checks.simulated import case_path
from safety_val.qualify.requirement import CheckContext, Outcome, Requirement

__all__ = ["EXECUTOR_OPTIONS", "requirements"]

EXECUTOR_OPTIONS: dict[str, dict[str, Any]] = {
    "serial": {},
    "process": {"n_workers": 2},
    "ray": {
        "n_workers": 2,
        "init_options": {
            "num_cpus": 2,
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        },
    },
}
"""How each executor is built (``make_executor(kind, **options)``)."""


def _run_on(kind: str, context: CheckContext, budget: Mapping[str, Any]) -> dict[str, Any]:
    from safety_val.execution.registry import make_executor
    from safety_val.reliability import estimate_failure_probability
    from safety_val.reliability.problems import get_problem
    from safety_val.runs.simulate import simulate
    from safety_val.scenario import load_scenario

    scenario = load_scenario(case_path("lead_braking_highway"))
    problem = get_problem("RP22")
    executor = make_executor(kind, **EXECUTOR_OPTIONS[kind])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = simulate(
                scenario,
                n=int(budget["n_runs"]),
                out=context.workdir / kind,
                design="mc",
                seed=int(budget["seed"]),
                batch_size=int(budget["batch_size"]),
                executor=executor,
            )
            result = estimate_failure_probability(
                problem.limit_state,
                problem.distribution,
                method="nais",
                target_cov=0.1,
                seed=int(budget["seed"]),
                executor=executor,
            )
    finally:
        executor.close()
    return {
        "executor": kind,
        "options": repr(EXECUTOR_OPTIONS[kind]),
        "simulation_sha256": frame_digest(run.samples),
        "failures": run.summary.n_failures,
        "estimate_sha256": values_digest(result.pf, result.cov, *result.ci, result.n_calls)
        + ":"
        + frame_digest(result.samples),
        "pf": result.pf,
        "n_calls": result.n_calls,
    }


def check_executors(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """The same seeded simulation and estimate on every executor; compare digests."""
    details = [_run_on(kind, context, budget) for kind in EXECUTOR_OPTIONS]
    reference = details[0]
    same = all(
        d["simulation_sha256"] == reference["simulation_sha256"]
        and d["estimate_sha256"] == reference["estimate_sha256"]
        for d in details
    )
    differing = [
        d["executor"]
        for d in details
        if (d["simulation_sha256"], d["estimate_sha256"])
        != (reference["simulation_sha256"], reference["estimate_sha256"])
    ]
    return Outcome(
        passed=same,
        measured=(
            f"{', '.join(d['executor'] for d in details)}: "
            + ("identical" if same else f"{', '.join(differing)} differ from serial")
            + f" samples of {budget['n_runs']} simulations (SHA-256 "
            f"{reference['simulation_sha256'][:12]}…, {reference['failures']} failures) and nais "
            f"estimates (pf {reference['pf']:.6g}, {reference['n_calls']} calls)"
        ),
        seed=int(budget["seed"]),
        values={"identical": same},
        details=details,
    )


def requirements() -> list[Requirement]:
    """The executor requirement."""
    return [
        Requirement(
            id="QR-EXE-EQUIV",
            area="execution",
            title="serial = process = Ray",
            text=(
                "Results shall not depend on the executor: serial, process pool and Ray give "
                "the same simulations and the same estimate, bit for bit, for a fixed seed."
            ),
            method=(
                "on each executor (process: 2 workers; Ray: local, num_cpus=2, no dashboard): "
                "safety_val.simulate of a Monte Carlo design of {n_runs} scenarios of "
                "lead_braking_highway in batches of {batch_size}, and a nais estimate of RP22 "
                "whose limit state runs in the workers; seed {seed}."
            ),
            acceptance=(
                "the SHA-256 of the stored samples (every column's bytes) and of the estimate "
                "(pf, CoV, interval, calls, evaluated points) are equal on all three."
            ),
            check=check_executors,
            budgets={
                "quick": {"n_runs": 2000, "batch_size": 500, "seed": 5},
                "full": {"n_runs": 20000, "batch_size": 2500, "seed": 5},
            },
        )
    ]
