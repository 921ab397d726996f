"""The serial executor: runs every batch in the calling process, one after the other."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from safety_val.execution.base import ExecutorBase

__all__ = ["SerialExecutor"]

T = TypeVar("T")
R = TypeVar("R")


class SerialExecutor(ExecutorBase):
    """Run batches one by one in this process (debugging, tiny runs, the reference result).

    Examples
    --------
    >>> with SerialExecutor() as executor:
    ...     list(executor.map(sum, [[1, 2], [3]]))
    [3, 3]
    """

    name = "serial"

    def __init__(self) -> None:
        self.n_workers = 1

    def imap_unordered(self, fn: Callable[[T], R], batches: Iterable[T]) -> Iterator[tuple[int, R]]:
        """Yield ``(position, fn(batch))`` lazily, in input order."""
        for position, batch in enumerate(batches):
            yield position, fn(batch)

    def __repr__(self) -> str:
        return "SerialExecutor()"
