"""Simulator backends: the :class:`Simulator` protocol and its adapters.

``builtin`` (the vectorised built-in simulator), ``callable`` (a Python function),
``command`` (an external program through files). Build one by name with
:func:`make_simulator`.
"""

from __future__ import annotations

import importlib
from typing import Any

from safety_val.backends.base import (
    STATUS_ERROR,
    STATUS_OK,
    STATUS_TIMEOUT,
    STATUSES,
    Simulator,
    failed_rows,
    normalise_output,
)
from safety_val.backends.callable import CallableSimulator
from safety_val.backends.command import CommandSimulator
from safety_val.backends.registry import SIMULATORS, make_simulator

__all__ = [
    "SIMULATORS",
    "STATUSES",
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_TIMEOUT",
    "BuiltinSimulator",
    "CallableSimulator",
    "CommandSimulator",
    "Simulator",
    "failed_rows",
    "make_simulator",
    "normalise_output",
]


def __getattr__(name: str) -> Any:
    if name == "BuiltinSimulator":  # lazy: keeps `import safety_val.backends` light
        return importlib.import_module("safety_val.backends.builtin").BuiltinSimulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
