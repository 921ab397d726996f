r"""The installed simulator and the reliability methods against simulated references.

Two benchmark cases of issue 13 ship with the package (``safety_val/qualify/data/``):
``lead_braking_highway`` (pf ≈ 6.0e-4) and ``cut_in_motorway`` (pf ≈ 1.1e-3), each a
motorway scenario with the competent staged AEB, mixed marginals, a normal copula and a
categorical input. Their references come from stratified Monte Carlo with more than
10⁵ runs (CoV ≤ 4 %), recorded with the SHA-256 of the case files and of the simulator
sources that produced them (``data/simulated_references.json``).

``QR-SIMREF-MC-<case>``
    Crude Monte Carlo on the installed simulator (``safety_val.simulate``, a Monte Carlo
    design into a run store) reproduces the reference: with :math:`k` failures in
    :math:`n` runs, :math:`\hat p = k/n` and :math:`\hat\delta = \sqrt{(1-\hat p)/(k)}`,
    the log-normal distance :func:`~._stats.log_z` to the reference, both coefficients
    of variation combined, is at most 3. This is the evidence that the installed
    simulator is the one the references describe; the source hashes are reported beside it.
``QR-SIMREF-<method>-<case>``
    A reliability method run on the scenario itself (simulations through the
    scenario's backend, batches on the executor) converges and lies within the same
    distance of the reference.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safety_val.qualify.checks._stats import Z_LIMIT, log_z
from safety_val.qualify.requirement import CheckContext, Outcome, Requirement

if TYPE_CHECKING:
    from collections.abc import Iterator

    from safety_val.execution.base import Executor
    from safety_val.scenario import LogicalScenario

__all__ = [
    "DATA",
    "case_path",
    "case_sha256",
    "reference",
    "requirements",
    "simulator_sha256",
]

DATA = Path(__file__).resolve().parent.parent / "data"
"""The package's data folder (scenario files, ODD, references)."""

REFERENCES = DATA / "simulated_references.json"


@cache
def _references() -> dict[str, Any]:
    cases: dict[str, Any] = json.loads(REFERENCES.read_text(encoding="utf-8"))["cases"]
    return cases


def reference(case: str) -> dict[str, Any]:
    """The stored reference record of ``case`` (pf, cov, ci, n_runs, method, hashes...)."""
    return dict(_references()[case])


def case_path(case: str) -> Path:
    """The packaged scenario file of ``case``."""
    return DATA / str(_references()[case]["package_file"])


def case_sha256(case: str) -> str:
    """SHA-256 of the scenario file, a NUL byte and its ODD file (the reference's definition)."""
    from safety_val.scenario import load_scenario

    path = case_path(case)
    digest = hashlib.sha256(path.read_bytes())
    odd = load_scenario(path).odd.source
    if odd is not None:
        digest.update(b"\0")
        digest.update(Path(odd).read_bytes())
    return digest.hexdigest()


def simulator_sha256() -> str:
    """SHA-256 of the installed simulator sources (``safety_val/sim/*.py``, sorted by name)."""
    import safety_val.sim

    folder = Path(safety_val.sim.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py"), key=lambda p: p.name):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@contextmanager
def pool(workers: int) -> Iterator[Executor]:
    """A process pool of ``workers`` workers (serial for one), closed afterwards."""
    from safety_val.execution.registry import make_executor

    executor = (
        make_executor("process", n_workers=workers) if workers > 1 else make_executor("serial")
    )
    try:
        yield executor
    finally:
        executor.close()


def _hash_notes(case: str, record: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    notes = []
    current_case, current_sim = case_sha256(case), simulator_sha256()
    same_case = current_case == record.get("case_sha256")
    same_sim = current_sim == record.get("simulator_sha256")
    if not same_case:
        notes.append(
            f"the packaged case file's SHA-256 {current_case[:12]}… differs from the "
            f"reference's {str(record.get('case_sha256'))[:12]}…: the reference may not apply"
        )
    if not same_sim:
        notes.append(
            f"the simulator sources changed since the reference was computed (SHA-256 "
            f"{current_sim[:12]}… now, {str(record.get('simulator_sha256'))[:12]}… then); "
            "this requirement checks that the change left pf where it was"
        )
    return notes, {
        "case_sha256": current_case,
        "case_sha256_matches_reference": same_case,
        "simulator_sha256": current_sim,
        "simulator_sha256_matches_reference": same_sim,
    }


def _load(case: str) -> LogicalScenario:
    from safety_val.scenario import load_scenario

    return load_scenario(case_path(case))


def check_crude_mc(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Crude Monte Carlo of the packaged case on the installed simulator."""
    from safety_val.runs.simulate import simulate

    case, n_runs, seed = str(budget["case"]), int(budget["n_runs"]), int(budget["seed"])
    record = reference(case)
    scenario = _load(case)
    with pool(context.workers if budget["parallel"] else 1) as executor, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = simulate(
            scenario,
            n=n_runs,
            out=context.workdir / case,
            design="mc",
            seed=seed,
            executor=executor,
        )
    summary = run.summary
    failures, n_ok = summary.n_failures, summary.n_ok
    pf = failures / n_ok if n_ok else math.nan
    cov = math.sqrt((1.0 - pf) / failures) if failures else math.inf
    z = log_z(pf, float(record["pf"]), cov, float(record["cov"]))
    notes, hashes = _hash_notes(case, record)
    passed = bool(summary.n_error + summary.n_timeout == 0 and z <= Z_LIMIT)
    return Outcome(
        passed=passed,
        measured=(
            f"{failures} failures in {n_ok} runs: pf {pf:.4g} (CoV {cov:.2g}, 95 % CI "
            f"{summary.ci[0]:.3g}–{summary.ci[1]:.3g}) vs reference {record['pf']:.4g} "
            f"(CoV {record['cov']:.2g}); z = {z:.2f}; {summary.n_error + summary.n_timeout} "
            "runs without a verdict"
        ),
        seed=seed,
        values={
            "pf": pf,
            "cov": cov,
            "ci": list(summary.ci),
            "failures": failures,
            "n_runs": n_ok,
            "n_without_verdict": summary.n_error + summary.n_timeout,
            "reference_pf": record["pf"],
            "reference_cov": record["cov"],
            "z": z,
            **hashes,
        },
        notes=notes,
    )


def check_method(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """A reliability method on the packaged case, against the stored reference."""
    from safety_val.reliability import estimate_failure_probability

    case, method, seed = str(budget["case"]), str(budget["method"]), int(budget["seed"])
    record = reference(case)
    scenario = _load(case)
    with pool(context.workers if budget["parallel"] else 1) as executor, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = estimate_failure_probability(
            scenario,
            method=method,
            target_cov=float(budget["target_cov"]),
            max_calls=int(budget["max_calls"]),
            seed=seed,
            executor=executor,
        )
    z = log_z(result.pf, float(record["pf"]), result.cov, float(record["cov"]))
    passed = bool(result.converged and z <= Z_LIMIT)
    return Outcome(
        passed=passed,
        measured=(
            f"pf {result.pf:.4g} (CoV {result.cov:.2g}, 95 % CI {result.ci[0]:.3g}–"
            f"{result.ci[1]:.3g}) vs reference {record['pf']:.4g}; z = {z:.2f}; "
            f"converged={result.converged}; {result.n_calls} simulations "
            f"(crude MC would need {(1 - record['pf']) / (record['pf'] * 0.01):.3g})"
        ),
        seed=seed,
        values={
            "pf": result.pf,
            "cov": result.cov,
            "ci": list(result.ci),
            "n_calls": result.n_calls,
            "converged": bool(result.converged),
            "method": result.method,
            "message": result.message,
            "reference_pf": record["pf"],
            "z": z,
        },
    )


_SERIAL: dict[str, Any] = {"parallel": False, "executor": "in this process"}
_POOL: dict[str, Any] = {"parallel": True, "executor": "on a process pool of --workers workers"}
"""Where the simulations run: the quick suite's runs are too short to repay starting
worker processes; the full suite's are not (QR-EXE-EQUIV shows the results are the same)."""

_CASE_WORDS = {
    "lead_braking_highway": "lead vehicle braking on a motorway, competent AEB",
    "cut_in_motorway": "cut-in on a motorway at short gaps, competent AEB",
}


def requirements() -> list[Requirement]:
    """The simulated-reference requirements, in report order."""
    rows: list[Requirement] = []
    crude: dict[str, dict[str, dict[str, Any]]] = {
        "lead_braking_highway": {
            "quick": {"case": "lead_braking_highway", "n_runs": 50_000, "seed": 7, **_SERIAL},
            "full": {"case": "lead_braking_highway", "n_runs": 300_000, "seed": 7, **_POOL},
        },
        "cut_in_motorway": {
            "full": {"case": "cut_in_motorway", "n_runs": 300_000, "seed": 7, **_POOL},
        },
    }
    for case, budgets in crude.items():
        record = reference(case)
        for budget in budgets.values():
            budget.update(
                ref_pf=f"{record['pf']:.4g}",
                ref_cov=f"{record['cov']:.2g}",
                ref_runs=f"{record['n_runs']:,}",
            )
        rows.append(
            Requirement(
                id=f"QR-SIMREF-MC-{case}",
                area="simulated reference",
                title=f"simulator reproduces {case}",
                text=(
                    f"The installed simulator shall reproduce the reference failure probability "
                    f"of the benchmark case {case} ({_CASE_WORDS[case]})."
                ),
                method=(
                    "safety_val.simulate of a Monte Carlo design of {n_runs} concrete scenarios "
                    "(seed {seed}) of the packaged case file, {executor}; pf = failures / runs. "
                    "Reference: "
                    "{ref_pf} (CoV {ref_cov}), stratified Monte Carlo with {ref_runs} runs."
                ),
                acceptance=(
                    f"every run gives a verdict, and z = |ln p̂ − ln p_ref| / "
                    f"√(ln(1 + CoV²) + ln(1 + CoV_ref²)) ≤ {Z_LIMIT:g}."
                ),
                check=check_crude_mc,
                budgets=budgets,
            )
        )
    methods: list[tuple[str, str, tuple[str, ...]]] = [
        ("auto", "lead_braking_highway", ("quick", "full")),
        ("ais", "lead_braking_highway", ("full",)),
        ("subset", "lead_braking_highway", ("full",)),
        ("nais", "lead_braking_highway", ("full",)),
        ("auto", "cut_in_motorway", ("full",)),
        ("ais", "cut_in_motorway", ("full",)),
    ]
    for method, case, modes in methods:
        record = reference(case)
        budgets = {
            mode: {
                "case": case,
                "method": method,
                "target_cov": 0.1,
                "max_calls": 100_000,
                "seed": 3,
                "ref_pf": f"{record['pf']:.4g}",
                "ref_cov": f"{record['cov']:.2g}",
                **(_SERIAL if mode == "quick" else _POOL),
            }
            for mode in modes
        }
        rows.append(
            Requirement(
                id=f"QR-SIMREF-{method}-{case}",
                area="simulated reference",
                title=f"{method} on {case}",
                text=(
                    f"Method '{method}' shall estimate the failure probability of a simulated "
                    f"scenario ({case}: {_CASE_WORDS[case]}) within its stated uncertainty."
                ),
                method=(
                    f"estimate_failure_probability(scenario, method='{method}', "
                    "target_cov={target_cov}, max_calls={max_calls}, seed={seed}) on the "
                    "packaged case, simulations {executor}; reference {ref_pf} (CoV {ref_cov})."
                ),
                acceptance=(
                    f"converged, and z = |ln p̂ − ln p_ref| / √(ln(1 + CoV²) + "
                    f"ln(1 + CoV_ref²)) ≤ {Z_LIMIT:g}."
                ),
                check=check_method,
                budgets=budgets,
            )
        )
    return rows
