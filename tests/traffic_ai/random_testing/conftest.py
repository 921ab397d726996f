"""Tiny SUMO networks and scenarios for the random-testing tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytest.importorskip("libsumo")


def straight_road(folder: Path, *, length: float = 800.0) -> Path:
    """A straight one-lane road each way: edges ``A0B0`` and ``B0A0``, 13.89 m/s."""
    from traffic_ai.network import sumo_binary

    out = folder / "line.net.xml"
    subprocess.run([
        sumo_binary("netgenerate"), "--grid", "--grid.x-number", "2", "--grid.y-number", "1",
        "--grid.x-length", str(length), "--default.lanenumber", "1", "--default.speed", "13.89",
        "--no-turnarounds", "true", "-o", str(out),
    ], check=True, capture_output=True)
    return out


def slow_lead_routes(folder: Path) -> Path:
    """One slow vehicle (2 m/s) 300 m ahead of where the egos start on ``A0B0``."""
    out = folder / "slow.rou.xml"
    out.write_text(
        '<routes>\n  <vType id="slow" maxSpeed="2" vClass="passenger"/>\n'
        '  <vehicle id="slow0" type="slow" depart="0" departPos="300" departSpeed="2">\n'
        '    <route edges="A0B0"/>\n  </vehicle>\n</routes>\n'
    )
    return out


@pytest.fixture(scope="module")
def road(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The straight road and the slow-lead demand."""
    folder = tmp_path_factory.mktemp("road")
    return straight_road(folder), slow_lead_routes(folder)


@pytest.fixture(scope="module")
def crash(road: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> object:
    """One instance whose never-braking ego rear-ends the slow vehicle."""
    from tests.traffic_ai.random_testing.policies import FullThrottle
    from traffic_ai.random_testing.runner import InstanceSpec, run_instance

    network, demand = road
    out = tmp_path_factory.mktemp("crash")
    return run_instance(InstanceSpec("crash", str(network), str(demand), 30.0, 1, 0, str(out),
                                     policy=FullThrottle(), ego_routes=(("A0B0",),)))
