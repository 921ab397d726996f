"""Built-in vectorised simulator: vehicles, sensor, reference ADS, KPIs and templates.

One call of :func:`simulate` steps a whole batch of concrete scenarios of one
template at once: the only Python loop is over time, every step is a few NumPy
operations on arrays of shape ``(n_scenarios, n_agents)``. Randomness (sensor noise
and detection) is counter-based and keyed by each scenario's seed, so a scenario's
KPIs do not depend on the batch it is simulated in.

Examples
--------
>>> from safety_val.sim import simulate, get_template
>>> sorted(get_template("cut_in").kpis)[:3]
['collision', 'impact_speed', 'max_deceleration']
>>> out = simulate("cut_in", {"cut_in_gap": 30.0}, seeds=[7], duration=5.0)
>>> bool(out.kpis["collision"][0] == 0.0)
True
"""

from __future__ import annotations

from safety_val.sim.engine import (
    DT_MAX,
    DT_MIN,
    DURATION_MAX,
    SETTINGS_CONSTRAINTS,
    SimulationOutput,
    simulate,
)
from safety_val.sim.kpi import ALL_KPIS
from safety_val.sim.parameters import COMMON_PARAMETERS, ParameterInfo
from safety_val.sim.rng import seed_from_id
from safety_val.sim.template import Template
from safety_val.sim.templates import TEMPLATES, get_template

__all__ = [
    "ALL_KPIS",
    "COMMON_PARAMETERS",
    "DT_MAX",
    "DT_MIN",
    "DURATION_MAX",
    "SETTINGS_CONSTRAINTS",
    "TEMPLATES",
    "ParameterInfo",
    "SimulationOutput",
    "Template",
    "get_template",
    "seed_from_id",
    "simulate",
]
