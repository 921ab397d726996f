"""Simulate a logical scenario's design of experiments into a resumable run directory.

This is the first stage of the continuous-space pipeline: design of experiments →
simulation (any backend, any executor) → run store (manifest + Parquet samples
with KPIs, status and the limit-state margin ``g``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from safety_val._random import SeedLike
from safety_val.doe import generate_design
from safety_val.errors import ValidationError
from safety_val.scenario import LogicalScenario

if TYPE_CHECKING:
    from safety_val.backends.base import Simulator
    from safety_val.execution.base import Executor
    from safety_val.runs.store import RunStore

__all__ = ["ERROR_SHARE_WARNING", "RunSummary", "SimulationRun", "simulate", "summarise"]

ERROR_SHARE_WARNING = 0.05
"""Share of ``error``/``timeout`` rows above which :func:`summarise` warns."""


@dataclass(frozen=True)
class RunSummary:
    """What a simulation run found.

    Attributes
    ----------
    n
        Concrete scenarios in the design.
    n_ok, n_error, n_timeout
        Rows per status (``error``/``timeout`` rows are neither passes nor failures).
    n_failures
        ``ok`` rows with ``g <= 0``.
    failure_fraction
        ``n_failures / n_ok`` — the crude Monte Carlo estimate of pf when the design is
        Monte Carlo (for LHS and QMC designs it is a consistent estimate, and the
        binomial interval is conservative).
    ci
        Exact (Clopper–Pearson) 95 % interval of the failure fraction.
    kpis
        Per-KPI statistics over ``ok`` rows (min, mean, max).
    error_share
        ``(n_error + n_timeout) / n``: the share of rows that gave no verdict (``nan``
        for an empty run).
    ci_worst_case
        95 % interval that also covers the case where every ``error``/``timeout`` row
        hid a failure (or a pass): its lower end is the Clopper–Pearson lower bound of
        ``k / (n_ok + n_bad)``, its upper end the upper bound of
        ``(k + n_bad) / (n_ok + n_bad)``. It equals :attr:`ci` when no row errored.
    warnings
        Human-readable cautions about the estimate (e.g. a large error share).
    """

    n: int
    n_ok: int
    n_error: int
    n_timeout: int
    n_failures: int
    failure_fraction: float
    ci: tuple[float, float]
    kpis: pd.DataFrame
    error_share: float = 0.0
    ci_worst_case: tuple[float, float] | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (for JSON and the manifest)."""
        return {
            "n": self.n,
            "n_ok": self.n_ok,
            "n_error": self.n_error,
            "n_timeout": self.n_timeout,
            "n_failures": self.n_failures,
            "failure_fraction": None if np.isnan(self.failure_fraction) else self.failure_fraction,
            "ci95": list(self.ci),
            "error_share": None if np.isnan(self.error_share) else self.error_share,
            "ci95_worst_case": list(self.ci if self.ci_worst_case is None
                                    else self.ci_worst_case),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class SimulationRun:
    """A finished (or resumed and finished) simulation run.

    Attributes
    ----------
    path
        The run directory.
    manifest
        Its manifest.
    samples
        Every concrete scenario with KPIs, ``status``, ``message`` and ``g``.
    summary
        Counts and the failure fraction.
    """

    path: Path
    manifest: dict[str, Any]
    samples: pd.DataFrame
    summary: RunSummary


def summarise(samples: pd.DataFrame, kpis: tuple[str, ...]) -> RunSummary:
    """Summarise a frame of simulated samples (see :class:`RunSummary`).

    Examples
    --------
    >>> frame = pd.DataFrame({"status": ["ok", "ok", "error", "ok"], "g": [1.0, -0.5, np.nan, 2.0],
    ...                       "min_ttc": [2.0, 0.5, np.nan, 3.0]})
    >>> s = summarise(frame, ("min_ttc",))
    >>> s.n_ok, s.n_error, s.n_failures, round(s.failure_fraction, 3)
    (3, 1, 1, 0.333)
    >>> round(s.error_share, 2), s.ci_worst_case[1] > s.ci[1]
    (0.25, True)
    """
    status = samples["status"]
    ok = status == "ok"
    n_ok = int(ok.sum())
    failures = int((ok & (samples["g"] <= 0)).sum())
    fraction = failures / n_ok if n_ok else float("nan")
    if n_ok:
        interval = stats.binomtest(failures, n_ok).proportion_ci(0.95, method="exact")
        ci = (float(interval.low), float(interval.high))
    else:
        ci = (0.0, 1.0)
    n_error = int((status == "error").sum())
    n_timeout = int((status == "timeout").sum())
    n_bad = n_error + n_timeout
    n_total = n_ok + n_bad
    error_share = n_bad / len(samples) if len(samples) else float("nan")
    if n_bad == 0:
        worst = ci
    elif n_total:
        # every errored row may have hidden a failure (upper end) or a pass (lower end)
        low = stats.binomtest(failures, n_total).proportion_ci(0.95, method="exact").low
        high = stats.binomtest(failures + n_bad, n_total).proportion_ci(0.95, method="exact").high
        worst = (float(low), float(high))
    else:
        worst = (0.0, 1.0)
    notes: list[str] = []
    if n_bad and error_share > ERROR_SHARE_WARNING:
        notes.append(
            f"{n_bad} of {len(samples)} rows ({error_share:.0%}) ended in error or timeout; "
            f"they are not in the failure fraction, and if they hid failures pf could be "
            f"up to {worst[1]:.3g} (worst-case 95 % CI {worst[0]:.3g} – {worst[1]:.3g})"
        )
    for note in notes:
        warnings.warn(note, RuntimeWarning, stacklevel=2)
    rows = []
    for kpi in (*kpis, "g"):
        if kpi in samples:
            values = samples.loc[ok, kpi].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            rows.append(
                {
                    "kpi": kpi,
                    "min": float(values.min()) if len(values) else np.nan,
                    "mean": float(finite.mean()) if len(finite) else np.nan,
                    "max": float(values.max()) if len(values) else np.nan,
                }
            )
    return RunSummary(
        n=len(samples),
        n_ok=n_ok,
        n_error=n_error,
        n_timeout=n_timeout,
        n_failures=failures,
        failure_fraction=fraction,
        ci=ci,
        kpis=pd.DataFrame(rows, columns=["kpi", "min", "mean", "max"]),
        error_share=error_share,
        ci_worst_case=worst,
        warnings=tuple(notes),
    )


def simulate(
    scenario: LogicalScenario,
    *,
    n: int,
    out: str | Path,
    design: str = "lhs",
    seed: SeedLike = 0,
    executor: Executor | None = None,
    simulator: Simulator | None = None,
    batch_size: int | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationRun:
    """Simulate ``n`` concrete scenarios of ``scenario`` into the run directory ``out``.

    Parameters
    ----------
    scenario
        The logical scenario.
    n
        Size of the design of experiments.
    out
        Run directory. It must not exist (or be empty) unless ``resume`` is set.
    design
        Design method (see :data:`safety_val.doe.DESIGNS`).
    seed
        Seed of the design (an ``int``, stored in the manifest).
    executor
        Where batches run (default: serial).
    simulator
        Backend (default: the one the scenario names).
    batch_size
        Rows per task; ``None`` calibrates it so that a task runs ≥ 50 ms.
    resume
        Continue a run directory made by an earlier, interrupted call with the same
        scenario file, seed, design and ``n``: finished scenarios are not simulated
        again and none is duplicated.
    progress
        ``progress(done, total)`` after every finished batch.

    Returns
    -------
    SimulationRun

    Raises
    ------
    ValidationError
        If ``out`` exists and ``resume`` is not set, or the existing run does not match.
    """
    from safety_val.execution.registry import make_executor
    from safety_val.runs.batches import run_batches
    from safety_val.runs.store import RunStore, environment_info

    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValidationError(
            "the seed of a stored run must be an integer", field="seed", value=seed
        )
    path = Path(out)
    identity = {
        "scenario": scenario.name,
        "scenario_sha256": scenario.source_sha256,
        "seed": int(seed),
        "design": design,
        "n": int(n),
    }
    started = time.perf_counter()
    store: RunStore
    if resume and (path / "manifest.json").exists():
        store = RunStore.open(path)
        store.check_compatible(identity)
    else:
        plan = generate_design(scenario, n, method=design, seed=int(seed))
        manifest = {
            **identity,
            "scenario_file": str(scenario.source) if scenario.source else None,
            "template": scenario.template,
            "simulator": dict(scenario.simulator),
            "kpis": list(scenario.kpis),
            "limit_state": scenario.criterion.expression,
            "coverage": plan.coverage().to_dict(),
            "versions": environment_info(),
            "created": _now(),
            "status": "running",
        }
        store = RunStore.create(path, manifest=manifest, design=plan.frame)
    pending = store.pending()
    sim = simulator if simulator is not None else scenario.make_simulator()
    own_executor = executor is None
    runner = make_executor("serial") if executor is None else executor
    total = len(store.design())
    already = total - len(pending)
    store.update_manifest(
        executor=runner.name,
        n_workers=runner.n_workers,
        batch_size=batch_size if batch_size is not None else "calibrated",
        resumed=already > 0,
        updated=_now(),
    )

    def write(results: pd.DataFrame) -> None:
        store.append(results.assign(g=scenario.margin(results)))

    def report(done: int, _total: int) -> None:
        if progress is not None:
            progress(already + done, total)

    try:
        if len(pending):
            run_batches(
                sim,
                pending,
                executor=runner,
                batch_size=batch_size,
                on_result=write,
                progress=report,
            )
        elif progress is not None:
            progress(total, total)
    except BaseException:
        store.release()  # the writer stops here: another process may resume the run
        raise
    finally:
        if own_executor:
            runner.close()
    samples = store.read_samples()
    summary = summarise(samples, scenario.kpis)
    elapsed = time.perf_counter() - started
    timings = dict(store.manifest.get("timings") or {})
    timings["simulate_wall_s"] = float(timings.get("simulate_wall_s", 0.0)) + elapsed
    timings["simulated_rows_last_call"] = len(pending)
    store.update_manifest(
        status="complete" if len(samples) == total else "running",
        summary=summary.to_dict(),
        timings=timings,
        updated=_now(),
    )
    store.release()
    return SimulationRun(path=path, manifest=dict(store.manifest), samples=samples, summary=summary)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
