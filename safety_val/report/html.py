"""The HTML report: one self-contained file, autoescaped, no scripts, no network.

Figures are embedded as base64 PNG ``data:`` URIs and the CSS is inline; a
Content-Security-Policy ``<meta>`` forbids scripts and every network fetch, so the
page shows the same on an air-gapped laptop as on a web server. Every text that
comes from a file (scenario description, rules, messages) goes through Jinja2's
autoescaping.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

from safety_val.report.cells import (
    format_number,
    parameter_units,
    with_unit,
    worst_case_parameters,
    worst_case_summary,
)
from safety_val.report.plots import convergence_figure, figure_png

if TYPE_CHECKING:
    from safety_val.report.model import Report

__all__ = ["format_number", "png_data_uri", "render_campaign_html", "render_html"]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEMPLATES = Path(__file__).with_name("templates")


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the report templates (autoescape on for everything)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["unit"] = with_unit
    env.globals["worst_case_summary"] = worst_case_summary
    env.globals["worst_case_parameters"] = worst_case_parameters
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * float(v):.1f} %"
    return env


def png_data_uri(data: bytes) -> str:
    """A ``data:image/png;base64,...`` URI (the bytes must be a PNG)."""
    if not data.startswith(_PNG_MAGIC):
        raise ValueError("not a PNG image")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _figures(content: Mapping[str, Any]) -> dict[str, str]:
    """Data URIs of the convergence plot and of every figure file the sections name."""
    figures: dict[str, str] = {}
    estimate = content.get("estimate") or {}
    history = estimate.get("history") or []
    if estimate.get("status") == "done" and len(history) >= 2:
        target = (content.get("verdict") or {}).get("target")
        figure = convergence_figure(history, target=target)
        figures["convergence"] = png_data_uri(figure_png(figure))
    root = Path(str(content.get("run_dir") or "."))
    for section in ("sensitivity", "regions", "robustness"):
        for name in (content.get(section) or {}).get("figures") or []:
            try:
                figures[name] = png_data_uri((root / name).read_bytes())
            except (OSError, ValueError):
                continue  # a missing or broken image is left out, with its caption
    return figures


def render_html(report: Report | Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    report
        A :class:`~safety_val.report.model.Report` or its :meth:`to_dict` content
        (e.g. read back from ``report.json``).

    Returns
    -------
    str
        HTML5 text: inline CSS, figures as PNG ``data:`` URIs, no script.
    """
    content = dict(report) if isinstance(report, Mapping) else report.to_dict()
    template = environment().get_template("report.html.j2")
    return template.render(r=content, figures=_figures(content), units=parameter_units(content))


def render_campaign_html(summary: Mapping[str, Any]) -> str:
    """A generic self-contained summary page (used for nightly campaign summaries).

    Parameters
    ----------
    summary
        ``title`` (str), optional ``status`` (e.g. ``"passed"``/``"failed"``; shown
        first, coloured), ``subtitle``, ``generated_at``, ``facts`` (a mapping shown as
        a two-column table), ``tables`` (a list of ``{"title", "columns", "rows"}``
        with ``rows`` a list of lists or of mappings keyed by the columns),
        ``figures`` (a list of ``{"caption", "png"}`` with PNG bytes or a base64
        string) and ``notes`` (a list of strings). Everything is escaped.

    Returns
    -------
    str
        HTML5 text with the same style and guarantees as :func:`render_html`.

    Examples
    --------
    >>> page = render_campaign_html({"title": "nightly <1>", "status": "failed",
    ...     "tables": [{"title": "runs", "columns": ["scenario", "pf"],
    ...                 "rows": [{"scenario": "cut_in", "pf": 0.0123}]}]})
    >>> "nightly &lt;1&gt;" in page and "0.0123" in page and "<script" not in page
    True
    """
    tables = []
    for table in summary.get("tables") or []:
        columns = [str(c) for c in table.get("columns") or []]
        rows = []
        for row in table.get("rows") or []:
            if isinstance(row, Mapping):
                if not columns:
                    columns = [str(c) for c in row]
                rows.append([row.get(c) for c in columns])
            else:
                rows.append(list(row))
        tables.append({"title": str(table.get("title") or ""), "columns": columns, "rows": rows})
    figures = []
    for figure in summary.get("figures") or []:
        png = figure.get("png")
        data = base64.b64decode(png) if isinstance(png, str) else bytes(png or b"")
        try:
            figures.append({"caption": str(figure.get("caption") or ""), "uri": png_data_uri(data)})
        except ValueError:
            continue
    template = environment().get_template("campaign.html.j2")
    return template.render(
        s={
            "title": str(summary.get("title") or "Campaign summary"),
            "subtitle": str(summary.get("subtitle") or ""),
            "status": None if summary.get("status") is None else str(summary["status"]),
            "generated_at": str(summary.get("generated_at") or ""),
            "facts": dict(summary.get("facts") or {}),
            "notes": [str(n) for n in summary.get("notes") or []],
        },
        tables=tables,
        figures=figures,
    )
