"""The :class:`Executor` protocol: injected parallelism, in the style of emcee's ``pool.map``.

An executor applies a picklable function to a sequence of batches. The core of
safety-val never imports a pool library; it receives an executor and calls
:meth:`Executor.map` (results in input order) or :meth:`Executor.imap_unordered`
(results as they complete, each with the position of its batch, for incremental
writes and progress bars). :func:`map_with_executor` runs whole tasks that need an
executor of their own (campaign jobs): as nested tasks where the executor can nest
(:meth:`ExecutorBase.nested`), otherwise one after another with the executor itself.

Failures are split in two kinds:

- *infrastructure faults* (a worker process killed, a node lost) are retried by the
  executor, up to ``max_retries`` times per batch;
- *exceptions raised by the function itself* are bugs and propagate unchanged. The
  simulation runner catches a simulator's exceptions per batch before they reach the
  executor, so a buggy adapter costs one batch, not the run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

from safety_val._validation import Interval, check_value

__all__ = ["Executor", "ExecutorBase", "check_positive_int", "in_order", "map_with_executor"]

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Something that maps a picklable function over batches, possibly in parallel.

    Attributes
    ----------
    name
        ``"serial"``, ``"process"``, ``"ray"``, ...
    n_workers
        How many batches may run at the same time.
    """

    name: str
    n_workers: int

    def map(self, fn: Callable[[T], R], batches: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(batch)`` for every batch, in input order."""
        ...

    def imap_unordered(self, fn: Callable[[T], R], batches: Iterable[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(position, fn(batch))`` as batches complete."""
        ...

    def close(self) -> None:
        """Release workers. Idempotent."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def in_order(results: Iterable[tuple[int, R]]) -> Iterator[R]:
    """Reorder ``(position, result)`` pairs that arrive in any order into input order.

    Results are yielded as soon as every earlier position has arrived.

    Examples
    --------
    >>> list(in_order([(2, "c"), (0, "a"), (1, "b")]))
    ['a', 'b', 'c']
    """
    waiting: dict[int, R] = {}
    next_position = 0
    for position, result in results:
        waiting[position] = result
        while next_position in waiting:
            yield waiting.pop(next_position)
            next_position += 1
    if waiting:  # positions must be 0..n-1; anything left means a gap
        raise RuntimeError(
            f"results for positions {sorted(waiting)[:5]} arrived without earlier ones"
        )


def map_with_executor(
    executor: Executor | None,
    fn: Callable[[T, Executor | None], R],
    items: Iterable[T],
) -> Iterator[tuple[int, R]]:
    """Yield ``(position, fn(item, inner))`` for every item; ``inner`` runs ``fn``'s batches.

    When ``executor`` can nest (its ``nested()`` returns a factory, as the Ray executor's
    does) and there is more than one item, each item runs as a task of ``executor`` with
    ``inner`` a fresh executor on the same cluster, built inside the task; results come as
    they complete. Otherwise the items run one after another in this process with
    ``inner = executor`` (which then parallelises their batches), in input order.

    ``fn`` and the items must be picklable when ``executor`` nests.

    Examples
    --------
    >>> from safety_val.execution.serial import SerialExecutor
    >>> list(map_with_executor(SerialExecutor(), lambda x, ex: (x, ex.name), [1, 2]))
    [(0, (1, 'serial')), (1, (2, 'serial'))]
    """
    tasks = list(items)
    nested = getattr(executor, "nested", None)
    factory = nested() if callable(nested) and len(tasks) > 1 else None
    if executor is None or factory is None:
        for position, task in enumerate(tasks):
            yield position, fn(task, executor)
        return
    yield from executor.imap_unordered(functools.partial(_with_nested, fn, factory), tasks)


def _with_nested(
    fn: Callable[[T, Executor | None], R], factory: Callable[[], Executor], task: T
) -> R:
    """Body of a nested task: ``fn(task, inner)`` with ``inner`` built (and closed) here."""
    with factory() as inner:
        return fn(task, inner)


def check_positive_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    """Validate an integer option; raise :class:`~safety_val.errors.ValidationError` otherwise.

    Examples
    --------
    >>> check_positive_int(2, "n_workers")
    2
    >>> check_positive_int(0, "n_workers")
    Traceback (most recent call last):
    ...
    safety_val.errors.ValidationError: n_workers: must be an int >= 1 (got 0; expected an int >= 1)
    """
    check_value(value, [Interval(int, 0 if allow_zero else 1, None)], field=name)
    return int(value)


class ExecutorBase:
    """Shared behaviour: ordered :meth:`map` on top of :meth:`imap_unordered`, context manager."""

    name: str = "base"
    n_workers: int = 1

    def imap_unordered(self, fn: Callable[[T], R], batches: Iterable[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(position, fn(batch))`` as batches complete."""
        raise NotImplementedError

    def map(self, fn: Callable[[T], R], batches: Iterable[T]) -> Iterator[R]:
        """Yield ``fn(batch)`` for every batch, in input order."""
        return in_order(self.imap_unordered(fn, batches))

    def close(self) -> None:
        """Release workers. Idempotent."""

    def nested(self) -> Callable[[], Executor] | None:
        """A picklable factory of an executor usable *inside* this executor's tasks, or ``None``.

        ``None`` (the default: serial, process) means tasks cannot nest, so
        :func:`map_with_executor` runs them one after another with this executor itself.
        """
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"
