"""``qualification.html``: the report as one self-contained, escaped page.

Rendered from ``safety_val/report/templates/qualification.html.j2`` with the report's
Jinja2 environment (autoescape on, strict undefined, inline CSS, a Content-Security-Policy
that forbids scripts and network fetches), so it reads the same offline as on a server.
The page shows the same rows as ``qualification.json`` and the SHA-256 that seals it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_html", "seed_text"]


def seed_text(seed: Any) -> str:
    """A seed, or a list of seeds with consecutive runs shortened to ``first–last``.

    Examples
    --------
    >>> seed_text(None), seed_text(7), seed_text([1000, 1001, 1002, 5])
    ('—', '7', '1000–1002, 5')
    """
    if seed is None:
        return "—"
    if not isinstance(seed, list):
        return str(seed)
    parts: list[str] = []
    start: int | None = None
    previous: int | None = None
    for value in [*seed, None]:
        follows = value is not None and previous is not None and value == previous + 1
        if start is not None and follows:
            previous = value
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}–{previous}")
        start = previous = value
    return ", ".join(parts)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(str(key))
    return columns


def _areas(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row["area"]), []).append(row)
    return [
        {
            "name": name,
            "rows": [
                {
                    **row,
                    "seed_text": seed_text(row.get("seed")),
                    "detail_columns": _columns(row.get("details") or []),
                }
                for row in members
            ],
            "passed": sum(r["verdict"] == "pass" for r in members),
        }
        for name, members in groups.items()
    ]


def render_html(document: Mapping[str, Any]) -> str:
    """The HTML page of a qualification document (:func:`~.document.build_document`).

    Every text from the document goes through Jinja2's autoescaping.

    Examples
    --------
    >>> from safety_val.qualify.document import seal
    >>> doc = seal({"schema": "safety-val/qualification/1",
    ...     "suite": {"name": "suite", "version": "1.0.0"}, "mode": "quick",
    ...     "scope": "quick subset", "selection": None, "not_run": [],
    ...     "summary": {"verdict": "failed", "n_requirements": 1, "n_pass": 0, "n_fail": 1,
    ...                 "n_error": 0, "exit_code": 1},
    ...     "requirements": [{"id": "QR-X", "area": "a", "title": "t",
    ...         "requirement": "<script>alert(1)</script>", "method": "m", "acceptance": "a",
    ...         "measured": "v", "verdict": "fail", "seed": [1, 2, 3], "duration_s": 0.5,
    ...         "values": {}, "details": [{"case": "c", "passed": False}], "notes": []}],
    ...     "provenance": {"packages": {"safety-val": "0.1.0"}, "python": "3.11",
    ...         "platform": "p", "machine": "m", "cpu": "c", "cpu_count": 2,
    ...         "usable_cpus": 2, "git": None},
    ...     "run": {"command": "safety-val qualify --quick", "started": "2026-01-01T00:00:00",
    ...             "finished": "2026-01-01T00:01:00", "wall_s": 60.0, "workers": 2}})
    >>> page = render_html(doc)
    >>> "&lt;script&gt;" in page and "<script>" not in page, doc["integrity"]["sha256"] in page
    (True, True)
    """
    from safety_val.report.html import environment

    template = environment().get_template("qualification.html.j2")
    return template.render(
        d=document,
        areas=_areas(document["requirements"]),
        packages=sorted(document["provenance"].get("packages", {}).items()),
    )
