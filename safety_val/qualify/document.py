r"""``qualification.json``: the report as data, its JSON schema, and its SHA-256 seal.

What is hashed
--------------
The SHA-256 in ``integrity.sha256`` is computed over the **canonical form** of the
document *without that one field* (the rest of ``integrity`` — the algorithm and the
definition of the canonical form — is included):

1. parse ``qualification.json`` as JSON and delete the key ``integrity.sha256``;
2. serialise with keys sorted at every level, no whitespace (separators ``,`` and ``:``),
   non-ASCII characters as themselves (not ``\uXXXX`` escapes), numbers as Python's
   :func:`json.dumps` writes them (shortest round-trip form; there are no NaN or
   infinities: they are ``null``);
3. encode as UTF-8 and hash.

In Python: ``hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False).encode("utf-8")).hexdigest()`` with ``doc`` the parsed
file minus ``integrity.sha256`` (:func:`canonical_bytes`). The file on disk is indented
for reading; indentation does not change the hash. A safety case cites the hash with the
suite version and the package version; anyone holding the file re-computes it
(``safety-val qualify --verify qualification.json``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from safety_val.errors import ValidationError
from safety_val.qualify.requirement import json_ready
from safety_val.qualify.runner import QualificationReport
from safety_val.qualify.suite import SUITE_NAME, SUITE_VERSION

__all__ = [
    "CANONICAL_FORM",
    "SCHEMA",
    "SCHEMA_FILE",
    "build_document",
    "canonical_bytes",
    "json_schema",
    "load_document",
    "seal",
    "validate_document",
    "verify_document",
]

SCHEMA = "safety-val/qualification/1"
"""Identifier of the document format (``schema`` field); bumped on incompatible changes."""

SCHEMA_FILE = Path(__file__).with_name("qualification.schema.json")
"""The JSON Schema (draft 2020-12) of ``qualification.json``, shipped with the package."""

CANONICAL_FORM = (
    "SHA-256 of the UTF-8 bytes of json.dumps(document without integrity.sha256, "
    "sort_keys=True, separators=(',', ':'), ensure_ascii=False, allow_nan=False)"
)
"""The definition of what ``integrity.sha256`` hashes, stored in every document."""


def build_document(report: QualificationReport, *, command: str | None = None) -> dict[str, Any]:
    """The report as a JSON-ready document, sealed with its SHA-256.

    Parameters
    ----------
    report
        A finished run.
    command
        The command line that produced it (recorded as is).
    """
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "suite": {"name": SUITE_NAME, "version": SUITE_VERSION},
        "mode": report.mode,
        "scope": report.scope,
        "selection": list(report.selection) if report.selection else None,
        "not_run": list(report.not_run),
        "summary": {
            "verdict": "passed" if report.passed else "failed",
            "n_requirements": len(report.results),
            **{f"n_{verdict}": count for verdict, count in report.counts.items()},
            "exit_code": report.exit_code,
        },
        "requirements": [row.to_dict() for row in report.results],
        "provenance": json_ready(report.provenance),
        "run": {
            "command": command,
            "started": report.started,
            "finished": report.finished,
            "wall_s": round(report.wall_s, 1),
            "workers": report.workers,
        },
        "integrity": {"algorithm": "SHA-256", "canonical_form": CANONICAL_FORM},
    }
    return seal(document)


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    r"""The bytes :data:`CANONICAL_FORM` hashes (``integrity.sha256`` left out).

    Examples
    --------
    >>> canonical_bytes({"b": 1, "a": "é", "integrity": {"sha256": "x", "algorithm": "SHA-256"}})
    b'{"a":"\xc3\xa9","b":1,"integrity":{"algorithm":"SHA-256"}}'
    """
    body = copy.deepcopy(dict(document))
    integrity = body.get("integrity")
    if isinstance(integrity, dict):
        integrity.pop("sha256", None)
    text = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def seal(document: dict[str, Any]) -> dict[str, Any]:
    """Set ``integrity.sha256`` of ``document`` (in place) and return it."""
    document.setdefault("integrity", {"algorithm": "SHA-256", "canonical_form": CANONICAL_FORM})
    document["integrity"]["sha256"] = hashlib.sha256(canonical_bytes(document)).hexdigest()
    return document


def verify_document(document: Mapping[str, Any]) -> tuple[bool, str, str]:
    """Re-compute the seal: ``(matches, stored, computed)``.

    Examples
    --------
    >>> doc = seal({"schema": SCHEMA, "summary": {"verdict": "passed"}})
    >>> verify_document(doc)[0]
    True
    >>> doc["summary"]["verdict"] = "failed"
    >>> verify_document(doc)[0]
    False
    """
    integrity = document.get("integrity")
    stored = str(integrity.get("sha256", "")) if isinstance(integrity, Mapping) else ""
    computed = hashlib.sha256(canonical_bytes(document)).hexdigest()
    return stored == computed, stored, computed


@cache
def json_schema() -> dict[str, Any]:
    """The JSON Schema of ``qualification.json`` (:data:`SCHEMA_FILE`)."""
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


def validate_document(document: Mapping[str, Any], *, file: str | Path | None = None) -> None:
    """Check ``document`` against :func:`json_schema`.

    Raises
    ------
    ValidationError
        The first violation, naming the field (a dotted path) and what was expected.
    RuntimeError
        ``jsonschema`` is not installed (it is not a dependency of safety-val).
    """
    import importlib

    try:
        jsonschema = importlib.import_module("jsonschema")
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("validating against the schema needs the jsonschema package") from exc
    validator = jsonschema.Draft202012Validator(json_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        path = ".".join(str(p) for p in error.absolute_path) or "(document)"
        raise ValidationError(
            error.message, file=file, field=path, expected="a document of schema " + SCHEMA
        )


def load_document(path: str | Path) -> dict[str, Any]:
    """Read a ``qualification.json``.

    Raises
    ------
    ValidationError
        Not readable as UTF-8 JSON, not an object, or not of schema :data:`SCHEMA`.
    """
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError("file not found", file=source) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"not a JSON document: {exc}", file=source) from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ValidationError(
            "not a qualification report",
            file=source,
            field="schema",
            value=document.get("schema") if isinstance(document, dict) else type(document).__name__,
            expected=SCHEMA,
        )
    return document
