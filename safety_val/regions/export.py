"""The most critical scenarios of each failure mode as a folder of OpenSCENARIO files.

:func:`export_critical_scenarios` writes, for each mode of a
:class:`~safety_val.regions.result.CriticalRegions`, its ``per_mode`` most critical
concrete scenarios as ``<scenario>_mode<m>_<rank>.xosc`` with the OpenDRIVE road beside
each (``.xodr``), and an index ``export.json`` naming every file it wrote.

A folder is an output the user names, so it is treated like a file ``--out``:

- an existing folder that holds anything is refused unless ``force`` is given (one line,
  nothing written): an earlier export, or somebody's files, are never replaced silently;
- with ``force``, the files of the new export replace those of the same names, and the
  files an earlier export listed in its ``export.json`` that the new one does not write
  are removed (files it did not write are left alone);
- a path that is not a folder, and any target that exists but is not a regular file (a
  device, a pipe, a folder, a link), are refused before anything is written.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safety_val._io import atomic_write_text
from safety_val.errors import ValidationError

if TYPE_CHECKING:
    from safety_val.regions.result import CriticalRegions
    from safety_val.scenario import LogicalScenario

__all__ = ["INDEX_FILE", "check_export_folder", "export_critical_scenarios"]

INDEX_FILE = "export.json"
"""The export's index: the files it wrote (what ``force`` may remove next time)."""

_SHOWN = 3  # entries named in the "not empty" message


def check_export_folder(folder: str | os.PathLike[str], *, force: bool = False) -> Path:
    """Refuse an export folder that is not a folder, or that holds anything, without ``force``.

    Parameters
    ----------
    folder
        Where the export goes (created later if missing).
    force
        Accept a folder that holds files (an earlier export's are then replaced).

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    ValidationError
        ``folder`` exists and is not a folder (a file, a device, a link to one), or it is a
        folder with entries and ``force`` is false (the message names a few of them).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as root:
    ...     _ = (Path(root) / "old.xosc").write_text("<OpenSCENARIO/>")
    ...     try:
    ...         check_export_folder(root)
    ...     except ValidationError as exc:
    ...         print(str(exc).split(": ", 1)[1])  # doctest: +ELLIPSIS
    ...     check_export_folder(root, force=True) == Path(root)
    the folder is not empty (1 entry: old.xosc); pass --force to replace the files of an ...
    True
    """
    path = Path(folder)
    if path.exists() or path.is_symlink():
        if not path.is_dir() or path.is_symlink():
            raise ValidationError(
                "not a folder; refusing to write the export there",
                file=path,
                expected="a new or empty folder",
            )
        entries = sorted(entry.name for entry in path.iterdir())
        if entries and not force:
            shown = ", ".join(entries[:_SHOWN]) + (", ..." if len(entries) > _SHOWN else "")
            count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
            raise ValidationError(
                f"the folder is not empty ({count}: {shown}); pass --force to replace the "
                "files of an earlier export",
                file=path,
                expected="an empty or new folder",
            )
    return path


def _check_targets(targets: Sequence[Path]) -> None:
    for target in targets:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise ValidationError(
                "not a regular file; refusing to replace it",
                file=target,
                expected="a regular file or a new path",
            )


def _earlier_files(folder: Path) -> list[Path]:
    """The files an earlier export listed in its index (only plain names inside ``folder``)."""
    index = folder / INDEX_FILE
    if not index.is_file():
        return []
    try:
        listed = json.loads(index.read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return []
    names = [n for n in listed if isinstance(n, str) and n == Path(n).name and n != INDEX_FILE]
    return [folder / name for name in names]


def export_critical_scenarios(
    regions: CriticalRegions,
    scenario: LogicalScenario,
    folder: str | os.PathLike[str],
    *,
    per_mode: int = 3,
    force: bool = False,
    source: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Write the ``per_mode`` most critical scenarios of each mode as ``.xosc`` + ``.xodr``.

    Parameters
    ----------
    regions
        The critical regions (their evaluated points).
    scenario
        The logical scenario (a built-in template with an OpenSCENARIO export).
    folder
        The export folder (created if missing; see :func:`check_export_folder`).
    per_mode
        Scenarios per mode, most critical first (:meth:`CriticalRegions.critical_scenarios`).
    force
        Write into a folder that holds files: same names are replaced, and the files of an
        earlier export (its :data:`INDEX_FILE`) that this one does not write are removed.
    source
        The run the regions come from, recorded in the index.

    Returns
    -------
    list of Path
        The ``.xosc`` files written, mode by mode, most critical first.

    Raises
    ------
    ValidationError
        The folder is refused (:func:`check_export_folder`), a target exists and is not a
        regular file, or the template has no OpenSCENARIO export; nothing is written then.
    """
    from safety_val.formats.concrete_xosc import write_concrete_scenario

    path = check_export_folder(folder, force=force)
    plan: list[tuple[Path, Mapping[str, Any], str]] = []
    for mode in regions.modes["mode"]:
        critical = regions.critical_scenarios(int(mode), k=per_mode)
        for rank, record in enumerate(critical.to_dict("records"), start=1):
            values = {str(k): v for k, v in record.items()}
            g = float(values.get("g", math.nan))
            plan.append((
                path / f"{scenario.name}_mode{int(mode)}_{rank}.xosc",
                values,
                f"failure mode {int(mode)}, rank {rank} (g = {g:.3g})",
            ))
    targets = [t for target, _, _ in plan for t in (target, target.with_suffix(".xodr"))]
    _check_targets([*targets, path / INDEX_FILE])
    stale = [f for f in _earlier_files(path) if f not in targets]
    _check_targets(stale)
    path.mkdir(parents=True, exist_ok=True)
    written = [
        write_concrete_scenario(scenario, values, target, description=description)
        for target, values, description in plan
    ]
    for old in stale:
        old.unlink(missing_ok=True)
    index = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "scenario": scenario.name,
        "source": None if source is None else str(source),
        "per_mode": per_mode,
        "files": sorted(t.name for t in targets),
    }
    atomic_write_text(path / INDEX_FILE, json.dumps(index, indent=2) + "\n")
    return written
