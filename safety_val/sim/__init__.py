"""Built-in vectorised simulator: vehicles, sensor, reference ADSs, KPIs and templates.

One call of :func:`simulate` steps a whole batch of concrete scenarios of one
template at once: the only Python loop is over time, every step is a few NumPy
operations on arrays of shape ``(n_scenarios, n_agents)``. Randomness (sensor noise
and detection) is counter-based and keyed by each scenario's seed, so a scenario's
KPIs do not depend on the batch it is simulated in.

Two families of templates: the straight-road ones (``cut_in``, ``cut_out``,
``lead_braking``, ``stop_and_go``, ``pedestrian_crossing``;
:mod:`~safety_val.sim.templates`), driven by the motorway reference ADS (ACC and
staged TTC AEB, :mod:`~safety_val.sim.ads`), and the junction ones
(``junction_crossing``, ``junction_left_turn``, ``junction_pedestrian``;
:mod:`~safety_val.sim.junction_templates`), whose road users follow paths through a
junction (:mod:`~safety_val.sim.paths`, :mod:`~safety_val.sim.junction`) and whose
ego is driven by the yielding urban reference ADS (:mod:`~safety_val.sim.urban_ads`).

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
