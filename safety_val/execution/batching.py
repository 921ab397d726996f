"""Batch sizing: tasks long enough to pay for their overhead, numerous enough to balance.

A task should run for at least ~50 ms: Ray's guidance is that tasks shorter than about
10 ms cost more in scheduling and serialisation than they compute, and a process pool
pays a pickling round trip per task. A run should also have several batches per worker
(default 4), so that a slow batch does not leave the other workers idle at the end and
so that results reach the run store (a checkpoint) regularly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from safety_val._validation import Constraint, Interval, check_options, check_value

__all__ = ["Calibration", "calibrate", "plan_batch_size", "split_batches"]


_POSITIVE_INT: list[Constraint] = [Interval(int, 1, None)]
_POSITIVE: list[Constraint] = [Interval(float, 0, None, closed="neither")]
_PLAN_CONSTRAINTS: dict[str, list[Constraint]] = {
    "n_items": [Interval(int, 0, None)],
    "n_workers": _POSITIVE_INT,
    "target_batches_per_worker": _POSITIVE_INT,
    "seconds_per_item": [Interval(float, 0, None)],
    "min_task_seconds": _POSITIVE,
    "max_task_seconds": _POSITIVE,
    "max_batch_size": [None, *_POSITIVE_INT],
}
_CALIBRATE_CONSTRAINTS: dict[str, list[Constraint]] = {
    "first_batch": _POSITIVE_INT,
    "min_seconds": _POSITIVE,
    "max_fraction": [Interval(float, 0, 1, closed="right")],
}


def plan_batch_size(
    n_items: int,
    *,
    n_workers: int,
    seconds_per_item: float,
    min_task_seconds: float = 0.05,
    target_batches_per_worker: int = 4,
    max_batch_size: int | None = None,
    max_task_seconds: float = 600.0,
) -> int:
    r"""Choose how many concrete scenarios go into one task.

    Parameters
    ----------
    n_items
        Number of scenarios to simulate.
    n_workers
        Number of batches the executor runs at the same time.
    seconds_per_item
        Estimated simulation time of one scenario (see :func:`calibrate`).
    min_task_seconds
        A task should run at least this long to amortise its overhead.
    target_batches_per_worker
        Aim for at least this many batches per worker (load balance, checkpoints).
    max_batch_size
        Hard upper bound (e.g. memory of an external simulator).
    max_task_seconds
        Upper bound on the duration of one task, so that results are checkpointed
        regularly even for huge runs; the minimum task duration wins over it.

    Returns
    -------
    int
        A batch size between 1 and ``max(n_items, 1)``.

    Notes
    -----
    With :math:`n` items, :math:`w` workers, :math:`k` target batches per worker and
    :math:`t` seconds per item, the balanced size is :math:`\lceil n / (k w) \rceil`;
    it is capped at :math:`\lfloor T_{max} / t \rfloor`, then raised to at least
    :math:`\lceil T_{min} / t \rceil`, then capped by ``max_batch_size`` and :math:`n`.

    Examples
    --------
    Fast vectorised simulator: 20,000 items at 25 µs each on 2 workers gives
    batches of 2,500 (8 tasks of about 60 ms).

    >>> plan_batch_size(20_000, n_workers=2, seconds_per_item=25e-6)
    2500

    Extremely fast: the 50 ms minimum wins over load balancing.

    >>> plan_batch_size(20_000, n_workers=2, seconds_per_item=1e-6)
    20000

    Slow external simulator (5 s per scenario): small batches.

    >>> plan_batch_size(1_000, n_workers=8, seconds_per_item=5.0)
    32
    """
    check_options(
        _PLAN_CONSTRAINTS,
        n_items=n_items,
        n_workers=n_workers,
        target_batches_per_worker=target_batches_per_worker,
        seconds_per_item=seconds_per_item,
        min_task_seconds=min_task_seconds,
        max_task_seconds=max_task_seconds,
        max_batch_size=max_batch_size,
    )
    if n_items == 0:
        return 1
    size = math.ceil(n_items / (n_workers * target_batches_per_worker))
    if seconds_per_item > 0:
        size = min(size, max(1, math.floor(max_task_seconds / seconds_per_item)))
        size = max(size, math.ceil(min_task_seconds / seconds_per_item))
    else:  # too fast to measure: one batch per worker at most
        size = max(size, math.ceil(n_items / n_workers))
    if max_batch_size is not None:
        size = min(size, max_batch_size)
    return max(1, min(size, n_items))


def split_batches(frame: pd.DataFrame, batch_size: int) -> list[pd.DataFrame]:
    """Cut ``frame`` into consecutive batches of ``batch_size`` rows (the last may be shorter).

    Examples
    --------
    >>> [len(b) for b in split_batches(pd.DataFrame({"x": range(5)}), 2)]
    [2, 2, 1]
    """
    check_value(batch_size, _POSITIVE_INT, field="batch_size")
    batch_size = int(batch_size)
    return [frame.iloc[start : start + batch_size] for start in range(0, len(frame), batch_size)]


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` measured.

    Attributes
    ----------
    seconds_per_item
        Estimated time per item, from the largest pilot batch.
    n_items
        How many leading items of the frame the pilot consumed.
    batches
        The pilot batches, in order.
    results
        ``fn(batch)`` for each pilot batch (kept: the pilot is not wasted work).
    """

    seconds_per_item: float
    n_items: int
    batches: list[pd.DataFrame] = field(repr=False)
    results: list[Any] = field(repr=False)


def calibrate(
    fn: Callable[[pd.DataFrame], Any],
    frame: pd.DataFrame,
    *,
    min_seconds: float = 0.05,
    first_batch: int = 4,
    max_fraction: float = 0.05,
) -> Calibration:
    """Time ``fn`` on small pilot batches taken from the head of ``frame``.

    Pilot batches double in size (``first_batch``, 2×, 4×, ...) until one takes at
    least ``min_seconds`` or the pilot would exceed ``max_fraction`` of the frame;
    the largest batch gives the estimate, so fixed per-call overheads and warm-up
    weigh little. A slow simulator stops the pilot after its first batch.

    Examples
    --------
    >>> cal = calibrate(lambda b: time.sleep(0.001 * len(b)), pd.DataFrame({"x": range(1000)}))
    >>> 0.0005 < cal.seconds_per_item < 0.01, cal.n_items == sum(map(len, cal.batches))
    (True, True)
    """
    check_options(
        _CALIBRATE_CONSTRAINTS,
        first_batch=first_batch,
        min_seconds=min_seconds,
        max_fraction=max_fraction,
    )
    n_total = len(frame)
    limit = max(first_batch, math.floor(max_fraction * n_total))
    batches: list[pd.DataFrame] = []
    results: list[Any] = []
    used = 0
    size = first_batch
    seconds_per_item = 0.0
    while used < n_total:
        batch = frame.iloc[used : used + min(size, n_total - used)]
        start = time.perf_counter()
        results.append(fn(batch))
        elapsed = time.perf_counter() - start
        batches.append(batch)
        used += len(batch)
        seconds_per_item = elapsed / len(batch)
        size *= 2
        if elapsed >= min_seconds or used + size > limit:
            break
    return Calibration(seconds_per_item, used, batches, results)
