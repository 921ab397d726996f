"""The Ray executor: batches as Ray tasks, on this machine or on a cluster.

This is the only module of safety-val that imports :mod:`ray`. (It is not called
``ray.py`` so that it can never shadow the real package.)

The function is put in the object store once and every task receives a reference
to it. Tasks are submitted with ``max_retries``: when the worker process running a
task dies (a *system* failure: killed, out of memory, node lost) Ray runs the task
again. Exceptions raised by the function (*application* errors) are not retried and
propagate. Results are gathered with :func:`ray.wait` in the order they complete.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import ray
import ray.exceptions

from safety_val.errors import SimulationError, ValidationError
from safety_val.execution.base import ExecutorBase, check_positive_int

__all__ = ["RayExecutor"]

T = TypeVar("T")
R = TypeVar("R")


def _apply(fn: Callable[[Any], Any], batch: Any) -> Any:
    """Body of every Ray task: ``fn(batch)`` (Ray resolves the object reference to ``fn``)."""
    return fn(batch)


class RayExecutor(ExecutorBase):
    """Run batches as Ray tasks.

    Parameters
    ----------
    address
        ``None``: start a new local Ray instance (never attach to one by accident);
        ``"auto"`` or ``"HOST:PORT"``:
        join a cluster started with ``ray start --head``. Ignored when Ray is already
        initialised in this process.
    n_workers
        How many tasks may run at the same time; default: the cluster's CPU count.
    max_retries
        How many times Ray reruns a task whose worker died (system failures only).
    init_options
        Extra keyword arguments for :func:`ray.init` (e.g. ``{"num_cpus": 4}``,
        ``{"runtime_env": {...}}``).

    Notes
    -----
    At most ``n_workers`` tasks are in flight; a new one is submitted each time one
    finishes. Each task asks Ray for one CPU. The executor shuts Ray down on
    :meth:`close` only if it started Ray itself.

    Examples
    --------
    >>> with RayExecutor(n_workers=2, init_options={"num_cpus": 2}) as ex:  # doctest: +SKIP
    ...     list(ex.map(sum, [[1, 2], [3]]))
    [3, 3]
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        n_workers: int | None = None,
        max_retries: int = 3,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.max_retries = check_positive_int(max_retries, "max_retries", allow_zero=True)
        if n_workers is not None:
            check_positive_int(n_workers, "n_workers")
        self.address = address
        self._owns_ray = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
            options.update(init_options or {})
            try:
                # "local" always starts a fresh instance: a bare ray.init() would attach to any
                # cluster "ray start" left registered on this machine
                ray.init(address=address or "local", **options)
            except ConnectionError as exc:
                raise ValidationError(
                    f"cannot connect to the Ray cluster: {str(exc).splitlines()[0]}",
                    field="address",
                    value=address,
                    expected="the HOST:PORT printed by 'ray start --head' (with Ray token "
                    "authentication, the cluster's RAY_AUTH_TOKEN in the environment)",
                ) from None
            self._owns_ray = True
        if n_workers is None:
            n_workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.n_workers = n_workers
        self._task = ray.remote(_apply).options(
            num_cpus=1, max_retries=self.max_retries, retry_exceptions=False
        )

    def imap_unordered(self, fn: Callable[[T], R], batches: Iterable[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(position, fn(batch))`` as tasks complete.

        Raises
        ------
        SimulationError
            A task failed for a system reason after all its retries (worker or node died).
        Exception
            Whatever ``fn`` raised (a ``RayTaskError`` that is also an instance of it).
        """
        fn_ref = ray.put(fn)
        pending = iter(enumerate(batches))
        in_flight: dict[Any, int] = {}

        def top_up() -> None:
            while len(in_flight) < self.n_workers:
                item = next(pending, None)
                if item is None:
                    return
                position, batch = item
                in_flight[self._task.remote(fn_ref, batch)] = position

        try:
            top_up()
            while in_flight:
                done, _ = ray.wait(list(in_flight), num_returns=1)
                finished = [(ref, in_flight.pop(ref)) for ref in done]
                top_up()  # keep the workers busy while this process handles the results
                for ref, position in finished:
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayTaskError:
                        raise
                    except ray.exceptions.RayError as exc:
                        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                        raise SimulationError(
                            f"Ray could not run batch {position} (after max_retries="
                            f"{self.max_retries}): {type(exc).__name__}: {first}"
                        ) from exc
                    yield position, result
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=False)

    def nested(self) -> Callable[[], RayExecutor]:
        """A factory, run inside a task, of an executor on the same (already running) Ray.

        Ray is initialised in a task's worker, so the executor attaches to it (and never
        shuts it down); its tasks are nested tasks on the same cluster.
        """
        return functools.partial(RayExecutor, n_workers=self.n_workers)

    def close(self) -> None:
        """Shut Ray down if this executor started it. Idempotent."""
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __repr__(self) -> str:
        return (
            f"RayExecutor(address={self.address!r}, n_workers={self.n_workers}, "
            f"max_retries={self.max_retries})"
        )
