"""Inputs of the built-in simulator: their metadata and the settings every template accepts.

A template's inputs are its own scenario parameters plus the *common* inputs defined
here: the reference ADS (ACC and AEB), the sensor model, the environment and the
vehicle. Every one of them can be fixed or swept from a scenario file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "ADS_PARAMETERS",
    "COMMON_PARAMETERS",
    "ENVIRONMENT_PARAMETERS",
    "LIGHTING_DETECTION_FACTOR",
    "SENSOR_PARAMETERS",
    "URBAN_ADS_PARAMETERS",
    "VEHICLE_PARAMETERS",
    "ParameterInfo",
]


@dataclass(frozen=True)
class ParameterInfo:
    """Metadata of one simulator input.

    Attributes
    ----------
    default
        Value used when the input is not given (a label for categorical inputs).
    unit
        Unit, ``"-"`` for labels and ``"1"`` for dimensionless numbers.
    description
        What the input means.
    lower, upper
        Closed range of valid values (numeric inputs); rows outside are invalid.
    categories
        Allowed labels of a categorical input, empty for numeric inputs.
    """

    default: float | str
    unit: str
    description: str
    lower: float = float("-inf")
    upper: float = float("inf")
    categories: tuple[str, ...] = field(default=())

    @property
    def categorical(self) -> bool:
        """Whether the input takes labels rather than numbers."""
        return bool(self.categories)

    def code(self, label: str) -> int:
        """Integer code of ``label`` (its position in :attr:`categories`)."""
        return self.categories.index(label)


def _p(
    default: float,
    unit: str,
    description: str,
    lower: float = float("-inf"),
    upper: float = float("inf"),
) -> ParameterInfo:
    return ParameterInfo(float(default), unit, description, lower, upper)


#: Multiplicative factor on the per-cycle detection probability for each lighting label.
LIGHTING_DETECTION_FACTOR: Mapping[str, float] = MappingProxyType(
    {"day": 1.0, "twilight": 0.95, "night_lit": 0.9, "night": 0.75}
)

ADS_PARAMETERS: Mapping[str, ParameterInfo] = MappingProxyType(
    {
        "acc_set_speed": _p(
            0.0, "m/s", "ACC set speed; 0 holds the ego's initial speed", 0.0, 70.0
        ),
        "acc_time_gap": _p(1.5, "s", "ACC desired time gap (constant time-gap policy)", 0.3, 5.0),
        "acc_standstill_gap": _p(3.0, "m", "ACC desired gap at standstill", 0.5, 20.0),
        "acc_gap_gain": _p(0.25, "1/s^2", "ACC gain on the gap error", 0.0, 5.0),
        "acc_speed_gain": _p(0.7, "1/s", "ACC gain on the relative speed", 0.0, 5.0),
        "acc_cruise_gain": _p(0.4, "1/s", "ACC gain on the set-speed error", 0.0, 5.0),
        "acc_max_accel": _p(2.0, "m/s^2", "ACC acceleration limit (ISO 15622)", 0.0, 5.0),
        "acc_max_decel": _p(3.5, "m/s^2", "ACC deceleration limit (ISO 15622)", 0.0, 10.0),
        "aeb_ttc_warning": _p(3.0, "s", "AEB stage 1 (warning) below this TTC", 0.0, 10.0),
        "aeb_ttc_partial": _p(2.0, "s", "AEB stage 2 (partial braking) below this TTC", 0.0, 10.0),
        "aeb_ttc_full": _p(1.2, "s", "AEB stage 3 (full braking) below this TTC", 0.0, 10.0),
        "aeb_warning_decel": _p(
            0.0, "m/s^2", "deceleration during the warning stage (0: warning only)", 0.0, 15.0
        ),
        "aeb_partial_decel": _p(
            5.0, "m/s^2", "deceleration of the partial-braking stage", 0.0, 15.0
        ),
        "max_decel": _p(9.0, "m/s^2", "full-braking deceleration (brake system limit)", 0.1, 15.0),
        "corridor_margin": _p(
            0.3, "m", "margin added to the half widths for the in-path test", 0.0, 3.0
        ),
        "prediction_horizon": _p(
            3.0, "s", "horizon of the constant-lateral-speed path prediction of AEB", 0.0, 10.0
        ),
    }
)

SENSOR_PARAMETERS: Mapping[str, ParameterInfo] = MappingProxyType(
    {
        "sensor_range": _p(150.0, "m", "maximum detection range in clear weather", 1.0, 500.0),
        "sensor_fov": _p(60.0, "deg", "horizontal field of view (full angle)", 1.0, 180.0),
        "sensor_latency": _p(0.1, "s", "delay from measurement to the ADS", 0.0, 0.5),
        "sensor_period": _p(0.05, "s", "sensor and ADS cycle time", 0.001, 0.5),
        "sensor_noise_distance": _p(0.1, "m", "distance noise std at zero range", 0.0, 10.0),
        "sensor_noise_distance_rel": _p(
            0.01, "1", "distance noise std per metre of range", 0.0, 1.0
        ),
        "sensor_noise_lateral": _p(0.1, "m", "lateral position noise std", 0.0, 5.0),
        "sensor_noise_speed": _p(0.1, "m/s", "relative speed noise std", 0.0, 10.0),
        "detection_probability": _p(
            0.99, "1", "per-cycle detection probability at short range, clear day", 0.0, 1.0
        ),
        "rain_detection_coeff": _p(
            0.02, "h/mm", "rain sensitivity: factor exp(-coeff * rain) on detection", 0.0, 1.0
        ),
        "fog_range_factor": _p(
            1.0, "1", "effective range in fog as a multiple of the visibility", 0.01, 10.0
        ),
        "track_coast_time": _p(
            0.3, "s", "how long a track is predicted without detection", 0.0, 5.0
        ),
    }
)

ENVIRONMENT_PARAMETERS: Mapping[str, ParameterInfo] = MappingProxyType(
    {
        "rain_intensity": _p(0.0, "mm/h", "rain intensity", 0.0, 200.0),
        "fog_visibility": _p(10000.0, "m", "meteorological visibility", 1.0, 1e6),
        "lighting": ParameterInfo(
            "day", "-", "lighting condition", categories=tuple(LIGHTING_DETECTION_FACTOR)
        ),
        "friction_coefficient": _p(1.0, "1", "tyre-road friction coefficient", 0.05, 1.5),
        "lane_width": _p(3.5, "m", "lane width", 2.0, 5.0),
    }
)

VEHICLE_PARAMETERS: Mapping[str, ParameterInfo] = MappingProxyType(
    {
        "actuator_lag": _p(
            0.2, "s", "first-order time constant of the ego's acceleration", 0.0, 2.0
        ),
        "ego_max_accel": _p(3.0, "m/s^2", "ego powertrain acceleration limit", 0.0, 10.0),
    }
)

COMMON_PARAMETERS: Mapping[str, ParameterInfo] = MappingProxyType(
    {**ADS_PARAMETERS, **SENSOR_PARAMETERS, **ENVIRONMENT_PARAMETERS, **VEHICLE_PARAMETERS}
)

URBAN_ADS_PARAMETERS: Mapping[str, ParameterInfo] = MappingProxyType(
    {
        "critical_gap": _p(
            4.5, "s", "smallest time until a road user with the right of way reaches the "
            "conflict area that the urban ADS accepts to enter ahead of it", 0.0, 15.0
        ),
        "gap_margin": _p(
            1.5, "s", "planned post-encroachment time of the urban ADS when it crosses ahead "
            "of or behind a road user with the right of way", 0.0, 10.0
        ),
        "approach_speed": _p(
            6.9, "m/s", "speed at which the urban ADS reaches a stop line where it gives way",
            0.5, 30.0
        ),
        "turn_lateral_accel": _p(
            2.5, "m/s^2", "lateral acceleration of the urban ADS's speed in turns", 0.5, 8.0
        ),
        "violation_decel": _p(
            4.0, "m/s^2", "a road user without the right of way that would need more than this "
            "to stop before the conflict area is taken not to yield", 0.5, 15.0
        ),
    }
)
"""Inputs of the yielding urban reference ADS (:mod:`safety_val.sim.urban_ads`), accepted by
the junction templates in addition to :data:`COMMON_PARAMETERS`."""
