"""safety-val: scenario-based safety validation of automated driving systems.

The continuous-space pipeline starts here: an ODD (:func:`load_odd`), a logical
scenario inside it (:func:`load_scenario`), a design of experiments
(:func:`safety_val.doe.generate_design`) and its simulation into a resumable run
directory (:func:`simulate`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from safety_val.errors import SafetyValError, SimulationError, ValidationError
from safety_val.odd import ODD, load_odd
from safety_val.runs.simulate import SimulationRun, simulate
from safety_val.scenario import LogicalScenario, Parameter, load_scenario

try:
    __version__ = version("safety-val")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "ODD",
    "LogicalScenario",
    "Parameter",
    "SafetyValError",
    "SimulationError",
    "SimulationRun",
    "ValidationError",
    "__version__",
    "load_odd",
    "load_scenario",
    "simulate",
]
