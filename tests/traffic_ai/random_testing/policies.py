"""Picklable ego policies and tasks for the random-testing tests."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from traffic_ai.random_testing.egos import Observation
from traffic_ai.random_testing.runner import InstanceResult, InstanceSpec, run_instance


class FullThrottle:
    """Never brakes: accelerates at 2 m/s² whatever is ahead (forces a rear-end crash)."""

    def __call__(self, observation: Observation) -> float:
        return 2.0


class AlwaysBrake:
    """Brakes at 4 m/s² all the time (the ego stops and stays)."""

    def __call__(self, observation: Observation) -> float:
        return -4.0


class FailsForSlotZero:
    """Raises for ego slot 0, cruises at 1 m/s² for the others."""

    def __call__(self, observation: Observation) -> float:
        if observation.ego_id.startswith("ego0."):
            raise RuntimeError("ADS crashed")
        return 1.0 if observation.speed < 10.0 else 0.0


class KillOnce:
    """The first instance anywhere kills its own worker process in the middle of SUMO."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __call__(self, observation: Observation) -> float:
        if observation.time >= 1.0 and not self.marker.exists():
            self.marker.write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        return 0.0


def run_task(spec: InstanceSpec) -> InstanceResult:
    """The default task, importable by worker processes."""
    return run_instance(spec)
