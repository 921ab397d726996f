"""The campaign summary: JSON and a self-contained HTML page, and the formatting of its cells."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from safety_val._io import atomic_write_text

if TYPE_CHECKING:
    from safety_val.campaign.runner import CampaignRun

__all__ = ["is_true", "render_summary_html", "write_summary"]


def write_summary(run: CampaignRun) -> tuple[Path, ...]:
    """Write the summary as JSON and HTML: ``reports/<run_id>.*`` and ``summary.*``."""
    summary = run.to_dict()
    text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
    html = render_summary_html(summary)
    reports = run.out / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in (
        (reports / f"{run.run_id}.json", text),
        (reports / f"{run.run_id}.html", html),
        (run.out / "summary.json", text),
        (run.out / "summary.html", html),
    ):
        written.append(atomic_write_text(name, content))
    return tuple(written)


_JOB_COLUMNS: Final = (
    ("job", "job"),
    ("fixed", "fixed overrides"),
    ("pf", "pf"),
    ("ci", "95 % interval"),
    ("cov", "CoV"),
    ("beta", "β"),
    ("n_calls", "calls"),
    ("method", "method"),
    ("target", "target"),
    ("verdict", "verdict"),
    ("previous_run_id", "previous run"),
    ("ratio", "pf ratio"),
    ("z", "z"),
    ("p_value", "p-value"),
    ("regression", "regression"),
    ("reused", "re-used"),
)


def _job_cell(job: Mapping[str, Any], key: str) -> Any:
    """One cell of the jobs table of the HTML summary."""
    if key == "ci":
        return f"{_format_number(job.get('ci_low'))} – {_format_number(job.get('ci_high'))}"
    if key == "fixed" and job.get("fixed") in (None, "", "{}"):
        return None
    return job.get(key)


def render_summary_html(summary: Mapping[str, Any]) -> str:
    """The campaign summary (:meth:`CampaignRun.to_dict`) as one self-contained HTML page.

    Rendered by :func:`safety_val.report.render_campaign_html`, which escapes everything.
    """
    from safety_val.report import render_campaign_html

    test = summary["regression_test"]
    tables = [
        {
            "title": "Jobs",
            "columns": [title for _, title in _JOB_COLUMNS],
            "rows": [
                [_format_number(_job_cell(job, key)) for key, _ in _JOB_COLUMNS]
                for job in summary["jobs"]
            ],
        }
    ]
    if summary["errors"]:
        tables.append(
            {
                "title": "Failed jobs",
                "columns": ["job", "reason"],
                "rows": [[k, v] for k, v in summary["errors"].items()],
            }
        )
    if summary["unreadable_history"]:
        tables.append(
            {
                "title": "Unreadable history files (skipped)",
                "columns": ["file", "reason"],
                "rows": [[u["file"], u["reason"]] for u in summary["unreadable_history"]],
            }
        )
    page = {
        "title": f"Campaign {summary['campaign']}, run {summary['run_id']}",
        "status": summary["status"],
        "subtitle": summary.get("description") or "",
        "generated_at": summary["run_time"],
        "facts": {
            "campaign file": summary.get("campaign_file") or "",
            "exit code": summary["exit_code"],
            "regression test": test["description"],
            "α (per run)": test["alpha"],
            "jobs compared": test["jobs_compared"],
            "α per job": _format_number(test["alpha_per_job"]),
            "history": summary["history"],
        },
        "tables": tables,
        "notes": list(summary["reasons"]),
    }
    return str(render_campaign_html(page))


# -- cells ------------------------------------------------------------------------------------


def is_true(value: Any) -> bool:
    """Whether a nullable boolean cell is true.

    ``True`` and ``numpy.True_`` are, as are the strings ``"true"`` / ``"True"``;
    ``None``, ``pd.NA``, NaN, ``False`` and any other string are not.

    Examples
    --------
    >>> import numpy as np
    >>> [is_true(v) for v in (True, np.True_, "True", "true", 1)]
    [True, True, True, True, True]
    >>> [is_true(v) for v in (False, np.False_, "False", None, pd.NA, float("nan"), 0)]
    [False, False, False, False, False, False, False]
    """
    if value is None or value is pd.NA:
        return False
    if isinstance(value, str):
        return value.strip().lower() == "true"
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return _json_number(value.item())
    return value


def _format_number(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)

