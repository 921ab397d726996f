"""The ``safety-val`` command line: thin — it parses, calls the library and renders.

Errors in user input print one line on stderr and exit with code 2; ``--debug``
(anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from safety_val._cli_common import (
    _STATE,
    ExecutorOption,
    QuietOption,
    RayAddressOption,
    ReferenceSizeOption,
    ScenarioFileOption,
    WorkersOption,
    _executor,
    _progress,
    _say,
    _table,
    stderr,
    stdout,
)
from safety_val.errors import SafetyValError, ValidationError

if TYPE_CHECKING:

    pass

__all__ = ["app", "main"]


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """The click exception ``name`` from click and from Typer's vendored copy, if any."""
    import importlib

    found: list[type[BaseException]] = []
    for module_name in ("typer._click.exceptions", "click.exceptions"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException) and cls not in found:
            found.append(cls)
    return tuple(found)


_CLICK_EXIT = _click_classes("Exit")
_CLICK_ERROR = _click_classes("ClickException")
_CLICK_ABORT = _click_classes("Abort")

app = typer.Typer(
    name="safety-val",
    help="Scenario-based safety validation of automated driving systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
odd_app = typer.Typer(help="Operational Design Domains.", no_args_is_help=True)
scenario_app = typer.Typer(
    help="Logical scenarios: list, show, validate, OpenSCENARIO.", no_args_is_help=True
)
app.add_typer(odd_app, name="odd")
app.add_typer(scenario_app, name="scenario")



@app.callback()
def _root(
    quiet: QuietOption = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Scenario-based safety validation of automated driving systems.

    ``--quiet`` and ``--debug`` may stand anywhere on the command line.
    """
    _STATE["quiet"] = _STATE["quiet"] or quiet
    _STATE["debug"] = _STATE["debug"] or debug


# -- odd ----------------------------------------------------------------------------------------


@odd_app.command("validate")
def odd_validate(
    files: Annotated[list[Path], typer.Argument(help="ODD YAML files.")],
) -> None:
    """Validate ODD files (ISO 34503 categories, units, ranges, allowed sets)."""
    from safety_val.odd import load_odd

    for file in files:
        odd = load_odd(file)
        _say(
            f"[green]valid[/] {escape(str(file))}: ODD '{escape(odd.name)}' "
            f"with {len(odd)} attributes"
        )


# -- scenario -----------------------------------------------------------------------------------


@scenario_app.command("list")
def scenario_list(
    folder: Annotated[Path, typer.Argument(help="Folder of scenario files.")] = Path("scenarios"),
) -> None:
    """List the logical scenarios in a folder (invalid files are listed with their error)."""
    from safety_val.scenario import load_scenario

    table = Table("file", "name", "ODD", "template", "parameters", "limit state")
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not folder.is_dir():
        raise ValidationError("not a folder", file=folder, expected="a folder of scenario files")
    for file in files:
        try:
            s = load_scenario(file)
        except ValidationError as exc:
            table.add_row(str(file), "[red]invalid[/]", "", "", "", exc.message)
            continue
        table.add_row(
            str(file), s.name, s.odd.name, s.template, str(s.dimension), s.criterion.expression
        )
    stdout.print(table)


@scenario_app.command("show")
def scenario_show(scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")]) -> None:
    """Show a logical scenario: parameters, distributions, ODD mapping, dependence, limit state."""
    from safety_val.distributions import support
    from safety_val.scenario import load_scenario

    s = load_scenario(scenario_file)
    stdout.print(f"[bold]{escape(s.name)}[/] — {escape(s.description)}")
    stdout.print(
        f"ODD: {s.odd.name}   simulator: {s.simulator['kind']}   template: {s.template}",
        markup=False,
    )
    table = Table("parameter", "unit", "distribution", "support", "ODD attribute")
    for p in s.parameters:
        if p.distribution is None:
            dist, sup = "value set", ""
        else:
            spec = p.distribution.to_dict()
            family = spec.pop("family")
            dist = f"{family}({', '.join(f'{k}={v}' for k, v in spec.items())})"
            if p.bounds:
                dist += f" on [{p.bounds[0]:g}, {p.bounds[1]:g}]"
            lo, hi = support(p.marginal)
            sup = ", ".join(p.categories) if p.categories else f"[{lo:g}, {hi:g}]"
        attribute = ""
        if p.odd_attribute:
            attribute = f"{p.odd_attribute} {s.odd.attribute(p.odd_attribute).describe()}"
        table.add_row(p.name, p.unit, dist, sup, attribute)
    stdout.print(table)
    if s.dependence is not None:
        stdout.print(
            f"dependence: normal copula ({s.dependence.kind}) over "
            f"{', '.join(s.dependence.parameters)}: {s.dependence.matrix}"
        )
    if s.fixed:
        stdout.print("fixed: " + ", ".join(f"{k}={v}" for k, v in s.fixed.items()))
    stdout.print(f"KPIs: {', '.join(s.kpis)}")
    stdout.print(f"limit state: g = {s.criterion.expression}  (failure when g ≤ 0)")


@scenario_app.command("validate")
def scenario_validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario YAML files.")],
) -> None:
    """Validate scenario files against their ODD and simulator template."""
    from safety_val.scenario import load_scenario

    for file in files:
        s = load_scenario(file)
        _say(
            f"[green]valid[/] {escape(str(file))}: '{s.name}', {s.dimension} parameters, "
            f"ODD '{escape(s.odd.name)}'"
        )


@scenario_app.command("export-xosc")
def scenario_export_xosc(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .xosc file to write.")],
    runs: Annotated[
        int, typer.Option(help="numberOfTestRuns of the stochastic part.", min=1)
    ] = 1000,
    seed: Annotated[int | None, typer.Option(help="randomSeed of the stochastic part.")] = None,
    scenario_xosc: Annotated[
        str | None, typer.Option(help="ScenarioFile filepath to reference.")
    ] = None,
) -> None:
    """Export the parameter distributions as an OpenSCENARIO ParameterValueDistribution."""
    from safety_val.formats.scenario_yaml import scenario_to_dict
    from safety_val.formats.xosc import ParameterDistributionSet, write_xosc
    from safety_val.scenario import load_scenario

    s = load_scenario(scenario_file)
    body = scenario_to_dict(s)
    dist_set = ParameterDistributionSet(
        parameters=body["parameters"],
        value_sets=body.get("value_sets", []),
        scenario_file=scenario_xosc or f"{s.name}.xosc",
        number_of_test_runs=runs,
        random_seed=seed,
    )
    write_xosc(dist_set, out, description=f"safety-val logical scenario {s.name}")
    if s.dependence is not None:
        stderr.print(
            "warning: OpenSCENARIO has no copula; the dependence between "
            f"{', '.join(s.dependence.parameters)} is not in {out}",
            markup=False,
        )
    _say(f"wrote {escape(str(out))} ({s.dimension} parameters)")


@scenario_app.command("import-xosc")
def scenario_import_xosc(
    xosc: Annotated[Path, typer.Argument(help="OpenSCENARIO ParameterValueDistribution file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="YAML file to write.")],
    into: Annotated[
        Path | None,
        typer.Option(
            help="A scenario whose parameters are replaced by the imported ones (validated)."
        ),
    ] = None,
) -> None:
    """Import an OpenSCENARIO ParameterValueDistribution as a parameter block or scenario."""
    from safety_val._io import atomic_write_text
    from safety_val._yaml import read_yaml_mapping
    from safety_val.formats.scenario_yaml import scenario_from_dict, scenario_to_dict
    from safety_val.formats.xosc import merge_into_scenario, read_xosc

    dist_set = read_xosc(xosc)
    block: dict[str, Any] = {"parameters": dist_set.parameters}
    if dist_set.value_sets:
        block["value_sets"] = dist_set.value_sets
    if into is not None:
        file, body = read_yaml_mapping(into, root="scenario")
        body = merge_into_scenario(body, dist_set)
        out_dir = out.resolve().parent
        scenario = scenario_from_dict(body, source=file.resolve())
        document: dict[str, Any] = {"scenario": scenario_to_dict(scenario, relative_to=out_dir)}
    else:
        document = block
    text = f"# imported from {xosc.name} by safety-val\n" + yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True
    )
    atomic_write_text(out, text)
    _say(
        f"wrote {out} ({len(dist_set.parameters)} parameters, "
        f"{len(dist_set.value_sets)} value sets)"
    )


# -- fit ----------------------------------------------------------------------------------------


@app.command("fit")
def fit(
    data: Annotated[
        Path, typer.Argument(help="CSV (or Parquet) file with one column per quantity.")
    ],
    columns: Annotated[str, typer.Option(help="Comma-separated columns to fit.")],
    families: Annotated[
        str | None, typer.Option(help="Comma-separated candidate families.")
    ] = None,
    copula: Annotated[
        bool, typer.Option("--copula/--no-copula", help="Also fit a normal copula.")
    ] = False,
    alpha: Annotated[
        float, typer.Option(help="Significance level of the goodness-of-fit test.")
    ] = 0.05,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the parameter block here.")
    ] = None,
) -> None:
    """Fit distributions to data (BIC + goodness of fit) and write a parameter block."""
    import pandas as pd

    from safety_val._io import atomic_write_text
    from safety_val.formats.fit import fit_parameters

    try:
        frame = pd.read_parquet(data) if data.suffix == ".parquet" else pd.read_csv(data)
    except FileNotFoundError:
        raise ValidationError("file not found", file=data) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ValidationError(f"cannot read table: {str(exc).splitlines()[0]}", file=data) from None
    names = [c.strip() for c in columns.split(",") if c.strip()]
    result = fit_parameters(
        frame,
        names,
        families=None if families is None else [f.strip() for f in families.split(",")],
        copula=copula,
        alpha=alpha,
    )
    table = Table("column", "family", "BIC", "p-value", "accepted", "chosen")
    for row in result.table.itertuples(index=False):
        table.add_row(
            str(row.column),
            str(row.family),
            f"{row.bic:.1f}",
            f"{row.p_value:.3g}",
            "yes" if row.accepted else "no",
            "◀" if row.chosen else "",
        )
    if not _STATE["quiet"]:
        stdout.print(table)
    text = result.to_yaml()
    if out is None:
        stdout.print(text, markup=False, highlight=False)
    else:
        atomic_write_text(out, text)
        _say(f"wrote {escape(str(out))}")


# -- doe ----------------------------------------------------------------------------------------


@app.command("doe")
def doe(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    n: Annotated[int, typer.Option("--n", help="Number of concrete scenarios.", min=1)] = 1000,
    design: Annotated[str, typer.Option(help="mc | lhs | optimal_lhs | sobol")] = "lhs",
    seed: Annotated[int, typer.Option(help="Seed of the design.", min=0)] = 0,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help=".parquet or .csv to write.")
    ] = None,
) -> None:
    """Draw a design of experiments and report its coverage."""
    from safety_val._io import atomic_write_bytes
    from safety_val.doe import generate_design
    from safety_val.scenario import load_scenario

    s = load_scenario(scenario_file)
    plan = generate_design(s, n, method=design, seed=seed)
    coverage = plan.coverage()
    _say(
        f"{design} design of {n} concrete scenarios of '{s.name}', {coverage.dimension} dimensions"
    )
    stdout.print(f"centred L2 discrepancy: {coverage.centred_l2_discrepancy:.4g}")
    stdout.print(f"minimum pairwise distance (unit cube): {coverage.min_distance:.4g}")
    if out is not None:
        if out.suffix == ".csv":
            atomic_write_bytes(out, plan.frame.to_csv(index=False).encode())
        elif out.suffix == ".parquet":
            atomic_write_bytes(out, plan.frame.to_parquet(index=False))
        else:
            raise ValidationError(
                "unknown output format",
                field="--out",
                value=str(out),
                expected="a .parquet or .csv file",
            )
        _say(f"wrote {escape(str(out))}")


# -- simulate -----------------------------------------------------------------------------------


@app.command("simulate")
def simulate(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    n: Annotated[int, typer.Option("--n", help="Number of concrete scenarios.", min=1)] = 10000,
    design: Annotated[str, typer.Option(help="mc | lhs | optimal_lhs | sobol")] = "lhs",
    seed: Annotated[int, typer.Option(help="Seed of the design.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Concrete scenarios per task (default: calibrated so a task runs ≥ 50 ms).", min=1
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default: runs/<scenario>-<time>)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run in --out.")] = False,
) -> None:
    """Simulate a design of experiments of a logical scenario into a run directory."""
    from safety_val.scenario import load_scenario
    from safety_val.simulation import simulate as run_simulation

    s = load_scenario(scenario_file)
    if out is None:
        if resume:
            raise ValidationError(
                "--resume needs the run directory",
                field="--out",
                expected="the --out of the interrupted run",
            )
        out = Path("runs") / f"{s.name}-{datetime.now():%Y%m%d-%H%M%S}"
    with (
        _executor(executor, workers, ray_address) as pool,
        _progress(f"simulating {s.name}") as tick,
    ):
        run = run_simulation(
            s,
            n=n,
            out=out,
            design=design,
            seed=seed,
            executor=pool,
            batch_size=batch_size,
            resume=resume,
            progress=tick,
        )
    summary = run.summary
    table = Table(title=f"{s.name}: {summary.n} concrete scenarios → {run.path}")
    table.add_column("KPI")
    for column in ("min", "mean", "max"):
        table.add_column(column, justify="right")
    for row in summary.kpis.itertuples(index=False):
        table.add_row(str(row.kpi), f"{row.min:.4g}", f"{row.mean:.4g}", f"{row.max:.4g}")
    stdout.print(table)
    lo, hi = summary.ci
    stdout.print(
        f"ok {summary.n_ok}  error {summary.n_error}  timeout {summary.n_timeout}   "
        f"failures (g ≤ 0): {summary.n_failures} = {summary.failure_fraction:.4g} "
        f"(95 % CI {lo:.3g} – {hi:.3g})"
    )
    if not _STATE["quiet"]:
        stdout.print(json.dumps({"run": str(run.path), **summary.to_dict()}))


# -- sensitivity --------------------------------------------------------------------------------


@app.command("sensitivity")
def sensitivity(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    n: Annotated[int, typer.Option("--n", help="Simulations per sampling scheme.", min=1)] = 1024,
    methods: Annotated[
        str, typer.Option(help="Comma-separated: morris, sobol, delta, rbd_fast, pawn.")
    ] = "morris,sobol,delta",
    output: Annotated[
        str | None, typer.Option(help="A KPI to analyse instead of the margin g.")
    ] = None,
    nominal: Annotated[
        str, typer.Option(help="Value of the fixed parameters: median | mean | random.")
    ] = "median",
    holdout: Annotated[
        int, typer.Option(help="Held-out scenarios to check the reduction (0: skip).", min=0)
    ] = 500,
    samples: Annotated[
        Path | None,
        typer.Option(help="A 'simulate' run directory: analyse its samples (no new simulations)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder (default: runs/<scenario>-sensitivity-<time>)."
        ),
    ] = None,
) -> None:
    """Rank the parameters, select the influential ones and write the reduced scenario.

    Simulations are stored in OUT/evaluations: re-running with the same --out and seed
    reuses them. With --samples, the given-data methods (delta, rbd_fast, pawn) analyse
    an existing simulated design instead.
    """
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    from safety_val.evaluation import ScenarioEvaluator
    from safety_val.pipeline import sensitivity_outputs
    from safety_val.scenario import load_scenario
    from safety_val.sensitivity import METHODS, analyze, analyze_given_data, check_reduction

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:  # refused before anything is simulated or written
        raise ValidationError(
            f"unknown sensitivity method {unknown[0]!r}" if unknown else "no method given",
            field="--methods",
            value=methods,
            expected=f"names among {', '.join(METHODS)}",
        )
    s = load_scenario(scenario_file)
    if out is None:
        out = Path("runs") / f"{s.name}-sensitivity-{datetime.now():%Y%m%d-%H%M%S}"
    with (
        _executor(executor, workers, ray_address) as pool,
        _progress(f"sensitivity of {s.name}") as tick,
    ):
        evaluator = ScenarioEvaluator(
            s,
            executor=pool,
            store=out / "evaluations",
            purpose="sensitivity",
            progress=lambda done: tick(done, None),
        )
        if samples is not None:
            from safety_val.store import RunStore

            run = RunStore.open(samples)
            if run.manifest.get("scenario_sha256") != s.source_sha256:
                raise ValidationError(
                    "the samples were simulated from another scenario file",
                    file=run.path / "manifest.json",
                    field="scenario_sha256",
                    value=run.manifest.get("scenario"),
                    expected=f"a run of {scenario_file}",
                )
            stored = run.read_samples()
            ok = stored["status"] == "ok"
            x = pd.DataFrame(s.to_array(stored.loc[ok]), columns=list(s.names))
            y = stored.loc[ok, output or "g"].to_numpy(dtype=float)
            result = analyze_given_data(x, y, methods=chosen, seed=seed)
        else:
            result = analyze(evaluator, n=n, methods=chosen, output=output, seed=seed)
        check = None
        if holdout and nominal != "random" and len(result.selected) < len(result.parameters):
            check = check_reduction(
                evaluator, result.selected, nominal=nominal, n_holdout=holdout, seed=seed
            )
    reduced = result.reduced_scenario(nominal=nominal) if samples is None else None
    if reduced is None:
        from safety_val.sensitivity import reduce_scenario

        reduced = reduce_scenario(s, result.selected, nominal=nominal)
    reduced_file = sensitivity_outputs(
        out, s, result, reduced, check=check, seed=seed, simulations=evaluator.n_calls
    )
    table = Table(title=f"{s.name}: parameter ranking → {out}")
    for column in ("rank", "parameter", "selected"):
        table.add_column(column)
    for row in result.ranking.itertuples(index=False):
        table.add_row(
            str(row.rank), str(row.parameter), "yes" if row.parameter in result.selected else ""
        )
    stdout.print(table)
    costs = ", ".join(f"{k} {v}" for k, v in result.costs.items())
    stdout.print(f"simulator calls: {costs}", markup=False)
    if check is not None:
        stdout.print(
            f"reduction check on {check.n_holdout} held-out scenarios: agreement "
            f"{check.agreement:.3f}, false passes {check.false_pass}, false fails "
            f"{check.false_fail}, kappa {check.kappa:.3f} ({check.n_calls} simulations)",
            markup=False,
        )
    for note in result.notes:
        stdout.print(f"note: {note}", markup=False, highlight=False)
    stdout.print(f"reduced scenario: {reduced_file}", markup=False)


# -- estimate -----------------------------------------------------------------------------------


@app.command("estimate")
def estimate(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    method: Annotated[
        str, typer.Option(help="auto | ak | nais | subset | ce_is | mc | ...")
    ] = "auto",
    target_cov: Annotated[float, typer.Option(help="Target coefficient of variation.")] = 0.1,
    max_calls: Annotated[
        int | None, typer.Option(help="Simulation budget (default: the method's).", min=10)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed repeats the same run.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Concrete scenarios per task.", min=1)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Run directory (default: runs/<scenario>-pf-<time>)."),
    ] = None,
) -> None:
    """Estimate the failure probability of a logical scenario (every simulation is stored).

    Re-running with the same --out, method and seed resumes: scenarios already simulated
    are read from the run directory instead of being simulated again.
    """
    from safety_val.pipeline import estimate_stage
    from safety_val.reliability import get_method
    from safety_val.scenario import load_scenario

    get_method(method)  # an unknown method is refused before anything is written
    s = load_scenario(scenario_file)
    if out is None:
        out = Path("runs") / f"{s.name}-pf-{datetime.now():%Y%m%d-%H%M%S}"
    with (
        _executor(executor, workers, ray_address) as pool,
        _progress(f"estimating pf of {s.name}") as tick,
    ):
        result, new_simulations = estimate_stage(
            s,
            scenario_file,
            out,
            method=method,
            target_cov=target_cov,
            max_calls=max_calls,
            seed=seed,
            executor=pool,
            batch_size=batch_size,
            progress=lambda done: tick(done, max_calls),
        )
    lo, hi = result.ci
    table = Table(title=f"{s.name}: P(g ≤ 0) by {result.method} → {out}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("pf", f"{result.pf:.4g}")
    table.add_row("95 % interval", f"{lo:.3g} – {hi:.3g}")
    table.add_row("β (sigma)", f"{result.beta:.3f}")
    table.add_row("CoV", f"{result.cov:.3g}")
    table.add_row("limit-state calls", str(result.n_calls))
    table.add_row("new simulations", str(new_simulations))
    table.add_row("converged", "yes" if result.converged else "[red]no[/]")
    stdout.print(table)
    if result.message:
        stdout.print(result.message, markup=False, highlight=False)


# -- robustness and critical regions -----------------------------------------------------------


def _reliability_run(run: Path, scenario_file: Path | None) -> tuple[Any, Any]:
    """The saved result of an ``estimate`` run and its scenario (checked to be the same file)."""
    from safety_val.reliability.persistence import load_result, load_result_report
    from safety_val.scenario import load_scenario

    report = load_result_report(run)
    file = scenario_file or Path(str(report.get("scenario_file") or ""))
    if not str(file):
        raise ValidationError(
            "the run does not name its scenario file",
            file=run / "result.json",
            field="scenario_file",
            expected="pass --scenario",
        )
    scenario = load_scenario(file)
    if report.get("scenario_sha256") != scenario.source_sha256:
        raise ValidationError(
            "the run directory was made from another scenario (or the file changed since)",
            file=run / "result.json",
            field="scenario_sha256",
            value=report.get("scenario"),
            expected=f"a run of {file} as it is now",
        )
    return load_result(run), scenario


def _reference_sample(
    result: Any, scenario: Any, run: Path, pool: Any, n: int, seed: int, tick: Any
) -> Any:
    """The importance sample shared by robustness and regions (stored in RUN/reference)."""
    from safety_val.pipeline import reference_sample

    return reference_sample(
        result, scenario, run, n=n, seed=seed, executor=pool, progress=lambda d: tick(d, None)
    )


@app.command("robustness")
def robustness(
    run: Annotated[Path, typer.Argument(help="A run directory written by 'safety-val estimate'.")],
    shift: Annotated[
        list[str] | None,
        typer.Option(
            help="What-if shift, e.g. rain_intensity=+2sd, cut_in_gap=-1sd, ego_speed=x1.5."
        ),
    ] = None,
    ambiguity: Annotated[
        str | None, typer.Option(help="Worst case with each mean within ±k sd ('1sd') or 'odd'.")
    ] = None,
    n_reference: ReferenceSizeOption = 1000,
    max_calls: Annotated[
        int,
        typer.Option(help="Budget of each new estimate where re-weighting is unreliable.", min=10),
    ] = 2000,
    scenario_file: ScenarioFileOption = None,
    seed: Annotated[int, typer.Option(help="Seed.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Safety margins in sigma, pf under distribution shifts, sensitivities and the worst case."""
    import matplotlib

    matplotlib.use("Agg")
    from safety_val import regions as regions_analysis
    from safety_val import robustness as robustness_analysis
    from safety_val.pipeline import robustness_stage

    shifts = [robustness_analysis.parse_shift(text) for text in shift or []] or None
    result, scenario = _reliability_run(run, scenario_file)
    with (
        _executor(executor, workers, ray_address) as pool,
        _progress(f"robustness of {scenario.name}") as tick,
    ):
        evaluator, sample = _reference_sample(result, scenario, run, pool, n_reference, seed, tick)
        # margins per failure mode of the critical regions (one per connected region)
        modes = regions_analysis.analyze(result, scenario=scenario, sample=sample, seed=seed)
        analysis = robustness_stage(
            result,
            run,
            evaluator=evaluator,
            sample=sample,
            shifts=shifts,
            ambiguity=ambiguity,
            max_calls=max_calls,
            seed=seed,
            modes=modes,
        )
    stdout.print(
        _table(analysis.margins, f"{scenario.name}: safety margin (β = {analysis.beta:.2f} σ)")
    )
    columns = ["parameter", "shift", "pf", "ci_low", "ci_high", "ratio_to_nominal", "ess", "how"]
    stdout.print(_table(analysis.shifts[columns], "pf under distribution shifts"))
    worst = analysis.worst_case
    if worst is not None:
        stdout.print(
            f"worst case: {json.dumps(worst if isinstance(worst, dict) else worst.to_dict())}",
            markup=False,
            highlight=False,
        )
    for note in analysis.notes:
        stdout.print(f"note: {note}", markup=False, highlight=False)
    _say(f"wrote {escape(str(run / 'robustness.json'))} and tornado.png")


@app.command("regions")
def regions(
    run: Annotated[Path, typer.Argument(help="A run directory written by 'safety-val estimate'.")],
    export_xosc: Annotated[
        Path | None,
        typer.Option(help="Write the most critical scenarios of each mode as .xosc here."),
    ] = None,
    per_mode: Annotated[int, typer.Option(help="Critical scenarios exported per mode.", min=1)] = 3,
    n_reference: ReferenceSizeOption = 1000,
    scenario_file: ScenarioFileOption = None,
    seed: Annotated[int, typer.Option(help="Seed.", min=0)] = 0,
    executor: ExecutorOption = "serial",
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Failure modes with their pf share, design point and readable rules; replayable .xosc."""
    import matplotlib

    matplotlib.use("Agg")
    from safety_val.pipeline import regions_stage

    result, scenario = _reliability_run(run, scenario_file)
    with (
        _executor(executor, workers, ray_address) as pool,
        _progress(f"critical regions of {scenario.name}") as tick,
    ):
        _, sample = _reference_sample(result, scenario, run, pool, n_reference, seed, tick)
        found, written = regions_stage(
            result, scenario, run, sample=sample, seed=seed, export_xosc=export_xosc,
            per_mode=per_mode,
        )
    summary = found.modes[["mode", "share", "pf", "ci_low", "ci_high", "beta", "n_failures"]]
    stdout.print(_table(summary, f"{scenario.name}: failure modes"))
    for row in found.rules.itertuples(index=False):
        stdout.print(
            f"mode {row.mode}: {row.rule}   (precision {row.precision:.2f}, recall "
            f"{row.recall:.2f}; held out: {row.precision_holdout:.2f}, {row.recall_holdout:.2f})",
            markup=False,
            highlight=False,
        )
    for note in found.notes:
        stdout.print(f"note: {note}", markup=False, highlight=False)
    if export_xosc is not None:
        _say(
            f"wrote {len(written)} OpenSCENARIO files (+ .xodr roads) to {escape(str(export_xosc))}"
        )


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Warnings as one line on stderr (the library also records them in its results)."""
    stderr.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)


def _register_commands() -> None:
    """Add the commands that live in their own modules (they import this one for plumbing)."""
    import importlib

    for module in (
        "safety_val._cli_pipeline",
        "safety_val._cli_report",
        "safety_val._cli_campaign",
    ):
        importlib.import_module(module).register(app)
    from traffic_ai.cli import app as traffic_app

    app.add_typer(traffic_app, name="traffic")


if __name__ != "__main__":  # run as a script, the commands join the imported module's app
    _register_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input)."""
    import warnings

    warnings.showwarning = _show_warning
    args = list(sys.argv[1:] if argv is None else argv)
    _STATE.update(quiet=False, debug=False)
    for flag, key in (("--debug", "debug"), ("--quiet", "quiet"), ("-q", "quiet")):
        while flag in args:
            args.remove(flag)
            _STATE[key] = True
    try:
        app(args=args, prog_name="safety-val", standalone_mode=False)
    except ValidationError as exc:
        if _STATE["debug"]:
            raise
        stderr.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except _CLICK_EXIT as exc:
        return int(getattr(exc, "exit_code", 0))
    except _CLICK_ERROR as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    except _CLICK_ABORT:
        stderr.print("interrupted; continue a simulation with --resume", markup=False)
        return 130
    except KeyboardInterrupt:
        stderr.print("interrupted; continue a simulation with --resume", markup=False)
        return 130
    except SafetyValError as exc:
        if _STATE["debug"]:
            raise
        stderr.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except Exception as exc:
        if _STATE["debug"]:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        stderr.print(
            f"internal error: {type(exc).__name__}: {first} (run with --debug for the traceback)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    from safety_val.cli import main as _main

    raise SystemExit(_main())
