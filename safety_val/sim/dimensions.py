"""Sizes, actuator lags and acceleration bounds of the simulated road users.

Shared by the straight-road templates (:mod:`safety_val.sim.templates`), the junction
templates (:mod:`safety_val.sim.junction_templates`) and the OpenSCENARIO export, so
that a car is the same car everywhere.
"""

from __future__ import annotations

__all__ = [
    "CAR_LENGTH",
    "CAR_WIDTH",
    "EGO_BRAKE_LIMIT",
    "PEDESTRIAN_ACCEL",
    "PEDESTRIAN_LAG",
    "PEDESTRIAN_LENGTH",
    "PEDESTRIAN_WIDTH",
    "SCRIPT_CAR_ACCEL",
    "SCRIPT_CAR_LAG",
]

#: Passenger car length and width (m).
CAR_LENGTH, CAR_WIDTH = 4.5, 1.8
#: Pedestrian extent along and across the walking direction (m).
PEDESTRIAN_LENGTH, PEDESTRIAN_WIDTH = 0.3, 0.5
#: First-order lag (s) of a scripted car's and a pedestrian's acceleration.
SCRIPT_CAR_LAG, PEDESTRIAN_LAG = 0.1, 0.05
#: Strongest deceleration the ego's brakes can produce before the friction limit (m/s²).
EGO_BRAKE_LIMIT = 15.0
#: Acceleration bounds (m/s²) of scripted cars and of pedestrians.
SCRIPT_CAR_ACCEL = (-10.0, 4.0)
PEDESTRIAN_ACCEL = (-5.0, 5.0)
