"""The Markdown report: the same content and order as the HTML, as plain text.

Text from files is escaped so that a Markdown viewer shows it literally: ``<``,
``>`` and ``&`` become entities (no raw HTML gets through) and ``|`` is escaped
inside tables. Figures are linked by path relative to the Markdown file; the
convergence plot is given as a table of its history.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safety_val.report.cells import (
    format_number,
    parameter_units,
    worst_case_parameters,
    worst_case_summary,
)

if TYPE_CHECKING:
    from safety_val.report.model import Report

__all__ = ["escape_markdown", "render_markdown"]

_HISTORY_ROWS = 12


def escape_markdown(text: Any) -> str:
    r"""Text shown literally in Markdown (HTML entities, escaped emphasis and pipes).

    Examples
    --------
    >>> escape_markdown("<script>a|b*c_d</script>")
    '&lt;script&gt;a\\|b\\*c\\_d&lt;/script&gt;'
    """
    out = format_number(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for char in "\\`*_[]|":
        out = out.replace(char, "\\" + char)
    return out.replace("\n", " ")


def _table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    units: Mapping[str, str] | None = None,
) -> list[str]:
    if not rows:
        return ["none", ""]
    cols = list(columns) if columns else list(rows[0].keys())
    units = units or {}

    def head(column: str) -> str:
        unit = units.get(column)
        return escape_markdown(column + (f" [{unit}]" if unit else ""))

    lines = [
        "| " + " | ".join(head(c) for c in cols) + " |",
        "|" + "|".join("---" for _ in cols) + "|",
    ]
    lines += ["| " + " | ".join(escape_markdown(r.get(c)) for c in cols) + " |" for r in rows]
    return [*lines, ""]


def _status(section: Mapping[str, Any]) -> list[str]:
    message = section.get("message")
    text = str(section.get("status")) + (f": {message}" if message else "")
    return [f"*{escape_markdown(text)}*", ""]


def render_markdown(report: Report | Mapping[str, Any], *, path: str | Path | None = None) -> str:
    """The report as Markdown.

    Parameters
    ----------
    report
        A :class:`~safety_val.report.model.Report` or its :meth:`to_dict` content.
    path
        Where the Markdown file will be written; figure links are made relative to
        it (default: relative to the current directory).
    """
    r = dict(report) if isinstance(report, Mapping) else report.to_dict()
    root = Path(str(r["run_dir"]))
    base = Path(path).resolve().parent if path is not None else Path.cwd()

    def image(name: str, caption: str) -> list[str]:
        target = os.path.relpath((root / name).resolve(), base)
        return [f"![{escape_markdown(caption)}]({Path(target).as_posix()})", ""]

    esc = escape_markdown
    units = parameter_units(r)
    v, e = r["verdict"], r["estimate"]
    lines = [f"# {esc(r['title'])}", ""]
    lines += [f"Run `{r['run_dir']}` ({r['layout']} run), generated {r['generated_at']}.", ""]
    lines += ["## Verdict", ""]
    label = "no estimate (not run)" if v["status"] == "not run" else f"target {v['status']}"
    lines += [f"**{label.upper()}** — acceptance target pf ≤ {esc(v['target'])} per exposure.", ""]
    lines += [f"{esc(v['explanation'])}.", ""]
    lines += [f"> {esc(note)}" for note in r.get("notes") or []]
    lines += ["", "## Failure probability", ""]
    if e["status"] == "done":
        lines += _table(
            [
                {"quantity": "pf = P(g ≤ 0)", "value": e["pf"]},
                {"quantity": "95 % interval", "value": f"[{esc(e['ci'][0])}, {esc(e['ci'][1])}]"},
                {"quantity": "β (σ)", "value": e["beta"]},
                {"quantity": "coefficient of variation", "value": e["cov"]},
                {"quantity": "simulator calls", "value": e["n_calls"]},
                {"quantity": "new simulations", "value": e["new_simulations"]},
                *(
                    [{"quantity": "failed simulations (error/timeout, excluded from pf; the "
                      "interval counts them as possible failures)", "value": e["n_errors"]}]
                    if e.get("n_errors") else []
                ),
                {"quantity": "method", "value": e["method"]},
                {"quantity": "converged", "value": e["converged"]},
                {"quantity": "seed", "value": e["seed"]},
            ]
        )
        if e.get("message"):
            lines += [f"> {esc(e['message'])}", ""]
        lines += ["### Convergence", ""]
        history = list(e.get("history") or [])
        step = max(1, len(history) // _HISTORY_ROWS)
        shown = history[::step] + ([history[-1]] if history and (len(history) - 1) % step else [])
        lines += _table(shown, ["n_calls", "pf", "cov", "ci_low", "ci_high"])
    else:
        lines += _status(e)

    s = r["scenario"]
    lines += ["## Scenario and ODD", ""]
    if s["status"] == "done":
        lines += [f"**{esc(s['name'])}** — {esc(s['description'])}", ""]
        lines += [
            f"- ODD: {esc(s['odd'])}",
            f"- simulator / template: {esc(s['simulator'])} / {esc(s['template'])}",
            f"- limit state: `g = {s['limit_state']}` (failure when g ≤ 0)",
            f"- KPIs: {esc(', '.join(s['kpis']))}",
            f"- file: `{s['file']}`",
        ]
        if s.get("dependence"):
            lines.append(f"- dependence: {esc(s['dependence'])}")
        lines.append("")
        lines += _table(
            s["parameters"],
            ["name", "unit", "distribution", "support", "odd_attribute", "description"],
        )
    else:
        lines += _status(s)

    d = r["simulation"]
    lines += ["## Design of experiments", ""]
    if d["status"] == "done":
        lines += [
            f"{esc(d['design'])} design of {d['n']} scenarios: ok {d['n_ok']}, error "
            f"{d['n_error']}, timeout {d['n_timeout']}; failures {d['n_failures']} = "
            f"{esc(d['failure_fraction'])} (95 % interval [{esc(d['ci'][0])}, {esc(d['ci'][1])}])",
            "",
        ]
    else:
        lines += _status(d)

    t = r["sensitivity"]
    lines += ["## Sensitivity ranking", ""]
    if t["status"] == "done":
        lines += [f"Selected parameters: **{esc(', '.join(t['selected']))}**", ""]
        lines += [f"Ranked output: {esc(t.get('output') or 'g')}", ""]
        lines += _table(t["ranking"])
        if t.get("noise_floor"):
            lines += ["### Noise floor", ""]
            lines += _table(t["noise_floor"], ["method", "index", "floor", "n_dummies", "basis"])
        for note in t.get("notes") or []:
            lines += [f"> {esc(note)}", ""]
        for name in t.get("figures") or []:
            lines += image(name, name)
    else:
        lines += _status(t)

    g = r["regions"]
    lines += ["## Critical regions", ""]
    if g["status"] == "done":
        if g.get("pf_basis"):
            lines += [f"> {esc(g['pf_basis'])}", ""]
        lines += ["### Failure modes", "", *_table(g["modes"], units=units)]
        lines += ["### Rules", ""]
        lines += _table(g["rules"], ["mode", "rule", "precision", "recall", "n_covered"])
        lines += ["### Example scenarios", "", *_table(g["examples"], units=units)]
        lines += [f"Replay one with `safety-val replay {r['run_dir']} SCENARIO_ID`.", ""]
        for name in g.get("figures") or []:
            lines += image(name, "failure regions over parameter pairs")
    else:
        lines += _status(g)

    b = r["robustness"]
    lines += ["## Robustness", ""]
    if b["status"] == "done":
        if b.get("pf_basis"):
            lines += [f"> {esc(b['pf_basis'])}", ""]
        lines += ["### Safety margins", "", *_table(b["margins"])]
        lines += ["### Distribution shifts", ""]
        lines += _table(
            b["shifts"],
            ["parameter", "shift", "pf", "ci_low", "ci_high", "ratio_to_nominal", "how"],
        )
        lines += ["### Worst case", ""]
        worst = b.get("worst_case")
        if worst:
            lines += _table(
                [{"quantity": q, "value": value} for q, value in worst_case_summary(worst)]
            )
            rows = worst_case_parameters(worst, units)
            if rows:
                lines += [
                    "The input means that attain the worst pf, one row per parameter "
                    "(shift in standard deviations of the nominal distribution).",
                    "",
                    *_table(rows, ["parameter", "mean shift", "worst-case mean"]),
                ]
        else:
            lines += ["*not run* (no ambiguity set given)", ""]
        caption = "tornado: pf under each distribution shift"
        if b.get("pf") is not None:
            caption += (
                f"; its nominal {format_number(b['pf'], 3)} is the pf re-estimated on the "
                "reference importance sample"
            )
            if v.get("pf") is not None:
                caption += f", not the verdict's {format_number(v['pf'], 3)}"
        for name in b.get("figures") or []:
            lines += image(name, caption)
    else:
        lines += _status(b)

    lines += ["## Stages", "", *_table(r["stages"], ["name", "status", "seconds", "message"])]
    p = r["provenance"]
    lines += ["## Provenance", ""]
    lines += [
        f"- safety-val (run / report): {esc(p['safety_val_version'])} / "
        f"{esc(p['report_safety_val_version'])}",
        "- libraries: " + esc(", ".join(f"{k} {val}" for k, val in p["versions"].items())),
        "- seeds: " + esc(", ".join(f"{k} = {val}" for k, val in p["seeds"].items()) or "—"),
        f"- configuration: `{json.dumps(p['config'], sort_keys=True)}`",
        f"- config hash (sha256): `{p['config_hash']}`",
        f"- scenario file: `{p['scenario_file']}`",
        f"- scenario sha256: `{p['scenario_sha256']}`",
        "",
    ]
    return "\n".join(lines)
