"""``make_simulator``: one registry from a backend name to a simulator class."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from safety_val.backends.base import Simulator
from safety_val.execution.registry import build_from_registry

__all__ = ["SIMULATORS", "make_simulator"]


def _builtin() -> type[Any]:
    # imported only when asked for (it loads the whole built-in simulator)
    builtin = importlib.import_module("safety_val.backends.builtin")
    cls: type[Any] = builtin.BuiltinSimulator
    return cls


def _callable() -> type[Any]:
    from safety_val.backends.callable import CallableSimulator

    return CallableSimulator


def _command() -> type[Any]:
    from safety_val.backends.command import CommandSimulator

    return CommandSimulator


SIMULATORS: dict[str, Callable[[], type[Any]]] = {
    "builtin": _builtin,
    "callable": _callable,
    "command": _command,
}
"""Simulator backends; each value returns the class (imported lazily)."""


def make_simulator(kind: str, **options: Any) -> Simulator:
    """Build a simulator backend by name: ``"builtin"``, ``"callable"`` or ``"command"``.

    Parameters
    ----------
    kind
        A key of :data:`SIMULATORS`.
    **options
        Arguments of the backend class, e.g. ``argv=[...], kpis=[...]`` for
        ``"command"``.

    Raises
    ------
    ValidationError
        Unknown ``kind`` (the message lists the valid ones) or invalid options.

    Examples
    --------
    >>> make_simulator("callable", function=len, kpis=["n"], vectorised=False).name
    'callable'
    >>> from safety_val.errors import ValidationError
    >>> try:
    ...     make_simulator("carla2")
    ... except ValidationError as err:
    ...     print(err)
    unknown simulator 'carla2'; expected one of builtin, callable, command
    """
    simulator: Simulator = build_from_registry(SIMULATORS, kind, "simulator", options)
    return simulator
