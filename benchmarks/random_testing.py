"""Scale of the SUMO random test: vehicles x real-time factor, and worker scaling.

Part 1 runs one instance: a 20 x 20 grid city (200 m streets, two lanes each way),
``--traffic`` background vehicles inserted over the first 30 s at random positions on
long routes (passenger cars, on edges that allow them), ``--egos`` egos driven every
0.1 s step by the ADS ``--policy`` (default: the reference ADS of random testing) through
libsumo (context subscriptions, one vectorised ADS call for all egos), SSM device on
the egos. It prints the mean number of vehicles in the network, the real-time factor
(simulated s / wall s, and simulated s / CPU s of this process, which is what one
core gives when the machine is shared), their product, vehicles x RTF, and SUMO's
warnings (teleports, discarded vehicles, collisions).

Part 2 runs ``2 * --instances`` smaller instances with the process executor at 1 and
2 workers and prints throughput (vehicle-seconds simulated per wall second) and the
parallel efficiency ``T1 / (2 T2)``.

Usage::

    python benchmarks/random_testing.py                    # 5,000 vehicles, 100 egos
    python benchmarks/random_testing.py --traffic 1000 --egos 20 --duration 60
    python benchmarks/random_testing.py --skip-scaling
    python benchmarks/random_testing.py --skip-scaling --policy motorway
    python benchmarks/random_testing.py --traffic 1000 --egos 20 --skip-scaling --no-captures
    python benchmarks/random_testing.py --skip-scaling --sumo-alone

``--no-captures`` runs part 1 again without the event detector's close-encounter
captures (which give SSM-only events their states) and prints their CPU overhead.
``--sumo-alone`` first runs the same network, traffic, step and collision checks in the
``sumo`` binary with no egos, no TraCI and no SSM device, and prints its real-time factor:
the ceiling of any ADS on this core.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a source tree
    sys.path.insert(0, str(ROOT))


def _demand(network: Path, folder: Path, traffic: int, seed: int) -> Path:
    from traffic_ai.random_testing.demand import (
        _VEHICLE_ATTRIBUTES,
        _run_tool,
        _traffic_vtype,
        sumo_tool,
    )

    routes = folder / f"bench{seed}.rou.xml"
    _run_tool([
        str(sumo_tool("randomTrips.py")), "-n", str(network), "-b", "0", "-e", "30",
        "-p", f"{30.0 / traffic:.6f}", "--seed", str(seed), "--min-distance", "3000",
        "--prefix", "t", "--trip-attributes",
        _VEHICLE_ATTRIBUTES.replace('departSpeed="max"', 'departPos="random" departSpeed="max"'),
        "-o", str(folder / f"bench{seed}.trips.xml"), "-r", str(routes), "--validate",
        *_traffic_vtype(folder, "passenger"),
    ], "randomTrips.py")
    return routes


def _sumo_alone(network: Path, routes: Path, folder: Path, duration: float) -> None:
    """Print the real-time factor of the background traffic in the sumo binary alone."""
    import resource
    import subprocess

    import sumolib

    from traffic_ai.random_testing.runner import traffic_options

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([
        sumolib.checkBinary("sumo"), "-n", str(network), "-r", str(routes),
        "-a", str(folder / "traffic.vtype.add.xml"), *traffic_options(0.1, duration, 1),
        "--no-warnings",
    ], check=True, capture_output=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    print(f"SUMO alone (same network, traffic, step and collision checks; no egos, no TraCI): "
          f"{duration:.0f} s simulated, real-time factor {duration / wall:.2f} (wall)  "
          f"{duration / cpu:.2f} (CPU)")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traffic", type=int, default=5500)
    parser.add_argument("--egos", type=int, default=100)
    parser.add_argument("--duration", type=float, default=150.0)
    parser.add_argument("--size", type=int, default=20)
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--policy", default="reference",
                        help="ADS of the egos: a policy name or 'module:attribute'")
    parser.add_argument("--no-captures", action="store_true",
                        help="also run part 1 without the close-encounter captures and print "
                             "their overhead")
    parser.add_argument("--sumo-alone", action="store_true",
                        help="first run the same traffic in the sumo binary alone (no egos, "
                             "no TraCI) and print its real-time factor")
    args = parser.parse_args(argv)

    from safety_val.execution import make_executor
    from traffic_ai.network import generate_network
    from traffic_ai.random_testing.egos import resolve_policy
    from traffic_ai.random_testing.events import Thresholds
    from traffic_ai.random_testing.runner import InstanceSpec, run_instance, run_random_test

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        network = generate_network("grid", folder / "city.net.xml", size=args.size,
                                   default_lanenumber=2, tls_guess=True)
        routes = _demand(network, folder, args.traffic, 1)
        if args.sumo_alone:
            _sumo_alone(network, routes, folder, args.duration)
        if args.no_captures:  # warm up (lazy imports) so that both timed runs are alike
            run_instance(InstanceSpec("warm", str(network), str(routes), 2.0, args.egos, 1,
                                      str(folder / "run"), policy=args.policy))
        spec = InstanceSpec("bench", str(network), str(routes), args.duration, args.egos, 1,
                            str(folder / "run"), policy=args.policy)
        result = run_instance(spec)
        s = result.stats
        if result.status != "ok":
            print(f"instance failed: {result.message}")
            return
        rtf_wall = s["simulated_s"] / s["wall_s"]
        rtf_cpu = s["simulated_s"] / s["cpu_s"]
        print(f"policy: {args.policy} ({type(resolve_policy(args.policy)).__name__})")
        print(f"one instance: {s['simulated_s']:.0f} s simulated, step 0.1 s, "
              f"{s['mean_vehicles']:.0f} vehicles on average ({s['mean_egos']:.0f} egos), "
              f"{len(result.events)} NG events")
        print(f"  real-time factor: {rtf_wall:.2f} (wall)  {rtf_cpu:.2f} (CPU of this process)")
        print(f"  vehicles x RTF:   {s['mean_vehicles'] * rtf_wall:,.0f} (wall)  "
              f"{s['mean_vehicles'] * rtf_cpu:,.0f} (CPU)")
        ssm = result.events["event_type"].str.startswith("ssm")
        print(f"  SSM-only events with states: {int(result.events.loc[ssm, 'has_states'].sum())}"
              f" of {int(ssm.sum())}; close-encounter captures hold "
              f"{s['capture_rows']:,.0f} states")
        print(f"  SUMO: {result.sumo.describe()}")
        if args.no_captures:
            bare = run_instance(InstanceSpec(
                "bare", str(network), str(routes), args.duration, args.egos, 1,
                str(folder / "run"), policy=args.policy,
                thresholds=Thresholds(capture_encounters=False)))
            b = bare.stats
            print(f"  without captures: RTF {b['simulated_s'] / b['cpu_s']:.2f} (CPU); capture "
                  f"overhead {100 * (s['cpu_s'] / b['cpu_s'] - 1):+.1f} % CPU")
        if args.skip_scaling:
            return
        small = [_demand(network, folder, max(args.traffic // 5, 100), 10 + i)
                 for i in range(2 * args.instances)]
        for workers in (1, 2):
            specs = [InstanceSpec(f"w{workers}i{i}", str(network), str(r), 60.0,
                                  max(args.egos // 5, 1), 10 + i, str(folder / f"w{workers}"),
                                  policy=args.policy)
                     for i, r in enumerate(small)]
            with make_executor("process", n_workers=workers) as pool:
                t0 = time.perf_counter()
                out = run_random_test(specs, executor=pool)
                wall = time.perf_counter() - t0
            vs = float((out.instances["mean_vehicles"] * out.instances["simulated_s"]).sum())
            print(f"  process executor, {workers} worker(s): {len(specs)} instances in "
                  f"{wall:.1f} s, {vs / wall:,.0f} vehicle-seconds per second")
            if workers == 1:
                t1 = wall
            else:
                print(f"  parallel efficiency T1 / (2 T2) = {t1 / (2 * wall):.2f}")


if __name__ == "__main__":
    main()
