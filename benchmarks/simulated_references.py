r"""Reference failure probabilities of the simulated benchmark cases (issue 13).

For each case of :data:`simulated_cases.SIMULATED_CASES` the reference pf is computed by
**stratified Monte Carlo in standard normal space** on the vectorised built-in simulator
and written, with everything needed to check it, to
``benchmarks/data/simulated_references.json``.

Method
------
Let :math:`u_j` be the standard-normal coordinate of the case's dominant input
(``stratify_on``; independent of the other inputs, so :math:`u_j = \Phi^{-1}(F_j(x_j))`),
cut into strata :math:`S_k = (e_k, e_{k+1}]` with the exact probabilities
:math:`P_k = \Phi(e_{k+1}) - \Phi(e_k)`. In stratum :math:`k`, :math:`n_k` points are
drawn with :math:`u_j` from the standard normal truncated to :math:`S_k` and the other
coordinates standard normal; physical points come from
:meth:`safety_val.reliability.model.LimitStateModel.to_physical` (discrete marginals and the
normal copula included). With :math:`\hat p_k` the failure fraction in stratum :math:`k`,

.. math::

    \hat p_f = \sum_k P_k \hat p_k, \qquad
    \widehat{\operatorname{Var}}[\hat p_f] = \sum_k P_k^2 \frac{\hat p_k (1 - \hat p_k)}{n_k}.

Runs are allocated in rounds: a pilot of ``pilot`` points per stratum, then rounds that
bring every stratum without an observed failure to ``min_runs`` runs (the bulk stratum to
``min_bulk``; one next to a stratum with failures to enough runs that its rule-of-three
bound is at most 10 % of the estimate, so that the failure region's edge is probed) and
split the rest over the strata with failures in proportion to
:math:`P_k \sqrt{\hat p_k (1 - \hat p_k)}` (Neyman allocation), until the reference's CoV
is at most ``target_cov`` or the budget is spent. The 95 % interval is
:math:`\hat p_f \pm 1.96\,\widehat{\mathrm{sd}}`.

Limitation: a stratum in which no failure was observed contributes zero to the estimate
*and to its variance*. The cases are built so that failure needs an extreme value of the
dominant input (the bulk strata are physically safe under the competent AEB), the bulk
strata get at least ``min_bulk`` runs, and the JSON records, per stratum with zero
failures, the rule-of-three upper bound :math:`3 P_k / n_k` of what it could hide.

Provenance: each record carries the SHA-256 of the simulator sources
(``safety_val/sim/*.py`` sorted by name) and of the case file; the benchmark refuses a
reference whose hashes do not match the current sources (:func:`check_reference`).

Usage::

    nice python benchmarks/simulated_references.py                 # all cases, 2 processes
    nice python benchmarks/simulated_references.py --cases cut_in_motorway --jobs 1
    nice python benchmarks/simulated_references.py --resume --target-cov 0.047   # continue
    python benchmarks/simulated_references.py --explore lead_braking_highway --per-stratum 500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from simulated_cases import (  # noqa: E402
    SIMULATED_CASES,
    SimulatedCase,
    behaviour_sha256,
    case_sha256,
    simulator_sha256,
)

from safety_val.errors import ValidationError  # noqa: E402

__all__ = [
    "REFERENCES_PATH",
    "StratifiedEstimate",
    "check_reference",
    "load_references",
    "stratified_reference",
]

REFERENCES_PATH = HERE / "data" / "simulated_references.json"
Z95 = 1.959963984540054
CHUNK = 2000
"""Points per task sent to a worker process."""

LIMITATION = (
    "A stratum with zero observed failures contributes zero to the estimate and to its "
    "variance estimate; such strata are listed with the rule-of-three bound 3 P_k / n_k of "
    "the probability they could hide. The cases are designed so that failure needs an "
    "extreme value of the stratified input (bulk strata physically safe)."
)


# --------------------------------------------------------------------------------------
# Sampling in standard space
# --------------------------------------------------------------------------------------


def stratum_probabilities(edges: Sequence[float]) -> np.ndarray:
    """Exact probabilities of the strata ``(-inf, e1], ..., (em, inf)`` under N(0, 1)."""
    bounds = np.concatenate([[-np.inf], np.asarray(edges, dtype=float), [np.inf]])
    # upper-tail probabilities by the survival function (accurate far out)
    return np.asarray(stats.norm.sf(bounds[:-1]) - stats.norm.sf(bounds[1:]), dtype=float)


def truncated_normal(
    lower: float, upper: float, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``size`` draws of N(0, 1) truncated to ``(lower, upper]`` (inverse CDF, tail-safe)."""
    v = rng.random(size)
    if lower >= 0.0:  # upper tail: work with survival probabilities
        s_lo, s_hi = stats.norm.sf(lower), stats.norm.sf(upper)
        return np.asarray(stats.norm.isf(s_lo - v * (s_lo - s_hi)), dtype=float)
    c_lo, c_hi = stats.norm.cdf(lower), stats.norm.cdf(upper)
    return np.asarray(stats.norm.ppf(c_lo + v * (c_hi - c_lo)), dtype=float)


@dataclass
class _Context:
    """What a sampling round needs: the case, its standard-space map, the evaluator."""

    case: SimulatedCase
    index: int
    dimension: int
    to_physical: Callable[[np.ndarray], np.ndarray]
    evaluate: Callable[[np.ndarray], np.ndarray]


def _evaluate_chunk(task: tuple[str, np.ndarray]) -> np.ndarray:
    """Worker: the margins of one chunk of physical points of a case."""
    name, points = task
    return SIMULATED_CASES[name].limit_state(points)


def _make_context(case: SimulatedCase, pool: Any) -> _Context:
    import openturns as ot

    from safety_val.reliability.model import LimitStateModel

    scenario = case.scenario
    if case.stratify_on not in scenario.names:
        raise ValidationError(
            "is not a parameter of the case", field="stratify_on", value=case.stratify_on,
            expected="one of " + ", ".join(scenario.names),
        )
    index = scenario.names.index(case.stratify_on)
    distribution = scenario.distribution
    ordinary = [p.name for p in scenario.ordinary_parameters]
    correlation = np.asarray(scenario.copula_correlation())
    position = ordinary.index(case.stratify_on) if case.stratify_on in ordinary else -1
    # Nataf: u = L^-1 z, so u_j = z_j (its own normal score) iff R[j, :j] = 0
    if position < 0 or np.any(correlation[position, :position] != 0.0):
        raise ValidationError(
            "the stratified input's standard coordinate must be its own normal score "
            "(an ordinary parameter uncorrelated with the parameters before it)",
            field="stratify_on", value=case.stratify_on,
        )
    import warnings

    ot.RandomGenerator.SetSeed(0)  # the model's probe draws two points
    with warnings.catch_warnings():  # its probe of this dummy limit state is constant
        warnings.simplefilter("ignore", UserWarning)
        model = LimitStateModel(lambda x: np.ones(len(x)), distribution)

    def evaluate(points: np.ndarray) -> np.ndarray:
        chunks = [points[i : i + CHUNK] for i in range(0, len(points), CHUNK)]
        tasks = [(case.name, chunk) for chunk in chunks]
        results = pool.map(_evaluate_chunk, tasks) if pool is not None else map(
            _evaluate_chunk, tasks
        )
        return np.concatenate(list(results)) if chunks else np.empty(0)

    return _Context(case, index, scenario.dimension, model.to_physical, evaluate)


def _draw(
    context: _Context, lower: float, upper: float, size: int, rng: np.random.Generator
) -> np.ndarray:
    u = rng.standard_normal((size, context.dimension))
    u[:, context.index] = truncated_normal(lower, upper, size, rng)
    return context.to_physical(u)


# --------------------------------------------------------------------------------------
# The estimate
# --------------------------------------------------------------------------------------


@dataclass
class StratifiedEstimate:
    """Counts per stratum and the estimate they give."""

    edges: tuple[float, ...]
    probabilities: np.ndarray
    runs: np.ndarray
    failures: np.ndarray
    errors: np.ndarray

    @property
    def fractions(self) -> np.ndarray:
        """Failure fraction per stratum (0 where no run)."""
        return np.divide(
            self.failures, self.runs, out=np.zeros(len(self.runs)), where=self.runs > 0
        )

    @property
    def pf(self) -> float:
        """The stratified estimate."""
        return float(np.sum(self.probabilities * self.fractions))

    @property
    def variance(self) -> float:
        """Its estimated variance (zero-failure strata contribute zero, see the module)."""
        p = self.fractions
        terms = np.divide(
            self.probabilities**2 * p * (1.0 - p), self.runs,
            out=np.zeros(len(p)), where=self.runs > 0,
        )
        return float(terms.sum())

    @property
    def cov(self) -> float:
        """Coefficient of variation of the estimate."""
        return math.sqrt(self.variance) / self.pf if self.pf > 0 else math.inf

    @property
    def ci(self) -> tuple[float, float]:
        """Normal 95 % interval (lower end clipped at 0)."""
        sd = math.sqrt(self.variance)
        return max(self.pf - Z95 * sd, 0.0), self.pf + Z95 * sd

    def allocation(
        self, total: int, min_bulk: int, min_runs: int, edge_share: float = 0.1
    ) -> np.ndarray:
        r"""Neyman split of ``total`` further runs over the strata with failures.

        Strata without an observed failure get only what brings them to ``min_runs``
        (the bulk stratum: ``min_bulk``; a stratum next to one with failures: enough for
        its rule-of-three bound to be at most ``edge_share`` of the estimate, if that
        takes at most 100,000 runs); the rest goes to the strata with failures in
        proportion to :math:`P_k \sqrt{\hat p_k (1 - \hat p_k)}`.
        """
        bulk = int(np.argmax(self.probabilities))
        floor = np.full(len(self.runs), min_runs)
        floor[bulk] = max(min_bulk, min_runs)
        # a zero-failure stratum next to one with failures: enough runs that its
        # rule-of-three bound 3 P_k / n_k is at most edge_share * pf
        failing = self.failures > 0
        pf = self.pf
        if pf > 0:
            for k in np.flatnonzero(~failing):
                neighbours = [j for j in (k - 1, k + 1) if 0 <= j < len(self.runs)]
                if any(failing[j] for j in neighbours):
                    need = math.ceil(3.0 * self.probabilities[k] / (edge_share * pf))
                    if need <= 100_000:  # else the bound cannot be made small: skip
                        floor[k] = max(floor[k], need)
        extra = np.maximum(floor - self.runs, 0)
        extra[self.failures > 0] = 0
        p = self.fractions
        weights = np.where(self.failures > 0, self.probabilities * np.sqrt(p * (1.0 - p)), 0.0)
        if weights.sum() > 0:
            left = max(total - int(extra.sum()), 0)
            extra = extra + np.floor(weights / weights.sum() * left).astype(int)
        return extra

    def strata_records(self) -> list[dict[str, Any]]:
        """One JSON record per stratum."""
        bounds = [-math.inf, *self.edges, math.inf]
        records = []
        for k, (prob, n, f, e) in enumerate(
            zip(self.probabilities, self.runs, self.failures, self.errors, strict=True)
        ):
            record: dict[str, Any] = {
                "lower": _json_float(bounds[k]),
                "upper": _json_float(bounds[k + 1]),
                "probability": float(prob),
                "runs": int(n),
                "failures": int(f),
                "errors": int(e),
            }
            if f == 0 and n > 0:
                record["rule_of_three_bound"] = float(3.0 * prob / n)
            records.append(record)
        return records


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def stratified_reference(
    case: SimulatedCase,
    *,
    seed: int = 0,
    pilot: int = 1000,
    target_cov: float = 0.04,
    max_runs: int = 200_000,
    round_size: int = 30_000,
    min_bulk: int = 10_000,
    min_runs: int = 2_000,
    pool: Any = None,
    initial: StratifiedEstimate | None = None,
    progress: Callable[[str], None] | None = None,
    checkpoint: Callable[[StratifiedEstimate], object] | None = None,
) -> StratifiedEstimate:
    """Stratified Monte Carlo reference of one case (see the module docstring).

    ``initial`` continues an earlier estimate with the same strata (its counts are kept;
    use another ``seed`` so the new draws are independent of the old ones); ``max_runs``
    then counts the new runs only.
    """
    rng = np.random.default_rng(seed)
    context = _make_context(case, pool)
    edges = tuple(float(e) for e in case.edges)
    bounds = [-math.inf, *edges, math.inf]
    m = len(bounds) - 1
    estimate = StratifiedEstimate(
        edges, stratum_probabilities(edges), np.zeros(m, int), np.zeros(m, int), np.zeros(m, int)
    )
    if initial is not None:
        if tuple(initial.edges) != edges:
            raise ValidationError("the strata changed", field="edges", value=initial.edges,
                                  expected=str(edges))
        estimate.runs += initial.runs
        estimate.failures += initial.failures
        estimate.errors += initial.errors
    start_runs = int(estimate.runs.sum())

    def run(extra: np.ndarray) -> None:
        batches = [
            _draw(context, bounds[k], bounds[k + 1], int(extra[k]), rng) if extra[k] else None
            for k in range(m)
        ]
        drawn = [b for b in batches if b is not None]
        if not drawn:
            return
        g = context.evaluate(np.concatenate(drawn))
        offset = 0
        for k, batch in enumerate(batches):
            if batch is None:
                continue
            gk = g[offset : offset + len(batch)]
            offset += len(batch)
            ok = np.isfinite(gk)
            estimate.runs[k] += int(ok.sum())
            estimate.failures[k] += int((gk[ok] <= 0.0).sum())
            estimate.errors[k] += int((~ok).sum())

    if initial is None:
        run(np.full(m, pilot))
    while estimate.runs.sum() - start_runs < max_runs:
        left = max_runs - int(estimate.runs.sum() - start_runs)
        if estimate.pf > 0 and estimate.cov <= target_cov and not (
            estimate.allocation(0, min_bulk, min_runs).any()  # floors still unmet
        ):
            break
        if estimate.pf > 0 and estimate.cov < math.inf:
            # runs still needed for the target at the current allocation efficiency
            needed = int(estimate.runs.sum() * ((estimate.cov / target_cov) ** 2 - 1.0)) + 1
            size = max(min(round_size, needed, left), 1000)
        else:
            size = min(round_size, left)
        extra = estimate.allocation(size, min_bulk, min_runs)
        if not extra.any():
            break
        run(extra)
        if checkpoint is not None:
            checkpoint(estimate)
        if progress is not None:
            progress(
                f"{case.name}: {int(estimate.runs.sum())} runs, pf={estimate.pf:.4e}, "
                f"cov={estimate.cov:.3f}"
            )
    return estimate


# --------------------------------------------------------------------------------------
# The reference file
# --------------------------------------------------------------------------------------


def load_references(path: Path = REFERENCES_PATH) -> dict[str, dict[str, Any]]:
    """The stored references, by case name (empty if the file does not exist)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return dict(data.get("cases", {}))


def check_reference(
    case: SimulatedCase, record: dict[str, Any] | None, *, max_cov: float = 0.05
) -> str | None:
    """Why ``record`` cannot be used as the reference of ``case`` (``None``: it can)."""
    if record is None:
        return (
            f"no reference for simulated case {case.name!r}; compute it with "
            f"`python benchmarks/simulated_references.py --cases {case.name}`"
        )
    if record.get("simulator_sha256") != simulator_sha256() and (
        record.get("behaviour_sha256") != behaviour_sha256(case)
    ):
        return (
            f"the reference of {case.name!r} was computed with other simulator sources "
            "(safety_val/sim/*.py changed) and the case's margins on the fingerprint design "
            "differ; recompute it with "
            f"`python benchmarks/simulated_references.py --cases {case.name}`"
        )
    if record.get("case_sha256") != case_sha256(case):
        return (
            f"the reference of {case.name!r} was computed for another version of "
            f"{case.path.name} (or its ODD); recompute it with "
            f"`python benchmarks/simulated_references.py --cases {case.name}`"
        )
    if record.get("stratify_on") != case.stratify_on or [
        float(s["upper"]) for s in record.get("strata", [])[:-1]
    ] != [float(e) for e in case.edges]:
        return f"the strata of the reference of {case.name!r} are not the case's"
    if not record.get("cov", math.inf) <= max_cov:
        return f"the reference of {case.name!r} has CoV {record.get('cov')} > {max_cov:.0%}"
    return None


def _write_json_atomically(data: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=2)
            stream.write("\n")
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _record(
    case: SimulatedCase,
    estimate: StratifiedEstimate,
    *,
    seed: int | list[int],
    seconds: float,
    jobs: int,
) -> dict[str, Any]:
    low, high = estimate.ci
    return {
        "pf": estimate.pf,
        "cov": estimate.cov,
        "ci": [low, high],
        "n_runs": int(estimate.runs.sum() + estimate.errors.sum()),
        "n_errors": int(estimate.errors.sum()),
        "method": (
            f"stratified Monte Carlo in standard normal space on u({case.stratify_on}), "
            "Neyman-like allocation"
        ),
        "stratify_on": case.stratify_on,
        "strata": estimate.strata_records(),
        "seed": seed,
        "simulator_sha256": simulator_sha256(),
        "behaviour_sha256": behaviour_sha256(case),
        "case_file": str(case.path.relative_to(ROOT)),
        "case_sha256": case_sha256(case),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_s": round(seconds, 1),
        "processes": jobs,
        "limitation": LIMITATION,
    }


def _estimate_from_record(record: dict[str, Any]) -> StratifiedEstimate:
    """The counts of a stored reference (to continue it)."""
    strata = record["strata"]
    edges = tuple(float(s["upper"]) for s in strata[:-1])
    return StratifiedEstimate(
        edges,
        stratum_probabilities(edges),
        np.array([s["runs"] for s in strata]),
        np.array([s["failures"] for s in strata]),
        np.array([s["errors"] for s in strata]),
    )


def compute_references(
    names: Iterable[str],
    *,
    jobs: int,
    seed: int,
    target_cov: float,
    max_runs: int,
    resume: bool = False,
    path: Path = REFERENCES_PATH,
) -> None:
    """Compute and store the references of the named cases (merged into ``path``).

    With ``resume``, a stored reference whose hashes and strata still match is continued
    (its counts kept, new draws from the next seed) instead of recomputed.
    """
    import multiprocessing

    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
    try:
        for name in names:
            case = SIMULATED_CASES[name]
            start = time.perf_counter()
            initial, seeds, before = None, [seed], 0.0
            old = load_references(path).get(name) if resume else None
            if old is not None and check_reference(case, old, max_cov=math.inf) is None:
                initial = _estimate_from_record(old)
                previous = old["seed"] if isinstance(old["seed"], list) else [old["seed"]]
                seeds = [*previous, max(previous) + 1]
                before = float(old.get("wall_s", 0.0))
            def save(estimate: StratifiedEstimate, case: SimulatedCase = case,
                     seeds: list[int] = seeds, start: float = start,
                     before: float = before) -> dict[str, Any]:
                seconds = time.perf_counter() - start + before
                record = _record(
                    case, estimate, seed=seeds if len(seeds) > 1 else seeds[0],
                    seconds=seconds, jobs=jobs,
                )
                stored = load_references(path)  # re-read: other cases may have been written
                stored[case.name] = record
                _write_json_atomically(
                    {"description": (__doc__ or "").split("\n\n")[0],
                     "cases": dict(sorted(stored.items()))},
                    path,
                )
                return record

            estimate = stratified_reference(
                case, seed=seeds[-1], target_cov=target_cov, max_runs=max_runs, pool=pool,
                initial=initial,
                progress=lambda text: print(text, file=sys.stderr, flush=True),
                checkpoint=save,
            )
            if initial is not None and estimate.runs.sum() == initial.runs.sum():
                print(f"{name}: stored reference already meets the targets", flush=True)
                continue
            record = save(estimate)
            seconds = float(record["wall_s"])
            print(
                f"{name}: pf={record['pf']:.4e} cov={record['cov']:.3f} "
                f"runs={record['n_runs']} ({seconds:.0f} s)",
                flush=True,
            )
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def explore(name: str, *, per_stratum: int, seed: int, jobs: int) -> None:
    """Print the failure fraction per stratum of a case (for designing it)."""
    import multiprocessing

    case = SIMULATED_CASES[name]
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
    try:
        rng = np.random.default_rng(seed)
        context = _make_context(case, pool)
        bounds = [-math.inf, *case.edges, math.inf]
        probabilities = stratum_probabilities(case.edges)
        total = 0.0
        for k in range(len(bounds) - 1):
            x = _draw(context, bounds[k], bounds[k + 1], per_stratum, rng)
            g = context.evaluate(x)
            p = float(np.mean(g <= 0.0))
            total += probabilities[k] * p
            xj = x[:, context.index]
            print(
                f"u in ({bounds[k]:5.1f}, {bounds[k + 1]:5.1f}]  P={probabilities[k]:.3e}  "
                f"x={xj.min():8.3f}..{xj.max():8.3f}  p_fail={p:.4f}  "
                f"min g={np.nanmin(g):.3f}",
                flush=True,
            )
        print(f"{name}: pf ~ {total:.3e}")
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: compute references (default) or explore a case."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(SIMULATED_CASES))
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (at most 2)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--target-cov", type=float, default=0.04)
    parser.add_argument("--max-runs", type=int, default=200_000, help="new runs per case at most")
    parser.add_argument(
        "--resume", action="store_true", help="continue stored references that still match"
    )
    parser.add_argument("--explore", default=None, help="print p_fail per stratum of a case")
    parser.add_argument("--per-stratum", type=int, default=500)
    parser.add_argument("--out", type=Path, default=REFERENCES_PATH)
    args = parser.parse_args(argv)
    jobs = max(1, min(int(args.jobs), 2))
    if args.explore:
        explore(args.explore, per_stratum=args.per_stratum, seed=args.seed, jobs=jobs)
        return 0
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in SIMULATED_CASES]
    if unknown:
        print(f"error: unknown case(s) {', '.join(unknown)}; known: {', '.join(SIMULATED_CASES)}",
              file=sys.stderr)
        return 2
    compute_references(
        names, jobs=jobs, seed=args.seed, target_cov=args.target_cov, max_runs=args.max_runs,
        resume=args.resume, path=args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
