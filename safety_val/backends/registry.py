"""``make_simulator``: one registry from a backend name to a simulator class."""

from __future__ import annotations

from typing import Any

from safety_val._registry import build_from_registry
from safety_val.backends.base import Simulator

__all__ = ["SIMULATORS", "make_simulator"]


SIMULATORS: dict[str, str] = {
    "builtin": "safety_val.backends.builtin:BuiltinSimulator",
    "callable": "safety_val.backends.callable:CallableSimulator",
    "command": "safety_val.backends.command:CommandSimulator",
}
"""Simulator backends: name → ``module:class`` (imported only when used)."""


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
