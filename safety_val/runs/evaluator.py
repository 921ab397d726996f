"""Evaluate a logical scenario's limit state on arbitrary batches of points, resumably.

Sensitivity and reliability algorithms choose their points as they go. A
:class:`ScenarioEvaluator` turns each batch of points into concrete scenarios (with
stable ids), simulates those it has not seen before through the scenario's
simulator and an executor, and returns the margins ``g``. Every simulated scenario
is kept in memory and, with ``store=``, appended atomically to a run directory as it
finishes: an algorithm re-run with the same seed after a kill finds its earlier
points there and simulates only the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from safety_val.errors import ValidationError
from safety_val.scenario import LogicalScenario

if TYPE_CHECKING:
    from safety_val.backends.base import Simulator
    from safety_val.execution.base import Executor
    from safety_val.runs.store import RunStore

__all__ = ["ScenarioEvaluator"]

_Array = np.ndarray[Any, np.dtype[np.float64]]
_CALIBRATION_ITEMS = 20  # a call at least this large sets the evaluator's time per scenario


class ScenarioEvaluator:
    """The limit state of a logical scenario as a batch function, with a cache and a store.

    Parameters
    ----------
    scenario
        The logical scenario.
    simulator
        Backend (default: the one the scenario names).
    executor
        Where batches run (default: serial, in this process).
    store
        Run directory in which every simulated scenario is recorded. An existing one is
        continued (its scenarios are not simulated again); it must come from the same
        scenario file and ``purpose``.
    purpose
        What the evaluations are for (e.g. ``"reliability"``); stored in the manifest.
    batch_size
        Scenarios per task (default: calibrated, see
        :func:`safety_val.runs.batches.run_batches`).
    progress
        Called with the total number of simulations run so far after every batch.

    Attributes
    ----------
    n_calls : int
        Simulations run by this evaluator (points found in the cache or the store are
        not counted).
    n_cached : int
        Points answered from the cache or the store.

    Examples
    --------
    >>> from pathlib import Path
    >>> from safety_val import load_scenario
    >>> cut_in = load_scenario(Path(__file__).parents[2] / "scenarios/cut_in.yaml")
    >>> evaluator = ScenarioEvaluator(cut_in)
    >>> points = cut_in.to_array(cut_in.to_frame(cut_in.distribution.getSample(4)))
    >>> g = evaluator(points)
    >>> g.shape, evaluator.n_calls, evaluator(points[:2]).tolist() == g[:2].tolist()
    ((4,), 4, True)
    >>> evaluator.n_calls, evaluator.n_cached
    (4, 2)
    """

    def __init__(
        self,
        scenario: LogicalScenario,
        *,
        simulator: Simulator | None = None,
        executor: Executor | None = None,
        store: str | Path | None = None,
        purpose: str = "evaluations",
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.scenario = scenario
        self.simulator = simulator if simulator is not None else scenario.make_simulator()
        self.executor = executor
        self.batch_size = batch_size
        self.progress = progress
        self.purpose = purpose
        self.n_calls = 0
        self.n_cached = 0
        self._frames: list[pd.DataFrame] = []
        self._by_id: dict[str, tuple[int, int]] = {}  # scenario_id -> (frame, row)
        self._next_index = 0
        self._seconds_per_item: float | None = None
        self._store: RunStore | None = None
        if store is not None:
            self._store = self._open_store(Path(store))

    # -- public --------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names (columns of the points, in distribution order)."""
        return self.scenario.names

    @property
    def dimension(self) -> int:
        """Number of parameters."""
        return self.scenario.dimension

    @property
    def store_path(self) -> Path | None:
        """The run directory, if any."""
        return None if self._store is None else self._store.path

    def __call__(self, points: Any) -> _Array:
        """Margins ``g`` of the points (NaN where the simulation failed)."""
        return self.evaluate(points)["g"].to_numpy(dtype=float)

    def evaluate(self, points: Any) -> pd.DataFrame:
        """Simulate the points not seen before and return one result row per point.

        Parameters
        ----------
        points
            An ``(n, d)`` array in the scenario's distribution space (categorical
            parameters as codes) or a frame with one column per parameter.

        Returns
        -------
        pandas.DataFrame
            In input order: ``sample_index`` (of the first evaluation of that concrete
            scenario), ``scenario_id``, parameters, KPIs, ``status``, ``message``, ``g``.
        """
        frame = self.scenario.to_frame(points)
        ids = frame["scenario_id"].to_numpy()
        unseen = ~pd.Series(ids).isin(self._by_id.keys()).to_numpy()
        first = ~pd.Series(ids).duplicated().to_numpy()
        fresh = frame.loc[unseen & first].reset_index(drop=True)
        self.n_cached += int(len(frame) - len(fresh))
        if len(fresh):
            fresh["sample_index"] = np.arange(
                self._next_index, self._next_index + len(fresh), dtype=np.int64
            )
            self._next_index += len(fresh)
            self._simulate(fresh)
        rows = [self._by_id[i] for i in ids]
        out = (
            pd.concat([self._frames[f].iloc[[r]] for f, r in rows], ignore_index=True)
            if rows
            else self._empty()
        )
        return out

    def samples(self) -> pd.DataFrame:
        """Every scenario simulated so far (including those found in the store)."""
        if not self._frames:
            return self._empty()
        out = pd.concat(self._frames, ignore_index=True)
        return out.sort_values("sample_index", kind="stable").reset_index(drop=True)

    # -- internals -----------------------------------------------------------------------------

    def _simulate(self, fresh: pd.DataFrame) -> None:
        from safety_val.execution.batching import plan_batch_size
        from safety_val.execution.registry import make_executor
        from safety_val.runs.batches import run_batches

        executor = self.executor if self.executor is not None else make_executor("serial")

        def keep(results: pd.DataFrame) -> None:
            results = results.assign(g=self.scenario.margin(results)).reset_index(drop=True)
            if self._store is not None:
                self._store.append(results)
            self._remember(results)
            self.n_calls += len(results)
            if self.progress is not None:
                self.progress(self.n_calls)

        batch_size = self.batch_size
        if batch_size is None and self._seconds_per_item is not None:
            workers = max(1, int(executor.n_workers))
            batch_size = plan_batch_size(
                len(fresh), n_workers=workers, seconds_per_item=self._seconds_per_item,
                target_batches_per_worker=1 if workers == 1 else 4,
            )
        started = time.perf_counter()
        try:
            run_batches(
                self.simulator,
                fresh,
                executor=executor,
                batch_size=batch_size,
                on_result=keep,
            )
        finally:
            if self.executor is None:
                executor.close()
        if self._seconds_per_item is None and len(fresh) >= _CALIBRATION_ITEMS:
            # one calibration per evaluator: its pilot batches cost a simulator's fixed
            # per-batch time again on every call (0.5 s each for the built-in one)
            self._seconds_per_item = (time.perf_counter() - started) / len(fresh)

    def _remember(self, results: pd.DataFrame) -> None:
        position = len(self._frames)
        self._frames.append(results)
        for row, scenario_id in enumerate(results["scenario_id"]):
            self._by_id.setdefault(str(scenario_id), (position, row))

    def _empty(self) -> pd.DataFrame:
        columns = [
            "sample_index",
            "scenario_id",
            *self.names,
            *self.simulator.kpis,
            "status",
            "message",
            "g",
        ]
        return pd.DataFrame(columns=columns)

    def _open_store(self, path: Path) -> RunStore:
        from safety_val.runs.store import RunStore

        identity = {
            "scenario": self.scenario.name,
            "scenario_sha256": self.scenario.source_sha256,
            "purpose": self.purpose,
        }
        if (path / "manifest.json").exists():
            store = RunStore.open(path)
            store.check_compatible({**identity, "design": "adaptive"})
            stored = store.read_samples()
            if len(stored):
                missing = [c for c in ("scenario_id", "g", *self.names) if c not in stored]
                if missing:
                    raise ValidationError(
                        "stored evaluations lack columns",
                        file=path,
                        field="samples",
                        value=missing,
                    )
                self._remember(stored)
                self._next_index = int(stored["sample_index"].max()) + 1
            return store
        design = self.scenario.to_frame(np.empty((0, self.dimension))).iloc[:0]
        manifest = {
            **identity,
            "design": "adaptive",
            "open_design": True,
            "scenario_file": str(self.scenario.source) if self.scenario.source else None,
            "template": self.scenario.template,
            "kpis": list(self.scenario.kpis),
            "limit_state": self.scenario.criterion.expression,
        }
        return RunStore.create(path, manifest=manifest, design=design)
