"""``make_executor``: one registry from a short name to an executor class."""

from __future__ import annotations

from typing import Any

from safety_val._registry import build_from_registry
from safety_val.execution.base import Executor

__all__ = ["EXECUTORS", "make_executor"]


EXECUTORS: dict[str, str] = {
    "serial": "safety_val.execution.serial:SerialExecutor",
    "process": "safety_val.execution.process:ProcessExecutor",
    "ray": "safety_val.execution.ray_executor:RayExecutor",
}
"""Executor kinds: name → ``module:class`` (imported only when used, so Ray loads only if asked)."""


def make_executor(kind: str, **options: Any) -> Executor:
    """Build an executor by name: ``"serial"``, ``"process"`` or ``"ray"``.

    Parameters
    ----------
    kind
        A key of :data:`EXECUTORS`.
    **options
        Keyword arguments of the executor class, e.g. ``n_workers=4``.

    Raises
    ------
    ValidationError
        Unknown ``kind`` (the message lists the valid ones) or invalid options.

    Examples
    --------
    >>> make_executor("serial")
    SerialExecutor()
    >>> from safety_val.errors import ValidationError
    >>> try:
    ...     make_executor("threads")
    ... except ValidationError as err:
    ...     print(err)
    unknown executor 'threads'; expected one of process, ray, serial
    """
    executor: Executor = build_from_registry(EXECUTORS, kind, "executor", options)
    return executor
