"""Bad input on the command line: malformed files end with exit code 2 and one line.

Each case writes a malformed file into the check's scratch folder and runs the installed
``safety-val`` command that reads it, in a child process (:mod:`._cli`). The command must
exit with code 2 and print exactly one non-empty line on stderr, starting with
``error:``, naming the offending file, without a traceback.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from safety_val.qualify.checks._cli import cli_command, run_commands
from safety_val.qualify.checks.simulated import DATA
from safety_val.qualify.requirement import CheckContext, Outcome, Requirement

__all__ = ["CASES", "requirements"]

_BASE = "lead_braking_highway.yaml"
_SIGMA = "mu: 30.0, sigma: 3.5, lower: 22.0, upper: 36.1"


def _scenario_copy(folder: Path, name: str, edit: Callable[[str], str]) -> Path:
    """A copy of the packaged scenario (and its ODD) with ``edit`` applied to its text."""
    (folder / "odd").mkdir(exist_ok=True)
    shutil.copyfile(DATA / "odd" / "motorway.yaml", folder / "odd" / "motorway.yaml")
    text = (DATA / _BASE).read_text(encoding="utf-8")
    edited = edit(text)
    if edited == text:  # the packaged file changed: the case would test nothing
        raise RuntimeError(f"the edit of case {name} no longer applies to {_BASE}")
    target = folder / name
    target.write_text(edited, encoding="utf-8")
    return target


def _yaml_syntax(folder: Path) -> tuple[list[str], Path]:
    target = folder / "syntax_error.yaml"
    target.write_text("scenario: [unclosed\n", encoding="utf-8")
    return ["scenario", "validate", str(target)], target


def _unknown_key(folder: Path) -> tuple[list[str], Path]:
    target = _scenario_copy(
        folder,
        "unknown_key.yaml",
        lambda t: t.replace("  simulator: builtin\n", "  simulator: builtin\n  colour: red\n"),
    )
    return ["scenario", "validate", str(target)], target


def _negative_sigma(folder: Path) -> tuple[list[str], Path]:
    target = _scenario_copy(
        folder, "negative_sigma.yaml", lambda t: t.replace(_SIGMA, _SIGMA.replace("3.5", "-3.5"))
    )
    return ["scenario", "validate", str(target)], target


def _missing_file(folder: Path) -> tuple[list[str], Path]:
    target = folder / "does_not_exist.yaml"
    return ["scenario", "validate", str(target)], target


def _alias_bomb(folder: Path) -> tuple[list[str], Path]:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous, current = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{current}: &{current} [" + ", ".join([f"*{previous}"] * 9) + "]")
    target = folder / "alias_bomb.yaml"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["scenario", "validate", str(target)], target


def _malformed_xosc(folder: Path) -> tuple[list[str], Path]:
    scenario = _scenario_copy(folder, "into.yaml", lambda t: t + "\n")
    target = folder / "malformed.xosc"
    target.write_text('<?xml version="1.0"?>\n<OpenSCENARIO><FileHeader\n', encoding="utf-8")
    return [
        "scenario",
        "import-xosc",
        str(target),
        "--into",
        str(scenario),
        "--out",
        str(folder / "imported.yaml"),
    ], target


def _damaged_manifest(folder: Path) -> tuple[list[str], Path]:
    scenario = _scenario_copy(folder, "resume.yaml", lambda t: t + "\n")
    run = folder / "damaged_run"
    run.mkdir()
    target = run / "manifest.json"
    target.write_text("{", encoding="utf-8")
    return ["simulate", str(scenario), "--n", "10", "--out", str(run), "--resume"], target


def _odd_syntax(folder: Path) -> tuple[list[str], Path]:
    target = folder / "odd_syntax_error.yaml"
    target.write_text("odd:\n  name: x\n  scenery: {unclosed\n", encoding="utf-8")
    return ["odd", "validate", str(target)], target


CASES: dict[str, tuple[str, Callable[[Path], tuple[list[str], Path]]]] = {
    "yaml_syntax": ("scenario file with a YAML syntax error", _yaml_syntax),
    "negative_sigma": ("scenario with a negative standard deviation", _negative_sigma),
    "damaged_manifest": ("--resume of a run whose manifest.json is truncated", _damaged_manifest),
    "unknown_key": ("scenario with an unknown key", _unknown_key),
    "missing_file": ("scenario file that does not exist", _missing_file),
    "alias_bomb": ("YAML alias bomb (9^9 nodes)", _alias_bomb),
    "malformed_xosc": ("OpenSCENARIO file with malformed XML", _malformed_xosc),
    "odd_syntax": ("ODD file with a YAML syntax error", _odd_syntax),
}
"""Case name → (what is wrong, builder of ``(safety-val arguments, offending file)``)."""


def check_bad_input(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Run every case's command; each must exit 2 with one ``error:`` line naming the file."""
    names = list(budget["cases"])
    built = []
    for name in names:
        folder = context.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        built.append(CASES[name][1](folder))
    results = run_commands(
        [cli_command(*arguments) for arguments, _ in built],
        parallel=context.workers,
        timeout=300.0,
    )
    details = []
    for name, (arguments, offending), result in zip(names, built, results, strict=True):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        one_line = len(lines) == 1
        first = lines[0] if lines else ""
        checks = {
            "exit code 2": result.returncode == 2,
            "one line on stderr": one_line,
            "starts with 'error:'": first.startswith("error:"),
            "names the file": offending.name in first,
            "no traceback": "Traceback" not in result.stderr,
        }
        details.append(
            {
                "case": name,
                "what": CASES[name][0],
                "command": "safety-val "
                + " ".join(a.replace(str(context.workdir), "<tmp>") for a in arguments),
                "exit_code": result.returncode,
                "stderr": first.replace(str(context.workdir), "<tmp>"),
                "stderr_lines": len(lines),
                "failed": [c for c, ok in checks.items() if not ok],
                "passed": all(checks.values()),
            }
        )
    n_ok = sum(d["passed"] for d in details)
    failures = [f"{d['case']} ({', '.join(d['failed'])})" for d in details if not d["passed"]]
    return Outcome(
        passed=n_ok == len(details),
        measured=(
            f"{n_ok}/{len(details)} cases exit 2 with one line naming the file"
            + (f"; failed: {'; '.join(failures)}" if failures else "")
        ),
        values={"n_cases": len(details), "n_passed": n_ok},
        details=details,
    )


def requirements() -> list[Requirement]:
    """The bad-input requirement."""
    quick = ("yaml_syntax", "negative_sigma", "damaged_manifest")
    full = tuple(CASES)
    return [
        Requirement(
            id="QR-CLI-BADINPUT",
            area="bad input",
            title="malformed files: exit 2, one line",
            text=(
                "A malformed or missing input file shall stop the command with exit code 2 and "
                "one line on stderr that names the file, never a traceback or a partial result."
            ),
            method=(
                "the installed safety-val run in a child process on {n_cases} malformed inputs: "
                "{case_list}."
            ),
            acceptance=(
                "for every case: exit code 2; exactly one non-empty stderr line; it starts with "
                "'error:' and contains the file's name; no traceback."
            ),
            check=check_bad_input,
            budgets={
                mode: {
                    "cases": cases,
                    "n_cases": len(cases),
                    "case_list": "; ".join(CASES[c][0] for c in cases),
                }
                for mode, cases in (("quick", quick), ("full", full))
            },
        )
    ]
