"""``make_executor``: one registry from a short name to an executor class."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from safety_val.errors import ValidationError
from safety_val.execution.base import Executor

__all__ = ["EXECUTORS", "make_executor"]


def _serial() -> type[Executor]:
    from safety_val.execution.serial import SerialExecutor

    return SerialExecutor


def _process() -> type[Executor]:
    from safety_val.execution.process import ProcessExecutor

    return ProcessExecutor


def _ray() -> type[Executor]:
    from safety_val.execution.ray_executor import RayExecutor  # imports ray: only on demand

    return RayExecutor


EXECUTORS: dict[str, Callable[[], type[Executor]]] = {
    "serial": _serial,
    "process": _process,
    "ray": _ray,
}
"""Executor kinds; each value returns the class (imported lazily, so Ray loads only if used)."""


def build_from_registry(
    registry: dict[str, Callable[[], type[Any]]], kind: str, what: str, options: dict[str, Any]
) -> Any:
    """Look ``kind`` up in ``registry``, check ``options`` against the class, build it."""
    if not isinstance(kind, str) or kind not in registry:
        raise ValidationError(
            f"unknown {what} {kind!r}; expected one of {', '.join(sorted(registry))}"
        )
    cls = registry[kind]()
    signature = inspect.signature(cls)
    try:
        signature.bind(**options)
    except TypeError as exc:
        accepted = [
            name
            for name, p in signature.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        raise ValidationError(
            f"invalid options for {what} {kind!r}: {exc}",
            field=what,
            value=sorted(options),
            expected=f"options among {', '.join(accepted) or '(none)'}",
        ) from None
    return cls(**options)


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
