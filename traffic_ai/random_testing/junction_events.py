"""Map junction conflicts of random traffic onto the built-in junction templates.

A crossing or opposing-turn conflict recorded in SUMO (ego and other vehicle, a few
seconds before and after the event) becomes a concrete scenario of
``junction_crossing`` or ``junction_left_turn``
(:mod:`safety_val.sim.junction_templates`): the same speeds and the same distances to
the conflict area at the start of the record, the same geometry (side, turn and
radius) and the same right of way and behaviour, as far as the record shows them.

How (:func:`junction_parameters`):

1. Centres and headings from SUMO's front-bumper positions and compass angles.
2. The *conflict point*: the first crossing of the two recorded paths, each extended
   straight ahead from its last sample (a vehicle that stopped short of the point
   still has one); failing that, SSM's conflict position.
3. The *approach angle* (the other's heading minus the ego's at the start) and each
   vehicle's heading change over the record (left turns positive) choose the
   template: perpendicular approaches (45-135 degrees) are ``junction_crossing``
   (from the right when the angle is positive); opposite approaches (beyond 135
   degrees) with a left turn of at least 5 degrees by one of the two are
   ``junction_left_turn``, the vehicle turning more being the one that turns.
4. Distances: the path length from each centre at the start to the conflict point,
   minus what the template puts between the crossing of the centre lines and the
   entry into its conflict area (:func:`~safety_val.sim.junction_templates.crossing_offsets`),
   so the template's vehicles reach the area when the recorded ones did.
5. Right of way and behaviour from what happened before the conflict point: a
   vehicle that came (almost) to a stop gave way. The other has the right of way
   unless it gave way and the ego did not (``right_of_way = ego``);
   ``other_behaviour`` is ``yields`` when the other gave way. The turn radius is the
   median, over the turning vehicle's steps while it turned, of step length over
   heading change.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["JUNCTION_COLUMNS", "PASSING_CLEARANCE", "conflict_point", "junction_parameters",
           "paths_conflict"]

FloatArray = npt.NDArray[np.float64]

#: Event columns the junction mapping fills (besides ``template`` and the speeds).
JUNCTION_COLUMNS: Final = ("ego_distance_0", "other_distance_0", "turn_radius",
                           "other_direction", "right_of_way", "turning", "other_behaviour")
#: A vehicle slower than this (m/s) before the conflict point gave way.
GAVE_WAY_SPEED: Final = 1.0
#: Straight extension (m) of a recorded path beyond its last sample.
EXTENSION: Final = 80.0
#: Smallest heading change (degrees) of a left turner across oncoming traffic.
MIN_LEFT_TURN: Final = 5.0
#: Two vehicles whose paths do not cross and whose centres stay this far (m) beyond a
#: car width apart pass each other (no conflict, see :func:`paths_conflict`).
PASSING_CLEARANCE: Final = 1.0
_RADIUS_RANGE = (5.0, 30.0)
_CAR_WIDTH = 1.8


def _centres(track: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Centre ``x``, ``y`` and heading (rad, counter-clockwise from ``x``) of SUMO states."""
    angle = np.radians(track["angle"].to_numpy(dtype=np.float64))
    hx, hy = np.sin(angle), np.cos(angle)
    half = 0.5 * track["length"].to_numpy(dtype=np.float64)
    x = track["x"].to_numpy(dtype=np.float64) - half * hx
    y = track["y"].to_numpy(dtype=np.float64) - half * hy
    return x, y, np.unwrap(np.arctan2(hy, hx))


def _polyline(x: FloatArray, y: FloatArray, psi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The path through the samples (repeats dropped), extended straight ahead."""
    keep = np.concatenate([[True], np.hypot(np.diff(x), np.diff(y)) > 1e-3])
    px, py = x[keep], y[keep]
    return (np.append(px, px[-1] + EXTENSION * np.cos(psi[-1])),
            np.append(py, py[-1] + EXTENSION * np.sin(psi[-1])))


def conflict_point(ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray,
                   ) -> tuple[float, float] | None:
    """Path lengths along two polylines to their first crossing (first along ``a``).

    Returns
    -------
    (float, float) or None
        ``(length along a, length along b)`` from their first vertices, or ``None``
        when they do not cross.

    Examples
    --------
    >>> conflict_point(np.array([0.0, 10.0]), np.array([0.0, 0.0]),
    ...                np.array([4.0, 4.0]), np.array([-3.0, 3.0]))
    (4.0, 3.0)
    """
    p, r = np.stack([ax[:-1], ay[:-1]], 1), np.stack([np.diff(ax), np.diff(ay)], 1)
    q, s = np.stack([bx[:-1], by[:-1]], 1), np.stack([np.diff(bx), np.diff(by)], 1)
    if not len(p) or not len(q):
        return None
    cross = r[:, None, 0] * s[None, :, 1] - r[:, None, 1] * s[None, :, 0]
    qp = q[None, :, :] - p[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (qp[..., 0] * s[None, :, 1] - qp[..., 1] * s[None, :, 0]) / cross
        u = (qp[..., 0] * r[:, None, 1] - qp[..., 1] * r[:, None, 0]) / cross
    hit = (np.abs(cross) > 1e-12) & (t >= 0.0) & (t <= 1.0) & (u >= 0.0) & (u <= 1.0)
    if not hit.any():
        return None
    i, j = np.argwhere(hit)[0]
    la = np.concatenate([[0.0], np.cumsum(np.hypot(r[:, 0], r[:, 1]))])
    lb = np.concatenate([[0.0], np.cumsum(np.hypot(s[:, 0], s[:, 1]))])
    return (float(la[i] + t[i, j] * np.hypot(*r[i])), float(lb[j] + u[i, j] * np.hypot(*s[j])))


def _along(x: FloatArray, y: FloatArray) -> FloatArray:
    return np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])


def _gave_way(speed: FloatArray, along: FloatArray, to_point: float) -> bool:
    before = along < to_point
    return bool(before.any() and float(speed[before].min()) < GAVE_WAY_SPEED)


def _turn_radius(x: FloatArray, y: FloatArray, psi: FloatArray) -> float:
    """A turn's radius: the median of step length over heading change while turning.

    The median leaves out the steps that straddle the start or the end of the arc
    (part straight, part turning), which would make the radius too large.
    """
    step = np.hypot(np.diff(x), np.diff(y))
    turn = np.abs(np.diff(psi))
    turning = (turn > np.radians(0.5)) & (step > 1e-3)
    if not turning.any() or turn[turning].sum() < np.radians(10.0):
        return float("nan")
    radius = float(np.median(step[turning] / turn[turning]))
    return float(np.clip(radius, *_RADIUS_RANGE))


def paths_conflict(ego: pd.DataFrame, other: pd.DataFrame, *,
                   point: tuple[float, float] | None = None) -> bool:
    """Whether two recorded vehicles' paths conflict: they cross or come close.

    Parameters
    ----------
    ego, other
        States (``t``, ``x``, ``y``, ``angle``, ``length``) of the two vehicles, SUMO
        conventions.
    point
        A conflict position SUMO's SSM device reported for the pair; its junction
        model then saw their paths conflict.

    Returns
    -------
    bool
        ``True`` when ``point`` is given, when the two centre paths (each extended
        straight ahead from its last sample, as in :func:`junction_parameters`) cross,
        or when the centres came closer than a car width plus
        :data:`PASSING_CLEARANCE` at the same time; ``False`` otherwise: the two pass
        each other, e.g. a car turning right past one waiting on the road it turns
        into, or oncoming traffic on the next lane. Such a pair has no crossing or
        opposing-turn conflict in the sense of the traffic-conflict technique (no
        collision course), whatever the ego's braking did.

    Examples
    --------
    >>> def track(x, y, angle):
    ...     return pd.DataFrame({"t": [0.0, 1.0], "x": x, "y": y, "angle": angle,
    ...                          "length": 4.5})
    >>> ego = track([0.0, 10.0], [0.0, 0.0], [90.0, 90.0])       # east along y = 0
    >>> paths_conflict(ego, track([20.0, 20.0], [-30.0, -20.0], [0.0, 0.0]))  # crosses
    True
    >>> paths_conflict(ego, track([-30.0, -40.0], [6.4, 6.4], [270.0, 270.0]))  # passes
    False
    """
    if point is not None:
        return True
    ego = ego.sort_values("t")
    other = other.sort_values("t")
    if len(ego) < 2 or len(other) < 2:
        return True  # too short a record to tell: keep it a conflict
    ex, ey, epsi = _centres(ego)
    ox, oy, opsi = _centres(other)
    if conflict_point(*_polyline(ex, ey, epsi), *_polyline(ox, oy, opsi)) is not None:
        return True
    together = pd.merge(ego[["t"]].assign(ex=ex, ey=ey), other[["t"]].assign(ox=ox, oy=oy),
                        on="t")
    if together.empty:
        return True
    gap = np.hypot(together["ex"] - together["ox"], together["ey"] - together["oy"])
    return bool(float(gap.min()) < _CAR_WIDTH + PASSING_CLEARANCE)


def junction_parameters(ego: pd.DataFrame, other: pd.DataFrame, *,
                        point: tuple[float, float] | None = None) -> dict[str, Any] | None:
    """Junction template and its parameters for one recorded conflict, or ``None``.

    Parameters
    ----------
    ego, other
        States (``t``, ``x``, ``y``, ``speed``, ``angle``, ``acceleration``,
        ``length``) of the two vehicles, SUMO conventions.
    point
        A conflict position (x, y) to fall back on when the paths do not cross
        (SSM's conflict point).

    Returns
    -------
    dict or None
        ``template`` (``junction_crossing`` or ``junction_left_turn``),
        ``ego_speed_0``, ``other_speed_0``, ``ego_distance_0``, ``other_distance_0``,
        ``other_decel``, ``turn_radius``, ``other_direction``, ``right_of_way``,
        ``turning``, ``other_behaviour`` (labels empty where they do not apply);
        ``None`` when the conflict is no junction crossing (same approach, two
        straight opposing paths, no conflict point).

    Notes
    -----
    See the module notes. The template starts at the first time both vehicles are
    recorded.
    """
    from safety_val.sim.junction_templates import crossing_offsets

    ego = ego.sort_values("t")
    other = other.sort_values("t")
    if len(ego) < 2 or len(other) < 2:
        return None
    start = max(float(ego["t"].iloc[0]), float(other["t"].iloc[0]))
    ego = ego[ego["t"] >= start - 1e-9]
    other = other[other["t"] >= start - 1e-9]
    if len(ego) < 2 or len(other) < 2:
        return None
    ex, ey, epsi = _centres(ego)
    ox, oy, opsi = _centres(other)
    approach = float(np.degrees((opsi[0] - epsi[0] + np.pi) % (2.0 * np.pi) - np.pi))
    ego_turn = float(np.degrees(epsi[-1] - epsi[0]))
    other_turn = float(np.degrees(opsi[-1] - opsi[0]))
    crossing_approach = 45.0 <= abs(approach) < 135.0
    left_turn = abs(approach) >= 135.0 and max(ego_turn, other_turn) >= MIN_LEFT_TURN
    if not (crossing_approach or left_turn):
        return None
    lines = (*_polyline(ex, ey, epsi), *_polyline(ox, oy, opsi))
    found = conflict_point(*lines)
    if found is None and point is not None:
        found = _nearest(lines[0], lines[1], point), _nearest(lines[2], lines[3], point)
    if found is None:
        return None
    to_point_e, to_point_o = found
    e_speed = ego["speed"].to_numpy(dtype=np.float64)
    o_speed = other["speed"].to_numpy(dtype=np.float64)
    ego_gave_way = _gave_way(e_speed, _along(ex, ey), to_point_e)
    other_gave_way = _gave_way(o_speed, _along(ox, oy), to_point_o)
    decel = float(max(-other["acceleration"].min(), 0.0))
    out: dict[str, Any] = {
        "ego_speed_0": float(e_speed[0]), "other_speed_0": float(o_speed[0]),
        "other_decel": float(np.clip(decel, 0.5, 10.0)),
        "other_behaviour": "yields" if other_gave_way else "proceeds",
        "other_direction": "", "right_of_way": "", "turning": "", "turn_radius": np.nan,
    }
    if crossing_approach:
        template = "junction_crossing"
        out["other_direction"] = "right" if approach > 0.0 else "left"
        out["right_of_way"] = "ego" if other_gave_way and not ego_gave_way else "other"
        inputs: dict[str, Any] = {"other_direction": out["other_direction"]}
    else:
        template = "junction_left_turn"
        ego_turns = ego_turn >= other_turn
        out["turning"] = "ego" if ego_turns else "other"
        radius = _turn_radius(*((ex, ey, epsi) if ego_turns else (ox, oy, opsi)))
        out["turn_radius"] = radius if np.isfinite(radius) else 10.0
        inputs = {"turning": out["turning"], "turn_radius": out["turn_radius"]}
    off_e, off_o = crossing_offsets(template, inputs)
    out["ego_distance_0"] = float(max(to_point_e - off_e[0], 0.0))
    out["other_distance_0"] = float(max(to_point_o - off_o[0], 0.0))
    out["template"] = template
    return out


def _nearest(x: FloatArray, y: FloatArray, point: tuple[float, float]) -> float:
    """Path length along a polyline to its point nearest ``point``."""
    ax, ay = x[:-1], y[:-1]
    dx, dy = np.diff(x), np.diff(y)
    length2 = np.maximum(dx * dx + dy * dy, 1e-12)
    u = np.clip(((point[0] - ax) * dx + (point[1] - ay) * dy) / length2, 0.0, 1.0)
    distance = np.hypot(ax + u * dx - point[0], ay + u * dy - point[1])
    k = int(np.argmin(distance))
    return float(_along(x, y)[k] + u[k] * np.sqrt(length2[k]))
