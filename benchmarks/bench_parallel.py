"""Parallel efficiency of the executors from 1 to 2 workers.

Runs the same design with the process executor and with Ray at 1 and 2 workers and
prints one line per run::

    executor workers wall_s scenarios/s efficiency

with efficiency = T1 / (2 * T2) on the 2-worker line (target: >= 0.85).

Default: 20,000 cut-in scenarios (LHS, seed 1) on the built-in simulator. ``--toy``
replaces it with a synthetic CPU-bound callable simulator (a vectorised car-following
integration) that needs neither the built-in simulator nor a scenario file.

Usage::

    python benchmarks/bench_parallel.py              # built-in cut-in simulator
    python benchmarks/bench_parallel.py --toy        # synthetic simulator
    python benchmarks/bench_parallel.py --executors process --n 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# One thread per worker: the executors provide the parallelism.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the thread settings above)
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a source tree
    sys.path.insert(0, str(ROOT))
# Ray and process workers import safety_val from the source tree too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
)

from safety_val.backends.base import Simulator  # noqa: E402
from safety_val.backends.callable import CallableSimulator  # noqa: E402
from safety_val.execution import make_executor  # noqa: E402
from safety_val.execution.base import Executor  # noqa: E402
from safety_val.execution.batching import calibrate, plan_batch_size  # noqa: E402
from safety_val.runs import run_batches, simulate_batch  # noqa: E402

TOY_STEPS = 6000


def toy_car_following(batch: pd.DataFrame) -> pd.DataFrame:
    """Synthetic CPU-bound simulator: IDM follower behind a braking leader, explicit Euler."""
    gap = batch["gap"].to_numpy(dtype=float).copy()
    v_ego = batch["ego_speed"].to_numpy(dtype=float).copy()
    v_lead = batch["lead_speed"].to_numpy(dtype=float).copy()
    decel = batch["lead_decel"].to_numpy(dtype=float)
    dt = 0.01
    min_gap = gap.copy()
    for _ in range(TOY_STEPS):
        v_lead = np.maximum(v_lead - decel * dt, 0.0)
        desired = 2.0 + v_ego * 1.2 + v_ego * (v_ego - v_lead) / (2.0 * np.sqrt(6.0))
        accel = 1.5 * (1.0 - (v_ego / 36.0) ** 4 - (desired / np.maximum(gap, 0.1)) ** 2)
        v_ego = np.maximum(v_ego + np.clip(accel, -9.0, 2.0) * dt, 0.0)
        gap = gap + (v_lead - v_ego) * dt
        min_gap = np.minimum(min_gap, gap)
    return pd.DataFrame({"min_gap": min_gap, "collision": min_gap <= 0.0}, index=batch.index)


def toy_problem(n: int) -> tuple[Simulator, pd.DataFrame]:
    rng = np.random.default_rng(1)
    design = pd.DataFrame(
        {
            "sample_index": np.arange(n, dtype=np.int64),
            "scenario_id": [f"{rng.integers(0, 2**63):016x}" for _ in range(n)],
            "gap": rng.uniform(5.0, 60.0, n),
            "ego_speed": rng.uniform(15.0, 35.0, n),
            "lead_speed": rng.uniform(10.0, 35.0, n),
            "lead_decel": rng.uniform(0.0, 8.0, n),
        }
    )
    simulator = CallableSimulator(toy_car_following, kpis=["min_gap", "collision"], name="toy")
    return simulator, design


def cut_in_problem(n: int, scenario_file: Path) -> tuple[Simulator, pd.DataFrame]:
    import safety_val
    from safety_val.backends.builtin import BuiltinSimulator
    from safety_val.doe import concrete_scenarios

    scenario = safety_val.load_scenario(scenario_file)
    design = concrete_scenarios(scenario, n, method="lhs", seed=1)
    frame = design if isinstance(design, pd.DataFrame) else design.frame
    simulator: Simulator = BuiltinSimulator("cut_in")
    return simulator, frame


def make(kind: str, workers: int) -> Executor:
    if kind == "ray":
        return make_executor("ray", n_workers=workers, init_options={"num_cpus": 2})
    return make_executor(kind, n_workers=workers)


def _sleep_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def warm_up(executor: Executor, simulator: Simulator, design: pd.DataFrame) -> None:
    """Start every worker process and import everything in it (not timed)."""
    deadline = time.monotonic() + 60
    pids: set[int] = set()
    while len(pids) < executor.n_workers and time.monotonic() < deadline:
        pids |= set(executor.map(_sleep_pid, [0.3] * (2 * executor.n_workers)))
    warm = design.iloc[: min(len(design), 4 * executor.n_workers)]
    run_batches(simulator, warm, executor=executor, batch_size=max(1, len(warm) // 4 or 1))


def timed_run(
    simulator: Simulator, design: pd.DataFrame, executor: Executor, batch_size: int
) -> tuple[float, pd.DataFrame]:
    warm_up(executor, simulator, design)
    start = time.perf_counter()
    out = run_batches(simulator, design, executor=executor, batch_size=batch_size)
    return time.perf_counter() - start, out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of scenarios")
    parser.add_argument("--toy", action="store_true", help="synthetic CPU-bound simulator")
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "cut_in.yaml")
    parser.add_argument("--executors", default="process,ray", help="comma-separated kinds")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="rows per task (default: calibrated for 2 workers)")
    args = parser.parse_args(argv)

    simulator, design = toy_problem(args.n) if args.toy else cut_in_problem(args.n, args.scenario)
    batch_size = args.batch_size
    if batch_size is None:
        pilot = calibrate(lambda b: simulate_batch(simulator, b), design, min_seconds=0.2)
        batch_size = plan_batch_size(len(design), n_workers=2,
                                     seconds_per_item=pilot.seconds_per_item)
        print(f"# calibrated: {pilot.seconds_per_item * 1e6:.1f} us/scenario -> "
              f"batch size {batch_size} ({-(-len(design) // batch_size)} batches)")
    print(f"# {'toy' if args.toy else 'cut_in builtin'}: {len(design)} scenarios, "
          f"{os.cpu_count()} CPUs")
    print("executor workers wall_s scenarios/s efficiency")
    reference: pd.DataFrame | None = None
    owner: Executor | None = None
    try:
        for kind in [k.strip() for k in args.executors.split(",") if k.strip()]:
            if kind == "ray" and owner is None:
                owner = make("ray", 2)  # starts Ray once (2 CPUs) for both worker counts
                # warm every Ray worker process up, whichever a 1-worker run lands on
                warm_up(owner, simulator, design)
            wall: dict[int, float] = {}
            for workers in (1, 2):
                with make(kind, workers) as executor:
                    wall[workers], out = timed_run(simulator, design, executor, batch_size)
                if reference is None:
                    reference = out
                else:
                    pd.testing.assert_frame_equal(out, reference)
                efficiency = wall[1] / (workers * wall[workers])
                print(f"{kind} {workers} {wall[workers]:.3f} {len(design) / wall[workers]:.0f} "
                      f"{efficiency:.3f}", flush=True)
    finally:
        if owner is not None:
            owner.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
