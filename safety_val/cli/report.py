"""The ``report`` and ``replay`` commands of the ``safety-val`` CLI (thin wrappers).

:func:`register` is called by :mod:`safety_val.cli.application` when it builds its app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from safety_val.cli.common import ForceOption, check_out, say, stdout
from safety_val.errors import ValidationError

__all__ = ["register"]

RunArgument = Annotated[
    Path, typer.Argument(help="A run directory of 'safety-val run' or 'safety-val estimate'.")
]


def report(
    run: RunArgument,
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format", "-f", help="html, md, json (repeat or comma-separate; default: all)."
        ),
    ] = None,
    target: Annotated[
        float | None,
        typer.Option(
            help="Acceptance target pf per exposure, in (0, 1) (default: the run's, else 1e-7)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder, or a file when one format (default: RUN/report)."
        ),
    ] = None,
) -> None:
    """Write the failure-probability report of a run: verdict against the target first."""
    import matplotlib

    matplotlib.use("Agg")
    from rich.markup import escape

    from safety_val.report import build_report, check_target, write_report

    if target is not None:
        check_target(target, field="--target")
    built = build_report(run, target=target)
    files = write_report(built, formats=formats or ("html", "md", "json"), out=out)
    verdict = built.verdict
    colour = {"met": "green", "not met": "red"}.get(verdict.status, "yellow")
    stdout.print(
        f"[bold {colour}]{escape(verdict.status.upper())}[/]: {escape(verdict.explanation)}",
        soft_wrap=True,
    )
    for file in files:
        say(f"wrote {escape(str(file))}")


def replay(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    scenario_id: Annotated[
        str, typer.Argument(help="The concrete scenario's id (column 'scenario_id').")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="File to write (default: RUN/replay/<id>.<format>)."),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option("--format", "-f", help="png | html (default: from --out's suffix, else png)."),
    ] = None,
    scenario_file: Annotated[
        Path | None,
        typer.Option("--scenario", help="Scenario file (default: the one the run names)."),
    ] = None,
    force: ForceOption = False,
) -> None:
    """Re-simulate one concrete scenario and plot positions, speeds and TTC over time."""
    import matplotlib

    matplotlib.use("Agg")
    from rich.markup import escape

    from safety_val._io import atomic_write_bytes, atomic_write_text
    from safety_val.report.replay import replay as replay_scenario

    kind = (output_format or (out.suffix.lstrip(".") if out is not None else "") or "png").lower()
    if kind not in ("png", "html"):
        raise ValidationError(
            "unknown replay format", field="--format", value=kind, expected="png or html"
        )
    if out is not None and out.suffix and out.suffix.lstrip(".").lower() != kind:
        raise ValidationError(
            "the output file's suffix does not match the format",
            field="--out",
            value=str(out),
            expected=f"a .{kind} file",
        )
    if out is not None:
        check_out(out, inputs=[p for p in (scenario_file,) if p is not None], force=force)
    result = replay_scenario(run, scenario_id, scenario_file=scenario_file)
    target = out if out is not None else run / "replay" / f"{result.scenario_id}.{kind}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "html":
        atomic_write_text(target, result.to_html())
    else:
        atomic_write_bytes(target, result.to_png())
    table = result.kpi_table()
    for row in table.itertuples(index=False):
        mark = "" if row.equal else "   [red]differs[/]"
        stdout.print(
            f"{escape(str(row.kpi))}: stored {row.stored:.6g}, replayed {row.replayed:.6g}{mark}"
        )
    colour = "green" if result.matches else "red"
    stdout.print(f"[{colour}]{escape(result.summary())}[/]", soft_wrap=True)
    say(f"wrote {escape(str(target))}")


def register(app: typer.Typer) -> None:
    """Add the ``report`` and ``replay`` commands to ``app``."""
    app.command("report")(report)
    app.command("replay")(replay)
