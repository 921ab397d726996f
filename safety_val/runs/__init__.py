"""Running a logical scenario's simulations: designs, batches, the evaluation cache, the run store.

- :mod:`~safety_val.runs.batches` sends a design through a simulator, batch by batch, on
  an executor (:func:`run_batches`);
- :mod:`~safety_val.runs.simulate` simulates a design of experiments into a resumable run
  directory (:func:`simulate`, ``safety-val simulate``);
- :mod:`~safety_val.runs.evaluator` evaluates the limit state on the batches an algorithm
  chooses, simulating each concrete scenario once (:class:`ScenarioEvaluator`);
- :mod:`~safety_val.runs.store` is the run directory itself: manifest + Parquet parts,
  written atomically, resumable (:class:`RunStore`).
"""

from __future__ import annotations

from safety_val.runs.batches import run_batches, simulate_batch
from safety_val.runs.evaluator import ScenarioEvaluator
from safety_val.runs.simulate import RunSummary, SimulationRun, simulate, summarise
from safety_val.runs.store import RunStore

__all__ = [
    "RunStore",
    "RunSummary",
    "ScenarioEvaluator",
    "SimulationRun",
    "run_batches",
    "simulate",
    "simulate_batch",
    "summarise",
]
