"""Speed of the built-in simulator: vehicle-steps per second on one core.

Usage::

    python benchmarks/bench_simulator.py [--n 10000] [--duration 20] [--dt 0.01]
        [--template cut_in] [--repeat 1] [--profile]

Vehicle-steps are scenarios x agents x steps actually computed. The process is
pinned to one core and BLAS/OpenMP threads are limited to one before NumPy loads.
"""

from __future__ import annotations

import argparse
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402

import numpy as np  # noqa: E402

from safety_val.sim import get_template, simulate  # noqa: E402

TARGET = 5e6


def _pin_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity)"


def _inputs(template: str, n: int) -> dict[str, np.ndarray]:
    """A spread of concrete cut-in scenarios (uniform over plausible ranges)."""
    rng = np.random.default_rng(2024)
    if template != "cut_in":
        return {}
    return {
        "ego_speed": rng.uniform(16.7, 36.1, n),
        "cut_in_speed": rng.uniform(10.0, 36.1, n),
        "cut_in_gap": rng.uniform(5.0, 60.0, n),
        "cut_in_lateral_speed": rng.uniform(0.5, 3.0, n),
        "rain_intensity": rng.uniform(0.0, 16.0, n),
        "lighting": rng.choice(["day", "twilight", "night"], n),
    }


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="number of scenarios")
    parser.add_argument("--duration", type=float, default=20.0, help="simulated time (s)")
    parser.add_argument("--dt", type=float, default=0.01, help="step (s)")
    parser.add_argument("--template", default="cut_in")
    parser.add_argument("--repeat", type=int, default=1, help="report the best of N runs")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    args = parser.parse_args(argv)

    pinned = _pin_one_core()
    template = get_template(args.template)
    inputs = _inputs(args.template, args.n)
    seeds = np.arange(args.n, dtype=np.uint64)
    warm = {k: v[:100] for k, v in inputs.items()}
    simulate(template, warm, seeds=seeds[:100], dt=args.dt, duration=1.0)  # warm-up

    if args.profile:
        import cProfile
        import pstats

        with cProfile.Profile() as profiler:
            simulate(template, inputs, seeds=seeds, dt=args.dt, duration=args.duration)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)

    best = np.inf
    steps = vehicle_steps = 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        out = simulate(template, inputs, seeds=seeds, dt=args.dt, duration=args.duration)
        best = min(best, time.perf_counter() - start)
        vehicle_steps = out.vehicle_steps
        steps = vehicle_steps // (args.n * template.n_agents)
    rate = vehicle_steps / best
    print(
        f"{args.template}: {args.n} scenarios x {template.n_agents} agents x {steps} steps "
        f"in {best:.2f} s = {rate / 1e6:.1f} M vehicle-steps/s (1 core, {pinned}; "
        f"target {TARGET / 1e6:.0f} M: {'met' if rate >= TARGET else 'NOT met'})"
    )
    return rate


if __name__ == "__main__":
    main()
