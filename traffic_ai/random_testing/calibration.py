"""Driver behaviour from trajectories: IDM car-following fits and SUMO vType distributions.

:func:`read_highd` reads car-following pairs from a highD-layout CSV (columns
``frame``, ``id``, ``x``, ``width`` (length along ``x``), ``xVelocity``,
``precedingId``, optionally ``xAcceleration``, ``laneId``, ``frameRate`` is 25 Hz
unless given) or :func:`read_fcd` from SUMO FCD output with leader ids.
:func:`fit_idm` calibrates the Intelligent Driver Model of every follower with
:func:`scipy.optimize.least_squares` on the spacing (the follower is simulated
behind the observed leader; spacing is the most robust calibration target, Punzo et
al. 2021). :func:`vtype_distribution` samples vehicle types from the fitted
parameter distributions (truncated normal per parameter, as SUMO's
``createVehTypeDistribution.py`` does) and writes a ``vTypeDistribution``.

:func:`estimate_lc_assertiveness` estimates LC2013's ``lcAssertive`` from the time
gaps drivers accepted to the new follower when changing lanes (highD
``*FollowingId`` columns): LC2013 divides the required gap by ``lcAssertive``, so
``lcAssertive = tau / median(accepted time gap)`` relative to SUMO's default
``tau = 1 s``, clipped to [0.5, 5].

References
----------
Treiber, M., Hennecke, A., Helbing, D. (2000). Congested traffic states in empirical
observations and microscopic simulations. Phys. Rev. E 62, 1805.
doi:10.1103/PhysRevE.62.1805
Punzo, V., Zheng, Z., Montanino, M. (2021). About calibration of car-following
dynamics of automated and human-driven vehicles. Transp. Res. C 128, 103165.
doi:10.1016/j.trc.2021.103165
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from safety_val._io import atomic_write_text
from safety_val._random import SeedLike, as_generator
from safety_val.errors import ValidationError

__all__ = [
    "IDM_BOUNDS",
    "IdmFit",
    "estimate_lc_assertiveness",
    "fit_idm",
    "idm_acceleration",
    "read_highd",
    "simulate_follower",
    "vtype_distribution",
]

FloatArray = npt.NDArray[np.float64]

#: IDM parameters and their calibration bounds: desired speed v0 (m/s), time gap T (s),
#: jam distance s0 (m), maximum acceleration a (m/s²), comfortable deceleration b (m/s²).
IDM_BOUNDS: Mapping[str, tuple[float, float]] = {
    "v0": (3.0, 50.0), "T": (0.3, 4.0), "s0": (0.5, 10.0), "a": (0.2, 5.0), "b": (0.3, 6.0),
}
_NAMES = tuple(IDM_BOUNDS)
_HIGHD_COLUMNS = ("frame", "id", "x", "width", "xVelocity", "precedingId")


def idm_acceleration(v: FloatArray, gap: FloatArray, dv: FloatArray, v0: float, T: float,
                     s0: float, a: float, b: float, delta: float = 4.0) -> FloatArray:
    r"""IDM acceleration.

    ``a_IDM = a [1 - (v / v0)^delta - (s*(v, dv) / s)^2]`` with
    ``s* = s0 + max(0, v T + v dv / (2 sqrt(a b)))`` and ``dv = v - v_leader``.

    Examples
    --------
    >>> float(idm_acceleration(np.array([0.0]), np.array([1e9]), np.array([0.0]),
    ...                        30.0, 1.5, 2.0, 1.0, 2.0)[0])
    1.0
    """
    s_star = s0 + np.maximum(0.0, v * T + v * dv / (2.0 * np.sqrt(a * b)))
    return a * (1.0 - (v / v0) ** delta - (s_star / np.maximum(gap, 0.1)) ** 2)


def simulate_follower(leader_x: FloatArray, leader_v: FloatArray, x0: float, v0_init: float,
                      dt: float, params: Mapping[str, float]) -> tuple[FloatArray, FloatArray]:
    """Follower positions and speeds behind an observed leader (ballistic IDM update).

    ``leader_x`` is the leader's rear bumper, ``x0`` the follower's front bumper.
    """
    n = len(leader_x)
    x = np.empty(n)
    v = np.empty(n)
    x[0], v[0] = x0, v0_init
    for k in range(n - 1):
        acc = idm_acceleration(np.array([v[k]]), np.array([leader_x[k] - x[k]]),
                               np.array([v[k] - leader_v[k]]), params["v0"], params["T"],
                               params["s0"], params["a"], params["b"])[0]
        acc = max(acc, -9.0)
        v_next = max(v[k] + acc * dt, 0.0)
        x[k + 1] = x[k] + 0.5 * (v[k] + v_next) * dt
        v[k + 1] = v_next
    return x, v


def read_highd(path: str | Path, *, frame_rate: float = 25.0) -> pd.DataFrame:
    """Car-following samples from a highD-layout tracks CSV.

    Returns
    -------
    DataFrame
        ``follower``, ``leader``, ``t`` (s), ``x_front`` (follower front bumper along
        its direction of travel), ``v``, ``leader_rear`` and ``leader_v`` (m, m/s).

    Raises
    ------
    ValidationError
        Missing columns or no car-following pair.
    """
    tracks = pd.read_csv(path)
    missing = [c for c in _HIGHD_COLUMNS if c not in tracks.columns]
    if missing:
        raise ValidationError("missing column", file=path, field=missing[0],
                              expected="highD columns " + ", ".join(_HIGHD_COLUMNS))
    direction = np.sign(tracks.groupby("id")["xVelocity"].transform("mean")).replace(0, 1)
    tracks = tracks.assign(
        t=tracks["frame"] / frame_rate,
        front=np.where(direction > 0, tracks["x"] + tracks["width"], -tracks["x"]),
        rear=np.where(direction > 0, tracks["x"], -(tracks["x"] + tracks["width"])),
        v=tracks["xVelocity"].abs(),
    )
    leaders = tracks[["frame", "id", "rear", "v"]].rename(
        columns={"id": "precedingId", "rear": "leader_rear", "v": "leader_v"})
    pairs = tracks[tracks["precedingId"] > 0].merge(leaders, on=["frame", "precedingId"])
    if pairs.empty:
        raise ValidationError("no car-following pair (precedingId > 0)", file=path,
                              field="precedingId")
    return pd.DataFrame({
        "follower": pairs["id"].to_numpy(), "leader": pairs["precedingId"].to_numpy(),
        "t": pairs["t"].to_numpy(), "x_front": pairs["front"].to_numpy(),
        "v": pairs["v"].to_numpy(), "leader_rear": pairs["leader_rear"].to_numpy(),
        "leader_v": pairs["leader_v"].to_numpy(),
    }).sort_values(["follower", "t"], ignore_index=True)


@dataclass(frozen=True)
class IdmFit:
    """IDM parameters of every calibrated follower.

    Attributes
    ----------
    parameters
        One row per follower: ``follower``, ``v0``, ``T``, ``s0``, ``a``, ``b``,
        ``rmse_gap`` (m), ``samples``.
    """

    parameters: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        """The fitted parameters (a copy)."""
        return self.parameters.copy()


def fit_idm(samples: pd.DataFrame, *, min_duration: float = 5.0) -> IdmFit:
    """Calibrate the IDM of every follower against its observed spacing.

    Parameters
    ----------
    samples
        Output of :func:`read_highd` (one leader per follower episode).
    min_duration
        Followers observed for less time behind the same leader are skipped (s).

    Returns
    -------
    IdmFit

    Notes
    -----
    For each follower, ``least_squares`` minimises the spacing residuals
    ``s_sim(t_k; theta) - s_obs(t_k)`` over ``theta = (v0, T, s0, a, b)`` within
    :data:`IDM_BOUNDS`, starting from the middle of typical values
    (30, 1.5, 2, 1.5, 2).
    """
    from scipy.optimize import least_squares

    lower = np.array([IDM_BOUNDS[n][0] for n in _NAMES])
    upper = np.array([IDM_BOUNDS[n][1] for n in _NAMES])
    start = np.clip(np.array([30.0, 1.5, 2.0, 1.5, 2.0]), lower, upper)
    rows = []
    for (follower, leader), episode in samples.groupby(["follower", "leader"], sort=True):
        t = episode["t"].to_numpy()
        if len(t) < 3 or t[-1] - t[0] < min_duration:
            continue
        dt = float(np.median(np.diff(t)))
        lx, lv = episode["leader_rear"].to_numpy(), episode["leader_v"].to_numpy()
        gap_obs = lx - episode["x_front"].to_numpy()

        def residuals(theta: FloatArray, lx: FloatArray = lx, lv: FloatArray = lv,
                      episode: pd.DataFrame = episode, gap_obs: FloatArray = gap_obs,
                      dt: float = dt) -> FloatArray:
            x, _ = simulate_follower(lx, lv, float(episode["x_front"].iloc[0]),
                                     float(episode["v"].iloc[0]), dt,
                                     dict(zip(_NAMES, theta, strict=True)))
            return (lx - x) - gap_obs

        solution = least_squares(residuals, start, bounds=(lower, upper), x_scale="jac",
                                 diff_step=1e-3)
        rows.append({"follower": follower, "leader": leader,
                     **dict(zip(_NAMES, solution.x.tolist(), strict=True)),
                     "rmse_gap": float(np.sqrt(np.mean(solution.fun**2))),
                     "samples": len(t)})
    if not rows:
        raise ValidationError("no follower observed long enough to calibrate",
                              field="samples", expected=f"episodes of >= {min_duration} s")
    return IdmFit(pd.DataFrame(rows))


def estimate_lc_assertiveness(path: str | Path, *, frame_rate: float = 25.0,
                              tau: float = 1.0) -> float:
    """LC2013 ``lcAssertive`` from the time gaps accepted to the new follower.

    Needs highD columns ``laneId``, ``leftFollowingId``/``rightFollowingId``; returns
    1.0 (SUMO's default) when no lane change with a follower is observed.
    """
    tracks = pd.read_csv(path)
    needed = {"laneId", "leftFollowingId", "rightFollowingId", "frame", "id", "x", "width",
              "xVelocity"}
    if not needed <= set(tracks.columns):
        return 1.0
    tracks = tracks.sort_values(["id", "frame"])
    by_key = tracks.set_index(["frame", "id"])
    accepted = []
    for _vid, track in tracks.groupby("id"):
        change = np.flatnonzero(np.diff(track["laneId"].to_numpy()) != 0)
        for k in change:
            before = track.iloc[k]
            followers = [before["leftFollowingId"], before["rightFollowingId"]]
            for follower in followers:
                if follower <= 0 or (before["frame"], follower) not in by_key.index:
                    continue
                f = by_key.loc[(before["frame"], follower)]
                gap = abs(before["x"] - f["x"]) - f["width"]
                speed = abs(f["xVelocity"])
                if speed > 1.0 and gap > 0:
                    accepted.append(gap / speed)
    if not accepted:
        return 1.0
    return float(np.clip(tau / np.median(accepted), 0.5, 5.0))


def vtype_distribution(fit: IdmFit, path: str | Path, *, count: int = 20, seed: SeedLike = None,
                       type_id: str = "traffic", lc_assertive: float = 1.0) -> Path:
    """Write a SUMO ``vTypeDistribution`` sampled from the fitted IDM parameters.

    Parameters
    ----------
    fit
        Per-driver IDM parameters.
    path
        The additional file to write.
    count
        Number of vehicle types in the distribution (equal probabilities).
    seed
        Seed of the sampling.
    type_id
        Id of the distribution (the demand's vehicles use ``traffic``).
    lc_assertive
        LC2013 ``lcAssertive`` of all types.

    Returns
    -------
    Path

    Notes
    -----
    Each parameter is drawn from a normal with the drivers' mean and standard
    deviation truncated to the range observed (a single driver gives that driver's
    value): ``accel = a``, ``decel = b``, ``tau = T``, ``minGap = s0``,
    ``maxSpeed = v0``, ``carFollowModel="IDM"``.
    """
    rng = as_generator(seed)
    frame = fit.parameters
    sampled = {}
    for name in _NAMES:
        values = frame[name].to_numpy(dtype=np.float64)
        mean, sd = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
        draws = rng.normal(mean, sd, size=count) if sd > 0 else np.full(count, mean)
        sampled[name] = np.clip(draws, values.min(), values.max())
    lines = ["<additional>", f'  <vTypeDistribution id="{type_id}">']
    for i in range(count):
        lines.append(
            f'    <vType id="{type_id}_{i}" vClass="passenger" carFollowModel="IDM" '
            f'accel="{sampled["a"][i]:.3f}" decel="{sampled["b"][i]:.3f}" '
            f'tau="{sampled["T"][i]:.3f}" minGap="{sampled["s0"][i]:.3f}" '
            f'maxSpeed="{sampled["v0"][i]:.2f}" lcAssertive="{lc_assertive:.3f}" '
            f'probability="{1.0 / count:.6f}"/>'
        )
    lines += ["  </vTypeDistribution>", "</additional>"]
    out = Path(path)
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out
