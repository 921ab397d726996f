"""What a reader of the report met: its own stage shown running, raw cells, two pfs."""

from __future__ import annotations

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
