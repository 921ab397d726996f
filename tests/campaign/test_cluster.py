"""A real two-node Ray cluster on loopback: a campaign survives losing its worker node.

The head (``ray start --head``) and a worker node (``ray start --address``) run as
separate process trees with one CPU each. The campaign is driven by a separate
``safety-val`` process; when the first simulation batch has been stored, the worker
node's whole process tree (raylet, its workers and any job running there) is killed.
Ray re-runs the lost tasks on the head; a job that was running on the worker resumes
from its run directory. Every job must end with each concrete scenario stored exactly
once, and with the same pf as a serial run of the same campaign.

Teardown ends only the processes this test started (by pid), never ``ray stop``, which
would also stop other Ray instances on the machine (the session fixture's, other users').
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.campaign.conftest import write_campaign, write_fast_scenario

psutil = pytest.importorskip("psutil")

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RAY = Path(sys.executable).parent / "ray"
CLI = [sys.executable, "-c", "from safety_val.cli import main; raise SystemExit(main())"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_tree(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Kill ``process`` and every descendant it started (by pid, children first)."""
    try:
        root = psutil.Process(process.pid)
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        tree = []
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # its own session: the raylet and its workers
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.send_signal(sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)


def _alive_nodes(address: str, env: dict[str, str]) -> int:
    probe = (
        f"import ray; ray.init(address={address!r}, log_to_driver=False); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    lines = found.stdout.strip().splitlines()
    return int(lines[-1]) if found.returncode == 0 and lines and lines[-1].isdigit() else 0


@pytest.fixture
def two_node_cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Any]]:
    """(address, environment, worker process) of a head + worker cluster on 127.0.0.1."""
    if not RAY.exists():
        pytest.skip("the ray command is not installed next to this Python")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        # Ray >= 2.59 authenticates cluster clients with a token shared by all processes
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p),
    }
    temp_dir = tempfile.mkdtemp(prefix="sv-ray-", dir="/tmp")  # short: socket path limits
    common = ["--block", "--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    head = subprocess.Popen(
        [
            str(RAY),
            "start",
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--temp-dir={temp_dir}",
            *common,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    worker = None
    try:
        deadline = time.monotonic() + 120
        while _alive_nodes(address, env) < 1:
            assert time.monotonic() < deadline, "the Ray head did not start"
            time.sleep(2)
        worker = subprocess.Popen(
            [str(RAY), "start", f"--address={address}", *common],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        while _alive_nodes(address, env) < 2:
            assert time.monotonic() < deadline, "the Ray worker node did not join"
            time.sleep(2)
        yield address, env, worker
    finally:
        if worker is not None:
            _kill_tree(worker)
        _kill_tree(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _campaign(folder: Path) -> Path:
    write_fast_scenario(folder)
    return write_campaign(
        folder,
        target=0.5,
        entry_budgets=[300, 400],
        entry_options={"block_size": 50},
    )


def test_campaign_survives_losing_the_worker_node(
    tmp_path: Path, two_node_cluster: tuple[str, dict[str, str], Any]
) -> None:
    address, env, worker = two_node_cluster
    started = time.monotonic()
    file = _campaign(tmp_path)
    out = tmp_path / "cluster"
    campaign = subprocess.Popen(
        [
            *CLI,
            "campaign",
            "run",
            str(file),
            "--executor",
            "ray",
            "--ray-address",
            address,
            "--out",
            str(out),
            "--history",
            str(tmp_path / "history-cluster"),
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 240
        # kill when both jobs have stored a batch: each is then mid-run
        while len({p.parents[1] for p in out.glob("jobs/*/samples/part-*.parquet")}) < 2:
            assert campaign.poll() is None, campaign.communicate()
            assert time.monotonic() < deadline, "no batch was stored"
            time.sleep(0.2)
        assert campaign.poll() is None, "the campaign ended before the node could be killed"
        killed_at = time.monotonic()
        _kill_tree(worker)  # the worker node dies mid-run
        stdout, stderr = campaign.communicate(timeout=400)
    finally:
        if campaign.poll() is None:
            campaign.kill()
    assert campaign.returncode == 0, stdout[-3000:] + stderr[-3000:]
    print(
        f"node killed {killed_at - started:.1f} s into the campaign, which finished "
        f"{time.monotonic() - killed_at:.1f} s later"
    )

    serial_out = tmp_path / "serial"
    serial = subprocess.run(
        [
            *CLI,
            "campaign",
            "run",
            str(file),
            "--out",
            str(serial_out),
            "--history",
            str(tmp_path / "history-serial"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
        env=env,
    )
    assert serial.returncode == 0, serial.stderr[-3000:]

    on_cluster = json.loads((out / "summary.json").read_text())["jobs"]
    alone = json.loads((serial_out / "summary.json").read_text())["jobs"]
    print("cluster:", [(j["job"], j["pf"], j["n_calls"], j["new_simulations"]) for j in on_cluster])
    assert [j["job"] for j in on_cluster] == [
        "lead_braking/estimate/300",
        "lead_braking/estimate/400",
    ]
    # the job that ran on the lost node resumed from its run directory on the head
    assert any(j["new_simulations"] < j["n_calls"] for j in on_cluster), on_cluster
    for job, reference in zip(on_cluster, alone, strict=True):
        assert job["pf"] == reference["pf"] and job["n_calls"] == reference["n_calls"]
        assert (job["ci_low"], job["ci_high"]) == (reference["ci_low"], reference["ci_high"])
        samples = pd.read_parquet(Path(job["run_dir"]) / "samples")
        assert samples["sample_index"].is_unique and samples["scenario_id"].is_unique
        assert sorted(samples["sample_index"]) == list(range(job["n_calls"]))
        assert not list(Path(job["run_dir"]).glob("samples/_corrupt/*"))
