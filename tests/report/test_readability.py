"""What a reader of the report met: its own stage shown running, raw cells, two pfs."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

from safety_val.report import build_report, render_html, render_markdown


def _stage_rows_html(page: str) -> str:
    return page.split('<section id="stages">', 1)[1].split("</section>", 1)[0]


def _stage_rows_markdown(text: str) -> str:
    return text.split("## Stages", 1)[1].split("## Provenance", 1)[0]


def test_report_stage_written_by_itself_is_not_shown_running(
    pipeline_run: Path, tmp_path: Path
) -> None:
    # what pipeline.json holds while the pipeline's report stage writes the report
    run = Path(shutil.copytree(pipeline_run, tmp_path / "run"))
    state = json.loads((run / "pipeline.json").read_text())
    state["stages"]["report"] = {"status": "running", "seconds": 0.0, "message": ""}
    (run / "pipeline.json").write_text(json.dumps(state))
    report = build_report(run)
    stage = report.stages[-1]
    assert (stage.name, stage.status, stage.message) == ("report", "done", "this report")
    assert stage.seconds is None  # its duration is not known while it writes
    for table in (
        _stage_rows_html(render_html(report)),
        _stage_rows_markdown(render_markdown(report)),
    ):
        assert "running" not in table
        assert "this report" in table
    # the other stages are shown as recorded
    assert [s.status for s in report.stages[:-1]] == ["done"] * (len(report.stages) - 1)
    assert re.search(r"\| report \| done \| — \| this report \|", render_markdown(report))


WORST_CASE = {
    "ambiguity": "±1sd",
    "pf": 0.3031,
    "cov": 0.18922428061990024,
    "ci": [0.18412505879242422, 0.26907094452150765],
    "beta": 0.5155052527098299,
    "shifts": {"ego_speed": 1.0, "lead_speed": -0.5, "initial_gap": 1.0, "lead_decel": 1.0},
    "means": {
        "ego_speed": 30.113704373112853,
        "lead_speed": 29.827154154692874,
        "initial_gap": 56.94844522010333,
        "lead_decel": 4.544612811703128,
    },
    "ess": 51.25958230430486,
    "how": "re-weighted",
}

# a decimal number not part of a word (scenario ids are hexadecimal words)
_DECIMAL = re.compile(r"(?<![\w.])[-+]?\d*\.\d+(?:e[-+]?\d+)?(?![\w.])", re.IGNORECASE)


def _significant_digits(number: str) -> int:
    mantissa = re.split("[eE]", number.lstrip("+-"))[0].replace(".", "").lstrip("0")
    return len(mantissa)


def _sections_html(page: str) -> str:
    page = re.sub(r'src="data:[^"]*"', 'src=""', page)
    start = page.index('<section id="regions">')
    return page[start : page.index('<section id="stages">')]


def _sections_markdown(text: str) -> str:
    return text[text.index("## Critical regions") : text.index("## Stages")]


def test_regions_and_robustness_cells_are_readable(run_copy: Path) -> None:
    file = run_copy / "robustness.json"
    content = json.loads(file.read_text())
    content["worst_case"] = WORST_CASE
    file.write_text(json.dumps(content))
    report = build_report(run_copy)
    assert report.robustness.worst_case == WORST_CASE  # the model keeps the full numbers
    for text in (_sections_html(render_html(report)), _sections_markdown(render_markdown(report))):
        plain = text.replace("\\", "")  # Markdown escapes
        for raw in (repr(WORST_CASE["shifts"]), repr(WORST_CASE["means"]), repr(WORST_CASE["ci"])):
            assert raw not in plain
        assert "{'" not in plain and "': " not in plain  # no dict repr anywhere
        long = [n for n in _DECIMAL.findall(plain) if _significant_digits(n) > 4]
        assert long == []
        # one row per parameter, each number with its unit
        for cells in (
            ("ego_speed", "+1 σ", "30.11 m/s"),
            ("lead_speed", "-0.5 σ", "29.83 m/s"),
            ("initial_gap", "+1 σ", "56.95 m"),
            ("lead_decel", "+1 σ", "4.545 m/s^2"),
        ):
            if "<td>" in text:
                row = "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
            else:
                row = "| " + " | ".join(cells) + " |"
            assert row in plain
        assert "[0.1841, 0.2691]" in plain


def test_sections_on_the_reference_sample_say_which_pf_they_use(estimate_run: Path) -> None:
    report = build_report(estimate_run)
    verdict_pf = report.verdict.pf
    regions = json.loads((estimate_run / "regions.json").read_text())
    robustness = json.loads((estimate_run / "robustness.json").read_text())
    assert verdict_pf is not None and regions["pf"] != verdict_pf  # two estimates of pf
    assert regions["pf_source"] == "importance sample"
    n = regions["n_sample"]
    assert n == robustness["sample"]["n"] == 100  # the shared reference sample
    assert report.regions.pf == regions["pf"]
    assert report.robustness.pf == robustness["pf"]
    for section in (report.regions, report.robustness):
        assert section.pf is not None
        assert section.pf_basis.startswith(
            f"pf re-estimated on the {n:,}-point reference importance sample: {section.pf:.4g} "
            f"(the verdict's {verdict_pf:.4g} comes from the reliability stage, method mc"
        )
    assert "tornado plot's 'nominal' refer to this pf" in report.robustness.pf_basis
    page, markdown = html.unescape(render_html(report)), render_markdown(report)
    for text in (page, markdown.replace("\\", "")):
        for section in (report.regions, report.robustness):
            assert section.pf_basis in text
        assert (
            f"its nominal {report.robustness.pf:.3g} is the pf re-estimated on the reference "
            f"importance sample, not the verdict's {verdict_pf:.3g}"
        ) in text


def test_regions_written_without_pf_source_are_labelled_by_comparison(run_copy: Path) -> None:
    file = run_copy / "regions.json"
    content = json.loads(file.read_text())
    del content["pf_source"], content["n_sample"]
    file.write_text(json.dumps(content))
    report = build_report(run_copy)
    assert report.regions.pf_basis.startswith(
        f"pf re-estimated on the reference importance sample: {content['pf']:.4g}"
    )
    content["pf"] = report.verdict.pf
    file.write_text(json.dumps(content))
    basis = build_report(run_copy).regions.pf_basis
    assert "the reliability stage's estimate (the verdict's)" in basis
