"""Driver behaviour from trajectories: IDM car-following fits and SUMO vType distributions.

:func:`read_highd` reads car-following pairs from a highD-layout CSV (columns
``frame``, ``id``, ``x``, ``width`` (length along ``x``), ``xVelocity``,
``precedingId``, optionally ``xAcceleration``, ``laneId``, ``frameRate`` is 25 Hz
unless given); SUMO FCD output can be converted to that layout beforehand.
:func:`fit_idm` calibrates the Intelligent Driver Model of every follower with
:func:`scipy.optimize.least_squares` on the spacing (the follower is simulated
behind the observed leader; spacing is the most robust calibration target, Punzo et
al. 2021). :func:`vtype_distribution` samples vehicle types from the fitted
parameter distributions (truncated normal per parameter, as SUMO's
``createVehTypeDistribution.py`` does) and writes a ``vTypeDistribution``.

:func:`estimate_lc_assertiveness` calibrates LC2013's ``lcAssertive`` from lane changes
(highD ``*FollowingId`` columns): each driver's critical time gap to the new follower
lies between the largest gap they let pass in the seconds before the change and the gap
they accepted, and :func:`fit_critical_gap` fits a log-normal critical gap to those
intervals by maximum likelihood (Troutbeck 1992, the method of the HCM; solved with
:func:`scipy.optimize.minimize`). LC2013 divides the required gap by ``lcAssertive``, so
``lcAssertive = tau / median critical gap`` relative to SUMO's default ``tau = 1 s``,
clipped to [0.5, 5].

References
----------
Treiber, M., Hennecke, A., Helbing, D. (2000). Congested traffic states in empirical
observations and microscopic simulations. Phys. Rev. E 62, 1805.
doi:10.1103/PhysRevE.62.1805
Troutbeck, R. J. (1992). Estimating the critical acceptance gap from traffic movements.
Physical Infrastructure Centre, QUT, Research Report 92-5.
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
    "CriticalGapFit",
    "IdmFit",
    "estimate_lc_assertiveness",
    "fit_critical_gap",
    "fit_idm",
    "idm_acceleration",
    "lane_change_gaps",
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


@dataclass(frozen=True)
class CriticalGapFit:
    """A log-normal critical time gap fitted to lane changes.

    Attributes
    ----------
    median, sigma
        Median (s) and log-standard deviation of the critical gap.
    changes, with_rejection
        Lane changes used, and how many of them let a smaller gap pass first.
    method
        ``"mle"`` (maximum likelihood) or ``"median accepted"`` (no rejected gap, so the
        likelihood has no lower bound: the median accepted gap, an upper bound).
    """

    median: float
    sigma: float
    changes: int
    with_rejection: int
    method: str

    def lc_assertive(self, tau: float = 1.0) -> float:
        """LC2013 ``lcAssertive`` for SUMO's ``tau``: ``tau / median``, clipped to [0.5, 5]."""
        return float(np.clip(tau / self.median, 0.5, 5.0))


def fit_critical_gap(accepted: npt.ArrayLike, rejected: npt.ArrayLike) -> CriticalGapFit:
    r"""Maximum-likelihood log-normal critical gap from accepted and largest rejected gaps.

    Driver :math:`i`'s critical gap lies between their largest rejected gap :math:`r_i`
    (0 if none) and their accepted gap :math:`a_i`, so the log-likelihood is
    :math:`\sum_i \ln[F(a_i) - F(r_i)]` with :math:`F` the log-normal CDF (Troutbeck 1992).

    Parameters
    ----------
    accepted
        Accepted time gaps (s), > 0.
    rejected
        Largest rejected time gap of the same drivers (s); 0 or NaN when none. Rejected
        gaps not below the accepted one (a driver who was not yet looking) count as none.

    Returns
    -------
    CriticalGapFit

    Raises
    ------
    ValidationError
        Empty or non-positive accepted gaps, or arrays of different lengths.

    Examples
    --------
    >>> fit = fit_critical_gap([1.0, 1.2, 0.9, 1.5], [0.6, 0.8, 0.0, 1.1])
    >>> fit.method, round(fit.median, 2), fit.with_rejection
    ('mle', 0.93, 3)
    """
    from scipy.optimize import minimize
    from scipy.stats import norm

    a = np.asarray(accepted, dtype=np.float64)
    r = np.nan_to_num(np.asarray(rejected, dtype=np.float64), nan=0.0)
    if a.shape != r.shape or a.ndim != 1 or len(a) == 0:
        raise ValidationError("accepted and rejected gaps must be 1-D of the same length",
                              field="gaps", value=(a.shape, r.shape))
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        raise ValidationError("accepted gaps must be finite and > 0", field="accepted")
    r = np.where((r > 0) & (r < a), r, 0.0)
    has = r > 0
    if not np.any(has):
        return CriticalGapFit(float(np.median(a)), float(np.std(np.log(a))), len(a), 0,
                              "median accepted")
    log_a, log_r = np.log(a), np.log(np.where(has, r, 1.0))

    def negative_log_likelihood(theta: FloatArray) -> float:
        mu, sigma = float(theta[0]), float(np.exp(theta[1]))
        upper = norm.cdf((log_a - mu) / sigma)
        lower = np.where(has, norm.cdf((log_r - mu) / sigma), 0.0)
        return float(-np.sum(np.log(np.maximum(upper - lower, 1e-300))))

    start = np.array([float(np.mean(np.log(np.where(has, np.sqrt(a * r), a)))), np.log(0.3)])
    solution = minimize(negative_log_likelihood, start, method="Nelder-Mead",
                        options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
    mu, sigma = float(solution.x[0]), float(np.exp(solution.x[1]))
    return CriticalGapFit(float(np.exp(mu)), sigma, len(a), int(has.sum()), "mle")


def lane_change_gaps(path: str | Path, *, frame_rate: float = 25.0,
                     lookback: float = 3.0) -> pd.DataFrame:
    """Accepted and largest rejected time gaps to the new follower of each lane change.

    Needs highD columns ``frame``, ``id``, ``x``, ``width``, ``xVelocity``, ``laneId``,
    ``leftFollowingId`` and ``rightFollowingId``; with ``followingId`` the target side is
    the one whose follower is the new follower after the change, else the only side with
    a follower. The rejected gaps are those to the target side's follower in the
    ``lookback`` seconds before the change.

    Returns
    -------
    DataFrame
        ``id``, ``frame`` (last frame before the change), ``accepted``, ``rejected`` (s;
        0 when none); empty when a column is missing or nobody changed lanes.
    """
    tracks = pd.read_csv(path)
    needed = {"laneId", "leftFollowingId", "rightFollowingId", "frame", "id", "x", "width",
              "xVelocity"}
    columns = ["id", "frame", "accepted", "rejected"]
    if not needed <= set(tracks.columns):
        return pd.DataFrame(columns=columns)
    tracks = tracks.sort_values(["id", "frame"])
    by_key = tracks.set_index(["frame", "id"])
    window = max(1, round(lookback * frame_rate))

    def time_gap(row: pd.Series, follower: float) -> float:
        if follower <= 0 or (row["frame"], follower) not in by_key.index:
            return np.nan
        f = by_key.loc[(row["frame"], follower)]
        gap, speed = abs(row["x"] - f["x"]) - f["width"], abs(f["xVelocity"])
        return gap / speed if speed > 1.0 and gap > 0 else np.nan

    rows = []
    for vid, track in tracks.groupby("id"):
        lanes = track["laneId"].to_numpy()
        for k in np.flatnonzero(np.diff(lanes) != 0):
            before, after = track.iloc[k], track.iloc[k + 1]
            sides = [c for c in ("leftFollowingId", "rightFollowingId") if before[c] > 0]
            if "followingId" in track.columns:
                sides = [c for c in sides if before[c] == after["followingId"]]
            if len(sides) != 1:
                continue
            accepted = time_gap(before, before[sides[0]])
            if not np.isfinite(accepted):
                continue
            earlier = track.iloc[max(0, k - window):k]
            gaps = [time_gap(row, row[sides[0]]) for _, row in earlier.iterrows()]
            smaller = [g for g in gaps if np.isfinite(g) and g < accepted]
            rows.append((vid, int(before["frame"]), accepted, max(smaller, default=0.0)))
    return pd.DataFrame(rows, columns=columns)


def estimate_lc_assertiveness(path: str | Path, *, frame_rate: float = 25.0,
                              tau: float = 1.0) -> float:
    """LC2013 ``lcAssertive`` from highD lane changes (see :func:`fit_critical_gap`).

    Returns 1.0 (SUMO's default) when no lane change with a follower is observed.
    """
    gaps = lane_change_gaps(path, frame_rate=frame_rate)
    if gaps.empty:
        return 1.0
    return fit_critical_gap(gaps["accepted"], gaps["rejected"]).lc_assertive(tau)


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
