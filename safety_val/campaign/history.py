"""The run history of campaigns: Parquet files plus an embedded DuckDB catalogue.

Layout of a history folder::

    runs/<run_id>.parquet    one file per campaign run (one row per job), written atomically
    history.duckdb           catalogue: table ``files`` (every Parquet file, readable or not)
                             and view ``results`` over the readable ones

The Parquet files are the record; the catalogue is derived from them and rebuilt
whenever the set of files changes (or with :meth:`RunHistory.rebuild`), itself written
to a temporary name and renamed. A damaged Parquet file never hides the others: it is
listed in :attr:`HistoryTable.unreadable` with the reason, and asking for that run by
name raises a :class:`~safety_val.errors.ValidationError` naming the file.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from safety_val._io import atomic_path
from safety_val.errors import ValidationError

__all__ = ["HISTORY_COLUMNS", "HistoryTable", "RunHistory", "normalise", "summarise_runs"]

HISTORY_COLUMNS: dict[str, str] = {
    "campaign": "string",
    "run_id": "string",
    "run_time": "string",
    "job": "string",
    "scenario": "string",
    "scenario_file": "string",
    "scenario_sha256": "string",
    "fixed": "string",
    "fixed_sha256": "string",
    "analysis": "string",
    "budget": "int64",
    "method": "string",
    "seed": "int64",
    "pf": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "cov": "float64",
    "beta": "float64",
    "n_calls": "int64",
    "new_simulations": "int64",
    "converged": "bool",
    "target": "float64",
    "verdict": "string",
    "previous_run_id": "string",
    "ratio": "float64",
    "z": "float64",
    "p_value": "float64",
    "alpha": "float64",
    "regression": "bool",
    "reused": "bool",
    "run_dir": "string",
    "safety_val_version": "string",
    "git_commit": "string",
    "config_sha256": "string",
    "seconds": "float64",
}
"""Columns of a history file and their pandas dtypes (one row per job of a campaign run)."""

RUNS = "runs"
CATALOGUE = "history.duckdb"
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class HistoryTable:
    """Rows read from a history, and the files that could not be read.

    Attributes
    ----------
    frame
        One row per job and campaign run (columns :data:`HISTORY_COLUMNS`), oldest first.
    unreadable
        ``(file, reason)`` of every Parquet file that could not be read.
    """

    frame: pd.DataFrame
    unreadable: tuple[tuple[str, str], ...] = field(default=())


class RunHistory:
    """A history folder of campaign runs.

    Parameters
    ----------
    path
        The history folder (created on the first :meth:`append`).

    Examples
    --------
    >>> import tempfile
    >>> row = {c: None for c in HISTORY_COLUMNS} | {"campaign": "nightly", "run_id": "r1",
    ...        "run_time": "2026-01-01T00:00:00+00:00", "job": "cut_in/estimate/2000",
    ...        "budget": 2000, "seed": 0, "pf": 0.03, "n_calls": 2000, "new_simulations": 0}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     history = RunHistory(folder)
    ...     _ = history.append(pd.DataFrame([row]))
    ...     table = history.load()
    ...     print(table.frame[["run_id", "job", "pf"]].to_string(index=False), table.unreadable)
    run_id                  job   pf
        r1 cut_in/estimate/2000 0.03 ()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def runs_folder(self) -> Path:
        """The folder of the Parquet files."""
        return self.path / RUNS

    @property
    def catalogue(self) -> Path:
        """The DuckDB catalogue file."""
        return self.path / CATALOGUE

    # -- writing -------------------------------------------------------------------------------

    def append(self, rows: pd.DataFrame) -> Path:
        """Write the rows of one campaign run as ``runs/<run_id>.parquet`` (atomically).

        Parameters
        ----------
        rows
            One row per job, all with the same ``run_id``; columns :data:`HISTORY_COLUMNS`
            (missing ones are filled with nulls, extra ones are refused).

        Returns
        -------
        pathlib.Path
            The Parquet file written.

        Raises
        ------
        ValidationError
            Several run ids, an unknown column, or a run id already in the history.
        """
        frame = normalise(rows)
        run_ids = frame["run_id"].dropna().unique().tolist()
        if len(run_ids) != 1 or not _RUN_ID.match(str(run_ids[0])):
            raise ValidationError(
                "a history file holds exactly one campaign run",
                field="run_id",
                value=run_ids,
                expected="one run id of letters, digits, '.', '_' or '-'",
            )
        file = self.runs_folder / f"{run_ids[0]}.parquet"
        if file.exists():
            raise ValidationError("run already in the history", file=file, field="run_id")
        self.runs_folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(file) as tmp:
            frame.to_parquet(tmp, index=False)
        self.rebuild()
        return file

    def rebuild(self) -> Path:
        """Rebuild ``history.duckdb`` from the Parquet files (atomically) and return it."""
        import duckdb

        self.path.mkdir(parents=True, exist_ok=True)
        files = self._scan()
        with atomic_path(self.catalogue) as tmp:
            tmp.unlink()
            connection = duckdb.connect(str(tmp))
            try:
                connection.execute(
                    "CREATE TABLE files (file VARCHAR, run_id VARCHAR, bytes BIGINT, "
                    "mtime_ns BIGINT, readable BOOLEAN, error VARCHAR)"
                )
                if files:
                    connection.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)", files)
                readable = [row[0] for row in files if row[4]]
                if readable:
                    listing = ", ".join(_sql_string(f) for f in readable)
                    connection.execute(
                        "CREATE VIEW results AS SELECT * FROM "
                        f"read_parquet([{listing}], union_by_name = true)"
                    )
                else:
                    columns = ", ".join(
                        f"CAST(NULL AS {_SQL_TYPES[t]}) AS {c}" for c, t in HISTORY_COLUMNS.items()
                    )
                    connection.execute(f"CREATE VIEW results AS SELECT {columns} WHERE false")
            finally:
                connection.close()
            with contextlib.suppress(FileNotFoundError):
                tmp.with_name(tmp.name + ".wal").unlink()
        return self.catalogue

    # -- reading -------------------------------------------------------------------------------

    def load(self, *, campaign: str | None = None, scenario: str | None = None) -> HistoryTable:
        """All readable rows (optionally of one campaign or scenario), oldest run first."""
        import duckdb

        if not self.runs_folder.is_dir():
            return HistoryTable(normalise(pd.DataFrame()))
        self._refresh()
        connection = duckdb.connect(str(self.catalogue), read_only=True)
        try:
            conditions, arguments = [], []
            for column, value in (("campaign", campaign), ("scenario", scenario)):
                if value is not None:
                    conditions.append(f"{column} = ?")
                    arguments.append(value)
            where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
            frame = connection.execute(
                f"SELECT * FROM results{where} ORDER BY run_time, run_id, job", arguments
            ).df()
            bad = connection.execute(
                "SELECT file, error FROM files WHERE NOT readable ORDER BY file"
            ).fetchall()
        finally:
            connection.close()
        return HistoryTable(normalise(frame), tuple((str(f), str(e)) for f, e in bad))

    def run(self, run_id: str) -> pd.DataFrame:
        """The rows of one campaign run; ``run_id`` may be an unambiguous prefix.

        Raises
        ------
        ValidationError
            No such run, an ambiguous prefix, or its Parquet file is unreadable (the
            message names the file).
        """
        matches = sorted(p for p in self._files() if p.stem.startswith(run_id))
        exact = [p for p in matches if p.stem == run_id]
        matches = exact or matches
        if len(matches) != 1:
            known = ", ".join(p.stem for p in self._files()[-5:]) or "none"
            raise ValidationError(
                "no such campaign run" if not matches else "ambiguous campaign run",
                file=self.runs_folder,
                field="run_id",
                value=run_id,
                expected=f"a run id of this history (latest: {known})",
            )
        file = matches[0]
        try:
            return normalise(pd.read_parquet(file))
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise ValidationError(
                f"unreadable history file: {_first_line(exc)}",
                file=file,
                expected="a Parquet file written by 'safety-val campaign run'",
            ) from None

    def previous(self, campaign: str, job: str, *, exclude_run: str | None = None) -> pd.Series:
        """The latest readable row of ``job`` in ``campaign`` (an empty Series if none)."""
        frame = self.load(campaign=campaign).frame
        frame = frame[(frame["job"] == job) & (frame["run_id"] != (exclude_run or ""))]
        if frame.empty:
            return pd.Series(dtype=object)
        return frame.iloc[-1]

    # -- internals -----------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if not self.runs_folder.is_dir():
            return []
        return sorted(
            p for p in self.runs_folder.glob("*.parquet") if not p.name.startswith((".", "_"))
        )

    def _scan(self) -> list[tuple[str, str, int, int, bool, str]]:
        import pyarrow.parquet as pq

        rows = []
        for file in self._files():
            stat = file.stat()
            try:
                pq.read_table(file)
            except Exception as exc:  # pyarrow raises several types for damaged files
                readable, error = False, _first_line(exc)
            else:
                readable, error = True, ""
            rows.append(
                (str(file.resolve()), file.stem, stat.st_size, stat.st_mtime_ns, readable, error)
            )
        return rows

    def _refresh(self) -> None:
        """Rebuild the catalogue if it is missing or the Parquet files changed."""
        import duckdb

        on_disk = {
            (str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in self._files()
        }
        if self.catalogue.exists():
            try:
                connection = duckdb.connect(str(self.catalogue), read_only=True)
                try:
                    known = set(
                        connection.execute("SELECT file, bytes, mtime_ns FROM files").fetchall()
                    )
                finally:
                    connection.close()
            except duckdb.Error:
                known = set()
            if known == on_disk:
                return
        self.rebuild()


def normalise(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with exactly the columns of :data:`HISTORY_COLUMNS`, in order, typed."""
    unknown = [c for c in rows.columns if c not in HISTORY_COLUMNS]
    if unknown:
        raise ValidationError(
            "unknown history column", field="columns", value=unknown, expected="HISTORY_COLUMNS"
        )
    frame = pd.DataFrame(index=rows.index)
    for column, dtype in HISTORY_COLUMNS.items():
        values = rows[column] if column in rows else pd.Series(None, index=rows.index)
        kind: Any = {"int64": "Int64", "bool": "boolean", "string": "string"}.get(dtype, dtype)
        frame[column] = values.astype(object).where(values.notna(), None).astype(kind)
    return frame.reset_index(drop=True)


_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "float64": "DOUBLE", "bool": "BOOLEAN"}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


def summarise_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per campaign run: run id, time, jobs, targets missed, regressions."""
    if frame.empty:
        return pd.DataFrame(
            columns=["run_id", "campaign", "run_time", "jobs", "not_met", "regressions"]
        )
    grouped = frame.groupby(["run_id", "campaign", "run_time"], sort=False, dropna=False)
    out = grouped.agg(
        jobs=("job", "size"),
        not_met=("verdict", lambda v: int((v == "not met").sum())),
        regressions=("regression", lambda v: int(v.fillna(False).astype(bool).sum())),
    ).reset_index()
    return out.sort_values(["run_time", "run_id"]).reset_index(drop=True)
