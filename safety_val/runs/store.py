"""Run directories: a manifest, the design, and results written incrementally as Parquet.

Layout of a run directory::

    manifest.json               what was run, with which versions, how long it took, status
    design.parquet              every concrete scenario of the design (sample_index, scenario_id,
                                parameters)
    samples/part-000001.parquet results, one file per finished batch, written atomically
    samples/_corrupt/           part files found damaged after a crash (kept for inspection)

Every file is written to a temporary name, flushed and renamed (see
:mod:`safety_val._io`), so a crash leaves either a complete file or a temporary
one, which :meth:`RunStore.open` deletes.

A run directory has one writer at a time: the first write (:meth:`RunStore.create`,
:meth:`~RunStore.append`, a manifest update, :meth:`~RunStore.compact`) takes an
exclusive lock on ``.lock`` in it (``flock``), held by the process until it exits or
:meth:`RunStore.release` is called, and released by the kernel when the process is
killed. A second process that tries to write gets a one-line error instead of writing
duplicate rows; a reader (a notebook, a report) never needs the lock and never deletes
what a live writer has in flight: :meth:`RunStore.open` cleans temporary files up only
when no other process holds the lock. The same process may open its own run again.
A folder that a killed process left before its manifest existed (only the lock, an
empty ``samples/``, a design, temporary files) counts as empty: creating the run there
again loses nothing.

A part file damaged anyway (a copy cut
short, a full disk) is moved to ``samples/_corrupt/`` with a warning and its rows
become pending again: resuming never loses a scenario and never duplicates one.
``samples/`` stays readable as one dataset with ``pandas.read_parquet(path / "samples")``
(Parquet readers skip names starting with ``_`` or ``.``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import sys
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from os import PathLike
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from safety_val._io import (
    atomic_path,
    atomic_write_text,
    is_temp_file,
    remove_stale_temp_files,
)
from safety_val.errors import ValidationError

__all__ = [
    "COMPATIBILITY_FIELDS",
    "SCHEMA_VERSION",
    "RunStore",
    "environment_info",
    "file_sha256",
    "lock_writer",
    "release_writer",
]

try:  # POSIX; elsewhere run directories are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

SCHEMA_VERSION = 1
LOCK = ".lock"
MANIFEST = "manifest.json"
DESIGN = "design.parquet"
SAMPLES = "samples"
CORRUPT = "_corrupt"
COMPATIBILITY_FIELDS = ("scenario_sha256", "seed", "design", "n", "purpose")
"""Manifest fields that must match for a run to be resumed."""

_PART = re.compile(r"^part-(\d{6,})\.parquet$")
_PACKAGES = {
    "numpy": "numpy",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "openturns": "openturns",
    "ray": "ray",
    "safety_val": "safety-val",
}


_HELD: dict[Path, int] = {}
"""Run directories this process holds the lock of: resolved path -> the lock file's fd."""


def _lock(root: Path) -> None:
    """Take ``root``'s exclusive writer lock for this process (again: a no-op).

    Raises
    ------
    ValidationError
        Another process holds the lock (it is writing into the run directory), or
        the lock file cannot be created (e.g. a read-only folder).
    """
    key = root.resolve()
    if key in _HELD or fcntl is None:
        return
    try:
        fd = os.open(key / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ValidationError(
            f"cannot lock the run directory: {exc.strerror or exc}", file=key / LOCK
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (pid {int(os.pread(fd, 32, 0).decode().strip())})"
        os.close(fd)
        raise ValidationError(
            f"another process{holder} is writing into this run directory; wait for it to "
            "finish or choose another --out",
            file=key,
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[key] = fd


def _try_lock(root: Path) -> bool:
    """Take the writer lock if no other process holds it; whether this process has it."""
    try:
        _lock(root)
    except ValidationError:
        return False
    return True


def _unlock(root: Path) -> None:
    fd = _HELD.pop(root.resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor releases the flock


def lock_writer(root: str | PathLike[str]) -> None:
    """Take the exclusive writer lock of a folder of runs (``pipeline``'s run directory).

    The same lock as a run directory's: a second process gets a one-line
    :class:`ValidationError` naming the holder's pid; this process may take it again.
    """
    _lock(Path(root))


def release_writer(root: str | PathLike[str]) -> None:
    """Release the lock :func:`lock_writer` took (no-op when this process does not hold it)."""
    _unlock(Path(root))


def _is_empty_or_unfinished(root: Path) -> bool:
    """Whether ``root`` holds nothing a run would lose.

    It is empty, or a killed :meth:`RunStore.create` left it before the manifest was
    written (the lock, the design, an empty ``samples/``, temporary files).
    """
    if (root / MANIFEST).exists():
        return False
    for entry in root.iterdir():
        if entry.name in (LOCK, DESIGN) and entry.is_file():
            continue
        if entry.is_file() and is_temp_file(entry):
            continue
        if entry.name == SAMPLES and entry.is_dir() and all(
            child.is_file() and is_temp_file(child) for child in entry.iterdir()
        ):
            continue
        return False
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def environment_info() -> dict[str, str]:
    """Versions of Python and of the packages that shape a run's results.

    Packages are looked up in the installed metadata, without importing them.

    Examples
    --------
    >>> info = environment_info()
    >>> sorted(info) == sorted(["python", "platform", *_PACKAGES])
    True
    """
    info = {"python": platform.python_version(), "platform": platform.platform()}
    for key, dist in _PACKAGES.items():
        try:
            info[key] = version(dist)
        except PackageNotFoundError:
            module = sys.modules.get(key)
            info[key] = str(getattr(module, "__version__", "not installed"))
    return info


def file_sha256(path: str | PathLike[str]) -> str:
    """Hexadecimal SHA-256 of a file (identifies a scenario file in the manifest)."""
    import hashlib

    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PathLike):
        return str(Path(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _refuse_existing(root: Path) -> None:
    """Refuse to create a run where something other than an unfinished run of ours is."""
    if root.exists() and (not root.is_dir() or not _is_empty_or_unfinished(root)):
        raise ValidationError(
            f"run directory '{root}' already exists and is not empty; pass --resume to "
            "continue it or choose another --out"
        )


def _check_frame(frame: pd.DataFrame, what: str) -> None:
    missing = [c for c in ("sample_index", "scenario_id") if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the {what} lacks required columns",
            field=what,
            value=missing,
            expected="columns sample_index, scenario_id",
        )


class RunStore:
    """A run directory: manifest, design and incrementally written results.

    Use :meth:`create` for a new run and :meth:`open` to resume or read one.

    Attributes
    ----------
    path
        The run directory.
    manifest
        The manifest as a dict (kept in sync with ``manifest.json``).

    Examples
    --------
    >>> import tempfile
    >>> design = pd.DataFrame({"sample_index": [0, 1, 2], "scenario_id": ["a1", "b2", "c3"],
    ...                        "speed": [20.0, 25.0, 30.0]})
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     store = RunStore.create(Path(folder) / "run", manifest={"seed": 1}, design=design)
    ...     _ = store.append(design.iloc[:2].assign(min_ttc=[2.0, 3.0], status="ok", message=""))
    ...     print(store.pending()["sample_index"].tolist(), len(store.read_samples()))
    [2] 2
    """

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self._design: pd.DataFrame | None = None
        self._part_indices: dict[str, np.ndarray] = {}

    # -- creating and opening ----------------------------------------------------------

    @classmethod
    def create(
        cls, path: str | PathLike[str], *, manifest: Mapping[str, Any], design: pd.DataFrame
    ) -> Self:
        """Create a new run directory holding ``design``.

        Parameters
        ----------
        path
            The run directory; it must not exist or be empty.
        manifest
            Fields of the manifest (scenario, scenario_sha256, seed, design, n,
            batch size, executor, ...). ``schema_version``, ``created``, ``updated``,
            ``status`` ("running"), ``n`` and ``versions`` (:func:`environment_info`)
            are filled in when absent.
        design
            All concrete scenarios: ``sample_index`` (unique), ``scenario_id``, parameters.
            With ``manifest["open_design"] = True`` (adaptive algorithms, which choose
            their points as they go) the design may be empty and :meth:`append`
            accepts rows with any new ``sample_index``.

        Raises
        ------
        ValidationError
            ``path`` exists and is not empty, or the design is malformed.
        """
        root = Path(path)
        _refuse_existing(root)
        _check_frame(design, "design")
        if design["sample_index"].duplicated().any():
            raise ValidationError(
                "duplicate sample indices in the design",
                field="design.sample_index",
                value=design.loc[design["sample_index"].duplicated(), "sample_index"].tolist()[:5],
            )
        now = _now()
        content: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
        content.update(manifest)
        content.setdefault("n", len(design))
        content.setdefault("versions", environment_info())
        content.setdefault("created", now)
        content.setdefault("updated", now)
        content.setdefault("status", "running")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValidationError(
                f"cannot create the run directory: {exc.strerror or exc}", file=root
            ) from None
        _lock(root)
        _refuse_existing(root)  # again, under the lock: another process may have been first
        remove_stale_temp_files(root)
        remove_stale_temp_files(root / SAMPLES)
        (root / SAMPLES).mkdir(exist_ok=True)
        with atomic_path(root / DESIGN) as tmp:
            design.reset_index(drop=True).to_parquet(tmp, index=False)
        store = cls(root, content)
        store._write_manifest()  # last: a directory with a manifest is a complete run
        return store

    @classmethod
    def open(cls, path: str | PathLike[str]) -> Self:
        """Open an existing run directory (to resume it or read its results).

        Temporary files left by a killed writer are deleted, unless another process
        holds the writer lock (they may be its files in flight); damaged part files are
        moved to ``samples/_corrupt/`` with a warning (their rows become pending).
        Opening does not take the lock: the first write does (see the module's notes).

        Raises
        ------
        ValidationError
            The manifest is missing or not valid JSON, or the design file is missing.
        """
        root = Path(path)
        manifest_path = root / MANIFEST
        if not manifest_path.is_file():
            raise ValidationError(
                "not a run directory: the manifest is missing", file=manifest_path
            )
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationError(
                f"the manifest is not valid JSON: {exc}", file=manifest_path
            ) from None
        if not isinstance(manifest, dict):
            raise ValidationError(
                "the manifest is not a JSON object",
                file=manifest_path,
                value=type(manifest).__name__,
            )
        if not (root / DESIGN).is_file():
            raise ValidationError("the design of the run is missing", file=root / DESIGN)
        held = root.resolve() in _HELD
        if held or _try_lock(root):  # else a live writer's files in flight: leave them
            remove_stale_temp_files(root)
            remove_stale_temp_files(root / SAMPLES)
            (root / SAMPLES).mkdir(exist_ok=True)
            if not held:
                _unlock(root)  # a reader keeps no lock; the first write takes it again
        store = cls(root, manifest)
        store._scan_parts()
        return store

    def release(self) -> None:
        """Release the writer lock this process holds on the run directory (if any).

        A store released may still be read; writing again needs :meth:`open`.
        """
        _unlock(self.path)

    # -- reading ------------------------------------------------------------------------

    def design(self) -> pd.DataFrame:
        """All concrete scenarios of the run (sample_index, scenario_id, parameters)."""
        if self._design is None:
            try:
                self._design = pd.read_parquet(self.path / DESIGN)
            except Exception as exc:
                raise ValidationError(
                    f"the design of the run cannot be read: {exc}", file=self.path / DESIGN
                ) from None
        return self._design.copy()

    def _parts(self) -> list[Path]:
        folder = self.path / SAMPLES
        if not folder.is_dir():
            return []
        parts = [p for p in folder.iterdir() if p.is_file() and _PART.match(p.name)]
        return sorted(parts, key=lambda p: int(_PART.match(p.name).group(1)))  # type: ignore[union-attr]

    def _quarantine(self, part: Path, reason: str) -> None:
        if not _try_lock(self.path):  # another process writes here: only it may move files
            warnings.warn(
                f"{part}: damaged result file ignored ({reason}); another process is "
                "writing into the run",
                RuntimeWarning,
                stacklevel=3,
            )
            return
        corrupt = self.path / SAMPLES / CORRUPT
        corrupt.mkdir(exist_ok=True)
        target = corrupt / part.name
        counter = 1
        while target.exists():
            target = corrupt / f"{part.stem}.{counter}{part.suffix}"
            counter += 1
        shutil.move(part, target)
        self._part_indices.pop(part.name, None)
        warnings.warn(
            f"{part}: damaged result file moved to {target} ({reason}); "
            "its scenarios will be simulated again",
            RuntimeWarning,
            stacklevel=3,
        )

    def _indices_of(self, part: Path) -> np.ndarray | None:
        """Return the sample indices stored in ``part``; ``None`` (quarantined) if damaged."""
        cached = self._part_indices.get(part.name)
        if cached is not None:
            return cached
        try:
            table = pq.read_table(part, columns=["sample_index"])
            indices = table.column("sample_index").to_numpy().astype(np.int64)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self._quarantine(part, f"{type(exc).__name__}: {first}")
            return None
        self._part_indices[part.name] = indices
        return indices

    def _scan_parts(self) -> None:
        for part in self._parts():
            self._indices_of(part)

    def completed_indices(self) -> np.ndarray:
        """Sorted sample indices that have a stored result."""
        found = [i for part in self._parts() if (i := self._indices_of(part)) is not None]
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(found))

    def pending(self) -> pd.DataFrame:
        """Design rows that have no stored result yet, in design order, index reset."""
        design = self.design()
        done = design["sample_index"].isin(self.completed_indices())
        return design.loc[~done].reset_index(drop=True)

    def read_samples(self) -> pd.DataFrame:
        """All stored results, sorted by ``sample_index``, one row per scenario, index reset."""
        frames = []
        for part in self._parts():
            try:
                frames.append(pd.read_parquet(part))
            except Exception as exc:
                self._quarantine(part, f"{type(exc).__name__}: {exc}")
        if not frames:
            columns = [*self.design().columns, "status", "message"]
            return pd.DataFrame(columns=columns)
        samples = pd.concat(frames, axis=0, ignore_index=True)
        samples = samples.sort_values("sample_index", kind="stable")
        samples = samples.drop_duplicates("sample_index", keep="first")
        return samples.reset_index(drop=True)

    # -- writing ------------------------------------------------------------------------

    def _next_part(self) -> Path:
        numbers = [int(m.group(1)) for p in self._parts() if (m := _PART.match(p.name))]
        corrupt = self.path / SAMPLES / CORRUPT
        if corrupt.is_dir():
            numbers += [
                int(m.group(1))
                for p in corrupt.iterdir()
                if (m := re.match(r"^part-(\d+)", p.name))
            ]
        return self.path / SAMPLES / f"part-{max(numbers, default=0) + 1:06d}.parquet"

    def append(self, results: pd.DataFrame, *, duration_s: float | None = None) -> Path | None:
        """Store a batch of results as one new part file, atomically.

        Rows whose ``sample_index`` is already stored (or repeated in ``results``)
        are dropped, so re-running a batch after a crash never duplicates a row.

        Parameters
        ----------
        results
            Rows with at least ``sample_index`` and ``scenario_id`` (normally the
            inputs plus KPIs, ``status`` and ``message``, as :func:`run_batches` gives).
        duration_s
            Wall time spent on this batch, recorded in ``manifest["timings"]["parts"]``.

        Returns
        -------
        pathlib.Path or None
            The new part file, or ``None`` if every row was already stored.

        Raises
        ------
        ValidationError
            Another process is writing into the run directory.
        """
        _lock(self.path)  # before reading what is stored: no other writer may add to it
        _check_frame(results, "results")
        known = self.completed_indices()
        fresh = results.loc[~results["sample_index"].isin(known)]
        fresh = fresh.drop_duplicates("sample_index", keep="first").reset_index(drop=True)
        if fresh.empty:
            return None
        unknown = ~fresh["sample_index"].isin(self.design()["sample_index"])
        if unknown.any() and not self.manifest.get("open_design"):
            raise ValidationError(
                "results for sample indices that are not in the design",
                field="results.sample_index",
                value=fresh.loc[unknown, "sample_index"].tolist()[:5],
            )
        for column in ("status", "message"):
            if column in fresh:
                fresh[column] = fresh[column].astype(str)
        target = self._next_part()
        with atomic_path(target) as tmp:
            fresh.to_parquet(tmp, index=False)
        self._part_indices[target.name] = fresh["sample_index"].to_numpy(dtype=np.int64)
        timings = dict(self.manifest.get("timings") or {})
        parts = list(timings.get("parts") or [])
        entry: dict[str, Any] = {"file": target.name, "rows": len(fresh), "written": _now()}
        if duration_s is not None:
            entry["duration_s"] = float(duration_s)
        parts.append(entry)
        timings["parts"] = parts
        timings["simulated_rows"] = int(timings.get("simulated_rows", 0)) + len(fresh)
        self.update_manifest(timings=timings)
        return target

    def _write_manifest(self) -> None:
        _lock(self.path)
        text = json.dumps(self.manifest, indent=2, default=_json_default, allow_nan=False)
        atomic_write_text(self.path / MANIFEST, text + "\n")

    def update_manifest(self, **fields: Any) -> None:
        """Set top-level manifest fields and rewrite ``manifest.json`` atomically.

        ``updated`` is set to the current time unless given.
        """
        self.manifest.update(fields)
        if "updated" not in fields:
            self.manifest["updated"] = _now()
        self._write_manifest()

    def check_compatible(self, expected: Mapping[str, Any]) -> None:
        """Refuse to resume a run made with another scenario file, seed, design or size.

        Each of :data:`COMPATIBILITY_FIELDS` present in ``expected`` must equal the
        manifest's value; other keys of ``expected`` are ignored.

        Raises
        ------
        ValidationError
            Naming the field, the stored value and the requested one.
        """
        for key in COMPATIBILITY_FIELDS:
            if key not in expected:
                continue
            stored = self.manifest.get(key)
            wanted = expected[key]
            if isinstance(wanted, np.generic):
                wanted = wanted.item()
            if stored != wanted:
                raise ValidationError(
                    f"cannot resume: the run was made with {key}={stored!r} but "
                    f"{key}={wanted!r} was requested; choose another --out or rerun with the "
                    "original settings",
                    file=self.path / MANIFEST,
                    field=key,
                )

    def compact(self) -> Path | None:
        """Merge all part files into one, for faster reading of a finished run.

        The merged file is written atomically under the next part number before the
        old parts are deleted; a crash in between leaves duplicates that
        :meth:`read_samples` and :meth:`append` ignore. Returns the merged file
        (``None`` if there are no results).
        """
        _lock(self.path)
        parts = self._parts()
        if len(parts) <= 1:
            return parts[0] if parts else None
        samples = self.read_samples()
        parts = self._parts()  # read_samples may have quarantined some
        target = self._next_part()
        with atomic_path(target) as tmp:
            samples.to_parquet(tmp, index=False)
        for part in parts:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            self._part_indices.pop(part.name, None)
        self._part_indices[target.name] = samples["sample_index"].to_numpy(dtype=np.int64)
        return target

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"
