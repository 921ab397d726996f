"""HTML, Markdown and JSON renderers: same content, escaped, self-contained, schema-valid."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from safety_val.errors import ValidationError
from safety_val.report import (
    build_report,
    json_schema,
    render_campaign_html,
    render_html,
    render_json,
    render_markdown,
    write_report,
)
from safety_val.report.markdown import escape_markdown


class _Elements(HTMLParser):
    """Collect start tags with their attributes and the ids of the sections in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def test_html_escapes_scenario_text_and_has_no_script(estimate_run: Path) -> None:
    page = render_html(build_report(estimate_run))
    assert "The lead &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; brakes &amp;" in page
    assert "&lt;b&gt;hard&lt;/b&gt;" in page
    tags = _parse(page).tags
    assert not [t for t, _ in tags if t in ("script", "iframe", "object", "embed", "link")]
    assert "<script" not in page.lower()
    assert not [t for t, a in tags if t == "b"]  # the <b> of the description stayed text


def test_html_is_self_contained(estimate_run: Path) -> None:
    page = render_html(build_report(estimate_run))
    tags = _parse(page).tags
    sources = [a.get("src") or "" for t, a in tags if t == "img"]
    # convergence, slices and tornado plots, all embedded
    assert len(sources) == 3
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert not [a for _, a in tags if a.get("href")]
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", page.split("<main>")[0])
    csp = [a for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


def test_html_reads_top_down_verdict_first(estimate_run: Path) -> None:
    page = render_html(build_report(estimate_run, target=0.5))
    ids = [a["id"] for t, a in _parse(page).tags if t == "section" and a.get("id")]
    assert ids == [
        "verdict",
        "estimate",
        "scenario",
        "simulation",
        "sensitivity",
        "regions",
        "robustness",
        "stages",
        "provenance",
    ]
    assert "target met" in page
    assert 'class="verdict v-met"' in page


def test_html_shows_missing_stages_as_not_run(run_copy: Path) -> None:
    for name in ("regions.json", "robustness.json"):
        (run_copy / name).unlink()
    page = render_html(build_report(run_copy))
    for section in ("sensitivity", "regions", "robustness", "simulation"):
        body = page.split(f'<section id="{section}">')[1].split("</section>")[0]
        assert 'class="notrun">not run' in body
        assert "<img" not in body


def test_html_renders_the_same_from_the_model_and_from_its_json(estimate_run: Path) -> None:
    report = build_report(estimate_run)
    again = json.loads(render_json(report))
    assert again == report.to_dict()
    assert render_html(again) == render_html(report)
    assert render_markdown(again) == render_markdown(report)


def test_json_is_valid_against_the_documented_schema(
    estimate_run: Path, pipeline_run: Path, run_copy: Path
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    (run_copy / "regions.json").unlink()
    for run in (estimate_run, pipeline_run, run_copy):
        content = json.loads(render_json(build_report(run)))
        jsonschema.validate(content, schema)
    broken = json.loads(render_json(build_report(estimate_run)))
    broken["verdict"]["status"] = "probably fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_markdown_carries_the_same_content_escaped(estimate_run: Path, tmp_path: Path) -> None:
    report = build_report(estimate_run, target=0.5)
    path = tmp_path / "out" / "report.md"
    text = render_markdown(report, path=path)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[:2] == ["## Verdict", "## Failure probability"]
    assert "**TARGET MET**" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert f"{report.estimate.pf:.4g}" in text
    for rule in report.regions.rules:
        assert escape_markdown(rule["rule"]) in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 2
    assert all((path.parent / link).resolve().is_file() for link in links)


def test_write_report_writes_all_formats_atomically(run_copy: Path) -> None:
    files = write_report(build_report(run_copy))
    assert [f.name for f in files] == ["report.html", "report.md", "report.json"]
    assert all(f.parent == run_copy / "report" and f.stat().st_size > 1000 for f in files)
    assert not [p for p in (run_copy / "report").iterdir() if p.name.startswith(".")]


def test_write_report_single_file_and_bad_suffix(estimate_run: Path, tmp_path: Path) -> None:
    report = build_report(estimate_run)
    [written] = write_report(report, formats="json", out=tmp_path / "r.json")
    assert json.loads(written.read_text())["schema"] == "safety-val/report/1"
    with pytest.raises(ValidationError, match="suffix does not match"):
        write_report(report, formats="html", out=tmp_path / "r.json")
    with pytest.raises(ValidationError, match="unknown report format"):
        write_report(report, formats="pdf", out=tmp_path)


def test_campaign_page_escapes_and_tabulates() -> None:
    page = render_campaign_html(
        {
            "title": "nightly <b>run</b>",
            "status": "failed",
            "facts": {"scenarios": 2, "<i>x</i>": "y"},
            "tables": [
                {
                    "title": "results",
                    "columns": ["scenario", "pf"],
                    "rows": [{"scenario": "cut_in<script>", "pf": 0.012345678}, ["lead", None]],
                }
            ],
            "figures": [{"caption": "not a png", "png": b"GIF89a"}],
            "notes": ["regression in cut_in"],
        }
    )
    tags = _parse(page).tags
    assert not [t for t, _ in tags if t in ("script", "b", "i", "img")]
    assert "nightly &lt;b&gt;run&lt;/b&gt;" in page and "cut_in&lt;script&gt;" in page
    assert "0.01235" in page and "—" in page
    assert 'class="verdict v-not-met"' in page and "regression in cut_in" in page
