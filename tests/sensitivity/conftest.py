"""Fixtures: a stand-in for ``safety_val.runs.evaluator`` while the real module is being written."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest


class StandInEvaluator:
    """The ScenarioEvaluator API on top of the scenario's simulator and ``run_batches``."""

    def __init__(
        self,
        scenario: Any,
        *,
        simulator: Any = None,
        executor: Any = None,
        store: Any = None,
        purpose: str = "evaluations",
        batch_size: Any = None,
        progress: Any = None,
    ) -> None:
        self.scenario = scenario
        self.simulator = simulator if simulator is not None else scenario.make_simulator()
        self.executor = executor
        self.n_calls = 0

    def evaluate(self, points: Any) -> pd.DataFrame:
        from safety_val.execution.registry import make_executor
        from safety_val.runs.batches import run_batches

        frame = self.scenario.to_frame(points)
        executor = self.executor if self.executor is not None else make_executor("serial")
        results = run_batches(self.simulator, frame, executor=executor, batch_size=len(frame))
        order = pd.Index(results["sample_index"]).get_indexer(frame["sample_index"])
        results = results.iloc[order].reset_index(drop=True)
        results["g"] = self.scenario.margin(results)
        self.n_calls += len(frame)
        return results

    def __call__(self, points: Any) -> np.ndarray:
        return self.evaluate(points)["g"].to_numpy(dtype=float)


@pytest.fixture
def evaluator_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[type]:
    """Use the real ``safety_val.runs.evaluator`` if it exists, else install the stand-in."""
    try:
        import safety_val.runs.evaluator as real

        yield real.ScenarioEvaluator
    except ImportError:
        module = types.ModuleType("safety_val.runs.evaluator")
        module.ScenarioEvaluator = StandInEvaluator  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "safety_val.runs.evaluator", module)
        yield StandInEvaluator
