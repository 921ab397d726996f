"""Run the installed ``safety-val`` command line in child processes, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CommandResult", "cli_command", "run_commands"]


@dataclass(frozen=True)
class CommandResult:
    """Exit code, output and duration of one child process."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def cli_command(*arguments: str | Path) -> list[str]:
    """``python -m safety_val ARGUMENTS`` with this interpreter (the installed package)."""
    return [sys.executable, "-m", "safety_val", *(str(a) for a in arguments)]


def run_commands(
    commands: Sequence[Sequence[str]],
    *,
    parallel: int,
    timeout: float,
    envs: Sequence[Mapping[str, str]] | None = None,
) -> list[CommandResult]:
    """Run ``commands`` at most ``parallel`` at a time; results in the order given.

    ``envs``, if given, holds per command the variables added to this process's
    environment.

    Raises
    ------
    subprocess.TimeoutExpired
        A command ran longer than ``timeout`` seconds (it is killed first).
    """
    results: list[CommandResult | None] = [None] * len(commands)
    running: dict[int, tuple[subprocess.Popen[str], float]] = {}
    queue = list(range(len(commands)))
    while queue or running:
        while queue and len(running) < max(1, parallel):
            index = queue.pop(0)
            process = subprocess.Popen(
                list(commands[index]),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, **(envs[index] if envs else {})},
            )
            running[index] = (process, time.perf_counter())
        for index, (process, started) in list(running.items()):
            if process.poll() is None:
                if time.perf_counter() - started > timeout:
                    process.kill()
                    process.communicate()
                    raise subprocess.TimeoutExpired(list(commands[index]), timeout)
                continue
            stdout, stderr = process.communicate()
            results[index] = CommandResult(
                argv=tuple(commands[index]),
                returncode=int(process.returncode),
                stdout=stdout,
                stderr=stderr,
                seconds=time.perf_counter() - started,
            )
            del running[index]
        time.sleep(0.05)
    return [r for r in results if r is not None]
