"""Saturation of a simulated network and SUMO's warnings: known answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from safety_val.errors import ValidationError
from traffic_ai.network import RoadGraph, sumo_binary
from traffic_ai.saturation import SaturationReport, network_speed_ratio, saturation_check
from traffic_ai.sumo_log import SumoReport, classify_warning, read_sumo_report, sumo_log_options


def _graph() -> RoadGraph:
    g = nx.DiGraph()
    g.add_node("a", length=1000.0, speed=10.0)
    g.add_node("b", length=500.0, speed=20.0)
    return RoadGraph(g, ("a", "b"))


def _day(congested: int, intervals: int = 288) -> pd.DataFrame:
    """One day: ``congested`` intervals at 0.3 of free flow, the rest at 0.9, a few empty."""
    times = pd.date_range("2024-01-01", periods=intervals, freq="5min")
    ratio = np.where(np.arange(intervals) < congested, 0.3, 0.9)
    density = np.where(np.arange(intervals) >= intervals - 10, 0.0, 20.0)  # 10 empty
    return pd.DataFrame({
        "segment": np.repeat([["a", "b"]], intervals, axis=0).ravel(),
        "time": np.repeat(times, 2),
        "speed": np.column_stack([10.0 * ratio, 20.0 * ratio]).ravel(),
        "density": np.repeat(density, 2),
    })


def test_speed_ratio_weights_segments_by_their_vehicles() -> None:
    times = ["2024-01-01 00:00"] * 2 + ["2024-01-01 00:05"] * 2
    table = pd.DataFrame({"segment": ["a", "b", "a", "b"], "time": pd.to_datetime(times),
                          "speed": [2.0, 20.0, 10.0, 20.0], "density": [30.0, 0.0, 0.0, 0.0]})
    ratio = network_speed_ratio(table, _graph())
    # 30 vehicles on a (1 km) at 0.2 of free flow, none on b; then no vehicle at all
    assert ratio.iloc[0] == pytest.approx(0.2)
    assert np.isnan(ratio.iloc[1])
    with pytest.raises(ValidationError, match="segments not in the road graph"):
        network_speed_ratio(table.assign(segment="c"), _graph())


def test_a_day_is_saturated_when_most_intervals_are_congested() -> None:
    saturated = saturation_check(_day(150), _graph())  # 150 of 288 below half free flow
    assert saturated.saturated and saturated.saturated_days == ["2024-01-01"]
    day = saturated.days[0]
    assert (day["intervals"], day["congested"]) == (288, 150)
    assert day["share"] == pytest.approx(150 / 288)
    assert day["mean_ratio"] == pytest.approx((150 * 0.3 + 128 * 0.9) / 278)
    assert "SATURATED on 1 of 1 days" in saturated.describe()
    rush_hours = saturation_check(_day(140), _graph())  # 140 of 288: not most of the day
    assert not rush_hours.saturated
    assert SaturationReport.from_dict(rush_hours.to_dict()) == rush_hours
    assert saturation_check(_day(140), _graph(), day_share=0.4).saturated
    with pytest.raises(ValidationError, match="speed_fraction"):
        saturation_check(_day(0), _graph(), speed_fraction=1.0)


def test_warnings_are_classified() -> None:
    assert classify_warning("Teleporting vehicle 'v'; waited too long (jam), lane='e_0'.") \
        == "teleport"
    assert classify_warning("Vehicle 'v' teleports beyond arrival edge 'e', time=3.") is None
    assert classify_warning("Vehicle 'v' performs emergency braking on lane 'e_0'.") \
        == "emergency_braking"
    assert classify_warning("Vehicle 'v' is not allowed to depart on any lane of edge 'f'.") \
        == "invalid_route"


def test_sumo_run_with_refused_routes_is_counted(district_net: Path, tmp_path: Path,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    routes = tmp_path / "bad.rou.xml"
    routes.write_text(
        '<routes>\n <vType id="car" vClass="passenger"/>\n'
        ' <vehicle id="walker" type="car" depart="0"><route edges="footway steps"/></vehicle>\n'
        ' <vehicle id="bus" type="car" depart="0"><route edges="n10_depot"/></vehicle>\n'
        ' <trip id="train" type="car" depart="0" from="rail_e" to="n00_n01"/>\n'
        ' <vehicle id="ok" type="car" depart="1"><route edges="n00_n01 n01_n02"/></vehicle>\n'
        "</routes>\n")
    folder = tmp_path / "run"
    folder.mkdir()
    subprocess.run([sumo_binary("sumo"), "-n", str(district_net), "-r", str(routes), "--end",
                    "60", "--ignore-route-errors", "true", "--no-step-log", "true",
                    *sumo_log_options(folder)], check=True, cwd=tmp_path)
    assert "Warning: Vehicle" not in capfd.readouterr().err  # in the log, not the console
    report = read_sumo_report(folder)
    assert (report.loaded, report.inserted, report.discarded) == (4, 1, 3)
    assert report.invalid_routes == 3 and report.warnings["invalid_route"] == 3
    assert "'walker' is not allowed to depart" in report.examples["invalid_route"]
    assert report.problem_vehicles == 3 and report.problem_share == pytest.approx(0.75)
    assert report.flagged
    assert SumoReport.from_dict(report.to_dict()) == report
    both = SumoReport.combine([report, report])
    assert (both.loaded, both.invalid_routes, both.warnings["invalid_route"]) == (8, 6, 6)
    assert read_sumo_report(tmp_path / "nothing") == SumoReport()
