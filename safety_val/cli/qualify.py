"""``safety-val qualify``: run the tool-qualification suite, or verify a report's seal.

:func:`register` is called by :mod:`safety_val.cli.application` when it builds its app.
Exit codes: 0 when every requirement passed (or the seal verified); 1 when one did not
pass (or the seal does not match), with one ``error:`` line on stderr; 2 for bad input.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from safety_val.cli.common import ForceOption, WorkersOption, progress_bar, say, shown, stdout
from safety_val.errors import SafetyValError, ValidationError

if TYPE_CHECKING:
    from safety_val.qualify import QualificationReport
    from safety_val.qualify.requirement import Mode

__all__ = ["register"]

_VERDICT_STYLE = {"pass": "green", "fail": "red", "error": "red"}


def qualify(
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for qualification.json and qualification.html."),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="The stated quick subset with smaller budgets (minutes, not half an hour).",
        ),
    ] = False,
    workers: WorkersOption = None,
    verify: Annotated[
        Path | None,
        typer.Option(
            "--verify",
            help="Check the SHA-256 seal (and the schema) of a qualification.json, then exit.",
        ),
    ] = None,
    force: ForceOption = False,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select",
            hidden=True,
            help="Run only the requirements whose id matches (shell pattern); a partial run.",
        ),
    ] = None,
) -> None:
    """Validate the installed tool against its qualification requirements (ISO 26262-8 §11)."""
    if verify is not None:
        if out is not None or quick or select:
            raise ValidationError(
                "--verify checks an existing report and runs nothing",
                field="--verify",
                expected="--verify FILE alone",
            )
        _verify(verify)
        return
    if out is None:
        raise ValidationError(
            "the folder for the report is missing",
            field="--out",
            expected="--out DIR (or --verify FILE)",
        )
    _check_out(out, force=force)
    if workers is not None and workers < 1:
        raise ValidationError(
            "must be a positive int", field="--workers", value=workers, expected="an int >= 1"
        )
    import matplotlib

    matplotlib.use("Agg")
    from safety_val.qualify import run_qualification, write_qualification
    from safety_val.qualify.suite import select_requirements

    mode: Mode = "quick" if quick else "full"
    total = len(select_requirements(mode, select))
    say(
        f"qualifying safety-val: {total} requirements ({mode}"
        + (", partial selection" if select else "")
        + ")"
    )
    with progress_bar(f"qualify ({mode})") as tick:
        tick(0, total)
        report = run_qualification(
            quick=quick,
            select=select,
            workers=workers,
            progress=lambda done, n, _id: tick(done, n),
        )
    command = _command_line(quick=quick, select=select, workers=workers, out=out)
    json_path, html_path, document = write_qualification(report, out, command=command)
    stdout.print(_table(report))
    counts = report.counts
    colour = "green" if report.passed else "red"
    stdout.print(
        f"[bold {colour}]{'PASSED' if report.passed else 'FAILED'}[/]: {counts['pass']} of "
        f"{len(report.results)} requirements passed ({shown(report.scope)}); "
        f"{report.wall_s:.0f} s",
        soft_wrap=True,
    )
    seal = document["integrity"]["sha256"]
    stdout.print(f"sha256 {seal}  {escape(str(json_path))}", soft_wrap=True)
    say(f"wrote {escape(str(json_path))} and {escape(str(html_path))}")
    if not report.passed:
        not_passed = [row.id for row in report.results if not row.passed]
        raise SafetyValError(
            f"qualification failed: {len(not_passed)} of {len(report.results)} requirements did "
            f"not pass ({', '.join(not_passed)}); see {html_path}"
        )


def _command_line(
    *, quick: bool, select: list[str] | None, workers: int | None, out: Path
) -> str:
    """The command line that reproduces this run (recorded in the report)."""
    words = ["safety-val", "qualify"]
    if quick:
        words.append("--quick")
    for pattern in select or ():
        words += ["--select", pattern]
    if workers is not None:
        words += ["--workers", str(workers)]
    words += ["--out", str(out)]
    return shlex.join(words)


def _check_out(out: Path, *, force: bool) -> None:
    from safety_val.qualify import JSON_NAME

    if out.exists() and not out.is_dir():
        raise ValidationError(
            "exists and is not a folder", file=out, expected="a folder for the report"
        )
    if (out / JSON_NAME).exists() and not force:
        raise ValidationError(
            "a qualification report is already there; pass --force to replace it",
            file=out / JSON_NAME,
            expected="a new folder",
        )


def _table(report: QualificationReport) -> Table:
    table = Table(title="tool qualification", show_lines=False)
    for column, justify in (
        ("id", "left"),
        ("requirement", "left"),
        ("measured", "left"),
        ("verdict", "left"),
        ("s", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in report.results:
        style = _VERDICT_STYLE[row.verdict]
        table.add_row(
            shown(row.id),
            shown(row.title),
            shown(row.measured),
            f"[{style}]{row.verdict}[/]",
            f"{row.duration_s:.1f}",
        )
    return table


def _verify(path: Path) -> None:
    from safety_val.qualify import load_document, validate_document, verify_document

    document = load_document(path)
    matches, stored, computed = verify_document(document)
    if not matches:
        raise SafetyValError(
            f"{path}: the SHA-256 does not match: the file was changed after it was written "
            f"(stored {stored or 'none'}, computed {computed})"
        )
    try:
        validate_document(document, file=path)
        schema_note = "schema valid"
    except RuntimeError as exc:  # jsonschema not installed
        schema_note = str(exc)
    summary = document.get("summary", {})
    stdout.print(
        f"[bold green]VERIFIED[/]: sha256 {computed}; {schema_note}; suite "
        f"{shown(document.get('suite', {}).get('version'))}, {shown(document.get('mode'))}, "
        f"{shown(summary.get('verdict'))} ({shown(summary.get('n_pass'))} of "
        f"{shown(summary.get('n_requirements'))} passed)",
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the ``qualify`` command to ``app``."""
    app.command("qualify")(qualify)
