"""Vehicle dynamics: longitudinal with actuator lag and friction limit, kinematic bicycle.

All functions work in place on arrays of shape ``(n, agents)`` (or a column slice of
them) so that one call advances every vehicle of every scenario by one step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "GRAVITY",
    "VehicleState",
    "lag_coefficient",
    "lateral_step",
    "longitudinal_step",
    "mean_lag_coefficient",
    "stopping_distance",
]

GRAVITY = 9.81
FloatArray = npt.NDArray[np.float64]

#: Gain of the lateral position error (1/s) and of the heading error (1/s).
LATERAL_GAIN = 1.0
HEADING_GAIN = 5.0
#: Wheelbase (m) and steering limit (rad) of the kinematic bicycle model.
WHEELBASE = 2.8
MAX_STEER = 0.5
#: Share of the friction circle that the lateral controller may use.
LATERAL_FRICTION_SHARE = 0.8


@dataclass
class VehicleState:
    """Kinematic state of every agent of every scenario, arrays of shape ``(n, agents)``.

    Attributes
    ----------
    x, y
        Position of the agent's centre (m); ``x`` along the road, ``y`` to the left.
    psi
        Heading (rad), 0 along the road.
    v
        Speed along the heading (m/s), never negative.
    a
        Actual (lagged, friction-limited) acceleration along the heading (m/s²).
    cos_psi, sin_psi
        Cached ``cos(psi)`` and ``sin(psi)``.
    """

    x: FloatArray
    y: FloatArray
    psi: FloatArray
    v: FloatArray
    a: FloatArray
    cos_psi: FloatArray
    sin_psi: FloatArray

    @classmethod
    def create(cls, x: FloatArray, y: FloatArray, psi: FloatArray, v: FloatArray) -> VehicleState:
        """State at rest acceleration from positions, headings and speeds (copied)."""
        psi = np.array(psi, dtype=np.float64)
        return cls(
            x=np.array(x, dtype=np.float64),
            y=np.array(y, dtype=np.float64),
            psi=psi,
            v=np.array(v, dtype=np.float64),
            a=np.zeros_like(psi),
            cos_psi=np.cos(psi),
            sin_psi=np.sin(psi),
        )


def lag_coefficient(tau: npt.ArrayLike, dt: float) -> FloatArray:
    """Per-step coefficient ``1 - exp(-dt / tau)`` of a first-order lag (1 when ``tau = 0``).

    Notes
    -----
    Exact zero-order-hold discretisation of ``tau a' = a_cmd - a``:
    ``a[k+1] = a[k] + (1 - e^{-dt/tau}) (a_cmd[k] - a[k])``. The step response is
    ``a(t) = a_cmd (1 - e^{-t/tau})`` at every sample.

    Examples
    --------
    >>> float(lag_coefficient(0.0, 0.01))
    1.0
    >>> round(float(lag_coefficient(0.2, 0.01)), 6)
    0.048771
    """
    tau = np.asarray(tau, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.asarray(-np.expm1(-dt / tau), dtype=np.float64)


def mean_lag_coefficient(tau: npt.ArrayLike, dt: float) -> FloatArray:
    """Weight ``1 - tau (1 - exp(-dt / tau)) / dt`` of the command in the step-mean acceleration.

    Notes
    -----
    Within a step the lagged acceleration is ``a(s) = a_cmd + (a_k - a_cmd) e^{-s/tau}``;
    its mean over the step is ``a_k + (a_cmd - a_k) gamma`` with this ``gamma``
    (1 when ``tau = 0``, towards 0 for a slow actuator).

    Examples
    --------
    >>> float(mean_lag_coefficient(0.0, 0.01))
    1.0
    """
    tau = np.asarray(tau, dtype=np.float64)
    return np.asarray(1.0 - tau * lag_coefficient(tau, dt) / dt, dtype=np.float64)


def longitudinal_step(
    state: VehicleState,
    a_cmd: FloatArray,
    alpha: FloatArray,
    gamma: FloatArray,
    a_min: FloatArray,
    a_max: FloatArray,
    dt: float | FloatArray,
    scratch: FloatArray,
    distance: FloatArray,
) -> None:
    """Advance speeds and accelerations by one step; write the distance travelled.

    Parameters
    ----------
    state
        Updated in place (``a`` and ``v``).
    a_cmd
        Commanded acceleration (held over the step), shape of ``state.v``.
    alpha, gamma
        Lag coefficients from :func:`lag_coefficient` (0 freezes the agent) and
        :func:`mean_lag_coefficient`.
    a_min, a_max
        Acceleration bounds: braking and powertrain limits combined with the friction
        limit ``mu g``.
    dt
        Step (s), a scalar or an array broadcastable to the state (0 freezes).
    scratch, distance
        Work array and output array (distance along the heading), state's shape.

    Notes
    -----
    First-order actuator ``tau a' = a_cmd - a`` integrated exactly over the step:
    ``a <- a + alpha (a_cmd - a)`` and the step-mean acceleration
    ``a_bar = a + gamma (a_cmd - a)``, both clipped to ``[a_min, a_max]`` (friction
    circle ``|a| <= mu g``). Then ``v' = max(v + a_bar dt, 0)`` and the distance is
    the trapezoid ``(v + v') dt / 2``, exact for constant ``a_bar``; a braking
    vehicle stops exactly at ``v0^2 / (2 D)`` (plus the lag terms of
    :func:`stopping_distance`) up to ``O(D dt^2)``. A vehicle at rest cannot keep a
    negative acceleration (brakes hold it, they do not push it backwards), so ``a``
    is set to ``max(a, 0)`` there.
    """
    a = state.a
    np.subtract(a_cmd, a, out=scratch)
    np.multiply(scratch, gamma, out=distance)
    distance += a
    np.clip(distance, a_min, a_max, out=distance)
    scratch *= alpha
    a += scratch
    np.clip(a, a_min, a_max, out=a)
    np.multiply(distance, dt, out=scratch)
    scratch += state.v
    np.maximum(scratch, 0.0, out=scratch)
    np.add(state.v, scratch, out=distance)
    distance *= dt
    distance *= 0.5
    state.v[...] = scratch
    np.maximum(a, 0.0, out=a, where=scratch <= 0.0)


def lateral_step(
    state: VehicleState,
    cols: slice,
    y_target: FloatArray,
    lateral_speed: FloatArray,
    friction_accel: FloatArray,
    dt: float | FloatArray,
) -> FloatArray:
    """Steer the agents in ``cols`` towards ``y_target``; update heading; return ``|a_lat|``.

    Parameters
    ----------
    state
        Updated in place (``psi``, ``cos_psi``, ``sin_psi`` of ``cols``).
    cols
        Column slice of the steered agents.
    y_target
        Target lateral position (m), shape ``(n, k)`` for the ``k`` steered columns.
    lateral_speed
        Maximum lateral speed of the manoeuvre (m/s), broadcastable to ``(n, k)``.
    friction_accel
        ``mu g`` (m/s²), broadcastable to ``(n, k)``.
    dt
        Step (s), scalar or broadcastable array.

    Returns
    -------
    numpy.ndarray
        Magnitude of the lateral acceleration ``v |r|`` (m/s²), shape ``(n, k)``.

    Notes
    -----
    Kinematic bicycle model referenced at the rear axle, wheelbase ``L``:
    ``x' = v cos psi``, ``y' = v sin psi``, ``psi' = r = v tan(delta) / L``.
    The lateral controller asks for a lateral speed
    ``vy* = clip(k_y (y_target - y), -vy_max, vy_max)``, hence a heading
    ``psi* = arcsin(vy* / v)``, and a yaw rate ``r* = k_psi (psi* - psi)``. The yaw
    rate is limited by the steering angle (``|delta| <= delta_max``) and by a share
    of the friction circle (``v |r| <= 0.8 mu g``); the steering angle follows from
    ``delta = arctan(r L / v)``.
    """
    v = state.v[:, cols]
    psi = state.psi[:, cols]
    v_safe = np.maximum(v, 0.1)
    vy_des = np.subtract(y_target, state.y[:, cols])
    vy_des *= LATERAL_GAIN
    np.clip(vy_des, -lateral_speed, lateral_speed, out=vy_des)
    vy_des /= v_safe
    np.clip(vy_des, -0.7, 0.7, out=vy_des)
    rate = np.arcsin(vy_des)
    rate -= psi
    rate *= HEADING_GAIN
    rate_max = np.minimum(
        v_safe * (np.tan(MAX_STEER) / WHEELBASE), (LATERAL_FRICTION_SHARE * friction_accel) / v_safe
    )
    np.clip(rate, -rate_max, rate_max, out=rate)
    psi += rate * dt
    np.cos(psi, out=state.cos_psi[:, cols])
    np.sin(psi, out=state.sin_psi[:, cols])
    a_lat = np.abs(rate)
    a_lat *= v
    return a_lat


def stopping_distance(
    speed: npt.ArrayLike, decel: npt.ArrayLike, lag: npt.ArrayLike = 0.0
) -> FloatArray:
    """Closed-form stopping distance under a step braking command through a first-order lag.

    Notes
    -----
    With ``a(t) = -D (1 - e^{-t/tau})`` the speed is
    ``v(t) = v0 - D (t - tau (1 - e^{-t/tau}))``; once ``e^{-T/tau}`` is
    negligible at the stop time ``T ~ v0 / D + tau`` the distance is
    ``v0^2 / (2 D) + v0 tau - D tau^2 / 2``, which is ``v0^2 / (2 D)`` for ``tau -> 0``.

    Examples
    --------
    >>> float(stopping_distance(20.0, 8.0))
    25.0
    """
    v0 = np.asarray(speed, dtype=np.float64)
    d = np.asarray(decel, dtype=np.float64)
    tau = np.asarray(lag, dtype=np.float64)
    return np.asarray(v0**2 / (2.0 * d) + v0 * tau - d * tau**2 / 2.0, dtype=np.float64)
