"""``safety-val odd …``, ``safety-val scenario …`` and ``safety-val fit``: the definitions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from safety_val.cli.common import STATE, ForceOption, check_out, say, shown, stderr, stdout
from safety_val.errors import ValidationError

__all__ = ["register"]

odd_app = typer.Typer(help="Operational Design Domains.", no_args_is_help=True)
scenario_app = typer.Typer(
    help="Logical scenarios: list, show, validate, OpenSCENARIO.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``odd`` and ``scenario`` groups and the ``fit`` command to ``app``."""
    app.add_typer(odd_app, name="odd")
    app.add_typer(scenario_app, name="scenario")
    app.command("fit")(fit)


# -- odd ----------------------------------------------------------------------------------------


@odd_app.command("validate")
def odd_validate(
    files: Annotated[list[Path], typer.Argument(help="ODD YAML files.")],
) -> None:
    """Validate ODD files (ISO 34503 categories, units, ranges, allowed sets)."""
    from safety_val.odd import load_odd

    for file in files:
        odd = load_odd(file)
        say(
            f"[green]valid[/] {shown(file)}: ODD '{shown(odd.name)}' "
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
            table.add_row(shown(file), "[red]invalid[/]", "", "", "", shown(exc.message))
            continue
        table.add_row(
            *map(shown, (file, s.name, s.odd.name, s.template, s.dimension, s.criterion.expression))
        )
    stdout.print(table)


@scenario_app.command("show")
def scenario_show(scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")]) -> None:
    """Show a logical scenario: parameters, distributions, ODD mapping, dependence, limit state."""
    from safety_val.report.model import parameter_summaries
    from safety_val.scenario import load_scenario

    s = load_scenario(scenario_file)
    stdout.print(f"[bold]{shown(s.name)}[/] — {shown(s.description)}")
    stdout.print(
        f"ODD: {shown(s.odd.name)}   simulator: {shown(s.simulator['kind'])}   "
        f"template: {shown(s.template)}"
    )
    table = Table("parameter", "unit", "distribution", "support", "ODD attribute")
    for p in parameter_summaries(s):
        table.add_row(
            *map(shown, (p.name, p.unit, p.distribution, p.support, p.odd_attribute))
        )
    stdout.print(table)
    if s.dependence is not None:
        stdout.print(
            shown(
                f"dependence: normal copula ({s.dependence.kind}) over "
                f"{', '.join(s.dependence.parameters)}: {s.dependence.matrix}"
            )
        )
    if s.fixed:
        stdout.print(shown("fixed: " + ", ".join(f"{k}={v}" for k, v in s.fixed.items())))
    stdout.print(shown(f"KPIs: {', '.join(s.kpis)}"))
    stdout.print(shown(f"limit state: g = {s.criterion.expression}  (failure when g ≤ 0)"))


@scenario_app.command("validate")
def scenario_validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario YAML files.")],
) -> None:
    """Validate scenario files against their ODD and simulator template."""
    from safety_val.scenario import load_scenario

    for file in files:
        s = load_scenario(file)
        say(
            f"[green]valid[/] {shown(file)}: '{shown(s.name)}', {s.dimension} parameters, "
            f"ODD '{shown(s.odd.name)}'"
        )


@scenario_app.command("export-xosc")
def scenario_export_xosc(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The .xosc file to write.")],
    runs: Annotated[
        int | None,
        typer.Option(
            help="numberOfTestRuns of a stochastic export (default 1000); a deterministic "
            "scenario (only Grid/Set parameters and value sets) has none.",
            min=1,
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="randomSeed of the stochastic part.")] = None,
    scenario_xosc: Annotated[
        str | None, typer.Option(help="ScenarioFile filepath to reference.")
    ] = None,
    portable: Annotated[
        bool,
        typer.Option(
            "--portable",
            help="Only standard elements other tools read: a family OpenSCENARIO cannot "
            "state exactly becomes a standard stand-in (a Histogram within a max CDF error "
            "of 1e-3, or an exact reformulation) instead of a safety-val: "
            "UserDefinedDistribution; the file and stderr say what lost fidelity.",
        ),
    ] = False,
    force: ForceOption = False,
) -> None:
    """Export the parameter distributions as an OpenSCENARIO ParameterValueDistribution."""
    from safety_val.formats.parameter_map import scenario_units, unapply_parameter_map
    from safety_val.formats.scenario_yaml import scenario_to_dict
    from safety_val.formats.xosc import (
        ParameterDistributionSet,
        is_deterministic,
        openscenario_parameter_map,
        openscenario_settings,
        write_xosc,
    )
    from safety_val.scenario import load_scenario

    check_out(out, inputs=[scenario_file], force=force)
    s = load_scenario(scenario_file)
    body = scenario_to_dict(s)
    # what an imported file said beyond distributions (import-xosc's openscenario: block)
    block = _openscenario_block(scenario_file)
    kept: dict[str, Any] = {}
    if block is not None:
        kept = openscenario_settings(block, scenario_file)
    mappings = openscenario_parameter_map(block, scenario_file)
    if is_deterministic(body["parameters"], body.get("value_sets", [])):
        kept = {k: v for k, v in kept.items() if k == "scenario_file"}
        given = [f"--{n}" for n, v in (("runs", runs), ("seed", seed)) if v is not None]
        if given:
            raise ValidationError(
                f"{' and '.join(given)} given for a deterministic scenario (only Grid/Set "
                "parameters and value sets): OpenSCENARIO's Deterministic distribution has "
                "no number of test runs or seed",
                file=scenario_file,
                value=runs if runs is not None else seed,
                expected=f"no {' or '.join(given)}",
            )
    elif runs is None:
        runs = kept.get("number_of_test_runs", 1000)
    if seed is not None:
        kept.pop("random_seed_text", None)
    else:
        seed = kept.get("random_seed")
    dist_set = ParameterDistributionSet(
        parameters=body["parameters"],
        value_sets=body.get("value_sets", []),
        scenario_file=scenario_xosc or kept.get("scenario_file") or f"{s.name}.xosc",
        number_of_test_runs=runs,
        random_seed=seed,
        random_seed_text=kept.get("random_seed_text"),
    )
    if mappings:  # the names (and units) of the ScenarioFile the scenario was imported from
        dist_set = unapply_parameter_map(dist_set, mappings, units=scenario_units(body))
        say(
            "wrote the file's own names (openscenario.parameter_map of "
            f"{escape(str(scenario_file))}): "
            + escape(", ".join(f"{m.input} as {m.foreign}" for m in mappings))
        )
    lost: list[str] = []
    write_xosc(
        dist_set,
        out,
        description=f"safety-val logical scenario {s.name}",
        portable=portable,
        notes=lost,
    )
    for line in lost:
        stderr.print(f"note: {line}", markup=False, soft_wrap=True)
    if s.dependence is not None:
        stderr.print(
            "warning: OpenSCENARIO has no copula; the dependence between "
            f"{', '.join(s.dependence.parameters)} is not in {out}",
            markup=False,
            soft_wrap=True,
        )
    say(f"wrote {escape(str(out))} ({s.dimension} parameters)")


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
    parameter_map: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Foreign parameter names onto the template's inputs, with the unit of the "
            "file's values: FOREIGN=INPUT[:UNIT],... (e.g. Ego_InitSpeed_Ru=ego_speed:km/h); "
            "converted to the input's unit. Default: the openscenario.parameter_map of --into.",
        ),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Import an OpenSCENARIO ParameterValueDistribution as a parameter block or scenario."""
    from safety_val._io import atomic_write_text
    from safety_val._yaml import read_yaml_mapping
    from safety_val.formats.parameter_map import (
        apply_parameter_map,
        parameter_map_block,
        parse_parameter_map,
        scenario_units,
    )
    from safety_val.formats.scenario_yaml import scenario_from_dict, scenario_to_dict
    from safety_val.formats.xosc import (
        merge_into_scenario,
        openscenario_block,
        openscenario_parameter_map,
        read_xosc,
    )

    check_out(out, inputs=[xosc] if into is None else [xosc, into], force=force)
    mappings = parse_parameter_map(parameter_map)
    base: tuple[Path, dict[str, Any]] | None = None
    defaults: dict[str, Any] = {}
    units: dict[str, str] = {}
    if into is not None:
        base = read_yaml_mapping(into, root="scenario")
        units = scenario_units(base[1])
        fixed = base[1].get("fixed")
        if isinstance(fixed, dict):
            defaults = dict(fixed)
        if parameter_map is None:
            mappings = openscenario_parameter_map(_openscenario_block(into), into)
    for m in mappings:  # a value set's default, in the file's names and units
        if m.input in defaults and m.foreign not in defaults:
            value = defaults[m.input]
            number = isinstance(value, int | float) and not isinstance(value, bool)
            factor = m.factor(units.get(m.input))[0] if number else 1.0
            defaults[m.foreign] = value / factor if number else value
    dist_set = read_xosc(xosc, defaults=defaults)
    notes = list(dist_set.notes)
    if mappings:
        dist_set, converted = apply_parameter_map(dist_set, mappings, units=units, file=xosc)
        notes += converted
    block: dict[str, Any] = {"parameters": dist_set.parameters}
    if dist_set.value_sets:
        block["value_sets"] = dist_set.value_sets
    if base is not None:
        file, body = base
        body = merge_into_scenario(body, dist_set, notes=notes)
        out_dir = out.resolve().parent
        try:
            scenario = scenario_from_dict(body, source=file.resolve())
        except ValidationError as exc:
            raise _blame_import(exc, body, xosc, file) from None
        document: dict[str, Any] = {"scenario": scenario_to_dict(scenario, relative_to=out_dir)}
    else:
        document = block
    settings: dict[str, Any] = openscenario_block(dist_set)
    if mappings:  # export-xosc writes the file's names back
        settings["parameter_map"] = parameter_map_block(mappings)
    if settings:  # read back by export-xosc
        document["openscenario"] = settings
    for note in notes:
        stderr.print(f"note: {note}", markup=False, soft_wrap=True)
    text = f"# imported from {xosc.name} by safety-val\n" + yaml.safe_dump(
        document, sort_keys=False, allow_unicode=True
    )
    atomic_write_text(out, text)
    say(
        f"wrote {out} ({len(dist_set.parameters)} parameters, "
        f"{len(dist_set.value_sets)} value sets)"
    )


def _openscenario_block(path: Path) -> Any:
    """The ``openscenario:`` block of a scenario file, ``None`` if it has none."""
    from safety_val._yaml import read_yaml_mapping

    try:
        return read_yaml_mapping(path, root="openscenario")[1]
    except ValidationError as exc:
        if exc.message.startswith("missing top-level"):
            return None
        raise


def _blame_import(
    exc: ValidationError, body: dict[str, Any], xosc: Path, into: Path
) -> ValidationError:
    """``exc`` naming the .xosc file when its field is an imported parameter."""
    import re

    match = re.match(r"scenario\.(parameters|value_sets)\[(\d+)\]", exc.field or "")
    if match is None:
        return exc
    items = body.get(match.group(1)) or []
    index = int(match.group(2))
    item = items[index] if index < len(items) else {}
    what = "parameter" if match.group(1) == "parameters" else "value set"
    return ValidationError(
        f"{exc.message} (imported {what} {item.get('name')!r} merged into {into})",
        file=xosc,
        field=exc.field,
        value=exc.value,
        expected=exc.expected,
    )


# -- fit ----------------------------------------------------------------------------------------


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
    force: ForceOption = False,
) -> None:
    """Fit distributions to data (BIC + goodness of fit) and write a parameter block."""
    import pandas as pd

    from safety_val._io import atomic_write_text
    from safety_val.formats.fit import fit_parameters

    if out is not None:
        check_out(out, inputs=[data], force=force)
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
    if not STATE["quiet"]:
        stdout.print(table)
    text = result.to_yaml()
    if out is None:
        stdout.print(text, markup=False, highlight=False)
    else:
        atomic_write_text(out, text)
        say(f"wrote {escape(str(out))}")


