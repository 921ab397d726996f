"""Run a design of concrete scenarios through a simulator, batch by batch, on an executor."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd

from safety_val.backends.base import STATUS_ERROR, Simulator, failed_rows, normalise_output
from safety_val.errors import ValidationError
from safety_val.execution.base import Executor, check_positive_int
from safety_val.execution.batching import calibrate, plan_batch_size, split_batches

__all__ = ["REQUIRED_COLUMNS", "run_batches", "simulate_batch"]

REQUIRED_COLUMNS = ("sample_index", "scenario_id")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def simulate_batch(simulator: Simulator, batch: pd.DataFrame) -> pd.DataFrame:
    """Simulate one batch and return its KPI, ``status`` and ``message`` columns.

    This is the function the executor's workers run. It never raises for a problem
    of the simulator: an exception escaping :meth:`Simulator.run` (a bug in an
    adapter) or output that breaks the protocol turns every row of the batch into
    ``error`` with the exception's one-line message, so other batches are not lost.

    Returns
    -------
    pandas.DataFrame
        Index ``batch.index``; columns ``[*simulator.kpis, "status", "message"]``.
    """
    kpis = tuple(simulator.kpis)
    try:
        raw = simulator.run(batch)
        if not isinstance(raw, pd.DataFrame):
            raise TypeError(
                f"{type(simulator).__name__}.run returned {type(raw).__name__}, "
                "expected a pandas.DataFrame"
            )
        return normalise_output(batch, raw, kpis, backend=simulator.name)
    except Exception as exc:  # a bug in the adapter must cost one batch, not the run
        return failed_rows(batch, kpis, STATUS_ERROR, _one_line(exc))


def _attach(batch: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([batch, result], axis=1)


def run_batches(
    simulator: Simulator,
    design: pd.DataFrame,
    *,
    executor: Executor,
    batch_size: int | None = None,
    on_result: Callable[[pd.DataFrame], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Simulate every concrete scenario of ``design``; return inputs with KPIs and status.

    Parameters
    ----------
    simulator
        Any :class:`~safety_val.backends.base.Simulator`; it must be picklable for
        the process and Ray executors.
    design
        Concrete scenarios: ``sample_index``, ``scenario_id`` and one column per
        parameter (e.g. :meth:`RunStore.pending`).
    executor
        Where the batches run (:func:`~safety_val.execution.make_executor`).
    batch_size
        Scenarios per task. ``None``: time a few small pilot batches in this process
        (their results are kept) and plan the rest with
        :func:`~safety_val.execution.batching.plan_batch_size`.
    on_result
        Called in this process with each finished batch (all output columns), as
        soon as it arrives, e.g. :meth:`RunStore.append`. An exception it raises
        stops the run.
    progress
        Called as ``progress(done_rows, total_rows)``, first with ``done_rows=0``.

    Returns
    -------
    pandas.DataFrame
        The columns of ``design``, then the KPIs, ``status`` and ``message``; one row
        per scenario, sorted by ``sample_index``, index reset. The result does not
        depend on the executor or the batch size (for a simulator that is
        deterministic per row).

    Raises
    ------
    ValidationError
        ``design`` lacks ``sample_index`` / ``scenario_id``, has duplicate sample
        indices, or has a column named like a KPI.

    Examples
    --------
    >>> from safety_val.backends.callable import CallableSimulator
    >>> from safety_val.execution.serial import SerialExecutor
    >>> sim = CallableSimulator(lambda b: pd.DataFrame({"gap": b["x"] * 2}), kpis=["gap"])
    >>> design = pd.DataFrame({"sample_index": [0, 1], "scenario_id": ["00aa", "00bb"],
    ...                        "x": [1.0, 2.0]})
    >>> run_batches(sim, design, executor=SerialExecutor(), batch_size=1)
    ... # doctest: +NORMALIZE_WHITESPACE
       sample_index scenario_id    x  gap status message
    0             0        00aa  1.0  2.0     ok
    1             1        00bb  2.0  4.0     ok
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in design.columns]
    if missing:
        raise ValidationError(
            "the design lacks required columns",
            field="design",
            value=missing,
            expected=f"columns {', '.join(REQUIRED_COLUMNS)}",
        )
    kpis = tuple(simulator.kpis)
    clash = [c for c in (*kpis, "status", "message") if c in design.columns]
    if clash:
        raise ValidationError(
            "design columns clash with the simulator's output columns",
            field="design",
            value=clash,
            expected="parameter names distinct from KPI names, 'status' and 'message'",
        )
    if design["sample_index"].duplicated().any():
        dupes = design.loc[design["sample_index"].duplicated(), "sample_index"].tolist()[:5]
        raise ValidationError(
            "duplicate sample indices in the design", field="design.sample_index", value=dupes
        )
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")

    design = design.reset_index(drop=True)
    total = len(design)
    worker = functools.partial(simulate_batch, simulator)
    finished: list[pd.DataFrame] = []
    done = 0
    if progress is not None:
        progress(0, total)

    def _collect(frame: pd.DataFrame) -> None:
        nonlocal done
        finished.append(frame)
        done += len(frame)
        if on_result is not None:
            on_result(frame)
        if progress is not None:
            progress(done, total)

    remaining = design
    if batch_size is None and total:
        pilot = calibrate(worker, design)
        for batch, result in zip(pilot.batches, pilot.results, strict=True):
            _collect(_attach(batch, result))
        remaining = design.iloc[pilot.n_items :]
        batch_size = plan_batch_size(
            len(remaining), n_workers=executor.n_workers, seconds_per_item=pilot.seconds_per_item
        )
    batches = split_batches(remaining, batch_size or 1)
    for position, result in executor.imap_unordered(worker, batches):
        _collect(_attach(batches[position], result))

    if not finished:
        empty = failed_rows(design, kpis, STATUS_ERROR, "")
        return _attach(design, empty).astype({"status": "str", "message": "str"})
    out = pd.concat(finished, axis=0)
    return out.sort_values("sample_index", kind="stable").reset_index(drop=True)
