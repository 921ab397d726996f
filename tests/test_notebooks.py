"""The analysis notebooks in reports/ run top to bottom on a small run (nbclient)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest

from safety_val.campaign.history import HISTORY_COLUMNS, RunHistory
from tests.helpers import ROOT

nbclient = pytest.importorskip("nbclient")


def _execute(name: str, folder: Path) -> nbformat.NotebookNode:
    book = nbformat.read(ROOT / "reports" / name, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return book


def _text(book: nbformat.NotebookNode) -> str:
    parts = []
    for cell in book.cells:
        for output in cell.get("outputs", []):
            parts.append(str(output.get("text", "")))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_critical_regions_notebook(pipeline_run: tuple[Path, Any], monkeypatch: Any) -> None:
    folder, result = pipeline_run
    monkeypatch.setenv("SAFETY_VAL_RUN", str(folder / "run"))
    monkeypatch.setenv("SAFETY_VAL_N_REFERENCE", "150")  # the size the run's stage used
    book = _execute("critical_regions.ipynb", folder)
    text = _text(book)
    assert f"pf = {result.pf:.3g}" in text
    assert "replayed KPIs equal the stored ones: True" in text
    kinds = {k for c in book.cells for o in c.get("outputs", []) for k in o.get("data", {})}
    assert "image/png" in kinds  # slices and trajectories
    assert "application/vnd.plotly.v1+json" in kinds  # the interactive scatter
    assert not [o for c in book.cells for o in c.get("outputs", []) if o["output_type"] == "error"]


def test_campaign_trends_notebook(tmp_path: Path, monkeypatch: Any) -> None:
    history = RunHistory(tmp_path / "history")
    for run, (pf, regression) in enumerate([(0.010, False), (0.011, False), (0.030, True)]):
        row = {c: None for c in HISTORY_COLUMNS} | {
            "campaign": "nightly", "run_id": f"r{run}", "job": "cut_in/estimate/2000",
            "run_time": f"2026-11-{run + 1:02d}T02:00:00+00:00", "scenario": "cut_in",
            "budget": 2000, "seed": 0, "pf": pf, "ci_low": pf * 0.8, "ci_high": pf * 1.2,
            "n_calls": 2000, "new_simulations": 2000, "target": 0.05, "verdict": "met",
            "regression": regression,
        }
        history.append(pd.DataFrame([row]))
    monkeypatch.setenv("SAFETY_VAL_HISTORY", str(tmp_path / "history"))
    text = _text(_execute("campaign_trends.ipynb", tmp_path))
    assert "3 campaign runs, 1 jobs" in text
    assert "1 regression(s) flagged in the history" in text
