"""Fixtures of the traffic_ai tests: a tiny SUMO grid and a synthetic macro dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sumolib")


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One thread per test: the machine is shared and the tensors are tiny."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def grid_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 x 3 grid from netgenerate (24 segments)."""
    from traffic_ai.network import generate_network

    return generate_network("grid", tmp_path_factory.mktemp("net") / "grid.net.xml", size=3)


@pytest.fixture(scope="session")
def other_net(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A different network (spider) for the refusal tests."""
    from traffic_ai.network import generate_network

    return generate_network("spider", tmp_path_factory.mktemp("net2") / "s.net.xml", size=2)


def synthetic_table(
    segments: tuple[str, ...],
    adjacency: np.ndarray,
    days: float = 2,
    seed: int = 0,
    pulse_rate: float = 0.05,
) -> pd.DataFrame:
    """Traffic with a known structure: a daily cycle per segment plus a disturbance that
    travels one arc downstream per interval (so the upstream past predicts the future)."""
    rng = np.random.default_rng(seed)
    steps, n = int(days * 288), len(segments)
    t = np.arange(steps)
    daily = 1.0 + 0.5 * np.sin(2 * np.pi * t / 288)[:, None] * rng.uniform(0.5, 1.5, n)
    shock = np.zeros((steps, n))
    pulses = rng.normal(0, 1, size=(steps, n)) * (rng.uniform(size=(steps, n)) < pulse_rate)
    transition = adjacency / np.maximum(adjacency.sum(axis=1, keepdims=True), 1)
    for k in range(1, steps):
        shock[k] = 0.8 * shock[k - 1] @ transition + pulses[k]
    flow = 600 * daily + 100 * shock
    speed = 14 - 2 * daily - 0.5 * shock
    density = flow / np.maximum(speed * 3.6, 1)
    times = pd.date_range("2024-01-01", periods=steps, freq="5min")
    return pd.DataFrame(
        {
            "segment": np.tile(np.array(segments, dtype=object), steps),
            "time": np.repeat(times.to_numpy(), n),
            "flow": flow.ravel(),
            "speed": speed.ravel(),
            "density": density.ravel(),
        }
    )
