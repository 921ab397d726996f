"""An external simulator (CARLA, esmini, an in-house tool) run as a command, once per batch.

The batch is written to a temporary file, the command runs (no shell: an argument
list), and its output file is read back and matched to the batch by ``scenario_id``.
Everything that can go wrong with an external program is recorded per scenario and
the run goes on: a hang (``timeout``), a crash (``error`` with the exit code and the
last line of stderr), garbage output (``error`` saying which output line is wrong
and why), missing rows, NaN KPIs.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from safety_val.backends.base import (
    STATUS_ERROR,
    STATUS_OK,
    STATUS_TIMEOUT,
    STATUSES,
    failed_rows,
    normalise_output,
)
from safety_val.backends.callable import check_kpis
from safety_val.errors import ValidationError

__all__ = ["IO_FORMATS", "CommandSimulator"]

IO_FORMATS = ("jsonl", "csv")
INPUT_PLACEHOLDER = "{input}"
OUTPUT_PLACEHOLDER = "{output}"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _resolve_executable(program: str, cwd: Path | None) -> str:
    """Full path of ``program``; :class:`ValidationError` if it cannot be run."""
    if os.sep in program or (os.altsep and os.altsep in program):
        candidate = Path(program)
        if not candidate.is_absolute() and cwd is not None:
            candidate = cwd / candidate
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return program
        raise ValidationError(
            f"command {program!r} not found or not executable", field="argv[0]"
        )
    found = shutil.which(program)
    if found is None:
        raise ValidationError(f"command {program!r} not found on PATH", field="argv[0]")
    return program


def _last_line(path: Path) -> str:
    try:
        data = path.read_bytes()[-4096:]
    except OSError:
        return ""
    lines = [ln.strip() for ln in data.decode("utf-8", errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    return lines[-1] if lines else ""


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class CommandSimulator:
    r"""Run an external simulator once per batch through files.

    Parameters
    ----------
    argv
        The command as an argument list (never run through a shell). ``{input}``
        and ``{output}`` anywhere in an argument are replaced by the paths of the
        input and output files. Without ``{input}`` the input file is fed on
        stdin; without ``{output}`` the output is read from stdout.
    kpis
        Names of the KPIs the program writes for every scenario.
    io_format
        ``"jsonl"`` (one JSON object per line) or ``"csv"`` (header line), used for
        both the input and the output. The input has ``sample_index``,
        ``scenario_id`` and the parameters; the output must have ``scenario_id``
        and the KPIs, and may have ``status`` and ``message`` per scenario.
    timeout
        Seconds allowed per batch. When exceeded, the whole process group of the
        command is killed and every row of the batch is ``timeout``.
    cwd
        Working directory of the command.
    env
        Variables added to (overriding) the inherited environment.

    Raises
    ------
    ValidationError
        Empty ``argv``, a program not found, an unknown ``io_format``, a
        non-positive ``timeout``.

    Examples
    --------
    >>> import sys
    >>> script = (
    ...     "import sys, json\n"
    ...     "for line in open(sys.argv[1]):\n"
    ...     "    row = json.loads(line)\n"
    ...     "    print(json.dumps({'scenario_id': row['scenario_id'], 'gap': 2 * row['x']}))\n"
    ... )
    >>> sim = CommandSimulator([sys.executable, "-c", script, "{input}"], kpis=["gap"])
    >>> sim.run(pd.DataFrame({"scenario_id": ["00aa", "00bb"], "x": [1.0, 2.5]}))
    ... # doctest: +NORMALIZE_WHITESPACE
       gap status message
    0  2.0     ok
    1  5.0     ok
    """

    name = "command"

    def __init__(
        self,
        argv: Sequence[str],
        *,
        kpis: Sequence[str],
        io_format: str = "jsonl",
        timeout: float = 600.0,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(argv, str) or not isinstance(argv, Sequence) or not argv:
            raise ValidationError(
                "must be a non-empty list of arguments",
                field="argv",
                value=argv,
                expected='e.g. ["esmini", "--input", "{input}", "--output", "{output}"]',
            )
        if not all(isinstance(a, str | os.PathLike) for a in argv):
            raise ValidationError("arguments must be strings", field="argv", value=list(argv))
        self.argv = tuple(os.fspath(a) for a in argv)
        self.kpis = check_kpis(kpis)
        if io_format not in IO_FORMATS:
            raise ValidationError(
                "unknown I/O format",
                field="io_format",
                value=io_format,
                expected=" or ".join(IO_FORMATS),
            )
        self.io_format = io_format
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValidationError(
                "must be a positive number of seconds", field="timeout", value=timeout,
                expected="a number > 0",
            )
        self.timeout = float(timeout)
        self.cwd = None if cwd is None else Path(cwd)
        if self.cwd is not None and not self.cwd.is_dir():
            raise ValidationError("directory does not exist", field="cwd", value=str(self.cwd))
        self.env = None if env is None else {str(k): str(v) for k, v in env.items()}
        _resolve_executable(self.argv[0], self.cwd)

    def __repr__(self) -> str:
        return (
            f"CommandSimulator({list(self.argv)!r}, kpis={list(self.kpis)}, "
            f"io_format={self.io_format!r}, timeout={self.timeout:g})"
        )

    # -- running ---------------------------------------------------------------------

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        """Simulate ``batch`` with one run of the command."""
        if "scenario_id" not in batch.columns:
            raise ValueError("the batch has no 'scenario_id' column")
        if batch.empty:
            return normalise_output(batch, pd.DataFrame(index=batch.index), self.kpis,
                                    backend=self.name)
        with tempfile.TemporaryDirectory(prefix="safety-val-cmd-") as folder:
            tmp = Path(folder)
            input_path = tmp / f"input.{self.io_format}"
            output_path = tmp / f"output.{self.io_format}"
            stderr_path = tmp / "stderr.txt"
            self._write_input(batch, input_path)
            argv = [
                a.replace(INPUT_PLACEHOLDER, str(input_path)).replace(
                    OUTPUT_PLACEHOLDER, str(output_path)
                )
                for a in self.argv
            ]
            uses_input = any(INPUT_PLACEHOLDER in a for a in self.argv)
            uses_output = any(OUTPUT_PLACEHOLDER in a for a in self.argv)
            status = self._execute(
                argv, input_path, output_path, stderr_path, uses_input, uses_output
            )
            if status is not None:
                return failed_rows(batch, self.kpis, *status)
            result = self._read_output(batch, output_path)
        return normalise_output(batch, result, self.kpis, backend=self.name)

    def _execute(
        self,
        argv: list[str],
        input_path: Path,
        output_path: Path,
        stderr_path: Path,
        uses_input: bool,
        uses_output: bool,
    ) -> tuple[str, str] | None:
        """Run the command; return ``(status, message)`` for a batch-wide failure."""
        env = None if self.env is None else {**os.environ, **self.env}
        with contextlib.ExitStack() as stack:
            stdin = (
                subprocess.DEVNULL if uses_input else stack.enter_context(input_path.open("rb"))
            )
            stdout = (
                subprocess.DEVNULL if uses_output else stack.enter_context(output_path.open("wb"))
            )
            stderr = stack.enter_context(stderr_path.open("wb"))
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=self.cwd,
                    env=env,
                    start_new_session=True,  # its own process group, killed as a whole
                )
            except OSError as exc:
                return STATUS_ERROR, f"could not start external simulator: {exc}"
            try:
                code = process.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(process)
                return STATUS_TIMEOUT, f"external simulator exceeded {self.timeout:g} s"
            except BaseException:  # KeyboardInterrupt: leave nothing running
                self._kill_group(process)
                raise
        if code != 0:
            last = _last_line(stderr_path)
            return STATUS_ERROR, (
                f"external simulator {_exit_description(code)}"
                + (f"; last stderr line: {last}" if last else "")
            )
        if not output_path.exists():
            return STATUS_ERROR, "external simulator exited with code 0 but wrote no output file"
        return None

    @staticmethod
    def _kill_group(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    # -- files -----------------------------------------------------------------------

    def _write_input(self, batch: pd.DataFrame, path: Path) -> None:
        if self.io_format == "csv":
            batch.to_csv(path, index=False)
            return
        with path.open("w", encoding="utf-8") as handle:
            for record in batch.to_dict(orient="records"):
                handle.write(json.dumps(record, default=_json_default) + "\n")

    def _records(self, path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
        """Parse the output file: records with their line numbers, and the problems found."""
        records: list[tuple[int, dict[str, Any]]] = []
        problems: list[str] = []
        with path.open(encoding="utf-8", errors="replace", newline="") as handle:
            if self.io_format == "csv":
                reader = csv.DictReader(handle)
                if reader.fieldnames is None:
                    return records, ["the output is empty"]
                for row in reader:
                    if None in row:
                        problems.append(
                            f"output line {reader.line_num} has more fields than the header"
                        )
                        continue
                    records.append((reader.line_num, dict(row)))
                return records, problems
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    problems.append(f"output line {number} is not valid JSON: {exc}")
                    continue
                if not isinstance(value, dict):
                    problems.append(f"output line {number} is not a JSON object")
                    continue
                records.append((number, value))
        return records, problems

    def _read_output(self, batch: pd.DataFrame, path: Path) -> pd.DataFrame:
        """Match the output records to the batch's rows by ``scenario_id``."""
        records, problems = self._records(path)
        rows_of: dict[str, list[Any]] = {}
        for index, scenario_id in batch["scenario_id"].items():
            rows_of.setdefault(str(scenario_id), []).append(index)
        columns: dict[str, dict[Any, Any]] = {k: {} for k in (*self.kpis, "status", "message")}
        seen: dict[str, int] = {}
        for number, record in records:
            if "scenario_id" not in record or record["scenario_id"] in (None, ""):
                problems.append(f"output line {number} has no 'scenario_id'")
                continue
            scenario_id = str(record["scenario_id"])
            if scenario_id not in rows_of:
                problems.append(f"output line {number} has unknown scenario_id {scenario_id!r}")
                continue
            if scenario_id in seen:
                status, message = STATUS_ERROR, (
                    f"scenario_id {scenario_id!r} appears twice in the output "
                    f"(lines {seen[scenario_id]} and {number})"
                )
                values: dict[str, Any] = {k: math.nan for k in self.kpis}
            else:
                seen[scenario_id] = number
                values, status, message = self._parse_record(number, record)
            for index in rows_of[scenario_id]:
                for kpi, value in values.items():
                    columns[kpi][index] = value
                columns["status"][index] = status
                columns["message"][index] = message
        result = pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()})
        result = result.reindex(batch.index)
        missing = result["status"].isna()
        if missing.any():
            hint = f" ({problems[0]})" if problems else ""
            result.loc[missing, "status"] = STATUS_ERROR
            result.loc[missing, "message"] = f"no result for this scenario in the output{hint}"
        for kpi in self.kpis:
            result[kpi] = pd.to_numeric(result[kpi], errors="coerce").astype(float)
        return result

    def _parse_record(
        self, number: int, record: Mapping[str, Any]
    ) -> tuple[dict[str, Any], str, str]:
        """KPI values, status and message of one output record."""
        values: dict[str, Any] = {}
        errors: list[str] = []
        for kpi in self.kpis:
            raw = record.get(kpi)
            if kpi not in record:
                errors.append(f"output line {number} has no KPI {kpi!r}")
                values[kpi] = math.nan
            elif raw is None or raw == "":
                values[kpi] = math.nan  # normalise_output reports it as NaN
            elif isinstance(raw, bool | int | float):
                values[kpi] = float(raw)
            elif str(raw).strip().lower() in ("true", "false"):  # CSV booleans
                values[kpi] = float(str(raw).strip().lower() == "true")
            else:
                try:
                    values[kpi] = float(str(raw).strip())
                except ValueError:
                    errors.append(f"output line {number}: KPI {kpi!r} is not a number: {raw!r}")
                    values[kpi] = math.nan
        status = str(record.get("status") or STATUS_OK)
        message = str(record.get("message") or "")
        if status not in STATUSES:
            errors.append(
                f"output line {number} has invalid status {status!r} "
                f"(expected one of {', '.join(STATUSES)})"
            )
        if errors:
            return values, STATUS_ERROR, "; ".join(errors)
        return values, status, message
