"""The egos' sensor view from SUMO subscription results, and the reference ADS on it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from safety_val.errors import ValidationError
from traffic_ai.random_testing.egos import (
    VAR_ACCELERATION,
    VAR_ALLOWED_SPEED,
    VAR_ANGLE,
    VAR_JUNCTION,
    VAR_LANE_ID,
    VAR_LANEPOSITION,
    VAR_LENGTH,
    VAR_NEXT_TLS,
    VAR_POSITION,
    VAR_SPEED,
    ReferenceAds,
    UrbanReferenceAds,
    add_junction_context,
    build_view,
    resolve_policy,
)


def _vehicle(x: float, y: float, angle: float, speed: float,
             tls: tuple[tuple[str, int, float, str], ...] = ()) -> dict[int, object]:
    return {VAR_POSITION: (x, y), VAR_ANGLE: angle, VAR_SPEED: speed, VAR_LENGTH: 5.0,
            VAR_ACCELERATION: 0.0, VAR_ALLOWED_SPEED: 13.89, VAR_NEXT_TLS: tls,
            VAR_LANE_ID: "lane_0", VAR_LANEPOSITION: 10.0}


def test_view_geometry_of_a_lead_a_neighbour_and_a_car_behind() -> None:
    # ego heading east (SUMO angle 90) with its front bumper at x = 100
    ego = _vehicle(100.0, 0.0, 90.0, 10.0)
    context = {
        "ego": ego,
        "lead": _vehicle(130.0, 0.0, 90.0, 6.0),  # rear bumper at 125: gap 25 m
        "left": _vehicle(120.0, 3.2, 90.0, 12.0),  # next lane to the left
        "behind": _vehicle(90.0, 0.0, 90.0, 10.0),
    }
    view = build_view(0.0, {"ego": ego}, {"ego": context}, targets=4)
    assert view.target_ids[0] == ("left", "lead")  # sorted by distance; nothing behind
    assert view.gap[0, 1] == pytest.approx(25.0)
    assert view.dvx[0, 1] == pytest.approx(-4.0)
    assert view.dy[0, 0] == pytest.approx(3.2)
    assert view.heading_difference[0, 1] == pytest.approx(0.0)
    assert not view.detected[0, 2:].any() and np.isinf(view.gap[0, 2:]).all()


def test_red_light_is_a_standing_target_at_the_stop_line() -> None:
    ego = _vehicle(100.0, 0.0, 90.0, 10.0, tls=(("B0", 2, 41.0, "r"),))
    view = build_view(0.0, {"ego": ego}, {"ego": {"ego": ego}}, targets=3)
    assert view.target_ids[0] == ("stopline:B0",)
    assert view.gap[0, 0] == pytest.approx(40.0)
    assert view.dvx[0, 0] == pytest.approx(-10.0)
    assert view.heading_difference[0, 0] == 180.0  # never an NG-event target
    assert ReferenceAds().act_batch(view, 0.1)[0] < 0.0  # the ACC slows for it
    green = _vehicle(100.0, 0.0, 90.0, 10.0, tls=(("B0", 2, 41.0, "G"),))
    assert build_view(0.0, {"ego": green}, {}, targets=3).target_ids[0] == ()


def test_reference_ads_brakes_hard_for_a_stopped_car_close_ahead() -> None:
    ego = _vehicle(100.0, 0.0, 90.0, 15.0)
    context = {"stopped": _vehicle(115.0, 0.0, 90.0, 0.0)}  # 10 m gap, TTC 0.67 s
    view = build_view(0.0, {"ego": ego}, {"ego": context})
    assert ReferenceAds().act_batch(view, 0.1)[0] == pytest.approx(-9.0)  # AEB full braking


# -- the yielding urban reference ADS ----------------------------------------------------------


def _junction_view(*, must_yield: bool, foe_entry: float, foe_speed: float = 10.0,
                   foe_accel: float = 0.0, ego_speed: float = 8.0) -> object:
    """An ego 20 m before its stop line, one foe; the conflict area 6 m past the line."""
    ego = _vehicle(100.0, 0.0, 90.0, ego_speed)
    ego[VAR_JUNCTION] = (20.0, "g", (("foe", 26.0, foe_entry, 33.0, foe_entry + 7.0,
                                      must_yield, foe_speed, foe_accel),))
    return build_view(0.0, {"ego": ego}, {"ego": {}})


def test_the_junction_view_carries_the_foes_and_the_link_state() -> None:
    view = _junction_view(must_yield=True, foe_entry=30.0)
    j = view.junction
    assert j is not None and j.foe_ids == (("foe",),)
    assert bool(j.minor[0]) and j.stop_distance[0] == 20.0  # 'g': a link that gives way
    assert (j.entry[0, 0], j.exit[0, 0], j.foe_entry[0, 0], j.foe_exit[0, 0]) == (
        26.0, 33.0, 30.0, 37.0)
    assert bool(j.valid[0, 0]) and not j.valid[0, 1:].any()
    plain = build_view(0.0, {"ego": _vehicle(100.0, 0.0, 90.0, 8.0)}, {})
    assert plain.junction is None


def test_urban_ads_gives_way_to_priority_only() -> None:
    ads = UrbanReferenceAds()
    # the foe reaches the area in 3 s, the ego (8 m/s, 26 m) about when it does
    yielding = ads.act_batch(_junction_view(must_yield=True, foe_entry=30.0), 0.1)[0]
    assert yielding < -1.0
    # the same foe without the right of way, braking to stop short of the area: no reason
    # to brake (the approach speed does not apply either, the link is 'g' but the
    # decision follows the foe)
    relaxed = UrbanReferenceAds().act_batch(
        _junction_view(must_yield=False, foe_entry=30.0, foe_accel=-3.0), 0.1)[0]
    assert relaxed > yielding
    # ... unless it cannot stop: 10^2 / (2 * 5) = 10 m/s^2 needed
    late = UrbanReferenceAds().act_batch(_junction_view(must_yield=False, foe_entry=5.0), 0.1)
    assert late[0] < -1.0


def test_urban_ads_without_junction_context_drives_like_the_reference_ads() -> None:
    ego = _vehicle(100.0, 0.0, 90.0, 15.0)
    context = {"stopped": _vehicle(115.0, 0.0, 90.0, 0.0)}
    view = build_view(0.0, {"ego": ego}, {"ego": context})
    assert UrbanReferenceAds().act_batch(view, 0.1)[0] == ReferenceAds().act_batch(view, 0.1)[0]
    # a crossing car in view is left to the junction layer, not to the in-path AEB
    crossing = {"crossing": _vehicle(112.0, -3.0, 0.0, 10.0)}
    view = build_view(0.0, {"ego": ego}, {"ego": crossing})
    assert view.detected[0, 0]
    cruise = 0.4 * (13.89 - 15.0)  # only the set-speed error of the ACC
    assert UrbanReferenceAds().act_batch(view, 0.1)[0] == pytest.approx(cruise)
    assert ReferenceAds().act_batch(view, 0.1)[0] < cruise  # the motorway AEB brakes


def test_policy_names() -> None:
    assert type(resolve_policy("reference")) is UrbanReferenceAds
    assert type(resolve_policy("urban")) is UrbanReferenceAds
    assert type(resolve_policy("motorway")) is ReferenceAds
    with pytest.raises(ValidationError, match="'reference', 'urban', 'motorway'"):
        resolve_policy("highway")
    with pytest.raises(ValidationError, match="unknown ADS input"):
        UrbanReferenceAds({"critical_gap_s": 3.0})
    assert UrbanReferenceAds({"critical_gap": 6.0, "acc_time_gap": 2.0}).values[
        "critical_gap"] == 6.0


def test_junction_map_finds_the_foe_from_the_right_in_sumo(tmp_path: Path) -> None:
    """A right-before-left junction: a car from the ego's right has the right of way."""
    libsumo = pytest.importorskip("libsumo")
    from traffic_ai.network import sumo_binary
    from traffic_ai.random_testing.egos import EGO_VARIABLES, TARGET_VARIABLES

    net = tmp_path / "cross.net.xml"
    subprocess.run([sumo_binary("netgenerate"), "--grid", "--grid.number", "3",
                    "--grid.length", "100", "--default.lanenumber", "1",
                    "--default-junction-type", "right_before_left", "--no-turnarounds",
                    "true", "-o", str(net)], check=True, capture_output=True)
    routes = tmp_path / "r.rou.xml"
    routes.write_text(
        '<routes>\n  <vType id="car" vClass="passenger"/>\n'
        '  <vehicle id="ego" type="car" depart="0" departPos="40" departSpeed="8">\n'
        '    <route edges="A1B1 B1C1"/>\n  </vehicle>\n'
        '  <vehicle id="foe" type="car" depart="0" departPos="42" departSpeed="8">\n'
        '    <route edges="B0B1 B1B2"/>\n  </vehicle>\n</routes>\n')
    libsumo.start(["sumo", "-n", str(net), "-r", str(routes), "--no-step-log",
                   "--no-warnings", "--step-length", "0.1"])
    try:
        libsumo.simulationStep()
        libsumo.vehicle.subscribe("ego", EGO_VARIABLES)
        libsumo.vehicle.subscribeContext("ego", 0xA4, 100.0, TARGET_VARIABLES)
        libsumo.simulationStep()
        egos = libsumo.vehicle.getAllSubscriptionResults()
        contexts = libsumo.vehicle.getAllContextSubscriptionResults()
        add_junction_context(egos, contexts)
        view = build_view(0.1, egos, contexts)
    finally:
        libsumo.close()
    j = view.junction
    assert j is not None and j.foe_ids == (("foe",),)
    assert bool(j.must_yield[0, 0])  # it comes from the right
    # both about 58 m from the junction's centre: they reach the area about together
    assert 45.0 < j.entry[0, 0] < 60.0 and 45.0 < j.foe_entry[0, 0] < 60.0
    assert j.exit[0, 0] - j.entry[0, 0] == pytest.approx(1.8 + 5.0, abs=0.2)
