"""The reference ADS under test: object tracking, ACC and staged TTC-based AEB.

It runs once per sensor cycle on every scenario at once and outputs the ego's
commanded acceleration, held until the next cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from safety_val.sim.sensor import Measurement

__all__ = ["AdsSettings", "Tracks", "decide"]

FloatArray = npt.NDArray[np.float64]
Index = slice | npt.NDArray[np.intp]


@dataclass(frozen=True)
class AdsSettings:
    """Per-scenario ADS settings, arrays of shape ``(n, 1)`` unless stated.

    Attributes
    ----------
    set_speed
        ACC set speed (m/s).
    time_gap, standstill_gap
        Constant time-gap policy: desired gap ``s0 + T v`` (s, m).
    gap_gain, speed_gain, cruise_gain
        ACC gains on gap error (1/s²), relative speed (1/s), set-speed error (1/s).
    acc_max_accel, acc_max_decel
        ACC acceleration and deceleration limits (m/s², positive).
    ttc_warning, ttc_partial, ttc_full
        AEB stage thresholds on TTC (s).
    warning_decel, partial_decel, max_decel
        Deceleration of each AEB stage (m/s², positive).
    coast_time
        How long a track survives without detection (s).
    half_width
        Half width of the in-path corridor for each target, ``(n, targets)`` (m).
    horizon
        Horizon of the lateral path prediction (s).
    """

    set_speed: FloatArray
    time_gap: FloatArray
    standstill_gap: FloatArray
    gap_gain: FloatArray
    speed_gain: FloatArray
    cruise_gain: FloatArray
    acc_max_accel: FloatArray
    acc_max_decel: FloatArray
    ttc_warning: FloatArray
    ttc_partial: FloatArray
    ttc_full: FloatArray
    warning_decel: FloatArray
    partial_decel: FloatArray
    max_decel: FloatArray
    coast_time: FloatArray
    half_width: FloatArray
    horizon: FloatArray

    def take(self, index: Index) -> AdsSettings:
        """Settings of the scenarios selected by ``index``."""
        return AdsSettings(*(getattr(self, f.name)[index] for f in fields(self)))


@dataclass
class Tracks:
    """Tracked state of every target, arrays of shape ``(n, targets)``; ``stage`` is ``(n,)``.

    ``age`` is the time since the last detection (``inf`` before the first one);
    ``stage`` the latched AEB stage (0 none, 1 warning, 2 partial, 3 full braking).
    """

    gap: FloatArray
    dy: FloatArray
    dvx: FloatArray
    dvy: FloatArray
    age: FloatArray
    stage: FloatArray

    @classmethod
    def empty(cls, n: int, targets: int) -> Tracks:
        """No track yet for any target."""
        zeros = np.zeros((n, targets))
        return cls(
            zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), np.full((n, targets), np.inf),
            np.zeros(n),
        )

    def take(self, index: Index) -> Tracks:
        """Copy of the tracks of the scenarios selected by ``index``."""
        return Tracks(*(np.array(getattr(self, f.name)[index]) for f in fields(self)))

    def put(self, index: Index, other: Tracks) -> None:
        """Write ``other`` into the scenarios selected by ``index``."""
        for f in fields(self):
            getattr(self, f.name)[index] = getattr(other, f.name)


def _row_min(values: FloatArray) -> FloatArray:
    return values[:, 0] if values.shape[1] == 1 else np.min(values, axis=1)


def decide(
    tracks: Tracks,
    measurement: Measurement,
    settings: AdsSettings,
    ego_speed: FloatArray,
    period: FloatArray,
) -> tuple[Tracks, FloatArray]:
    """Update the tracks with one sensor cycle and compute the ego's acceleration command.

    Parameters
    ----------
    tracks
        Tracks before this cycle (not modified).
    measurement
        This cycle's detections and measurements.
    settings
        ADS settings of these scenarios.
    ego_speed
        Ego speed, shape ``(n,)`` (the ADS reads its own odometry without delay).
    period
        Sensor cycle time, shape ``(n, 1)`` (s).

    Returns
    -------
    tracks
        Updated tracks.
    a_cmd
        Commanded ego acceleration, shape ``(n,)`` (m/s²).

    Notes
    -----
    *Tracking.* A detected target's track takes the measurement; an undetected one
    is predicted at constant relative speed (``gap += dvx T``, ``dy += dvy T``) and
    dropped after ``coast_time`` without detection.

    *Target selection.* Target ``j`` is *in lane* when ``|dy_j| <= h_j`` (``h_j``
    half widths of ego and target plus the corridor margin) and a *threat* when it
    is in lane or its predicted offset ``dy_j + dvy_j min(TTC_j, horizon)`` is, with
    ``TTC_j = gap_j / (-dvx_j)`` when closing (``dvx_j < 0``) and ``inf`` otherwise.

    *ACC* (constant time-gap policy):
    ``a_acc = clip(min(k_c (v_set - v), min_j [k_g (gap_j - s0 - T_g v) + k_v dvx_j]),
    -d_acc, a_acc_max)`` over the in-lane targets.

    *AEB*: with ``TTC* = min_j TTC_j`` over threats, the stage is
    ``[TTC* < ttc_warning] + [TTC* < ttc_partial] + [TTC* < ttc_full]``; a stage is
    latched while a closing threat remains. Stages 1, 2, 3 command at most
    ``-warning_decel``, ``-partial_decel``, ``-max_decel``. The command is
    ``min(a_acc, a_aeb)``.
    """
    det = measurement.detected
    gap = np.where(det, measurement.gap, tracks.gap + tracks.dvx * period)
    dy = np.where(det, measurement.dy, tracks.dy + tracks.dvy * period)
    dvx = np.where(det, measurement.dvx, tracks.dvx)
    dvy = np.where(det, measurement.dvy, tracks.dvy)
    age = np.where(det, 0.0, tracks.age + period)
    valid = age <= settings.coast_time
    in_lane = valid & (np.abs(dy) <= settings.half_width)
    closing = valid & (dvx < 0.0)
    ttc = np.full_like(gap, np.inf)
    np.divide(np.maximum(gap, 0.0), -dvx, out=ttc, where=closing)
    predicted = dy + dvy * np.minimum(ttc, settings.horizon)
    threat = closing & (in_lane | (np.abs(predicted) <= settings.half_width))
    ttc_threat = _row_min(np.where(threat, ttc, np.inf))

    v = ego_speed[:, None]
    follow = settings.gap_gain * (gap - settings.standstill_gap - settings.time_gap * v)
    follow += settings.speed_gain * dvx
    a_follow = _row_min(np.where(in_lane, follow, np.inf))
    a_cruise = (settings.cruise_gain * (settings.set_speed - v))[:, 0]
    a_acc = np.clip(
        np.minimum(a_cruise, a_follow), -settings.acc_max_decel[:, 0], settings.acc_max_accel[:, 0]
    )

    stage = (
        (ttc_threat < settings.ttc_warning[:, 0]).astype(np.float64)
        + (ttc_threat < settings.ttc_partial[:, 0])
        + (ttc_threat < settings.ttc_full[:, 0])
    )
    stage = np.where(np.isfinite(ttc_threat), np.maximum(stage, tracks.stage), stage)
    a_aeb = np.select(
        [stage >= 3.0, stage >= 2.0, stage >= 1.0],
        [-settings.max_decel[:, 0], -settings.partial_decel[:, 0], -settings.warning_decel[:, 0]],
        np.inf,
    )
    a_cmd = np.minimum(a_acc, a_aeb)
    return Tracks(gap, dy, dvx, dvy, age, stage), a_cmd
