"""End-to-end tests of the ``safety-val`` command line (in-process, plus one real subprocess)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from safety_val.cli import main
from tests.helpers import MOTORWAY_ODD, SCENARIOS, WEAK_AEB, scenario_body, write_scenario

CUT_IN = SCENARIOS / "cut_in.yaml"
WEAK_CUT_IN = WEAK_AEB / "cut_in.yaml"
"""Weak-AEB cut-in (pf of per cent): for analyses that need failures or spread in a few hundred
runs (the realistic cut-in has pf of about 1e-6 and g = 9 almost everywhere)."""


def test_simulate_writes_complete_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(
        [
            "simulate",
            str(CUT_IN),
            "--n",
            "300",
            "--design",
            "sobol",
            "--seed",
            "3",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    samples = pd.read_parquet(out / "samples")
    assert len(samples) == 300 and samples["sample_index"].is_unique
    assert set(samples["sample_index"]) == set(range(300))
    assert {"scenario_id", "status", "message", "g", "min_ttc", "collision"} <= set(samples.columns)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["n"] == 300 and manifest["seed"] == 3
    assert manifest["versions"]["openturns"]
    summary = manifest["summary"]
    assert summary["n_ok"] + summary["n_error"] + summary["n_timeout"] == 300


def test_other_commands_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["odd", "validate", str(MOTORWAY_ODD)]) == 0
    assert main(["scenario", "list", str(SCENARIOS)]) == 0
    assert "invalid" not in capsys.readouterr().out
    assert main(["scenario", "show", str(CUT_IN)]) == 0
    assert "limit state" in capsys.readouterr().out
    assert main(["scenario", "validate", *map(str, sorted(SCENARIOS.glob("*.yaml")))]) == 0
    design = tmp_path / "design.csv"
    assert (
        main(["doe", str(CUT_IN), "--n", "64", "--design", "optimal_lhs", "--out", str(design)])
        == 0
    )
    assert len(pd.read_csv(design)) == 64
    assert "centred L2 discrepancy" in capsys.readouterr().out


def test_xosc_round_trip_through_the_cli(tmp_path: Path) -> None:
    xosc = tmp_path / "cut_in.xosc"
    assert main(["scenario", "export-xosc", str(CUT_IN), "--out", str(xosc), "--runs", "50"]) == 0
    assert xosc.read_text().count("StochasticDistribution") >= 2
    rebuilt = tmp_path / "cut_in_again.yaml"
    assert (
        main(["scenario", "import-xosc", str(xosc), "--into", str(CUT_IN), "--out", str(rebuilt)])
        == 0
    )
    from safety_val.scenario import load_scenario

    original, again = load_scenario(CUT_IN), load_scenario(rebuilt)
    assert again.names == original.names
    assert [p.distribution for p in again.parameters] == [
        p.distribution for p in original.parameters
    ]
    assert [p.bounds for p in again.parameters] == [p.bounds for p in original.parameters]
    # what OpenSCENARIO does not carry is kept from the base scenario
    assert [p.unit for p in again.parameters] == [p.unit for p in original.parameters]
    assert [p.odd_attribute for p in again.parameters] == [
        p.odd_attribute for p in original.parameters
    ]
    assert again.dependence == original.dependence


def test_fit_writes_parameter_block(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    data = tmp_path / "data.csv"
    pd.DataFrame({"gap": rng.gamma(3.0, 5.0, 800), "speed": rng.normal(25, 2, 800)}).to_csv(
        data, index=False
    )
    out = tmp_path / "block.yaml"
    assert (
        main(["fit", str(data), "--columns", "gap,speed", "--copula", "--out", str(out), "-q"]) == 0
    )
    import yaml

    block = yaml.safe_load(out.read_text())
    families = {p["name"]: p["distribution"]["family"] for p in block["parameters"]}
    assert families["speed"] == "Normal"
    assert families["gap"] in {"Gamma", "Weibull", "LogNormal"}


def test_fit_refuses_to_overwrite_without_force_or_its_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import numpy as np

    data = tmp_path / "data.csv"
    pd.DataFrame({"speed": np.random.default_rng(1).normal(25, 2, 300)}).to_csv(
        data, index=False
    )
    out = tmp_path / "block.yaml"
    out.write_text("keep me\n")
    args = ["fit", str(data), "--columns", "speed", "-q", "--out"]
    assert main([*args, str(out)]) == 2
    assert "file exists; pass --force to overwrite it" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert main([*args, str(data), "--force"]) == 2
    assert "--out is the input" in capsys.readouterr().err
    assert main([*args, str(out), "--force"]) == 0
    assert "parameters" in out.read_text()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["simulate", "missing.yaml"], "missing.yaml: file not found"),
        (["simulate", str(CUT_IN), "--design", "lhd", "--n", "5"], "unknown design 'lhd'"),
        (["simulate", str(CUT_IN), "--executor", "dask", "--n", "5"], "unknown executor 'dask'"),
        (["odd", "validate", str(CUT_IN)], "missing top-level 'odd:' mapping"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    fragment: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_scenario_file_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = scenario_body()
    body["parameters"][0]["distribution"] = {"family": "Normal", "mu": 25, "sigma": -1}
    file = write_scenario(tmp_path, body)
    assert main(["scenario", "validate", str(file)]) == 2
    err = capsys.readouterr().err
    assert str(file) in err and "sigma" in err and "-1" in err


def test_existing_out_without_resume_is_refused_and_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["simulate", str(CUT_IN), "--n", "10", "--out", str(out), "-q"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def _parts(out: Path) -> list[Path]:
    folder = out / "samples"
    return sorted(folder.glob("part-*.parquet")) if folder.exists() else []


def test_resume_after_kill_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    cli = shutil.which("safety-val") or ""
    command = [cli] if cli else [sys.executable, "-m", "safety_val.cli"]
    common = ["simulate", str(CUT_IN), "--n", "600", "--seed", "5", "--batch-size", "25", "-q"]
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [*command, *common, "--out", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(_parts(killed)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written = len(pd.read_parquet(killed / "samples")) if _parts(killed) else 0
    assert 0 < written < 600, "the kill must land mid-run for this test to mean anything"
    assert main([*common, "--out", str(killed), "--resume"]) == 0
    straight = tmp_path / "straight"
    assert main([*common, "--out", str(straight)]) == 0
    resumed = pd.read_parquet(killed / "samples").sort_values("sample_index").reset_index(drop=True)
    reference = (
        pd.read_parquet(straight / "samples").sort_values("sample_index").reset_index(drop=True)
    )
    assert len(resumed) == 600 and resumed["sample_index"].is_unique
    pd.testing.assert_frame_equal(resumed, reference)


def test_console_script_help() -> None:
    cli = shutil.which("safety-val")
    command = [cli] if cli else [sys.executable, "-m", "safety_val.cli"]
    result = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    for name in ("simulate", "scenario", "odd", "fit", "doe"):
        assert name in result.stdout


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<OpenSCENARIO><ParameterValueDistribution>&lol3;</ParameterValueDistribution></OpenSCENARIO>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<OpenSCENARIO><ParameterValueDistribution>&xxe;</ParameterValueDistribution></OpenSCENARIO>
"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["laughs", "xxe"])
def test_hostile_xosc_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    xosc = tmp_path / "evil.xosc"
    xosc.write_text(text)
    out = tmp_path / "out.yaml"
    assert main(["scenario", "import-xosc", str(xosc), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "evil.xosc" in err and "not allowed" in err and "root:" not in err
    assert not out.exists()


def test_unknown_simulator_in_scenario_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = write_scenario(tmp_path, scenario_body(simulator="carla2"))
    assert main(["simulate", str(file), "--n", "5", "--out", str(tmp_path / "run")]) == 2
    assert "unknown simulator 'carla2'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.ray
def test_simulate_joins_a_running_ray_cluster(tmp_path: Path) -> None:
    """``--ray-address`` joins a cluster started with ``ray start --head`` on loopback."""
    ray_cli = Path(sys.executable).parent / "ray"
    if not ray_cli.exists():
        pytest.skip("the ray command is not installed next to this Python")
    import secrets

    port = _free_port()
    # Ray >= 2.59 authenticates with a token: the head and the driver share it.
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    head = subprocess.Popen(
        [
            str(ray_cli),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        cli = shutil.which("safety-val")
        command = [cli] if cli else [sys.executable, "-m", "safety_val.cli"]
        out = tmp_path / "run"
        result = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # the head needs a few seconds to accept drivers
            result = subprocess.run(
                [
                    *command,
                    "simulate",
                    str(CUT_IN),
                    "--n",
                    "200",
                    "--executor",
                    "ray",
                    "--ray-address",
                    f"127.0.0.1:{port}",
                    "--out",
                    str(out),
                    "-q",
                ],
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
                env=env,
            )
            if result.returncode == 0 or out.exists():
                break
            time.sleep(2)
        assert result is not None and result.returncode == 0, result.stderr[-2000:]
        samples = pd.read_parquet(out / "samples")
        assert sorted(samples["sample_index"]) == list(range(200))
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["executor"] == "ray" and manifest["n_workers"] == 2
    finally:
        head.terminate()
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()


def test_estimate_stores_every_simulation_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = SCENARIOS / "lead_braking.yaml"
    out = tmp_path / "pf"
    args = [
        "estimate",
        str(scenario),
        "--method",
        "mc",
        "--max-calls",
        "400",
        "--seed",
        "2",
        "--batch-size",
        "50",
        "--out",
        str(out),
        "-q",
    ]
    assert main(args) == 0
    first = json.loads((out / "result.json").read_text())
    stored = pd.read_parquet(out / "samples")
    assert first["new_simulations"] == len(stored) > 0
    assert stored["scenario_id"].is_unique
    assert first["result"]["n_calls"] <= 400
    lo, hi = first["result"]["ci"]
    assert lo <= first["result"]["pf"] <= hi
    capsys.readouterr()
    assert main(args) == 0  # same seed and --out: nothing is simulated again
    second = json.loads((out / "result.json").read_text())
    assert second["new_simulations"] == 0
    assert second["result"]["pf"] == first["result"]["pf"]
    assert len(pd.read_parquet(out / "samples")) == len(stored)


def test_estimate_unknown_method_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["estimate", str(CUT_IN), "--method", "magic", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "magic" in err and "nais" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("command", "option", "value", "expected"),
    [
        ("estimate", "--max-calls", "100000000000000000000000", "an int in [10, 1000000000]"),
        ("estimate", "--target-cov", "1.5", "a number in (0, 1)"),
        ("run", "--budget", "100000000000000000000000", "an int in [10, 1000000000]"),
    ],
)
def test_out_of_range_budgets_exit_2_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, option: str, value: str,
    expected: str,
) -> None:
    code = main([command, str(CUT_IN), option, value, "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {option}: must be {expected} (got {value}; expected {expected})"]
    assert not (tmp_path / "x").exists()


def test_sensitivity_ranks_reduces_and_reuses_simulations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sens"
    args = [
        "sensitivity",
        str(WEAK_CUT_IN),
        "--n",
        "160",
        "--methods",
        "morris,delta",
        "--holdout",
        "40",
        "--seed",
        "3",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "parameter ranking" in printed and "reduced scenario" in printed
    report = json.loads((out / "sensitivity.json").read_text())
    selected = report["sensitivity"]["selected"]
    from safety_val.scenario import load_scenario

    reduced = load_scenario(out / "cut_in_reduced.yaml")
    assert set(reduced.names) == set(selected)
    assert set(reduced.fixed) >= set(load_scenario(WEAK_CUT_IN).names) - set(selected)
    assert (out / "indices.png").stat().st_size > 0 and (out / "morris.png").exists()
    simulated = report["simulations"]
    assert simulated == len(pd.read_parquet(out / "evaluations" / "samples")) > 0
    assert main(args) == 0  # same seed and --out: every simulation is found in the store
    assert json.loads((out / "sensitivity.json").read_text())["simulations"] == 0


def test_sensitivity_unknown_method_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["sensitivity", str(CUT_IN), "--methods", "morris,fast99", "--out", str(tmp_path / "s")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "fast99" in err and "pawn" in err
    assert not (tmp_path / "s").exists()


def test_sensitivity_on_an_existing_run_simulates_nothing(tmp_path: Path) -> None:
    run = tmp_path / "doe"
    assert main(["simulate", str(WEAK_CUT_IN), "--n", "300", "--out", str(run), "-q"]) == 0
    out = tmp_path / "sens"
    assert (
        main(
            [
                "sensitivity",
                str(WEAK_CUT_IN),
                "--samples",
                str(run),
                "--methods",
                "delta,pawn",
                "--holdout",
                "0",
                "--rank-on",
                "failure",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    report = json.loads((out / "sensitivity.json").read_text())
    # --rank-on failure: 300 weak-AEB runs hold too few failures to rank the label, so the
    # continuous margin is ranked and the note says why
    assert report["sensitivity"]["output"] == "g"
    assert any("not the failure label" in n and "rank_on='failure'" in n
               for n in report["sensitivity"]["notes"])
    assert report["simulations"] == 0
    assert report["sensitivity"]["costs"]["total"] == 0
    assert (out / "cut_in_reduced.yaml").exists()
    other = SCENARIOS / "lead_braking.yaml"
    assert (
        main(
            [
                "sensitivity",
                str(other),
                "--samples",
                str(run),
                "--methods",
                "delta",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )


@pytest.fixture(scope="module")
def lead_braking_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small 'estimate' run directory (crude MC) for the analyses that read one (the weak-AEB
    lead braking: 600 runs hold failures for the regions and robustness analyses)."""
    out = tmp_path_factory.mktemp("pf") / "lead_braking"
    scenario = WEAK_AEB / "lead_braking.yaml"
    assert (
        main(
            [
                "estimate",
                str(scenario),
                "--method",
                "mc",
                "--max-calls",
                "600",
                "--seed",
                "1",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    return out


def test_regions_prints_modes_and_rules_and_writes_xosc(
    lead_braking_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    xosc_dir = tmp_path / "xosc"
    assert (
        main(
            [
                "regions",
                str(lead_braking_run),
                "--n-reference",
                "200",
                "--per-mode",
                "2",
                "--export-xosc",
                str(xosc_dir),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "failure modes" in printed and "mode 0:" in printed and "precision" in printed
    report = json.loads((lead_braking_run / "regions.json").read_text())
    assert report["modes"] and report["rules"]
    files = sorted(xosc_dir.glob("*.xosc"))
    assert files and all(f.with_suffix(".xodr").exists() for f in files)
    from defusedxml import ElementTree

    assert ElementTree.parse(files[0]).getroot().tag == "OpenSCENARIO"
    assert (lead_braking_run / "slices.png").stat().st_size > 0


def test_robustness_prints_margins_and_shifts(
    lead_braking_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "robustness",
                str(lead_braking_run),
                "--n-reference",
                "300",
                "--shift",
                "lead_decel=+1sd",
                "--max-calls",
                "300",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "safety margin" in printed and "distribution shifts" in printed
    report = json.loads((lead_braking_run / "robustness.json").read_text())
    assert report["beta"] is not None
    assert (lead_braking_run / "tornado.png").stat().st_size > 0


def test_analyses_refuse_a_run_of_another_scenario(
    lead_braking_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["regions", str(lead_braking_run), "--scenario", str(CUT_IN)]) == 2
    assert "another scenario" in capsys.readouterr().err
    assert main(["robustness", str(tmp_path)]) == 2
    assert "no reliability result" in capsys.readouterr().err
    assert main(["robustness", str(lead_braking_run), "--shift", "lead_decel=+2"]) == 2


def test_doe_out_needs_force_to_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "design.csv"
    out.write_text("keep me\n")
    args = ["-q", "doe", str(CUT_IN), "--n", "8", "--out", str(out)]
    assert main(args) == 2
    assert "file exists; pass --force to overwrite it" in capsys.readouterr().err
    assert out.read_text() == "keep me\n"
    assert main([*args, "--force"]) == 0
    assert len(pd.read_csv(out)) == 8
    assert main(["-q", "doe", str(CUT_IN), "--n", "8", "--out", str(CUT_IN), "--force"]) == 2
    assert "--out is the input" in capsys.readouterr().err
