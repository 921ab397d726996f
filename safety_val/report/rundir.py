"""Reading run directories for reports and replays: layouts, versions, corrupt files.

Two layouts are understood:

``estimate``
    What ``safety-val estimate`` writes: ``result.json`` (+ ``result_samples.parquet``),
    the run store of its simulations (``manifest.json``, ``samples/``), optionally
    ``robustness.json`` + ``tornado.png`` and ``regions.json`` + ``slices.png``.
``pipeline``
    What ``safety-val run`` writes: ``pipeline.json`` (stages, configuration, target)
    and one sub-directory per stage: ``doe/`` (a run store), ``sensitivity/`` and
    ``reliability/`` (the ``estimate`` layout).

Everything here only reads: unlike :meth:`safety_val.runs.store.RunStore.open` it never
moves a damaged file; a damaged file is an error that names it. A run directory
written by a newer safety-val (a newer schema or version) is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
import pyarrow.parquet as pq
from packaging.version import InvalidVersion, Version

from safety_val.errors import ValidationError

__all__ = [
    "PIPELINE_FILE",
    "PIPELINE_SCHEMA",
    "RunLayout",
    "check_not_newer",
    "iter_stores",
    "locate",
    "read_json",
    "read_pipeline",
    "read_store_samples",
    "require_json",
]

PIPELINE_FILE: Final = "pipeline.json"
PIPELINE_SCHEMA: Final = "safety-val/pipeline/1"
_SCHEMA = re.compile(r"^safety-val/pipeline/(\d+)$")
_PIPELINE_SCHEMA_NUMBER: Final = 1
_PART = re.compile(r"^part-(\d{6,})\.parquet$")


def installed_version() -> str:
    """The installed safety-val version."""
    from safety_val import __version__

    return __version__


@dataclass(frozen=True)
class RunLayout:
    """Where the pieces of a run directory are.

    Attributes
    ----------
    root
        The run directory.
    kind
        ``"estimate"`` or ``"pipeline"``.
    pipeline
        The content of ``pipeline.json`` (empty for an ``estimate`` run).
    reliability
        Folder holding ``result.json`` (may not exist yet in a pipeline run).
    sensitivity
        Folder of the sensitivity stage, or ``None``.
    doe
        Run store of the design of experiments, or ``None``.
    """

    root: Path
    kind: Literal["estimate", "pipeline"]
    pipeline: Mapping[str, Any]
    reliability: Path
    sensitivity: Path | None
    doe: Path | None


def read_json(path: Path, *, what: str = "file") -> dict[str, Any] | None:
    """A JSON object from ``path``; ``None`` if the file does not exist.

    Raises
    ------
    ValidationError
        The file is not valid JSON or not a JSON object (naming the file).
    """
    if not path.exists():
        return None
    return require_json(path, what=what)


def require_json(path: Path, *, what: str = "file") -> dict[str, Any]:
    """A JSON object from ``path``, which must exist.

    Raises
    ------
    ValidationError
        The file is missing, is not valid JSON or not a JSON object (naming the file).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{what} is missing", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {what}: {exc}", file=path) from None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"corrupt {what}: not valid JSON ({exc})", file=path) from None
    if not isinstance(content, dict):
        raise ValidationError(
            f"corrupt {what}: not a JSON object", file=path, value=type(content).__name__
        )
    return content


def check_not_newer(version: Any, *, file: Path, field: str) -> None:
    """Refuse a run written by a newer safety-val than the one installed.

    Raises
    ------
    ValidationError
        ``version`` is newer than the installed version.

    Examples
    --------
    >>> check_not_newer("0.0.1", file=Path("manifest.json"), field="versions.safety_val")
    >>> check_not_newer("999.0", file=Path("manifest.json"), field="versions.safety_val")
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: manifest.json: versions.safety_val: ...
    """
    if version is None:
        return
    installed = installed_version()
    try:
        newer = Version(str(version)) > Version(installed)
    except InvalidVersion:
        return  # an unparsable version string says nothing about compatibility
    if newer:
        raise ValidationError(
            f"written by safety-val {version}, newer than the installed {installed}; "
            "upgrade safety-val to read it",
            file=file,
            field=field,
        )


def _check_manifest(store: Path) -> dict[str, Any]:
    from safety_val.runs.store import SCHEMA_VERSION

    file = store / "manifest.json"
    manifest = require_json(file, what="run manifest")
    schema = manifest.get("schema_version")
    if isinstance(schema, int | float) and schema > SCHEMA_VERSION:
        raise ValidationError(
            f"run store schema {schema} is newer than the supported {SCHEMA_VERSION}; "
            "upgrade safety-val to read it",
            file=file,
            field="schema_version",
        )
    versions = manifest.get("versions")
    if isinstance(versions, Mapping):
        check_not_newer(versions.get("safety_val"), file=file, field="versions.safety_val")
    return manifest


def read_pipeline(file: Path) -> dict[str, Any]:
    """The content of ``pipeline.json``, checked to be of a schema and version we can read.

    Raises
    ------
    ValidationError
        Corrupt file, unknown schema, or written by a newer safety-val.
    """
    pipeline = require_json(file, what="pipeline record")
    schema = str(pipeline.get("schema", ""))
    match = _SCHEMA.match(schema)
    if match is None:
        raise ValidationError(
            "unknown pipeline schema",
            file=file,
            field="schema",
            value=schema,
            expected=PIPELINE_SCHEMA,
        )
    if int(match.group(1)) > _PIPELINE_SCHEMA_NUMBER:
        raise ValidationError(
            f"pipeline schema {schema} is newer than the supported {PIPELINE_SCHEMA}; "
            "upgrade safety-val to read it",
            file=file,
            field="schema",
        )
    check_not_newer(pipeline.get("safety_val_version"), file=file, field="safety_val_version")
    return pipeline


def locate(run_dir: str | Path) -> RunLayout:
    """Recognise the layout of ``run_dir`` and check that no part of it is too new.

    Raises
    ------
    ValidationError
        ``run_dir`` is not a run directory, a JSON file in it is corrupt, or it was
        written by a newer safety-val.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise ValidationError(
            "run directory not found",
            file=root,
            expected="a folder written by 'safety-val run' or 'safety-val estimate'",
        )
    if (root / PIPELINE_FILE).is_file():
        pipeline = read_pipeline(root / PIPELINE_FILE)
        layout = RunLayout(
            root=root,
            kind="pipeline",
            pipeline=pipeline,
            reliability=root / "reliability",
            sensitivity=root / "sensitivity",
            doe=root / "doe",
        )
    elif (root / "result.json").is_file():
        layout = RunLayout(
            root=root, kind="estimate", pipeline={}, reliability=root, sensitivity=None, doe=None
        )
    else:
        raise ValidationError(
            "not a run directory: neither pipeline.json nor result.json found",
            file=root,
            expected="a folder written by 'safety-val run' or 'safety-val estimate'",
        )
    for store in iter_stores(root):
        _check_manifest(store)
    return layout


def iter_stores(root: Path, *, max_depth: int = 3) -> Iterator[Path]:
    """Run stores (folders with ``manifest.json``) inside ``root``, ``root`` included."""
    if (root / "manifest.json").is_file():
        yield root
    if max_depth <= 0:
        return
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if child.name in ("samples", "report", "xosc"):
            continue
        yield from iter_stores(child, max_depth=max_depth - 1)


def read_store_samples(
    store: Path, *, filters: list[tuple[str, str, Any]] | None = None
) -> pd.DataFrame:
    """Every stored result of a run store, read-only (damaged part files are errors).

    Parameters
    ----------
    store
        A run store folder (``manifest.json`` + ``samples/part-*.parquet``).
    filters
        Optional pyarrow row filters, e.g. ``[("scenario_id", "==", "ab12...")]``.

    Raises
    ------
    ValidationError
        The manifest is corrupt or too new, or a part file cannot be read (naming it).
    """
    _check_manifest(store)
    folder = store / "samples"
    parts = (
        sorted(p for p in folder.iterdir() if p.is_file() and _PART.match(p.name))
        if folder.is_dir()
        else []
    )
    frames = []
    for part in parts:
        try:
            table = pq.read_table(part, filters=filters)
        except Exception as exc:  # pyarrow raises several types for damaged files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValidationError(f"corrupt Parquet file: {first}", file=part) from None
        if table.num_rows:
            frames.append(table.to_pandas())
    if not frames:
        return pd.DataFrame(columns=["sample_index", "scenario_id", "status", "message"])
    samples = pd.concat(frames, ignore_index=True)
    samples = samples.sort_values("sample_index", kind="stable")
    return samples.drop_duplicates("sample_index", keep="first").reset_index(drop=True)
