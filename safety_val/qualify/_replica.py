"""One replica of the determinism check: seeded work, printed as SHA-256 digests.

Run as ``python -m safety_val.qualify._replica {quick|full} WORKDIR``; prints one JSON
object ``{name: digest}`` on stdout. :mod:`safety_val.qualify.checks.determinism` runs two
replicas in fresh interpreters (with different hash seeds) and compares their output.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

__all__ = ["digests", "main"]


def digests(mode: str, workdir: Path) -> dict[str, str]:
    """The digests of the seeded work of ``mode`` (``"quick"`` or ``"full"``)."""
    from safety_val.qualify.checks._digest import frame_digest, values_digest
    from safety_val.qualify.checks.sensitivity import _analyze
    from safety_val.qualify.checks.simulated import case_path
    from safety_val.reliability import estimate_failure_probability
    from safety_val.reliability.problems import get_problem
    from safety_val.runs.simulate import simulate
    from safety_val.scenario import load_scenario

    full = mode == "full"
    out: dict[str, str] = {}
    warnings.simplefilter("ignore")
    scenario = load_scenario(case_path("lead_braking_highway"))
    run = simulate(
        scenario, n=20_000 if full else 2_000, out=workdir / "simulation", design="lhs", seed=17
    )
    out["simulation (LHS design, run store)"] = frame_digest(run.samples)
    for method, problem_name in (("nais", "four_branch"), ("subset", "RP22"), ("ais", "RP22")):
        problem = get_problem(problem_name)
        result = estimate_failure_probability(
            problem.limit_state, problem.distribution, method=method, seed=17
        )
        out[f"estimate {method} {problem_name}"] = (
            values_digest(result.pf, result.cov, *result.ci, result.n_calls)
            + ":"
            + frame_digest(result.samples)
        )
    sobol = _analyze("ishigami", (4096 if full else 1024) * 5, ("sobol",), 17)
    out["sensitivity sobol ishigami"] = frame_digest(sobol.indices)
    if full:
        result = estimate_failure_probability(
            scenario, method="ais", target_cov=0.1, max_calls=20_000, seed=17
        )
        out["estimate ais lead_braking_highway"] = (
            values_digest(result.pf, result.cov, *result.ci, result.n_calls)
            + ":"
            + frame_digest(result.samples)
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the digests of ``argv = [mode, workdir]`` as JSON."""
    mode, workdir = (sys.argv[1:] if argv is None else argv)[:2]
    sys.stdout.write(json.dumps(digests(mode, Path(workdir)), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
