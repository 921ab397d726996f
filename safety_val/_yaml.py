"""Reading YAML definition files safely, with one-line errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from safety_val.errors import ValidationError

__all__ = ["read_yaml_mapping", "require_mapping"]


def read_yaml_mapping(path: str | Path, *, root: str) -> tuple[Path, dict[str, Any]]:
    """Read ``path`` (safe YAML) and return the mapping under its ``root`` key.

    Raises
    ------
    ValidationError
        If the file is missing, is not valid YAML, or has no ``root`` mapping.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError("file not found", file=file) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read file: {exc}", file=file) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(f"malformed YAML{where}: {problem}", file=file) from None
    if not isinstance(document, Mapping) or root not in document:
        raise ValidationError(
            f"missing top-level '{root}:' mapping",
            file=file,
            value=type(document).__name__
            if not isinstance(document, Mapping)
            else sorted(document),
            expected=f"a YAML mapping with a '{root}' key",
        )
    body = require_mapping(document[root], file=file, field=root)
    return file, dict(body)


def require_mapping(value: Any, *, file: str | Path | None, field: str) -> Mapping[str, Any]:
    """Return ``value`` if it is a mapping, else raise a :class:`ValidationError`."""
    if not isinstance(value, Mapping):
        raise ValidationError(
            "must be a mapping", file=file, field=field, value=value, expected="key: value pairs"
        )
    return value
