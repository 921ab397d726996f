from __future__ import annotations

import time

import pandas as pd
import pytest

from safety_val.errors import ValidationError
from safety_val.execution.batching import calibrate, plan_batch_size, split_batches


@pytest.mark.parametrize("n_items", [1, 10, 999, 20_000, 1_000_000])
@pytest.mark.parametrize("seconds_per_item", [0.0, 1e-7, 1e-5, 1e-3, 0.5, 30.0])
@pytest.mark.parametrize("n_workers", [1, 2, 16])
def test_plan_batch_size_bounds(n_items: int, seconds_per_item: float, n_workers: int) -> None:
    size = plan_batch_size(n_items, n_workers=n_workers, seconds_per_item=seconds_per_item)
    assert 1 <= size <= n_items
    n_batches = -(-n_items // size)
    if seconds_per_item > 0 and size * seconds_per_item < 0.05:
        # short tasks only when the balance target asks for them, never below it
        assert size == n_items or n_batches >= 4 * n_workers or size * seconds_per_item >= 0.05
    if seconds_per_item > 0 and n_items * seconds_per_item >= 0.05 * 4 * n_workers:
        # enough work: every task reaches 50 ms, up to rounding
        assert size * seconds_per_item >= 0.05 - 1e-12 or size * seconds_per_item > 600 or (
            n_batches >= 4 * n_workers
        )


def test_plan_batch_size_examples() -> None:
    assert plan_batch_size(20_000, n_workers=2, seconds_per_item=25e-6) == 2500
    assert plan_batch_size(20_000, n_workers=2, seconds_per_item=1e-4) == 2500
    assert plan_batch_size(20_000, n_workers=2, seconds_per_item=1e-6) == 20_000
    assert plan_batch_size(100, n_workers=2, seconds_per_item=1.0, max_batch_size=5) == 5
    assert plan_batch_size(10**6, n_workers=2, seconds_per_item=1.0) == 600
    assert plan_batch_size(0, n_workers=2, seconds_per_item=1.0) == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_workers": 0, "seconds_per_item": 1.0}, "n_workers"),
        ({"n_workers": 1, "seconds_per_item": -1.0}, "seconds_per_item"),
        ({"n_workers": 1, "seconds_per_item": 1.0, "max_batch_size": 0}, "max_batch_size"),
        ({"n_workers": 1, "seconds_per_item": 1.0, "min_task_seconds": 0}, "min_task_seconds"),
    ],
)
def test_plan_batch_size_rejects_bad_options(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        plan_batch_size(10, **kwargs)


def test_split_batches() -> None:
    frame = pd.DataFrame({"x": range(10)})
    batches = split_batches(frame, 4)
    assert [b["x"].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert split_batches(frame.iloc[:0], 4) == []
    with pytest.raises(ValidationError, match="batch_size"):
        split_batches(frame, 0)


def test_calibrate_stops_early_for_slow_functions() -> None:
    calls: list[int] = []

    def slow(batch: pd.DataFrame) -> int:
        calls.append(len(batch))
        time.sleep(0.06)
        return len(batch)

    cal = calibrate(slow, pd.DataFrame({"x": range(1000)}))
    assert calls == [4] and cal.n_items == 4 and cal.results == [4]
    assert 0.01 < cal.seconds_per_item < 0.1


def test_calibrate_grows_pilot_for_fast_functions() -> None:
    cal = calibrate(len, pd.DataFrame({"x": range(10_000)}))
    sizes = [len(b) for b in cal.batches]
    assert sizes[:3] == [4, 8, 16] and sum(sizes) == cal.n_items <= 500
    assert cal.results == sizes
