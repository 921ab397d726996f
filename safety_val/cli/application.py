"""The ``safety-val`` application: its command groups, registered here in one place, and ``main``.

Errors in user input, and in the user's environment (a path that cannot be written, a
full disk, input nested beyond reason), print one line on stderr and exit with code 2;
``--debug`` (anywhere on the command line) shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from safety_val.cli import analysis, campaign, definitions, pipeline, qualify, report, simulation
from safety_val.cli.common import STATE, QuietOption, stderr
from safety_val.errors import SafetyValError, ValidationError
from traffic_ai.cli import app as traffic_app

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
_INTERRUPTED: tuple[type[BaseException], ...] = (*_CLICK_ABORT, KeyboardInterrupt)

app = typer.Typer(
    name="safety-val",
    help="Scenario-based safety validation of automated driving systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



@app.callback()
def _root(
    quiet: QuietOption = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Scenario-based safety validation of automated driving systems.

    ``--quiet`` and ``--debug`` may stand anywhere on the command line.
    """
    STATE["quiet"] = STATE["quiet"] or quiet
    STATE["debug"] = STATE["debug"] or debug



for _group in (definitions, simulation, analysis, pipeline, report, campaign, qualify):
    _group.register(app)
app.add_typer(traffic_app, name="traffic")


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


def _error_line(exc: Exception) -> tuple[str, int]:
    """The one line and the exit code of an error that ended a command.

    Bad input and the user's environment (a path, a permission, a full disk, input
    nested or sized beyond reason) exit 2; our own refusals (:class:`SafetyValError`)
    exit 1; anything else is an internal error (exit 1), i.e. our bug.
    """
    if isinstance(exc, ValidationError):
        return f"error: {exc}", 2
    if isinstance(exc, OSError):
        cause = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
        where = f"{exc.filename}: " if exc.filename else ""
        return f"error: {where}{cause}", 2
    if isinstance(exc, RecursionError | MemoryError):
        return (
            "error: the input is too deeply nested or too large to process "
            f"({type(exc).__name__})",
            2,
        )
    if isinstance(exc, SafetyValError):
        return f"error: {exc}", 1
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (
        f"internal error: {type(exc).__name__}: {first} (run with --debug for the traceback)",
        1,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 for bad input)."""
    import warnings

    warnings.showwarning = _show_warning
    args = list(sys.argv[1:] if argv is None else argv)
    STATE.update(quiet=False, debug=False)
    for flag, key in (("--debug", "debug"), ("--quiet", "quiet"), ("-q", "quiet")):
        while flag in args:
            args.remove(flag)
            STATE[key] = True
    try:
        app(args=args, prog_name="safety-val", standalone_mode=False)
    except _CLICK_EXIT as exc:
        return int(getattr(exc, "exit_code", 0))
    except _CLICK_ERROR as exc:
        exc.show()  # type: ignore[attr-defined]
        return int(getattr(exc, "exit_code", 2))
    except _INTERRUPTED:
        stderr.print("interrupted; continue a simulation with --resume", markup=False)
        return 130
    except Exception as exc:
        if STATE["debug"]:
            raise
        line, code = _error_line(exc)
        stderr.print(line, markup=False, highlight=False, soft_wrap=True)
        return code
    return 0


