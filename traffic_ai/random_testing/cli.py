"""``safety-val traffic random-test``: many egos in random SUMO traffic, on an executor.

Thin: parses, calls :func:`traffic_ai.random_testing.plan.random_test`, renders a summary
of the instances, the events and their rates. SUMO and Ray are imported only when the
command runs.

Exit codes of ``random-test``: 0 when every instance ran, 1 when any instance failed
after its retries (the summary is written all the same), 2 for bad input.
(No postponed annotations here: typer reads the option aliases of :mod:`safety_val.cli.common`
from the annotations at once.)
"""


from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def _first_line(text: object, width: int = 120) -> str:
    lines = str(text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= width else line[: width - 1] + "…"


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "none"


def register(app: typer.Typer) -> None:
    """Add the ``random-test`` command to ``app`` (the ``safety-val traffic`` group)."""
    from safety_val.cli import common as sv

    @app.command("calibrate")
    def calibrate_command(
        tracks: Annotated[Path, typer.Argument(help="highD-layout tracks CSV.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Additional file to write.")] = (
            Path("vtypes.add.xml")),
        count: Annotated[int, typer.Option(help="Vehicle types in the distribution.", min=1)] = 20,
        frame_rate: Annotated[float, typer.Option(help="Frames per second.", min=0.1)] = 25.0,
        seed: Annotated[int, typer.Option(help="Seed of the sampled types.")] = 0,
    ) -> None:
        """Calibrate IDM and LC2013 from trajectories; write the 'traffic' vTypeDistribution."""
        from traffic_ai.random_testing.calibration import (
            fit_critical_gap,
            fit_idm,
            lane_change_gaps,
            read_highd,
            vtype_distribution,
        )

        fit = fit_idm(read_highd(tracks, frame_rate=frame_rate))
        parameters = fit.to_frame()
        summary = parameters[["v0", "T", "s0", "a", "b", "rmse_gap"]].describe().loc[
            ["count", "mean", "std", "min", "max"]].reset_index(names="")
        sv.stdout.print(sv.frame_table(summary, f"IDM of {len(parameters)} followers"))
        gaps = lane_change_gaps(tracks, frame_rate=frame_rate)
        lc_assertive = 1.0
        if len(gaps):
            gap = fit_critical_gap(gaps["accepted"], gaps["rejected"])
            lc_assertive = gap.lc_assertive()
            sv.say(f"critical lane-change gap: median {gap.median:.3g} s, sigma {gap.sigma:.3g} "
                    f"({gap.method}, {gap.changes} lane changes, {gap.with_rejection} with a "
                    f"rejected gap) -> lcAssertive {lc_assertive:.3g}")
        else:
            sv.say("no lane change with a follower observed: lcAssertive stays 1 (SUMO's default)")
        vtype_distribution(fit, out, count=count, seed=seed, lc_assertive=lc_assertive)
        sv.say(f"wrote {out} (use it with: safety-val traffic random-test --vtypes {out})")

    @app.command("random-test")
    def random_test_command(
        network: Annotated[Path, typer.Option("--network", "-n", help="SUMO network (.net.xml).")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
        model: Annotated[
            Path | None,
            typer.Option("--model", "-m", help="Trained traffic model folder; without it, "
                         "random trips with a time-of-day profile."),
        ] = None,
        egos: Annotated[int, typer.Option(help="Egos per SUMO instance.", min=1)] = 100,
        hours: Annotated[float, typer.Option(help="Simulated hours per seed.", min=0.001)] = 1.0,
        start: Annotated[str, typer.Option(help="Start of the demand window.")] = (
            "2024-01-03 08:00"),
        seeds: Annotated[int, typer.Option(help="Seeds (independent repetitions).", min=1)] = 1,
        window_minutes: Annotated[
            float, typer.Option(help="Length of one instance's time window (min).", min=0.1)
        ] = 15.0,
        regions: Annotated[int, typer.Option(help="Network regions for the egos.", min=1)] = 1,
        policy: Annotated[
            str, typer.Option(help="'reference' (the yielding urban reference ADS), 'motorway' "
                              "(the motorway ACC + AEB) or 'module:attribute'.")
        ] = "reference",
        vtypes: Annotated[
            Path | None, typer.Option(help="Additional file with the 'traffic' vTypeDistribution.")
        ] = None,
        peak: Annotated[
            float | None,
            typer.Option(help="Entries per hour at the weekday peak (no model); default: "
                         "derived from the network's capacity.", min=1.0),
        ] = None,
        vclass: Annotated[
            str, typer.Option(help="SUMO vehicle class of the traffic and the egos.")
        ] = "passenger",
        odd: Annotated[Path | None, typer.Option(help="ODD of the candidate scenarios.")] = None,
        executor: sv.ExecutorOption = "serial",
        workers: sv.WorkersOption = None,
        ray_address: sv.RayAddressOption = None,
    ) -> None:
        """Drive many egos through random city traffic; record NG events, rates, scenarios.

        Exits 1 when an instance failed after its retries, 2 for bad input.
        """
        from safety_val.errors import SafetyValError
        from traffic_ai.random_testing.plan import random_test

        with sv.open_executor(executor, workers, ray_address) as pool, \
                sv.progress_bar("simulated seconds") as tick:
            plan, result, candidates = random_test(
                network, out, executor=pool, progress=lambda done, total: tick(int(done),
                                                                              int(total)),
                odd=odd, egos=egos, hours=hours, model=model, start=start, seeds=seeds,
                window_minutes=window_minutes, regions=regions, policy=policy, vtypes=vtypes,
                peak_vehicles_per_hour=peak, vclass=vclass,
            )
        if plan.graph is not None:
            summary = plan.graph.summary()
            sv.say(f"network: {summary['segments']} segments open to {vclass} "
                   f"({summary['lane_km']:.1f} lane-km); closed to it: "
                   f"{_kinds(summary['excluded_edges'])} edges; other lanes on its segments: "
                   f"{_kinds(summary['restricted_lanes'])}")
        info = plan.demand_info
        if "peak_vehicles_per_hour" in info:
            source = ("given" if info.get("peak_source") == "given"
                      else "from the network's capacity")
            sv.say(f"demand: random trips, peak {info['peak_vehicles_per_hour']:,.0f} veh/h "
                   f"({source})")
        instances = result.instances
        failed = result.failed
        table = instances.assign(first_error=instances["first_error"].map(_first_line))
        columns = ["instance_id", "window", "status", "attempts", "mean_vehicles",
                   "distance_km", "sumo_teleports", "sumo_discarded", "wall_s", "first_error"]
        sv.stdout.print(sv.frame_table(
            table[[c for c in columns if c in table.columns]],
            f"SUMO instances: {result.instances_ok} ok, {len(failed)} failed"))
        if not result.rates.empty:
            rates = result.rates[["event_type", "events", "per_1000km", "per_1000km_lower",
                                  "per_1000km_upper", "per_hour", "per_hour_lower",
                                  "per_hour_upper"]]
            sv.stdout.print(sv.frame_table(rates, "NG events and rates (95 % Garwood intervals)"))
        if len(result.events) and "conflict_type" in result.events.columns:
            from traffic_ai.random_testing.mining import template_coverage

            sv.stdout.print(sv.frame_table(template_coverage(result.events),
                                      "NG events by conflict type and matching template"))
        min_count = plan.notes.get("min_count")
        for g, what in ((plan.geh, "segment-windows"), (plan.geh_hourly, "segment-hours")):
            if g is not None:
                sv.say(f"demand GEH < 5 on {100 * g.share_below:.1f} % of {len(g.table)} "
                        f"{what} with a forecast >= {min_count:g} veh/h "
                        f"(target 85 %: {'met' if g.passed else 'NOT met'})")
        sv.say(f"SUMO: {result.sumo.describe()}")
        for row in failed.itertuples(index=False):
            sv.stderr.print(f"instance {row.instance_id} {row.status} after {row.attempts} "
                            f"attempts; first error: {_first_line(row.first_error, 500)}",
                            markup=False, soft_wrap=True)
        if len(result.ego_errors):
            sv.stderr.print(f"{result.ego_errors['ego_id'].nunique()} egos' policies failed "
                            "(see ego_errors.parquet)", markup=False)
        sv.say(f"{len(result.events)} events over {result.distance_km:.1f} km and "
                f"{result.ego_hours:.2f} ego hours from {result.instances_ok} of "
                f"{len(instances)} instances; {len(candidates)} candidate scenarios; "
                f"wrote {out}")
        if len(failed):
            first = failed.iloc[0]
            raise SafetyValError(
                f"{len(failed)} of {len(instances)} instances failed after their retries "
                f"(first: {first['instance_id']}: {_first_line(first['first_error'], 300)}); "
                f"see {out / 'summary.json'}")
