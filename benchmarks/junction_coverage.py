"""Junction scenarios: a city run before/after the yielding ADS, and the catalogue's pf.

``city`` (the default) generates a signalised grid city (``safety-val traffic network
--kind grid --tls``), then runs the same random test twice, with the same seeds and
demand: once with the motorway reference ADS (``--policy motorway``, ACC + staged TTC
AEB, the policy random testing used before) and once with the yielding urban reference
ADS (``reference``). For each it prints the NG events by type and by conflict type, the
collisions per ego-hour (with a 95 % Garwood interval), the share of junction conflicts
(crossing and opposing) that map onto a built-in template, both with the straight-road
templates alone (what the mapping did before) and with the junction templates, and the
candidate logical scenarios mined from the events. Finally it estimates the first
candidate of each junction template with ``safety-val estimate`` and prints the commands
and their output.

``pf`` estimates the failure probability of the junction catalogue files
(``scenarios/junction_*.yaml``) by crude Monte Carlo and prints it with its coefficient
of variation and the failures per category.

Usage::

    python benchmarks/junction_coverage.py city --egos 100 --hours 1 --out runs/junctions
    python benchmarks/junction_coverage.py city --egos 20 --hours 0.1     # a quick look
    # the two runs side by side (two processes), then the figures:
    python benchmarks/junction_coverage.py city --policies motorway --out runs/junctions &
    python benchmarks/junction_coverage.py city --policies reference --out runs/junctions
    python benchmarks/junction_coverage.py report --out runs/junctions
    python benchmarks/junction_coverage.py pf --runs 20000
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a source tree
    sys.path.insert(0, str(ROOT))

JUNCTION_TYPES = ("crossing", "opposing")
STRAIGHT_TEMPLATES = ("lead_braking", "cut_in")


def _garwood(k: int, exposure: float) -> tuple[float, float]:
    from scipy.stats import chi2

    lo = 0.5 * chi2.ppf(0.025, 2 * k) / exposure if k else 0.0
    hi = 0.5 * chi2.ppf(0.975, 2 * k + 2) / exposure
    return float(lo), float(hi)


def _summary(label: str, events: pd.DataFrame, hours: float, km: float) -> dict[str, float]:
    """Print the figures of one run; return the headline numbers."""
    print(f"\n== {label}: {len(events)} NG events over {hours:.2f} ego-hours, {km:.0f} km")
    if len(events):
        table = pd.crosstab(events["event_type"], events["conflict_type"].replace("", "none"),
                            margins=True, margins_name="all")
        print(table.to_string())
    collisions = int((events["event_type"] == "collision").sum()) if len(events) else 0
    lo, hi = _garwood(collisions, hours)
    rate = collisions / hours if hours else float("nan")
    print(f"collisions: {collisions} = {rate:.3f} per ego-hour (95 % CI {lo:.3f}-{hi:.3f})")
    junction = events[events["conflict_type"].isin(JUNCTION_TYPES)] if len(events) else events
    n = len(junction)
    mapped_new = (junction["template"].astype(str).str.len() > 0).to_numpy(dtype=bool) \
        if n else np.zeros(0, dtype=bool)
    mapped_old = junction["template"].isin(STRAIGHT_TEMPLATES).to_numpy(dtype=bool) \
        if n else np.zeros(0, dtype=bool)
    share_new = float(np.mean(mapped_new)) if n else float("nan")
    share_old = float(np.mean(mapped_old)) if n else float("nan")
    passing = int((events["conflict_type"] == "passing").sum()) if len(events) else 0
    print(f"passing (crossing or opposing headings, paths that neither cross nor come "
          f"close: no conflict): {passing}")
    print(f"junction conflicts (crossing + opposing): {n}; mapped onto a template: "
          f"{int(np.sum(mapped_new))} ({100 * share_new:.1f} %) with the junction templates, "
          f"{int(np.sum(mapped_old))} ({100 * share_old:.1f} %) with the straight-road "
          "templates alone")
    if n:
        print(junction.groupby(["conflict_type", "template"]).size().rename("events")
              .to_string())
    all_mapped = events["template"].astype(str).str.len().gt(0).mean() if len(events) else 0
    print(f"all events mapped onto a template: {100 * all_mapped:.1f} %")
    return {"collisions": collisions, "rate": rate, "junction": n, "share": share_new}


def remap(events: pd.DataFrame, states: pd.DataFrame) -> pd.DataFrame:
    """The events with their conflict type and template mapped again from their states.

    :func:`~traffic_ai.random_testing.events.template_parameters` on each event's stored
    states (SSM-only events with SSM's conflict position), as the run itself does: a run
    recorded with an older mapping is reported with the current one.
    """
    from traffic_ai.random_testing.events import template_parameters

    if events.empty:
        return events
    grouped = dict(tuple(states.groupby("event_id"))) if len(states) else {}
    rows: list[dict[str, Any]] = []
    for _, event in events.iterrows():
        record = grouped.get(event["event_id"])
        if record is None or not bool(event.get("has_states", False)):
            rows.append({})
            continue
        ssm = str(event["event_type"]).startswith("ssm_")
        point = (float(event["x"]), float(event["y"])) if ssm else None
        rows.append(template_parameters(
            record, conflict_position=point if point and np.isfinite(point).all() else None))
    mapped = pd.DataFrame(rows, index=events.index)
    out = events.copy()
    for column in mapped.columns:
        keep = mapped[column].notna() | out[column].isna() if column in out else None
        out[column] = mapped[column].where(keep, out[column]) if keep is not None \
            else mapped[column]
    has = [bool(r) for r in rows]
    changed = (out.loc[has, "template"] != events.loc[has, "template"]).sum()
    print(f"re-mapped {sum(has)} events from their states ({int(changed)} changed template)")
    return out


POLICIES = {"motorway": "before: motorway reference ADS (ACC + AEB)",
            "reference": "after: yielding urban reference ADS"}


def city(args: argparse.Namespace) -> None:
    """Run the city with each policy (same network, demand and seeds), then report."""
    from traffic_ai.network import generate_network
    from traffic_ai.random_testing.plan import random_test

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    network = out / "city.net.xml"
    if not network.exists():
        generate_network("grid", network, size=args.size, default_lanenumber=2,
                         tls_guess=True)
    for policy in args.policies.split(","):
        t0 = time.perf_counter()
        random_test(network, out / policy, egos=args.egos, hours=args.hours,
                    window_minutes=args.window, seeds=1, policy=policy, seed=0,
                    odd=ROOT / "scenarios" / "odd" / "urban.yaml")
        print(f"{policy}: wall {time.perf_counter() - t0:.0f} s")
    if set(args.policies.split(",")) == set(POLICIES):
        report(args)


def report(args: argparse.Namespace) -> None:
    """Print the figures of the runs in ``--out`` and estimate a junction candidate."""
    import json

    out = Path(args.out)
    print(f"network: {args.size} x {args.size} signalised grid (netgenerate --tls), two "
          f"lanes each way; {args.egos} egos, {args.hours} h in {args.window}-min windows, "
          "seed 0, random trips with a time-of-day profile")
    rates = {}
    candidates: list[str] = []
    for policy, label in POLICIES.items():
        folder = out / policy
        events = pd.read_parquet(folder / "events.parquet")
        if (folder / "states.parquet").exists() and not args.no_remap:
            events = remap(events, pd.read_parquet(folder / "states.parquet"))
        instances = pd.read_parquet(folder / "instances.parquet")
        if (folder / "summary.json").exists():
            summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        else:  # a run whose mining failed after its results were saved: mine them here
            from traffic_ai.random_testing.mining import candidate_scenarios

            print(f"{folder}: no summary.json; candidates mined from its saved events")
            mined_now = candidate_scenarios(events, folder / "candidates",
                                            odd=ROOT / "scenarios" / "odd" / "urban.yaml",
                                            seed=0)
            summary = {"candidates": [str(c.path) for c in mined_now]}
        hours = float(instances["ego_hours"].fillna(0).sum())
        km = float(instances["distance_km"].fillna(0).sum())
        rates[policy] = _summary(label, events, hours, km)["rate"]
        failed = int((instances["status"] != "ok").sum())
        print(f"instances: {len(instances) - failed} ok, {failed} failed; simulated "
              f"{instances['simulated_s'].sum():.0f} s in {instances['wall_s'].sum():.0f} s wall "
              f"({instances['cpu_s'].sum():.0f} s CPU)")
        mined = summary.get("candidates", [])
        kinds = pd.Series([Path(c).stem.rsplit("_", 1)[0] for c in mined]).value_counts()
        print(f"candidate logical scenarios: {len(mined)} {kinds.to_dict()}")
        if policy == "reference":
            candidates = [c for c in mined if "junction" in Path(c).name]
    print(f"\ncollisions per ego-hour: {rates['motorway']:.3f} (motorway ADS) -> "
          f"{rates['reference']:.3f} (yielding urban ADS), same network, demand and seeds")
    if args.skip_estimate:
        return
    first: dict[str, str] = {}  # the first candidate of each junction template
    for candidate in candidates:
        first.setdefault(Path(candidate).stem.rsplit("_", 1)[0], candidate)
    for kind, candidate in first.items():
        command = ["safety-val", "estimate", candidate, "--max-calls",
                   str(args.estimate_calls), "--seed", "0", "--out",
                   str(out / f"estimate-{kind}")]
        print(f"\n$ {shlex.join(command)}")
        done = subprocess.run([sys.executable, "-m", "safety_val", *command[1:]],
                              capture_output=True, text=True, check=False)
        print((done.stdout.strip() or done.stderr.strip())[-3000:])


def pf(args: argparse.Namespace) -> None:
    """Crude Monte Carlo failure probability of the junction catalogue files."""
    from safety_val import load_scenario
    from safety_val.doe import generate_design

    for path in sorted((ROOT / "scenarios").glob("junction_*.yaml")):
        from safety_val.backends.builtin import BuiltinSimulator

        scenario = load_scenario(path)
        simulator = scenario.make_simulator()
        if not isinstance(simulator, BuiltinSimulator):  # the catalogue's are built in
            raise TypeError(f"{path} does not use the built-in simulator")
        frames = []
        t0 = time.perf_counter()
        for chunk in range(0, args.runs, args.batch):
            n = min(args.batch, args.runs - chunk)
            design = generate_design(scenario, n, method="mc", seed=args.seed + chunk).frame
            columns = [c for c in design.columns
                       if c in simulator.input_names() or c == "scenario_id"]
            kpis = simulator.run(design[columns])
            frames.append(design.assign(g=scenario.margin(kpis),
                                        collision=kpis["collision"].to_numpy()))
        runs = pd.concat(frames, ignore_index=True)
        failed = runs["g"] <= 0.0
        k, n = int(failed.sum()), len(runs)
        p = k / n
        cov = np.sqrt((1.0 - p) / (n * p)) if k else float("inf")
        print(f"{path.name}: pf = {p:.3g} (CoV {cov:.2f}; {k} failures in {n:,} runs, "
              f"{int(runs['collision'].sum())} collisions; {time.perf_counter() - t0:.0f} s)")
        for name in scenario.names:
            if scenario.parameter(name).categories:
                share = runs.groupby(name)["g"].agg(lambda g: float(np.mean(g <= 0.0)))
                print(f"  failure fraction by {name}: "
                      + ", ".join(f"{c} {v:.2g}" for c, v in share.items()))


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run the chosen part."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part")
    c = sub.add_parser("city", help="city run before/after (default)")
    r = sub.add_parser("report", help="figures of the city runs in --out")
    for q in (c, r):
        q.add_argument("--egos", type=int, default=100)
        q.add_argument("--hours", type=float, default=1.0)
        q.add_argument("--window", type=float, default=15.0, help="minutes per instance")
        q.add_argument("--size", type=int, default=6)
        q.add_argument("--out", default="runs/junction-coverage")
        q.add_argument("--estimate-calls", type=int, default=20000)
        q.add_argument("--skip-estimate", action="store_true")
        q.add_argument("--no-remap", action="store_true",
                       help="report the templates the run recorded, without mapping again")
    c.add_argument("--policies", default="motorway,reference",
                   help="policies to run (both: then the report)")
    p = sub.add_parser("pf", help="catalogue failure probabilities by crude Monte Carlo")
    p.add_argument("--runs", type=int, default=20000)
    p.add_argument("--batch", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.part == "pf":
        pf(args)
    elif args.part == "report":
        report(args)
    else:
        if args.part is None:
            args = c.parse_args([])
        city(args)


if __name__ == "__main__":
    main()
