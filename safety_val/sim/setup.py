"""What a template hands to the engine: initial states, agent geometry and scripts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["Phases", "ScenarioSetup"]

FloatArray = npt.NDArray[np.float64]

#: Speed-tracking gain (1/s) of scripted agents, and the gain used to stop (bang-bang).
SCRIPT_SPEED_GAIN = 2.0
SCRIPT_STOP_GAIN = 100.0


@dataclass(frozen=True)
class Phases:
    """Script of one non-ego agent: piecewise-constant targets, arrays of shape ``(n, P)``.

    Phase ``p`` starts at ``start[:, p]`` (``start[:, 0]`` is 0; later starts must not
    decrease) and sets a target speed, the acceleration magnitude used to reach it
    and a target lateral position (used only by steered agents).

    Notes
    -----
    The agent's commanded acceleration is ``clip(K (v_target - v), -a_p, a_p)``
    with ``K = 2 /s``, or ``K = 100 /s`` when the target speed is 0 so that the agent
    brakes at the full ``a_p`` down to standstill.
    """

    start: FloatArray
    speed: FloatArray
    accel: FloatArray
    lateral: FloatArray

    @classmethod
    def build(
        cls, n: int, phases: list[tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]]
    ) -> Phases:
        """From ``(start, speed, accel, lateral)`` tuples of scalars or ``(n,)`` arrays."""
        cols = [
            np.stack([np.broadcast_to(np.asarray(p[i], dtype=np.float64), (n,)) for p in phases], 1)
            for i in range(4)
        ]
        return cls(*cols)

    def gain(self, p: npt.ArrayLike) -> FloatArray:
        """Speed-tracking gain for target speeds ``p``."""
        return np.where(np.asarray(p) <= 0.0, SCRIPT_STOP_GAIN, SCRIPT_SPEED_GAIN)


@dataclass(frozen=True)
class ScenarioSetup:
    """Initial conditions and scripts of ``n`` concrete scenarios with ``A`` agents (ego first).

    Attributes
    ----------
    x, y, psi, v
        Initial state, ``(n, A)``.
    length, width
        Extent of each agent along ``x`` and ``y`` (m), ``(n, A)``.
    lag
        Actuator time constant (s), ``(n, A)``.
    accel_min, accel_max
        Acceleration bounds before the friction limit (m/s²), ``(n, A)``.
    steered
        Column slice of the agents with lateral control (kinematic bicycle).
    lateral_speed
        Lateral speed limit of the steered agents (m/s), ``(n, k)``.
    scripts
        One :class:`Phases` per non-ego agent.
    set_speed
        ACC set speed (m/s), ``(n,)``.
    hidden_below
        A target is occluded by the scenery while ``dy < hidden_below`` (m),
        ``(n, A - 1)``; ``-inf`` for none.
    pet_target
        Target index (0-based among non-ego agents) whose PET is measured, if any.
    """

    x: FloatArray
    y: FloatArray
    psi: FloatArray
    v: FloatArray
    length: FloatArray
    width: FloatArray
    lag: FloatArray
    accel_min: FloatArray
    accel_max: FloatArray
    steered: slice
    lateral_speed: FloatArray
    scripts: tuple[Phases, ...]
    set_speed: FloatArray
    hidden_below: FloatArray
    pet_target: int | None = None
    labels: tuple[str, ...] = field(default=())

    @property
    def n(self) -> int:
        """Number of scenarios."""
        return int(self.x.shape[0])

    @property
    def agents(self) -> int:
        """Number of agents, ego included."""
        return int(self.x.shape[1])
