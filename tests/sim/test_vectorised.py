"""The vectorised per-step helpers agree with straightforward per-agent computations."""

from __future__ import annotations

import numpy as np
import pytest

from safety_val.sim import rng
from safety_val.sim.engine import _occluded, _Scripts
from safety_val.sim.setup import Phases


def _occluded_brute_force(gap, dy, half_width):
    """One pair of targets at a time, one scenario at a time."""
    n, m = gap.shape
    hidden = np.zeros((n, m), dtype=bool)
    for i in range(n):
        for j in range(m):
            for k in range(m):
                if j == k:
                    continue
                safe_j, safe_k = max(gap[i, j], 1e-3), max(gap[i, k], 1e-3)
                bearing_j, bearing_k = dy[i, j] / safe_j, dy[i, k] / safe_k
                if (
                    0.0 < gap[i, k] < gap[i, j]
                    and abs(bearing_j - bearing_k) < half_width[i, k] / safe_k
                ):
                    hidden[i, j] = True
    return hidden


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_occlusion_matches_brute_force(m: int) -> None:
    r = np.random.default_rng(100 + m)
    n = 400
    gap = r.uniform(-10.0, 80.0, (n, m))
    gap[r.random((n, m)) < 0.1] = 0.0
    # ties: two targets at the same distance never hide each other
    gap[: n // 10, -1] = gap[: n // 10, 0]
    dy = r.uniform(-4.0, 4.0, (n, m))
    dy[r.random((n, m)) < 0.3] = 0.0  # many targets on the ego's axis
    half_width = r.choice([0.3, 0.9, 1.0], (n, m))
    got = _occluded(gap, dy, half_width)
    assert got.shape == (n, m) and got.dtype == bool
    np.testing.assert_array_equal(got, _occluded_brute_force(gap, dy, half_width))
    if m > 1:
        assert got.any() and not got.all()


def test_vectorised_streams_equal_per_channel_calls() -> None:
    keys = rng.scenario_keys(np.arange(1000))
    streams = np.array([0, 1, 8, 17, 40, 62])
    for counter in (0, 3, 12345):
        u_col = rng.uniform(keys[:, None], counter, streams)
        u_row = rng.uniform(keys[None, :], counter, streams[:, None])
        assert u_col.shape == (1000, streams.size)
        for c, s in enumerate(streams):
            ref = rng.uniform(keys, counter, int(s))
            assert np.array_equal(u_col[:, c], ref)
            assert np.array_equal(u_row[c], ref)
        z1, z2 = rng.normal_pair(keys[:, None], counter, streams)
        for c, s in enumerate(streams):
            r1, r2 = rng.normal_pair(keys, counter, int(s))
            assert np.array_equal(z1[:, c], r1) and np.array_equal(z2[:, c], r2)


def test_stream_scalars_of_any_integer_type_agree() -> None:
    keys = rng.scenario_keys(np.arange(50))
    ref = rng.uniform(keys, 7, 5)
    for s in (np.int64(5), np.uint8(5), np.array(5), np.array([5])):
        assert np.array_equal(np.broadcast_to(rng.uniform(keys, 7, s), keys.shape), ref)


@pytest.mark.parametrize("bad", [64, -1, np.array([0, 64]), np.array([-1, 3]), 1.5])
def test_streams_out_of_range_are_rejected(bad) -> None:
    with pytest.raises(ValueError, match="stream"):
        rng.uniform(rng.scenario_keys(np.arange(3)), 0, bad)


def test_normal_pair_rejects_last_stream() -> None:
    with pytest.raises(ValueError, match="stream"):
        rng.normal_pair(rng.scenario_keys(np.arange(3))[:, None], 0, np.array([0, 63]))


def _random_phases(r: np.random.Generator, n: int, n_phases: int, dt: float) -> Phases:
    # starts on a coarse grid so that several phases often start within one step
    steps = np.sort(r.integers(1, 40, (n, n_phases - 1)), axis=1)
    start = np.concatenate([np.zeros((n, 1)), steps * (2.5 * dt)], axis=1)
    speed = r.choice([0.0, 5.0, 12.0, 30.0], (n, n_phases))
    accel = r.uniform(0.5, 8.0, (n, n_phases))
    lateral = r.uniform(-3.5, 3.5, (n, n_phases))
    return Phases(start, speed, accel, lateral)


def test_scripts_follow_the_phase_tables() -> None:
    r = np.random.default_rng(7)
    n, dt = 300, 0.04
    scripts = tuple(_random_phases(r, n, p, dt) for p in (1, 4, 2, 6))
    state = _Scripts(scripts, n)
    rows = np.arange(n)
    for step in range(120):
        t = step * dt
        state.advance(t)
        for j, ph in enumerate(scripts):
            phase = (ph.start <= t).sum(axis=1) - 1  # last phase started
            assert np.array_equal(state.index[:, j], phase)
            assert np.array_equal(state.speed[:, j], ph.speed[rows, phase])
            assert np.array_equal(state.accel[:, j], ph.accel[rows, phase])
            assert np.array_equal(state.lateral[:, j], ph.lateral[rows, phase])
            assert np.array_equal(state.gain[:, j], ph.gain(ph.speed[rows, phase]))
            p = ph.start.shape[1]
            nxt = np.where(phase + 1 < p, ph.start[rows, np.minimum(phase + 1, p - 1)], np.inf)
            assert np.array_equal(state.next_start[:, j], nxt)
    assert (state.index[:, 3] == 5).any()  # the longest script reached its last phase
