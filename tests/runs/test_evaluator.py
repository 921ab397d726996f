"""ScenarioEvaluator: cache by stable id, run store for resume, failures as NaN."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from safety_val import load_scenario
from safety_val.backends.callable import CallableSimulator
from safety_val.errors import ValidationError
from safety_val.execution.registry import make_executor
from safety_val.runs.evaluator import ScenarioEvaluator
from tests.helpers import SCENARIOS

CUT_IN = SCENARIOS / "cut_in.yaml"


@pytest.fixture(scope="module")
def cut_in():
    return load_scenario(CUT_IN)


def _points(scenario, n: int, seed: int) -> np.ndarray:
    from safety_val.doe import concrete_scenarios

    return scenario.to_array(concrete_scenarios(scenario, n, method="mc", seed=seed))


def test_cache_answers_repeated_points_without_simulating(cut_in) -> None:
    evaluator = ScenarioEvaluator(cut_in, batch_size=16)
    x = _points(cut_in, 40, 1)
    g = evaluator(x)
    assert evaluator.n_calls == 40 and evaluator.n_cached == 0
    again = evaluator(np.vstack([x[::-1], x[:5]]))  # reordered and repeated
    np.testing.assert_array_equal(again, np.concatenate([g[::-1], g[:5]]))
    assert evaluator.n_calls == 40 and evaluator.n_cached == 45
    assert len(evaluator.samples()) == 40
    assert evaluator.samples()["sample_index"].tolist() == list(range(40))


def test_duplicates_inside_one_batch_are_simulated_once(cut_in) -> None:
    evaluator = ScenarioEvaluator(cut_in)
    x = _points(cut_in, 3, 2)
    frame = evaluator.evaluate(np.vstack([x, x]))
    assert evaluator.n_calls == 3 and len(frame) == 6
    assert frame["sample_index"].tolist() == [0, 1, 2, 0, 1, 2]


def test_store_records_everything_and_a_new_evaluator_resumes(cut_in, tmp_path: Path) -> None:
    store = tmp_path / "evaluations"
    first = ScenarioEvaluator(cut_in, store=store, purpose="reliability", batch_size=10)
    x = _points(cut_in, 30, 3)
    g = first(x[:20])
    stored = pd.read_parquet(store / "samples")
    assert len(stored) == 20 and set(stored["sample_index"]) == set(range(20))
    np.testing.assert_allclose(stored.sort_values("sample_index")["g"], g)
    # a "restarted" algorithm asks for the same points again plus new ones
    second = ScenarioEvaluator(cut_in, store=store, purpose="reliability", batch_size=10)
    g_all = second(x)
    assert second.n_calls == 10 and second.n_cached == 20
    np.testing.assert_array_equal(g_all[:20], g)
    final = pd.read_parquet(store / "samples")
    assert len(final) == 30 and final["sample_index"].is_unique
    assert final["scenario_id"].is_unique


def test_store_of_another_purpose_is_refused(cut_in, tmp_path: Path) -> None:
    ScenarioEvaluator(cut_in, store=tmp_path / "s", purpose="sensitivity")(_points(cut_in, 2, 4))
    with pytest.raises(ValidationError, match="purpose"):
        ScenarioEvaluator(cut_in, store=tmp_path / "s", purpose="reliability")


def test_failed_simulations_give_nan_margins(cut_in) -> None:
    def half_broken(batch: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({k: 1.0 for k in cut_in.kpis}, index=batch.index)
        out["min_ttc"] = np.where(batch["cut_in_gap"] > 25, np.nan, 3.0)
        return out

    evaluator = ScenarioEvaluator(
        cut_in, simulator=CallableSimulator(half_broken, kpis=cut_in.kpis)
    )
    x = _points(cut_in, 50, 5)
    frame = evaluator.evaluate(x)
    broken = frame["cut_in_gap"] > 25
    assert broken.any() and (~broken).any()
    assert frame.loc[broken, "g"].isna().all()
    assert (frame.loc[~broken, "g"] == 2.0).all()
    assert (frame.loc[broken, "status"] == "error").all()


def test_process_executor_gives_the_same_margins(cut_in) -> None:
    x = _points(cut_in, 60, 6)
    serial = ScenarioEvaluator(cut_in)(x)
    with make_executor("process", n_workers=2) as pool:
        parallel = ScenarioEvaluator(cut_in, executor=pool, batch_size=7)(x)
    np.testing.assert_array_equal(serial, parallel)


class _CountingSimulator:
    """The built-in simulator's cost shape: a fixed time per batch; counts the batches."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches: list[int] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        self.batches.append(len(batch))
        return self.inner.run(batch)


def test_calibration_is_done_once_and_a_serial_call_is_one_batch(cut_in) -> None:
    """Pilot batches run on the first call only; later serial calls are one task each
    (each batch of the built-in simulator costs its fixed ~0.5 s again)."""
    simulator = _CountingSimulator(cut_in.make_simulator())
    evaluator = ScenarioEvaluator(cut_in, simulator=simulator)
    evaluator(_points(cut_in, 40, 7))
    first = len(simulator.batches)
    assert first >= 2  # calibration pilot + the rest
    evaluator(_points(cut_in, 60, 8))
    assert simulator.batches[first:] == [60]
    assert evaluator.n_calls == 100
