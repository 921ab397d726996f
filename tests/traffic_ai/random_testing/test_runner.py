"""SUMO instances with egos: forced conflicts, braking egos, failing policies, crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val.execution import make_executor
from tests.traffic_ai.random_testing.policies import (
    AlwaysBrake,
    FailsForSlotZero,
    KillOnce,
)
from traffic_ai.random_testing.runner import (
    InstanceResult,
    InstanceSpec,
    run_instance,
    run_random_test,
)


def _spec(road: tuple[Path, Path], out: Path, policy: object, *, egos: int = 1,
          duration: float = 30.0, instance_id: str = "i0", routes: str | None = None,
          ) -> InstanceSpec:
    network, demand = road
    return InstanceSpec(instance_id, str(network), routes or str(demand), duration, egos, 0,
                        str(out), policy=policy, ego_routes=(("A0B0",),))


def test_forced_rear_end_conflict_gives_one_collision_event(crash: InstanceResult) -> None:
    # ego at 13.9 m/s behind a 2 m/s vehicle 300 m ahead, never braking: a rear-end crash
    result = crash
    assert result.status == "ok", result.message
    events = result.events[result.events["has_states"]]
    assert len(events) == 1  # the low TTC and the collision are one deduplicated conflict
    event = events.iloc[0]
    assert event["event_type"] == "collision"
    assert event["other_id"] == "slow0"
    assert event["ego_id"].startswith("ego0.")
    assert event["min_ttc"] == 0.0
    assert event["edge"] == "A0B0"
    assert event["template"] == "lead_braking"
    # the record spans 5 s before to 3 s after the first detection, for both vehicles
    states = result.states[result.states["event_id"] == event["event_id"]]
    assert set(states["role"]) == {"ego", "other"}
    assert states["t"].min() == pytest.approx(-5.0, abs=0.11)
    assert states["t"].max() == pytest.approx(3.0, abs=0.11)
    saved = pd.read_parquet(Path(result.folder) / "events.parquet")
    assert saved["event_id"].tolist() == result.events["event_id"].tolist()


def test_always_braking_ego_produces_no_event(road: tuple[Path, Path], tmp_path: Path) -> None:
    result = run_instance(_spec(road, tmp_path, AlwaysBrake()))
    assert result.status == "ok", result.message
    assert result.events.empty
    kpis = result.ego_kpis.iloc[0]
    assert kpis["min_ttc"] == np.inf
    assert kpis["min_gap"] > 50.0


def test_relative_output_folder(
    road: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative --out once made SUMO write the SSM file under out/instances/i0/out/...:
    it resolves an additional file's output paths against that file's folder."""
    monkeypatch.chdir(tmp_path)
    result = run_instance(_spec(road, Path("rel"), AlwaysBrake(), duration=5.0))
    assert result.status == "ok", result.message
    assert (tmp_path / "rel" / "instances" / "i0" / "ssm.xml").is_file()
    assert not (tmp_path / "rel" / "instances" / "i0" / "rel").exists()


def test_reference_ads_follows_without_collision(road: tuple[Path, Path], tmp_path: Path) -> None:
    result = run_instance(_spec(road, tmp_path, "reference"))
    assert result.status == "ok", result.message
    assert "collision" not in set(result.events["event_type"])
    kpis = result.ego_kpis.iloc[0]
    assert kpis["min_gap"] > 2.0  # ACC keeps its standstill gap (3 m) behind the slow lead
    assert kpis["distance_km"] > 0.05


def test_failing_policy_is_recorded_for_that_ego_only(
    road: tuple[Path, Path], tmp_path: Path,
) -> None:
    result = run_instance(_spec(road, tmp_path, FailsForSlotZero(), egos=2, duration=20.0))
    assert result.status == "ok", result.message
    assert set(result.ego_errors["ego_id"]) == {"ego0.1"}
    assert result.ego_errors["message"].iloc[0] == "RuntimeError: ADS crashed"
    assert len(result.ego_errors) == 1  # released to SUMO's driver after the first failure
    distance = dict(zip(result.ego_kpis["ego_id"], result.ego_kpis["distance_km"], strict=True))
    assert distance["ego1.2"] > 0.05  # the other ego keeps driving


def test_sumo_error_is_retried_and_recorded(road: tuple[Path, Path], tmp_path: Path) -> None:
    broken = _spec(road, tmp_path, AlwaysBrake(), instance_id="broken",
                   routes=str(tmp_path / "missing.rou.xml"))
    good = _spec(road, tmp_path, AlwaysBrake(), instance_id="good", duration=5.0)
    result = run_random_test([broken, good], max_attempts=2)
    table = result.instances.set_index("instance_id")
    assert table.loc["broken", "status"] == "error"
    assert table.loc["broken", "attempts"] == 2
    assert "missing.rou.xml" in str(table.loc["broken", "message"])
    assert table.loc["good", "status"] == "ok"
    assert table.loc["good", "attempts"] == 1


def test_killed_sumo_worker_is_retried(road: tuple[Path, Path], tmp_path: Path) -> None:
    marker = tmp_path / "killed"
    spec = _spec(road, tmp_path, KillOnce(marker), duration=3.0)
    with make_executor("process", n_workers=1, max_retries=2) as pool:
        result = run_random_test([spec], executor=pool)
    assert marker.exists()  # a worker really died in the middle of its SUMO run
    row = result.instances.iloc[0]
    assert row["status"] == "ok"
    assert row["attempts"] == 2
    assert row["simulated_s"] == pytest.approx(3.0)


def test_ego_map_skips_a_teleporting_ego() -> None:
    """A jammed ego that SUMO teleports has lane id '' for a while: the map must not ask
    libsumo about lane '' (it raised "Lane '' is not known" and killed a whole instance)."""
    from traffic_ai.random_testing.egos import (
        VAR_ALLOWED_SPEED,
        VAR_LANE_ID,
        VAR_LANEPOSITION,
        VAR_NEXT_TLS,
    )
    from traffic_ai.random_testing.runner import _EgoMap

    values = {VAR_LANE_ID: "", VAR_ALLOWED_SPEED: 13.9, VAR_LANEPOSITION: 0.0}
    _EgoMap().update("ego0", values)  # no simulation is loaded: any libsumo call would raise
    assert values[VAR_NEXT_TLS] == () and values[VAR_ALLOWED_SPEED] == 13.9


def test_sumo_warnings_are_counted_per_instance_not_printed(
    district_net: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str],
) -> None:
    """A background vehicle routed over a footway is dropped by SUMO: the instance runs,
    the warning is in its log and counted, nothing floods the console."""
    routes = tmp_path / "mixed.rou.xml"
    routes.write_text(
        "<routes>\n"
        ' <vehicle id="walker" type="traffic" depart="0"><route edges="footway steps"/>'
        "</vehicle>\n"
        ' <vehicle id="car" type="traffic" depart="1"><route edges="n00_n01 n01_n02"/>'
        "</vehicle>\n</routes>\n")
    spec = InstanceSpec("mixed", str(district_net), str(routes), 10.0, 2, 0, str(tmp_path))
    result = run_instance(spec)
    assert result.status == "ok", result.message
    assert "Warning:" not in capfd.readouterr().err
    assert result.stats["sumo_invalid_routes"] == 1.0
    assert result.stats["sumo_discarded"] == 1.0
    assert result.sumo.loaded == 4  # two background vehicles and two egos
    assert "'walker' is not allowed to depart" in result.sumo.examples["invalid_route"]
    assert "walker" in (Path(result.folder) / "sumo.log").read_text()
    assert result.ego_kpis["distance_km"].gt(0).all()  # egos found car routes
