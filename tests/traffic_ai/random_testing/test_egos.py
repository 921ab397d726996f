"""The egos' sensor view from SUMO subscription results, and the reference ADS on it."""

from __future__ import annotations

import numpy as np
import pytest

from traffic_ai.random_testing.egos import (
    VAR_ACCELERATION,
    VAR_ALLOWED_SPEED,
    VAR_ANGLE,
    VAR_LENGTH,
    VAR_NEXT_TLS,
    VAR_POSITION,
    VAR_SPEED,
    ReferenceAds,
    build_view,
)


def _vehicle(x: float, y: float, angle: float, speed: float,
             tls: tuple[tuple[str, int, float, str], ...] = ()) -> dict[int, object]:
    return {VAR_POSITION: (x, y), VAR_ANGLE: angle, VAR_SPEED: speed, VAR_LENGTH: 5.0,
            VAR_ACCELERATION: 0.0, VAR_ALLOWED_SPEED: 13.89, VAR_NEXT_TLS: tls}


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
