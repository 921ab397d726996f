"""Plumbing shared by the command modules: consoles, option types, executor, progress.

Every command module imports these (``traffic_ai``'s too); this module imports no
command module, so it can be imported first, from anywhere, without a cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from safety_val.errors import ValidationError

if TYPE_CHECKING:
    from safety_val.execution.base import Executor

STATE: dict[str, bool] = {"quiet": False, "debug": False}
stdout = Console()
stderr = Console(stderr=True)

QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print only results and errors.")]
ExecutorOption = Annotated[str, typer.Option(help="serial | process | ray")]
WorkersOption = Annotated[int | None, typer.Option(help="Worker processes (default: all cores).")]
ReferenceSizeOption = Annotated[int, typer.Option(help="Reference importance sample size.", min=50)]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Overwrite --out if it is an existing file.")
]
OnErrorOption = Annotated[
    str,
    typer.Option(
        "--on-error",
        help="Simulations that end in error or timeout: exclude (count them, leave them out of "
        "the estimate, widen its interval as if they had failed) | raise (stop at the first).",
    ),
]
RankOnOption = Annotated[
    str,
    typer.Option(
        "--rank-on",
        help="What sensitivity ranks: auto (the failure label when it has enough failures, "
        "else the continuous margin g) | output (g or --output as it is) | failure.",
    ),
]
ScenarioFileOption = Annotated[
    Path | None, typer.Option("--scenario", help="Scenario file (default: the one the run names).")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(help="Join a Ray cluster (HOST:PORT or 'auto') instead of starting one locally."),
]


_CONTROL = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI sequences (colours, cursor moves)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC sequences (window title, hyperlinks)
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # any other control character (tab and newline stay)
)


def shown(value: object) -> str:
    r"""User text made safe for the terminal: control sequences removed, rich markup escaped.

    Examples
    --------
    >>> shown("cut-in\x1b]0;pwned\x07 at [bold]night\x1b[31m")
    'cut-in at \\[bold]night'
    """
    return escape(_CONTROL.sub("", str(value)))


def frame_table(frame: Any, title: str) -> Table:
    """A rich table of a small DataFrame (numbers to 4 significant digits)."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.4g}" if isinstance(v, float) else shown(v) for v in row))
    return table


@contextmanager
def open_executor(kind: str, workers: int | None, ray_address: str | None) -> Iterator[Executor]:
    """The executor ``--executor``, ``--workers`` and ``--ray-address`` ask for; closed after."""
    from safety_val.execution.registry import make_executor

    options: dict[str, Any] = {}
    if workers is not None:
        options["n_workers"] = workers
    if ray_address is not None:
        if kind != "ray":
            raise ValidationError(
                "--ray-address needs --executor ray", field="--ray-address", value=ray_address
            )
        options["address"] = ray_address
    pool = make_executor(kind, **options)
    try:
        yield pool
    finally:
        pool.close()


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar with ETA on stderr, shown from the first report of work on."""
    if STATE["quiet"]:
        yield lambda done, total: None
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )
    task = progress.add_task(description, total=None)

    def tick(done: int, total: int | None) -> None:
        if not progress.live.is_started:
            progress.start()
        progress.update(task, completed=done, total=total)

    try:
        yield tick
    finally:
        if progress.live.is_started:
            progress.stop()


def say(text: str) -> None:
    """Print an informational line (not under ``--quiet``), without wrapping paths."""
    if not STATE["quiet"]:
        stdout.print(text, soft_wrap=True)


def check_out(out: Path, *, inputs: list[Path], force: bool) -> None:
    """Refuse an ``--out`` that is one of the command's inputs, or an existing file without --force.

    A path that exists but is no regular file (a device, a pipe, a folder) is left
    to the atomic write, which refuses to replace it.
    """
    for source in inputs:
        try:
            same = out.samefile(source)
        except OSError:  # one of them does not exist (yet)
            same = out.resolve() == source.resolve()
        if same:
            raise ValidationError(
                f"--out is the input {source}; refusing to overwrite it",
                file=out,
                expected="another output path",
            )
    if out.is_file() and not force:
        raise ValidationError(
            "file exists; pass --force to overwrite it", file=out, expected="a new path"
        )
