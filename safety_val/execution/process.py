"""The process executor: a :class:`concurrent.futures.ProcessPoolExecutor` that survives crashes.

Workers are started with the ``forkserver`` method where the platform has it and
``spawn`` elsewhere, never ``fork``: the parent may hold threads (Ray, pyarrow,
OpenMP) and forking a threaded process can deadlock the child.

A worker that dies (killed by the OOM killer, a segfault in a native simulator,
``SIGKILL``) breaks the whole pool: every unfinished future fails with
:class:`~concurrent.futures.process.BrokenProcessPool`. The executor then builds a
new pool and resubmits the unfinished batches, up to ``max_retries`` times each.
Exceptions raised by the function itself are bugs and propagate.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from safety_val.errors import SimulationError, ValidationError
from safety_val.execution.base import ExecutorBase, check_positive_int

__all__ = ["ProcessExecutor", "available_cpus"]

T = TypeVar("T")
R = TypeVar("R")

_START_METHODS = ("forkserver", "spawn")


def available_cpus() -> int:
    """Return the number of CPUs this process may run on (affinity masks, containers).

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class ProcessExecutor(ExecutorBase):
    """Run batches in a pool of local worker processes.

    Parameters
    ----------
    n_workers
        Number of worker processes; default: the CPUs available to this process.
    max_retries
        How many times a batch is resubmitted after its worker process died.
    start_method
        ``"forkserver"`` or ``"spawn"``; default ``"forkserver"`` where available.

    Notes
    -----
    ``fn`` and the batches are pickled, so ``fn`` must be a module-level function,
    a :func:`functools.partial` of one, or a picklable object such as a simulator's
    bound method. At most ``2 * n_workers`` batches are in flight at a time, which
    keeps memory bounded and workers busy.

    When the pool breaks, the batches that were in flight are all resubmitted (the
    pool cannot tell which worker died), and each of them counts one retry.

    Examples
    --------
    >>> with ProcessExecutor(n_workers=2) as executor:  # doctest: +SKIP
    ...     list(executor.map(sum, [[1, 2], [3]]))
    [3, 3]
    """

    name = "process"

    def __init__(
        self,
        n_workers: int | None = None,
        max_retries: int = 3,
        *,
        start_method: str | None = None,
    ) -> None:
        self.n_workers = available_cpus() if n_workers is None else check_positive_int(
            n_workers, "n_workers"
        )
        self.max_retries = check_positive_int(max_retries, "max_retries", allow_zero=True)
        if start_method is None:
            start_method = (
                "forkserver"
                if "forkserver" in multiprocessing.get_all_start_methods()
                else "spawn"
            )
        if start_method not in _START_METHODS or (
            start_method not in multiprocessing.get_all_start_methods()
        ):
            raise ValidationError(
                "unsupported start method",
                field="start_method",
                value=start_method,
                expected=" or ".join(
                    m for m in _START_METHODS if m in multiprocessing.get_all_start_methods()
                ),
            )
        self.start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.n_workers,
                mp_context=multiprocessing.get_context(self.start_method),
            )
        return self._pool

    def _discard_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def imap_unordered(self, fn: Callable[[T], R], batches: Iterable[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(position, fn(batch))`` as batches complete.

        Raises
        ------
        SimulationError
            A batch's worker died more than ``max_retries`` times.
        Exception
            Whatever ``fn`` raised, unchanged.
        """
        items = list(batches)
        attempts = [0] * len(items)
        queue = deque(range(len(items)))
        running: dict[Future[R], int] = {}
        window = 2 * self.n_workers
        try:
            while queue or running:
                pool = self._get_pool()
                broken = False
                while queue and len(running) < window:
                    position = queue[0]
                    try:
                        future = pool.submit(fn, items[position])
                    except BrokenProcessPool:
                        broken = True
                        break
                    queue.popleft()
                    running[future] = position
                if running and not broken:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    broken = any(
                        isinstance(f.exception(), BrokenProcessPool) for f in done
                    )
                    if broken:  # every other future of this pool is failing too
                        done, _ = wait(running)
                    for future in done:
                        exc = future.exception()
                        if exc is None:
                            yield running.pop(future), future.result()
                        elif not isinstance(exc, BrokenProcessPool):
                            raise exc
                if broken:
                    lost = list(running.values())
                    running.clear()
                    for position in sorted(lost, reverse=True):
                        attempts[position] += 1
                        if attempts[position] > self.max_retries:
                            raise SimulationError(
                                f"a worker process died {attempts[position]} times while "
                                f"running batch {position}; giving up after "
                                f"max_retries={self.max_retries}"
                            )
                        queue.appendleft(position)
                    self._discard_pool()
        finally:
            for future in running:
                future.cancel()

    def close(self) -> None:
        """Shut the worker processes down. Idempotent."""
        self._discard_pool()

    def __repr__(self) -> str:
        return (
            f"ProcessExecutor(n_workers={self.n_workers}, max_retries={self.max_retries}, "
            f"start_method={self.start_method!r})"
        )
