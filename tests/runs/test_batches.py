from __future__ import annotations

import pandas as pd
import pytest

from safety_val.errors import ValidationError
from safety_val.execution import SerialExecutor
from safety_val.runs import run_batches, simulate_batch
from tests.execution.toy import KPIS, toy_design, toy_simulator


class BuggyOnSecondBatch:
    """An adapter with a bug: raises for batches that contain sample_index 5."""

    name = "buggy"
    kpis = KPIS

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        if (batch["sample_index"] == 5).any():
            raise RuntimeError("no column speed\nsecond line")
        return toy_simulator().run(batch)


def test_adapter_exception_costs_one_batch() -> None:
    written: list[pd.DataFrame] = []
    ticks: list[tuple[int, int]] = []
    out = run_batches(BuggyOnSecondBatch(), toy_design(12), executor=SerialExecutor(),
                      batch_size=4, on_result=written.append,
                      progress=lambda d, t: ticks.append((d, t)))
    assert len(out) == 12 and [len(w) for w in written] == [4, 4, 4]
    bad = out[out["sample_index"].between(4, 7)]
    assert (bad["status"] == "error").all()
    assert (bad["message"] == "RuntimeError: no column speed").all()
    others = out.loc[~out["sample_index"].between(4, 7), "message"]
    assert others.ne("RuntimeError: no column speed").all()
    assert ticks == [(0, 12), (4, 12), (8, 12), (12, 12)]


def test_calibrated_batch_size_keeps_pilot_results() -> None:
    written: list[pd.DataFrame] = []
    design = toy_design(300)
    out = run_batches(toy_simulator(), design, executor=SerialExecutor(), on_result=written.append)
    reference = run_batches(toy_simulator(), design, executor=SerialExecutor(), batch_size=300)
    pd.testing.assert_frame_equal(out, reference)
    assert sum(len(w) for w in written) == 300 and len(written) > 1


def test_design_with_shuffled_index_comes_back_sorted() -> None:
    design = toy_design(10).sample(frac=1.0, random_state=1).set_index(pd.Index(range(50, 60)))
    out = run_batches(toy_simulator(), design, executor=SerialExecutor(), batch_size=3)
    assert out["sample_index"].tolist() == list(range(10))
    assert out.index.equals(pd.RangeIndex(10))


def test_empty_design() -> None:
    out = run_batches(toy_simulator(), toy_design(0), executor=SerialExecutor())
    assert out.empty and {"min_gap", "status", "message"} <= set(out.columns)


def test_design_validation() -> None:
    with pytest.raises(ValidationError, match="lacks required columns"):
        run_batches(toy_simulator(), pd.DataFrame({"x": [1.0]}), executor=SerialExecutor())
    clash = toy_design(3).assign(min_gap=1.0)
    with pytest.raises(ValidationError, match="clash"):
        run_batches(toy_simulator(), clash, executor=SerialExecutor())
    dupes = pd.concat([toy_design(2), toy_design(2)])
    with pytest.raises(ValidationError, match="duplicate sample indices"):
        run_batches(toy_simulator(), dupes, executor=SerialExecutor())


def test_simulate_batch_reports_protocol_breaks() -> None:
    class ReturnsList:
        name = "bad"
        kpis = ("k",)

        def run(self, batch: pd.DataFrame) -> list[int]:
            return [1]

    out = simulate_batch(ReturnsList(), toy_design(2))  # type: ignore[arg-type]
    assert (out["status"] == "error").all()
    assert out["message"].iloc[0].startswith("TypeError: ReturnsList.run returned list")
