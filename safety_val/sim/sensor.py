"""Object-level sensor model of the ego: range, field of view, weather, noise, detection.

The sensor runs once per sensor cycle on the *delayed* true relative state of every
target (the latency is applied by the engine through a ring buffer); it returns
which targets are detected this cycle and their noisy measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from safety_val.sim import rng

__all__ = [
    "Measurement",
    "SensorSettings",
    "detection_probability",
    "effective_range",
    "measure",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_STREAMS_PER_TARGET = 8


@dataclass(frozen=True)
class SensorSettings:
    """Per-scenario sensor settings, arrays of shape ``(n, 1)`` (broadcast over targets).

    Attributes
    ----------
    effective_range
        Range after fog, from :func:`effective_range` (m).
    tan_half_fov
        ``tan(fov / 2)``.
    base_probability
        Detection probability at zero range after rain and lighting degradation.
    noise_distance, noise_distance_rel, noise_lateral, noise_speed
        Standard deviations of the measurement noise (see :func:`measure`).
    """

    effective_range: FloatArray
    tan_half_fov: FloatArray
    base_probability: FloatArray
    noise_distance: FloatArray
    noise_distance_rel: FloatArray
    noise_lateral: FloatArray
    noise_speed: FloatArray

    def take(self, index: slice | npt.NDArray[np.intp]) -> SensorSettings:
        """Settings of the scenarios selected by ``index``."""
        return SensorSettings(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class Measurement:
    """One sensor cycle: detection flags and measured relative state, shape ``(n, targets)``.

    Attributes
    ----------
    detected
        Whether each target was detected this cycle.
    gap
        Longitudinal bumper-to-bumper distance (m).
    dy
        Lateral offset of the target's centre from the ego's (m).
    dvx, dvy
        Relative longitudinal and lateral speed, target minus ego (m/s).
    """

    detected: BoolArray
    gap: FloatArray
    dy: FloatArray
    dvx: FloatArray
    dvy: FloatArray


def effective_range(
    sensor_range: npt.ArrayLike, fog_visibility: npt.ArrayLike, fog_range_factor: npt.ArrayLike
) -> FloatArray:
    """Detection range in fog: ``min(sensor_range, fog_range_factor * visibility)``.

    Notes
    -----
    Meteorological visibility ``V`` is the distance at which the contrast of a dark
    object falls to 5 % (Koschmieder, ``C = exp(-3.912 r / V)``); objects farther
    than a multiple ``c V`` of it are assumed undetectable.

    Examples
    --------
    >>> float(effective_range(150.0, 80.0, 1.0))
    80.0
    """
    return np.minimum(
        np.asarray(sensor_range, dtype=np.float64),
        np.asarray(fog_range_factor, dtype=np.float64)
        * np.asarray(fog_visibility, dtype=np.float64),
    )


def detection_probability(
    distance: npt.ArrayLike,
    *,
    effective_range: npt.ArrayLike,
    base_probability: npt.ArrayLike,
) -> FloatArray:
    """Per-cycle detection probability of a target in the field of view at ``distance``.

    Notes
    -----
    ``p(r) = p_b (1 - (r / R)^2 / 2)`` for ``r <= R`` and 0 beyond, where ``R`` is
    the effective range (fog) and ``p_b = p0 exp(-k_rain I) f_light`` the base
    probability from the clear-weather probability ``p0``, the rain intensity ``I``
    (mm/h) and the lighting factor ``f_light``
    (:data:`~safety_val.sim.parameters.LIGHTING_DETECTION_FACTOR`): the probability
    halves towards the edge of the range, fog shortens the range, rain and darkness
    scale it down everywhere.

    Examples
    --------
    >>> round(float(detection_probability(50.0, effective_range=100.0, base_probability=0.8)), 6)
    0.7
    """
    r = np.asarray(distance, dtype=np.float64)
    big_r = np.asarray(effective_range, dtype=np.float64)
    q = r / big_r
    p = np.asarray(base_probability, dtype=np.float64) * (1.0 - 0.5 * q * q)
    return np.asarray(np.where(q <= 1.0, p, 0.0), dtype=np.float64)


def base_probability(
    p0: npt.ArrayLike,
    rain_intensity: npt.ArrayLike,
    rain_coeff: npt.ArrayLike,
    lighting_factor: npt.ArrayLike,
) -> FloatArray:
    """``p0 exp(-k_rain I) f_light``: detection probability at zero range in the weather.

    Examples
    --------
    >>> round(float(base_probability(1.0, 10.0, 0.02, 0.75)), 4)
    0.614
    """
    return np.asarray(
        np.asarray(p0, dtype=np.float64)
        * np.exp(-np.asarray(rain_coeff, dtype=np.float64) * np.asarray(rain_intensity))
        * np.asarray(lighting_factor, dtype=np.float64),
        dtype=np.float64,
    )


def _target_streams(m: int) -> npt.NDArray[np.intp]:
    """First random stream of each target: ``8 j`` for target ``j`` (channels ``8 j + c``)."""
    return np.arange(m, dtype=np.intp) * _STREAMS_PER_TARGET


def measure(
    gap: FloatArray,
    dy: FloatArray,
    dvx: FloatArray,
    dvy: FloatArray,
    settings: SensorSettings,
    keys: npt.NDArray[np.uint64],
    cycle: int,
    hidden: BoolArray | None = None,
    half_width: FloatArray | float = 0.0,
) -> Measurement:
    """Detect and measure every target once, shape ``(n, targets)``.

    Parameters
    ----------
    gap, dy, dvx, dvy
        Delayed true relative state (see :class:`Measurement`).
    settings
        Sensor settings of these scenarios (``(n, 1)`` arrays).
    keys
        Per-scenario random keys, shape ``(n,)`` (see :func:`~safety_val.sim.rng.scenario_keys`).
    cycle
        Sensor-cycle counter, the counter of the random numbers.
    hidden
        Targets occluded by the scenery this cycle, or ``None``.
    half_width
        Half widths of the targets (m), broadcastable to ``(n, targets)``: a target is in
        the field of view when any part of its width is.

    Returns
    -------
    Measurement

    Notes
    -----
    A target is visible when it is ahead (``gap > 0``), inside the field of view with
    its nearest side (``max(|dy| - w/2, 0) <= gap tan(fov/2)``, so a car close ahead
    whose centre lies just outside the cone is still seen), within the effective range
    (``r = sqrt(gap^2 + dy^2) <= R``) and not hidden; it is detected with
    probability :func:`detection_probability`. Measurements add independent
    Gaussian noise: ``sigma_gap = s_d + s_rel r``, ``sigma_dy = s_y``,
    ``sigma_dvx = sigma_dvy = s_v``. The random numbers come from
    :mod:`safety_val.sim.rng` with counter ``cycle`` and streams ``8 j + c`` for
    target ``j`` and channel ``c``, so they depend only on the scenario's key.
    """
    m = gap.shape[1]
    r = np.hypot(gap, dy)
    visible = gap > 0.0
    visible &= np.maximum(np.abs(dy) - half_width, 0.0) <= gap * settings.tan_half_fov
    if hidden is not None:
        visible &= ~hidden
    p = detection_probability(
        r, effective_range=settings.effective_range, base_probability=settings.base_probability
    )
    # One call per channel for all targets. The draws are laid out (m, n), streams
    # (m, 1) x keys (n,), so that NumPy's inner loops run over the scenarios, and
    # used through their (n, m) transposes; element (i, j) is the draw of scenario
    # i, target j, exactly as one call per target would give it.
    row_keys = keys[None, :]
    streams = _target_streams(m)[:, None]
    u = rng.uniform(row_keys, cycle, streams).T
    n_gap, n_dy = (z.T for z in rng.normal_pair(row_keys, cycle, streams + 1))
    n_vx, n_vy = (z.T for z in rng.normal_pair(row_keys, cycle, streams + 3))
    detected = visible & (u < p)
    sigma_gap = settings.noise_distance + settings.noise_distance_rel * r
    return Measurement(
        detected=detected,
        gap=gap + sigma_gap * n_gap,
        dy=dy + settings.noise_lateral * n_dy,
        dvx=dvx + settings.noise_speed * n_vx,
        dvy=dvy + settings.noise_speed * n_vy,
    )
