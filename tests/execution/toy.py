"""A toy deterministic simulator for the executor tests (no built-in simulator needed)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pandas as pd

from safety_val.backends.callable import CallableSimulator

KPIS = ("min_gap", "collision")


def toy_kpis(batch: pd.DataFrame) -> pd.DataFrame:
    """KPIs from the parameters plus per-row noise seeded from the scenario id."""
    noise = np.array(
        [np.random.default_rng(int(sid, 16)).normal() for sid in batch["scenario_id"]]
    )
    gap = 10.0 * batch["x"].to_numpy() - batch["y"].to_numpy() + noise
    gap = np.where(batch["weather"] == "wet", gap - 1.0, gap)
    gap = np.where(batch["x"].to_numpy() > 0.97, np.nan, gap)  # some rows end as `error`
    return pd.DataFrame({"min_gap": gap, "collision": gap < 0}, index=batch.index)


def toy_simulator() -> CallableSimulator:
    return CallableSimulator(toy_kpis, kpis=KPIS, name="toy")


def toy_design(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "sample_index": np.arange(n, dtype=np.int64),
            "scenario_id": [f"{(i * 0x9E3779B97F4A7C15 + 7) % 2**64:016x}" for i in range(n)],
            "x": rng.uniform(0.0, 1.0, n),
            "y": rng.uniform(0.0, 8.0, n),
            "weather": rng.choice(["dry", "wet"], n),
        }
    )


class KillOnceSimulator:
    """Wraps a simulator; the first call anywhere kills its own worker process."""

    def __init__(self, inner: CallableSimulator, marker: Path, *, hard_exit: bool = False) -> None:
        self.inner = inner
        self.marker = marker
        self.hard_exit = hard_exit
        self.name = inner.name
        self.kpis = inner.kpis

    def run(self, batch: pd.DataFrame) -> pd.DataFrame:
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return self.inner.run(batch)
        os.close(fd)
        if self.hard_exit:
            os._exit(1)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def kill_always(batch: pd.DataFrame) -> pd.DataFrame:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def raise_value_error(batch: pd.DataFrame) -> pd.DataFrame:
    raise ValueError("bug in fn")


def double(values: list[int]) -> list[int]:
    return [2 * v for v in values]
