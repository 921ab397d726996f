"""Write ``qualification.json`` and ``qualification.html`` into a folder, atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safety_val.qualify.document import build_document
from safety_val.qualify.html import render_html
from safety_val.qualify.runner import QualificationReport

__all__ = ["HTML_NAME", "JSON_NAME", "write_qualification"]

JSON_NAME = "qualification.json"
HTML_NAME = "qualification.html"


def write_qualification(
    report: QualificationReport, out: str | Path, *, command: str | None = None
) -> tuple[Path, Path, dict[str, Any]]:
    """Write the sealed JSON document and its HTML page into ``out`` (created if needed).

    Returns
    -------
    tuple
        ``(json_path, html_path, document)``.

    Raises
    ------
    ValidationError
        ``out`` cannot be created or written (a file in the way, no permission).
    """
    from safety_val._io import atomic_write_text
    from safety_val.errors import ValidationError

    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValidationError(
            "exists and is not a folder",
            file=folder,
            expected="a folder for qualification.json and qualification.html",
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(
            f"cannot create the folder: {exc.strerror or exc}", file=folder
        ) from None
    document = build_document(report, command=command)
    json_path, html_path = folder / JSON_NAME, folder / HTML_NAME
    atomic_write_text(
        json_path, json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    )
    atomic_write_text(html_path, render_html(document))
    return json_path, html_path, document
