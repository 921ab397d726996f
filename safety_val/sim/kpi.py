"""KPI accumulators of the built-in simulator, updated once per step for a whole batch."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["ALL_KPIS", "KpiAccumulator"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ALL_KPIS: Final = (
    "collision",
    "impact_speed",
    "min_ttc",
    "min_gap",
    "max_deceleration",
    "min_time_headway",
    "pet",
)


def _row_reduce(values: FloatArray, func: np.ufunc) -> FloatArray:
    if values.shape[1] == 1:
        return values[:, 0]
    return np.asarray(func.reduce(values, axis=1), dtype=np.float64)


class KpiAccumulator:
    """Running KPIs of ``n`` scenarios whose ego (agent 0) faces ``m`` targets.

    Parameters
    ----------
    n
        Number of scenarios.
    half_length_sum, half_width_sum
        ``(L_ego + L_j) / 2`` and ``(W_ego + W_j) / 2`` per target, broadcastable to
        ``(n, m)`` (m).
    pet_target
        Index of the target whose post-encroachment time is measured, or ``None``.

    Notes
    -----
    With ``gap_j`` the bumper-to-bumper longitudinal distance (``x_j - x_0 - Lsum_j``)
    and ``dy_j`` the lateral offset, target ``j`` is *in path* when
    ``|dy_j| < Wsum_j`` and ``gap_j > -Lsum_j`` (laterally overlapping, not yet
    passed); a *collision* is an in-path target with ``gap_j <= 0``. For in-path
    targets with closing speed ``c_j = v_0 - v_j cos psi_j > 0``:
    ``TTC_j = gap_j / c_j`` (0 in collision), time headway ``gap_j / v_0``.
    ``min_gap`` is the smallest ``max(gap_j, 0)`` of an in-path target (``inf`` if
    none ever is); ``max_deceleration`` is the largest realised ego deceleration
    ``(v_0[k] - v_0[k+1]) / dt``; ``impact_speed`` the closing speed at first contact.
    PET (post-encroachment time) of the conflict area where the target's path
    crosses the ego's: ego inside while ``-2 Lsum < gap <= 0``, target inside while
    ``|dy| < Wsum``; PET is the time from the first road user leaving to the second
    entering, 0 on collision and ``inf`` when one of them never enters.
    After a collision the engine freezes the scenario, so every KPI keeps the value
    it had at the first contact.
    """

    def __init__(
        self,
        n: int,
        half_length_sum: FloatArray,
        half_width_sum: FloatArray,
        pet_target: int | None = None,
    ) -> None:
        self.half_length_sum = half_length_sum
        self.half_width_sum = half_width_sum
        self.pet_target = pet_target
        self.collision = np.zeros(n, dtype=bool)
        self.impact_speed = np.zeros(n)
        self.min_ttc = np.full(n, np.inf)
        self.min_gap = np.full(n, np.inf)
        self.max_deceleration = np.zeros(n)
        self.min_time_headway = np.full(n, np.inf)
        self._ego_enter = np.full(n, np.inf)
        self._ego_exit = np.full(n, np.inf)
        self._target_enter = np.full(n, np.inf)
        self._target_exit = np.full(n, np.inf)

    def update(
        self,
        t: float,
        dt: float,
        gap: FloatArray,
        dy: FloatArray,
        closing: FloatArray,
        ego_speed: FloatArray,
        ego_speed_before: FloatArray,
    ) -> BoolArray:
        """Fold one step into the KPIs; return the scenarios that collided just now.

        Parameters
        ----------
        t
            Time at the end of the step (s).
        dt
            Step (s).
        gap, dy
            Longitudinal gap and lateral offset of each target, ``(n, m)``.
        closing
            Closing speed of each target ``v_0 - v_j cos psi_j``, ``(n, m)``.
        ego_speed, ego_speed_before
            Ego speed after and before the step, ``(n,)``.
        """
        overlap = np.abs(dy) < self.half_width_sum
        in_path = overlap & (gap > -self.half_length_sum)
        contact = in_path & (gap <= 0.0)
        gap_pos = np.maximum(gap, 0.0)

        ttc = np.full_like(gap, np.inf)
        np.divide(gap_pos, closing, out=ttc, where=in_path & (closing > 0.0))
        np.copyto(ttc, 0.0, where=contact)
        np.minimum(self.min_ttc, _row_reduce(ttc, np.minimum), out=self.min_ttc)

        gaps = np.where(in_path, gap_pos, np.inf)
        np.minimum(self.min_gap, _row_reduce(gaps, np.minimum), out=self.min_gap)

        v0 = ego_speed[:, None]
        thw = np.full_like(gap, np.inf)
        np.divide(gap_pos, v0, out=thw, where=in_path & (v0 > 0.0))
        np.minimum(self.min_time_headway, _row_reduce(thw, np.minimum), out=self.min_time_headway)

        decel = (ego_speed_before - ego_speed) / dt
        np.maximum(self.max_deceleration, decel, out=self.max_deceleration)

        hit = contact[:, 0] if contact.shape[1] == 1 else contact.any(axis=1)
        new = hit & ~self.collision
        if new.any():
            speed = _row_reduce(np.where(contact, np.maximum(closing, 0.0), 0.0), np.maximum)
            self.impact_speed[new] = speed[new]
            self.collision |= new

        if self.pet_target is not None:
            j = self.pet_target
            ego_in = (gap[:, j] <= 0.0) & (gap[:, j] > -2.0 * self._col(self.half_length_sum, j))
            target_in = overlap[:, j]
            self._enter_exit(ego_in, t, dt, self._ego_enter, self._ego_exit)
            self._enter_exit(target_in, t, dt, self._target_enter, self._target_exit)
        return new

    @staticmethod
    def _col(values: FloatArray, j: int) -> FloatArray:
        return np.asarray(values[..., j] if values.ndim == 2 else values[j], dtype=np.float64)

    @staticmethod
    def _enter_exit(
        inside: BoolArray, t: float, dt: float, enter: FloatArray, leave: FloatArray
    ) -> None:
        np.copyto(enter, t - dt, where=inside & np.isinf(enter))
        np.copyto(leave, t, where=inside)

    def pet(self) -> FloatArray:
        """Post-encroachment time per scenario (s)."""
        pet = np.full(self.collision.shape, np.inf)
        ego_first = self._ego_exit <= self._target_enter
        target_first = self._target_exit <= self._ego_enter
        both = np.isfinite(self._ego_enter) & np.isfinite(self._target_enter)
        with np.errstate(invalid="ignore"):
            ego_gap = self._ego_enter - self._target_exit
            target_gap = self._target_enter - self._ego_exit
        pet = np.where(both & target_first, ego_gap, pet)
        pet = np.where(both & ego_first, target_gap, pet)
        pet = np.where(both & ~ego_first & ~target_first, 0.0, pet)
        return np.where(self.collision, 0.0, pet)

    def result(self, names: tuple[str, ...]) -> dict[str, FloatArray]:
        """The KPIs named in ``names`` as float arrays of shape ``(n,)``."""
        values = {
            "collision": self.collision.astype(np.float64),
            "impact_speed": self.impact_speed.copy(),
            "min_ttc": self.min_ttc.copy(),
            "min_gap": self.min_gap.copy(),
            "max_deceleration": self.max_deceleration.copy(),
            "min_time_headway": self.min_time_headway.copy(),
        }
        if "pet" in names:
            values["pet"] = self.pet()
        return {name: values[name] for name in names}
