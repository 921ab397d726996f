r"""The built-in simulator's physics against closed forms.

Every check runs the public :func:`safety_val.sim.simulate` on a template with chosen
inputs and compares a KPI or a recorded trajectory with its closed form, computed here
independently of the simulator's own helpers.

Braking with a first-order actuator lag :math:`\tau` from speed :math:`v_0` under a
constant deceleration command :math:`d` applied at :math:`t = 0`:

.. math::

    a(t) = -d\,(1 - e^{-t/\tau}), \qquad
    v(t) = v_0 - d\,\bigl(t - \tau (1 - e^{-t/\tau})\bigr),

    x(t) = v_0 t - d\,\Bigl(\tfrac{t^2}{2} - \tau t + \tau^2 (1 - e^{-t/\tau})\Bigr),

and the stopping distance is :math:`x(T)` with :math:`v(T) = 0` (solved by Brent's method);
for :math:`\tau \to 0` it tends to :math:`v_0^2 / 2d`. A constant-speed approach from gap
:math:`g_0` at closing speed :math:`\Delta v` has, after :math:`t`, the gap
:math:`g_0 - \Delta v\, t` and the time to collision :math:`(g_0 - \Delta v\, t) / \Delta v`.
The friction circle caps a deceleration at :math:`\mu g`.

The vehicle model (lag, friction limit, exact integration within a step) is one function
for every agent, so the scripted lead vehicle's braking checks the ego's model too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import optimize

from safety_val.qualify.requirement import CheckContext, Outcome, Requirement

__all__ = ["PASSIVE_EGO", "lag_acceleration", "lag_stopping_distance", "requirements"]

GRAVITY = 9.81
"""Standard gravity used by the simulator's friction limit (m/s²)."""

PASSIVE_EGO: dict[str, float] = {
    "aeb_ttc_warning": 0.0,
    "aeb_ttc_partial": 0.0,
    "aeb_ttc_full": 0.0,
    "acc_max_decel": 0.0,
    "acc_max_accel": 0.0,
}
"""ADS settings that make the ego a constant-speed vehicle (no ACC, no AEB)."""


def lag_acceleration(t: np.ndarray, decel: float, tau: float) -> np.ndarray:
    """Acceleration ``t`` seconds after a step command ``-decel`` through lag ``tau``."""
    return np.asarray(-decel * (1.0 - np.exp(-np.asarray(t) / tau)))


def lag_stopping_distance(v0: float, decel: float, tau: float) -> float:
    """Distance to stop from ``v0`` under a step command ``-decel`` through lag ``tau``.

    Examples
    --------
    >>> round(lag_stopping_distance(20.0, 6.0, 0.1), 6)
    35.303333
    >>> round(lag_stopping_distance(20.0, 5.0, 1e-9), 6)  # no lag: v0² / 2d
    40.0
    """

    def speed(t: float) -> float:
        return v0 - decel * (t - tau * (1.0 - math.exp(-t / tau)))

    stop = optimize.brentq(speed, 0.0, v0 / decel + tau + 1.0, xtol=1e-14, rtol=1e-15)
    return float(
        v0 * stop - decel * (stop**2 / 2.0 - tau * stop + tau**2 * (1.0 - math.exp(-stop / tau)))
    )


def _simulate(template: str, inputs: Mapping[str, Any], **options: Any) -> Any:
    from safety_val.sim import simulate

    return simulate(template, inputs, **options)


def check_stopping(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Distance the braking lead vehicle travels to a stop, against the closed form."""
    from safety_val.sim.dimensions import SCRIPT_CAR_LAG

    dt, brake_time, seed = float(budget["dt"]), 1.0, int(budget["seed"])
    v0s, decels = np.array([10.0, 20.0, 30.0]), np.array([3.0, 6.0, 9.0])
    out = _simulate(  # one batch: a scenario's outcome never depends on the others
        "lead_braking",
        {
            "ego_speed": 5.0,
            "lead_speed": v0s,
            "initial_gap": 300.0,
            "lead_decel": decels,
            "lead_brake_time": brake_time,
            "friction_coefficient": 1.0,
        },
        seeds=[seed] * len(v0s),
        dt=dt,
        duration=brake_time + float(np.max(v0s / decels)) + 2.0,
        record=True,
    )
    trajectory = out.trajectories
    k = round(brake_time / dt)
    details = []
    for i, (v0, decel) in enumerate(zip(v0s.tolist(), decels.tolist(), strict=True)):
        travelled = float(trajectory["x"][i, -1, 1] - trajectory["x"][i, k, 1])
        exact = lag_stopping_distance(v0, decel, SCRIPT_CAR_LAG)
        error = abs(travelled - exact)
        tolerance = decel * dt * dt
        final_speed = float(trajectory["v"][i, -1, 1])
        details.append(
            {
                "v0": v0,
                "decel": decel,
                "tau": SCRIPT_CAR_LAG,
                "simulated_m": travelled,
                "closed_form_m": exact,
                "error_m": error,
                "tolerance_m": tolerance,
                "final_speed": final_speed,
                "passed": bool(error <= tolerance and final_speed == 0.0),
            }
        )
    worst = max(details, key=lambda d: d["error_m"] / d["tolerance_m"])
    return Outcome(
        passed=all(d["passed"] for d in details),
        measured=(
            f"largest error {worst['error_m']:.2g} m (tolerance {worst['tolerance_m']:.2g} m) at "
            f"v0 = {worst['v0']:g} m/s, d = {worst['decel']:g} m/s²: "
            f"{worst['simulated_m']:.6f} m vs {worst['closed_form_m']:.6f} m; every vehicle "
            "stopped"
        ),
        seed=seed,
        values={"max_error_m": worst["error_m"]},
        details=details,
    )


def check_lag(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """The first-order lag step response of the braking lead vehicle."""
    from safety_val.sim.dimensions import SCRIPT_CAR_LAG

    dt, brake_time, decel, seed = float(budget["dt"]), 1.0, 6.0, int(budget["seed"])
    out = _simulate(
        "lead_braking",
        {
            "ego_speed": 5.0,
            "lead_speed": 25.0,
            "initial_gap": 300.0,
            "lead_decel": decel,
            "lead_brake_time": brake_time,
            "friction_coefficient": 1.0,
        },
        seeds=[seed],
        dt=dt,
        duration=brake_time + 1.0,
        record=True,
    )
    trajectory = out.trajectories
    k = round(brake_time / dt)
    window = round(5 * SCRIPT_CAR_LAG / dt)  # five time constants
    simulated = trajectory["a"][0, k : k + window + 1, 1]
    t = trajectory["t"][k : k + window + 1] - trajectory["t"][k]
    exact = lag_acceleration(t, decel, SCRIPT_CAR_LAG)
    error = float(np.max(np.abs(simulated - exact)))
    return Outcome(
        passed=error <= 1e-9,
        measured=(
            f"largest |a − a_exact| = {error:.2g} m/s² over {window + 1} steps "
            f"(0–{5 * SCRIPT_CAR_LAG:g} s, τ = {SCRIPT_CAR_LAG:g} s, d = {decel:g} m/s²); "
            f"a reaches {simulated[-1]:.4f} m/s² (exact {exact[-1]:.4f})"
        ),
        seed=seed,
        values={"max_error": error, "steps": window + 1, "tau": SCRIPT_CAR_LAG},
    )


def check_ttc(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """TTC, gap and time headway of a constant-speed approach."""
    dt, seed = float(budget["dt"]), int(budget["seed"])
    details = []
    for gap0, v_ego, v_lead, duration in ((60.0, 25.0, 15.0, 2.0), (100.0, 30.0, 10.0, 3.0)):
        out = _simulate(
            "lead_braking",
            {
                "ego_speed": v_ego,
                "lead_speed": v_lead,
                "initial_gap": gap0,
                "lead_brake_time": 1000.0,
                "actuator_lag": 2.0,
                **PASSIVE_EGO,
            },
            seeds=[seed],
            dt=dt,
            duration=duration,
        )
        closing = v_ego - v_lead
        gap = gap0 - closing * duration
        expected = {"min_ttc": gap / closing, "min_gap": gap, "min_time_headway": gap / v_ego}
        errors = {
            name: abs(float(out.kpis[name][0]) - value) / value for name, value in expected.items()
        }
        details.append(
            {
                "initial_gap": gap0,
                "ego_speed": v_ego,
                "lead_speed": v_lead,
                "duration": duration,
                **{f"{k}_simulated": float(out.kpis[k][0]) for k in expected},
                **{f"{k}_exact": v for k, v in expected.items()},
                "max_relative_error": max(errors.values()),
                "passed": bool(max(errors.values()) <= 1e-9),
            }
        )
    worst = max(d["max_relative_error"] for d in details)
    first = details[0]
    return Outcome(
        passed=all(d["passed"] for d in details),
        measured=(
            f"largest relative error {worst:.2g}; e.g. min TTC {first['min_ttc_simulated']:.12g} s "
            f"vs {first['min_ttc_exact']:.12g} s"
        ),
        seed=seed,
        values={"max_relative_error": worst},
        details=details,
    )


def check_friction(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """Emergency braking reaches, and never exceeds, the friction limit μg."""
    seeds = [int(s) for s in budget["seeds"]]
    mus = (0.3, 0.6, 0.9)
    friction = np.repeat(mus, len(seeds))
    out = _simulate(  # every μ and seed in one batch
        "lead_braking",
        {
            "ego_speed": 25.0,
            "lead_speed": 25.0,
            "initial_gap": 25.0,
            "lead_decel": 9.0,
            "friction_coefficient": friction,
        },
        seeds=np.tile(seeds, len(mus)),
        duration=10.0,
    )
    peaks = np.asarray(out.kpis["max_deceleration"], dtype=float)
    details = []
    for mu in mus:
        peak = peaks[friction == mu]
        limit = mu * GRAVITY
        details.append(
            {
                "mu": mu,
                "limit": limit,
                "max": float(peak.max()),
                "min": float(peak.min()),
                "passed": bool(np.all(peak <= limit + 1e-9) and np.all(peak >= 0.98 * limit)),
            }
        )
    return Outcome(
        passed=all(d["passed"] for d in details),
        measured="; ".join(
            f"μ = {d['mu']:g}: peak {d['min']:.4f}–{d['max']:.4f} m/s² (μg = {d['limit']:.4f})"
            for d in details
        ),
        seed=seeds,
        values={"ratios": [d["max"] / d["limit"] for d in details]},
        details=details,
    )


def check_impact(context: CheckContext, budget: Mapping[str, Any]) -> Outcome:
    """A passive ego into a stopped car: collision, impact speed and time of contact."""
    dt, seed = float(budget["dt"]), int(budget["seed"])
    gap, speed = 30.0, 20.0
    out = _simulate(
        "lead_braking",
        {"ego_speed": speed, "lead_speed": 0.0, "initial_gap": gap, **PASSIVE_EGO},
        seeds=[seed],
        dt=dt,
        duration=5.0,
    )
    kpis = {name: float(values[0]) for name, values in out.kpis.items()}
    steps = out.vehicle_steps // 2  # two agents; a scenario in collision is frozen
    contact = round(gap / speed / dt)
    checks = {
        "collision": kpis["collision"] == 1.0,
        "impact speed": abs(kpis["impact_speed"] - speed) <= 1e-9,
        "min gap and min TTC zero": kpis["min_gap"] == 0.0 and kpis["min_ttc"] == 0.0,
        "contact within one step of g0/v": contact <= steps <= contact + 1,
    }
    failed = [name for name, ok in checks.items() if not ok]
    return Outcome(
        passed=not failed,
        measured=(
            f"collision {kpis['collision']:g}, impact speed {kpis['impact_speed']:.12g} m/s "
            f"(exact {speed:g}), contact after {steps} steps (g0/v = {contact} steps)"
            + (f"; failed: {', '.join(failed)}" if failed else "")
        ),
        seed=seed,
        values={"impact_speed": kpis["impact_speed"], "steps_to_contact": steps},
    )


def requirements() -> list[Requirement]:
    """The simulator-physics requirements, in report order."""
    every = ("quick", "full")
    return [
        Requirement(
            id="QR-SIM-STOP",
            area="simulator physics",
            title="stopping distance with actuator lag",
            text=(
                "A braking vehicle's stopping distance shall equal the closed form of "
                "constant deceleration through a first-order actuator lag."
            ),
            method=(
                "safety_val.sim.simulate('lead_braking', record=True), dt = {dt} s: the lead "
                "brakes from v0 at d = (10, 3), (20, 6), (30, 9) m/s, m/s²; distance from the "
                "braking command to standstill vs x(T), v(T) = 0 (lag τ = 0.1 s)."
            ),
            acceptance="|error| ≤ d·dt² for each case, and the vehicle is at rest at the end.",
            check=check_stopping,
            budgets={mode: {"dt": 0.01, "seed": 3} for mode in every},
        ),
        Requirement(
            id="QR-SIM-LAG",
            area="simulator physics",
            title="actuator lag step response",
            text=(
                "The actuator shall respond to a step command as a first-order lag, "
                "a(t) = −d(1 − e^(−t/τ))."
            ),
            method=(
                "recorded acceleration of the braking lead (d = 6 m/s², τ = 0.1 s) over five "
                "time constants, dt = {dt} s."
            ),
            acceptance="max |a − a_exact| ≤ 1e-9 m/s² (the lag is integrated exactly per step).",
            check=check_lag,
            budgets={mode: {"dt": 0.01, "seed": 3} for mode in every},
        ),
        Requirement(
            id="QR-SIM-TTC",
            area="simulator physics",
            title="TTC, gap and headway KPIs",
            text=(
                "The KPIs min TTC, min gap and min time headway shall equal their closed forms "
                "for a constant-speed approach."
            ),
            method=(
                "a passive ego (ACC and AEB off) approaching a constant-speed lead: "
                "(g0, v_ego, v_lead, t) = (60, 25, 15, 2) and (100, 30, 10, 3), dt = {dt} s; "
                "expected TTC = (g0 − Δv t)/Δv, gap = g0 − Δv t, headway = gap / v_ego."
            ),
            acceptance="relative error ≤ 1e-9 for each KPI.",
            check=check_ttc,
            budgets={mode: {"dt": 0.01, "seed": 1} for mode in every},
        ),
        Requirement(
            id="QR-SIM-FRICTION",
            area="simulator physics",
            title="friction limit",
            text="Braking shall reach, and never exceed, the friction limit μg.",
            method=(
                "an emergency stop of the lead 25 m ahead at 25 m/s (d = 9 m/s²) with "
                "μ = 0.3, 0.6, 0.9, seeds {seed_list}; KPI max_deceleration of the ego."
            ),
            acceptance="0.98 μg ≤ peak deceleration ≤ μg + 1e-9 in every run.",
            check=check_friction,
            budgets={mode: {"seeds": (0, 1, 2, 3), "seed_list": "0–3"} for mode in every},
        ),
        Requirement(
            id="QR-SIM-IMPACT",
            area="simulator physics",
            title="collision and impact speed",
            text=(
                "A collision shall be detected at contact, with the closing speed as impact "
                "speed, and the scenario frozen there."
            ),
            method=(
                "a passive ego at 20 m/s towards a stopped car 30 m ahead, dt = {dt} s, "
                "5 s simulated."
            ),
            acceptance=(
                "collision = 1; impact speed = 20 m/s (±1e-9); min gap = min TTC = 0; contact "
                "within one step of g0/v = 1.5 s (150 steps)."
            ),
            check=check_impact,
            budgets={mode: {"dt": 0.01, "seed": 9} for mode in every},
        ),
    ]
