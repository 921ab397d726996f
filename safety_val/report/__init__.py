"""Failure-probability reports: a model read from a run, and HTML, Markdown, JSON renderers.

Usage (``safety-val report RUN`` does the same)::

    from safety_val.report import build_report, write_report

    report = build_report("runs/cut_in", target=1e-7)
    report.verdict.status          # 'met', 'not met', 'not demonstrated' or 'not run'
    write_report(report, formats=("html", "md", "json"))   # RUN/report/report.*

The JSON format is documented by the JSON Schema in ``report.schema.json``
(:func:`json_schema`). :func:`render_campaign_html` renders a generic summary page
(tables, facts, figures) with the same style, for nightly campaign summaries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

from safety_val.errors import ValidationError
from safety_val.report.html import render_campaign_html, render_html
from safety_val.report.markdown import render_markdown
from safety_val.report.model import REPORT_SCHEMA, Report, build_report, config_hash
from safety_val.report.verdict import DEFAULT_TARGET, Verdict, check_target, judge

__all__ = [
    "DEFAULT_TARGET",
    "FORMATS",
    "REPORT_SCHEMA",
    "Report",
    "Verdict",
    "build_report",
    "check_target",
    "config_hash",
    "json_schema",
    "judge",
    "render_campaign_html",
    "render_html",
    "render_json",
    "render_markdown",
    "write_report",
]

FORMATS: Final = {"html": "html", "md": "md", "markdown": "md", "json": "json"}
"""Accepted format names and the file suffix each writes."""


def render_json(report: Report | Mapping[str, Any]) -> str:
    """The report as indented JSON (valid against :func:`json_schema`)."""
    content = dict(report) if isinstance(report, Mapping) else report.to_dict()
    return json.dumps(content, indent=2, allow_nan=False, ensure_ascii=False) + "\n"


@cache
def _schema_text() -> str:
    return Path(__file__).with_name("report.schema.json").read_text(encoding="utf-8")


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the JSON report."""
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Normalise ``"html,md"`` or ``["html", "json"]`` to file suffixes, in order.

    Raises
    ------
    ValidationError
        An unknown format name.

    Examples
    --------
    >>> parse_formats("html, markdown,json,html")
    ('html', 'md', 'json')
    """
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = [n.strip().lower() for item in items for n in str(item).split(",") if n.strip()]
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValidationError(
            "unknown report format" if unknown else "no report format given",
            field="--format",
            value=unknown[0] if unknown else formats,
            expected="html, md or json",
        )
    return tuple(dict.fromkeys(FORMATS[n] for n in names))


def write_report(
    report: Report,
    *,
    formats: str | Iterable[str] = ("html", "md", "json"),
    out: str | Path | None = None,
) -> list[Path]:
    """Write the report files atomically and return their paths.

    Parameters
    ----------
    report
        The report.
    formats
        Any of ``html``, ``md`` (``markdown``), ``json``.
    out
        A folder (files ``report.<suffix>`` in it) or, with a single format, a file
        whose suffix names that format. Default: ``RUN/report/``.
    """
    from safety_val._io import atomic_write_text

    suffixes = parse_formats(formats)
    target = Path(report.run_dir) / "report" if out is None else Path(out)
    if len(suffixes) == 1 and target.suffix.lstrip(".").lower() in FORMATS:
        if FORMATS[target.suffix.lstrip(".").lower()] != suffixes[0]:
            raise ValidationError(
                "the output file's suffix does not match the format",
                field="--out",
                value=str(target),
                expected=f"a .{suffixes[0]} file or a folder",
            )
        files = {suffixes[0]: target}
    else:
        files = {suffix: target / f"report.{suffix}" for suffix in suffixes}
    renderers = {
        "html": lambda path: render_html(report),
        "md": lambda path: render_markdown(report, path=path),
        "json": lambda path: render_json(report),
    }
    written = []
    for suffix, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(atomic_write_text(path, renderers[suffix](path)))
    return written
