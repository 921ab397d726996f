from __future__ import annotations

import time

import pandas as pd
import pytest

from safety_val.errors import SimulationError
from safety_val.execution import ProcessExecutor, SerialExecutor
from safety_val.execution.base import Executor, in_order
from safety_val.runs import run_batches

from .toy import (
    KillOnceSimulator,
    double,
    kill_always,
    raise_value_error,
    toy_design,
    toy_simulator,
)

N = 240


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return run_batches(toy_simulator(), toy_design(N), executor=SerialExecutor(), batch_size=N)


def test_reference_is_sane(reference: pd.DataFrame) -> None:
    assert reference["sample_index"].tolist() == list(range(N))
    assert set(reference["status"]) == {"ok", "error"}  # the toy has a few NaN rows
    assert list(reference.columns[-4:]) == ["min_gap", "collision", "status", "message"]


def test_serial_map_and_imap_unordered() -> None:
    with SerialExecutor() as executor:
        assert isinstance(executor, Executor)
        assert list(executor.map(double, [[1], [2, 3]])) == [[2], [4, 6]]
        assert list(executor.imap_unordered(double, [[1], [2]])) == [(0, [2]), (1, [4])]


def test_in_order_detects_gaps() -> None:
    with pytest.raises(RuntimeError, match="without earlier ones"):
        list(in_order([(1, "b")]))


@pytest.mark.parametrize("batch_size", [1, 7, 64, None])
def test_serial_batch_sizes_identical(reference: pd.DataFrame, batch_size: int | None) -> None:
    out = run_batches(toy_simulator(), toy_design(N), executor=SerialExecutor(),
                      batch_size=batch_size)
    pd.testing.assert_frame_equal(out, reference)


def test_process_identical_for_several_batch_sizes(reference: pd.DataFrame) -> None:
    with ProcessExecutor(n_workers=2) as executor:
        assert isinstance(executor, Executor)
        for batch_size in (7, 50, None):
            out = run_batches(toy_simulator(), toy_design(N), executor=executor,
                              batch_size=batch_size)
            pd.testing.assert_frame_equal(out, reference)


def test_process_map_keeps_input_order() -> None:
    with ProcessExecutor(n_workers=2) as executor:
        assert list(executor.map(double, [[i] for i in range(10)])) == [[2 * i] for i in range(10)]


def test_process_killed_worker_is_retried(tmp_path, reference: pd.DataFrame) -> None:
    marker = tmp_path / "killed"
    simulator = KillOnceSimulator(toy_simulator(), marker)
    written: list[pd.DataFrame] = []
    with ProcessExecutor(n_workers=2, max_retries=3) as executor:
        out = run_batches(simulator, toy_design(N), executor=executor, batch_size=20,
                          on_result=written.append)
    assert marker.exists()  # a worker really died
    pd.testing.assert_frame_equal(out, reference)
    indices = pd.concat(written)["sample_index"]
    assert not indices.duplicated().any()
    assert sorted(indices) == list(range(N))


def test_process_gives_up_after_max_retries() -> None:
    with ProcessExecutor(n_workers=1, max_retries=1) as executor, pytest.raises(
        SimulationError, match="died 2 times"
    ):
        list(executor.imap_unordered(kill_always, [pd.DataFrame({"x": [1]})]))


def test_process_fn_exception_propagates() -> None:
    with ProcessExecutor(n_workers=2) as executor, pytest.raises(ValueError, match="bug in fn"):
        list(executor.imap_unordered(raise_value_error, [pd.DataFrame({"x": [1]})] * 3))


@pytest.mark.ray
def test_ray_identical_results(ray_cluster, reference: pd.DataFrame) -> None:
    from safety_val.execution.ray_executor import RayExecutor

    with RayExecutor() as executor:
        assert executor.n_workers == 2
        assert isinstance(executor, Executor)
        assert list(executor.map(double, [[i] for i in range(6)])) == [[2 * i] for i in range(6)]
        for batch_size in (7, 64):
            out = run_batches(toy_simulator(), toy_design(N), executor=executor,
                              batch_size=batch_size)
            pd.testing.assert_frame_equal(out, reference)
    assert ray_cluster.is_initialized()  # the executor did not start Ray, so it leaves it


@pytest.mark.ray
def test_ray_killed_worker_is_retried(ray_cluster, tmp_path, reference: pd.DataFrame) -> None:
    from safety_val.execution.ray_executor import RayExecutor

    marker = tmp_path / "killed"
    simulator = KillOnceSimulator(toy_simulator(), marker, hard_exit=True)
    written: list[pd.DataFrame] = []
    start = time.perf_counter()
    with RayExecutor(max_retries=3) as executor:
        out = run_batches(simulator, toy_design(N), executor=executor, batch_size=30,
                          on_result=written.append)
    assert marker.exists()
    assert time.perf_counter() - start < 30
    pd.testing.assert_frame_equal(out, reference)
    indices = pd.concat(written)["sample_index"]
    assert not indices.duplicated().any() and len(indices) == N


@pytest.mark.ray
def test_ray_fn_exception_propagates(ray_cluster) -> None:
    from safety_val.execution.ray_executor import RayExecutor

    with RayExecutor(max_retries=0) as executor, pytest.raises(ValueError, match="bug in fn"):
        list(executor.imap_unordered(raise_value_error, [pd.DataFrame({"x": [1]})]))
