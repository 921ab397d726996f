"""The yielding urban reference ADS: right of way, gap acceptance, signals, AEB last.

One call of :func:`junction_command` decides for ``n`` egos at once, each facing up to
``F`` conflicting road users (*foes*) at the junction ahead, from what its map and
its sensors tell it: the distances along its own path to each conflict area and to
its stop line, which foe has the right of way, its signal, and each foe's distances
to the conflict area and speed. It is used by the junction templates of the
built-in simulator (:mod:`safety_val.sim.junction`) and, on SUMO's junction-foe
information, by the urban egos of random testing
(:class:`traffic_ai.random_testing.egos.UrbanReferenceAds`).

Arrays are ``(n,)`` for the ego and ``(n, F)`` per foe; the settings are ``(n, 1)``.
A foe slot that holds nobody has ``valid = False``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "JUNCTION_REACH",
    "SIGNAL_GREEN",
    "SIGNAL_NONE",
    "SIGNAL_RED",
    "SIGNAL_YELLOW",
    "STOP_MARGIN",
    "JunctionDecision",
    "UrbanAdsSettings",
    "junction_command",
    "occupancy_times",
    "time_to_travel",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Index = slice | npt.NDArray[np.intp]

#: Signal states of the ego's stop line (``signal`` input of :func:`junction_command`).
SIGNAL_NONE: Final = 0
SIGNAL_GREEN: Final = 1
SIGNAL_YELLOW: Final = 2
SIGNAL_RED: Final = 3

#: A conflict area farther than this (m) past the stop line belongs to a later junction.
JUNCTION_REACH: Final = 30.0
#: A braking foe expected to stop less than this (m) short of the conflict area is
#: taken not to yield.
STOP_MARGIN: Final = 1.0
#: Speed below which a foe counts as standing (m/s).
_STANDING = 0.3
#: Distance (m) short of the stop line (or of the conflict area) at which the ego stops.
_STOP_SHORT = 0.5
#: Gain (1/s) of the speed tracking inside a curve and towards a stop.
_TRACK_GAIN = 1.5


@dataclass(frozen=True)
class UrbanAdsSettings:
    """Per-ego settings of the urban ADS, arrays of shape ``(n, 1)``.

    Attributes
    ----------
    set_speed
        Desired cruising speed (m/s).
    cruise_gain
        Gain on the set-speed error (1/s).
    max_accel
        Acceleration the ADS uses to drive off and to cross (m/s²).
    comfort_decel
        Deceleration of planned stops and of slowing for curves and junctions (m/s²).
    max_decel
        Full-braking deceleration (m/s²).
    critical_gap
        Smallest time (s) until a road user with the right of way reaches the
        conflict area that the ADS accepts to enter it ahead of that road user.
    gap_margin
        Planned post-encroachment time (s): the ADS crosses ahead of (or behind) a
        road user with the right of way only if it leaves (enters) the conflict area
        at least this long before that road user enters (after it leaves).
    approach_speed
        Speed (m/s) at which the ADS reaches a stop line where it must give way.
    violation_decel
        A road user without the right of way that would need more than this
        deceleration (m/s²) to stop before the conflict area is taken not to yield.
    ttc_warning, ttc_partial, ttc_full
        AEB stage thresholds on the conflict-area TTC (s).
    warning_decel, partial_decel
        Deceleration of the AEB warning and partial-braking stages (m/s²); the full
        stage brakes at ``max_decel``.
    """

    set_speed: FloatArray
    cruise_gain: FloatArray
    max_accel: FloatArray
    comfort_decel: FloatArray
    max_decel: FloatArray
    critical_gap: FloatArray
    gap_margin: FloatArray
    approach_speed: FloatArray
    violation_decel: FloatArray
    ttc_warning: FloatArray
    ttc_partial: FloatArray
    ttc_full: FloatArray
    warning_decel: FloatArray
    partial_decel: FloatArray

    def take(self, index: Index) -> UrbanAdsSettings:
        """Settings of the egos selected by ``index``."""
        return UrbanAdsSettings(*(getattr(self, f.name)[index] for f in fields(self)))


@dataclass(frozen=True)
class JunctionDecision:
    """What :func:`junction_command` decided, ``(n,)`` arrays.

    Attributes
    ----------
    accel
        Commanded acceleration (m/s²).
    stage
        Latched AEB stage (0 none, 1 warning, 2 partial, 3 full braking).
    yielding
        Whether the ego stops to give way (to a foe or a signal) this cycle.
    """

    accel: FloatArray
    stage: FloatArray
    yielding: BoolArray


def time_to_travel(
    distance: npt.ArrayLike, speed: npt.ArrayLike, accel: npt.ArrayLike, v_max: npt.ArrayLike
) -> FloatArray:
    """Time to cover ``distance`` from ``speed``, accelerating at ``accel`` up to ``v_max``.

    Notes
    -----
    With ``d_a = (v_max^2 - v^2) / (2 a)`` the distance needed to reach ``v_max``:
    ``t = (sqrt(v^2 + 2 a d) - v) / a`` when ``d <= d_a``, else
    ``t = (v_max - v) / a + (d - d_a) / v_max``. A non-positive distance takes 0 s;
    ``v > v_max`` keeps ``v``; with ``a = 0`` the speed is kept (``inf`` at rest).

    Examples
    --------
    >>> float(time_to_travel(8.0, 0.0, 2.0, 10.0))  # 8 m from rest at 2 m/s²
    2.8284271247461903
    >>> float(time_to_travel(50.0, 10.0, 2.0, 10.0))
    5.0
    """
    d = np.maximum(np.asarray(distance, dtype=np.float64), 0.0)
    v = np.asarray(speed, dtype=np.float64)
    a = np.asarray(accel, dtype=np.float64)
    top = np.maximum(np.asarray(v_max, dtype=np.float64), v)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_acc = np.where(a > 0.0, (top * top - v * v) / (2.0 * a), 0.0)
        rising = np.where(a > 0.0, (np.sqrt(v * v + 2.0 * a * d) - v) / a, np.inf)
        cruising = np.where(a > 0.0, (top - v) / a, 0.0) + (d - d_acc) / top
        t = np.where(d <= d_acc, rising, cruising)
    return np.asarray(np.where(d <= 0.0, 0.0, t), dtype=np.float64)


def occupancy_times(
    entry: npt.ArrayLike, exit_: npt.ArrayLike, speed: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Times at which a road user enters and leaves a conflict area at constant speed.

    Parameters
    ----------
    entry, exit_
        Distances (m) it travels until its body first touches and last leaves the
        area (negative once passed).
    speed
        Its speed (m/s).

    Returns
    -------
    (ndarray, ndarray)
        ``t_in = max(entry, 0) / v`` and ``t_out = exit / v``; a road user inside the
        area enters at 0; one standing before it never enters (``inf``), one
        standing inside never leaves (``t_out = inf``); one that has left has
        ``t_out < 0``.

    Examples
    --------
    >>> t_in, t_out = occupancy_times([20.0, -1.0], [26.0, 3.0], [10.0, 0.0])
    >>> t_in.tolist(), t_out.tolist()
    ([2.0, 0.0], [2.6, inf])
    """
    e = np.asarray(entry, dtype=np.float64)
    x = np.asarray(exit_, dtype=np.float64)
    v = np.asarray(speed, dtype=np.float64)
    moving = v > 1e-6
    with np.errstate(divide="ignore", invalid="ignore"):
        t_in = np.where(e <= 0.0, 0.0, np.where(moving, e / v, np.inf))
        t_out = np.where(x <= 0.0, np.where(moving, x / v, -np.inf),
                         np.where(moving, x / v, np.inf))
    return np.asarray(t_in, dtype=np.float64), np.asarray(t_out, dtype=np.float64)


def _stop_accel(
    target: FloatArray, speed: FloatArray, comfort: FloatArray, max_decel: FloatArray
) -> FloatArray:
    """Command that stops ``_STOP_SHORT`` m before ``target`` (m ahead), ``(n,)``.

    The kinematic deceleration ``v^2 / (2 d)`` bounded below by tracking the
    comfortable stopping profile ``v_des = sqrt(2 b d)``, so the ego comes to rest
    at the line and holds there.
    """
    d = target - _STOP_SHORT
    profile = np.sqrt(2.0 * comfort * np.maximum(d, 0.0))
    kinematic = -(speed * speed) / (2.0 * np.maximum(d, 0.2))
    return np.maximum(np.minimum(_TRACK_GAIN * (profile - speed), kinematic), -max_decel)


def junction_command(
    settings: UrbanAdsSettings,
    *,
    speed: FloatArray,
    stop_distance: FloatArray,
    signal: npt.NDArray[np.integer] | FloatArray,
    minor: BoolArray,
    entry: FloatArray,
    exit_: FloatArray,
    must_yield: BoolArray,
    valid: BoolArray,
    foe_entry: FloatArray,
    foe_exit: FloatArray,
    foe_speed: FloatArray,
    stage: FloatArray,
    curve_distance: FloatArray | None = None,
    curve_speed: FloatArray | None = None,
    foe_accel: FloatArray | None = None,
) -> JunctionDecision:
    """Acceleration command of the yielding urban ADS for ``n`` egos.

    Parameters
    ----------
    settings
        ADS settings.
    speed
        Ego speed (m/s), ``(n,)``.
    stop_distance
        Distance (m) from the ego's front to its stop line, ``(n,)``; negative once
        past it (or ``-inf`` when there is none ahead).
    signal
        State of the ego's signal, ``(n,)``: :data:`SIGNAL_NONE`, :data:`SIGNAL_GREEN`,
        :data:`SIGNAL_YELLOW` or :data:`SIGNAL_RED`.
    minor
        Whether the ego's approach gives way (yield or stop sign, right before left,
        a turn across a stream), ``(n,)``: it then reaches the stop line at
        ``approach_speed`` at most.
    entry, exit_
        Distances (m) the ego travels until its body touches / leaves each foe's
        conflict area, ``(n, F)``.
    must_yield
        Whether each foe has the right of way over the ego, ``(n, F)``.
    valid
        Whether each foe slot holds a tracked road user, ``(n, F)``.
    foe_entry, foe_exit, foe_speed
        Distances (m) of each foe to its entry into and exit from the conflict area
        and its speed (m/s), ``(n, F)``.
    stage
        AEB stage latched at the previous cycle, ``(n,)``.
    curve_distance, curve_speed
        Distance (m) to the next curve and the speed (m/s) to take it at, ``(n,)``
        (a turn at the junction); ``None`` for none.
    foe_accel
        Each foe's acceleration (m/s²), ``(n, F)``, where the sensors measure it; a
        foe that speeds up (driving off at a green light) is then expected at the
        conflict area accelerating up to the ego's set speed; one that brakes (by
        more than 0.5 m/s²) but would stop less than :data:`STOP_MARGIN` short of the
        area does not yield. ``None``: constant speeds, and only ``violation_decel``
        tells.

    Returns
    -------
    JunctionDecision

    Notes
    -----
    *Speed limits.* The ADS cruises at ``k_c (v_set - v)`` and slows, at the
    kinematic deceleration ``(v_t^2 - v^2) / (2 d)``, for each target speed ``v_t``
    ``d`` metres ahead: the curve speed at the curve, ``approach_speed`` at a stop
    line where it must give way or whose signal is not green.

    *Conflicts.* For foe ``f`` at constant speed (or, when it speeds up before the
    area, accelerating up to the ego's set speed), ``[t_in, t_out]`` is its
    occupancy of the conflict area (:func:`occupancy_times`); the ego, driving
    off at ``max_accel`` up to its speed limit, would enter at ``T_in`` and leave at
    ``T_out`` (:func:`time_to_travel`). A foe with the right of way is a *conflict*
    unless the ego can cross ahead of it, ``t_in >= max(critical_gap, T_out +
    gap_margin)``, or will pass behind it, ``T_in >= t_out + gap_margin``. A foe
    inside the conflict area is always a conflict (it must be let out); so is a foe
    without the right of way that does not yield: it would need more than
    ``violation_decel`` to stop before the area (``v^2 / (2 d)``) or brakes but at
    its deceleration ``a`` would stop less than :data:`STOP_MARGIN` short of it
    (``v^2 / (2 |a|) > d - 1 m``, where its acceleration is measured); and its
    occupancy comes within ``gap_margin`` of the ego's (driving on).

    *Yielding.* With a conflict, or a red signal (or a yellow one it can stop at
    with ``comfort_decel``), the ego stops ``0.5`` m before its stop line (before the
    conflict area once past the line) if it still can at ``max_decel``; otherwise
    it goes on (stopping in the conflict area would be worse). A conflict area more
    than :data:`JUNCTION_REACH` past the stop line belongs to a later junction: the
    ego then stops short of that area instead.

    *AEB, last resort.* The conflict-area TTC of a foe is ``max(T_in, t_in)`` at
    constant speeds when the occupancies overlap. Over the foes for which braking
    helps (the foe arrives first, or the ego can still stop before the area) and
    that are expected not to give way (they have the right of way, are inside the
    area, or would need more than ``violation_decel`` to stop before it), the
    stage ``[TTC < ttc_warning] + [TTC < ttc_partial] + [TTC < ttc_full]`` is
    latched while such a threat remains and commands ``-warning_decel``,
    ``-partial_decel`` or ``-max_decel``.

    The command is the minimum of the cruise, curve, approach, stop and AEB
    commands, bounded by ``[-max_decel, max_accel]``.

    References
    ----------
    Transportation Research Board, *Highway Capacity Manual*, 7th ed., ch. 20
    (two-way stop-controlled intersections: critical headways and gap acceptance),
    2022, doi:10.17226/26432.

    Examples
    --------
    A priority car 2 s from the conflict area: the ego, 20 m before its stop line at
    10 m/s, brakes to give way.

    >>> s = UrbanAdsSettings(*(np.array([[x]]) for x in (
    ...     13.9, 0.4, 2.0, 3.5, 9.0, 4.5, 1.5, 6.9, 4.0, 3.0, 2.0, 1.2, 0.0, 5.0)))
    >>> d = junction_command(
    ...     s, speed=np.array([10.0]), stop_distance=np.array([20.0]),
    ...     signal=np.array([0]), minor=np.array([True]), entry=np.array([[23.0]]),
    ...     exit_=np.array([[29.0]]), must_yield=np.array([[True]]),
    ...     valid=np.array([[True]]), foe_entry=np.array([[20.0]]),
    ...     foe_exit=np.array([[26.0]]), foe_speed=np.array([[10.0]]),
    ...     stage=np.array([0.0]))
    >>> bool(d.yielding[0]), bool(d.accel[0] < -2.0)
    (True, True)
    """
    v = np.asarray(speed, dtype=np.float64)
    s = settings
    comfort, max_decel = s.comfort_decel[:, 0], s.max_decel[:, 0]
    set_speed = s.set_speed[:, 0]

    # --- speed limits: set speed, curve, approach to a line where the ego gives way
    a_cruise = s.cruise_gain[:, 0] * (set_speed - v)
    v_limit = set_speed.copy()
    if curve_distance is not None and curve_speed is not None:
        a_cruise = np.minimum(a_cruise, _slow_for(v, curve_speed, curve_distance))
        v_limit = np.minimum(v_limit, np.where(curve_distance <= 0.0, curve_speed, v_limit))
    sig = np.asarray(signal)
    give_way_line = (minor | (sig == SIGNAL_RED) | (sig == SIGNAL_YELLOW)) & (stop_distance > 0.0)
    approach = s.approach_speed[:, 0]
    a_cruise = np.where(give_way_line,
                        np.minimum(a_cruise, _slow_for(v, approach, stop_distance)), a_cruise)

    # --- conflicts with the foes
    t_in, t_out = occupancy_times(foe_entry, foe_exit, foe_speed)
    if foe_accel is not None:
        # a foe speeding up arrives earlier and leaves earlier than at constant speed
        speeding = (foe_accel > 0.1) & (foe_entry > 0.0)
        top = np.maximum(foe_speed, set_speed[:, None])
        gain = np.maximum(foe_accel, 0.0)
        t_in = np.where(speeding, time_to_travel(foe_entry, foe_speed, gain, top), t_in)
        t_out = np.where(speeding, time_to_travel(foe_exit, foe_speed, gain, top), t_out)
    v_go = np.maximum(v_limit, v)[:, None]
    accel = s.max_accel
    ego_in_go = time_to_travel(entry, v[:, None], accel, v_go)
    ego_out_go = time_to_travel(exit_, v[:, None], accel, v_go)
    ego_in_cv, ego_out_cv = occupancy_times(entry, exit_, v[:, None])
    relevant = valid & (foe_exit > 0.0) & (exit_ > 0.0)
    inside = relevant & (foe_entry <= 0.0)
    ahead_ok = t_in >= np.maximum(s.critical_gap, ego_out_go + s.gap_margin)
    behind_ok = ego_in_go >= t_out + s.gap_margin
    yield_conflict = relevant & must_yield & ~(ahead_ok | behind_ok)
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(foe_entry > 0.0, foe_speed**2 / (2.0 * np.maximum(foe_entry, 0.1)), 0.0)
    # a foe that will not stop before the area: it would need more than violation_decel,
    # or at its deceleration it stops less than STOP_MARGIN short of the area
    not_stopping = needed > s.violation_decel
    if foe_accel is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            stops_in = foe_speed**2 / (2.0 * np.maximum(-foe_accel, 1e-3))
        not_stopping |= (foe_accel < -0.5) & (stops_in > foe_entry - STOP_MARGIN)
    overlap_margin = (t_in < ego_out_go + s.gap_margin) & (ego_in_go < t_out + s.gap_margin)
    violation = relevant & ~must_yield & (foe_entry > 0.0) & (foe_speed > _STANDING) \
        & not_stopping & overlap_margin
    conflict = yield_conflict | inside | violation
    conflict_entry = np.where(conflict, entry, np.inf)
    first_entry = conflict_entry.min(axis=1, initial=np.inf)
    has_conflict = np.isfinite(first_entry)

    red = sig == SIGNAL_RED
    yellow_stop = (sig == SIGNAL_YELLOW) & (v * v <= 2.0 * comfort * np.maximum(stop_distance, 0.0))
    signal_stop = (red | yellow_stop) & (stop_distance > 0.0)
    # where to stop: the stop line if still ahead (and the conflict area belongs to its
    # junction), else short of the conflict area
    at_line = (stop_distance > 0.0) & (first_entry - stop_distance < JUNCTION_REACH)
    target = np.where(at_line, stop_distance, first_entry - 1.0)
    target = np.where(signal_stop & ~has_conflict, stop_distance,
                      np.where(signal_stop, np.minimum(stop_distance, target), target))
    can_stop = v * v <= 2.0 * max_decel * np.maximum(target - _STOP_SHORT + 0.3, 0.0)
    yielding = (has_conflict | signal_stop) & can_stop & (target > 0.0)
    a_stop = np.where(yielding, _stop_accel(target, v, comfort, max_decel), np.inf)

    # --- AEB on the conflict-area TTC, where braking helps
    overlap = (ego_in_cv < t_out) & (t_in < ego_out_cv)
    ttc = np.maximum(ego_in_cv, t_in)
    stoppable = (v * v)[:, None] <= 2.0 * max_decel[:, None] * np.maximum(entry, 0.0)
    helps = (t_in <= ego_in_cv) | stoppable
    # a foe without the right of way that can still stop comfortably is expected to
    threat = relevant & overlap & helps & (must_yield | inside | not_stopping)
    ttc_threat = np.where(threat, ttc, np.inf).min(axis=1, initial=np.inf)
    new_stage = ((ttc_threat < s.ttc_warning[:, 0]).astype(np.float64)
                 + (ttc_threat < s.ttc_partial[:, 0]) + (ttc_threat < s.ttc_full[:, 0]))
    new_stage = np.where(np.isfinite(ttc_threat), np.maximum(new_stage, stage), new_stage)
    a_aeb = np.select([new_stage >= 3.0, new_stage >= 2.0, new_stage >= 1.0],
                      [-max_decel, -s.partial_decel[:, 0], -s.warning_decel[:, 0]], np.inf)

    a_cmd = np.minimum(np.minimum(a_cruise, a_stop), a_aeb)
    a_cmd = np.clip(a_cmd, -max_decel, s.max_accel[:, 0])
    return JunctionDecision(a_cmd, new_stage, yielding)


def _slow_for(speed: FloatArray, target: FloatArray, distance: FloatArray) -> FloatArray:
    """Deceleration to reach ``target`` speed ``distance`` m ahead (``+inf`` if not needed).

    ``(v_t^2 - v^2) / (2 d)`` while ``v > v_t`` before the point; past it (``d <= 0``)
    the speed tracks ``v_t`` with gain ``_TRACK_GAIN``.
    """
    with np.errstate(invalid="ignore"):
        ahead = (target * target - speed * speed) / (2.0 * np.maximum(distance, 0.5))
    at = _TRACK_GAIN * (target - speed)
    return np.where(distance > 0.0, np.where(speed > target, ahead, np.inf), at)
