"""Executors (serial, processes, Ray) and batch sizing: how batches are spread over workers.

Only this package imports Ray, and only when a Ray executor is asked for.
"""

from __future__ import annotations

from typing import Any

from safety_val.execution.base import Executor, ExecutorBase
from safety_val.execution.batching import Calibration, calibrate, plan_batch_size, split_batches
from safety_val.execution.process import ProcessExecutor
from safety_val.execution.registry import EXECUTORS, make_executor
from safety_val.execution.serial import SerialExecutor

__all__ = [
    "EXECUTORS",
    "Calibration",
    "Executor",
    "ExecutorBase",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "calibrate",
    "make_executor",
    "plan_batch_size",
    "split_batches",
]


def __getattr__(name: str) -> Any:
    if name == "RayExecutor":  # lazy: importing Ray takes a second or two
        from safety_val.execution.ray_executor import RayExecutor

        return RayExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
