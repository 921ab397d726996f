"""``safety-val qualify --quick`` end to end: run once, check the report files.

The module fixture runs the real command path (``main(["qualify", "--quick", ...])``:
option parsing, the runner, provenance, the sealed JSON, the HTML page, the exit code)
once, on a selection of the quick suite's cheapest requirements (hidden ``--select``):
the whole quick suite runs simulations in child processes and Ray and takes minutes,
which the CI's test budget cannot afford.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from safety_val.cli import main
from safety_val.qualify import SCHEMA, SUITE_VERSION, json_schema, select_requirements

SELECTION = ("QR-SIM-*", "QR-REL-PF-form", "QR-REL-BUDGET-mc", "QR-SENS-MORRIS-sobol_g")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("qualification")
    selection = [arg for pattern in SELECTION for arg in ("--select", pattern)]
    code = main(["qualify", "--quick", *selection, "--out", str(out), "--quiet"])
    document = json.loads((out / "qualification.json").read_text(encoding="utf-8"))
    return out, code, document


def test_the_report_is_valid_against_the_shipped_schema(
    quick_report: tuple[Path, int, dict[str, Any]],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    _, code, document = quick_report
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(json_schema())
    jsonschema.validate(document, json_schema(), cls=jsonschema.Draft202012Validator)
    broken = {**document, "mode": "weekly"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, json_schema(), cls=jsonschema.Draft202012Validator)


def test_one_row_per_selected_requirement_in_suite_order(
    quick_report: tuple[Path, int, dict[str, Any]],
) -> None:
    _, _, document = quick_report
    expected = [r.id for r in select_requirements("quick", list(SELECTION))]
    rows = document["requirements"]
    assert [row["id"] for row in rows] == expected
    assert expected[:5] == ["QR-SIM-STOP", "QR-SIM-LAG", "QR-SIM-TTC", "QR-SIM-FRICTION",
                            "QR-SIM-IMPACT"]
    for row in rows:
        assert row["verdict"] == "pass", row
        for key in ("requirement", "method", "acceptance", "measured"):
            assert row[key].strip() and "{" not in row[key], (row["id"], key)
    by_id = {row["id"]: row for row in rows}
    assert by_id["QR-SIM-FRICTION"]["seed"] == [0, 1, 2, 3]
    assert by_id["QR-REL-BUDGET-mc"]["values"]["converged"] is False
    assert by_id["QR-REL-BUDGET-mc"]["values"]["n_calls"] <= 1000
    assert by_id["QR-SIM-STOP"]["values"]["max_error_m"] < 0.01**2 * 3.0
    summary = document["summary"]
    assert summary == {"verdict": "passed", "n_requirements": len(rows), "n_pass": len(rows),
                       "n_fail": 0, "n_error": 0, "exit_code": 0}


def test_scope_provenance_and_suite_version(
    quick_report: tuple[Path, int, dict[str, Any]],
) -> None:
    out, _, document = quick_report
    assert document["schema"] == SCHEMA and document["suite"]["version"] == SUITE_VERSION
    assert document["mode"] == "quick" and document["selection"] == list(SELECTION)
    scope = document["scope"]
    assert scope.startswith("partial run") and "not a qualification" in scope
    full_ids = {r.id for r in select_requirements("full")}
    run_ids = {row["id"] for row in document["requirements"]}
    assert set(document["not_run"]) == full_ids - run_ids
    provenance = document["provenance"]
    assert provenance["packages"]["safety-val"] == version("safety-val")
    assert provenance["packages"]["openturns"] == version("openturns")
    assert provenance["cpu"] and provenance["cpu_count"] >= 1
    assert provenance["git"] is None or len(provenance["git"]["commit"]) == 40
    selection = " ".join(f"--select '{p}'" if "*" in p else f"--select {p}" for p in SELECTION)
    assert document["run"]["command"] == f"safety-val qualify --quick {selection} --out {out}"
    assert document["run"]["wall_s"] > 0


def test_the_seal_is_the_documented_hash_of_the_canonical_json(
    quick_report: tuple[Path, int, dict[str, Any]], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, _, _ = quick_report
    # the recipe of the README, written out independently of safety_val.qualify.document
    body = json.loads((out / "qualification.json").read_text(encoding="utf-8"))
    stored = body["integrity"].pop("sha256")
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == stored
    assert main(["qualify", "--verify", str(out / "qualification.json")]) == 0
    assert f"VERIFIED: sha256 {stored}" in capsys.readouterr().out
    tampered = json.loads((out / "qualification.json").read_text(encoding="utf-8"))
    tampered["requirements"][0]["measured"] = "edited by hand"
    copy = tmp_path / "qualification.json"
    copy.write_text(json.dumps(tampered, indent=2), encoding="utf-8")
    assert main(["qualify", "--verify", str(copy)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "the SHA-256 does not match" in error[0] and stored in error[0]


def test_the_html_page_is_self_contained_and_shows_every_row(
    quick_report: tuple[Path, int, dict[str, Any]],
) -> None:
    out, _, document = quick_report
    page = (out / "qualification.html").read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "<script" not in page
    assert "http://" not in page and "https://" not in page.replace(
        "https://json-schema.org", ""
    )
    assert document["integrity"]["sha256"] in page
    for row in document["requirements"]:
        assert f'id="{row["id"]}"' in page
    # text from the document is escaped: the method of QR-SIM-STOP quotes a Python call
    assert "simulate(&#39;lead_braking&#39;" in page


def test_an_existing_report_is_not_replaced_without_force(
    quick_report: tuple[Path, int, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _, _ = quick_report
    before = (out / "qualification.json").read_bytes()
    assert main(["qualify", "--quick", "--select", "QR-SIM-LAG", "--out", str(out)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "pass --force to replace it" in error[0]
    assert (out / "qualification.json").read_bytes() == before
